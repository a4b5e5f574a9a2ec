"""Learning-curve PNGs from a run's metrics.jsonl (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textseq.errors import InputError
from textseq.train.metrics import read_metrics

# Panels drawn when the metric is present in any record: (file stem, metric keys, y label, log scale).
PANELS: list[tuple[str, list[str], str, bool]] = [
    ("loss", ["loss"], "loss", False),
    ("ppl", ["ppl"], "perplexity", True),
    ("bpc", ["bpc"], "bits per character", False),
    ("accuracy", ["accuracy", "acc"], "accuracy", False),
    ("lr", ["lr"], "learning rate", False),
]


def _series(records: list[dict[str, Any]], split: str, key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], r[key]) for r in records if r.get("split") == split and isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write loss/ppl/bpc/accuracy/lr/grad-norm curves of `run_dir` as PNGs (default run_dir/plots/)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    if not records:
        raise InputError(f"no metrics to plot: {run_dir / 'metrics.jsonl'} is missing or empty")
    out = Path(out_dir) if out_dir is not None else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    for stem, keys, label, log in PANELS:
        fig, ax = plt.subplots(figsize=(6, 4))
        drawn = False
        for key in keys:
            for split, style in (("train", "-"), ("valid", "o-")):
                x, y = _series(records, split, key)
                if x:
                    ax.plot(x, y, style, label=f"{split} {key}", markersize=3)
                    drawn = True
        if drawn:
            written.append(_save(fig, ax, out / f"{stem}.png", label, log))
        else:
            plt.close(fig)

    # Global and per-layer gradient norms (before clipping) on one log-scale panel.
    norm_keys = sorted({k for r in records if r.get("split") == "train" for k in r if k.startswith("grad_norm")})
    if norm_keys:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in norm_keys:
            x, y = _series(records, "train", key)
            ax.plot(x, y, linewidth=2 if key == "grad_norm" else 1, label=key)
        written.append(_save(fig, ax, out / "grad_norm.png", "gradient norm (before clipping)", True))
    return written


def write_figure(fig: Any, path: str | Path) -> Path:
    """Lay out, write as a 100-dpi PNG (creating the folder) and close `fig`: every textseq plot ends here."""
    import matplotlib.pyplot as plt

    from textseq.fileio import atomic_path

    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # through a temporary file: a link planted at `path` is replaced, never written through
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format=path.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return path


def _save(fig: Any, ax: Any, path: Path, label: str, log: bool) -> Path:
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(label)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return write_figure(fig, path)
