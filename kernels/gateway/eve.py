"""EVE alerts: the Suricata-style JSON event of an alerting flow (its fields, their order and
what they say), built a micro-batch at a time.

:func:`alert_lines` writes the events of a batch of table rows as one block of bytes, byte
for byte what ``json.dumps`` of one event dict per alert wrote (the field set and order of
Suricata's EVE ``alert`` event and our ``ltcn`` object), without a dict or a Python string per
line: the constants (keys, punctuation, encoded once per batch or, for the ``alert`` object of
each class, once per model: :class:`AlertFormat`) and the values' text columns are assembled
by the text kernels of :mod:`.evetext`. Texts from the input (addresses, protocols, flow keys)
are JSON-encoded once per distinct value. A hostile record cannot stop the detector (times
clamped, numbers that are not finite ``null``: see :mod:`.evetext`). :func:`alert_event` is one
line as a dict. Writing and rotating the alert file is :mod:`.alertfile`'s.

:class:`AlertColumns` finds, once per table, the columns an event reports (addresses, ports,
protocol, time, flow id), whatever the layout calls them. :data:`CATEGORIES` maps class names
to Suricata classtype-like categories and a base severity.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..io.table import START_TIME_COLUMNS, Categorical, FlowTable
from .evetext import (
    LineBuilder,
    char_rows,
    int_text,
    json_chars,
    json_str,
    round6_text,
    time_text,
)

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
        self.times = table.start_times()
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
    chars = json_chars(words)[index]
    return chars, chars[:, 0] != 0



def _flow_hash(text: str) -> int:
    """The ``flow_id`` of a textual flow identifier: 48 bits of its BLAKE2b digest."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return int.from_bytes(digest, "big")


# ------------------------------------------------------------------------------ events
def event_json(obj) -> str:
    """One event (or part of one) as compact JSON: the separators of every EVE line."""
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
                             "severity": int(min(3, base + step))}
                    blocks.append(f'"alert":{event_json(alert)},"ltcn":{{"probabilities":{{')
        self.alert = np.array([b.encode("ascii") for b in blocks], dtype=bytes)
        self.n_classes = c
        # The probabilities object is a dict: a repeated class name keeps its first place
        # and its last value.
        keys = list(dict.fromkeys(self.classes))
        last = {name: k for k, name in enumerate(self.classes)}
        self.prob_columns = np.array([last[name] for name in keys], np.int64)
        texts = [("," if j else "") + json_str(name) + ":" for j, name in enumerate(keys)]
        texts.append('},"p_attack":')
        self.prob_keys = [t.encode("ascii") for t in texts]
        self.class_text = np.array(
            [f',"class":{json_str(name)}'.encode("ascii") for name in self.classes], dtype=bytes
        )


def alert_lines(fmt: AlertFormat, cols: AlertColumns, rows: np.ndarray, probs: np.ndarray,
                p_attack: np.ndarray, cls: np.ndarray,
                blocked: np.ndarray | None = None,
                now: str | None = None) -> tuple[bytes, np.ndarray]:
    """The EVE ``alert`` events of table rows ``rows``, one JSON line each.

    Args:
        fmt: the model's :class:`AlertFormat`.
        cols: the table's columns (:class:`AlertColumns`).
        rows: the rows (int array).
        probs: their class probabilities, ``(len(rows), classes)``.
        p_attack: their P(attack) = 1 - P(normal) (float64, as ``float`` of the engine's).
        cls: the index of the class each reports.
        blocked: where the firewall added the source (``action`` ``blocked``; None: none).
        now: the ``timestamp`` of a flow without a time (default: the clock, read once).

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
    out = LineBuilder(n)
    out.text(b'{"timestamp":"')
    out.block(time_text(None if cols.times is None else cols.times[rows], n, now))
    out.text(b'","event_type":"alert",')
    _endpoints(out, cols, rows, n)
    step = ~(p_attack >= 0.9)
    index = (cls * 2 + step) if blocked is None else ((blocked * fmt.n_classes + cls) * 2 + step)
    out.block(char_rows(fmt.alert[index]))
    values = np.concatenate(
        [np.asarray(probs, np.float64)[:, fmt.prob_columns], p_attack[:, None]], axis=1
    )
    text = round6_text(values.reshape(-1))
    width = text.shape[1]
    out.columns(text.reshape(n, -1), fmt.prob_keys, width)
    out.block(char_rows(fmt.class_text[cls]))
    out.text(b',"source_file":' + json_str(cols.source_file).encode("ascii") + b',"line":')
    out.block(int_text(cols.table.line[rows].astype(np.float64))[0])  # (< 2**53: exact)
    if cols.flow_t is not None:
        chars, full = _texts(cols.flow_t, rows)
        out.optional(b',"flow_key":"', chars, full, b'"')
    out.text(b"}}\n")
    return out.build()


def _endpoints(out: LineBuilder, cols: AlertColumns, rows: np.ndarray, n: int) -> None:
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
        chars, present = int_text(flow)
        if present.any():
            out.optional(b'"flow_id":', chars, present, b",")
    for ip, port, text, number in ((b'"src_ip":"', b'"src_port":', cols.src, cols.sport),
                                   (b'"dest_ip":"', b'"dest_port":', cols.dst, cols.dport)):
        if text is not None:
            out.text(ip)
            out.block(_texts(text, rows)[0])
            out.text(b'",')
        if number is not None:
            chars, present = int_text(number[rows])
            if present.any():
                out.optional(port, chars, present, b",")
    _proto(out, cols, rows, n)


# The "proto" text of IP protocol numbers 0..255 (NUL-padded).
_PROTO_NAMES = json_chars([IP_PROTOCOLS.get(k, str(k)) for k in range(256)])


def _proto(out: LineBuilder, cols: AlertColumns, rows: np.ndarray, n: int) -> None:
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
                names = json_chars([IP_PROTOCOLS.get(int(x), str(int(x)))
                                     for x in uniq.tolist()])[inv]
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
        out.optional(b'"proto":"', chars, present, b'",')


def alert_event(cols: AlertColumns, row: int, probs: np.ndarray, p_attack: float, cls: int,
                classes: tuple[str, ...], action: str = "allowed") -> dict:
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
    )
    return json.loads(data)
