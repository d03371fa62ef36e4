"""Evaluation metrics from class probabilities (numpy + scikit-learn, no JAX).

`evaluate` returns a JSON-serialisable dict of scalar metrics; `attack_curves` returns the ROC
and precision-recall arrays for plotting. Multi-class metrics always use
``labels=range(num_classes)`` and ``zero_division=0`` so that a class absent from the test set
(common for rare attack families) is reported with zeros instead of breaking shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)


def _check(
    y_true: np.ndarray, probs: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probs must be [n, classes] with n={y_true.shape[0]}, got {probs.shape}")
    if probs.shape[1] != num_classes:
        raise ValueError(f"probs has {probs.shape[1]} columns but {num_classes} class names")
    if y_true.size and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError("labels out of range of class_names")
    return y_true, probs


def attack_scores(probs: np.ndarray, normal_index: int) -> np.ndarray:
    """Attack score of each row: ``1 - p(normal)``."""
    return 1.0 - np.asarray(probs, dtype=np.float64)[:, normal_index]


def evaluate(
    y_true: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    normal_index: int | None = None,
) -> dict[str, Any]:
    """Multi-class and attack-vs-normal metrics.

    Predictions are ``argmax(probs)``. Balanced accuracy is the mean recall over the classes
    PRESENT in ``y_true`` (sklearn's definition; absent classes have no recall).

    Args:
        y_true: integer labels ``[n]``.
        probs: class probabilities ``[n, num_classes]``.
        class_names: one name per class (defines ``num_classes``).
        normal_index: index of the benign class; when given, a ``"binary"`` section is added
            (attack = any other class, score = ``1 - p(normal)``).

    Returns:
        Dict with ``n``, ``accuracy``, ``balanced_accuracy``, ``{precision,recall,f1}_{macro,
        weighted}``, ``per_class`` (name -> precision/recall/f1/support), ``confusion_matrix``
        (rows = true, columns = predicted, nested lists), ``class_names`` and optionally
        ``binary``: ``roc_auc`` and ``average_precision`` (None when only one of
        normal/attack is present), and for the decision P(attack) >= 0.5 ``accuracy``, ``detection_rate`` (attack
        recall), ``false_alarm_rate`` (normal flows flagged), ``precision``, ``f1``, ``tp``,
        ``fp``, ``tn``, ``fn``. Every value is a plain Python type.
    """
    names = [str(c) for c in class_names]
    k = len(names)
    y_true, probs = _check(y_true, probs, k)
    y_pred = probs.argmax(axis=1)
    labels = np.arange(k)
    n = int(y_true.size)

    if n:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=0
        )
    else:  # sklearn refuses empty inputs; report zeros rather than fail a whole run.
        cm = np.zeros((k, k), dtype=np.int64)
        p = r = f = np.zeros(k)
    support = cm.sum(axis=1)
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
            names[i]: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(support[i]),
            }
            for i in range(k)
        },
        "confusion_matrix": cm.astype(int).tolist(),
    }
    if normal_index is not None:
        out["binary"] = _binary_metrics(y_true, probs, normal_index)
    return out


def _binary_metrics(y_true: np.ndarray, probs: np.ndarray, normal_index: int) -> dict[str, Any]:
    is_attack = y_true != normal_index
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
        # Attack-vs-normal accuracy of the P(attack) >= 0.5 decision.
        "accuracy": (tp + tn) / len(y_true) if len(y_true) else 0.0,
        # AUC / AP are undefined when only one of the two classes is present.
        "roc_auc": float(roc_auc_score(is_attack, scores)) if both else None,
        "average_precision": (
            float(average_precision_score(is_attack, scores)) if is_attack.any() else None
        ),
        "detection_rate": float(recall),
        "false_alarm_rate": fp / (fp + tn) if fp + tn else 0.0,
        "precision": float(precision),
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def attack_curves(
    y_true: np.ndarray, probs: np.ndarray, normal_index: int
) -> dict[str, np.ndarray] | None:
    """ROC and precision-recall curves for attack-vs-normal, for plotting.

    Args:
        y_true: integer labels ``[n]``.
        probs: class probabilities ``[n, num_classes]``.
        normal_index: index of the benign class.

    Returns:
        ``{"roc_fpr", "roc_tpr", "roc_thresholds", "pr_precision", "pr_recall",
        "pr_thresholds"}`` numpy arrays (sklearn conventions), or None when ``y_true`` does
        not contain both normal and attack rows.
    """
    y_true = np.asarray(y_true).ravel()
    is_attack = y_true != normal_index
    if not (is_attack.any() and (~is_attack).any()):
        return None
    scores = attack_scores(probs, normal_index)
    fpr, tpr, roc_thr = roc_curve(is_attack, scores)
    prec, rec, pr_thr = precision_recall_curve(is_attack, scores)
    return {
        "roc_fpr": fpr,
        "roc_tpr": tpr,
        "roc_thresholds": roc_thr,
        "pr_precision": prec,
        "pr_recall": rec,
        "pr_thresholds": pr_thr,
    }
