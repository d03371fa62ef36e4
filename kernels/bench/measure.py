"""Measuring: the interleaved timings of every runtime (:func:`measure`), their real energy
from a power source (:func:`measure_power`), the cross-check of their outputs, and one model's
whole benchmark (:func:`run_bench`, the library entry; the command line is :mod:`.harness`).

Round-robin over the runtimes (one batch of runtime A, then one of B, ... then A again):
drifting clocks and background load hit every runtime alike. Each runtime's timed rounds also
record the pinning proof (CPU time / wall time, the CPUs its threads ran on) that
:mod:`.fairness` judges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..arch import LTCNArch
from .fairness import PeakProbe
from .machine import allowed_cpus, blas_limit, cpus_used, rapl_files, rapl_read, thread_cpus
from .runtimes import (
    RUNTIMES,
    Runtime,
    Workload,
    conv_sparsity,
    engine_runtimes,
    make_workload,
    nonzero_macs,
)

PI4_WATTS = 6.4  # Raspberry Pi 4 under load: an ASSUMPTION used for the energy estimate


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if len(values) else None


@dataclass
class _Clocks:
    """What one runtime's timed rounds recorded: the raw material of its result row."""

    batch_s: list[float] = field(default_factory=list)
    batch_cpu_s: list[float] = field(default_factory=list)
    batch_j: list[float] = field(default_factory=list)
    batch_cpu_wall: list[float] = field(default_factory=lambda: [0.0, 0.0])  # CPU s, wall s
    stream_s: list[float] = field(default_factory=list)
    stream_cpu_wall: list[float] = field(default_factory=lambda: [0.0, 0.0])  # CPU s, wall s
    seen: set[int] = field(default_factory=set)  # CPUs the threads ran on
    affinity: set[int] = field(default_factory=set)  # CPUs the process was bound to


def _time_batch(rt: Runtime, c: _Clocks, keep: bool, rapl: Sequence[str]) -> None:
    """One batch of ``rt``; recorded in ``c`` when ``keep`` (a timed round)."""
    s0 = thread_cpus() if keep else None
    e0 = rapl_read(rapl)
    # CPU window nested in a wall window (w0 < c0 < t0 .. t1 < c1 < w1): the clock
    # calls cannot push CPU / wall above 1 on a microsecond batch
    w0 = time.perf_counter()
    c0 = time.process_time()
    t0 = time.perf_counter()
    rt.batch()
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    dw = time.perf_counter() - w0
    e1 = rapl_read(rapl)
    if keep:
        c.batch_cpu_wall[0] += dc
        c.batch_cpu_wall[1] += dw
        c.seen |= cpus_used(s0, thread_cpus())
        c.affinity |= set(allowed_cpus() or ())
        c.batch_s.append(dt)
        c.batch_cpu_s.append(dc)
        if e0 is not None and e1 is not None:
            c.batch_j.append(e1 - e0)


def _time_stream(rt: Runtime, c: _Clocks, keep: bool, limit: int, budget_s: float) -> None:
    """Up to ``limit`` flows pushed one at a time through ``rt`` (at least 21, then until
    ``budget_s`` is spent); recorded in ``c`` when ``keep``."""
    rt.reset()
    s0 = thread_cpus() if keep else None
    w_start = time.perf_counter()
    c_start = time.process_time()
    t_start = t1 = time.perf_counter()
    times = c.stream_s
    for i in range(limit):
        t0 = time.perf_counter()
        rt.step(i)
        t1 = time.perf_counter()
        if keep:
            times.append(t1 - t0)
        if i >= 20 and t1 - t_start > budget_s:
            break
    if keep:
        c.stream_cpu_wall[0] += time.process_time() - c_start
        c.stream_cpu_wall[1] += time.perf_counter() - w_start
        c.seen |= cpus_used(s0, thread_cpus())


