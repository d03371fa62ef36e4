"""Pruning structure: ``"unstructured"`` (single weights, the default) or ``"block"``.

A **block** is ``block`` consecutive OUTPUT channels at one input position of a kernel: for
a Flax conv kernel ``(k, c_in, c_out)`` the weights ``w[tap, c, block*b : block*(b+1)]``. The
engine stores that kernel as the ``c_out x (k * c_in)`` matrix with column ``tap * c_in + c``
(`ltcn_kernels.engine.csr.kernel_matrix`), so a block is ``block`` consecutive rows of one
column: with ``block = 4`` the 1x4 shape of XNNPACK's 32x4 sparse micro-kernels. Any kernel
with the output channels on its LAST axis is blocked the same way (the dense head
``(c_in, c_out)`` included).

Scores are computed per block, blocks are ranked like single weights are in the unstructured
criteria, and the kept/pruned decision is expanded back to an element mask of the kernel's
shape, so the masks stay ordinary element masks and the masked optimizer, fine-tuning and the
files on disk are the same for both structures.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

STRUCTURES = ("unstructured", "block")
DEFAULT_BLOCK = 4


def check_structure(structure: str, block: Any = DEFAULT_BLOCK) -> None:
    """``ValueError`` for an unknown structure (listing the options) or a bad block size."""
    if structure not in STRUCTURES:
        raise ValueError(f"unknown pruning structure {structure!r}; options: {list(STRUCTURES)}")
    if structure == "block":
        try:
            size = operator.index(block)
        except TypeError:
            raise ValueError(f"pruning block size must be an integer, got {block!r}") from None
        if isinstance(block, bool) or size < 1:
            raise ValueError(f"pruning block size must be >= 1, got {block!r}")


def _layout(shape: tuple[int, ...], block: int) -> tuple[int, int, int]:
    """``(positions, c_out, blocks per position)`` of a kernel: every axis but the last is an
    input position, the last holds the output channels."""
    c_out = shape[-1] if shape else 1
    positions = math.prod(shape[:-1]) if shape else 1
    return positions, c_out, -(-c_out // block)


def block_sizes(shape: tuple[int, ...], block: int) -> np.ndarray:
    """Weights in each block of a kernel, in block order (position-major): ``block``, except
    the last block of each position when ``c_out`` is not a multiple of ``block``."""
    positions, c_out, n_blocks = _layout(shape, block)
    sizes = np.full(n_blocks, block, np.int32)
    sizes[-1] = c_out - (n_blocks - 1) * block
    return np.tile(sizes, positions)


def block_scores(w: jax.Array, prev: jax.Array | None, block: int) -> jax.Array:
    """One score per block (flat, position-major): the RMS of its weights; -1 for a block
    holding an already-pruned weight, so it ranks first (monotone masks).

    The RMS is the L2 norm divided by ``sqrt(weights in the block)``. For full blocks that is
    the L2 norm over a constant, so they are ranked by their L2 norm exactly. L2 rather than
    the sum of ``|w|``: removing a block removes ``||w_block||^2`` of the layer's weight
    energy, the quantity magnitude pruning keeps small, and a block with one strong weight
    (the kernel really uses that input for some of those channels) outranks a block of many
    weak ones with the same sum. The partial last block (``c_out`` not a multiple of
    ``block``) is scored over the weights it has -- the zero padding adds nothing to the sum of
    squares -- and divided by the square root of ITS size: the same per-weight scale as the
    full blocks, so a short block is neither pruned first for being short (as the raw L2 norm
    would) nor protected. It also ranks blocks by energy removed per pruned weight, the greedy
    choice for removing the least energy at a given count of pruned weights.
    """
    positions, c_out, n_blocks = _layout(jnp.shape(w), block)
    pad = n_blocks * block - c_out
    w2 = jnp.reshape(w, (positions, c_out)).astype(jnp.float32)
    squares = jnp.pad(w2 * w2, ((0, 0), (0, pad))).reshape(positions, n_blocks, block)
    sizes = block_sizes(jnp.shape(w), block)[:n_blocks].astype(np.float32)
    score = jnp.sqrt(jnp.sum(squares, axis=-1) / sizes)
    if prev is not None:
        prev2 = jnp.reshape(prev, (positions, c_out))
        kept = jnp.pad(prev2, ((0, 0), (0, pad)), constant_values=True)
        score = jnp.where(kept.reshape(positions, n_blocks, block).all(axis=-1), score, -1.0)
    return jnp.ravel(score)


def keep_blocks(score: jax.Array, sizes: np.ndarray, n_zeros: Any) -> jax.Array:
    """Keep all but the lowest-scoring blocks; as many of those as brings the count of pruned
    WEIGHTS closest to ``n_zeros`` (on a tie the fewer blocks: never over-prune). Ties between
    equal scores: the earlier block is pruned first (stable argsort).

    With every block of ``block`` weights the count is within ``block / 2`` of ``n_zeros``;
    with partial blocks too, since each step adds at most ``block`` weights.
    """
    order = jnp.argsort(score, stable=True)
    pruned = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(jnp.asarray(sizes)[order])])
    k = jnp.argmin(jnp.abs(pruned - n_zeros))  # first minimum: the fewer blocks on a tie
    ranks = jnp.zeros_like(order).at[order].set(jnp.arange(score.size, dtype=order.dtype))
    return ranks >= k


def expand_blocks(keep: jax.Array, shape: tuple[int, ...], block: int) -> jax.Array:
    """A flat per-block keep vector as the element mask of a kernel of ``shape``."""
    positions, c_out, n_blocks = _layout(shape, block)
    rows = jnp.repeat(jnp.reshape(keep, (positions, n_blocks)), block, axis=1)[:, :c_out]
    return rows.reshape(shape)
