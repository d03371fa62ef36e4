"""Seeded runs (``ltcn run CONFIG --seeds N``, ``train.seeds``): N independent trainings of one
config, aggregated.

Seed ``i`` of a config with ``train.seed = s`` trains with seed ``s + i`` (initialisation and
shuffling) and, on the official split, carves its validation rows with ``data.seed + i``; the
test split is the same for every seed (the other splits' validation is a time block or part of
the test split's own draw, so their data stay fixed). Each seed's run goes to ``seed_<n>/``
with its usual files; the folder's ``metrics.json`` holds the per-seed headline metrics, their
mean, standard deviation (n - 1) and a 95 % percentile bootstrap interval of the mean over the
seeds, and each seed's own bootstrap interval over the test records. ``report.md`` and
``seeds.png`` show the same.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .config import ExperimentConfig, to_dict

BOOTSTRAP_RESAMPLES = 10_000


def seed_configs(config: ExperimentConfig) -> list[ExperimentConfig]:
    """The per-seed configs (each with ``train.seeds = 1``)."""
    out = []
    for i in range(config.train.seeds):
        train = dataclasses.replace(config.train, seed=config.train.seed + i, seeds=1)
        data = config.data
        if data.split == "official":  # its seed only carves the validation rows
            data = dataclasses.replace(data, seed=data.seed + i)
        out.append(dataclasses.replace(config, train=train, data=data))
    return out


def mean_interval(values, *, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = 0) -> dict[str, Any]:
    """Mean, std (n - 1) and the percentile bootstrap interval of the mean of ``values``."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "values": []}
    means = np.random.default_rng(seed).choice(v, (resamples, v.size)).mean(axis=1)
    lo, hi = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "ci95": [float(lo), float(hi)], "values": v.tolist()}


def aggregate(results: list[dict]) -> dict[str, Any]:
    """Headline metrics over the seeds' results (and dense-before-pruning ones when present)."""
    out: dict[str, Any] = {m: mean_interval(metrics.headline(r["test"])[m] for r in results)
                           for m in metrics.HEADLINE}
    out["roc_auc"] = mean_interval(r["test"].get("roc_auc") for r in results)
    if all(r.get("dense_test") for r in results):
        out["dense_f1_macro"] = mean_interval(r["dense_test"]["f1_macro"] for r in results)
        out["drop_vs_dense_f1_macro"] = mean_interval(r["dense_test"]["f1_macro"] - r["test"]["f1_macro"]
                                                      for r in results)
    if all(r.get("ablation") for r in results):
        out["ablation"] = aggregate_ablation([r["ablation"] for r in results])
    return out


# The targets for the pruning ablation: the largest macro-F1 drop vs dense (points).
ABLATION_TARGETS = {0.6: 0.3, 0.8: 1.0, 0.9: 2.0}


def aggregate_ablation(ablations: list[list[dict]]) -> list[dict]:
    """Per sparsity target: macro-F1, accuracy and the macro-F1 drop vs the seed's own dense
    model (its 0 % row), over the seeds; the drop targets judged on the mean."""
    rows = []
    for i, first in enumerate(ablations[0]):
        per = [a[i] for a in ablations]
        drop = [100 * (a[0]["f1_macro"] - a[i]["f1_macro"]) for a in ablations]
        row = {"target": first["target"], "f1_macro": mean_interval(p["f1_macro"] for p in per),
               "accuracy": mean_interval(p["accuracy"] for p in per),
               "drop_points": mean_interval(drop)}
        limit = ABLATION_TARGETS.get(round(first["target"], 2))
        if limit is not None:
            row["max_drop_points"] = limit
            row["met_on_mean"] = row["drop_points"]["mean"] <= limit
        rows.append(row)
    return rows


