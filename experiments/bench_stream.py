"""Streaming latency: the ring-buffer ``Stream.push`` vs the old per-flow path, one pinned core.

Prints JSON. A 60 %-magnitude-pruned random L-TCN at the default scale (channels 16/32/64/64,
k=3, dilations 1/2/4/8, 2 convs per block, 118 features, 2 classes) classifies seeded random
flows one push at a time; reported per push: p50 / p99 / mean microseconds of

* ``stream``: the new :class:`ltcn_kernels.engine.Stream` (ring buffers, one compiled call);
* ``old_stream``: the previous implementation (``_kernels.run_sequence`` on one step with the
  history copied into and out of the padding columns), rebuilt here exactly as it was called;
* ``window_recompute_*``: the dense runtimes' way to classify a new flow (recompute the
  receptive field's window of 61 flows): the numpy reference and the dense Numba engine;

plus the breakdown asked for when a target is missed: an empty ``@njit`` call with the same
arguments, the step's MACs and the kernel time alone (the compiled loop over a micro-batch).

    python experiments/bench_stream.py [--core 1] [--flows 20000] [--sparsity 0.6]
"""

from __future__ import annotations

import argparse
import os
import sys

_THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _pin(core: int) -> None:
    """One core, one thread, before numpy / numba load."""
    for var in _THREAD_ENV:
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--flows", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=3000)
    ap.add_argument("--sparsity", type=float, default=0.6)
    ap.add_argument("--features", type=int, default=118)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recompute-flows", type=int, default=2000,
                    help="flows timed for the (slow) window-recompute runtimes")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = _args(argv)
    _pin(args.core)  # before numpy / numba load: every step imports them itself
    import json

    from ltcn_kernels import engine as E

    arch, flat, x = _random_model_and_flows(args)
    sparse = E.EngineModel.from_arch(arch, flat, format="sparse")
    dense = E.EngineModel.from_arch(arch, flat, format="dense")
    rows = [x[i] for i in range(args.flows)]  # the flows as the caller holds them
    report = _report_header(args, argv, arch, sparse)
    runs = report["runs"]
    runs.update(_time_new_stream(args, sparse, dense, x, rows))
    report["parity_stream_vs_logits_sequence"] = "bitwise equal (2000 flows)"
    runs["old_stream"] = _time_old_stream(args, sparse, rows)
    runs.update(_time_window_recompute(args, arch, flat, dense, x))
    _time_breakdown(args, arch, sparse, x, rows, report)
    report["summary"] = _summary(runs)
    print(json.dumps(report, indent=2))
    return 0


def _random_model_and_flows(args):
    """The seeded random L-TCN (magnitude-pruned to ``--sparsity``) and the flows."""
    import numpy as np

    from ltcn_kernels.arch import LTCNArch

    rng = np.random.default_rng(args.seed)
    arch = LTCNArch(args.features, args.classes)
    flat = {}
    for path, shape in arch.param_shapes().items():
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        w = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        if path.endswith("/kernel") and path != "head/kernel" and args.sparsity > 0:
            w[np.abs(w) < np.quantile(np.abs(w), args.sparsity)] = 0  # magnitude pruning
        flat[path] = w
    x = rng.standard_normal((args.flows, args.features)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0  # flow features have zeros (one-hot, unused counters)
    return arch, flat, x


def _timed(fn, n, warm) -> dict:
    """p50 / p99 / mean microseconds of ``fn(i)`` for i < n, after ``warm`` calls."""
    import time

    import numpy as np

    for i in range(warm):
        fn(i % n)
    ts = np.empty(n, np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(i)
        ts[i] = clock() - t0
    us = ts / 1e3
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean()), "n": int(n)}


def _report_header(args, argv, arch, sparse) -> dict:
    """The command, the machine and the model measured."""
    import platform

    return {
        "command": "python experiments/bench_stream.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "core": args.core},
        "model": {"channels": list(arch.channels), "dilations": list(arch.dilations),
                  "kernel_size": arch.kernel_size, "convs_per_block": arch.convs_per_block,
                  "features": args.features, "classes": args.classes,
                  "sparsity": args.sparsity, "receptive_field": arch.receptive_field,
                  "macs_per_step_sparse": sparse.macs_per_step(),
                  "macs_per_step_dense": arch.macs_per_step(),
                  "stream_state_floats": sparse.state_size},
        "runs": {},
    }


def _time_new_stream(args, sparse, dense, x, rows) -> dict:
    """The new Stream (sparse and dense models), parity with logits_sequence first."""
    import numpy as np

    from ltcn_kernels import engine as E

    runs = {}
    want = E.logits_sequence(sparse, x[:2000])
    for name, model in (("stream", sparse), ("stream_dense_model", dense)):
        st = E.Stream(model, output="logits")
        got = np.stack([st.push(x[i]) for i in range(2000)])
        st.reset()
        assert np.array_equal(got, want if model is sparse else E.logits_sequence(model, x[:2000]))
        st_p = E.Stream(model, output="proba")
        runs[name] = _timed(lambda i, st=st_p: st.push(rows[i]), args.flows, args.warmup)
    return runs


