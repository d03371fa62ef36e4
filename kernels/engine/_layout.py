"""The tile kernels' view of an :class:`~ltcn_kernels.engine.model.EngineModel`, derived once
per model on this host: which layers run in row groups, and each stored weight's offset into
the packed input tile.

Packed input tile (:func:`ltcn_kernels.engine._kernels._pack_tile`): for a tile of ``W``
output columns of a layer with ``pad = d * (k - 1)``, input channel ``c`` occupies
``W + pad`` consecutive floats starting at ``c * (W + pad)``, holding the input columns
``base - pad .. base + W - 1``. The weight at kernel column ``tap * c_in + c`` (time shift
``(k - 1 - tap) * d``) reads ``W`` contiguous floats from ``c * (W + pad) + pad - shift``: that
offset is stored per weight, so the kernel does no index arithmetic.

Row groups: where every group of ``GROUP`` consecutive output rows of a layer shares one column
pattern (1x4 block pruning; every dense layer), the layer runs in the group kernel, which loads
each input once for the ``GROUP`` rows (rows past the last full group run alone). Any other
layer runs row by row. Tile widths are a property of this CPU (``TILE_WIDTH`` for rows,
``GROUP_TILE_WIDTH`` for groups), so this layout is derived at load time and never stored in
an artifact; it costs 4 bytes per stored weight.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as _k


def _row_starts(meta_row: np.ndarray, indptr: np.ndarray, dense: bool) -> np.ndarray:
    """Start of each output row's weights in ``values``, and the end of the last."""
    c_out, kc = int(meta_row[_k.M_COUT]), int(meta_row[_k.M_K] * meta_row[_k.M_CIN])
    voff = int(meta_row[_k.M_VAL_OFF])
    if dense:
        return voff + kc * np.arange(c_out + 1, dtype=np.int64)
    poff = int(meta_row[_k.M_PTR_OFF])
    return voff + indptr[poff : poff + c_out + 1].astype(np.int64)


def _shares_pattern(starts: np.ndarray, cols: np.ndarray, group: int) -> bool:
    """Whether every full group of ``group`` rows holds the same columns in each of its rows
    (``cols``: the layer's column indices, ``starts``: its row starts in ``values``)."""
    c_out = starts.shape[0] - 1
    full = c_out - c_out % group
    if full == 0:
        return False
    lengths = np.diff(starts[: full + 1]).reshape(-1, group)
    if not np.all(lengths == lengths[:, :1]):
        return False
    rel = starts - starts[0]
    for g in range(0, full, group):
        lead = cols[rel[g] : rel[g + 1]]
        for r in range(g + 1, g + group):
            if not np.array_equal(cols[rel[r] : rel[r + 1]], lead):
                return False
    return True


def tile_layout(meta: np.ndarray, indices: np.ndarray, indptr: np.ndarray, nnz: int,
                dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets u32[max(nnz, 1)], groups i64[n_layers])`` for the engine's tile kernels."""
    offsets = np.zeros(max(nnz, 1), np.uint32)
    groups = np.ones(meta.shape[0], np.int64)
    for r in range(meta.shape[0]):
        row = meta[r]
        if row[_k.M_ROLE] == _k.ROLE_IDENTITY:
            continue
        c_in, k, d, pad = (int(row[c]) for c in (_k.M_CIN, _k.M_K, _k.M_DIL, _k.M_PAD))
        starts = _row_starts(row, indptr, dense)
        lo, hi = int(starts[0]), int(starts[-1])
        if dense:
            cols = np.tile(np.arange(k * c_in, dtype=np.int64), int(row[_k.M_COUT]))
        else:
            cols = indices[lo:hi].astype(np.int64)
        group = _k.GROUP if _shares_pattern(starts, cols, _k.GROUP) else 1
        width = _k._width_for(group)
        tap, c = np.divmod(cols, c_in)
        offsets[lo:hi] = c * (width + pad) + pad - (k - 1 - tap) * d
        groups[r] = group
    return offsets, groups
