"""Train a recurrent language model end to end: prepare -> model + batches + evaluator -> Trainer.

    RUN_DIR/
      run.json          {"task": "lm", "lm_format": 1, "textseq_version": ...}
      config.yaml       the resolved LMJobConfig
      codec.json, data/ from textseq.lm.prepare
      step-*/ best/     checkpoints; each extra.json holds the config, model config, codec and
                        pipeline spec (and the sentencepiece model), so a checkpoint stands alone
      metrics.jsonl     train and valid records (valid: loss, ppl, bpc, bits_per_byte)
      sample.txt        the end-of-training sample
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from textseq.codecs import TokenCodec, codec_from_spec
from textseq.data.lm import LMBatches, LMEvalBatches, in_reading_order, min_tokens
from textseq.errors import ConfigError, InputError, one_line
from textseq.fileio import atomic_open, sha256_file
from textseq.fileio import atomic_write_text
from textseq.lm.config import EmbeddingStart, LMJobConfig, load_job_config
from textseq.log import progress_enabled
from textseq.lm.prepare import SUBWORD_FILE, PreparedData, codec_spec_for_run, prepare
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.text.resolve import resolve_pipeline
from textseq.train.callbacks import Callback
from textseq.train.checkpoint import CheckpointError
from textseq.train.job import Built, Loaded, run_job
from textseq.train.metrics import evaluate_batches, perplexity
from textseq.train.rundir import RunKind
from textseq.train.trainer import FitResult

# How LM run directories are marked (run.json, extra.json) and what a resume may change.
LM_RUN = RunKind(task="lm", name="language-model", format_label="LM", format=1, command="textseq train-lm",
                 fixed_on_resume=("data", "model", "embedding", "seed"), changeable=("data.eval_tokens",),
                 may_change="train.* and sample.*")
run_info = LM_RUN.info
LN2 = math.log(2)
log = logging.getLogger(__name__)


@dataclass
class LMResult:
    """How train_lm ended: the Trainer's result, full-validation metrics and the sample."""

    run_dir: Path
    fit: FitResult
    valid: dict[str, float]
    sample: str

    @property
    def bpc(self) -> float:
        """Validation bits per character."""
        return self.valid["bpc"]


def lm_metrics(total_nats: float, tokens: int, characters: int, n_bytes: int, char_level: bool) -> dict[str, float]:
    """loss (nats/token), ppl, bpc and bits per byte of `total_nats` over `tokens` predicted tokens.

    Character level: bpc = loss / ln 2 (tokens are characters). Other levels: bpc = total nats /
    (ln 2 * characters of the text), so models with different tokenizers compare on one scale."""
    loss = total_nats / max(tokens, 1)
    bpc = loss / LN2 if char_level else total_nats / (LN2 * max(characters, 1))
    return {"loss": loss, "ppl": perplexity(loss), "bpc": bpc, "bits_per_byte": total_nats / (LN2 * max(n_bytes, 1))}


def evaluate_tokens(model: nn.Module, tokens: Any, batch_size: int, bptt: int, characters: int, n_bytes: int,
                    char_level: bool) -> dict[str, float]:
    """Metrics of `model` over a token stream, every target exactly once (LMEvalBatches); a backward
    model reads the stream reversed."""
    tokens = in_reading_order(tokens, getattr(getattr(model, "config", None), "direction", "forward"))
    n = len(tokens)
    if n < 2:
        raise InputError(f"evaluation text has {n} token(s); at least 2 are needed (one input, one target)")
    batches = LMEvalBatches(tokens, min(batch_size, n - 1), bptt)
    loss = evaluate_batches(model, batches)["loss"]
    return lm_metrics(loss * (n - 1), n - 1, characters, n_bytes, char_level)


class LMEvaluator:
    """evaluate(model) for the Trainer: metrics on (the first `limit` tokens of) the validation split."""

    def __init__(self, prepared: PreparedData, batch_size: int, bptt: int, limit: int | None = None) -> None:
        corpus = prepared.splits["valid"]
        total = len(corpus.tokens)
        self.tokens = corpus.tokens[:limit] if limit else corpus.tokens
        share = len(self.tokens) / max(total, 1)  # a slice has about its share of the characters
        self.characters = round(prepared.characters("valid") * share)
        self.bytes = round(prepared.bytes("valid") * share)
        self.batch_size, self.bptt = batch_size, bptt
        self.char_level = prepared.codec.name == "chars"

    def __call__(self, model: nn.Module) -> dict[str, float]:
        return evaluate_tokens(model, self.tokens, self.batch_size, self.bptt, self.characters, self.bytes, self.char_level)


