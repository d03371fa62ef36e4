"""Machine probes for the benchmarks: thread pinning, the thread counts in force, CPU and
library versions, Intel RAPL energy counters, peak RSS and a measured FMA peak (explicit-width vector FMAs).

Threads: the thread count of numba / OpenMP / OpenBLAS / XLA is fixed when those libraries
load, so a command line binds itself to ONE core (``os.sched_setaffinity``, inherited across
``exec``), sets ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``XLA_FLAGS``, unsets the OpenBLAS kernel overrides
(``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``: old-build workarounds that slow a current numpy)
and RE-EXECUTES itself once, so that every library loads already pinned (:func:`pin_threads`).
XLA sizes its CPU thread pools from the affinity mask, so the affinity, not a flag, is what
keeps it on one core. Library calls use the process as it is and report what they find
(:func:`thread_report`); the harness proves the pinning per runtime (CPU time / wall time,
the CPUs the threads ran on: :func:`thread_cpus`).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import platform
import resource
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import UsageError

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Kernel overrides older OpenBLAS builds needed; a current numpy runs slower with them, so a
# benchmark's re-executed process runs without them (and records that it removed them).
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REEXEC_MARK = "LTCN_BENCH_PINNED"
UNSET_MARK = "LTCN_BENCH_UNSET"  # "NAME=value ..." removed before the re-exec


# --------------------------------------------------------------------------- threads


def xla_flags(threads: int) -> str:
    """``XLA_FLAGS`` for ``threads`` threads. Not a pin on its own (XLA sizes its pools from the
    affinity mask; :func:`pin_threads` sets that): it keeps Eigen's matmuls on the calling
    thread at one thread. (An ``intra_op_parallelism_threads=N`` entry is no XLA flag at all:
    earlier versions wrote one; it is dropped.)"""
    base = os.environ.get("XLA_FLAGS", "")
    keep = [f for f in base.split() if "multi_thread_eigen" not in f and "intra_op" not in f]
    if threads == 1:
        keep.append("--xla_cpu_multi_thread_eigen=false")
    return " ".join(keep)


def allowed_cpus() -> list[int] | None:
    """The CPUs this thread may run on (``os.sched_getaffinity``), or None where unsupported."""
    if not hasattr(os, "sched_getaffinity"):  # pragma: no cover - macOS
        return None
    return sorted(os.sched_getaffinity(0))


def default_core() -> int | None:
    """The last core this process may run on (``--core``'s default)."""
    cpus = allowed_cpus()
    return cpus[-1] if cpus else None


def parse_cores(text: str | int | None) -> list[int] | None:
    """``"1"``, ``"2,3"`` or ``"0-3"`` -> sorted CPU numbers; None / "" -> the default core."""
    if text is None or text == "":
        core = default_core()
        return None if core is None else [core]
    out: set[int] = set()
    for part in str(text).split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise UsageError(f"--core: expected N, N,M or N-M, got {text!r}") from None
    allowed = allowed_cpus()
    if allowed is not None and not out <= set(allowed):
        raise UsageError(f"--core {text}: not a CPU this process may run on (allowed: "
                         f"{','.join(map(str, allowed))})")
    return sorted(out)


def set_affinity(cpus: Sequence[int]) -> None:
    """Bind EVERY thread of this process to ``cpus`` (``sched_setaffinity(0)`` alone binds only
    the calling thread; threads started earlier, e.g. a thread pool, keep their old mask).
    Threads started later inherit the mask."""
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - macOS
        return
    want = set(cpus)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # pragma: no cover - no procfs
        tids = [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, want)
        except (ProcessLookupError, PermissionError):  # a thread that just ended
            pass
    os.sched_setaffinity(0, want)


def pin_threads(threads: int, argv: Sequence[str], cores: Sequence[int] | None = None,
                unset: Sequence[str] = ()) -> None:
    """Pin the process before its libraries load: bind it to ``cores`` (if given), set the
    thread variables to ``threads``, remove the environment variables ``unset`` (the benchmarks
    pass :data:`BLAS_OVERRIDES`), then re-execute ``argv`` (a full command line:
    ``[python, -m, module, ...]``) once unless all of that already held, because numpy / numba
    / XLA read the thread settings when they are imported. The affinity survives ``exec``.
    """
    if cores is not None:
        set_affinity(cores)
    want = {k: str(threads) for k in THREAD_ENV}
    dropped = [k for k in unset if k in os.environ]
    if os.environ.get(REEXEC_MARK) or (
        all(os.environ.get(k) == v for k, v in want.items()) and not dropped
    ):
        return
    os.environ.update(want)
    os.environ["XLA_FLAGS"] = xla_flags(threads)
    os.environ[UNSET_MARK] = " ".join(f"{k}={os.environ.pop(k)}" for k in dropped)
    os.environ[REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], list(argv))


