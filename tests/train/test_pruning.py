"""Magnitude pruning: masked optimizer, exact sparsity, schedules, persistence, driver."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltcn_jax import pruning as P
from ltcn_jax import train
from ltcn_jax.models import LTCN
from ltcn_jax.pruning._masks import path_str

TARGETS = (0.0, 0.4, 0.6, 0.8, 0.9)


def _model() -> LTCN:
    return LTCN(num_classes=3, channels=(4, 8), dilations=(1, 2), dropout_rate=0.0)


@pytest.fixture(scope="module")
def params():
    state = train.create_train_state(_model(), jax.random.key(0), np.zeros((1, 6, 5), np.float32))
    return state.params


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def _random_like(tree, seed: int):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda w: rng.normal(size=np.shape(w)).astype(np.float32), tree)


def _pruned_leaves(params, masks):
    """(param, mask) pairs of the prunable leaves."""
    treedef = jax.tree.structure(masks, is_leaf=lambda x: x is None)
    pairs = zip(treedef.flatten_up_to(params), treedef.flatten_up_to(masks), strict=True)
    return [(np.asarray(w), np.asarray(m)) for w, m in pairs if m is not None]


# ------------------------------------------------------------------------------------------
# Prunable selection
# ------------------------------------------------------------------------------------------


def test_default_selection_conv_kernels_only(params):
    pr = P.prunable_mask_tree(params)
    for b in ("block_0", "block_1"):
        for layer in ("conv_0", "conv_1", "residual"):
            assert pr[b][layer] == {"kernel": True, "bias": False}
    assert pr["head"] == {"kernel": False, "bias": False}


def test_head_on_request_residual_off(params):
    pr = P.prunable_mask_tree(params, include_head=True, include_residual=False)
    assert pr["head"] == {"kernel": True, "bias": False}
    assert pr["block_0"]["residual"]["kernel"] is False
    assert pr["block_0"]["conv_0"]["kernel"] is True


def test_patterns_and_predicate_never_select_biases(params):
    by_glob = P.prunable_mask_tree(params, patterns=["*"])
    by_pred = P.prunable_mask_tree(params, predicate=lambda name: True)
    for tree in (by_glob, by_pred):
        flat = jax.tree_util.tree_flatten_with_path(tree)[0]
        for path, sel in flat:
            assert sel == (path_str(path).split("/")[-1] == "kernel")
    only_head = P.prunable_mask_tree(params, patterns=["head/*"])
    assert only_head["head"]["kernel"] and not only_head["block_0"]["conv_0"]["kernel"]


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_biases_and_head_untouched_by_pruning(params, criterion):
    masks = P.compute_masks(params, 0.9, criterion=criterion)
    pruned = P.apply_masks(params, masks)
    assert masks["head"]["kernel"] is None and masks["block_0"]["conv_0"]["bias"] is None
    np.testing.assert_array_equal(pruned["head"]["kernel"], params["head"]["kernel"])
    for b in ("block_0", "block_1"):
        for layer in ("conv_0", "conv_1", "residual"):
            np.testing.assert_array_equal(pruned[b][layer]["bias"], params[b][layer]["bias"])


# ------------------------------------------------------------------------------------------
# Exact sparsity
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_layerwise_exact_per_layer(params, target):
    masks = P.compute_masks(params, target, criterion="layerwise")
    pruned = P.apply_masks(params, masks)
    for w, m in _pruned_leaves(pruned, masks):
        assert (~m).sum() == round(target * m.size)
        assert (w == 0).sum() == round(target * w.size)
    report = P.sparsity_report(pruned, masks)
    for name, layer in report["layers"].items():
        if layer["prunable"]:
            assert abs(layer["zeros"] - target * layer["size"]) <= 1, name


@pytest.mark.parametrize("target", TARGETS)
def test_global_exact_total(params, target):
    masks = P.compute_masks(params, target, criterion="global")
    pruned = P.apply_masks(params, masks)
    report = P.sparsity_report(pruned, masks)
    total = report["prunable"]["size"]
    assert report["prunable"]["zeros"] == round(target * total)
    # One threshold: every pruned magnitude <= every kept magnitude.
    pairs = _pruned_leaves(params, masks)
    pruned_mag = np.concatenate([np.abs(w[~m]) for w, m in pairs])
    kept_mag = np.concatenate([np.abs(w[m]) for w, m in pairs])
    if pruned_mag.size and kept_mag.size:
        assert pruned_mag.max() <= kept_mag.min()


_layer_shapes = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4
)


@settings(max_examples=25, deadline=None)
@given(
    shapes=_layer_shapes,
    target=st.one_of(st.sampled_from(TARGETS), st.floats(0.0, 1.0)),
    seed=st.integers(0, 2**31 - 1),
    ties=st.booleans(),
    criterion=st.sampled_from(P.CRITERIA),
)
def test_exact_sparsity_property(shapes, target, seed, ties, criterion):
    rng = np.random.default_rng(seed)

    def weights(shape):
        # Few distinct magnitudes stress tie-breaking (equal |w| must not over-prune).
        w = rng.integers(-2, 3, size=shape) if ties else rng.normal(size=shape)
        return w.astype(np.float32)

    params = {f"block_{i}": {"conv_0": {"kernel": weights(s), "bias": weights(s[-1:])}}
              for i, s in enumerate(shapes)}
    masks = P.compute_masks(params, target, criterion=criterion)
    pairs = _pruned_leaves(params, masks)
    if criterion == "layerwise":
        for _, m in pairs:
            assert (~m).sum() == round(target * m.size)
    else:
        total = sum(m.size for _, m in pairs)
        assert sum((~m).sum() for _, m in pairs) == round(target * total)
        pruned_mag = [np.abs(w[~m]).max() for w, m in pairs if (~m).any()]
        kept_mag = [np.abs(w[m]).min() for w, m in pairs if m.any()]
        if pruned_mag and kept_mag:
            assert max(pruned_mag) <= min(kept_mag)


def test_out_of_range_sparsity_raises(params):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        P.compute_masks(params, 1.5)


# ------------------------------------------------------------------------------------------
# Masked optimizer
# ------------------------------------------------------------------------------------------


def test_masked_adam_keeps_pruned_weights_exactly_zero(params):
    masks = P.compute_masks(params, 0.6)
    tx = P.wrap_optax(optax.adam(1e-2), P.init_masks(params))

    @jax.jit
    def step(p, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    # Train unmasked first so Adam's moments of the soon-pruned weights are non-zero: a
    # masked gradient alone would then still move them.
    p, opt_state = params, tx.init(params)
    for i in range(5):
        p, opt_state = step(p, opt_state, _random_like(params, i))
    p, opt_state = P.apply_masks(p, masks), P.update_masks(opt_state, masks)
    for i in range(50):
        p, opt_state = step(p, opt_state, _random_like(params, 100 + i))
    for w, m in _pruned_leaves(p, masks):
        assert np.all(w[~m] == 0.0)
        assert np.all(w[m] != 0.0)
    assert P.sparsity_report(p, masks)["prunable"]["zeros"] == sum(
        (~m).sum() for _, m in _pruned_leaves(p, masks)
    )


def test_masked_adam_moments_of_pruned_weights_stay_zero(params):
    masks = P.compute_masks(params, 0.5)
    tx = P.wrap_optax(optax.adam(1e-2), masks)
    p, opt_state = P.apply_masks(params, masks), tx.init(params)
    for i in range(3):
        updates, opt_state = tx.update(_random_like(params, i), opt_state, p)
        p = optax.apply_updates(p, updates)
    adam_state = opt_state.inner_state[0]
    for moment in (adam_state.mu, adam_state.nu):
        for mom, m in _pruned_leaves(moment, masks):
            assert np.all(mom[~m] == 0.0)


def test_train_step_does_not_recompile_when_masks_change(params):
    model = _model()
    x = np.random.default_rng(0).normal(size=(8, 6, 5)).astype(np.float32)
    batch = {"x": x, "y": np.arange(8, dtype=np.int32) % 3, "weight": np.ones(8, np.float32)}
    masks = P.init_masks(params)
    state = train.create_train_state(
        model, jax.random.key(0), x[:1], tx=P.wrap_optax(optax.adam(1e-3), masks)
    )
    # The step `fit` runs, fed as `fit` feeds it (state replicated over the mesh first).
    mesh = train.make_mesh()
    train_step = train.make_sharded_train_step(mesh)
    state = jax.device_put(state, train.replicated(mesh))
    state, _ = train_step(state, batch, jax.random.key(1))  # compiles once
    before = train_step._cache_size()
    for r, target in enumerate((0.3, 0.6, 0.9)):
        masks = P.compute_masks(state.params, target, prev_masks=masks)
        state = P.set_state_masks(state, masks)
        state, _ = train_step(state, batch, jax.random.key(2 + r))
        assert _leaves_equal(P.get_masks(state.opt_state), masks)
    assert train_step._cache_size() == before
    for w, m in _pruned_leaves(state.params, masks):
        assert (~m).sum() == round(0.9 * m.size) and np.all(w[~m] == 0.0)


def test_update_masks_rejects_other_layout(params):
    masks = P.init_masks(params)
    opt_state = P.wrap_optax(optax.sgd(0.1), masks).init(params)
    other = P.init_masks(params, P.prunable_mask_tree(params, include_head=True))
    with pytest.raises(ValueError, match="structure"):
        P.update_masks(opt_state, other)
    with pytest.raises(ValueError, match="PruningState"):
        P.update_masks(optax.sgd(0.1).init(params), masks)
    # A PruningState nested in a chain is found.
    chained = optax.chain(P.wrap_optax(optax.sgd(0.1), masks)).init(params)
    new = P.compute_masks(params, 0.5)
    assert _leaves_equal(P.get_masks(P.update_masks(chained, new)), new)


# ------------------------------------------------------------------------------------------
# Eager vs jit, monotonicity
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_eager_and_jit_agree(params, criterion):
    prev = P.compute_masks(params, 0.3, criterion=criterion)
    noisy = _random_like(params, 7)
    eager = P.compute_masks(noisy, 0.7, criterion=criterion, prev_masks=prev)

    def compute(p, m):
        return P.compute_masks(p, 0.7, criterion=criterion, prev_masks=m)

    jitted = jax.jit(compute)(noisy, prev)
    assert _leaves_equal(eager, jitted)
    assert _leaves_equal(P.apply_masks(noisy, eager), jax.jit(P.apply_masks)(noisy, jitted))
    # A traced sparsity also works (rounded in float32: same counts for these sizes).
    traced = jax.jit(lambda p, m, s: P.compute_masks(p, s, criterion=criterion, prev_masks=m))
    assert _leaves_equal(eager, traced(noisy, prev, jnp.float32(0.7)))


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_masks_are_monotone_across_rounds(params, criterion):
    masks, p = None, params
    for r, target in enumerate((0.2, 0.5, 0.8)):
        new = P.compute_masks(p, target, criterion=criterion, prev_masks=masks)
        if masks is not None:
            for (_, old_m), (_, new_m) in zip(
                _pruned_leaves(p, masks), _pruned_leaves(p, new), strict=True
            ):
                assert not np.any(new_m & ~old_m)  # nothing regrows
        # "Fine-tune": new random values for the kept weights, pruned ones stay zero.
        masks, p = new, P.apply_masks(_random_like(params, r), new)
    # A lower target than what is already pruned leaves the masks unchanged.
    assert _leaves_equal(P.compute_masks(p, 0.1, criterion=criterion, prev_masks=masks), masks)


# ------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------


def test_one_shot_schedule():
    s = P.make_schedule("one-shot", target=0.8)
    assert s(0) == 0.8 and s(1000) == 0.8
    delayed = P.make_schedule("one-shot", target=0.8, begin_step=10)
    assert delayed(9) == 0.0 and delayed(10) == 0.8


def test_iterative_schedule():
    s = P.make_schedule("iterative", target=0.9, rounds=3)
    assert [s(r) for r in range(5)] == pytest.approx([0.0, 0.3, 0.6, 0.9, 0.9])


def test_polynomial_schedule_values_clamping_and_frequency():
    s = P.make_schedule(
        "polynomial", initial_sparsity=0.1, final_sparsity=0.9, begin_step=10, end_step=50
    )
    assert s(0) == pytest.approx(0.1) and s(10) == pytest.approx(0.1)
    assert s(30) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5**3)
    assert s(50) == pytest.approx(0.9) and s(500) == pytest.approx(0.9)
    f = P.make_schedule("polynomial", final_sparsity=0.8, begin_step=0, end_step=100, frequency=30)
    assert f(29) == pytest.approx(0.0)
    assert f(30) == f(59) == pytest.approx(0.8 - 0.8 * 0.7**3)
    assert f(99) == f(90) == pytest.approx(0.8 - 0.8 * 0.1**3)
    assert f(100) == pytest.approx(0.8)  # end_step is always an update point
    values = [f(t) for t in range(0, 120)]
    assert values == sorted(values)


def test_round_sparsities():
    assert P.round_sparsities("one-shot", 0.7, 5) == [0.7]
    assert P.round_sparsities("iterative", 0.8, 4) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    poly = P.round_sparsities("polynomial", 0.8, 2)
    assert poly == pytest.approx([0.8 - 0.8 * 0.5**3, 0.8])


def test_unknown_names_list_options(params):
    with pytest.raises(ValueError, match="iterative"):
        P.make_schedule("cosine", target=0.5)
    with pytest.raises(ValueError, match="layerwise"):
        P.compute_masks(params, 0.5, criterion="random")
    with pytest.raises(ValueError, match="one-shot"):
        P.round_sparsities("cosine", 0.5, 3)
    with pytest.raises(ValueError, match="global"):
        P.prune_and_finetune(
            _model(), params, None, None, None, None, num_classes=3, target=0.5,
            criterion="nope",
        )
    with pytest.raises(ValueError, match="rounds"):
        P.make_schedule("iterative", target=0.5, rounds=0)


# ------------------------------------------------------------------------------------------
# Report and persistence
# ------------------------------------------------------------------------------------------


def test_sparsity_report_is_json_and_consistent(params):
    masks = P.compute_masks(params, 0.5)
    report = P.sparsity_report(P.apply_masks(params, masks), P.prunable_mask_tree(params))
    json.dumps(report)
    assert report["layers"]["block_0/conv_0/kernel"]["prunable"]
    assert not report["layers"]["head/kernel"]["prunable"]
    n_params = sum(np.size(w) for w in jax.tree.leaves(params))
    assert report["all"]["size"] == n_params
    assert report["all"]["zeros"] >= report["prunable"]["zeros"] > 0
    assert report == P.sparsity_report(P.apply_masks(params, masks), masks)


def test_save_load_masks_round_trip(params, tmp_path):
    masks = P.compute_masks(params, 0.6, criterion="global")
    path = tmp_path / "masks.msgpack"
    P.save_masks(path, masks)
    loaded = P.load_masks(path, P.init_masks(params))
    assert jax.tree.structure(loaded, is_leaf=lambda x: x is None) == jax.tree.structure(
        masks, is_leaf=lambda x: x is None
    )
    assert _leaves_equal(loaded, masks)
    assert all(m.dtype == jnp.bool_ for m in jax.tree.leaves(loaded))
    assert path.read_bytes()[:1] != b"\x80"  # not a pickle


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype(np.int32)
    x = rng.normal(scale=0.3, size=(n, 6, 5)).astype(np.float32)
    x += (2.0 * y - 1.0)[:, None, None]  # class 0 around -1, class 1 around +1
    return x, y


def test_prune_and_finetune_smoke():
    model = LTCN(num_classes=2, channels=(4, 8), dilations=(1, 2), dropout_rate=0.0)
    x_tr, y_tr = _separable(256, 0)
    x_va, y_va = _separable(128, 1)
    common = {"num_classes": 2, "batch_size": 64, "progress": False}
    base = train.fit(model, x_tr, y_tr, x_va, y_va, epochs=3, learning_rate=1e-2, **common)
    assert base.best_val_macro_f1 > 0.95
    result = P.prune_and_finetune(
        model, base.params, x_tr, y_tr, x_va, y_va, target=0.8, schedule="iterative",
        rounds=2, finetune_epochs=1, learning_rate=1e-2, **common,
    )
    assert [h["target_sparsity"] for h in result.history] == pytest.approx([0.4, 0.8])
    for w, m in _pruned_leaves(result.params, result.masks):
        assert (w == 0).sum() == (~m).sum() == round(0.8 * m.size)
    for name, layer in result.report["layers"].items():
        if name.endswith("bias"):
            assert not layer["prunable"]
    assert result.history[-1]["sparsity"] == result.report["prunable"]["sparsity"]
    # One masked transform for all rounds: round 2 reuses round 1's compiled train step.
    if result.history[0]["num_compilations"] is not None:
        assert result.history[-1]["num_compilations"] == 0
    probs = train.predict_proba(model.apply, result.params, x_va)
    assert (probs.argmax(-1) == y_va).mean() > 0.9
    json.dumps(result.report)


def _numpy_magnitude_prune(flat, sparsity, structure):
    """The sweep's own pruning before it used ltcn_jax.pruning (kept as the reference): the
    smallest |w| of every block kernel, or the 1x4 blocks of smallest L2 norm."""
    from ltcn_kernels.arch import is_conv_kernel

    out = {}
    for path, w in flat.items():
        w = np.array(w, np.float32)
        if is_conv_kernel(path) and sparsity > 0:
            if structure == "block":
                blocks = w.reshape(-1, 4)
                blocks[np.argsort((blocks**2).sum(axis=1), kind="stable")[:round(sparsity * len(blocks))]] = 0
            else:
                w.ravel()[np.argsort(np.abs(w).ravel(), kind="stable")[:round(sparsity * w.size)]] = 0
        out[path] = w
    return out


def test_sweep_weights_are_the_pruning_packages_and_the_old_sweeps():
    # The sweep prunes with ltcn_jax.pruning's masks; for the default scale's seeded weights
    # that thins exactly the weights the sweep's former numpy pruning did. In blocks, the
    # package's count never over-prunes: where round(sparsity * weights) lies half-way between
    # two whole blocks it prunes the fewer, so a layer may keep one more block (the same
    # ranking otherwise).
    from ltcn_jax.bench import SPARSITIES, magnitude_prune, random_params, sweep_arch

    base = random_params(sweep_arch("default"), seed=0)
    for s in SPARSITIES:
        ours, before = magnitude_prune(base, s / 100), _numpy_magnitude_prune(base, s / 100, "unstructured")
        for path, w in ours.items():
            np.testing.assert_array_equal(w, before[path], err_msg=f"{s}% {path}")
    for s in (60, 80, 90):
        ours, before = magnitude_prune(base, s / 100, "block"), _numpy_magnitude_prune(base, s / 100, "block")
        for path, w in ours.items():
            if "block_" not in path or not path.endswith("kernel"):
                np.testing.assert_array_equal(w, before[path])
                continue
            pruned, was = (w.reshape(-1, 4) == 0).all(1), (before[path].reshape(-1, 4) == 0).all(1)
            assert not (pruned & ~was).any(), f"{s}% {path}: a block the old sweep kept"
            assert (was & ~pruned).sum() <= 1, f"{s}% {path}"
            if (was & ~pruned).sum():
                size, blocks = w.size, w.size // 4
                assert abs(4 * pruned.sum() - round(s / 100 * size)) == 2  # the half-way tie
                assert round(s / 100 * blocks) == pruned.sum() + 1
