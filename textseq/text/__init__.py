"""The preprocessing pipeline: normalize -> tokenize -> filter -> morph, each stage usable alone."""

from textseq.text.base import STAGES, Stage, Token, stage_from_spec, token_texts

__all__ = ["STAGES", "Stage", "Token", "stage_from_spec", "token_texts"]
