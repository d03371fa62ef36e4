"""Numba kernels of the L-TCN inference engine: one compiled call runs the whole network.

The kernels take the flattened model (see :mod:`ltcn_kernels.engine` for the layout), the
input and preallocated outputs; every check that needs Python lives in the wrapper.

Activation buffers
------------------
``buf`` is ``f32[3, C_max, nb * L]``: three rotating activation buffers (block input, and two
for the convolutions inside a block), ``C_max`` rows (channels), and for each of the ``nb``
sequences of a group a segment of ``L = P + T_cap`` columns: ``P = max_layer d * (k - 1)``
columns of causal left padding followed by the time steps. Time step ``t`` of sequence ``s``
is column ``s * L + P + t``; a weight with time shift ``sh`` reads column ``s * L + P + t - sh``,
which is never negative, so no bounds juggling is needed in the inner loop:

* windows mode: the padding columns are zero and never written (zero causal padding);
* sequence / streaming mode (``nb == 1``): before each dilated convolution the layer's
  history (its last ``d * (k - 1)`` inputs, kept in ``state``) is copied into the padding
  columns and afterwards the new history is copied back. A fresh (zero) state is exactly the
  zero padding, so a stream fed in chunks of any size performs the same floating-point
  operations in the same order as one long call: the results are bitwise identical.

Inner loop
----------
A layer runs column tile by column tile (``TILE_WIDTH`` columns, ``GROUP_TILE_WIDTH`` for row
groups), and inside a tile output row by output row, so the tile's input stays in cache while
every row reads it. Each tile's input columns are first packed into one contiguous block
(:func:`_pack_tile`; one row of ``W + pad`` floats per input channel), and every stored weight
carries its offset into that block (:mod:`ltcn_kernels.engine._layout`, derived per host). The
row kernels (:mod:`ltcn_kernels.engine._tiles`) hold the tile's outputs in registers: per
stored weight one offset load, one broadcast, ``W`` contiguous loads and fused multiply-adds,
one store per tile. Layers whose rows share their column pattern in groups of ``GROUP`` (1x4
block pruning, and every dense layer) run in the group kernel, where each input load feeds
``GROUP`` rows. A segment's last, partial tile is computed whole and stored in part; the
buffers end with ``SLACK`` columns that such a tile may read. One output step (``nb == 1``,
``n == 1``) takes the matrix-vector path (:func:`_single_step`). Every path (tiles, groups,
the one-step path and the stream's kernel) computes ``acc = bias``, then ``acc = fma(w, x,
acc)`` over the row's weights in ascending column order (``fastmath={"contract"}``), so a
step's bits do not depend on which path, tile, group or chunk computed it. Offsets are
``uint64``: with signed indices Numba emits a negative index wraparound check that keeps LLVM
from vectorising the loop (measured ~10x). The bias is written first, the ReLU applied
before the store; the residual (1x1 conv or identity) is accumulated straight into the
block's last activation, then ReLU. Nothing compiles at import.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The tile kernels rely on LLVM's SLP vectorizer (and, on AVX-512 hosts, 512-bit vectors):
# ltcn_kernels/_numba_setup.py switches both on before Numba starts.
from .._numba_setup import has_avx512
from . import _tiles

# Layer roles (meta column M_ROLE).
ROLE_CONV = 0  # dilated causal conv + ReLU
ROLE_RESIDUAL = 1  # 1x1 conv of the block input added to the block's last activation, ReLU
ROLE_IDENTITY = 2  # block input added to the block's last activation, ReLU (no weights)
ROLE_HEAD = 3  # dense head (1x1 conv, no ReLU); always the last row

# Meta table columns (int64).
M_ROLE = 0
M_BLOCK = 1
M_J = 2  # conv index inside the block (-1 for residual / identity / head)
M_CIN = 3
M_COUT = 4
M_K = 5
M_DIL = 6
M_PAD = 7  # d * (k - 1): history the layer needs
M_VAL_OFF = 8  # first entry in values (and, for CSR, in indices)
M_NNZ = 9  # stored entries (CSR non-zeros, or c_out * k * c_in for dense)
M_PTR_OFF = 10  # first entry of the layer's indptr (c_out + 1 entries, relative); -1 if dense
M_BIAS_OFF = 11  # first entry in bias (c_out entries)
M_STATE_OFF = 12  # first entry of the layer's history in the stream state (c_in * pad)
N_META = 13

_U0 = np.uint64(0)


def _tile_width() -> int:
    """Columns per register tile of one row for this CPU: 64 floats with AVX-512 (32 vector
    registers), 32 otherwise (AVX2's 16 ymm, NEON's 32 q registers on a Cortex-A72). Chosen from
    the host's features, which are part of Numba's cache key, so a cached kernel always matches."""
    return 64 if has_avx512() else 32


TILE_WIDTH = _tile_width()
GROUP = 4  # rows of a group kernel (must equal _tilegen.GROUP; a test checks)
GROUP_TILE_WIDTH = TILE_WIDTH // 2  # GROUP rows x W/2 columns: twice the accumulators of a row
SLACK = TILE_WIDTH  # buffer columns after the last segment: a partial tile reads (not stores) them
_rows_tile = getattr(_tiles, f"rows_tile_tw{TILE_WIDTH}")
_group_rows_tile = getattr(_tiles, f"rows_tile_tw{GROUP_TILE_WIDTH}")  # rows after the last group
_groups_tile = getattr(_tiles, f"groups_tile_tw{GROUP_TILE_WIDTH}")


@njit(cache=True)
def _other(a, b):
    """The smallest buffer index in {0, 1, 2} that is neither a nor b."""
    for i in range(3):
        if i != a and i != b:
            return i
    return -1


@njit(cache=True, fastmath={"contract"})
def _dot_rows(values, indices, dense, xcol, a, e, j0, acc):
    """``acc += sum values[j] * xcol[col(j)]`` for ``j = a..e-1``, in order (one chain)."""
    if dense:
        for j in range(a, e):
            acc += values[j] * xcol[j - j0]
    else:
        for j in range(a, e):
            acc += values[j] * xcol[np.int64(indices[j])]
    return acc


@njit(cache=True, inline="always")
def _row_span(dense, indptr, voff, poff, kc, o):
    """[start, end) of output row ``o``'s weights in ``values``: a full ``kc``-wide row for
    dense storage, the row's CSR slice otherwise."""
    if dense:
        start = voff + o * kc
        return start, start + kc
    return voff + np.int64(indptr[poff + o]), voff + np.int64(indptr[poff + o + 1])


