"""Iterative unstructured magnitude pruning with masks held in the optimizer state.

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
* Schedules are frozen dataclasses ``schedule(step_or_round) -> sparsity`` from
  `make_schedule`.

`prune_and_finetune` runs the source paper's loop (prune, fine-tune, repeat) on top of
`ltcn_jax.train.fit`: it builds ONE masked transform and hands each round's masks to `fit`
through ``init_opt_state`` (a fresh Adam state holding the new masks), so all rounds share a
single compiled train step.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from ltcn_jax import train

Params = Any
#: Params-shaped tree: ``bool`` array (True = kept) on prunable leaves, ``None`` elsewhere.
Masks = Any

CRITERIA = ("layerwise", "global")


def _is_none(x: Any) -> bool:
    return x is None


# --------------------------------------------------------------------------------------------
# Which leaves are prunable
# --------------------------------------------------------------------------------------------


def _path_str(path: Sequence[Any]) -> str:
    """``block_0/conv_0/kernel`` for a jax key path."""
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def _default_predicate(include_head: bool, include_residual: bool) -> Callable[[str], bool]:
    def predicate(name: str) -> bool:
        parts = name.split("/")
        if parts[-1] != "kernel":
            return False
        if parts[0].startswith("block_"):
            return include_residual or "residual" not in parts
        return include_head and parts[0] == "head"

    return predicate


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
        select = _default_predicate(include_head, include_residual)
    else:
        globs = tuple(patterns or ())

        def select(name: str) -> bool:
            by_glob = any(fnmatch.fnmatchcase(name, g) for g in globs)
            return by_glob or (predicate is not None and bool(predicate(name)))

    def leaf(path, _):
        name = _path_str(path)
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


def _masks_from(masks_or_prunable: Any, params: Params) -> Masks:
    """Accept a mask tree (array / None leaves) or a prunable tree (bool leaves)."""
    leaves = jax.tree.leaves(masks_or_prunable)
    if leaves and all(isinstance(x, bool) for x in leaves):
        return init_masks(params, masks_or_prunable)
    return masks_or_prunable


# --------------------------------------------------------------------------------------------
# Applying masks and the masked optimizer
# --------------------------------------------------------------------------------------------


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

    return jax.tree.map(one, masks, tree, is_leaf=_is_none)


def _as_bool_masks(masks: Masks) -> Masks:
    # One dtype everywhere (bool), so a swapped mask never changes an aval -> no retrace.
    return jax.tree.map(lambda m: jnp.asarray(m, dtype=jnp.bool_), masks)


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
    initial = _as_bool_masks(masks)

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
    new_masks = _as_bool_masks(new_masks)
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


# --------------------------------------------------------------------------------------------
# Mask computation
# --------------------------------------------------------------------------------------------


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
) -> Masks:
    """Magnitude-pruning masks at ``sparsity``.

    Works eagerly and under ``jax.jit`` (``criterion`` and ``prunable`` static; a traced
    ``sparsity`` rounds ``sparsity * size`` in float32).

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

    Returns:
        The new mask tree.

    Raises:
        ValueError: unknown ``criterion`` or a sparsity outside ``[0, 1]``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown pruning criterion {criterion!r}; options: {list(CRITERIA)}")
    if prev_masks is None:
        prev_masks = init_masks(params, prunable)
    # One flat list over the mask tree (None leaves included) and the params beside it.
    treedef = jax.tree.structure(prev_masks, is_leaf=_is_none)
    prev_flat = treedef.flatten_up_to(prev_masks)
    w_flat = treedef.flatten_up_to(params)
    idx = [i for i, m in enumerate(prev_flat) if m is not None]
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
    out = list(prev_flat)
    for i, keep in zip(idx, keeps, strict=True):
        # `& prev` keeps monotonicity even when fewer zeros are asked for than already exist.
        out[i] = (keep & jnp.ravel(prev_flat[i])).reshape(jnp.shape(w_flat[i]))
    return jax.tree.unflatten(treedef, out)


