"""Ensembles of trained classifiers as runs of their own: `textseq ensemble RUN RUN ... -o RUN`, or one
config that trains its members and then combines them (`textseq train-classifier -c imdb_hybrid`).

Each member labels the raw texts with its own codec; the ensemble's score of class k is

    z_k = bias_k + sum_m w_m * log p_m(k | text)         probabilities = softmax(z)

With two classes and weights "fit", (w, bias) is a logistic regression on the members' log-odds over
the validation split (stacking: a member that is better on valid gets more weight, and the scale is
calibrated); "equal" is w_m = 1 / M, bias 0 (the geometric mean of the members' probabilities).

    RUN_DIR/
      run.json config.yaml
      step-000000/ best/   model.safetensors (weights, bias), extra.json: the members by path with
                           the sha256 of each one's model.safetensors (a changed member is an error
                           naming it), labels, the validation figures of each member and the ensemble
      eval_valid.json report.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from textseq.config import StrictModel, load_config
from textseq.errors import ConfigError
from textseq.fileio import atomic_write_text, sha256_file
from textseq.train.job import Loaded
from textseq.train.rundir import RunKind

ENSEMBLE_RUN = RunKind(task="ensemble", name="classifier ensemble", format_label="ensemble", format=1,
                       command="textseq ensemble", fixed_on_resume=("members", "weights", "valid", "seed"))
MEMBERS_DIR = "members"
log = logging.getLogger(__name__)


class MemberSection(StrictModel):
    """One member: a finished run (run), or a config trained into RUN_DIR/members/NAME first (config + name)."""

    run: str | None = None  # run directory or checkpoint of any classifier
    config: str | None = None  # a sentiment preset name or YAML file
    name: str | None = None  # its folder under RUN_DIR/members/
    set: list[str] = Field(default_factory=list)  # --set overrides for `config`

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value.startswith(".")):
            raise ValueError(f"name must be a plain folder name, got {value!r}")
        return value


class EnsembleTrainSection(StrictModel):
    """Where the members are evaluated."""

    device: str = "cpu"


class EnsembleJobConfig(StrictModel):
    """Members and how their log-probabilities are weighted."""

    preset_kind = "sentiment"

    members: list[MemberSection]
    weights: Literal["fit", "equal"] = "fit"  # fit: logistic regression on valid log-odds (two classes)
    valid: str | None = None  # labelled data the weights are fitted on; default: the first member's data.valid
    train: EnsembleTrainSection = EnsembleTrainSection()
    seed: int = Field(0, ge=0)

    @field_validator("members")
    @classmethod
    def _some(cls, value: list[MemberSection]) -> list[MemberSection]:
        if len(value) < 2:
            raise ValueError("an ensemble needs at least two members")
        for i, m in enumerate(value):
            if (m.run is None) == (m.config is None) or (m.config is not None and m.name is None):
                raise ValueError(f"members[{i}]: give either run: PATH, or config: PRESET with name: FOLDER")
        return value


def member_log_probs(probs: np.ndarray) -> np.ndarray:
    """(N, C) log-probabilities, clipped away from log 0."""
    return np.log(np.clip(probs, 1e-7, 1.0))


class EnsembleClassifier(nn.Module):
    """Member predictors combined in log-probability space; labels texts itself (members have their own codecs)."""

    def __init__(self, members: list[Any], weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.members = members  # textseq.classify.predict.Predictor per member
        self.weight = nn.Parameter(weight, requires_grad=False)  # (M,)
        self.bias = nn.Parameter(bias, requires_grad=False)  # (C,)
        self.config = members[0].model.config  # pad id for the Predictor; no attention of its own
        self.share_pipelines = True  # members with equal pipelines tokenize each text once (member_probabilities)

    def combine(self, member_probs: list[np.ndarray]) -> np.ndarray:
        """(N, C) probabilities from each member's (N, C) probabilities."""
        z = self.bias.detach().numpy()[None, :] + sum(float(w) * member_log_probs(p)
                                                      for w, p in zip(self.weight.detach(), member_probs))  # (N, C)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_texts(self, texts: Sequence[str], batch_size: int = 64, workers: int = 0) -> np.ndarray:
        """(N, C) probabilities of raw texts: every member labels them, then they are combined."""
        return self.combine(member_probabilities(self.members, texts, batch_size, workers, share=self.share_pipelines))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> Any:
        raise ConfigError("an ensemble labels raw texts (its members have their own vocabularies): use "
                          "Predictor.predict_proba, `textseq predict` or `eval-classifier`")


