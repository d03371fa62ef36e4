"""The masked optimizer: `wrap_optax` and its `PruningState`; reading and swapping its masks.

Gradients are masked BEFORE the inner transform (Adam moments of pruned weights stay exactly
0) and the inner updates are masked AFTER it (an Adam update is ``m / (sqrt(v) + eps)``: not
zero whenever a moment is non-zero, e.g. for a weight pruned after some training), so
``optax.apply_updates`` keeps every pruned weight exactly 0 forever, provided the params were
masked once with `apply_masks`. The update function reads the masks from the state, never
from its closure: `update_masks` swaps them between steps without recompiling a jitted step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ltcn_jax import train
from ltcn_jax.pruning._masks import Masks, Params, apply_masks, as_bool_masks


class PruningState(NamedTuple):
    """Optimizer state of `wrap_optax`: the inner transform's state and the current masks.

    (Not optax's ``MaskedState``, which belongs to ``optax.masked`` and means "which leaves a
    transform touches"; these masks say which weights are pruned.)"""

    inner_state: optax.OptState
    masks: Masks


def wrap_optax(tx: optax.GradientTransformation, masks: Masks) -> optax.GradientTransformation:
    """Make ``tx`` respect pruning masks kept in its state.

    Args:
        tx: inner optax transform (e.g. ``optax.adam(1e-3)``).
        masks: masks that ``init`` puts into a fresh state. Later masks go in through
            `update_masks`; ``update`` only ever reads the masks of the state it is given.

    Returns:
        A transform whose state is `PruningState`. Its ``update`` masks the gradients, runs
        ``tx`` and masks the resulting updates, so pruned (already zero) params stay exactly 0.
    """
    inner = optax.with_extra_args_support(tx)
    initial = as_bool_masks(masks)

    def init_fn(params: Params) -> PruningState:
        return PruningState(inner.init(params), initial)

    def update_fn(updates, state: PruningState, params=None, **extra_args):
        grads = apply_masks(updates, state.masks)
        new_updates, inner_state = inner.update(grads, state.inner_state, params, **extra_args)
        # Masked again: Adam turns a zero gradient with non-zero moments into a non-zero step.
        return apply_masks(new_updates, state.masks), PruningState(inner_state, state.masks)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _check_same_layout(old: Masks, new: Masks) -> None:
    # Without is_leaf, None is an empty node: the treedefs also compare WHICH leaves are masked.
    old_def, new_def = jax.tree.structure(old), jax.tree.structure(new)
    if old_def != new_def:
        raise ValueError(f"mask tree structure changed:\n{old_def}\nvs\n{new_def}")
    for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(f"mask shape changed: {jnp.shape(a)} -> {jnp.shape(b)}")


def update_masks(opt_state: Any, new_masks: Masks) -> Any:
    """Replace the masks inside an optimizer state (no recompilation of a jitted step).

    Only the masks change: apply them to the params too (`apply_masks`, or use
    `set_state_masks` on a `TrainState`). Adam moments of newly pruned weights are left as
    they are: the masked updates never touch those weights again.

    Args:
        opt_state: a `PruningState`, or a tuple (e.g. of ``optax.chain``) containing one.
        new_masks: masks with the same tree and shapes as the current ones; cast to ``bool``.

    Returns:
        ``opt_state`` with the masks of every `PruningState` in it replaced.

    Raises:
        ValueError: no `PruningState` found, or the new masks have another layout.
    """
    new_masks = as_bool_masks(new_masks)
    found = False

    def replace(node: Any) -> Any:
        nonlocal found
        if isinstance(node, PruningState):
            _check_same_layout(node.masks, new_masks)
            found = True
            return node._replace(masks=new_masks)
        if isinstance(node, tuple):
            children = [replace(c) for c in node]
            return type(node)(*children) if hasattr(node, "_fields") else tuple(children)
        return node

    out = replace(opt_state)
    if not found:
        raise ValueError("no PruningState in opt_state: build the optimizer with wrap_optax")
    return out


def get_masks(opt_state: Any) -> Masks:
    """The masks of the first `PruningState` found in ``opt_state``."""
    if isinstance(opt_state, PruningState):
        return opt_state.masks
    if isinstance(opt_state, tuple):
        for child in opt_state:
            try:
                return get_masks(child)
            except ValueError:
                continue
    raise ValueError("no PruningState in opt_state: build the optimizer with wrap_optax")


def set_state_masks(state: train.TrainState, masks: Masks) -> train.TrainState:
    """Mask the params of a `TrainState` and put ``masks`` into its optimizer state."""
    return state.replace(
        params=apply_masks(state.params, masks), opt_state=update_masks(state.opt_state, masks)
    )
