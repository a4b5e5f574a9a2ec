"""Vocab and codecs: ids are deterministic, unknowns are counted, files round-trip and fail loudly."""

from __future__ import annotations

import io
import json
import pickle
from collections import Counter

import pytest

from tests.conftest import ODD_TEXTS
from textseq.errors import ConfigError, InputError
from textseq.codecs import CharCodec, SentencePieceCodec, TokenCodec, WordCodec, codec_from_spec, load_codec, save_codec
from textseq.vocab import Vocab

WORDS = "b a c a b a d e e e".split()  # a:3 e:3 b:2 c:1 d:1


def test_build_orders_by_frequency_then_token_and_puts_specials_first():
    v = Vocab.build(WORDS)
    assert v.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "e", "b", "c", "d"]
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert v.counts == {"a": 3, "e": 3, "b": 2, "c": 1, "d": 1}


def test_build_is_independent_of_input_order():
    assert Vocab.build(WORDS).itos == Vocab.build(list(reversed(WORDS))).itos == Vocab.build(sorted(WORDS)).itos


@pytest.mark.parametrize(
    "min_freq, max_size, specials, expected",
    [
        (2, None, ("unk",), ["<unk>", "a", "e", "b"]),
        (1, 3, ("unk",), ["<unk>", "a", "e"]),  # max_size counts the specials
        (1, 6, ("pad", "unk", "bos", "eos"), ["<pad>", "<unk>", "<bos>", "<eos>", "a", "e"]),
        (3, None, ("eos", "pad"), ["<pad>", "<eos>", "a", "e"]),  # specials take ids in role order
        (1, None, {"unk": "UNK"}, ["UNK", "a", "e", "b", "c", "d"]),
        (4, None, (), []),
    ],
)
def test_build_min_freq_max_size_specials(min_freq, max_size, specials, expected):
    assert Vocab.build(WORDS, min_freq=min_freq, max_size=max_size, specials=specials).itos == expected


def test_build_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="unknown special role"):
        Vocab.build(WORDS, specials=("mask",))
    with pytest.raises(ConfigError, match="max_size"):
        Vocab.build(WORDS, max_size=1)
    with pytest.raises(ConfigError, match="min_freq"):
        Vocab.build(WORDS, min_freq=0)


def test_build_and_encode_accept_pipeline_tokens():
    from textseq.text.base import whitespace_tokens

    v = Vocab.build(whitespace_tokens(" ".join(WORDS)), specials=("unk",))
    assert v == Vocab.build(WORDS, specials=("unk",))
    assert v.encode(whitespace_tokens("a zz")) == [1, 0]


def test_literal_special_in_corpus_is_not_a_second_token():
    v = Vocab.build(["<unk>", "x", "<unk>"], specials=("unk",))
    assert v.itos == ["<unk>", "x"]
    unknowns: Counter = Counter()
    assert v.encode(["<unk>", "y"], unknowns) == [0, 0]
    assert unknowns == {"y": 1}  # a literal <unk> (as in PTB) is not an unknown


def test_encode_counts_unknowns_and_decode_inverts():
    v = Vocab.build(WORDS, specials=("unk",))
    unknowns: Counter = Counter()
    ids = v.encode(iter(["a", "zz", "b", "zz", "yy"]), unknowns)  # any iterable
    assert ids == [1, 0, 3, 0, 0]
    assert unknowns == {"zz": 2, "yy": 1}
    assert v.decode(ids) == ["a", "<unk>", "b", "<unk>", "<unk>"]
    with pytest.raises(InputError, match="outside the vocabulary"):
        v.decode([len(v)])


def test_vocab_without_unk_refuses_unknown_tokens():
    v = Vocab.build(WORDS, specials=())
    with pytest.raises(InputError, match="'zz' is not in the vocabulary"):
        v.encode(["a", "zz"])


