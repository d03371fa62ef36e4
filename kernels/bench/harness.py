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
load (:func:`ltcn_kernels.bench.machine.pin_threads`); the library calls (:func:`run_bench`)
use the process as it is. Every runtime's timed rounds record the proof: ``cpu_wall_ratio``
(process CPU time, all threads, over wall time: ~1.0 on one core), the core it was bound to
and the CPUs its threads actually ran on, and ``gflops`` / ``pct_peak`` against the FMA peak
measured in the same run. :func:`check_fair` fails the run (exit 3, naming the runtime) when a
runtime beats that peak by more than 5 % or keeps more than ~1.2 cores busy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import engine as E
from ..arch import LTCNArch, is_conv_kernel
from ..engine import FORMATS, EngineModel
from ..engine import warmup as engine_warmup
from ..engine.artifact import dense_params, read_artifact
from ..errors import InputError, UsageError
from ..features.preprocess import Preprocessor
from .machine import (
    BLAS_OVERRIDES,
    REEXEC_MARK,
    allowed_cpus,
    blas_limit,
    cpus_used,
    fma_peak_gflops,
    fma_probe_info,
    machine_info,
    parse_cores,
    peak_rss_bytes,
    pin_threads,
    rapl_files,
    rapl_read,
    thread_cpus,
    thread_report,
)
from .reference import NumpyLTCN

PI4_WATTS = 6.4  # Raspberry Pi 4 under load: an ASSUMPTION used for the energy estimate
# The engine formats (`ltcn_kernels.engine.FORMATS`, not imported here: numba must load
# after `pin_threads`), then the reference runtimes.
RUNTIMES = ("sparse", "dense", "numpy", "xla", "onnxruntime")
# The fairness limits (check_fair): achieved GFLOP/s at most this much above the measured peak
# (x threads), CPU time / wall time at most this (x threads).
PEAK_TOLERANCE = 0.05
MAX_CPU_WALL = 1.2
EXIT_UNFAIR = 3
# The per-runtime fields of the JSON `results` rows (`ltcn bench --json`, this tool's --json).
RESULT_KEYS = ("runtime", "sparsity", "scale", "batch_ms_median", "stream_us_p50",
               "stream_us_p99", "flows_per_s", "gflops", "pct_peak", "cpu_wall_ratio", "core")


# --------------------------------------------------------------------------- model helpers


def arch_of(artifact) -> dict:
    """The manifest's architecture dict, checked and normalised by `LTCNArch` (plus the keys
    that say how data is fed: ``sequence``, ``window``)."""
    return {**artifact.manifest["architecture"], **artifact.arch.to_dict()}


def nonzero_macs(flat: Mapping[str, np.ndarray], arch: LTCNArch) -> int:
    """Multiply-adds per step that a sparse kernel cannot skip: the non-zero weights."""
    return int(sum(np.count_nonzero(flat[layer.kernel_path]) for layer in arch.layers
                   if layer.kernel_shape is not None))  # fmt: skip


def conv_sparsity(flat: Mapping[str, np.ndarray]) -> float:
    ks = [v for p, v in flat.items() if is_conv_kernel(p)]
    size = sum(v.size for v in ks)
    return 1.0 - sum(np.count_nonzero(v) for v in ks) / max(size, 1)


# --------------------------------------------------------------------------- runtimes


@dataclass
class Runtime:
    """One way of running the model on the benchmark's inputs.

    ``batch()`` classifies the whole batch; ``step(i)`` classifies flow ``i`` as it arrives
    (after ``reset()``, flows are pushed in order 0, 1, ...); ``out_batch()`` gives the
    batch logits for the cross-check.
    """

    name: str
    batch: Callable[[], np.ndarray]
    step: Callable[[int], np.ndarray]
    reset: Callable[[], None]
    stream_mode: str
    weight_bytes: int
    executed_macs_per_step: int
    notes: str = ""
    # Set where a runtime computes fewer steps than steps_per_flow (the engine trims each
    # window to its last step's receptive field); else executed_macs_per_step * steps_per_flow.
    executed_macs_per_flow: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Workload:
    """The inputs: flows mode -> ``seq f32[batch, F]`` (one causal stream); features mode ->
    ``records f32[batch, T, 1]`` (independent sequences)."""

    mode: str
    x: np.ndarray
    receptive_field: int
    steps_per_flow: int  # time steps computed per classified flow in the batch

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])


