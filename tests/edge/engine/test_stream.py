"""The ring-buffer ``Stream`` (``ltcn_kernels.engine._stream``): bitwise equal to
``logits_sequence`` / ``predict_proba_sequence`` however a stream is split into pushes, with
snapshots, resets and non-finite inputs; no allocation per push."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONFIGS, REPO, build, random_params
from ltcn_kernels import engine as E

# (features, channels, dilations, kernel_size, convs_per_block, sparsity): the engine tests'
# configurations plus k = 1 (no history), k = 2 and the default scale's shape, smaller.
STREAM_CONFIGS = [
    *CONFIGS,
    (5, (4, 4, 6), (1, 2, 1), 1, 2, 0.5),  # k = 1: pad 0 everywhere, identity in block 1
    (6, (8, 8, 12), (1, 2, 4), 2, 2, 0.6),
    (20, (16, 32, 64, 64), (1, 2, 4, 8), 3, 2, 0.6),  # the default layout, 20 features
    (3, (3, 3), (5, 7), 3, 1, 0.0),  # identities only, dense weights, long dilations
]
IDS = [f"cfg{i}" for i in range(len(STREAM_CONFIGS))]


def bits(a: np.ndarray) -> np.ndarray:
    """Bit patterns: equal bits, not just equal values (+0 vs -0, NaN payloads)."""
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def model_and_flows(cfg, fmt, seed, n=300, classes=4):
    features, channels, dilations, k, J, sparsity = cfg
    rng = np.random.default_rng(seed)
    params = random_params(rng, features, channels, k, J, classes, sparsity)
    x = rng.standard_normal((n, features)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0  # zero features (skipped by the kernel)
    return build(params, dilations, k, J, fmt), x, rng


def feed(stream, x, sizes):
    """Push ``x`` in pieces of ``sizes`` (cycled); 1 -> a 1-D flow, else a micro-batch."""
    outs, i, s = [], 0, 0
    while i < len(x):
        m = sizes[s % len(sizes)]
        s += 1
        if m == 1:
            outs.append(stream.push(x[i])[None])
        else:
            outs.append(stream.push(x[i : i + m]))
        i += m
    return np.concatenate(outs)


@pytest.mark.parametrize("fmt", ["sparse", "dense"])
@pytest.mark.parametrize("cfg", STREAM_CONFIGS, ids=IDS)
def test_stream_bitwise_equals_sequence(cfg, fmt):
    model, x, _ = model_and_flows(cfg, fmt, seed=len(cfg[1]) * 10 + cfg[3])
    want = E.logits_sequence(model, x)
    want_p = E.predict_proba_sequence(model, x)
    logits = E.Stream(model, output="logits")
    proba = E.Stream(model)
    single = np.stack([logits.push(x[i]) for i in range(len(x))])
    np.testing.assert_array_equal(bits(single), bits(want))
    assert logits.steps == len(x)
    np.testing.assert_array_equal(bits(feed(proba, x, [1, 3, 1, 1, 17, 2, 40, 5])), bits(want_p))
    assert proba.steps == len(x)
    logits.reset()
    assert logits.steps == 0
    np.testing.assert_array_equal(bits(feed(logits, x, [64, 1, 7])), bits(want))


@pytest.mark.parametrize("fmt", ["sparse", "dense"])
def test_snapshot_restore_mid_stream(fmt):
    model, x, _ = model_and_flows(STREAM_CONFIGS[-2], fmt, seed=5, n=200)
    want = E.logits_sequence(model, x)
    s = E.Stream(model, output="logits")
    feed(s, x[:77], [1, 5, 1, 2])  # ring positions somewhere in the middle
    snap = s.snapshot()
    assert set(snap) == {"state", "steps"}
    assert snap["state"].shape == (model.state_size,) and snap["state"].dtype == np.float32
    assert int(snap["steps"]) == 77
    np.testing.assert_array_equal(bits(feed(s, x[77:], [1, 9])), bits(want[77:]))
    # Into the same stream (positions elsewhere by now) and into a fresh one.
    s.restore(snap)
    assert s.steps == 77
    np.testing.assert_array_equal(bits(feed(s, x[77:], [3, 1])), bits(want[77:]))
    fresh = E.Stream(model, output="logits")
    fresh.restore(snap)
    np.testing.assert_array_equal(bits(fresh.snapshot()["state"]), bits(snap["state"]))
    np.testing.assert_array_equal(bits(feed(fresh, x[77:], [1])), bits(want[77:]))
    # The snapshot is the history itself (each conv's last inputs, oldest first): a stream
    # restored from it equals one that saw the flows, so a reset stream gives zeros.
    s.reset()
    assert not s.snapshot()["state"].any()
    np.testing.assert_array_equal(bits(feed(s, x, [50])), bits(want))


def test_restore_rejects_bad_snapshots():
    model, _, _ = model_and_flows(CONFIGS[0], "sparse", seed=1, n=1)
    s = E.Stream(model)
    with pytest.raises(ValueError, match="snapshot state has shape"):
        s.restore({"state": np.zeros(3, np.float32), "steps": 0})
    with pytest.raises(ValueError, match="snapshot state has shape"):
        s.restore({"state": np.zeros((1, model.state_size), np.float32), "steps": 0})
    with pytest.raises(ValueError, match="'state' and 'steps'"):
        s.restore({"state": np.zeros(model.state_size, np.float32)})


@pytest.mark.parametrize("fmt", ["sparse", "dense"])
def test_non_finite_inputs_match_sequence(fmt):
    # 0 * inf is NaN: the stream multiplies only stored weights where a value is not finite,
    # as the batch kernels do, and the NaN / inf then flows through the history the same way.
    model, x, _ = model_and_flows(CONFIGS[2], fmt, seed=9, n=60)
    x[10, 0] = np.inf
    x[30, 2] = -np.inf
    x[45, 1] = np.nan
    want = E.logits_sequence(model, x)
    got = feed(E.Stream(model, output="logits"), x, [1, 4])
    np.testing.assert_array_equal(bits(got), bits(want))


def test_push_shapes_and_dtypes():
    model, x, _ = model_and_flows(CONFIGS[1], "sparse", seed=2, n=20)
    want = E.logits_sequence(model, x)
    s = E.Stream(model, output="logits")
    assert s.push(np.zeros((0, model.n_features), np.float32)).shape == (0, model.n_classes)
    got = [
        s.push(x[0].astype(np.float64)),  # converted
        s.push(x[1].tolist()),
        s.push(np.asfortranarray(x[2:6])),
        s.push(x[6:10][::-1][::-1]),
        s.push(x[10]),
    ]
    ro = x[11:].copy()
    ro.flags.writeable = False
    got.append(s.push(ro))
    out = np.concatenate([g.reshape(-1, model.n_classes) for g in got])
    np.testing.assert_array_equal(bits(out), bits(want))
    # The returned array is the caller's: a later push does not overwrite it.
    first = s.push(x[0])
    keep = first.copy()
    s.push(x[1])
    np.testing.assert_array_equal(first, keep)
    with pytest.raises(ValueError, match="features"):
        s.push(np.zeros(model.n_features + 1, np.float32))


def test_push_allocates_nothing_big():
    model, x, _ = model_and_flows(STREAM_CONFIGS[-2], "sparse", seed=3, n=1000)
    s = E.Stream(model)
    rows = [x[i] for i in range(len(x))]
    s.push(rows[0])
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for r in rows:
            s.push(r)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - base < 1024  # the returned arrays are the only allocations
    assert peak - base < 4096


def test_compiled_step_allocates_nothing():
    # Numba's own allocator (NRT) is invisible to tracemalloc: count its allocations in a
    # child process with NRT statistics on (they are fixed at start-up). Passing an array to
    # a compiled function registers it with NRT (one "allocation" per array argument, freed on
    # return), so the step must count exactly what an empty function with the same arguments
    # counts: nothing of its own.
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from numba import njit
        from numba.core.runtime import rtsys
        @njit
        def empty(a, b, c, d):
            return 0
        sys.path.insert(0, sys.argv[1])
        from conftest import build, random_params
        from ltcn_kernels import engine as E
        rng = np.random.default_rng(0)
        params = random_params(rng, 20, (16, 32, 64, 64), 3, 2, 2, 0.6)
        s = E.Stream(build(params, (1, 2, 4, 8), 3, 2, "sparse"))
        x = rng.standard_normal((1000, 20)).astype(np.float32)
        rows = [x[i] for i in range(1000)]
        s.push(rows[0]); s.push(x[:4])
        ib, fb = s._args
        out = np.empty(2, np.float32)
        empty(ib, fb, rows[0], out)
        def count(fn):
            before = rtsys.get_allocation_stats()
            fn()
            after = rtsys.get_allocation_stats()
            return after.alloc - before.alloc, after.free - before.free
        def pushes():
            for r in rows:
                s.push(r)
            s.push(x)
        def empties():
            for r in rows:
                empty(ib, fb, r, out)
            empty(ib, fb, x, out)
        print(*count(pushes), *count(empties))
        """
    )
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "tests")],
        capture_output=True, text=True, env=env, check=True, timeout=600,
    )
    alloc, free, empty_alloc, empty_free = map(int, out.stdout.split())
    assert (alloc, free) == (empty_alloc, empty_free), out.stdout + out.stderr
    assert alloc == free


