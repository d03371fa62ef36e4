"""The field benchmark (issue 26, item 4): learn each real site, then measure false alerts and
replayed attacks there, beside the model alone.

    python experiments/field/run.py --manifest experiments/field/captures.json \
        --data /work/field-data --model results/lab/model.ltcn --allow-unsigned --out results/field

For every benign capture ("site") of the manifest (:mod:`field.manifest`):

1. its flows (``ltcn flows``: Argus) give the addresses the site uses;
2. every attack capture is replayed into it after its learning period, the first
   ``--learn-fraction`` (30 %) of its time, on addresses of its subnet it never uses
   (:mod:`field.replay`), and the merged capture's flows are labelled by address;
3. ``ltcn detect`` runs twice on the merged flows: *uncalibrated* (the model at its threshold)
   and *calibrated* (``--state-dir`` + ``--learn``: the learning period ends where the attacks
   may begin, so no attack is learned);
4. flows that start after the learning period are counted (:mod:`field.score`): benign flows
   alerted (false alerts), attack flows alerted per family (recall), alert events per site-hour.

Written to ``--out`` at the end only: table.md, results.json, command.txt, false_alerts.png.
One core (``--cpu``), named in the table with the CPU model; progress on stderr, a line a site.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the experiments folder is what holds `field`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from field.manifest import Entry, ManifestError, load_manifest
from field.replay import (
    AttackCapture,
    PreparedAttack,
    ReplayError,
    infer_subnet,
    missing_tools,
    prepare_attack,
    replay_into_site,
)
from field.report import write_outputs
from field.score import count_alerts, label_flows, read_alert_lines, totals

from ltcn_kernels.errors import InputError
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.io.pcap import capture_to_flows

MODES = ("uncalibrated", "calibrated")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (what the timings ran on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ltcn_program() -> str:
    """The ``ltcn`` of this interpreter's environment (the one whose package we import)."""
    beside = Path(sys.executable).with_name("ltcn")
    return str(beside) if beside.exists() else "ltcn"


def learning_supported() -> bool:
    """Whether this ``ltcn detect`` has the learning mode (``--learn``, ``--state-dir``)."""
    text = subprocess.run([ltcn_program(), "detect", "--help"], capture_output=True, text=True,
                          check=False).stdout
    return "--learn" in text and "--state-dir" in text


def run_detect_cli(argv: list[str]) -> dict:
    """Run ``ltcn detect`` with ``argv``; its final statistics and its CPU time (the child's
    user + system seconds). A failure is one line (``error``), the rest of the run goes on."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([ltcn_program(), "detect", *argv], capture_output=True, text=True,
                          check=False, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"cpu_s": round(cpu, 3), "wall_s": round(time.perf_counter() - t0, 3)}
    final = [ln for ln in proc.stderr.splitlines() if ln.startswith("ltcn detect final: ")]
    if final:
        result["stats"] = json.loads(final[-1].split(": ", 1)[1])
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        result["error"] = lines[-1][:300]
    return result


def flow_endpoints(csv: Path) -> Counter[str]:
    """Every address in a flow file's saddr/daddr columns: how many flows it is an end of."""
    table = read_flows(csv, "bot-iot", drop_duplicates=False, drop_nonfinite=False,
                       unknown_label="keep", progress=False)
    counts: Counter[str] = Counter()
    for column in ("saddr", "daddr"):
        counts.update(table.strings[column].counts())
    return counts


def detect_modes(args: argparse.Namespace, merged_csv: Path, work: Path,
                 learn_s: float) -> dict[str, tuple[list[str], Path]]:
    """The ``ltcn detect`` arguments of each mode that runs, and where its alerts go."""
    common = ["--model", str(args.model), "--source", str(merged_csv), "--stats-every", "0"]
    common += ["--allow-unsigned"] if args.allow_unsigned else []
    common += ["--threshold", str(args.threshold)] if args.threshold is not None else []
    modes = {"uncalibrated": [*common]}
    if args.learning:
        modes["calibrated"] = [*common, "--state-dir", str(work / "state"),
                               "--learn", f"{learn_s:.6f}"]
        if args.target_rate is not None:
            modes["calibrated"] += ["--target-rate", str(args.target_rate)]
    return {m: ([*a, "--alerts", str(work / f"{m}.alerts.jsonl")],
                work / f"{m}.alerts.jsonl") for m, a in modes.items()}


def prepare_attacks(attacks: list[Entry], work: Path) -> tuple[list[PreparedAttack], dict]:
    """Every attack capture cut to IPv4 on Ethernet, once for all sites; the ones that cannot
    be replayed are left out, each with its one-line reason."""
    prepared, left_out = [], {}
    for i, a in enumerate(attacks):
        try:
            prepared.append(prepare_attack(AttackCapture(a.id, a.family, a.path, a.attacker),
                                           work, f"attack{i:03d}"))
        except ReplayError as e:
            left_out[a.id] = str(e)
            print(f"field: attack capture {a.id} left out: {e}", file=sys.stderr, flush=True)
    return prepared, left_out


