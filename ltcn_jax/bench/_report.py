"""What ``ltcn bench`` writes besides its JSON: the engine issue's targets computed from the
run's numbers, the Markdown report (with the pinning and its proof) and the latency plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ltcn_kernels.bench.fairness import MAX_CPU_WALL, PEAK_TOLERANCE
from ltcn_kernels.bench.report import result_rows
from ltcn_kernels.bench.runtimes import RUNTIMES

from .. import paper
from ._runtimes import BLOCK_RUNTIME

PAPER = {  # quoted from the source paper (ltcn_jax.paper), NOT measured here
    "table_v": {"cloud_lstm_ms": paper.value("cloud_lstm_ms"), "edge_ltcn_ms": paper.value("edge_ltcn_ms")},
    "table_vii": {"dense_ms": paper.value("dense_ms"), "pruned_60_ms": paper.value("pruned_60_ms"),
                  "speedup": paper.value("dense_ms") / paper.value("pruned_60_ms"),
                  "device": "Raspberry Pi 4", "batch": 1000},
}


def summary_rows(reports: Sequence[Mapping]) -> list[dict]:
    """The ``results`` rows of ``ltcn bench --json`` (:data:`~ltcn_kernels.bench.report.RESULT_KEYS`)."""
    return result_rows(reports)


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


def probes_summary(doc: Mapping) -> str:
    """The FMA peak probes of a run in words (how many, first, median, last)."""
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
        f"of {probes_summary(doc)}): "
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
