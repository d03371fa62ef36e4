"""Alert suppression and thresholds (``--rules FILE``, ``--suppress RULE``), after Suricata's
``threshold.config``.

One rule a line; ``#`` starts a comment (to the end of the line); blank lines are skipped.
A rule names a model class (case-insensitive) or ``*`` where Suricata names a signature::

    suppress class DoS, track by_src, ip 192.168.1.0/24
    suppress class *, track by_dst, ip 10.0.0.5
    suppress class Reconnaissance, track by_either, ip [2001:db8::/32, 10.0.0.0/8]
    suppress class Theft
    threshold class *, type limit, track by_src, count 1, seconds 60
    threshold class DDoS, type threshold, track by_src, count 10, seconds 60
    threshold class *, type both, track by_dst, count 5, seconds 300

``suppress`` drops the alert entirely: no event, no firewall block, not counted as an alert
(``track by_src``/``by_dst``: where that address is in ``ip``; ``by_either``: where either is;
no ``track``/``ip``: every alert of the class). ``threshold`` (also spelled ``event_filter``)
keeps the alert -- the flow counts as alerted and the firewall still blocks its source -- but
writes its event only as the type says, per signature (the class) and per ``track`` key
(``by_src``, ``by_dst``, ``by_both``: the address pair either way round, ``by_rule``: one key),
in windows that start at the first alert of a key and hold the alerts of the next ``seconds``
(``start <= t < start + seconds``; the first alert after it starts the next window):

- ``limit``: the first ``count`` alerts of a window;
- ``threshold``: every ``count``-th alert of a window;
- ``both``: the ``count``-th alert of a window only.

A class's thresholds are the rules that name it, else the ``*`` rules; an event is written
when every one of them lets it through (each counts every alert it applies to). Suppression
comes first: a suppressed alert counts toward no threshold.

Time is the flows' own start time (so a replayed capture gives what the live run gave), the
wall clock where the layout has none. The per-key windows are held in a bounded LRU
(:data:`MAX_KEYS`); a key forgotten starts a new window when it comes back.

``--allow`` is another thing: an allowed address is never blocked, but its alerts are still
written; a suppressed alert is neither written nor blocked.
"""

from __future__ import annotations

import ipaddress
import math
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from ..errors import DataFormatError, UsageError, show

if TYPE_CHECKING:  # (only a type here: the options check --suppress values with this module)
    from .sinks import AlertBatch

MAX_KEYS = 65_536  # (rule, class, track key) windows held; least recently used forgotten first
MAX_RULES = 1024
MAX_RULES_BYTES = 1 << 20
MAX_COUNT = 1_000_000_000
MAX_SECONDS = 366 * 86_400
KINDS = {"suppress": "suppress", "threshold": "threshold", "event_filter": "threshold"}
TYPES = ("limit", "threshold", "both")
SUPPRESS_TRACKS = ("by_src", "by_dst", "by_either")
THRESHOLD_TRACKS = ("by_src", "by_dst", "by_both", "by_rule")
KEYS = {
    "suppress": (("class",), ("track", "ip")),  # (required, optional)
    "threshold": (("class", "type", "track", "count", "seconds"), ()),
}
FLAG = "--suppress"


@dataclass(frozen=True)
class Rule:
    """One rule as written.

    Attributes:
        kind: ``suppress`` or ``threshold``.
        cls: the class as written, or ``*``.
        track: ``by_src``, ``by_dst``, ``by_either``, ``by_both``, ``by_rule`` (None: a
            suppress rule for every alert of the class).
        networks: a suppress rule's ``ip`` networks.
        type: a threshold's ``limit``, ``threshold`` or ``both``.
        count, seconds: a threshold's count and window.
        path, line, class_column: where it was written (``path`` :data:`FLAG` for a
            ``--suppress`` value, ``line`` then its place among them).
        text: the line, without its comment (a ``--suppress`` value: as given).
    """

    kind: str
    cls: str
    track: str | None = None
    networks: tuple = ()
    type: str | None = None
    count: int = 0
    seconds: int = 0
    path: str = "<rules>"
    line: int = 0
    class_column: int = 0
    text: str = ""

    @property
    def key(self) -> str:
        """The statistics key: ``file:line``, or ``--suppress`` and the rule."""
        if self.path == FLAG:
            return f"{FLAG} {self.canonical()[len('suppress '):][:80]}"
        return f"{os.path.basename(self.path)}:{self.line}"

    def canonical(self) -> str:
        """The rule as one line in the form :func:`parse_rules` reads (``class`` as written)."""
        parts = [f"{self.kind} class {self.cls}"]
        if self.kind == "threshold":
            parts.append(f"type {self.type}")
        if self.track is not None:
            parts.append(f"track {self.track}")
        if self.networks:
            nets = [str(n) for n in self.networks]
            parts.append(f"ip {nets[0]}" if len(nets) == 1 else f"ip [{', '.join(nets)}]")
        if self.kind == "threshold":
            parts += [f"count {self.count}", f"seconds {self.seconds}"]
        return ", ".join(parts)