def test_json_round_trip(tmp_path):
    v = Vocab.build(WORDS + ["ünï", "😀"], specials=("pad", "unk"))
    v.save(tmp_path / "v.json")
    data = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert data["format"] == "textseq.vocab" and data["version"] == 1
    w = Vocab.load(tmp_path / "v.json")
    assert w == v and w.counts == v.counts and w.unk_id == 1 and len(w) == len(v)
    assert pickle.loads(pickle.dumps(w)) == v


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"format": "textseq.vocab", "version": 1, "tokens": ["a",', "invalid JSON at line 1"),
        ('{"format": "textseq.vocab", "version": 1, "tokens": ["a", "b", "a"], "specials": {}}', "duplicate token 'a' at ids 0 and 2"),
        ('{"format": "textseq.vocab", "version": 1, "specials": {}}', r"missing key\(s\) \['tokens'\]"),
        ('{"format": "textseq.vocab", "version": 1, "tokens": ["a"], "specials": {"unk": "<unk>"}}', "special unk='<unk>' is not among"),
        ('{"format": "other", "version": 1, "tokens": [], "specials": {}}', "format is 'other'"),
        ('{"format": "textseq.vocab", "version": 9, "tokens": [], "specials": {}}', "version 9"),
        ('{"format": "textseq.vocab", "version": 1, "tokens": [], "specials": {}, "extra": 1}', "unknown key"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_corrupt_vocab_file_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "broken_vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        Vocab.load(path)
    assert str(path) in str(info.value)


def test_missing_vocab_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Vocab.load(tmp_path / "nope.json")


# --- codecs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_char_codec_round_trips_odd_unicode_exactly(name):
    text = ODD_TEXTS[name]
    codec = CharCodec.build([text])
    ids = codec.encode(text)
    assert len(ids) == len(text)  # one id per code point: combining marks and ZWJ sequences survive
    assert codec.decode(ids) == text
    assert codec.encode_array(text).tolist() == ids


def test_char_codec_vocab_and_unknowns():
    codec = CharCodec.build(["abca"])
    assert codec.vocab.itos == ["\ufffd", "a", "b", "c"] and codec.unk_id == 0 and codec.eos_id is None
    unknowns: Counter = Counter()
    ids = codec.encode("ab😀zz", unknowns)
    assert ids == [1, 2, 0, 0, 0]
    assert unknowns == {"😀": 1, "z": 2}
    assert codec.decode(ids) == "ab\ufffd\ufffd\ufffd"


def test_char_codec_spec_round_trip(tmp_path):
    text = ODD_TEXTS["emoji"] + ODD_TEXTS["rtl"]
    codec = CharCodec.build([text])
    save_codec(codec, tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert isinstance(again, CharCodec) and isinstance(again, TokenCodec)
    assert again.encode(text) == codec.encode(text) and again.size == codec.size
    assert json.loads(json.dumps(codec.spec())) == codec.spec()


def test_word_codec_encodes_with_tokenizer_and_rebuilds_from_spec():
    vocab = Vocab.build("the cat sat on the mat".split())
    codec = WordCodec(vocab)
    ids = codec.encode("the  dog\nsat")
    assert codec.decode(ids) == "the <unk> sat"  # lossy by design: spacing is not kept
    again = codec_from_spec(json.loads(json.dumps(codec.spec())))
    assert again.encode("the  dog\nsat") == ids and again.eos_id == 3


def test_word_codec_with_custom_tokenizer_needs_it_passed_back():
    codec = WordCodec(Vocab.build(list("abc")), tokenizer=list)
    assert codec.encode("abx") == [4, 5, 1]
    with pytest.raises(ConfigError, match="pass tokenizer="):
        codec_from_spec(codec.spec())
    assert codec_from_spec(codec.spec(), tokenizer=list).encode("abx") == [4, 5, 1]


def test_word_codec_accepts_token_objects():
    from textseq.text.base import whitespace_tokens

    codec = WordCodec(Vocab.build("a b".split()), tokenizer=whitespace_tokens)
    assert codec.encode("b a c") == [5, 4, 1]


def test_unknown_codec_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid: chars, sentencepiece, words"):
        codec_from_spec({"codec": "bytes"})


SP_TRAIN = [ODD_TEXTS[k] for k in sorted(ODD_TEXTS) if k != "long_word"] + [
    "the quick brown fox jumps over the lazy dog",
    "a language model predicts the next token",
] * 20


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    spm = pytest.importorskip("sentencepiece")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SP_TRAIN),
        model_writer=buf,
        vocab_size=1000,  # a ceiling: hard_vocab_limit=False lets the tiny corpus stop short
        model_type="bpe",
        byte_fallback=True,  # characters outside the model become byte pieces, not <unk>
        normalization_rule_name="identity",  # needed for exact round trips
        remove_extra_whitespaces=False,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path = tmp_path_factory.mktemp("sp") / "tiny.model"
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize(
    "text", [ODD_TEXTS["emoji"], ODD_TEXTS["combining"], ODD_TEXTS["rtl"], "the fox  jumps\nover 東京 🦊"], ids=["emoji", "combining", "rtl", "unseen"]
)
def test_sentencepiece_codec_round_trips(sp_model, text):
    codec = SentencePieceCodec(sp_model)
    ids = codec.encode(text)
    assert all(0 <= i < codec.size for i in ids)
    assert codec.decode(ids) == text


def test_sentencepiece_codec_spec_and_pickle(sp_model, tmp_path):
    codec = SentencePieceCodec(sp_model)
    save_codec(codec, tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert again.encode("the lazy fox") == codec.encode("the lazy fox")
    assert pickle.loads(pickle.dumps(codec)).encode("the fox") == codec.encode("the fox")
    assert codec.eos_id == 2 and codec.unk_id == 0


def test_sentencepiece_spec_refuses_a_different_model(sp_model, tmp_path):
    spec = SentencePieceCodec(sp_model).spec()
    other = tmp_path / "tiny.model"
    other.write_bytes(sp_model.read_bytes() + b"\x00")
    with pytest.raises(InputError, match="sha256 differs"):
        codec_from_spec({**spec, "model": "tiny.model"}, base_dir=tmp_path)
