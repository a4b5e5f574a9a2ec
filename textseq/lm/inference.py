"""Use a trained language model: generate text, evaluate on text (runs open through textseq.runs.load_run).

    model, codec = load_lm("runs/char")                        # best/ checkpoint, CPU
    for piece in generate_text("runs/char", "ROMEO:", 200):     # streams, one token's text at a time
        print(piece, end="", flush=True)
    evaluate_lm("runs/char", "shakespeare:test")                # {tokens, characters, loss, ..., bpc}

"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import torch

from textseq.codecs import CharCodec, TokenCodec
from textseq.errors import InputError
from textseq.lm.prepare import SEPARATOR, TextCounter
from textseq.lm.task import evaluate_tokens
from textseq.models.lm import RecurrentLM
from textseq.models.sampling import generate
from textseq.runs import load_run

log = logging.getLogger(__name__)


def load_lm(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> tuple[RecurrentLM, TokenCodec]:
    """(model, codec) of a language-model run dir (best checkpoint by default) or checkpoint directory."""
    run = load_run(run_dir, checkpoint, device, task="lm")
    return run.model, run.codec


def _unknown_chars(codec: TokenCodec, text: str) -> list[str]:
    vocab = getattr(codec, "vocab", None)
    return sorted({c for c in text if vocab is not None and c not in vocab.stoi})


def encode_text(codec: TokenCodec, text: str, what: str) -> list[int]:
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
    report_unknowns(sum(unknowns.values()), unknowns.most_common(10), what)
    return ids


def report_unknowns(total: int, top: list, what: str) -> None:
    """Log how many tokens were unseen in training and mapped to unk, with the most frequent ones."""
    if total:
        log.warning(f"{what}: {total:,} token(s) unseen in training mapped to unk: " + ", ".join(f"{t!r} ({n})" for t, n in top[:10]))


def _model_and_codec(source: Any, codec: TokenCodec | None, checkpoint: str, device: str) -> tuple[RecurrentLM, TokenCodec]:
    if isinstance(source, torch.nn.Module):
        if codec is None:
            raise InputError("pass codec=... together with a model object")
        return source, codec  # type: ignore[return-value]
    model, loaded_codec = load_lm(source, checkpoint, device)
    return model, codec or loaded_codec


def _prime_ids(codec: TokenCodec, prime: str, backward: bool = False) -> list[int]:
    # Start as a new document: the separator first, so the state has seen a line break as in training
    # (in a backward LM's reversed stream the separator also comes first: it ends the document).
    start = encode_text(codec, SEPARATOR, "prime") or ([codec.eos_id] if codec.eos_id is not None else [])
    body = encode_text(codec, prime, "prime") if prime else []
    ids = start + (body[::-1] if backward else body)
    if not ids:
        raise InputError("the prime encodes to no tokens and the codec has no end-of-sequence token; give a longer --prime")
    return ids


def generate_text(source: Any, prime: str = "\n", length: int = 200, temperature: float = 0.8, top_k: int | None = None,
                  top_p: float | None = None, seed: int | None = None, codec: TokenCodec | None = None,
                  checkpoint: str = "best", device: str = "cpu", with_prime: bool = False) -> Iterator[str]:
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
    prime_ids = _prime_ids(codec, prime, backward)
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
                batch_size: int = 32, bptt: int = 256, device: str = "cpu", text_column: str = "text") -> dict[str, float]:
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
        report_unknowns(encoded.unknown_count, encoded.meta.get("top_unknowns", []), text_source)
        tokens = encoded.tokens
        metrics = evaluate_tokens(model, tokens, batch_size, bptt, texts.characters, texts.bytes, codec.name == "chars")
        n = len(tokens)
        del encoded, tokens  # release the memmap before the directory goes
    return {"tokens": n - 1, "characters": texts.characters, "loss": metrics["loss"], "perplexity": metrics["ppl"],
            "bpc": metrics["bpc"], "bits_per_byte": metrics["bits_per_byte"]}
