"""Hardware counters of each runtime's batches, under ``perf stat`` (``--counters``).

Where the kernel exposes a PMU (a Raspberry Pi 4's Cortex-A72 does; most VMs do not), each
runtime runs in a child process pinned to one core, twice under ``perf stat -x,``: once with
``rounds`` timed batches and once with none. Both load the model, compile and run one warm-up
batch alike, so the difference of their counts is the work of the ``rounds`` batches alone.
Per flow: cycles, instructions, IPC, L1 data-cache loads and misses, last-level-cache loads
and misses, and from the misses the bytes moved per flow (x 64-byte lines: an estimate, as
prefetches and write-backs are not counted). Event names are perf's generic ones, which it
maps onto the CPU's own (``perf list``).

The child: ``python -m ltcn_kernels.bench.counters --model M --runtime R --batch B --rounds N``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

EVENTS = ("cycles", "instructions", "L1-dcache-loads", "L1-dcache-load-misses", "LLC-loads",
          "LLC-load-misses")
LINE_BYTES = 64
_NOT_COUNTED = ("<not supported>", "<not counted>")


class CountersUnavailable(RuntimeError):
    """No usable PMU here (the message says why, in one line)."""


def parse_perf_csv(text: str) -> dict[str, float | None]:
    """``perf stat -x,`` output -> {event: count}; None for an event perf could not count.

    A line is ``value,unit,event,run time,percent,...`` (perf-stat(1), "CSV FORMAT"); other
    lines (comments, blank) are ignored. A modifier such as ``cycles:u`` is kept in the name.
    """
    out: dict[str, float | None] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3 or line.startswith("#"):
            continue
        value, event = fields[0].strip(), fields[2].strip()
        if not event:
            continue
        if value in _NOT_COUNTED:
            out[event] = None
            continue
        try:
            out[event] = float(value)
        except ValueError:
            continue
    return out


def pmu_problem(perf: str | None = None) -> str | None:
    """Why hardware counters cannot be read here (None: they can)."""
    perf = perf or shutil.which("perf")
    if perf is None:
        return "no `perf` command (Debian: apt install linux-perf)"
    try:
        done = subprocess.run([perf, "stat", "-x,", "-e", "cycles,instructions", "--", "true"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"perf stat failed to run: {exc}"
    counts = parse_perf_csv(done.stderr)
    if counts.get("cycles") is None or counts.get("instructions") is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return (f"the kernel exposes no hardware cycle counter here (perf stat -e cycles: "
                f"{'not supported' if 'cycles' in counts else last}); a VM without a virtual PMU, "
                "or kernel.perf_event_paranoid too high (see /proc/sys/kernel/perf_event_paranoid)")
    return None


def per_flow(full: dict, base: dict, flows: int) -> dict:
    """Counts of ``flows`` flows (``full`` minus ``base``), per flow, and what follows."""
    out: dict[str, float | None] = {}
    for event in EVENTS:
        a, b = full.get(event), base.get(event)
        out[event] = None if a is None or b is None else (a - b) / flows
    cyc, ins = out["cycles"], out["instructions"]
    out["ipc"] = ins / cyc if cyc and ins is not None else None
    l1, llc = out["L1-dcache-load-misses"], out["LLC-load-misses"]
    out["bytes_from_l2_per_flow"] = l1 * LINE_BYTES if l1 is not None else None
    out["bytes_from_dram_per_flow"] = llc * LINE_BYTES if llc is not None else None
    return out


def count_runtime(model: str, runtime: str, *, batch: int = 1000, rounds: int = 50,
                  core: int | None = None, perf: str | None = None) -> dict:
    """Per-flow counters of ``runtime`` (sparse, dense or numpy) on ``model``'s batches.

    Raises:
        CountersUnavailable: no PMU here (:func:`pmu_problem`), or perf failed.
    """
    problem = pmu_problem(perf)
    if problem:
        raise CountersUnavailable(problem)
    perf = perf or shutil.which("perf")
    runs = {}
    for n in (rounds, 0):
        child = [sys.executable, "-m", "ltcn_kernels.bench.counters", "--model", model,
                 "--runtime", runtime, "--batch", str(batch), "--rounds", str(n)]
        argv = [perf, "stat", "-x,", "-e", ",".join(EVENTS), "--", *child]
        if core is not None:
            argv = ["taskset", "-c", str(core), *argv]
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False, env=env)
        if done.returncode != 0:
            raise CountersUnavailable(f"perf stat of {runtime}: exit {done.returncode}: "
                                      f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
        runs[n] = parse_perf_csv(done.stderr)
    return {"runtime": runtime, "rounds": rounds, "batch": batch,
            **per_flow(runs[rounds], runs[0], rounds * batch)}


def main(argv: Sequence[str] | None = None) -> int:
    """The child: build one runtime, one warm batch, then ``--rounds`` batches."""
    p = argparse.ArgumentParser(prog="python -m ltcn_kernels.bench.counters")
    p.add_argument("--model", required=True)
    p.add_argument("--runtime", required=True, choices=["sparse", "dense", "numpy"])
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=50)
    args = p.parse_args(argv)
    from ..arch import LTCNArch
    from .runtimes import engine_runtimes, load_flat, make_workload

    flat, arch, _ = load_flat(args.model)
    wl = make_workload(arch, args.batch)
    (rt,), _ = engine_runtimes(flat, LTCNArch.from_dict(arch), wl, 1, (args.runtime,))
    rt.batch()
    for _ in range(args.rounds):
        rt.batch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
