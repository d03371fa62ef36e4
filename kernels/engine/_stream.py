"""The streaming kernel: one flow through the whole network in ONE compiled call, with ring
buffers for the layer histories and no allocation.

:class:`~ltcn_kernels.engine.run.Stream` repacks an :class:`EngineModel` once
(:func:`pack_stream`) into two arrays of its own and calls :func:`stream_step` (one flow) or
:func:`stream_steps` (a micro-batch: the same step in a loop) with them -- four arguments, so
the call itself costs little:

``ib`` (int64)
    the header (``H_*``: layer count, features, classes, softmax and dense flags, flows
    pushed, offsets), one row of ``P_N`` ints per layer (``P_*``: role, j, c_in, c_out, padded
    c_out, k, dilation, pad, weight / bias / ring offsets, ring position), then each ring's
    integer half.
``fb`` (f32)
    every weighted layer's ``c_out x (k*c_in)`` kernel matrix TRANSPOSED and padded to
    ``cp = c_out`` rounded up to a multiple of 8: row-major ``(k*c_in) x cp``, so column
    ``j = tap * c_in + c`` of the matrix is one contiguous run of weights, zeros included;
    then its bias (``cp``, zero-padded). After the weights: the STATE (what ``reset`` zeroes):
    three activation vectors (block input / two conv outputs, rotated as in
    ``_kernels._network``), the head's input column, the rings' float half.

Rings
-----
Each conv keeps its last ``pad = d*(k-1)`` INPUT vectors plus the current one in
``pad + 1`` slots, each stored COMPACTED: its non-zero values (``fb``) with ``c * cp``, their
offsets in a column of the transposed kernel (``ib``), their count and a "holds a non-finite
value" flag. A step compacts the conv's input once, straight into slot ``pos`` (the oldest,
no longer needed); the tap at time ``t - s`` is slot ``(pos - s) mod (pad + 1)``; then ``pos``
advances. Nothing is shifted or copied, and every input vector is compacted once however
many taps read it (the block's residual reads its first conv's slot).

One layer of one step
---------------------
``acc[0:cp] = bias`` (the residual: ``+=``), then for each tap, oldest first, and each of its
non-zero inputs in ascending channel order: ``acc += wts_col * x_j``, a vector update across
output rows, four columns per pass over ``acc``, each term a fused multiply-add
(``fastmath={"contract"}``, as in the batch kernels). Each output row thus adds its terms one at
a time in ascending column order starting from the bias, exactly like the batch kernels, so the
result equals :func:`~ltcn_kernels.engine.run.logits_sequence` to the bit: the terms that
differ are all exact zeros -- a zero weight (CSR drops it, here it is multiplied) or a zero
input (skipped here) -- and ``s + (+-0) == s`` for every ``s`` (at most the sign of a zero sum
could differ, which needs a bias of exactly ``-0.0``). A slot holding a non-finite value
(``0 * inf`` is NaN) is added the exact way: only the weights the model stores.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import (
    M_BIAS_OFF,
    M_CIN,
    M_COUT,
    M_DIL,
    M_J,
    M_K,
    M_NNZ,
    M_PAD,
    M_PTR_OFF,
    M_ROLE,
    M_VAL_OFF,
    ROLE_CONV,
    ROLE_IDENTITY,
    ROLE_RESIDUAL,
)

ROW_PAD = 8  # output rows are padded to a multiple of this (one AVX2 / two NEON vectors)

# Header of ib.
H_LAYERS = 0
H_F = 1  # input features
H_CLASSES = 2
H_SOFTMAX = 3  # 1: write probabilities, 0: logits
H_DENSE = 4  # the model's format: 1 if every weight is stored (zeros included)
H_STEPS = 5  # flows pushed since the last reset
H_CMAX = 6  # length of one activation vector (padded)
H_ACT = 7  # offset in fb of the three activation vectors
H_HVALS = 8  # offset in fb of the head's compacted input values (c_in)
H_HOFFS = 9  # offset in ib of the head's compacted input offsets (2 + c_in)
H_STATE = 10  # offset in fb where the state starts (everything after the weights)
H_ISTATE = 11  # offset in ib where the ring integers start
H_N = 12
# One row per layer, at H_N + r * P_N.
P_ROLE = 0
P_J = 1
P_CIN = 2
P_COUT = 3
P_CP = 4  # c_out padded to ROW_PAD: the row stride of the transposed kernel
P_K = 5
P_DIL = 6
P_PAD = 7
P_W = 8  # offset in fb of the transposed kernel
P_B = 9  # offset in fb of the bias
P_RING = 10  # offset in fb of the ring values: (pad + 1) slots x c_in (convs only)
P_IRING = 11  # offset in ib of the ring ints: (pad + 1) slots x (2 + c_in): n, bad, offsets
P_POS = 12  # ring position: the slot the next input is written to
P_N = 13

_U0 = np.uint64(0)
_FMAX = np.float32(3.4028235e38)


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _layer_matrix(model, r: int) -> np.ndarray:
    """Layer ``r``'s ``c_out x (k*c_in)`` kernel matrix from the packed model (zeros where a
    CSR layer stores nothing)."""
    row = model.meta[r]
    c_out, kc = int(row[M_COUT]), int(row[M_K] * row[M_CIN])
    voff, nnz = int(row[M_VAL_OFF]), int(row[M_NNZ])
    values = model.values[voff : voff + nnz]
    if model.dense:
        return values.reshape(c_out, kc).copy()
    poff = int(row[M_PTR_OFF])
    ptr = model.indptr[poff : poff + c_out + 1].astype(np.int64)
    mat = np.zeros((c_out, kc), np.float32)
    rows = np.repeat(np.arange(c_out), np.diff(ptr))
    mat[rows, model.indices[voff : voff + nnz].astype(np.int64)] = values
    return mat


def pack_stream(model, softmax: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(ib, fb)`` for :func:`stream_step` (see the module docstring), zero history."""
    meta = model.meta
    n = meta.shape[0]
    rows = np.zeros((n, P_N), np.int64)
    wparts: list[np.ndarray] = []
    woff = 0
    for r in range(n):
        p = rows[r]
        role = int(meta[r, M_ROLE])
        c_in, c_out, k = int(meta[r, M_CIN]), int(meta[r, M_COUT]), int(meta[r, M_K])
        cp = _round_up(c_out, ROW_PAD)
        p[P_ROLE], p[P_J], p[P_CIN], p[P_COUT], p[P_CP] = role, meta[r, M_J], c_in, c_out, cp
        p[P_K], p[P_DIL], p[P_PAD] = k, meta[r, M_DIL], meta[r, M_PAD]
        p[P_RING] = p[P_IRING] = -1
        if role == ROLE_IDENTITY:
            continue
        wt = np.zeros((k * c_in, cp), np.float32)
        wt[:, :c_out] = _layer_matrix(model, r).T
        bias = np.zeros(cp, np.float32)
        boff = int(meta[r, M_BIAS_OFF])
        bias[:c_out] = model.bias[boff : boff + c_out]
        p[P_W], p[P_B] = woff, woff + wt.size
        wparts += [wt.ravel(), bias]
        woff += wt.size + cp
    c_max = _round_up(max(int(model.c_max), *(int(v) for v in rows[:, P_CP])), ROW_PAD)
    head_cin = int(rows[-1, P_CIN])
    # State in fb: activations, the head's column, then the rings.
    act = woff
    hvals = act + 3 * c_max
    fo = hvals + head_cin
    io = H_N + n * P_N
    hoffs = io
    io += 2 + head_cin
    istate = io
    for r in range(n):
        p = rows[r]
        if p[P_ROLE] == ROLE_CONV:
            slots, c_in = int(p[P_PAD]) + 1, int(p[P_CIN])
            p[P_RING], p[P_IRING] = fo, io
            fo += slots * c_in
            io += slots * (2 + c_in)
    ib = np.zeros(io, np.int64)
    ib[H_LAYERS], ib[H_F], ib[H_CLASSES] = n, model.n_features, model.n_classes
    ib[H_SOFTMAX], ib[H_DENSE], ib[H_CMAX] = int(bool(softmax)), int(model.dense), c_max
    ib[H_ACT], ib[H_HVALS], ib[H_HOFFS] = act, hvals, hoffs
    ib[H_STATE], ib[H_ISTATE] = act, istate
    ib[H_N : H_N + n * P_N] = rows.ravel()
    fb = np.zeros(fo, np.float32)
    if wparts:
        fb[:woff] = np.concatenate(wparts)
    return ib, fb


