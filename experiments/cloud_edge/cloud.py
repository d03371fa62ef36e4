"""The cloud side of the cloud-vs-edge experiment, as the client sees it: the inference
server as a child process (:class:`ServerProcess`), timed requests to it, directly or
through the emulated WAN (:func:`time_requests`), and every RTT of a run
(:func:`measure_cloud`)."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .report import stats_ms
from .wan import LinkConfig, WanProxy

HOST = "127.0.0.1"


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
        from ltcn_kernels.bench.machine import THREAD_ENV, xla_flags

        # The server is this package's sibling module: put experiments/ on its import path.
        experiments = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (experiments, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **{k: str(self.threads) for k in THREAD_ENV},
               "XLA_FLAGS": xla_flags(self.threads), "PYTHONPATH": path}
        self.command = [sys.executable, "-m", "cloud_edge.serving", "--model", self.model,
                        "--host", HOST, "--port", "0", "--backend", self.backend]
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
                  proxy: WanProxy | None = None, bar=None) -> dict:
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
            "bytes_down": down or None, "flows": flows}


def summarise_requests(raw: dict) -> dict:
    """Latency, server compute and bytes per request of :func:`time_requests` output."""
    out = {"latency_ms": stats_ms(raw["latency_ms"]), "server_compute_ms": stats_ms(raw["compute_ms"]),
           "flows_per_request": int(np.median(raw["flows"])) if raw["flows"] else None}
    for k in ("bytes_up", "bytes_down"):
        out[f"{k}_per_request"] = None if raw[k] is None else int(np.median(raw[k]))
    net = np.asarray(raw["latency_ms"]) - np.asarray(raw["compute_ms"])
    out["latency_minus_compute_ms"] = stats_ms(net)
    return out


# ------------------------------------------------------------------------------ a run
def measure_cloud(model: str | os.PathLike, args: argparse.Namespace, batches: Sequence[bytes],
                  singles: Sequence[bytes]) -> tuple[list[dict], list[str], float]:
    """Serve ``model`` and time batch and single-flow requests at RTT 0 (direct) and at each
    ``args.rtt`` (through the WAN proxy).

    Returns:
        (one row per RTT, the server's command, its start-up seconds).
    """
    rtts = [0.0, *args.rtt]
    total = sum(2 * (2 * args.warmup + args.batch_reps + args.single_reps) for _ in rtts)
    rows = []
    with ServerProcess(model, args.backend, args.threads) as server:
        bar = _progress(total, "cloud requests")
        for rtt in rtts:
            rows.append(_measure_rtt(server.port, rtt, args, batches, singles, bar))
        bar.close()
        return rows, server.command, server.startup_s


def _measure_rtt(server_port: int, rtt: float, args: argparse.Namespace, batches, singles,
                 bar) -> dict:
    """One RTT's row: batch and single requests, keep-alive and new connections."""
    link = None
    proxy = None
    if rtt > 0:
        link = LinkConfig(rtt_ms=rtt, jitter_ms=args.jitter_frac * rtt / 2, up_mbps=args.up_mbps,
                          down_mbps=args.down_mbps, seed=args.seed)
        proxy = WanProxy(HOST, server_port, link)
        proxy.start()
    port = proxy.port if proxy is not None else server_port
    try:
        row = {"rtt_ms": rtt, "direct": proxy is None,
               "link": None if link is None else {
                   "rtt_ms": link.rtt_ms, "jitter_ms_per_direction": link.jitter_ms,
                   "up_mbps": link.up_mbps, "down_mbps": link.down_mbps,
                   "handshake": link.handshake}}
        for kind, bodies, reps in (("batch", batches, args.batch_reps),
                                   ("single", singles, args.single_reps)):
            for mode, keep in (("keepalive", True), ("new_connection", False)):
                raw = time_requests(port, bodies, reps=reps, warmup=args.warmup,
                                    keepalive=keep, proxy=proxy, bar=bar)
                row[f"{kind}_{mode}"] = summarise_requests(raw)
        if proxy is not None:
            row["proxy_errors"] = proxy.errors[:10]
    finally:
        if proxy is not None:
            proxy.stop()
    return row


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
