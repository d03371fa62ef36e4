"""Ingest benchmark: a >= 1 M-row CICIDS2017 MachineLearningCVE CSV to model-ready arrays.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python experiments/bench_ingest.py \
        --source DATA/cicids2017/cicids_sample.csv --rows 1000000 --out results/ingest

The big file is the real sample's records repeated (header and BOM once) until ``--rows``.
Each measurement runs in a fresh subprocess, after the Numba kernels are warmed up on the
sample itself, and times read -> (dedup) -> fit on the time-block training rows -> transform
all rows. Peak memory is the growth of the process's peak RSS over its RSS before reading.
Because the file repeats a 10 k-row sample, dropping duplicates leaves ~10 k rows; the
``keep-duplicates`` mode keeps all rows so that the memory ratio is taken against
full-size outputs. Prints one JSON object and writes it (plus a Markdown table) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SOURCE = Path(__file__).parents[1] / "tests/fixtures/cicids2017/MachineLearningCVE_subset.csv"


def make_big_csv(source: Path, rows: int, target: Path) -> int:
    """Repeat ``source``'s records until ``rows``; returns the row count written."""
    lines = source.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    written = 0
    with open(target, "wb") as f:
        f.write(header)
        block = b"".join(body)
        while written + len(body) <= rows:
            f.write(block)
            written += len(body)
        f.write(b"".join(body[: rows - written]))
        written = rows
    return written


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")



def measure(path: str, warmup: str, drop_duplicates: bool) -> dict:
    """One measurement (run in a child process)."""
    import numpy as np

    from ltcn_kernels import Preprocessor, read_flows
    from ltcn_kernels.bench.machine import peak_rss_bytes

    # Warm-up: compile (or load from cache) every kernel on the small real file.
    table = read_flows(warmup, progress=False)
    Preprocessor.fit(table).transform(table)
    del table
    rss_before = _rss_bytes()
    start = time.perf_counter()
    table = read_flows(path, drop_duplicates=drop_duplicates, progress=False)
    read_done = time.perf_counter()
    order = table.capture_order()
    train_rows = order[: int(0.8 * len(order))]
    pre = Preprocessor.fit(table, train_rows)
    fit_done = time.perf_counter()
    x = pre.transform(table)
    y = pre.encode_labels(table)
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes() - rss_before
    return {
        "rows_in": table.rows_read,
        "rows_out": int(x.shape[0]),
        "width": int(x.shape[1]),
        "seconds": seconds,
        "stages_s": {
            "read": round(read_done - start, 3),
            "split_fit": round(fit_done - read_done, 3),
            "transform": round(start + seconds - fit_done, 3),
        },
        "output_bytes": int(x.nbytes + y.nbytes),
        "peak_growth_bytes": int(peak),
        "finite": bool(np.isfinite(x).all()),
    }


def first_touch_probe(megabytes: int = 512) -> float:
    """Seconds per GB to allocate and fill fresh memory in a new process (as the outputs are).

    On this project's VMs the first touch of memory a process has never used is slow (the
    host backs the pages on demand), and every measurement above pays it for its outputs;
    this probe shows how much of the wall time is the machine rather than the code.
    """
    code = (
        "import numpy as np, time; t = time.perf_counter(); "
        f"a = np.empty(({megabytes} << 20) // 4, np.float32); a[:] = 1; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout) / (megabytes / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("PATH", "WARMUP", "DEDUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, warmup, dedup = args.child
        print(json.dumps(measure(path, warmup, dedup == "1")))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "MachineLearningCVE_repeated.csv"
        rows = make_big_csv(args.source, args.rows, big)
        size = big.stat().st_size
        modes = {}
        for mode, dedup in (("drop-duplicates", "1"), ("keep-duplicates", "0")):
            runs = []
            for _ in range(args.repeats):
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(big), str(args.source), dedup],
                    capture_output=True, text=True, check=True,
                )
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            seconds = statistics.median(r["seconds"] for r in runs)
            last = runs[-1]
            stages = {
                k: statistics.median(r["stages_s"][k] for r in runs) for k in runs[0]["stages_s"]
            }
            modes[mode] = {
                "stages_s_median": stages,
                "rows_in": last["rows_in"],
                "rows_out": last["rows_out"],
                "width": last["width"],
                "seconds_median": round(seconds, 3),
                "seconds_all": [round(r["seconds"], 3) for r in runs],
                "rows_per_s": round(last["rows_in"] / seconds),
                "mb_per_s": round(size / seconds / 1e6, 1),
                "output_mb": round(last["output_bytes"] / 1e6, 1),
                "peak_growth_mb": round(max(r["peak_growth_bytes"] for r in runs) / 1e6, 1),
                "peak_over_output": round(
                    max(r["peak_growth_bytes"] for r in runs) / last["output_bytes"], 2
                ),
                "outputs_finite": last["finite"],
            }
    result = {
        "benchmark": "ingest",
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "source": str(args.source),
        "rows": rows,
        "file_mb": round(size / 1e6, 1),
        "threads": {k: os.environ.get(k, "unset") for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "first_touch_s_per_gb": round(statistics.median(first_touch_probe() for _ in range(3)), 3),
        "targets": {"rows_per_s": 300_000, "peak_over_output": 3.0},
        "modes": modes,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ingest.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "ingest.md").write_text(_markdown(result))
    return 0


def _markdown(result: dict) -> str:
    lines = [
        "# Ingest throughput (MachineLearningCVE CSV -> model-ready arrays, one core)",
        "",
        f"Command: `{result['command']}`  ",
        f"File: {result['rows']:,} rows, {result['file_mb']} MB (the real sample repeated); "
        f"threads: {result['threads']}; machine: {result['machine']}",
        "",
        "| mode | rows in | rows out | median s | rows/s | MB/s | output MB | peak growth MB | peak / output |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, m in result["modes"].items():
        lines.append(
            f"| {mode} | {m['rows_in']:,} | {m['rows_out']:,} | {m['seconds_median']} | "
            f"{m['rows_per_s']:,} | {m['mb_per_s']} | {m['output_mb']} | {m['peak_growth_mb']} | "
            f"{m['peak_over_output']} |"
        )
    lines += ["", "Median seconds per stage:", ""]
    for mode, m in result["modes"].items():
        lines.append(f"- {mode}: " + ", ".join(f"{k} {v}" for k, v in m["stages_s_median"].items()))
    lines += [
        "",
        f"First write to fresh memory on this machine: {result['first_touch_s_per_gb']} s/GB "
        "(measured by a probe in a fresh process; every run above pays it for its output arrays).",
        "",
        f"Targets: >= {result['targets']['rows_per_s']:,} rows/s; peak memory <= "
        f"{result['targets']['peak_over_output']}x the output arrays (judged on keep-duplicates, "
        "where the output is full size; with duplicates dropped the repeated file shrinks to the "
        "sample's distinct rows).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
