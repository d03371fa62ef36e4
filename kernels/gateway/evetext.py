"""The text kernels of the EVE alert lines: JSON numbers, time stamps and strings as byte
columns, and the assembly of a batch of lines from them.

A batch of alert lines is one :class:`LineBuilder`: each line is the same sequence of segments,
constants (keys, punctuation) and fixed-width byte columns whose NUL bytes are padding (no JSON
text holds a raw NUL), and a Numba kernel copies them out without the NULs. Numbers are written
by Numba kernels that decide each value as CPython does: ``round(p, 6)`` as ``repr`` writes it
(:func:`round6_text`), ``int`` of ports and identifiers (:func:`int_text`),
``datetime.fromtimestamp(t, utc).strftime(...)`` (:func:`time_text`); the values they do not
cover (huge numbers, rounding ties, years outside 1000-9999) are written by Python. A time stamp
no datetime can hold is clamped to :data:`TIME_MIN` / :data:`TIME_MAX`, a number that is not
finite is ``null``. Texts are JSON-encoded only where they need escaping (:func:`json_chars`).

What the events say (their fields and order) is :mod:`.eve`'s; this module only writes text.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone

import numpy as np
from numba import njit

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+0000"
# Time stamps outside what a datetime can hold (years 1-9999) are clamped to its ends, so a
# hostile record cannot stop the detector; these two values mark them.
TIME_MIN, TIME_MAX = "0001-01-01T00:00:00.000000+0000", "9999-12-31T23:59:59.999999+0000"

# The kernels' tables and unsigned constants (unsigned arithmetic and indices throughout: no
# sign fix-ups in divisions, no negative-index checks).
_PAIRS = np.array([list(f"{i:02d}".encode()) for i in range(100)], np.uint8)  # "00" .. "99"
_U0, _U1, _U2, _U3, _U4, _U5, _U6, _U9 = (np.uint64(k) for k in (0, 1, 2, 3, 4, 5, 6, 9))
_U10, _U60 = np.uint64(10), np.uint64(60)
_U100, _U153, _U365, _U400 = np.uint64(100), np.uint64(153), np.uint64(365), np.uint64(400)
_U1460, _U3600, _U36524, _U86400 = (np.uint64(k) for k in (1460, 3600, 36_524, 86_400))
_U146096, _U146097, _U1M = np.uint64(146_096), np.uint64(146_097), np.uint64(1_000_000)
# Epoch seconds of 1000-01-01 .. 9999-12-31T23:59:59, the years the kernel writes (strftime
# writes no four-digit year before 1000); the first is a whole number of days (354,285).
_TIME_FIRST, _TIME_LAST = -30_610_224_000.0, 253_402_300_799.0


def json_chars(words: list[str]) -> np.ndarray:
    """The JSON texts of ``words`` without their quotes, as ``(len(words), w)`` NUL-padded
    bytes: the words themselves where none needs escaping (printable ASCII, no quote or
    backslash), else ``json.dumps``'s escapes."""
    joined = "".join(words)
    if not (joined.isascii() and joined.isprintable() and '"' not in joined
            and "\\" not in joined):
        words = [json_str(w)[1:-1] for w in words]
    return char_rows(np.array(words, dtype="S") if words else np.zeros(0, "S1"))


def json_str(text: str) -> str:
    """``text`` as a JSON string (ASCII, with its quotes), as ``json.dumps`` writes it."""
    return json.encoder.encode_basestring_ascii(text)


