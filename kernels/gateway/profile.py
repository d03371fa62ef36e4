"""What this site's hosts normally do: a bounded profile of each source address's habits,
learned from the site's own traffic, and the "normal here" test of a flow against it.

A host's habits are what it starts: the services it connects to (protocol and destination
port, the dynamic ports 49152-65535 as one), and its peak activity per :data:`WINDOW_S`
seconds of traffic time (flows started, distinct peers, distinct services; a window the
learning period covers only in part counts at its rate over the part covered, see
:meth:`Profile._close`). The **site's habits** are the services that at least
:data:`SITE_HOSTS` learned hosts start, at the pace of the median learned host: what any host
here does (SSDP, mDNS, LLMNR, DNS, HTTPS on a LAN). Learned over the learning period, they are
frozen; while detecting, each source's activity is counted in the same tumbling windows.

A flow is **familiar** when its service is one of its source's learned services, or one of
the site's, and its source's activity in the current window is within the learned peaks times
:data:`HEADROOM` plus a little slack (:func:`ceiling`): the same thing at the same pace as
during learning. A host the profile does not hold (a device that joined after learning) is
familiar only announcing itself as the site's hosts do -- a site service to a multicast or
broadcast address (:func:`to_everyone`), at the median host's pace -- so a newcomer's flows to
a device or out of the site are always left to the classifier. A scan (new services or
peers), a flood (its rate), a newcomer talking to anyone in particular, and a known host
doing something new are all unfamiliar.

Memory is bounded: at most ``max_hosts`` learned hosts (hosts first seen once the profile is
full are not learned: they are judged as new hosts, and counted), :data:`MAX_SERVICES`
services a host (more are not learned), :data:`MAX_WINDOW_SET` peers and services counted a
window (more saturate the count, which is then over any ceiling but the largest), and the
current windows of at most ``max_hosts`` sources (least recently seen forgotten first).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

WINDOW_S = 60.0  # the activity window, in seconds of traffic time (flow start times)
HEADROOM = 2.0  # a window may hold this many times the learned peak...
SLACK = (10, 5, 5)  # ... plus this many flows, peers, services (small hosts are bursty)
MAX_SERVICES = 32  # services learned a host
MAX_WINDOW_SET = 64  # peers / services counted a window (a full count exceeds any ceiling
#                      below it: see ``familiar``)
SITE_HOSTS = 2  # a service this many learned hosts start is the site's habit
MIN_COVER_S = 10.0  # a partly covered learning window counts at most WINDOW_S / this times
DYNAMIC_PORT = 49152  # IANA dynamic ports 49152-65535 are one service
# The protocols whose destination port names a service (as Argus and CICFlowMeter name them);
# any other's "port" (Argus puts ICMP's type, code or identifier there) is not a service.
PORTED = frozenset({"tcp", "udp", "sctp", "udplite", "6", "17", "132", "136"})
MAX_NAME = 64  # longest address or protocol text a profile keeps


def proto_key(proto: str) -> int:
    """A protocol's part of a service key: 15 bits of the CRC-32 of its lower-case text
    (stable across processes, unlike ``hash``)."""
    return zlib.crc32(proto.lower()[:MAX_NAME].encode("utf-8", "replace")) & 0x7FFF


def service_keys(proto_keys: np.ndarray, dport: np.ndarray | None,
                 ported: np.ndarray | None = None) -> np.ndarray:
    """The service each flow starts, as one int (sets of ints take a third of the memory of
    tuples): its protocol (:func:`proto_key`) and destination port, the dynamic ports
    49152-65535 as one, -1 where there is no port or the protocol has none (``ported``
    false: not one of :data:`PORTED`; ICMP, ARP, IGMP)."""
    proto = np.asarray(proto_keys, np.int64)
    if dport is None:
        port = np.full(proto.shape, -1, np.int64)
    else:
        d = np.asarray(dport, np.float64)
        ok = np.isfinite(d) & (d >= 0)
        if ported is not None:
            ok &= np.asarray(ported, bool)
        port = np.where(ok, np.minimum(np.where(ok, d, 0), DYNAMIC_PORT), -1).astype(np.int64)
    return (proto << 17) | (port + 1)


@functools.lru_cache(maxsize=4096)
def to_everyone(peer: str | None) -> bool:
    """Whether a destination is a multicast or broadcast address (IPv4 224.0.0.0/4, the
    limited broadcast, an address ending in .255, IPv6 ff00::/8, a broadcast MAC or Argus's
    ``Broadcast``): where a device announces itself to the LAN (SSDP, mDNS, LLMNR, NetBIOS,
    IGMP, ARP), never a flood's or a scan's victim."""
    if not peer:
        return False
    text = peer.strip().lower()
    if text in ("broadcast", "ff:ff:ff:ff:ff:ff"):
        return True
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    if address.version == 4:
        return address.is_multicast or text.endswith(".255")
    return address.is_multicast


def ceiling(peak: int, slack: int, saturates: bool) -> float:
    """The most a window may hold and stay familiar, given the learned ``peak``; a count that
    ``saturates`` (peers, services) stops at :data:`MAX_WINDOW_SET`, so a ceiling at or over
    it is met only by a host whose peak reached it too."""
    top = int(HEADROOM * peak) + slack
    if saturates and top >= MAX_WINDOW_SET:
        return math.inf if peak >= MAX_WINDOW_SET else MAX_WINDOW_SET - 1
    return top


@dataclass
class Habits:
    """One host's learned habits: its services (:func:`service_keys`) and its peak (flows,
    peers, services) a window."""

    services: set[int] = field(default_factory=set)
    peak: list[int] = field(default_factory=lambda: [0, 0, 0])
    limits: tuple[float, float, float] = (0, 0, 0)  # the ceilings, set when learning ends

    def set_limits(self) -> None:
        flows, peers, services = self.peak
        self.limits = (ceiling(flows, SLACK[0], False), ceiling(peers, SLACK[1], True),
                       ceiling(services, SLACK[2], True))


@dataclass
class _Window:
    """One source's activity in its current window (peers as ``hash``: counted, not kept)."""

    start: float
    flows: int = 0
    peers: set[int] = field(default_factory=set)
    services: set[int] = field(default_factory=set)

    def add(self, peer: str, svc: int) -> None:
        self.flows += 1
        if len(self.peers) < MAX_WINDOW_SET:
            self.peers.add(hash(peer))
        if len(self.services) < MAX_WINDOW_SET:
            self.services.add(svc)

    def counts(self) -> tuple[int, int, int]:
        return self.flows, len(self.peers), len(self.services)


