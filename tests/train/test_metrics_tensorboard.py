"""TensorBoard: on by default when installed; asked for and missing, one loud warning, and training
carries on with metrics.jsonl."""

from __future__ import annotations

import logging
import sys

import pytest

from textseq.train.metrics import METRICS_FILE, TENSORBOARD_DIR, MetricsLogger, read_metrics

RECORDS = [{"split": "train", "step": s, "epoch": 0, "loss": 1.0 / s} for s in (1, 2, 3)]


def _log_all(logger: MetricsLogger) -> None:
    for record in RECORDS:
        logger.log(record)
    logger.close()


def test_missing_tensorboard_is_one_warning_naming_the_fix(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `from ... import` now fails
    with caplog.at_level(logging.WARNING, logger="textseq"):
        _log_all(MetricsLogger(tmp_path, tensorboard=True))
    warnings = [r for r in caplog.records if r.name == "textseq.train.metrics"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert "pip install tensorboard" in message and "pip install textseq[tensorboard]" in message
    assert "train.tensorboard: false" in message and METRICS_FILE in message
    assert read_metrics(tmp_path) == RECORDS  # the run carries on
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_no_warning_when_tensorboard_is_turned_off(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with caplog.at_level(logging.DEBUG, logger="textseq"):
        _log_all(MetricsLogger(tmp_path, tensorboard=False))
    assert [r for r in caplog.records if r.name == "textseq.train.metrics"] == []
    assert read_metrics(tmp_path) == RECORDS


def test_installed_tensorboard_gets_the_scalars(tmp_path, caplog):
    pytest.importorskip("tensorboard")
    with caplog.at_level(logging.WARNING, logger="textseq"):
        _log_all(MetricsLogger(tmp_path, tensorboard=True))
    assert caplog.records == []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / TENSORBOARD_DIR))
    events.Reload()
    scalars = events.Scalars("train/loss")
    assert [e.step for e in scalars] == [1, 2, 3]
    assert [e.value for e in scalars] == pytest.approx([1.0, 0.5, 1 / 3])


def test_tensorboard_is_on_by_default():
    from textseq.train.config import TrainConfig

    assert TrainConfig(max_steps=1).tensorboard is True
