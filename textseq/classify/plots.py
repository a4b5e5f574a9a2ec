"""Figures of a classification run, found by `textseq plot RUN_DIR` through run.json's task name
("classify" -> textseq.classify.plots.plot_task; see textseq.lm.plots):

    confusion_valid.png / confusion_test.png   from eval_*.json (counts, with row-normalised shading)
    attention_example.png                      pooling=attention: per-token weights on the first validation text

`plot_attention(predictor_or_run_dir, text, path)` draws the attention picture for any text (also
`textseq predict RUN_DIR TEXT --attention DIR`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from textseq.train.plot import write_figure


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str = "") -> Path:
    """A confusion-matrix heatmap (rows: true class, columns: prediction), each cell with its count."""
    plt = _pyplot()
    cm = np.asarray(confusion, dtype=np.int64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)  # shade by recall, so a rare class still shows
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in ticks:
        for j in ticks:
            ax.text(j, i, f"{cm[i, j]:,}", ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return write_figure(fig, path)


def plot_attention(source: Any, text: str, path: str | Path, per_row: int = 12) -> Path:
    """Tokens of `text` as the model saw them, each shaded by its attention weight (a Predictor or a run dir)."""
    from textseq.classify.predict import Predictor

    predictor = source if isinstance(source, Predictor) else Predictor.load(source)
    tokens, weights, prediction = predictor.attention(text)
    plt = _pyplot()
    rows = max(1, -(-len(tokens) // per_row))
    grid = np.full((rows, per_row), np.nan)
    grid.flat[:len(weights)] = weights
    fig, ax = plt.subplots(figsize=(min(16, 1.1 * per_row), 0.45 * rows + 1.2))
    image = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0, vmax=float(np.max(weights)) if len(weights) else 1)
    top = float(np.max(weights)) if len(weights) else 1.0
    known = predictor.codec.vocab.stoi
    for k, (tok, w) in enumerate(zip(tokens, weights)):
        shown = (tok if len(tok) <= 12 else tok[:11] + "…") + ("" if tok in known else "?")  # ? = read as <unk>
        ax.text(k % per_row, k // per_row, shown, ha="center", va="center", fontsize=8,
                color="white" if w > 0.6 * top else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    probs = ", ".join(f"{k} {v:.2f}" for k, v in prediction["probs"].items())
    ax.set_title(f"attention weights (? = unknown word); predicted {prediction['label']} ({probs})", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.02)
    return write_figure(fig, path)


def _first_valid_text(run_dir: Path) -> str | None:
    from textseq.classify.config import load_job_config
    from textseq.corpora.readers import iter_documents

    config = load_job_config(run_dir / "config.yaml")
    source = config.data.valid or config.data.train
    for doc in iter_documents(source, text_column=config.data.text_column, errors="replace"):
        if doc.text.strip():
            return doc.text
    return None


def plot_task(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Confusion matrices of the saved evaluations, and an attention example for attention pooling."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    written = []
    for split in ("valid", "test"):
        path = run_dir / f"eval_{split}.json"
        if path.is_file():
            report = json.loads(path.read_text(encoding="utf-8"))
            title = f"{split}: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}"
            written.append(plot_confusion(report["confusion_matrix"], report["labels"], out_dir / f"confusion_{split}.png", title))
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        from textseq.classify.predict import Predictor

        try:
            predictor = Predictor.load(run_dir)
        except Exception:  # a run without a checkpoint yet has no model to draw
            return written
        if predictor.model.config.pooling == "attention" and predictor.model.config.kind == "recurrent":
            text = _first_valid_text(run_dir)
            if text is not None:
                written.append(plot_attention(predictor, text, out_dir / "attention_example.png"))
    return written
