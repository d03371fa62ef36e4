"""``python -m lab record``: run a scenario in the lab, capture it on the gateway, turn the capture
into BoT-IoT flow records with Argus and label them from the schedule.

Labels come from who and when, never from the traffic itself: a flow whose source or
destination is a host that ran an attack's processes, starting inside that attack's window
(its start, to its end plus a grace period), gets the attack's label; every flow between the
benign hosts is ``Normal``. A flow that involves an attacking host outside every window, or an
ARP exchange of one (address resolution, not the attack), has no label and is left out
(counted in the manifest).

The output folder holds ``flows.csv.gz`` (BoT-IoT full schema, every ``ltcn`` tool reads it),
``live-1s.csv.gz`` and ``live-5s.csv.gz`` (the same capture as a live interface reports it:
unmerged Argus status records every 1 s or 5 s, the form ``ltcn detect --interface`` sees),
``events.json`` (the schedule as run), ``manifest.json`` (scenario, seed, tool versions,
packets, counts per label, checksums) and, with ``keep_capture``, ``capture.pcap``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ltcn_kernels.io.pcap import BOT_IOT_COLUMNS, capture_to_flows

from .scenario import GRACE_S, Event, Scenario, benign_times, load_scenario, schedule
from .services import Services, find_tool, missing_tools
from .topology import LAN_BRIDGE, LabError, Topology, check_can_run
from .traffic import (
    attack_kind,
    attack_sources,
    attack_target,
    benign_activity,
)

LIVE_INTERVALS = (1, 5)  # the status intervals of the live-form files (argus -S)
MAX_BENIGN_RUNNING = 256  # concurrent benign clients; past it a run is skipped (and counted)
BENIGN_TIMEOUT_S = 25.0
SNAPLEN = 200  # bytes of each packet kept: headers for Argus (lengths come from the wire)
VERSION_COMMANDS = {
    "argus": ["argus", "-h"], "tcpdump": ["tcpdump", "--version"],
    "mosquitto": ["mosquitto", "-h"], "nmap": ["nmap", "--version"], "hping3": ["hping3", "-v"],
    "hydra": ["hydra", "-h"], "slowhttptest": ["slowhttptest", "-h"],
    "coap-client-notls": ["coap-client-notls", "-h"], "dnsmasq": ["dnsmasq", "--version"],
    "chronyd": ["chronyd", "-v"], "sshd": ["sshd", "-V"], "curl": ["curl", "--version"],
    "socat": ["socat", "-V"],
}


def record(
    scenario: Scenario | str,
    seconds: float,
    seed: int,
    out: str | os.PathLike,
    *,
    keep_capture: bool = False,
    progress=None,
) -> dict:
    """Record ``scenario`` for ``seconds``; returns the manifest (also written to ``out``)."""
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    check_can_run()
    missing = missing_tools()
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)}: run `make system-deps` as root")
    rng = np.random.default_rng(seed)
    events = schedule(scenario, seconds, rng)
    runs = benign_times(scenario, seconds, rng)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ltcn-lab-") as tmp:
        pcap = out / "capture.pcap" if keep_capture else Path(tmp) / "capture.pcap"
        with Topology(devices=scenario.devices, bots=scenario.bots) as topo:
            services = Services(topo, Path(tmp) / "srv", seed).start()
            try:
                capture = _start_capture(topo, pcap)
                try:
                    t0, ran = _run(topo, services, scenario, events, runs, seconds, rng, progress)
                finally:
                    time.sleep(1.0)  # the last replies reach the capture
                    stop(capture)
            finally:
                services.stop()
            attackers = sorted(topo.attacker_addresses)
        raw = Path(tmp) / "flows.csv"
        capture_to_flows(pcap, raw)
        packets = pcap_packet_count(pcap)
        counts, argus_packets, dropped = label_flows(raw, out / "flows.csv.gz", ran, attackers)
        live = {}
        for interval in LIVE_INTERVALS:
            capture_to_flows(pcap, raw, status_interval=interval)
            name = f"live-{interval}s.csv.gz"
            n, live_packets, _ = label_flows(raw, out / name, ran, attackers)
            live[name] = {"records": sum(n.values()), "packets": live_packets,
                          "labels": dict(sorted(n.items()))}
    manifest = {
        "scenario": scenario.name,
        "scenario_text": scenario.text,
        "seed": seed,
        "seconds": seconds,
        "started_unix": round(t0, 3),
        "devices": scenario.devices,
        "bots": scenario.bots,
        "attacker_addresses": attackers,
        "capture": {"interface": LAN_BRIDGE, "packets": packets, "snaplen": SNAPLEN},
        "argus_packets": argus_packets,
        "flows": sum(counts.values()),
        "labels": dict(sorted(counts.items())),
        "left_out": dict(sorted(dropped.items())),
        "live_forms": live,
        "benign_runs": ran["benign"],
        "benign_skipped": ran["skipped"],
        "attacks": len(events),
        "tools": tool_versions(),
        "command": f"PYTHONPATH=experiments python -m lab record --scenario {scenario.name} "
        f"--seconds {seconds:g} --seed {seed} --out {out}",
        "sha256": {name: _sha256(out / name) for name in ("flows.csv.gz", *live)},
    }
    (out / "events.json").write_text(json.dumps(ran["events"], indent=1) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _start_capture(topo: Topology, pcap: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        topo.exec_argv("gw", [find_tool("tcpdump"), "-i", LAN_BRIDGE, "-n", "-s", str(SNAPLEN),
                              "-U", "--immediate-mode", "-w", str(pcap)]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 5
    while not pcap.exists() or pcap.stat().st_size < 24:  # tcpdump wrote the file header
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"tcpdump did not start: {proc.stderr.read().decode().strip()}")
        time.sleep(0.05)
    time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, wait: float = 5.0) -> None:
    """Signal ``proc``'s process group (SIGKILL after ``wait`` seconds) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _run(topo, services, scenario, events: list[Event], runs, seconds, rng, progress):
    """Start every benign run and attack at its time; kill what outlives its deadline."""
    devices = topo.device_hosts
    jobs = [(t, "benign", (dev, act)) for t, dev, act in runs]
    jobs += [(e.start, "attack", e) for e in events]
    jobs.sort(key=lambda j: j[0])
    running: list[tuple[float, subprocess.Popen, str]] = []  # (kill deadline, process, what)
    ran = {"benign": 0, "skipped": 0, "events": []}
    t0 = time.time()
    start = time.monotonic()
    end = start + seconds
    shown = -1
    for when, what, job in jobs:
        while time.monotonic() < start + when:
            running = _reap(running)
            time.sleep(min(0.02, max(0.0, start + when - time.monotonic())))
        if progress is not None and int(when) != shown:
            shown = int(when)
            progress(shown, seconds)
        running = _reap(running)
        if what == "benign":
            dev, activity = job
            if sum(1 for _, _, w in running if w == "benign") >= MAX_BENIGN_RUNNING:
                ran["skipped"] += 1
                continue
            for host, argv in benign_activity(activity)(topo, services, devices[dev], rng):
                running.append((time.monotonic() + BENIGN_TIMEOUT_S, spawn(topo, host, argv), "benign"))
            ran["benign"] += 1
        else:
            kind = attack_kind(job.kind)
            sources = attack_sources(topo, kind, rng)
            target = attack_target(topo, kind, rng)
            rate = job.rate * float(rng.uniform(0.6, 1.4))  # no two runs of an attack alike
            commands = kind.build(topo, services, sources, target, job.seconds, rate, rng)
            began = time.time()
            deadline = time.monotonic() + job.seconds + GRACE_S / 2
            for host, argv in commands:
                running.append((deadline, spawn(topo, host, argv), "attack"))
            parties = sorted({topo.host(h).address for h, _ in commands})
            ran["events"].append({
                "index": job.index, "kind": job.kind, "label": kind.label,
                "start_unix": round(began, 3), "end_unix": round(began + job.seconds + GRACE_S, 3),
                "seconds": job.seconds, "rate": round(rate, 1), "attackers": parties,
                "target": target.address, "commands": [[h, *a] for h, a in commands],
            })
    while running and time.monotonic() < end + BENIGN_TIMEOUT_S:
        running = _reap(running, final=time.monotonic() >= end)
        time.sleep(0.05)
    for _, p, _ in running:
        stop(p, signal.SIGKILL)
    if progress is not None:
        progress(seconds, seconds)
    return t0, ran


