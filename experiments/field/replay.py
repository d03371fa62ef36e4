"""Replay attack captures into a benign site capture, after the site's learning period.

The field benchmark's protocol (issue 26, item 4): a site learns on the first 30 % of its time;
recall must be measured after that calibration, on the site's own network. So each attack
capture is

1. cut to its IPv4 packets (``tcpdump ip``): an IPv6 or layer-2 packet cannot be moved into the
   site's IPv4 subnet, so it is dropped, and the count of dropped packets is recorded; and
   put on the site's link type (:mod:`field.pcapfile`: mergecap joins one link type only);
2. moved in time (``editcap -t``) to start after the learning period, the attacks one after
   another over the rest of the site's time (each at the start of its own equal slot, or right
   after the previous attack if that one runs longer), so no two attacks overlap;
3. moved in address (``tcprewrite --pnat``, checksums fixed with ``--fixcsum``): every IPv4
   address of the capture onto one of the highest host addresses of the site's subnet that
   the site never uses, one address each, never shared between attack captures (the attacker
   first; what a full subnet cannot hold goes to 198.18.0.0/15, see :func:`allocate_addresses`);

and the site and the moved attacks are merged in time order (``mergecap``). The address map is
returned so that flows can be labelled exactly: a flow belongs to an attack capture if either
endpoint is one of its mapped addresses (no site flow can touch one: they are unused there),
and it is an attack flow if it touches the mapped attacker (every mapped address where the
capture names no attacker). Everything is written under a work folder the caller owns.

Needs: capinfos, editcap, mergecap (wireshark-common), tcprewrite (tcpreplay), tcpdump.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .pcapfile import ETHERNET, RAW_IPV4, LinkTypeError, convert_link

__all__ = [
    "GAP_S", "OVERFLOW_NETWORK", "TOOLS", "AttackCapture", "PlacedAttack", "PreparedAttack",
    "ReplayError",
    "SiteReplay", "address_roles", "allocate_addresses", "attack_slots", "capture_info",
    "free_addresses", "infer_subnet", "ipv4_address_counts", "ipv4_addresses", "label_flow",
    "missing_tools", "prepare_attack", "replay_into_site",
]

TOOLS = ("capinfos", "editcap", "mergecap", "tcprewrite", "tcpdump")
GAP_S = 1.0  # seconds between the learning period's end (or the previous attack) and an attack
# Where a capture's addresses go once the site's subnet has no unused address left (a sweep of
# a whole /24 does not fit into another /24): RFC 2544's benchmarking block, no real host's.
OVERFLOW_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
# capinfos' name of a site's link type -> the LINKTYPE the attacks are put on to join it
_SITE_LINKS = {"ether": ETHERNET, "rawip": 101, "rawip4": RAW_IPV4}
PNAT_RULES_PER_PASS = 500  # tcprewrite's --pnat is one argument: bounded below MAX_ARG_STRLEN
_IPV4_PAIR = re.compile(r"\bIP (\d{1,3}(?:\.\d{1,3}){3})(?:\.\d+)? > (\d{1,3}(?:\.\d{1,3}){3})")


class ReplayError(Exception):
    """A capture or a subnet that cannot be replayed as asked; the message is one line."""


@dataclass(frozen=True)
class AttackCapture:
    """One attack capture to replay: its id, family, file and (optionally) attacking host."""

    id: str
    family: str
    path: Path
    attacker: str | None = None


@dataclass
class PlacedAttack:
    """Where an attack capture landed in the merged capture, and under which addresses."""

    id: str
    family: str
    path: str
    start: float  # first packet's time in the merged capture (epoch seconds)
    end: float
    shift_s: float  # what editcap -t added to every time stamp
    packets: int  # in the original capture
    packets_ipv4: int  # replayed
    dropped_non_ipv4: int
    address_map: dict[str, str]  # original -> mapped
    attacker: str | None  # original attacking host, if the manifest names one
    attack_addresses: list[str]  # mapped: the attacker, or every mapped address without one
    outside_subnet: int = 0  # addresses moved to OVERFLOW_NETWORK: the subnet was full
    converted_from: str | None = None  # the capture's link type, where it was not Ethernet


@dataclass
class SiteReplay:
    """The merged capture and everything needed to label its flows."""

    merged: str
    site: str
    site_start: float
    site_end: float
    learn_fraction: float
    learn_end: float  # site_start + learn_fraction x (site_end - site_start)
    subnet: str
    site_packets: int
    merged_packets: int
    attacks: list[PlacedAttack] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def missing_tools() -> list[str]:
    """The programs of :data:`TOOLS` not on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def _run(argv: Sequence[str]) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ReplayError(f"{argv[0]} failed on {argv[-1]}: {detail}")
    return proc.stdout