class Profile:
    """The learned habits of the site's hosts and the current windows of its sources.

    Args:
        max_hosts: most hosts learned, and most sources whose current window is kept.
        hosts: habits learned before (a resumed or extended baseline).
    """

    def __init__(self, max_hosts: int, hosts: dict[str, Habits] | None = None):
        self.max_hosts = int(max_hosts)
        self.hosts: dict[str, Habits] = dict(hosts or {})
        self.windows: OrderedDict[str, _Window] = OrderedDict()
        self.unlearned = 0  # flows of hosts first seen once the profile was full
        self.site_services: frozenset[int] = frozenset()  # set when learning ends
        self.site_limits: tuple[float, float, float] = (0, 0, 0)  # (the median host's)
        self._span: list[float] = [math.inf, -math.inf]  # this run's learned flow times
        self._full: set[str] = set()  # hosts with a fully covered learning window (this run)
        self._partial: dict[str, list[int]] = {}  # others' rate in partly covered windows

    def _window(self, host: str, t: float, learning: bool) -> _Window:
        w = self.windows.get(host)
        if w is None or not (w.start <= t < w.start + WINDOW_S):
            if w is not None and learning:
                self._close(host, w)
            # Windows are aligned to multiples of WINDOW_S, so a flow's window does not
            # depend on when its host was last seen.
            start = math.floor(t / WINDOW_S) * WINDOW_S if math.isfinite(t) else 0.0
            w = self.windows[host] = _Window(start)
            if len(self.windows) > self.max_hosts:
                old, gone = self.windows.popitem(last=False)
                if learning:
                    self._close(old, gone)
        self.windows.move_to_end(host)
        return w

    def _close(self, host: str, w: _Window) -> None:
        """A learning window ends: its counts raise the host's peaks. A window the learning
        period covers only in part (its first and last) is a lower bound of a minute's
        activity; for a host with no fully covered window in this run (a learning period
        shorter than two windows) its rate over the part covered is what there is, so it is
        kept apart (``WINDOW_S / covered`` times its counts, at most ``WINDOW_S /
        MIN_COVER_S``) and used at the end of learning only for such hosts."""
        habits = self.hosts.get(host)
        if habits is None:
            return
        first, last = self._span
        covered = min(w.start + WINDOW_S, last) - max(w.start, first)
        counts = w.counts()
        if covered < WINDOW_S:
            scale = WINDOW_S / max(covered, MIN_COVER_S)
            rate = [math.ceil(c * scale) for c in counts]
            self._partial[host] = [max(a, b) for a, b in
                                   zip(self._partial.get(host, (0, 0, 0)), rate, strict=True)]
        else:
            self._full.add(host)
        habits.peak = [max(a, b) for a, b in zip(habits.peak, counts, strict=True)]

    def learn(self, host: str, t: float, peer: str | None, svc: int) -> bool:
        """Learn one flow (``svc``: its :func:`service_keys` entry); True when it was new to the
        profile (an unknown host, or a service the host had not started): the flows the site
        threshold is fitted on."""
        host = host[:MAX_NAME]
        if math.isfinite(t):
            self._span = [min(self._span[0], t), max(self._span[1], t)]
        habits = self.hosts.get(host)
        if habits is None:
            if len(self.hosts) >= self.max_hosts:
                self.unlearned += 1
                return True
            habits = self.hosts[host] = Habits()
        new = svc not in habits.services
        if new and len(habits.services) < MAX_SERVICES:
            habits.services.add(svc)
        self._window(host, t, learning=True).add(peer, svc)
        return new

    def finish_learning(self) -> None:
        """Close every open window into the peaks; detection starts with no windows."""
        for host, w in self.windows.items():
            self._close(host, w)
        self.windows.clear()
        for host, rate in self._partial.items():
            if host not in self._full:
                habits = self.hosts[host]
                habits.peak = [max(a, b) for a, b in zip(habits.peak, rate, strict=True)]
        self._partial.clear()
        for habits in self.hosts.values():
            habits.set_limits()
        self.set_site_habits()

    def set_site_habits(self) -> None:
        """The site's habits, from the hosts' (nothing more is stored): the services at
        least :data:`SITE_HOSTS` hosts start, and the median host's limits."""
        used: dict[int, int] = {}
        for habits in self.hosts.values():
            for svc in habits.services:
                used[svc] = used.get(svc, 0) + 1
        self.site_services = frozenset(s for s, n in used.items() if n >= SITE_HOSTS)
        if self.hosts:
            median = np.median([h.peak for h in self.hosts.values()], axis=0)
            typical = Habits(peak=[math.ceil(m) for m in median])
            typical.set_limits()
            self.site_limits = typical.limits

    def familiar(self, hosts: list[str], times: list[float], peers: list[str | None],
                 services: list[int]) -> list[bool]:
        """Count flows (in time order) in their sources' windows; whether each is familiar
        (module docstring). One loop over the batch: this runs for every flow detected."""
        out = []
        known, windows, top = self.hosts, self.windows, MAX_WINDOW_SET
        site, site_limits = self.site_services, self.site_limits
        for host, t, peer, svc in zip(hosts, times, peers, services, strict=True):
            host = host[:MAX_NAME]
            w = windows.get(host)
            if w is not None and w.start <= t < w.start + WINDOW_S:
                windows.move_to_end(host)
            else:
                w = self._window(host, t, learning=False)
            w.flows += 1  # (_Window.add, inlined)
            if len(w.peers) < top:
                w.peers.add(hash(peer))
            if len(w.services) < top:
                w.services.add(svc)
            habits = known.get(host)
            if habits is None:  # a newcomer: announcing itself as the site's hosts do
                if svc not in site or not to_everyone(peer):
                    out.append(False)
                    continue
                limits = site_limits
            elif svc in habits.services or svc in site:
                limits = habits.limits
            else:
                out.append(False)
                continue
            out.append(w.flows <= limits[0] and len(w.peers) <= limits[1]
                       and len(w.services) <= limits[2])
        return out
