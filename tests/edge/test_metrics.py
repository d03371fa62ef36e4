"""Evaluation metrics against hand-computed values and independent formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ltcn_jax.metrics import attack_curves, attack_scores, evaluate

NAMES = ["normal", "dos", "probe", "u2r"]  # "u2r" never occurs in the example below


def one_hot_probs(pred: list[int], k: int, confidence: float = 0.7) -> np.ndarray:
    p = np.full((len(pred), k), (1 - confidence) / (k - 1))
    p[np.arange(len(pred)), pred] = confidence
    return p


Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_hand_computed_multiclass():
    r = evaluate(Y_TRUE, one_hot_probs(Y_PRED, 4), NAMES, normal_index=0)
    assert r["n"] == 6
    assert r["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    # precision: normal 1/2, dos 2/3, probe 1/1, u2r 0 (absent, zero_division=0)
    # recall:    normal 1/2, dos 1,   probe 1/2, u2r 0
    prec = [0.5, 2 / 3, 1.0, 0.0]
    rec = [0.5, 1.0, 0.5, 0.0]
    f1 = [0.5, 0.8, 2 / 3, 0.0]
    for i, name in enumerate(NAMES):
        pc = r["per_class"][name]
        assert pc["precision"] == pytest.approx(prec[i])
        assert pc["recall"] == pytest.approx(rec[i])
        assert pc["f1"] == pytest.approx(f1[i])
    assert r["per_class"]["u2r"]["support"] == 0
    assert r["precision_macro"] == pytest.approx(np.mean(prec))
    assert r["f1_macro"] == pytest.approx(np.mean(f1))
    # weighted by support (2, 2, 2, 0)
    assert r["f1_weighted"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert r["recall_weighted"] == pytest.approx(4 / 6)
    # balanced accuracy: mean recall over the 3 PRESENT classes
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    json.dumps(r)  # plain Python types only


def test_hand_computed_binary():
    r = evaluate(Y_TRUE, one_hot_probs(Y_PRED, 4), NAMES, normal_index=0)["binary"]
    # attack = y != 0: [F F T T T T]; flagged = pred != 0: [F T T T T F]
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (3, 1, 1, 1)
    assert r["detection_rate"] == pytest.approx(0.75)
    assert r["false_alarm_rate"] == pytest.approx(0.5)
    assert r["precision"] == pytest.approx(0.75)
    assert r["f1"] == pytest.approx(0.75)
    # scores 1 - p(normal): attack rows 0.9, 0.9, 0.9, 0.3; normal rows 0.3, 0.9
    # pairs (attack > normal): vs 0.3 -> 3 wins + 1 tie; vs 0.9 -> 3 ties + 1 loss.
    assert r["roc_auc"] == pytest.approx((3 + 0.5 + 1.5) / 8)


def mann_whitney_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_roc_auc_matches_sklearn_and_mann_whitney():
    rng = np.random.default_rng(0)
    n, k = 300, 5
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    r = evaluate(y, probs, [f"c{i}" for i in range(k)], normal_index=2)
    scores = 1 - probs[:, 2]
    attack = y != 2
    assert r["binary"]["roc_auc"] == pytest.approx(roc_auc_score(attack, scores))
    assert r["binary"]["roc_auc"] == pytest.approx(
        mann_whitney_auc(scores[attack], scores[~attack])
    )
    np.testing.assert_allclose(attack_scores(probs, 2), scores)
    curves = attack_curves(y, probs, 2)
    assert curves is not None
    assert curves["roc_fpr"].shape == curves["roc_tpr"].shape
    assert curves["roc_fpr"][0] == 0 and curves["roc_tpr"][-1] == 1
    assert curves["pr_precision"].shape == curves["pr_recall"].shape
    # Trapezoidal area under the returned ROC curve is the AUC.
    assert np.trapezoid(curves["roc_tpr"], curves["roc_fpr"]) == pytest.approx(
        r["binary"]["roc_auc"]
    )
    assert 0 <= r["binary"]["average_precision"] <= 1


def test_single_class_binary_and_empty():
    probs = one_hot_probs([1, 2, 1], 4)
    r = evaluate(np.array([1, 2, 1]), probs, NAMES, normal_index=0)
    assert r["binary"]["roc_auc"] is None  # no normal rows
    assert r["binary"]["average_precision"] is not None
    assert attack_curves(np.array([1, 2, 1]), probs, 0) is None
    r0 = evaluate(np.array([0, 0]), one_hot_probs([0, 1], 4), NAMES, normal_index=0)
    assert r0["binary"]["roc_auc"] is None and r0["binary"]["average_precision"] is None
    assert r0["binary"]["false_alarm_rate"] == pytest.approx(0.5)
    empty = evaluate(np.zeros(0, int), np.zeros((0, 4)), NAMES)
    assert empty["n"] == 0 and "binary" not in empty
    json.dumps([r, r0, empty])


def test_shape_errors():
    with pytest.raises(ValueError):
        evaluate(np.array([0, 1]), np.zeros((2, 3)), NAMES)
    with pytest.raises(ValueError):
        evaluate(np.array([0, 7]), np.zeros((2, 4)), NAMES)


def test_binary_decision_is_attack_probability_not_argmax():
    # Row 0: argmax is "normal" (0.4), yet the two attack classes hold 0.6 together.
    probs = np.array([[0.4, 0.3, 0.3], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    y = np.array([1, 0, 2])
    b = evaluate(y, probs, ["normal", "dos", "probe"], normal_index=0)["binary"]
    assert (b["tp"], b["fp"], b["tn"], b["fn"]) == (2, 0, 1, 0)
    assert b["accuracy"] == 1.0


def test_attacks_of_a_class_the_model_lacks_count_as_attacks_not_per_class():
    # Rows 0-5 as in the hand-computed example; rows 6-8 are an attack family the model was
    # never trained on (-1, label "R2L"): it alerts on two of them (P(attack) 0.7 and 0.9).
    y = np.r_[Y_TRUE, [-1, -1, -1]]
    probs = np.r_[one_hot_probs(Y_PRED, 4), [[0.3, 0.5, 0.1, 0.1], [0.1, 0.3, 0.6, 0.0],
                                             [0.8, 0.1, 0.1, 0.0]]]
    labels = ["normal", "normal", "dos", "dos", "probe", "probe", "R2L", "R2L", "R2L"]
    r = evaluate(y, probs, NAMES, normal_index=0, unmodelled_labels=labels)
    modelled = evaluate(Y_TRUE, one_hot_probs(Y_PRED, 4), NAMES, normal_index=0)
    # Per-class figures and macro-F1 stay over the model's classes and rows.
    for key in ("n", "accuracy", "f1_macro", "per_class", "confusion_matrix"):
        assert r[key] == modelled[key], key
    assert r["unmodelled_attacks"] == {"rows": 3, "detected": 2, "detection_rate": pytest.approx(2 / 3),
                                       "by_label": {"R2L": {"rows": 3, "detected": 2}}}
    b, b0 = r["binary"], modelled["binary"]
    assert (b["tp"], b["fn"]) == (b0["tp"] + 2, b0["fn"] + 1)  # the unmodelled rows are attacks
    assert (b["fp"], b["tn"]) == (b0["fp"], b0["tn"])  # and never normal
    assert b["detection_rate"] == pytest.approx((b0["tp"] + 2) / (b0["tp"] + b0["fn"] + 3))
    json.dumps(r)
    # Without unmodelled rows the section says so; without their labels -1 is still refused.
    none = evaluate(Y_TRUE, one_hot_probs(Y_PRED, 4), NAMES, 0, unmodelled_labels=labels[:6])
    assert none["unmodelled_attacks"] == {"rows": 0, "detected": 0, "detection_rate": None, "by_label": {}}
    with pytest.raises(ValueError):
        evaluate(y, probs, NAMES, normal_index=0)
    with pytest.raises(ValueError):
        evaluate(y, probs, NAMES, normal_index=0, unmodelled_labels=labels[:3])
