"""Edge gateway: stream flow records through an exported model, write EVE-style alerts and
(optionally) block the sources with timed nftables set entries.

``ltcn detect`` runs :func:`run_detect`. Records come from a file, a directory of files
(sorted), standard input (``-``) or a file still being written (``follow``); they are read in
micro-batches of complete lines with the same parser as the batch tools (``read_flows`` over
a small temporary file holding the header and the batch), ordered by capture time within the
batch, preprocessed with the model's frozen preprocessing and classified by a stateful engine
whose state carries across batches -- so the alerts equal the batch computation over the
whole stream (for a stream already in capture order).

Needs numpy and numba only. Nothing from the input ever reaches a shell: firewall commands
are argument lists run with ``shell=False``, and every address is validated with
:func:`ipaddress.ip_address` first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, OrderedDict, deque
from datetime import datetime, timezone

import numpy as np

from ..engine.predict import engine_for, load_model
from ..errors import DataFormatError
from ..io.flows import FlowTable, detect, read_flows
from ..io.labels import normal_index
from ..io.pcap import LiveFlows, capture_to_flows, header_line, is_capture

READ_BYTES = 1 << 16
MAX_LINE_BYTES = 1 << 20  # a longer "line" is skipped (bounded memory on garbage input)
LATENCY_WINDOW = 10_000  # flows in the sliding latency window
MAX_MICRO_BATCH = 65_536

_SRC_IP, _DST_IP = ("Source IP", "saddr"), ("Destination IP", "daddr")
_SRC_PORT, _DST_PORT = ("Source Port", "sport"), ("Destination Port", "dport")
_PROTO_TEXT, _PROTO_NUM = ("proto",), ("Protocol",)
_TIME = ("stime", "Timestamp")
_FLOW_NUM, _FLOW_TEXT = ("pkSeqID", "id"), ("Flow ID",)
_IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "IPv6-ICMP"}

# Suricata classtype-like categories and a base severity (1 = most severe) per class name.
_CATEGORIES = {
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


class GatewayError(ValueError):
    """A usage problem of the gateway (the CLI prints it as one line and exits 2)."""


# ------------------------------------------------------------------------------ alerts
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
            self._f = open(self.path, "a", encoding="utf-8")
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


# ----------------------------------------------------------------------------- firewall
def _nft_time(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class Firewall:
    """Timed nftables blocklist entries for alert sources, in our own ``inet ltcn`` table.

    Dry run (default) prints each command as a JSON argument list; ``apply`` runs it with
    ``subprocess.run(argv, shell=False)``. At most one add per address per timeout window
    and at most ``rate`` adds per second (a token bucket); every address is parsed by
    :func:`ipaddress.ip_address` and only its normalised text reaches a command.
    """

    TABLE = ("inet", "ltcn")

    def __init__(
        self, *, apply: bool = False, timeout_s: int = 600, rate: float = 10.0, out=None,
        clock=time.monotonic, runner=None, max_tracked: int = 65_536,
    ):  # fmt: skip
        if timeout_s < 1:
            raise GatewayError("--block-timeout must be at least 1 second")
        if rate <= 0:
            raise GatewayError("--block-rate must be positive")
        self.apply = apply
        self.timeout_s = int(timeout_s)
        self.rate = float(rate)
        self.out = out if out is not None else sys.stdout
        self.clock = clock
        self.runner = runner or (
            lambda argv: subprocess.run(
                argv, shell=False, capture_output=True, text=True, timeout=10, check=False
            )
        )
        self.max_tracked = max_tracked
        self._recent: OrderedDict[str, float] = OrderedDict()
        self._tokens = self.rate
        self._last = clock()
        self.counts: Counter[str] = Counter()
        self.commands: list[list[str]] = []
        if apply and runner is None:  # (a given runner executes the commands itself)
            if not hasattr(os, "geteuid") or os.geteuid() != 0:
                raise GatewayError(
                    "--apply needs root (run as root or without --apply for a dry run)"
                )
            if shutil.which("nft") is None:
                raise GatewayError("--apply needs the nft program on PATH (nftables)")

    def setup_commands(self) -> list[list[str]]:
        t = list(self.TABLE)
        cmds = [["nft", "add", "table", *t]]
        for name, kind in (("blocklist", "ipv4_addr"), ("blocklist6", "ipv6_addr")):
            cmds.append(["nft", "add", "set", *t, name, "{", "type", kind, ";", "flags", "timeout",
                         ";", "}"])  # fmt: skip
        for chain, hook in (("input", "input"), ("forward", "forward")):
            cmds.append(["nft", "add", "chain", *t, chain, "{", "type", "filter", "hook", hook,
                         "priority", "-10", ";", "policy", "accept", ";", "}"])  # fmt: skip
            cmds.append(["nft", "add", "rule", *t, chain, "ip", "saddr", "@blocklist", "drop"])
            cmds.append(["nft", "add", "rule", *t, chain, "ip6", "saddr", "@blocklist6", "drop"])
        return cmds

    def start(self) -> None:
        for argv in self.setup_commands():
            self._emit(argv)

    def _emit(self, argv: list[str]) -> bool:
        self.commands.append(argv)
        if not self.apply:
            print(json.dumps(argv), file=self.out, flush=True)
            return True
        try:
            proc = self.runner(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            self.counts["nft errors"] += 1
            print(f"ltcn detect: nft failed: {exc}", file=sys.stderr)
            return False
        if proc.returncode != 0:
            self.counts["nft errors"] += 1
            print(f"ltcn detect: nft failed ({proc.returncode}): {proc.stderr.strip()[:200]}",
                  file=sys.stderr)  # fmt: skip
            return False
        return True

    @staticmethod
    def validate(text: str):
        try:
            addr = ipaddress.ip_address(str(text).strip())
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return addr

    def block(self, text: str) -> str:
        """Block one address; returns ``added``, ``recent``, ``rate-limited``, ``invalid`` or
        ``not blockable`` (each also counted)."""
        addr = self.validate(text)
        if addr is None:
            outcome = "invalid address"
        elif addr.is_unspecified or addr.is_loopback or addr.is_multicast:
            outcome = "not blockable"
        else:
            outcome = self._add(addr)
        self.counts[outcome] += 1
        return outcome

    def _add(self, addr) -> str:
        now = self.clock()
        while self._recent:  # forget entries whose timeout has passed (bounded memory)
            key, t = next(iter(self._recent.items()))
            if now - t < self.timeout_s and len(self._recent) <= self.max_tracked:
                break
            self._recent.pop(key)
        key = str(addr)
        if key in self._recent:
            return "recent"
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return "rate-limited"
        self._tokens -= 1.0
        self._recent[key] = now
        name = "blocklist" if addr.version == 4 else "blocklist6"
        argv = ["nft", "add", "element", *self.TABLE, name,
                "{", key, "timeout", _nft_time(self.timeout_s), "}"]  # fmt: skip
        return "added" if self._emit(argv) else "failed"


# ------------------------------------------------------------------------------ sources
class _Lines:
    """Split a byte stream into complete lines (without the newline), bounded in memory."""

    def __init__(self):
        self.carry = b""
        self.too_long = 0
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        parts = (self.carry + data).split(b"\n")
        self.carry = parts.pop()
        if self._skipping and parts:  # the tail of an over-long line
            parts.pop(0)
            self._skipping = False
        if len(self.carry) > MAX_LINE_BYTES:
            self.carry = b""
            if not self._skipping:
                self.too_long += 1
            self._skipping = True
        return parts

    def finish(self) -> list[bytes]:
        rest, self.carry = self.carry, b""
        return [rest] if rest.strip() and not self._skipping else []


class _Reader:
    """Bytes from a file, a growing file (follow) or standard input; ``None`` = none now."""

    def __init__(self, name: str, f, follow: bool, poll: float):
        self.name, self.f, self.follow, self.poll = name, f, follow, poll
        self.fd = None
        self.live = isinstance(f, (LiveFlows, _TeeLive))  # it polls by itself
        if self.live:
            return
        try:
            fd = f.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                self.fd = fd
        except (AttributeError, OSError, ValueError):
            pass

    def read(self) -> bytes | None:
        if self.live:
            return self.f.read(self.poll)
        if self.fd is not None:
            ready, _, _ = select.select([self.fd], [], [], self.poll)
            if not ready:
                return None
            return os.read(self.fd, READ_BYTES)
        data = self.f.read(READ_BYTES)
        if data:
            return data
        return None if self.follow else b""

    def close(self) -> None:
        if self.live or (self.fd is None and self.name != "-"):
            self.f.close()


_FLOW_HEADER = header_line().encode()


class _FlowLog:
    """``--save-flows``: the flow records the flow meter produced, one CSV with one header."""

    def __init__(self, path: str | None):
        self._f = None if path is None else open(path, "ab")
        self._header = self._f is not None and self._f.tell() > 0

    def write(self, data: bytes) -> bytes:
        """Append ``data`` (a header line first, then records) and return it unchanged."""
        if self._f is not None and data:
            body = data
            if not self._header:
                self._header = True
            elif data.startswith(_FLOW_HEADER):
                body = data[data.find(b"\n") + 1 :]
            self._f.write(body)
            self._f.flush()
        return data

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


class _TeeLive:
    """A :class:`LiveFlows` whose records are also appended to a :class:`_FlowLog`."""

    def __init__(self, live: LiveFlows, log: _FlowLog):
        self.live, self.log = live, log

    def read(self, poll: float) -> bytes | None:
        data = self.live.read(poll)
        return None if data is None else self.log.write(data)

    def close(self) -> None:
        self.live.close()


def _source_files(source: str) -> list[str]:
    if source == "-":
        return ["-"]
    if os.path.isdir(source):
        files = sorted(
            os.path.join(source, n) for n in os.listdir(source)
            if not n.startswith(".") and os.path.isfile(os.path.join(source, n))
        )  # fmt: skip
        if not files:
            raise DataFormatError(source, 0, 0, "no files in this directory")
        return files
    if not os.path.exists(source):
        raise DataFormatError(source, 0, 0, "no such file or directory")
    return [source]


# ------------------------------------------------------------------------------ engine
class _Classifier:
    """Per-flow probabilities with state carried across micro-batches.

    ``stream``: the stateful :class:`~ltcn_kernels.engine.Stream` (exact when the model's
    receptive field fits in its training window); ``windows``: the last ``window-1``
    preprocessed flows are kept and each flow's causal window is classified, exactly as the
    batch tools do; ``records``: each record on its own (feature-sequence models).
    """

    def __init__(self, artifact, backend: str = "sparse", mode: str = "auto"):
        from ..engine import Stream, predict_proba_windows

        arch = artifact.manifest["architecture"]
        self.engine = engine_for(artifact, backend)
        self.window = int(arch.get("window", 1))
        rf = int(arch.get("receptive_field", self.engine.receptive_field))
        if arch["sequence"] != "flows":
            mode = "records"
        elif mode == "auto":
            mode = "stream" if rf <= self.window else "windows"
        if mode not in ("stream", "windows", "records"):
            raise GatewayError(f"unknown engine mode {mode!r}")
        self.mode = mode
        self._proba = predict_proba_windows
        self.stream = None
        if mode == "stream":
            self.stream = Stream(self.engine, output="proba")
            # The model was trained on windows left-padded with zero FLOWS: their activations
            # (bias terms) are in every early window, so prime the history with them too.
            if self.window > 1:
                self.stream.push(np.zeros((self.window - 1, self.engine.n_features), np.float32))
        self.history: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape[0] == 0:
            return np.zeros((0, self.engine.n_classes), np.float32)
        if self.mode == "stream":
            return self.stream.push(x)
        if self.mode == "records":
            return self._proba(self.engine, np.ascontiguousarray(x[:, :, None]))
        w = self.window
        if self.history is None:
            self.history = np.zeros((w - 1, x.shape[1]), np.float32)
        full = np.concatenate([self.history, x])
        seqs = np.lib.stride_tricks.sliding_window_view(full, w, axis=0).transpose(0, 2, 1)
        out = self._proba(self.engine, np.ascontiguousarray(seqs))
        self.history = full[full.shape[0] - (w - 1) :].copy()
        return out


# ------------------------------------------------------------------------------- stats
class Stats:
    def __init__(self):
        self.start = time.monotonic()
        self.flows = 0
        self.alerts = 0
        self.lines = 0
        self.captures = 0  # packet captures converted by the flow meter
        self.skipped: Counter[str] = Counter()
        self.latency_us: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add_latency(self, seconds: float, n: int) -> None:
        self.latency_us.extend([seconds * 1e6] * min(n, LATENCY_WINDOW))

    def snapshot(self, firewall: Firewall | None = None) -> dict:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        lat = np.fromiter(self.latency_us, np.float64) if self.latency_us else None
        out = {
            "flows": self.flows,
            "captures": self.captures,
            "flows_per_s": round(self.flows / elapsed, 1),
            "alerts": self.alerts,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
            "latency_us_p50": None if lat is None else round(float(np.percentile(lat, 50)), 1),
            "latency_us_p99": None if lat is None else round(float(np.percentile(lat, 99)), 1),
            "elapsed_s": round(elapsed, 3),
        }
        if firewall is not None:
            out["firewall"] = dict(firewall.counts)
        return out


# ------------------------------------------------------------------------------ gateway
def _first(table: FlowTable, names, kind: str):
    for n in names:
        if kind == "str" and n in table.strings:
            return table.strings[n].values()
        if kind == "aux" and n in table.aux_names:
            return table.aux_column(n)
    return None


def _iso(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        dt = datetime.now(timezone.utc)  # noqa: UP017 (py3.11 alias is fine either way)
    else:
        dt = datetime.fromtimestamp(ts, timezone.utc)  # noqa: UP017
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _port(v) -> int | None:
    return int(v) if v is not None and math.isfinite(v) else None


class Gateway:
    """The detection loop; see :func:`run_detect`."""

    def __init__(
        self, model, *, alerts: AlertWriter, firewall: Firewall | None = None,
        threshold: float = 0.5, micro_batch: int = 256, realtime: bool = False,
        speed: float = 1.0, max_gap: float = 5.0, stats_every: float = 10.0, err=None,
        backend: str = "sparse", mode: str = "auto",
    ):  # fmt: skip
        if not 0.0 < threshold <= 1.0:
            raise GatewayError("--threshold must be in (0, 1]")
        if not 1 <= micro_batch <= MAX_MICRO_BATCH:
            raise GatewayError(f"--micro-batch must be in 1..{MAX_MICRO_BATCH}")
        if speed <= 0:
            raise GatewayError("--speed must be positive")
        self.artifact, self.pre = load_model(model)
        self.classify = _Classifier(self.artifact, backend, mode)
        self.flows_mode = self.artifact.manifest["architecture"]["sequence"] == "flows"
        self.classes = tuple(self.pre.classes)
        normal = normal_index(self.pre.dataset, self.classes)
        self.normal = [] if normal is None else [normal]
        self.attack = [i for i in range(len(self.classes)) if i not in self.normal]
        self.alerts, self.firewall = alerts, firewall
        self.threshold, self.micro_batch = float(threshold), int(micro_batch)
        self.realtime, self.speed, self.max_gap = realtime, float(speed), float(max_gap)
        self.stats_every, self.err = float(stats_every), err if err is not None else sys.stderr
        self.stats = Stats()
        self.stop = False
        self._last_stats = time.monotonic()
        self._replay: tuple[float, float] | None = None  # (wall, record time) of the last flow
        fd, self._tmp = tempfile.mkstemp(
            suffix=".csv", prefix="ltcn-detect-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )  # fmt: skip
        os.close(fd)

    def close(self) -> None:
        try:
            os.remove(self._tmp)
        except OSError:
            pass

    # ---------------------------------------------------------------- reading
    def run_source(self, name: str, f, follow: bool, deadline: float | None, poll: float) -> None:
        reader, lines = _Reader(name, f, follow, poll), _Lines()
        header: bytes | None = None
        detected = False
        pending: list[bytes] = []
        first = 0
        lineno = 0
        try:
            while not self.stop:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                data = reader.read()
                if data is None:  # nothing new yet: classify what we have, then wait
                    if pending:
                        self._batch(name, header, first, pending)
                        pending = []
                    self._maybe_stats()
                    if reader.fd is None and not reader.live:
                        time.sleep(poll)
                    continue
                eof = data == b""
                got = lines.finish() if eof else lines.feed(data)
                if lines.too_long:
                    self.stats.skipped["line too long"] += lines.too_long
                    lineno += lines.too_long
                    lines.too_long = 0
                for ln in got:
                    lineno += 1
                    if not detected:
                        if not ln.strip():
                            continue
                        det = detect(name, head=ln + b"\n", dataset=self.pre.dataset)
                        detected = True
                        if det.has_header:
                            header = ln
                            continue
                    if not pending:
                        first = lineno
                    pending.append(ln)
                    if len(pending) >= self.micro_batch:
                        self._batch(name, header, first, pending)
                        pending = []
                        if self.stop:
                            break
                if eof:
                    break
            if pending:
                self._batch(name, header, first, pending)
        finally:
            reader.close()

    def _parse(self, name, header, first, lines):
        """Tables of the batch's good records (bad lines skipped and counted)."""
        with open(self._tmp, "wb") as f:
            if header is not None:
                f.write(header + b"\n")
            f.write(b"\n".join(lines) + b"\n")
        try:
            table = read_flows(
                self._tmp, self.pre.dataset, skip_bad_lines=True, drop_duplicates=False,
                unknown_label="keep", progress=False, chunk_bytes=1 << 20,
            )  # fmt: skip
        except DataFormatError as exc:
            if len(lines) == 1:
                reason = str(exc).split(": ", 1)[-1].split(" for ")[0].split(":")[0][:60]
                key = f"bad line: {reason}"
                if key not in self.stats.skipped and len(self.stats.skipped) >= 64:
                    key = "bad line: other"  # bounded: reasons, not values, are the keys
                self.stats.skipped[key] += 1
                return []
            half = len(lines) // 2  # split to keep the good records around the bad one
            return self._parse(name, header, first, lines[:half]) + self._parse(
                name, header, first + half, lines[half:]
            )
        for reason, n in table.drops.items():
            self.stats.skipped[reason] += n
        table.line = first + table.line - (2 if header is not None else 1)
        table.files = [name]
        return [table]

    # ---------------------------------------------------------------- classifying
    def _batch(self, name: str, header, first: int, lines: list[bytes]) -> None:
        self.stats.lines += len(lines)
        t0 = time.perf_counter()
        for table in self._parse(name, header, first, lines):
            if len(table) == 0:
                continue
            order = table.capture_order() if self.flows_mode else np.arange(len(table))
            x = self.pre.transform(table, order)
            if self.realtime:
                times = _first(table, _TIME, "aux")
                for i in range(len(order)):
                    if times is not None:
                        self._sleep_until(float(times[order[i]]))
                    t1 = time.perf_counter()
                    probs = self.classify(x[i : i + 1])
                    self.stats.add_latency(time.perf_counter() - t1, 1)
                    self._report(table, order[i : i + 1], probs)
                    if self.stop:
                        break
            else:
                probs = self.classify(x)
                self.stats.add_latency(time.perf_counter() - t0, len(order))
                self._report(table, order, probs)
            t0 = time.perf_counter()
        self._maybe_stats()

    def _sleep_until(self, ts: float) -> None:
        now = time.monotonic()
        if not math.isfinite(ts):
            return
        if self._replay is not None:
            wall, prev = self._replay
            delay = min(max(ts - prev, 0.0), self.max_gap) / self.speed
            wait = wall + delay - now
            while wait > 0 and not self.stop:
                time.sleep(min(wait, 0.2))
                wait = wall + delay - time.monotonic()
            now = wall + delay
        self._replay = (now, ts)

    def _report(self, table: FlowTable, order: np.ndarray, probs: np.ndarray) -> None:
        self.stats.flows += len(order)
        p_attack = 1.0 - probs[:, self.normal].sum(axis=1) if self.normal else np.ones(len(order))
        hits = np.flatnonzero(p_attack >= self.threshold)
        if not hits.size:
            return
        rows = order[hits]
        src, dst = _first(table, _SRC_IP, "str"), _first(table, _DST_IP, "str")
        sport, dport = _first(table, _SRC_PORT, "aux"), _first(table, _DST_PORT, "aux")
        proto_t, proto_n = _first(table, _PROTO_TEXT, "str"), _first(table, _PROTO_NUM, "aux")
        times = _first(table, _TIME, "aux")
        flow_n, flow_t = _first(table, _FLOW_NUM, "aux"), _first(table, _FLOW_TEXT, "str")
        for h, row in zip(hits.tolist(), rows.tolist(), strict=True):
            p = probs[h]
            cls = self.attack[int(np.argmax(p[self.attack]))] if self.attack else int(np.argmax(p))
            name = self.classes[cls]
            category, base = _CATEGORIES.get(name.lower(), ("Misc Attack", 2))
            pa = float(p_attack[h])
            severity = int(min(3, base + (0 if pa >= 0.9 else 1)))
            event: dict = {
                "timestamp": _iso(None if times is None else float(times[row])),
                "event_type": "alert",
            }
            if flow_n is not None and math.isfinite(flow_n[row]):
                event["flow_id"] = int(flow_n[row])
            elif flow_t is not None and flow_t[row]:
                digest = hashlib.blake2b(flow_t[row].encode(), digest_size=6).digest()
                event["flow_id"] = int.from_bytes(digest, "big")
            if src is not None:
                event["src_ip"] = src[row]
            if sport is not None and _port(sport[row]) is not None:
                event["src_port"] = _port(sport[row])
            if dst is not None:
                event["dest_ip"] = dst[row]
            if dport is not None and _port(dport[row]) is not None:
                event["dest_port"] = _port(dport[row])
            if proto_t is not None and proto_t[row]:
                event["proto"] = proto_t[row].upper()
            elif proto_n is not None and math.isfinite(proto_n[row]):
                event["proto"] = _IP_PROTOCOLS.get(int(proto_n[row]), str(int(proto_n[row])))
            action = "allowed"
            if self.firewall is not None and src is not None:
                if self.firewall.block(src[row]) == "added" and self.firewall.apply:
                    action = "blocked"
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
                "probabilities": {
                    c: round(float(v), 6) for c, v in zip(self.classes, p, strict=True)
                },
                "p_attack": round(pa, 6),
                "class": name,
                "source_file": os.path.basename(table.files[0]) if table.files[0] != "-" else "-",
                "line": int(table.line[row]),
            }
            if flow_t is not None and flow_t[row]:
                event["ltcn"]["flow_key"] = flow_t[row]
            self.alerts.write(event)
            self.stats.alerts += 1

    def _maybe_stats(self) -> None:
        if self.stats_every > 0 and time.monotonic() - self._last_stats >= self.stats_every:
            self._last_stats = time.monotonic()
            self.print_stats()

    def print_stats(self, final: bool = False) -> None:
        line = json.dumps(self.stats.snapshot(self.firewall), separators=(",", ":"))
        print(f"ltcn detect {'final' if final else 'stats'}: {line}", file=self.err, flush=True)


