"""Cloud-vs-edge latency: the same model served over HTTP behind an emulated WAN vs run locally.

The paper's Table V: a cloud LSTM answers 1,000 flows in 145.2 ms, the L-TCN on the gateway
(Raspberry Pi 4) in 12.8 ms, an 82 % reduction. This experiment tests the shape of that claim
with what can be measured here:

* **cloud**: the exported model served by :mod:`cloud_edge.serving` (Starlette + uvicorn, a
  separate process, one Numba thread) on 127.0.0.1, reached through :class:`cloud_edge.wan.WanProxy`
  emulating a WAN link (RTT, jitter, bandwidth per direction; user space, because this
  kernel has no ``netem``). The client uploads CSV text (header + records, what a gateway
  would send) and reads the JSON answer; timed end to end, with a persistent keep-alive
  connection and with a new TCP connection per request (the emulated handshake costs an RTT).
  Bytes up/down per request come from the proxy's counters; the server reports its compute
  time. An RTT = 0 row goes to the server directly (no proxy).
* **edge**: the same records classified in this process by the same code the server runs
  (:func:`cloud_edge.serving.classify_csv`: parse + preprocess + classify from CSV bytes), the
  engine call alone, and per flow the gateway's own classifier
  (:class:`ltcn_kernels.gateway.Classifier`, one flow per call).

Both sides run the SAME model (default: the CICIDS2017 per-flow L-TCN pruned to 60 % sparsity,
``results/cicids2017_per_flow_ablation``): a per-flow model needs no per-client history, so a
stateless cloud request classifies a flow exactly as the gateway does. Everything runs on the
same machine, so the "cloud" here is a LOWER bound on a real cloud's latency (no TLS, no TCP
slow start or loss, no load balancer or queueing), except for server compute, which a cloud
machine may do faster.

Run: ``python experiments/cloud_vs_edge.py --help``. This module holds the records, the edge
measurement, the run and its command line; the cloud side is :mod:`cloud_edge.cloud` (server
process, timed requests), the outputs :mod:`cloud_edge.report` (tables, findings, plot).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ltcn_jax import paper

from .cloud import measure_cloud
from .report import comparison_rows, findings, plot, stats_ms, write_markdown

PAPER = {
    "cloud_ms": paper.value("cloud_lstm_ms"),
    "edge_ms": paper.value("edge_ltcn_ms"),
    "reduction_pct": paper.value("latency_reduction_pct"),
    "flows": 1000,
    "cloud": "LSTM in the cloud (paper Table V)",
    "edge": "L-TCN, 60 % sparse, Raspberry Pi 4 (paper Table V)",
}
DEFAULT_RUN = "results/cicids2017_per_flow_ablation"
DEFAULT_SPARSITY = 60


# ------------------------------------------------------------------------------ inputs
def read_lines(paths: Sequence[str | os.PathLike]) -> tuple[bytes, list[bytes]]:
    """The header and the record lines of CSV files that share one header.

    Args:
        paths: flow-record CSV files with a header line (the first file's header is kept).

    Returns:
        ``(header, lines)`` without line ends; empty lines dropped.
    """
    header, body = None, []
    for p in paths:
        raw = Path(p).read_bytes().splitlines()
        if not raw:
            continue
        if header is None:
            header = raw[0]
        elif raw[0] != header:
            raise ValueError(f"{p}: header differs from {paths[0]}")
        body.extend(ln for ln in raw[1:] if ln.strip())
    if header is None or not body:
        raise ValueError("no flow records in " + ", ".join(map(str, paths)))
    return header, body


def make_bodies(header: bytes, lines: Sequence[bytes], size: int, count: int, rng) -> list[bytes]:
    """``count`` CSV bodies of ``size`` distinct records each, drawn at random (seeded).

    Args:
        header: the CSV header line.
        lines: record lines to draw from.
        size: records per body (1 = single-flow requests).
        count: bodies to make.
        rng: a ``numpy.random.Generator``.

    Returns:
        The bodies: header, newline, records joined by newlines, final newline.
    """
    if size > len(lines):
        raise ValueError(f"{size} records per batch but only {len(lines)} records available")
    out = []
    for _ in range(count):
        idx = np.sort(rng.choice(len(lines), size, replace=False))
        out.append(b"\n".join([header, *(lines[i] for i in idx)]) + b"\n")
    return out


# ------------------------------------------------------------------------------ edge
def measure_local(model_path: str | os.PathLike, batches: Sequence[bytes], singles: Sequence[bytes],
                  *, reps: int, warmup: int, single_reps: int) -> dict:
    """Local detection in this process on the same records.

    Args:
        model_path: the ``.ltcn`` file.
        batches: 1,000-flow CSV bodies.
        singles: single-flow CSV bodies.
        reps: timed batch repetitions (batches cycled) after ``warmup``.
        warmup: untimed repetitions first.
        single_reps: timed single-flow classifications.

    Returns:
        Latency statistics (ms) of: the batch from CSV bytes (parse + preprocess + classify,
        :func:`cloud_edge.serving.classify_csv`), its parse alone, its engine call alone; one
        flow from CSV bytes; one flow through the gateway's classifier (preprocessed input).
    """
    from ltcn_kernels.gateway import Classifier
    from ltcn_kernels.io.flows import read_flows_bytes
    from ltcn_kernels.pipeline import model_inputs

    from .serving import classify_csv, load

    model = load(model_path, "sparse")
    full, parse, engine = [], [], []
    inputs = []
    for b in batches:
        pred = classify_csv(model, b)
        _, x, seqs = model_inputs(model.artifact, model.pre, pred.table)
        inputs.append((x, seqs))
    for i in range(warmup + reps):
        b = batches[i % len(batches)]
        x, seqs = inputs[i % len(batches)]
        t0 = time.perf_counter()
        classify_csv(model, b)
        t1 = time.perf_counter()
        read_flows_bytes(b, model.pre.dataset, drop_duplicates=False, unknown_label="keep",
                         chunk_bytes=1 << 20)
        t2 = time.perf_counter()
        model.proba(np.ascontiguousarray(seqs))
        t3 = time.perf_counter()
        if i >= warmup:
            full.append((t1 - t0) * 1e3)
            parse.append((t2 - t1) * 1e3)
            engine.append((t3 - t2) * 1e3)
    one_csv = []
    for i in range(warmup + single_reps):
        t0 = time.perf_counter()
        classify_csv(model, singles[i % len(singles)])
        if i >= warmup:
            one_csv.append((time.perf_counter() - t0) * 1e3)
    # The gateway's own per-flow path: its classifier, one preprocessed flow per call.
    clf = Classifier(model.artifact, "sparse", "auto")
    xs = np.concatenate([x for x, _ in inputs])
    one_step = []
    for i in range(warmup + single_reps):
        row = xs[i % len(xs) : i % len(xs) + 1]
        t0 = time.perf_counter()
        clf(row)
        if i >= warmup:
            one_step.append((time.perf_counter() - t0) * 1e3)
    return {
        "batch_from_csv_ms": stats_ms(full),
        "batch_parse_only_ms": stats_ms(parse),
        "batch_engine_only_ms": stats_ms(engine),
        "single_from_csv_ms": stats_ms(one_csv),
        "single_gateway_step_ms": stats_ms(one_step),
        "gateway_engine_mode": clf.mode,
        "flows_per_batch": int(np.median([len(x) for x, _ in inputs])),
    }


# ------------------------------------------------------------------------------ run
def run(args: argparse.Namespace) -> dict:
    """The whole experiment; returns the results document."""
    from ltcn_kernels.bench.machine import machine_info, peak_rss_bytes, thread_report

    rng = np.random.default_rng(args.seed)
    paths = record_files(args)
    header, lines = read_lines(paths)
    batches = make_bodies(header, lines, args.batch, args.batches, rng)
    singles = make_bodies(header, lines, 1, args.singles, rng)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "model.ltcn"
        export = None
        if not args.model:
            from ltcn_jax.export import export_run

            export = export_run(args.run, model, sparsity=args.sparsity)
        print(f"cloud-vs-edge: model {model} ({model.stat().st_size:,} bytes), {len(lines):,} records "
              f"from {len(paths)} file(s)", file=sys.stderr, flush=True)
        t_local = time.perf_counter()
        local = measure_local(model, batches, singles, reps=args.local_reps, warmup=args.warmup,
                              single_reps=args.local_single_reps)
        local_s = time.perf_counter() - t_local
        print(f"cloud-vs-edge: local done in {local_s:.1f} s", file=sys.stderr, flush=True)
        rows, server_command, server_startup = measure_cloud(model, args, batches, singles)
    return {
        "experiment": "cloud-vs-edge latency (issue 7)",
        "model": {
            "run": None if args.model else str(args.run),
            "sparsity": args.sparsity if not args.model else None,
            "file": str(args.model) if args.model else "exported from the run",
            "export": export,
            "backend_cloud": args.backend,
            "backend_edge": "sparse",
        },
        "records": _records_doc(paths, header, lines, batches, singles, args.batch),
        "settings": {k: v for k, v in vars(args).items() if k not in ("model",)}
        | {"model": args.model},
        "server": {
            "command": " ".join(map(shlex.quote, server_command)),
            "startup_s": round(server_startup, 2),
            "stack": _stack_versions(),
        },
        "cloud": rows,
        "edge": local,
        "paper": PAPER,
        "machine": machine_info(),
        "threads": thread_report(),
        "peak_rss_mib_client": round(peak_rss_bytes() / 2**20, 1),
    }


def record_files(args: argparse.Namespace) -> list[str]:
    """``--flows``, or the files of ``--pattern`` under ``--data`` / ``$LTCN_DATA``."""
    if args.flows:
        return [args.flows]
    data = args.data or os.environ.get("LTCN_DATA")
    if not data:
        raise SystemExit(
            "no records: set LTCN_DATA (folder holding cicids2017/) or pass --flows FILE"
        )
    paths = sorted(glob.glob(os.path.join(data, args.pattern)))
    if not paths:
        raise SystemExit(f"no files match {os.path.join(data, args.pattern)}")
    return paths


def _records_doc(paths, header: bytes, lines, batches, singles, batch_flows: int) -> dict:
    batch_bytes = [len(b) for b in batches]
    return {
        "files": [str(p) for p in paths],
        "records": len(lines),
        "batch_flows": batch_flows,
        "distinct_batches": len(batches),
        "distinct_single_flows": len(singles),
        "batch_csv_bytes_median": int(np.median(batch_bytes)),
        "batch_csv_gzip_bytes_median": int(np.median([len(gzip.compress(b, 6)) for b in batches])),
        "single_csv_bytes_median": int(np.median([len(b) for b in singles])),
        "header_bytes": len(header) + 1,
    }


def _stack_versions() -> dict:
    out = {}
    for name in ("uvicorn", "starlette", "h11", "uvloop", "httptools"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="experiments/cloud_vs_edge.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("--run", type=Path, default=Path(DEFAULT_RUN), help="trained run to export")
    p.add_argument(
        "--sparsity",
        type=int,
        default=DEFAULT_SPARSITY,
        help="pruned checkpoint of the run (sparsity_N_params.msgpack); -1: the unpruned params",
    )
    p.add_argument("--model", help="an existing .ltcn file instead of exporting --run")
    p.add_argument(
        "--flows", help="a flow-record CSV file (header + records) instead of the LTCN_DATA files"
    )
    p.add_argument("--data", help="folder holding cicids2017/ (default: $LTCN_DATA)")
    p.add_argument("--pattern", default="cicids2017/improved/*.csv", help="files under --data")
    p.add_argument("--batch", type=int, default=1000, help="flows per batch request")
    p.add_argument("--batches", type=int, default=8, help="distinct random batches (cycled)")
    p.add_argument(
        "--singles", type=int, default=200, help="distinct single-flow requests (cycled)"
    )
    p.add_argument(
        "--rtt", type=float, nargs="+", default=[10.0, 50.0, 100.0], help="emulated RTTs (ms)"
    )
    p.add_argument(
        "--jitter-frac",
        type=float,
        default=0.1,
        help="jitter sd as a fraction of the one-way delay",
    )
    p.add_argument("--up-mbps", type=float, default=10.0, help="upstream bandwidth (0: unlimited)")
    p.add_argument(
        "--down-mbps", type=float, default=50.0, help="downstream bandwidth (0: unlimited)"
    )
    p.add_argument("--batch-reps", type=int, default=40)
    p.add_argument("--single-reps", type=int, default=150)
    p.add_argument("--local-reps", type=int, default=100)
    p.add_argument("--local-single-reps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--backend", choices=("sparse", "dense", "xla"), default="sparse", help="server backend"
    )
    p.add_argument("--threads", type=int, default=1, help="NUMBA/OMP threads (server and local)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/cloud-vs-edge"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sparsity is not None and args.sparsity < 0:
        args.sparsity = None
    t0 = time.perf_counter()
    command = "python experiments/cloud_vs_edge.py " + " ".join(
        map(shlex.quote, sys.argv[1:] if argv is None else argv)
    )
    doc = run(args)
    doc["command"] = command
    doc["wall_seconds"] = round(time.perf_counter() - t0, 1)
    doc["comparison"] = comparison_rows(doc)
    doc["findings"] = findings(doc)
    args.out.mkdir(parents=True, exist_ok=True)
    doc["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in doc["settings"].items()}
    (args.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    write_markdown(args.out / "table.md", doc)
    plot(args.out / "latency.png", doc)
    data = os.environ.get("LTCN_DATA")
    prefix = f"LTCN_DATA={data} " if data and not args.data and not args.flows else ""
    (args.out / "command.txt").write_text(prefix + command + "\n")
    print(
        json.dumps(
            {"comparison": doc["comparison"], "edge": doc["edge"], "out": str(args.out)}, indent=1
        )
    )
    return 0