def _row(ib: np.ndarray, r: int) -> np.ndarray:
    return ib[H_N + r * P_N : H_N + (r + 1) * P_N]


def _convs(ib: np.ndarray):
    for r in range(int(ib[H_LAYERS])):
        p = _row(ib, r)
        if p[P_ROLE] == ROLE_CONV:
            yield p


def reset_stream(ib: np.ndarray, fb: np.ndarray) -> None:
    """Zero history (the causal zero padding), ring positions 0, step counter 0."""
    fb[ib[H_STATE] :] = 0
    ib[ib[H_ISTATE] :] = 0
    for p in _convs(ib):
        p[P_POS] = 0
    ib[H_STEPS] = 0


def ring_to_state(ib: np.ndarray, fb: np.ndarray, state_size: int) -> np.ndarray:
    """The rings as the batch kernels' history vector (``EngineModel.state_size`` floats: per
    conv with ``pad > 0``, ``c_in x pad``, oldest first)."""
    state = np.zeros(state_size, np.float32)
    so = 0
    for p in _convs(ib):
        c_in, pad, cp, pos = (int(p[c]) for c in (P_CIN, P_PAD, P_CP, P_POS))
        hist = np.zeros((c_in, pad), np.float32)
        for q in range(pad):  # time t - pad + q
            slot = (pos - (pad - q)) % (pad + 1)
            ints = p[P_IRING] + slot * (2 + c_in)
            cnt = int(ib[ints])
            chans = ib[ints + 2 : ints + 2 + cnt] // cp
            hist[chans, q] = fb[p[P_RING] + slot * c_in : p[P_RING] + slot * c_in + cnt]
        state[so : so + c_in * pad] = hist.ravel()
        so += c_in * pad
    return state


