"""The one L-TCN description (``ltcn_kernels.arch``) against what is built from it: the Flax
model's param tree and count, the engine's layers, the measured causal reach of both."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltcn_jax.models import LTCN
from ltcn_jax.reference import unflatten
from ltcn_kernels import arch as A
from ltcn_kernels import engine as E
from ltcn_kernels.arch import LTCNArch

CONFIGS = [
    LTCNArch(3, 2, channels=(4, 6), dilations=(1, 2), kernel_size=2, convs_per_block=2),
    LTCNArch(5, 3, channels=(5, 5), dilations=(1, 3), kernel_size=3, convs_per_block=1),  # identity
    LTCNArch(4, 4, channels=(4, 8, 8), dilations=(2, 1, 4), kernel_size=3, convs_per_block=3),
    LTCNArch(7, 5),  # the defaults
]
IDS = [f"arch{i}" for i in range(len(CONFIGS))]


def flax_shapes(arch: LTCNArch, time: int = 9) -> dict[str, tuple[int, ...]]:
    """Flat ``{path: shape}`` of the Flax model's initialised params (shape-only init)."""
    x = jax.ShapeDtypeStruct((1, time, arch.n_features), jnp.float32)
    tree = jax.eval_shape(LTCN.from_arch(arch).init, jax.random.key(0), x)["params"]
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {jax.tree_util.keystr(p, simple=True, separator="/"): tuple(v.shape) for p, v in leaves}


def positive_params(arch: LTCNArch, seed: int = 0) -> dict[str, np.ndarray]:
    """Strictly positive weights: with positive inputs every ReLU is active, so an output
    depends on exactly the inputs the layout connects it to (no accidental dead paths)."""
    rng = np.random.default_rng(seed)
    return {p: rng.uniform(0.1, 1.0, s).astype(np.float32) / np.sqrt(np.prod(s))
            for p, s in arch.param_shapes().items()}


@pytest.mark.parametrize("arch", CONFIGS, ids=IDS)
def test_param_shapes_and_count_equal_the_flax_model(arch):
    assert arch.param_shapes() == flax_shapes(arch)
    assert arch.param_count() == sum(int(np.prod(s)) for s in flax_shapes(arch).values())
    assert LTCN.from_arch(arch).arch(arch.n_features) == arch


def test_defaults_are_the_flax_defaults():
    model = LTCN(num_classes=5)
    assert model.arch(7) == LTCNArch(7, 5)
    assert model.receptive_field == LTCNArch(7, 5).receptive_field == 61


def test_layer_list():
    arch = CONFIGS[2]
    assert [(layer.name, layer.role) for layer in arch.layers[:8]] == [
        ("block_0/conv_0", "conv"), ("block_0/conv_1", "conv"), ("block_0/conv_2", "conv"),
        ("block_0/identity", "identity"),
        ("block_1/conv_0", "conv"), ("block_1/conv_1", "conv"), ("block_1/conv_2", "conv"),
        ("block_1/residual", "residual"),
    ]
    assert arch.layers[-1] == A.Layer("head", "head", -1, -1, 8, 4)
    convs = [layer for layer in arch.layers if layer.role == A.CONV]
    assert [layer.pad for layer in convs] == [4] * 3 + [2] * 3 + [8] * 3
    assert arch.receptive_field == 1 + sum(layer.pad for layer in arch.layers)
    assert arch.block_layers(1)[0].c_in == 4 and arch.block_layers(1)[1].c_in == 8


@pytest.mark.parametrize("arch", CONFIGS[:3], ids=IDS[:3])
def test_engine_is_built_from_the_arch(arch):
    flat = positive_params(arch)
    inferred = LTCNArch.from_params(flat, dilations=arch.dilations, kernel_size=arch.kernel_size,
                                    convs_per_block=arch.convs_per_block)
    assert inferred == arch
    dense = E.EngineModel.from_arch(arch, flat, format="dense")
    assert dense.arch == arch and dense.receptive_field == arch.receptive_field
    assert dense.layer_names == tuple(layer.name for layer in arch.layers)
    assert dense.nnz == arch.macs_per_step()  # dense storage: one weight per multiply-add
    sparse = E.EngineModel.from_params(flat, dilations=arch.dilations,
                                       kernel_size=arch.kernel_size,
                                       convs_per_block=arch.convs_per_block)
    np.testing.assert_array_equal(sparse.meta[:, :8], dense.meta[:, :8])


