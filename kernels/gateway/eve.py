"""EVE alerts: the Suricata-style JSON events of alerting flows, built a micro-batch at a time,
and the writer of the alert file (JSON lines, flushed per micro-batch, rotated by size).

:func:`alert_lines` writes the events of a batch of table rows as one block of bytes, byte
for byte what ``json.dumps`` of one event dict per alert wrote (the field set and order of
Suricata's EVE ``alert`` event and our ``ltcn`` object), without a dict or a Python string per
line: each line is the same sequence of segments, constants (keys, punctuation, encoded once
per batch or, for the ``alert`` object of each class, once per model: :class:`AlertFormat`)
and fixed-width byte columns whose NUL bytes are padding (no JSON text holds a raw NUL), and a
Numba kernel copies them out without the NULs. Texts from the input (addresses, protocols,
flow keys) are JSON-encoded once per distinct value, and only where they need escaping
(non-printable or non-ASCII characters, quotes, backslashes). Numbers are written by Numba
kernels that decide each value as CPython does: ``round(p, 6)`` as ``repr`` writes it, ``int``
of ports and identifiers, ``datetime.fromtimestamp(t, utc).strftime(...)``; the values they do
not cover (huge numbers, rounding ties, years outside 1000-9999) are written by Python. A
hostile record cannot stop the detector: a time stamp no datetime can hold is clamped to
:data:`TIME_MIN` / :data:`TIME_MAX`, a probability that is not a number is ``null`` (both
raised before). :func:`alert_event` is one line as a dict.

:class:`AlertColumns` finds, once per table, the columns an event reports (addresses, ports,
protocol, time, flow id), whatever the layout calls them. :data:`CATEGORIES` maps class names
to Suricata classtype-like categories and a base severity.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import sys
import time
from datetime import datetime, timezone

import numpy as np
from numba import njit

from ..errors import InputError
from ..io.table import START_TIME_COLUMNS, Categorical, FlowTable

_SRC_IP, _DST_IP = ("Source IP", "saddr"), ("Destination IP", "daddr")
_SRC_PORT, _DST_PORT = ("Source Port", "sport"), ("Destination Port", "dport")
_PROTO_TEXT, _PROTO_NUM = ("proto",), ("Protocol",)
TIME_COLUMNS = START_TIME_COLUMNS
_FLOW_NUM, _FLOW_TEXT = ("pkSeqID", "id"), ("Flow ID",)
IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "IPv6-ICMP"}

# Suricata classtype-like categories and a base severity (1 = most severe) per class name.
CATEGORIES = {
    "dos": ("Detection of a Denial of Service Attack", 1),
    "ddos": ("Detection of a Denial of Service Attack", 1),
    "probe": ("Detection of a Network Scan", 2),
    "portscan": ("Detection of a Network Scan", 2),
    "reconnaissance": ("Detection of a Network Scan", 2),
    "bot": ("A Network Trojan was detected", 1),
    "theft": ("Potential Corporate Privacy Violation", 1),
    "infiltration": ("A Network Trojan was detected", 1),
    "heartbleed": ("Attempted Information Leak", 1),
    "web attack": ("Web Application Attack", 1),
    "brute force": ("Attempted User Privilege Gain", 2),
    "r2l": ("Attempted User Privilege Gain", 1),
    "u2r": ("Attempted Administrator Privilege Gain", 1),
    "attempted": ("Attempted Information Leak", 3),
}
SIGNATURE_BASE = 9_100_000

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


# ------------------------------------------------------------------------------ columns
def column(table: FlowTable, names, kind: str):
    """The first of ``names`` the table has, as values (``kind`` ``str``: a string column,
    ``aux``: a numeric metadata column), or None."""
    for n in names:
        if kind == "str" and n in table.strings:
            return table.strings[n].values()
        if kind == "aux" and n in table.aux_names:
            return table.aux_column(n)
    return None


def _categorical(table: FlowTable, names) -> Categorical | None:
    for n in names:
        if n in table.strings:
            return table.strings[n]
    return None


class AlertColumns:
    """The columns of one flow table that its alerts report (None where the layout lacks one):
    string columns as :class:`~ltcn_kernels.io.table.Categorical` (codes into a vocabulary,
    so each distinct text is encoded once), numeric ones as float64 arrays."""

    def __init__(self, table: FlowTable):
        self.table = table
        self.src, self.dst = _categorical(table, _SRC_IP), _categorical(table, _DST_IP)
        self.sport, self.dport = column(table, _SRC_PORT, "aux"), column(table, _DST_PORT, "aux")
        self.proto_t = _categorical(table, _PROTO_TEXT)
        self.proto_n = column(table, _PROTO_NUM, "aux")
        self.times = column(table, TIME_COLUMNS, "aux")
        self.flow_n, self.flow_t = column(table, _FLOW_NUM, "aux"), _categorical(table, _FLOW_TEXT)
        name = table.files[0]
        self.source_file = os.path.basename(name) if name != "-" else "-"

    def source_ips(self, rows: np.ndarray) -> list[str]:
        """The source address text of each of ``rows`` (the firewall's candidates)."""
        return [] if self.src is None else _values(self.src, rows)

    def dest_ips(self, rows: np.ndarray) -> list[str | None]:
        """The destination address text of each of ``rows`` (None where the layout has none)."""
        return [None] * len(rows) if self.dst is None else _values(self.dst, rows)


def _values(cat: Categorical, rows: np.ndarray) -> list[str]:
    """The text of ``cat`` at each of ``rows``."""
    vocab = cat.vocab
    return [vocab[c] for c in cat.codes[rows].tolist()]


def _texts(cat: Categorical, rows: np.ndarray, transform=None):
    """``(chars, non-empty)`` of ``cat`` at ``rows``: the JSON text of each row's value without
    its quotes (ASCII, escaped exactly as ``json.dumps`` does) as ``(n, w)`` NUL-padded bytes,
    and whether the value is non-empty. Each distinct value is encoded once (``transform``,
    e.g. ``str.upper``, first)."""
    codes = cat.codes[rows]
    if 2 * codes.shape[0] >= len(cat.vocab):  # most of the vocabulary: all of it, no sort
        words, index = list(cat.vocab), codes
    else:
        uniq, index = np.unique(codes, return_inverse=True)
        words = [cat.vocab[c] for c in uniq.tolist()]
    if transform is not None:
        words = [transform(w) for w in words]
    chars = _json_chars(words)[index]
    return chars, chars[:, 0] != 0


def _json_chars(words: list[str]) -> np.ndarray:
    """The JSON texts of ``words`` without their quotes, as ``(len(words), w)`` NUL-padded
    bytes: the words themselves where none needs escaping (printable ASCII, no quote or
    backslash), else ``json.dumps``'s escapes."""
    joined = "".join(words)
    if not (joined.isascii() and joined.isprintable() and '"' not in joined
            and "\\" not in joined):  # fmt: skip
        words = [_json_str(w)[1:-1] for w in words]
    return _chars(np.array(words, dtype="S") if words else np.zeros(0, "S1"))


def _json_str(text: str) -> str:
    return json.encoder.encode_basestring_ascii(text)


def _flow_hash(text: str) -> int:
    """The ``flow_id`` of a textual flow identifier: 48 bits of its BLAKE2b digest."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return int.from_bytes(digest, "big")


# ------------------------------------------------------------------------------ byte columns
class _Lines:
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
    """Compile (or load from Numba's cache) the kernels of :func:`alert_lines`, with the
    argument types it uses; returns the seconds taken."""
    t0 = time.perf_counter()
    one, out, ok = np.zeros(1), np.zeros((1, 31), np.uint8), np.zeros(1, np.bool_)
    _int_kernel(one, _PAIRS, out[:, :20].copy(), np.zeros(1, np.uint8))
    _round6_kernel(one, _SMALL, _PAIRS, out, ok)
    _time_kernel(one, _PAIRS, out, ok)
    spec = np.ones((1, 3), np.uint64)
    _assemble(out, np.zeros(1, np.uint8), spec, np.zeros(31, np.uint8), np.zeros(1, np.int64))
    return time.perf_counter() - t0


def _chars(s: np.ndarray) -> np.ndarray:
    """An ``S`` array as its ``(n, itemsize)`` uint8 bytes (NUL-padded)."""
    s = np.ascontiguousarray(s)
    return s.view(np.uint8).reshape(s.shape[0], s.dtype.itemsize)


def _put(mat: np.ndarray, mask: np.ndarray, texts: list[str]) -> np.ndarray:
    """``mat`` with rows ``mask`` replaced by ``texts`` (ASCII), widened if they need it."""
    chars = _chars(np.array([t.encode("ascii") for t in texts], dtype=bytes))
    w = chars.shape[1]
    if w > mat.shape[1]:
        mat = np.concatenate([mat, np.zeros((mat.shape[0], w - mat.shape[1]), np.uint8)], axis=1)
    rows = np.flatnonzero(mask)
    mat[rows] = 0
    mat[rows, :w] = chars
    return mat


def _optional(out: _Lines, key: bytes, mat: np.ndarray, present: np.ndarray,
              tail: bytes = b"") -> None:  # fmt: skip
    """``key``, the value and ``tail`` on the rows ``present``; nothing on the others."""
    if present.all():
        out.text(key)
        out.block(mat)
        if tail:
            out.text(tail)
        return
    n, w = mat.shape
    block = np.zeros((n, len(key) + w + len(tail)), np.uint8)
    block[:, : len(key)] = np.frombuffer(key, np.uint8)
    block[:, len(key) : len(key) + w] = mat
    end = len(key) + np.count_nonzero(mat, axis=1)  # (each value: its text, then NULs)
    for t, c in enumerate(tail):
        block[np.arange(n), end + t] = c
    block[~present] = 0
    out.block(block)


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
                and abs(s - np.floor(s) - 0.5) > 1e-6):  # fmt: skip
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
                     (27, 48), (28, 48), (29, 48), (30, 48)):  # fmt: skip  (-, T, :, ., +0000)
            flat[at + np.uint64(j)] = c


def _int_text(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
_SMALL = _chars(np.array([repr(k / 1e6).encode() for k in range(100)], dtype="S8"))


def _round6_py(x: float) -> str:
    """``json.dumps(round(x, 6))``; non-finite values (which json.dumps refuses) as null."""
    return float.__repr__(round(x, 6)) if math.isfinite(x) else "null"


def _round6_text(v: np.ndarray) -> np.ndarray:
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


def _time_text(ts: np.ndarray | None, n: int) -> np.ndarray:
    """:func:`iso_time` of each of ``ts`` (None: all missing) as ``(n, w)`` ASCII; missing
    and non-finite times are the batch's "now" (one clock reading per batch)."""
    out = np.zeros((n, 31), np.uint8)
    ok = np.zeros(n, np.bool_)
    if ts is not None:
        ts = np.ascontiguousarray(ts, np.float64)
        _time_kernel(ts, _PAIRS, out, ok)
    if not ok.all():
        now = iso_time(None)
        slow = [now] * n if ts is None else [iso_time(t) if math.isfinite(t) else now
                                             for t in ts[~ok].tolist()]  # fmt: skip
        out = _put(out, ~ok, slow)
    return out


# ------------------------------------------------------------------------------ events
def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class AlertFormat:
    """The parts of a model's alert lines that depend only on its class names: the ``alert``
    object per (action, class, severity step) and the probability keys, encoded once."""

    def __init__(self, classes):
        self.classes = tuple(classes)
        c = len(self.classes)
        blocks = []
        for action in ("allowed", "blocked"):
            for k, name in enumerate(self.classes):
                category, base = CATEGORIES.get(name.lower(), ("Misc Attack", 2))
                for step in (0, 1):  # 0: P(attack) >= 0.9
                    alert = {"action": action, "gid": 1, "signature_id": SIGNATURE_BASE + k,
                             "rev": 1, "signature": f"LTCN {name}", "category": category,
                             "severity": int(min(3, base + step))}  # fmt: skip
                    blocks.append(f'"alert":{_dumps(alert)},"ltcn":{{"probabilities":{{')
        self.alert = np.array([b.encode("ascii") for b in blocks], dtype=bytes)
        self.n_classes = c
        # The probabilities object is a dict: a repeated class name keeps its first place
        # and its last value.
        keys = list(dict.fromkeys(self.classes))
        last = {name: k for k, name in enumerate(self.classes)}
        self.prob_columns = np.array([last[name] for name in keys], np.int64)
        texts = [("," if j else "") + _json_str(name) + ":" for j, name in enumerate(keys)]
        texts.append('},"p_attack":')
        self.prob_keys = [t.encode("ascii") for t in texts]
        self.class_text = np.array(
            [f',"class":{_json_str(name)}'.encode("ascii") for name in self.classes], dtype=bytes
        )


def alert_lines(fmt: AlertFormat, cols: AlertColumns, rows: np.ndarray, probs: np.ndarray,
                p_attack: np.ndarray, cls: np.ndarray,
                blocked: np.ndarray | None = None) -> tuple[bytes, np.ndarray]:  # fmt: skip
    """The EVE ``alert`` events of table rows ``rows``, one JSON line each.

    Args:
        fmt: the model's :class:`AlertFormat`.
        cols: the table's columns (:class:`AlertColumns`).
        rows: the rows (int array).
        probs: their class probabilities, ``(len(rows), classes)``.
        p_attack: their P(attack) = 1 - P(normal) (float64, as ``float`` of the engine's).
        cls: the index of the class each reports.
        blocked: where the firewall added the source (``action`` ``blocked``; None: none).

    Returns ``(data, sizes)``: the lines' bytes (each ends with a newline; ASCII) and the
    length of each. Byte for byte ``json.dumps(event, separators=(",", ":"))`` of the event
    dict (keys in the order ``timestamp``, ``event_type``, ``flow_id``, ``src_ip``,
    ``src_port``, ``dest_ip``, ``dest_port``, ``proto``, ``alert``, ``ltcn``; those the table
    lacks left out) plus a newline.
    """
    rows = np.asarray(rows, np.int64)
    n = rows.shape[0]
    cls = np.asarray(cls, np.int64)
    p_attack = np.asarray(p_attack, np.float64)
    out = _Lines(n)
    out.text(b'{"timestamp":"')
    out.block(_time_text(None if cols.times is None else cols.times[rows], n))
    out.text(b'","event_type":"alert",')
    _endpoints(out, cols, rows, n)
    step = ~(p_attack >= 0.9)
    index = (cls * 2 + step) if blocked is None else ((blocked * fmt.n_classes + cls) * 2 + step)
    out.block(_chars(fmt.alert[index]))
    values = np.concatenate(
        [np.asarray(probs, np.float64)[:, fmt.prob_columns], p_attack[:, None]], axis=1
    )
    text = _round6_text(values.reshape(-1))
    width = text.shape[1]
    out.columns(text.reshape(n, -1), fmt.prob_keys, width)
    out.block(_chars(fmt.class_text[cls]))
    out.text(b',"source_file":' + _json_str(cols.source_file).encode("ascii") + b',"line":')
    out.block(_int_text(cols.table.line[rows].astype(np.float64))[0])  # (< 2**53: exact)
    if cols.flow_t is not None:
        chars, full = _texts(cols.flow_t, rows)
        _optional(out, b',"flow_key":"', chars, full, b'"')
    out.text(b"}}\n")
    return out.build()


def _endpoints(out: _Lines, cols: AlertColumns, rows: np.ndarray, n: int) -> None:
    """``"flow_id":..,`` .. ``"proto":..,``: those the table has (and the row, for numbers)."""
    flow = np.full(n, np.nan) if cols.flow_n is None else cols.flow_n[rows]
    if cols.flow_t is not None:
        need = np.flatnonzero(~np.isfinite(flow))
        if need.size:  # no numeric identifier: a hash of the textual one, where it has one
            uniq, inv = np.unique(cols.flow_t.codes[rows[need]], return_inverse=True)
            words = [cols.flow_t.vocab[c] for c in uniq.tolist()]
            hashed = np.array([_flow_hash(w) if w else np.nan for w in words])  # < 2**48: exact
            flow[need] = hashed[inv]
    if cols.flow_n is not None or cols.flow_t is not None:
        chars, present = _int_text(flow)
        if present.any():
            _optional(out, b'"flow_id":', chars, present, b",")
    for ip, port, text, number in ((b'"src_ip":"', b'"src_port":', cols.src, cols.sport),
                                   (b'"dest_ip":"', b'"dest_port":', cols.dst, cols.dport)):  # fmt: skip
        if text is not None:
            out.text(ip)
            out.block(_texts(text, rows)[0])
            out.text(b'",')
        if number is not None:
            chars, present = _int_text(number[rows])
            if present.any():
                _optional(out, port, chars, present, b",")
    _proto(out, cols, rows, n)


# The "proto" text of IP protocol numbers 0..255 (NUL-padded).
_PROTO_NAMES = _json_chars([IP_PROTOCOLS.get(k, str(k)) for k in range(256)])


def _proto(out: _Lines, cols: AlertColumns, rows: np.ndarray, n: int) -> None:
    """``"proto":..,``: the text upper-cased where non-empty, else the IP protocol number's
    name (or the number)."""
    use_text = np.zeros(n, bool)
    chars = np.zeros((n, 1), np.uint8)
    if cols.proto_t is not None:
        chars, use_text = _texts(cols.proto_t, rows, str.upper)
    present = use_text
    if cols.proto_n is not None and not use_text.all():
        number = cols.proto_n[rows]
        ok = ~use_text & np.isfinite(number)
        if ok.any():
            values = np.trunc(number[ok])
            if ((values >= 0) & (values < 256)).all():
                names = _PROTO_NAMES[values.astype(np.int64)]
            else:
                uniq, inv = np.unique(values, return_inverse=True)
                names = _json_chars([IP_PROTOCOLS.get(int(x), str(int(x)))
                                     for x in uniq.tolist()])[inv]  # fmt: skip
            if use_text.any():
                w = max(chars.shape[1], names.shape[1])
                merged = np.zeros((n, w), np.uint8)
                merged[:, : chars.shape[1]] = chars
                merged[ok] = 0
                merged[ok, : names.shape[1]] = names
                chars = merged
            else:
                chars = np.zeros((n, names.shape[1]), np.uint8)
                chars[ok] = names
            present = use_text | ok
    if present.any():
        _optional(out, b'"proto":"', chars, present, b'",')


def alert_event(cols: AlertColumns, row: int, probs: np.ndarray, p_attack: float, cls: int,
                classes: tuple[str, ...], action: str = "allowed") -> dict:  # fmt: skip
    """The EVE ``alert`` event of table row ``row``, as a dict (one line of
    :func:`alert_lines`, read back).

    Args:
        cols: the table's columns (:class:`AlertColumns`).
        row: the row.
        probs: its class probabilities.
        p_attack: its P(attack) = 1 - P(normal).
        cls: the index of the class reported.
        classes: the model's class names.
        action: ``allowed`` or ``blocked`` (the firewall added its source).
    """
    data, _ = alert_lines(
        AlertFormat(classes), cols, np.array([row]), np.asarray(probs)[None, :],
        np.array([float(p_attack)]), np.array([cls]), np.array([action == "blocked"]),
    )  # fmt: skip
    return json.loads(data)


# ------------------------------------------------------------------------------ writer
def open_output(path: str, flag: str, mode: str = "a", **kwargs):
    """``open(path, mode)`` for an output file named by option ``flag``, creating its folder
    (``--alerts /var/log/ltcn/alerts.jsonl`` on a fresh system). A folder or file that cannot
    be made or written is an :class:`~ltcn_kernels.errors.InputError` saying exactly which
    path, as which user, and how to fix it (the unit's ``LogsDirectory=``)."""
    parent = os.path.dirname(os.path.abspath(path))
    user = _user()
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot create the folder {parent} as user {user} "
            f"({exc.strerror}); create it writable by {user} (e.g. `install -d -o {user} "
            f"{parent}`, or LogsDirectory= in the systemd unit)"
        ) from exc
    try:
        # O_NOFOLLOW: a link planted where the log goes must not point our writes elsewhere
        return open(path, mode, opener=_no_follow, **kwargs)
    except IsADirectoryError as exc:
        raise InputError(f"{flag} {path}: is a directory; give a file name") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{flag} {path}: is a symbolic link; give the file itself "
                             f"({os.path.realpath(path)})") from exc  # fmt: skip
        raise InputError(
            f"{flag} {path}: cannot write as user {user} ({exc.strerror}); make {parent} "
            f"writable by {user}"
        ) from exc


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o640)


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return str(getattr(os, "geteuid", lambda: "?")())


