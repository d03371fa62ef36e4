"""Magnitude criteria: `compute_masks` (layer-wise or global, exact counts) and `sparsity_report`.

Counts are exact: ``round(target * size)`` zeros per layer, or ``round(target * total)``
zeros overall; ties between equal magnitudes are broken by a stable argsort (earlier index
pruned first) so they never over-prune. Masks are monotone: a weight pruned once stays pruned
(a lower target than the current sparsity therefore leaves the mask unchanged).

With ``structure="block"`` the same criteria rank blocks of output channels (`_blocks`)
instead of single weights; the count of pruned weights is then the closest a whole number of
blocks gets to the target (within half a block).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ltcn_jax.pruning._blocks import (
    DEFAULT_BLOCK,
    block_scores,
    block_sizes,
    check_structure,
    expand_blocks,
    keep_blocks,
)
from ltcn_jax.pruning._masks import (
    Masks,
    Params,
    init_masks,
    is_none,
    masks_from,
    path_str,
    prunable_mask_tree,
)

CRITERIA = ("layerwise", "global")


def check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown pruning criterion {criterion!r}; options: {list(CRITERIA)}")


def _num_to_prune(sparsity: Any, size: int) -> Any:
    """``round(sparsity * size)``: a Python int for a concrete target, int32 when traced."""
    if isinstance(sparsity, jax.core.Tracer):
        return jnp.round(jnp.asarray(sparsity, jnp.float32) * size).astype(jnp.int32)
    s = float(sparsity)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {s}")
    return round(s * size)


def _scores(w: jax.Array, prev: jax.Array | None) -> jax.Array:
    """Flat ``|w|``, with -1 for already-pruned weights so they rank first (monotone)."""
    score = jnp.abs(jnp.ravel(w)).astype(jnp.float32)
    if prev is not None:
        score = jnp.where(jnp.ravel(prev), score, -1.0)
    return score


def _keep_from_scores(score: jax.Array, k: Any) -> jax.Array:
    """Keep all but the ``k`` smallest scores; ties: the earlier index is pruned first."""
    order = jnp.argsort(score, stable=True)
    ranks = jnp.zeros_like(order).at[order].set(jnp.arange(score.size, dtype=order.dtype))
    return ranks >= k


def compute_masks(
    params: Params,
    sparsity: float | jax.Array,
    *,
    criterion: str = "layerwise",
    prunable: Any | None = None,
    prev_masks: Masks | None = None,
    structure: str = "unstructured",
    block: int = DEFAULT_BLOCK,
) -> Masks:
    """Magnitude-pruning masks at ``sparsity``.

    Works eagerly and under ``jax.jit`` (``criterion``, ``prunable``, ``structure`` and
    ``block`` static; a traced ``sparsity`` rounds ``sparsity * size`` in float32).

    Args:
        params: current params (magnitudes are taken from them).
        sparsity: target fraction of zeros in ``[0, 1]``.
        criterion: ``"layerwise"``: ``round(sparsity * size)`` zeros in every prunable layer;
            ``"global"``: ``round(sparsity * total)`` zeros over all prunable layers, the
            smallest magnitudes anywhere.
        prunable: tree of bools (`prunable_mask_tree`); default: its default selection.
            Ignored when ``prev_masks`` is given (their ``None`` leaves decide).
        prev_masks: current masks; pruned weights stay pruned (monotone). If more weights are
            already pruned than the target asks for, the mask is returned unchanged.
        structure: ``"unstructured"`` (single weights, the default) or ``"block"``: whole
            blocks of ``block`` consecutive output channels (last axis) at one input
            position, scored by their RMS (see `_blocks.block_scores`); the mask is the
            element mask those blocks expand to. The achieved count is the closest whole
            number of blocks to the target (within ``block / 2`` weights per layer for
            ``layerwise``, overall for ``global``). A block holding a weight pruned in
            ``prev_masks`` ranks first, so block-structured previous masks stay block-
            structured.
        block: weights per block (output channels), for ``structure="block"``.

    Returns:
        The new mask tree.

    Raises:
        ValueError: unknown ``criterion`` or ``structure`` (the message lists the options), a
            block size below 1, or a sparsity outside ``[0, 1]``.
    """
    check_criterion(criterion)
    check_structure(structure, block)
    if prev_masks is None:
        prev_masks = init_masks(params, prunable)
    # One flat list over the mask tree (None leaves included) and the params beside it.
    treedef = jax.tree.structure(prev_masks, is_leaf=is_none)
    prev_flat = treedef.flatten_up_to(prev_masks)
    w_flat = treedef.flatten_up_to(params)
    idx = [i for i, m in enumerate(prev_flat) if m is not None]
    if structure == "block":
        keeps = _block_keeps([w_flat[i] for i in idx], [prev_flat[i] for i in idx], sparsity,
                             criterion, int(block))
        return _combine(treedef, prev_flat, w_flat, idx, keeps)
    scores = [_scores(w_flat[i], prev_flat[i]) for i in idx]
    if criterion == "layerwise":
        keeps = [_keep_from_scores(s, _num_to_prune(sparsity, s.size)) for s in scores]
    elif scores:
        # Global: one ranking over the concatenation (leaf order, then index, breaks ties).
        total = sum(s.size for s in scores)
        keep_all = _keep_from_scores(jnp.concatenate(scores), _num_to_prune(sparsity, total))
        keeps = jnp.split(keep_all, np.cumsum([s.size for s in scores])[:-1].tolist())
    else:
        keeps = []
    return _combine(treedef, prev_flat, w_flat, idx, keeps)


def _combine(treedef: Any, prev_flat: list, w_flat: list, idx: list[int], keeps: list) -> Masks:
    """The new mask tree: each prunable leaf's flat ``keep`` and-ed with its previous mask."""
    out = list(prev_flat)
    for i, keep in zip(idx, keeps, strict=True):
        # `& prev` keeps monotonicity even when fewer zeros are asked for than already exist.
        out[i] = (jnp.ravel(keep) & jnp.ravel(prev_flat[i])).reshape(jnp.shape(w_flat[i]))
    return jax.tree.unflatten(treedef, out)


