"""The sparsity sweep of ``ltcn bench --sweep``: seeded random weights at the sweep's scales,
pruned layer by layer by magnitude, every runtime timed at every sparsity, then the trained
runs of ``--runs`` beside them.

Sweep weights: a seeded random init of the architecture (numpy, Flax's default scale: kernels
N(0, 1/fan_in), biases 0), pruned layer by layer by magnitude with :mod:`ltcn_jax.pruning`'s
masks and default selection (the block kernels, residual 1x1 convs included; the head is kept
dense), so the sweep thins weights exactly as a pruned training run does. Latency depends on
the structure and the number of non-zeros, not on what the weights learned, so random weights
measure the same thing as trained ones.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.bench.fairness import PeakProbe
from ltcn_kernels.bench.measure import PI4_WATTS
from ltcn_kernels.bench.runtimes import conv_sparsity, load_flat

from ._runtimes import bench_model

SPARSITIES = (0, 40, 60, 80, 90, 95)
BLOCK = 4  # rows of the engine's group kernel
BLOCK_SPARSITIES = (60, 80, 90)  # where the sweep also measures 1x4-block-pruned weights

SCALES = {
    "default": {"channels": [16, 32, 64, 64]},
    "paper": {"channels": [192, 288, 352, 352]},
}

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
    from .. import pruning  # jax loads only when a sweep prunes, not when the module is read

    params = {path: np.asarray(w, np.float32) for path, w in flat.items()}
    masks = pruning.compute_masks(params, sparsity, structure=structure, block=BLOCK)
    return {path: np.array(w) for path, w in pruning.apply_masks(params, masks).items()}


def artifact_bytes(flat: Mapping[str, np.ndarray], arch: Mapping, fmt: str = "csr") -> int:
    """Size of the ``.ltcn`` file these weights export to (CSR conv kernels)."""
    from ltcn_kernels.engine.artifact import write_artifact

    from ..export import packed_arrays

    arrays, entries = packed_arrays(dict(flat), dict(arch), fmt)
    with tempfile.TemporaryDirectory() as tmp:
        return write_artifact(Path(tmp) / "m.ltcn", {"format": "ltcn-model",
                                                     "architecture": dict(arch), **entries}, arrays)


def trained_models(runs: Path, tmp: Path) -> list[tuple[str, str, dict, dict, int]]:
    """(scale label, run, flat, arch, artifact bytes) of the trained runs under ``runs``."""
    from ..export import export_run

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