# --------------------------------------------------------------------------------------------
# Reports and persistence
# --------------------------------------------------------------------------------------------


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
    masks = _masks_from(
        prunable_mask_tree(params) if masks_or_prunable is None else masks_or_prunable, params
    )
    selected = jax.tree.map(lambda m, _: m is not None, masks, params, is_leaf=_is_none)
    layers: dict[str, dict[str, Any]] = {}
    totals = {"prunable": [0, 0], "all": [0, 0]}
    for (path, w), sel in zip(
        jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(selected), strict=True
    ):
        c = _counts(w)
        layers[_path_str(path)] = {**c, "prunable": bool(sel)}
        for key in ("prunable", "all") if sel else ("all",):
            totals[key][0] += c["size"]
            totals[key][1] += c["zeros"]

    def summary(size: int, zeros: int) -> dict[str, Any]:
        return {"size": size, "zeros": zeros, "sparsity": zeros / size if size else 0.0}

    return {"layers": layers, **{k: summary(*v) for k, v in totals.items()}}


def masks_to_numpy(masks: Masks) -> Masks:
    """Host (numpy ``bool``) copy of a mask tree."""
    return jax.tree.map(lambda m: np.asarray(m, dtype=bool), masks)


def save_masks(path: str | os.PathLike, masks: Masks) -> None:
    """Write masks as Flax msgpack (never pickle), atomically; ``None`` leaves are kept."""
    train.save_params(path, masks_to_numpy(masks))


def load_masks(path: str | os.PathLike, target: Masks) -> Masks:
    """Read masks written by `save_masks` into the structure of ``target`` (a mask tree)."""
    loaded = train.load_params(path, masks_to_numpy(target))
    return _as_bool_masks(loaded)


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclasses.dataclass(frozen=True)
class OneShot:
    """Target sparsity at once: ``0`` before ``begin_step``, ``target`` from it on."""

    target: float
    begin_step: int = 0
    name: ClassVar[str] = "one-shot"

    def __post_init__(self) -> None:
        _check_fraction("target", self.target)

    def __call__(self, step: int) -> float:
        return float(self.target) if step >= self.begin_step else 0.0


@dataclasses.dataclass(frozen=True)
class Iterative:
    """The source paper's loop: prune a step, fine-tune, repeat, in equal increments.

    Sparsity after round ``r`` (1-based) is ``target * r / rounds``; round 0 (before any
    pruning) is 0; rounds past ``rounds`` stay at ``target``.
    """

    target: float
    rounds: int
    name: ClassVar[str] = "iterative"

    def __post_init__(self) -> None:
        _check_fraction("target", self.target)
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")

    def __call__(self, round_: int) -> float:
        r = min(max(int(round_), 0), self.rounds)
        return float(self.target) * r / self.rounds


@dataclasses.dataclass(frozen=True)
class Polynomial:
    """Gradual pruning of Zhu & Gupta (2017), "To prune, or not to prune".

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3`` for ``t`` in
    ``[t0, t0 + n * dt]`` with ``t0 = begin_step``, ``n * dt = end_step - begin_step``,
    ``dt = frequency``: ``s_i`` before ``begin_step``, ``s_f`` after ``end_step``. The masks
    are updated only every ``frequency`` steps (at ``begin_step + j * frequency``, and at
    ``end_step`` so the final sparsity is always reached), so ``s_t`` is the value at the
    last update point ``<= t``.
    """

    final_sparsity: float
    end_step: int
    initial_sparsity: float = 0.0
    begin_step: int = 0
    frequency: int = 1
    name: ClassVar[str] = "polynomial"

    def __post_init__(self) -> None:
        _check_fraction("initial_sparsity", self.initial_sparsity)
        _check_fraction("final_sparsity", self.final_sparsity)
        if self.end_step <= self.begin_step:
            raise ValueError(f"end_step ({self.end_step}) must be > begin_step ({self.begin_step})")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {self.frequency}")

    def __call__(self, step: int) -> float:
        t = min(max(int(step), self.begin_step), self.end_step)
        if t < self.end_step:
            t = self.begin_step + (t - self.begin_step) // self.frequency * self.frequency
        frac = 1.0 - (t - self.begin_step) / (self.end_step - self.begin_step)
        s_i, s_f = float(self.initial_sparsity), float(self.final_sparsity)
        return s_f + (s_i - s_f) * frac**3


