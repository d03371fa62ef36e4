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
  (:class:`ltcn_kernels.gateway._Classifier`, one flow per call).

Both sides run the SAME model (default: the CICIDS2017 per-flow L-TCN pruned to 60 % sparsity,
``results/cicids2017_per_flow_ablation``): a per-flow model needs no per-client history, so a
stateless cloud request classifies a flow exactly as the gateway does. Everything runs on the
same machine, so the "cloud" here is a LOWER bound on a real cloud's latency (no TLS, no TCP
slow start or loss, no load balancer or queueing), except for server compute, which a cloud
machine may do faster.

Run: ``python experiments/cloud_vs_edge.py --help``.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import http.client
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .wan import LinkConfig, WanProxy

PAPER = {
    "cloud_ms": 145.2,
    "edge_ms": 12.8,
    "reduction_pct": 82.0,
    "flows": 1000,
    "cloud": "LSTM in the cloud (paper Table V)",
    "edge": "L-TCN, 60 % sparse, Raspberry Pi 4 (paper Table V)",
}
DEFAULT_RUN = "results/cicids2017_per_flow_ablation"
DEFAULT_SPARSITY = 60
HOST = "127.0.0.1"


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


def stats_ms(values: Sequence[float]) -> dict:
    """p50 / p90 / p99 / mean / min / max / n of milliseconds (rounded to 0.001)."""
    a = np.asarray(values, np.float64)
    if a.size == 0:
        return {"n": 0}
    q = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "p50": round(float(q[0]), 3), "p90": round(float(q[1]), 3),
            "p99": round(float(q[2]), 3), "mean": round(float(a.mean()), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}  # fmt: skip


def _progress(total: int, desc: str):
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=1.0)
    except ImportError:  # pragma: no cover

        class _Bar:
            def __init__(self):
                self.n = 0

            def update(self, k=1):
                self.n += k
                if self.n % 50 == 0 or self.n == total:
                    print(f"{desc}: {self.n}/{total}", file=sys.stderr, flush=True)

            def close(self):
                pass

        return _Bar()


# ------------------------------------------------------------------------------ server
class ServerProcess:
    """``python -m cloud_edge.serving`` (run from ``experiments/``) as a child process on an ephemeral loopback port.

    Args:
        model: the ``.ltcn`` file to serve.
        backend: ``sparse``, ``dense`` or ``xla``.
        threads: value of ``NUMBA_NUM_THREADS`` / ``OMP_NUM_THREADS`` etc. for the server.
    """

    def __init__(self, model: str | os.PathLike, backend: str = "sparse", threads: int = 1):
        self.model, self.backend, self.threads = str(model), backend, int(threads)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.command: list[str] = []
        self.startup_s: float | None = None

    def start(self, timeout: float = 120.0) -> int:
        """Start the server, wait for its port and a 200 from ``/healthz``.

        Returns:
            The port.
        """
        from ltcn_kernels.bench.harness import THREAD_ENV, xla_flags

        # The server is this package's sibling module: put experiments/ on its import path.
        experiments = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (experiments, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **{k: str(self.threads) for k in THREAD_ENV},
               "XLA_FLAGS": xla_flags(self.threads), "PYTHONPATH": path}  # fmt: skip
        self.command = [sys.executable, "-m", "cloud_edge.serving", "--model", self.model,
                        "--host", HOST, "--port", "0", "--backend", self.backend]  # fmt: skip
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"server did not start: {err.strip()[-2000:]}")
        self.port = int(json.loads(line)["listening"][1])
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not become healthy")
            time.sleep(0.1)
        self.startup_s = time.perf_counter() - t0
        return self.port

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------------ client
def post(conn: http.client.HTTPConnection, body: bytes, close: bool = False) -> dict:
    """POST ``body`` to ``/v1/detect`` on ``conn``; raise unless 200. Returns the JSON."""
    headers = {"Content-Type": "text/csv"}
    if close:
        headers["Connection"] = "close"
    conn.request("POST", "/v1/detect", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"server answered {resp.status}: {data[:300]!r}")
    return json.loads(data)