def _block_keeps(
    weights: list, prevs: list, sparsity: Any, criterion: str, block: int
) -> list[jax.Array]:
    """Element keep masks (kernel-shaped) of ``structure="block"`` for each prunable leaf."""
    shapes = [tuple(jnp.shape(w)) for w in weights]
    scores = [block_scores(w, m, block) for w, m in zip(weights, prevs, strict=True)]
    sizes = [block_sizes(shape, block) for shape in shapes]
    if criterion == "layerwise":
        keeps = [keep_blocks(s, n, _num_to_prune(sparsity, math.prod(shape)))
                 for s, n, shape in zip(scores, sizes, shapes, strict=True)]
    elif scores:
        # Global: one ranking of all blocks (leaf order, then block index, breaks ties).
        total = sum(math.prod(shape) for shape in shapes)
        keep_all = keep_blocks(jnp.concatenate(scores), np.concatenate(sizes),
                               _num_to_prune(sparsity, total))
        keeps = jnp.split(keep_all, np.cumsum([s.size for s in scores])[:-1].tolist())
    else:
        keeps = []
    return [expand_blocks(k, shape, block) for k, shape in zip(keeps, shapes, strict=True)]


def _counts(x: Any) -> dict[str, Any]:
    size = int(np.size(x))
    zeros = int(np.count_nonzero(np.asarray(x) == 0))
    return {"size": size, "zeros": zeros, "sparsity": zeros / size if size else 0.0}


def sparsity_report(params: Params, masks_or_prunable: Any | None = None) -> dict[str, Any]:
    """Zeros per layer and in total (JSON-serialisable: only str, int, float, bool).

    Args:
        params: param tree (zeros are counted in the params themselves).
        masks_or_prunable: a mask tree (``None`` = not prunable) or a tree of bools from
            `prunable_mask_tree`; default: the default prunable selection.

    Returns:
        ``{"layers": {path: {"size", "zeros", "sparsity", "prunable"}}, "prunable": {"size",
        "zeros", "sparsity"}, "all": {...}}`` where ``"prunable"`` sums the prunable layers
        and ``"all"`` every parameter (biases and head included).
    """
    params = jax.device_get(params)
    masks = masks_from(
        prunable_mask_tree(params) if masks_or_prunable is None else masks_or_prunable, params
    )
    selected = jax.tree.map(lambda m, _: m is not None, masks, params, is_leaf=is_none)
    layers: dict[str, dict[str, Any]] = {}
    totals = {"prunable": [0, 0], "all": [0, 0]}
    for (path, w), sel in zip(
        jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(selected), strict=True
    ):
        c = _counts(w)
        layers[path_str(path)] = {**c, "prunable": bool(sel)}
        for key in ("prunable", "all") if sel else ("all",):
            totals[key][0] += c["size"]
            totals[key][1] += c["zeros"]

    def summary(size: int, zeros: int) -> dict[str, Any]:
        return {"size": size, "zeros": zeros, "sparsity": zeros / size if size else 0.0}

    return {"layers": layers, **{k: summary(*v) for k, v in totals.items()}}
