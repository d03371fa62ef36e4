"""Evaluation metrics from class probabilities, numpy only (``ltcn evaluate`` on the edge).

:func:`evaluate` returns a JSON-serialisable dict of scalar metrics: multi-class accuracy,
balanced accuracy, precision/recall/F1 (macro and weighted), per-class values, the confusion
matrix and, given the benign class, attack-vs-normal metrics with ROC AUC and average
precision. Definitions are scikit-learn's (``labels=range(k)``, ``zero_division=0``,
ties in scores averaged): ``tests/edge/test_metrics.py`` checks them against scikit-learn, which
the training side (:mod:`ltcn_jax.metrics`) keeps for its curves only.

Rows of an attack class the model lacks (a family it was never trained on: ``y_true`` -1) can
be in no confusion matrix of the model's classes, but they are attacks all the same: given
their labels, the attack-vs-normal figures count them and an ``unmodelled_attacks`` section
says how many of them the model flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _check(y_true, probs, num_classes: int, unmodelled: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities as arrays; ``unmodelled``: -1 (a class the model lacks) allowed."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probs must be [n, classes] with n={y_true.shape[0]}, got {probs.shape}")
    if probs.shape[1] != num_classes:
        raise ValueError(f"probs has {probs.shape[1]} columns but {num_classes} class names")
    if y_true.size and (y_true.min() < (-1 if unmodelled else 0) or y_true.max() >= num_classes):
        raise ValueError("labels out of range of class_names")
    return y_true, probs


def attack_scores(probs: np.ndarray, normal_index: int) -> np.ndarray:
    """Attack score of each row: ``1 - p(normal)``."""
    return 1.0 - np.asarray(probs, dtype=np.float64)[:, normal_index]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` counts, rows = true class, columns = predicted class."""
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney statistic with tied scores counted half
    (equal to scikit-learn's trapezoidal ``roc_auc_score``). Needs both classes."""
    is_positive = np.asarray(is_positive, bool)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), np.float64)
    # average 1-based ranks over runs of equal scores
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    n_pos = int(is_positive.sum())
    n_neg = len(s) - n_pos
    u = ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, high to low
    (scikit-learn's ``average_precision_score``). Needs at least one positive."""
    is_positive = np.asarray(is_positive, bool)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], is_positive[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # end of each tie run
    tp = np.cumsum(y)[last].astype(np.float64)
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def evaluate(y_true, probs, class_names: Sequence[str],
             normal_index: int | None = None, *,
             unmodelled_labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Multi-class and attack-vs-normal metrics.

    Predictions are ``argmax(probs)``. Balanced accuracy is the mean recall over the classes
    PRESENT in ``y_true`` (absent classes have no recall).

    Args:
        y_true: integer labels ``[n]``; -1 marks a row of an attack class the model lacks,
            allowed only with ``unmodelled_labels``.
        probs: class probabilities ``[n, num_classes]``.
        class_names: one name per class (defines ``num_classes``).
        normal_index: index of the benign class; when given, a ``"binary"`` section is added
            (attack = any other class, score = ``1 - p(normal)``).
        unmodelled_labels: each row's label name ``[n]``, read where ``y_true`` is -1. Those
            rows stay out of every multi-class figure (``n`` counts the others) and, with
            ``normal_index``, count as attacks in ``binary`` and in ``unmodelled_attacks``
            (:func:`unmodelled_attacks`). The caller decides which rows are attacks: a row
            whose label is normal must never be -1.

    Returns:
        Dict with ``n``, ``accuracy``, ``balanced_accuracy``, ``{precision,recall,f1}_{macro,
        weighted}``, ``per_class`` (name -> precision/recall/f1/support), ``confusion_matrix``
        (rows = true, columns = predicted, nested lists), ``class_names`` and optionally
        ``binary``: ``roc_auc`` and ``average_precision`` (None when only one of
        normal/attack is present), and for the decision P(attack) >= 0.5 ``accuracy``,
        ``detection_rate`` (attack recall), ``false_alarm_rate`` (normal flows flagged),
        ``precision``, ``f1``, ``tp``, ``fp``, ``tn``, ``fn`` (unmodelled rows included), and
        given ``unmodelled_labels`` too, ``unmodelled_attacks``. Every value is a plain Python
        type.
    """
    names = [str(c) for c in class_names]
    k = len(names)
    y_all, probs_all = _check(y_true, probs, k, unmodelled=unmodelled_labels is not None)
    modelled = y_all >= 0
    y_true, probs = y_all[modelled], probs_all[modelled]
    y_pred = probs.argmax(axis=1) if probs.shape[0] else np.zeros(0, np.int64)
    n = int(y_true.size)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    p = _divide(tp, cm.sum(axis=0))
    r = _divide(tp, support)
    f = _divide(2 * p * r, p + r)
    present = support > 0
    weights = support / support.sum() if n else np.zeros(k)
    out: dict[str, Any] = {
        "n": n,
        "class_names": names,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "balanced_accuracy": float(np.mean(r[present])) if present.any() else 0.0,
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
        "precision_weighted": float(np.sum(weights * p)),
        "recall_weighted": float(np.sum(weights * r)),
        "f1_weighted": float(np.sum(weights * f)),
        "per_class": {
            names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(support[i])}
            for i in range(k)
        },
        "confusion_matrix": cm.astype(int).tolist(),
    }
    if normal_index is not None:
        out["binary"] = binary_metrics(y_all, probs_all, normal_index)
        if unmodelled_labels is not None:
            labels = np.asarray(unmodelled_labels, dtype=object).ravel()
            if labels.shape != y_all.shape:
                raise ValueError(f"unmodelled_labels must hold one label per row ({y_all.size}), "
                                 f"got {labels.size}")
            out["unmodelled_attacks"] = unmodelled_attacks(
                probs_all[~modelled], labels[~modelled], normal_index
            )
    return out


def unmodelled_attacks(probs: np.ndarray, labels: Sequence[str], normal_index: int) -> dict[str, Any]:
    """How many rows of attack classes the model lacks it flags, overall and per label.

    Args:
        probs: class probabilities ``[m, num_classes]`` of those rows only.
        labels: each row's label name ``[m]``.
        normal_index: index of the benign class.

    Returns:
        ``rows``, ``detected`` (flagged at P(attack) >= 0.5, :func:`binary_metrics`'s
        decision), ``detection_rate`` (None without rows) and ``by_label``: label ->
        ``{rows, detected}``, labels sorted.
    """
    flagged = attack_scores(probs, normal_index) >= 0.5 if len(probs) else np.zeros(0, bool)
    labels = np.asarray(labels, dtype=object).ravel().astype(str)
    by_label = {
        str(name): {"rows": int(np.sum(labels == name)),
                    "detected": int(np.sum(flagged & (labels == name)))}
        for name in sorted(set(labels.tolist()))
    }
    rows, detected = int(labels.size), int(flagged.sum())
    return {"rows": rows, "detected": detected,
            "detection_rate": detected / rows if rows else None, "by_label": by_label}


def binary_metrics(y_true: np.ndarray, probs: np.ndarray, normal_index: int) -> dict[str, Any]:
    """Attack-vs-normal metrics of :func:`evaluate`'s ``binary`` section: every row whose label
    is not ``normal_index`` is an attack, -1 (a class the model lacks) included."""
    is_attack = np.asarray(y_true) != normal_index
    scores = attack_scores(probs, normal_index)
    # A flow is flagged when P(attack) = 1 - P(normal) >= 0.5, the binary Bayes decision.
    # (The multi-class argmax can pick "normal" at p = 0.4 while the attack classes share
    # 0.6 between them.)
    flagged = scores >= 0.5
    tp = int(np.sum(is_attack & flagged))
    fp = int(np.sum(~is_attack & flagged))
    tn = int(np.sum(~is_attack & ~flagged))
    fn = int(np.sum(is_attack & ~flagged))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    both = bool(is_attack.any() and (~is_attack).any())
    return {
        "normal_index": int(normal_index),
        "accuracy": (tp + tn) / len(is_attack) if len(is_attack) else 0.0,
        # AUC / AP are undefined when only one of the two classes is present.
        "roc_auc": roc_auc(is_attack, scores) if both else None,
        "average_precision": average_precision(is_attack, scores) if is_attack.any() else None,
        "detection_rate": float(recall),
        "false_alarm_rate": fp / (fp + tn) if fp + tn else 0.0,
        "precision": float(precision),
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }
