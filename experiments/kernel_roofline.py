"""Why the sparse engine is as fast as it is: one conv layer, the engine's own layer code, the
row kernel (unstructured weights) against the group kernel (1x4 blocks, and dense), with the
loads per FMA read off the generated machine code and the achieved GFLOP/s against this
core's measured FMA peak and a dense GEMM (OpenBLAS through numpy) on the same layer.

    python experiments/kernel_roofline.py --core 1 --out results/bench

Writes ``roofline.md`` and ``roofline.json``. Pinned to one core before numpy loads; medians
of interleaved rounds; every kernel's output checked against numpy first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

P = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
P.add_argument("--core", type=int, default=1)
P.add_argument("--out", default="results/bench")
P.add_argument("--rounds", type=int, default=15)
ARGS = P.parse_args()
os.sched_setaffinity(0, {ARGS.core})
for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from ltcn_kernels.arch import LTCNArch  # noqa: E402
from ltcn_kernels.bench.machine import fma_peak_gflops, fma_probe_info, machine_info  # noqa: E402

# A roofline of the engine's raw kernels: this script calls the private kernel modules on
# purpose (below the public EngineModel API, which it measures against); nothing else outside
# the engine does.
from ltcn_kernels.engine import EngineModel, _tiles  # noqa: E402
from ltcn_kernels.engine import _kernels as K  # noqa: E402

T, K_SIZE, DIL = 1024, 3, 4


def layer_model(channels: int, sparsity: float, structure: str, fmt: str, rng):
    """A one-conv L-TCN whose first layer is ``channels -> channels``, k = 3, d = 4."""
    arch = LTCNArch(n_features=channels, num_classes=2, channels=[channels], dilations=[DIL],
                    kernel_size=K_SIZE)
    flat = {p: rng.standard_normal(s).astype(np.float32) for p, s in arch.param_shapes().items()}
    w = flat["block_0/conv_0/kernel"]  # (k, c_in, c_out)
    if structure == "block":
        keep = rng.random((*w.shape[:-1], w.shape[-1] // 4)) >= sparsity
        w *= np.repeat(keep, 4, axis=-1)
    else:
        w *= rng.random(w.shape) >= sparsity
    return EngineModel.from_arch(arch, flat, format=fmt), w


def run_layer(model, src, dst, tile):
    offsets, groups = model._tile_layout
    P_ = K_SIZE * DIL - DIL
    K._layer(model.meta, 0, model.values, model.indices, model.indptr, model.bias, model.dense,
             offsets, groups, tile, src, dst, 1, P_ + T, P_, T, 0, True, True, False)


def inner_loop_counts(fn) -> dict:
    """FMAs and loads per pass of the innermost loop of a compiled tile kernel (the loop block
    with the most FMAs; LLVM may unroll it, so read the ratio)."""
    # Numba does not show the machine code of cache-loaded functions: compile the same source
    # with the same options again, for the argument types the engine passes.
    fresh = njit(fastmath={"contract"})(fn.py_func)
    rows = np.zeros(8, np.int64)
    fresh(np.zeros(64, np.float32), np.zeros(64, np.uint32), rows, rows + 4,
          np.zeros(4096, np.float32), np.zeros((8, 256), np.float32), 0, 8, np.uint64(0),
          np.zeros(8, np.float32), 0, True, True)
    asm = fresh.inspect_asm(fresh.signatures[0])
    blocks = re.split(r"\n(?=\.LBB\d+_\d+:)", asm)

    def is_loop(block: str) -> bool:  # it jumps back to its own label
        label = block.split(":", 1)[0].strip()
        jumps = re.findall(r"\n\s*j\w+\s+(\.LBB\d+_\d+)", block)
        return label in jumps

    def body(block: str) -> str:  # from the label to the last jump back to it
        label = block.split(":", 1)[0].strip()
        return block[: block.rindex(label) + len(label)]

    best = max((body(b) for b in blocks if is_loop(b)), key=lambda b: b.count("vfmadd"))
    lines = [ln.strip() for ln in best.splitlines() if ln.strip() and not ln.strip().startswith(".")]
    fma = [ln for ln in lines if ln.startswith("vfmadd")]
    loads = [ln for ln in lines if re.match(r"(vmov\w*|vbroadcast\w*|mov\w*)\s+-?\d*\(", ln)
             or (ln.startswith("vfmadd") and "(" in ln)]
    return {"fma": len(fma), "loads": len(loads), "instructions": len(lines),
            "vector_bits": 512 if "zmm" in best else 256 if "ymm" in best else 128}


def main() -> None:
    rng = np.random.default_rng(0)
    peak = fma_peak_gflops()
    rows, cases = [], []
    for channels in (64, 352):
        for label, sparsity, structure, fmt in [("dense (group kernel)", 0.0, "none", "dense"),
                                                 ("unstructured 60 % (row kernel)", 0.6, "u", "sparse"),
                                                 ("1x4 blocks 60 % (group kernel)", 0.6, "block", "sparse"),
                                                 ("unstructured 90 % (row kernel)", 0.9, "u", "sparse"),
                                                 ("1x4 blocks 90 % (group kernel)", 0.9, "block", "sparse")]:
            model, w = layer_model(channels, sparsity, structure, fmt, rng)
            P_ = K_SIZE * DIL - DIL
            src = np.zeros((channels, P_ + T + K.SLACK), np.float32)
            src[:, P_:P_ + T] = rng.standard_normal((channels, T))
            dst = np.zeros_like(src)
            tile = np.empty(channels * (K.TILE_WIDTH + P_), np.float32)
            run_layer(model, src, dst, tile)
            x = np.concatenate([src[:, P_ - (K_SIZE - 1 - t) * DIL:][:, :T] for t in range(K_SIZE)])
            mat = w.transpose(2, 0, 1).reshape(channels, -1)
            ref = np.maximum(mat @ x + model.bias[:channels, None], 0)
            err = float(np.abs(dst[:channels, P_:P_ + T] - ref).max())
            assert err < 1e-3, (label, err)
            cases.append((channels, label, model, src, dst, tile, int(np.count_nonzero(mat))))
        gemm_w = rng.standard_normal((channels, K_SIZE * channels)).astype(np.float32)
        gemm_x = rng.standard_normal((K_SIZE * channels, T)).astype(np.float32)
        cases.append((channels, "numpy GEMM (OpenBLAS, dense, im2col given)", None, gemm_w, gemm_x,
                      None, gemm_w.size))
    times = {i: [] for i in range(len(cases))}
    for _ in range(ARGS.rounds):
        for i, (_, _, model, a, b, tile, _) in enumerate(cases):
            t0 = time.perf_counter()
            if model is None:
                a @ b
            else:
                run_layer(model, a, b, tile)
            times[i].append(time.perf_counter() - t0)
    for i, (channels, label, _, _, _, _, macs) in enumerate(cases):
        t = float(np.median(times[i]))
        g = 2 * macs * T / t / 1e9
        rows.append({"channels": channels, "kernel": label, "ms": round(t * 1e3, 4),
                     "gflops": round(g, 2), "pct_peak": round(100 * g / peak, 1)})
    asm = {name: inner_loop_counts(getattr(_tiles, name))
           for name in (f"rows_tile_tw{K.TILE_WIDTH}", f"groups_tile_tw{K.GROUP_TILE_WIDTH}")}
    doc = {"command": "python " + " ".join(sys.argv), "peak_gflops": round(peak, 1),
           "fma_probe": fma_probe_info(), "machine": machine_info()["cpu"], "T": T,
           "layer": f"c -> c, k = {K_SIZE}, d = {DIL}, {T} columns", "rows": rows,
           "inner_loops": asm, "tile_width": K.TILE_WIDTH, "group_tile_width": K.GROUP_TILE_WIDTH}
    out = Path(ARGS.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "roofline.json").write_text(json.dumps(doc, indent=1))
    lines = ["# One conv layer: row kernel vs group kernel vs dense GEMM", "",
             f"Command: `{doc['command']}`  ", f"Machine: {doc['machine']}; one core, pinned; "
             f"measured FMA peak {doc['peak_gflops']} GFLOP/s ({doc['fma_probe']}).  ",
             f"Layer: {doc['layer']}; the engine's own `_layer` code; medians of {ARGS.rounds} "
             "interleaved rounds; GFLOP/s count only the stored (non-zero) multiply-adds.", "",
             "| channels | kernel | ms | GFLOP/s | % of peak |", "|---|---|---|---|---|"]
    lines += [f"| {r['channels']} | {r['kernel']} | {r['ms']} | {r['gflops']} | {r['pct_peak']} |"
              for r in rows]
    lines += ["", "Inner loop of each tile kernel, read off `inspect_asm` (the basic block with the "
              "most FMAs; loads include FMAs with a memory operand, broadcasts and the offset load):",
              "", "| kernel | vector bits | FMAs | loads | instructions | loads per FMA |",
              "|---|---|---|---|---|---|"]
    lines += [f"| `{n}` | {c['vector_bits']} | {c['fma']} | {c['loads']} | {c['instructions']} | "
              f"{c['loads'] / max(c['fma'], 1):.2f} |" for n, c in asm.items()]
    (out / "roofline.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
