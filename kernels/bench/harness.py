"""Edge benchmark of an exported L-TCN (``.ltcn``): numpy + numba only.

Run it on the device that will do the detection::

    python -m ltcn_kernels.bench --model model.ltcn [--batch 1000] [--threads 1] [--json]

It measures, in ONE process, round-robin over the runtimes (one batch of runtime A, then one
of B, ... then A again: drifting clocks and background load hit every runtime alike), after
warm-up, medians over ``--repeats`` rounds:

* batch latency of classifying ``--batch`` consecutive flows: a flows-mode model runs the
  causal sequence over them (every flow classified with its full history,
  :func:`~ltcn_kernels.engine.logits_sequence`); a features-mode model (NSL-KDD records as
  1-channel sequences) classifies ``--batch`` independent records
  (:func:`~ltcn_kernels.engine.logits_windows`);
* streaming latency per flow, p50 / p99: :class:`~ltcn_kernels.engine.Stream` pushes of one
  flow where a runtime has a streaming mode; otherwise the cost of recomputing the
  receptive-field window for every new flow (features mode: one record per call);
* throughput, memory (artifact bytes, resident weight bytes, process peak RSS), work (dense
  and executed MACs per flow, achieved GFLOP/s against the MEASURED peak of a Numba FMA probe
  on this machine) and energy: an ESTIMATE (CPU seconds x an assumed power draw, default the
  Raspberry Pi 4's ~6.4 W under load; ``--watts``) and, where the kernel exposes it, a real
  reading from Intel RAPL (``/sys/class/powercap/intel-rapl*/energy_uj``).

Runtimes here: ``sparse`` and ``dense`` (the engine on CSR / dense weights) and ``numpy`` (a
plain NumPy forward, :mod:`ltcn_kernels.bench.reference`). ``ltcn bench`` (training side,
:mod:`ltcn_jax.bench`) adds ``xla`` and ``onnxruntime`` and the sparsity sweep.

Pinning, and its proof: the command line binds itself to ONE core (``--core``, default the
last core it may use), sets the thread variables and re-executes itself before numpy / numba
load (:func:`ltcn_kernels.bench.machine.pin_threads`); the library calls (:func:`~.measure.run_bench`)
use the process as it is. Every runtime's timed rounds record the proof: ``cpu_wall_ratio``
(process CPU time, all threads, over wall time: ~1.0 on one core), the core it was bound to
and the CPUs its threads actually ran on, and ``gflops`` / ``pct_peak`` against the FMA peak
measured in the same run. :func:`~.fairness.check_fair` fails the run (exit 3, naming the runtime) when a
runtime beats that peak by more than 5 % or keeps more than ~1.2 cores busy.

This module is the command line; the benchmark's parts: :mod:`.runtimes` (the model, the
workload, the runtimes table), :mod:`.measure` (the timings, power, :func:`run_bench`),
:mod:`.fairness` (the FMA peak and the verdict), :mod:`.report` (JSON rows, summary lines);
:mod:`.counters` runs each runtime under ``perf stat``, :mod:`.power` reads power sensors.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence

from ..errors import InputError, UsageError
from .fairness import EXIT_UNFAIR, PeakProbe, UnfairBenchmark, check_fair, set_peak
from .machine import (
    BLAS_OVERRIDES,
    fma_probe_info,
    machine_info,
    parse_cores,
    peak_rss_bytes,
    pin_threads,
    thread_report,
)
from .measure import PI4_WATTS, run_bench
from .report import (
    counter_lines,
    counters_report,
    energy_summary,
    pinning_summary,
    power_lines,
    result_rows,
    summarise,
)
from .runtimes import conv_sparsity, load_flat

PROG = "python -m ltcn_kernels.bench"


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    p.add_argument("--batch", type=int, default=1000, help="flows per batch (default 1000)")
    p.add_argument("--threads", type=int, default=1, help="threads for every runtime (default 1)")
    p.add_argument("--core", metavar="N",
                   help="the core every runtime is bound to (N, N,M or N-M; default: the last "
                        "core this process may run on)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (medians over them)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--stream-flows", type=int, default=300, help="flows streamed per round")
    p.add_argument("--watts", type=float, default=PI4_WATTS,
                   help="ASSUMED power draw for the energy estimate (default: Pi 4 ~6.4 W)")
    add_power_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_power_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--power", metavar="SOURCE",
                   help="measure power: rapl[:ZONE], hwmon[:NAME[:CHANNEL]] (e.g. hwmon:ina219), "
                        "cmd:COMMAND (prints watts) or csv:PATH (a USB meter's log)")
    p.add_argument("--power-seconds", type=float, default=5.0,
                   help="seconds of each runtime's loop and of the idle baseline")
    p.add_argument("--power-interval", type=float, default=0.01,
                   help="seconds between power samples (use >= 0.2 for cmd:)")
    p.add_argument("--counters", action="store_true",
                   help="hardware counters of each runtime under `perf stat` (needs a PMU)")


def power_source(args: argparse.Namespace):
    """The source ``--power`` names (None without it), checked before any timing."""
    from .power import open_source

    if not getattr(args, "power", None):
        return None
    if not 0.05 <= args.power_seconds <= 600 or not 0.001 <= args.power_interval <= 10:
        raise UsageError("--power-seconds must be in 0.05..600 and --power-interval in 0.001..10")
    return open_source(args.power)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    pin_threads(args.threads, [sys.executable, "-m", "ltcn_kernels.bench", *argv],
                cores=parse_cores(args.core), unset=BLAS_OVERRIDES)
    try:
        return _main(args, argv)
    except InputError as exc:  # a missing sensor, a bad model file: one line
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a model file that is missing or unreadable: one line too
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    power = power_source(args)
    flat, arch, nbytes = load_flat(args.model)
    peak = PeakProbe()
    report = run_bench(flat, arch, batch=args.batch, threads=args.threads, repeats=args.repeats,
                       warmup=args.warmup, stream_flows=args.stream_flows, watts=args.watts,
                       artifact_bytes=nbytes, label={"sparsity": round(conv_sparsity(flat), 4),
                                                      "scale": os.path.basename(args.model)},
                       peak=peak, power=power, power_seconds=args.power_seconds,
                       power_interval=args.power_interval)
    peak.again()
    set_peak(report["runtimes"], peak.value)
    out = {
        "batch": args.batch, "threads": args.threads, "results": result_rows([report]),
        "details": report, "fma_peak_gflops_per_core": peak.value,
        "fma_peak_probes": peak.summary(), "fma_probe": fma_probe_info(),
        "pinning": pinning_summary(report["runtimes"]),
        "peak_rss_bytes": peak_rss_bytes(),
        "energy": energy_summary(report, args.watts),
        "threads_in_force": thread_report(), "machine": machine_info(),
        "command": f"{PROG} " + " ".join(shlex.quote(a) for a in argv),
    }
    try:
        check_fair(report["runtimes"], peak, args.threads)
    except UnfairBenchmark as exc:
        print("\n".join(summarise(report, peak.value)), file=sys.stderr)
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_UNFAIR
    if args.counters:
        cores = out["pinning"]["cores"]
        out["counters"] = counters_report(args.model, [r["runtime"] for r in report["runtimes"]],
                                          args.batch, cores[0] if cores else None)
    if args.json:
        print(json.dumps(out))
    else:
        print_summary(report, out, peak.value)
    return 0


def print_summary(report: dict, out: dict, peak: float) -> None:
    """The text output: the runtimes table, power, counters, the peak and the pinning proof."""
    pin = out["pinning"]
    print("\n".join(summarise(report, peak)))
    for line in power_lines(out["energy"]) + counter_lines(out.get("counters")):
        print(line)
    print(f"FMA peak (measured, 1 core): {peak:.1f} GFLOP/s; peak RSS "
          f"{out['peak_rss_bytes'] / 2**20:.1f} MiB; RAPL: {out['energy']['rapl']}")
    print(f"pinned to CPU(s) {pin['cores']}, threads seen on {pin['cpus_seen']}, CPU/wall "
          f"{pin['cpu_wall_ratio_min']:.2f}-{pin['cpu_wall_ratio_max']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
