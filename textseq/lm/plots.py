"""`textseq plot RUN_DIR`: the generic learning curves (textseq.train.plot.plot_run) plus the figures
of the run's task, looked up by the task name stored in RUN_DIR/run.json.

A task adds its figures either by registering a plotter here:

    from textseq.lm.plots import PLOTTERS
    PLOTTERS.register("sentiment")(my_plotter)        # my_plotter(run_dir, out_dir) -> list[Path]

or, with nothing to import first, by a module `textseq.<task>.plots` with a `plot_task(run_dir,
out_dir) -> list[Path]` function, which is found by name.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

from textseq.registry import Registry
from textseq.train.plot import write_figure

Plotter = Callable[[Path, Path], list[Path]]
PLOTTERS: Registry[Plotter] = Registry("task plotter")


def run_task(run_dir: str | Path) -> str | None:
    """The task name in RUN_DIR/run.json ("lm", ...), or None."""
    path = Path(run_dir) / "run.json"
    try:
        task = json.loads(path.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) and task.isidentifier() else None


def task_plotter(task: str | None) -> Plotter | None:
    """The registered plotter of `task`, else `textseq.<task>.plots.plot_task`, else None."""
    if not task:
        return None
    if task in PLOTTERS:
        return PLOTTERS.get(task)
    try:
        module = importlib.import_module(f"textseq.{task}.plots")
    except ImportError:
        return None
    return getattr(module, "plot_task", None)


def plot(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Every figure of a run: learning curves, then the task's own (default out_dir: RUN_DIR/plots)."""
    from textseq.train.plot import plot_run

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "plots"
    written = plot_run(run_dir, out)
    plotter = task_plotter(run_task(run_dir))
    if plotter is not None:
        written += plotter(run_dir, out)
    return written


@PLOTTERS.register("lm")
def plot_lm(run_dir: Path, out_dir: Path) -> list[Path]:
    """Validation bits per character against training minutes: what a time budget buys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textseq.train.metrics import read_metrics

    pts = [(r["time"] / 60, r["bpc"]) for r in read_metrics(run_dir) if r.get("split") == "valid" and "bpc" in r]
    if not pts:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", markersize=3, label="valid bpc")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend()
    return [write_figure(fig, Path(out_dir) / "bpc_vs_minutes.png")]
