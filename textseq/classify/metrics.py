"""Classification metrics with numpy alone (scikit-learn is only a test dependency; the tests
check every function here against it).

    confusion[i, j]   examples of true class i predicted as class j
    precision_c       confusion[c, c] / column sum      (0 when nothing was predicted as c)
    recall_c          confusion[c, c] / row sum         (0 when c never occurs)
    macro F1          unweighted mean of per-class F1 over all C classes of the task
    ROC-AUC           two classes: P(score of a random positive > score of a random negative),
                      ties counting 1/2, computed from ranks (the Mann-Whitney U statistic)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts: rows are true classes, columns predictions."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def precision_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support (true count) from a confusion matrix; 0 where undefined."""
    tp = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of exact matches (nan for no examples)."""
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else math.nan


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the C classes."""
    return float(precision_recall_f1(confusion_matrix(y_true, y_pred, n_classes))[2].mean())


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's 'average' method)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]  # first position of each run of ties
    group = np.cumsum(starts) - 1  # (N,) run index of each sorted position
    first = np.flatnonzero(starts)  # 0-based start of each run
    last = np.r_[first[1:], len(values)] - 1
    mean_rank = (first + last) / 2.0 + 1.0  # (runs,)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC-AUC of `scores` for the positive class 1; nan when only one class occurs."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0  # positives ranked above negatives
    return float(u / (n_pos * n_neg))


def log_loss(y_true: np.ndarray, probs: np.ndarray, eps: float = 1e-12) -> float:
    """Mean negative log probability of the true class."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(y_true)), np.asarray(y_true, dtype=np.int64)]
    return float(-np.log(np.clip(p, eps, 1.0)).mean()) if len(p) else math.nan


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Every metric of a set of predictions: scalars first, then per-class numbers and the confusion matrix.

    `probs` (N, C) are class probabilities; the prediction is their argmax; for two classes ROC-AUC
    scores the second label (e.g. 'pos' of neg/pos, 1 of 0/1)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n_classes = len(labels)
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall, f1, support = precision_recall_f1(cm)
    total = max(int(support.sum()), 1)
    report: dict[str, Any] = {
        "examples": int(len(y_true)),
        "loss": log_loss(y_true, probs),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * support).sum() / total),
    }
    if n_classes == 2:
        auc = roc_auc(y_true == 1, probs[:, 1] if len(probs) else np.zeros(0))
        report["roc_auc"] = None if math.isnan(auc) else auc  # None (JSON null): only one class present
    report["per_class"] = {label: {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                                   "support": int(support[c])} for c, label in enumerate(labels)}
    report["labels"] = list(labels)
    report["confusion_matrix"] = cm.tolist()
    return report


def scalar_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's plain numbers (what the Trainer logs), without nan values."""
    return {k: float(v) for k, v in report.items()
            if isinstance(v, (int, float)) and k != "examples" and not math.isnan(float(v))}
