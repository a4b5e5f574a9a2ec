"""Use a trained language model: load it from a run dir or checkpoint, generate text, evaluate on text.

    model, codec = load_lm("runs/char")                        # best/ checkpoint, CPU
    for piece in generate_text("runs/char", "ROMEO:", 200):     # streams, one token's text at a time
        print(piece, end="", flush=True)
    evaluate_lm("runs/char", "shakespeare:test")                # {tokens, characters, loss, ..., bpc}

Only JSON and safetensors are read from the run dir (never pickle); a checkpoint is verified (sizes,
sha256, format version) before anything is loaded from it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors.torch import load_model

from textseq.errors import InputError
from textseq.lm.prepare import SEPARATOR, SUBWORD_FILE, TextCounter, word_pipeline
from textseq.lm.task import check_compatible, evaluate_tokens
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.models.sampling import generate
from textseq.train.checkpoint import TRAINER_JSON, CheckpointError, find_resumable, verify_checkpoint
from textseq.codecs import CharCodec, TokenCodec, codec_from_spec


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class LoadedLM:
    """A model, its codec, and the checkpoint they came from."""

    model: RecurrentLM
    codec: TokenCodec
    path: Path
    extra: dict[str, Any]


def resolve_checkpoint(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """The checkpoint directory `checkpoint` (best | latest | a path) names in `run_dir`.

    `run_dir` may itself be a checkpoint directory. best falls back to latest in runs that never
    evaluated; latest is the newest checkpoint that verifies."""
    run_dir = Path(run_dir)
    if (run_dir / TRAINER_JSON).exists():
        return run_dir
    if checkpoint not in ("best", "latest"):
        path = Path(checkpoint)
        if not path.exists() and (run_dir / checkpoint).exists():
            path = run_dir / checkpoint
        return path
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory not found: {run_dir}")
    if checkpoint == "best" and (run_dir / "best").is_dir():
        return run_dir / "best"
    path, problems = find_resumable(run_dir)
    for problem in problems:
        _warn(f"skipping a damaged checkpoint: {problem}")
    return path


def load_checkpoint_lm(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> LoadedLM:
    """Verify and load a language-model checkpoint with its codec (see resolve_checkpoint)."""
    path = resolve_checkpoint(run_dir, checkpoint)
    verify_checkpoint(path)  # sizes, sha256, format_version: before reading anything from it
    extra = _read_extra(path / "extra.json")
    check_compatible(extra, f"checkpoint {path}")
    try:
        config = LMConfig.model_validate(extra["model_config"])
        model = RecurrentLM(config)
    except Exception as err:  # a hand-edited or foreign extra.json
        raise CheckpointError(f"{path / 'extra.json'}: unusable model_config: {err}") from None
    try:
        load_model(model, str(path / "model.safetensors"), strict=True, device=device)
    except Exception as err:  # safetensors raises several types for bad headers and key mismatches
        raise CheckpointError(f"cannot load {path / 'model.safetensors'}: {err}") from None
    model.eval()
    return LoadedLM(model.to(device), _codec_from_extra(extra, path), path, extra)


def _read_extra(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint file is corrupt (not valid JSON): {path}: {err}") from None


def load_lm(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> tuple[RecurrentLM, TokenCodec]:
    """(model, codec) of a run dir (best checkpoint by default) or of a checkpoint directory."""
    loaded = load_checkpoint_lm(run_dir, checkpoint, device)
    return loaded.model, loaded.codec


def _codec_from_extra(extra: dict[str, Any], path: Path) -> TokenCodec:
    spec = extra.get("codec")
    where = f"{path / 'extra.json'}: codec"
    tokenizer = word_pipeline(extra["pipeline"]) if extra.get("pipeline") else None
    base_dir = None
    if isinstance(spec, dict) and spec.get("codec") == "sentencepiece":
        base_dir = _sentencepiece_dir(extra, path)
    return codec_from_spec(spec, where=where, base_dir=base_dir, tokenizer=tokenizer)


def _sentencepiece_dir(extra: dict[str, Any], path: Path) -> Path:
    """The run dir when its subword.model is the one the checkpoint was trained with, else a
    temporary directory where the copy embedded in the checkpoint is written out."""
    for candidate in (path.parent, path.parent.parent):
        f = candidate / SUBWORD_FILE
        if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() == extra["codec"].get("sha256"):
            return candidate
    blob = (extra.get("codec_files") or {}).get(SUBWORD_FILE)
    if not blob:
        raise CheckpointError(f"{path}: the sentencepiece model {SUBWORD_FILE} is neither beside the run nor in the checkpoint")
    data = base64.b64decode(blob)
    out = Path(tempfile.gettempdir()) / "textseq-sentencepiece" / hashlib.sha256(data).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / SUBWORD_FILE).is_file():
        (out / SUBWORD_FILE).write_bytes(data)
    return out


def _unknown_chars(codec: TokenCodec, text: str) -> list[str]:
    vocab = getattr(codec, "vocab", None)
    return sorted({c for c in text if vocab is not None and c not in vocab.stoi})


def encode_text(codec: TokenCodec, text: str, what: str, log: Callable[[str], None] = _warn) -> list[int]:
    """Encode `text`; tokens unseen in training become unk and are reported, or, when the codec has
    no unk, an InputError names the unseen characters."""
    unknowns: Counter[str] = Counter()
    try:
        ids = codec.encode(text, unknowns)
    except InputError:
        if codec.unk_id is not None:
            raise
        bad = _unknown_chars(codec, text)
        raise InputError(f"{what}: characters unseen in training and the codec has no unk: "
                         f"{', '.join(repr(c) for c in bad[:20]) or '(unknown)'}") from None
    report_unknowns(sum(unknowns.values()), unknowns.most_common(10), what, log)
    return ids


def report_unknowns(total: int, top: list, what: str, log: Callable[[str], None] = _warn) -> None:
    """Log how many tokens were unseen in training and mapped to unk, with the most frequent ones."""
    if total:
        log(f"{what}: {total:,} token(s) unseen in training mapped to unk: " + ", ".join(f"{t!r} ({n})" for t, n in top[:10]))


def _model_and_codec(source: Any, codec: TokenCodec | None, checkpoint: str, device: str) -> tuple[RecurrentLM, TokenCodec]:
    if isinstance(source, torch.nn.Module):
        if codec is None:
            raise InputError("pass codec=... together with a model object")
        return source, codec  # type: ignore[return-value]
    model, loaded_codec = load_lm(source, checkpoint, device)
    return model, codec or loaded_codec


def _prime_ids(codec: TokenCodec, prime: str, log: Callable[[str], None], backward: bool = False) -> list[int]:
    # Start as a new document: the separator first, so the state has seen a line break as in training
    # (in a backward LM's reversed stream the separator also comes first: it ends the document).
    start = encode_text(codec, SEPARATOR, "prime", log) or ([codec.eos_id] if codec.eos_id is not None else [])
    body = encode_text(codec, prime, "prime", log) if prime else []
    ids = start + (body[::-1] if backward else body)
    if not ids:
        raise InputError("the prime encodes to no tokens and the codec has no end-of-sequence token; give a longer --prime")
    return ids


def generate_text(source: Any, prime: str = "\n", length: int = 200, temperature: float = 0.8, top_k: int | None = None,
                  top_p: float | None = None, seed: int | None = None, codec: TokenCodec | None = None,
                  checkpoint: str = "best", device: str = "cpu", log: Callable[[str], None] = _warn,
                  with_prime: bool = False) -> Iterator[str]:
    """Stream the text of `length` new tokens after `prime` (temperature 0 = greedy) from a run dir,
    checkpoint dir or model (then pass `codec`). Yields each token's text as soon as it is sampled;
    with `with_prime` the prime comes first.

    A backward LM (model.direction: backward) writes the text that comes *before* the prime, right
    to left, so nothing can be shown until the last token is sampled: it yields that text in reading
    order as one piece, then the prime when `with_prime`."""
    if temperature < 0:
        raise InputError(f"temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InputError(f"top_p must be in (0, 1], got {top_p}")
    if length < 0:
        raise InputError(f"length must be >= 0, got {length}")
    model, codec = _model_and_codec(source, codec, checkpoint, device)
    backward = model.config.direction == "backward"
    prime_ids = _prime_ids(codec, prime, log, backward)
    ids = generate(model, prime_ids, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    if backward:
        return _before_prime(codec, prime, ids, with_prime)
    pieces = _detokenize(codec, prime_ids, ids)
    return itertools.chain([prime], pieces) if with_prime else pieces


def _before_prime(codec: TokenCodec, prime: str, ids: Iterator[int], with_prime: bool) -> Iterator[str]:
    """The backward LM's text (`ids`, sampled right to left) in reading order, and the prime after it."""
    text = "".join(_detokenize(codec, [], iter(list(ids)[::-1])))
    if prime and text and codec.name == "words" and not text.endswith("\n"):
        text += " "  # words are joined by spaces; the prime's first word needs one
    yield text
    if with_prime:
        yield prime


