"""Metric records: one JSON object per line in `metrics.jsonl` (plus TensorBoard when installed),
count-weighted running means, and a reference evaluation loop.

A record always has `split` ("train" or "valid"), `step` (optimizer steps done), `epoch` (0-based),
`time` (training seconds since the run began, summed over resumes) and `timestamp` (Unix time).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from textseq.train.protocol import batch_to, detach_state

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"

log = logging.getLogger(__name__)


def perplexity(mean_loss: float) -> float:
    """exp(mean token loss), capped so a diverging run logs inf instead of raising OverflowError."""
    return math.exp(mean_loss) if mean_loss < 700 else math.inf


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of a run; a line torn by a kill (the last one) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


class MetricsLogger:
    """Appends records to metrics.jsonl (and TensorBoard); a no-op on non-main ranks."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.enabled = enabled
        self._file = None
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            self._tb = _tensorboard_writer(Path(run_dir) / TENSORBOARD_DIR)

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (written after the checkpoint a resumed run restarts from)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [json.dumps(r) for r in read_metrics(self.path.parent) if r.get("step", 0) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
        tmp.replace(self.path)

    def log(self, record: dict[str, Any]) -> None:
        """Write one record; flushed at once so a killed run keeps everything up to its last step."""
        if not self.enabled:
            return
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            split = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch", "timestamp"):
                    self._tb.add_scalar(f"{split}/{key}", value, record["step"])

    def close(self) -> None:
        """Flush and close the files."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _tensorboard_writer(path: Path) -> Any:
    """A SummaryWriter for `path`, or None with one warning when the tensorboard package is missing
    (it is optional: `pip install textseq[tensorboard]`; `make setup` installs it)."""
    try:  # torch.utils.tensorboard imports the tensorboard package
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        log.warning("TensorBoard logging is on (train.tensorboard: true) but cannot start: %s. Install it with "
                    "`pip install tensorboard` (or `pip install textseq[tensorboard]`), or set "
                    "train.tensorboard: false; metrics still go to %s", err, METRICS_FILE)
        return None
    return SummaryWriter(str(path))


class RunningMeans:
    """Count-weighted means of the loss and extra metrics over one logging interval."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new interval."""
        self.sums: dict[str, float] = {}
        self.count = 0
        self.started = time.perf_counter()

    def exclude(self, seconds: float) -> None:
        """Leave `seconds` (spent evaluating or checkpointing) out of the items-per-second rate."""
        self.started += seconds

    def add(self, loss: float, count: int, metrics: dict[str, float]) -> None:
        """Add one micro-batch whose mean loss was taken over `count` items."""
        self.count += count
        self.sums["loss"] = self.sums.get("loss", 0.0) + loss * count
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * count

    def means(self) -> dict[str, float]:
        """Weighted means, perplexity and items per second of the interval."""
        if self.count == 0:
            return {}
        out = {key: total / self.count for key, total in self.sums.items()}
        out["ppl"] = perplexity(out["loss"])  # exp of the mean loss, not a mean of per-batch exps
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        out["items_per_sec"] = self.count / elapsed
        return out


@torch.no_grad()
def evaluate_batches(model: nn.Module, batches: Iterable[Any], device: torch.device | str | None = None) -> dict[str, float]:
    """Count-weighted mean loss (and extra metrics) of `model.step` over `batches`, carrying state."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    means, state = RunningMeans(), None
    try:
        for batch in batches:
            batch = batch_to(batch, device)
            out = model.step(batch, state)
            state = detach_state(out.state)
            means.add(float(out.loss), int(out.count), out.metrics)
    finally:
        model.train(was_training)
    result = means.means()
    result.pop("items_per_sec", None)
    return result
