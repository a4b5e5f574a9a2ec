"""Train a classifier end to end: prepare -> model (+ vectors or LM transfer) -> BucketBatches -> Trainer.

    RUN_DIR/
      run.json              {"task": "classify", "classify_format": 1, "textseq_version": ...}
      config.yaml           the resolved ClassifyJobConfig
      vocab.json labels.json pipeline.yaml data/   from textseq.classify.prepare
      step-*/ best/         checkpoints; each extra.json holds config, model config, labels and the
                            codec (pipeline, vocabulary, truncation), so one checkpoint is a complete predictor
                            (textseq.runs.load_run opens it)
      metrics.jsonl         train records and valid records (loss, accuracy, macro_f1, weighted_f1, roc_auc)
      eval_valid.json       full report of the best model: per-class P/R/F1, confusion matrix, ...
      eval_test.json        the same on data.test, when configured
      report.json           how the run ended, with both reports (textseq.train.job)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from textseq.classify.config import ClassifyJobConfig, load_job_config
from textseq.classify.metrics import classification_report, scalar_metrics
from textseq.classify.prepare import PreparedData, prepare
from textseq.codecs import WordCodec, classification_codec, codec_from_spec
from textseq.data.classification import BucketBatches, EncodedSplit, balanced_weights, eval_batches
from textseq.errors import ConfigError, one_line
from textseq.fileio import atomic_write_text
from textseq.models.classifier import ClassifierConfig, build_classifier
from textseq.train.checkpoint import CheckpointError
from textseq.train.device import autocast_context
from textseq.train.job import Built, Loaded, run_job
from textseq.train.rundir import RunKind
from textseq.train.trainer import FitResult

# How classification run directories are marked and what a resume may change (data.eval_batch_size and
# data.workers only change speed; the rest of data shapes the batches or the ids).
CLASSIFY_RUN = RunKind(task="classify", name="classification", format_label="classification", format=1,
                       command="textseq train-classifier",
                       fixed_on_resume=("data", "embeddings", "model", "transfer", "seed"),
                       changeable=("data.eval_batch_size", "data.workers"),
                       may_change="train.* (and data.eval_batch_size, data.workers)")
run_info = CLASSIFY_RUN.info
log = logging.getLogger(__name__)


@dataclass
class ClassifyResult:
    """How train_classifier ended: the Trainer's result and the full reports of the best model."""

    run_dir: Path
    fit: FitResult
    reports: dict[str, dict[str, Any]]  # split -> classification_report


# ------------------------------------------------------------------------------ prediction on encoded data
# Documents per forward pass. On a CPU, 32-64 are the fastest: a BiLSTM-128 over IMDB reviews ran at
# ~900 reviews/s per thread with 64 and ~600 with 256, whose activations no longer fit in the cache.
PREDICT_BATCH = 64


@torch.inference_mode()
def predict_probs(model: nn.Module, split: EncodedSplit, batch_size: int = PREDICT_BATCH, pad_id: int = 0,
                  precision: str = "fp32") -> np.ndarray:
    """(N, C) class probabilities of every document of `split`, in the split's order (batched longest first).

    precision="bf16" runs the model under bfloat16 autocast (on CPU too): probabilities move by about
    1e-3, and on a CPU with AVX512-BF16 the model's share of prediction time fell 1.6x (IMDB BiLSTM)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: np.ndarray | None = None
    try:
        with autocast_context(device, precision):  # inference_mode comes from the decorator
            for batch, rows in eval_batches(split, batch_size, pad_id):
                probs = model(batch.ids.to(device), batch.lengths.to(device)).probs.float().cpu().numpy()  # (B, C)
                if out is None:
                    out = np.zeros((len(split), probs.shape[1]), dtype=np.float32)
                out[rows] = probs
    finally:
        model.train(was_training)
    assert out is not None
    return out


class Evaluator:
    """evaluate(model) for the Trainer: scalar metrics on the validation split; `report` gives all of them."""

    def __init__(self, split: EncodedSplit, labels: list[str], batch_size: int, pad_id: int) -> None:
        self.split, self.labels, self.batch_size, self.pad_id = split, labels, batch_size, pad_id

    def report(self, model: nn.Module) -> dict[str, Any]:
        probs = predict_probs(model, self.split, self.batch_size, self.pad_id)
        return classification_report(self.split.labels, probs, self.labels)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        return scalar_metrics(self.report(model))


# ------------------------------------------------------------------------------ building the model
def class_weights_for(config: ClassifyJobConfig, prepared: PreparedData) -> list[float] | None:
    """None, scikit-learn's 'balanced' weights from the training labels, or the configured list."""
    cw, n = config.data.class_weights, len(prepared.labels)
    if cw == "none":
        return None
    if cw == "balanced":
        return balanced_weights(prepared.splits["train"].labels, n)
    if len(cw) != n:
        raise ConfigError(f"data.class_weights has {len(cw)} numbers, but the training data has {n} classes "
                          f"({', '.join(prepared.labels.labels)})")
    return list(cw)