def run_site(site: Entry, attacks: list[PreparedAttack], args: argparse.Namespace,
             work: Path) -> dict:
    """Replay, flows, both detect runs and the counts of one benign capture."""
    site_csv = work / "site.csv"
    site_flows = capture_to_flows(site.path, site_csv)
    endpoints = flow_endpoints(site_csv)
    subnet = site.local_subnet or infer_subnet(endpoints)
    if subnet is None:
        raise ReplayError(f"{site.path}: no local_subnet, and no private IPv4 address to infer "
                          "one from")
    replay = replay_into_site(
        site.path, subnet, attacks, work / "replay", site_addresses=endpoints,
        learn_fraction=args.learn_fraction)
    merged_csv = work / "merged.csv"
    capture_to_flows(replay.merged, merged_csv)
    flows = label_flows(merged_csv, replay)
    # ltcn detect learns from its first flow's start: end its learning exactly at the cut
    learn_s = replay.learn_end - float(flows.start.min())
    hours = (replay.site_end - replay.learn_end) / 3600
    record = {"id": site.id, "site": site.site, "path": str(site.path), "hours": hours,
              "local_subnet": subnet, "local_subnet_inferred": site.local_subnet is None,
              "site_flows": site_flows, "merged_flows": len(flows),
              "benign_flows_in_merge": int((flows.role == "benign").sum()),
              "learn_s": learn_s, "replay": replay.to_json(), "modes": {}, "errors": {}}
    for mode, (argv, alerts) in detect_modes(args, merged_csv, work, learn_s).items():
        run = run_detect_cli(argv)
        if "error" in run:
            record["errors"][mode] = run["error"]
            continue
        counts = count_alerts(flows, read_alert_lines(alerts, merged_csv), replay.learn_end, hours)
        record["modes"][mode] = {**counts, **run,
                                 "cpu_us_per_flow": 1e6 * run["cpu_s"] / max(len(flows), 1)}
    return record


def progress_line(i: int, n: int, record: dict) -> str:
    parts = [f"[{i}/{n}] {record['id']}: {record['merged_flows']:,} flows"]
    for mode, c in record["modes"].items():
        attack = sum(f["flows"] for f in c["families"].values())
        hit = sum(f["alerted"] for f in c["families"].values())
        parts.append(f"{mode} false {c['false_alerts']}/{c['benign_flows']}, "
                     f"attack {hit}/{attack}")
    parts += [f"{mode} failed: {why}" for mode, why in record["errors"].items()]
    return "; ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True, help="the capture list (JSON, see field.manifest)")
    p.add_argument("--data", required=True, help="the folder the manifest's paths are under")
    p.add_argument("--model", required=True, help="the .ltcn model ltcn detect runs")
    p.add_argument("--out", default="results/field", help="where the results are written")
    p.add_argument("--learn-fraction", type=float, default=0.3,
                   help="share of each site's time learned (default: 0.3)")
    p.add_argument("--threshold", type=float, default=None,
                   help="ltcn detect --threshold (default: detect's own)")
    p.add_argument("--target-rate", type=float, default=None,
                   help="ltcn detect --target-rate in the calibrated run (default: detect's)")
    p.add_argument("--allow-unsigned", action="store_true", help="passed to ltcn detect")
    p.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                   help="the one core everything runs on (default: the highest allowed)")
    p.add_argument("--keep-work", default=None, metavar="DIR",
                   help="keep the merged captures, flows and alerts here (default: a temp dir)")
    args = p.parse_args(argv)
    if not 0 < args.learn_fraction < 1:
        p.error("--learn-fraction must be in (0, 1)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        os.sched_setaffinity(0, {args.cpu})  # the children (Argus, ltcn detect) inherit it
    except (OSError, ValueError) as e:
        raise SystemExit(f"field: cannot pin to CPU {args.cpu}: {e}") from None
    missing = missing_tools()
    if missing:
        raise SystemExit(f"field: missing programs: {', '.join(missing)} "
                         "(apt install wireshark-common tcpreplay tcpdump)")
    try:
        entries = load_manifest(args.manifest, args.data)
    except ManifestError as e:
        raise SystemExit(f"field: {e}") from None
    args.learning = learning_supported()
    if not args.learning:
        print("field: this ltcn detect has no --learn: the calibrated runs are left out",
              file=sys.stderr)
    sites = [e for e in entries if e.role == "benign"]
    records = []
    with tempfile.TemporaryDirectory(prefix="ltcn-field-") as tmp:
        root = Path(args.keep_work or tmp)
        attacks, left_out = prepare_attacks([e for e in entries if e.role == "attack"],
                                            root / "attacks")
        if not attacks:
            raise SystemExit("field: no attack capture could be prepared for replay")
        for i, site in enumerate(sites, 1):
            work = root / f"site{i:03d}"
            work.mkdir(parents=True, exist_ok=True)
            try:
                record = run_site(site, attacks, args, work)
            except (ReplayError, InputError, ValueError) as e:  # one site's, said in one line
                record = {"id": site.id, "site": site.site, "modes": {},
                          "errors": {"replay": str(e)}, "merged_flows": 0}
            records.append(record)
            print(progress_line(i, len(sites), record), file=sys.stderr, flush=True)
    command = "python experiments/field/run.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    meta = {"command": command, "cpu_model": cpu_model(), "cpu": args.cpu,
            "model": str(args.model), "threshold": args.threshold,
            "target_rate": args.target_rate, "learn_fraction": args.learn_fraction,
            "learning_mode": args.learning, "manifest": str(args.manifest),
            "attacks_left_out": left_out,
            "captures": [{"id": e.id, "role": e.role, "site": e.site, "family": e.family,
                          "file": e.file, "sha256": e.sha256, **e.extra} for e in entries]}
    # the totals compare like with like: only sites where every mode that ran completed
    ran = [m for m in MODES if any(m in r["modes"] for r in records)]
    comparable = [r for r in records if r["modes"] and all(m in r["modes"] for m in ran)]
    meta["sites_in_totals"] = [r["id"] for r in comparable]
    summary = {mode: totals(comparable, mode) for mode in MODES}
    write_outputs(Path(args.out), meta, records, summary)
    print((Path(args.out) / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
