"""Packet captures to flow records with the Argus flow meter, the tool BoT-IoT was built with.

A capture (pcap or pcapng, recognised by its magic number, never by its name) goes through two
real, maintained Argus programs, run as separate processes with argument lists (never a shell):

1. ``argus -r CAPTURE -w FILE.argus`` -- the flow meter: packets to bidirectional flow
   status records;
2. ``racluster -r FILE.argus -n -u -c , -L-1 -s FIELDS - not man`` -- merges each flow's
   status records into one record, as the BoT-IoT authors did (their ``mean``/``stddev``/
   ``sum``/``min``/``max`` are statistics over a flow's aggregated records) and prints the
   fields named exactly as BoT-IoT's full-schema columns (``ra`` field names *are* BoT-IoT's
   column names).

The result is written in the BoT-IoT full (35-column) layout with a header, so every tool that
reads BoT-IoT records -- ``ltcn data summary``, ``ltcn predict``, ``ltcn detect``, training --
reads it. The label columns are left empty: a capture carries no ground truth.

For a live interface, :func:`live_flows` pipes ``argus -i IFACE -w -`` into ``ra`` and yields
status records as Argus emits them (every ``ARGUS_FLOW_STATUS_INTERVAL`` seconds per active
flow, 5 s in Debian's ``/etc/argus.conf``); these are not merged, so a long flow is reported
as several records.

Which model features Argus produces is in :data:`PRODUCIBLE` (used by the tests and printed by
``ltcn flows --features``).

Debian/Raspberry Pi OS: ``apt install argus-server argus-client``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass

from ..errors import InputError, UsageError
from . import labels, schema

# First four bytes of a capture file. Classic pcap has four (byte order x time resolution).
CAPTURE_MAGIC = {
    b"\xd4\xc3\xb2\xa1": "pcap",  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": "pcap",  # big-endian, microseconds
    b"\x4d\x3c\xb2\xa1": "pcap",  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": "pcap",  # big-endian, nanoseconds
    b"\x0a\x0d\x0d\x0a": "pcapng",  # section header block
}

# BoT-IoT's full-schema columns in order; every one but the record number and the three label
# columns is an ``ra`` field of the same name.
BOT_IOT_COLUMNS: tuple[str, ...] = tuple(c.raw for c in schema.BOT_IOT_ENTIRE.columns)
_RECORD_NUMBER = "pkSeqID"
_LABELS = schema.BOT_IOT_ENTIRE.label_names
ARGUS_FIELDS: tuple[str, ...] = tuple(
    c for c in BOT_IOT_COLUMNS if c != _RECORD_NUMBER and c not in _LABELS
)
_FLAGS = ARGUS_FIELDS.index("flgs")
_START = ARGUS_FIELDS.index("stime")
MANAGEMENT_FILTER = ("-", "not", "man")  # drop Argus's own start/status records

# What the Argus path gives each dataset's model features. BoT-IoT was extracted with Argus
# itself, so every feature of its full schema is produced (same names, same definitions).
# CICFlowMeter's features (CICIDS2017) and the KDD'99 connection features (NSL-KDD) are a
# different feature set: a few have an Argus counterpart under another definition, most have
# none, so models of those datasets are not deployable on captures through this path.
PRODUCIBLE: dict[str, dict[str, str]] = {
    "bot-iot": {
        **{name: "produced (ra field of the same name)" for name in ARGUS_FIELDS},
        "smac": "produced only when argus records MAC data (not a model feature)",
        "dmac": "produced only when argus records MAC data (not a model feature)",
        "soui": "needs an OUI database (not a model feature)",
        "doui": "needs an OUI database (not a model feature)",
        "sco": "needs a GeoIP database (not a model feature)",
        "dco": "needs a GeoIP database (not a model feature)",
        "N_IN_Conn_P_SrcIP": "10-best schema only: a count over a time window that BoT-IoT "
        "computed after Argus; not produced",
        "N_IN_Conn_P_DstIP": "10-best schema only: as N_IN_Conn_P_SrcIP; not produced",
        "state_number": "10-best schema only: BoT-IoT's numbering of `state`; not produced",
    },
    "cicids2017": {
        "*": "not produced: CICFlowMeter features (inter-arrival-time, active/idle, bulk and "
        "flag-count statistics over unidirectional sub-flows) have no Argus equivalent; "
        "packet and byte totals exist under other definitions (Argus counts a bidirectional "
        "flow with its own time-outs)",
    },
    "nsl-kdd": {
        "*": "not produced: KDD'99 content features (hot, num_failed_logins, ...) need "
        "payload inspection and the host/time-window counts a post-processing step",
    },
}


class FlowMeterError(InputError, RuntimeError):
    """The flow meter is missing or failed on a capture (one line, names the capture)."""


def capture_kind(head: bytes) -> str | None:
    """``"pcap"`` or ``"pcapng"`` when ``head`` starts with a capture's magic number, else None."""
    return CAPTURE_MAGIC.get(bytes(head[:4]))