# ------------------------------------------------------------------------------ parsing
def parse_rules(text: str, path: str = "<rules>") -> list[Rule]:
    """The rules of a rules file's text (``path`` names it in errors).

    Raises:
        DataFormatError: a bad line, as ``path:line:column: message``.
    """
    rules = []
    for number, line in enumerate(text.split("\n"), 1):
        body = line.rstrip("\r").split("#", 1)[0]
        if not body.strip():
            continue
        if len(rules) >= MAX_RULES:
            raise DataFormatError(path, number, 0, f"more than {MAX_RULES:,} rules")
        column = len(body) - len(body.lstrip()) + 1
        kind = body.split(None, 1)[0]
        if kind.lower() not in KINDS:
            raise DataFormatError(path, number, column, f"expected suppress or threshold, got "
                                  f"{show(kind)}")
        start = column - 1 + len(kind)
        rest = body[start:]
        rules.append(_rule(KINDS[kind.lower()], rest, path, number, start + 1, body.strip()))
    return rules


def read_rules(path: str) -> list[Rule]:
    """The rules of the file at ``path`` (UTF-8 text, at most 1 MiB).

    Raises:
        DataFormatError: no such file, not text, too big, or a bad line (``file:line:col``).
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        raise DataFormatError(path, 0, 0, f"cannot read the rules ({exc.strerror or exc})") from None
    if len(data) > MAX_RULES_BYTES:
        raise DataFormatError(path, 0, 0, f"a rules file of more than {MAX_RULES_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFormatError(path, line, 0, "not UTF-8 text") from None
    return parse_rules(text, path)


def flag_rules(values: Sequence[str]) -> list[Rule]:
    """``--suppress`` values as suppress rules (each a rule line without ``suppress``, which
    may be written).

    Raises:
        UsageError: a bad value, naming it and the column.
    """
    rules = []
    for number, value in enumerate(values, 1):
        text = str(value).split("#", 1)[0]
        words = text.split(None, 1)
        start = 0
        if words and words[0].lower() == "suppress":
            start = text.index(words[0]) + len(words[0])
        rest = text[start:]
        try:
            rules.append(_rule("suppress", rest, FLAG, number, start + 1, str(value)))
        except DataFormatError as exc:
            raise _flag_error(value, exc.column, exc.message) from None
    return rules


def _flag_error(value: str, column: int, message: str) -> UsageError:
    where = f" (column {column})" if column else ""
    return UsageError(f"{FLAG} {show(str(value))}{where}: {message}")


def _fields(rest: str, path: str, line: int, column: int) -> list[tuple[str, str, int, int]]:
    """``key value`` fields split at commas outside brackets: (key, value, key column, value
    column)."""
    fields, depth, start = [], 0, 0
    for i, ch in enumerate(rest + ","):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise DataFormatError(path, line, column + i, "a ']' without its '['")
        elif ch == "," and depth == 0:
            part = rest[start:i]
            body = part.strip()
            at = column + start + len(part) - len(part.lstrip())
            if not body:
                raise DataFormatError(path, line, at if i < len(rest) else column + i,
                                      "an empty field (expected KEY VALUE)")
            key = body.split(None, 1)[0]
            value = body[len(key):]
            gap = len(value) - len(value.lstrip())
            fields.append((key.lower(), value.strip(), at, at + len(key) + gap))
            start = i + 1
    if depth:
        raise DataFormatError(path, line, column + len(rest), "a '[' without its ']'")
    return fields


def _rule(kind: str, rest: str, path: str, line: int, column: int, text: str) -> Rule:
    """One rule from its fields (``rest``: what follows the kind, starting at ``column``)."""
    required, optional = KEYS[kind]
    first = column + len(rest) - len(rest.lstrip())  # (where the fields start)
    if not rest.strip():
        raise DataFormatError(path, line, first, f"a {kind} rule needs {', '.join(required)}")
    values: dict[str, tuple[str, int]] = {}
    for key, value, kcol, vcol in _fields(rest, path, line, column):
        if key not in required + optional:
            hint = " (rules name a class, not a gen_id/sig_id)" if key in ("gen_id", "sig_id") else ""
            raise DataFormatError(path, line, kcol, f"unknown key {show(key)} in a {kind} rule; "
                                  f"expected {', '.join(required + optional)}{hint}")
        if key in values:
            raise DataFormatError(path, line, kcol, f"{key} given twice")
        if not value:
            raise DataFormatError(path, line, kcol, f"{key} without a value")
        values[key] = (value, vcol)
    for key in required:
        if key not in values:
            raise DataFormatError(path, line, first, f"a {kind} rule needs {key}")
    cls, class_column = values["class"]
    if kind == "suppress":
        if ("track" in values) != ("ip" in values):
            given, missing = ("track", "ip") if "track" in values else ("ip", "track")
            raise DataFormatError(path, line, first, f"a suppress rule with {given} needs "
                                  f"{missing}")
        track = _choice(values, "track", SUPPRESS_TRACKS, path, line) if "track" in values else None
        networks = _networks(*values["ip"], path, line) if "ip" in values else ()
        return Rule(kind, cls, track, networks, path=path, line=line, class_column=class_column,
                    text=text)
    return Rule(kind, cls, _choice(values, "track", THRESHOLD_TRACKS, path, line), (),
                _choice(values, "type", TYPES, path, line),
                _whole(values["count"], "count", MAX_COUNT, path, line),
                _whole(values["seconds"], "seconds", MAX_SECONDS, path, line),
                path=path, line=line, class_column=class_column, text=text)


def _choice(values: dict, key: str, choices: tuple[str, ...], path: str, line: int) -> str:
    value, col = values[key]
    if value.lower() not in choices:
        raise DataFormatError(path, line, col, f"{key} {show(value)}: expected one of "
                              f"{', '.join(choices)}")
    return value.lower()


def _whole(item: tuple[str, int], key: str, high: int, path: str, line: int) -> int:
    value, col = item
    if not (value.isascii() and value.isdigit() and len(value) <= 12 and 1 <= int(value) <= high):
        raise DataFormatError(path, line, col, f"{key} {show(value)}: expected a whole number "
                              f"in 1..{high:,}")
    return int(value)


def _networks(value: str, col: int, path: str, line: int) -> tuple:
    """An address, a network or a ``[..., ...]`` list of them."""
    listed = value.startswith("[") and value.endswith("]")
    parts = value[1:-1].split(",") if listed else [value]
    networks, offset = [], 1 if listed else 0
    for part in parts:
        at = col + offset + len(part) - len(part.lstrip())
        offset += len(part) + 1
        text = part.strip()
        try:
            if "%" in text or text.startswith("$"):
                raise ValueError(text)
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise DataFormatError(path, line, at, f"ip {show(text)}: not an IP address or network "
                                  "(e.g. 192.168.1.0/24, 2001:db8::/32, or [a, b])") from None
    return tuple(networks)


# ------------------------------------------------------------------------------ applying
@dataclass
class _Window:
    start: float
    count: int = 0


class AlertFilter:
    """The rules applied to each batch of alerts (:meth:`apply`), with their counts.

    Args:
        rules: the parsed rules (:func:`read_rules`, :func:`flag_rules`).
        classes: the model's class names (each rule's class must be one, or ``*``).
        max_keys: threshold windows held (LRU).
        clock: the time of alerts whose flow has none (default: the wall clock).

    Attributes:
        suppressed: alerts suppressed, by the rule's :attr:`Rule.key` (the first that matched).
        thresholded: alerts kept but not written, by the first threshold that held them back.
        evicted: threshold windows forgotten to stay within ``max_keys``.

    Raises:
        DataFormatError: a rule names a class the model lacks (``file:line:column``).
        UsageError: a ``--suppress`` value does.
    """

    def __init__(self, rules: Sequence[Rule], classes: Sequence[str], *,
                 max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time):
        self.rules = tuple(rules)
        index = {}
        for k, name in enumerate(classes):
            index.setdefault(str(name).lower(), k)
        n = len(classes)
        # Per class: the indices of its suppress rules and of its thresholds.
        self._suppress: list[list[int]] = [[] for _ in range(n)]
        named: list[list[int]] = [[] for _ in range(n)]
        wild: list[int] = []
        for r, rule in enumerate(self.rules):
            if rule.cls == "*":
                targets = range(n)
            elif rule.cls.lower() in index:
                targets = [index[rule.cls.lower()]]
            else:
                _unknown_class(rule, classes)
            if rule.kind == "suppress":
                for c in targets:
                    self._suppress[c].append(r)
            elif rule.cls == "*":
                wild.append(r)
            else:
                named[targets[0]].append(r)
        self._thresholds = [named[c] or wild for c in range(n)]
        if not 1 <= int(max_keys):
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self.max_keys, self.clock = int(max_keys), clock
        self._windows: OrderedDict[tuple, _Window] = OrderedDict()
        self._last_time: float | None = None
        self.suppressed: Counter[str] = Counter()
        self.thresholded: Counter[str] = Counter()
        self.evicted = 0

    def apply(self, batch: AlertBatch) -> AlertBatch:
        """``batch`` without its suppressed alerts, the thresholded ones marked not to be
        written (``batch.emit``)."""
        cols, rows = batch.cols, batch.rows
        n = len(batch)
        src, dst = cols.source_ips(rows) or [""] * n, cols.dest_ips(rows)
        cls = batch.cls.tolist()
        keep = np.ones(n, bool)
        parsed: dict[str | None, object] = {}
        for i in range(n):
            r = self._suppressed_by(cls[i], src[i], dst[i], parsed)
            if r is not None:
                keep[i] = False
                self.suppressed[self.rules[r].key] += 1
        times = self._times(None if cols.times is None else cols.times[rows], n)
        emit = np.ones(n, bool)
        for i in np.flatnonzero(keep).tolist():
            held = None
            for r in self._thresholds[cls[i]]:
                if not self._passes(r, cls[i], src[i], dst[i], times[i]) and held is None:
                    held = r
            if held is not None:
                emit[i] = False
                self.thresholded[self.rules[held].key] += 1
        if keep.all():
            return batch if emit.all() else batch.take(slice(None), emit=emit)
        return batch.take(np.flatnonzero(keep), emit=emit[keep])

    def _suppressed_by(self, c: int, src: str, dst: str | None, parsed: dict) -> int | None:
        """The first suppress rule that matches an alert of class ``c`` (None: none)."""
        for r in self._suppress[c]:
            rule = self.rules[r]
            if rule.track is None:
                return r
            ends = {"by_src": (src,), "by_dst": (dst,), "by_either": (src, dst)}[rule.track]
            for text in ends:
                if text not in parsed:
                    parsed[text] = _address(text)
                addr = parsed[text]
                if addr is not None and any(addr in net for net in rule.networks
                                            if net.version == addr.version):
                    return r
        return None

    def _times(self, times: np.ndarray | None, n: int) -> list[float]:
        """Each alert's time: its flow's start, else the last flow time seen, else the clock."""
        if times is None:
            return [float(self.clock())] * n
        out = []
        for t in np.asarray(times, np.float64).tolist():
            if math.isfinite(t):
                self._last_time = t
            out.append(self._last_time if self._last_time is not None else float(self.clock()))
        return out

    def _passes(self, r: int, c: int, src: str, dst: str | None, t: float) -> bool:
        """Count one alert in rule ``r``'s window for its key; whether its event is written."""
        rule = self.rules[r]
        track = rule.track
        if track == "by_src":
            who = src
        elif track == "by_dst":
            who = dst or ""
        elif track == "by_both":
            who = tuple(sorted((src, dst or "")))
        else:  # by_rule
            who = ""
        key = (r, c, who)
        win = self._windows.get(key)
        if win is None or t - win.start >= rule.seconds:
            win = _Window(t)
            self._windows[key] = win
            if len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
                self.evicted += 1
        self._windows.move_to_end(key)
        win.count += 1
        if rule.type == "limit":
            return win.count <= rule.count
        if rule.type == "both":
            return win.count == rule.count
        if win.count >= rule.count:  # threshold: every count-th, counted afresh
            win.count = 0
            return True
        return False

    @property
    def windows(self) -> int:
        """Threshold windows held now (at most ``max_keys``)."""
        return len(self._windows)


def _address(text: str | None):
    try:
        return None if not text else ipaddress.ip_address(text)
    except ValueError:
        return None  # (not an address: matches no network)


def _unknown_class(rule: Rule, classes: Sequence[str]) -> NoReturn:
    message = (f"unknown class {show(rule.cls)}; this model's classes are "
               f"{', '.join(map(str, classes))} (or * for all)")
    if rule.path == FLAG:
        raise _flag_error(rule.text, rule.class_column, message)
    raise DataFormatError(rule.path, rule.line, rule.class_column, message)


def alert_filter(path: str | None, suppress: Sequence[str], classes: Sequence[str],
                 **kwargs) -> AlertFilter | None:
    """The filter of ``--rules`` ``path`` and the ``--suppress`` values (None: no rules).

    Raises:
        DataFormatError: the rules file cannot be read, or has a bad line or class.
        UsageError: a bad ``--suppress`` value.
    """
    rules = ([] if path is None else read_rules(path)) + flag_rules(suppress)
    return AlertFilter(rules, classes, **kwargs) if rules else None
