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

__all__ = ["HEADLINE", "attack_curves", "attack_scores", "binary_metrics", "bootstrap_ci", "evaluate",
           "headline", "trivial_baselines"]


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


# The headline metrics that seeds, bootstraps and baselines report.
HEADLINE = ("accuracy", "balanced_accuracy", "f1_macro", "attack_vs_normal_accuracy")


def headline(result: dict) -> dict[str, float | None]:
    """The :data:`HEADLINE` metrics of an :func:`evaluate` result."""
    binary = result.get("binary") or {}
    return {"accuracy": result["accuracy"], "balanced_accuracy": result["balanced_accuracy"],
            "f1_macro": result["f1_macro"], "attack_vs_normal_accuracy": binary.get("accuracy")}


def _predicted(y_pred: np.ndarray, k: int) -> np.ndarray:
    """One-hot 'probabilities' of hard predictions (what :func:`evaluate` takes)."""
    return np.eye(k, dtype=np.float64)[y_pred] if len(y_pred) else np.zeros((0, k))


def _headline_counts(y: np.ndarray, pred: np.ndarray, flagged: np.ndarray | None, k: int,
                     normal_index: int | None) -> dict[str, float | None]:
    """:func:`headline` from labels and hard predictions, as :func:`evaluate` computes them
    (macro-F1 over all ``k`` classes, 0 where undefined; balanced accuracy over the classes
    present; attack-vs-normal at P(attack) >= 0.5), without the rest of its report."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    out = {"accuracy": float(tp.sum() / len(y)), "f1_macro": float(f1.mean()),
           "balanced_accuracy": float((tp[present] / support[present]).mean()),
           "attack_vs_normal_accuracy": None}
    if normal_index is not None and flagged is not None:
        out["attack_vs_normal_accuracy"] = float(np.mean(flagged == (y != normal_index)))
    return out


def bootstrap_ci(y_true: np.ndarray, probs: np.ndarray, classes, normal_index: int | None, *,
                 resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, list]:
    """Percentile bootstrap intervals over the test records of one model's headline metrics:
    ``{metric: [low, high]}`` (records resampled with replacement, ``resamples`` times)."""
    y_true, probs = np.asarray(y_true, np.int64), np.asarray(probs)
    if len(y_true) == 0:
        return {}
    k = len(classes)
    pred = probs.argmax(axis=1)
    flagged = None if normal_index is None else attack_scores(probs, normal_index) >= 0.5
    rng = np.random.default_rng(seed)
    draws: dict[str, list] = {m: [] for m in HEADLINE}
    for _ in range(resamples):
        pick = rng.integers(0, len(y_true), len(y_true))
        got = _headline_counts(y_true[pick], pred[pick], None if flagged is None else flagged[pick],
                               k, normal_index)
        for m, v in got.items():
            if v is not None:
                draws[m].append(v)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return {m: [float(np.percentile(v, lo)), float(np.percentile(v, hi))] for m, v in draws.items() if v}


def trivial_baselines(y_train: np.ndarray, y_test: np.ndarray, classes,
                      normal_index: int | None) -> dict[str, dict]:
    """What a detector that looks at no feature scores on the same test split: ``majority``
    (always the most frequent TRAINING class) and, with a normal class, ``always_attack``
    (always the most frequent training attack class: every flow flagged)."""
    k = len(classes)
    counts = np.bincount(np.asarray(y_train), minlength=k)
    out = {"majority": {"predicts": str(classes[int(counts.argmax())]),
                        **headline(evaluate(y_test, _predicted(np.full(len(y_test), counts.argmax()), k),
                                            classes, normal_index))}}
    if normal_index is not None and k > 1:
        attack = counts.copy()
        attack[normal_index] = -1
        pred = np.full(len(y_test), attack.argmax())
        out["always_attack"] = {"predicts": str(classes[int(attack.argmax())]),
                                **headline(evaluate(y_test, _predicted(pred, k), classes, normal_index))}
    return out
