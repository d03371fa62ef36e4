"""Run one experiment config end to end: prepare data, train, evaluate on held-out test data,
write ``results/<name>/``.

Metrics always come from the test split (never from training rows); the validation split only
drives early stopping. Pruning a run's network (``config.prune``) and the sparsity ablation live
in `ltcn_jax.experiment_pruning`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ltcn_kernels.errors import UsageError
from ltcn_kernels.features.windows import make_sequences
from ltcn_kernels.io import labels

from . import complexity, metrics, report
from . import train as trainer
from .config import ExperimentConfig, to_dict
from .data.prepare import Prepared, prepare
from .experiment_pruning import predict_test, prune_trained, pruning_info, run_ablation, save_pruned
from .model_kinds import build_model, model_kind
from .progress import resolve as resolve_progress


class Sequences:
    """Lazy ``(n, time, channels)`` model inputs of selected rows of one split.

    Indexing gathers only the requested windows, so a split of 100 k flows with 61-flow
    windows never materialises 61 copies of itself.
    """

    def __init__(self, x: np.ndarray, mode: str, window: int, rows: np.ndarray,
                 keys: np.ndarray | None = None):
        self._view = make_sequences(x, mode, window, keys)
        self.rows = np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self._view.shape[1:])

    @property
    def dtype(self):
        return self._view.dtype

    def __getitem__(self, index) -> np.ndarray:
        return np.ascontiguousarray(self._view[self.rows[index]])


def normal_index(prepared: Prepared) -> int | None:
    return labels.normal_index(prepared.preprocessor.dataset, prepared.classes)


def _subsample(rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if not limit or len(rows) <= limit:
        return rows
    pick = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
    return rows[np.sort(pick)]


def _sequence_length(prepared: Prepared) -> int:
    c = prepared.config
    return prepared.preprocessor.width if c.sequence == "features" else c.window


@dataclass
class SplitData:
    """One split handed to a model: its per-flow rows, labels and which rows to use."""

    x: np.ndarray  # float32 (n, width), rows in capture order
    y: np.ndarray  # int32 (n,)
    rows: np.ndarray  # indices of the rows to train on / evaluate
    keys: np.ndarray | None = None  # per-row stream keys (per-host windows), else None


def fit_predict(
    config: ExperimentConfig,
    num_classes: int,
    width: int,
    splits: dict[str, SplitData],
    *,
    checkpoint: Path | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, dict[str, Any], Trained | None]:
    """Train a fresh model of ``config`` on ``splits["train"]`` (early stopping on
    ``splits["val"]``) and return its class probabilities for ``splits["test"]`` rows, what
    the run reports (size, history, timings) and the trained network (None for a forest)."""
    model = build_model(config.model, num_classes)
    train, val, test = splits["train"], splits["val"], splits["test"]
    t0 = time.perf_counter()
    if not model_kind(config.model.kind).network:  # a scikit-learn estimator (the forest)
        # Per-flow features: the last flow of each window, i.e. the row itself.
        model.set_params(random_state=config.train.seed)
        model.fit(train.x[train.rows], train.y[train.rows])
        train_seconds = time.perf_counter() - t0
        probs = _forest_proba(model, test.x[test.rows], num_classes)
        nodes = int(sum(t.tree_.node_count for t in model.estimators_))
        return probs, {
            "params": nodes,
            "param_kind": "tree nodes",
            "fp32_mb": round(nodes * (8 + 4 * num_classes) / 1e6, 4),
            "train_seconds": round(train_seconds, 2),
            "history": [],
        }, None
    mode, window = config.data.sequence, config.data.window
    seq = _sequences(config, splits)
    result = trainer.fit(
        model,
        seq["train"],
        train.y[train.rows],
        seq["val"],
        val.y[val.rows],
        num_classes=num_classes,
        epochs=config.train.epochs,
        batch_size=config.train.batch_size,
        learning_rate=config.train.learning_rate,
        class_weight_mode=config.train.class_weights,
        patience=config.train.patience,
        seed=config.train.seed,
        eval_batch_size=config.train.eval_batch_size,
        checkpoint_path=checkpoint,
        progress=resolve_progress(progress),
    )
    train_seconds = time.perf_counter() - t0
    probs = trainer.predict_proba(model.apply, result.params, seq["test"], config.train.eval_batch_size)
    n_params = complexity.param_count(result.params)
    seq_len = width if mode == "features" else window
    return probs, {
        "params": n_params,
        "param_kind": "weights",
        "fp32_mb": round(complexity.fp32_megabytes(n_params), 4),
        "macs": complexity.model_macs(model, width if mode == "flows" else 1, seq_len),
        "train_seconds": round(train_seconds, 2),
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_val_f1_macro": result.best_val_macro_f1,
        "stopped_early": result.stopped_early,
        "train_step_compilations": result.num_compilations,
        "receptive_field": getattr(model, "receptive_field", None),
    }, Trained(model, result.params, seq)


@dataclass
class Trained:
    """A trained network and the model inputs of each split."""

    model: Any
    params: Any
    seq: dict[str, Sequences]


def _sequences(config: ExperimentConfig, splits: dict[str, SplitData]) -> dict[str, Sequences]:
    return {
        k: Sequences(d.x, config.data.sequence, config.data.window, d.rows, d.keys)
        for k, d in splits.items()
    }


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path | None = None,
    *,
    command: str = "",
    progress: bool | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Train and evaluate ``config`` once (one seed); write the result files when ``out_dir`` is
    given. Several seeds (``train.seeds > 1``) are the caller's loop: `ltcn_jax.seeds.run_seeds`.

    Returns:
        The metrics dict written to ``metrics.json``.

    Raises:
        ValueError: ``train.seeds > 1``.
        UsageError: model selection would see the test split (`check_selection`).
    """
    if config.train.seeds > 1:
        raise ValueError(f"run_experiment trains one seed, but train.seeds = {config.train.seeds}: "
                         "ltcn_jax.seeds.run_seeds runs every seed")
    check_selection(config)
    started = time.perf_counter()
    prepared = prepare(config.data, use_cache=use_cache, progress=progress)
    classes = list(prepared.classes)
    normal = normal_index(prepared)
    out = Path(out_dir) if out_dir is not None else None
    train_rows = _subsample(prepared.labelled("train"), config.train.max_train_rows, config.train.seed)
    splits = labelled_splits(prepared, train_rows)
    _check_prune_config(config)
    ablation = None
    if config.prune.targets and config.prune.mode == "during-training":
        probs, run = _train_while_pruning(config, splits, len(classes), out, progress)
    else:
        probs, run, ablation = _train_then_prune(config, splits, classes, normal, prepared, out, progress)
    y_test = splits["test"].y[splits["test"].rows]
    result_dict = _result_dict(config, prepared, run, probs, y_test, len(train_rows))
    if ablation is not None:
        result_dict["ablation"] = ablation
    if config.train.folds > 1:
        result_dict["cross_validation"] = cross_validate(config, prepared, progress=progress)
    result_dict["total_seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        _write_outputs(out, config, prepared, result_dict, y_test, probs, command)
    return result_dict


def labelled_splits(prepared: Prepared, train_rows: np.ndarray | None = None) -> dict[str, SplitData]:
    """The train / val / test splits of ``prepared`` over their labelled rows (``train_rows``:
    a subset of the training rows instead)."""
    rows = {name: prepared.labelled(name) for name in ("train", "val", "test")}
    if train_rows is not None:
        rows["train"] = train_rows
    return {name: SplitData(prepared.x[name], prepared.y[name], r,
                            None if prepared.keys is None else prepared.keys[name])
            for name, r in rows.items()}


def check_selection(config: ExperimentConfig) -> None:
    """Refuse a config under which model selection would see the test split: early stopping,
    pruning's fine-tuning and any threshold use the validation split, so there must be one,
    and no test record may also be a training or validation record.

    Raises:
        UsageError: no validation split, or test files that are also training files.
    """
    data = config.data
    if data.split == "official":
        if not 0.0 < data.val_fraction < 1.0:
            raise UsageError(f"data.val_fraction = {data.val_fraction}: model selection needs a "
                             "validation split (0 < val_fraction < 1), never the test split")
        shared = sorted(set(map(os.path.abspath, data.train_files)) & set(map(os.path.abspath, data.test_files)))
        if shared:
            raise UsageError(f"{shared[0]} is both a training and a test file: the test split "
                             "would take part in training and model selection")
    elif len(data.fractions) != 3 or data.fractions[1] <= 0:
        raise UsageError(f"data.fractions = {tuple(data.fractions)}: model selection needs a "
                         "validation share (the second value > 0), never the test split")


def _check_prune_config(config: ExperimentConfig) -> None:
    targets = config.prune.targets
    if targets and not model_kind(config.model.kind).network:
        raise ValueError(f"pruning applies to the neural models, not to {config.model.kind}")
    if targets and config.prune.mode == "during-training" and len(targets) != 1:
        raise ValueError("during-training pruning takes exactly one target")


def _train_while_pruning(
    config: ExperimentConfig,
    splits: dict[str, SplitData],
    num_classes: int,
    out: Path | None,
    progress: bool | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``prune.mode == "during-training"``: train a fresh model while its sparsity ramps up
    to the one target; the test probabilities and what the run reports."""
    target = config.prune.targets[0]
    model = build_model(config.model, num_classes)
    seq = _sequences(config, splits)
    init_key = jax.random.key(config.train.seed)
    init = trainer.create_train_state(model, init_key, seq["train"][:1]).params
    t0 = time.perf_counter()
    pruned = prune_trained(config, Trained(model, init, seq), splits, num_classes, target,
                           from_scratch=True, progress=progress)
    trained = Trained(model, pruned.params, seq)
    probs = predict_test(config, trained, pruned.params)
    n_params = complexity.param_count(pruned.params)
    run = {"params": n_params, "param_kind": "weights",
           "fp32_mb": round(complexity.fp32_megabytes(n_params), 4),
           "train_seconds": round(time.perf_counter() - t0, 2), "history": [],
           "receptive_field": getattr(model, "receptive_field", None)}
    run["pruning"] = pruning_info(config, target, pruned)
    save_pruned(out, pruned)
    return probs, run


def _train_then_prune(
    config: ExperimentConfig,
    splits: dict[str, SplitData],
    classes: list[str],
    normal: int | None,
    prepared: Prepared,
    out: Path | None,
    progress: bool | None,
) -> tuple[np.ndarray, dict[str, Any], list[dict] | None]:
    """Train (``params.msgpack`` when ``out`` is given), then prune to one target (the run's
    model becomes the pruned one) or to each of several (the ablation, returned third)."""
    targets = config.prune.targets
    checkpoint = out / "params.msgpack" if out is not None else None
    width = prepared.preprocessor.width
    probs, run, trained = fit_predict(
        config, len(classes), width, splits, checkpoint=checkpoint, progress=progress
    )
    if len(targets) > 1:
        return probs, run, run_ablation(config, trained, splits, classes, normal, probs, out, progress)
    if len(targets) == 1:
        dense = metrics.evaluate(splits["test"].y[splits["test"].rows], probs, classes, normal)
        t0 = time.perf_counter()
        pruned = prune_trained(config, trained, splits, len(classes), targets[0], progress=progress)
        probs = predict_test(config, trained, pruned.params)
        run["pruning"] = pruning_info(config, targets[0], pruned, seconds=time.perf_counter() - t0)
        run["dense_test"] = {k: dense[k] for k in ("accuracy", "balanced_accuracy", "f1_macro")}
        save_pruned(out, pruned)
    return probs, run, None


def _result_dict(
    config: ExperimentConfig,
    prepared: Prepared,
    run: dict[str, Any],
    probs: np.ndarray,
    y_test: np.ndarray,
    train_rows: int,
) -> dict[str, Any]:
    """The metrics dict of a run (``total_seconds`` is filled in by the caller)."""
    classes = list(prepared.classes)
    seq_len = _sequence_length(prepared)
    warnings = list(prepared.info.get("warnings", []))
    receptive = run.get("receptive_field")
    if receptive is not None and receptive < seq_len:
        warnings.append(
            f"receptive field {receptive} < sequence length {seq_len}: the first "
            f"{seq_len - receptive} steps never reach the output"
        )
    normal = normal_index(prepared)
    test = metrics.evaluate(y_test, probs, classes, normal)
    test["roc_auc"] = (test.get("binary") or {}).get("roc_auc")
    y_train = prepared.y["train"][prepared.labelled("train")]
    return {
        "name": config.name,
        "dataset": prepared.preprocessor.dataset,
        "model": config.model.kind,
        "split": config.data.split,
        "sequence": {"mode": config.data.sequence, "length": seq_len},
        "classes": classes,
        "test": test,
        # 95 % percentile bootstrap over the test records (this one trained model)
        "test_ci": metrics.bootstrap_ci(y_test, probs, classes, normal, seed=config.train.seed),
        "baselines": metrics.trivial_baselines(y_train, y_test, classes, normal),
        **run,
        "total_seconds": 0.0,
        "train_rows": train_rows,
        "data": prepared.info["splits"],
        "warnings": warnings,
    }


CV_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")


def cross_validate(
    config: ExperimentConfig, prepared: Prepared, *, progress: bool | None = None
) -> dict[str, Any]:
    """k-fold cross-validation over the training and validation splits (the test split is
    never touched), reported as mean +/- std.

    Folds are contiguous blocks of the pooled rows (in capture order), not random rows, so no
    fold is trained on the flows right around the ones it is tested on. Within each fold's
    training part, the last 10 % (in order) is held out for early stopping, so the held-out
    fold plays no part in model selection. Windows never reach across a gap: segments are
    joined with ``window - 1`` zero rows, the padding a stream's start sees.
    """
    k = config.train.folds
    if config.data.stream_key:
        raise ValueError("train.folds with data.stream_key (per-host windows) is not supported")
    x = np.concatenate([prepared.x["train"], prepared.x["val"]])
    y = np.concatenate([prepared.y["train"], prepared.y["val"]])
    n = len(y)
    bounds = np.linspace(0, n, k + 1).astype(int)
    gap = config.data.window - 1 if config.data.sequence == "flows" else 0
    classes = list(prepared.classes)
    folds = []
    for i in range(k):
        held = np.arange(bounds[i], bounds[i + 1])
        before, after = np.arange(0, bounds[i]), np.arange(bounds[i + 1], n)
        segments = [s for s in (before, after) if len(s)]
        xs, ys = [], []
        for seg in segments:
            if xs and gap:
                xs.append(np.zeros((gap, x.shape[1]), x.dtype))
                ys.append(np.full(gap, -1, np.int32))
            xs.append(x[seg])
            ys.append(y[seg])
        x_train, y_train = np.concatenate(xs), np.concatenate(ys)
        labelled = np.flatnonzero(y_train >= 0)
        cut = int(len(labelled) * 0.9)
        held_labelled = np.flatnonzero(y[held] >= 0)
        splits = {
            "train": SplitData(x_train, y_train, labelled[:cut]),
            "val": SplitData(x_train, y_train, labelled[cut:]),
            "test": SplitData(x[held], y[held], held_labelled),
        }
        probs, _, _ = fit_predict(config, len(classes), prepared.preprocessor.width, splits, progress=progress)
        m = metrics.evaluate(y[held][held_labelled], probs, classes, normal_index(prepared))
        m["roc_auc"] = (m.get("binary") or {}).get("roc_auc")
        folds.append({key: m[key] for key in CV_METRICS})
    summary: dict[str, Any] = {"folds": k, "per_fold": folds}
    for key in CV_METRICS:
        values = [f[key] for f in folds if f[key] is not None]
        summary[key] = (
            {"mean": float(np.mean(values)), "std": float(np.std(values))} if values else None
        )
    return summary


def _forest_proba(model, x: np.ndarray, num_classes: int) -> np.ndarray:
    """predict_proba with a column for every model class (a forest only knows those it saw)."""
    probs = np.zeros((len(x), num_classes), np.float32)
    if len(x):
        probs[:, model.classes_] = model.predict_proba(x)
    return probs


def _write_outputs(out: Path, config, prepared, result, y_test, probs, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(config), indent=1, default=str) + "\n")
    (out / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "preprocess.json").write_text(prepared.preprocessor.to_json() + "\n")
    (out / "command.txt").write_text(command + "\n")
    normal = normal_index(prepared)
    curves = metrics.attack_curves(y_test, probs, normal) if normal is not None else None
    report.write_plots(out, result, curves)
    if result.get("ablation"):
        report.write_ablation(out, result, command)
    (out / "report.md").write_text(report.markdown(result, config, command))

