"""Block pruning (``structure="block"``): 1xB blocks of output channels, against a numpy
reference; the unstructured default unchanged; the engine's matrix sees whole blocks."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from ltcn_jax import pruning as P
from ltcn_jax import train
from ltcn_jax.config import PRUNE_STRUCTURES, PruneConfig, load_config, override
from ltcn_jax.models import LTCN
from ltcn_kernels.engine.csr import kernel_matrix

TARGETS = (0.0, 0.4, 0.6, 0.8, 0.9)
# Shapes of a small L-TCN (k=3, 5 features, channels (6, 10), one residual) plus a head with
# 5 classes: c_out = 6, 10 and 5 are not multiples of 4 (partial last blocks), 1x1 residual.
SHAPES = {
    "block_0/conv_0/kernel": (3, 5, 6),
    "block_0/conv_1/kernel": (3, 6, 6),
    "block_0/residual/kernel": (1, 5, 6),
    "block_1/conv_0/kernel": (3, 6, 10),
    "block_1/conv_1/kernel": (3, 10, 10),
    "block_1/residual/kernel": (1, 6, 10),
    "block_2/conv_0/kernel": (3, 10, 16),
    "head/kernel": (16, 5),
}


def _tree(shapes: dict[str, tuple[int, ...]], seed: int, ties: bool = False) -> dict:
    """Nested params ``{"block_0": {"conv_0": {"kernel", "bias"}}, ...}`` from a seeded rng."""
    rng = np.random.default_rng(seed)
    tree: dict = {}
    for path, shape in shapes.items():
        *mods, _ = path.split("/")
        node = tree
        for m in mods:
            node = node.setdefault(m, {})
        w = rng.integers(-2, 3, size=shape) if ties else rng.normal(size=shape)
        node["kernel"] = w.astype(np.float32)
        node["bias"] = rng.normal(size=shape[-1:]).astype(np.float32)
    return tree


def _get(tree, path: str):
    for key in path.split("/"):
        tree = tree[key]
    return tree


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def _prunable_paths(masks) -> list[str]:
    flat = jax.tree_util.tree_flatten_with_path(masks, is_leaf=lambda x: x is None)[0]
    return [jax.tree_util.keystr(p, simple=True, separator="/") for p, m in flat if m is not None]


# ------------------------------------------------------------------------------------------
# numpy reference
# ------------------------------------------------------------------------------------------


def _ref_blocks(w: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(RMS score, size) of every block, position-major: rows ``block*b .. block*b+block-1``
    of each column of the engine's ``c_out x (k*c_in)`` matrix."""
    mat = kernel_matrix(w)  # c_out x positions; column = tap * c_in + c
    c_out = mat.shape[0]
    scores, sizes = [], []
    for col in range(mat.shape[1]):
        for start in range(0, c_out, block):
            values = mat[start : start + block, col].astype(np.float64)
            scores.append(np.sqrt(np.mean(values**2)))
            sizes.append(values.size)
    return np.array(scores), np.array(sizes)


