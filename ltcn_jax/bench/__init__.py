"""``ltcn bench``: the edge benchmark (:mod:`ltcn_kernels.bench`) plus the runtimes that need
the training install (``xla``: jax.jit of the Flax model on CPU; ``onnxruntime``: the ONNX
graph of :mod:`ltcn_jax.onnx_export`), the sparsity sweep, and the report (JSON, Markdown, PNG).

Sweep weights: a seeded random init of the architecture (numpy, Flax's default scale: kernels
N(0, 1/fan_in), biases 0), pruned layer by layer by magnitude with :mod:`ltcn_jax.pruning`'s
masks and default selection (the block kernels, residual 1x1 convs included; the head is kept
dense), so the sweep thins weights exactly as a pruned training run does. Latency
depends on the structure and the number of non-zeros, not on what the weights learned, so
random weights measure the same thing as trained ones; the trained runs in ``results/`` are
benchmarked too where they exist.

Fairness: every runtime runs in ONE process bound to one core before any library loads (the
CLI: ``--core``, :func:`ltcn_kernels.bench.machine.pin_threads`), with one thread in each
library (numba / OpenBLAS env vars, XLA's flags and affinity-sized pools, ONNX Runtime's
session options). Each runtime's CPU time / wall time, core and achieved GFLOP/s against the
FMA peak measured in the same run are recorded, and the run fails (exit 3) when one of them
shows more than one core at work (:func:`ltcn_kernels.bench.fairness.check_fair`).

Modules (private; import from ``ltcn_jax.bench``)
-------------------------------------------------
* ``_command``: `main_bench`, the command: measure, write the report, print its summary.
* ``_runtimes``: the ``xla``, ``onnxruntime`` and ``sparse-1x4`` runtimes; `bench_model`.
* ``_sweep``: the sweep's scales, random weights, magnitude pruning and `run_sweep`.
* ``_report``: the targets, the Markdown report and the plot.
"""

from ltcn_jax.bench._command import main_bench, source_state
from ltcn_jax.bench._report import PAPER, TARGET_RATIOS, evaluate_targets, plot, write_markdown
from ltcn_jax.bench._runtimes import (
    BLOCK_RUNTIME,
    bench_model,
    block_runtime,
    extra_runtimes,
    onnx_runtime,
    xla_runtime,
)
from ltcn_jax.bench._sweep import (
    BLOCK_SPARSITIES,
    SCALES,
    SPARSITIES,
    artifact_bytes,
    magnitude_prune,
    random_params,
    run_sweep,
    sweep_arch,
)

__all__ = [
    "BLOCK_RUNTIME",
    "BLOCK_SPARSITIES",
    "PAPER",
    "SCALES",
    "SPARSITIES",
    "TARGET_RATIOS",
    "artifact_bytes",
    "bench_model",
    "block_runtime",
    "evaluate_targets",
    "extra_runtimes",
    "magnitude_prune",
    "main_bench",
    "onnx_runtime",
    "plot",
    "random_params",
    "run_sweep",
    "source_state",
    "sweep_arch",
    "write_markdown",
    "xla_runtime",
]
