"""Language modelling end to end: config -> prepare (codec + encoded splits) -> train -> sample/eval.

    from textseq.lm import train_lm, load_lm, generate_text, evaluate_lm
    result = train_lm("char_lstm", "runs/char")                        # a preset, a YAML file or an LMJobConfig
    model, codec = load_lm("runs/char")                                # best checkpoint (textseq.load_run)
    print("".join(generate_text("runs/char", "ROMEO:", 300, temperature=0.8)))
    evaluate_lm("runs/char", "shakespeare:test")["bpc"]

Names load lazily, so `import textseq.lm` does not import torch.
"""

from __future__ import annotations

from textseq.lazy import lazy_exports

_EXPORTS = {
    "LMJobConfig": "textseq.lm.config",
    "load_job_config": "textseq.lm.config",
    "LMTask": "textseq.lm.task",
    "train_lm": "textseq.lm.task",
    "LMResult": "textseq.lm.task",
    "load_lm": "textseq.lm.inference",
    "generate_text": "textseq.lm.inference",
    "evaluate_lm": "textseq.lm.inference",
    "gradient_probe": "textseq.lm.probe",
    "plot": "textseq.lm.plots",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