def make_workload(arch: Mapping, batch: int, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    net = LTCNArch.from_dict(arch)
    rf, F = net.receptive_field, net.n_features
    if arch.get("sequence", "flows") == "features":
        T = int(arch["time_steps"])  # the preprocessed record width (see load_flat)
        # features mode: a record of W features is a 1-channel sequence of W steps
        x = rng.standard_normal((batch, T, F)).astype(np.float32)
        return Workload("features", x, rf, T)
    x = rng.standard_normal((batch, F)).astype(np.float32)
    return Workload("flows", x, rf, 1)


def engine_runtime(name: str, model, wl: Workload) -> Runtime:
    x = wl.x
    if wl.mode == "flows":
        stream = E.Stream(model, output="logits")
        return Runtime(
            name, lambda: E.logits_sequence(model, x), lambda i: stream.push(x[i]), stream.reset,
            "stream (Stream.push, one flow)", model.nbytes, model.nnz,
        )
    one = [x[i : i + 1] for i in range(x.shape[0])]
    return Runtime(
        name, lambda: E.logits_windows(model, x), lambda i: E.logits_windows(model, one[i]),
        lambda: None, "one record per call", model.nbytes, model.nnz,
        executed_macs_per_flow=E.executed_macs_per_window(model, x.shape[1]),
    )


def numpy_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    net = NumpyLTCN(flat, arch)
    x = wl.x
    if wl.mode == "flows":
        seq = x[None]
        rf = wl.receptive_field
        return Runtime(
            "numpy", lambda: net.forward(seq, last_only=False)[0],
            lambda i: net.forward(x[None, max(0, i - rf + 1) : i + 1], last_only=True)[0],
            lambda: None, f"window recompute ({rf} flows per new flow)", net.nbytes, net.macs,
        )
    return Runtime(
        "numpy", lambda: net.forward(x, last_only=True),
        lambda i: net.forward(x[i : i + 1], last_only=True)[0], lambda: None,
        "one record per call", net.nbytes, net.macs,
    )


def engine_runtimes(flat, arch: LTCNArch, wl: Workload, threads: int,
                    only: Sequence[str] = RUNTIMES) -> tuple[list[Runtime], dict]:
    """The numpy + numba runtimes (``sparse``, ``dense``: the engine formats; ``numpy``)."""
    out, skipped = [], {}
    for fmt in FORMATS:
        if fmt in only:
            model = EngineModel.from_arch(arch, flat, format=fmt)
            engine_warmup(model)
            out.append(engine_runtime(fmt, model, wl))
    if "numpy" in only:
        out.append(numpy_runtime(flat, arch, wl, threads))
    return out, skipped


# --------------------------------------------------------------------------- measuring


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if len(values) else None


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
    batch_t: dict[str, list[float]] = {r.name: [] for r in runtimes}
    batch_cpu: dict[str, list[float]] = {r.name: [] for r in runtimes}
    batch_clock = {r.name: [0.0, 0.0] for r in runtimes}  # CPU s, wall s around the batches
    batch_j: dict[str, list[float]] = {r.name: [] for r in runtimes}
    stream_t: dict[str, list[float]] = {r.name: [] for r in runtimes}
    stream_clock = {r.name: [0.0, 0.0] for r in runtimes}  # CPU s, wall s of the stream loops
    seen: dict[str, set[int]] = {r.name: set() for r in runtimes}
    affinity: dict[str, set[int]] = {r.name: set() for r in runtimes}
    rapl = rapl_files()
    n_rt = len(runtimes)
    for rnd in range(warmup + repeats):
        keep = rnd >= warmup
        if isinstance(peak, PeakProbe):
            peak.sample()
        order = [runtimes[(rnd + i) % n_rt] for i in range(n_rt)]
        for rt in order:
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
                batch_clock[rt.name][0] += dc
                batch_clock[rt.name][1] += dw
                seen[rt.name] |= cpus_used(s0, thread_cpus())
                affinity[rt.name] |= set(allowed_cpus() or ())
                batch_t[rt.name].append(dt)
                batch_cpu[rt.name].append(dc)
                if e0 is not None and e1 is not None:
                    batch_j[rt.name].append(e1 - e0)
        for rt in order:
            rt.reset()
            limit = min(stream_flows, wl.batch)
            s0 = thread_cpus() if keep else None
            w_start = time.perf_counter()
            c_start = time.process_time()
            t_start = t1 = time.perf_counter()
            times = stream_t[rt.name]
            for i in range(limit):
                t0 = time.perf_counter()
                rt.step(i)
                t1 = time.perf_counter()
                if keep:
                    times.append(t1 - t0)
                if i >= 20 and t1 - t_start > stream_budget_s:
                    break
            if keep:
                stream_clock[rt.name][0] += time.process_time() - c_start
                stream_clock[rt.name][1] += time.perf_counter() - w_start
                seen[rt.name] |= cpus_used(s0, thread_cpus())
    results = []
    if isinstance(peak, PeakProbe):
        peak = peak.value
    for rt in runtimes:
        med = float(np.median(batch_t[rt.name]))
        cpu = float(np.median(batch_cpu[rt.name]))
        macs = rt.executed_macs_per_flow
        if macs is None:
            macs = rt.executed_macs_per_step * wl.steps_per_flow
        flops = 2.0 * macs * wl.batch
        st = stream_t[rt.name]
        gflops = flops / med / 1e9
        cpu_s, wall_s = stream_clock[rt.name]
        aff = sorted(affinity[rt.name])
        results.append({
            "runtime": rt.name,
            "batch_ms_median": med * 1e3,
            "batch_ms_min": float(np.min(batch_t[rt.name])) * 1e3,
            "batch_ms_all": [round(t * 1e3, 4) for t in batch_t[rt.name]],
            "stream_us_p50": _pct(st, 50) * 1e6 if st else None,
            "stream_us_p99": _pct(st, 99) * 1e6 if st else None,
            "stream_samples": len(st),
            "stream_mode": rt.stream_mode,
            "flows_per_s": wl.batch / med,
            "executed_macs_per_flow": int(macs),
            "gflops": gflops,
            "pct_peak": 100 * gflops / peak if peak else None,
            "cpu_wall_ratio": batch_clock[rt.name][0] / max(batch_clock[rt.name][1], 1e-12),
            "stream_cpu_wall_ratio": cpu_s / wall_s if wall_s > 0 else None,
            "core": aff[0] if len(aff) == 1 else None,
            "affinity": aff,
            "cpus_seen": sorted(seen[rt.name]),
            "weight_bytes": int(rt.weight_bytes),
            "cpu_ms_median": cpu * 1e3,
            "energy_estimate_mj_per_batch": cpu * watts * 1e3,
            "energy_rapl_mj_per_batch": (float(np.median(batch_j[rt.name])) * 1e3
                                         if batch_j[rt.name] else None),
            "notes": rt.notes,
            **rt.extra,
        })
    return results


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
           "seconds": seconds, "idle_w": idle_w, "idle_samples": idle_n, "runtimes": {}}  # fmt: skip
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
    :func:`arch_of`); see the module docstring. ``extra_runtimes(flat, arch, workload,
    threads)`` gets the parsed :class:`~ltcn_kernels.arch.LTCNArch`. ``peak``: this run's
    FMA peak (GFLOP/s or a :class:`PeakProbe`, see :func:`measure`) for ``pct_peak``
    (:func:`set_peak` can fill it in later). ``power``: a source from
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
                                     interval=power_interval)  # fmt: skip
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