# ------------------------------------------------------------------------------ byte columns
class LineBuilder:
    """A batch of lines, each the same sequence of segments: constant texts (the same on every
    line) and columns of ``(n, w)`` uint8 blocks holding each row's text left-aligned, then
    NUL padding (dropped)."""

    def __init__(self, n: int):
        self.n = n
        self.consts = bytearray()
        self.spec: list[list[int]] = []  # [kind (0 constant, 1 block), start, width]
        self.blocks: list[np.ndarray] = []
        self.width = 0  # of the blocks so far

    def text(self, b: bytes) -> None:
        if self.spec and self.spec[-1][0] == 0:
            self.spec[-1][2] += len(b)
        else:
            self.spec.append([0, len(self.consts), len(b)])
        self.consts += b

    def block(self, mat: np.ndarray) -> None:
        self.spec.append([1, self.width, mat.shape[1]])
        self.blocks.append(mat)
        self.width += mat.shape[1]

    def columns(self, mat: np.ndarray, texts: list[bytes], width: int) -> None:
        """``texts[j]`` then columns ``j * width`` .. ``(j + 1) * width`` of ``mat``, for each
        j (one block, interleaved with constants)."""
        base = self.width
        self.blocks.append(mat)
        self.width += mat.shape[1]
        for j, t in enumerate(texts):
            self.text(t)
            self.spec.append([1, base + j * width, width])

    def optional(self, key: bytes, mat: np.ndarray, present: np.ndarray,
                 tail: bytes = b"") -> None:
        """``key``, the value and ``tail`` on the rows ``present``; nothing on the others."""
        if present.all():
            self.text(key)
            self.block(mat)
            if tail:
                self.text(tail)
            return
        n, w = mat.shape
        block = np.zeros((n, len(key) + w + len(tail)), np.uint8)
        block[:, : len(key)] = np.frombuffer(key, np.uint8)
        block[:, len(key) : len(key) + w] = mat
        end = len(key) + np.count_nonzero(mat, axis=1)  # (each value: its text, then NULs)
        for t, c in enumerate(tail):
            block[np.arange(n), end + t] = c
        block[~present] = 0
        self.block(block)

    def build(self) -> tuple[bytes, np.ndarray]:
        """The lines' bytes, and the length of each line."""
        n = self.n
        blocks = np.ascontiguousarray(np.concatenate(self.blocks, axis=1), np.uint8)
        consts = np.frombuffer(self.consts or bytearray(1), np.uint8)  # (writable)
        spec = np.array(self.spec, np.uint64)
        out = np.empty(n * (blocks.shape[1] + len(self.consts)), np.uint8)
        sizes = np.empty(n, np.int64)
        used = _assemble(blocks, consts, spec, out, sizes)
        return out[:used].tobytes(), sizes


@njit(cache=True, nogil=True)
def _assemble(blocks, consts, spec, out, sizes):
    """Each row's segments into ``out``, in order: the constant ``consts[start:start+width]``
    (kind 0) or the text of ``blocks[row, start:start+width]`` (kind 1), which is the
    segment up to its first NUL (every block holds each row's text first, then NUL padding):
    the whole segment is copied and the next one starts after its text. ``sizes[i]``: the
    bytes of row ``i``. Returns the bytes written. (All indices unsigned: no negative-index
    checks, so the copies vectorise.)"""
    k = _U0
    w = np.uint64(blocks.shape[1])
    flat = blocks.reshape(blocks.size)
    for i in range(blocks.shape[0]):
        first = k
        base = np.uint64(i) * w
        for s in range(spec.shape[0]):
            start, width = spec[s, 1], spec[s, 2]
            if spec[s, 0] == _U0:
                for j in range(width):
                    out[k + j] = consts[start + j]
                k += width
            else:
                at = base + start
                text = _U0
                for j in range(width):
                    b = flat[at + j]
                    out[k + j] = b
                    text += np.uint64(b != 0)
                k += text
        sizes[i] = np.int64(k - first)
    return np.int64(k)


def warm_up() -> float:
    """Compile (or load from Numba's cache) the kernels of :func:`~.eve.alert_lines`, with the
    argument types it uses; returns the seconds taken."""
    t0 = time.perf_counter()
    one, out, ok = np.zeros(1), np.zeros((1, 31), np.uint8), np.zeros(1, np.bool_)
    _int_kernel(one, _PAIRS, out[:, :20].copy(), np.zeros(1, np.uint8))
    _round6_kernel(one, _SMALL, _PAIRS, out, ok)
    _time_kernel(one, _PAIRS, out, ok)
    spec = np.ones((1, 3), np.uint64)
    _assemble(out, np.zeros(1, np.uint8), spec, np.zeros(31, np.uint8), np.zeros(1, np.int64))
    return time.perf_counter() - t0


def char_rows(s: np.ndarray) -> np.ndarray:
    """An ``S`` array as its ``(n, itemsize)`` uint8 bytes (NUL-padded)."""
    s = np.ascontiguousarray(s)
    return s.view(np.uint8).reshape(s.shape[0], s.dtype.itemsize)


def _put(mat: np.ndarray, mask: np.ndarray, texts: list[str]) -> np.ndarray:
    """``mat`` with rows ``mask`` replaced by ``texts`` (ASCII), widened if they need it."""
    chars = char_rows(np.array([t.encode("ascii") for t in texts], dtype=bytes))
    w = chars.shape[1]
    if w > mat.shape[1]:
        mat = np.concatenate([mat, np.zeros((mat.shape[0], w - mat.shape[1]), np.uint8)], axis=1)
    rows = np.flatnonzero(mask)
    mat[rows] = 0
    mat[rows, :w] = chars
    return mat


# ------------------------------------------------------------------------------ numbers
# Numba kernels write the numbers. Each decides a value exactly as CPython does (the same IEEE
# operations in the same order; no fast-math) and flags the values it does not cover, which
# Python then writes (int, round and repr, datetime and strftime). Digits are made with
# unsigned arithmetic, two at a time from a table: a division by a constant each.
_INT_SAFE = 9.0e18  # |int(x)| below this is an int64


