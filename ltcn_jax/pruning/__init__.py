"""Iterative magnitude pruning (unstructured, or in blocks) with masks held in the optimizer state.

Design (in the style of google-research/jaxpruner)
--------------------------------------------------
* A **mask tree** has the structure of the params: a ``bool`` array of the param's shape for
  every PRUNABLE leaf (``True`` = kept, ``False`` = pruned) and ``None`` for every other leaf
  (biases, and by default the dense head). ``None`` leaves keep "which leaves are prunable" in
  the masks themselves, so `sparsity_report` and `update_masks` need no extra argument.
* `wrap_optax` wraps any optax transform: gradients are masked BEFORE the inner transform
  (Adam moments of pruned weights stay exactly 0) and the inner updates are masked AFTER it
  (an Adam update is ``m / (sqrt(v) + eps)``: not zero whenever a moment is non-zero, e.g.
  for a weight pruned after some training), so ``optax.apply_updates`` keeps every pruned
  weight exactly 0 forever, provided the params were masked once with `apply_masks`.
* The masks live in the optimizer state, ``PruningState(inner_state, masks)``, and the update
  function reads them from there, never from its closure: `update_masks` swaps them between
  steps without recompiling a jitted train step (same tree, shapes and dtypes). The masks
  given to `wrap_optax` are only what ``init`` puts in a fresh state.
* Criteria: ``layerwise`` (every prunable layer to the target sparsity) and ``global`` (one
  magnitude threshold over all prunable layers). Counts are exact: ``round(target * size)``
  zeros per layer, or ``round(target * total)`` zeros overall; ties between equal magnitudes
  are broken by a stable argsort (earlier index pruned first) so they never over-prune.
  Masks are monotone: a weight pruned once stays pruned (a lower target than the current
  sparsity therefore leaves the mask unchanged).
* Structures (`STRUCTURES`): ``unstructured`` (single weights, the default: the source
  paper's method) and ``block``: blocks of ``block`` (default 4) consecutive output channels
  at one (tap, input channel) position -- 4 consecutive rows of one column of the engine's
  ``c_out x (k * c_in)`` matrix, the 1x4 shape of XNNPACK's sparse kernels -- ranked by the
  blocks' RMS and expanded back to element masks, so everything downstream of the masks
  (masked optimizer, fine-tuning, files) is the same.
* Schedules are frozen dataclasses ``schedule(step_or_round) -> sparsity`` from
  `make_schedule`.

`prune_and_finetune` runs the source paper's loop (prune, fine-tune, repeat) on top of
`ltcn_jax.train.fit`: it builds ONE masked transform and hands each round's masks to `fit`
through ``init_opt_state`` (a fresh Adam state holding the new masks), so all rounds share a
single compiled train step.

Modules (private; import from ``ltcn_jax.pruning``)
---------------------------------------------------
* ``_masks``: prunable selection, all-kept masks, `apply_masks`, masks on disk.
* ``_state``: the masked optimizer `wrap_optax`, `PruningState`, reading/swapping its masks.
* ``_criteria``: magnitude criteria (`compute_masks`) and the `sparsity_report`.
* ``_blocks``: the ``block`` structure: block scores, block selection, expansion to masks.
* ``_schedules``: `OneShot`, `Iterative`, `Polynomial`, `make_schedule`, `round_sparsities`.
* ``_finetune``: the prune / fine-tune driver `prune_and_finetune` and its `PruneResult`.
"""

from ltcn_jax.pruning._blocks import DEFAULT_BLOCK, STRUCTURES
from ltcn_jax.pruning._criteria import CRITERIA, compute_masks, sparsity_report
from ltcn_jax.pruning._finetune import PruneResult, prune_and_finetune
from ltcn_jax.pruning._masks import (
    apply_masks,
    init_masks,
    load_masks,
    masks_to_numpy,
    prunable_mask_tree,
    save_masks,
)
from ltcn_jax.pruning._schedules import (
    SCHEDULES,
    Iterative,
    OneShot,
    Polynomial,
    Schedule,
    make_schedule,
    round_sparsities,
)
from ltcn_jax.pruning._state import (
    PruningState,
    get_masks,
    set_state_masks,
    update_masks,
    wrap_optax,
)

__all__ = [
    "CRITERIA",
    "DEFAULT_BLOCK",
    "SCHEDULES",
    "STRUCTURES",
    "Iterative",
    "OneShot",
    "Polynomial",
    "PruneResult",
    "PruningState",
    "Schedule",
    "apply_masks",
    "compute_masks",
    "get_masks",
    "init_masks",
    "load_masks",
    "make_schedule",
    "masks_to_numpy",
    "prunable_mask_tree",
    "prune_and_finetune",
    "round_sparsities",
    "save_masks",
    "set_state_masks",
    "sparsity_report",
    "update_masks",
    "wrap_optax",
]
