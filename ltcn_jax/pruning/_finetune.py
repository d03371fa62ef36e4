"""The source paper's loop on top of `ltcn_jax.train.fit`: prune, fine-tune, repeat.

`prune_and_finetune` builds ONE masked transform and hands each round's masks to `fit`
through ``init_opt_state`` (a fresh Adam state holding the new masks), so all rounds share a
single compiled train step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import optax
from flax import linen as nn

from ltcn_jax import train
from ltcn_jax.pruning._blocks import DEFAULT_BLOCK, check_structure
from ltcn_jax.pruning._criteria import check_criterion, compute_masks, sparsity_report
from ltcn_jax.pruning._masks import (
    Masks,
    Params,
    apply_masks,
    init_masks,
    masks_to_numpy,
    prunable_mask_tree,
)
from ltcn_jax.pruning._schedules import Schedule, round_sparsities
from ltcn_jax.pruning._state import update_masks, wrap_optax


@dataclasses.dataclass
class PruneResult:
    """What `prune_and_finetune` returns.

    Attributes:
        params: params after the last round (masked; host numpy).
        masks: final masks (host numpy bool, ``None`` on non-prunable leaves).
        report: `sparsity_report` of ``params``.
        history: one dict per round: ``round``, ``target_sparsity``, ``sparsity`` (achieved,
            prunable layers), ``best_val_macro_f1``, ``best_epoch``, ``num_compilations``,
            ``epochs`` (the `fit` history of that round).
    """

    params: Params
    masks: Masks
    report: dict[str, Any]
    history: list[dict[str, Any]]


def prune_and_finetune(
    model: nn.Module,
    params: Params,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    num_classes: int,
    target: float,
    schedule: str | Schedule = "iterative",
    rounds: int = 5,
    criterion: str = "layerwise",
    structure: str = "unstructured",
    block: int = DEFAULT_BLOCK,
    include_head: bool = False,
    include_residual: bool = True,
    finetune_epochs: int = 2,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    class_weight_mode: str = "balanced",
    seed: int = 0,
    progress: bool | str = False,
    **fit_kwargs: Any,
) -> PruneResult:
    """Iterative magnitude pruning with fine-tuning (prune, fine-tune, repeat).

    Each round computes masks at the round's sparsity from the magnitudes of the current
    params (monotone: pruned weights stay pruned), zeroes the pruned weights and fine-tunes
    with `ltcn_jax.train.fit` for ``finetune_epochs`` using ``wrap_optax(optax.adam(lr))``.
    The same transform object is used by every round and the round's masks enter through
    ``fit(init_opt_state=...)`` (a fresh Adam state per round): the train step compiles once
    for all rounds. The params `fit` returns (best validation epoch) start the next round.

    Args:
        model: the Flax model (L-TCN by default selection of prunable leaves).
        params: trained params to prune.
        x_train, y_train, x_val, y_val: data for fine-tuning and its model selection.
        num_classes: number of classes.
        target: final sparsity of the prunable layers.
        schedule: ``"one-shot"`` (1 round), ``"iterative"``, ``"polynomial"`` or a schedule
            object called with the round index (see `round_sparsities`).
        rounds: pruning rounds (ignored by ``"one-shot"``).
        criterion: ``"layerwise"`` or ``"global"``.
        structure: ``"unstructured"`` (single weights) or ``"block"`` (blocks of ``block``
            consecutive output channels; every round prunes whole blocks, see
            `compute_masks`).
        block: weights per block for ``structure="block"``.
        include_head, include_residual: also prune ``head/kernel`` / the 1x1 residual kernels.
        finetune_epochs: `fit` epochs per round.
        batch_size, learning_rate, class_weight_mode: passed to `fit`.
        seed: `fit` seed of round ``r`` is ``seed + r`` (a new shuffle each round).
        progress: `fit`'s progress (a bar, ``"lines"`` or none), labelled by round.
        **fit_kwargs: other `fit` keyword arguments (``patience`` defaults to
            ``finetune_epochs``, i.e. no early stop inside a round).

    Returns:
        A `PruneResult`.

    Raises:
        ValueError: unknown schedule, criterion or structure, a block size below 1, or
            ``rounds < 1``.
    """
    check_criterion(criterion)
    check_structure(structure, block)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    sparsities = round_sparsities(schedule, target, rounds)
    masks = init_masks(params, prunable_mask_tree(params, include_head, include_residual))
    tx = wrap_optax(optax.adam(learning_rate), masks)
    fit_kwargs.setdefault("patience", finetune_epochs)
    fit_args = {
        "num_classes": num_classes, "epochs": finetune_epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "class_weight_mode": class_weight_mode,
        "progress": progress,
    }
    data = (x_train, y_train, x_val, y_val)
    history: list[dict[str, Any]] = []
    for r, s in enumerate(sparsities, start=1):
        masks = compute_masks(params, s, criterion=criterion, prev_masks=masks,
                              structure=structure, block=block)
        label = f"prune round {r}/{len(sparsities)} (to {s:.0%} sparse)"
        params, record = _finetune_round(model, apply_masks(params, masks), masks, tx, data, r, s,
                                         seed + r, {**fit_args, "progress_label": label}, fit_kwargs)
        history.append(record)
    params = jax.device_get(params)
    masks = masks_to_numpy(masks)
    return PruneResult(params, masks, sparsity_report(params, masks), history)


def _finetune_round(
    model: nn.Module,
    params: Params,
    masks: Masks,
    tx: optax.GradientTransformation,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    round_: int,
    target_sparsity: float,
    seed: int,
    fit_args: dict[str, Any],
    fit_kwargs: dict[str, Any],
) -> tuple[Params, dict[str, Any]]:
    """Fine-tune the masked ``params`` for one round: its best params and its history record.

    ``tx`` is the one masked transform of all rounds; this round's masks enter through a fresh
    state of it, so the train step compiled in round 1 is reused. ``fit_args`` (the driver's
    own `fit` arguments) and ``fit_kwargs`` (the caller's) are unpacked separately, so a
    caller's duplicate of a driver argument is a ``TypeError``, not a silent override.
    """
    result = train.fit(
        model, *data, tx=tx, seed=seed, init_params=params,
        init_opt_state=update_masks(tx.init(params), masks), **fit_args, **fit_kwargs,
    )
    report = sparsity_report(result.params, masks)
    record = {
        "round": round_,
        "target_sparsity": target_sparsity,
        "sparsity": report["prunable"]["sparsity"],
        "best_val_macro_f1": result.best_val_macro_f1,
        "best_epoch": result.best_epoch,
        "num_compilations": result.num_compilations,
        "epochs": result.history,
    }
    return result.params, record
