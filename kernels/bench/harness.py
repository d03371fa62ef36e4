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

Runtimes here: ``sparse-csr`` and ``dense-numba`` (the engine on CSR / dense weights) and
``numpy`` (a plain NumPy forward: im2col + one matmul per layer, float32). ``ltcn bench``
(training side, :mod:`ltcn_jax.bench`) adds ``xla`` and ``onnxruntime`` and the sparsity sweep.

Threads: the thread count of numba / OpenMP / OpenBLAS is fixed when those libraries load, so
the command line sets ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``XLA_FLAGS`` and RE-EXECUTES itself once when they differ
(:func:`pin_threads`); the library calls (:func:`run_bench`) use the process as it is and
report the thread counts they find. The engine kernels are single-threaded either way.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PI4_WATTS = 6.4  # Raspberry Pi 4 under load: an ASSUMPTION used for the energy estimate
RUNTIMES = ("sparse-csr", "dense-numba", "numpy", "xla", "onnxruntime")
REEXEC_MARK = "LTCN_BENCH_PINNED"


# --------------------------------------------------------------------------- threads


def xla_flags(threads: int) -> str:
    base = os.environ.get("XLA_FLAGS", "")
    keep = [f for f in base.split() if "multi_thread_eigen" not in f and "intra_op" not in f]
    if threads == 1:
        keep.append("--xla_cpu_multi_thread_eigen=false")
    return " ".join([*keep, f"intra_op_parallelism_threads={threads}"])


def pin_threads(threads: int, argv: Sequence[str]) -> None:
    """Set the thread variables to ``threads``; re-execute ``argv`` (a full command line:
    ``[python, -m, module, ...]``) once if they were not already set, because numpy / numba
    read them when they are imported."""
    want = {k: str(threads) for k in THREAD_ENV}
    if all(os.environ.get(k) == v for k, v in want.items()) or os.environ.get(REEXEC_MARK):
        return
    os.environ.update(want)
    os.environ["XLA_FLAGS"] = xla_flags(threads)
    os.environ[REEXEC_MARK] = "1"
    sys.stdout.flush()
    os.execv(argv[0], list(argv))


def thread_report() -> dict:
    """The thread counts in force (env, numba, BLAS pools via threadpoolctl if installed)."""
    out = {k: os.environ.get(k) for k in (*THREAD_ENV, "XLA_FLAGS")}
    try:
        import numba

        out["numba_threads"] = int(numba.get_num_threads())
    except Exception:  # pragma: no cover - numba missing
        out["numba_threads"] = None
    try:
        from threadpoolctl import threadpool_info

        out["blas_pools"] = [
            {"api": p.get("internal_api"), "threads": p.get("num_threads")}
            for p in threadpool_info()
        ]
    except Exception:
        out["blas_pools"] = "threadpoolctl not installed"
    return out


