"""``ltcn bench`` (:func:`main_bench`): measure one model or the sparsity sweep, then write the
report (JSON, Markdown, PNG) and print its summary."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ltcn_kernels.bench import machine as KM
from ltcn_kernels.bench.fairness import EXIT_UNFAIR, PeakProbe, UnfairBenchmark, set_peak
from ltcn_kernels.bench.harness import power_source
from ltcn_kernels.bench.report import (
    counter_lines,
    counters_report,
    energy_summary,
    pinning_summary,
    power_lines,
    summarise,
)
from ltcn_kernels.bench.runtimes import conv_sparsity, load_flat
from ltcn_kernels.errors import UsageError

from ._report import PAPER, evaluate_targets, plot, probes_summary, summary_rows, write_markdown
from ._runtimes import bench_model
from ._sweep import run_sweep


def main_bench(args, argv: Sequence[str]) -> int:
    """``ltcn bench`` (threads already pinned by the CLI)."""
    out_dir = Path(args.out)
    command = "ltcn " + " ".join(shlex.quote(a) for a in argv)
    machine = KM.machine_info()  # load average at the START of the run
    source = source_state()  # the code measured: as it was when the run started
    if not args.sweep and not args.model:
        raise UsageError("ltcn bench needs --model (or --sweep)")
    if args.sweep and (args.power or args.counters):
        raise UsageError("--power and --counters measure one model: give --model, not --sweep")
    power = power_source(args)  # a missing sensor: one line now, before any timing
    probe = PeakProbe()
    try:
        reports = measure(args, probe, power)
    except UnfairBenchmark as exc:
        print(f"ltcn bench: {exc}", file=sys.stderr)
        return EXIT_UNFAIR
    probe.again()  # the peak at the end of the run too; pct_peak against the best probe
    doc = report_doc(args, reports, probe, command=command, machine=machine, source=source)
    if args.out:
        write_report(out_dir, doc, plot_sweep=args.sweep)
    if args.counters:
        cores = doc["pinning"]["cores"]
        rows = [r for rep in reports for r in rep["runtimes"]]
        doc["counters"] = counters_report(args.model, [r["runtime"] for r in rows
                                                          if r["runtime"] in ("sparse", "dense", "numpy")],
                                             args.batch, cores[0] if cores else None)
    if args.json:
        print(json.dumps({k: doc[k] for k in ("batch", "threads", "results", "energy")}
                         | ({"counters": doc["counters"]} if "counters" in doc else {})))
    else:
        print_summary(doc, wrote=out_dir if args.out else None)
    return 0


def measure(args, probe: PeakProbe, power) -> list[dict]:
    """The reports of the sweep (``--sweep``) or of the one ``--model``; raises
    :class:`~ltcn_kernels.bench.fairness.UnfairBenchmark` at the first unfair model."""

    def log(*a):
        print(*a, file=sys.stderr if args.json else sys.stdout, flush=True)

    if args.sweep:
        return run_sweep(batch=args.batch, threads=args.threads, repeats=args.repeats,
                         warmup=args.warmup, stream_flows=args.stream_flows,
                         watts=args.watts, runs=Path(args.runs) if args.runs else None,
                         log=log, peak=probe)["reports"]
    flat, arch, nbytes = load_flat(args.model)
    return [bench_model(flat, arch,
                        label={"sparsity": round(conv_sparsity(flat), 4),
                               "scale": os.path.basename(args.model)},
                        batch=args.batch, threads=args.threads, repeats=args.repeats,
                        warmup=args.warmup, stream_flows=args.stream_flows,
                        watts=args.watts, art_bytes=nbytes, peak=probe,
                        power=power, power_seconds=args.power_seconds,
                        power_interval=args.power_interval)]


def report_doc(args, reports: list[dict], probe: PeakProbe, *, command: str, machine: dict,
               source: dict) -> dict:
    """The document ``bench.json`` holds: every runtime's ``pct_peak`` against the best peak
    probe, the run's conditions (machine, threads, pinning, source) and the targets."""
    peak = probe.value
    rows = [r for rep in reports for r in rep["runtimes"]]
    set_peak(rows, peak)
    return {
        "batch": args.batch, "threads": args.threads, "results": summary_rows(reports),
        "repeats": args.repeats, "warmup": args.warmup, "command": command, "machine": machine, "loadavg_at_end": list(os.getloadavg()),
        "threads_in_force": KM.thread_report(), "fma_peak_gflops_per_core": peak,
        "fma_peak_probes": probe.summary(), "fma_probe": KM.fma_probe_info(), "pinning": pinning_summary(rows), "source": source,
        "peak_rss_bytes": KM.peak_rss_bytes(),
        "energy": energy_summary(reports[0] if len(reports) == 1 else {}, args.watts),
        "paper_quoted": PAPER, "targets": evaluate_targets(reports, peak), "details": reports,
    }


def write_report(out_dir: Path, doc: dict, *, plot_sweep: bool) -> None:
    """``bench.json``, ``bench.md`` and, for a sweep, ``bench.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(doc, indent=1))
    write_markdown(out_dir / "bench.md", doc)
    if plot_sweep:
        plot(out_dir / "bench.png", doc["details"])


def print_summary(doc: dict, *, wrote: Path | None) -> None:
    """The human summary: every report, power and counters, the targets, the peak and pinning."""
    peak = doc["fma_peak_gflops_per_core"]
    for rep in doc["details"]:
        print("\n".join(summarise(rep, peak)))
    for line in power_lines(doc["energy"]) + counter_lines(doc.get("counters")):
        print(line)
    for t in doc["targets"]:
        print(f"target {t['target']}: {t['value']:.3f} {'met' if t['met'] else 'NOT met'}")
    pin = doc["pinning"]
    print(f"FMA peak {peak:.1f} GFLOP/s (best of {probes_summary(doc)}); "
          f"pinned to CPU(s) {pin['cores']}, threads seen on {pin['cpus_seen']}, CPU/wall "
          f"{pin['cpu_wall_ratio_min']:.2f}-{pin['cpu_wall_ratio_max']:.2f}, at most "
          f"{pin['pct_peak_max']:.1f} % of peak" + (f"; wrote {wrote}" if wrote is not None else ""))


def source_state() -> dict:
    """The git commit of this checkout and whether the engine (``kernels/engine``) or the
    benchmark had uncommitted changes when the numbers were taken (None outside git)."""
    root = Path(__file__).resolve().parents[2]

    def git(*a):
        return subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"),
                "engine_uncommitted": bool(git("status", "--short", "kernels/engine")),
                "bench_uncommitted": bool(git("status", "--short", "kernels/bench",
                                              "ltcn_jax/bench"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "engine_uncommitted": None, "bench_uncommitted": None}
