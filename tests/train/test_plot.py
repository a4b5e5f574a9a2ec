"""Learning-curve PNGs from metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textseq.errors import InputError
from textseq.train.plot import plot_run


def test_plot_run_writes_pngs(tmp_path: Path) -> None:
    records = []
    for step in range(1, 11):
        records.append({"split": "train", "step": step, "epoch": 0, "time": step * 0.1, "loss": 3 / step, "ppl": 2.0,
                        "bpc": 1.5, "lr": 0.01, "grad_norm": 1.0 / step, "grad_norm/rnn.l0": 0.5 / step})
        if step % 5 == 0:
            records.append({"split": "valid", "step": step, "epoch": 0, "time": step * 0.1, "loss": 3.5 / step,
                            "ppl": 2.5, "accuracy": 0.5})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn": ')
    paths = plot_run(tmp_path)
    assert sorted(p.name for p in paths) == ["accuracy.png", "bpc.png", "grad_norm.png", "loss.png", "lr.png", "ppl.png"]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_plot_run_without_metrics_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="metrics.jsonl"):
        plot_run(tmp_path)
