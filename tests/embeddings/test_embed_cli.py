"""`textseq embed train | eval | neighbors | convert` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from textseq.cli import main
from textseq.embeddings.vectors import Vectors, load_vectors

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toy(tmp_path) -> Path:
    words = ["king", "queen", "man", "woman", "apple", "pear", "banana"]
    m = np.array([[1, 1, 0, 0], [1, -1, 0, 0], [0, 1, 0, 0.1], [0, -1, 0, 0.1],
                  [0, 0, 1, 0], [0, 0, 0.9, 0.2], [0, 0.1, 0.8, 0]], dtype=np.float32)
    return Vectors(words, m).save_text(tmp_path / "toy.txt", format="glove")


def test_convert_between_every_format(tmp_path, toy, capsys):
    original = load_vectors(toy)
    chain = [("toy.vec", "word2vec"), ("toy.bin", "word2vec-binary"), ("toy-dir", "textseq"), ("back.txt.gz", "glove")]
    src = toy
    for name, fmt in chain:
        assert main(["embed", "convert", str(src), str(tmp_path / name), "--format", fmt]) == 0
        src = tmp_path / name
        again = load_vectors(src)
        assert again.words == original.words
        np.testing.assert_array_equal(again.matrix, original.matrix)
    assert "wrote" in capsys.readouterr().err
    assert (tmp_path / "toy-dir" / "meta.json").is_file()


def test_neighbors_and_analogy(toy, capsys):
    assert main(["embed", "neighbors", str(toy), "apple", "--topn", "2", "--analogy", "king", "man", "woman"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "apple:" and lines[1].split()[1] in {"pear", "banana"}
    assert "king - man + woman:" in out and lines[lines.index("king - man + woman:") + 1].split()[1] == "queen"


def test_neighbors_needs_a_query_and_a_known_word(toy, capsys):
    assert main(["embed", "neighbors", str(toy)]) == 2
    assert "give at least one WORD" in capsys.readouterr().err
    assert main(["embed", "neighbors", str(toy), "durian"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'durian' is not in vectors" in err


def test_eval_json_reports_coverage(toy, capsys):
    assert main(["embed", "eval", str(toy), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["words"] == 7 and result["dim"] == 4
    assert 0 < result["analogy"]["overall"]["coverage"] < 0.01  # king/queen/man/woman only
    assert result["similarity"]["wordsim353"]["total_pairs"] == 353
    assert main(["embed", "eval", str(toy)]) == 0
    assert "simlex999 (spearman)" in capsys.readouterr().out


def test_bad_file_is_one_error_line_or_a_reported_skip(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"a 1 2\nb 1 nan\nc 3 4\n")
    assert main(["embed", "neighbors", str(tmp_path / "bad.txt"), "a"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textseq: error: ") and "bad.txt:line 2" in err and err.count("\n") == 1
    assert main(["embed", "neighbors", str(tmp_path / "bad.txt"), "a", "--errors", "skip"]) == 0
    out, err = capsys.readouterr()
    assert "textseq: warning: skipped 1 entries" in err and "1 nonfinite" in err
    assert out.splitlines()[0] == "a:" and out.splitlines()[1].split()[1] == "c"  # stdout holds the answer alone
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["embed", "eval", str(tmp_path / "empty.txt")]) == 2
    assert "the file is empty" in capsys.readouterr().err


def test_train_loads_the_config_and_calls_the_trainer(tmp_path, monkeypatch, capsys):
    train = pytest.importorskip("textseq.embeddings.train")
    seen = {}

    def fake_train(config, out_dir, **kwargs):
        seen["config"] = config
        Vectors(["a", "b"], np.eye(2), {"method": config.method}).save(out_dir)
        return train.EmbedResult(Path(out_dir), {"method": config.method, "dim": 2, "vocab_size": 2})

    monkeypatch.setattr(train, "train_embeddings", fake_train)
    out = tmp_path / "run"
    rc = main(["embed", "train", "-c", str(ROOT / "configs" / "embed" / "glove.yaml"), "-o", str(out), "--set", "glove.epochs=1"])
    assert rc == 0 and seen["config"].method == "glove" and seen["config"].glove.epochs == 1
    assert "wrote" in capsys.readouterr().err and load_vectors(out).words == ["a", "b"]
    assert main(["embed", "train", "-c", str(ROOT / "configs" / "embed" / "glove.yaml"), "-o", str(out), "--set", "glove.epoch=1"]) == 2
    assert "glove.epoch" in capsys.readouterr().err
