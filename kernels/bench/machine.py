"""Machine probes for the benchmarks: thread pinning, the thread counts in force, CPU and
library versions, Intel RAPL energy counters, peak RSS and a measured FMA peak.

Threads: the thread count of numba / OpenMP / OpenBLAS is fixed when those libraries load, so
a command line sets ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``XLA_FLAGS`` and RE-EXECUTES itself once when they differ
(:func:`pin_threads`); library calls use the process as it is and report the thread counts
they find (:func:`thread_report`).
"""

from __future__ import annotations

import glob
import os
import platform
import resource
import sys
import time
from collections.abc import Sequence

import numpy as np

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
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
