"""Numba code-generation settings the engine's kernels are written for, in one place.

:func:`configure` runs first thing in ``ltcn_kernels/__init__.py``: Numba reads its CPU
features when it creates its CPU target, which happens at the first ``@njit`` of the process,
so this must come before any of our modules is imported.

* LLVM's SLP vectorizer on (Numba ships with it off): it packs the register-tile kernels'
  scalar accumulators (``engine/_tiles.py``) into vector registers. It reorders no arithmetic.
* On x86 CPUs with AVX-512, LLVM's ``prefer-256-bit`` tuning off: Intel server cores default to
  256-bit vectors, which halves the tile kernels' throughput (measured on this project's
  Emerald Rapids VM: 17.5 -> 36 GFLOP/s for a 64-channel layer at 60 % sparsity). The vector
  width changes no result: every element is the same fused multiply-add.

A user's own ``NUMBA_SLP_VECTORIZE`` or ``NUMBA_CPU_FEATURES`` wins; both are part of the
process environment, and the features are part of Numba's cache key, so cached machine code
always matches the settings it was compiled with.
"""

from __future__ import annotations

import os
import platform
import sys


def host_features():
    """LLVM's feature map of this CPU (None without llvmlite): the one place it is queried,
    for the vector-width setting below and the engine's tile width."""
    try:
        from llvmlite import binding
    except ImportError:  # numba (and so llvmlite) missing: nothing to configure
        return None
    return binding.get_host_cpu_features()


def has_avx512() -> bool:
    features = host_features()
    return features is not None and bool(features.get("avx512f", False))


def _wide_vector_features() -> str | None:
    """The host's feature string with ``-prefer-256-bit`` where that applies, else None."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not has_avx512():
        return None
    return host_features().flatten() + ",-prefer-256-bit"


def configure() -> None:
    """Set the environment (and Numba's config, if Numba is already imported)."""
    os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")
    if "NUMBA_CPU_FEATURES" not in os.environ:
        features = _wide_vector_features()
        if features is not None:
            os.environ["NUMBA_CPU_FEATURES"] = features
    if "numba" in sys.modules:  # too late for the CPU target; still right for later compiles
        from numba.core import config

        config.reload_config()