def _ref_mask(w: np.ndarray, target: float, block: int) -> np.ndarray:
    """Layer-wise block mask: prune the lowest-RMS blocks (stable order), as many as brings
    the pruned count closest to ``round(target * size)`` (fewer on a tie)."""
    scores, sizes = _ref_blocks(w, block)
    order = np.argsort(scores, kind="stable")
    counts = np.concatenate([[0], np.cumsum(sizes[order])])
    k = int(np.argmin(np.abs(counts - round(target * w.size))))
    keep_block = np.ones(scores.size, bool)
    keep_block[order[:k]] = False
    # Back to the kernel: block j of column col covers rows block*j.. of that column.
    c_out = w.shape[-1]
    n_blocks = -(-c_out // block)
    rows = np.repeat(keep_block.reshape(-1, n_blocks), block, axis=1)[:, :c_out]  # = matrix.T
    return rows.reshape(w.shape)  # row tap * c_in + c of the transposed matrix is w[tap, c]


def _assert_exact_blocks(mask: np.ndarray, block: int) -> None:
    """Every column of every group of ``block`` output rows is all kept or all pruned."""
    mat = kernel_matrix(mask.astype(np.float32)) != 0  # c_out x (k*c_in)
    for start in range(0, mat.shape[0], block):
        group = mat[start : start + block]
        assert np.all(group.all(axis=0) | ~group.any(axis=0)), (start, group.astype(int))


# ------------------------------------------------------------------------------------------
# Structure of the masks, counts, which blocks are kept
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", P.CRITERIA)
@pytest.mark.parametrize("target", TARGETS)
def test_masks_are_exact_blocks_near_target(criterion, target):
    params = _tree(SHAPES, seed=0)
    prunable = P.prunable_mask_tree(params, include_head=True)
    masks = P.compute_masks(params, target, criterion=criterion, prunable=prunable,
                            structure="block")
    sizes = zeros = 0
    for path in _prunable_paths(masks):
        m = np.asarray(_get(masks, path))
        _assert_exact_blocks(m, 4)
        sizes, zeros = sizes + m.size, zeros + int((~m).sum())
        if criterion == "layerwise":  # within half a block (so within one) of the target
            assert abs((~m).sum() - round(target * m.size)) <= 2, path
    if criterion == "global":
        assert abs(zeros - round(target * sizes)) <= 2
    # Biases are never pruned; the head only when asked for.
    assert masks["block_0"]["conv_0"]["bias"] is None
    assert P.compute_masks(params, 0.5, structure="block")["head"]["kernel"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("target", TARGETS)
def test_layerwise_matches_numpy_reference(seed, target):
    params = _tree(SHAPES, seed=seed)
    prunable = P.prunable_mask_tree(params, include_head=True)
    masks = P.compute_masks(params, target, prunable=prunable, structure="block")
    for path in _prunable_paths(masks):
        w = _get(params, path)
        np.testing.assert_array_equal(np.asarray(_get(masks, path)), _ref_mask(w, target, 4), path)


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_kept_blocks_have_the_largest_norms(criterion):
    params = _tree(SHAPES, seed=3)
    masks = P.compute_masks(params, 0.7, criterion=criterion, structure="block")
    kept, pruned = [], []
    for path in _prunable_paths(masks):
        scores, _ = _ref_blocks(_get(params, path), 4)
        # The first row of each group stands for its block (blocks are exact, tested above);
        # transposed to the reference's order: column, then group.
        keep = kernel_matrix(np.asarray(_get(masks, path), np.float32))[::4].T.ravel() != 0
        if criterion == "layerwise":
            assert scores[keep].min() >= scores[~keep].max(), path
        kept.append(scores[keep])
        pruned.append(scores[~keep])
    if criterion == "global":  # one ranking over every layer's blocks
        assert np.concatenate(kept).min() >= np.concatenate(pruned).max()


def test_partial_last_block_is_scored_per_weight():
    # c_out = 6 -> blocks of 4 and 2. Full block at 0.6 per weight (L2 1.2, RMS 0.6), the
    # partial one at 0.8 (L2 1.13, RMS 0.8): by RMS the FULL block goes first.
    w = np.zeros((1, 1, 6), np.float32)
    w[..., :4], w[..., 4:] = 0.6, 0.8
    params = {"block_0": {"conv_0": {"kernel": w, "bias": np.zeros(6, np.float32)}}}
    m = np.asarray(P.compute_masks(params, 0.6, structure="block")["block_0"]["conv_0"]["kernel"])
    np.testing.assert_array_equal(m.ravel(), [False] * 4 + [True] * 2)
    # Blocks go in score order only: 2 of 6 asked for (0.3) is 0 or 4 (the full block first),
    # a tie, and the tie prunes fewer: nothing. With the partial block the weaker, it goes.
    m = np.asarray(P.compute_masks(params, 0.3, structure="block")["block_0"]["conv_0"]["kernel"])
    assert m.all()
    w[..., 4:] = 0.5
    m = np.asarray(P.compute_masks(params, 0.3, structure="block")["block_0"]["conv_0"]["kernel"])
    np.testing.assert_array_equal(m.ravel(), [True] * 4 + [False] * 2)
    # c_out smaller than the block: one partial block per position.
    small = _tree({"block_0/conv_0/kernel": (2, 3, 3)}, seed=5)
    masks = P.compute_masks(small, 0.5, structure="block")
    mk = np.asarray(masks["block_0"]["conv_0"]["kernel"])
    _assert_exact_blocks(mk, 4)
    assert (~mk).sum() == 9  # 3 of the 6 positions, closest to round(0.5 * 18) = 9
    np.testing.assert_array_equal(mk, _ref_mask(small["block_0"]["conv_0"]["kernel"], 0.5, 4))


def test_block_of_one_is_unstructured_layerwise():
    params = _tree(SHAPES, seed=4)
    for target in TARGETS:
        a = P.compute_masks(params, target, structure="block", block=1)
        b = P.compute_masks(params, target)
        for path in _prunable_paths(b):
            np.testing.assert_array_equal(np.asarray(_get(a, path)), np.asarray(_get(b, path)))


_shapes = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 11)), min_size=1, max_size=3
)