def run_seeds(config: ExperimentConfig, out_dir: str | Path | None = None, *, command: str = "",
              progress: bool | None = None, use_cache: bool = True) -> dict[str, Any]:
    """Run every seed of ``config`` (`run_experiment` for each of `seed_configs`); write
    ``seed_<n>/`` runs and the aggregate to ``out_dir``. ``ltcn run`` calls this when
    ``train.seeds > 1`` and `run_experiment` otherwise.

    Returns the aggregate dict written to ``metrics.json``.
    """
    # Here, not at the top: the summaries above (interval_cell, aggregate) serve scripts that
    # only read results, and the runner pulls in jax, flax and scikit-learn.
    from .experiment import run_experiment

    out = Path(out_dir) if out_dir is not None else None
    configs = seed_configs(config)
    results = []
    for cfg in configs:
        where = None if out is None else out / f"seed_{cfg.train.seed}"
        results.append(run_experiment(cfg, where, command=command, progress=progress, use_cache=use_cache))
    first = results[0]
    agg = {
        "name": config.name, "dataset": first["dataset"], "model": first["model"],
        "split": first["split"], "classes": first["classes"], "seeds": config.train.seeds,
        "seed_values": [c.train.seed for c in configs],
        "how": "train.seed + i for each seed (init, shuffling); data.seed + i on the official "
               "split (validation carve); the same test split for every seed",
        "test": aggregate(results),
        "per_seed": [{"seed": c.train.seed, **metrics.headline(r["test"]), "roc_auc": r["test"].get("roc_auc"),
                      "test_ci": r.get("test_ci"), "train_seconds": r.get("train_seconds")}
                     for c, r in zip(configs, results, strict=True)],
        "baselines": first.get("baselines"),  # the same test split: identical for every seed
        "n_test": first["test"]["n"],
        "total_seconds": round(sum(r.get("total_seconds", 0.0) for r in results), 2),
        "warnings": sorted({w for r in results for w in r.get("warnings", [])}),
    }
    if first.get("pruning"):
        agg["pruning_target"] = first["pruning"]["target"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(to_dict(config), indent=1, default=str) + "\n")
        (out / "metrics.json").write_text(json.dumps(agg, indent=1) + "\n")
        (out / "command.txt").write_text(command + "\n")
        (out / "report.md").write_text(markdown(agg, config, command))
        plot(out / "seeds.png", agg)
    return agg


def interval_cell(s: dict, scale: float = 100) -> str:
    """``mean ± std [lo, hi]`` of a :func:`mean_interval` dict, times ``scale`` (100: a fraction
    shown in %; 1: already in points)."""
    if s.get("mean") is None:
        return "n/a"
    lo, hi = s["ci95"]
    return f"{scale * s['mean']:.2f} ± {scale * s['std']:.2f} [{scale * lo:.2f}, {scale * hi:.2f}]"


