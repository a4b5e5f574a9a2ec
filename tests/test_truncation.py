"""The codec length policy (textseq.truncation.Truncation): spec round trip, validation, and that a
language model's word codec, which holds none, keeps its spec and its ids."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from textseq.codecs import WordCodec, codec_from_spec
from textseq.errors import ConfigError, InputError
from textseq.truncation import CHARS_PER_TOKEN, Truncation
from textseq.vocab import Vocab


@pytest.mark.parametrize("policy", [Truncation(), Truncation(400), Truncation(64, "head", 0.5, "unk"), Truncation(None, "tail", empty="unk")])
def test_spec_round_trips_through_json(policy):
    assert Truncation.from_spec(json.loads(json.dumps(policy.spec()))) == policy


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 0}, "max_tokens must be an integer >= 1 or null, got 0"),
    ({"max_tokens": 2.5}, "max_tokens must be an integer >= 1"),
    ({"policy": "middle"}, "unknown truncation 'middle'; valid: head, tail, head_tail"),
    ({"head_fraction": 1.5}, r"head_fraction must be in \[0, 1\], got 1.5"),
    ({"empty": "drop"}, "unknown empty-document policy 'drop'; valid: keep, unk"),
])
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Truncation(**kwargs)
    with pytest.raises(InputError, match="extra.json: codec: truncation: .*" + message):
        Truncation.from_spec({**Truncation().spec(), **kwargs}, where="extra.json: codec: truncation")


def test_policy_methods_follow_the_fields():
    policy = Truncation(4, "head_tail", 0.5)
    assert policy.truncate(list("abcdefgh")) == list("abgh") and policy.truncate(list("abc")) == list("abc")
    text = "x " * (4 * CHARS_PER_TOKEN)
    assert len(policy.precut(text)) <= 4 * CHARS_PER_TOKEN + 1 and policy.precut("short") == "short"
    assert Truncation().is_noop and not policy.is_noop and not Truncation(empty="unk").is_noop


def test_a_word_codec_without_truncation_keeps_its_spec_and_ids():
    vocab = Vocab.build("the cat sat".split())
    the, unk = vocab.stoi["the"], vocab.unk_id
    plain = WordCodec(vocab)
    assert "truncation" not in plain.spec()  # what language-model runs have always stored
    assert plain.encode("") == [] and plain.encode("the dog " * 10) == [the, unk] * 10
    cut = WordCodec(vocab, truncation=Truncation(3, "head", empty="unk"))
    assert cut.encode("") == [unk] and cut.encode("the dog " * 10) == [the, unk, the]
    assert codec_from_spec(json.loads(json.dumps(cut.spec()))).encode("the dog " * 10) == [the, unk, the]
    other = Vocab.build(["dog"])
    assert cut.with_vocab(other).encode("the dog") == [other.unk_id, other.stoi["dog"]]
    with pytest.raises(ConfigError, match="needs an 'unk' special"):
        WordCodec(Vocab.build(["a"], specials=["pad"]), truncation=Truncation(empty="unk"))


def test_codecs_load_without_torch():
    """Encoding text needs no torch: a torch-free command (preprocess, corpora) may build a codec."""
    code = "import sys, textseq.codecs, textseq.truncation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
