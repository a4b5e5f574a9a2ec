"""The preprocessing pipeline: normalize -> tokenize -> filter -> morph, each stage usable alone.

Names are imported lazily, so `textseq.text.commands` (read by `textseq --help`) does not pull in
numpy and pydantic.
"""

from textseq.lazy import lazy_exports

_EXPORTS = {name: "textseq.text.base" for name in ("STAGES", "Stage", "Token", "stage_from_spec", "token_texts")}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