@settings(max_examples=25, deadline=None)
@given(
    shapes=_shapes,
    target=st.one_of(st.sampled_from(TARGETS), st.floats(0.0, 1.0)),
    block=st.sampled_from([1, 2, 3, 4, 8]),
    seed=st.integers(0, 2**31 - 1),
    ties=st.booleans(),
    criterion=st.sampled_from(P.CRITERIA),
)
def test_block_property(shapes, target, block, seed, ties, criterion):
    params = _tree({f"block_{i}/conv_0/kernel": s for i, s in enumerate(shapes)}, seed, ties)
    masks = P.compute_masks(params, target, criterion=criterion, structure="block", block=block)
    sizes = zeros = 0
    for path in _prunable_paths(masks):
        w, m = _get(params, path), np.asarray(_get(masks, path))
        _assert_exact_blocks(m, block)
        sizes, zeros = sizes + m.size, zeros + int((~m).sum())
        if criterion == "layerwise":
            assert abs((~m).sum() - round(target * m.size)) <= block / 2
            if not ties:  # ties: equal scores may fall either side at float precision
                np.testing.assert_array_equal(m, _ref_mask(w, target, block))
    layers = 1 if criterion == "global" else len(shapes)
    assert abs(zeros - round(target * sizes)) <= block / 2 * layers


# ------------------------------------------------------------------------------------------
# Rounds, jit, the driver
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_monotone_rounds_stay_blocks(criterion):
    masks, p = None, _tree(SHAPES, seed=6)
    for r, target in enumerate((0.3, 0.6, 0.9)):
        new = P.compute_masks(p, target, criterion=criterion, prev_masks=masks, structure="block")
        for path in _prunable_paths(new):
            m = np.asarray(_get(new, path))
            _assert_exact_blocks(m, 4)
            if masks is not None:
                assert not np.any(m & ~np.asarray(_get(masks, path))), path  # nothing regrows
        # "Fine-tune": new values for the kept weights, pruned ones stay zero.
        masks, p = new, P.apply_masks(_tree(SHAPES, seed=100 + r), new)
    again = P.compute_masks(p, 0.1, criterion=criterion, prev_masks=masks, structure="block")
    assert _leaves_equal(again, masks)


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_block_eager_and_jit_agree(criterion):
    params = _tree(SHAPES, seed=7)
    prev = P.compute_masks(params, 0.3, criterion=criterion, structure="block")
    noisy = P.apply_masks(_tree(SHAPES, seed=8), prev)

    def compute(p, m, s):
        return P.compute_masks(p, s, criterion=criterion, prev_masks=m, structure="block")

    eager = compute(noisy, prev, 0.7)
    traced = jax.jit(compute)(noisy, prev, jnp.float32(0.7))
    assert _leaves_equal(eager, traced)


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype(np.int32)
    x = rng.normal(scale=0.3, size=(n, 6, 5)).astype(np.float32)
    x += (2.0 * y - 1.0)[:, None, None]
    return x, y


def test_prune_and_finetune_block_keeps_blocks():
    model = LTCN(num_classes=2, channels=(4, 8), dilations=(1, 2), dropout_rate=0.0)
    x_tr, y_tr = _separable(256, 0)
    x_va, y_va = _separable(128, 1)
    common = {"num_classes": 2, "batch_size": 64, "progress": False}
    base = train.fit(model, x_tr, y_tr, x_va, y_va, epochs=2, learning_rate=1e-2, **common)
    result = P.prune_and_finetune(
        model, base.params, x_tr, y_tr, x_va, y_va, target=0.75, rounds=2, finetune_epochs=1,
        learning_rate=1e-2, structure="block", **common,
    )
    for path in _prunable_paths(result.masks):
        w, m = np.asarray(_get(result.params, path)), np.asarray(_get(result.masks, path))
        _assert_exact_blocks(m, 4)
        assert np.all(w[~m] == 0) and (w[m] != 0).all()  # fine-tuning kept the blocks at 0
        assert abs((~m).sum() - round(0.75 * m.size)) <= 2
    json.dumps(result.report)


# ------------------------------------------------------------------------------------------
# Names, config, the unstructured default
# ------------------------------------------------------------------------------------------


def test_unknown_structure_lists_options():
    params = _tree(SHAPES, seed=0)
    with pytest.raises(ValueError, match=r"options: \['unstructured', 'block'\]"):
        P.compute_masks(params, 0.5, structure="2:4")
    with pytest.raises(ValueError, match="unstructured"):
        P.prune_and_finetune(None, params, None, None, None, None, num_classes=2, target=0.5,
                             structure="channel")
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="block size"):
            P.compute_masks(params, 0.5, structure="block", block=bad)
    with pytest.raises(ValueError, match="unstructured, block"):
        PruneConfig(structure="blocks")
    with pytest.raises(ValueError, match="block"):
        PruneConfig(structure="block", block=0)


EXPERIMENTS = REPO / "experiments"


