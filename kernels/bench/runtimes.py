"""The benchmark's inputs and its runtimes table: the model read from a ``.ltcn`` file, the
seeded workload it classifies, and each way of running it (:class:`Runtime`: the engine on CSR
or dense weights, and the plain NumPy forward of :mod:`.reference`). ``ltcn bench``
(:mod:`ltcn_jax.bench`) adds ``xla`` and ``onnxruntime`` rows built the same way."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import engine as E
from ..arch import LTCNArch, is_conv_kernel
from ..engine import FORMATS, EngineModel
from ..engine import warmup as engine_warmup
from ..engine.artifact import dense_params, read_artifact
from ..features.preprocess import Preprocessor
from .reference import NumpyLTCN

# The engine formats (`ltcn_kernels.engine.FORMATS`), the NumPy reference, then the runtimes
# that only `ltcn bench` (the training install) adds.
RUNTIMES = ("sparse", "dense", "numpy", "xla", "onnxruntime")


# --------------------------------------------------------------------------- model helpers


def arch_of(artifact) -> dict:
    """The model's architecture entry as read and validated when the file was loaded: the
    spec's (:meth:`~ltcn_kernels.spec.ModelSpec.to_dict`: the network plus how data is fed),
    or the network's alone for a bare weights file."""
    return (artifact.spec or artifact.arch).to_dict()


def load_flat(path: str) -> tuple[dict, dict, int]:
    """A ``.ltcn`` file's dense weights, architecture dict (:func:`arch_of`; a features-mode
    model also gets ``time_steps``, its preprocessed record width) and size in bytes."""
    art = read_artifact(path)
    arch = arch_of(art)
    if arch.get("sequence") == "features":
        arch["time_steps"] = Preprocessor.from_dict(art.manifest["preprocess"], path).width
    return dense_params(art), arch, os.path.getsize(path)


def nonzero_macs(flat: Mapping[str, np.ndarray], arch: LTCNArch) -> int:
    """Multiply-adds per step that a sparse kernel cannot skip: the non-zero weights."""
    return int(sum(np.count_nonzero(flat[layer.kernel_path]) for layer in arch.layers
                   if layer.kernel_shape is not None))


def conv_sparsity(flat: Mapping[str, np.ndarray]) -> float:
    ks = [v for p, v in flat.items() if is_conv_kernel(p)]
    size = sum(v.size for v in ks)
    return 1.0 - sum(np.count_nonzero(v) for v in ks) / max(size, 1)


# --------------------------------------------------------------------------- runtimes


@dataclass
class Runtime:
    """One way of running the model on the benchmark's inputs.

    ``batch()`` classifies the whole batch; ``step(i)`` classifies flow ``i`` as it arrives
    (after ``reset()``, flows are pushed in order 0, 1, ...); ``out_batch()`` gives the
    batch logits for the cross-check.
    """

    name: str
    batch: Callable[[], np.ndarray]
    step: Callable[[int], np.ndarray]
    reset: Callable[[], None]
    stream_mode: str
    weight_bytes: int
    executed_macs_per_step: int
    notes: str = ""
    # Set where a runtime computes fewer steps than steps_per_flow (the engine trims each
    # window to its last step's receptive field); else executed_macs_per_step * steps_per_flow.
    executed_macs_per_flow: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Workload:
    """The inputs: flows mode -> ``seq f32[batch, F]`` (one causal stream); features mode ->
    ``records f32[batch, T, 1]`` (independent sequences)."""

    mode: str
    x: np.ndarray
    receptive_field: int
    steps_per_flow: int  # time steps computed per classified flow in the batch

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])


def make_workload(arch: Mapping, batch: int, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    net = LTCNArch.from_dict(arch)
    rf, F = net.receptive_field, net.n_features
    if arch.get("sequence", "flows") == "features":
        T = int(arch["time_steps"])  # the preprocessed record width (see load_flat)
        # features mode: a record of W features is a 1-channel sequence of W steps
        x = rng.standard_normal((batch, T, F)).astype(np.float32)
        return Workload("features", x, rf, T)
    x = rng.standard_normal((batch, F)).astype(np.float32)
    return Workload("flows", x, rf, 1)


def engine_runtime(name: str, model, wl: Workload) -> Runtime:
    x = wl.x
    if wl.mode == "flows":
        stream = E.Stream(model, output="logits")
        return Runtime(
            name, lambda: E.logits_sequence(model, x), lambda i: stream.push(x[i]), stream.reset,
            "stream (Stream.push, one flow)", model.nbytes, model.nnz,
        )
    one = [x[i : i + 1] for i in range(x.shape[0])]
    return Runtime(
        name, lambda: E.logits_windows(model, x), lambda i: E.logits_windows(model, one[i]),
        lambda: None, "one record per call", model.nbytes, model.nnz,
        executed_macs_per_flow=E.executed_macs_per_window(model, x.shape[1]),
    )


def numpy_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    net = NumpyLTCN(flat, arch)
    x = wl.x
    if wl.mode == "flows":
        seq = x[None]
        rf = wl.receptive_field
        return Runtime(
            "numpy", lambda: net.forward(seq, last_only=False)[0],
            lambda i: net.forward(x[None, max(0, i - rf + 1) : i + 1], last_only=True)[0],
            lambda: None, f"window recompute ({rf} flows per new flow)", net.nbytes, net.macs,
        )
    return Runtime(
        "numpy", lambda: net.forward(x, last_only=True),
        lambda i: net.forward(x[i : i + 1], last_only=True)[0], lambda: None,
        "one record per call", net.nbytes, net.macs,
    )


def engine_runtimes(flat, arch: LTCNArch, wl: Workload, threads: int,
                    only: Sequence[str] = RUNTIMES) -> tuple[list[Runtime], dict]:
    """The numpy + numba runtimes (``sparse``, ``dense``: the engine formats; ``numpy``)."""
    out, skipped = [], {}
    for fmt in FORMATS:
        if fmt in only:
            model = EngineModel.from_arch(arch, flat, format=fmt)
            engine_warmup(model)
            out.append(engine_runtime(fmt, model, wl))
    if "numpy" in only:
        out.append(numpy_runtime(flat, arch, wl, threads))
    return out, skipped
