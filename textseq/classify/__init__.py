"""Text classification end to end: config -> prepare (labels, vocab, encoded splits) -> train -> predict/eval.

    from textseq.classify import train_classifier, Predictor, evaluate_classifier
    train_classifier("imdb_gru", "runs/imdb-gru")                     # a preset, a YAML file or a ClassifyJobConfig
    Predictor.load("runs/imdb-gru").predict(["What a waste of two hours."])   # [{"label": "neg", "probs": {...}}]
    evaluate_classifier("runs/imdb-gru", "imdb:test")["macro_f1"]

Names load lazily, so `import textseq.classify` does not import torch.
"""

from __future__ import annotations

from textseq.lazy import by_submodule, lazy_exports

_EXPORTS = by_submodule(__name__, {
    "config": ("ClassifyJobConfig", "load_job_config"),
    "task": ("ClassifyTask", "train_classifier", "ClassifyResult"),
    "predict": ("Predictor", "evaluate_classifier"),
    "metrics": ("classification_report",),
    "plots": ("plot_task", "plot_attention", "plot_confusion"),
})

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
