"""The Numba L-TCN inference engine (``ltcn_kernels.engine``): parity with a numpy reference
and with the Flax model, streaming == batch, CSR invariants, validation, import hygiene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import CONFIGS, build, random_params
from ltcn_jax.reference import unflatten
from ltcn_kernels import engine as E
from ltcn_kernels.engine import _kernels as K
from ltcn_kernels.engine._kernels import M_NNZ, M_PTR_OFF, M_VAL_OFF

# --------------------------------------------------------------------------- helpers


def reference_forward(params, x, dilations, kernel_size, convs_per_block, return_sequence=False):
    """Plain numpy (float64) L-TCN forward: x (n, T, F) -> (n, classes) or (n, T, classes)."""
    h = np.asarray(x, np.float64)
    k = kernel_size
    for i, d in enumerate(dilations):
        block_in = h
        for j in range(convs_per_block):
            w = params[f"block_{i}/conv_{j}/kernel"].astype(np.float64)
            b = params[f"block_{i}/conv_{j}/bias"].astype(np.float64)
            pad = d * (k - 1)
            T = h.shape[1]
            padded = np.pad(h, ((0, 0), (pad, 0), (0, 0)))
            out = b + sum(padded[:, tap * d : tap * d + T] @ w[tap] for tap in range(k))
            h = np.maximum(out, 0.0)
        if f"block_{i}/residual/kernel" in params:
            residual = block_in @ params[f"block_{i}/residual/kernel"][0].astype(np.float64)
            residual = residual + params[f"block_{i}/residual/bias"]
        else:
            residual = block_in
        h = np.maximum(residual + h, 0.0)
    if not return_sequence:
        h = h[:, -1]
    return h @ params["head/kernel"].astype(np.float64) + params["head/bias"]


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)



# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_parity_with_numpy_reference(cfg):
    features, channels, dilations, k, J, sparsity = cfg
    rng = np.random.default_rng(len(channels) * 100 + k)
    params = random_params(rng, features, channels, k, J, classes=4, sparsity=sparsity)
    csr, dense = build(params, dilations, k, J, "sparse"), build(params, dilations, k, J, "dense")
    assert csr.nnz < dense.nnz or sparsity == 0
    for T in (1, 7, 40):  # shorter and longer than the receptive field
        x = rng.standard_normal((5, T, features)).astype(np.float32)
        want = reference_forward(params, x, dilations, k, J)
        want_seq = reference_forward(params, x[:1], dilations, k, J, return_sequence=True)[0]
        for model in (csr, dense):
            np.testing.assert_allclose(E.logits_windows(model, x), want, rtol=0, atol=1e-5)
            np.testing.assert_allclose(
                E.predict_proba_windows(model, x), softmax(want), rtol=0, atol=1e-5
            )
            np.testing.assert_allclose(E.logits_sequence(model, x[0]), want_seq, rtol=0, atol=1e-5)
            np.testing.assert_allclose(
                E.predict_proba_sequence(model, x[0]), softmax(want_seq), rtol=0, atol=1e-5
            )
        # Skipping exact zeros changes nothing: the two formats agree to the bit.
        np.testing.assert_array_equal(E.logits_windows(csr, x), E.logits_windows(dense, x))


def test_empty_row_and_all_zero_layer():
    rng = np.random.default_rng(3)
    dilations, k, J = (1, 2), 3, 2
    params = random_params(rng, 5, (6, 8), k, J, classes=3, sparsity=0.5)
    params["block_0/conv_0/kernel"][:, :, 2] = 0  # output channel 2: an empty CSR row
    params["block_1/conv_1/kernel"][:] = 0  # a layer without any non-zero
    params["block_1/residual/kernel"][:, :, 0] = 0
    csr = build(params, dilations, k, J, "sparse")
    conv00, conv11 = csr.layer("block_0/conv_0"), csr.layer("block_1/conv_1")
    ptr = csr.indptr[conv00["ptr_off"] : conv00["ptr_off"] + conv00["c_out"] + 1]
    assert ptr[2] == ptr[3]
    assert conv11["nnz"] == 0
    x = rng.standard_normal((4, 12, 5)).astype(np.float32)
    want = reference_forward(params, x, dilations, k, J)
    for model in (csr, build(params, dilations, k, J, "dense")):
        np.testing.assert_allclose(E.logits_windows(model, x), want, rtol=0, atol=1e-5)
        want_seq = reference_forward(params, x[:1], dilations, k, J, return_sequence=True)[0]
        np.testing.assert_allclose(E.logits_sequence(model, x[0]), want_seq, rtol=0, atol=1e-5)


def test_all_zero_model_gives_head_bias():
    rng = np.random.default_rng(4)
    params = random_params(rng, 4, (4, 6), 2, 1, classes=3, sparsity=1.0)
    model = build(params, (1, 2), 2, 1, "sparse")
    assert model.nnz == 0 and model.values.shape == (0,)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    want = reference_forward(params, x, (1, 2), 2, 1)
    np.testing.assert_allclose(E.logits_windows(model, x), want, rtol=0, atol=1e-6)


def test_windows_last_step_equals_sequence_and_grouping_is_exact():
    rng = np.random.default_rng(5)
    dilations, k, J = (1, 2, 4), 3, 2
    params = random_params(rng, 7, (8, 16, 16), k, J, classes=5, sparsity=0.6)
    model = build(params, dilations, k, J, "sparse")
    x = rng.standard_normal((60, 7)).astype(np.float32)
    seq = E.logits_sequence(model, x)
    # A window that starts at the stream's start sees the same zero history.
    np.testing.assert_array_equal(E.logits_windows(model, x[None])[0], seq[-1])
    for chunk in (1, 7, 64):
        np.testing.assert_array_equal(E.logits_sequence(model, x, chunk=chunk), seq)
    windows = np.stack([x[i : i + 30] for i in range(20)])
    base = E.logits_windows(model, windows)
    for group_columns in (1, 100, 10_000):
        np.testing.assert_array_equal(E.logits_windows(model, windows, group_columns=group_columns), base)
    assert E.logits_windows(model, windows[:0]).shape == (0, 5)


# --------------------------------------------------------------------------- Flax parity


@pytest.mark.parametrize("prune", [False, True], ids=["init", "pruned80"])
def test_parity_with_flax_model(prune):
    jax = pytest.importorskip("jax")
    from ltcn_jax.models import LTCN

    kw = {"num_classes": 5, "channels": (8, 16, 16), "dilations": (1, 2, 4), "kernel_size": 3,
          "convs_per_block": 2}
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 25, 7)).astype(np.float32)
    params = LTCN(**kw).init(jax.random.key(0), x)["params"]
    flat = E.flat_params_from_tree(params)
    if prune:
        for path, value in flat.items():
            if path.endswith("kernel"):
                value[rng.random(value.shape) < 0.8] = 0
        params = unflatten(flat)
    want = np.asarray(LTCN(**kw).apply({"params": params}, x))
    want_seq = np.asarray(LTCN(**kw, return_sequence=True).apply({"params": params}, x[:1]))[0]
    for fmt in ("sparse", "dense"):
        model = E.EngineModel.from_params(
            flat, dilations=kw["dilations"], kernel_size=3, convs_per_block=2, format=fmt
        )
        np.testing.assert_allclose(E.logits_windows(model, x), want, rtol=0, atol=1e-5)
        np.testing.assert_allclose(E.logits_sequence(model, x[0]), want_seq, rtol=0, atol=1e-5)




# --------------------------------------------------------------------------- streaming


def test_stream_equals_sequence_in_any_chunks():
    rng = np.random.default_rng(7)
    dilations, k, J = (1, 2, 4), 3, 2
    params = random_params(rng, 6, (8, 12, 12), k, J, classes=4, sparsity=0.5)
    model = build(params, dilations, k, J, "sparse")
    x = rng.standard_normal((500, 6)).astype(np.float32)
    want = E.logits_sequence(model, x)
    stream = E.Stream(model, output="logits")

    def feed(stream, xs):
        outs, i = [], 0
        sizes = [1, 3, 17, 2, 40, 1, 1, 5]
        while i < len(xs):
            m = sizes[len(outs) % len(sizes)] if len(outs) < 8 else int(rng.integers(1, 30))
            outs.append(stream.push(xs[i : i + m]))
            i += m
        return np.concatenate(outs)

    np.testing.assert_array_equal(feed(stream, x), want)
    assert stream.steps == 500
    stream.reset()
    assert stream.steps == 0
    np.testing.assert_array_equal(feed(stream, x[:100]), want[:100])
    snap = stream.snapshot()
    rest = feed(stream, x[100:])
    np.testing.assert_array_equal(rest, want[100:])
    stream.restore(snap)
    assert stream.steps == 100
    singles = np.stack([stream.push(x[i]) for i in range(100, 130)])
    np.testing.assert_array_equal(singles, want[100:130])
    # Probabilities by default.
    proba = E.Stream(build(params, dilations, k, J, "dense"))
    np.testing.assert_allclose(proba.push(x[:50]), E.predict_proba_sequence(model, x[:50]),
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="snapshot state has shape"):
        stream.restore({"state": np.zeros(3, np.float32), "steps": 0})


# --------------------------------------------------------------------------- CSR layout


def test_csr_invariants():
    rng = np.random.default_rng(8)
    params = random_params(rng, 118, (16, 32, 64, 64), 3, 2, classes=5, sparsity=0.7)
    model = build(params, (1, 2, 4, 8), 3, 2, "sparse")
    assert model.indices.dtype.kind == "u" and model.indptr.dtype.kind == "u"
    assert model.indices.dtype == np.uint16  # column 3 * 118 - 1 = 353
    assert model.values.dtype == np.float32 and model.meta.dtype == np.int64
    total = 0
    for name in model.layer_names:
        row = model.layer(name)
        if name.endswith("identity"):
            continue
        ptr = model.indptr[row["ptr_off"] : row["ptr_off"] + row["c_out"] + 1].astype(np.int64)
        assert ptr[0] == 0 and np.all(np.diff(ptr) >= 0) and ptr[-1] == row["nnz"]
        cols = model.indices[row["val_off"] : row["val_off"] + row["nnz"]].astype(np.int64)
        assert np.all(cols < row["k"] * row["c_in"])
        for o in range(row["c_out"]):  # ascending columns within a row (the kernel needs it)
            assert np.all(np.diff(cols[ptr[o] : ptr[o + 1]]) > 0)
        total += row["nnz"]
    assert total == model.nnz == int(sum(np.count_nonzero(v) for p, v in params.items()
                                         if p.endswith("kernel")))
    assert model.meta[:, M_VAL_OFF].max() <= model.nnz and (model.meta[:, M_NNZ] >= 0).all()
    dense = build(params, (1, 2, 4, 8), 3, 2, "dense")
    assert dense.indices.size == 0 and (dense.meta[:, M_PTR_OFF] == -1).all()
    assert model.receptive_field == 61


# --------------------------------------------------------------------------- validation


def test_validation_errors():
    rng = np.random.default_rng(9)
    params = random_params(rng, 5, (4, 6), 3, 2, classes=3)
    ok = {"dilations": (1, 2), "kernel_size": 3, "convs_per_block": 2}
    with pytest.raises(ValueError, match="dilations has 3 entries"):
        E.EngineModel.from_params(params, **{**ok, "dilations": (1, 2, 4)})
    with pytest.raises(ValueError, match="kernel_size=2"):
        E.EngineModel.from_params(params, **{**ok, "kernel_size": 2})
    with pytest.raises(ValueError, match="unexpected parameters"):
        E.EngineModel.from_params(params, **{**ok, "convs_per_block": 1})
    with pytest.raises(ValueError, match="missing parameter 'block_0/conv_2/kernel'"):
        E.EngineModel.from_params(params, **{**ok, "convs_per_block": 3})
    with pytest.raises(ValueError, match="format must be one of"):
        E.EngineModel.from_params(params, **ok, format="coo")
    with pytest.raises(ValueError, match="dilations must be >= 1"):
        E.EngineModel.from_params(params, **{**ok, "dilations": (1, 0)})
    bad = dict(params)
    bad["block_1/conv_0/kernel"] = np.zeros((3, 5, 6), np.float32)
    with pytest.raises(ValueError, match="input channels must match"):
        E.EngineModel.from_params(bad, **ok)
    bad = dict(params)
    bad["block_0/conv_1/bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"'block_0/conv_1/bias' has shape \(5,\), expected \(4,\)"):
        E.EngineModel.from_params(bad, **ok)
    bad = dict(params)
    del bad["block_0/residual/kernel"]
    with pytest.raises(ValueError, match="missing parameter 'block_0/residual/kernel'"):
        E.EngineModel.from_params(bad, **ok)
    bad = dict(params)
    bad["head/kernel"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="head/kernel"):
        E.EngineModel.from_params(bad, **ok)
    bad = dict(params)
    bad["head/bias"] = np.full(3, np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN or infinite"):
        E.EngineModel.from_params(bad, **ok)
    same = random_params(rng, 4, (4,), 3, 1, classes=2)
    same["block_0/residual/kernel"] = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="residual is the identity"):
        E.EngineModel.from_params(same, dilations=(1,), kernel_size=3, convs_per_block=1)

    model = E.EngineModel.from_params(params, **ok)
    with pytest.raises(ValueError, match="with 5 features"):
        E.logits_windows(model, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(n, time, features\)"):
        E.logits_windows(model, np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(time, features\)"):
        E.logits_sequence(model, np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="features"):
        E.Stream(model).push(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="output must be"):
        E.Stream(model, output="labels")
    with pytest.raises(ValueError, match="EngineModel"):
        E.logits_sequence(params, np.zeros((2, 5), np.float32))


def test_flat_params_from_tree():
    tree = {"params": {"block_0": {"conv_0": {"kernel": [[[1.0]]], "bias": [0.5]}},
                       "head": {"kernel": [[2.0]], "bias": [0.0]}}}
    flat = E.flat_params_from_tree(tree)
    assert sorted(flat) == ["block_0/conv_0/bias", "block_0/conv_0/kernel", "head/bias",
                            "head/kernel"]
    assert all(v.dtype == np.float32 for v in flat.values())
    model = E.EngineModel.from_params(flat, dilations=(1,), kernel_size=1, convs_per_block=1)
    # ReLU(ReLU(1 * x + 0.5) + x) * 2 at x = 1
    np.testing.assert_allclose(E.logits_sequence(model, np.ones((2, 1), np.float32)), [[5.0]] * 2)
    with pytest.raises(ValueError, match="nested mapping"):
        E.flat_params_from_tree([1, 2])


def test_compile_times_are_recorded():
    rng = np.random.default_rng(10)
    model = build(random_params(rng, 3, (4,), 2, 1, classes=2), (1,), 2, 1, "dense")
    times = E.warmup(model)
    assert any(key.startswith("run_windows[") for key in times)
    assert any(key.startswith("run_sequence[") for key in times)
    assert all(t >= 0 for t in times.values())


def test_engine_import_is_edge_only():
    code = (
        "import sys\n"
        "import ltcn_kernels.engine as e\n"
        "import ltcn_kernels.engine._kernels as k\n"
        "bad = [m for m in ('jax', 'flax', 'optax', 'pandas', 'sklearn', 'ltcn_jax') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
        "assert not k.run_windows.signatures and not k.run_sequence.signatures\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_executed_macs_per_window_counts_what_the_engine_skips():
    rng = np.random.default_rng(5)
    params = random_params(rng, 6, (8, 8), 3, 2, classes=3, sparsity=0.5)
    for fmt in ("sparse", "dense"):
        model = build(params, (1, 4), 3, 2, fmt)
        full = E.executed_macs_per_window(model, 200)  # taps all inside, steps trimmed
        assert full < model.nnz * 200
        # One step: only the current tap of every conv (the older ones read zero padding).
        one = 0
        for row in model.meta:
            if row[K.M_ROLE] == K.ROLE_IDENTITY:
                continue
            c_in, k = int(row[K.M_CIN]), int(row[K.M_K])
            lo, n = int(row[K.M_VAL_OFF]), int(row[K.M_NNZ])
            cols = (model.indices[lo : lo + n].astype(int) if fmt == "sparse"
                    else np.tile(np.arange(k * c_in), int(row[K.M_COUT])))
            one += int(np.count_nonzero(cols >= (k - 1) * c_in))
        assert E.executed_macs_per_window(model, 1) == one


def test_a_cold_compile_is_announced_once(monkeypatch, capsys):
    from ltcn_kernels.engine import run as R

    monkeypatch.setattr(R, "_FIRST_CALL", {})
    monkeypatch.setattr(R, "_told_cold", False)
    monkeypatch.setattr(R, "is_cold", lambda kernel: True)  # as on a fresh machine
    rng = np.random.default_rng(0)
    model = build(random_params(rng, 5, (4, 4), 2, 2, 2, 0.5), (1, 2), 2, 2, "sparse")
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    E.predict_proba_windows(model, x)
    E.predict_proba_sequence(model, x[0])
    assert capsys.readouterr().err.count(R.COLD_COMPILE_NOTICE) == 1


def test_the_kernels_are_cached_once_compiled():
    from ltcn_kernels.engine import run as R

    assert not R.is_cold(K.run_windows)  # the session fixture compiled it into the cache
    assert not R.is_cold(len)  # not a Numba dispatcher: never announced