def capture_info(path: str | os.PathLike) -> dict:
    """``capinfos``' encapsulation, packet count and first/last packet time (epoch seconds)."""
    header, row = _run(["capinfos", "-T", "-S", "-M", "-E", "-c", "-a", "-e", str(path)]).splitlines()[:2]
    values = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    packets = int(values["Number of packets"])
    if packets == 0:
        raise ReplayError(f"{path}: the capture holds no packets")
    return {"encapsulation": values["File encapsulation"], "packets": packets,
            "start": float(values["Start time"]), "end": float(values["End time"])}


def ipv4_address_counts(path: str | os.PathLike) -> Counter[str]:
    """Every IPv4 address that is a packet's source or destination: in how many packets."""
    text = _run(["tcpdump", "-nn", "-t", "-q", "-r", str(path)])
    return Counter(a for m in _IPV4_PAIR.finditer(text) for a in m.groups())


def ipv4_addresses(path: str | os.PathLike) -> list[str]:
    """Every IPv4 address that is a packet's source or destination, in address order."""
    return sorted(ipv4_address_counts(path), key=lambda a: ipaddress.IPv4Address(a))


def free_addresses(subnet: str, used: Iterable[str], count: int) -> list[str]:
    """The ``count`` highest host addresses of ``subnet`` not in ``used``, highest first (fewer
    where the subnet has fewer).

    Raises:
        ReplayError: the subnet is not IPv4.
    """
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError as e:
        raise ReplayError(f"local_subnet {subnet!r}: {e}") from None
    if net.version != 4:
        raise ReplayError(f"local_subnet {subnet}: the replay moves IPv4 addresses only")
    taken = set()
    for a in used:
        try:
            taken.add(ipaddress.IPv4Address(a))
        except ValueError:
            continue  # an IPv6 or MAC endpoint of a layer-2 flow: not in an IPv4 subnet
    chosen = []
    # hosts() leaves out the network and broadcast addresses; walk it from the top down
    last, first = int(net.broadcast_address) - 1, int(net.network_address) + 1
    for value in range(last, first - 1, -1):
        if len(chosen) == count:
            break
        address = ipaddress.IPv4Address(value)
        if address not in taken:
            chosen.append(str(address))
    return chosen


def allocate_addresses(subnet: str, used: Iterable[str],
                       captures: Sequence[tuple[Sequence[str], str | None]]) -> list[dict[str, str]]:
    """One new address for every address of every attack capture: ``captures`` holds each
    capture's addresses (busiest first) and its attacker (or None).

    Every new address is one nobody else has: unused by the site (``used``) and by any original
    attack address (so a tcprewrite rule can never rewrite another rule's result), and given
    once. They are the subnet's highest free host addresses, the attackers (or each capture's
    busiest address) served first so every attack comes from inside the site; what the subnet
    cannot hold goes to :data:`OVERFLOW_NETWORK`.
    """
    taken = {*used, *(a for addresses, _ in captures for a in addresses)}
    local = free_addresses(subnet, taken, sum(len(a) for a, _ in captures))
    local.reverse()  # pop() from the end: the highest first
    overflow = (str(a) for a in OVERFLOW_NETWORK.hosts() if str(a) not in taken)
    maps: list[dict[str, str]] = [{} for _ in captures]
    for mapping, (addresses, attacker) in zip(maps, captures, strict=True):
        lead = attacker if attacker is not None else addresses[0]
        mapping[lead] = local.pop() if local else next(overflow)
    for mapping, (addresses, _) in zip(maps, captures, strict=True):
        for a in addresses:
            if a not in mapping:
                mapping[a] = local.pop() if local else next(overflow)
    return maps


def infer_subnet(endpoint_flows: dict[str, int]) -> str | None:
    """The /24 around the site's busiest private IPv4 address (by flows it is an endpoint of),
    for a site whose manifest entry names no subnet; None without any private IPv4 address.
    A guess, recorded as one: a site on a wider network keeps the /24 its busiest host is in."""
    private = [(n, a) for a, n in endpoint_flows.items() if _private_ipv4(a)]
    if not private:
        return None
    _, busiest = max(private, key=lambda t: (t[0], ipaddress.IPv4Address(t[1])))
    return str(ipaddress.IPv4Network(f"{busiest}/24", strict=False))


def _private_ipv4(address: str) -> bool:
    try:
        a = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return a.is_private and not (a.is_loopback or a.is_link_local or a.is_multicast
                                 or a.is_unspecified or a == ipaddress.IPv4Address("255.255.255.255"))


