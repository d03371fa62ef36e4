"""Model shapes, parameter trees/counts, receptive field, causality and complexity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltcn_jax.complexity import (
    complexity_table,
    fp32_megabytes,
    lstm_macs,
    ltcn_macs,
    ltcn_param_count,
    model_param_count,
    param_count,
)
from ltcn_jax.models import (
    LTCN,
    HeavyCNN,
    LSTMClassifier,
    TransformerClassifier,
    paper_scale_ltcn_kwargs,
)
from ltcn_kernels.arch import receptive_field

# Tiny L-TCN used for the hand counts: 3 features, 2 blocks (4 then 6 channels), k=2.
TINY = {"channels": (4, 6), "dilations": (1, 2), "kernel_size": 2, "convs_per_block": 2}


def _init(model, shape, seed=0):
    """Random params with the model's exact tree (from a shape-only init).

    Compiling a real Flax init takes seconds on 2 CPU cores (threefry); the real init path is
    exercised by the training tests.
    """
    tree = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, jnp.float32))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        if len(s.shape) > 1:  # kernels: fan-in scaled like lecun_normal
            scale = 1.0 / np.sqrt(np.prod(s.shape[:-1]))
            return (rng.normal(size=s.shape) * scale).astype(np.float32)
        base = 1.0 if jax.tree_util.keystr(path).endswith("['scale']") else 0.0
        return (base + 0.1 * rng.normal(size=s.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, tree["params"])


def _apply(model, **kw):
    return jax.jit(
        lambda params, x, rng=None: model.apply(
            {"params": params}, x, rngs=None if rng is None else {"dropout": rng}, **kw
        )
    )


@pytest.mark.parametrize(
    "model",
    [
        LTCN(num_classes=5, channels=(8, 16), dilations=(1, 2)),
        LSTMClassifier(num_classes=5, hidden_sizes=(8, 8)),
        TransformerClassifier(num_classes=5, d_model=16, num_heads=2, mlp_dim=32, max_len=16),
        HeavyCNN(num_classes=5, channels=(8, 16), kernel_size=5),
    ],
    ids=lambda m: type(m).__name__,
)
def test_output_shapes_and_dropout(model):
    x = jax.random.normal(jax.random.key(1), (3, 10, 7))
    params = _init(model, (1, 10, 7))
    logits = _apply(model)(params, x)
    assert logits.shape == (3, 5)
    assert logits.dtype == jnp.float32
    # Deterministic without train; dropout active (needs an rng) with train=True.
    np.testing.assert_array_equal(logits, _apply(model)(params, x))
    # rbg keys compile much faster than threefry on CPU; any key impl drives nn.Dropout.
    noisy = _apply(model, train=True)(params, x, jax.random.key(2, impl="rbg"))
    assert noisy.shape == (3, 5)
    assert not np.allclose(noisy, logits)


def test_ltcn_param_tree_and_exact_count():
    params = _init(LTCN(num_classes=3, **TINY), (1, 9, 3))
    shapes = jax.tree.map(lambda a: a.shape, params)
    assert shapes == {
        "block_0": {
            "conv_0": {"kernel": (2, 3, 4), "bias": (4,)},
            "conv_1": {"kernel": (2, 4, 4), "bias": (4,)},
            "residual": {"kernel": (1, 3, 4), "bias": (4,)},
        },
        "block_1": {
            "conv_0": {"kernel": (2, 4, 6), "bias": (6,)},
            "conv_1": {"kernel": (2, 6, 6), "bias": (6,)},
            "residual": {"kernel": (1, 4, 6), "bias": (6,)},
        },
        "head": {"kernel": (6, 3), "bias": (3,)},
    }
    # By hand: 28 + 36 + 16 (block 0) + 54 + 78 + 30 (block 1) + 21 (head).
    assert param_count(params) == 263
    assert ltcn_param_count(3, 3, TINY["channels"], 2, 2) == 263


def test_identity_residual_has_no_params():
    params = _init(LTCN(num_classes=2, channels=(5, 5), dilations=(1, 1), kernel_size=2), (1, 4, 5))
    assert "residual" not in params["block_0"] and "residual" not in params["block_1"]
    # 2 blocks x 2 convs x (2*5*5 + 5) + head (5*2 + 2).
    assert param_count(params) == 4 * 55 + 12


def test_default_ltcn_count_matches_closed_form():
    model = LTCN(num_classes=5)
    assert model_param_count(model, 41) == ltcn_param_count(41, 5, (16, 32, 64, 64), 3, 2)


def test_lstm_param_count_by_hand():
    # Per layer: 4 input kernels (in x H, no bias) + 4 recurrent kernels (H x H) with bias.
    expected = (4 * 7 * 8 + 4 * (8 * 8 + 8)) + (4 * 8 * 8 + 4 * (8 * 8 + 8)) + (8 * 2 + 2)
    assert model_param_count(LSTMClassifier(num_classes=2, hidden_sizes=(8, 8)), 7) == expected


def test_paper_scale_count():
    kwargs = paper_scale_ltcn_kwargs()
    n = model_param_count(LTCN(num_classes=5, **kwargs), 122)
    assert n == 2_199_909
    assert abs(fp32_megabytes(n) - 8.8) < 0.05


def test_receptive_field_formula():
    assert receptive_field(3, (1, 2, 4, 8), 2) == 61
    assert receptive_field(2, (1,), 1) == 2
    assert receptive_field(5, (1, 3), 3) == 1 + 3 * 4 * 4
    assert LTCN(num_classes=2, **TINY).receptive_field == 7
    with pytest.raises(ValueError):
        receptive_field(3, (0, 1), 2)


RF_CONFIGS = [
    {"kernel_size": 2, "dilations": (1, 2), "convs_per_block": 1},
    {"kernel_size": 3, "dilations": (1, 2, 4), "convs_per_block": 2},
    {"kernel_size": 4, "dilations": (1, 3), "convs_per_block": 1},
    {"kernel_size": 3, "dilations": (2, 1), "convs_per_block": 3},
]


def _rf_model(cfg, **kw):
    channels = tuple(8 + 4 * (i % 2) for i in range(len(cfg["dilations"])))
    return LTCN(num_classes=3, channels=channels, dropout_rate=0.0, **cfg, **kw)


@pytest.mark.parametrize("cfg", RF_CONFIGS, ids=str)
def test_receptive_field_exact_both_ways(cfg):
    model = _rf_model(cfg)
    rf = receptive_field(cfg["kernel_size"], cfg["dilations"], cfg["convs_per_block"])
    t = rf + 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, t, 5)).astype(np.float32)
    params = _init(model, x.shape, seed=3)
    apply = jax.jit(lambda x: model.apply({"params": params}, x))
    base = np.asarray(apply(x))

    def perturbed(pos):
        xp = x.copy()
        xp[:, pos, :] += 10.0 * rng.normal(size=(2, 5)).astype(np.float32)
        return np.asarray(apply(xp))

    oldest_inside = t - rf
    for pos in range(oldest_inside):  # Older than the receptive field: bit-identical.
        np.testing.assert_array_equal(perturbed(pos), base)
    for pos in (oldest_inside, t - 1, int(rng.integers(oldest_inside, t))):
        assert np.all(np.abs(perturbed(pos) - base).max(axis=-1) > 1e-6), pos


@pytest.mark.parametrize("cfg", RF_CONFIGS[:2], ids=str)
def test_causality_per_step_logits(cfg):
    # Full fp32: on GPUs the default precision (TF32) would make the two programs below
    # differ by ~1e-3; the exact (bitwise) causality checks hold at any precision.
    with jax.default_matmul_precision("highest"):
        _check_causality(cfg)


def _check_causality(cfg):
    seq_model = _rf_model(cfg, return_sequence=True)
    last_model = _rf_model(cfg)
    t = 12
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, t, 5)).astype(np.float32)
    params = _init(seq_model, x.shape, seed=4)
    apply = jax.jit(lambda x: seq_model.apply({"params": params}, x))
    base = np.asarray(apply(x))
    assert base.shape == (2, t, 3)
    # Same params: the last step of the sequence equals the window-mode output.
    np.testing.assert_allclose(base[:, -1], _apply(last_model)(params, x), rtol=1e-6, atol=1e-6)
    for pos in range(t):
        xp = x.copy()
        xp[:, pos, :] += 10.0
        out = np.asarray(apply(xp))
        np.testing.assert_array_equal(out[:, :pos], base[:, :pos])  # the future never leaks
        assert np.abs(out[:, pos] - base[:, pos]).max() > 1e-6


def test_transformer_is_causal():
    model = TransformerClassifier(num_classes=2, d_model=8, num_heads=2, mlp_dim=16, max_len=8)
    x = np.random.default_rng(0).normal(size=(1, 6, 3)).astype(np.float32)
    params = _init(model, x.shape)

    @jax.jit
    def layer0(x):
        _, state = model.apply({"params": params}, x, capture_intermediates=True)
        return state["intermediates"]["layer_0"]["__call__"][0]

    xp = x.copy()
    xp[:, 4] += 5.0
    a, b = np.asarray(layer0(x)), np.asarray(layer0(xp))
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)  # earlier tokens ignore step 4
    assert np.abs(a[:, 4] - b[:, 4]).max() > 1e-3
    with pytest.raises(ValueError):
        model.apply({"params": params}, np.zeros((1, 9, 3), np.float32))


def test_ltcn_macs_by_hand():
    macs = ltcn_macs(LTCN(num_classes=3, **TINY), num_features=3)
    assert macs["window"] == macs["receptive_field"] == 7
    # Last output only, walking back from position 6 (see complexity.ltcn_macs):
    # block1 residual 1*4*6, conv_1 2 taps*36, conv_0 4 taps*24; block0 residual 3*3*4,
    # conv_1 6 taps*16, conv_0 12 taps*12; head 6*3.
    assert macs["per_flow"] == 24 + 72 + 96 + 36 + 96 + 144 + 18
    # One new step with cached activations: block0 24+32+12, block1 48+72+24, head 18.
    assert macs["per_step"] == 68 + 144 + 18
    assert macs["full_window"] == (68 + 144) * 7 + 18


def test_lstm_macs_and_table():
    lstm = LSTMClassifier(num_classes=2, hidden_sizes=(4,))
    assert lstm_macs(lstm, 3, window=5)["per_flow"] == 5 * 4 * 4 * (3 + 4) + 4 * 2
    rows = complexity_table(
        {
            "ltcn": LTCN(num_classes=2, **TINY),
            "lstm": lstm,
            "transformer": TransformerClassifier(2, d_model=8, num_heads=2, mlp_dim=8, max_len=8),
            "cnn": HeavyCNN(2, channels=(4,), kernel_size=3),
        },
        num_features=3,
        window=7,
    )
    assert [r["model"] for r in rows] == ["ltcn", "lstm", "transformer", "cnn"]
    assert rows[0]["params"] == ltcn_param_count(3, 2, TINY["channels"], 2, 2)
    assert rows[3]["macs_per_flow"] == 7 * 3 * 3 * 4 + 4 * 2
    assert rows[3]["macs_per_step"] is None
    assert all(r["fp32_mb"] == round(r["params"] * 4 / 1e6, 4) for r in rows)


def test_every_model_kind_builds_and_is_counted_through_the_registry():
    from ltcn_jax.complexity import model_macs
    from ltcn_jax.config import ModelConfig
    from ltcn_jax.model_kinds import MODEL_KINDS, build_model, kind_of, model_kind

    for name, kind in MODEL_KINDS.items():
        model = build_model(ModelConfig(name, {"channels": [4, 4], "dilations": [1, 2]} if name == "ltcn" else {}), 3)
        assert kind_of(model) is kind and isinstance(model, kind.model_class())
        if kind.network:
            assert model_macs(model, 4, 8)["per_flow"] > 0
        else:
            assert model.n_estimators == 100 and model.class_weight == "balanced"
            with pytest.raises(TypeError, match="no MAC counter"):
                model_macs(model, 4, 8)
    assert build_model(ModelConfig("ltcn", {"channels": [4, 4], "dilations": [1, 2]}), 3).dilations == (1, 2)
    with pytest.raises(ValueError, match="unknown model 'svm'; expected one of ltcn, lstm, "
                                         "transformer, cnn, random-forest"):
        model_kind("svm")


def test_a_model_config_validates_without_jax():
    import subprocess
    import sys

    code = ("import sys; from ltcn_jax.config import ModelConfig; ModelConfig('lstm')\n"
            "print(','.join(m for m in ('jax', 'flax', 'sklearn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.strip() == ""