def markdown(agg: dict, config: ExperimentConfig, command: str) -> str:
    t = agg["test"]
    lines = [f"# {agg['name']} ({agg['seeds']} seeds)", "", config.description.strip(), "",
             f"Command: `{command}`" if command else "", "",
             f"Dataset **{agg['dataset']}**, split **{agg['split']}**, model **{agg['model']}**; "
             f"metrics on the held-out **test** split ({agg['n_test']:,} rows), the same for every "
             f"seed. Seeds {agg['seed_values']}: {agg['how']}.", "",
             "| metric (%) | mean ± std [95 % bootstrap interval of the mean] |", "|---|---|"]
    names = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro-F1",
             "attack_vs_normal_accuracy": "attack-vs-normal accuracy", "roc_auc": "attack-vs-normal ROC AUC",
             "dense_f1_macro": "macro-F1 before pruning", "drop_vs_dense_f1_macro": "macro-F1 drop vs dense"}
    for key, label in names.items():
        if key in t:
            lines.append(f"| {label} | {interval_cell(t[key])} |")
    lines += ["", "## Per seed", "", "| seed | accuracy | macro-F1 | macro-F1 95 % interval over test records | attack-vs-normal acc |",
              "|---|---|---|---|---|"]
    for r in agg["per_seed"]:
        ci = (r.get("test_ci") or {}).get("f1_macro")
        avn = r["attack_vs_normal_accuracy"]
        lines.append(f"| {r['seed']} | {100 * r['accuracy']:.2f} | {100 * r['f1_macro']:.2f} | "
                     f"{'n/a' if ci is None else f'[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]'} | "
                     f"{'n/a' if avn is None else f'{100 * avn:.2f}'} |")
    if t.get("ablation"):
        lines += ["", "## Sparsity ablation over the seeds", "",
                  "| target | macro-F1 (%) | accuracy (%) | macro-F1 drop vs dense (points) | target drop | met (on the mean) |",
                  "|---|---|---|---|---|---|"]
        for r in t["ablation"]:
            met = "" if "met_on_mean" not in r else ("yes" if r["met_on_mean"] else "**no**")
            lines.append(f"| {100 * r['target']:.0f} % | {interval_cell(r['f1_macro'])} | {interval_cell(r['accuracy'])} | "
                         f"{interval_cell(r['drop_points'], scale=1)} | "
                         f"{'' if 'max_drop_points' not in r else r['max_drop_points']} | {met} |")
    if agg.get("baselines"):
        lines += ["", "## Trivial baselines (same test split; no feature looked at)", "",
                  "| baseline | predicts | accuracy | macro-F1 | attack-vs-normal acc |", "|---|---|---|---|---|"]
        for name, b in agg["baselines"].items():
            avn = b["attack_vs_normal_accuracy"]
            lines.append(f"| {name} | {b['predicts']} | {100 * b['accuracy']:.2f} | {100 * b['f1_macro']:.2f} | "
                         f"{'n/a' if avn is None else f'{100 * avn:.2f}'} |")
    if agg["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in agg["warnings"]]
    lines += ["", "Each seed's full report: `seed_<n>/report.md`. Plot: `seeds.png`.", ""]
    return "\n".join(lines)


def plot(path: Path, agg: dict) -> None:
    from matplotlib.figure import Figure

    keys = [k for k in ("accuracy", "balanced_accuracy", "f1_macro", "attack_vs_normal_accuracy")
            if agg["test"][k]["n"]]
    fig = Figure(figsize=(2.2 * len(keys) + 1, 3.6))
    ax = fig.subplots()
    for i, k in enumerate(keys):
        s = agg["test"][k]
        v = 100 * np.asarray(s["values"])
        ax.scatter(np.full(v.size, i) + np.linspace(-0.12, 0.12, v.size), v, s=18, alpha=0.8)
        lo, hi = (100 * x for x in s["ci95"])
        ax.errorbar(i + 0.3, 100 * s["mean"], yerr=[[100 * s["mean"] - lo], [hi - 100 * s["mean"]]],
                    fmt="o", color="k", capsize=4)
        for name, b in (agg.get("baselines") or {}).items():
            if b.get(k) is not None:
                ax.plot([i - 0.3, i + 0.4], [100 * b[k]] * 2, ls=":", lw=1,
                        color="grey" if name == "majority" else "tab:red")
    ax.set_xticks(range(len(keys)), [k.replace("_", " ") for k in keys], fontsize=8)
    ax.set_ylabel("% on the test split")
    ax.set_title(f"{agg['name']}: {agg['seeds']} seeds (dots), mean and 95 % interval; "
                 "dotted: majority / always-attack", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def headline(agg: dict) -> str:
    """One line for a terminal: mean ± std of the headline metrics over the seeds."""
    t = agg["test"]
    parts = [f"{label} {100 * t[k]['mean']:.2f} ± {100 * t[k]['std']:.2f}"
             for k, label in (("accuracy", "acc"), ("f1_macro", "macro-F1"),
                              ("attack_vs_normal_accuracy", "attack-vs-normal acc")) if t[k]["mean"] is not None]
    return f"{agg['name']:<28} {agg['seeds']} seeds: " + "  ".join(parts) + " (%)"