@njit(cache=True, fastmath={"contract"})
def _single_step(values, indices, indptr, bias, dense, src, dst, c_in, c_out, k, d, voff, poff,
                 boff, first, init, relu):
    """One output step of one layer (streaming a flow at a time).

    The layer's input column is gathered once into a contiguous vector (``tap * c_in + c``,
    the kernel matrix's column order), then four output rows are accumulated side by side:
    four independent chains hide the add latency, and each row still adds its weights in
    ascending column order starting from the bias, exactly like the vector path, so the
    results are bitwise identical.
    """
    kc = k * c_in
    xcol = np.empty(max(kc, 1), np.float32)
    for tap in range(k):
        col = first - (k - 1 - tap) * d
        # Before column 0 is causal zero padding that an independent window does not store
        # (it keeps at most T - 1 padding columns): those taps read zeros.
        for c in range(c_in):
            xcol[tap * c_in + c] = src[c, col] if col >= 0 else np.float32(0)
    o = 0
    while o < c_out:
        g = min(4, c_out - o)
        if g == 4:
            if dense:
                a0 = voff + o * kc
                a1 = a0 + kc
                a2 = a1 + kc
                a3 = a2 + kc
                e0, e1, e2, e3 = a1, a2, a3, a3 + kc
            else:
                a0 = voff + np.int64(indptr[poff + o])
                a1 = voff + np.int64(indptr[poff + o + 1])
                a2 = voff + np.int64(indptr[poff + o + 2])
                a3 = voff + np.int64(indptr[poff + o + 3])
                e0, e1, e2 = a1, a2, a3
                e3 = voff + np.int64(indptr[poff + o + 4])
            if init:
                s0, s1, s2, s3 = bias[boff + o], bias[boff + o + 1], bias[boff + o + 2], bias[boff + o + 3]
            else:
                s0 = dst[o, first] + bias[boff + o]
                s1 = dst[o + 1, first] + bias[boff + o + 1]
                s2 = dst[o + 2, first] + bias[boff + o + 2]
                s3 = dst[o + 3, first] + bias[boff + o + 3]
            m = min(min(e0 - a0, e1 - a1), min(e2 - a2, e3 - a3))
            if dense:
                for q in range(m):
                    xv = xcol[q]
                    s0 += values[a0 + q] * xv
                    s1 += values[a1 + q] * xv
                    s2 += values[a2 + q] * xv
                    s3 += values[a3 + q] * xv
            else:
                for q in range(m):
                    s0 += values[a0 + q] * xcol[np.int64(indices[a0 + q])]
                    s1 += values[a1 + q] * xcol[np.int64(indices[a1 + q])]
                    s2 += values[a2 + q] * xcol[np.int64(indices[a2 + q])]
                    s3 += values[a3 + q] * xcol[np.int64(indices[a3 + q])]
            s0 = _dot_rows(values, indices, dense, xcol, a0 + m, e0, a0, s0)
            s1 = _dot_rows(values, indices, dense, xcol, a1 + m, e1, a1, s1)
            s2 = _dot_rows(values, indices, dense, xcol, a2 + m, e2, a2, s2)
            s3 = _dot_rows(values, indices, dense, xcol, a3 + m, e3, a3, s3)
            if relu:
                s0 = np.float32(0) if s0 < 0 else s0
                s1 = np.float32(0) if s1 < 0 else s1
                s2 = np.float32(0) if s2 < 0 else s2
                s3 = np.float32(0) if s3 < 0 else s3
            dst[o, first] = s0
            dst[o + 1, first] = s1
            dst[o + 2, first] = s2
            dst[o + 3, first] = s3
        else:
            for oo in range(o, o + g):
                a, e = _row_span(dense, indptr, voff, poff, kc, oo)
                acc = bias[boff + oo] if init else dst[oo, first] + bias[boff + oo]
                acc = _dot_rows(values, indices, dense, xcol, a, e, a, acc)
                if relu and acc < 0:
                    acc = np.float32(0)
                dst[oo, first] = acc
        o += g
    return 0