def attack_slots(learn_end: float, site_end: float, durations: Sequence[float],
                 gap: float = GAP_S) -> list[float]:
    """Start times for attacks of these durations: after ``learn_end``, one after another.

    The time after the learning period is cut into equal slots, one per attack; an attack
    starts at its slot's start (plus ``gap``), or ``gap`` after the previous attack ends if
    that one ran longer, so attacks never overlap (a long attack may run past the site's end).
    """
    slot = max(site_end - learn_end, 0.0) / max(len(durations), 1)
    starts, previous_end = [], learn_end
    for i, duration in enumerate(durations):
        start = max(learn_end + i * slot, previous_end) + gap
        starts.append(start)
        previous_end = start + duration
    return starts


@dataclass
class PreparedAttack:
    """An attack capture cut to its IPv4 packets on an Ethernet link: done once, replayed into
    every site (:func:`prepare_attack`)."""

    attack: AttackCapture
    ipv4: Path  # classic pcap, Ethernet, IPv4 packets only
    packets: int  # in the original capture
    packets_ipv4: int
    start: float  # first/last packet time (epoch s)
    end: float
    addresses: list[str]  # busiest first
    converted_from: str | None  # the original link type where it was not Ethernet


def prepare_attack(attack: AttackCapture, work: str | os.PathLike, stem: str) -> PreparedAttack:
    """Cut ``attack`` to its IPv4 packets (``tcpdump ip``; 802.1Q-tagged ones too) and put them
    on an Ethernet link, under ``work/<stem>.*`` (the id is the manifest's: not a file name).

    Raises:
        ReplayError: a tool failed, an unconvertible link type, or no IPv4 packet.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    info = capture_info(attack.path)
    cut = work / f"{stem}.ipv4-any.pcap"
    bpf = "ip or (vlan and ip)" if info["encapsulation"] == "ether" else "ip"  # vlan: Ethernet
    _run(["tcpdump", "-r", str(attack.path), "-w", str(cut), bpf])
    ipv4 = work / f"{stem}.ipv4.pcap"
    try:
        original = convert_link(cut, ipv4, ETHERNET)
    except LinkTypeError as e:
        raise ReplayError(f"{attack.path}: {e}") from None
    counts = ipv4_address_counts(ipv4)
    if not counts:
        raise ReplayError(f"{attack.path}: no IPv4 packet to replay")
    ipv4_info = capture_info(ipv4)
    return PreparedAttack(
        attack=attack, ipv4=ipv4, packets=info["packets"], packets_ipv4=ipv4_info["packets"],
        start=ipv4_info["start"], end=ipv4_info["end"],
        addresses=sorted(counts, key=lambda a: (-counts[a], ipaddress.IPv4Address(a))),
        converted_from=None if original == ETHERNET else info["encapsulation"],
    )


def _rewrite_addresses(source: Path, out: Path, address_map: dict[str, str]) -> None:
    """tcprewrite --pnat, in passes of :data:`PNAT_RULES_PER_PASS` rules (safe to chain: no
    new address is an original one), IPv4 header and TCP/UDP checksums recomputed."""
    pairs = [f"{a}/32:{b}/32" for a, b in address_map.items()]
    current = source
    for k in range(0, len(pairs), PNAT_RULES_PER_PASS):
        last = k + PNAT_RULES_PER_PASS >= len(pairs)
        target = out if last else out.with_suffix(f".{k}.pcap")
        _run(["tcprewrite", f"--pnat={','.join(pairs[k:k + PNAT_RULES_PER_PASS])}", "--fixcsum",
              f"--infile={current}", f"--outfile={target}"])
        current = target


def _place_one(prepared: PreparedAttack, start: float, address_map: dict[str, str], stem: Path,
               site_link: int, subnet: str) -> tuple[Path, PlacedAttack]:
    """Shift, re-link (for a raw-IP site) and re-address one prepared attack capture."""
    attack = prepared.attack
    linked, shifted, mapped = (Path(f"{stem}.{s}.pcap") for s in ("link", "shifted", "mapped"))
    source = prepared.ipv4
    if site_link != ETHERNET:
        convert_link(source, linked, site_link)
        source = linked
    shift = start - prepared.start
    _run(["editcap", "-F", "pcap", "-t", f"{shift:.6f}", str(source), str(shifted)])
    _rewrite_addresses(shifted, mapped, address_map)
    targets = set(address_map.values())
    landed = set(ipv4_addresses(mapped))
    if landed != targets:  # an address tcpdump saw but no rule moved: the labels would be wrong
        raise ReplayError(f"{attack.path}: after tcprewrite, addresses "
                          f"{sorted(landed ^ targets)[:5]} differ from the map")
    if attack.attacker is not None and attack.attacker not in address_map:
        raise ReplayError(f"{attack.path}: attacker {attack.attacker} is not an IPv4 address "
                          "of the capture")
    attack_addresses = (
        [address_map[attack.attacker]] if attack.attacker is not None else sorted(targets)
    )
    net = ipaddress.IPv4Network(subnet, strict=False)
    placed = PlacedAttack(
        id=attack.id, family=attack.family, path=str(attack.path), start=start,
        end=start + prepared.end - prepared.start, shift_s=shift,
        packets=prepared.packets, packets_ipv4=prepared.packets_ipv4,
        dropped_non_ipv4=prepared.packets - prepared.packets_ipv4, address_map=address_map,
        attacker=attack.attacker, attack_addresses=attack_addresses,
        outside_subnet=sum(ipaddress.IPv4Address(b) not in net for b in targets),
        converted_from=prepared.converted_from,
    )
    return mapped, placed


def replay_into_site(site: str | os.PathLike, subnet: str,
                     attacks: Sequence[AttackCapture | PreparedAttack],
                     work: str | os.PathLike, *, site_addresses: Iterable[str] = (),
                     learn_fraction: float = 0.3, gap: float = GAP_S) -> SiteReplay:
    """Merge ``attacks`` into ``site`` after its learning period; the merged capture is
    ``work/merged.pcap``.

    Args:
        site: the benign site capture (Ethernet or raw IPv4).
        subnet: the site's local IPv4 subnet (CIDR); attack addresses move into it.
        attacks: the attack captures (or :func:`prepare_attack`'s, to prepare them once for
            many sites), replayed in this order.
        work: a folder for the intermediate and merged captures (created).
        site_addresses: addresses the site uses (e.g. its flows' endpoints); never mapped onto.
        learn_fraction: the share of the site's time (first to last packet) it learns on.
        gap: seconds between the learning period's end or the previous attack and an attack.

    Raises:
        ReplayError: a tool failed, an attack capture holds no IPv4 packet, or the site's link
            type is neither Ethernet nor raw IPv4.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    site_info = capture_info(site)
    site_link = _SITE_LINKS.get(site_info["encapsulation"])
    if site_link is None:
        raise ReplayError(f"{site}: link type {site_info['encapsulation']}; attacks are "
                          "replayed into Ethernet or raw-IPv4 sites only")
    learn_end = site_info["start"] + learn_fraction * (site_info["end"] - site_info["start"])
    prepared = [a if isinstance(a, PreparedAttack) else prepare_attack(a, work, f"attack{i}")
                for i, a in enumerate(attacks)]
    maps = allocate_addresses(subnet, site_addresses,
                              [(p.addresses, p.attack.attacker) for p in prepared])
    starts = attack_slots(learn_end, site_info["end"], [p.end - p.start for p in prepared], gap)
    mapped_files, placed = [], []
    for i, (p, address_map, start) in enumerate(zip(prepared, maps, starts, strict=True)):
        mapped, where = _place_one(p, start, address_map, work / f"placed{i}", site_link, subnet)
        mapped_files.append(mapped)
        placed.append(where)
    merged = work / "merged.pcap"
    _run(["mergecap", "-F", "pcap", "-w", str(merged), str(site), *map(str, mapped_files)])
    merged_packets = capture_info(merged)["packets"]
    expected = site_info["packets"] + sum(p.packets_ipv4 for p in placed)
    if merged_packets != expected:
        raise ReplayError(f"{merged}: {merged_packets} packets, expected {expected}")
    return SiteReplay(
        merged=str(merged), site=str(site), site_start=site_info["start"],
        site_end=site_info["end"], learn_fraction=learn_fraction, learn_end=learn_end,
        subnet=subnet, site_packets=site_info["packets"], merged_packets=merged_packets,
        attacks=placed,
    )


def address_roles(attacks: Iterable[PlacedAttack]) -> dict[str, tuple[str, str, str]]:
    """Mapped address -> (role, family, attack capture id), role ``attack`` for an attacking
    address and ``attack-background`` for the capture's other addresses."""
    roles = {}
    for attack in attacks:
        for mapped in attack.address_map.values():
            role = "attack" if mapped in attack.attack_addresses else "attack-background"
            roles[mapped] = (role, attack.family, attack.id)
    return roles


def label_flow(saddr: str, daddr: str,
               roles: dict[str, tuple[str, str, str]]) -> tuple[str, str | None, str | None]:
    """(role, family, attack capture id) of a flow: ``attack`` if either endpoint is a mapped
    attacking address, ``attack-background`` if it touches only an attack capture's other
    addresses (e.g. the victim's own DNS in an attack capture: neither the site's traffic nor
    the attack), else ``("benign", None, None)`` (the site's own flow)."""
    found = [roles[a] for a in (saddr, daddr) if a in roles]
    for role in ("attack", "attack-background"):
        for r in found:
            if r[0] == role:
                return r
    return "benign", None, None
