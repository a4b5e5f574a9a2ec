"""The preprocessing pipeline: normalize -> tokenize -> filter -> morph, each stage usable alone.

Names are imported lazily, so `textseq.text.commands` (read by `textseq --help`) does not pull in
numpy and pydantic.
"""

from textseq.lazy import by_submodule, lazy_exports

_EXPORTS = by_submodule(__name__, {"base": ("STAGES", "Stage", "Token", "stage_from_spec", "token_texts")})

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