def spawn(topo: Topology, host: str, argv: list[str]) -> subprocess.Popen:
    """``argv`` in ``host``'s namespace, quiet, in a process group of its own (see stop)."""
    return subprocess.Popen(topo.exec_argv(host, argv), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _reap(running, final: bool = False):
    now, keep = time.monotonic(), []
    for deadline, p, what in running:
        if p.poll() is not None:
            continue
        if now > deadline or (final and what == "attack"):
            stop(p, signal.SIGKILL)
            continue
        keep.append((deadline, p, what))
    return keep


def label_flows(raw: Path, out: Path, ran: dict, attackers: list[str]):
    """Write ``raw``'s Argus records with labels from the schedule to gzipped ``out``.

    Returns (flows per label, packets over all Argus records, left-out flows per reason)."""
    windows = [(e["start_unix"], e["end_unix"], set(e["attackers"]), e["label"])
               for e in ran["events"]]
    attacker_set = set(attackers)
    counts, dropped = Counter(), Counter()
    packets = 0
    cols = {c: i for i, c in enumerate(BOT_IOT_COLUMNS)}
    i_src, i_dst, i_start, i_proto, i_pkts = (cols[c] for c in ("saddr", "daddr", "stime",
                                                                "proto", "pkts"))
    i_attack, i_cat, i_sub = cols["attack"], cols["category"], cols["subcategory"]
    with open(raw, newline="") as f_in, gzip.open(out, "wt", newline="") as f_out:
        reader, writer = csv.reader(f_in), csv.writer(f_out, lineterminator="\n")
        writer.writerow(next(reader))
        n = 0
        for row in reader:
            packets += int(float(row[i_pkts] or 0))
            src, dst, stime = row[i_src], row[i_dst], float(row[i_start])
            label = "Normal"
            if src in attacker_set or dst in attacker_set:
                label = None
                if row[i_proto] == "arp":
                    dropped["attacker ARP"] += 1
                    continue
                for lo, hi, parties, event_label in windows:
                    if lo - 0.5 <= stime <= hi and (src in parties or dst in parties):
                        label = event_label
                        break
                if label is None:
                    dropped["attacker outside its windows"] += 1
                    continue
            category, _, sub = label.partition("/")
            n += 1
            row[cols["pkSeqID"]] = str(n)
            row[i_attack], row[i_cat], row[i_sub] = (
                ("0", "Normal", "Normal") if label == "Normal" else ("1", category, sub)
            )
            writer.writerow(row)
            counts[label] += 1
    return counts, packets, dropped


_PCAP_MAGIC = {  # classic pcap (tcpdump's own output): byte order and time-stamp divisor
    b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9),
}


def pcap_records(path: Path, *, payload: bool = True):
    """``(time stamp, captured bytes)`` of each packet of a classic pcap file, in file order
    (``payload=False``: the bytes are skipped and ``b""`` is yielded)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        endian, per_second = _PCAP_MAGIC.get(head[:4], (">", 1e6))
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            if payload:
                data = f.read(incl)
            else:
                f.seek(incl, io.SEEK_CUR)
                data = b""
            yield sec + frac / per_second, data


def pcap_packet_count(path: Path) -> int:
    """Packets in a classic pcap file (tcpdump's own output format), by walking its records."""
    return sum(1 for _ in pcap_records(path, payload=False))


def tool_versions() -> dict[str, str]:
    """The first line that names a version, for each program the lab ran."""
    versions = {}
    for name, argv in VERSION_COMMANDS.items():
        try:
            argv = [find_tool(argv[0]), *argv[1:]]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except (LabError, OSError, subprocess.TimeoutExpired):
            versions[name] = "missing"
            continue
        lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines()]
        found = [ln for ln in lines if _VERSION.search(ln)]  # the first line with a version
        versions[name] = (found or ["?"])[0][:120]
    return versions


_VERSION = re.compile(r"\d+\.\d+")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
