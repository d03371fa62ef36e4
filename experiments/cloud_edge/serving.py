"""An HTTP inference server for an exported ``.ltcn`` model: Starlette, run by uvicorn.

    python -m cloud_edge.serving --model model.ltcn [--host 127.0.0.1] [--port 8000]
                               [--backend sparse|dense|xla]

This is the "cloud" side of the cloud-vs-edge experiment (:mod:`cloud_edge.measure`): the
same model the gateway runs, behind HTTP. Endpoints:

* ``POST /v1/detect`` -- body: flow records as CSV text, exactly what a gateway would upload
  (the header line, then one record per line, in any layout the readers know for the model's
  dataset). Query ``probs=1`` adds every class probability. Answers JSON::

      {"flows": n, "classes": [...], "line": [...], "class": [...], "p_attack": [...],
       "dropped": {reason: count}, "compute_ms": t}

  per classified flow in input order: its line in the body (the header is line 1), the
  predicted class and P(attack) = 1 - P(normal) (rounded to 6 decimals; ``probs=1`` gives the
  exact float32 probabilities as ``probabilities``, one row per flow). ``compute_ms`` is the
  server's parse + preprocess + classify time; it is also sent as ``Server-Timing``.
  Bad input gives 400 (unparseable CSV: ``{"error": "body:LINE:COLUMN: what is wrong"}``),
  413 (body over ``--max-body-mb``), never a traceback.
* ``GET /healthz`` -- ``{"status": "ok", "model": ..., "backend": ..., "classes": [...]}``.

The records are parsed, preprocessed and classified by the edge code itself
(:func:`ltcn_kernels.io.flows.read_flows_bytes` on the body, as the gateway parses its
micro-batches, then :func:`ltcn_kernels.pipeline.classify_table`), so for the same records the
server returns exactly what :func:`ltcn_kernels.pipeline.classify_files` computes. Requests are
classified one at a time (a lock), off the event loop.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltcn_kernels.engine import predict_proba_windows
from ltcn_kernels.engine.artifact import engine_model
from ltcn_kernels.errors import DataFormatError
from ltcn_kernels.features.windows import make_sequences
from ltcn_kernels.io.flows import read_flows_bytes
from ltcn_kernels.io.labels import normal_index
from ltcn_kernels.pipeline import Predictions, classify_table, load_model

BACKENDS = ("sparse", "dense", "xla")
MAX_BODY_MB = 64


@dataclass
class LoadedModel:
    """An exported model ready to classify CSV bytes.

    Attributes:
        path: the ``.ltcn`` file.
        artifact: the artifact (:func:`ltcn_kernels.pipeline.load_model`).
        pre: its frozen preprocessing.
        proba: ``(n, time, channels)`` inputs -> class probabilities.
        backend: ``sparse`` / ``dense`` (Numba engine) or ``xla`` (the Flax model under jax.jit).
        normal: index of the normal class (``None`` if the dataset has none).
    """

    path: str
    artifact: object
    pre: object
    proba: Callable[[np.ndarray], np.ndarray]
    backend: str
    normal: int | None

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.pre.classes)


def load(model_path: str | os.PathLike, backend: str = "sparse") -> LoadedModel:
    """Load ``model_path`` and build the classifier.

    Args:
        model_path: an exported ``.ltcn`` file.
        backend: ``sparse`` (Numba CSR engine, what the gateway runs), ``dense`` (Numba dense)
            or ``xla`` (the Flax reference model jitted by JAX on CPU).

    Returns:
        The loaded model.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    artifact, pre = load_model(model_path)
    if backend == "xla":
        from ltcn_jax.reference import flax_proba

        proba = flax_proba(artifact)
    else:
        engine = engine_model(artifact, backend)
        proba = lambda x: predict_proba_windows(engine, x)  # noqa: E731
    return LoadedModel(str(model_path), artifact, pre, proba, backend,
                       normal_index(pre.dataset, tuple(pre.classes)))


def classify_csv(model: LoadedModel, data: bytes, name: str = "body") -> Predictions:
    """Classify flow records given as CSV bytes (header + lines).

    The bytes are read by :func:`~ltcn_kernels.io.flows.read_flows_bytes` (every record
    classified, duplicates included, like ``classify_files``; records with NaN or infinite
    features are dropped and counted in ``table.drops``).

    Args:
        model: from :func:`load`.
        data: the CSV text.
        name: what error messages call the records.

    Returns:
        The predictions (``order`` = table rows in capture order, ``probs`` in that order).

    Raises:
        DataFormatError: unparseable records, naming ``name``, the line and the column.
    """
    table = read_flows_bytes(
        data, model.pre.dataset, name=name, drop_duplicates=False, unknown_label="keep",
        chunk_bytes=1 << 20,
    )
    return classify_table(model.artifact, model.pre, table, model.proba)


