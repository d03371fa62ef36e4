"""Collect every ``results/<name>/metrics.json`` into ``results/summary.md`` and ``summary.json``,
set beside the source paper's reported figures.

    python experiments/summarize_results.py [--results results]

Only numbers from our own runs are ours; the paper's column is quoted from the paper and
marked as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ltcn_jax import paper

# What the source paper reports (quoted, not measured here).
PAPER = {
    "cicids2017": {"accuracy": paper.value("cicids2017_accuracy")},
    "bot-iot": {"accuracy": paper.value("bot_iot_accuracy")},
    "model": f"L-TCN, {paper.value('pruned_params_m')} M parameters / {paper.value('pruned_mb')} MB after "
             f"pruning ({paper.value('unpruned_mb')} MB unpruned)",
}


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.2f}"


def collect(results: Path) -> list[dict]:
    rows = []
    for path in sorted(results.glob("*/metrics.json")):
        m = json.loads(path.read_text())
        if "test" not in m:
            continue
        t = m["test"]
        b = t.get("binary") or {}
        rows.append(
            {
                "name": m["name"],
                "dataset": m["dataset"],
                "model": m["model"],
                "split": m["split"],
                "sequence": "per-flow features"
                if m["model"] == "random-forest"
                else f"{m['sequence']['mode']} x {m['sequence']['length']}",
                "accuracy": t["accuracy"],
                "balanced_accuracy": t["balanced_accuracy"],
                "f1_macro": t["f1_macro"],
                "binary_accuracy": b.get("accuracy"),
                "roc_auc": b.get("roc_auc"),
                "params": m["params"],
                "param_kind": m.get("param_kind", "weights"),
                "fp32_mb": m["fp32_mb"],
                "train_seconds": m["train_seconds"],
                "test_rows": t["n"],
                "recall": {c: v["recall"] for c, v in t["per_class"].items() if v["support"]},
                "command": (path.parent / "command.txt").read_text().strip()
                if (path.parent / "command.txt").is_file()
                else "",
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Results summary",
        "",
        "Every row is one `ltcn run` on this project's 2-core CPU machine; metrics are on the",
        "held-out test split. `results/<name>/report.md` has the per-class table, plots and the",
        "exact command. Paper figures are quoted from the source paper, not measured here.",
        "",
    ]
    for dataset in sorted({r["dataset"] for r in rows}):
        group = [r for r in rows if r["dataset"] == dataset]
        lines += [
            f"## {dataset}",
            "",
            "| run | model | split | input | acc % | balanced acc % | macro-F1 % | attack-vs-normal acc % | ROC AUC | size | train s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in group:
            size = f"{r['params']:,} {'nodes' if r['param_kind'] == 'tree nodes' else 'params'}"
            auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
            lines.append(
                f"| [{r['name']}]({r['name']}/report.md) | {r['model']} | {r['split']} | {r['sequence']} | "
                f"{_pct(r['accuracy'])} | {_pct(r['balanced_accuracy'])} | {_pct(r['f1_macro'])} | "
                f"{_pct(r['binary_accuracy'])} | {auc} | {size} | {r['train_seconds']:.0f} |"
            )
        if dataset in PAPER:
            lines += ["", f"Paper (quoted): accuracy {PAPER[dataset]['accuracy']} % on {dataset}."]
        lines += ["", "Per-class recall (test):", ""]
        for r in group:
            recall = ", ".join(f"{c} {100 * v:.1f}" for c, v in r["recall"].items())
            lines.append(f"- {r['name']}: {recall}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    rows = collect(args.results)
    (args.results / "summary.json").write_text(json.dumps({"paper": PAPER, "runs": rows}, indent=1) + "\n")
    text = markdown(rows)
    (args.results / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