def load_flat(path: str) -> tuple[dict, dict, int]:
    art = read_artifact(path)
    arch = arch_of(art)
    if arch.get("sequence") == "features":
        arch["time_steps"] = Preprocessor.from_dict(art.manifest["preprocess"], path).width
    return dense_params(art), arch, os.path.getsize(path)


# --------------------------------------------------------------------------- fairness


class UnfairBenchmark(RuntimeError):
    """A runtime was not held to one core (its message names the runtime and the evidence)."""


class PeakProbe:
    """This run's measured FMA peak: the best of every probe taken: a full one at the start
    and at the end, a short one in every measuring round (:func:`measure`), and one more
    before any runtime is declared above it. A core shared with a neighbour (another
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


def result_rows(reports: Sequence[Mapping]) -> list[dict]:
    """The JSON ``results`` rows: :data:`RESULT_KEYS` of every runtime of every report."""
    return [{k: r.get(k) for k in RESULT_KEYS} for rep in reports for r in rep["runtimes"]]


def _pinning(rows: Sequence[Mapping]) -> dict:
    """The pinning proof of a run in a few numbers (for the report and the summary line)."""
    ratios = [r[k] for r in rows for k in ("cpu_wall_ratio", "stream_cpu_wall_ratio")
              if r.get(k) is not None]
    return {"pinned_before_libraries_loaded": bool(os.environ.get(REEXEC_MARK)),
            "cores": sorted({c for r in rows for c in r.get("affinity") or ()}),
            "cpus_seen": sorted({c for r in rows for c in r.get("cpus_seen") or ()}),
            "cpu_wall_ratio_min": min(ratios) if ratios else None,
            "cpu_wall_ratio_max": max(ratios) if ratios else None,
            "pct_peak_max": max((r["pct_peak"] for r in rows if r.get("pct_peak") is not None),
                                default=None)}


def power_lines(energy: Mapping) -> list[str]:
    """The text summary of measured power (or of the sensors this machine lacks)."""
    m = energy.get("measured")
    if m is None:
        return ["power: not measured (--power SOURCE); here: "
                + "; ".join(f"{k}: {v}" for k, v in energy.get("sensors_here", {}).items())]
    lines = [f"power ({m['source']}, every {m['interval_s']} s, {m['resolution']}): idle "
             f"{m['idle_w']:.3f} W over {m['seconds']:g} s ({m['idle_samples']} samples)"]
    for name, r in m["runtimes"].items():
        lines.append(f"  {name:<12} {r['active_w']:.3f} W active, {r['samples']} samples: "
                     f"{r['energy_mj_per_1000_flows']:.3f} mJ per 1,000 flows above idle "
                     f"({r['total_mj_per_1000_flows']:.3f} mJ in all)")
    return lines


def counter_lines(counters: Mapping | None) -> list[str]:
    if counters is None:
        return []
    if not counters["available"]:
        return [f"counters: none here: {counters['reason']}"]
    lines = [f"{'counters/flow':<12} {'cycles':>10} {'instr':>10} {'IPC':>5} {'L1 miss':>9} "
             f"{'LLC miss':>9} {'B from DRAM':>12}"]
    for name, c in counters["runtimes"].items():
        def f(v, fmt=".0f"):
            return "-" if v is None else format(v, fmt)

        lines.append(f"{name:<12} {f(c['cycles']):>10} {f(c['instructions']):>10} "
                     f"{f(c['ipc'], '.2f'):>5} {f(c['L1-dcache-load-misses'], '.1f'):>9} "
                     f"{f(c['LLC-load-misses'], '.2f'):>9} {f(c['bytes_from_dram_per_flow'], '.1f'):>12}")  # fmt: skip
    return lines


def summarise(report: Mapping, peak: float) -> list[str]:
    lines = [f"{'runtime':<12} {'batch ms':>9} {'flows/s':>10} {'p50 us':>9} {'p99 us':>9} "
             f"{'GFLOP/s':>8} {'% peak':>7} {'CPU/wall':>8} {'core':>4} {'weights B':>10}"]
    for r in report["runtimes"]:
        p50 = f"{r['stream_us_p50']:.1f}" if r["stream_us_p50"] is not None else "-"
        p99 = f"{r['stream_us_p99']:.1f}" if r["stream_us_p99"] is not None else "-"
        core = str(r["core"]) if r.get("core") is not None else ",".join(map(str, r["affinity"]))
        lines.append(
            f"{r['runtime']:<12} {r['batch_ms_median']:>9.3f} {r['flows_per_s']:>10.0f} "
            f"{p50:>9} {p99:>9} {r['gflops']:>8.2f} {100 * r['gflops'] / peak:>6.1f}% "
            f"{r['cpu_wall_ratio']:>8.2f} {core:>4} {r['weight_bytes']:>10,}"
        )
    for name, why in report["skipped"].items():
        lines.append(f"{name:<12} skipped: {why}")
    return lines


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
                        "cmd:COMMAND (prints watts) or csv:PATH (a USB meter's log)")  # fmt: skip
    p.add_argument("--power-seconds", type=float, default=5.0,
                   help="seconds of each runtime's loop and of the idle baseline (default 5)")
    p.add_argument("--power-interval", type=float, default=0.01,
                   help="seconds between power samples (default 0.01; use >= 0.2 for cmd:)")
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
    parser = argparse.ArgumentParser(prog="python -m ltcn_kernels.bench", description=__doc__.split("\n")[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    pin_threads(args.threads, [sys.executable, "-m", "ltcn_kernels.bench", *argv],
                cores=parse_cores(args.core), unset=BLAS_OVERRIDES)
    try:
        return _main(args, argv)
    except InputError as exc:  # a missing sensor, a bad model file: one line
        print(f"python -m ltcn_kernels.bench: error: {exc}", file=sys.stderr)
        return 2


def counters_report(model: str, names: Sequence[str], batch: int, core: int | None) -> dict:
    """``--counters``: per-flow hardware counters of each runtime, or why there are none."""
    from .counters import CountersUnavailable, count_runtime

    out: dict = {}
    for name in names:
        try:
            out[name] = count_runtime(model, name, batch=batch, core=core)
        except CountersUnavailable as exc:
            return {"available": False, "reason": str(exc)}
    return {"available": True, "runtimes": out}


def energy_summary(report: Mapping, watts: float) -> dict:
    """The output's ``energy`` entry: the estimate's assumption, and what was measured."""
    from .power import available_sources

    out = {"estimate_watts_assumed": watts,
           "estimate_note": "CPU seconds x an ASSUMED draw: latency rescaled, not a measurement",
           "rapl": "available" if rapl_files() else "not available on this machine"}  # fmt: skip
    if "power" in report:
        out["measured"] = report["power"]
    else:
        out["sensors_here"] = available_sources()
    return out


def _main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    power = power_source(args)
    flat, arch, nbytes = load_flat(args.model)
    peak = PeakProbe()
    report = run_bench(flat, arch, batch=args.batch, threads=args.threads, repeats=args.repeats,
                       warmup=args.warmup, stream_flows=args.stream_flows, watts=args.watts,
                       artifact_bytes=nbytes, label={"sparsity": round(conv_sparsity(flat), 4),
                                                      "scale": os.path.basename(args.model)},
                       peak=peak, power=power, power_seconds=args.power_seconds,
                       power_interval=args.power_interval)  # fmt: skip
    peak.again()
    set_peak(report["runtimes"], peak.value)
    out = {
        "batch": args.batch, "threads": args.threads, "results": result_rows([report]),
        "details": report, "fma_peak_gflops_per_core": peak.value,
        "fma_peak_probes": peak.summary(), "fma_probe": fma_probe_info(), "pinning": _pinning(report["runtimes"]),
        "peak_rss_bytes": peak_rss_bytes(),
        "energy": energy_summary(report, args.watts),
        "threads_in_force": thread_report(), "machine": machine_info(),
        "command": "python -m ltcn_kernels.bench " + " ".join(shlex.quote(a) for a in argv),
    }
    try:
        check_fair(report["runtimes"], peak, args.threads)
    except UnfairBenchmark as exc:
        print("\n".join(summarise(report, peak.value)), file=sys.stderr)
        print(f"python -m ltcn_kernels.bench: {exc}", file=sys.stderr)
        return EXIT_UNFAIR
    if args.counters:
        cores = out["pinning"]["cores"]
        out["counters"] = counters_report(args.model, [r["runtime"] for r in report["runtimes"]],
                                          args.batch, cores[0] if cores else None)  # fmt: skip
    if args.json:
        print(json.dumps(out))
    else:
        pin = out["pinning"]
        print("\n".join(summarise(report, peak.value)))
        for line in power_lines(out["energy"]) + counter_lines(out.get("counters")):
            print(line)
        print(f"FMA peak (measured, 1 core): {peak.value:.1f} GFLOP/s; peak RSS "
              f"{out['peak_rss_bytes'] / 2**20:.1f} MiB; RAPL: {out['energy']['rapl']}")
        print(f"pinned to CPU(s) {pin['cores']}, threads seen on {pin['cpus_seen']}, CPU/wall "
              f"{pin['cpu_wall_ratio_min']:.2f}-{pin['cpu_wall_ratio_max']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