def _time_old_stream(args, sparse, rows) -> dict:
    """The old path: run_sequence on one step, history copied in and out of the padding."""
    import numpy as np

    # The raw kernel on purpose: this rebuilds the old call below the public API.
    from ltcn_kernels.engine import _kernels as K

    buf = np.zeros((3, sparse.c_max, sparse.pad_max + 256), np.float32)
    state = np.zeros(sparse.state_size, np.float32)
    one_args = sparse._args()
    tail = (state, buf, sparse.pad_max, True)
    F, C = sparse.n_features, sparse.n_classes

    def old_push(i):
        out = np.empty((1, C), np.float32)
        K.run_sequence(*one_args, rows[i].reshape(1, F), *tail, out)
        return out[0]

    return _timed(old_push, args.flows, args.warmup)


def _time_window_recompute(args, arch, flat, dense, x) -> dict:
    """Dense window recompute (what a stateless dense runtime does per new flow)."""
    import numpy as np

    from ltcn_kernels import engine as E
    from ltcn_kernels.bench.reference import NumpyLTCN

    rf = arch.receptive_field
    nrc = min(args.recompute_flows, args.flows)
    xp = np.concatenate([np.zeros((rf - 1, args.features), np.float32), x])
    wins = [np.ascontiguousarray(xp[None, i : i + rf]) for i in range(nrc)]
    net = NumpyLTCN(flat, arch)
    return {
        "window_recompute_numpy": _timed(lambda i: net.forward(wins[i], last_only=True),
                                         nrc, 200),
        "window_recompute_engine_dense": _timed(lambda i: E.logits_windows(dense, wins[i]),
                                                nrc, 200),
    }


def _time_breakdown(args, arch, sparse, x, rows, report) -> None:
    """Call overhead and arithmetic: an empty @njit call, the step called directly, the kernel
    alone in its compiled loop, and the batch path, into ``report``."""
    import time

    import numpy as np
    from numba import njit

    from ltcn_kernels import engine as E
    from ltcn_kernels.engine import _stream as S  # the stream kernel's parts, timed apart

    runs = report["runs"]

    @njit(cache=False)
    def empty4(a, b, c, d):
        return 0

    st = E.Stream(sparse, output="proba")
    ib, fb = st._args
    out1 = np.empty(sparse.n_classes, np.float32)
    runs["empty_njit_call_4_args"] = _timed(lambda i: empty4(ib, fb, rows[i], out1),
                                            args.flows, args.warmup)
    runs["stream_step_direct"] = _timed(lambda i: S.stream_step(ib, fb, rows[i], out1),
                                        args.flows, args.warmup)
    runs["stream_push_with_row_indexing"] = _timed(lambda i: st.push(x[i]), args.flows,
                                                   args.warmup)
    outm = np.empty((args.flows, sparse.n_classes), np.float32)
    S.stream_steps(ib, fb, x[:100], outm[:100])
    reps = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        S.stream_steps(ib, fb, x, outm)
        reps.append((time.perf_counter_ns() - t0) / args.flows / 1e3)
    kernel_us = min(reps)
    runs["kernel_only_in_compiled_loop"] = {"mean_us": kernel_us, "n": args.flows}
    # Multiply-adds the step really performs: dense columns over the non-zero inputs.
    report["arithmetic"] = {
        "kernel_us_per_flow": kernel_us,
        "sparse_gmacs_at_kernel_time": sparse.macs_per_step() / kernel_us / 1e3,
        "dense_gmacs_at_kernel_time": arch.macs_per_step() / kernel_us / 1e3,
    }
    t0 = time.perf_counter()
    E.logits_sequence(sparse, x)
    report["batch_logits_sequence_us_per_flow"] = (time.perf_counter() - t0) / args.flows * 1e6


def _summary(runs: dict) -> dict:
    """The headline: the new stream against the old path and the best dense recompute."""
    best_dense = min(runs["window_recompute_numpy"]["p50_us"],
                     runs["window_recompute_engine_dense"]["p50_us"])
    return {
        "stream_p50_us": runs["stream"]["p50_us"],
        "stream_p99_us": runs["stream"]["p99_us"],
        "old_stream_p50_us": runs["old_stream"]["p50_us"],
        "old_stream_p99_us": runs["old_stream"]["p99_us"],
        "speedup_p50_vs_old": runs["old_stream"]["p50_us"] / runs["stream"]["p50_us"],
        "best_measured_dense_window_recompute_p50_us": best_dense,
        "speedup_p50_vs_best_measured_dense_recompute": best_dense / runs["stream"]["p50_us"],
        "targets": {"p50_le_5us": runs["stream"]["p50_us"] <= 5,
                    "p99_le_25us": runs["stream"]["p99_us"] <= 25,
                    "ge_10x_dense_recompute": best_dense / runs["stream"]["p50_us"] >= 10},
    }


if __name__ == "__main__":
    raise SystemExit(main())