def state_to_ring(ib: np.ndarray, fb: np.ndarray, state: np.ndarray) -> None:
    """Inverse of :func:`ring_to_state`: load a history vector into the rings (positions 0)."""
    so = 0
    for p in _convs(ib):
        c_in, pad, cp = (int(p[c]) for c in (P_CIN, P_PAD, P_CP))
        hist = state[so : so + c_in * pad].reshape(c_in, pad)
        for slot in range(pad + 1):  # slot q + 1 holds time t - pad + q; slot 0 is next
            col = hist[:, slot - 1] if slot else np.zeros(c_in, np.float32)
            chans = np.flatnonzero(col != 0)
            ints = p[P_IRING] + slot * (2 + c_in)
            ib[ints] = chans.size
            ib[ints + 1] = int(not np.all(np.isfinite(col)))
            ib[ints + 2 : ints + 2 + c_in] = 0
            ib[ints + 2 : ints + 2 + chans.size] = chans * cp
            vals = p[P_RING] + slot * c_in
            fb[vals : vals + c_in] = 0
            fb[vals : vals + chans.size] = col[chans]
        p[P_POS] = 0
        so += c_in * pad


@njit(cache=True)
def _compact(fb, ib, src, c_in, cp, vals, ints):
    """Store the non-zero entries of ``fb[src:src+c_in]``: values at ``fb[vals:]``, offsets
    ``c * cp`` at ``ib[ints+2:]``, their count at ``ib[ints]``, whether any is non-finite at
    ``ib[ints+1]``."""
    n = 0
    bad = 0
    for c in range(c_in):
        xv = fb[src + c]
        fb[vals + n] = xv
        ib[ints + 2 + n] = c * cp
        if not (abs(xv) <= _FMAX):
            bad = 1
        n += xv != 0
    ib[ints] = n
    ib[ints + 1] = bad
    return 0