def _detokenize(codec: TokenCodec, prime_ids: list[int], ids: Iterator[int]) -> Iterator[str]:
    if codec.name == "words":  # tokens joined by spaces; end-of-sequence is the line break between documents
        # The first new word needs a space unless the prime ended a line (or there was no prime).
        at_line_start = not prime_ids or prime_ids[-1] == codec.eos_id
        for i in ids:
            if i == codec.eos_id:
                at_line_start = True
                yield "\n"
            else:
                yield ("" if at_line_start else " ") + codec.decode([i])
                at_line_start = False
        return
    # Pieces may decode differently in context (sentencepiece's "▁"): decode a short window with and
    # without the new id and yield the difference, so the stream equals decoding everything at once.
    context = list(prime_ids[-8:])
    for i in ids:
        before = codec.decode(context)
        context.append(i)
        after = codec.decode(context)
        yield after[len(before):] if after.startswith(before) else codec.decode([i])
        del context[:-8]


def evaluate_lm(source: Any, text_source: str, codec: TokenCodec | None = None, checkpoint: str = "best",
                batch_size: int = 32, bptt: int = 256, device: str = "cpu", text_column: str = "text",
                log: Callable[[str], None] = _warn) -> dict[str, float]:
    """{tokens, characters, loss, perplexity, bpc, bits_per_byte} of a model (run dir, checkpoint or
    model + codec) on a file or CORPUS:SPLIT, read and encoded like the training data."""
    from textseq.data.encode import encode_corpus

    model, codec = _model_and_codec(source, codec, checkpoint, device)
    texts = TextCounter(text_source)
    texts.text_column = text_column
    with tempfile.TemporaryDirectory(prefix="textseq-eval-") as tmp:
        try:
            encoded = encode_corpus(texts, codec, Path(tmp) / "eval.bin", progress=False, source=text_source)
        except InputError:
            if codec.unk_id is not None or not isinstance(codec, CharCodec):
                raise
            bad = sorted({c for t in TextCounter(text_source) for c in _unknown_chars(codec, t)})
            raise InputError(f"{text_source}: characters unseen in training and the codec has no unk: "
                             f"{', '.join(repr(c) for c in bad[:20])}") from None
        texts.check_not_empty("evaluation text")
        report_unknowns(encoded.unknown_count, encoded.meta.get("top_unknowns", []), text_source, log)
        tokens = encoded.tokens
        metrics = evaluate_tokens(model, tokens, batch_size, bptt, texts.characters, texts.bytes, codec.name == "chars")
        n = len(tokens)
        del encoded, tokens  # release the memmap before the directory goes
    return {"tokens": n - 1, "characters": texts.characters, "loss": metrics["loss"], "perplexity": metrics["ppl"],
            "bpc": metrics["bpc"], "bits_per_byte": metrics["bits_per_byte"]}
