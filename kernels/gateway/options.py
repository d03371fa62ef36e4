"""What ``ltcn detect`` can be asked to do: :class:`DetectOptions`, checked in one place.

Every option is checked when the options are made (a :class:`GatewayError` naming the
command-line flag); :meth:`DetectOptions.source_files` adds the checks that need the file
system. The engine's ``backend`` and ``mode`` are checked by the engine and the
:class:`~ltcn_kernels.gateway.classifier.Classifier`, which also take them directly.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any

from ..engine.model import FORMATS as BACKENDS  # the Numba engines: sparse, dense
from ..errors import UsageError
from .sources import source_files
from .suppress import flag_rules

MAX_MICRO_BATCH = 65_536
FIREWALLS = ("none", "nftables")
MAX_BLOCK_TIMEOUT = 30 * 86_400  # a block longer than a month is a rule, not a timed entry
MAX_BLOCK_RATE = 1e6
MAX_ALERTS_KEEP = 1000
MAX_HOSTS = 4096  # per-host histories kept (LRU); each is (window-1) x features float32
METRICS_HOST = "127.0.0.1"  # --metrics-listen PORT alone: this machine only
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4 addresses written as IPv6
# The stages ``ltcn detect``'s flags are grouped by, in the order its help lists them.
OPTION_GROUPS = {
    "input": "input: where flow records come from and at what pace",
    "engine": "engine: how flows are classified",
    "alerts": "alerts: the EVE alert file and the statistics lines",
    "firewall": "firewall: nftables blocks of alert sources",
    "trust": "trust: which model files may run",
    "state": "state: what the gateway remembers between flows",
    "site": "site: learn this site's normal traffic, then detect against it",
}
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_LEARN_S = 366 * 86_400


def option(default: Any, group: str, help: str, *, choices: tuple[str, ...] | None = None,
           metavar: str | None = None, exclusive: str | None = None) -> Any:
    """A :class:`DetectOptions` field that is a command-line flag of ``ltcn detect``: its
    default, the stage it belongs to (a key of :data:`OPTION_GROUPS`), its help line and, for
    the flag only, its choices, metavar and mutually exclusive set (one of which is required)."""
    if group not in OPTION_GROUPS:
        raise ValueError(f"unknown option group {group!r}; expected one of {sorted(OPTION_GROUPS)}")
    meta = {"group": group, "help": help, "choices": choices, "metavar": metavar,
            "exclusive": exclusive}
    return field(default=default, metadata=meta)


class GatewayError(UsageError):
    """A usage problem of the gateway (the CLI prints it as one line and exits 2)."""


def check_block_limits(timeout_s: float, rate: float) -> None:
    """The firewall's limits: a whole number of seconds per entry, 1 .. 30 days, and a
    finite positive rate of adds (NaN compares false with everything, so each bound is
    written to fail on it)."""
    if isinstance(timeout_s, bool) or not (
        isinstance(timeout_s, int) and 1 <= timeout_s <= MAX_BLOCK_TIMEOUT
    ):
        raise GatewayError(f"--block-timeout must be a whole number of seconds in "
                           f"1..{MAX_BLOCK_TIMEOUT} (30 days)")
    if not (isinstance(rate, (int, float)) and 0 < rate <= MAX_BLOCK_RATE):
        raise GatewayError(f"--block-rate must be a number of adds per second in (0, {MAX_BLOCK_RATE:g}]")


def allow_networks(texts, flag: str = "--allow") -> tuple:
    """``--allow`` (or ``flag``'s) values as networks (an address is its /32 or /128).

    The firewall checks a source as IPv4 when it is IPv4-mapped (``::ffff:10.0.0.2``), so an
    IPv4-mapped entry is taken as its IPv4 network (``::ffff:192.168.100.0/120`` is
    ``192.168.100.0/24``), and an IPv6 network holding all of ``::ffff:0:0/96`` (``::/0``)
    holds every IPv4 source too: else such an entry would be accepted and protect nobody.

    Raises:
        GatewayError: a value that is not an address or network, or has an IPv6 scope id.
    """
    networks = []
    for text in texts:
        try:
            if "%" in str(text):
                raise ValueError("scope id")
            net = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            raise GatewayError(f"{flag} {text!r}: not an IP address or network "
                               "(e.g. 192.168.1.0/24 or 2001:db8::/32)") from None
        if net.version == 6 and net.subnet_of(IPV4_MAPPED):
            net = ipaddress.IPv4Network((int(net.network_address) & 0xFFFF_FFFF,
                                         net.prefixlen - IPV4_MAPPED.prefixlen))
        elif net.version == 6 and IPV4_MAPPED.subnet_of(net):
            networks.append(ipaddress.IPv4Network("0.0.0.0/0"))
        networks.append(net)
    return tuple(networks)


def listen_address(text: str, flag: str = "--metrics-listen") -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``PORT`` (on :data:`METRICS_HOST`) as ``(host,
    port)``, the port in 1..65535.

    Raises:
        GatewayError: anything else.
    """
    text = str(text).strip()
    host, _, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    ok = port.isascii() and port.isdigit() and 1 <= int(port) <= 65535
    # (an IPv6 address needs its brackets: without them its last group would be the port)
    if not ok or (":" in host and not bracketed) or any(c.isspace() or c in "/[]" for c in host):
        raise GatewayError(f"{flag} {text!r}: expected HOST:PORT, [IPV6]:PORT or PORT, the "
                           "port in 1..65535 (e.g. 127.0.0.1:9464)")
    return host or METRICS_HOST, int(port)


def parse_duration(text: str, flag: str = "--learn") -> float:
    """``600``, ``600s``, ``30m``, ``2h`` or ``7d`` as seconds, in (0, a year].

    Raises:
        GatewayError: anything else.
    """
    t = str(text).strip().lower()
    unit = DURATION_UNITS.get(t[-1:], None) if t else None
    number = t[:-1] if unit is not None else t
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_LEARN_S):
        raise GatewayError(f"{flag} {text!r}: expected a duration such as 600, 600s, 30m, 2h "
                           "or 7d (at most 366 days)")
    return seconds


