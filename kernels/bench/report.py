"""What a benchmark run reports: the JSON ``results`` rows, the pinning proof in a few
numbers, the energy entry, the hardware counters, and the text summary lines."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .counters import CountersUnavailable, count_runtime
from .machine import REEXEC_MARK, rapl_files

# The per-runtime fields of the JSON `results` rows (`ltcn bench --json`, this tool's --json).
RESULT_KEYS = ("runtime", "sparsity", "scale", "batch_ms_median", "stream_us_p50",
               "stream_us_p99", "flows_per_s", "gflops", "pct_peak", "cpu_wall_ratio", "core")


def result_rows(reports: Sequence[Mapping]) -> list[dict]:
    """The JSON ``results`` rows: :data:`RESULT_KEYS` of every runtime of every report."""
    return [{k: r.get(k) for k in RESULT_KEYS} for rep in reports for r in rep["runtimes"]]


def pinning_summary(rows: Sequence[Mapping]) -> dict:
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
                     f"{f(c['LLC-load-misses'], '.2f'):>9} {f(c['bytes_from_dram_per_flow'], '.1f'):>12}")
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


def counters_report(model: str, names: Sequence[str], batch: int, core: int | None) -> dict:
    """``--counters``: per-flow hardware counters of each runtime, or why there are none."""
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
           "rapl": "available" if rapl_files() else "not available on this machine"}
    if "power" in report:
        out["measured"] = report["power"]
    else:
        out["sensors_here"] = available_sources()
    return out

