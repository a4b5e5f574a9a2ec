"""The language-modelling job config: data, model, train and sample sections, validated strictly.

    data:   {train: shakespeare:train, valid: shakespeare:valid, level: char, batch_size: 64, bptt: 128}
    model:  {cell: lstm, emb_dim: 64, hidden_size: 512, num_layers: 1}     # LMConfig minus vocab_size
    embedding: {from_lm: null, freeze: true}  # start from another LM run's embedding (same vocabulary)
    train:  {optimizer: {lr: 2.0e-3}, max_minutes: 3, eval_every: 250}     # textseq.train.TrainConfig
    sample: {prime: "ROMEO:\\n", length: 400, temperature: 0.8}
    seed: 0

`vocab_size` is not a model key: it is filled in from the codec that `prepare` builds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model, field_validator, model_validator

from textseq.config import StrictModel, load_config
from textseq.models.lm import LMConfig
from textseq.models.recurrent import CELLS
from textseq.train.config import TrainConfig, follow_seed


class CharOptions(StrictModel):
    """Character level: one token per code point; rarer characters than min_freq map to unk (U+FFFD)."""

    min_freq: int = Field(1, ge=1)


class SubwordOptions(StrictModel):
    """A sentencepiece model trained on the training split with identity normalisation, no dummy
    prefix and "\\n" as a piece of its own, so decoding gives back exactly the encoded text."""

    model_type: Literal["bpe", "unigram"] = "unigram"
    vocab_size: int = Field(4000, ge=16)
    character_coverage: float = Field(1.0, gt=0, le=1)


# Keep every word, its case and punctuation: a word LM must be able to write the text back.
DEFAULT_WORD_PIPELINE: dict[str, Any] = {
    "name": "lm_words",
    "stages": [{"stage": "unicode", "form": "NFC"}, {"stage": "control_chars"}, {"stage": "spacy_words"}],
}


class WordOptions(StrictModel):
    """Word level: a preprocessing pipeline (preset name, YAML path or inline spec) that ends in word
    tokens, then a Vocab of the words seen >= min_freq times in training (max_size rows, specials
    included)."""

    pipeline: str | dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_WORD_PIPELINE))
    min_freq: int = Field(2, ge=1)
    max_size: int | None = Field(20000, ge=5)


class DataConfig(StrictModel):
    """Where the text comes from and how it is cut into tokens and TBPTT windows."""

    train: str  # CORPUS:SPLIT (shakespeare:train), a file or directory, or hf:NAME:SPLIT
    valid: str
    test: str | None = None
    text_column: str = "text"  # CSV/JSONL/datasets inputs
    errors: Literal["strict", "replace", "skip"] = "strict"  # undecodable bytes in the input
    level: Literal["char", "subword", "word"] = "char"
    char: CharOptions = CharOptions()
    subword: SubwordOptions = SubwordOptions()
    word: WordOptions = WordOptions()
    batch_size: int = Field(64, ge=1)
    bptt: int = Field(128, ge=1)
    # Drop each row's carried state at random, on average every N windows, so the model also learns
    # to start from a zero state (as generation and evaluation do). None: reset only at epoch start.
    reset_every: int | None = Field(16, ge=1)
    # Evaluate on the first N tokens of valid during training (None = all); the final report uses all.
    eval_tokens: int | None = Field(None, ge=2)

    def encoding_key(self) -> str:
        """Hash of everything that changes the encoded files (not batch_size/bptt/eval_tokens)."""
        keep = self.model_dump(mode="json", include={"train", "valid", "test", "text_column", "errors", "level"})
        keep["options"] = getattr(self, self.level).model_dump(mode="json")
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _model_fields() -> dict[str, Any]:
    return {name: (f.annotation, f) for name, f in LMConfig.model_fields.items() if name != "vocab_size"}


def _known_cell(cls: Any, value: str) -> str:
    CELLS.get(value)  # ConfigError (a ValueError) lists the valid names
    return value


# LMConfig's fields, defaults and limits without vocab_size; derived so the two never drift apart.
ModelSection = create_model(  # type: ignore[call-overload]
    "ModelSection",
    __base__=StrictModel,
    __doc__="RecurrentLM hyper-parameters (textseq.models.lm.LMConfig) except vocab_size.",
    __validators__={"_known_cell": field_validator("cell")(classmethod(_known_cell))},
    **_model_fields(),
)


class SampleConfig(StrictModel):
    """The text generated at the end of training."""

    prime: str = "\n"
    length: int = Field(400, ge=0)
    temperature: float = Field(0.8, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)


class EmbeddingStart(StrictModel):
    """Start the embedding from another `textseq train-lm` run with the same codec (vocabulary): how a
    backward LM is trained on the forward LM's vectors, so that one classifier embedding serves the
    encoder's two directions (textseq.models.transfer)."""

    from_lm: str | None = None  # a run dir or checkpoint dir
    checkpoint: str = "best"  # best | latest | a checkpoint directory name
    freeze: bool = True  # keep the copied vectors as they are: they must stay the other LM's


class LMJobConfig(StrictModel):
    """One language-modelling run: `textseq train-lm -c CONFIG -o RUN_DIR` (CONFIG: a file or an `lm`
    preset such as char_lstm)."""

    preset_kind = "lm"

    data: DataConfig
    model: ModelSection = Field(default_factory=ModelSection)  # type: ignore[valid-type]
    embedding: EmbeddingStart = EmbeddingStart()
    train: TrainConfig
    sample: SampleConfig = SampleConfig()
    seed: int = Field(0, ge=0)  # model init, data offsets and dropout; train.seed follows it

    @model_validator(mode="after")
    def _one_seed(self) -> "LMJobConfig":
        follow_seed(self.train, self.seed)
        return self

    def lm_config(self, vocab_size: int) -> LMConfig:
        """The model config with the codec's vocabulary size filled in."""
        return LMConfig(vocab_size=vocab_size, **self.model.model_dump())


def load_job_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                    data: dict | None = None) -> LMJobConfig:
    """Load and validate a job config (YAML file, preset name or plain data) with `--set key=value` overrides."""
    return load_config(LMJobConfig, path, overrides, data=data)
