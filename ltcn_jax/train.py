"""Training core: pure jitted steps, class weights, data-parallel `fit` loop.

Batches are dicts ``{"x": f32[b, t, f], "y": int32[b], "weight": f32[b]}``. ``weight`` is the
per-example class weight and is 0 for padding rows, so every batch can be padded to one fixed
size: the step functions then compile once and never retrace.

Data parallelism uses `jax.sharding`: a 1-D `Mesh` over the local devices with axis ``"data"``;
the train state is replicated and batches are split on their leading axis. The same code runs
on one CPU, one GPU or several devices (the batch size is rounded up to a multiple of the
device count).

One file (~580 lines) on purpose: the pure step, the batch padding, the mesh helpers and the
`fit` loop (split into private helpers at the end) share one batch layout and one sharding
contract, and callers import all of them from here (sections in that order).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import serialization
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from .progress import LINES, EpochLines, Progress

TrainState = train_state.TrainState
Batch = Mapping[str, jax.Array]
Params = Any

DATA_AXIS = "data"


# --------------------------------------------------------------------------------------------
# State, loss and steps
# --------------------------------------------------------------------------------------------


def create_train_state(
    model: nn.Module,
    rng: jax.Array,
    example_input: jax.Array | np.ndarray,
    learning_rate: float = 1e-3,
    tx: optax.GradientTransformation | None = None,
) -> TrainState:
    """Initialise parameters and an optimizer state.

    Args:
        model: a Flax module taking ``(x, train=...)`` and returning logits.
        rng: PRNG key for parameter initialisation.
        example_input: an input of the right ``(time, features)`` shape (any batch size;
            only its shape and dtype are used by the initialisers).
        learning_rate: Adam learning rate, used only when ``tx`` is None.
        tx: optional custom optax transform (e.g. Adam wrapped with pruning masks).

    Returns:
        A `flax.training.train_state.TrainState` with ``apply_fn = model.apply``.
    """
    x = jnp.asarray(example_input, dtype=jnp.float32)
    params = _init_params(model, rng, x)
    if tx is None:
        tx = optax.adam(learning_rate)
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    # TrainState.create stores step as a Python int (a weakly typed scalar once traced) while
    # apply_gradients returns a strong int32: without this the 2nd train_step would retrace.
    return state.replace(step=jnp.zeros((), jnp.int32))


@functools.partial(jax.jit, static_argnums=0)
def _init_params(model: nn.Module, rng: jax.Array, x: jax.Array) -> Params:
    # jit: an eager Flax init dispatches op by op; static model (Flax modules hash by their
    # configuration) so repeated inits of one architecture compile once.
    return model.init({"params": rng}, x, train=False)["params"]


def weighted_loss_and_metrics(
    logits: jax.Array, labels: jax.Array, weight: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Class-weighted mean cross-entropy and weighted accuracy.

    Args:
        logits: ``f32[b, num_classes]``.
        labels: ``int32[b]`` class indices.
        weight: ``f32[b]`` per-example weights (0 for padding rows).

    Returns:
        ``(loss, metrics)`` where metrics holds ``loss``, ``accuracy`` and ``weight_sum`` (the
        denominator, so that epoch means can be re-weighted across batches).
    """
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    weight = weight.astype(jnp.float32)
    wsum = jnp.sum(weight)
    # max() guards the all-padding batch; the numerator is then 0 as well.
    denom = jnp.maximum(wsum, 1e-12)
    loss = jnp.sum(weight * ce) / denom
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    accuracy = jnp.sum(weight * correct) / denom
    return loss, {"loss": loss, "accuracy": accuracy, "weight_sum": wsum}


def _train_step(state: TrainState, batch: Batch, rng: jax.Array) -> tuple[TrainState, dict]:
    """One optimizer step on a padded batch: ``(new_state, metrics)``.

    Pure (``rng`` is the dropout key of this step); `make_sharded_train_step` jits it with
    pinned shardings, and that jitted step is what `fit` runs.
    """

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, batch["x"], train=True, rngs={"dropout": rng})
        return weighted_loss_and_metrics(logits, batch["y"], batch["weight"])

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(grads=grads), metrics