def _embedding_weights(config: ClassifyJobConfig, prepared: PreparedData) -> torch.Tensor | None:
    emb = config.embeddings
    if emb.vectors is None:
        return None
    try:
        from textseq.embeddings.align import embedding_matrix
        from textseq.embeddings.vectors import load_vectors
    except ImportError as err:
        raise ConfigError(f"embeddings.vectors needs textseq.embeddings.align/vectors, which could not be imported: {err}") from None
    vectors = load_vectors(emb.vectors)
    matrix, coverage = embedding_matrix(prepared.vocab, vectors, oov=emb.oov, seed=config.seed)
    log.info(f"embeddings: {emb.vectors} ({vectors.dim}-d): {coverage.summary()}")
    return torch.as_tensor(np.asarray(matrix), dtype=torch.float32)


def model_config(config: ClassifyJobConfig, prepared: PreparedData, weights: torch.Tensor | None,
                 lm_config: Any = None) -> ClassifierConfig:
    """The ClassifierConfig of this run; emb_dim follows the vectors (and encoder sizes the LM) unless set explicitly."""
    fill: dict[str, Any] = {}
    explicit = config.model.model_fields_set
    if weights is not None:
        if "emb_dim" in explicit and config.model.emb_dim != weights.shape[1]:
            raise ConfigError(f"model.emb_dim is {config.model.emb_dim}, but {config.embeddings.vectors} has "
                              f"{weights.shape[1]}-d vectors; set model.emb_dim={weights.shape[1]} or leave it out")
        fill["emb_dim"] = int(weights.shape[1])
    if lm_config is not None:
        fill.update({k: getattr(lm_config, k) for k in ("emb_dim", "cell", "hidden_size", "num_layers") if k not in explicit})
    pad = prepared.vocab.pad_id if prepared.vocab.pad_id is not None else 0
    return config.classifier_config(len(prepared.vocab), len(prepared.labels), class_weights_for(config, prepared), pad, **fill)


def load_lm_for_transfer(config: ClassifyJobConfig) -> tuple[Any, Any, Any]:
    """(forward RecurrentLM, its word codec, backward RecurrentLM or None) of transfer.lm_run and
    transfer.lm_run_backward; ConfigError for LMs that are not word-level or do not share a vocabulary."""
    from textseq.runs import load_run

    t = config.transfer
    loaded = []
    for key, run in (("transfer.lm_run", t.lm_run), ("transfer.lm_run_backward", t.lm_run_backward)):
        if run is None:
            loaded.append((None, None))
            continue
        lm_run = load_run(run, t.checkpoint, task="lm")
        model, codec = lm_run.model, lm_run.codec
        if getattr(codec, "name", None) != "words" or not hasattr(codec, "tokenizer") or not hasattr(codec.tokenizer, "stream"):
            raise ConfigError(f"{key} {run}: a {getattr(codec, 'name', '?')}-level LM; transfer to a classifier "
                              "needs a word-level LM (`textseq train-lm` with data.level: word)")
        loaded.append((model, codec))
    (lm, codec), (backward, back_codec) = loaded
    if back_codec is not None and back_codec.spec() != codec.spec():  # a word codec's spec: vocabulary and pipeline
        raise ConfigError(f"transfer.lm_run_backward {t.lm_run_backward} has another vocabulary or pipeline than "
                          f"transfer.lm_run {t.lm_run}: train both LMs with the same data.word settings")
    return lm, codec, backward


