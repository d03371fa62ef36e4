"""The outputs of the cloud-vs-edge experiment: latency statistics, the comparison with the
paper's Table V, the findings, ``table.md`` and ``latency.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def stats_ms(values: Sequence[float]) -> dict:
    """p50 / p90 / p99 / mean / min / max / n of milliseconds (rounded to 0.001)."""
    a = np.asarray(values, np.float64)
    if a.size == 0:
        return {"n": 0}
    q = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "p50": round(float(q[0]), 3), "p90": round(float(q[1]), 3),
            "p99": round(float(q[2]), 3), "mean": round(float(a.mean()), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}


def _cell(s: dict | None, key: str = "p50") -> str:
    if not s or s.get("n", 0) == 0 or s.get(key) is None:
        return "–"
    v = s[key]
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def comparison_rows(doc: dict) -> list[dict]:
    """Per RTT: cloud batch p50 (keep-alive and new connection), edge batch p50, reduction %."""
    edge = doc["edge"]["batch_from_csv_ms"]["p50"]
    out = []
    for row in doc["cloud"]:
        ka = row["batch_keepalive"]["latency_ms"]["p50"]
        nc = row["batch_new_connection"]["latency_ms"]["p50"]
        out.append({"rtt_ms": row["rtt_ms"], "cloud_keepalive_ms": ka, "cloud_new_connection_ms": nc,
                    "edge_ms": edge, "reduction_keepalive_pct": round(100 * (1 - edge / ka), 1),
                    "reduction_new_connection_pct": round(100 * (1 - edge / nc), 1)})
    return out


def write_markdown(path: Path, doc: dict) -> None:
    """``table.md``: the setup, the cloud and edge tables, the comparison, the findings."""
    lines = [*_setup_lines(doc), *_cloud_lines(doc), *_edge_lines(doc), *_paper_lines(doc)]
    lines += ["", "## What matches and what does not", "", *doc["findings"], ""]
    path.write_text("\n".join(lines))


def _setup_lines(doc: dict) -> list[str]:
    s = doc["settings"]
    rec = doc["records"]
    return [
        "# Cloud vs edge latency (paper Table V)",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"Model: {doc['model']['run'] or doc['model']['file']}"
        + (f" at {doc['model']['sparsity']} % sparsity" if doc["model"]["sparsity"] else "")
        + f", served by `{doc['server']['command'].split(' --model')[0]}` (uvicorn "
        f"{doc['server']['stack'].get('uvicorn')}, starlette {doc['server']['stack'].get('starlette')}) "
        f"with the `{doc['model']['backend_cloud']}` engine; the edge runs the same file with the sparse engine. "
        f"Records: {rec['records']:,} real CICIDS2017 records ({len(rec['files'])} file(s)); "
        f"{rec['distinct_batches']} distinct random {rec['batch_flows']:,}-flow batches "
        f"(CSV {rec['batch_csv_bytes_median']:,} bytes each, {rec['batch_csv_gzip_bytes_median']:,} gzipped), "
        f"{rec['distinct_single_flows']} single-flow requests ({rec['single_csv_bytes_median']:,} bytes: "
        f"header {rec['header_bytes']:,} + one record). One Numba thread in server and client.",
        "",
        f"WAN emulation: user-space proxy (`cloud_edge.wan`), one-way delay RTT/2 + normal jitter "
        f"(sd {100 * s['jitter_frac']:.0f} % of the one-way delay, truncated at 0, FIFO), "
        f"{s['up_mbps']} Mbit/s up / {s['down_mbps']} Mbit/s down, a new connection's first data held "
        f"back one RTT (TCP handshake). RTT 0 = direct to the server, no proxy. "
        f"Repetitions: {s['batch_reps']} per batch cell, {s['single_reps']} per single-flow cell, after "
        f"{s['warmup']} warm-up requests (p99 of {s['batch_reps']} samples is close to the maximum).",
        "",
    ]


def _cloud_lines(doc: dict) -> list[str]:
    lines = [
        "## Cloud: end-to-end latency per request (ms, p50 / p99)",
        "",
        "| RTT (ms) | 1,000 flows keep-alive | 1,000 flows new conn. | 1 flow keep-alive | 1 flow new conn. "
        "| bytes up / down per batch | bytes up / down per flow | server compute per batch (p50) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in doc["cloud"]:
        cells = []
        for k in (
            "batch_keepalive",
            "batch_new_connection",
            "single_keepalive",
            "single_new_connection",
        ):
            lat = row[k]["latency_ms"]
            cells.append(f"{_cell(lat)} / {_cell(lat, 'p99')}")
        b, o = row["batch_keepalive"], row["single_keepalive"]
        by = (
            "direct"
            if b["bytes_up_per_request"] is None
            else f"{b['bytes_up_per_request']:,} / {b['bytes_down_per_request']:,}"
        )
        oy = (
            "direct"
            if o["bytes_up_per_request"] is None
            else f"{o['bytes_up_per_request']:,} / {o['bytes_down_per_request']:,}"
        )
        label = f"{row['rtt_ms']:g}" + (" (direct)" if row["direct"] else "")
        lines.append(
            f"| {label} | {' | '.join(cells)} | {by} | {oy} | {_cell(b['server_compute_ms'])} |"
        )
    return lines


def _edge_lines(doc: dict) -> list[str]:
    edge = doc["edge"]
    lines = [
        "",
        "## Edge: local detection in one process (ms)",
        "",
        "| what | p50 | p99 | mean |",
        "|---|---:|---:|---:|",
    ]
    names = {
        "batch_from_csv_ms": f"{edge['flows_per_batch']:,} flows from CSV bytes (parse + preprocess + classify)",
        "batch_parse_only_ms": f"{edge['flows_per_batch']:,} flows: parse only",
        "batch_engine_only_ms": f"{edge['flows_per_batch']:,} flows: engine only (classify)",
        "single_from_csv_ms": "1 flow from CSV bytes",
        "single_gateway_step_ms": f"1 flow, gateway classifier step ({edge['gateway_engine_mode']} mode)",
    }
    for k, name in names.items():
        st = edge[k]
        lines.append(f"| {name} | {_cell(st)} | {_cell(st, 'p99')} | {_cell(st, 'mean')} |")
    return lines


def _paper_lines(doc: dict) -> list[str]:
    lines = [
        "",
        "## Against the paper's Table V (1,000 flows, p50)",
        "",
        "| RTT (ms) | cloud keep-alive | cloud new conn. | edge (ours) | reduction keep-alive | reduction new conn. |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comparison_rows(doc):
        lines.append(f"| {c['rtt_ms']:g} | {c['cloud_keepalive_ms']:.1f} | {c['cloud_new_connection_ms']:.1f} | "
                     f"{c['edge_ms']:.2f} | {c['reduction_keepalive_pct']:.1f} % | {c['reduction_new_connection_pct']:.1f} % |")
    p = doc["paper"]
    lines.append(
        f"| paper | {p['cloud_ms']} (LSTM) | – | {p['edge_ms']} (Pi 4) | {p['reduction_pct']:.0f} % | – |"
    )
    return lines


def findings(doc: dict) -> list[str]:
    """Plain statements comparing our numbers with the paper's (bullets for table.md)."""
    p = doc["paper"]
    s = doc["settings"]
    comp = comparison_rows(doc)
    wan = [c for c in comp if c["rtt_ms"] > 0] or comp
    edge = doc["edge"]["batch_from_csv_ms"]["p50"]
    eng = doc["edge"]["batch_engine_only_ms"]["p50"]
    parse = doc["edge"]["batch_parse_only_ms"]["p50"]
    direct = doc["cloud"][0]
    srv = direct["batch_keepalive"]["server_compute_ms"]["p50"]
    loop_ms = direct["batch_keepalive"]["latency_ms"]["p50"]
    lo = min(c["cloud_keepalive_ms"] for c in wan)
    hi = max(c["cloud_new_connection_ms"] for c in wan)
    upload_ms = (
        8 * doc["records"]["batch_csv_bytes_median"] / (s["up_mbps"] * 1e6) * 1e3
        if s["up_mbps"]
        else 0.0
    )
    if lo > p["cloud_ms"]:
        vs_paper = f"every emulated RTT is ABOVE the paper's {p['cloud_ms']} ms"
    elif hi < p["cloud_ms"]:
        vs_paper = f"every emulated RTT is BELOW the paper's {p['cloud_ms']} ms"
    else:
        vs_paper = f"the paper's {p['cloud_ms']} ms falls inside this range"
    reductions = ", ".join(
        f"{c['reduction_keepalive_pct']:.0f} % at RTT {c['rtt_ms']:g} ms" for c in wan
    )
    return [
        f"* **Edge, 1,000 flows**: {edge:.1f} ms p50 from CSV bytes on one core of this x86 machine "
        f"(parse {parse:.1f} ms, engine {eng:.1f} ms), vs the paper's {p['edge_ms']} ms on a Raspberry Pi 4: "
        f"{'we are SLOWER' if edge > p['edge_ms'] else 'we are faster'}, on hardware that should be faster "
        "than a Pi 4 core. (A first run of this experiment found the engine grouping 1-flow windows 6x "
        "slower than taking them one at a time -- 163 vs 26 ms; fixed in `ltcn_kernels.engine` before "
        "these numbers.) The paper does not say what its 12.8 ms includes (we include parsing the CSV "
        "records).",
        f"* **Cloud, 1,000 flows**: {lo:.0f}–{hi:.0f} ms p50 over RTT {wan[0]['rtt_ms']:g}–{wan[-1]['rtt_ms']:g} ms "
        f"(keep-alive to new connection); {vs_paper}. With {s['up_mbps']:g} Mbit/s up, serializing the "
        f"{doc['records']['batch_csv_bytes_median']:,}-byte CSV upload alone takes ~{upload_ms:.0f} ms. Direct on "
        f"loopback (no WAN) a batch takes {loop_ms:.1f} ms, of which {srv:.1f} ms is server compute (parse + "
        f"classify): HTTP + JSON on loopback add {loop_ms - srv:.1f} ms; the emulated link adds the rest.",
        f"* **Reduction** (edge vs cloud keep-alive, 1,000 flows): {reductions}; the paper reports "
        f"{p['reduction_pct']:.0f} %. Same model and engine on both sides, so the difference is the network "
        "(RTT, handshake, upload bandwidth) and HTTP/JSON, not the model.",
        "* **Single flows**: the cloud cannot answer faster than one RTT (two on a new connection: the "
        "handshake), while the gateway classifies one flow in well under a millisecond (see the edge table).",
        "* **Bytes**: every cloud request uploads the records (bytes up per batch/flow above); local "
        "detection sends nothing upstream. Gzip would shrink a batch to about "
        f"{doc['records']['batch_csv_gzip_bytes_median']:,} bytes at some CPU cost (not measured here).",
        '* **Caveats**: our "cloud" is loopback + an emulated WAN on the same 2-core machine: no TLS (1–2 more '
        "RTTs on a new connection), no TCP slow start (a fresh real connection needs several more RTTs to move "
        "0.5 MB), no loss, no load balancer or queueing. It is therefore a LOWER bound on a real cloud's latency, "
        f"except for server compute, which a cloud machine may do faster ({srv:.0f} ms p50 here). The paper's cloud "
        "model is an LSTM and its RTT and bandwidth are not stated, so its 145.2 ms cannot be reproduced exactly.",
    ]