def _eval_loss_step(
    apply_fn: Callable, params: Params, x: jax.Array, y: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Probabilities and the summed (unweighted) cross-entropy of the real rows."""
    logits = apply_fn({"params": params}, x, train=False).astype(jnp.float32)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return jax.nn.softmax(logits, axis=-1), jnp.sum(ce * mask)


_eval_loss_step_jit = jax.jit(_eval_loss_step, static_argnums=0)


# --------------------------------------------------------------------------------------------
# Class weights
# --------------------------------------------------------------------------------------------


def class_weights(y: np.ndarray, num_classes: int, mode: str = "balanced") -> np.ndarray:
    """Per-class loss weights.

    Args:
        y: integer labels.
        num_classes: total number of classes (classes absent from ``y`` get weight 0 in
            ``"balanced"`` mode: they never appear in a batch anyway).
        mode: ``"balanced"`` -> ``n / (n_present_classes * count_c)`` (sklearn's formula,
            so the weighted mean over the training set equals 1); ``"none"`` -> all ones.

    Returns:
        ``f32[num_classes]``.
    """
    if mode == "none":
        return np.ones(num_classes, dtype=np.float32)
    if mode != "balanced":
        raise ValueError(f"unknown class-weight mode {mode!r} (use 'balanced' or 'none')")
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(num_classes, dtype=np.float64)
    w[present] = y.size / (present.sum() * counts[present])
    return w.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Sharding helpers
# --------------------------------------------------------------------------------------------


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """1-D data-parallel mesh (axis ``"data"``) over ``devices`` (default: local devices)."""
    devs = list(jax.local_devices() if devices is None else devices)
    return Mesh(np.array(devs), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device of ``mesh``."""
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over ``mesh``'s data axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def round_batch_size(batch_size: int, num_devices: int) -> int:
    """Smallest multiple of ``num_devices`` that is ``>= batch_size``."""
    return int(math.ceil(batch_size / num_devices) * num_devices)


def make_sharded_train_step(mesh: Mesh) -> Callable:
    """`_train_step` jitted with pinned shardings for ``mesh``: the step `fit` runs.

    ``step(state, batch, rng) -> (state, metrics)``; host (numpy) batches are placed by the
    pinned input shardings. Place the state with ``replicated(mesh)`` first, as `fit` does: a
    state that was never placed makes the second step compile once more.

    Pinning ``out_shardings`` to the input shardings guarantees that the state coming out of
    one step is accepted by the next without a new compilation.
    """
    rep, dat = replicated(mesh), data_sharded(mesh)
    return jax.jit(_train_step, in_shardings=(rep, dat, rep), out_shardings=(rep, rep))


def pad_batch(x: np.ndarray, y: np.ndarray, w: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Pad a host batch to ``size`` rows with zeros (weight 0 so padding never counts)."""
    n = x.shape[0]
    if n > size:
        raise ValueError(f"batch of {n} rows does not fit size {size}")
    if n == size:
        return {
            "x": np.asarray(x, dtype=np.float32),
            "y": np.asarray(y, dtype=np.int32),
            "weight": np.asarray(w, dtype=np.float32),
        }
    xp = np.zeros((size, *x.shape[1:]), dtype=np.float32)
    yp = np.zeros((size,), dtype=np.int32)
    wp = np.zeros((size,), dtype=np.float32)
    xp[:n], yp[:n], wp[:n] = x, y, w
    return {"x": xp, "y": yp, "weight": wp}


# --------------------------------------------------------------------------------------------
# Prediction and checkpoints
# --------------------------------------------------------------------------------------------


def predict_proba(
    apply_fn: Callable,
    params: Params,
    x: np.ndarray,
    batch_size: int = 1024,
    mesh: Mesh | None = None,
) -> np.ndarray:
    """Class probabilities for a (possibly large, host-resident) array, in fixed-size batches.

    Args:
        apply_fn: ``model.apply`` or ``state.apply_fn``.
        params: model parameters.
        x: ``[n, time, features]`` host array (numpy or memmap).
        batch_size: rows per device call (rounded up to a multiple of the device count).
        mesh: data-parallel mesh (default: all local devices).

    Returns:
        ``f32[n, num_classes]`` numpy array.
    """
    probs, _ = _predict_with_loss(apply_fn, params, x, None, batch_size, mesh)
    return probs


def _predict_with_loss(
    apply_fn: Callable,
    params: Params,
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    mesh: Mesh | None,
) -> tuple[np.ndarray, float]:
    mesh = make_mesh() if mesh is None else mesh
    bs = round_batch_size(min(batch_size, max(len(x), 1)), mesh.size)
    dat, rep = data_sharded(mesh), replicated(mesh)
    params = jax.device_put(params, rep)
    n = len(x)
    y_host = np.zeros(n, dtype=np.int32) if y is None else np.asarray(y, dtype=np.int32)
    out, loss_sums = [], []
    for start in range(0, n, bs):
        sl = slice(start, min(start + bs, n))
        b = pad_batch(x[sl], y_host[sl], np.ones(sl.stop - sl.start, np.float32), bs)
        b = jax.device_put(b, dat)
        p, s = _eval_loss_step_jit(apply_fn, params, b["x"], b["y"], b["weight"])
        # Slice on the host later: slicing on device would compile one more shape.
        out.append((p, sl.stop - sl.start))
        loss_sums.append(s)
    if not out:
        return np.zeros((0, 0), dtype=np.float32), float("nan")
    probs = np.concatenate([np.asarray(p)[:k] for p, k in out], axis=0)
    mean_loss = float(np.sum(jax.device_get(loss_sums)) / n) if y is not None else float("nan")
    return probs, mean_loss


def save_params(path: str | os.PathLike, params: Params) -> None:
    """Write ``params`` as Flax msgpack (never pickle), atomically (tmp file + rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    data = serialization.to_bytes(jax.device_get(params))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-params-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_params(path: str | os.PathLike, target: Params) -> Params:
    """Read msgpack params written by `save_params` into the structure of ``target``."""
    with open(path, "rb") as f:
        return serialization.from_bytes(target, f.read())


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    Attributes:
        params: parameters of the epoch with the best validation macro-F1 (host numpy).
        history: one dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (both
            class-weighted), ``val_loss`` (unweighted mean cross-entropy), ``val_macro_f1``,
            ``seconds``.
        best_epoch: 0-based epoch index of ``params``.
        best_val_macro_f1: validation macro-F1 of ``params``.
        stopped_early: whether patience ran out before ``epochs``.
        num_compilations: train-step compilations made by this call: 1 means the step never
            retraced (the optimizer is static state, so every call compiles once); None if
            this jax version does not expose a cache size.
    """

    params: Params
    history: list[dict[str, float]]
    best_epoch: int
    best_val_macro_f1: float
    stopped_early: bool
    num_compilations: int | None


def fit(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    num_classes: int,
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    tx: optax.GradientTransformation | None = None,
    class_weight_mode: str = "balanced",
    patience: int = 5,
    min_delta: float = 0.0,
    seed: int = 0,
    eval_batch_size: int = 1024,
    checkpoint_path: str | os.PathLike | None = None,
    progress: Progress = True,
    progress_label: str = "train",
    devices: Sequence[jax.Device] | None = None,
    init_params: Params | None = None,
    init_opt_state: Any | None = None,
) -> FitResult:
    """Train ``model`` with early stopping on validation macro-F1.

    Deterministic given ``seed``: shuffling uses ``numpy.random.default_rng(seed)``, parameter
    init and dropout use ``jax.random.key(seed)`` (the dropout key of step ``s`` is
    ``fold_in(dropout_key, s)``). Batches are gathered from the host arrays each step (so they
    may be memmaps larger than device memory), padded to a fixed size with weight 0, and
    sharded over a 1-D device mesh.

    Args:
        model: Flax module returning logits.
        x_train, y_train: training windows ``[n, time, features]`` and integer labels.
        x_val, y_val: validation windows and labels (used for early stopping).
        num_classes: number of classes.
        epochs: maximum number of epochs.
        batch_size: global batch size (rounded up to a multiple of the device count).
        learning_rate, tx: Adam learning rate, or a custom optax transform that replaces Adam.
        class_weight_mode: ``"balanced"`` or ``"none"`` (see `class_weights`).
        patience, min_delta: stop after ``patience`` epochs without a macro-F1 gain ``> min_delta``.
        seed: seed for init, shuffling and dropout.
        eval_batch_size: rows per validation call.
        checkpoint_path: if given, the best params are also written there (msgpack) on a gain.
        progress: True: a tqdm bar with the running loss and validation macro-F1;
            ``"lines"``: one line per epoch on standard error (no terminal); False: silent.
        progress_label: what the bar or the lines call this training (e.g. a pruning round).
        devices: devices of the data-parallel mesh (default: all local devices).
        init_params: start from these params instead of a fresh init (e.g. fine-tuning after
            pruning); must match the model's param tree.
        init_opt_state: start from this optimizer state instead of ``tx.init(params)``; it
            must have the structure, shapes and dtypes of ``tx.init(params)``. Lets a caller
            reuse ONE ``tx`` object across calls (the transform is static state, so a new
            object means a new compilation) while changing state it carries, e.g. pruning
            masks (see `ltcn_jax.pruning`).

    Returns:
        A `FitResult` (best params in host memory, per-epoch history, ...).
    """
    if len(x_train) == 0:
        raise ValueError("empty training set")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    mesh = make_mesh(devices)
    y_train = np.asarray(y_train, dtype=np.int32)
    example_weight = class_weights(y_train, num_classes, class_weight_mode)[y_train]
    bs = round_batch_size(batch_size, mesh.size)
    data = _FitData(x_train, y_train, example_weight, x_val, y_val, num_classes, bs, mesh)
    init_key, dropout_key = jax.random.split(jax.random.key(seed))
    state = _initial_state(
        model, init_key, x_train[:1], learning_rate, tx, init_params, init_opt_state
    )
    step_fn = make_sharded_train_step(mesh)
    cache_before = _cache_size(step_fn)
    stopper = _EarlyStopping(patience, min_delta, checkpoint_path)
    history, stopped_early = _train_epochs(
        jax.device_put(state, replicated(mesh)), step_fn, data, stopper, dropout_key,
        np.random.default_rng(seed), epochs, eval_batch_size, progress, progress_label,
    )
    compilations = None if cache_before is None else _cache_size(step_fn) - cache_before
    return FitResult(
        stopper.params, history, stopper.epoch, stopper.f1, stopped_early, compilations
    )


@dataclasses.dataclass(frozen=True)
class _FitData:
    """The host arrays of one `fit` call and how its training batches are cut."""

    x: np.ndarray  # [n, time, features], host (numpy or memmap)
    y: np.ndarray  # int32 [n]
    weight: np.ndarray  # f32 [n], per-example class weight
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    batch_size: int  # global, a multiple of the mesh size
    mesh: Mesh

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)


def _initial_state(
    model: nn.Module,
    key: jax.Array,
    example_input: np.ndarray,
    learning_rate: float,
    tx: optax.GradientTransformation | None,
    init_params: Params | None,
    init_opt_state: Any | None,
) -> TrainState:
    """A fresh `TrainState`, optionally starting from given params and/or optimizer state."""
    state = create_train_state(model, key, example_input, learning_rate, tx)
    if init_params is not None:
        state = state.replace(params=init_params, opt_state=state.tx.init(init_params))
    if init_opt_state is not None:
        state = state.replace(opt_state=init_opt_state)
    return state


def _cache_size(step_fn: Callable) -> int | None:
    """Compilations in ``step_fn``'s jit cache, or None where jax does not expose it.

    Private jax API (optional). The cache is shared by every jit of `_train_step` with the
    same shardings, so callers count compilations as a difference before/after.
    """
    size = getattr(step_fn, "_cache_size", None)
    return size() if callable(size) else None


@dataclasses.dataclass
class _EarlyStopping:
    """Early stopping on validation macro-F1: the best epoch so far and its params."""

    patience: int
    min_delta: float
    checkpoint_path: str | os.PathLike | None
    f1: float = -math.inf
    epoch: int = -1
    params: Params | None = None
    epochs_without_gain: int = 0

    def update(self, epoch: int, val_f1: float, params: Params) -> bool:
        """Record one epoch; True when ``patience`` epochs passed without a gain."""
        if val_f1 > self.f1 + self.min_delta or self.params is None:
            self.f1, self.epoch = val_f1, epoch
            self.params = jax.device_get(params)
            self.epochs_without_gain = 0
            if self.checkpoint_path is not None:
                save_params(self.checkpoint_path, self.params)
            return False
        self.epochs_without_gain += 1
        return self.epochs_without_gain >= self.patience


def _train_epochs(
    state: TrainState,
    step_fn: Callable,
    data: _FitData,
    stopper: _EarlyStopping,
    dropout_key: jax.Array,
    shuffle_rng: np.random.Generator,
    epochs: int,
    eval_batch_size: int,
    progress: Progress,
    label: str,
) -> tuple[list[dict[str, float]], bool]:
    """The epoch loop of `fit`: train, validate, record; ``(history, stopped_early)``."""
    history: list[dict[str, float]] = []
    steps = data.steps_per_epoch
    bar = tqdm(total=epochs * steps, disable=progress is not True, desc=label, unit="step")
    lines = EpochLines(label, epochs) if progress == LINES else None
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            perm = shuffle_rng.permutation(len(data.x))
            state, train_loss, train_acc = _train_epoch(
                state, step_fn, data, perm, dropout_key, epoch * steps, bar
            )
            val_loss, val_f1 = _validate(state, data, eval_batch_size)
            history.append({
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "val_loss": val_loss,
                "val_macro_f1": val_f1,
                "seconds": time.perf_counter() - t0,
            })
            bar.set_postfix(loss=f"{train_loss:.4f}", val_f1=f"{val_f1:.4f}", epoch=epoch)
            if lines is not None:
                lines.epoch_done(epoch, train_loss, val_f1)
            if stopper.update(epoch, val_f1, state.params):
                return history, epoch < epochs - 1
    finally:
        bar.close()
    return history, False


def _train_epoch(
    state: TrainState,
    step_fn: Callable,
    data: _FitData,
    perm: np.ndarray,
    dropout_key: jax.Array,
    first_step: int,
    bar: tqdm,
) -> tuple[TrainState, float, float]:
    """One pass over ``perm``: ``(state, class-weighted train loss, train accuracy)``.

    The dropout key of global step ``s`` is ``fold_in(dropout_key, s)``.
    """
    bs, sharding = data.batch_size, data_sharded(data.mesh)
    step_metrics = []
    for i in range(data.steps_per_epoch):
        # Sorting the indices of a batch makes memmap reads sequential; the order of rows
        # inside a batch does not matter to a mean loss.
        idx = np.sort(perm[i * bs : (i + 1) * bs])
        host = pad_batch(data.x[idx], data.y[idx], data.weight[idx], bs)
        batch = jax.device_put(host, sharding)
        state, metrics = step_fn(state, batch, jax.random.fold_in(dropout_key, first_step + i))
        # Keep metrics on device: fetching them every step would serialise the host gather
        # with the device computation.
        step_metrics.append(metrics)
        bar.update(1)
    m = jax.device_get(step_metrics)
    wsum = np.array([s["weight_sum"] for s in m], dtype=np.float64)
    denom = max(wsum.sum(), 1e-12)
    train_loss = float(np.sum(wsum * [s["loss"] for s in m]) / denom)
    train_acc = float(np.sum(wsum * [s["accuracy"] for s in m]) / denom)
    return state, train_loss, train_acc


def _validate(state: TrainState, data: _FitData, eval_batch_size: int) -> tuple[float, float]:
    """``(mean validation cross-entropy, validation macro-F1)`` of ``state.params``."""
    probs, val_loss = _predict_with_loss(
        state.apply_fn, state.params, data.x_val, data.y_val, eval_batch_size, data.mesh
    )
    val_f1 = f1_score(
        np.asarray(data.y_val),
        probs.argmax(axis=-1) if len(probs) else np.zeros(0, int),
        labels=np.arange(data.num_classes),
        average="macro",
        zero_division=0,
    )
    return val_loss, float(val_f1)