def pipeline_key(predictor: Any) -> str | None:
    """What a member's text -> tokens step is (its pipeline's spec), or None when it cannot be shared:
    members with equal keys produce equal tokens from a text that their pre-cuts leave whole."""
    codec, model = predictor.codec, predictor.model
    if hasattr(model, "predict_texts") or not callable(getattr(codec, "tokenize_many", None)):
        return None
    spec = getattr(codec, "spec", lambda: {})().get("tokenizer")
    if not isinstance(spec, dict) or spec.get("kind") == "callable":  # a callable known by name only
        return None
    return json.dumps(spec, sort_keys=True)


def member_probabilities(members: Sequence[Any], texts: Sequence[str], batch_size: int = 64, workers: int = 0,
                         chunk_size: int = 8192, share: bool = True) -> list[np.ndarray]:
    """Each member's (N, C) probabilities of the raw texts, running each distinct pipeline once
    (every member runs its own with share=False).

    Members whose pipelines are equal (`pipeline_key`) share one tokenization of every text; a member
    that cuts very long texts before its pipeline (`truncation.precut`) gets its own tokens for those
    texts only, so every member sees exactly the tokens it would see alone."""
    from textseq.data.classification import auto_workers

    groups: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault((pipeline_key(m) if share else None) or f"alone:{i}", []).append(i)
    out: list[np.ndarray | None] = [None] * len(members)
    for idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = members[idx[0]].predict_proba(texts, batch_size, workers)
            continue
        codec = members[idx[0]].codec
        parts: dict[int, list[np.ndarray]] = {i: [] for i in idx}
        for start in range(0, len(texts), chunk_size):
            chunk = list(texts[start:start + chunk_size])
            shared = list(codec.tokenize_many(chunk, auto_workers(len(chunk), workers), precut=False))
            for i in idx:
                tokens = own_cut_tokens(members[i].codec, chunk, shared, workers)
                parts[i].append(members[i].predict_tokens(tokens, len(chunk), batch_size, chunk_size))
        for i in idx:
            out[i] = np.concatenate(parts[i]) if parts[i] else np.zeros((0, len(members[i].labels)), np.float32)
    return out  # type: ignore[return-value]


def own_cut_tokens(codec: Any, texts: list[str], shared: list[list[str]], workers: int) -> list[list[str]]:
    """The shared tokens, except for the texts this codec's pre-cut shortens: those go through its own pipeline."""
    from textseq.data.classification import auto_workers

    cut = [i for i, t in enumerate(texts) if codec.truncation.precut(t) != t]
    if not cut:
        return shared
    tokens = list(shared)
    for i, toks in zip(cut, codec.tokenize_many([texts[i] for i in cut], auto_workers(len(cut), workers))):
        tokens[i] = toks
    return tokens