@pytest.mark.parametrize("arch", CONFIGS[:3], ids=IDS[:3])
def test_receptive_field_is_the_measured_reach(arch):
    """The oldest input the last output depends on is ``receptive_field - 1`` steps back, in
    the Flax model (gradient) and in the engine (perturbation), with every path alive."""
    rf = arch.receptive_field
    T = rf + 4
    flat = positive_params(arch)
    x = np.random.default_rng(1).uniform(0.5, 1.0, (1, T, arch.n_features)).astype(np.float32)
    model, params = LTCN.from_arch(arch, dropout_rate=0.0), unflatten(flat)
    grad = jax.grad(lambda x: model.apply({"params": params}, x).sum())(jnp.asarray(x))
    reach = np.flatnonzero(np.abs(np.asarray(grad)[0]).sum(axis=-1) > 0)
    assert reach.min() == T - rf and reach.max() == T - 1

    engine = E.EngineModel.from_arch(arch, flat)
    base = E.logits_windows(engine, x)
    for pos, changes in ((T - rf - 1, False), (T - rf, True)):
        xp = x.copy()
        xp[0, pos] += 1.0
        assert np.any(E.logits_windows(engine, xp) != base) == changes, pos


@pytest.mark.parametrize("arch", CONFIGS, ids=IDS)
def test_dict_round_trip(arch):
    d = arch.to_dict()
    assert d["model"] == "ltcn" and d["input_channels"] == arch.n_features
    assert d["receptive_field"] == arch.receptive_field
    assert LTCNArch.from_dict(json.loads(json.dumps(d))) == arch
    # What an artifact manifest adds (how data is fed) is not architecture.
    assert LTCNArch.from_dict({**d, "sequence": "flows", "window": 9}) == arch


def test_from_dict_refuses_inconsistent_entries():
    d = CONFIGS[0].to_dict()
    with pytest.raises(ValueError, match="receptive_field"):
        LTCNArch.from_dict({**d, "receptive_field": d["receptive_field"] + 1})
    with pytest.raises(ValueError, match="not an L-TCN"):
        LTCNArch.from_dict({**d, "model": "lstm"})
    with pytest.raises(ValueError, match="lacks"):
        LTCNArch.from_dict({k: v for k, v in d.items() if k != "dilations"})


def test_from_kwargs_takes_only_architecture_fields():
    arch = LTCNArch.from_kwargs(3, 2, {"channels": [8, 8], "dilations": [1, 2],
                                       "dropout_rate": 0.3})
    assert arch == LTCNArch(3, 2, (8, 8), (1, 2))
    assert arch.kernel_size == A.DEFAULT_KERNEL_SIZE


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": (4, 4), "dilations": (1,)}, "same length"),
        ({"channels": (), "dilations": ()}, "empty"),
        ({"channels": (4, 4), "dilations": (1, 0)}, "dilations must be >= 1"),
        ({"kernel_size": 0}, "kernel_size and convs_per_block"),
        ({"convs_per_block": 0}, "kernel_size and convs_per_block"),
        ({"kernel_size": 2.5}, "must be an integer"),
        ({"channels": (4, 0, 4, 4)}, "channels must be >= 1"),
        ({"n_features": 0}, "n_features and num_classes"),
        ({"num_classes": 0}, "n_features and num_classes"),
    ],
)
def test_bad_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LTCNArch(**{"n_features": 3, "num_classes": 2, **kwargs})


def test_path_predicates():
    paths = list(CONFIGS[2].param_shapes())
    convs = [p for p in paths if A.is_conv_kernel(p)]
    assert convs == [p for p in paths if p.startswith("block_") and p.endswith("/kernel")]
    assert [p for p in paths if A.is_residual_kernel(p)] == ["block_1/residual/kernel"]
    assert [p for p in paths if A.is_head_kernel(p)] == ["head/kernel"]
    # The default pruning selection, and its two switches.
    assert [p for p in paths if A.kernel_predicate()(p)] == convs
    no_res = A.kernel_predicate(include_residual=False, include_head=True)
    assert [p for p in paths if no_res(p)] == [
        p for p in convs if "residual" not in p] + ["head/kernel"]
    assert A.block_index("block_12/conv_0/kernel") == 12 and A.block_index("head/bias") is None
