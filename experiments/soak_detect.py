"""Soak run of the gateway: >= 1 M flows through ``ltcn detect``, throughput and memory over time.

    LTCN_DATA=DATA python experiments/soak_detect.py --run results/cicids2017_samples \
        --flows 1000000 --out results/soak [--stages 100000]

The flow file is the staged CICIDS2017 improved records repeated (header once) until
``--flows``; the model is the run's L-TCN exported to CSR. ``ltcn detect`` runs as a separate
process (one Numba thread) writing alerts; this script samples its resident memory every
0.5 s from /proc and records the final stats line and the process's CPU time. Flat memory =
the RSS after warm-up does not grow with the number of flows processed.

``--stages N`` also runs ``run_detect`` in a fresh process on the first N flows of the same
file with a wall-clock timer around each stage (reading lines, parsing, preprocessing, the
engine, building the alerts, JSON encoding, writing, the firewall, the counters) -- plain
``perf_counter`` wrappers, not cProfile, so the shares are those of a normal run; it works for
the code before and after the batch alert writer (whichever ``ltcn_kernels`` is imported).
``--cprofile FILE`` dumps a cProfile of that same run as well (a second pass).

``--compare LABEL=DIR[,DIR..] ...`` only summarises earlier runs' ``soak.json`` files (one
label per code version, several alternated runs each) into ``OUT/compare.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# What --stages reports, in order: (key, what it is).
STAGES = (
    ("read", "reading and splitting lines, micro-batching (run_source outside _batch)"),
    ("parse", "CSV records -> flow table (Gateway._parse: read_flows_bytes)"),
    ("preprocess", "frozen preprocessing (Preprocessor.transform)"),
    ("engine", "the classifier (Classifier.__call__)"),
    ("alert_build", "alert events: dicts (old) / the batch's JSON lines (new: alert_lines)"),
    ("json_encode", "json.dumps of the events (old; new: inside alert_build)"),
    ("write", "writing and flushing the alert file (minus json.dumps)"),
    ("firewall", "Firewall.block"),
    ("report_other", "the rest of Gateway._report (P(attack), threshold, argmax, columns)"),
    ("stats", "Stats.add_latency and the statistics lines"),
    ("batch_other", "the rest of Gateway._batch (capture order, bookkeeping)"),
)


def build_input(pattern: str, flows: int, target: Path) -> int:
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no files match {pattern}")
    header, body = None, []
    for f in files:
        lines = Path(f).read_bytes().splitlines(keepends=True)
        header = header or lines[0]
        body.extend(lines[1:])
    written = 0
    with open(target, "wb") as out:
        out.write(header)
        while written < flows:
            chunk = body[: flows - written]
            out.write(b"".join(chunk))
            written += len(chunk)
    return written


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _code_under_test(env: dict) -> dict:
    """Which ltcn_kernels the child processes import, and that tree's commit and changes."""
    where = subprocess.run([sys.executable, "-c", "import ltcn_kernels; print(ltcn_kernels.__file__)"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    root = os.path.dirname(os.path.dirname(os.path.realpath(where)))

    def git(*a):
        done = subprocess.run(["git", "-C", root, *a], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"ltcn_kernels": os.path.realpath(where), "commit": git("rev-parse", "--short", "HEAD"),
            "changed_files": git("status", "--short", "--", "kernels").splitlines()}


# ------------------------------------------------------------------------------ stages
def stage_child(model: str, flows: str, out: str, profile: str | None) -> None:
    """(In a fresh process.) ``run_detect`` on ``flows`` with a timer around each stage;
    prints the seconds per stage as JSON."""
    import io

    from ltcn_kernels.gateway import DetectOptions, run_detect

    seconds: dict[str, float] = {}
    batch_lines = _install_stage_timers(seconds)
    clock = time.perf_counter
    options = DetectOptions(source=flows, alerts=out, alerts_max_bytes=64 << 20, stats_every=5)
    t0 = clock()
    result = run_detect(model, options, out=io.StringIO(), err=io.StringIO())
    wall = clock() - t0
    s = _stage_seconds(seconds, batch_lines)
    total = sum(s.get(k, 0.0) for k, _ in STAGES)
    print(json.dumps({
        "flows": result["flows"], "alerts": result["alerts"], "wall_s": round(wall, 3),
        "compile_s": result["compile_s"], "staged_s": round(total, 3),
        "flows_per_s_staged": round(result["flows"] / total),
        "seconds": {k: round(s.get(k, 0.0), 4) for k, _ in STAGES},
        "share": {k: round(s.get(k, 0.0) / total, 4) for k, _ in STAGES},
    }))
    if profile:
        _profile(model, options, out, profile)


def _install_stage_timers(seconds: dict[str, float]) -> bool:
    """Wrap each stage's function in a timer adding to ``seconds``; True when the alert lines
    are built a batch at a time (the new code: write_lines holds no json.dumps)."""
    import functools

    import ltcn_kernels.gateway.eve as E
    import ltcn_kernels.gateway.loop as L

    try:  # the alert file is alertfile's (before: eve's)
        import ltcn_kernels.gateway.alertfile as W
    except ImportError:
        W = E
    try:  # the outputs are sinks: the alert lines are built there (before: in the loop)
        import ltcn_kernels.gateway.sinks as S
    except ImportError:
        S = L

    clock = time.perf_counter

    def timed(owner, name, key):
        f = getattr(owner, name, None)
        if f is None:
            return

        @functools.wraps(f)
        def wrapper(*a, **k):
            t = clock()
            try:
                return f(*a, **k)
            finally:
                seconds[key] = seconds.get(key, 0.0) + clock() - t

        setattr(owner, name, wrapper)

    timed(L, "_run_sources", "sources")
    timed(L.Gateway, "_batch", "batch")
    timed(L.Gateway, "_parse", "parse")
    timed(L.Gateway, "_report", "report")
    timed(L.Gateway, "print_stats", "stats")
    timed(L.Classifier, "__call__", "engine")
    timed(L.Stats, "add_latency", "stats")
    timed(L.Firewall, "block", "firewall")
    for name in ("alert_event", "alert_lines"):  # old / new
        if hasattr(S, name):
            timed(E, name, "alert_build")
            setattr(S, name, getattr(E, name))
    timed(W.AlertWriter, "write", "write")  # old: one event (json.dumps inside)
    timed(W.AlertWriter, "write_lines", "write")  # new: a batch of lines
    timed(E.json, "dumps", "json_encode")
    init = L.Gateway.__init__

    def gateway_init(self, *a, **k):
        init(self, *a, **k)
        cls = type(self.pre)
        if not getattr(cls, "_stage_timed", False):
            timed(cls, "transform", "preprocess")
            cls._stage_timed = True

    L.Gateway.__init__ = gateway_init
    return "alert_lines" in vars(S)


def _stage_seconds(seconds: dict[str, float], batch_lines: bool) -> dict[str, float]:
    """The timers' seconds as exclusive stages: each outer timer minus the ones inside it."""
    s = dict(seconds)
    if batch_lines:  # new: write_lines holds no json.dumps; old: write does
        s.setdefault("json_encode", 0.0)
    else:
        s["write"] = s.get("write", 0.0) - s.get("json_encode", 0.0)
    s["read"] = s.pop("sources") - s["batch"]
    inside_report = ("alert_build", "write", "json_encode", "firewall")
    s["report_other"] = s["report"] - sum(s.get(k, 0.0) for k in inside_report)
    inside_batch = ("parse", "preprocess", "engine", "report", "stats")  # (add_latency: in _batch)
    s["batch_other"] = s["batch"] - sum(s.get(k, 0.0) for k in inside_batch)
    return s


def _profile(model: str, options, out: str, profile: str) -> None:
    """A cProfile dump of the same run (a second pass, the first one's alerts removed)."""
    import cProfile
    import io  # noqa: F401  (the profiled statement names it, through locals())

    from ltcn_kernels.gateway import run_detect

    os.remove(out)
    cProfile.runctx("run_detect(model, options, out=io.StringIO(), err=io.StringIO())",
                    globals(), {**locals(), "run_detect": run_detect}, profile)


def run_stages(model: Path, flows_file: Path, n: int, tmp: Path, env: dict, profile) -> dict:
    part = tmp / "stage_flows.csv"
    with open(flows_file, "rb") as src, open(part, "wb") as dst:
        for i, line in enumerate(src):
            if i > n:
                break
            dst.write(line)
    cmd = [sys.executable, os.path.abspath(__file__), "--stage-child", str(model), str(part),
           str(tmp / "stage_alerts.jsonl"), str(profile or "")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ compare
def compare(pairs: list[str], out: Path) -> dict:
    """``LABEL=DIR,DIR..`` runs -> medians and every run of each label."""
    summary = {}
    for pair in pairs:
        label, dirs = pair.split("=", 1)
        runs = [json.loads((Path(d) / "soak.json").read_text()) for d in dirs.split(",")]
        med = statistics.median

        def col(f, runs=runs):
            return [f(r) for r in runs]

        summary[label] = {
            "code": runs[0].get("code"),
            "runs": len(runs),
            "flows_per_s": col(lambda r: r["final_stats"]["flows_per_s"]),
            "flows_per_s_median": med(col(lambda r: r["final_stats"]["flows_per_s"])),
            "flows_per_cpu_s_median": med(col(lambda r: r.get("flows_per_cpu_s", 0))),
            "wall_s": col(lambda r: r["wall_seconds"]),
            "latency_us_p50": col(lambda r: r["final_stats"]["latency_us_p50"]),
            "latency_us_p99": col(lambda r: r["final_stats"]["latency_us_p99"]),
            "alerts": col(lambda r: r["final_stats"]["alerts"]),
            "rss_mib_after_warmup": col(lambda r: [r["rss_mib"]["after_warmup_min"],
                                                   r["rss_mib"]["after_warmup_max"]]),
            "stage_share_median": {k: med(col(lambda r, k=k: r["stages"]["share"][k]))
                                   for k, _ in STAGES if all("stages" in r for r in runs)},
            "stage_seconds_median": {k: med(col(lambda r, k=k: r["stages"]["seconds"][k]))
                                     for k, _ in STAGES if all("stages" in r for r in runs)},
            "stage_flows_per_s_median": med(col(lambda r: r.get("stages", {}).get("flows_per_s_staged", 0))),
        }
    summary["stages"] = dict(STAGES)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


# ------------------------------------------------------------------------------ soak
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--stage-child":
        stage_child(*sys.argv[2:5], sys.argv[5] or None)
        return 0
    args = _parse_args()
    if args.compare:
        print(json.dumps(compare(args.compare, args.out), indent=1))
        return 0
    from ltcn_jax.export import export_run

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.ltcn"
        export_run(args.run, model)
        flows_file = Path(tmp) / "flows.csv"
        n = build_input(args.pattern, args.flows, flows_file)
        alerts = Path(tmp) / "alerts.jsonl"
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        code = _code_under_test(env)
        run = _detect_sampled(model, flows_file, alerts, env)
        alert_files = sorted(Path(tmp).glob("alerts.jsonl*"))
        alert_lines = sum(p.read_bytes().count(b"\n") for p in alert_files)
        alert_files = [p.name for p in alert_files]
        stages = run_stages(model, flows_file, args.stages, Path(tmp), env, args.cprofile) if args.stages else None
    result = _result(args, n, code, run, alert_lines, alert_files)
    if stages is not None:
        result["stages"] = {"flows": args.stages, **stages, "what": dict(STAGES)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_plot:
        _plot_rss(run["samples"], n, args.out / "soak_rss.png")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_timeline_s_kib"}, indent=1))
    return 0 if run["returncode"] == 0 else 1


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("results/cicids2017_samples"))
    parser.add_argument("--pattern", default=os.path.join(os.environ.get("LTCN_DATA", "data"), "cicids2017/improved/*.csv"))
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("results/soak"))
    parser.add_argument("--stages", type=int, default=0, help="also time each stage on the first N flows")
    parser.add_argument("--cprofile", type=Path, default=None, help="with --stages: a cProfile dump of that run")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--compare", nargs="+", default=None, metavar="LABEL=DIR[,DIR..]")
    return parser.parse_args()


def _detect_sampled(model: Path, flows_file: Path, alerts: Path, env: dict) -> dict:
    """``ltcn detect`` on the flow file in a process of its own, its resident memory sampled
    every 0.5 s: its exit code, the samples, wall and CPU seconds and the final stats line."""
    cmd = [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(model), "--source", str(flows_file),
           "--alerts", str(alerts), "--alerts-max-bytes", str(64 << 20), "--stats-every", "5"]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    samples = []
    while proc.poll() is None:
        kib = rss_kib(proc.pid)
        if kib is not None:
            samples.append((round(time.perf_counter() - start, 2), kib))
        time.sleep(0.5)
    stderr = proc.stderr.read()
    seconds = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    final = [line for line in stderr.splitlines() if line.startswith("ltcn detect final:")]
    stats = json.loads(final[-1].split(":", 1)[1]) if final else {}
    return {"returncode": proc.returncode, "samples": samples, "seconds": seconds, "cpu": cpu,
            "stats": stats}


def _result(args, n: int, code: dict, run: dict, alert_lines: int, alert_files: list[str]) -> dict:
    """``soak.json``: the run's throughput, CPU, final stats, alerts kept and memory."""
    samples, seconds, cpu = run["samples"], run["seconds"], run["cpu"]
    rss = [kib for _, kib in samples]
    warm = rss[len(rss) // 10 :] or rss
    return {
        "command": "python experiments/soak_detect.py " + " ".join(sys.argv[1:]),
        "detect_command": "ltcn detect --model model.ltcn --source flows.csv --alerts alerts.jsonl "
                          "--alerts-max-bytes 67108864 --stats-every 5 (NUMBA_NUM_THREADS=1)",
        "code": code,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "model_run": str(args.run),
        "flows_in_file": n,
        "exit_code": run["returncode"],
        "wall_seconds": round(seconds, 2),
        "flows_per_s_wall": round(n / seconds),
        # User + system CPU of the detect process (start-up and compile included): less
        # sensitive than wall time to other work on a shared core.
        "cpu_seconds": round(cpu, 2),
        "flows_per_cpu_s": round(n / cpu) if cpu > 0 else None,
        "final_stats": run["stats"],
        # Rotation keeps a bounded number of files, so the oldest alerts are gone by design.
        "alert_lines_in_kept_files": alert_lines,
        "alert_files_kept": len(alert_files),
        "rss_mib": {
            "samples": len(rss),
            "after_warmup_min": round(min(warm) / 1024, 1),
            "after_warmup_max": round(max(warm) / 1024, 1),
            "first_decile_median": round(sorted(rss[: max(1, len(rss) // 10)])[len(rss[: max(1, len(rss) // 10)]) // 2] / 1024, 1),
            "last_decile_median": round(sorted(rss[-max(1, len(rss) // 10) :])[len(rss[-max(1, len(rss) // 10) :]) // 2] / 1024, 1),
        },
        "rss_timeline_s_kib": samples[:: max(1, len(samples) // 200)],
    }


def _plot_rss(samples: list, n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([t for t, _ in samples], [k / 1024 for _, k in samples])
    ax.set(xlabel="seconds", ylabel="RSS (MiB)", title=f"ltcn detect: {n:,} flows, resident memory over time")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