def fit_weights(member_probs: list[np.ndarray], labels: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(weights (M,), bias (C,)): logistic regression on the members' log-odds (two classes, "fit"), else equal."""
    m, c = len(member_probs), member_probs[0].shape[1]
    if how == "equal" or c != 2:
        if how == "fit":
            log.warning(f"weights: fit is for two classes; {c} classes get equal weights")
        return np.full(m, 1.0 / m), np.zeros(c)
    from textseq.classify.ngram_task import sklearn

    x = np.stack([member_log_probs(p)[:, 1] - member_log_probs(p)[:, 0] for p in member_probs], axis=1)  # (N, M)
    lr = sklearn().linear_model.LogisticRegression(C=1.0, max_iter=1000).fit(x, labels)
    # z_1 - z_0 = b + sum w (log p1 - log p0): put half the bias on each class
    b = float(lr.intercept_[0])
    return lr.coef_[0].astype(np.float64), np.array([-b / 2, b / 2])


def member_sha(path: Path) -> str:
    """sha256 of a member checkpoint's model.safetensors (what an ensemble pins)."""
    return sha256_file(path / "model.safetensors")


class EnsembleTask:
    """An ensemble as a Task for run_job: trains the members a config names, then fits the weights (`solve`)."""

    kind = ENSEMBLE_RUN
    config_model = EnsembleJobConfig
    valid_metrics = ("accuracy",)
    serves = ("classify",)  # predict, eval-classifier and Predictor open it like any classifier

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> EnsembleJobConfig:
        """An EnsembleJobConfig from a YAML path or preset name, with --set overrides."""
        return load_config(EnsembleJobConfig, source, tuple(overrides))

    def prepare(self, config: EnsembleJobConfig, run_dir: Path) -> list[Path]:
        """The members' run directories, training those given by config into RUN_DIR/members/NAME."""
        from textseq.runs import get_task
        from textseq.train.checkpoint import list_checkpoints
        from textseq.train.job import run_job

        paths = []
        for m in config.members:
            if m.run is not None:
                paths.append(Path(m.run))
                continue
            target = run_dir / MEMBERS_DIR / str(m.name)
            if list_checkpoints(target):
                log.info(f"member {m.name}: reusing the trained run {target}")
            else:
                from textseq.classify.commands.train_classifier import pick_task
                from types import SimpleNamespace

                task = get_task(pick_task(SimpleNamespace(config=m.config, overrides=m.set, output=str(target))))
                log.info(f"member {m.name}: training {m.config} into {target}")
                run_job(task, task.load_config(m.config, m.set), target, force=True)
            paths.append(target)
        return paths

    def solve(self, config: EnsembleJobConfig, members: list[Path], run_dir: Path) -> dict[str, Any]:
        """Label the validation split with every member, fit the weights, write the checkpoint and reports."""
        from textseq.classify.metrics import classification_report
        from textseq.classify.ngram_task import NoOptimizer
        from textseq.classify.predict import Predictor, read_inputs
        from textseq.classify.prepare import LabelledTexts, encode_labels
        from textseq.train.checkpoint import save_checkpoint

        predictors = [Predictor.load(p, device=config.train.device) for p in members]
        labels = predictors[0].labels.labels
        for p, path in zip(predictors, members):
            if p.labels.labels != labels:
                raise ConfigError(f"member {path} has classes {p.labels.labels}, the first member {labels}")
        valid = config.valid or getattr(getattr(load_member_config(predictors[0]), "data", None), "valid", None)
        if valid is None:
            raise ConfigError("the ensemble's weights are fitted on labelled data: set valid (CORPUS:SPLIT or a file)")
        texts, raw, ids = read_inputs(valid, label_column="label")
        y, keep = encode_labels(LabelledTexts(texts, raw, ids), predictors[0].labels, valid, "error")
        texts = [texts[i] for i in keep]
        probs = member_probabilities(predictors, texts)
        yv = np.asarray(y)
        w, b = fit_weights(probs, yv, config.weights)
        model = EnsembleClassifier(predictors, torch.as_tensor(w, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32))
        report = classification_report(yv, model.combine(probs), labels)
        each = {str(path): round(float((pr.argmax(1) == yv).mean()), 5) for path, pr in zip(members, probs)}
        log.info("valid accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in each.items()) + f"; ensemble {report['accuracy']:.4f}"
                 + f" (weights {', '.join(f'{x:.3f}' for x in w)})")
        pinned = [{"run": str(Path(p.path).resolve()), "sha256": member_sha(Path(p.path))} for p in predictors]
        extra = {**self.kind.info(), "config": config.model_dump(mode="json"), "labels": labels, "members": pinned,
                 "valid_source": valid, "member_valid_accuracy": each}
        ckpt = save_checkpoint(run_dir, 0, model=model, optimizer=NoOptimizer(), carried_state=None,
                               trainer_state={"step": 0, "epoch": 1}, extra=extra, keep_last=1, is_best=True)
        atomic_write_text(run_dir / "eval_valid.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return {"valid": report, "weights": [float(x) for x in w], "bias": [float(x) for x in b],
                "member_valid_accuracy": each, "checkpoint": str(ckpt)}

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        """The members (each checked against the sha256 the ensemble pinned) and the fitted weights."""
        from safetensors.torch import load_file

        from textseq.classify.predict import Predictor
        from textseq.train.checkpoint import CheckpointError
        from textseq.runs import resolve_checkpoint

        predictors = []
        for m in extra["members"]:
            try:
                ckpt = resolve_checkpoint(m["run"])
                changed = member_sha(ckpt) != m["sha256"]
            except (OSError, CheckpointError) as err:
                raise CheckpointError(f"{path}: ensemble member {m['run']} cannot be opened: {err}") from None
            if changed:
                raise CheckpointError(f"{path}: ensemble member {m['run']} has changed since the ensemble was fitted "
                                      "(its model.safetensors sha256 differs); fit the ensemble again")
            predictors.append(Predictor.load(ckpt, device=device))
        tensors = load_file(str(path / "model.safetensors"))
        model = EnsembleClassifier(predictors, tensors["weight"], tensors["bias"])
        return Loaded(model, predictors[0].codec, list(extra["labels"]))


def load_member_config(predictor: Any) -> Any:
    """The job config the member was trained with, as stored in its checkpoint (data.valid is the ensemble's default)."""
    from types import SimpleNamespace

    from textseq.runs import read_extra

    data = (read_extra(Path(predictor.path)).get("config") or {}).get("data") or {}
    return SimpleNamespace(data=SimpleNamespace(valid=data.get("valid")))


def is_ensemble_config(raw: Any) -> bool:
    """Whether a parsed job config (YAML mapping) describes an ensemble."""
    return isinstance(raw, dict) and "members" in raw
