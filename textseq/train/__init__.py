"""The training engine: one generic Trainer, its config, checkpoints, metrics and diagnostics.

Names are imported lazily, so `textseq.train.protocol` (imported by every model and data module)
does not pull in the trainer, tqdm or safetensors.
"""

from __future__ import annotations

from textseq.lazy import lazy_exports

_EXPORTS = {
    "Trainer": "textseq.train.trainer",
    "FitResult": "textseq.train.trainer",
    "TrainConfig": "textseq.train.config",
    "Callback": "textseq.train.callbacks",
    "load_checkpoint": "textseq.train.checkpoint",
    "evaluate_batches": "textseq.train.metrics",
    "read_metrics": "textseq.train.metrics",
    "resolve_device": "textseq.train.device",
    "seed_everything": "textseq.train.serialize",
    "grad_through_time": "textseq.train.diagnostics",
    "plot_run": "textseq.train.plot",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
