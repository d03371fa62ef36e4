"""The runtimes ``ltcn bench`` adds to the edge benchmark's (:mod:`ltcn_kernels.bench.runtimes`)
because they need the training install: ``xla`` (jax.jit of the Flax model on CPU),
``onnxruntime`` (the ONNX graph of :mod:`ltcn_jax.onnx_export`) and ``sparse-1x4`` (the sparse
engine on 1x4-block-pruned weights); and `bench_model`, one model timed with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.bench.fairness import PeakProbe, check_fair
from ltcn_kernels.bench.measure import run_bench
from ltcn_kernels.bench.runtimes import RUNTIMES, Runtime, Workload, engine_runtime

BLOCK_RUNTIME = "sparse-1x4"  # the sparse engine on 1x4-block-pruned weights


def _windowed(x: np.ndarray, rf: int) -> np.ndarray:
    """Zero history in front of the stream: window i = flows i-rf+1..i (causal zero pad)."""
    return np.concatenate([np.zeros((rf - 1, x.shape[1]), np.float32), x])


def xla_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    import jax
    import jax.numpy as jnp

    from ..models import LTCN
    from ..reference import unflatten

    params = jax.tree_util.tree_map(jnp.asarray, unflatten(dict(flat)))
    last = jax.jit(lambda p, x: LTCN.from_arch(arch).apply({"params": p}, x))
    seq = jax.jit(lambda p, x: LTCN.from_arch(arch, return_sequence=True).apply({"params": p}, x))
    x = wl.x
    nbytes = int(sum(np.asarray(v).nbytes for v in flat.values()))
    macs = arch.macs_per_step()
    if wl.mode == "flows":
        xs = jnp.asarray(x[None])
        xp = _windowed(x, wl.receptive_field)
        rf = wl.receptive_field
        wins = [jnp.asarray(xp[None, i : i + rf]) for i in range(x.shape[0])]

        def batch():
            return np.asarray(seq(params, xs).block_until_ready())[0]

        def step(i):
            return np.asarray(last(params, wins[i]).block_until_ready())[0]

        batch(), step(0)
        return Runtime("xla", batch, step, lambda: None,
                          f"window recompute ({rf} flows per new flow)", nbytes, macs)
    xs = jnp.asarray(x)
    ones = [jnp.asarray(x[i : i + 1]) for i in range(x.shape[0])]

    def batch_w():
        return np.asarray(last(params, xs).block_until_ready())

    def step_w(i):
        return np.asarray(last(params, ones[i]).block_until_ready())[0]

    batch_w(), step_w(0)
    return Runtime("xla", batch_w, step_w, lambda: None, "one record per call", nbytes, macs)


def onnx_runtime(flat, arch: LTCNArch, wl: Workload, threads: int) -> Runtime:
    import onnxruntime as ort

    from ..onnx_export import build_onnx

    model = build_onnx(flat, arch)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting pool
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = wl.x
    nbytes = int(sum(np.asarray(v).nbytes for v in flat.values()))
    macs = arch.macs_per_step()
    if wl.mode == "flows":
        xs = x[None]
        rf = wl.receptive_field
        xp = _windowed(x, rf)
        wins = [np.ascontiguousarray(xp[None, i : i + rf]) for i in range(x.shape[0])]

        def batch():
            return sess.run(["logits_seq"], {"x": xs})[0][0]

        def step(i):
            return sess.run(["logits"], {"x": wins[i]})[0][0]

        batch(), step(0)
        return Runtime("onnxruntime", batch, step, lambda: None,
                          f"window recompute ({rf} flows per new flow)", nbytes, macs)
    ones = [x[i : i + 1] for i in range(x.shape[0])]
    return Runtime(
        "onnxruntime", lambda: sess.run(["logits"], {"x": x})[0],
        lambda i: sess.run(["logits"], {"x": ones[i]})[0][0], lambda: None,
        "one record per call", nbytes, macs,
    )


def extra_runtimes(
    flat, arch: LTCNArch, wl: Workload, threads: int
) -> tuple[list[Runtime], dict[str, str]]:
    out, skipped = [], {}
    try:
        import jax  # noqa: F401

        out.append(xla_runtime(flat, arch, wl, threads))
    except ImportError as exc:
        skipped["xla"] = f"jax not installed ({exc})"
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        out.append(onnx_runtime(flat, arch, wl, threads))
    except ImportError as exc:
        skipped["onnxruntime"] = (f"onnx/onnxruntime not installed ({exc}); "
                                  "pip install 'ltcn[bench]'")
    return out, skipped


def bench_model(flat, arch, *, label: Mapping, batch: int, threads: int, repeats: int,
                warmup: int, stream_flows: int, watts: float, art_bytes: int | None,
                only: Sequence[str] = RUNTIMES, peak: PeakProbe | float | None = None,
                block_flat: Mapping[str, np.ndarray] | None = None, power=None,
                power_seconds: float = 5.0, power_interval: float = 0.01) -> dict:
    """One model, every runtime; given ``peak`` (a :class:`~ltcn_kernels.bench.fairness.PeakProbe`
    or GFLOP/s), ``pct_peak`` is filled in and the fairness check runs on the spot (raising
    :class:`~ltcn_kernels.bench.fairness.UnfairBenchmark`), so a sweep fails at its first
    unfair model rather than at the end. ``block_flat``: the same init pruned in 1x4 blocks,
    timed as one more runtime (``sparse-1x4``) of the same report."""
    extra = extra_runtimes
    if block_flat is not None:
        only = (*only, BLOCK_RUNTIME)

        def extra(flat_, net, wl, threads_):
            out, skipped = extra_runtimes(flat_, net, wl, threads_)
            return [*out, block_runtime(block_flat, net, wl)], skipped

    rep = run_bench(flat, arch, batch=batch, threads=threads, repeats=repeats, warmup=warmup,
                       stream_flows=stream_flows, watts=watts, extra_runtimes=extra,
                       only=only, artifact_bytes=art_bytes, label=label, peak=peak,
                       power=power, power_seconds=power_seconds, power_interval=power_interval)
    for r in rep["runtimes"]:
        if r["runtime"] == BLOCK_RUNTIME:  # other weights: its output is not comparable
            r["weights"] = "random init, 1x4-block magnitude-pruned"
            r["max_abs_diff_vs_first"] = None
    rep["max_abs_diff"].pop(BLOCK_RUNTIME, None)
    if peak is not None:
        check_fair(rep["runtimes"], peak, threads)
    return rep


def block_runtime(block_flat, arch: LTCNArch, wl: Workload) -> Runtime:
    """The sparse engine on 1x4-block-pruned weights, timed in the same report (interleaved
    with the other runtimes on the same inputs) as runtime ``sparse-1x4``."""
    from ltcn_kernels.engine import EngineModel
    from ltcn_kernels.engine import warmup as engine_warmup

    model = EngineModel.from_arch(arch, block_flat, format="sparse")
    engine_warmup(model)
    return engine_runtime(BLOCK_RUNTIME, model, wl)
