"""Language modelling end to end: config -> prepare (codec + encoded splits) -> train -> sample/eval.

    from textseq.lm import train_lm, load_lm, generate_text, evaluate_lm
    result = train_lm("char_lstm", "runs/char")                        # a preset, a YAML file or an LMJobConfig
    model, codec = load_lm("runs/char")                                # best checkpoint (textseq.load_run)
    print("".join(generate_text("runs/char", "ROMEO:", 300, temperature=0.8)))
    evaluate_lm("runs/char", "shakespeare:test")["bpc"]

Names load lazily, so `import textseq.lm` does not import torch.
"""

from __future__ import annotations

from textseq.lazy import by_submodule, lazy_exports

_EXPORTS = by_submodule(__name__, {
    "config": ("LMJobConfig", "load_job_config"),
    "task": ("LMTask", "train_lm", "LMResult"),
    "inference": ("load_lm", "generate_text", "evaluate_lm"),
    "probe": ("gradient_probe",),
    "plots": ("plot",),
})

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