@njit(cache=True)
def _first_column(k, d, c_in, T):
    """The first kernel column (``tap * c_in + c``) an independent window of ``T`` steps needs:
    taps whose shift ``(k-1-tap) * d`` is ``T`` or more read only its zero padding."""
    return max(0, k - 1 - (T - 1) // d) * c_in


@njit(cache=True)
def _width_for(group):
    """Columns per tile of a layer that runs in row groups of ``group`` (1: row by row)."""
    return GROUP_TILE_WIDTH if group > 1 else TILE_WIDTH


@njit(cache=True)
def _tile_floats(meta):
    """Floats of the packed input tile that every layer fits in."""
    size = 1
    for r in range(meta.shape[0]):
        size = max(size, meta[r, M_CIN] * (TILE_WIDTH + meta[r, M_PAD]))
    return size


@njit(cache=True)
def _pack_tile(src, c_in, lo, width, tile):
    """``tile[c * width + i] = src[c, lo + i]`` for ``i < width``: the input columns a tile's
    weights read, one contiguous row per channel (see :mod:`ltcn_kernels.engine._layout`).
    Columns before 0 (only read by taps that reach past an independent window, which are
    skipped) are left as they are."""
    skip = max(0, -lo)
    uw = np.uint64(width)
    for c in range(c_in):
        row = src[c]
        t0 = np.uint64(c) * uw
        for i in range(np.uint64(skip), uw):
            tile[t0 + i] = row[np.uint64(lo + np.int64(i))]


@njit(cache=True)
def _layer(meta, r, values, indices, indptr, bias, dense, offsets, groups, tile, src, dst, nb, L,
           P, T, t0, init, relu, zero_pad):
    """One weighted layer of row ``r`` over steps ``t0..T-1`` of ``nb`` sequences.

    ``init``: write the bias first (else add it to what ``dst`` holds); ``relu``: clamp after.
    ``zero_pad``: the ``P`` columns before each sequence are zeros (independent windows, no
    carried state), so a tap that reaches only into them adds nothing and is skipped -- for
    short windows (per-flow models: T = 1) that is all taps but the last.

    Column tiles are the outer loop and output rows the inner one, so the packed input tile
    (``c_in x (W + pad)`` floats) stays in cache while every row reads it; a segment's last
    tile is computed whole and stored in part (the buffers end with ``SLACK`` spare columns).
    """
    c_in = meta[r, M_CIN]
    c_out = meta[r, M_COUT]
    k = meta[r, M_K]
    d = meta[r, M_DIL]
    pad = meta[r, M_PAD]
    voff = meta[r, M_VAL_OFF]
    poff = meta[r, M_PTR_OFF]
    boff = meta[r, M_BIAS_OFF]
    kc = k * c_in
    first = P + t0
    n = T - t0
    if L == 1:  # one-step windows without padding (per-flow models): one contiguous block
        n = nb
        nb = 1
    if nb == 1 and n == 1:  # one output step (streaming a flow at a time)
        _single_step(values, indices, indptr, bias, dense, src, dst, c_in, c_out, k, d, voff,
                     poff, boff, first, init, relu)
        return 0
    group = groups[r]
    width = _width_for(group)
    # Without carried state, taps older than the window read only zeros: each row starts at
    # its first weight of a tap whose shift (k-1-tap)*d is below T (columns are tap-major).
    col_min = _first_column(k, d, c_in, T) if zero_pad else 0
    js = np.empty(c_out, np.int64)
    je = np.empty(c_out, np.int64)
    for o in range(c_out):
        j0, j1 = _row_span(dense, indptr, voff, poff, kc, o)
        if dense:
            js[o] = j0 + col_min
        else:
            a = j0
            while a < j1 and np.int64(indices[a]) < col_min:
                a += 1
            js[o] = a
        je[o] = j1
    full = c_out - c_out % group if group > 1 else 0
    # A segment's last tile, when partial, is computed into these scratch rows (loaded from
    # dst first when accumulating) and its first `nstore` columns copied back.
    spill = np.empty((c_out, width), np.float32)
    for s in range(nb):
        seg = s * L + first
        for q0 in range(0, n, width):
            base = seg + q0
            nstore = min(width, n - q0)
            _pack_tile(src, c_in, base - pad, width + pad, tile)
            out, obase = dst, np.uint64(base)
            if nstore < width:
                out, obase = spill, _U0
                if not init:
                    for o in range(c_out):
                        for i in range(nstore):
                            spill[o, i] = dst[o, base + i]
            if group > 1:
                _groups_tile(values, offsets, js, je, tile, out, 0, full, obase, bias, boff, init,
                             relu)
                _group_rows_tile(values, offsets, js, je, tile, out, full, c_out, obase, bias,
                                 boff, init, relu)
            else:
                _rows_tile(values, offsets, js, je, tile, out, 0, c_out, obase, bias, boff, init,
                           relu)
            if nstore < width:
                for o in range(c_out):
                    for i in range(nstore):
                        dst[o, base + i] = spill[o, i]
    return 0


@njit(cache=True)
def _identity(src, dst, c, nb, L, P, T, t0):
    """``dst = ReLU(dst + src)`` on ``c`` rows (identity residual)."""
    uL = np.uint64(L)
    first = np.uint64(P + t0)
    n = np.uint64(T - t0)
    if L == 1:  # one contiguous block of one-step windows (see `_layer`)
        n = np.uint64(nb)
        nb = 1
    for o in range(c):
        orow = dst[o]
        irow = src[o]
        for s in range(nb):
            base = np.uint64(s) * uL + first
            for t in range(_U0, n):
                v = orow[base + t] + irow[base + t]
                orow[base + t] = 0 if v < 0 else v
    return 0


@njit(cache=True)
def _network(meta, values, indices, indptr, bias, dense, offsets, groups, tile, buf, nb, L, P, T,
             starts, state, use_state):
    """Run every layer; the input is in ``buf[0, :features]``. Returns the buffer index that
    holds the head's output (rows ``0..classes-1``)."""
    xin = 0  # block input
    cur = 0  # latest activation
    for r in range(meta.shape[0]):
        role = meta[r, M_ROLE]
        t0 = starts[r]
        if role == ROLE_CONV:
            src = xin if meta[r, M_J] == 0 else cur
            dst = _other(xin, src)
            pad = meta[r, M_PAD]
            c_in = meta[r, M_CIN]
            so = meta[r, M_STATE_OFF]
            if use_state and pad > 0:
                for c in range(c_in):
                    row = buf[src, c]
                    for q in range(pad):
                        row[P - pad + q] = state[so + c * pad + q]
            _layer(
                meta, r, values, indices, indptr, bias, dense, offsets, groups, tile, buf[src], buf[dst],
                nb, L, P, T, t0, True, True, not use_state,
            )
            if use_state and pad > 0:
                for c in range(c_in):
                    row = buf[src, c]
                    for q in range(pad):
                        state[so + c * pad + q] = row[P + T - pad + q]
            cur = dst
        elif role == ROLE_RESIDUAL:
            _layer(
                meta, r, values, indices, indptr, bias, dense, offsets, groups, tile, buf[xin], buf[cur],
                nb, L, P, T, t0, False, True, not use_state,
            )
            xin = cur
        elif role == ROLE_IDENTITY:
            _identity(buf[xin], buf[cur], meta[r, M_COUT], nb, L, P, T, t0)
            xin = cur
        else:  # ROLE_HEAD
            dst = _other(xin, xin)
            _layer(
                meta, r, values, indices, indptr, bias, dense, offsets, groups, tile, buf[xin], buf[dst],
                nb, L, P, T, t0, True, False, not use_state,
            )
            return dst
    return -1


@njit(cache=True)
def _softmax_rows(out, scratch):
    for i in range(out.shape[0]):
        m = -np.inf
        for c in range(out.shape[1]):
            if out[i, c] > m:
                m = out[i, c]
        total = 0.0
        for c in range(out.shape[1]):
            e = np.exp(np.float64(out[i, c]) - m)
            scratch[c] = e
            total += e
        for c in range(out.shape[1]):
            out[i, c] = scratch[c] / total


@njit(cache=True)
def run_windows(meta, values, indices, indptr, bias, dense, offsets, groups, x, starts, P, c_max,
                nb, softmax, out):
    """Head on the last step of each independent sequence ``x[i]`` (``f32[n, T, F]``).

    ``nb`` sequences are processed together (one buffer segment each); ``starts[r]`` is the
    first step layer ``r`` must produce for the last step's receptive field. Writes
    ``out[n, classes]`` (softmax applied when ``softmax``); returns 0.
    """
    n = x.shape[0]
    T = x.shape[1]
    F = x.shape[2]
    classes = out.shape[1]
    L = P + T
    buf = np.zeros((3, c_max, nb * L + SLACK), np.float32)
    tile = np.empty(_tile_floats(meta), np.float32)
    state = np.zeros(1, np.float32)
    scratch = np.zeros(classes, np.float64)
    b0 = buf[0]
    for g0 in range(0, n, nb):
        g = min(nb, n - g0)
        for s in range(g):
            xs = x[g0 + s]
            base = s * L + P
            for t in range(T):
                for f in range(F):
                    b0[f, base + t] = xs[t, f]
        dst = _network(meta, values, indices, indptr, bias, dense, offsets, groups, tile, buf, g,
                       L, P, T, starts, state, False)
        for s in range(g):
            col = s * L + P + T - 1
            for c in range(classes):
                out[g0 + s, c] = buf[dst, c, col]
    if softmax:
        _softmax_rows(out, scratch)
    return 0


@njit(cache=True)
def run_sequence(meta, values, indices, indptr, bias, dense, offsets, groups, x, state, buf, P,
                 softmax, out):
    """Head at every step of one stream ``x`` (``f32[T, F]``), continuing from ``state``.

    ``buf`` (``f32[3, C_max, P + chunk]``, any contents) is the caller's scratch; the stream
    is processed ``chunk`` steps at a time and ``state`` (the per-layer histories) is updated
    in place. Writes ``out[T, classes]``; returns 0.
    """
    T_total = x.shape[0]
    F = x.shape[1]
    classes = out.shape[1]
    L = buf.shape[2] - SLACK
    chunk = L - P
    tile = np.empty(_tile_floats(meta), np.float32)
    starts = np.zeros(meta.shape[0], np.int64)
    scratch = np.zeros(classes, np.float64)
    b0 = buf[0]
    for c0 in range(0, T_total, chunk):
        m = min(chunk, T_total - c0)
        for t in range(m):
            for f in range(F):
                b0[f, P + t] = x[c0 + t, f]
        dst = _network(meta, values, indices, indptr, bias, dense, offsets, groups, tile, buf, 1,
                       L, P, m, starts, state, True)
        for t in range(m):
            for c in range(classes):
                out[c0 + t, c] = buf[dst, c, P + t]
    if softmax:
        _softmax_rows(out, scratch)
    return 0
