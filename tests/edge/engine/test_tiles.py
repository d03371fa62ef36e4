"""The register-tile kernels: the committed source is the generator's, and a column gives the
same bits whichever tile, partial tile, row group or kernel width computes it."""

from __future__ import annotations

import numpy as np
import pytest

from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.engine import EngineModel, _tilegen, logits_sequence, logits_windows
from ltcn_kernels.engine import _kernels as K


def test_committed_tiles_are_the_generators_output():
    assert _tilegen.TARGET.read_text() == _tilegen.render()
    assert K.TILE_WIDTH in _tilegen.ROW_WIDTHS
    assert K.GROUP_TILE_WIDTH in _tilegen.GROUP_WIDTHS and K.GROUP_TILE_WIDTH in _tilegen.ROW_WIDTHS
    assert K.GROUP == _tilegen.GROUP


def _model(rng, fmt, channels=(16, 24), dilations=(1, 4), k=3, features=5):
    arch = LTCNArch(n_features=features, num_classes=3, channels=channels, dilations=dilations,
                    kernel_size=k)
    flat = {p: (rng.standard_normal(s) * (rng.random(s) > 0.6)).astype(np.float32)
            for p, s in arch.param_shapes().items()}
    return EngineModel.from_arch(arch, flat, format=fmt)


@pytest.mark.parametrize("fmt", ["sparse", "dense"])
def test_sequence_bits_do_not_depend_on_where_tiles_fall(fmt):
    rng = np.random.default_rng(7)
    model = _model(rng, fmt)
    x = rng.standard_normal((3 * K.TILE_WIDTH + 11, model.n_features)).astype(np.float32)
    whole = logits_sequence(model, x)
    # Chunks that are shorter than a tile, a tile plus a remainder, and several tiles.
    for chunk in (1, 7, K.TILE_WIDTH - 1, K.TILE_WIDTH + 5, 2 * K.TILE_WIDTH):
        np.testing.assert_array_equal(logits_sequence(model, x, chunk=chunk), whole)


@pytest.mark.parametrize("window", [1, 2, 9, 40])
def test_windows_bits_do_not_depend_on_grouping_and_sparse_equals_dense(window):
    rng = np.random.default_rng(window)
    sparse, dense = _model(rng, "sparse"), None
    rng2 = np.random.default_rng(window)
    dense = _model(rng2, "dense")
    x = rng.standard_normal((150, window, sparse.n_features)).astype(np.float32)
    ref = logits_windows(sparse, x)
    for group in (1, 64, 4096):
        np.testing.assert_array_equal(logits_windows(sparse, x, group_columns=group), ref)
    np.testing.assert_array_equal(logits_windows(dense, x), ref)
    # Each window equals the last step of its own sequence (causal zero padding).
    np.testing.assert_allclose(
        np.stack([logits_sequence(sparse, w)[-1] for w in x[:10]]), ref[:10], rtol=0, atol=1e-6
    )


