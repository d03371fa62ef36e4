"""Result files a person reads: Markdown tables and PNG plots of one experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float]):
    """``pyplot.subplots`` without pyplot: a `Figure` tied to no GUI backend (files only), so
    plotting never switches the caller's backend and needs no ``close``."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols)


def write_plots(out: Path, result: dict, curves: dict | None) -> list[str]:
    """ROC and PR curves (attack vs normal), the confusion matrix and training curves."""
    written = []
    title = f"{result['name']} ({result['model']}, {result['dataset']} test split)"
    if curves is not None:
        auc = result["test"]["binary"]["roc_auc"]
        ap = result["test"]["binary"]["average_precision"]
        fig, axes = _subplots(1, 2, figsize=(10, 4.2))
        axes[0].plot(curves["roc_fpr"], curves["roc_tpr"], lw=2, label=f"AUC {auc:.4f}")
        axes[0].plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        axes[0].set(xlabel="false alarm rate (normal flagged)", ylabel="detection rate",
                    title="ROC, attack vs normal")
        axes[1].plot(curves["pr_recall"], curves["pr_precision"], lw=2, label=f"AP {ap:.4f}")
        axes[1].set(xlabel="recall (attacks)", ylabel="precision", title="Precision-recall")
        for ax in axes:
            ax.legend(loc="lower right" if ax is axes[0] else "lower left")
            ax.grid(alpha=0.3)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(out / "roc_pr.png", dpi=110)
        written.append("roc_pr.png")

    cm = np.asarray(result["test"]["confusion_matrix"], dtype=float)
    names = result["classes"]
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = _subplots(figsize=(1.0 + 0.75 * len(names), 0.8 + 0.65 * len(names)))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                        fontsize=7, color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (row share)")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=110)
    written.append("confusion.png")

    history = result.get("history") or []
    if history:
        epochs = [h["epoch"] + 1 for h in history]
        fig, ax = _subplots(1, 2, figsize=(10, 3.8))
        ax[0].plot(epochs, [h["train_loss"] for h in history], marker="o", label="train (class-weighted)")
        ax[0].plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
        ax[0].set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
        ax[1].plot(epochs, [h["val_macro_f1"] for h in history], marker="o", c="tab:green")
        ax[1].axvline(result.get("best_epoch", 0) + 1, ls="--", c="grey", lw=1)
        ax[1].set(xlabel="epoch", ylabel="macro-F1", title="Validation macro-F1 (dashed: kept)")
        ax[0].legend()
        for a in ax:
            a.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "training.png", dpi=110)
        written.append("training.png")
    return written