def _finite(value: float, flag: str, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high
    if not ok or (low_open and value == low):
        bound = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
        raise GatewayError(f"{flag} must be a number in {bound}")


@dataclass(frozen=True)
class DetectOptions:
    """The settings of one :func:`~ltcn_kernels.gateway.run_detect` (``ltcn detect`` flags).

    Attributes:
        source: a flow-record file, a directory of them (sorted), ``-`` (standard input) or a
            packet capture (pcap/pcapng, by magic number: converted to BoT-IoT records by
            Argus). Exactly one of ``source`` and ``interface``.
        interface: read live Argus status records from this network interface.
        alerts: the EVE JSON-lines file (None or ``-``: the output stream).
        alerts_max_bytes: rotate the alert file above this size (0: never).
        alerts_keep: rotated alert files kept.
        firewall: ``none`` or ``nftables`` (timed blocklist entries for alert sources).
        apply: run the nft commands (root) instead of printing them (dry run).
        block_timeout: seconds an address stays blocked.
        block_rate: most addresses added per second.
        threshold: alert when P(attack) >= this, in (0, 1].
        micro_batch: flows per engine call, 1 .. ``MAX_MICRO_BATCH``.
        realtime: replay at the records' own pace (their time stamps).
        speed: replay speed-up with ``realtime``.
        max_gap: longest replayed pause (seconds).
        follow: keep reading a file being written (one file).
        max_seconds: stop after this long (None: at the end of the input).
        poll: seconds between looks at a source with nothing new.
        stats_every: seconds between statistics lines (0: only the final one).
        metrics_listen: serve the statistics as Prometheus metrics at
            ``http://HOST:PORT/metrics`` (``HOST:PORT``, ``[IPV6]:PORT`` or ``PORT`` on
            127.0.0.1; None: no endpoint). Needs the ``metrics`` extra.
        metrics_textfile: write the statistics as Prometheus metrics to this ``*.prom`` file
            (node_exporter's textfile collector), atomically, every 15 s and at the end.
        rules: a file of suppression and threshold rules (:mod:`.suppress`, after Suricata's
            threshold.config), read and checked against the model's classes at the start.
        suppress: more suppress rules, each a rule line (``--suppress``, repeatable), e.g.
            ``class DoS, track by_src, ip 10.0.0.0/8``.
        backend: ``sparse`` or ``dense`` engine.
        mode: engine mode, ``auto``, ``stream``, ``windows`` or ``records``.
        save_flows: append the flow meter's records (captures, interfaces) to this CSV.
        status_interval: with ``interface``, seconds between Argus's status records of an
            active flow (1..3600; None: ``/etc/argus.conf``'s, 5 s on Debian). It bounds how
            long a flow goes unseen, so it governs the time to block.
        allow: addresses and networks never blocked (``--allow``, repeatable), besides the
            gateway's own addresses.
        max_hosts: for a model with per-host windows, the source addresses whose last
            ``window-1`` flows are kept (least recently seen forgotten first); memory
            ``max_hosts * (window-1) * features * 4`` bytes.
        state_dir: the folder of the site baseline (``baseline.json``; the systemd unit
            passes its ``StateDirectory``). None: no baseline, the model's threshold alone.
        learn: learn the site for this long of traffic time (``30m``, ``2h``, ``7d``; no
            alerts meanwhile), then detect with the baseline; resumes one being learned.
        relearn: learn a new baseline even if there is one (needs ``learn``).
        extend: a complete baseline learns ``learn`` more (its threshold refitted).
        target_rate: the learning period's alert rate the site threshold is fitted to.
        trusted_keys: files or directories of trusted public keys (``--trusted-keys``,
            repeatable; empty: ``/etc/ltcn/trusted-keys`` and the user's).
        allow_unsigned: run a model that is unsigned or signed by an untrusted key.
    """

    # Each field that is a command-line flag says its group (the pipeline stage) and help;
    # ``ltcn detect`` builds its flags from these fields (:mod:`ltcn_kernels.cli`), so a
    # default is written once, here. Fields without a group are not flags.
    source: str | None = option(
        None, "input", "a flow-record file, a directory of them (sorted), a pcap/pcapng capture "
        "(through Argus) or - for standard input", exclusive="where", metavar="PATH")
    interface: str | None = option(
        None, "input", "live: Argus flow records from this network interface",
        exclusive="where", metavar="IFACE")
    follow: bool = option(False, "input", "keep reading a file being written")
    realtime: bool = option(False, "input", "replay records at their time stamps")
    speed: float = option(1.0, "input", "replay speed-up with --realtime")
    max_gap: float = option(5.0, "input", "longest replayed pause (s)")
    max_seconds: float | None = option(None, "input", "stop after this long (s)")
    poll: float = 0.1
    save_flows: str | None = option(
        None, "input", "append the flow meter's records (captures, --interface) to this CSV",
        metavar="CSV")
    status_interval: int | None = option(
        None, "input", "with --interface: seconds between Argus status records of an active "
        "flow (default argus.conf's, 5 s); bounds the time to block", metavar="S")
    backend: str = option("sparse", "engine", "Numba engine", choices=BACKENDS)
    mode: str = "auto"
    threshold: float = option(0.5, "engine", "alert when P(attack) >= this")
    micro_batch: int = option(256, "engine", "flows per engine call")
    alerts: str | None = option(
        None, "alerts", "alert JSON-lines file (default: standard output)", metavar="FILE")
    alerts_max_bytes: int = option(0, "alerts", "rotate the alert file above this size (0 = never)")
    alerts_keep: int = option(5, "alerts", "rotated alert files kept")
    stats_every: float = option(10.0, "alerts", "seconds between stats lines (0 = final only)")
    metrics_listen: str | None = option(
        None, "alerts", "serve the statistics as Prometheus metrics at http://HOST:PORT/metrics "
        "(PORT alone: on 127.0.0.1; needs the metrics extra)", metavar="HOST:PORT")
    metrics_textfile: str | None = option(
        None, "alerts", "write the statistics as Prometheus metrics to this node_exporter "
        "textfile (*.prom), atomically, every 15 s and at the end", metavar="FILE")
    rules: str | None = option(
        None, "alerts", "suppression and threshold rules, one a line (suppress/threshold by "
        "class and address, as in Suricata's threshold.config)", metavar="FILE")
    suppress: tuple[str, ...] = option(
        (), "alerts", "a suppress rule, e.g. 'class DoS, track by_src, ip 10.0.0.0/8' "
        "(repeatable): no event, no block (--allow: never blocked, still alerted)",
        metavar="RULE")
    firewall: str = option("none", "firewall", "how alert sources are blocked (none: alerts only)",
                           choices=FIREWALLS)
    apply: bool = option(False, "firewall", "run the nft commands (root); default: print them "
                         "(a dry run)")
    block_timeout: int = option(600, "firewall", "seconds a source stays blocked")
    block_rate: float = option(10.0, "firewall", "most blocklist additions per second")
    allow: tuple[str, ...] = option(
        (), "firewall", "an address or network never blocked (repeatable); the gateway's own "
        "addresses never are", metavar="CIDR")
    protect: tuple[str, ...] = option(
        (), "firewall", "a network whose addresses are never blocked, since a spoofed flow can "
        "name any source (repeatable; default: the subnets of --interface)", metavar="CIDR")
    block_local: bool = option(
        False, "firewall", "block sources inside the protected networks too (an infected LAN "
        "device), accepting that spoofed flows can then get LAN hosts blocked")
    trusted_keys: tuple[str, ...] = option(
        (), "trust", "a PEM file or a directory of trusted public keys (repeatable; default "
        "/etc/ltcn/trusted-keys and ~/.config/ltcn/trusted-keys)", metavar="PATH")
    allow_unsigned: bool = option(
        False, "trust", "run a model that is unsigned or signed by an untrusted key")
    max_hosts: int = option(
        MAX_HOSTS, "state", "per-host models: source addresses whose recent flows are kept "
        "(LRU; memory = hosts x (window-1) x features x 4 bytes); also the most hosts a "
        "site baseline learns")
    state_dir: str | None = option(
        None, "site", "the folder of the site baseline (baseline.json); without it the model's "
        "threshold alone decides", metavar="DIR")
    learn: str | None = option(
        None, "site", "learn the site for this long of traffic time (600s, 30m, 2h, 7d; no "
        "alerts meanwhile: the traffic must be clean), then detect; resumes an interrupted "
        "learning period", metavar="DURATION")
    relearn: bool = option(False, "site", "discard the baseline in --state-dir and learn anew "
                           "(needs --learn)")
    extend: bool = option(False, "site", "a complete baseline learns --learn more traffic")
    target_rate: float = option(
        0.005, "site", "the learning period's alert rate the site threshold is fitted to")

    def __post_init__(self) -> None:
        if self.firewall not in FIREWALLS:
            raise GatewayError(f"unknown firewall {self.firewall!r}; expected none or nftables")
        if self.apply and self.firewall != "nftables":
            raise GatewayError("--apply needs --firewall nftables")
        if (self.source is None) == (self.interface is None):
            raise GatewayError("give one of --source or --interface")
        if self.firewall == "nftables":
            check_block_limits(self.block_timeout, self.block_rate)
        allow_networks(self.allow)
        allow_networks(self.protect, flag="--protect")
        if self.allow and self.firewall != "nftables":  # (else it would be silently ignored)
            raise GatewayError("--allow needs --firewall nftables (without a firewall nothing "
                               "is blocked; to keep alerts of an address out, use --suppress)")
        if (self.protect or self.block_local) and self.firewall != "nftables":
            raise GatewayError(f"{'--protect' if self.protect else '--block-local'} needs "
                               "--firewall nftables (without a firewall nothing is blocked)")
        try:
            flag_rules(self.suppress)
        except UsageError as exc:  # (.suppress raises the base class: it cannot import us)
            raise GatewayError(str(exc)) from None
        if not 0.0 < self.threshold <= 1.0:
            raise GatewayError("--threshold must be in (0, 1]")
        if not 1 <= self.micro_batch <= MAX_MICRO_BATCH:
            raise GatewayError(f"--micro-batch must be in 1..{MAX_MICRO_BATCH}")
        _finite(self.speed, "--speed", 0.0, 1e6, low_open=True)
        _finite(self.max_gap, "--max-gap", 0.0, 86_400.0)
        _finite(self.poll, "poll", 0.0, 60.0, low_open=True)
        _finite(self.stats_every, "--stats-every", 0.0, 86_400.0)
        if self.metrics_listen is not None:
            listen_address(self.metrics_listen)
        if self.metrics_textfile is not None and not str(self.metrics_textfile).endswith(".prom"):
            raise GatewayError("--metrics-textfile must end in .prom (node_exporter's textfile "
                               "collector reads only *.prom files)")
        if self.max_seconds is not None:
            _finite(self.max_seconds, "--max-seconds", 0.0, 1e9, low_open=True)
        if not 0 <= self.alerts_keep <= MAX_ALERTS_KEEP:
            raise GatewayError(f"--alerts-keep must be in 0..{MAX_ALERTS_KEEP}")
        if self.alerts_max_bytes < 0:
            raise GatewayError("--alerts-max-bytes must be 0 (never rotate) or positive")
        if not 1 <= self.max_hosts <= 1 << 20:
            raise GatewayError("--max-hosts must be in 1..1048576")
        self._check_site()
        if self.status_interval is not None:
            if self.interface is None:
                raise GatewayError("--status-interval needs --interface")
            if not 1 <= self.status_interval <= 3600:
                raise GatewayError("--status-interval must be in 1..3600 seconds")

    def _check_site(self) -> None:
        if self.learn is not None:
            parse_duration(self.learn)
            if self.state_dir is None:
                raise GatewayError("--learn needs --state-dir (where the site baseline is kept)")
        if (self.relearn or self.extend) and self.learn is None:
            raise GatewayError(f"--{'relearn' if self.relearn else 'extend'} needs --learn "
                               "DURATION")
        if self.relearn and self.extend:
            raise GatewayError("give one of --relearn and --extend")
        _finite(self.target_rate, "--target-rate", 1e-6, 0.5)

    @property
    def learn_s(self) -> float | None:
        """``learn`` in seconds (None: not learning)."""
        return None if self.learn is None else parse_duration(self.learn)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """``metrics_listen`` as ``(host, port)`` (None: no endpoint)."""
        return None if self.metrics_listen is None else listen_address(self.metrics_listen)

    @property
    def follows(self) -> bool:
        """``follow``, except for standard input (followed anyway until it closes)."""
        return self.follow and self.source != "-"

    def source_files(self) -> list[str]:
        """The inputs ``source`` names, in reading order (none for an interface).

        Raises:
            DataFormatError: no such file or directory, or an empty directory.
            GatewayError: ``follow`` with more than one file.
        """
        files = [] if self.source is None else source_files(self.source)
        if self.follows and len(files) != 1:
            raise GatewayError("--follow takes one file")
        return files
