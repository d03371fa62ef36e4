"""Pruning inside an experiment run (``config.prune``): prune a trained network, the sparsity
ablation (the source paper's Table VII), storage sizes, and the pruned files of a run.

Split out of `ltcn_jax.experiment`, which calls these; this module needs the run's
`~ltcn_jax.experiment.Trained` network and `~ltcn_jax.experiment.SplitData` only as values it
is handed (annotations), so it imports nothing from there at run time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from ltcn_kernels.engine.csr import csr_bytes

from . import metrics, paper, pruning
from . import train as trainer
from .config import ExperimentConfig
from .progress import resolve as resolve_progress

if TYPE_CHECKING:  # annotations only: experiment imports this module
    from .experiment import SplitData, Trained

# Quoted from the source paper (Table VII): accuracy of the pruned L-TCN, not measured here.
PAPER_TABLE_VII = {0.0: paper.value("dense_accuracy"), 0.8: paper.value("pruned_80_accuracy")}


def predict_test(config: ExperimentConfig, trained: Trained, params) -> np.ndarray:
    """Class probabilities of the test split's model inputs under ``params``."""
    return trainer.predict_proba(
        trained.model.apply, params, trained.seq["test"], config.train.eval_batch_size
    )


def prune_trained(
    config: ExperimentConfig,
    trained: Trained,
    splits: dict[str, SplitData],
    num_classes: int,
    target: float,
    *,
    from_scratch: bool = False,
    progress: bool | None = None,
) -> pruning.PruneResult:
    """Prune ``trained.params`` to ``target`` with fine-tuning (``config.prune``); with
    ``from_scratch`` the rounds train an untrained model while the sparsity ramps up from a
    dense first round (train-and-prune)."""
    p = config.prune
    schedule: Any = p.schedule
    epochs = p.finetune_epochs
    rounds = 1 if p.schedule == "one-shot" and not from_scratch else p.rounds
    if from_scratch:
        rounds = max(p.rounds, 2)
        schedule = pruning.Polynomial(final_sparsity=target, end_step=rounds, begin_step=1)
        epochs = max(1, config.train.epochs // rounds)
    return pruning.prune_and_finetune(
        trained.model,
        trained.params,
        trained.seq["train"],
        splits["train"].y[splits["train"].rows],
        trained.seq["val"],
        splits["val"].y[splits["val"].rows],
        num_classes=num_classes,
        target=target,
        schedule=schedule,
        rounds=rounds,
        criterion=p.criterion,
        structure=p.structure,
        block=p.block,
        include_head=p.include_head,
        finetune_epochs=epochs,
        batch_size=config.train.batch_size,
        learning_rate=config.train.learning_rate,
        class_weight_mode=config.train.class_weights,
        seed=config.train.seed,
        progress=resolve_progress(progress),
        eval_batch_size=config.train.eval_batch_size,
    )


def storage_mb(params, masks) -> dict[str, float]:
    """Dense fp32 size, and the size with pruned kernels stored as CSR (fp32 values, narrow
    indices) and everything else dense."""
    dense = sparse = 0
    leaves = jax.tree_util.tree_leaves_with_path(params)
    mask_leaves = dict(jax.tree_util.tree_leaves_with_path(masks)) if masks is not None else {}
    for path, leaf in leaves:
        array = np.asarray(leaf)
        dense += array.size * 4
        sparse += csr_bytes(array) if mask_leaves.get(path) is not None else array.size * 4
    return {"dense_mb": round(dense / 1e6, 4), "csr_mb": round(sparse / 1e6, 4)}


def structure_info(config: ExperimentConfig) -> dict[str, Any]:
    """``{"structure": "block", "block": 4}`` for block pruning; empty for the default
    unstructured pruning, so the outputs of those runs carry no new keys."""
    p = config.prune
    return {} if p.structure == "unstructured" else {"structure": p.structure, "block": p.block}


def pruning_info(
    config: ExperimentConfig,
    target: float,
    pruned: pruning.PruneResult,
    seconds: float | None = None,
) -> dict:
    """The ``pruning`` section of a run's metrics: settings, rounds, sparsity report, sizes."""
    info = {
        "target": target,
        "mode": config.prune.mode,
        "schedule": config.prune.schedule,
        "criterion": config.prune.criterion,
        **structure_info(config),
        "rounds": [
            {k: r[k] for k in ("round", "target_sparsity", "sparsity", "best_val_macro_f1")}
            for r in pruned.history
        ],
        "report": pruned.report,
        **storage_mb(pruned.params, pruned.masks),
    }
    if seconds is not None:
        info["seconds"] = round(seconds, 2)
    return info


def save_pruned(out: Path | None, pruned: pruning.PruneResult, stem: str = "") -> None:
    """Write ``<stem>params.msgpack`` and ``<stem>masks.msgpack`` under ``out`` (if given)."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_params(out / f"{stem}params.msgpack", pruned.params)
    pruning.save_masks(out / f"{stem}masks.msgpack", pruned.masks)


def run_ablation(config, trained, splits, classes, normal, dense_probs, out, progress) -> list[dict]:
    """Prune the same trained model to every target; one Table VII row per target."""
    y_test = splits["test"].y[splits["test"].rows]
    rows = []
    for target in config.prune.targets:
        t0 = time.perf_counter()
        if target == 0:
            probs, params = dense_probs, trained.params
            masks = pruning.init_masks(params, pruning.prunable_mask_tree(params, config.prune.include_head))
            achieved = 0.0
        else:
            pruned = prune_trained(config, trained, splits, len(classes), target, progress=progress)
            probs, params, masks = predict_test(config, trained, pruned.params), pruned.params, pruned.masks
            achieved = pruned.report["prunable"]["sparsity"]
            save_pruned(out, pruned, stem=f"sparsity_{round(100 * target)}_")
        m = metrics.evaluate(y_test, probs, classes, normal)
        rows.append({
            "target": target,
            **structure_info(config),
            "sparsity": achieved,
            **storage_mb(params, masks),
            "accuracy": m["accuracy"],
            "balanced_accuracy": m["balanced_accuracy"],
            "f1_macro": m["f1_macro"],
            "binary_accuracy": (m.get("binary") or {}).get("accuracy"),
            "roc_auc": (m.get("binary") or {}).get("roc_auc"),
            "seconds": round(time.perf_counter() - t0, 2),
            "inference_ms": None,  # filled by the benchmark (edge engine)
            "paper_accuracy": PAPER_TABLE_VII.get(target),
        })
    return rows
