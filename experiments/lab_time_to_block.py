"""Time to block, live: ``ltcn detect --interface br-lan --firewall nftables --apply`` on the
lab's gateway while attacks come from outside (root; about 1 s + the time to block per run).

    python experiments/lab_time_to_block.py --model results/lab/model.ltcn \
        --threshold T --runs 10 --status-interval 1 5 --out results/lab/time-to-block

The lab (:mod:`lab`, beside this script) is brought up with its servers and benign traffic from
every device (the ``smoke`` scenario's rates). The detector runs in the gateway namespace on
the LAN bridge, with real nftables in that namespace. Each run launches one attack from a WAN
bot at a LAN device and measures, from the gateway's own capture of ``br-lan`` and from the
nftables set polled every 20 ms:

- time to block: first attack packet on the LAN -> the bot's address in ``@blocklist``
  (for a DDoS: -> every bot's address);
- attack packets forwarded after the block (attack packets on ``br-lan`` later than the
  moment the entry was seen; the drop rule is in the forward hook, so expect none);
- benign hosts ever blocked, benign flows alerted; the detector's CPU (with argus and ra) and
  peak memory.

With ``--learn SECONDS`` the gateway first learns the site (``ltcn detect --state-dir DIR
--learn SECONDS``, no firewall: nothing alerts or blocks while learning) on the benign
traffic alone, until its baseline is saved complete; that detector is stopped, and the attack
runs use a fresh detector with ``--state-dir DIR`` (the learned baseline from its first
flow: an alert needs P(attack) >= the site threshold and an unfamiliar flow) and the same
firewall, threshold and timings as without it, so the two tables compare. The table then
also says what was learned (hosts, site threshold) and what the site rule did during the
attack runs (flows found familiar, benign flows alerted, benign hosts blocked).

Every run attacks from source addresses never used before (each bot takes a fresh address
from 198.19.80.0/20 for it, the route's source address and the tools' own source options), so
a block can only come from this run's flows: the flow meter keeps reporting an attack's flows
for a while after it stops, and a reused address would be blocked again by those. Every attack
is bounded by its tool (counts, time limits) and killed when blocked or after ``--give-up``
seconds.

(Over 500 lines: one live experiment, from the lab's bring-up and the learning phase through
the runs to the table, read top to bottom; its parts are its functions.)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from lab.record import pcap_records, spawn, stop
from lab.scenario import benign_times, load_scenario
from lab.services import Services, find_tool
from lab.topology import GATEWAY_WAN, LAN_BRIDGE, WAN_BRIDGE, Topology
from lab.traffic import attack_kind, attack_target, benign_activity

LIVE_ATTACKS = ("dos_tcp", "dos_udp", "ddos_tcp", "dos_http", "service_scan", "ssh_brute_force",
                "dos_slow_http")
ATTACK_SECONDS = 15  # the tools' own limits; a run ends at the block or at --give-up
FRESH = ipaddress.ip_network("198.19.80.0/20")  # one never-used source address per bot a run


def with_source(argv: list[str], address: str) -> list[str]:
    """``argv`` sending from ``address``: the raw-socket tools take it as an option (they
    would use the interface's first address), the rest follow the route's source address."""
    tool = os.path.basename(argv[0])
    if tool == "hping3":
        return [*argv[:1], "-a", address, *argv[1:]]
    if tool == "nmap":
        return [*argv[:1], "-S", address, "-e", "eth0", *argv[1:]]
    if tool == "curl":
        return [*argv[:1], "--interface", address, *argv[1:]]
    return argv


def take_address(topo: Topology, host: str, pool) -> str:
    address = str(next(pool))
    ns = ["ip", "-n", topo.ns(host)]
    subprocess.run([*ns, "addr", "add", f"{address}/32", "dev", "eth0"], check=True)
    subprocess.run([*ns, "route", "replace", "default", "via", GATEWAY_WAN, "src", address],
                   check=True)
    return address


def nft_blocked(topo: Topology) -> set[str]:
    proc = subprocess.run(topo.exec_argv("gw", ["nft", "-j", "list", "set", "inet", "ltcn",
                                                "blocklist"]), capture_output=True, text=True)
    if proc.returncode != 0:
        return set()
    out = set()
    for item in json.loads(proc.stdout)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            value = elem.get("elem", {}).get("val") if isinstance(elem, dict) else elem
            out.add(str(value))
    return out


def ipv4_sources(pcap: Path):
    """(time stamp, source address) of every IPv4 packet of an Ethernet pcap."""
    times, sources = [], []
    for ts, data in pcap_records(pcap):
        if len(data) >= 34 and data[12:14] == b"\x08\x00":
            times.append(ts)
            sources.append(".".join(str(b) for b in data[26:30]))
    return np.asarray(times), np.asarray(sources, dtype=object)


class Benign(threading.Thread):
    """The smoke scenario's benign activities on every device until stopped."""

    def __init__(self, topo, services, seed):
        super().__init__(daemon=True)
        self.topo, self.services = topo, services
        self.rng = np.random.default_rng(seed)
        self.halt = threading.Event()
        self.runs = 0

    def run(self):
        scenario = load_scenario("smoke")
        start, procs = time.monotonic(), []
        for when, dev, activity in benign_times(scenario, 3600, self.rng):
            while time.monotonic() < start + when:
                if self.halt.wait(0.02):
                    for p in procs:
                        stop(p, signal.SIGKILL)
                    return
            procs = [p for p in procs if p.poll() is None]
            for host, argv in benign_activity(activity)(self.topo, self.services,
                                                        self.topo.device_hosts[dev], self.rng):
                procs.append(spawn(self.topo, host, argv))
            self.runs += 1


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children (argus, ra), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_setting(args, status_interval: int, tmp: Path) -> dict:
    topo = Topology(devices=4, bots=4).up()
    pool = FRESH.hosts()
    try:
        subprocess.run(["ip", "-n", topo.gateway, "route", "add", str(FRESH), "dev", WAN_BRIDGE],
                       check=True)
        services = Services(topo, tmp / f"srv{status_interval}", args.seed).start()
        pcap = tmp / f"lan{status_interval}.pcap"
        cap = subprocess.Popen(topo.exec_argv("gw", [find_tool("tcpdump"), "-i", LAN_BRIDGE, "-n",
                                                     "-s", "96", "-U", "-w", str(pcap)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        alerts = tmp / f"alerts{status_interval}.jsonl"
        benign = Benign(topo, services, args.seed)
        state_dir, learned = tmp / f"state{status_interval}", None
        if args.learn:  # the site learns on the benign traffic alone, before any attack
            benign.start()
            learned = learn_site(args, topo, status_interval, tmp, state_dir)
        detect = start_detector(args, topo, status_interval, tmp, alerts,
                                state_dir=state_dir if args.learn else None)
        if not args.learn:
            benign.start()
        time.sleep(args.warmup)
        cpu0, wall0 = cpu_seconds(detect.pid), time.monotonic()
        runs, ever_blocked, attack_addresses = attack_runs(args, topo, services, pool,
                                                           status_interval)
        cpu, wall = cpu_seconds(detect.pid) - cpu0, time.monotonic() - wall0
        rss = peak_rss_mb(detect.pid)
        benign.halt.set()
        benign.join()
        detect.send_signal(signal.SIGINT)
        detect.wait(timeout=30)
        stop(cap, signal.SIGINT, wait=10)
        services.stop()
        final = final_stats(tmp / f"detect{status_interval}.log")
        attacker_addrs = attack_addresses | {h.address for h in topo.hosts if h.role == "attacker"}
    finally:
        topo.down()
    rows = run_rows(runs, pcap)
    alerted_benign, kinds = benign_alerts(alerts, attacker_addrs)
    return {
        "status_interval": status_interval,
        "runs": rows,
        # a host blocked that is neither an attacker nor attacked: a bystander; an attacked
        # device blocked on flows of its own during an attack (its replies): a victim
        "benign_blocked": sorted(ever_blocked - attacker_addrs),
        "victims_blocked": sorted((ever_blocked - attacker_addrs) & {r["target"] for r in rows}),
        "bystanders_blocked": sorted(ever_blocked - attacker_addrs - {r["target"] for r in rows}),
        "benign_alerts": alerted_benign,
        "benign_alerts_by_flow": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:20]),
        # what a blocked victim was blocked on: alerts on flows a non-attacker started
        "benign_source_alerts": benign_source_alerts(alerts, attacker_addrs),
        "benign_runs": benign.runs,
        "detector_cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "detector_cpu_share": round(cpu / wall, 4),
        "detector_peak_rss_mb": round(rss, 1),
        **({"learned": learned, "site": final.get("site")} if learned is not None else {}),
    }


def detector_argv(args, status_interval: int, alerts: Path) -> list[str]:
    """``ltcn detect`` on the LAN bridge, as every run of this script starts it (no firewall
    yet: :func:`start_detector` adds it)."""
    return [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", args.model,
            "--interface", LAN_BRIDGE, "--threshold", str(args.threshold),
            "--micro-batch", str(args.micro_batch), "--status-interval", str(status_interval),
            "--alerts", str(alerts), *(["--allow-unsigned"] if args.allow_unsigned else [])]


def start_detector(args, topo: Topology, status_interval: int, tmp: Path,
                   alerts: Path, state_dir: Path | None = None) -> subprocess.Popen:
    """``ltcn detect`` on the LAN bridge in the gateway namespace, blocking with nftables
    (with the site baseline in ``state_dir`` if given); returns once its kernels are ready
    and its nft table and flow meter are up."""
    log = tmp / f"detect{status_interval}.log"
    site = [] if state_dir is None else ["--state-dir", str(state_dir)]
    detect = launch_detector(topo, [
        *detector_argv(args, status_interval, alerts), "--firewall", "nftables", "--apply",
        "--block-timeout", str(args.block_timeout), "--block-rate", "100",
        "--stats-every", "0", *site], log)
    time.sleep(3)  # nft table and the flow meter up
    return detect


def launch_detector(topo: Topology, argv: list[str], log: Path) -> subprocess.Popen:
    """Start ``argv`` in the gateway namespace, its standard error to ``log``; returns once
    its kernels are ready (exits with the log if it stops or takes over 300 s first)."""
    detect = subprocess.Popen(topo.exec_argv("gw", argv), stdout=subprocess.DEVNULL,
                              stderr=open(log, "w"))
    deadline = time.monotonic() + 300
    while not log.read_text().count("kernels ready"):
        if detect.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ltcn detect did not start: {log.read_text()}")
        time.sleep(0.2)
    return detect


def learn_site(args, topo: Topology, status_interval: int, tmp: Path, state_dir: Path) -> dict:
    """Learn the site on the benign traffic (running meanwhile): ``ltcn detect --state-dir
    --learn`` without a firewall, stopped once its baseline is saved complete. Returns what
    was learned: the baseline's hosts, flows, learned seconds and fit, with the learning
    detector's CPU, wall time and final statistics; the baseline file is copied into
    ``--out``."""
    log = tmp / f"learn{status_interval}.log"
    detect = launch_detector(topo, [
        *detector_argv(args, status_interval, tmp / f"learn-alerts{status_interval}.jsonl"),
        "--state-dir", str(state_dir), "--learn", f"{args.learn:g}s", "--stats-every", "0"], log)
    wall0 = time.monotonic()
    baseline = state_dir / "baseline.json"
    deadline = wall0 + args.learn + 120  # the period is traffic time, from the first flow
    body: dict = {}
    while not body.get("complete"):
        if detect.poll() is not None or time.monotonic() > deadline:
            detect.kill()
            raise SystemExit(f"ltcn detect --learn did not complete a baseline in "
                             f"{args.learn + 120:.0f} s: {log.read_text()[-2000:]}")
        time.sleep(1.0)
        body = json.loads(baseline.read_text()) if baseline.exists() else {}
    cpu, wall = cpu_seconds(detect.pid), time.monotonic() - wall0
    detect.send_signal(signal.SIGINT)
    detect.wait(timeout=30)
    # kept beside the table: which services are the site's and each host's pace say why a
    # flow was (not) familiar
    shutil.copyfile(baseline, Path(args.out) / f"baseline-{status_interval}s.json")
    print(f"  S={status_interval} learned {len(body['hosts'])} hosts over "
          f"{body['learned_s']:.0f} s, threshold {body['fit'].get('threshold')}",
          file=sys.stderr, flush=True)
    return {"hosts": sorted(body["hosts"]), "flows": body["flows"],
            "learned_s": body["learned_s"], "fit": body["fit"], "detector_cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2), "final": final_stats(log)}


def final_stats(log: Path) -> dict:
    """The detector's ``ltcn detect final: {json}`` line from its log ({} if none)."""
    prefix = "ltcn detect final: "
    for line in reversed(log.read_text().splitlines() if log.exists() else []):
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    return {}


def attack_runs(args, topo: Topology, services, pool, status_interval: int):
    """Every attack ``--runs`` times, each from fresh source addresses, until blocked or
    ``--give-up``: (the runs, every address ever seen blocked, the attack addresses used)."""
    rng = np.random.default_rng(args.seed)
    runs, ever_blocked = [], set()
    bots = topo.bot_hosts
    turn = 0
    attack_addresses: set[str] = set()
    for r in range(args.runs):
        for name in args.attacks:
            kind = attack_kind(name)
            if kind.origin == "bots":
                sources = bots
            else:
                sources, turn = [bots[turn % len(bots)]], turn + 1
            target = attack_target(topo, kind, rng)
            fresh = {s.name: take_address(topo, s.name, pool) for s in sources}
            addrs = set(fresh.values())
            attack_addresses |= addrs
            cmds = [(h, with_source(a, fresh[h]) if h in fresh else a) for h, a in
                    kind.build(topo, services, sources, target, ATTACK_SECONDS, kind_rate(name), rng)]
            launched, before = time.time(), set(ever_blocked)
            procs = [spawn(topo, h, a) for h, a in cmds]
            seen = wait_for_block(topo, addrs, launched + args.give_up, ever_blocked)
            time.sleep(0.5)  # attack packets after the block, if any got through
            for p in procs:
                stop(p, signal.SIGKILL)
            runs.append({"attack": name, "run": r, "sources": sorted(addrs),
                         "target": target.address, "launched": launched, "blocked_at": seen,
                         "ended": time.time(),
                         # other addresses first seen in the set while this run was watched
                         "others_blocked": sorted(ever_blocked - before - addrs)})
            print(f"  S={status_interval} {name} run {r}: "
                  f"{'blocked' if len(seen) == len(addrs) else 'NOT blocked'} "
                  f"{(max(seen.values()) - launched) if seen else float('nan'):.2f} s after launch",
                  file=sys.stderr, flush=True)
            time.sleep(0.3)
    return runs, ever_blocked, attack_addresses


def wait_for_block(topo: Topology, addrs: set[str], until: float,
                   ever_blocked: set[str]) -> dict[str, float]:
    """When each of ``addrs`` was first seen in the nftables set (polled every 20 ms) until
    all are or ``until``; every address seen blocked meanwhile is added to ``ever_blocked``."""
    seen: dict[str, float] = {}
    while time.time() < until and len(seen) < len(addrs):
        now_blocked = nft_blocked(topo)
        ever_blocked |= now_blocked
        for a in addrs & now_blocked:
            seen.setdefault(a, time.time())
        time.sleep(0.02)
    return seen


def run_rows(runs: list[dict], pcap: Path) -> list[dict]:
    """Each run's time to block and attack packets before and after it, from the gateway's
    capture of the LAN bridge."""
    times, sources = ipv4_sources(pcap)
    rows = []
    for run in runs:
        addrs = set(run["sources"])
        mask = np.isin(sources, list(addrs)) & (times >= run["launched"]) & (times <= run["ended"])
        first = float(times[mask].min()) if mask.any() else float("nan")
        blocked = len(run["blocked_at"]) == len(addrs)
        last_block = max(run["blocked_at"].values()) if blocked else float("nan")
        after = 0
        for a, t_block in run["blocked_at"].items():
            m = (sources == a) & (times > t_block) & (times <= run["ended"])
            after += int(m.sum())
        rows.append({**{k: run[k] for k in ("attack", "run", "sources", "target",
                                            "others_blocked")},
                     "blocked": blocked, "first_packet": first,
                     "time_to_block_s": round(last_block - first, 3) if blocked else None,
                     "packets_before_block": int((mask & (times <= last_block)).sum()) if blocked else int(mask.sum()),
                     "packets_after_block": after})
    return rows


def benign_alerts(alerts: Path, attacker_addrs: set[str]) -> tuple[int, dict[str, int]]:
    """Alerts on flows with no attacker address at either end: how many, and by flow."""
    alerted_benign, kinds = 0, {}
    if alerts.exists():
        for line in alerts.read_text().splitlines():
            a = json.loads(line)
            if a.get("src_ip") not in attacker_addrs and a.get("dest_ip") not in attacker_addrs:
                alerted_benign += 1
                kind = f"{a.get('proto')} {a.get('src_ip')} -> {a.get('dest_ip')}:{a.get('dest_port', '')}"
                kinds[kind] = kinds.get(kind, 0) + 1
    return alerted_benign, kinds


def benign_source_alerts(alerts: Path, attacker_addrs: set[str],
                         most: int = 50) -> list[dict]:
    """The first ``most`` alerts on flows whose source is not an attacker (a victim's own
    flows to its attacker included), as written, with their flow time."""
    out = []
    if alerts.exists():
        for line in alerts.read_text().splitlines():
            a = json.loads(line)
            if a.get("src_ip") not in attacker_addrs:
                out.append(a)
                if len(out) >= most:
                    break
    return out


def kind_rate(name: str) -> float:
    """Rates of the kept recording's scenario (``iot.toml``)."""
    for attack in load_scenario("iot").attacks:
        if attack.kind == name:
            return attack.rate
    raise KeyError(name)


def summarize(results: list[dict], meta: dict) -> str:
    lines = [
        "# Time to block, live in the lab",
        "",
        f"`ltcn detect --interface br-lan --firewall nftables --apply` in the gateway namespace, "
        f"model `{meta['model']}`, threshold {meta['threshold']}, micro-batch {meta['micro_batch']}, "
        f"block timeout {meta['block_timeout']} s; benign traffic from 4 devices throughout. "
        "Time to block: first attack packet on the LAN to the source's address in the nftables set "
        "(a DDoS: every bot's). Attack packets after the block: on `br-lan` after the entry was seen.",
        "",
        "| Argus status interval | attack | runs | blocked | time to block p50 | p95 | max | "
        "attack packets before block (median) | after block (total) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        by: dict[str, list] = {}
        for r in res["runs"]:
            by.setdefault(r["attack"], []).append(r)
        for name, rs in by.items():
            t = np.array([r["time_to_block_s"] for r in rs if r["blocked"]], float)
            def q(p, t=t):
                return f"{np.percentile(t, p):.2f} s" if t.size else "–"

            lines.append(
                f"| {res['status_interval']} s | {name} | {len(rs)} | {int(t.size)} | {q(50)} | "
                f"{q(95)} | {(f'{t.max():.2f} s' if t.size else '–')} | "
                f"{int(np.median([r['packets_before_block'] for r in rs]))} | "
                f"{sum(r['packets_after_block'] for r in rs)} |"
            )
    lines += ["", "| Argus status interval | bystanders blocked (not attacked) | attacked devices "
              "blocked (on their own flows) | benign flows alerted | detector CPU (with argus, "
              "ra) | peak memory |", "|---:|---|---|---:|---:|---:|"]
    for res in results:
        lines.append(
            f"| {res['status_interval']} s | {', '.join(res['bystanders_blocked']) or 'none'} | "
            f"{', '.join(res['victims_blocked']) or 'none'} | "
            f"{res['benign_alerts']} | {100 * res['detector_cpu_share']:.1f} % of one core over "
            f"{res['wall_s']:.0f} s | {res['detector_peak_rss_mb']:.0f} MB |"
        )
    if any("learned" in res for res in results):
        lines += site_lines(results, meta)
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def site_lines(results: list[dict], meta: dict) -> list[str]:
    """The table's part about the site baseline: what was learned, what the rule did."""
    lines = [
        "", f"Site baseline: learned for {meta['learn']:g} s of the benign traffic alone "
        "(`--state-dir DIR --learn`, no firewall), then the attack runs above with "
        "`--state-dir DIR`: an alert needs P(attack) >= the site threshold and a flow that is "
        "not familiar.", "",
        "| Argus status interval | hosts learned | flows learned | site threshold (basis) | "
        "flows familiar during the attacks (over the threshold) | learning detector CPU |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for res in results:
        learned, site = res["learned"], res.get("site") or {}
        fit = learned["fit"]
        lines.append(
            f"| {res['status_interval']} s | {len(learned['hosts'])}: "
            f"{', '.join(learned['hosts'])} | {learned['flows']} | {fit.get('threshold', 0):.4f} "
            f"({fit.get('basis')}) | {site.get('familiar', '–')} "
            f"({site.get('familiar_over_threshold', '–')}) | "
            f"{100 * learned['detector_cpu_s'] / max(learned['wall_s'], 1e-9):.1f} % of one core "
            f"over {learned['wall_s']:.0f} s |")
    return lines


def positive_seconds(text: str) -> float:
    """``--learn``'s value: seconds, positive and finite."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 86400), got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="results/lab/model.ltcn")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="run the model unsigned (the committed one is; `make lab` signs its export)")
    p.add_argument("--threshold", type=float, required=True,
                   help="the alert threshold chosen on lab validation (results/lab/captures.json)")
    p.add_argument("--runs", type=int, default=10, help="runs per attack")
    p.add_argument("--attacks", nargs="+", default=list(LIVE_ATTACKS))
    p.add_argument("--status-interval", type=int, nargs="+", default=[1, 5])
    p.add_argument("--micro-batch", type=int, default=256)
    p.add_argument("--block-timeout", type=int, default=2)
    p.add_argument("--give-up", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learn", type=positive_seconds, default=None, metavar="SECONDS",
                   help="first learn the site for SECONDS of benign traffic (ltcn detect "
                   "--state-dir --learn), then run the attacks with the learned baseline")
    p.add_argument("--out", default="results/lab/time-to-block")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="ltcn-ttb-") as tmp:
        for s in args.status_interval:
            results.append(one_setting(args, s, Path(tmp)))
    command = "python experiments/lab_time_to_block.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    meta = {"model": args.model, "threshold": args.threshold, "micro_batch": args.micro_batch,
            "block_timeout": args.block_timeout, "learn": args.learn, "command": command}
    (out / "results.json").write_text(json.dumps({"meta": meta, "settings": results}, indent=1) + "\n")
    (out / "table.md").write_text(summarize(results, meta))
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
