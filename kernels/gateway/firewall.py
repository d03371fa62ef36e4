"""Blocking alert sources: timed entries in an nftables set of our own ``inet ltcn`` table.

Nothing from the input ever reaches a shell: every command is an argument list run with
``shell=False`` (or printed as JSON in a dry run), and every address is parsed by
:func:`ipaddress.ip_address` first; only its normalised text reaches a command. Only a unicast
address without an IPv6 scope id is ever blocked, never one of the gateway's own addresses or
of the ``--allow`` networks, and a block is recorded only once nft has taken it.

**Who can steer it.** An alerting flow's source address is whatever the packets said, and an
off-path attacker can say anything in a spoofed UDP, ICMP or TCP SYN packet. So by default the
gateway never blocks an address of the networks it protects -- the subnets of the interface it
watches (``--interface``) and any ``--protect CIDR`` -- unless ``--block-local`` asks it to:
spoofed flows "from" a LAN device can no longer get that device blocked, nor (through the
reply rule of :meth:`Firewall.block`) shield the real attacker. What remains possible: spoofed flows from an outside address get that
outside address blocked for the block timeout (keep it short, and ``--allow`` the outside
servers the site depends on: its resolver, its cloud endpoints), and an infected LAN device is
alerted on but not blocked without ``--block-local``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, OrderedDict, deque

from .options import GatewayError, allow_networks, check_block_limits


def nft_time(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


MAX_COMMANDS_KEPT = 1024  # the last nft commands kept for inspection (a dry run prints all)


def own_addresses(runner=None) -> tuple:
    """The addresses of this network namespace's interfaces (``ip -j addr``), which the
    gateway never blocks; empty where ``ip`` is missing or fails."""
    return tuple(addr for addr, _ in _interface_addresses(runner))


def interface_networks(interface: str, runner=None) -> tuple:
    """The subnets of ``interface`` (``ip -j addr show dev``; loopback and link-local left
    out): the LAN a detector watching it protects."""
    nets = set()
    for addr, prefix in _interface_addresses(runner, interface):
        if addr.is_loopback or addr.is_link_local:
            continue
        nets.add(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
    return tuple(sorted(nets, key=str))


def _interface_addresses(runner=None, interface: str | None = None) -> list:
    """``(address, prefix length)`` of each address of ``interface`` (None: of every
    interface; ``ip -j addr``)."""
    run = runner or (lambda argv: subprocess.run(argv, capture_output=True, text=True,
                                                 timeout=10, check=False))
    try:
        proc = run(["ip", "-j", "addr", "show", *(() if interface is None else ("dev", interface))])
        links = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return ()
    found = []
    for link in links if isinstance(links, list) else []:
        for info in link.get("addr_info", []) if isinstance(link, dict) else []:
            addr = Firewall.validate(str(info.get("local", "")) if isinstance(info, dict) else "")
            prefix = info.get("prefixlen") if isinstance(info, dict) else None
            if addr is not None:
                ok = isinstance(prefix, int) and 0 <= prefix <= addr.max_prefixlen
                found.append((addr, prefix if ok else addr.max_prefixlen))
    return found


class Firewall:
    """Timed nftables blocklist entries for alert sources, in our own ``inet ltcn`` table.

    Dry run (default) prints each command as a JSON argument list; ``apply`` runs it with
    ``subprocess.run(argv, shell=False)``. At most one add per address per timeout window
    and at most ``rate`` adds per second (a token bucket); every address is parsed by
    :func:`ipaddress.ip_address` and only its normalised text reaches a command.

    ``allow``: networks (``--allow``) never blocked; ``own``: the gateway's own addresses,
    never blocked (default: looked up with :func:`own_addresses`); ``protected``: the networks
    it protects, never blocked (module docstring; ``--protect``, :func:`interface_networks`).
    """

    TABLE = ("inet", "ltcn")

    def __init__(
        self, *, apply: bool = False, timeout_s: int = 600, rate: float = 10.0, out=None,
        clock=time.monotonic, runner=None, max_tracked: int = 65_536, allow=(), own=None,
        protected=(),
    ):
        check_block_limits(timeout_s, rate)
        self.allow = allow_networks(allow)
        self.own = frozenset(own_addresses() if own is None else (self.validate(a) for a in own))
        self.protected = allow_networks(protected)
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
        self.commands: deque[list[str]] = deque(maxlen=MAX_COMMANDS_KEPT)  # (bounded)
        self.output_closed = False  # a dry run's reader went away (`| head -1`): see _print
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
                         ";", "}"])
        for chain, hook in (("input", "input"), ("forward", "forward")):
            cmds.append(["nft", "add", "chain", *t, chain, "{", "type", "filter", "hook", hook,
                         "priority", "-10", ";", "policy", "accept", ";", "}"])
            cmds.append(["nft", "add", "rule", *t, chain, "ip", "saddr", "@blocklist", "drop"])
            cmds.append(["nft", "add", "rule", *t, chain, "ip6", "saddr", "@blocklist6", "drop"])
        return cmds

    def start(self) -> None:
        for argv in self.setup_commands():
            self._emit(argv)

    def _emit(self, argv: list[str]) -> bool:
        self.commands.append(argv)
        if not self.apply:
            return self._print(argv)
        try:
            proc = self.runner(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            self.counts["nft errors"] += 1
            print(f"ltcn detect: nft failed: {exc}", file=sys.stderr)
            return False
        if proc.returncode != 0:
            self.counts["nft errors"] += 1
            print(f"ltcn detect: nft failed ({proc.returncode}): {proc.stderr.strip()[:200]}",
                  file=sys.stderr)
            return False
        return True

    def _print(self, argv: list[str]) -> bool:
        """A dry run's command, printed; False once the output is closed (its reader, such
        as `head -1`, is gone): :attr:`output_closed` is then set, and the gateway stops
        (:class:`~.sinks.FirewallSink`) instead of ending in a traceback or silently."""
        if self.output_closed:
            return False
        try:
            print(json.dumps(argv), file=self.out, flush=True)
        except BrokenPipeError:
            self.output_closed = True
            _to_devnull(self.out)
            return False
        return True

    @staticmethod
    def validate(text: str):
        """The address ``text`` names (an IPv4-mapped IPv6 address as IPv4), or None. An IPv6
        scope id (``fe80::1%eth0``) is refused: it is not part of a set element, and its
        text is the input's."""
        try:
            addr = ipaddress.ip_address(str(text).strip())
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.scope_id is not None:
                return None
            if addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
        return addr

    def allowed(self, addr) -> bool:
        """Whether ``addr`` is the gateway's own or inside an ``--allow`` network."""
        return addr in self.own or any(addr in net for net in self.allow)

    def protects(self, addr) -> bool:
        """Whether ``addr`` is inside a network the gateway protects (module docstring)."""
        return any(addr in net for net in self.protected)

    def blocked(self, text: str) -> bool:
        """Whether ``text`` was blocked by us less than the block timeout ago."""
        addr = self.validate(text)
        if addr is None:
            return False
        at = self._recent.get(str(addr))
        return at is not None and self.clock() - at < self.timeout_s

    def block(self, text: str, peer: str | None = None) -> str:
        """Block one address; returns ``added``, ``recent``, ``rate-limited``, ``failed`` (nft
        refused it: not recorded as blocked), ``invalid address``, ``not blockable`` (not a
        unicast address: unspecified, loopback, multicast, reserved or broadcast),
        ``allow-listed``, ``protected network`` (module docstring) or ``reply to a blocked
        address`` (each also counted).

        ``peer`` is the other end of the alerting flow. A flow *to* an address we blocked is
        the victim still answering the attacker (its retransmissions and resets, seen by the
        flow meter as flows of their own once the attacker's packets stop arriving); blocking
        its source would cut the victim off, so it is only counted."""
        addr = self.validate(text)
        if addr is None:
            outcome = "invalid address"
        elif addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_reserved:
            outcome = "not blockable"  # (255.255.255.255 is in the reserved 240.0.0.0/4)
        elif self.allowed(addr):
            outcome = "allow-listed"
        elif self.protects(addr):
            outcome = "protected network"
        elif peer is not None and self.blocked(peer):
            outcome = "reply to a blocked address"
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
        name = "blocklist" if addr.version == 4 else "blocklist6"
        argv = ["nft", "add", "element", *self.TABLE, name,
                "{", key, "timeout", nft_time(self.timeout_s), "}"]
        if not self._emit(argv):
            return "failed"  # not recorded: the next alert of this source tries again
        self._recent[key] = now
        return "added"


def _to_devnull(stream) -> None:
    """Point a closed pipe's descriptor at /dev/null: what is left in ``stream``'s buffer is
    then flushed there at exit, not reported as 'Exception ignored' with exit status 120 (as
    ``ltcn``'s own handler of a broken pipe does)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return  # (not a file: nothing is flushed at exit)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