def thread_cpus() -> dict[int, tuple[int, int]]:
    """``{thread id: (CPU it last ran on, CPU time used in ns)}`` for every thread of this
    process: ``/proc/self/task/*/stat`` field 39, and ``schedstat``'s run time (or, without
    schedstats, stat fields 14 + 15 in clock ticks); {} without procfs."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:  # pragma: no cover
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            # fields[0] is stat field 3 (state): field n is fields[n - 3]
            cpu = int(fields[36])
            try:
                with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                    used = int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                used = (int(fields[11]) + int(fields[12])) * 10_000_000
        except (OSError, IndexError, ValueError):  # a thread that just ended
            continue
        out[int(tid)] = (cpu, used)
    return out


def cpus_used(before: Mapping[int, tuple[int, int]], after: Mapping[int, tuple[int, int]],
              main_tid: int | None = None) -> set[int]:
    """The CPUs of the threads that ran between two :func:`thread_cpus` samples (their CPU
    time went up, or the thread is new), and always the calling thread's."""
    main_tid = threading.get_native_id() if main_tid is None else main_tid
    seen = set()
    for tid, (cpu, used) in after.items():
        if tid == main_tid or tid not in before or used > before[tid][1]:
            seen.add(cpu)
    return seen


def blas_overrides_removed() -> dict[str, str]:
    """The OpenBLAS overrides :func:`pin_threads` removed before the re-exec (name -> value)."""
    return dict(item.split("=", 1) for item in os.environ.get(UNSET_MARK, "").split() if "=" in item)