def _row(rt: Runtime, c: _Clocks, wl: Workload, peak: float | None, watts: float) -> dict:
    """One runtime's result row from what its timed rounds recorded."""
    med = float(np.median(c.batch_s))
    cpu = float(np.median(c.batch_cpu_s))
    macs = rt.executed_macs_per_flow
    if macs is None:
        macs = rt.executed_macs_per_step * wl.steps_per_flow
    flops = 2.0 * macs * wl.batch
    st = c.stream_s
    gflops = flops / med / 1e9
    cpu_s, wall_s = c.stream_cpu_wall
    aff = sorted(c.affinity)
    return {
        "runtime": rt.name,
        "batch_ms_median": med * 1e3,
        "batch_ms_min": float(np.min(c.batch_s)) * 1e3,
        "batch_ms_all": [round(t * 1e3, 4) for t in c.batch_s],
        "stream_us_p50": _pct(st, 50) * 1e6 if st else None,
        "stream_us_p99": _pct(st, 99) * 1e6 if st else None,
        "stream_samples": len(st),
        "stream_mode": rt.stream_mode,
        "flows_per_s": wl.batch / med,
        "executed_macs_per_flow": int(macs),
        "gflops": gflops,
        "pct_peak": 100 * gflops / peak if peak else None,
        "cpu_wall_ratio": c.batch_cpu_wall[0] / max(c.batch_cpu_wall[1], 1e-12),
        "stream_cpu_wall_ratio": cpu_s / wall_s if wall_s > 0 else None,
        "core": aff[0] if len(aff) == 1 else None,
        "affinity": aff,
        "cpus_seen": sorted(c.seen),
        "weight_bytes": int(rt.weight_bytes),
        "cpu_ms_median": cpu * 1e3,
        "energy_estimate_mj_per_batch": cpu * watts * 1e3,
        "energy_rapl_mj_per_batch": (float(np.median(c.batch_j)) * 1e3
                                     if c.batch_j else None),
        "notes": rt.notes,
        **rt.extra,
    }


def measure(
    runtimes: Sequence[Runtime], wl: Workload, *, repeats: int = 7, warmup: int = 2,
    stream_flows: int = 300, stream_budget_s: float = 0.4, watts: float = PI4_WATTS,
    peak: PeakProbe | float | None = None,
) -> list[dict]:
    """Interleaved timings: each round runs every runtime's batch once (the order rotates
    each round), then streams flows through every runtime. Returns one dict per runtime.

    Besides the times, each runtime's timed rounds record the pinning proof: CPU time / wall
    time (``time.process_time``: every thread of the process) of its batches and of its
    stream loops, the CPUs the process was bound to, and the CPUs its threads ran on (sampled
    from ``/proc/self/task`` around every timed batch and stream loop, outside the timings).
    ``peak`` (this run's FMA peak: GFLOP/s, or a :class:`PeakProbe`, which then also probes
    the core once every round, so the peak is sampled under the same conditions as the
    runtimes) gives ``pct_peak``."""
    clocks = {r.name: _Clocks() for r in runtimes}
    rapl = rapl_files()
    n_rt = len(runtimes)
    limit = min(stream_flows, wl.batch)
    for rnd in range(warmup + repeats):
        keep = rnd >= warmup
        if isinstance(peak, PeakProbe):
            peak.sample()
        order = [runtimes[(rnd + i) % n_rt] for i in range(n_rt)]
        for rt in order:
            _time_batch(rt, clocks[rt.name], keep, rapl)
        for rt in order:
            _time_stream(rt, clocks[rt.name], keep, limit, stream_budget_s)
    if isinstance(peak, PeakProbe):
        peak = peak.value
    return [_row(rt, clocks[rt.name], wl, peak, watts) for rt in runtimes]



def measure_power(runtimes: Sequence[Runtime], wl: Workload, source, *, seconds: float = 5.0,
                  interval: float = 0.01) -> dict:
    """Real energy per 1,000 flows from a power source (:mod:`.power`): an idle baseline of
    ``seconds`` (the process sleeps), then each runtime's batch in a loop for ``seconds``,
    sampled every ``interval`` s by a background thread (a meter log, ``csv:PATH``, is read
    afterwards and aligned by wall-clock time). Energy per 1,000 flows is (active - idle)
    power x the time those flows took, and also the total (active power x time).

    Raises:
        PowerSourceError: the source fails, or its samples do not cover a window.
    """
    from contextlib import nullcontext
    from pathlib import Path

    from .power import Sampler, read_meter_log

    log = isinstance(source, Path)
    sampler = None if log else Sampler(source, interval)
    windows: dict[str, tuple[float, float, int]] = {}
    with sampler or nullcontext():
        time.sleep(3 * interval)  # samples before the first window opens
        t0 = time.time()
        time.sleep(seconds)
        windows["idle"] = (t0, time.time(), 0)
        for rt in runtimes:
            rt.batch()  # warm (caches, branch predictors) outside the window
            n, t0 = 0, time.time()
            while time.time() - t0 < seconds:
                rt.batch()
                n += 1
            windows[rt.name] = (t0, time.time(), n)
        time.sleep(3 * interval)  # and after the last one closes
    trace = read_meter_log(source) if log else sampler.trace()
    t0, t1, _ = windows.pop("idle")
    idle_j, idle_n = trace.energy(t0, t1)
    idle_w = idle_j / (t1 - t0)
    out = {"source": trace.source, "resolution": trace.resolution, "interval_s": interval,
           "seconds": seconds, "idle_w": idle_w, "idle_samples": idle_n, "runtimes": {}}
    for name, (t0, t1, n) in windows.items():
        joules, samples = trace.energy(t0, t1)
        active_w, flows = joules / (t1 - t0), n * wl.batch
        out["runtimes"][name] = {
            "active_w": active_w, "samples": samples, "batches": n, "seconds": t1 - t0,
            "energy_mj_per_1000_flows": (active_w - idle_w) * (t1 - t0) / flows * 1e6,
            "total_mj_per_1000_flows": active_w * (t1 - t0) / flows * 1e6,
        }
    return out

