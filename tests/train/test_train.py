"""Training core: steps, padding, class weights, no-retrace, fit determinism, 2 devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest

from conftest import REPO
from ltcn_jax.models import LTCN
from ltcn_jax.train import (
    _train_step,
    class_weights,
    create_train_state,
    fit,
    load_params,
    make_mesh,
    make_sharded_train_step,
    pad_batch,
    predict_proba,
    replicated,
    round_batch_size,
    weighted_loss_and_metrics,
)

T, F, NUM_CLASSES, BATCH = 6, 4, 3, 16
MODEL = LTCN(
    num_classes=NUM_CLASSES, channels=(8, 8), dilations=(1, 2), kernel_size=2, dropout_rate=0.1
)


def separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 iff the mean of feature 0 over the window is positive (class 2 never occurs)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, F)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int32)
    return x, y


def make_batch(seed: int, n_real: int = BATCH) -> dict[str, np.ndarray]:
    x, y = separable(n_real, seed)
    return pad_batch(x, y, np.ones(n_real, np.float32), BATCH)


@pytest.fixture(scope="module")
def state():
    return create_train_state(MODEL, jax.random.key(0), np.zeros((1, T, F), np.float32))


# The jitted step `fit` runs (pinned shardings on a mesh of the local devices).
MESH = make_mesh()
train_step = make_sharded_train_step(MESH)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def test_one_step(state):
    new_state, metrics = train_step(state, make_batch(1), jax.random.key(1))
    m = jax.device_get(metrics)
    assert np.isfinite(m["loss"]) and m["loss"] > 0
    assert 0.0 <= m["accuracy"] <= 1.0
    assert m["weight_sum"] == BATCH
    assert int(new_state.step) == 1
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(_leaves(state.params), _leaves(new_state.params), strict=True)
    )


def test_loss_decreases_on_separable_problem():
    state = create_train_state(MODEL, jax.random.key(0), np.zeros((1, T, F)), learning_rate=1e-2)
    batch = make_batch(2)
    s, first = train_step(state, batch, jax.random.key(0))
    for i in range(40):
        s, last = train_step(s, batch, jax.random.key(i + 1))
    assert float(last["loss"]) < 0.3 * float(first["loss"]), (first, last)
    assert float(last["accuracy"]) >= 0.875  # dropout stays on in train_step


def test_padding_rows_never_count(state):
    # Same real rows; padding rows zero vs garbage (with weight 0) -> identical update.
    a = make_batch(3, n_real=10)
    b = {k: v.copy() for k, v in a.items()}
    b["x"][10:] = 1e3
    b["y"][10:] = 2
    sa, ma = train_step(state, a, jax.random.key(7))
    sb, mb = train_step(state, b, jax.random.key(7))
    for x, y in zip(_leaves(sa.params), _leaves(sb.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert float(ma["loss"]) == float(mb["loss"]) and float(ma["weight_sum"]) == 10.0


def test_weighted_loss_by_hand():
    logits = np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]], np.float32))
    y = np.array([0, 1, 1], np.int32)
    w = np.array([1.0, 3.0, 0.0], np.float32)
    loss, m = weighted_loss_and_metrics(logits, y, w)
    expected = (np.log(2.0) + 3 * -np.log(0.1)) / 4.0
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # argmax ties resolve to class 0 -> row 0 correct (w 1), row 1 wrong (w 3).
    np.testing.assert_allclose(float(m["accuracy"]), 0.25, rtol=1e-6)
    zero, _ = weighted_loss_and_metrics(logits, y, np.zeros(3, np.float32))
    assert float(zero) == 0.0


def test_no_retrace_after_first_call(state):
    traces = []

    def counted(*args):
        traces.append(1)  # Python side effect: runs only while tracing.
        return _train_step(*args)

    step = jax.jit(counted)
    s = state
    for i in range(4):
        s, _ = step(s, make_batch(10 + i), jax.random.key(i))
    assert len(traces) == 1
    # The jitted step `fit` runs as well (private jax API, present in jax 0.10).
    if hasattr(train_step, "_cache_size"):
        # Fed as `fit` feeds it: the state is replicated over the mesh before the first step.
        s, _ = train_step(
            jax.device_put(state, replicated(MESH)), make_batch(20), jax.random.key(0)
        )
        before = train_step._cache_size()
        for i in range(3):
            s, _ = train_step(s, make_batch(21 + i), jax.random.key(i))
        assert train_step._cache_size() == before


def test_class_weights():
    y = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(class_weights(y, 4), [6 / 9, 6 / 3, 6 / 6, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(class_weights(y, 4, "none"), np.ones(4))
    w = class_weights(y, 4)[y]
    assert w.mean() == pytest.approx(1.0)  # balanced weights average to 1 over the data
    with pytest.raises(ValueError):
        class_weights(y, 4, "sqrt")
    with pytest.raises(ValueError):
        class_weights(np.array([5]), 4)


def test_round_batch_and_pad():
    assert (
        round_batch_size(10, 4) == 12
        and round_batch_size(8, 4) == 8
        and round_batch_size(3, 1) == 3
    )
    b = pad_batch(np.ones((3, T, F)), np.array([1, 1, 1]), np.ones(3), 5)
    assert b["x"].shape == (5, T, F) and b["x"].dtype == np.float32 and b["y"].dtype == np.int32
    np.testing.assert_array_equal(b["weight"], [1, 1, 1, 0, 0])


def test_predict_proba_one_call_and_padded_batches(state):
    x, _ = separable(37, 5)
    probs = predict_proba(state.apply_fn, state.params, x)  # one call on all 37 rows
    assert probs.shape == (37, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # Fixed-size padded batches (37 = 16 + 16 + 5) give the same probabilities.
    batched = predict_proba(state.apply_fn, state.params, x, batch_size=16)
    np.testing.assert_allclose(batched, probs, rtol=1e-5, atol=1e-6)


def _fit(seed, **kw):
    x, y = separable(80, 11)
    xv, yv = separable(40, 12)
    kw = {"num_classes": NUM_CLASSES, "epochs": 2, "batch_size": 32, "progress": False, **kw}
    return fit(MODEL, x, y, xv, yv, seed=seed, **kw)


def test_fit_deterministic_and_checkpoint(tmp_path):
    ckpt = tmp_path / "best.msgpack"
    a = _fit(0, checkpoint_path=ckpt, learning_rate=1e-2)
    b = _fit(0, learning_rate=1e-2)
    c = _fit(1, learning_rate=1e-2)
    for x, y in zip(_leaves(a.params), _leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(
        not np.array_equal(x, y) for x, y in zip(_leaves(a.params), _leaves(c.params), strict=True)
    )
    assert [h["epoch"] for h in a.history] == [0, 1]
    assert set(a.history[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_macro_f1",
        "seconds",
    }
    assert a.best_val_macro_f1 == max(h["val_macro_f1"] for h in a.history)
    assert a.history[a.best_epoch]["val_macro_f1"] == a.best_val_macro_f1
    # 80 rows / 32 -> last batch padded: still a single compilation across all steps.
    assert a.num_compilations in (None, 1) and b.num_compilations in (None, 1)
    assert json.dumps(a.history)
    restored = load_params(ckpt, jax.tree.map(np.zeros_like, a.params))
    for x, y in zip(_leaves(restored), _leaves(a.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_early_stopping_keeps_best():
    # Learning rate 0: validation F1 never improves, so training stops after `patience`.
    r = _fit(0, epochs=6, patience=2, tx=optax.sgd(0.0))
    assert len(r.history) == 3 and r.stopped_early and r.best_epoch == 0


TWO_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    from ltcn_jax.models import LTCN
    from ltcn_jax.train import (create_train_state, data_sharded, fit, make_mesh,
                                make_sharded_train_step, pad_batch, replicated)

    devs = jax.devices()
    assert len(devs) == 2, devs
    model = LTCN(num_classes=3, channels=(8, 8), dilations=(1, 2), kernel_size=2,
                 dropout_rate=0.1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 4)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(np.int32)

    def steps(mesh):
        state = jax.device_put(create_train_state(model, jax.random.key(0), x[:1]),
                               replicated(mesh))
        step = make_sharded_train_step(mesh)
        for i in range(4):
            b = pad_batch(x[i * 24:(i + 1) * 24], y[i * 24:(i + 1) * 24],
                          np.ones(24, np.float32), 24)
            b = jax.device_put(b, data_sharded(mesh))
            assert len(b["x"].sharding.device_set) == mesh.size
            state, _ = step(state, b, jax.random.fold_in(jax.random.key(1), i))
        return jax.device_get(state.params)

    def maxdiff(a, b):
        return max(float(np.abs(u - v).max())
                   for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    d_steps = maxdiff(steps(make_mesh(devs[:1])), steps(make_mesh(devs)))
    kw = dict(num_classes=3, epochs=1, batch_size=30, progress=False, seed=0)
    f1 = fit(model, x[:64], y[:64], x[64:], y[64:], devices=devs[:1], **kw)
    f2 = fit(model, x[:64], y[:64], x[64:], y[64:], devices=devs, **kw)
    print(json.dumps({"steps": d_steps, "fit": maxdiff(f1.params, f2.params),
                      "compiles": f2.num_compilations}))
    """
)


def test_two_devices_match_one_device():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", TWO_DEVICE_SCRIPT],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["steps"] < 1e-5, out
    assert out["fit"] < 1e-5, out
    assert out["compiles"] in (None, 1), out