# ------------------------------------------------------------------------------ the task
@dataclass
class ClassifyData:
    """The prepared splits, and the language models a transfer run starts from."""

    prepared: PreparedData
    lm: Any = None
    backward_lm: Any = None


class ClassifyTask:
    """Text classification as a Task for textseq.train.job.run_job."""

    kind = CLASSIFY_RUN
    config_model = ClassifyJobConfig
    valid_metrics = ("loss", "accuracy", "macro_f1", "roc_auc")

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> ClassifyJobConfig:
        """A ClassifyJobConfig from a YAML path or preset name, with --set overrides."""
        return load_job_config(source, tuple(overrides))

    def prepare(self, config: ClassifyJobConfig, run_dir: Path) -> ClassifyData:
        """Labels, vocabulary and encoded splits (the LM's vocabulary and pipeline with transfer)."""
        lm, lm_codec, backward_lm = load_lm_for_transfer(config) if config.transfer.lm_run else (None, None, None)
        return ClassifyData(prepare(config, run_dir, lm_codec=lm_codec), lm, backward_lm)

    def build(self, config: ClassifyJobConfig, data: ClassifyData, run_dir: Path) -> Built:
        """The classifier (GloVe rows or LM weights copied in), length-bucketed batches, the evaluator."""
        from textseq.models.transfer import GradualUnfreezing, discriminative_param_groups, init_from_lm

        prepared = data.prepared
        weights = _embedding_weights(config, prepared)
        mconfig = model_config(config, prepared, weights, data.lm.config if data.lm is not None else None)
        model = build_classifier(mconfig, weights)
        callbacks: list[Any] = []
        groups = None
        if data.lm is not None:
            report = init_from_lm(model, data.lm, data.backward_lm)
            t = config.transfer
            sources = " and ".join(filter(None, (t.lm_run, t.lm_run_backward)))
            log.info(f"transfer: {len(report.copied)} tensors copied from {sources}" + "".join(f"; {n}" for n in report.notes))
            opt = config.train.optimizer
            groups = discriminative_param_groups(model, opt.lr, t.decay, opt.weight_decay)
            if t.unfreeze_every is not None:
                key = "every_steps" if t.unfreeze_unit == "steps" else "every_epochs"
                callbacks.append(GradualUnfreezing(**{key: t.unfreeze_every}))
        d = config.data
        crop = None if d.random_crop is None else (d.random_crop.prob, d.random_crop.min_tokens)
        batches = BucketBatches(prepared.splits["train"], d.batch_size, seed=config.seed, chunk_batches=d.chunk_batches,
                                pad_id=mconfig.pad_id, crop=crop)
        labels = prepared.labels.labels
        evaluator = Evaluator(prepared.splits["valid"], labels, d.eval_batch_size, mconfig.pad_id) if "valid" in prepared.splits else None
        extra = {**run_info(), "config": config.model_dump(mode="json"), "model_config": mconfig.model_dump(mode="json"),
                 "labels": labels, "codec": prepared.codec.spec()}
        summary = f"{_summary(mconfig, model, len(labels))}, {d.batch_size * config.train.accumulate} documents per step"
        return Built(model, batches, evaluator, extra, summary, callbacks, groups)

    def report(self, config: ClassifyJobConfig, data: ClassifyData, model: nn.Module, fit: FitResult,
               run_dir: Path) -> dict[str, Any]:
        """Full reports (per-class P/R/F1, confusion, ROC-AUC) of the best model on valid and test."""
        from textseq.train.checkpoint import load_weights, verify_checkpoint

        prepared, d = data.prepared, config.data
        best = run_dir / "best"
        if best.is_dir():  # report the model the run would be used with (sizes and sha256 checked first)
            verify_checkpoint(best)
            load_weights(model, best / "model.safetensors", next(model.parameters()).device)
        reports: dict[str, Any] = {}
        for split in ("valid", "test"):
            if split in prepared.splits:
                r = Evaluator(prepared.splits[split], prepared.labels.labels, d.eval_batch_size, model.config.pad_id).report(model)
                atomic_write_text(run_dir / f"eval_{split}.json", json.dumps(r, indent=1, ensure_ascii=False) + "\n")
                reports[split] = r
                log.info(f"{split} ({'best' if best.is_dir() else 'last'} model, {r['examples']:,} documents): accuracy "
                         f"{r['accuracy']:.4f} | macro_f1 {r['macro_f1']:.4f}"
                         + (f" | roc_auc {r['roc_auc']:.4f}" if r.get("roc_auc") is not None else ""))
        return reports

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        """The classifier of one checkpoint, its text-to-ids codec and its class names."""
        model = rebuild_classifier(extra.get("model_config"), path / "model.safetensors", device)
        return Loaded(model, checkpoint_codec(extra, str(path / "extra.json")), list(extra["labels"]))