_PROP_MODELS: dict = {}


def _prop_model(fmt):
    if fmt not in _PROP_MODELS:
        model, x, _ = model_and_flows((7, (8, 16, 16), (1, 2, 4), 3, 2, 0.5), fmt, seed=11,
                                      n=120)
        _PROP_MODELS[fmt] = (model, x, E.logits_sequence(model, x))
    return _PROP_MODELS[fmt]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 25), min_size=1, max_size=30),
    fmt=st.sampled_from(["sparse", "dense"]),
    snap_at=st.integers(0, 119),
)
def test_any_push_sizes_property(sizes, fmt, snap_at):
    model, x, want = _prop_model(fmt)
    s = E.Stream(model, output="logits")
    outs, i, k, snap = [], 0, 0, None
    while i < len(x):
        m = min(sizes[k % len(sizes)], len(x) - i)
        k += 1
        outs.append(s.push(x[i])[None] if m == 1 else s.push(x[i : i + m]))
        i += m
        if snap is None and i >= snap_at:
            snap, at = s.snapshot(), i
    np.testing.assert_array_equal(bits(np.concatenate(outs)), bits(want))
    s.restore(snap)
    assert s.steps == at
    if at < len(x):
        np.testing.assert_array_equal(bits(s.push(x[at:])), bits(want[at:]))