@njit(cache=True, inline="always")
def _fixed(flat, at, x, width, pairs):
    """``width`` zero-padded decimal digits of ``x`` (uint64, < 10**width) at ``flat[at:]``
    (``at`` and ``width`` uint64)."""
    j = at + width
    while j >= at + _U2:
        q = x // _U100
        r = x - q * _U100
        flat[j - _U2] = pairs[r, 0]
        flat[j - _U1] = pairs[r, 1]
        j -= _U2
        x = q
    if j > at:
        flat[at] = pairs[x, 1]


@njit(cache=True, inline="always")
def _ndigits(a):
    """The number of decimal digits of ``a`` (uint64), as uint64."""
    d = _U1
    while a >= _U10:
        a = a // _U10
        d += _U1
    return d


@njit(cache=True, nogil=True)
def _int_kernel(v, pairs, out, state):
    """``int(x)`` of each x of ``v`` (float64) as text at the start of its row of ``out``
    (width 20, NUL after it); ``state[i]`` 0 where x is not finite (nothing written), 1
    written, 2 too large for an int64 (nothing written). Returns the width of the widest.
    (The kernels index with unsigned integers: no negative-index checks.)"""
    flat = out.reshape(out.size)  # (a view: out is C-contiguous)
    w = np.uint64(out.shape[1])
    width = _U1
    for i in range(v.shape[0]):
        x = v[i]
        if not math.isfinite(x):
            state[i] = 0
            continue
        if abs(x) >= _INT_SAFE:
            state[i] = 2
            continue
        state[i] = 1
        q = np.int64(x)  # truncates, as int(x)
        a = np.uint64(abs(q))
        at = np.uint64(i) * w
        sign = _U0
        if q < 0:
            flat[at] = 45
            sign = _U1
        d = _ndigits(a)
        _fixed(flat, at + sign, a, d, pairs)
        width = max(width, sign + d)
    return np.int64(width)


@njit(cache=True, nogil=True)
def _round6_kernel(v, small, pairs, out, ok):
    """``repr(round(x, 6))`` of each x of ``v`` into its row of ``out`` (width 10).

    ``round`` is correctly rounded (half to even) to k micro-units and ``repr`` of the result
    is the shortest text that reads back, which for 0 <= k < 1e9 is k / 1e6 in fixed notation
    without trailing zeros (``0.0`` for 0) and, below 1e-4, repr's exponent form
    (``small[k]``). ``ok[i]`` False (nothing written): x is negative (or -0.0), >= 1000, not
    finite or within 1e-6 micro-units of a rounding tie (where x * 1e6 might round the other
    way than the exact decimal value)."""
    flat = out.reshape(out.size)  # (a view: out is C-contiguous)
    w = np.uint64(out.shape[1])
    for i in range(v.shape[0]):
        x = v[i]
        s = x * 1e6
        if not (x >= 0.0 and x < 1000.0 and math.copysign(1.0, x) > 0.0
                and abs(s - np.floor(s) - 0.5) > 1e-6):
            ok[i] = False
            continue
        ok[i] = True
        k = np.uint64(np.rint(s))
        at = np.uint64(i) * w
        if k > _U0 and k < _U100:
            for j in range(small.shape[1]):
                flat[at + np.uint64(j)] = small[k, j]
            continue
        whole = k // _U1M
        d = _ndigits(whole)
        _fixed(flat, at, whole, d, pairs)
        flat[at + d] = 46
        _fixed(flat, at + d + _U1, k - whole * _U1M, _U6, pairs)
        j, stop = at + d + _U6, at + d + _U1
        while j > stop and flat[j] == 48:  # trailing zeros go; one fraction digit stays
            flat[j] = 0
            j -= _U1