def _block_model(rng, fmt, channels=(8, 10), dilations=(1, 4), k=3, features=5, classes=6):
    """Weights pruned in 1x4 blocks along the output channels (10 channels and 6 classes: a
    partial last group), so the sparse engine takes the group kernel where it can."""
    arch = LTCNArch(n_features=features, num_classes=classes, channels=channels,
                    dilations=dilations, kernel_size=k)
    flat = {}
    for p, s in arch.param_shapes().items():
        w = rng.standard_normal(s).astype(np.float32)
        if p.endswith("/kernel"):
            c_out = s[-1]
            keep = rng.random((*s[:-1], -(-c_out // 4))) > 0.6  # one draw per block
            w *= np.repeat(keep, 4, axis=-1)[..., :c_out]
        flat[p] = w
    return EngineModel.from_arch(arch, flat, format=fmt), flat


def test_block_pruned_layers_take_the_group_kernel_and_keep_every_bit():
    from ltcn_kernels.engine._layout import tile_layout

    rng = np.random.default_rng(11)
    sparse, flat = _block_model(rng, "sparse")
    dense = EngineModel.from_arch(sparse.arch, flat, format="dense")
    _, groups = tile_layout(sparse.meta, sparse.indices, sparse.indptr, sparse.nnz, False)
    convs = [r for r, name in enumerate(sparse.layer_names) if "conv" in name]
    assert all(groups[r] == K.GROUP for r in convs)  # every block-pruned conv runs in groups
    # Unstructured weights of the same shapes run row by row.
    plain = _model(np.random.default_rng(1), "sparse", channels=(8, 10))
    _, plain_groups = tile_layout(plain.meta, plain.indices, plain.indptr, plain.nnz, False)
    assert all(plain_groups[r] == 1 for r in convs)
    # Group, row and one-step kernels agree to the bit: sequences in chunks that split tiles,
    # windows shorter than a layer's padding, and the dense format (groups everywhere).
    x = rng.standard_normal((2 * K.TILE_WIDTH + 13, sparse.n_features)).astype(np.float32)
    whole = logits_sequence(sparse, x)
    for chunk in (1, 5, K.GROUP_TILE_WIDTH + 3, 3 * K.TILE_WIDTH):
        np.testing.assert_array_equal(logits_sequence(sparse, x, chunk=chunk), whole)
    np.testing.assert_array_equal(logits_sequence(dense, x), whole)
    for window in (1, 3, 30):
        w = rng.standard_normal((70, window, sparse.n_features)).astype(np.float32)
        ref = logits_windows(sparse, w)
        np.testing.assert_array_equal(logits_windows(dense, w), ref)
        np.testing.assert_allclose(np.stack([logits_sequence(sparse, s)[-1] for s in w[:5]]),
                                   ref[:5], rtol=0, atol=1e-6)


def test_group_detection_needs_identical_patterns_in_every_full_group():
    from ltcn_kernels.engine._layout import _shares_pattern

    starts = np.array([0, 2, 4, 6, 8, 9])  # two columns in rows 0-3, one in the partial row 4
    cols = np.array([1, 5, 1, 5, 1, 5, 1, 5, 3])
    assert _shares_pattern(starts, cols, 4)
    assert not _shares_pattern(starts, np.array([1, 5, 1, 5, 1, 6, 1, 5, 3]), 4)
    assert not _shares_pattern(np.array([0, 2, 4, 6, 7]), np.arange(7), 4)  # lengths differ
    assert not _shares_pattern(np.array([0, 1, 2]), np.arange(2), 4)  # no full group


@pytest.mark.parametrize("kind,width", [("rows", 16), ("rows", 32), ("groups", 16)])
def test_tile_kernels_of_other_cpus_compute_the_same_bits(kind, width):
    """The widths another CPU takes (AVX2 and NEON: 32-column rows, 16-column groups) are
    never run by the engine on an AVX-512 host: call them directly against a numpy reference
    and, to the bit, against the kernel of the same kind this host uses."""
    from ltcn_kernels.engine import _tiles

    rng = np.random.default_rng(width)
    rows, n_in, nnz_row = 8, 40, 9
    tile = rng.standard_normal(n_in * width).astype(np.float32)  # n_in packed input rows
    cols = np.sort(np.stack([rng.choice(n_in, nnz_row, replace=False) for _ in range(rows)]))
    if kind == "groups":  # four rows share each pattern
        cols = np.repeat(cols[::4], 4, axis=0)
    values = rng.standard_normal(rows * nnz_row).astype(np.float32)
    js = np.arange(rows, dtype=np.int64) * nnz_row
    je = js + nnz_row
    bias = rng.standard_normal(rows).astype(np.float32)
    want = np.maximum(bias[:, None] + np.stack(
        [values[js[o]:je[o]] @ tile.reshape(n_in, width)[cols[o]] for o in range(rows)]), 0)
    out = {}
    for w in (width, K.GROUP_TILE_WIDTH if kind == "groups" else K.TILE_WIDTH):
        offsets = (cols.ravel() * w).astype(np.uint32)  # this width's packed-tile offsets
        t = np.zeros(n_in * w, np.float32)
        t.reshape(n_in, w)[:, :width] = tile.reshape(n_in, width)
        dst = np.zeros((rows, w + 3), np.float32)
        getattr(_tiles, f"{kind}_tile_tw{w}")(values, offsets, js, je, t, dst, 0, rows,
                                              np.uint64(1), bias, 0, True, True)
        out[w] = dst[:, 1 : 1 + width]
    np.testing.assert_allclose(out[width], want, rtol=1e-5, atol=1e-5)
    for w, got in out.items():
        np.testing.assert_array_equal(got, out[width], err_msg=f"width {w}")
