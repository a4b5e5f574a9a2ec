"""SubwordModel (sentencepiece BPE/unigram) and the `sentencepiece` tokenizer stage."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ODD_TEXTS
from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.text.base import stage_from_spec
from textseq.text.subword import SentencePiece, SubwordModel

PARAGRAPH = (
    "The river ran quietly past the old mill, where the miller's children once played. "
    "Every spring the water rose and carried branches, leaves and the occasional lost boot downstream. "
    "Villagers gathered on the bridge to watch the flood, trading stories about storms long past. "
    "Nobody remembered exactly when the mill had stopped turning, but everyone agreed it was before the war. "
    "Now swallows nest in the rafters, and moss covers the great wooden wheel. "
    "On quiet evenings a heron stands in the shallows, patient as a statue, waiting for fish. "
    "Children still dare each other to touch the rusted gate after dark. "
    "Last year a painter from the city rented the cottage beside the weir for the whole summer. "
    "She filled notebooks with sketches of reeds, clouds, kingfishers and crumbling brickwork. "
    "When autumn came, she left a small watercolour of the mill pinned to the parish noticeboard."
)
SENTENCES = [s.strip().rstrip(".") + "." for s in PARAGRAPH.split(". ")]
# Vocab sizes that this corpus supports for each algorithm (unigram needs more text per piece).
VOCAB = {"bpe": 200, "unigram": 120}
PLAIN = "The miller's children watched the flood from the bridge."


def corpus_lines(n: int = 300) -> list[str]:
    """Realistic-looking lines: pairs of sentences from the paragraph, in random order."""
    rng = random.Random(0)
    return [" ".join(rng.sample(SENTENCES, 2)) for _ in range(n)]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def trained(request, tmp_path_factory):
    """(model_type, path to the saved .model) trained from an iterator of sentences."""
    prefix = tmp_path_factory.mktemp(request.param) / "sp"
    SubwordModel.train(corpus_lines(), model_type=request.param, vocab_size=VOCAB[request.param], out_prefix=prefix,
                       user_defined_symbols=["<sep>"])
    return request.param, f"{prefix}.model"


def test_save_load_round_trip(trained):
    kind, path = trained
    model = SubwordModel.load(path)
    assert model.vocab_size == VOCAB[kind]
    ids = model.encode(PLAIN)
    assert model.decode(ids) == PLAIN
    assert [model.id_to_piece(i) for i in ids] == model.encode_pieces(PLAIN)
    assert all(0 <= i < model.vocab_size for i in ids)
    # A fresh object from the saved bytes behaves identically; so does a pickled copy.
    fresh = SubwordModel.load(path)
    assert fresh.encode(PLAIN) == ids
    assert pickle.loads(pickle.dumps(model)).encode(PLAIN) == ids
    # Frequent words of the corpus become single pieces, so this is not just a character model.
    assert any(len(p.lstrip("\u2581")) >= 4 for p in model.encode_pieces(PLAIN))


def test_user_defined_symbol_is_one_piece(trained):
    model = SubwordModel.load(trained[1])
    assert "<sep>" in model.encode_pieces("the mill <sep> the river")


def test_piece_offsets_map_into_text(trained):
    model = SubwordModel.load(trained[1])
    text = "Every  spring the heron waits by the weir."  # a double space: offsets still index the original
    tokens = model.encode_spans([text])[0]
    assert [t.text for t in tokens] == model.encode_pieces(text)
    prev = 0
    for tok in tokens:
        assert prev <= tok.start <= tok.end <= len(text)
        # '\u2581' stands for the whitespace before a word; the rest of the piece is verbatim.
        assert text[tok.start:tok.end].strip() == tok.text.replace("\u2581", " ").strip()
        prev = tok.end
    assert "".join(text[t.start:t.end] for t in tokens) == text  # pieces cover every character


def test_train_from_file_matches_iterator(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    from_file = SubwordModel.train(str(path), model_type="bpe", vocab_size=150)
    from_iter = SubwordModel.train(corpus_lines(), model_type="bpe", vocab_size=150)
    assert from_file.encode_pieces(PLAIN) == from_iter.encode_pieces(PLAIN)


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_vocab_too_large_is_config_error_naming_the_max(model_type):
    with pytest.raises(ConfigError, match=r"vocab_size 50000 is too large .* at most \d+"):
        SubwordModel.train(corpus_lines(50), model_type=model_type, vocab_size=50000)


def test_missing_corpus_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        SubwordModel.train(str(tmp_path / "none.txt"), vocab_size=100)


# -- the stage --------------------------------------------------------------------------------


def test_stage_tokens(trained):
    stage = SentencePiece(model=trained[1])
    tokens = stage.process(PLAIN)
    assert [t.text for t in tokens] == SubwordModel.load(trained[1]).encode_pieces(PLAIN)
    assert "".join(PLAIN[t.start:t.end] for t in tokens) == PLAIN


def test_stage_survives_odd_text(trained, odd_text):
    tokens = SentencePiece(model=trained[1]).process(odd_text)
    prev = 0
    for tok in tokens:
        assert prev <= tok.start <= tok.end <= len(odd_text)
        prev = tok.end


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=60))
def test_stage_spans_valid_on_any_unicode(trained, text):
    prev = 0
    for tok in SentencePiece(model=trained[1]).process(text):
        assert prev <= tok.start <= tok.end <= len(text)
        prev = tok.end


def test_stage_batch_spec_pickle(trained):
    stage = SentencePiece(model=trained[1])
    docs = list(ODD_TEXTS.values()) + [PLAIN]
    assert stage.process_batch(docs) == [stage.process(d) for d in docs]
    assert stage_from_spec(stage.spec()) == stage
    clone = pickle.loads(pickle.dumps(stage))
    assert clone == stage and clone.process(PLAIN) == stage.process(PLAIN)


def test_stage_missing_model_names_path_and_fix(tmp_path):
    missing = str(tmp_path / "nowhere.model")
    with pytest.raises(ResourceMissingError, match="nowhere.model.*SubwordModel.train"):
        SentencePiece(model=missing).process("hello")


# -- one loader for the stage and the codec ----------------------------------------------------


def test_stage_and_codec_share_one_cached_model(trained, tmp_path):
    from textseq.codecs import SentencePieceCodec
    from textseq.text.subword import load_subword_model

    path = trained[1]
    codec, stage = SentencePieceCodec(path), SentencePiece(model=path)
    model = load_subword_model(path)
    assert codec.subword_model is model and load_subword_model(path) is model  # read once per process
    assert [model.id_to_piece(i) for i in codec.encode(PLAIN)] == [t.text for t in stage.process(PLAIN)]
    assert codec.size == model.vocab_size and codec.unk_id == model.special_id("unk") == 0
    assert model.special_id("pad") is None  # disabled by default in sentencepiece (-1)
    with pytest.raises(ConfigError, match="unknown special role 'sep'"):
        model.special_id("sep")
    # both hold the path only: pickles stay small whatever the model's size
    assert len(pickle.dumps(codec)) < 400 and len(pickle.dumps(stage)) < 400
    # a rewritten file is read again (the cache is keyed on the file's mtime and size)
    copy = tmp_path / "copy.model"
    copy.write_bytes(open(path, "rb").read())
    first = load_subword_model(copy)
    SubwordModel.train(corpus_lines(), model_type="bpe", vocab_size=150, out_prefix=tmp_path / "copy")
    assert load_subword_model(copy) is not first and SentencePieceCodec(copy).size == 150