def is_capture(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` is a packet capture (by magic number). Only a regular file
    can be: a named pipe's first bytes are not read here (they would be lost to the stream,
    and with no writer yet the open would wait)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return capture_kind(f.read(4)) is not None
    except OSError:
        return False


@dataclass(frozen=True)
class ArgusTools:
    """Paths of the Argus programs (``argus`` from argus-server, ``ra``/``racluster`` from
    argus-client)."""

    argus: str
    ra: str
    racluster: str

    @classmethod
    def find(cls) -> ArgusTools:
        """Locate the programs on PATH (and /usr/sbin, where Debian puts ``argus``).

        Raises:
            FlowMeterError: a program is missing, naming the Debian packages to install.
        """
        path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
        found = {name: shutil.which(name, path=path) for name in ("argus", "ra", "racluster")}
        missing = [name for name, where in found.items() if where is None]
        if missing:
            raise FlowMeterError(
                f"packet captures need the Argus flow meter ({', '.join(missing)} not found); "
                "install it with `apt install argus-server argus-client`"
            )
        return cls(**found)


def argus_available() -> bool:
    """Whether :meth:`ArgusTools.find` succeeds."""
    try:
        ArgusTools.find()
    except FlowMeterError:
        return False
    return True


def label_columns(label: str | None) -> tuple[str, str, str]:
    """BoT-IoT's (attack, category, subcategory) for ``Normal`` or ``Category/Subcategory``
    (e.g. ``DoS/TCP``, ``Reconnaissance/Service_Scan``); empty for None.

    Raises:
        ValueError: not a BoT-IoT class (the message lists them).
    """
    if label is None:
        return ("", "", "")
    category, _, sub = label.partition("/")
    columns = ("0" if category.strip().lower() == "normal" else "1", category, sub or category)
    if labels.normalize_bot_iot(*columns) is None:
        raise UsageError(
            f"unknown BoT-IoT label {label!r}; expected Normal or CATEGORY/SUBCATEGORY with "
            f"CATEGORY one of {', '.join(labels.BOT_IOT_GROUPS[1:])} and SUBCATEGORY one of "
            f"{', '.join(labels.BOT_IOT_SUBCATEGORIES[1:])}"
        )
    return columns


def _record_line(number: int, line: str, label: tuple[str, str, str] = ("", "", "")) -> str | None:
    fields = [f.strip() for f in line.rstrip("\r\n").split(",")]
    if len(fields) != len(ARGUS_FIELDS):
        return None
    return ",".join([str(number), *fields, *label])


def header_line() -> str:
    """The BoT-IoT full-schema header line the converted records carry."""
    return ",".join(BOT_IOT_COLUMNS)


def _run(argv: list[str], capture: str) -> str:
    proc = subprocess.run(argv, capture_output=True, shell=False, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = detail[-1] if detail else f"exit status {proc.returncode}"
        raise FlowMeterError(f"{capture}: {os.path.basename(argv[0])} failed: {why}")
    return proc.stdout.decode("utf-8", "replace")


def capture_to_flows(
    capture: str | os.PathLike,
    out: str | os.PathLike,
    *,
    tools: ArgusTools | None = None,
    label: str | None = None,
    status_interval: int | None = None,
) -> int:
    """Convert a pcap/pcapng file into BoT-IoT full-schema flow records.

    By default each flow's status records are merged into one (``racluster``), as BoT-IoT
    did. With ``status_interval`` the records are what a live interface gives instead
    (``argus -S N``, printed by ``ra`` unmerged, as :class:`LiveFlows` does): a flow longer
    than the interval is several records, which is what a model that runs live must be
    trained on.

    Args:
        capture: the packet capture (pcap or pcapng; gzip is not accepted by Argus).
        out: the CSV file to write (header + one line per flow, in start-time order).
        tools: the Argus programs (default: :meth:`ArgusTools.find`).
        label: one class for every flow (see :func:`label_columns`), e.g. ``Normal`` for a
            capture of known-benign traffic to train on; default: label columns left empty.
        status_interval: seconds between a flow's status records (live form), or None.

    Returns:
        The number of flow records written.

    Raises:
        FlowMeterError: Argus is missing, the file is not a capture, or a program failed.
    """
    capture = str(capture)
    label_values = label_columns(label)
    with open(capture, "rb") as f:
        if capture_kind(f.read(4)) is None:
            raise FlowMeterError(f"{capture}: not a pcap or pcapng capture (magic number)")
    tools = tools or ArgusTools.find()
    with tempfile.TemporaryDirectory(prefix="ltcn-argus-") as tmp:
        records = os.path.join(tmp, "flows.argus")
        status = [] if status_interval is None else ["-S", str(int(status_interval))]
        _run([tools.argus, "-r", capture, *status, "-w", records], capture)
        if not os.path.exists(records):
            raise FlowMeterError(f"{capture}: argus wrote no flow records")
        printer = tools.racluster if status_interval is None else tools.ra
        text = _run(
            [printer, "-r", records, "-n", "-u", "-c", ",", "-L-1", "-s",
             *ARGUS_FIELDS, *MANAGEMENT_FILTER],
            capture,
        )
    lines = [line for line in text.splitlines() if line.strip()]
    n = 0
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(header_line() + "\n")
        for _, line in sorted(
            ((_start_time(line), i), line) for i, line in enumerate(lines)
        ):
            record = _record_line(n + 1, line, label_values)
            if record is not None:
                f.write(record + "\n")
                n += 1
    return n


def _start_time(line: str) -> float:
    try:
        return float(line.split(",", 1)[0])
    except ValueError:
        return float("inf")  # a malformed record sorts last; the reader reports it


IFF_UP = 0x1  # <linux/if.h>


def check_interface(interface: str, sys_net: str = "/sys/class/net") -> None:
    """Refuse, before the flow meter starts, a name that is no interface or one that is down.

    Raises:
        FlowMeterError: not a valid name, no such interface (the existing ones are listed),
            administratively down, or without a carrier (``operstate`` down).
    """
    if not interface or interface.startswith("-") or "/" in interface or "\0" in interface:
        raise FlowMeterError(f"not an interface name: {interface!r}")
    try:
        names = sorted(name for _, name in socket.if_nameindex())
    except OSError:  # no interface listing here: let the flow meter say
        return
    if interface not in names:
        raise FlowMeterError(
            f"--interface {interface}: no such network interface (this machine has "
            f"{', '.join(names) or 'none'})"
        )
    base = os.path.join(sys_net, interface)
    try:
        with open(os.path.join(base, "flags")) as f:
            flags = int(f.read().strip(), 16)
        with open(os.path.join(base, "operstate")) as f:
            state = f.read().strip()
    except (OSError, ValueError):
        return  # not Linux sysfs: nothing more to check
    if not flags & IFF_UP:
        raise FlowMeterError(
            f"--interface {interface}: the interface is down (`ip link set {interface} up`)"
        )
    if state in ("down", "lowerlayerdown", "notpresent"):
        raise FlowMeterError(
            f"--interface {interface}: no link (operstate {state}: cable or carrier missing)"
        )


def _last_message(f) -> str:
    """The last meaningful line a flow-meter program wrote to its stderr file ``f``."""
    try:
        f.seek(0)
        text = f.read()[-8192:].decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    worst = [ln for ln in lines if "Error" in ln or "Warning" in ln or "denied" in ln.lower()]
    return (worst or lines or [""])[-1]


class LiveFlows:
    """Flow status records from a network interface: ``argus -i IFACE -w - | ra -r - ...``.

    :meth:`read` returns BoT-IoT full-schema CSV bytes (the header first), ``None`` when
    nothing arrived within the poll time and ``b""`` once the flow meter was stopped by a
    signal (SIGTERM/SIGINT, e.g. systemd stopping the service). A flow meter that ends by
    itself (a wrong or vanished interface, no capture privilege) raises
    :class:`FlowMeterError` with the flow meter's own message: on a live interface that is
    a failure, never the end of the input. :meth:`close` stops both processes. Needs the
    capture privilege (root or CAP_NET_RAW).
    """

    def __init__(self, interface: str, *, tools: ArgusTools | None = None, check: bool = True,
                 status_interval: int | None = None):
        if check:
            check_interface(interface)
        elif not interface or interface.startswith("-") or "/" in interface:
            raise FlowMeterError(f"not an interface name: {interface!r}")
        self.interface = interface
        tools = tools or ArgusTools.find()
        self._closing = False
        self._meter_err = tempfile.TemporaryFile(prefix="ltcn-argus-")
        self._printer_err = tempfile.TemporaryFile(prefix="ltcn-ra-")
        # -S: seconds between an active flow's status records (argus.conf's, 5 s on Debian,
        # when None): the longest a flow waits before the detector first sees it
        status = [] if status_interval is None else ["-S", str(int(status_interval))]
        self._meter = subprocess.Popen(
            [tools.argus, "-i", interface, *status, "-w", "-"], stdout=subprocess.PIPE,
            stderr=self._meter_err, shell=False,
        )
        self._printer = subprocess.Popen(
            [tools.ra, "-r", "-", "-n", "-u", "-c", ",", "-L-1", "-s", *ARGUS_FIELDS,
             *MANAGEMENT_FILTER],
            stdin=self._meter.stdout, stdout=subprocess.PIPE, stderr=self._printer_err,
            shell=False,
        )
        self._meter.stdout.close()  # ra owns the pipe now; argus sees SIGPIPE if ra exits
        self._fd = self._printer.stdout.fileno()
        self._partial = b""
        self._header_sent = False
        self.records = 0

    def read(self, poll: float) -> bytes | None:
        """Complete records available now (bytes), None if none within ``poll`` s, b"" at end."""
        if not self._header_sent:
            self._header_sent = True
            return header_line().encode() + b"\n"
        ready, _, _ = select.select([self._fd], [], [], poll)
        if not ready:
            return None
        data = os.read(self._fd, 1 << 16)
        if not data:
            self._ended()
            return b""
        *complete, self._partial = (self._partial + data).split(b"\n")
        out = []
        for raw in complete:
            record = _record_line(self.records + 1, raw.decode("utf-8", "replace"))
            if record is not None:
                self.records += 1
                out.append(record.encode() + b"\n")
        return b"".join(out) if out else None

    def _ended(self) -> None:
        """The records ended: fine after a stop signal, a :class:`FlowMeterError` otherwise."""
        codes = []
        for proc in (self._meter, self._printer):
            try:
                codes.append(proc.wait(timeout=5))
            except subprocess.TimeoutExpired:
                codes.append(None)
        stopped = (-signal.SIGTERM, -signal.SIGINT, -signal.SIGPIPE)
        if self._closing or codes[0] in stopped:
            return
        why = _last_message(self._meter_err) or _last_message(self._printer_err)
        status = "still running" if codes[0] is None else f"exit status {codes[0]}"
        raise FlowMeterError(
            f"--interface {self.interface}: the flow meter (argus) stopped after "
            f"{self.records} records ({status}): {why or 'no message'}"
        )

    def close(self) -> None:
        self._closing = True
        for proc in (self._meter, self._printer):
            if proc.poll() is None:
                proc.terminate()
        for proc in (self._meter, self._printer):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._printer.stdout.close()
        self._meter_err.close()
        self._printer_err.close()