def time_requests(port: int, bodies: Sequence[bytes], *, reps: int, warmup: int, keepalive: bool,
                  proxy: WanProxy | None = None, bar=None) -> dict:  # fmt: skip
    """End-to-end latency of ``reps`` requests (bodies cycled), after ``warmup`` untimed ones.

    Args:
        port: where to connect (the proxy's port, or the server's for a direct run).
        bodies: CSV bodies, used in turn.
        reps: timed requests.
        warmup: untimed requests first (on the same connection when ``keepalive``).
        keepalive: one persistent connection; else a new TCP connection per request (timed
            from before ``connect``).
        proxy: the WAN proxy in between, for the byte counters (None: direct).
        bar: a progress bar to update per request.

    Returns:
        ``latency_ms``, ``compute_ms`` (server), ``bytes_up`` / ``bytes_down`` per request
        (from the proxy; None when direct), ``flows`` per request.
    """
    lat, comp, up, down, flows = [], [], [], [], []
    conn = http.client.HTTPConnection(HOST, port, timeout=60) if keepalive else None
    try:
        for i in range(warmup + reps):
            body = bodies[i % len(bodies)]
            before = proxy.counters() if proxy is not None else None
            t0 = time.perf_counter()
            if keepalive:
                out = post(conn, body)
            else:
                c = http.client.HTTPConnection(HOST, port, timeout=60)
                try:
                    out = post(c, body, close=True)
                finally:
                    c.close()
            dt = time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
            if i < warmup:
                continue
            lat.append(dt * 1e3)
            comp.append(out["compute_ms"])
            flows.append(out["flows"])
            if proxy is not None:
                after = proxy.counters()
                up.append(after["bytes_up"] - before["bytes_up"])
                down.append(after["bytes_down"] - before["bytes_down"])
    finally:
        if conn is not None:
            conn.close()
    return {"latency_ms": lat, "compute_ms": comp, "bytes_up": up or None,
            "bytes_down": down or None, "flows": flows}  # fmt: skip


def _summary(raw: dict) -> dict:
    out = {"latency_ms": stats_ms(raw["latency_ms"]), "server_compute_ms": stats_ms(raw["compute_ms"]),
           "flows_per_request": int(np.median(raw["flows"])) if raw["flows"] else None}  # fmt: skip
    for k in ("bytes_up", "bytes_down"):
        out[f"{k}_per_request"] = None if raw[k] is None else int(np.median(raw[k]))
    net = np.asarray(raw["latency_ms"]) - np.asarray(raw["compute_ms"])
    out["latency_minus_compute_ms"] = stats_ms(net)
    return out


# ------------------------------------------------------------------------------ edge
def measure_local(model_path: str | os.PathLike, batches: Sequence[bytes], singles: Sequence[bytes],
                  *, reps: int, warmup: int, single_reps: int) -> dict:  # fmt: skip
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
    from ltcn_kernels.engine.predict import model_inputs
    from ltcn_kernels.gateway import _Classifier

    from .serving import classify_csv, load

    model = load(model_path, "sparse")
    full, parse, engine = [], [], []
    inputs = []
    for b in batches:
        pred = classify_csv(model, b)
        _, x, seqs = model_inputs(model.artifact, model.pre, pred.table)
        inputs.append((x, seqs))
    from ltcn_kernels.io.flows import read_flows

    for i in range(warmup + reps):
        b = batches[i % len(batches)]
        x, seqs = inputs[i % len(batches)]
        t0 = time.perf_counter()
        classify_csv(model, b)
        t1 = time.perf_counter()
        with tempfile.NamedTemporaryFile(
            suffix=".csv", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        ) as f:
            f.write(b)
            f.flush()
            t2 = time.perf_counter()
            read_flows(f.name, model.pre.dataset, drop_duplicates=False, unknown_label="keep",
                       progress=False, chunk_bytes=1 << 20)  # fmt: skip
            t3 = time.perf_counter()
        model.proba(np.ascontiguousarray(seqs))
        t4 = time.perf_counter()
        if i >= warmup:
            full.append((t1 - t0) * 1e3)
            parse.append((t3 - t2) * 1e3)
            engine.append((t4 - t3) * 1e3)
    one_csv = []
    for i in range(warmup + single_reps):
        t0 = time.perf_counter()
        classify_csv(model, singles[i % len(singles)])
        if i >= warmup:
            one_csv.append((time.perf_counter() - t0) * 1e3)
    # The gateway's own per-flow path: its classifier, one preprocessed flow per call.
    clf = _Classifier(model.artifact, "sparse", "auto")
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
    from ltcn_kernels.bench.harness import machine_info, peak_rss_bytes, thread_report

    rng = np.random.default_rng(args.seed)
    if args.flows:
        paths = [args.flows]
    else:
        data = args.data or os.environ.get("LTCN_DATA")
        if not data:
            raise SystemExit(
                "no records: set LTCN_DATA (folder holding cicids2017/) or pass --flows FILE"
            )
        paths = sorted(glob.glob(os.path.join(data, args.pattern)))
        if not paths:
            raise SystemExit(f"no files match {os.path.join(data, args.pattern)}")
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
              f"from {len(paths)} file(s)", file=sys.stderr, flush=True)  # fmt: skip
        t_local = time.perf_counter()
        local = measure_local(model, batches, singles, reps=args.local_reps, warmup=args.warmup,
                              single_reps=args.local_single_reps)  # fmt: skip
        local_s = time.perf_counter() - t_local
        print(f"cloud-vs-edge: local done in {local_s:.1f} s", file=sys.stderr, flush=True)
        rtts = [0.0, *args.rtt]
        total = sum(2 * (2 * args.warmup + args.batch_reps + args.single_reps) for _ in rtts)
        rows = []
        with ServerProcess(model, args.backend, args.threads) as server:
            bar = _progress(total, "cloud requests")
            for rtt in rtts:
                link = None
                proxy = None
                if rtt > 0:
                    link = LinkConfig(rtt_ms=rtt, jitter_ms=args.jitter_frac * rtt / 2, up_mbps=args.up_mbps,
                                      down_mbps=args.down_mbps, seed=args.seed)  # fmt: skip
                    proxy = WanProxy(HOST, server.port, link)
                    proxy.start()
                port = proxy.port if proxy is not None else server.port
                try:
                    row = {"rtt_ms": rtt, "direct": proxy is None,
                           "link": None if link is None else {
                               "rtt_ms": link.rtt_ms, "jitter_ms_per_direction": link.jitter_ms,
                               "up_mbps": link.up_mbps, "down_mbps": link.down_mbps,
                               "handshake": link.handshake}}  # fmt: skip
                    for kind, bodies, reps in (("batch", batches, args.batch_reps),
                                               ("single", singles, args.single_reps)):  # fmt: skip
                        for mode, keep in (("keepalive", True), ("new_connection", False)):
                            raw = time_requests(port, bodies, reps=reps, warmup=args.warmup,
                                                keepalive=keep, proxy=proxy, bar=bar)  # fmt: skip
                            row[f"{kind}_{mode}"] = _summary(raw)
                    if proxy is not None:
                        row["proxy_errors"] = proxy.errors[:10]
                finally:
                    if proxy is not None:
                        proxy.stop()
                rows.append(row)
            bar.close()
            server_command = server.command
            server_startup = server.startup_s
    batch_bytes = [len(b) for b in batches]
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
        "records": {
            "files": [str(p) for p in paths],
            "records": len(lines),
            "batch_flows": args.batch,
            "distinct_batches": len(batches),
            "distinct_single_flows": len(singles),
            "batch_csv_bytes_median": int(np.median(batch_bytes)),
            "batch_csv_gzip_bytes_median": int(
                np.median([len(gzip.compress(b, 6)) for b in batches])
            ),
            "single_csv_bytes_median": int(np.median([len(b) for b in singles])),
            "header_bytes": len(header) + 1,
        },
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