@njit(cache=True, fastmath={"contract"})
def _accumulate(fb, ib, vals, ints, acc, cp, wbase, dense):
    """``fb[acc:acc+cp] += sum_q fb[wbase+off_q : ...+cp] * x_q`` over one compacted column
    list, in order: each output row adds its terms one by one in ascending channel order.

    Four columns per pass over the rows keep the partial sums in registers across four terms;
    within a pass each row still adds ``t0, t1, t2, t3`` in order. A list holding a
    non-finite value multiplies only the weights the model stores (``w != 0`` for CSR), as
    the batch kernels do (``0 * inf`` would be NaN).
    """
    n = ib[ints]
    uc = np.uint64(cp)
    ua = np.uint64(acc)
    o = ints + 2
    if ib[ints + 1] != 0:
        for q in range(n):
            xv = fb[vals + q]
            w0 = np.uint64(wbase + ib[o + q])
            for i in range(_U0, uc):
                w = fb[w0 + i]
                if dense or w != 0:
                    fb[ua + i] += w * xv
        return 0
    q = 0
    while q + 4 <= n:
        x0 = fb[vals + q]
        x1 = fb[vals + q + 1]
        x2 = fb[vals + q + 2]
        x3 = fb[vals + q + 3]
        w0 = np.uint64(wbase + ib[o + q])
        w1 = np.uint64(wbase + ib[o + q + 1])
        w2 = np.uint64(wbase + ib[o + q + 2])
        w3 = np.uint64(wbase + ib[o + q + 3])
        for i in range(_U0, uc):
            t = fb[ua + i]
            t += fb[w0 + i] * x0
            t += fb[w1 + i] * x1
            t += fb[w2 + i] * x2
            t += fb[w3 + i] * x3
            fb[ua + i] = t
        q += 4
    while q < n:
        x0 = fb[vals + q]
        w0 = np.uint64(wbase + ib[o + q])
        for i in range(_U0, uc):
            fb[ua + i] += fb[w0 + i] * x0
        q += 1
    return 0


@njit(cache=True)
def _start(fb, ib, p, dst, init):
    """``acc = bias`` (``init``) or ``acc += bias`` (the residual), over the padded rows."""
    ua = np.uint64(dst)
    ub = np.uint64(ib[p + P_B])
    for i in range(_U0, np.uint64(ib[p + P_CP])):
        fb[ua + i] = fb[ub + i] if init else fb[ua + i] + fb[ub + i]
    return 0


@njit(cache=True)
def _relu(fb, dst, c):
    ua = np.uint64(dst)
    for i in range(_U0, np.uint64(c)):
        v = fb[ua + i]
        fb[ua + i] = 0 if v < 0 else v  # NaN passes, like the batch kernels
    return 0