def test_config_key_and_names_agree():
    assert P.STRUCTURES == PRUNE_STRUCTURES
    assert PruneConfig().structure == "unstructured" and PruneConfig().block == P.DEFAULT_BLOCK
    config = load_config(EXPERIMENTS / "nsl_kdd_ablation.py")
    config = override(config, ["prune.structure=block", "prune.block=8"])
    assert (config.prune.structure, config.prune.block) == ("block", 8)
    with pytest.raises(ValueError, match="unstructured, block"):
        override(config, ["prune.structure=rows"])


@pytest.mark.parametrize("name", ["nsl_kdd", "cicids2017", "bot_iot"])
def test_block_ablation_configs_change_only_the_structure(name):
    base = load_config(EXPERIMENTS / f"{name}_ablation.py")
    block = load_config(EXPERIMENTS / f"{name}_ablation_block.py")
    assert block.name == f"{name}_ablation_block"
    assert (block.prune.structure, block.prune.block) == ("block", 4)
    assert base.prune.structure == "unstructured"
    assert dataclasses.replace(block.prune, structure="unstructured") == base.prune
    assert (block.data, block.model, block.train) == (base.data, base.model, base.train)


def _digest(masks) -> str:
    h = hashlib.sha256()
    for m in jax.tree.leaves(masks):
        h.update(np.packbits(np.asarray(m, bool)).tobytes())
    return h.hexdigest()[:16]


# sha256 of the masks below as computed by the code BEFORE the structure option existed
# (commit 977df4d): the default (unstructured) path must stay bit-for-bit the same.
UNSTRUCTURED_GOLDEN = {"layerwise": "98495cac0ed8c280", "global": "94865e431b0261e7"}


@pytest.mark.parametrize("criterion", P.CRITERIA)
def test_unstructured_default_unchanged(criterion):
    params = _tree(SHAPES, seed=11)
    prunable = P.prunable_mask_tree(params, include_head=True)
    rounds, explicit, p = [], None, params
    masks = None
    for target in (0.4, 0.6, 0.8, 0.9):
        masks = P.compute_masks(p, target, criterion=criterion, prunable=prunable, prev_masks=masks)
        explicit = P.compute_masks(p, target, criterion=criterion, prunable=prunable,
                                   prev_masks=explicit, structure="unstructured")
        rounds.append(masks)
        p = P.apply_masks(_tree(SHAPES, seed=12 + len(rounds)), masks)
    assert _digest(rounds) == _digest([*rounds[:-1], explicit])
    assert _digest(rounds) == UNSTRUCTURED_GOLDEN[criterion]


# ------------------------------------------------------------------------------------------
# What the engine sees
# ------------------------------------------------------------------------------------------


def test_engine_matrix_has_identical_rows_in_each_block():
    """A block-pruned kernel as the engine stores it (``c_out x (k*c_in)``, CSR of the exact
    zeros): the non-zero columns of the 4 rows of every output group are the same."""
    params = _tree(SHAPES, seed=13)
    masks = P.compute_masks(params, 0.8, structure="block")
    pruned = P.apply_masks(params, masks)
    for path in _prunable_paths(masks):
        mat = kernel_matrix(np.asarray(_get(pruned, path)))
        nz = mat != 0
        for start in range(0, mat.shape[0], 4):
            group = nz[start : start + 4]
            assert (group == group[0]).all(), (path, start)
        assert abs((~nz).sum() - round(0.8 * mat.size)) <= 2


# ------------------------------------------------------------------------------------------
# The ablation report
# ------------------------------------------------------------------------------------------

RESULTS = REPO / "results"


def test_ablation_report_names_the_structure(tmp_path):
    from ltcn_jax import report

    committed = RESULTS / "nsl_kdd_ablation"
    if not (committed / "ablation.json").is_file():
        pytest.skip("committed ablation results not present")
    saved = json.loads((committed / "ablation.json").read_text())
    result = {"name": "nsl_kdd_ablation", "dataset": "nsl-kdd", "split": "official",
              "ablation": saved["rows"]}
    # Unstructured rows (no structure key): the committed report, byte for byte.
    report.write_ablation(tmp_path, result, saved["command"])
    assert (tmp_path / "ablation.md").read_text() == (committed / "ablation.md").read_text()
    assert (tmp_path / "ablation.json").read_text() == (committed / "ablation.json").read_text()
    # Block rows say so in the text and in each pruned row's label.
    rows = [{**r, "structure": "block", "block": 4} for r in saved["rows"]]
    report.write_ablation(tmp_path, {**result, "ablation": rows}, "cmd")
    text = (tmp_path / "ablation.md").read_text()
    assert "layer-wise magnitude, in 1x4 blocks of output channels" in text
    assert "| L-TCN pruned 80 % (1x4 blocks) |" in text and "| L-TCN dense |" in text