def check_outputs(runtimes: Sequence[Runtime], atol: float = 1e-4) -> dict[str, float]:
    """Max |logit difference| of each runtime's batch output against the first runtime's."""
    ref = np.asarray(runtimes[0].batch(), np.float32)
    out = {}
    for rt in runtimes:
        got = np.asarray(rt.batch(), np.float32).reshape(ref.shape)
        out[rt.name] = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return out


def run_bench(
    flat: Mapping[str, np.ndarray], arch: Mapping, *, batch: int = 1000, threads: int = 1,
    repeats: int = 7, warmup: int = 2, stream_flows: int = 300, watts: float = PI4_WATTS,
    extra_runtimes: Callable[[Mapping, LTCNArch, Workload, int], tuple[list, dict]] | None = None,
    only: Sequence[str] = RUNTIMES, artifact_bytes: int | None = None, seed: int = 0,
    label: Mapping | None = None, peak: PeakProbe | float | None = None,
    power=None, power_seconds: float = 5.0, power_interval: float = 0.01,
) -> dict:
    """Benchmark one model (flat Flax params + a manifest-style architecture dict, see
    :func:`~.runtimes.arch_of`); what it measures: :mod:`.harness`. ``extra_runtimes(flat,
    arch, workload, threads)`` gets the parsed :class:`~ltcn_kernels.arch.LTCNArch`. ``peak``:
    this run's FMA peak (GFLOP/s or a :class:`PeakProbe`, see :func:`measure`) for
    ``pct_peak`` (:func:`~.fairness.set_peak` can fill it in later). ``power``: a source from
    :func:`~ltcn_kernels.bench.power.open_source`; its readings (:func:`measure_power`, after
    the timings) go to the report's ``"power"`` entry and each runtime's
    ``energy_measured_mj_per_1000_flows``.

    Returns ``{"workload": ..., "runtimes": [per-runtime dicts], "skipped": {name: reason},
    "max_abs_diff": {name: float}, "model": {...}}``.
    """
    net = LTCNArch.from_dict(arch)
    wl = make_workload(arch, batch, seed)
    runtimes, skipped = engine_runtimes(flat, net, wl, threads, only)
    if extra_runtimes is not None:
        more, why = extra_runtimes(flat, net, wl, threads)
        runtimes += [r for r in more if r.name in only]
        skipped.update(why)
    for name in RUNTIMES:
        if name not in only:
            skipped.setdefault(name, "not selected")
        elif name not in {r.name for r in runtimes}:
            skipped.setdefault(name, "not available here (needs the training install)")
    with blas_limit(threads):
        diffs = check_outputs(runtimes)
        results = measure(runtimes, wl, repeats=repeats, warmup=warmup,
                          stream_flows=stream_flows, watts=watts, peak=peak)
        measured = None
        if power is not None:
            measured = measure_power(runtimes, wl, power, seconds=power_seconds,
                                     interval=power_interval)
    dense_macs = net.macs_per_step()
    for r in results:
        if measured is not None:
            r["energy_measured_mj_per_1000_flows"] = measured["runtimes"][r["runtime"]]["energy_mj_per_1000_flows"]
        r.update(label or {})
        r["dense_macs_per_flow"] = dense_macs * wl.steps_per_flow
        r["max_abs_diff_vs_first"] = diffs[r["runtime"]]
    return {
        "workload": {"mode": wl.mode, "batch": wl.batch, "steps_per_flow": wl.steps_per_flow,
                     "receptive_field": wl.receptive_field, "input": "seeded N(0,1) floats"},
        "model": {"dense_macs_per_step": dense_macs,
                  "nonzero_macs_per_step": nonzero_macs(flat, net),
                  "params": int(sum(v.size for v in flat.values())),
                  "conv_sparsity": round(conv_sparsity(flat), 4),
                  "artifact_bytes": artifact_bytes},
        "runtimes": results,
        "skipped": skipped,
        "max_abs_diff": diffs,
        **({"power": measured} if measured is not None else {}),
    }
