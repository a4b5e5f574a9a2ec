"""Classification data: truncation, labels, encoding through the classification codec (vocab from
train only, empty and huge texts, the same ids after a JSON spec round trip), bucketed batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textseq.codecs import WordCodec, classification_codec, codec_from_spec
from textseq.data.classification import BucketBatches, EncodedSplit, LabelSet, balanced_weights, eval_batches
from textseq.errors import ConfigError, InputError
from textseq.text.pipeline import Pipeline
from textseq.truncation import EncodeStats, precut, truncate
from textseq.vocab import Vocab

FAST = Pipeline.from_spec({"stages": [{"stage": "case", "mode": "lower"}, {"stage": "regex_words"}]})


# -- truncation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy, fraction, expected", [
    ("head", 0.25, list(range(8))),
    ("tail", 0.25, list(range(12, 20))),
    ("head_tail", 0.25, [0, 1, 14, 15, 16, 17, 18, 19]),
    ("head_tail", 0.5, [0, 1, 2, 3, 16, 17, 18, 19]),
    ("head_tail", 0.0, list(range(12, 20))),
    ("head_tail", 1.0, list(range(8))),
])
def test_truncation_keeps_the_right_tokens(policy, fraction, expected):
    assert list(truncate(list(range(20)), 8, policy, fraction)) == expected
    assert list(truncate(list(range(5)), 8, policy, fraction)) == list(range(5))  # short: untouched
    assert list(truncate(list(range(20)), None, policy, fraction)) == list(range(20))


def test_precut_keeps_both_ends_of_a_huge_text():
    text = "start " + "filler " * 200_000 + "finale"
    cut = precut(text, 10, "head_tail", 0.5)
    assert len(cut) <= 10 * 20 + 1 and cut.startswith("start ") and cut.endswith("finale")
    assert precut(text, 10, "head", 0.5).startswith("start ") and precut(text, 10, "tail", 0.5).endswith("finale")
    assert precut("short text", 10, "head", 0.5) == "short text"


# -- labels ------------------------------------------------------------------------------------------------
def test_string_labels_sort_alphabetically_and_integers_numerically():
    assert LabelSet.from_labels(["pos", "neg", "pos", "neutral"]).labels == ["neg", "neutral", "pos"]
    labels = LabelSet.from_labels(["10", "2", 1, " 2", "+10"])
    assert labels.labels == ["1", "2", "10"]
    assert [labels.encode(x) for x in (1, "01", " 2", "10", 3, "pos")] == [0, 0, 1, 2, None, None]


def test_mixed_label_types_name_the_row():
    with pytest.raises(InputError, match=r"reviews.csv:5: label 'pos' is a string, but reviews.csv:2 has an integer label '1'"):
        LabelSet.from_labels(["1", "0", "1", "pos"], ["reviews.csv:2", "reviews.csv:3", "reviews.csv:4", "reviews.csv:5"])
    with pytest.raises(InputError, match="only one class"):
        LabelSet.from_labels(["pos", "pos"])


def test_balanced_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 30 + [1] * 6 + [2] * 4)
    ours = balanced_weights(y, 3)
    assert ours == pytest.approx(compute_class_weight("balanced", classes=np.arange(3), y=y).tolist())
    assert ours == pytest.approx([40 / (3 * 30), 40 / (3 * 6), 40 / (3 * 4)])
    with pytest.raises(InputError, match="no training example"):
        balanced_weights(np.array([0, 0, 1]), 3)


# -- encoding ----------------------------------------------------------------------------------------------
def test_vocab_comes_from_the_training_split_only_and_empty_texts_become_unk():
    train = ["good movie", "bad movie", "good plot"]
    vocab = Vocab.build((t for text in train for t in FAST.tokens(text)), min_freq=1)
    codec = classification_codec(FAST, vocab, max_tokens=10, truncate="head")
    stats = EncodeStats()
    valid = list(codec.encode_many(["good ending", "", "   ", "movie"], stats=stats))
    assert "ending" not in vocab
    assert valid[0] == [vocab.stoi["good"], vocab.unk_id]  # a word only in valid is <unk>
    assert valid[1] == valid[2] == [vocab.unk_id]  # kept, as one <unk>, and counted
    assert stats.empty == 2 and stats.documents == 4 and stats.unknown == 1 and stats.tokens == 5
    assert stats.top_unknowns == [("ending", 1)]  # the <unk> standing for an empty text is no unknown word
    assert codec.encode("") == [vocab.unk_id] and codec.encode("Good  MOVIE") == [vocab.stoi["good"], vocab.stoi["movie"]]


def test_sentiment_pipeline_keeps_negations():
    pipe = Pipeline.load("configs/preprocess/sentiment.yaml")
    vocab = Vocab.build(pipe.tokens("this is not a good film"), min_freq=1)
    [ids] = classification_codec(pipe, vocab, 20).encode_many(["It wasn't good."])
    assert "not" in vocab.decode(ids) and "good" in vocab.decode(ids)


def test_a_million_character_text_is_truncated_and_processed():
    vocab = Vocab.build(["word", "end"], min_freq=1)
    codec = classification_codec(FAST, vocab, max_tokens=50, truncate="head_tail", head_fraction=0.5)
    stats = EncodeStats()
    text = ("word " * 200_000)[:999_992] + " the end"
    assert len(text) == 1_000_000
    [ids] = codec.encode_many([text], stats=stats)
    assert len(ids) == 50 and ids[-1] == vocab.stoi["end"] and ids[0] == vocab.stoi["word"]
    assert stats.truncated == 1
    # the pre-cut happens before the pipeline: it sees ~1,000 characters (~200 words), not 1M
    [seen] = codec.tokenize_many([text])
    assert 50 < len(seen) <= 50 * 20 // 5 + 2 and seen[-2:] == ["the", "end"]


# Expected ids, worked out by hand: FAST lower-cases and splits words; max_tokens 4.
TEN = "A b C d e f g h i J"


@pytest.mark.parametrize("policy, fraction, kept", [
    ("head", 0.25, "a b c d"),
    ("tail", 0.25, "g h i j"),
    ("head_tail", 0.5, "a b i j"),
    ("head_tail", 0.25, "a h i j"),  # round(4 * 0.25) = 1 from the head, 3 from the tail
])
def test_classification_codec_truncates_as_configured(policy, fraction, kept):
    vocab = Vocab.build(list("abcdefghij"))
    codec = classification_codec(FAST, vocab, 4, policy, fraction)
    stats = EncodeStats()
    docs = list(codec.encode_many([TEN, "b a", "", "zz top"], stats=stats))
    assert docs == [[vocab.stoi[t] for t in kept.split()], [vocab.stoi["b"], vocab.stoi["a"]], [vocab.unk_id],
                    [vocab.unk_id, vocab.unk_id]]
    assert (stats.documents, stats.empty, stats.truncated, stats.tokens, stats.unknown) == (4, 1, 1, 9, 2)
    assert codec.encode(TEN) == docs[0]  # one text at a time: the same policy
    again = codec_from_spec(json.loads(json.dumps(codec.spec())))  # pipeline + vocab + truncation, nothing else
    assert isinstance(again, WordCodec) and again.spec() == codec.spec()
    assert list(again.encode_many([TEN, "b a", "", "zz top"])) == docs


def test_classification_codec_spec_round_trip_gives_the_same_ids_on_real_text():
    pipe = Pipeline.load("configs/preprocess/sentiment.yaml")
    texts = ["I didn't like it at all, 2/10.", "", "Brilliant!!! " * 300, "It was <b>not</b> good; see http://x.org"]
    vocab = Vocab.build(t for text in texts for t in pipe.tokens(text))
    codec = classification_codec(pipe, vocab, 50, "head_tail", 0.25)
    again = codec_from_spec(json.loads(json.dumps(codec.spec(), ensure_ascii=False)), where="extra.json: codec")
    assert again.tokenizer == pipe and again.vocab == vocab and again.truncation == codec.truncation
    assert list(again.encode_many(texts)) == list(codec.encode_many(texts))
    assert list(codec.encode_many(texts, workers=2, batch_size=1)) == list(codec.encode_many(texts))


def test_classification_codec_needs_unk_and_a_valid_policy():
    with pytest.raises(ConfigError, match="needs an 'unk' special"):
        classification_codec(FAST, Vocab.build(["a"], specials=["pad"]), 10)
    with pytest.raises(ConfigError, match="unknown truncation 'middle'; valid: head, tail, head_tail"):
        classification_codec(FAST, Vocab.build(["a"]), 10, "middle")  # type: ignore[arg-type]
    spec = classification_codec(FAST, Vocab.build(["a"]), 10).spec()
    with pytest.raises(InputError, match=r"ckpt: truncation: unknown key\(s\) \['max_token'\]"):
        codec_from_spec({**spec, "truncation": {"max_token": 5}}, where="ckpt")


def test_encoded_split_round_trips_without_pickle(tmp_path):
    split = EncodedSplit.from_lists([[5, 6, 7], [8], [9, 9]], [1, 0, 1])
    loaded = EncodedSplit.load(split.save(tmp_path / "train.npz"))
    assert loaded.ids(0).tolist() == [5, 6, 7] and loaded.labels.tolist() == [1, 0, 1]
    assert loaded.lengths.tolist() == [3, 1, 2]
    with pytest.raises(InputError, match="document 1 has no ids"):
        EncodedSplit.from_lists([[1], []])


# -- bucketed batches --------------------------------------------------------------------------------------
def _split(n: int = 203, seed: int = 0) -> EncodedSplit:
    rng = np.random.default_rng(seed)
    docs = [[int(i) + 2] * int(rng.integers(1, 60)) for i in range(n)]  # doc i holds only id i+2
    return EncodedSplit.from_lists(docs, [i % 3 for i in range(n)])


def _docs(batch) -> list[int]:
    return [int(row[0]) - 2 for row in batch.ids]


def _padding(batches) -> int:
    return sum(int(b.ids.numel() - b.lengths.sum()) for b in batches)


def test_every_example_exactly_once_per_epoch_with_little_padding():
    split = _split()
    batches = BucketBatches(split, batch_size=8, seed=3, chunk_batches=5)
    unsorted = BucketBatches(split, batch_size=8, seed=3, chunk_batches=1)  # a chunk of one batch: no bucketing
    for epoch in range(2):
        batches.set_epoch(epoch)
        seen = []
        for b in batches:
            assert b.ids.dtype == torch.int64 and b.ids.shape[1] == int(b.lengths.max())
            for row, n in zip(b.ids, b.lengths):
                assert (row[n:] == 0).all() and (row[:n] != 0).all()
            assert b.labels.tolist() == [d % 3 for d in _docs(b)]
            seen += _docs(b)
        assert sorted(seen) == list(range(len(split)))
    assert _padding(BucketBatches(split, 8, seed=3, chunk_batches=5)) < 0.4 * _padding(unsorted)


def test_batches_depend_only_on_seed_and_epoch():
    split = _split()
    plans = [[_docs(b) for b in BucketBatches(split, 8, seed=s)] for s in (1, 1, 2)]
    assert plans[0] == plans[1] and plans[0] != plans[2]
    b = BucketBatches(split, 8, seed=1)
    first = [_docs(x) for x in b]  # epoch 0, then it moves on to epoch 1
    second = [_docs(x) for x in b]
    assert first == plans[0] and second != first
    assert second == [rows.tolist() for rows in BucketBatches(split, 8, seed=1).plan(1)]


def test_resume_mid_epoch_gives_identical_next_batches():
    split = _split()
    full = BucketBatches(split, 8, seed=5)
    full.set_epoch(2)
    expected = [_docs(b) for b in full]
    part = BucketBatches(split, 8, seed=5)
    part.set_epoch(2)
    it = iter(part)
    head = [_docs(next(it)) for _ in range(7)]
    state = part.state_dict()
    assert state["position"] == 7 and state["epoch"] == 2
    resumed = BucketBatches(split, 8, seed=5)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # what the trainer does: a no-op in the same epoch
    assert head + [_docs(b) for b in resumed] == expected
    with pytest.raises(Exception, match="batch_size"):
        BucketBatches(split, 16, seed=5).load_state_dict(state)


def test_eval_batches_cover_everything_longest_first_with_original_indices():
    split = _split(50)
    rows_seen, longest = [], []
    for batch, rows in eval_batches(split, 8):
        assert _docs(batch) == rows.tolist()  # rows are indices into the split's original order
        rows_seen += rows.tolist()
        longest.append(int(batch.lengths.max()))
    assert sorted(rows_seen) == list(range(50)) and longest == sorted(longest, reverse=True)


def test_load_state_dict_rejects_other_settings_and_resumes_the_same():
    split = _split()
    state = BucketBatches(split, 8, seed=1).state_dict()
    with pytest.raises(ConfigError, match="saved with seed=1, but these batches have seed=2"):
        BucketBatches(split, 8, seed=2).load_state_dict(state)
    with pytest.raises(ConfigError, match="saved with batch_size=8, but these batches have batch_size=4"):
        BucketBatches(split, 4, seed=1).load_state_dict(state)
    same = BucketBatches(split, 8, seed=1)
    same.load_state_dict({**state, "position": 2})
    assert same.position == 2
