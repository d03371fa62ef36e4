"""Whether a benchmark run was fair: every runtime held to the cores it was given.

A runtime on ``threads`` cores cannot beat ``threads`` x the single-core FMA peak measured in
the same run (:class:`PeakProbe`), burn more CPU seconds than wall seconds x ``threads``, nor
run on CPUs outside its binding. :func:`check_fair` fails the run (the command lines exit
:data:`EXIT_UNFAIR`, naming the runtime and the evidence) when one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .machine import fma_peak_gflops

# The fairness limits (check_fair): achieved GFLOP/s at most this much above the measured peak
# (x threads), CPU time / wall time at most this (x threads).
PEAK_TOLERANCE = 0.05
MAX_CPU_WALL = 1.2
EXIT_UNFAIR = 3


class UnfairBenchmark(RuntimeError):
    """A runtime was not held to one core (its message names the runtime and the evidence)."""


class PeakProbe:
    """This run's measured FMA peak: the best of every probe taken: a full one at the start
    and at the end, a short one in every measuring round (:func:`~.measure.measure`), and one
    more before any runtime is declared above it. A core shared with a neighbour (another
    process, or the SMT sibling of a VM's vCPU) slows some probes; the best of probes taken
    all through the run is the core's peak under the run's best conditions, which no
    runtime's median can beat on one core."""

    def __init__(self, probe: Callable[[], float] | None = None,
                 short: Callable[[], float] | None = None):
        self._probe = probe or (lambda: fma_peak_gflops())
        self._short = short or probe or (lambda: fma_peak_gflops(seconds=0.04, repeats=5))
        self.probes: list[float] = []
        self.again()

    def again(self) -> float:
        """A full probe; the peak so far."""
        self.probes.append(float(self._probe()))
        return self.value

    def sample(self) -> float:
        """A short probe (~40 ms); the peak so far."""
        self.probes.append(float(self._short()))
        return self.value

    def summary(self) -> dict:
        p = self.probes
        return {"gflops": self.value, "probes": len(p), "first": p[0], "last": p[-1],
                "median": float(np.median(p))}

    @property
    def value(self) -> float:
        return max(self.probes)


def set_peak(rows: Sequence[dict], peak: float) -> None:
    """(Re)compute ``pct_peak`` of result rows against ``peak``."""
    for r in rows:
        r["pct_peak"] = 100 * r["gflops"] / peak


def _who(r: Mapping) -> str:
    where = [str(r[k]) for k in ("scale",) if r.get(k) is not None]
    if r.get("sparsity") is not None:
        where.append(f"{100 * r['sparsity']:.0f} % sparse")
    return f"runtime {r['runtime']}" + (f" ({', '.join(where)})" if where else "")


def fairness_problems(rows: Sequence[Mapping], peak: float, threads: int = 1, *,
                      tolerance: float = PEAK_TOLERANCE,
                      max_cpu_wall: float = MAX_CPU_WALL) -> list[str]:
    """What makes these per-runtime results unfair, one sentence per finding (none: fair).

    A runtime held to ``threads`` cores cannot do more than ``threads`` x the single-core
    FMA ``peak`` measured in the same run, nor burn more than ``threads`` CPU seconds per
    wall second, nor run on more CPUs than it was bound to."""
    out = []
    for r in rows:
        who = _who(r)
        limit = peak * threads * (1 + tolerance)
        if r["gflops"] > limit:
            out.append(
                f"{who}: {r['gflops']:.1f} GFLOP/s is {100 * r['gflops'] / peak:.0f} % of the "
                f"single-core FMA peak measured in this run ({peak:.1f} GFLOP/s; limit "
                f"{100 * threads * (1 + tolerance):.0f} % for {threads} thread(s)): it did "
                "more work than its cores can, so it was not held to them")
        for key, what in (("cpu_wall_ratio", "batch"), ("stream_cpu_wall_ratio", "stream")):
            v = r.get(key)
            if v is not None and v > max_cpu_wall * threads:
                out.append(f"{who}: CPU time / wall time {v:.2f} over its timed {what} rounds "
                           f"(limit {max_cpu_wall * threads:.1f} for {threads} thread(s)): more "
                           "cores than it was given were busy")
        seen, aff = r.get("cpus_seen") or [], r.get("affinity") or []
        if aff and not set(seen) <= set(aff):
            out.append(f"{who}: its threads ran on CPUs {seen}, outside the CPUs it was bound "
                       f"to {aff}")
        if len(seen) > threads:
            out.append(f"{who}: its threads ran on CPUs {seen}: more than {threads}")
    return out


def check_fair(rows: Sequence[Mapping], peak: PeakProbe | float, threads: int = 1) -> None:
    """Raise :class:`UnfairBenchmark` (every finding in its message) unless ``rows`` pass
    :func:`fairness_problems`. Given a :class:`PeakProbe`, a runtime above the peak gets the
    peak probed once more before the verdict."""
    value = peak.value if isinstance(peak, PeakProbe) else float(peak)
    problems = fairness_problems(rows, value, threads)
    if isinstance(peak, PeakProbe) and any("GFLOP/s" in p for p in problems):
        problems = fairness_problems(rows, peak.again(), threads)
    if problems:
        raise UnfairBenchmark("UNFAIR BENCHMARK (not held to one core per thread):\n  "
                              + "\n  ".join(problems))