def blas_limit(threads: int):
    """A context manager limiting BLAS / OpenMP pools (threadpoolctl), or a no-op."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=threads)
    except Exception:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()


# --------------------------------------------------------------------------- machine


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    mhz = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and cpu in ("", platform.machine(), platform.processor()):
                    cpu = value
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value)
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("numba", "jax", "jaxlib", "flax", "onnx", "onnxruntime", "threadpoolctl"):
        m = sys.modules.get(mod)
        if m is not None:
            versions[mod] = getattr(m, "__version__", "?")
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {
        "cpu": cpu,
        "cpu_mhz_reported": mhz,
        "simd": sorted(f for f in flags if f in ("avx2", "fma", "avx512f", "neon", "asimd")),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
        "loadavg_at_start": list(load) if load else None,
    }


def rapl_files() -> list[str]:
    return sorted(glob.glob("/sys/class/powercap/intel-rapl*/energy_uj"))


def rapl_read(files: Sequence[str]) -> float | None:
    """Joules summed over the RAPL packages, or None."""
    if not files:
        return None
    try:
        return sum(int(open(p).read()) for p in files) / 1e6
    except (OSError, ValueError):
        return None


def peak_rss_bytes() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(ru if sys.platform == "darwin" else ru * 1024)


# --------------------------------------------------------------------------- FMA probe

_PROBE = None


def _probe_kernel():
    global _PROBE
    if _PROBE is None:
        from numba import njit

        width = 128  # float32 lanes: 8-16 independent vector FMA chains, L1 resident

        @njit(fastmath=True, cache=True)
        def fma_probe(n, m, a, acc):
            for _ in range(n):
                for j in range(width):
                    acc[j] = acc[j] * m + a
            return acc.sum()

        _PROBE = (fma_probe, width)
    return _PROBE


def fma_peak_gflops(seconds: float = 0.3, repeats: int = 5) -> float:
    """Measured single-core float32 FMA peak (GFLOP/s, 1 FMA = 2 FLOP): a Numba loop of
    independent, vectorisable accumulator chains in L1. Best of ``repeats`` timings."""
    fn, width = _probe_kernel()
    acc = np.ones(width, np.float32)
    m, a = np.float32(0.9999), np.float32(1e-4)
    fn(10, m, a, acc)
    n = 1000
    while True:  # calibrate
        t0 = time.perf_counter()
        fn(n, m, a, acc)
        dt = time.perf_counter() - t0
        if dt > seconds / 10 or n > 1 << 30:
            break
        n *= 4
    n = max(1000, int(n * (seconds / 3) / max(dt, 1e-9)))
    best = 0.0
    for _ in range(repeats):
        acc[:] = 1
        t0 = time.perf_counter()
        fn(n, m, a, acc)
        dt = time.perf_counter() - t0
        best = max(best, 2.0 * width * n / dt / 1e9)
    return best


# --------------------------------------------------------------------------- model helpers


def arch_of(artifact) -> dict:
    return dict(artifact.manifest["architecture"])


def layer_macs(flat: Mapping[str, np.ndarray]) -> int:
    """Dense multiply-adds per time step: every kernel entry of every layer, head included."""
    return int(sum(v.size for p, v in flat.items() if p.endswith("/kernel")))


def nonzero_macs(flat: Mapping[str, np.ndarray]) -> int:
    return int(sum(np.count_nonzero(v) for p, v in flat.items() if p.endswith("/kernel")))


def conv_sparsity(flat: Mapping[str, np.ndarray]) -> float:
    ks = [v for p, v in flat.items() if p.startswith("block_") and p.endswith("/kernel")]
    size = sum(v.size for v in ks)
    return 1.0 - sum(np.count_nonzero(v) for v in ks) / max(size, 1)


class NumpyLTCN:
    """A plain NumPy L-TCN forward (float32): im2col + ONE matmul per layer."""

    def __init__(self, flat: Mapping[str, np.ndarray], dilations, kernel_size, convs_per_block):
        self.k = int(kernel_size)
        self.blocks = []
        for i, d in enumerate(dilations):
            convs = []
            for j in range(convs_per_block):
                w = np.asarray(flat[f"block_{i}/conv_{j}/kernel"], np.float32)
                k, c_in, c_out = w.shape
                convs.append((np.ascontiguousarray(w.reshape(k * c_in, c_out)),
                              np.asarray(flat[f"block_{i}/conv_{j}/bias"], np.float32), int(d)))
            res = None
            if f"block_{i}/residual/kernel" in flat:
                res = (np.ascontiguousarray(np.asarray(flat[f"block_{i}/residual/kernel"],
                                                       np.float32)[0]),
                       np.asarray(flat[f"block_{i}/residual/bias"], np.float32))
            self.blocks.append((convs, res))
        self.head = (np.asarray(flat["head/kernel"], np.float32),
                     np.asarray(flat["head/bias"], np.float32))
        self.nbytes = int(sum(w.nbytes + b.nbytes for convs, _ in self.blocks for w, b, _ in convs)
                          + sum(r[0].nbytes + r[1].nbytes for _, r in self.blocks if r)
                          + self.head[0].nbytes + self.head[1].nbytes)

    def forward(self, x: np.ndarray, last_only: bool) -> np.ndarray:
        """``x f32[n, T, F]`` -> logits ``[n, classes]`` (last step) or ``[n, T, classes]``."""
        n, T, _ = x.shape
        h = x
        k = self.k
        for convs, res in self.blocks:
            block_in = h
            for w, b, d in convs:
                pad = d * (k - 1)
                c = h.shape[2]
                hp = np.zeros((n, pad + T, c), np.float32)
                hp[:, pad:] = h
                cols = np.empty((n, T, k * c), np.float32)
                for tap in range(k):
                    cols[:, :, tap * c : (tap + 1) * c] = hp[:, tap * d : tap * d + T]
                h = cols.reshape(n * T, k * c) @ w
                h += b
                np.maximum(h, 0, out=h)
                h = h.reshape(n, T, -1)
            if res is not None:
                r = block_in.reshape(n * T, -1) @ res[0]
                r += res[1]
                r = r.reshape(n, T, -1)
            else:
                r = block_in
            h = h + r
            np.maximum(h, 0, out=h)
        hw, hb = self.head
        if last_only:
            return h[:, -1] @ hw + hb
        return (h.reshape(n * T, -1) @ hw + hb).reshape(n, T, -1)


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
    k, J = int(arch["kernel_size"]), int(arch["convs_per_block"])
    rf = 1 + J * (k - 1) * sum(int(d) for d in arch["dilations"])
    if arch.get("sequence", "flows") == "features":
        T = int(arch["time_steps"])  # the preprocessed record width (see load_flat)
        # features mode: a record of W features is a 1-channel sequence of W steps
        x = rng.standard_normal((batch, T, int(arch["input_channels"]))).astype(np.float32)
        return Workload("features", x, rf, T)
    x = rng.standard_normal((batch, int(arch["input_channels"]))).astype(np.float32)
    return Workload("flows", x, rf, 1)


def engine_runtime(name: str, model, wl: Workload) -> Runtime:
    from .. import engine as E

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
    )


def numpy_runtime(flat, arch, wl: Workload, threads: int) -> Runtime:
    net = NumpyLTCN(flat, arch["dilations"], arch["kernel_size"], arch["convs_per_block"])
    x = wl.x
    if wl.mode == "flows":
        seq = x[None]
        rf = wl.receptive_field
        return Runtime(
            "numpy", lambda: net.forward(seq, last_only=False)[0],
            lambda i: net.forward(x[None, max(0, i - rf + 1) : i + 1], last_only=True)[0],
            lambda: None, f"window recompute ({rf} flows per new flow)", net.nbytes,
            layer_macs_np(net),
        )
    return Runtime(
        "numpy", lambda: net.forward(x, last_only=True),
        lambda i: net.forward(x[i : i + 1], last_only=True)[0], lambda: None,
        "one record per call", net.nbytes, layer_macs_np(net),
    )


def layer_macs_np(net: NumpyLTCN) -> int:
    total = sum(w.size for convs, _ in net.blocks for w, _, _ in convs)
    total += sum(r[0].size for _, r in net.blocks if r)
    return int(total + net.head[0].size)


def engine_runtimes(flat, arch, wl: Workload, threads: int,
                    only: Sequence[str] = RUNTIMES) -> tuple[list[Runtime], dict]:
    """The numpy + numba runtimes (``sparse-csr``, ``dense-numba``, ``numpy``)."""
    from ..engine import EngineModel, warmup

    out, skipped = [], {}
    kw = {"dilations": arch["dilations"], "kernel_size": arch["kernel_size"],
          "convs_per_block": arch["convs_per_block"]}
    for name, fmt in (("sparse-csr", "csr"), ("dense-numba", "dense")):
        if name in only:
            model = EngineModel.from_params(flat, format=fmt, **kw)
            warmup(model)
            out.append(engine_runtime(name, model, wl))
    if "numpy" in only:
        out.append(numpy_runtime(flat, arch, wl, threads))
    return out, skipped


# --------------------------------------------------------------------------- measuring


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if len(values) else None


def measure(
    runtimes: Sequence[Runtime], wl: Workload, *, repeats: int = 7, warmup: int = 2,
    stream_flows: int = 300, stream_budget_s: float = 0.4, watts: float = PI4_WATTS,
) -> list[dict]:
    """Interleaved timings: each round runs every runtime's batch once (the order rotates
    each round), then streams flows through every runtime. Returns one dict per runtime."""
    batch_t: dict[str, list[float]] = {r.name: [] for r in runtimes}
    batch_cpu: dict[str, list[float]] = {r.name: [] for r in runtimes}
    batch_j: dict[str, list[float]] = {r.name: [] for r in runtimes}
    stream_t: dict[str, list[float]] = {r.name: [] for r in runtimes}
    rapl = rapl_files()
    n_rt = len(runtimes)
    for rnd in range(warmup + repeats):
        keep = rnd >= warmup
        order = [runtimes[(rnd + i) % n_rt] for i in range(n_rt)]
        for rt in order:
            e0 = rapl_read(rapl)
            c0 = time.process_time()
            t0 = time.perf_counter()
            rt.batch()
            dt = time.perf_counter() - t0
            dc = time.process_time() - c0
            e1 = rapl_read(rapl)
            if keep:
                batch_t[rt.name].append(dt)
                batch_cpu[rt.name].append(dc)
                if e0 is not None and e1 is not None:
                    batch_j[rt.name].append(e1 - e0)
        for rt in order:
            rt.reset()
            limit = min(stream_flows, wl.batch)
            t_start = time.perf_counter()
            times = stream_t[rt.name]
            for i in range(limit):
                t0 = time.perf_counter()
                rt.step(i)
                t1 = time.perf_counter()
                if keep:
                    times.append(t1 - t0)
                if i >= 20 and t1 - t_start > stream_budget_s:
                    break
    results = []
    for rt in runtimes:
        med = float(np.median(batch_t[rt.name]))
        cpu = float(np.median(batch_cpu[rt.name]))
        flops = 2.0 * rt.executed_macs_per_step * wl.steps_per_flow * wl.batch
        st = stream_t[rt.name]
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
            "executed_macs_per_flow": int(rt.executed_macs_per_step * wl.steps_per_flow),
            "gflops": flops / med / 1e9,
            "weight_bytes": int(rt.weight_bytes),
            "cpu_ms_median": cpu * 1e3,
            "energy_estimate_mj_per_batch": cpu * watts * 1e3,
            "energy_rapl_mj_per_batch": (float(np.median(batch_j[rt.name])) * 1e3
                                         if batch_j[rt.name] else None),
            "notes": rt.notes,
            **rt.extra,
        })
    return results


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
    extra_runtimes: Callable[[Mapping, Mapping, Workload, int], tuple[list, dict]] | None = None,
    only: Sequence[str] = RUNTIMES, artifact_bytes: int | None = None, seed: int = 0,
    label: Mapping | None = None,
) -> dict:
    """Benchmark one model (flat Flax params + architecture dict); see the module docstring.

    Returns ``{"workload": ..., "runtimes": [per-runtime dicts], "skipped": {name: reason},
    "max_abs_diff": {name: float}, "model": {...}}``.
    """
    wl = make_workload(arch, batch, seed)
    runtimes, skipped = engine_runtimes(flat, arch, wl, threads, only)
    if extra_runtimes is not None:
        more, why = extra_runtimes(flat, arch, wl, threads)
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
                          stream_flows=stream_flows, watts=watts)
    dense_macs = layer_macs(flat)
    for r in results:
        r.update(label or {})
        r["dense_macs_per_flow"] = dense_macs * wl.steps_per_flow
        r["max_abs_diff_vs_first"] = diffs[r["runtime"]]
    return {
        "workload": {"mode": wl.mode, "batch": wl.batch, "steps_per_flow": wl.steps_per_flow,
                     "receptive_field": wl.receptive_field, "input": "seeded N(0,1) floats"},
        "model": {"dense_macs_per_step": dense_macs, "nonzero_macs_per_step": nonzero_macs(flat),
                  "params": int(sum(v.size for v in flat.values())),
                  "conv_sparsity": round(conv_sparsity(flat), 4),
                  "artifact_bytes": artifact_bytes},
        "runtimes": results,
        "skipped": skipped,
        "max_abs_diff": diffs,
    }


def load_flat(path: str) -> tuple[dict, dict, int]:
    from ..engine.artifact import dense_params, read_artifact

    art = read_artifact(path)
    arch = arch_of(art)
    if arch.get("sequence") == "features":
        from ..features.preprocess import Preprocessor

        arch["time_steps"] = Preprocessor.from_dict(art.manifest["preprocess"], path).width
    return dense_params(art), arch, os.path.getsize(path)


def summarise(report: Mapping, peak: float) -> list[str]:
    lines = [f"{'runtime':<12} {'batch ms':>9} {'flows/s':>10} {'p50 us':>9} {'p99 us':>9} "
             f"{'GFLOP/s':>8} {'% peak':>7} {'weights B':>10}"]
    for r in report["runtimes"]:
        p50 = f"{r['stream_us_p50']:.1f}" if r["stream_us_p50"] is not None else "-"
        p99 = f"{r['stream_us_p99']:.1f}" if r["stream_us_p99"] is not None else "-"
        lines.append(
            f"{r['runtime']:<12} {r['batch_ms_median']:>9.3f} {r['flows_per_s']:>10.0f} "
            f"{p50:>9} {p99:>9} {r['gflops']:>8.2f} {100 * r['gflops'] / peak:>6.1f}% "
            f"{r['weight_bytes']:>10,}"
        )
    for name, why in report["skipped"].items():
        lines.append(f"{name:<12} skipped: {why}")
    return lines


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    p.add_argument("--batch", type=int, default=1000, help="flows per batch (default 1000)")
    p.add_argument("--threads", type=int, default=1, help="threads for every runtime (default 1)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (medians over them)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--stream-flows", type=int, default=300, help="flows streamed per round")
    p.add_argument("--watts", type=float, default=PI4_WATTS,
                   help="ASSUMED power draw for the energy estimate (default: Pi 4 ~6.4 W)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m ltcn_kernels.bench", description=__doc__.split("\n")[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    pin_threads(args.threads, [sys.executable, "-m", "ltcn_kernels.bench", *argv])
    flat, arch, nbytes = load_flat(args.model)
    peak = fma_peak_gflops()
    report = run_bench(flat, arch, batch=args.batch, threads=args.threads, repeats=args.repeats,
                       warmup=args.warmup, stream_flows=args.stream_flows, watts=args.watts,
                       artifact_bytes=nbytes, label={"sparsity": round(conv_sparsity(flat), 4),
                                                      "scale": os.path.basename(args.model)})
    out = {
        "batch": args.batch, "threads": args.threads,
        "results": [{k: r[k] for k in ("runtime", "sparsity", "scale", "batch_ms_median",
                                       "stream_us_p50", "stream_us_p99", "flows_per_s")}
                    for r in report["runtimes"]],
        "details": report, "fma_peak_gflops_per_core": peak, "peak_rss_bytes": peak_rss_bytes(),
        "energy": {"estimate_watts_assumed": args.watts,
                   "rapl": "available" if rapl_files() else "not available on this machine"},
        "threads_in_force": thread_report(), "machine": machine_info(),
        "command": "python -m ltcn_kernels.bench " + " ".join(shlex.quote(a) for a in argv),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print("\n".join(summarise(report, peak)))
        print(f"FMA peak (measured, 1 core): {peak:.1f} GFLOP/s; peak RSS "
              f"{out['peak_rss_bytes'] / 2**20:.1f} MiB; RAPL: {out['energy']['rapl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
