"""The register-tile kernels: the committed source is the generator's, and a column gives the
same bits whether it falls in a tile or in the axpy remainder."""

from __future__ import annotations

import numpy as np
import pytest

from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.engine import EngineModel, _tilegen, logits_sequence, logits_windows
from ltcn_kernels.engine import _kernels as K


def test_committed_tiles_are_the_generators_output():
    assert _tilegen.TARGET.read_text() == _tilegen.render()
    assert K.TILE_WIDTH in _tilegen.WIDTHS


def _model(rng, fmt, channels=(16, 24), dilations=(1, 4), k=3, features=5):
    arch = LTCNArch(n_features=features, num_classes=3, channels=channels, dilations=dilations,
                    kernel_size=k)  # fmt: skip
    flat = {p: (rng.standard_normal(s) * (rng.random(s) > 0.6)).astype(np.float32)
            for p, s in arch.param_shapes().items()}  # fmt: skip
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
