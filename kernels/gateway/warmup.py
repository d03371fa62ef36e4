"""``ltcn warmup``: compile (or load from Numba's on-disk cache) every kernel ``ltcn detect``
and ``ltcn predict`` will call for a model, before the first flow arrives.

The first start of the gateway otherwise compiles inside its first micro-batch: 89 s on one x86
core (``results/bench/compile.md``), minutes on a Pi. :func:`warm_up` runs the record reader on a one-record sample and each
engine mode on zero inputs -- the same argument types the gateway uses, so the same compiled
specialisations -- and returns the seconds it took. Run it at install time or from the unit's
``ExecStartPre=`` to fill ``NUMBA_CACHE_DIR``; ``ltcn detect`` also calls it before reading and
reports the time as ``compile_s``, never as per-flow latency.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..engine import warmup as engine_warmup
from ..io.flows import read_flows_bytes
from ..io.pcap import header_line
from ..pipeline import BACKENDS, LoadedModel, load_model
from . import evetext
from .classifier import Classifier

# One BoT-IoT full-schema record (the layout the flow meter writes): parses through every
# reader kernel (numbers, time stamps, strings, empty fields, labels).
_SAMPLE = (
    "1,1526344121.188091,e,tcp,192.168.100.1,80,192.168.100.3,0x0303,4,240,CON,"
    "1526345317.184693,9,1195.996582,6e-06,2e-06,,,1.1e-05,4e-06,7e-06,,,,,2,2,120,120,"
    "0.002508,0.000836,0.000836,0,Normal,Normal"
)


def _read_sample() -> None:
    data = (header_line() + "\n" + _SAMPLE + "\n").encode()
    read_flows_bytes(data, "bot-iot", name="<warmup>", skip_bad_lines=True, drop_duplicates=False,
                     unknown_label="keep", chunk_bytes=1 << 20)


def _warm_engine(artifact, backend: str, mode: str) -> None:
    """Run a fresh classifier (the gateway's own state is never touched) on zero flows, in
    batches of one and of several flows as the gateway sends them, and each batch mode."""
    spare = Classifier(artifact, backend, mode)
    engine_warmup(spare.engine)
    zeros = np.zeros((3, spare.engine.n_features), np.float32)
    hosts = np.array(["0.0.0.1", "0.0.0.2", "0.0.0.1"], dtype=object)  # (per-host models)
    spare(zeros[:1], hosts[:1])
    spare(zeros, hosts)


def warm_up(model: str | os.PathLike | LoadedModel, backends=("sparse",), mode: str = "auto") -> dict:
    """Compile or load the kernels for ``model`` (a ``.ltcn`` path, or the loaded model,
    which is used as it is: nothing is read again).

    Returns ``{"seconds", "backends", "cache_dir"}``: the wall time, the engines warmed and
    where Numba keeps the compiled code (``None``: beside the package or in ``~/.cache``).
    """
    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f"unknown backend {b!r}; expected one of {', '.join(BACKENDS)}")
    t0 = time.perf_counter()
    artifact, _ = load_model(model)
    _read_sample()
    evetext.warm_up()  # the alert writer's number and timestamp kernels
    for backend in backends:
        _warm_engine(artifact, backend, mode)
    return {"seconds": round(time.perf_counter() - t0, 3), "backends": list(backends),
            "cache_dir": os.environ.get("NUMBA_CACHE_DIR")}
