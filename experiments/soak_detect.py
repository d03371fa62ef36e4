"""Soak run of the gateway: >= 1 M flows through ``ltcn detect``, throughput and memory over time.

    LTCN_DATA=DATA python experiments/soak_detect.py --run results/cicids2017_samples \
        --flows 1000000 --out results/soak

The flow file is the staged CICIDS2017 improved records repeated (header once) until
``--flows``; the model is the run's L-TCN exported to CSR. ``ltcn detect`` runs as a separate
process (one Numba thread) writing alerts; this script samples its resident memory every
0.5 s from /proc and records the final stats line. Flat memory = the RSS after warm-up does
not grow with the number of flows processed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ltcn_jax.export import export_run


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("results/cicids2017_samples"))
    parser.add_argument("--pattern", default=os.path.join(os.environ.get("LTCN_DATA", "data"), "cicids2017/improved/*.csv"))
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("results/soak"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.ltcn"
        export_run(args.run, model)
        flows_file = Path(tmp) / "flows.csv"
        n = build_input(args.pattern, args.flows, flows_file)
        alerts = Path(tmp) / "alerts.jsonl"
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "ltcn_jax.cli", "detect", "--model", str(model), "--source", str(flows_file),
               "--alerts", str(alerts), "--alerts-max-bytes", str(64 << 20), "--stats-every", "5"]  # fmt: skip
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
        final = [line for line in stderr.splitlines() if line.startswith("ltcn detect final:")]
        stats = json.loads(final[-1].split(":", 1)[1]) if final else {}
        alert_files = sorted(Path(tmp).glob("alerts.jsonl*"))
        alert_lines = sum(p.read_bytes().count(b"\n") for p in alert_files)
        alert_files = [p.name for p in alert_files]
    rss = [kib for _, kib in samples]
    warm = rss[len(rss) // 10 :] or rss
    result = {
        "command": "python experiments/soak_detect.py " + " ".join(sys.argv[1:]),
        "detect_command": "ltcn detect --model model.ltcn --source flows.csv --alerts alerts.jsonl "
                          "--alerts-max-bytes 67108864 --stats-every 5 (NUMBA_NUM_THREADS=1)",
        "model_run": str(args.run),
        "flows_in_file": n,
        "exit_code": proc.returncode,
        "wall_seconds": round(seconds, 2),
        "flows_per_s_wall": round(n / seconds),
        "final_stats": stats,
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
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([t for t, _ in samples], [k / 1024 for _, k in samples])
    ax.set(xlabel="seconds", ylabel="RSS (MiB)", title=f"ltcn detect: {n:,} flows, resident memory over time")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "soak_rss.png", dpi=110)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_timeline_s_kib"}, indent=1))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