def plot(path: Path, doc: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rtts = [r["rtt_ms"] for r in doc["cloud"]]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = {"batch_keepalive": ("1,000 flows, cloud keep-alive", "C0", "-"),
              "batch_new_connection": ("1,000 flows, cloud new connection", "C0", "--"),
              "single_keepalive": ("1 flow, cloud keep-alive", "C1", "-"),
              "single_new_connection": ("1 flow, cloud new connection", "C1", "--")}
    for key, (label, color, ls) in styles.items():
        p50 = np.array([r[key]["latency_ms"]["p50"] for r in doc["cloud"]])
        p99 = np.array([r[key]["latency_ms"]["p99"] for r in doc["cloud"]])
        ax.errorbar(rtts, p50, yerr=[np.zeros_like(p50), p99 - p50], label=label, color=color, ls=ls,
                    marker="o", capsize=3)
    e = doc["edge"]
    ax.axhline(
        e["batch_from_csv_ms"]["p50"],
        color="C2",
        ls="-",
        label="1,000 flows, edge (parse + classify)",
    )
    ax.axhline(
        e["single_gateway_step_ms"]["p50"], color="C2", ls=":", label="1 flow, edge gateway step"
    )
    ax.scatter([max(rtts)], [doc["paper"]["cloud_ms"]], marker="*", s=150, color="C3", zorder=5,
               label="paper Table V: cloud LSTM (RTT not stated)")
    ax.scatter(
        [0],
        [doc["paper"]["edge_ms"]],
        marker="*",
        s=150,
        color="C4",
        zorder=5,
        label="paper Table V: edge (Pi 4)",
    )
    ax.set_yscale("log")
    ax.set(xlabel="emulated RTT (ms); 0 = direct loopback", ylabel="latency per request, p50 (ms; bars to p99)",
           title="Cloud (HTTP + emulated WAN) vs edge detection, same model")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7.5, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