class AlertWriter:
    """JSON lines, written through after each batch of alerts, rotated by size (``path.1`` ..
    ``path.keep``) between lines: no file but the current one exceeds ``max_bytes`` unless a
    single line does.

    A write that fails (a full disk, an I/O error) never stops the detector: the batch's
    lines are counted in ``lost`` (the file is cut back to its last whole line), a warning
    says so at most once a minute, and the next batch tries again. :meth:`reopen` (SIGHUP)
    opens the file at ``path`` anew, after an outside rotation moved it away."""

    WARN_EVERY_S = 60.0

    def __init__(self, path: str | None, max_bytes: int = 0, keep: int = 5, stream=None,
                 err=None):  # fmt: skip
        self.path = None if path in (None, "-") else str(path)
        self.max_bytes = int(max_bytes)
        self.keep = max(0, int(keep))
        self.rotations = 0
        self.written = 0
        self.lost = 0
        self.reopens = 0
        self.err = err
        self._warned = -float("inf")
        if self.path is None:
            self._f = stream if stream is not None else sys.stdout
            self._size = 0
            self._text = isinstance(self._f, io.TextIOBase) or hasattr(self._f, "encoding")
        else:
            self._open()
            self._text = False

    def _open(self) -> None:
        # unbuffered: a failed write is known at once, and no failed bytes linger in a buffer
        self._f = open_output(self.path, "--alerts", "ab", buffering=0)
        self._size = os.fstat(self._f.fileno()).st_size

    @property
    def stream(self):
        """Where the lines go now (the open alert file, or the output stream)."""
        return self._f

    def reopen(self) -> None:
        """Close and open ``path`` again (``logrotate``'s ``postrotate`` sends SIGHUP)."""
        if self.path is None:
            return
        self.close()
        self._open()
        self.reopens += 1

    def _rotate(self) -> None:
        os.fsync(self._f.fileno())
        self._f.close()
        if self.keep == 0:
            os.remove(self.path)
        else:
            oldest = f"{self.path}.{self.keep}"
            if os.path.exists(oldest):
                os.remove(oldest)
            for k in range(self.keep - 1, 0, -1):
                if os.path.exists(f"{self.path}.{k}"):
                    os.replace(f"{self.path}.{k}", f"{self.path}.{k + 1}")
            os.replace(self.path, f"{self.path}.1")
        self.rotations += 1
        self._open()

    def _put(self, data: bytes) -> None:
        if self._text:
            self._f.write(data.decode("ascii"))
            return
        view = memoryview(data)
        while view.nbytes:
            n = self._f.write(view)
            if not n:
                raise OSError(errno.EAGAIN, "the alert output took no bytes")
            view = view[n:]

    def _lose(self, lines: int, exc: OSError) -> None:
        """Count ``lines`` as lost and cut the file back to its last whole line."""
        self.lost += lines
        if self.path is not None:
            try:
                os.ftruncate(self._f.fileno(), self._size)
            except (OSError, ValueError):
                pass  # (not a regular file, or closed: nothing to cut)
        now = time.monotonic()
        if now - self._warned >= self.WARN_EVERY_S:
            self._warned = now
            print(f"ltcn detect: cannot write alerts to {self.path or 'the output'} "
                  f"({exc.strerror or exc}); {self.lost:,} alerts lost so far, still "
                  "detecting", file=self.err or sys.stderr, flush=True)  # fmt: skip

    def write_lines(self, data: bytes, sizes) -> None:
        """Append complete lines (``data``, ASCII; ``sizes`` the length of each), rotating
        before a line that would take the file past ``max_bytes``."""
        sizes = np.asarray(sizes, np.int64)
        n = int(sizes.shape[0])
        if n == 0:
            return
        if self.path is None or self.max_bytes <= 0:
            try:
                self._put(data)
                self._f.flush()  # (an output stream's buffer; a no-op on the unbuffered file)
            except OSError as exc:
                self._lose(n, exc)
                return
            self._size += len(data)
            self.written += n
            return
        ends = np.cumsum(sizes)
        start = 0
        while start < n:
            base = int(ends[start - 1]) if start else 0
            room = self.max_bytes - self._size + base
            stop = max(start, int(np.searchsorted(ends, room, side="right")))
            try:
                if stop == start:  # the next line does not fit
                    if self._size > 0:
                        self._rotate()
                        continue
                    stop = start + 1  # a line longer than max_bytes, alone in a fresh file
                self._put(data[base : int(ends[stop - 1])])
            except OSError as exc:
                self._lose(n - start, exc)
                return
            self._size += int(ends[stop - 1]) - base
            self.written += stop - start
            start = stop

    def write(self, event: dict) -> None:
        """Append one event (a dict) as a JSON line."""
        line = (_dumps(event) + "\n").encode("ascii")
        self.write_lines(line, [len(line)])

    def close(self) -> None:
        try:
            self._f.flush()
            if self.path is not None:
                os.fsync(self._f.fileno())
        except (OSError, ValueError):
            pass
        if self.path is not None:
            try:
                self._f.close()
            except (OSError, ValueError):
                pass
