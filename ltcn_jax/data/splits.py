"""Leak-free train/validation/test splits of a flow table.

Every split is returned as row indices **in capture order**, so causal windows built inside a
split follow the traffic and never reach into another split.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SPLITS = ("official", "time-block", "class-time-block", "stratified")


def _cut(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    a = round(n * fractions[0])
    b = round(n * (fractions[0] + fractions[1]))
    return a, b


def check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    return fractions  # type: ignore[return-value]


def time_block_split(
    order: np.ndarray, fractions: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Contiguous blocks of capture time: train first, then validation, then test.

    The honest split for traffic: the model is tested on traffic that happened after
    everything it was trained on. Classes that occur only late are unseen in training.

    Args:
        order: row indices in capture order (``FlowTable.capture_order()``).
        fractions: (train, val, test), summing to 1.
    """
    fractions = check_fractions(fractions)
    a, b = _cut(len(order), fractions)
    return {"train": order[:a], "val": order[a:b], "test": order[b:]}


def class_time_block_split(
    order: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Time blocks per class: the first part of each class's traffic trains, the last tests.

    Keeps every class in every split when attacks happened on different days (CICIDS2017),
    while a test flow still never precedes the training flows of its class.
    """
    ordered_y = y[order]
    return _cut_each_class(order, (order[ordered_y == c] for c in np.unique(y)), fractions)


def stratified_split(
    order: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Random split with every class in the same proportions (the usual, leakier protocol)."""
    rng = np.random.default_rng(seed)
    members = (rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y))
    return _cut_each_class(order, members, fractions)


def _cut_each_class(
    order: np.ndarray, members: Iterable[np.ndarray], fractions: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Cut each class's members (in the order given) by ``fractions``; each split comes back
    in capture order."""
    fractions = check_fractions(fractions)
    pos = np.empty(len(order), np.int64)
    pos[order] = np.arange(len(order))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for m in members:
        a, b = _cut(len(m), fractions)
        parts["train"].append(m[:a])
        parts["val"].append(m[a:b])
        parts["test"].append(m[b:])
    return {k: _in_order(np.concatenate(v), pos) for k, v in parts.items()}


def carve_validation(
    train: np.ndarray, y: np.ndarray, fraction: float, seed: int, *, by_time: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training set into (train, val): its last ``fraction`` in time when ``by_time``,
    otherwise a stratified random ``fraction``. Both keep ``train``'s order."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if by_time:
        a = round(len(train) * (1 - fraction))
        return train[:a], train[a:]
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(train), bool)
    for cls in np.unique(y[train]):
        members = np.flatnonzero(y[train] == cls)
        k = round(len(members) * fraction)
        is_val[rng.choice(members, size=k, replace=False)] = True
    return train[~is_val], train[is_val]


def _in_order(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return rows[np.argsort(pos[rows], kind="stable")]
