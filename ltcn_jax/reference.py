"""The Flax model run from an exported ``.ltcn`` file: the reference the edge engine must match."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ltcn_kernels.engine.artifact import Artifact, dense_params


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    """``{"block_0/conv_0/kernel": a}`` -> ``{"block_0": {"conv_0": {"kernel": a}}}``."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def flax_model(artifact: Artifact):
    """(LTCN module, params) rebuilt from an artifact's architecture and weights."""
    from .models import LTCN

    return LTCN.from_arch(artifact.arch), unflatten(dense_params(artifact))


def flax_proba(artifact: Artifact) -> Callable[[np.ndarray], np.ndarray]:
    """A function from ``(n, time, channels)`` float32 inputs to class probabilities."""
    import jax

    model, params = flax_model(artifact)

    @jax.jit
    def proba(x):
        return jax.nn.softmax(model.apply({"params": params}, x), axis=-1)

    return lambda x: np.asarray(proba(np.asarray(x, np.float32)))
