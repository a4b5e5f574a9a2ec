"""textseq: text preprocessing, embeddings and recurrent sequence models on real corpora.

Nothing heavy is imported here: spaCy, torch and friends load only when a stage or model that
needs them is used.
"""

__version__ = "0.1.0"

from textseq.errors import ConfigError, InputError, ResourceMissingError, TextseqError
from textseq.lazy import lazy_exports

# The seam every training task shares, loaded on first use (it needs torch): run_job trains a Task,
# load_run opens any finished run.
_EXPORTS = {"load_run": "textseq.runs", "Run": "textseq.runs", "run_job": "textseq.train.job",
            "Task": "textseq.train.job"}
__getattr__, _lazy = lazy_exports(__name__, _EXPORTS)
__all__ = ["ConfigError", "InputError", "ResourceMissingError", "TextseqError", "__version__", *_lazy]
