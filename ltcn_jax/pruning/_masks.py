"""Mask trees: which leaves are prunable, all-kept masks, applying masks, masks on disk.

A **mask tree** has the structure of the params: a ``bool`` array of the param's shape for
every PRUNABLE leaf (``True`` = kept, ``False`` = pruned) and ``None`` for every other leaf.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ltcn_jax import train
from ltcn_kernels.arch import kernel_predicate

Params = Any
#: Params-shaped tree: ``bool`` array (True = kept) on prunable leaves, ``None`` elsewhere.
Masks = Any


def is_none(x: Any) -> bool:
    return x is None


def path_str(path: Sequence[Any]) -> str:
    """``block_0/conv_0/kernel`` for a jax key path."""
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def prunable_mask_tree(
    params: Params,
    include_head: bool = False,
    include_residual: bool = True,
    *,
    patterns: Sequence[str] | None = None,
    predicate: Callable[[str], bool] | None = None,
) -> Any:
    """Which params may be pruned.

    Default (the L-TCN tree of `ltcn_jax.models`): every ``kernel`` under ``block_*`` (the
    dilated convolutions and, with ``include_residual``, the 1x1 residual convolutions), plus
    ``head/kernel`` when ``include_head``. Biases are NEVER prunable, whatever the selection
    says: they are few and pruning them shifts activations rather than removing work.

    Args:
        params: the param tree.
        include_head: also prune the dense head's kernel (default selection only).
        include_residual: also prune the 1x1 residual kernels (default selection only).
        patterns: ``fnmatch`` globs on the path string (e.g. ``"conv_*/kernel"`` for
            `HeavyCNN`); a leaf matching any of them is prunable. Replaces the default.
        predicate: ``predicate(path) -> bool`` on the path string; replaces the default
            (and is combined with ``patterns`` by OR when both are given).

    Returns:
        A tree of the structure of ``params`` with a Python ``bool`` per leaf.
    """
    if patterns is None and predicate is None:
        select = kernel_predicate(include_residual=include_residual, include_head=include_head)
    else:
        globs = tuple(patterns or ())

        def select(name: str) -> bool:
            by_glob = any(fnmatch.fnmatchcase(name, g) for g in globs)
            return by_glob or (predicate is not None and bool(predicate(name)))

    def leaf(path, _):
        name = path_str(path)
        return name.split("/")[-1] != "bias" and bool(select(name))

    return jax.tree_util.tree_map_with_path(leaf, params)


def init_masks(params: Params, prunable: Any | None = None) -> Masks:
    """All-kept masks (``True`` on prunable leaves, ``None`` elsewhere).

    Args:
        params: the param tree.
        prunable: tree of bools from `prunable_mask_tree` (default: its default selection).

    Returns:
        A mask tree with nothing pruned.
    """
    prunable = prunable_mask_tree(params) if prunable is None else prunable
    return jax.tree.map(
        lambda p, w: jnp.ones(jnp.shape(w), jnp.bool_) if p else None, prunable, params
    )


def masks_from(masks_or_prunable: Any, params: Params) -> Masks:
    """Accept a mask tree (array / None leaves) or a prunable tree (bool leaves)."""
    leaves = jax.tree.leaves(masks_or_prunable)
    if leaves and all(isinstance(x, bool) for x in leaves):
        return init_masks(params, masks_or_prunable)
    return masks_or_prunable


def apply_masks(tree: Params, masks: Masks) -> Params:
    """Zero the pruned entries of ``tree`` (params, gradients or updates).

    Args:
        tree: params-shaped tree.
        masks: mask tree (``None`` leaves are left untouched).

    Returns:
        ``tree`` with ``0`` wherever the mask is False (same dtypes).
    """

    def one(m, x):
        if m is None:
            return x
        return jnp.where(m, x, jnp.zeros((), jnp.result_type(x)))

    return jax.tree.map(one, masks, tree, is_leaf=is_none)


def as_bool_masks(masks: Masks) -> Masks:
    # One dtype everywhere (bool), so a swapped mask never changes an aval -> no retrace.
    return jax.tree.map(lambda m: jnp.asarray(m, dtype=jnp.bool_), masks)


def masks_to_numpy(masks: Masks) -> Masks:
    """Host (numpy ``bool``) copy of a mask tree."""
    return jax.tree.map(lambda m: np.asarray(m, dtype=bool), masks)


def save_masks(path: str | os.PathLike, masks: Masks) -> None:
    """Write masks as Flax msgpack (never pickle), atomically; ``None`` leaves are kept."""
    train.save_params(path, masks_to_numpy(masks))


def load_masks(path: str | os.PathLike, target: Masks) -> Masks:
    """Read masks written by `save_masks` into the structure of ``target`` (a mask tree)."""
    loaded = train.load_params(path, masks_to_numpy(target))
    return as_bool_masks(loaded)
