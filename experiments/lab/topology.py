"""The lab network: IoT devices, a home server and an inside attacker on a LAN; a cloud server
and outside attackers on a WAN; a gateway namespace that bridges the LAN and routes to the WAN.

Every host is a Linux network namespace of our own (named ``ltcn-<tag>-<host>``), joined to a
bridge inside the gateway namespace by a veth pair. Nothing is joined to the machine's own
interfaces, so no packet can leave the machine. Addresses come from 198.18.0.0/15, the range
RFC 2544 reserves for benchmarking networks (routed nowhere):

    LAN 198.18.77.0/24 on ``br-lan``: gateway .1, home server .5, devices .10.., inside attacker .66
    WAN 198.19.77.0/24 on ``br-wan``: gateway .1, cloud .10, outside attackers .66..
    (.20 is a cloud endpoint that is down: devices' requests to it go unanswered)

The gateway sees every LAN packet on ``br-lan`` (promiscuous: bridged and routed frames alike),
which is where the lab captures and where ``ltcn detect --interface br-lan`` listens. The benign
hosts keep IPv6 on, so their kernels' own link-local chatter (neighbour discovery, router
solicitations, multicast listener reports) is in the captures as on a real LAN; the attackers
have IPv6 off, so every packet of theirs carries the IPv4 address their labels go by.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from ltcn_kernels.errors import InputError

LAN_PREFIX, WAN_PREFIX = "198.18.77", "198.19.77"
LAN_BRIDGE, WAN_BRIDGE = "br-lan", "br-wan"
GATEWAY_LAN, GATEWAY_WAN = f"{LAN_PREFIX}.1", f"{WAN_PREFIX}.1"
HUB = f"{LAN_PREFIX}.5"
CLOUD = f"{WAN_PREFIX}.10"
OFFLINE_CLOUD = f"{WAN_PREFIX}.20"  # a cloud endpoint that is down: no host has this address
INSIDE_ATTACKER = f"{LAN_PREFIX}.66"
FIRST_DEVICE = 10
MAX_DEVICES = 50  # .10 .. .59, below the inside attacker
MAX_BOTS = 8


class LabError(InputError, RuntimeError):
    """The lab cannot run here (not root, a tool missing) or a lab command failed; one line."""


@dataclass(frozen=True)
class Host:
    """One namespace: its role, its name in the lab and its one address."""

    name: str  # e.g. "dev3", "cloud", "bot1"
    role: str  # "device", "hub", "cloud", "attacker"
    address: str
    side: str  # "lan" or "wan"


@dataclass
class Topology:
    """The lab's hosts; :meth:`up` creates the namespaces, :meth:`down` removes them."""

    devices: int = 4
    bots: int = 3
    tag: str = field(default_factory=lambda: str(os.getpid()))
    hosts: list[Host] = field(init=False)
    _created: list[str] = field(init=False, default_factory=list)

    def __post_init__(self):
        if not 1 <= self.devices <= MAX_DEVICES:
            raise LabError(f"devices must be 1..{MAX_DEVICES}, not {self.devices}")
        if not 1 <= self.bots <= MAX_BOTS:
            raise LabError(f"bots (outside attackers) must be 1..{MAX_BOTS}, not {self.bots}")
        self.hosts = [
            Host("hub", "hub", HUB, "lan"),
            *(Host(f"dev{i}", "device", f"{LAN_PREFIX}.{FIRST_DEVICE + i}", "lan")
              for i in range(self.devices)),
            Host("inside", "attacker", INSIDE_ATTACKER, "lan"),
            Host("cloud", "cloud", CLOUD, "wan"),
            *(Host(f"bot{i}", "attacker", f"{WAN_PREFIX}.{66 + i}", "wan")
              for i in range(self.bots)),
        ]

    # -- names -------------------------------------------------------------------------------
    def ns(self, host: str) -> str:
        """The namespace of ``host`` (``"gw"`` for the gateway)."""
        return f"ltcn-{self.tag}-{host}"

    @property
    def gateway(self) -> str:
        return self.ns("gw")

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def of_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    @property
    def device_hosts(self) -> list[Host]:
        return self.of_role("device")

    @property
    def bot_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.name.startswith("bot")]

    @property
    def attacker_addresses(self) -> set[str]:
        return {h.address for h in self.of_role("attacker")}

    def exec_argv(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (``"gw"`` for the gateway)."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    # -- life cycle --------------------------------------------------------------------------
    def up(self) -> Topology:
        check_can_run()
        remove_stale()
        try:
            self._add_ns("gw", ipv6=True)
            gw = ["ip", "-n", self.gateway]
            for bridge, address in ((LAN_BRIDGE, GATEWAY_LAN), (WAN_BRIDGE, GATEWAY_WAN)):
                _ip(*gw, "link", "add", bridge, "type", "bridge")
                _ip(*gw, "addr", "add", f"{address}/24", "dev", bridge)
                _ip(*gw, "link", "set", bridge, "up")
            _sysctl(self.gateway, "net.ipv4.ip_forward", "1")
            for i, h in enumerate(self.hosts):
                self._add_ns(h.name, ipv6=h.role != "attacker")
                # veth names are per namespace, but the pair is created in the root one first
                outer, inner = f"lt{self.tag}g{i}"[-15:], f"lt{self.tag}h{i}"[-15:]
                _ip("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
                _ip("ip", "link", "set", outer, "netns", self.gateway)
                _ip("ip", "link", "set", inner, "netns", self.ns(h.name))
                bridge = LAN_BRIDGE if h.side == "lan" else WAN_BRIDGE
                _ip(*gw, "link", "set", outer, "master", bridge)
                _ip(*gw, "link", "set", outer, "up")
                hn = ["ip", "-n", self.ns(h.name)]
                _ip(*hn, "link", "set", inner, "name", "eth0")
                _ip(*hn, "addr", "add", f"{h.address}/24", "dev", "eth0")
                _ip(*hn, "link", "set", "eth0", "up")
                via = GATEWAY_LAN if h.side == "lan" else GATEWAY_WAN
                _ip(*hn, "route", "add", "default", "via", via)
        except BaseException:
            self.down()
            raise
        return self

    def _add_ns(self, host: str, ipv6: bool) -> None:
        name = self.ns(host)
        _ip("ip", "netns", "add", name)
        self._created.append(name)
        _ip("ip", "-n", name, "link", "set", "lo", "up")
        if not ipv6:
            _sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1")
            _sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1")

    def down(self) -> None:
        """Remove every namespace this topology made (their veths and bridges go with them)
        and kill what still runs inside them."""
        for name in reversed(self._created):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._created.clear()

    def __enter__(self) -> Topology:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()


def remove_stale() -> list[str]:
    """Remove the namespaces of lab runs whose process is gone (one killed with SIGKILL cannot
    clean up after itself); returns their names."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    stale = []
    for line in listing.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "ltcn" and parts[1].isdigit():
            if not os.path.exists(f"/proc/{parts[1]}"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
                stale.append(name)
    return stale


def check_can_run() -> None:
    """Raise :class:`LabError` unless this process can make namespaces (root, iproute2)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise LabError("the lab makes network namespaces: run it as root")
    if shutil.which("ip") is None:
        raise LabError("the lab needs iproute2 (`apt install iproute2`)")


def _ip(*argv: str) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {proc.stderr.strip() or proc.returncode}")


def _sysctl(ns: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    _ip("ip", "netns", "exec", ns, "sh", "-c", f"echo {value} > {path}")
