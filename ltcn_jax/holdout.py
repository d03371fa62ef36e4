"""Leave one family out: what a new attack looks like to a deployed detector (issue 17).

For each attack family F of a config's data, a model is trained without F (``data.holdout``:
F's rows leave the training and validation splits and F is not a class), then F's test records
are classified: the share flagged as attack is the detection rate of an attack the detector
never saw. The alert threshold on P(attack) = 1 - P(normal) is chosen on the validation split
(the one maximising detection rate minus false-alarm rate there; 0.5 is reported too), never on
the test split. The reference is the model trained with every family, on the same test
records at its own validation threshold. Deep models only (the trained network classifies the
held-out rows); in ``flows`` mode the held-out family's flows still appear as context inside
other flows' windows, so per-flow configs are the clean case.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import metrics
from . import train as trainer
from .config import ExperimentConfig
from .data.prepare import prepare
from .experiment import Sequences, check_selection, fit_predict, labelled_splits, normal_index
from .model_kinds import model_kind


def youden_threshold(y: np.ndarray, probs: np.ndarray, normal: int) -> float:
    """The P(attack) threshold maximising detection rate - false-alarm rate on ``(y, probs)``
    (validation data): a flow is flagged when its score is >= the threshold. Of tied
    thresholds the lowest (the most sensitive); candidates are the scores and 0.5."""
    score = metrics.attack_scores(probs, normal)
    attack = np.asarray(y) != normal
    if attack.all() or not attack.any():
        return 0.5
    cands = np.unique(np.concatenate([score, [0.5]]))
    order = np.argsort(-score)
    s, a = score[order], attack[order]
    tp, fp = np.cumsum(a), np.cumsum(~a)
    # at threshold t every score >= t is flagged: the last index of each distinct score
    last = np.searchsorted(-s, -cands, side="right") - 1
    tpr = np.where(last >= 0, tp[np.maximum(last, 0)], 0) / a.sum()
    fpr = np.where(last >= 0, fp[np.maximum(last, 0)], 0) / (~a).sum()
    return float(cands[int(np.argmax(tpr - fpr))])


def _rates(score: np.ndarray, threshold: float) -> float | None:
    return float(np.mean(score >= threshold)) if len(score) else None


def run_family(config: ExperimentConfig, family: str | None, progress: bool | None = False) -> dict[str, Any]:
    """Train ``config`` without ``family`` (None: with every family) and report, per attack
    family of the test split, the share of its test records flagged as attack."""
    check_selection(config)
    data = config.data if family is None else dataclasses.replace(config.data, holdout=(family,))
    cfg = dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, seeds=1))
    if not model_kind(cfg.model.kind).network:
        raise ValueError(f"leave-one-family-out needs a deep model ({cfg.model.kind} keeps no network)")
    prepared = prepare(cfg.data, progress=progress)
    classes, normal = list(prepared.classes), normal_index(prepared)
    if normal is None:
        raise ValueError(f"{prepared.preprocessor.dataset}: no normal class, no attack-vs-normal view")
    splits = labelled_splits(prepared)
    probs, run, trained = fit_predict(cfg, len(classes), prepared.preprocessor.width, splits, progress=progress)
    bs = cfg.train.eval_batch_size
    p_val = trainer.predict_proba(trained.model.apply, trained.params, trained.seq["val"], bs)
    threshold = youden_threshold(splits["val"].y[splits["val"].rows], p_val, normal)
    y_test = splits["test"].y[splits["test"].rows]
    score = metrics.attack_scores(probs, normal)
    out = {"held_out": family, "classes": classes, "threshold": threshold,
           "false_alarm_rate": _rates(score[y_test == normal], threshold),
           "false_alarm_rate_at_0.5": _rates(score[y_test == normal], 0.5),
           "families": {}, "train_seconds": run["train_seconds"]}
    for i, c in enumerate(classes):
        if i != normal:
            s = score[y_test == i]
            out["families"][c] = {"test_records": len(s), "flagged": _rates(s, threshold),
                                  "flagged_at_0.5": _rates(s, 0.5)}
    if family is not None:
        held = np.flatnonzero(prepared.y["test"] < 0)  # the held-out family's test rows
        keys = None if prepared.keys is None else prepared.keys["test"]
        seq = Sequences(prepared.x["test"], cfg.data.sequence, cfg.data.window, held, keys)
        s = metrics.attack_scores(trainer.predict_proba(trained.model.apply, trained.params, seq, bs), normal)
        out["families"][family] = {"test_records": len(s), "flagged": _rates(s, threshold),
                                   "flagged_at_0.5": _rates(s, 0.5), "held_out": True}
    return out


def attack_families(config: ExperimentConfig) -> list[str]:
    """The attack classes of a config's data (every class but the normal one)."""
    prepared = prepare(config.data, progress=False)
    normal = normal_index(prepared)
    return [c for i, c in enumerate(prepared.classes) if i != normal]


def leave_one_family_out(config: ExperimentConfig, families: list[str] | None = None,
                         progress: bool | None = False, log=None) -> dict[str, Any]:
    """The reference run and one run per held-out family: ``{"reference": ..., "held_out":
    {family: run}}``."""
    families = families or attack_families(config)
    out = {"config": config.name, "reference": run_family(config, None, progress), "held_out": {}}
    for f in families:
        out["held_out"][f] = run_family(config, f, progress)
        if log is not None:
            r = out["held_out"][f]["families"][f]
            log(f"{config.name} without {f}: {r['flagged']:.3f} of {r['test_records']:,} flagged")
    return out
