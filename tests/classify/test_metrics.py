"""The numpy metrics equal scikit-learn's on random predictions."""

from __future__ import annotations

import numpy as np
import pytest

from textseq.classify.metrics import (
    accuracy, classification_report, confusion_matrix, macro_f1, precision_recall_f1, rankdata, roc_auc)

sk = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed, n_classes, n", [(0, 2, 200), (1, 3, 97), (2, 5, 40), (3, 4, 7)])
def test_metrics_equal_scikit_learn(seed, n_classes, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    probs = rng.dirichlet(np.ones(n_classes), n)
    pred = probs.argmax(1)
    classes = list(range(n_classes))
    cm = confusion_matrix(y, pred, n_classes)
    assert cm.tolist() == sk.confusion_matrix(y, pred, labels=classes).tolist()
    p, r, f, support = precision_recall_f1(cm)
    sp, sr, sf, ss = sk.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(f, sf)
    assert support.tolist() == ss.tolist()
    assert accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    assert macro_f1(y, pred, n_classes) == pytest.approx(sk.f1_score(y, pred, labels=classes, average="macro", zero_division=0))
    report = classification_report(y, probs, [f"c{i}" for i in classes])
    assert report["weighted_f1"] == pytest.approx(sk.f1_score(y, pred, labels=classes, average="weighted", zero_division=0))
    assert report["loss"] == pytest.approx(sk.log_loss(y, probs, labels=classes))
    assert report["confusion_matrix"] == cm.tolist() and report["per_class"]["c0"]["support"] == int((y == 0).sum())
    if n_classes == 2:
        assert report["roc_auc"] == pytest.approx(sk.roc_auc_score(y, probs[:, 1]))
    else:
        assert "roc_auc" not in report


def test_roc_auc_with_ties_equals_scikit_learn():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    scores = rng.integers(0, 5, 300) / 4.0  # many ties
    assert roc_auc(y, scores) == pytest.approx(sk.roc_auc_score(y, scores))
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))  # one class: undefined


def test_rankdata_averages_ties():
    assert rankdata(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_report_with_one_class_present_has_null_auc():
    report = classification_report(np.array([1, 1, 1]), np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]), ["neg", "pos"])
    assert report["roc_auc"] is None and report["accuracy"] == pytest.approx(2 / 3)
    assert report["per_class"]["neg"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
