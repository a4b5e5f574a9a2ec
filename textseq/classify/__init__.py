"""Text classification end to end: config -> prepare (labels, vocab, encoded splits) -> train -> predict/eval.

    from textseq.classify import train_classifier, Predictor, evaluate_classifier
    train_classifier("imdb_gru", "runs/imdb-gru")                     # a preset, a YAML file or a ClassifyJobConfig
    Predictor.load("runs/imdb-gru").predict(["What a waste of two hours."])   # [{"label": "neg", "probs": {...}}]
    evaluate_classifier("runs/imdb-gru", "imdb:test")["macro_f1"]

Names load lazily, so `import textseq.classify` does not import torch.
"""

from __future__ import annotations

from textseq.lazy import lazy_exports

_EXPORTS = {
    "ClassifyJobConfig": "textseq.classify.config",
    "load_job_config": "textseq.classify.config",
    "ClassifyTask": "textseq.classify.task",
    "train_classifier": "textseq.classify.task",
    "ClassifyResult": "textseq.classify.task",
    "Predictor": "textseq.classify.predict",
    "evaluate_classifier": "textseq.classify.predict",
    "classification_report": "textseq.classify.metrics",
    "plot_task": "textseq.classify.plots",
    "plot_attention": "textseq.classify.plots",
    "plot_confusion": "textseq.classify.plots",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