def _stack_versions() -> dict:
    out = {}
    for name in ("uvicorn", "starlette", "h11", "uvloop", "httptools"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = None
    return out


# ------------------------------------------------------------------------------ outputs
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
                    "reduction_new_connection_pct": round(100 * (1 - edge / nc), 1)})  # fmt: skip
    return out


def write_markdown(path: Path, doc: dict) -> None:
    s = doc["settings"]
    rec = doc["records"]
    edge = doc["edge"]
    lines = [
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
    lines += [
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
    lines += [
        "",
        "## Against the paper's Table V (1,000 flows, p50)",
        "",
        "| RTT (ms) | cloud keep-alive | cloud new conn. | edge (ours) | reduction keep-alive | reduction new conn. |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comparison_rows(doc):
        lines.append(f"| {c['rtt_ms']:g} | {c['cloud_keepalive_ms']:.1f} | {c['cloud_new_connection_ms']:.1f} | "
                     f"{c['edge_ms']:.2f} | {c['reduction_keepalive_pct']:.1f} % | {c['reduction_new_connection_pct']:.1f} % |")  # fmt: skip
    p = doc["paper"]
    lines.append(
        f"| paper | {p['cloud_ms']} (LSTM) | – | {p['edge_ms']} (Pi 4) | {p['reduction_pct']:.0f} % | – |"
    )
    lines += ["", "## What matches and what does not", "", *doc["findings"], ""]
    path.write_text("\n".join(lines))


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
              "single_new_connection": ("1 flow, cloud new connection", "C1", "--")}  # fmt: skip
    for key, (label, color, ls) in styles.items():
        p50 = np.array([r[key]["latency_ms"]["p50"] for r in doc["cloud"]])
        p99 = np.array([r[key]["latency_ms"]["p99"] for r in doc["cloud"]])
        ax.errorbar(rtts, p50, yerr=[np.zeros_like(p50), p99 - p50], label=label, color=color, ls=ls,
                    marker="o", capsize=3)  # fmt: skip
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
               label="paper Table V: cloud LSTM (RTT not stated)")  # fmt: skip
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
           title="Cloud (HTTP + emulated WAN) vs edge detection, same model")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7.5, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