def run_detect(
    model, source: str | None = None, *, interface: str | None = None,
    alerts: str | None = None, firewall: str = "none",
    apply: bool = False, realtime: bool = False, speed: float = 1.0, max_gap: float = 5.0,
    threshold: float = 0.5, micro_batch: int = 256, stats_every: float = 10.0,
    follow: bool = False, max_seconds: float | None = None, poll: float = 0.1,
    alerts_max_bytes: int = 0, alerts_keep: int = 5, block_timeout: int = 600,
    block_rate: float = 10.0, backend: str = "sparse", mode: str = "auto", stdin=None,
    save_flows: str | None = None,
    out=None, err=None, clock=time.monotonic, runner=None,
) -> dict:  # fmt: skip
    """Classify a stream of flow records; write alerts; optionally block sources.

    ``source`` is a flow-record file, a directory, ``-`` (standard input) or a packet capture
    (pcap/pcapng, by magic number: converted to BoT-IoT records by Argus, see
    :mod:`ltcn_kernels.pcap`); ``interface`` instead reads live Argus status records from a
    network interface. ``save_flows`` appends the flow meter's records (captures and
    interfaces) to a CSV, for forensics or re-training.

    Returns the final statistics (also printed to ``err`` as one ``ltcn detect final:`` line).
    SIGINT/SIGTERM (main thread) stop the stream cleanly: alerts are flushed and the
    statistics printed.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if firewall not in ("none", "nftables"):
        raise GatewayError(f"unknown firewall {firewall!r}; expected none or nftables")
    if apply and firewall != "nftables":
        raise GatewayError("--apply needs --firewall nftables")
    if (source is None) == (interface is None):
        raise GatewayError("give one of --source or --interface")
    if follow and source == "-":
        follow = False  # standard input is followed anyway until it closes
    files = [] if source is None else _source_files(source)
    if follow and len(files) != 1:
        raise GatewayError("--follow takes one file")
    fw = None
    if firewall == "nftables":
        fw = Firewall(apply=apply, timeout_s=block_timeout, rate=block_rate, out=out, clock=clock,
                      runner=runner)  # fmt: skip
    writer = AlertWriter(alerts, alerts_max_bytes, alerts_keep, stream=out)
    flow_log = _FlowLog(save_flows)
    gw = None
    old = {}
    try:
        gw = Gateway(
            model, alerts=writer, firewall=fw, threshold=threshold, micro_batch=micro_batch,
            realtime=realtime, speed=speed, max_gap=max_gap, stats_every=stats_every, err=err,
            backend=backend, mode=mode,
        )  # fmt: skip
        if threading.current_thread() is threading.main_thread():

            def _stop(signum, frame):
                gw.stop = True

            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, _stop)
        if fw is not None:
            fw.start()
        deadline = None if max_seconds is None else time.monotonic() + float(max_seconds)
        captures = [p for p in files if p != "-" and is_capture(p)]
        if (captures or interface is not None) and gw.pre.dataset != "bot-iot":
            raise GatewayError(
                "packet captures become BoT-IoT (Argus) flow records, and this model was "
                f"trained on {gw.pre.dataset}, whose features Argus does not produce "
                "(see `ltcn flows --features`)"
            )
        if interface is not None:
            live = _TeeLive(LiveFlows(interface), flow_log)
            gw.run_source(f"argus:{interface}", live, True, deadline, poll)
        for path in files:
            if gw.stop or (deadline is not None and time.monotonic() >= deadline):
                break
            if path in captures:
                with tempfile.TemporaryDirectory(prefix="ltcn-detect-") as tmp:
                    flows = os.path.join(tmp, "flows.csv")
                    gw.stats.captures += 1
                    capture_to_flows(path, flows)
                    if save_flows is not None:  # (the file is read a second time only then)
                        with open(flows, "rb") as f:
                            flow_log.write(f.read())
                    with open(flows, "rb") as f:
                        gw.run_source(path, f, False, deadline, poll)
                continue
            if path == "-":
                f = stdin if stdin is not None else sys.stdin.buffer
            else:
                from ..io.flows import _open

                f = _open(path)
            gw.run_source(path, f, follow, deadline, poll)
        result = gw.stats.snapshot(fw)
        result["engine_mode"] = gw.classify.mode
        result["alert_rotations"] = writer.rotations
        gw.print_stats(final=True)
        return result
    finally:
        writer.close()
        flow_log.close()
        if gw is not None:
            gw.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
