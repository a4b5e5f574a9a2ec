"""The classification job config: data, embeddings, model, transfer, train sections, validated strictly.

    data:       {train: imdb:train, valid: imdb:valid, pipeline: sentiment,
                 max_tokens: 400, truncate: head_tail, class_weights: none, batch_size: 64}
    embeddings: {vectors: glove-6b-50d, oov: random, freeze: false}
    model:      {cell: lstm, hidden_size: 128, pooling: attention}   # ClassifierConfig minus what the data fills in
    transfer:   {lm_run: null, decay: 2.6, unfreeze_every: null}     # ULMFiT from a `textseq train-lm` run
    train:      {optimizer: {lr: 2.0e-3}, max_epochs: 3, monitor: macro_f1, monitor_mode: max}
    seed: 0

vocab_size, num_classes, class_weights and pad_id come from the data; embedder and
freeze_embeddings from the embeddings section.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model, field_validator, model_validator

from textseq.config import StrictModel, load_config
from textseq.models.classifier import ClassifierConfig
from textseq.train.config import TrainConfig, follow_seed

# What the evaluator reports during training: any of these may be train.monitor or early_stopping.metric.
EVAL_METRICS = ("loss", "accuracy", "macro_f1", "weighted_f1", "roc_auc")
FILLED_FROM_DATA = ("vocab_size", "num_classes", "class_weights", "pad_id", "embedder", "freeze_embeddings")
DEFAULT_PIPELINE = "sentiment"  # the preprocess preset (configs/preprocess/sentiment.yaml)


class RandomCrop(StrictModel):
    """Each training document, with probability `prob`, is cut to a random window of at least `min_tokens`."""

    prob: float = Field(0.5, ge=0.0, le=1.0)
    min_tokens: int = Field(5, ge=1)


class DataSection(StrictModel):
    """Where the labelled text comes from, how it becomes ids, and how it is batched."""

    train: str  # CORPUS:SPLIT (imdb:train), a .csv/.tsv/.jsonl file, or hf:NAME:SPLIT
    valid: str | None = None  # needed for evaluation, best/ and early stopping
    test: str | None = None  # evaluated once at the end
    text_column: str = "text"
    label_column: str = "label"
    errors: Literal["strict", "replace", "skip"] = "strict"  # undecodable bytes / malformed records
    # Valid/test labels that are not training classes: an error naming the row, or dropped and counted.
    unseen_labels: Literal["error", "skip"] = "error"
    pipeline: str | dict[str, Any] = DEFAULT_PIPELINE  # preset name, YAML path or inline spec (textseq.text.resolve)
    min_freq: int = Field(2, ge=1)  # vocabulary: training-split words seen at least this often
    max_size: int | None = Field(30000, ge=5)  # rows of the embedding table, specials included
    max_tokens: int | None = Field(400, ge=1)  # per document, after preprocessing
    truncate: Literal["head", "tail", "head_tail"] = "head_tail"
    head_fraction: float = Field(0.25, ge=0.0, le=1.0)  # head_tail: this share of max_tokens from the start
    class_weights: Literal["none", "balanced"] | list[float] = "none"  # balanced = n / (C * count_c)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    chunk_batches: int = Field(50, ge=1)  # batches per length-sorted chunk
    workers: int = Field(0, ge=0)  # pipeline processes; 0 = automatic (1 for small inputs)
    # Training on random windows of the documents (textseq.data.classification.crop_rows), so a model
    # trained on long reviews also meets sentence-length inputs; null = whole documents.
    random_crop: RandomCrop | None = None

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, list) and (not value or any(w <= 0 for w in value)):
            raise ValueError(f"class_weights must be 'none', 'balanced' or a list of positive numbers, got {value}")
        return value

    def encoding_key(self, extra: Any = None) -> str:
        """Hash of everything that changes the encoded arrays (not batching)."""
        keep = self.model_dump(mode="json", include={"train", "valid", "test", "text_column", "label_column", "errors",
                                                    "unseen_labels", "pipeline", "min_freq", "max_size", "max_tokens",
                                                    "truncate", "head_fraction"})
        keep["extra"] = extra
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


class EmbeddingsSection(StrictModel):
    """Pretrained word vectors for the embedding table (rows of training-vocabulary words)."""

    vectors: str | None = None  # a vector file/directory, or the resource "glove-6b-50d"; null = random init
    # Rows of words without a vector (textseq.embeddings.align): random (scaled like the found rows),
    # zeros, or subword (fastText .bin vectors only).
    oov: Literal["random", "zeros", "subword"] = "random"
    freeze: bool = False  # no gradient to the embedding table


def _model_fields() -> dict[str, Any]:
    return {name: (f.annotation, f) for name, f in ClassifierConfig.model_fields.items() if name not in FILLED_FROM_DATA}


def _validators() -> dict[str, Any]:
    out = {}
    for name, decorator in ClassifierConfig.__pydantic_decorators__.field_validators.items():
        fields = [f for f in decorator.info.fields if f not in FILLED_FROM_DATA]  # e.g. embedder is filled in
        if fields:
            out[name] = field_validator(*fields)(classmethod(decorator.func.__func__))
    return out


# ClassifierConfig's fields, defaults and checks without those filled from the data; derived so they never drift.
ModelSection = create_model(  # type: ignore[call-overload]
    "ModelSection",
    __base__=StrictModel,
    __doc__="Classifier hyper-parameters (textseq.models.classifier.ClassifierConfig) except " + ", ".join(FILLED_FROM_DATA),
    __validators__=_validators(),
    **_model_fields(),
)


class TransferSection(StrictModel):
    """ULMFiT: start embedding and encoder from a word-level LM run, then fine-tune with discriminative
    learning rates and gradual unfreezing. The classifier then uses the LM's pipeline and vocabulary."""

    lm_run: str | None = None  # run dir of `textseq train-lm` (data.level: word), or one of its checkpoints
    # a second LM run trained right to left (--set model.direction=backward) on the same text, pipeline and
    # vocabulary: it starts the right-to-left direction of the bidirectional encoder (ULMFiT's backward LM)
    lm_run_backward: str | None = None
    checkpoint: str = "best"  # best | latest | a checkpoint directory
    decay: float = Field(2.6, gt=0)  # lr of a layer group = lr / decay**depth (head: depth 0)
    unfreeze_every: int | None = Field(None, ge=1)  # thaw one more group every N steps/epochs; null = all trainable
    unfreeze_unit: Literal["steps", "epochs"] = "epochs"


