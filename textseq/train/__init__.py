"""The training engine: one generic Trainer, its config, checkpoints, metrics and diagnostics.

Names are imported lazily, so `textseq.train.protocol` (imported by every model and data module)
does not pull in the trainer, tqdm or safetensors.
"""

from __future__ import annotations

from textseq.lazy import by_submodule, lazy_exports

_EXPORTS = by_submodule(__name__, {
    "trainer": ("Trainer", "FitResult"),
    "config": ("TrainConfig",),
    "callbacks": ("Callback",),
    "checkpoint": ("load_checkpoint",),
    "metrics": ("evaluate_batches", "read_metrics"),
    "device": ("resolve_device",),
    "serialize": ("seed_everything",),
    "diagnostics": ("grad_through_time",),
    "plot": ("plot_run",),
})

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
