"""``ltcn bench``: the edge benchmark (:mod:`ltcn_kernels.bench`) plus the runtimes that need
the training install (``xla``: jax.jit of the Flax model on CPU; ``onnxruntime``: the ONNX
graph of :mod:`ltcn_jax.onnx_export`), the sparsity sweep, and the report (JSON, Markdown, PNG).

Sweep weights: a seeded random init of the architecture (numpy, Flax's default scale: kernels
N(0, 1/fan_in), biases 0), pruned layer by layer by magnitude with :mod:`ltcn_jax.pruning`'s
masks and default selection (the block kernels, residual 1x1 convs included; the head is kept
dense), so the sweep thins weights exactly as a pruned training run does. Latency
depends on the structure and the number of non-zeros, not on what the weights learned, so
random weights measure the same thing as trained ones; the trained runs in ``results/`` are
benchmarked too where they exist.

Fairness: every runtime runs in ONE process bound to one core before any library loads (the
CLI: ``--core``, :func:`ltcn_kernels.bench.machine.pin_threads`), with one thread in each
library (numba / OpenBLAS env vars, XLA's flags and affinity-sized pools, ONNX Runtime's
session options). Each runtime's CPU time / wall time, core and achieved GFLOP/s against the
FMA peak measured in the same run are recorded, and the run fails (exit 3) when one of them
shows more than one core at work (:func:`ltcn_kernels.bench.fairness.check_fair`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.bench import machine as KM
from ltcn_kernels.bench.fairness import (
    EXIT_UNFAIR,
    MAX_CPU_WALL,
    PEAK_TOLERANCE,
    PeakProbe,
    UnfairBenchmark,
    check_fair,
    set_peak,
)
from ltcn_kernels.bench.harness import power_source
from ltcn_kernels.bench.measure import PI4_WATTS, run_bench
from ltcn_kernels.bench.report import (
    counter_lines,
    counters_report,
    energy_summary,
    pinning_summary,
    power_lines,
    result_rows,
    summarise,
)
from ltcn_kernels.bench.runtimes import (
    RUNTIMES,
    Runtime,
    Workload,
    conv_sparsity,
    engine_runtime,
    load_flat,
)
from ltcn_kernels.errors import UsageError

from . import paper

SPARSITIES = (0, 40, 60, 80, 90, 95)
BLOCK = 4  # rows of the engine's group kernel
BLOCK_SPARSITIES = (60, 80, 90)  # where the sweep also measures 1x4-block-pruned weights
BLOCK_RUNTIME = "sparse-1x4"  # the sparse engine on 1x4-block-pruned weights
SCALES = {
    "default": {"channels": [16, 32, 64, 64]},
    "paper": {"channels": [192, 288, 352, 352]},
}
PAPER = {  # quoted from the source paper (ltcn_jax.paper), NOT measured here
    "table_v": {"cloud_lstm_ms": paper.value("cloud_lstm_ms"), "edge_ltcn_ms": paper.value("edge_ltcn_ms")},
    "table_vii": {"dense_ms": paper.value("dense_ms"), "pruned_60_ms": paper.value("pruned_60_ms"),
                  "speedup": paper.value("dense_ms") / paper.value("pruned_60_ms"),
                  "device": "Raspberry Pi 4", "batch": 1000},
}  # fmt: skip
# Trained runs benchmarked beside the random weights, looked up in the folder the caller names
# (``ltcn bench --sweep --runs results``).
TRAINED_RUNS = ("cicids2017_samples", "nsl_kdd_quickstart")
ABLATION_RUN = "nsl_kdd_ablation"


def sweep_arch(scale: str, features: int = 118, classes: int = 5) -> dict:
    """The manifest-style architecture dict of a sweep scale, fed a window of its receptive
    field (LTCNArch's defaults for everything but the channels)."""
    arch = LTCNArch(features, classes, channels=SCALES[scale]["channels"])
    return {**arch.to_dict(), "sequence": "flows", "window": arch.receptive_field}


def random_params(arch: Mapping, seed: int = 0) -> dict[str, np.ndarray]:
    """Flat L-TCN params with Flax's names, shapes and default init scale."""
    rng = np.random.default_rng(seed)
    flat = {}
    for path, shape in LTCNArch.from_dict(arch).param_shapes().items():
        if path.endswith("/bias"):
            flat[path] = np.zeros(shape, np.float32)
        else:  # lecun_normal-like: N(0, 1/fan_in)
            flat[path] = (rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)
    return flat


def magnitude_prune(flat: Mapping[str, np.ndarray], sparsity: float,
                    structure: str = "unstructured") -> dict[str, np.ndarray]:
    """``flat`` with :func:`ltcn_jax.pruning.compute_masks`' layer-wise magnitude masks at
    ``sparsity`` applied (every block kernel; the head and the biases stay dense).

    ``structure="block"``: whole 1x4 blocks (4 consecutive output channels at one tap and input
    channel, the package's block structure), so the engine's group kernel runs them.

    Raises:
        ValueError: an unknown ``structure`` (the message lists the options).
    """
    from . import pruning  # jax loads only when a sweep prunes, not when the module is read

    params = {path: np.asarray(w, np.float32) for path, w in flat.items()}
    masks = pruning.compute_masks(params, sparsity, structure=structure, block=BLOCK)
    return {path: np.array(w) for path, w in pruning.apply_masks(params, masks).items()}


def artifact_bytes(flat: Mapping[str, np.ndarray], arch: Mapping, fmt: str = "csr") -> int:
    """Size of the ``.ltcn`` file these weights export to (CSR conv kernels)."""
    from ltcn_kernels.engine.artifact import write_artifact

    from .export import packed_arrays

    arrays, entries = packed_arrays(dict(flat), dict(arch), fmt)
    with tempfile.TemporaryDirectory() as tmp:
        return write_artifact(Path(tmp) / "m.ltcn", {"format": "ltcn-model",
                                                     "architecture": dict(arch), **entries}, arrays)


# --------------------------------------------------------------------------- extra runtimes


def _windowed(x: np.ndarray, rf: int) -> np.ndarray:
    """Zero history in front of the stream: window i = flows i-rf+1..i (causal zero pad)."""
    return np.concatenate([np.zeros((rf - 1, x.shape[1]), np.float32), x])


def xla_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    import jax
    import jax.numpy as jnp

    from .models import LTCN
    from .reference import unflatten

    params = jax.tree_util.tree_map(jnp.asarray, unflatten(dict(flat)))
    last = jax.jit(lambda p, x: LTCN.from_arch(arch).apply({"params": p}, x))
    seq = jax.jit(lambda p, x: LTCN.from_arch(arch, return_sequence=True).apply({"params": p}, x))
    x = wl.x
    nbytes = int(sum(np.asarray(v).nbytes for v in flat.values()))
    macs = arch.macs_per_step()
    if wl.mode == "flows":
        xs = jnp.asarray(x[None])
        xp = _windowed(x, wl.receptive_field)
        rf = wl.receptive_field
        wins = [jnp.asarray(xp[None, i : i + rf]) for i in range(x.shape[0])]

        def batch():
            return np.asarray(seq(params, xs).block_until_ready())[0]

        def step(i):
            return np.asarray(last(params, wins[i]).block_until_ready())[0]

        batch(), step(0)
        return Runtime("xla", batch, step, lambda: None,
                          f"window recompute ({rf} flows per new flow)", nbytes, macs)
    xs = jnp.asarray(x)
    ones = [jnp.asarray(x[i : i + 1]) for i in range(x.shape[0])]

    def batch_w():
        return np.asarray(last(params, xs).block_until_ready())

    def step_w(i):
        return np.asarray(last(params, ones[i]).block_until_ready())[0]

    batch_w(), step_w(0)
    return Runtime("xla", batch_w, step_w, lambda: None, "one record per call", nbytes, macs)


def onnx_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    import onnxruntime as ort

    from .onnx_export import build_onnx

    model = build_onnx(flat, arch)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting pool
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = wl.x
    nbytes = int(sum(np.asarray(v).nbytes for v in flat.values()))
    macs = arch.macs_per_step()
    if wl.mode == "flows":
        xs = x[None]
        rf = wl.receptive_field
        xp = _windowed(x, rf)
        wins = [np.ascontiguousarray(xp[None, i : i + rf]) for i in range(x.shape[0])]

        def batch():
            return sess.run(["logits_seq"], {"x": xs})[0][0]

        def step(i):
            return sess.run(["logits"], {"x": wins[i]})[0][0]

        batch(), step(0)
        return Runtime("onnxruntime", batch, step, lambda: None,
                          f"window recompute ({rf} flows per new flow)", nbytes, macs)
    ones = [x[i : i + 1] for i in range(x.shape[0])]
    return Runtime(
        "onnxruntime", lambda: sess.run(["logits"], {"x": x})[0],
        lambda i: sess.run(["logits"], {"x": ones[i]})[0][0], lambda: None,
        "one record per call", nbytes, macs,
    )


def extra_runtimes(
    flat, arch: LTCNArch, wl: Workload, threads: int
) -> tuple[list[Runtime], dict[str, str]]:
    out, skipped = [], {}
    try:
        import jax  # noqa: F401

        out.append(xla_runtime(flat, arch, wl, threads))
    except ImportError as exc:
        skipped["xla"] = f"jax not installed ({exc})"
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        out.append(onnx_runtime(flat, arch, wl, threads))
    except ImportError as exc:
        skipped["onnxruntime"] = (f"onnx/onnxruntime not installed ({exc}); "
                                  "pip install 'ltcn[bench]'")
    return out, skipped


# --------------------------------------------------------------------------- driver


def bench_model(flat, arch, *, label: Mapping, batch: int, threads: int, repeats: int,
                warmup: int, stream_flows: int, watts: float, art_bytes: int | None,
                only: Sequence[str] = RUNTIMES, peak: PeakProbe | float | None = None,
                block_flat: Mapping[str, np.ndarray] | None = None, power=None,
                power_seconds: float = 5.0, power_interval: float = 0.01) -> dict:
    """One model, every runtime; given ``peak`` (a :class:`~ltcn_kernels.bench.fairness.PeakProbe`
    or GFLOP/s), ``pct_peak`` is filled in and the fairness check runs on the spot (raising
    :class:`~ltcn_kernels.bench.fairness.UnfairBenchmark`), so a sweep fails at its first
    unfair model rather than at the end. ``block_flat``: the same init pruned in 1x4 blocks,
    timed as one more runtime (``sparse-1x4``) of the same report."""
    extra = extra_runtimes
    if block_flat is not None:
        only = (*only, BLOCK_RUNTIME)

        def extra(flat_, net, wl, threads_):
            out, skipped = extra_runtimes(flat_, net, wl, threads_)
            return [*out, block_runtime(block_flat, net, wl)], skipped

    rep = run_bench(flat, arch, batch=batch, threads=threads, repeats=repeats, warmup=warmup,
                       stream_flows=stream_flows, watts=watts, extra_runtimes=extra,
                       only=only, artifact_bytes=art_bytes, label=label, peak=peak,
                       power=power, power_seconds=power_seconds, power_interval=power_interval)
    for r in rep["runtimes"]:
        if r["runtime"] == BLOCK_RUNTIME:  # other weights: its output is not comparable
            r["weights"] = "random init, 1x4-block magnitude-pruned"
            r["max_abs_diff_vs_first"] = None
    rep["max_abs_diff"].pop(BLOCK_RUNTIME, None)
    if peak is not None:
        check_fair(rep["runtimes"], peak, threads)
    return rep


def trained_models(runs: Path, tmp: Path) -> list[tuple[str, str, dict, dict, int]]:
    """(scale label, run, flat, arch, artifact bytes) of the trained runs under ``runs``."""
    from .export import export_run

    found = []
    for run in (str(runs / name) for name in TRAINED_RUNS):
        if Path(run, "params.msgpack").is_file():
            out = tmp / (Path(run).name + ".ltcn")
            export_run(run, out)
            flat, arch, nbytes = load_flat(str(out))
            found.append((f"trained:{Path(run).name}", run, flat, arch, nbytes))
    ablation = str(runs / ABLATION_RUN)
    for s in (40, 60, 80, 90):
        if Path(ablation, f"sparsity_{s}_params.msgpack").is_file():
            out = tmp / f"ablation_{s}.ltcn"
            export_run(ablation, out, sparsity=s)
            flat, arch, nbytes = load_flat(str(out))
            found.append((f"trained:{ABLATION_RUN}", ablation, flat, arch, nbytes))
    return found


def block_runtime(block_flat, arch: LTCNArch, wl: Workload) -> Runtime:
    """The sparse engine on 1x4-block-pruned weights, timed in the same report (interleaved
    with the other runtimes on the same inputs) as runtime ``sparse-1x4``."""
    from ltcn_kernels.engine import EngineModel
    from ltcn_kernels.engine import warmup as engine_warmup

    model = EngineModel.from_arch(arch, block_flat, format="sparse")
    engine_warmup(model)
    return engine_runtime(BLOCK_RUNTIME, model, wl)


def run_sweep(*, batch: int = 1000, threads: int = 1, repeats: int = 7, warmup: int = 2,
              stream_flows: int = 300, watts: float = PI4_WATTS,
              scales: Sequence[str] = ("default", "paper"),
              sparsities: Sequence[int] = SPARSITIES, runs: Path | None = None,
              log=print, peak: PeakProbe | float | None = None) -> dict:
    reports = []
    for scale in scales:
        arch = sweep_arch(scale)
        base = random_params(arch, seed=0)
        for s in sparsities:
            flat = magnitude_prune(base, s / 100)
            t0 = time.perf_counter()
            block = magnitude_prune(base, s / 100, "block") if s in BLOCK_SPARSITIES else None
            rep = bench_model(flat, arch, label={"sparsity": s / 100, "scale": scale,
                                                 "weights": "random init, magnitude-pruned"},
                              batch=batch, threads=threads, repeats=repeats, warmup=warmup,
                              stream_flows=stream_flows, watts=watts,
                              art_bytes=artifact_bytes(flat, arch), peak=peak, block_flat=block)
            reports.append(rep)
            log(f"{scale} {s}%: " + ", ".join(
                f"{r['runtime']} {r['batch_ms_median']:.2f} ms" for r in rep["runtimes"])
                + f"  ({time.perf_counter() - t0:.0f} s)")
    if runs is not None:
        with tempfile.TemporaryDirectory() as tmp:
            for label, run, flat, arch, nbytes in trained_models(Path(runs), Path(tmp)):
                sp = round(conv_sparsity(flat), 4)
                rep = bench_model(flat, arch, label={"sparsity": sp, "scale": label,
                                                     "weights": f"trained ({run})"},
                                  batch=batch, threads=threads, repeats=repeats, warmup=warmup,
                                  stream_flows=stream_flows, watts=watts, art_bytes=nbytes,
                                  peak=peak)
                reports.append(rep)
                log(f"{label} {100 * sp:.0f}%: " + ", ".join(
                    f"{r['runtime']} {r['batch_ms_median']:.2f} ms" for r in rep["runtimes"]))
    return {"reports": reports}


def summary_rows(reports: Sequence[Mapping]) -> list[dict]:
    """The ``results`` rows of ``ltcn bench --json`` (:data:`~ltcn_kernels.bench.report.RESULT_KEYS`)."""
    return result_rows(reports)


def source_state() -> dict:
    """The git commit of this checkout and whether the engine (``kernels/engine``) or the
    benchmark had uncommitted changes when the numbers were taken (None outside git)."""
    root = Path(__file__).resolve().parent.parent

    def git(*a):
        return subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"),
                "engine_uncommitted": bool(git("status", "--short", "kernels/engine")),
                "bench_uncommitted": bool(git("status", "--short", "kernels/bench",
                                              "ltcn_jax/bench.py"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "engine_uncommitted": None, "bench_uncommitted": None}


def _get(reports, scale, sparsity, runtime, key="batch_ms_median"):
    for rep in reports:
        for r in rep["runtimes"]:
            if r["scale"] == scale and abs(r["sparsity"] - sparsity) < 1e-6 and r["runtime"] == runtime:
                return r[key]
    return None


TARGET_RATIOS = {0.6: 0.75, 0.8: 0.45, 0.9: 0.3}  # sparse / fastest dense runtime, issue 12


def _fastest_dense(reports, scale, sparsity):
    """(ms, name) of the fastest dense runtime (our dense engine included) in this run."""
    found = [(v, n) for n in ("dense", "numpy", "xla", "onnxruntime")
             if (v := _get(reports, scale, sparsity, n)) is not None]
    return min(found) if found else None


def evaluate_targets(reports, peak: float) -> list[dict]:
    """The engine issue's targets, computed from this run's numbers (ratios within one run):
    sparse <= 0.75x / 0.45x / 0.3x the fastest dense runtime at 60 / 80 / 90 %, for the
    unstructured weights (the paper's method) and, reported beside them, 1x4 blocks; kernel
    efficiency >= 40 % of the measured peak at paper scale, 60 %; streaming p50 <= 5 us,
    p99 <= 25 us and >= 10x faster than the best dense runtime's window recompute."""
    out = []
    for scale in ("default", "paper"):
        for sp, limit in TARGET_RATIOS.items():
            best = _fastest_dense(reports, scale, sp)
            for runtime in ("sparse", BLOCK_RUNTIME):
                v = _get(reports, scale, sp, runtime)
                if v is not None and best is not None:
                    out.append({"target": f"{scale}: {runtime} {100 * sp:.0f}% <= {limit}x "
                                          f"fastest dense runtime ({best[1]})",
                                "value": v / best[0], "met": v / best[0] <= limit})
        for runtime in ("sparse", BLOCK_RUNTIME):
            g = _get(reports, scale, 0.6, runtime, "gflops")
            if g is not None and scale == "paper":
                out.append({"target": f"paper: {runtime} kernel >= 40% of measured FMA peak (60%)",
                            "value": g / peak, "met": g / peak >= 0.4})
    p50 = _get(reports, "default", 0.6, "sparse", "stream_us_p50")
    p99 = _get(reports, "default", 0.6, "sparse", "stream_us_p99")
    if p50 is not None:
        out.append({"target": "default: streaming p50 <= 5 us per flow (sparse, 60%)",
                    "value": p50, "met": p50 <= 5})
    if p99 is not None:
        out.append({"target": "default: streaming p99 <= 25 us per flow (sparse, 60%)",
                    "value": p99, "met": p99 <= 25})
    recompute = [v for n in ("numpy", "xla", "onnxruntime")
                 if (v := _get(reports, "default", 0.6, n, "stream_us_p50")) is not None]
    if p50 and recompute:
        out.append({"target": "default: stream >= 10x faster than the best dense window recompute",
                    "value": min(recompute) / p50, "met": min(recompute) / p50 >= 10})
    return out


def _probes(doc: Mapping) -> str:
    p = doc.get("fma_peak_probes")
    if not isinstance(p, Mapping):
        return "the run's probes"
    return (f"{p['probes']} probes taken through the run: first {p['first']:.1f}, median "
            f"{p['median']:.1f}, last {p['last']:.1f}")


def _core(r: Mapping) -> str:
    """The core a runtime was bound to, and where its threads were seen if anywhere else."""
    bound = str(r["core"]) if r.get("core") is not None else ",".join(map(str, r["affinity"]))
    seen = ",".join(map(str, r.get("cpus_seen") or ()))
    return bound if seen in ("", bound) else f"{bound} (ran on {seen})"


def _fairness_lines(doc: Mapping) -> list[str]:
    """The pinning and its proof, for the Markdown report."""
    pin, t, src = doc.get("pinning") or {}, doc.get("threads_in_force") or {}, doc.get("source")
    if not pin:
        return []
    blas = t.get("blas_pools")
    blas = ", ".join(f"{b['api']} {b.get('version')} kernel {b.get('kernel')} ({b['threads']} "
                     "thread(s))" for b in blas) if isinstance(blas, list) else str(blas)
    removed = t.get("blas_overrides_removed") or {}
    lines = [
        "## One core, and the proof", "",
        f"Every runtime ran in this one process, bound to CPU(s) **{pin['cores']}** "
        + ("(`os.sched_setaffinity`, then a re-exec: before numpy, numba, XLA or ONNX Runtime "
           "loaded" if pin.get("pinned_before_libraries_loaded") else
           "(`os.sched_setaffinity` of every thread of an already running process, `--no-pin`")
        + f"; one thread each: `NUMBA/OMP/OPENBLAS/MKL_NUM_THREADS={doc['threads']}`, "
        f"`XLA_FLAGS={t.get('XLA_FLAGS')!r}` with XLA's pools sized by the affinity mask, ONNX "
        "Runtime intra/inter-op threads 1). Their threads were seen running on CPU(s) "
        f"{pin['cpus_seen']} (`/proc/self/task/*/stat`, sampled around every timed round).  ",
        f"CPU time / wall time over the timed rounds (batch / stream, every thread of the "
        f"process): {pin['cpu_wall_ratio_min']:.2f} to {pin['cpu_wall_ratio_max']:.2f} "
        f"(one core busy = 1.0; the run fails above {MAX_CPU_WALL}). Highest achieved "
        f"GFLOP/s: {pin['pct_peak_max']:.1f} % of the measured single-core peak (the run "
        f"fails above {100 * (1 + PEAK_TOLERANCE):.0f} %).  ",
        f"BLAS: {blas}; OpenBLAS overrides removed for this run: "
        f"{', '.join(f'{k}={v}' for k, v in removed.items()) or 'none were set'}.  ",
    ]
    if pin.get("cpu_wall_ratio_min") is not None and pin["cpu_wall_ratio_min"] < 0.9:
        lines.append("A ratio below ~0.9 means the core was shared (the process waited for "
                     "it): those rounds are slower, not unfair.  ")
    if src:
        state = ("with uncommitted engine changes" if src.get("engine_uncommitted")
                 else "engine as committed")
        lines.append(f"Source: git `{src.get('commit')}` ({state}).  ")
    return [*lines, ""]


def write_markdown(path: Path, doc: Mapping) -> None:
    reports = doc["details"]
    peak = doc["fma_peak_gflops_per_core"]
    m = doc["machine"]
    lines = [
        "# L-TCN inference benchmark", "",
        f"Command: `{doc['command']}`  ",
        f"Machine: {m['cpu']} ({m['logical_cpus']} logical CPUs, SIMD {', '.join(m['simd'])}), "
        f"{m['platform']}; threads used: {doc['threads']} ",
        f"(load average at start {m['loadavg_at_start']}, at end {doc['loadavg_at_end']}).  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".  ",
        f"Measured FMA peak (float32, 1 core; {doc.get('fma_probe', 'Numba probe')}; the best "
        f"of {_probes(doc)}): "
        f"**{peak:.1f} GFLOP/s**.  ",
        f"Batch = {doc['batch']} consecutive flows (flows mode: causal sequence, every flow "
        "classified with its history). Medians over "
        f"{doc.get('repeats', 'the')} interleaved rounds after {doc.get('warmup', 'the')} "
        "warm-up rounds.", "",
        "Sweep weights are a seeded random init magnitude-pruned layer-wise; latency depends "
        "on structure and non-zeros, not on training. `sparse` rows: unstructured pruning (the "
        f"paper's method); `{BLOCK_RUNTIME}` rows: the same init pruned in 1x4 blocks (4 output "
        "channels at one input position), run by the same sparse engine, whose group kernel "
        "feeds each input load to 4 rows.", "",
        *_fairness_lines(doc),
        "## Paper figures (QUOTED from the source paper, not measured here)", "",
        "| source | figure |", "|---|---|",
        f"| Table V | cloud LSTM {PAPER['table_v']['cloud_lstm_ms']} ms vs edge L-TCN "
        f"{PAPER['table_v']['edge_ltcn_ms']} ms |",
        f"| Table VII (Pi 4, 1,000 flows) | dense {PAPER['table_vii']['dense_ms']} ms -> 60 % "
        f"pruned {PAPER['table_vii']['pruned_60_ms']} ms (1.91x) |", "",
    ]
    for scale in dict.fromkeys(r["scale"] for rep in reports for r in rep["runtimes"]):
        rows = [r for rep in reports for r in rep["runtimes"] if r["scale"] == scale]
        lines += [f"## Scale `{scale}`", "",
                  "| runtime | sparsity | batch ms | flows/s | stream p50 us | stream p99 us | "
                  "MACs/flow exec (dense) | GFLOP/s | % peak | CPU/wall | core | weights B | "
                  "energy est. mJ/batch | stream mode |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            f = (lambda v: "-" if v is None else f"{v:.1f}")  # noqa: E731
            f2 = (lambda v: "-" if v is None else f"{v:.2f}")  # noqa: E731
            lines.append(
                f"| {r['runtime']} | {100 * r['sparsity']:.0f} % | {r['batch_ms_median']:.3f} | "
                f"{r['flows_per_s']:,.0f} | {f(r['stream_us_p50'])} | {f(r['stream_us_p99'])} | "
                f"{r['executed_macs_per_flow']:,} ({r['dense_macs_per_flow']:,}) | "
                f"{r['gflops']:.2f} | {100 * r['gflops'] / peak:.1f} | "
                f"{r['cpu_wall_ratio']:.2f} / {f2(r.get('stream_cpu_wall_ratio'))} | "
                f"{_core(r)} | {r['weight_bytes']:,} | "
                f"{r['energy_estimate_mj_per_batch']:.2f} | {r['stream_mode']} |")
        lines.append("")
        for rep in reports:
            if rep["runtimes"] and rep["runtimes"][0]["scale"] == scale and rep["skipped"]:
                sk = {k: v for k, v in rep["skipped"].items() if v != "not selected"}
                if sk:
                    lines.append(f"Skipped: {sk}")
                    break
    lines += ["## Targets (ratios within this run)", "", "| target | value | met |", "|---|---|---|"]
    for t in doc["targets"]:
        lines.append(f"| {t['target']} | {t['value']:.3f} | {'yes' if t['met'] else 'NO'} |")
    e = doc["energy"]
    lines += ["", "## Energy", "",
              f"`energy_estimate_mj_per_batch` is an ESTIMATE: process CPU time x "
              f"{e['estimate_watts_assumed']} W (an ASSUMED figure: Raspberry Pi 4 under load; "
              f"`--watts`). RAPL: {e['rapl']}.", "",
              f"Peak RSS of the benchmark process: {doc['peak_rss_bytes'] / 2**20:.1f} MiB "
              "(all runtimes of the run together).", "", "![latency vs sparsity](bench.png)", ""]
    path.write_text("\n".join(lines))


def plot(path: Path, reports) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, scale in zip(axes, ("default", "paper"), strict=True):
        rows = [r for rep in reports for r in rep["runtimes"] if r["scale"] == scale]
        for name in (*RUNTIMES, BLOCK_RUNTIME):
            pts = sorted((r["sparsity"], r["batch_ms_median"]) for r in rows if r["runtime"] == name)
            if pts:
                ax.plot([100 * p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        sparse = dict(sorted((r["sparsity"], r["batch_ms_median"]) for r in rows
                             if r["runtime"] == "sparse"))
        dense = {}
        for r in rows:
            if r["runtime"] not in ("sparse", BLOCK_RUNTIME):
                dense[r["sparsity"]] = min(dense.get(r["sparsity"], np.inf), r["batch_ms_median"])
        cross = next((s for s in sorted(sparse) if sparse[s] <= dense.get(s, np.inf)), None)
        if cross is not None:
            ax.axvline(100 * cross, color="grey", ls="--", lw=1)
            ax.annotate(f"sparse beats every dense runtime from {100 * cross:.0f} %",
                        (100 * cross, ax.get_ylim()[1] * 0.9), fontsize=8, ha="left")
        ax.set_yscale("log")
        ax.set_xlabel("sparsity of the conv kernels (%)")
        ax.set_ylabel("1,000-flow batch latency (ms, log)")
        ax.set_title(f"L-TCN {scale} scale")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    def log(*a):
        print(*a, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        if args.sweep:
            reports = run_sweep(batch=args.batch, threads=args.threads, repeats=args.repeats,
                                warmup=args.warmup, stream_flows=args.stream_flows,
                                watts=args.watts, runs=Path(args.runs) if args.runs else None,
                                log=log, peak=probe)["reports"]
        else:
            flat, arch, nbytes = load_flat(args.model)
            reports = [bench_model(flat, arch,
                                   label={"sparsity": round(conv_sparsity(flat), 4),
                                          "scale": os.path.basename(args.model)},
                                   batch=args.batch, threads=args.threads, repeats=args.repeats,
                                   warmup=args.warmup, stream_flows=args.stream_flows,
                                   watts=args.watts, art_bytes=nbytes, peak=probe,
                                   power=power, power_seconds=args.power_seconds,
                                   power_interval=args.power_interval)]
    except UnfairBenchmark as exc:
        print(f"ltcn bench: {exc}", file=sys.stderr)
        return EXIT_UNFAIR
    probe.again()  # the peak at the end of the run too; pct_peak against the best probe
    peak = probe.value
    rows = [r for rep in reports for r in rep["runtimes"]]
    set_peak(rows, peak)
    doc = {
        "batch": args.batch, "threads": args.threads, "results": summary_rows(reports),
        "repeats": args.repeats, "warmup": args.warmup, "command": command, "machine": machine, "loadavg_at_end": list(os.getloadavg()),
        "threads_in_force": KM.thread_report(), "fma_peak_gflops_per_core": peak,
        "fma_peak_probes": probe.summary(), "fma_probe": KM.fma_probe_info(), "pinning": pinning_summary(rows), "source": source,
        "peak_rss_bytes": KM.peak_rss_bytes(),
        "energy": energy_summary(reports[0] if len(reports) == 1 else {}, args.watts),
        "paper_quoted": PAPER, "targets": evaluate_targets(reports, peak), "details": reports,
    }
    if args.out:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "bench.json").write_text(json.dumps(doc, indent=1))
        write_markdown(out_dir / "bench.md", doc)
        if args.sweep:
            plot(out_dir / "bench.png", reports)
    if args.counters:
        cores = doc["pinning"]["cores"]
        doc["counters"] = counters_report(args.model, [r["runtime"] for r in rows
                                                          if r["runtime"] in ("sparse", "dense", "numpy")],
                                             args.batch, cores[0] if cores else None)  # fmt: skip
    if args.json:
        print(json.dumps({k: doc[k] for k in ("batch", "threads", "results", "energy")}
                         | ({"counters": doc["counters"]} if "counters" in doc else {})))
    else:
        for rep in reports:
            print("\n".join(summarise(rep, peak)))
        for line in power_lines(doc["energy"]) + counter_lines(doc.get("counters")):
            print(line)
        for t in doc["targets"]:
            print(f"target {t['target']}: {t['value']:.3f} {'met' if t['met'] else 'NOT met'}")
        pin = doc["pinning"]
        print(f"FMA peak {peak:.1f} GFLOP/s (best of {_probes(doc)}); "
              f"pinned to CPU(s) {pin['cores']}, threads seen on {pin['cpus_seen']}, CPU/wall "
              f"{pin['cpu_wall_ratio_min']:.2f}-{pin['cpu_wall_ratio_max']:.2f}, at most "
              f"{pin['pct_peak_max']:.1f} % of peak" + (f"; wrote {out_dir}" if args.out else ""))
    return 0