def checkpoint_extra(config: LMJobConfig, prepared: PreparedData, run_dir: Path) -> dict[str, Any]:
    """Everything needed to rebuild model and codec from one checkpoint alone."""
    codec = prepared.codec
    extra = {**run_info(), "config": config.model_dump(mode="json"),
             "model_config": config.lm_config(codec.size).model_dump(mode="json"),
             "codec": codec_spec_for_run(codec), "pipeline": prepared.pipeline_spec}
    if codec.name == "sentencepiece":
        extra["codec_files"] = {SUBWORD_FILE: base64.b64encode((run_dir / SUBWORD_FILE).read_bytes()).decode("ascii")}
    return extra


def check_train_length(n_tokens: int, source: str, batch_size: int, bptt: int) -> None:
    """InputError saying how many tokens one (batch_size, bptt) window needs, and what would fit."""
    need = min_tokens(batch_size, bptt)
    if n_tokens >= need:
        return
    fit_b = (n_tokens - bptt + 1) // (bptt + 1)
    fit_t = max(1, min(bptt, n_tokens // (2 * min(batch_size, 4)) - 1))
    hint = f"data.batch_size={fit_b}" if fit_b >= 1 else f"data.batch_size={min(batch_size, 4)} data.bptt={fit_t}"
    raise InputError(
        f"training corpus {source!r} is too short: {n_tokens:,} tokens, but batch_size={batch_size} x bptt={bptt} needs at "
        f"least {need:,} ({batch_size} rows x ({bptt} inputs + 1 target) + {bptt - 1} for the random start offset). "
        f"Use more text or a smaller batch_size/bptt, e.g. --set {hint}"
    )


def start_embedding(model: RecurrentLM, codec: Any, start: EmbeddingStart) -> str:
    """Copy (and freeze) the embedding of the LM run `start.from_lm` into `model`; ConfigError unless
    both have the same codec and embedding size. Returns a line for the log."""
    from textseq.runs import load_run

    run = load_run(start.from_lm, start.checkpoint, task="lm")  # type: ignore[arg-type]
    source, source_codec = run.model, run.codec
    if codec_spec_for_run(source_codec) != codec_spec_for_run(codec):
        raise ConfigError(f"embedding.from_lm {start.from_lm}: its codec (vocabulary) differs from this run's; "
                          "give both runs the same data.train, data.level and level options")
    if source.config.emb_dim != model.config.emb_dim:
        raise ConfigError(f"embedding.from_lm {start.from_lm}: emb_dim {source.config.emb_dim}, this model's "
                          f"{model.config.emb_dim}; set model.emb_dim={source.config.emb_dim}")
    with torch.no_grad():
        model.embedding.weight.copy_(source.embedding.weight)
    model.embedding.weight.requires_grad_(not start.freeze)
    return f"embedding: copied from {start.from_lm}" + (", frozen" if start.freeze else ", trained further")


class LMTask:
    """Language modelling as a Task for textseq.train.job.run_job."""

    kind = LM_RUN
    config_model = LMJobConfig
    valid_metrics = ("loss", "bpc")

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> LMJobConfig:
        """An LMJobConfig from a YAML path or preset name, with --set overrides."""
        return load_job_config(source, tuple(overrides))

    def prepare(self, config: LMJobConfig, run_dir: Path) -> PreparedData:
        """The codec and the encoded splits (reused while the data section is unchanged)."""
        data = config.data
        prepared = prepare(data, run_dir, progress=progress_enabled())  # a terminal, not under -q or on rank > 0
        check_train_length(len(prepared.splits["train"]), data.train, data.batch_size, data.bptt)
        return prepared

    def build(self, config: LMJobConfig, prepared: PreparedData, run_dir: Path) -> Built:
        """The RecurrentLM, its (B, T) windows and the validation evaluator."""
        data = config.data
        model = RecurrentLM(config.lm_config(prepared.codec.size))
        if config.embedding.from_lm:
            log.info(start_embedding(model, prepared.codec, config.embedding))
        n_params = sum(p.numel() for p in model.parameters())
        summary = (f"model: {config.model.cell} {config.model.num_layers}x{config.model.hidden_size}, emb {config.model.emb_dim}, "
                   f"vocab {prepared.codec.size:,}, {n_params / 1e6:.2f}M parameters, "
                   f"{data.batch_size * data.bptt * config.train.accumulate:,} tokens per step "
                   f"({data.batch_size} streams x {data.bptt} x {config.train.accumulate} accumulated)"
                   + (", backward (reads the text right to left)" if model.config.direction == "backward" else ""))
        train_tokens = in_reading_order(prepared.splits["train"].tokens, model.config.direction)
        batches = LMBatches(train_tokens, data.batch_size, data.bptt, seed=config.seed, reset_every=data.reset_every)
        evaluator = LMEvaluator(prepared, data.batch_size, data.bptt, data.eval_tokens)
        return Built(model, batches, evaluator, checkpoint_extra(config, prepared, run_dir), summary)

    def report(self, config: LMJobConfig, prepared: PreparedData, model: nn.Module, fit: FitResult,
               run_dir: Path) -> dict[str, Any]:
        """Validation metrics over the whole split, and the end-of-training sample (sample.txt)."""
        from textseq.lm.inference import generate_text

        data = config.data
        if data.eval_tokens is None and fit.last_eval is not None and "bpc" in fit.last_eval:
            valid = dict(fit.last_eval)
        else:
            valid = LMEvaluator(prepared, data.batch_size, data.bptt)(model)
        log.info(f"validation: loss {valid['loss']:.4f} | ppl {valid['ppl']:.2f} | bpc {valid['bpc']:.4f} | "
                 f"bits/byte {valid['bits_per_byte']:.4f}")
        s, sample = config.sample, ""
        if s.length:
            sample = "".join(generate_text(model, s.prime, s.length, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                                           seed=config.seed, codec=prepared.codec, with_prime=True))
            atomic_write_text(run_dir / "sample.txt", sample)
            log.info(f"sample (temperature {s.temperature}):\n{sample}")
        log.info(f"validation bpc: {valid['bpc']:.4f}")
        return {"valid": valid, "sample": sample}

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        """The RecurrentLM and codec of one checkpoint."""
        model = rebuild_lm(extra.get("model_config"), path / "model.safetensors", device)
        return Loaded(model, codec_from_extra(extra, path))


def rebuild_lm(model_config: Any, weights: Path, device: str = "cpu") -> RecurrentLM:
    """A RecurrentLM built from its LMConfig (as plain data) with the weights of a safetensors file;
    CheckpointError naming the file when either does not fit."""
    from textseq.train.checkpoint import load_weights

    try:
        model = RecurrentLM(LMConfig.model_validate(model_config))
    except Exception as err:  # a hand-edited or foreign extra.json
        raise CheckpointError(f"{weights.parent / 'extra.json'}: unusable model_config: {one_line(err)}") from None
    return load_weights(model, weights, device)  # type: ignore[return-value]


def codec_from_extra(extra: dict[str, Any], path: Path) -> TokenCodec:
    """The codec a checkpoint was trained with (its word pipeline or sentencepiece model included)."""
    spec = extra.get("codec")
    where = f"{path / 'extra.json'}: pipeline"
    tokenizer = resolve_pipeline(extra["pipeline"], where=where, tokens=True) if extra.get("pipeline") else None
    base_dir = _sentencepiece_dir(extra, path) if isinstance(spec, dict) and spec.get("codec") == "sentencepiece" else None
    return codec_from_spec(spec, where=f"{path / 'extra.json'}: codec", base_dir=base_dir, tokenizer=tokenizer)


def _sentencepiece_dir(extra: dict[str, Any], path: Path) -> Path:
    """The run dir when its subword.model is the one the checkpoint was trained with, else a
    temporary directory where the copy embedded in the checkpoint is written out."""
    want = extra["codec"].get("sha256")
    for candidate in (path.parent, path.parent.parent):
        f = candidate / SUBWORD_FILE
        if f.is_file() and sha256_file(f) == want:
            return candidate
    blob = (extra.get("codec_files") or {}).get(SUBWORD_FILE)
    if not blob:
        raise CheckpointError(f"{path}: the sentencepiece model {SUBWORD_FILE} is neither beside the run nor in the checkpoint")
    data = base64.b64decode(blob)
    digest = hashlib.sha256(data).hexdigest()
    out = Path(tempfile.gettempdir()) / "textseq-sentencepiece" / digest
    out.mkdir(parents=True, exist_ok=True)
    target = out / SUBWORD_FILE
    # a shared folder: trust a copy found there only when its bytes are the ones in the checkpoint
    if not (target.is_file() and sha256_file(target) == digest):
        with atomic_open(target, "wb") as f:
            f.write(data)
    return out


def train_lm(config: LMJobConfig | str | Path, run_dir: str | Path, resume: bool = False, overrides: Sequence[str] = (),
             progress: bool | None = None, callbacks: Sequence[Callback] = (), force: bool = False) -> LMResult:
    """Prepare data, train (or resume) the LM of `config` (object, YAML path or preset name) into
    `run_dir`, then report validation bpc and a sample; run_job with an LMTask (`force` starts a
    finished run over)."""
    job = run_job(LMTask(), config, run_dir, resume, overrides, progress, callbacks, force=force)
    return LMResult(job.run_dir, job.fit, job.report.get("valid", {}), job.report.get("sample", ""))  # {}: not rank 0