@njit(cache=True)
def _step(ib, fb, x, out):
    """One flow: ``x`` (f32[F]) -> ``out`` (f32[classes]); returns 0."""
    c_max = ib[H_CMAX]
    act = ib[H_ACT]
    dense = ib[H_DENSE] != 0
    for f in range(ib[H_F]):
        fb[act + f] = x[f]
    xin = 0  # activation index of the block input
    cur = 0  # activation index of the latest activation
    head = 0
    bvals = bints = 0  # the block input's compacted slot (its first conv's current slot)
    for r in range(ib[H_LAYERS]):
        p = H_N + r * P_N
        role = ib[p + P_ROLE]
        if role == ROLE_CONV:
            c_in = ib[p + P_CIN]
            k = ib[p + P_K]
            d = ib[p + P_DIL]
            slots = ib[p + P_PAD] + 1
            pos = ib[p + P_POS]
            ring = ib[p + P_RING]
            iring = ib[p + P_IRING]
            cp = ib[p + P_CP]
            src = xin if ib[p + P_J] == 0 else cur
            dst = 0
            while dst == xin or dst == src:
                dst += 1
            # The current input goes, compacted, into the slot of the oldest one.
            _compact(fb, ib, act + src * c_max, c_in, cp, ring + pos * c_in,
                     iring + pos * (2 + c_in))
            if ib[p + P_J] == 0:
                bvals, bints = ring + pos * c_in, iring + pos * (2 + c_in)
            a = act + dst * c_max
            _start(fb, ib, p, a, True)
            for tap in range(k):  # oldest first: ascending kernel-matrix columns
                slot = pos - (k - 1 - tap) * d
                if slot < 0:
                    slot += slots
                _accumulate(fb, ib, ring + slot * c_in, iring + slot * (2 + c_in), a, cp,
                            ib[p + P_W] + tap * c_in * cp, dense)
            _relu(fb, a, ib[p + P_COUT])
            pos += 1
            ib[p + P_POS] = 0 if pos == slots else pos
            cur = dst
        elif role == ROLE_RESIDUAL:
            a = act + cur * c_max
            _start(fb, ib, p, a, False)
            _accumulate(fb, ib, bvals, bints, a, ib[p + P_CP], ib[p + P_W], dense)
            _relu(fb, a, ib[p + P_COUT])
            xin = cur
        elif role == ROLE_IDENTITY:
            ua = np.uint64(act + cur * c_max)
            ub = np.uint64(act + xin * c_max)
            for i in range(_U0, np.uint64(ib[p + P_COUT])):
                v = fb[ua + i] + fb[ub + i]
                fb[ua + i] = 0 if v < 0 else v
            xin = cur
        else:  # ROLE_HEAD
            head = 1 if xin == 0 else 0
            a = act + head * c_max
            cp = ib[p + P_CP]
            _compact(fb, ib, act + xin * c_max, ib[p + P_CIN], cp, ib[H_HVALS], ib[H_HOFFS])
            _start(fb, ib, p, a, True)
            _accumulate(fb, ib, ib[H_HVALS], ib[H_HOFFS], a, cp, ib[p + P_W], dense)
    classes = ib[H_CLASSES]
    h0 = act + head * c_max
    if ib[H_SOFTMAX] != 0:
        # As _kernels._softmax_rows: float64 exp and sum, one float32 rounding at the end.
        m = -np.inf
        for c in range(classes):
            if fb[h0 + c] > m:
                m = fb[h0 + c]
        total = 0.0
        for c in range(classes):
            total += np.exp(np.float64(fb[h0 + c]) - m)
        for c in range(classes):
            out[c] = np.exp(np.float64(fb[h0 + c]) - m) / total
    else:
        for c in range(classes):
            out[c] = fb[h0 + c]
    ib[H_STEPS] += 1
    return 0


@njit(cache=True)
def stream_step(ib, fb, x, out):
    """One flow ``x`` (f32[F], contiguous) -> ``out`` (f32[classes]); the stream state
    (rings, positions, step count) advances in place. Allocates nothing."""
    return _step(ib, fb, x, out)


@njit(cache=True)
def stream_steps(ib, fb, x, out):
    """A micro-batch ``x`` (f32[m, F]) -> ``out`` (f32[m, classes]): the single step in a
    loop, so any split of a stream into pushes gives the same bits."""
    for i in range(x.shape[0]):
        _step(ib, fb, x[i], out[i])
    return 0
