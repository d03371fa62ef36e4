"""Cold compile time of the engine: an empty Numba cache, then ``warmup`` (windows and
sequence kernels) and a ``Stream`` on the default-scale L-TCN, pinned to one core.

    NUMBA_CACHE_DIR=$(mktemp -d) python experiments/compile_time.py --core 1

Prints the import and warm-up seconds. Run it with a fresh ``NUMBA_CACHE_DIR`` each time (a
warm cache measures loading, not compiling).
"""

from __future__ import annotations

import argparse
import os
import time

P = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
P.add_argument("--core", type=int, default=1)
ARGS = P.parse_args()
os.sched_setaffinity(0, {ARGS.core})
t0 = time.perf_counter()

import numpy as np  # noqa: E402

from ltcn_kernels.arch import LTCNArch  # noqa: E402
from ltcn_kernels.engine import EngineModel, Stream, warmup  # noqa: E402

arch = LTCNArch(118, 5, channels=[16, 32, 64, 64])
rng = np.random.default_rng(0)
flat = {p: rng.standard_normal(s).astype(np.float32) for p, s in arch.param_shapes().items()}
model = EngineModel.from_arch(arch, flat, format="sparse")
t1 = time.perf_counter()
warmup(model)
Stream(model)
print(f"import {t1 - t0:.1f} s, warmup (windows + sequence + stream) {time.perf_counter() - t1:.1f} s")
