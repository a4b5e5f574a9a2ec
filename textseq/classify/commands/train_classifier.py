"""`textseq train-classifier`: prepare labelled data and train a text classifier into a run directory.

A config with model.kind: ngram trains the linear n-gram classifier (textseq.classify.ngram_task), one
with members: an ensemble of classifiers (textseq.classify.ensemble); every other config the neural
classifier (textseq.classify.task)."""

from typing import Any

from textseq.train.job import train_command


def pick_task(args: Any) -> str:
    """"ngram" or "ensemble" when the config (or, on --resume, the run) asks for one, else "classify"."""
    from pathlib import Path

    from textseq.classify.ensemble import is_ensemble_config
    from textseq.classify.ngram_task import is_ngram_config
    from textseq.config import apply_overrides, read_config
    from textseq.train.rundir import read_run_info

    if args.config is None:
        info = read_run_info(Path(args.output)) or {}
        return info["task"] if info.get("task") in ("ngram", "ensemble") else "classify"
    raw, _ = read_config(args.config, "sentiment")
    raw = apply_overrides(raw if isinstance(raw, dict) else {}, args.overrides)
    return "ngram" if is_ngram_config(raw) else "ensemble" if is_ensemble_config(raw) else "classify"


HELP, add_arguments, run = train_command(
    "classify", "train an LSTM/GRU, bag-of-embeddings or n-gram (NBSVM) text classifier from a config (preset name or YAML)",
    "imdb_gru", "train.max_epochs=1", "raise train.max_steps/max_epochs to extend", pick_task)