def checkpoint_codec(extra: dict[str, Any], where: str) -> WordCodec:
    """The classifier's codec from a checkpoint's extra.json: its "codec" entry (a WordCodec spec,
    self-contained), or, in checkpoints written before there was one, "vocab" + "pipeline" + "encoding"."""
    if "codec" in extra:
        codec = codec_from_spec(extra["codec"], where=f"{where}: codec")
        if not isinstance(codec, WordCodec) or codec.truncation.empty != "unk":
            raise CheckpointError(f"{where}: codec: a classifier needs a 'words' codec that encodes an empty text as "
                                  "one <unk> (see textseq.codecs.classification_codec)")
        return codec
    from textseq.text.resolve import resolve_pipeline
    from textseq.vocab import Vocab

    enc = extra["encoding"]
    vocab = Vocab.from_dict(extra["vocab"], where=f"{where}: vocab")
    return classification_codec(resolve_pipeline(extra["pipeline"], where=f"{where}: pipeline", tokens=True), vocab,
                                enc["max_tokens"], enc["truncate"], enc["head_fraction"])


def rebuild_classifier(model_config: Any, weights: Path, device: str = "cpu") -> nn.Module:
    """A classifier built from its ClassifierConfig (as plain data) with the weights of a safetensors
    file; CheckpointError naming the file when either does not fit."""
    from textseq.train.checkpoint import load_weights

    try:
        config = ClassifierConfig.model_validate(model_config)
        # pretrained vectors are in the weights file: the placeholder only gives the embedding its shape
        placeholder = torch.zeros(config.vocab_size, config.emb_dim) if config.embedder == "pretrained" else None
        model = build_classifier(config, placeholder)
    except Exception as err:  # a hand-edited or foreign extra.json
        raise CheckpointError(f"{weights.parent / 'extra.json'}: cannot rebuild the classifier: {one_line(err)}") from None
    return load_weights(model, weights, device)


def _summary(mconfig: ClassifierConfig, model: nn.Module, n_classes: int) -> str:
    n_params = sum(p.numel() for p in model.parameters())
    encoder = (f"{mconfig.cell} {mconfig.num_layers}x{mconfig.hidden_size}{' bi' if mconfig.bidirectional else ''}, "
               f"pooling {mconfig.pooling}" if mconfig.kind == "recurrent" else "mean of word vectors")
    return (f"model: {mconfig.kind} {encoder}, emb {mconfig.emb_dim} ({mconfig.embedder}"
            f"{', frozen' if mconfig.freeze_embeddings else ''}), {n_classes} classes, {n_params / 1e6:.2f}M parameters"
            + (f", class weights {[round(w, 3) for w in mconfig.class_weights]}" if mconfig.class_weights else ""))


def train_classifier(config: ClassifyJobConfig | str | Path, run_dir: str | Path, resume: bool = False,
                     overrides: Sequence[str] = (), progress: bool | None = None, force: bool = False) -> ClassifyResult:
    """Prepare data, train (or resume) the classifier of `config` (object, YAML path or preset name)
    into `run_dir`, then report the best model; run_job with a ClassifyTask (`force` starts a finished
    run over)."""
    job = run_job(ClassifyTask(), config, run_dir, resume, overrides, progress, force=force)
    return ClassifyResult(job.run_dir, job.fit, job.report)