@njit(cache=True, nogil=True)
def _time_kernel(ts, pairs, out, ok):
    """``datetime.fromtimestamp(x, utc).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")`` of each x of
    ``ts`` into its row of ``out`` (width 31). The seconds and microseconds are split as
    CPython does (``modf``; the fraction times 1e6 rounded half to even, carried into the
    seconds); days to dates by H. Hinnant's ``civil_from_days`` (proleptic Gregorian, as
    datetime), on days counted from 1000-01-01 so that all is unsigned. ``ok[i]`` False
    (nothing written): x is not finite or outside the years 1000-9999."""
    flat = out.reshape(out.size)  # (a view: out is C-contiguous)
    w = np.uint64(out.shape[1])
    for i in range(ts.shape[0]):
        x = ts[i]
        if not math.isfinite(x):
            ok[i] = False
            continue
        whole = np.trunc(x)
        us = np.rint((x - whole) * 1e6)
        if us >= 1e6:
            us -= 1e6
            whole += 1.0
        elif us < 0.0:
            us += 1e6
            whole -= 1.0
        if whole < _TIME_FIRST or whole > _TIME_LAST:
            ok[i] = False
            continue
        ok[i] = True
        secs = np.uint64(whole - _TIME_FIRST)
        days = secs // _U86400
        sod = secs - days * _U86400
        z = days + np.uint64(365_183)  # days since 0000-03-01 (Hinnant's z)
        era = z // _U146097
        doe = z - era * _U146097
        yoe = (doe - doe // _U1460 + doe // _U36524 - doe // _U146096) // _U365
        doy = doe - (_U365 * yoe + yoe // _U4 - yoe // _U100)
        mp = (_U5 * doy + _U2) // _U153
        day = doy - (_U153 * mp + _U2) // _U5 + _U1
        month = mp + _U3 if mp < _U10 else mp - _U9
        year = yoe + era * _U400 + (_U1 if month <= _U2 else _U0)
        hour = sod // _U3600
        rest = sod - hour * _U3600
        minute = rest // _U60
        at = np.uint64(i) * w
        _fixed(flat, at, year, _U4, pairs)
        _fixed(flat, at + _U5, month, _U2, pairs)
        _fixed(flat, at + np.uint64(8), day, _U2, pairs)
        _fixed(flat, at + np.uint64(11), hour, _U2, pairs)
        _fixed(flat, at + np.uint64(14), minute, _U2, pairs)
        _fixed(flat, at + np.uint64(17), rest - minute * _U60, _U2, pairs)
        _fixed(flat, at + np.uint64(20), np.uint64(us), _U6, pairs)
        for j, c in ((4, 45), (7, 45), (10, 84), (13, 58), (16, 58), (19, 46), (26, 43),
                     (27, 48), (28, 48), (29, 48), (30, 48)):  # (-, T, :, ., +0000)
            flat[at + np.uint64(j)] = c


def int_text(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """JSON integers of ``int(x)`` for each x of ``v``: ``(chars, present)``; not finite: not
    present (nothing written)."""
    v = np.ascontiguousarray(v, np.float64)
    out = np.zeros((v.shape[0], 20), np.uint8)
    state = np.empty(v.shape[0], np.uint8)
    out = out[:, : _int_kernel(v, _PAIRS, out, state)]
    big = state == 2
    if big.any():
        out = _put(np.ascontiguousarray(out), big, [str(int(x)) for x in v[big].tolist()])
    return out, state != 0


# repr(round(x, 6)) for x rounding to k micro-units, k = 1..99: repr's exponent form.
_SMALL = char_rows(np.array([repr(k / 1e6).encode() for k in range(100)], dtype="S8"))


def _round6_py(x: float) -> str:
    """``json.dumps(round(x, 6))``; non-finite values (which json.dumps refuses) as null."""
    return float.__repr__(round(x, 6)) if math.isfinite(x) else "null"


def round6_text(v: np.ndarray) -> np.ndarray:
    """JSON numbers of ``round(float(x), 6)`` for each x of ``v`` (1-d), byte for byte as
    ``json.dumps`` writes them; non-finite values as null."""
    v = np.ascontiguousarray(v, np.float64)
    out = np.zeros((v.shape[0], 10), np.uint8)
    ok = np.empty(v.shape[0], np.bool_)
    _round6_kernel(v, _SMALL, _PAIRS, out, ok)
    if not ok.all():
        out = _put(out, ~ok, [_round6_py(x) for x in v[~ok].tolist()])
    return out


def iso_time(ts: float | None) -> str:
    """An EVE time stamp of epoch seconds ``ts`` (now, where missing or not finite; the
    clamped :data:`TIME_MIN` / :data:`TIME_MAX` where a datetime cannot hold it)."""
    if ts is None or not math.isfinite(ts):
        dt = datetime.now(timezone.utc)  # noqa: UP017 (py3.11 alias is fine either way)
    else:
        try:
            dt = datetime.fromtimestamp(ts, timezone.utc)  # noqa: UP017
        except (OverflowError, OSError, ValueError):
            return TIME_MAX if ts > 0 else TIME_MIN
    return dt.strftime(_TIME_FORMAT)


def time_text(ts: np.ndarray | None, n: int, now: str | None = None) -> np.ndarray:
    """:func:`iso_time` of each of ``ts`` (None: all missing) as ``(n, w)`` ASCII; missing
    and non-finite times are the batch's "now" (``now``, else one clock reading per
    batch)."""
    out = np.zeros((n, 31), np.uint8)
    ok = np.zeros(n, np.bool_)
    if ts is not None:
        ts = np.ascontiguousarray(ts, np.float64)
        _time_kernel(ts, _PAIRS, out, ok)
    if not ok.all():
        now = now if now is not None else iso_time(None)
        slow = [now] * n if ts is None else [iso_time(t) if math.isfinite(t) else now
                                             for t in ts[~ok].tolist()]
        out = _put(out, ~ok, slow)
    return out