class ClassifyJobConfig(StrictModel):
    """One classification run: `textseq train-classifier -c CONFIG -o RUN_DIR` (CONFIG: a file or a
    `sentiment` preset such as imdb_gru)."""

    preset_kind = "sentiment"

    data: DataSection
    embeddings: EmbeddingsSection = EmbeddingsSection()
    model: ModelSection = Field(default_factory=ModelSection)  # type: ignore[valid-type]
    transfer: TransferSection = TransferSection()
    train: TrainConfig
    seed: int = Field(0, ge=0)  # model init, batch order and dropout; train.seed follows it

    @model_validator(mode="after")
    def _consistent(self) -> "ClassifyJobConfig":
        follow_seed(self.train, self.seed)
        metrics = [("train.monitor", self.train.monitor)]
        if self.train.early_stopping is not None:
            metrics.append(("train.early_stopping.metric", self.train.early_stopping.metric))
        for key, name in metrics:
            if name not in EVAL_METRICS:
                raise ValueError(f"{key} is {name!r}; the classifier's evaluation reports {', '.join(EVAL_METRICS)}")
        needs_valid = self.train.early_stopping is not None or self.train.schedule.name == "plateau"
        if needs_valid and self.data.valid is None:
            raise ValueError("early stopping and the plateau schedule follow validation metrics: set data.valid")
        if self.transfer.lm_run_backward is not None:
            if self.transfer.lm_run is None:
                raise ValueError("transfer.lm_run_backward needs transfer.lm_run (the forward LM gives the embedding)")
            if not self.model.bidirectional:
                raise ValueError("transfer.lm_run_backward starts the right-to-left direction: set model.bidirectional: true")
        if self.embeddings.vectors is not None and self.transfer.lm_run is not None:
            raise ValueError("embeddings.vectors and transfer.lm_run both initialise the embedding table; choose one")
        return self

    def classifier_config(self, vocab_size: int, num_classes: int, class_weights: list[float] | None, pad_id: int,
                          **fill: Any) -> ClassifierConfig:
        """The model config with the data-derived fields filled in (and `fill` overriding model keys)."""
        model = self.model.model_dump()
        model.update(fill)
        return ClassifierConfig(vocab_size=vocab_size, num_classes=num_classes, class_weights=class_weights, pad_id=pad_id,
                                embedder="pretrained" if self.embeddings.vectors else "random",
                                freeze_embeddings=self.embeddings.freeze, **model)


def load_job_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                    data: dict | None = None) -> ClassifyJobConfig:
    """Load and validate a classification job config (YAML file, preset name or plain data) with `--set key=value`
    overrides."""
    return load_config(ClassifyJobConfig, path, overrides, data=data)