def p_attack(model: LoadedModel, probs: np.ndarray) -> np.ndarray:
    """P(attack) = 1 - P(normal) per row (1 where the dataset has no normal class)."""
    if model.normal is None:
        return np.ones(len(probs))
    return 1.0 - probs[:, model.normal].astype(np.float64)


def response_body(model: LoadedModel, pred: Predictions, compute_ms: float, probs: bool) -> dict:
    """The JSON answer of ``/v1/detect`` (flows in input order)."""
    n = len(pred.order)
    by_row = np.empty_like(pred.probs)
    by_row[pred.order] = pred.probs
    names = np.asarray(model.classes, dtype=object)[by_row.argmax(axis=1)] if n else []
    body = {
        "flows": n,
        "classes": list(model.classes),
        "line": pred.table.line.tolist(),
        "class": list(names),
        "p_attack": [round(float(v), 6) for v in p_attack(model, by_row)],
        "dropped": dict(pred.table.drops),
        "compute_ms": round(compute_ms, 3),
    }
    if probs:
        body["probabilities"] = by_row.astype(np.float64).tolist()
    return body


def create_app(model_path: str | os.PathLike, *, backend: str = "sparse",
               max_body_mb: float = MAX_BODY_MB, warmup: bool = True):
    """The Starlette application serving ``model_path``.

    Args:
        model_path: an exported ``.ltcn`` file.
        backend: see :func:`load`.
        max_body_mb: largest accepted request body (413 above it).
        warmup: compile the engine (one dummy sequence) before serving.

    Returns:
        A Starlette app (an ASGI callable) with ``app.state.model`` set.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    model = load(model_path, backend)
    if warmup:
        spec = model.artifact.spec
        x = np.zeros((1, model.pre.width), np.float32)
        model.proba(np.ascontiguousarray(make_sequences(x, spec.sequence, spec.window)))
    lock = threading.Lock()
    limit = int(max_body_mb * (1 << 20))

    def _classify(data: bytes, probs: bool) -> dict:
        with lock:
            t0 = time.perf_counter()
            pred = classify_csv(model, data)
            ms = (time.perf_counter() - t0) * 1e3
        return response_body(model, pred, ms, probs)

    async def detect(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return JSONResponse({"error": f"body over {max_body_mb:g} MB"}, status_code=413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return JSONResponse({"error": f"body over {max_body_mb:g} MB"}, status_code=413)
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data.strip():
            return JSONResponse(
                {"error": "empty body: expected flow records as CSV text (header + lines)"},
                status_code=400,
            )
        probs = request.query_params.get("probs", "0").lower() in ("1", "true", "yes")
        try:
            body = await run_in_threadpool(_classify, data, probs)
        except DataFormatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)  # names "body"
        except UnicodeDecodeError as exc:
            return JSONResponse({"error": f"body is not text: {exc.reason}"}, status_code=400)
        return JSONResponse(body, headers={"Server-Timing": f"compute;dur={body['compute_ms']}"})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": Path(model.path).name, "backend": model.backend,
                             "dataset": model.pre.dataset, "classes": list(model.classes)})

    app = Starlette(routes=[Route("/v1/detect", detect, methods=["POST"]),
                            Route("/healthz", healthz, methods=["GET"])])
    app.state.model = model
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: ephemeral), for ``uvicorn.Server.run``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloud_edge.serving", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="an exported .ltcn file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: an ephemeral port")
    parser.add_argument("--backend", choices=BACKENDS, default="sparse")
    parser.add_argument("--max-body-mb", type=float, default=MAX_BODY_MB)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        print(
            "ltcn serve: error: needs uvicorn and starlette (pip install '.[serve]')",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_app(args.model, backend=args.backend, max_body_mb=args.max_body_mb)
    except (OSError, DataFormatError, ValueError) as exc:
        print(f"ltcn serve: error: {exc}", file=sys.stderr)
        return 2
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    # One JSON line on stdout: how a parent process learns the ephemeral port.
    print(
        json.dumps({"listening": [host, port], "pid": os.getpid(), "backend": args.backend}),
        flush=True,
    )
    config = uvicorn.Config(app, log_level=args.log_level, access_log=args.access_log,
                            timeout_keep_alive=60)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
