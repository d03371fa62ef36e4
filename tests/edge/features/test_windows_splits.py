"""Causal windows and leak-free splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, CIC_IMPROVED
from ltcn_jax.data.splits import (
    carve_validation,
    class_time_block_split,
    stratified_split,
    time_block_split,
)
from ltcn_kernels import causal_windows, feature_sequence, make_sequences, read_flows


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 5))
def test_windows_are_causal(n, length, features):
    rng = np.random.default_rng(n * 100 + length)
    x = rng.normal(size=(n, features)).astype(np.float32)
    w = causal_windows(x, length)
    assert w.shape == (n, length, features)
    for i in range(n):
        np.testing.assert_array_equal(w[i, -1], x[i])  # the last step is the classified flow
        for j in range(length):
            src = i - (length - 1) + j
            expect = x[src] if src >= 0 else np.zeros(features, np.float32)
            np.testing.assert_array_equal(w[i, j], expect)  # only the past, zero padded


def test_windows_are_views_and_inputs_are_checked():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    w = causal_windows(x, 3)
    assert np.shares_memory(w, w.base) and w.nbytes > 0
    assert feature_sequence(x).shape == (6, 2, 1)
    assert make_sequences(x, "flows", 1).shape == (6, 1, 2)
    with pytest.raises(ValueError, match="expected one of"):
        make_sequences(x, "packets")
    with pytest.raises(ValueError):
        causal_windows(x, 0)


@pytest.fixture(scope="module")
def improved():
    return read_flows(CIC_IMPROVED)


def _disjoint_cover(parts, n):
    joined = np.concatenate(list(parts.values()))
    assert len(np.unique(joined)) == len(joined) == n


def test_time_block_split_is_chronological(improved):
    order = improved.capture_order()
    parts = time_block_split(order, (0.6, 0.2, 0.2))
    _disjoint_cover(parts, len(improved))
    t = improved.aux_column("Timestamp")
    assert t[parts["train"]].max() <= t[parts["val"]].min()
    assert t[parts["val"]].max() <= t[parts["test"]].min()
    for rows in parts.values():
        assert np.all(np.diff(t[rows]) >= 0)  # each split in capture order


def test_class_time_block_split_keeps_classes_and_time(improved):
    order = improved.capture_order()
    y = improved.group.codes
    parts = class_time_block_split(order, y, (0.6, 0.2, 0.2))
    _disjoint_cover(parts, len(improved))
    t = improved.aux_column("Timestamp")
    for cls in np.unique(y):
        tr, te = parts["train"][y[parts["train"]] == cls], parts["test"][y[parts["test"]] == cls]
        assert len(tr) and len(te)
        assert t[tr].max() <= t[te].min()
    for rows in parts.values():
        assert np.all(np.diff(t[rows]) >= 0)


def test_stratified_split_proportions(improved):
    y = improved.group.codes
    parts = stratified_split(improved.capture_order(), y, (0.7, 0.1, 0.2), seed=0)
    _disjoint_cover(parts, len(improved))
    for cls in np.unique(y):
        share = np.mean(y[parts["train"]] == cls) - np.mean(y == cls)
        assert abs(share) < 0.02
    again = stratified_split(improved.capture_order(), y, (0.7, 0.1, 0.2), seed=0)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)


def test_no_duplicate_record_crosses_splits():
    table = read_flows(BOT_ENTIRE)  # duplicates dropped before splitting
    parts = time_block_split(table.capture_order(), (0.5, 0.2, 0.3))
    key = lambda rows: {tuple(r) for r in table.features[rows]}  # noqa: E731
    assert not key(parts["train"]) & key(parts["test"])


def test_windows_do_not_cross_split_boundaries(improved):
    parts = time_block_split(improved.capture_order(), (0.6, 0.2, 0.2))
    x = improved.features
    w = causal_windows(x[parts["test"]], 4)
    # The first test window sees zeros, not the last training flows.
    assert (w[0, :3] == 0).all()
    assert len(w) == len(parts["test"])


def test_carve_validation():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    rows = np.arange(100)
    tr, va = carve_validation(rows, y, 0.2, seed=1, by_time=False)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 100
    assert [int(np.sum(y[va] == c)) for c in range(3)] == [10, 6, 4]
    tr, va = carve_validation(rows, y, 0.2, seed=1, by_time=True)
    assert va.min() > tr.max()
    with pytest.raises(ValueError):
        time_block_split(rows, (0.5, 0.6, 0.1))
