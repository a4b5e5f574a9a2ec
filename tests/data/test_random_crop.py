"""Random windows of training documents (data.random_crop): lengths, contiguity, determinism."""

from __future__ import annotations

import numpy as np

from textseq.data.classification import BucketBatches, EncodedSplit, crop_rows


def _split() -> EncodedSplit:
    docs = [list(range(100 * d, 100 * d + n)) for d, n in enumerate([50, 3, 80, 20])]
    return EncodedSplit.from_lists(docs, [0, 1, 0, 1])


def test_crops_are_contiguous_windows_no_shorter_than_min_tokens():
    split, rng = _split(), np.random.default_rng(0)
    lengths = []
    for _ in range(50):
        out = crop_rows(split, np.arange(4), 1.0, 5, rng)
        for i in range(4):
            ids = out.ids(i)
            assert np.all(np.diff(ids) == 1) and ids[0] // 100 == i  # a window of document i
            assert len(ids) >= min(5, split.lengths[i])
            lengths.append(len(ids))
        assert out.ids(1).tolist() == [100, 101, 102]  # shorter than min_tokens: kept whole
        assert out.labels.tolist() == [0, 1, 0, 1]
    assert min(lengths) < 10 and max(lengths) > 40  # both sentence-sized and long windows


def test_batches_with_crops_repeat_per_seed_and_differ_from_whole_documents():
    def first_epoch(crop):
        b = BucketBatches(_split(), 2, seed=3, crop=crop)
        return [batch.lengths.tolist() for batch in b]

    assert first_epoch((1.0, 5)) == first_epoch((1.0, 5))
    assert first_epoch((1.0, 5)) != first_epoch(None)
    assert sorted(sum(first_epoch(None), [])) == [3, 20, 50, 80]
