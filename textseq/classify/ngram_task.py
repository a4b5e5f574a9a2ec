"""Train the n-gram classifier (textseq.classify.ngram) as a Task: `textseq train-classifier -c imdb_nbsvm`.

A config whose model.kind is "ngram" is trained here instead of by ClassifyTask. There are no
optimizer steps: scikit-learn fits one linear model per C of model.C on the training split, the one
with the best validation accuracy is kept (and, for a linear SVM, a sigmoid is fitted on the
validation scores so that probabilities mean something), and one checkpoint is written:

    RUN_DIR/
      run.json config.yaml vocab.json labels.json pipeline.yaml data/   as for every classifier
      step-000000/ best/   model.safetensors (keys, weights, r or idf, calibration) + extra.json
                           (config, model config, labels, codec); no pickle anywhere
      eval_valid.json eval_test.json report.json      the chosen model's full reports; the C grid

scikit-learn is an optional dependency (`pip install textseq[ngram]`); prediction needs only numpy.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from textseq.classify.config import DataSection
from textseq.classify.ngram import (CharMap, NgramClassifier, NgramConfig, Triplets, char_gram_map, char_triplets,
                                    check_key_range, concat, feature_values, lookup, ngram_keys)
from textseq.config import StrictModel, load_config
from textseq.errors import ConfigError, ResourceMissingError
from textseq.fileio import atomic_write_text
from textseq.train.job import Loaded
from textseq.train.rundir import RunKind

NGRAM_RUN = RunKind(task="ngram", name="n-gram classification", format_label="n-gram classifier", format=1,
                    command="textseq train-classifier", fixed_on_resume=("data", "model", "seed"))
log = logging.getLogger(__name__)


class NgramModelSection(StrictModel):
    """The n-gram features, their weighting and the linear classifier."""

    kind: Literal["ngram"]  # selects this model (and this task) in `textseq train-classifier`
    ngrams: list[int] = Field(default_factory=lambda: [1, 2])  # word n-gram orders, 1 to 3 ([] with char_ngrams)
    # character n-gram orders (1 to 8) of each word with boundary marks, "<film>" -> "<fi", "fil", ...
    char_ngrams: list[int] = Field(default_factory=list)
    min_df: int = Field(1, ge=1)  # keep n-grams seen in at least this many training documents
    weighting: Literal["binary", "nb", "tfidf"] = "nb"  # nb: binarized x naive-Bayes log-count ratio (NBSVM)
    # each document's vector scaled to unit L2 norm (tfidf always is): scores comparable across lengths
    normalize: bool = False
    nb_alpha: float = Field(1.0, gt=0)  # smoothing of the log-count ratio's counts
    # NBSVM's interpolation w' = (1 - beta) * mean|w| + beta * w (two classes; 1 = the weights as fitted)
    beta: float = Field(1.0, ge=0, le=1)
    classifier: Literal["logistic", "svm"] = "logistic"  # svm: LinearSVC + a sigmoid fitted on valid
    C: list[float] = Field(default_factory=lambda: [0.1, 1.0, 10.0])  # inverse regularisation, chosen on valid
    max_iter: int = Field(1000, ge=1)

    @field_validator("ngrams")
    @classmethod
    def _orders(cls, value: list[int]) -> list[int]:
        if any(n not in (1, 2, 3) for n in value):
            raise ValueError(f"ngrams must be a list of orders from 1 to 3, got {value}")
        return sorted(set(value))

    @field_validator("char_ngrams")
    @classmethod
    def _char_orders(cls, value: list[int]) -> list[int]:
        if any(not isinstance(n, int) or not 1 <= n <= 8 for n in value):
            raise ValueError(f"char_ngrams must be a list of orders from 1 to 8, got {value}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _some_features(self) -> "NgramModelSection":
        if not self.ngrams and not self.char_ngrams:
            raise ValueError("give word n-grams (ngrams) or character n-grams (char_ngrams), or both")
        return self

    @field_validator("C")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if not value or any(c <= 0 for c in value):
            raise ValueError(f"C must be a non-empty list of positive numbers, got {value}")
        return value


class NgramTrainSection(StrictModel):
    """Where the fit runs: scikit-learn on the CPU."""

    device: Literal["cpu"] = "cpu"
    # torch threads for the evaluations after the fit (`--threads`); scikit-learn's liblinear uses one
    num_threads: int | None = Field(None, ge=1)


class NgramJobConfig(StrictModel):
    """One n-gram classifier run: data as for every classifier (data.max_tokens: null keeps whole documents)."""

    preset_kind = "sentiment"

    data: DataSection
    model: NgramModelSection
    train: NgramTrainSection = NgramTrainSection()
    seed: int = Field(0, ge=0)


def sklearn() -> Any:
    """The sklearn.linear_model module, or a one-line error saying how to install it."""
    try:
        import sklearn.linear_model  # noqa: F401
        import sklearn.svm  # noqa: F401
    except ImportError:
        raise ResourceMissingError("the n-gram classifier needs scikit-learn: pip install 'textseq[ngram]' "
                                   "(or pip install scikit-learn)") from None
    import sklearn as module
    return module


def _matrix(t: Triplets, values: np.ndarray, n_features: int) -> Any:
    from scipy.sparse import csr_matrix

    return csr_matrix((values, (t.rows, t.cols)), shape=(t.n_docs, n_features))


def nb_ratio(t: Triplets, y: np.ndarray, n_features: int, alpha: float) -> np.ndarray:
    """(F,) log-count ratio r of binarized features between class 1 and class 0 (Wang & Manning 2012)."""
    pos = np.bincount(t.cols, weights=(y[t.rows] == 1).astype(np.float64), minlength=n_features) + alpha
    neg = np.bincount(t.cols, weights=(y[t.rows] == 0).astype(np.float64), minlength=n_features) + alpha
    return np.log(pos / pos.sum()) - np.log(neg / neg.sum())


class NgramTask:
    """The n-gram classifier as a Task for textseq.train.job.run_job (a closed-form `solve`, no Trainer)."""

    kind = NGRAM_RUN
    config_model = NgramJobConfig
    valid_metrics = ("accuracy",)
    serves = ("classify",)  # load_run(..., task="classify") opens these runs too: one predict path

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> NgramJobConfig:
        """An NgramJobConfig from a YAML path or preset name, with --set overrides."""
        return load_config(NgramJobConfig, source, tuple(overrides))

    def prepare(self, config: NgramJobConfig, run_dir: Path) -> Any:
        """Labels, vocabulary and encoded splits, exactly as for the neural classifiers."""
        from textseq.classify.prepare import prepare

        return prepare(config, run_dir)  # type: ignore[arg-type]  # reads config.data only

    def solve(self, config: NgramJobConfig, data: Any, run_dir: Path) -> dict[str, Any]:
        """Fit the grid of C, keep the best on valid, write the checkpoint and the reports."""
        sk = sklearn()
        m = config.model
        if config.train.num_threads:
            torch.set_num_threads(config.train.num_threads)
        if "valid" not in data.splits:
            raise ConfigError("the n-gram classifier chooses C on the validation split: set data.valid")
        n_classes, vocab_size = len(data.labels), len(data.vocab)
        if m.weighting == "nb" and n_classes != 2:
            raise ConfigError(f"model.weighting nb (the log-count ratio) needs two classes; the data has {n_classes}: "
                              "use tfidf or binary")
        check_key_range(vocab_size, m.ngrams)
        start = time.perf_counter()
        train = data.splits["train"]
        chars = self._char_keys(data.vocab, m.char_ngrams) if m.char_ngrams else None
        char_columns = self._char_columns(chars, vocab_size) if chars is not None else None  # made once, for both splits
        found = self._keys(train, m.ngrams, vocab_size, char_columns)
        keys, inverse = np.unique(found.cols, return_inverse=True)
        df = np.bincount(inverse, minlength=len(keys))
        table = keys[df >= m.min_df]  # sorted
        t = lookup(found, table)
        y = train.labels
        n_f = len(table)
        scale = np.ones(n_f)
        if m.weighting == "nb":
            scale = nb_ratio(t, y, n_f, m.nb_alpha)
        elif m.weighting == "tfidf":  # scikit-learn's smoothed idf
            scale = np.log((1 + found.n_docs) / (1 + df[df >= m.min_df])) + 1.0
        x_train = _matrix(t, feature_values(t, m.weighting, scale, m.normalize), n_f)
        valid = data.splits["valid"]
        tv = lookup(self._keys(valid, m.ngrams, vocab_size, char_columns), table)
        x_valid = _matrix(tv, feature_values(tv, m.weighting, scale, m.normalize), n_f)
        orders = "+".join(map(str, m.ngrams)) + (f" word, {'+'.join(map(str, m.char_ngrams))} character" if m.char_ngrams else "")
        log.info(f"{n_f:,} n-gram features ({orders}-grams, min_df {m.min_df}, {m.weighting}) from {found.n_docs:,} documents")
        grid, best = [], None
        for c in m.C:
            if m.classifier == "logistic":
                clf = sk.linear_model.LogisticRegression(C=c, max_iter=m.max_iter, solver="liblinear" if n_classes == 2 else "lbfgs")
            else:
                clf = sk.svm.LinearSVC(C=c, max_iter=m.max_iter)
            clf.fit(x_train, y)
            acc = float((clf.predict(x_valid) == valid.labels).mean())
            grid.append({"C": c, "valid_accuracy": round(acc, 5)})
            log.info(f"C={c:g}: valid accuracy {acc:.4f}")
            if best is None or acc > best[0]:
                best = (acc, c, clf)
        assert best is not None
        _, chosen_c, clf = best
        weight = clf.coef_.T.astype(np.float64)  # (F, K)
        bias = np.asarray(clf.intercept_, dtype=np.float64)
        if n_classes == 2 and m.beta < 1.0:
            weight = (1 - m.beta) * np.abs(weight).mean() + m.beta * weight
        model = self._model(n_classes, vocab_size, table, scale, weight, bias, m, chars)
        if m.classifier == "svm" and n_classes == 2:  # Platt scaling on the validation scores
            s = model.scores(valid.tokens, valid.offsets)  # (N, 1)
            platt = sk.linear_model.LogisticRegression(C=1e4).fit(s, valid.labels)
            model.calibration.copy_(torch.tensor([float(platt.coef_[0, 0]), float(platt.intercept_[0])]))
        fit_s = time.perf_counter() - start
        log.info(f"chose C={chosen_c:g} on valid; fit in {fit_s:.1f} s")
        ckpt = self._save(config, data, model, run_dir, {"C": chosen_c, "grid": grid})
        reports = self._reports(config, data, model, run_dir)
        return {"task": self.kind.task, "chosen_C": chosen_c, "grid": grid, "features": n_f, "fit_seconds": round(fit_s, 2),
                "checkpoint": str(ckpt), **reports}

    @staticmethod
    def _char_keys(vocab: Any, orders: list[int]) -> CharMap:
        """Every vocabulary word's character n-gram keys (specials such as <unk> have none)."""
        specials = set(vocab.specials.values())
        return char_gram_map([None if w in specials else w for w in vocab.itos], orders)

    @staticmethod
    def _char_columns(chars: CharMap, vocab_size: int) -> tuple[np.ndarray, Any]:
        """(the distinct character-gram keys, the V x G word -> column map over them): keys are too large
        to be matrix columns themselves."""
        from scipy.sparse import csr_matrix

        uniq, col = np.unique(chars.cols, return_inverse=True)
        return uniq, csr_matrix((chars.counts.astype(np.float64), col.ravel(), chars.indptr), shape=(vocab_size, len(uniq)))

    @staticmethod
    def _keys(split: Any, ngrams: list[int], vocab_size: int, char_columns: tuple[np.ndarray, Any] | None) -> Triplets:
        """Every (document, n-gram key, count) of a split: word n-grams, then the words' character n-grams."""
        found = ngram_keys(split.tokens, split.offsets, ngrams, vocab_size)
        if char_columns is None:
            return found
        uniq, word_to_col = char_columns
        t = char_triplets(split.tokens, split.offsets, word_to_col)
        return concat(found, Triplets(t.rows, uniq[t.cols], t.counts, t.n_docs))

    @staticmethod
    def _model(n_classes: int, vocab_size: int, table: np.ndarray, scale: np.ndarray, weight: np.ndarray,
               bias: np.ndarray, m: NgramModelSection, chars: CharMap | None = None) -> NgramClassifier:
        state: dict[str, torch.Tensor] = {}
        if chars is not None:  # the word -> character-gram map, keys looked up to feature indices (kept ones only)
            words = np.repeat(np.arange(vocab_size, dtype=np.int64), np.diff(chars.indptr))
            kept = lookup(Triplets(words, chars.cols, chars.counts, vocab_size), table)  # rows stay in word order
            indptr = np.zeros(vocab_size + 1, dtype=np.int64)
            np.cumsum(np.bincount(kept.rows, minlength=vocab_size), out=indptr[1:])
            state = {"char_indptr": torch.as_tensor(indptr), "char_cols": torch.as_tensor(kept.cols.astype(np.int64)),
                     "char_counts": torch.as_tensor(kept.counts)}
        cfg = NgramConfig(vocab_size=vocab_size, num_classes=n_classes, num_features=len(table), ngrams=m.ngrams,
                          char_ngrams=m.char_ngrams, num_char_entries=len(state.get("char_cols", ())),
                          weighting=m.weighting, normalize=m.normalize)
        model = NgramClassifier(cfg)
        model.load_state_dict({"keys": torch.as_tensor(table), "scale": torch.as_tensor(scale, dtype=torch.float32),
                               "weight": torch.as_tensor(weight, dtype=torch.float32),
                               "bias": torch.as_tensor(bias, dtype=torch.float32), "calibration": model.calibration, **state})
        return model

    def _save(self, config: NgramJobConfig, data: Any, model: NgramClassifier, run_dir: Path, chosen: dict[str, Any]) -> Path:
        from textseq.train.checkpoint import save_checkpoint

        extra = {**self.kind.info(), "config": config.model_dump(mode="json"), "model_config": model.config.model_dump(mode="json"),
                 "labels": data.labels.labels, "codec": data.codec.spec(), "chosen": chosen}
        trainer_state = {"step": 0, "epoch": 1, "best_metric": chosen["grid"], "train_config": config.train.model_dump(mode="json")}
        return save_checkpoint(Path(run_dir), 0, model=model, optimizer=NoOptimizer(), carried_state=None,
                               trainer_state=trainer_state, extra=extra, keep_last=1, is_best=True)

    def _reports(self, config: NgramJobConfig, data: Any, model: NgramClassifier, run_dir: Path) -> dict[str, Any]:
        from textseq.classify.task import Evaluator

        reports: dict[str, Any] = {}
        for split in ("valid", "test"):
            if split in data.splits:
                r = Evaluator(data.splits[split], data.labels.labels, config.data.eval_batch_size, model.config.pad_id).report(model)
                atomic_write_text(Path(run_dir) / f"eval_{split}.json", json.dumps(r, indent=1, ensure_ascii=False) + "\n")
                reports[split] = r
                log.info(f"{split} ({r['examples']:,} documents): accuracy {r['accuracy']:.4f} | macro_f1 {r['macro_f1']:.4f}")
        return reports

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        """The n-gram classifier of one checkpoint, its codec and its class names."""
        from safetensors.torch import load_model

        from textseq.classify.task import checkpoint_codec
        from textseq.config import validate

        cfg = validate(NgramConfig, extra.get("model_config"), where=f"{path / 'extra.json'}: model_config")
        model = NgramClassifier(cfg)
        load_model(model, str(path / "model.safetensors"), strict=True)
        model._cache = None
        return Loaded(model, checkpoint_codec(extra, str(path / "extra.json")), list(extra["labels"]))


class NoOptimizer:
    """A closed-form fit (n-gram model, ensemble weights) has no optimizer state: the checkpoint's optimizer
    file holds an empty tree."""

    def state_dict(self) -> dict[str, Any]:
        return {}


def is_ngram_config(raw: Any) -> bool:
    """Whether a parsed job config (YAML mapping) asks for the n-gram model."""
    model = raw.get("model") if isinstance(raw, dict) else None
    return isinstance(model, dict) and model.get("kind") == "ngram"