def headline(result: dict) -> str:
    """One line of test metrics for a terminal."""
    t = result["test"]
    b = t.get("binary") or {}
    auc = b.get("roc_auc")
    binary = f"  attack-vs-normal acc {b['accuracy']:.4f}" if "accuracy" in b else ""
    name = result["name"]
    if result.get("pruning"):
        name += f" [{100 * result['pruning']['target']:.0f}% pruned]"
    return (
        f"{name:<28} acc {t['accuracy']:.4f}  balanced {t['balanced_accuracy']:.4f}  "
        f"macro-F1 {t['f1_macro']:.4f}{binary}  AUC {'n/a' if auc is None else f'{auc:.4f}'}  "
        f"train {result['train_seconds']:.0f} s"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def markdown(result: dict, config: Any, command: str) -> str:
    """The experiment's report: headline metrics, per-class table, data, complexity."""
    t = result["test"]
    b = t.get("binary") or {}
    lines = [
        f"# {result['name']}",
        "",
        f"{getattr(config, 'description', '') or ''}".strip(),
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"Dataset **{result['dataset']}**, split **{result['split']}**, model **{result['model']}**, "
        f"sequence {result['sequence']['mode']} x {result['sequence']['length']}; "
        f"metrics on the held-out **test** split ({t['n']:,} rows).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy (%) | {_pct(t['accuracy'])} |",
        f"| balanced accuracy (%) | {_pct(t['balanced_accuracy'])} |",
        f"| macro-F1 (%) | {_pct(t['f1_macro'])} |",
        f"| weighted F1 (%) | {_pct(t['f1_weighted'])} |",
        f"| attack-vs-normal accuracy (%) | {_pct(b.get('accuracy'))} |",
        f"| attack-vs-normal ROC AUC | {b.get('roc_auc') if b.get('roc_auc') is None else round(b['roc_auc'], 4)} |",
        f"| attack-vs-normal average precision | {b.get('average_precision') if b.get('average_precision') is None else round(b['average_precision'], 4)} |",
        f"| detection rate / false-alarm rate (%) | {_pct(b.get('detection_rate'))} / {_pct(b.get('false_alarm_rate'))} |",
        f"| {result.get('param_kind', 'params')} | {result['params']:,} |",
        f"| fp32 size (MB) | {result['fp32_mb']} |",
        f"| train seconds | {result['train_seconds']} |",
        "",
        "## Per class (test)",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, m in t["per_class"].items():
        lines.append(
            f"| {name} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | {m['support']:,} |"
        )
    lines += ["", "## Data", "", "| split | rows | per class | not modelled |", "|---|---|---|---|"]
    for split, info in result["data"].items():
        per = ", ".join(f"{c} {n}" for c, n in info["classes"].items() if n)
        lines.append(f"| {split} | {info['rows']:,} | {per} | {info['unmodelled']} |")
    if result.get("train_rows"):
        lines.append(f"\nTrained on {result['train_rows']:,} training rows.")
    pruning = result.get("pruning")
    if pruning:
        dense = result.get("dense_test") or {}
        lines += ["", f"## Pruning ({pruning['mode']}, {pruning['schedule']}, {pruning['criterion']})", "",
                  f"Target {100 * pruning['target']:.0f} %, achieved "
                  f"{100 * pruning['report']['prunable']['sparsity']:.2f} % of the prunable weights "
                  f"({100 * pruning['report']['all']['sparsity']:.2f} % of all). Size {pruning['dense_mb']} MB "
                  f"dense fp32 -> {pruning['csr_mb']} MB with CSR kernels."]
        if dense:
            lines.append(f"Dense model before pruning: accuracy {_pct(dense['accuracy'])} %, macro-F1 "
                         f"{_pct(dense['f1_macro'])} %.")
        lines += ["", "| layer | size | zeros | sparsity |", "|---|---|---|---|"]
        for name, layer in pruning["report"]["layers"].items():
            if layer.get("prunable"):
                lines.append(f"| {name} | {layer['size']:,} | {layer['zeros']:,} | {100 * layer['sparsity']:.2f} % |")
    if result.get("ablation"):
        lines += ["", "Sparsity ablation: see `ablation.md` and `ablation.png`."]
    cv = result.get("cross_validation")
    if cv:
        lines += ["", f"## {cv['folds']}-fold cross-validation (train + validation splits, contiguous folds)", "",
                  "| metric | mean | std |", "|---|---|---|"]
        for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
            if cv.get(key):
                lines.append(f"| {key} | {cv[key]['mean']:.4f} | {cv[key]['std']:.4f} |")
    if result.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    if result.get("macs"):
        m = result["macs"]
        lines += ["", f"MACs per classified flow: {m.get('per_flow'):,} (window {m.get('window')})."]
    lines += ["", "Plots: `roc_pr.png`, `confusion.png`, `training.png` (deep models).", ""]
    return "\n".join(line for line in lines if line is not None)


def write_ablation(out: Path, result: dict, command: str) -> None:
    """The sparsity ablation as the source paper's Table VII (plus our extra columns), its JSON
    and a plot of macro-F1 and accuracy against sparsity."""
    rows = result["ablation"]
    dense = rows[0] if rows and rows[0]["target"] == 0 else None
    # Rows of block pruning say so (`experiment_pruning.structure_info`); unstructured rows
    # carry no structure key and keep the text they always had.
    block = next((r["block"] for r in rows if r.get("structure") == "block"), None)
    shape = "" if block is None else f", in 1x{block} blocks of output channels"
    lines = [
        f"# Sparsity ablation: {result['name']}",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"Dataset {result['dataset']}, split {result['split']}; every row prunes the SAME trained "
        f"model (layer-wise magnitude{shape}, iterative with fine-tuning) and is evaluated on the test split.",
        "Sizes: dense fp32 MB of all parameters; CSR MB with pruned kernels stored as CSR "
        "(fp32 values, smallest unsigned index type) and biases/head dense.",
        "",
        "| configuration | sparsity | size dense fp32 (MB) | size CSR (MB) | accuracy (%) | macro-F1 (%) "
        "| Δ macro-F1 (pts) | attack-vs-normal acc (%) | inference time (ms / 1,000 flows) | paper accuracy (%) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        label = "L-TCN dense" if r["target"] == 0 else f"L-TCN pruned {round(100 * r['target'])} %"
        if r["target"] != 0 and r.get("structure") == "block":
            label += f" (1x{r['block']} blocks)"
        delta = "" if dense is None else f"{100 * (r['f1_macro'] - dense['f1_macro']):+.2f}"
        paper = "" if r.get("paper_accuracy") is None else f"{r['paper_accuracy']:.2f} (quoted)"
        infer = "" if r.get("inference_ms") is None else f"{r['inference_ms']:.2f}"
        lines.append(
            f"| {label} | {100 * r['sparsity']:.1f} % | {r['dense_mb']} | {r['csr_mb']} | "
            f"{_pct(r['accuracy'])} | {_pct(r['f1_macro'])} | {delta} | {_pct(r['binary_accuracy'])} | "
            f"{infer or 'see benchmark'} | {paper} |"
        )
    lines += [
        "",
        "Targets: macro-F1 drop <= 0.3 pts at 60 %, <= 1.0 at 80 %, <= 2.0 at 90 %. The paper's "
        "column is its reported accuracy (99.12 % dense, 88.40 % at 80 %), not a measurement of ours.",
        "",
    ]
    (out / "ablation.md").write_text("\n".join(line for line in lines if line is not None))
    (out / "ablation.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")

    x = [100 * r["sparsity"] for r in rows]
    fig, ax = _subplots(figsize=(6, 4))
    ax.plot(x, [100 * r["f1_macro"] for r in rows], marker="o", label="macro-F1 (ours)")
    ax.plot(x, [100 * r["accuracy"] for r in rows], marker="s", label="accuracy (ours)")
    paper = [(100 * r["target"], r["paper_accuracy"]) for r in rows if r.get("paper_accuracy")]
    if paper:
        ax.plot(*zip(*paper, strict=True), ls="--", marker="x", c="grey", label="accuracy (paper, quoted)")
    ax.set(xlabel="sparsity of the prunable layers (%)", ylabel="%", title=f"{result['name']}: metrics vs sparsity")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=110)