Schedule = OneShot | Iterative | Polynomial
SCHEDULES: dict[str, type] = {cls.name: cls for cls in (OneShot, Iterative, Polynomial)}


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build a schedule by name (``"one-shot"``, ``"iterative"``, ``"polynomial"``).

    Args:
        name: registry name.
        **kwargs: the schedule's fields (see `OneShot`, `Iterative`, `Polynomial`).

    Returns:
        The frozen schedule object.

    Raises:
        ValueError: unknown name (the message lists the options).
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown pruning schedule {name!r}; options: {sorted(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)


def round_sparsities(schedule: str | Schedule, target: float, rounds: int) -> list[float]:
    """Sparsity of each pruning round ``1..rounds`` used by `prune_and_finetune`.

    A name builds the schedule at ROUND granularity: ``one-shot`` -> ``[target]`` (one round,
    ``rounds`` ignored); ``iterative`` -> ``target * r / rounds``; ``polynomial`` -> Zhu &
    Gupta with ``begin_step=0``, ``end_step=rounds``, ``frequency=1`` evaluated at ``r`` (the
    cubic curve sampled at the end of each fine-tuning round; masks do not change inside a
    round). A schedule object is called with ``r = 1..rounds`` as is.
    """
    if isinstance(schedule, str):
        if schedule == "one-shot":
            return [float(target)]
        if schedule == "iterative":
            schedule = make_schedule("iterative", target=target, rounds=rounds)
        elif schedule == "polynomial":
            schedule = make_schedule("polynomial", final_sparsity=target, end_step=rounds)
        else:
            make_schedule(schedule)  # raises the ValueError listing the options
    return [float(schedule(r)) for r in range(1, rounds + 1)]


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


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
    include_head: bool = False,
    include_residual: bool = True,
    finetune_epochs: int = 2,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    class_weight_mode: str = "balanced",
    seed: int = 0,
    progress: bool = False,
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
        include_head: also prune ``head/kernel``.
        include_residual: also prune the 1x1 residual kernels.
        finetune_epochs: `fit` epochs per round.
        batch_size, learning_rate, class_weight_mode: passed to `fit`.
        seed: `fit` seed of round ``r`` is ``seed + r`` (a new shuffle each round).
        progress: tqdm bars in `fit`.
        **fit_kwargs: other `fit` keyword arguments (``patience`` defaults to
            ``finetune_epochs``, i.e. no early stop inside a round).

    Returns:
        A `PruneResult`.

    Raises:
        ValueError: unknown schedule or criterion, or ``rounds < 1``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown pruning criterion {criterion!r}; options: {list(CRITERIA)}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    sparsities = round_sparsities(schedule, target, rounds)
    prunable = prunable_mask_tree(params, include_head, include_residual)
    masks = init_masks(params, prunable)
    tx = wrap_optax(optax.adam(learning_rate), masks)
    fit_kwargs.setdefault("patience", finetune_epochs)
    history: list[dict[str, Any]] = []
    for r, s in enumerate(sparsities, start=1):
        masks = compute_masks(params, s, criterion=criterion, prev_masks=masks)
        params = apply_masks(params, masks)
        result = train.fit(
            model, x_train, y_train, x_val, y_val,
            num_classes=num_classes, epochs=finetune_epochs, batch_size=batch_size,
            learning_rate=learning_rate, tx=tx, class_weight_mode=class_weight_mode,
            seed=seed + r, progress=progress, init_params=params,
            init_opt_state=update_masks(tx.init(params), masks), **fit_kwargs,
        )  # fmt: skip
        params = result.params
        report = sparsity_report(params, masks)
        history.append({
            "round": r,
            "target_sparsity": s,
            "sparsity": report["prunable"]["sparsity"],
            "best_val_macro_f1": result.best_val_macro_f1,
            "best_epoch": result.best_epoch,
            "num_compilations": result.num_compilations,
            "epochs": result.history,
        })  # fmt: skip
    params = jax.device_get(params)
    masks = masks_to_numpy(masks)
    return PruneResult(params, masks, sparsity_report(params, masks), history)


__all__ = [
    "CRITERIA",
    "SCHEDULES",
    "Iterative",
    "OneShot",
    "Polynomial",
    "PruneResult",
    "PruningState",
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
