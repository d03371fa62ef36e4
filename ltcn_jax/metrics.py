"""Evaluation metrics from class probabilities (no JAX).

`evaluate` returns a JSON-serialisable dict of scalar metrics (numpy only: it is
:func:`ltcn_kernels.metrics.evaluate`, so `ltcn evaluate` needs no scikit-learn on the edge);
`attack_curves` returns the ROC and precision-recall arrays for plotting (scikit-learn).
Multi-class metrics always use ``labels=range(num_classes)`` and ``zero_division=0`` so that a class absent from the test set
(common for rare attack families) is reported with zeros instead of breaking shapes.
"""

from __future__ import annotations

import numpy as np

# One implementation of the metrics, numpy only, shared with the edge's `ltcn evaluate`.
from ltcn_kernels.metrics import attack_scores, binary_metrics, evaluate

__all__ = ["attack_curves", "attack_scores", "binary_metrics", "evaluate"]


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
    from sklearn.metrics import precision_recall_curve, roc_curve

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
