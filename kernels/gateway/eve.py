"""EVE alerts: the Suricata-style JSON event of an alerting flow, and the writer of the alert
file (JSON lines, flushed per alert, rotated by size).

:func:`alert_event` builds one event from a row of a flow table; :class:`AlertColumns` finds,
once per table, the columns an event reports (addresses, ports, protocol, time, flow id),
whatever the layout calls them. :data:`CATEGORIES` maps class names to Suricata
classtype-like categories and a base severity.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from datetime import datetime, timezone

import numpy as np

from ..errors import InputError
from ..io.table import FlowTable

_SRC_IP, _DST_IP = ("Source IP", "saddr"), ("Destination IP", "daddr")
_SRC_PORT, _DST_PORT = ("Source Port", "sport"), ("Destination Port", "dport")
_PROTO_TEXT, _PROTO_NUM = ("proto",), ("Protocol",)
TIME_COLUMNS = ("stime", "Timestamp")
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


# ------------------------------------------------------------------------------ events
def column(table: FlowTable, names, kind: str):
    """The first of ``names`` the table has, as values (``kind`` ``str``: a string column,
    ``aux``: a numeric metadata column), or None."""
    for n in names:
        if kind == "str" and n in table.strings:
            return table.strings[n].values()
        if kind == "aux" and n in table.aux_names:
            return table.aux_column(n)
    return None


class AlertColumns:
    """The columns of one flow table that its alerts report (None where the layout lacks one)."""

    def __init__(self, table: FlowTable):
        self.table = table
        self.src, self.dst = column(table, _SRC_IP, "str"), column(table, _DST_IP, "str")
        self.sport, self.dport = column(table, _SRC_PORT, "aux"), column(table, _DST_PORT, "aux")
        self.proto_t = column(table, _PROTO_TEXT, "str")
        self.proto_n = column(table, _PROTO_NUM, "aux")
        self.times = column(table, TIME_COLUMNS, "aux")
        self.flow_n, self.flow_t = column(table, _FLOW_NUM, "aux"), column(table, _FLOW_TEXT, "str")
        name = table.files[0]
        self.source_file = os.path.basename(name) if name != "-" else "-"

    def endpoints(self, row: int) -> dict:
        """``flow_id``, ``src_ip`` .. ``proto`` of row ``row``: those the table has."""
        event: dict = {}
        flow_n, flow_t = self.flow_n, self.flow_t
        if flow_n is not None and math.isfinite(flow_n[row]):
            event["flow_id"] = int(flow_n[row])
        elif flow_t is not None and flow_t[row]:
            digest = hashlib.blake2b(flow_t[row].encode(), digest_size=6).digest()
            event["flow_id"] = int.from_bytes(digest, "big")
        if self.src is not None:
            event["src_ip"] = self.src[row]
        if self.sport is not None and _port(self.sport[row]) is not None:
            event["src_port"] = _port(self.sport[row])
        if self.dst is not None:
            event["dest_ip"] = self.dst[row]
        if self.dport is not None and _port(self.dport[row]) is not None:
            event["dest_port"] = _port(self.dport[row])
        if self.proto_t is not None and self.proto_t[row]:
            event["proto"] = self.proto_t[row].upper()
        elif self.proto_n is not None and math.isfinite(self.proto_n[row]):
            number = int(self.proto_n[row])
            event["proto"] = IP_PROTOCOLS.get(number, str(number))
        return event


def alert_event(cols: AlertColumns, row: int, probs: np.ndarray, p_attack: float, cls: int,
                classes: tuple[str, ...], action: str = "allowed") -> dict:  # fmt: skip
    """The EVE ``alert`` event of table row ``row``.

    Args:
        cols: the table's columns (:class:`AlertColumns`).
        row: the row.
        probs: its class probabilities.
        p_attack: its P(attack) = 1 - P(normal).
        cls: the index of the class reported.
        classes: the model's class names.
        action: ``allowed`` or ``blocked`` (the firewall added its source).
    """
    name = classes[cls]
    category, base = CATEGORIES.get(name.lower(), ("Misc Attack", 2))
    severity = int(min(3, base + (0 if p_attack >= 0.9 else 1)))
    times = cols.times
    event: dict = {
        "timestamp": iso_time(None if times is None else float(times[row])),
        "event_type": "alert",
        **cols.endpoints(row),
    }
    event["alert"] = {
        "action": action,
        "gid": 1,
        "signature_id": SIGNATURE_BASE + cls,
        "rev": 1,
        "signature": f"LTCN {name}",
        "category": category,
        "severity": severity,
    }
    event["ltcn"] = {
        "probabilities": {c: round(float(v), 6) for c, v in zip(classes, probs, strict=True)},
        "p_attack": round(p_attack, 6),
        "class": name,
        "source_file": cols.source_file,
        "line": int(cols.table.line[row]),
    }
    if cols.flow_t is not None and cols.flow_t[row]:
        event["ltcn"]["flow_key"] = cols.flow_t[row]
    return event


def iso_time(ts: float | None) -> str:
    """An EVE time stamp of epoch seconds ``ts`` (now, where missing or not finite)."""
    if ts is None or not math.isfinite(ts):
        dt = datetime.now(timezone.utc)  # noqa: UP017 (py3.11 alias is fine either way)
    else:
        dt = datetime.fromtimestamp(ts, timezone.utc)  # noqa: UP017
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _port(v) -> int | None:
    return int(v) if v is not None and math.isfinite(v) else None


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
        return open(path, mode, **kwargs)
    except IsADirectoryError as exc:
        raise InputError(f"{flag} {path}: is a directory; give a file name") from exc
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot write as user {user} ({exc.strerror}); make {parent} "
            f"writable by {user}"
        ) from exc


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return str(getattr(os, "geteuid", lambda: "?")())


class AlertWriter:
    """JSON lines, flushed after each alert, rotated by size (``path.1`` .. ``path.keep``)."""

    def __init__(self, path: str | None, max_bytes: int = 0, keep: int = 5, stream=None):
        self.path = None if path in (None, "-") else str(path)
        self.max_bytes = int(max_bytes)
        self.keep = max(0, int(keep))
        self.rotations = 0
        self.written = 0
        if self.path is None:
            self._f = stream if stream is not None else sys.stdout
            self._size = 0
        else:
            self._f = open_output(self.path, "--alerts", "a", encoding="utf-8")
            self._size = os.path.getsize(self.path)

    def _rotate(self) -> None:
        self._f.flush()
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
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = 0

    def write(self, event: dict) -> None:
        line = json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n"
        size = len(line.encode("utf-8"))
        if self.path is not None and self.max_bytes > 0 and self._size > 0:
            if self._size + size > self.max_bytes:
                self._rotate()
        self._f.write(line)
        self._f.flush()
        self._size += size
        self.written += 1

    def close(self) -> None:
        try:
            self._f.flush()
            if self.path is not None:
                os.fsync(self._f.fileno())
                self._f.close()
        except (OSError, ValueError):
            pass