def thread_report() -> dict:
    """The thread counts in force (env, numba, BLAS pools via threadpoolctl if installed)."""
    out = {k: os.environ.get(k) for k in (*THREAD_ENV, "XLA_FLAGS", *BLAS_OVERRIDES)}
    out["affinity"] = allowed_cpus()
    out["blas_overrides_removed"] = blas_overrides_removed()
    try:
        import numba

        out["numba_threads"] = int(numba.get_num_threads())
    except Exception:  # pragma: no cover - numba missing
        out["numba_threads"] = None
    try:
        from threadpoolctl import threadpool_info

        out["blas_pools"] = [
            {"api": p.get("internal_api"), "threads": p.get("num_threads"),
             "kernel": p.get("architecture"), "version": p.get("version")}
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


def _vector_shape() -> tuple[int, int]:
    """(float32 lanes per vector register, independent FMA chains) for this CPU: the widest
    registers it has (AVX-512: 16 lanes, AVX: 8, NEON / SSE: 4) and enough chains to cover
    the FMA latency on two pipes without running out of registers."""
    import llvmlite.binding as llvm

    f = llvm.get_host_cpu_features()
    if f.get("avx512f"):
        return 16, 16  # 32 zmm registers
    if f.get("avx"):
        return 8, 10  # 16 ymm registers
    return 4, (16 if platform.machine() in ("aarch64", "arm64") else 10)


def _llvm_probe():
    """The FMA loop as LLVM IR with EXPLICIT vectors (``llvm.fma.v<W>f32``), compiled for
    the host by llvmlite (numba's compiler): numba's own loop vectoriser picks 256-bit
    vectors on AVX-512 CPUs whose LLVM tuning prefers them (Intel Sapphire/Emerald Rapids),
    which measures HALF the peak of two 512-bit FMA units. Returns (fn(n), FLOP per
    iteration, description)."""
    import llvmlite.binding as llvm

    W, K = _vector_shape()
    vt = f"<{W} x float>"

    def splat(x: float) -> str:
        h = "0x" + struct.pack(">d", float(np.float32(x))).hex().upper()
        return "<" + ", ".join([f"float {h}"] * W) + ">"

    one, m, a = splat(1.0), splat(0.9999), splat(1e-4)
    red, last = [], "%new0"
    for k in range(1, K):
        red.append(f"  %s{k} = fadd {vt} {last}, %new{k}")
        last = f"%s{k}"
    ir = "\n".join([
        f"declare {vt} @llvm.fma.v{W}f32({vt}, {vt}, {vt})",
        "define float @fma_probe(i64 %n) {", "entry:", "  br label %loop", "loop:",
        "  %i = phi i64 [ 0, %entry ], [ %inext, %loop ]",
        *(f"  %acc{k} = phi {vt} [ {one}, %entry ], [ %new{k}, %loop ]" for k in range(K)),
        *(f"  %new{k} = call {vt} @llvm.fma.v{W}f32({vt} %acc{k}, {vt} {m}, {vt} {a})"
          for k in range(K)),
        "  %inext = add i64 %i, 1", "  %done = icmp sge i64 %inext, %n",
        "  br i1 %done, label %exit, label %loop", "exit:", *red,
        f"  %r = extractelement {vt} {last}, i32 0", "  ret float %r", "}",
    ])
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    mod = llvm.parse_assembly(ir)
    mod.verify()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    ee = llvm.create_mcjit_compiler(mod, tm)
    ee.finalize_object()
    fn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(ee.get_function_address("fma_probe"))
    fn._keep = (mod, ee, tm)  # the machine code lives as long as the engine
    return fn, 2 * W * K, f"LLVM IR, {K} chains of <{W} x float> FMAs ({llvm.get_host_cpu_name()})"


def _numba_probe():
    """The fallback: a Numba loop of independent, vectorisable accumulator chains in L1 (its
    vector width is the compiler's choice, so it may measure less than the peak)."""
    from numba import njit

    width = 128  # float32 lanes: 8-16 independent vector FMA chains, L1 resident

    @njit(fastmath=True, cache=True)
    def fma_probe(n, m, a, acc):
        for _ in range(n):
            for j in range(width):
                acc[j] = acc[j] * m + a
        return acc.sum()

    acc = np.ones(width, np.float32)
    m, a = np.float32(0.9999), np.float32(1e-4)
    return (lambda n: fma_probe(n, m, a, acc)), 2 * width, f"Numba loop, {width} lanes"


def _probe_kernel():
    global _PROBE
    if _PROBE is None:
        try:
            _PROBE = _llvm_probe()
        except Exception:  # pragma: no cover - llvmlite without a native target
            _PROBE = _numba_probe()
    return _PROBE


def fma_probe_info() -> str:
    """How :func:`fma_peak_gflops` measures on this machine."""
    return _probe_kernel()[2]


def fma_peak_gflops(seconds: float = 0.3, repeats: int = 5, window_s: float = 0.002) -> float:
    """Measured single-core float32 FMA peak (GFLOP/s, 1 FMA = 2 FLOP): independent chains
    of FMAs on the CPU's widest vector registers (:func:`_llvm_probe`), nothing but
    registers. The best of many short timings (``window_s`` each, at least ``repeats``,
    ``seconds`` in all): a window shorter than a scheduler time slice mostly runs whole, so
    a neighbour sharing the core slows the probe's median, not its best."""
    fn, flop, _ = _probe_kernel()
    fn(10)
    n = 1000
    while True:  # calibrate: n iterations take about window_s
        t0 = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t0
        if dt > window_s / 4 or n > 1 << 30:
            break
        n *= 2
    n = max(1000, int(n * window_s / max(dt, 1e-9)))
    best = 0.0
    for _ in range(max(repeats, int(seconds / window_s))):
        t0 = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t0
        best = max(best, flop * n / dt / 1e9)
    return best
