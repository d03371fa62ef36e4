"""One table of every seeded run under results/seeds/ (issue 17), beside the single-seed number
the README quoted before and the trivial baselines of the same test split.

    python experiments/summarize_seeds.py   # -> results/seeds/README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ltcn_jax.seeds import interval_cell

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    folder = ROOT / "results" / "seeds"
    lines = ["# Seeded runs (issue 17)", "",
             "Each row: N independent trainings of the config (seeds train.seed + i; on NSL-KDD's "
             "official split also a new validation carve), the same test split. Mean ± std "
             "[95 % bootstrap interval of the mean over the seeds], in %. 'single seed' is the "
             "run in `results/<name>/` (seed 0) that the README quoted before. Baselines look at "
             "no feature: the majority training class, and the most frequent attack class "
             "(every flow flagged).", "",
             "| run | seeds | accuracy | macro-F1 | attack-vs-normal acc | single seed macro-F1 | majority acc / macro-F1 | always-attack attack-vs-normal acc |",
             "|---|---:|---|---|---|---:|---|---:|"]
    runs = [(p.name, json.loads((p / "metrics.json").read_text()))
            for p in sorted(folder.iterdir()) if (p / "metrics.json").is_file()]
    for name, m in runs:
        t, b = m["test"], m.get("baselines") or {}
        single = ROOT / "results" / name / "metrics.json"
        one = json.loads(single.read_text())["test"]["f1_macro"] if single.is_file() else None
        maj, att = b.get("majority", {}), b.get("always_attack", {})
        att_acc = f"{100 * att['attack_vs_normal_accuracy']:.2f}" if att else ""
        lines.append(f"| {name} | {m['seeds']} | {interval_cell(t['accuracy'])} | {interval_cell(t['f1_macro'])} | "
                     f"{interval_cell(t['attack_vs_normal_accuracy'])} | {'' if one is None else f'{100 * one:.2f}'} | "
                     f"{100 * maj['accuracy']:.2f} / {100 * maj['f1_macro']:.2f} | "
                     f"{att_acc} |")
    ablations = [(n, m) for n, m in runs if m["test"].get("ablation")]
    if ablations:
        targets = [r["target"] for r in ablations[0][1]["test"]["ablation"] if r["target"] > 0]
        lines += ["", "## Pruning ablations: macro-F1 drop vs dense (points)", "",
                  "Each seed's model pruned to each sparsity and fine-tuned, its drop measured against its "
                  "own dense model; mean ± std [95 % interval of the mean]; targets judged on the mean.", "",
                  "| run | seeds | " + " | ".join(f"{100 * t:.0f} %" for t in targets) + " |",
                  "|---|---:|" + "---|" * len(targets)]
        for name, m in ablations:
            cells = []
            for r in m["test"]["ablation"]:
                if r["target"] <= 0:
                    continue
                cell = interval_cell(r["drop_points"], scale=1)
                if "met_on_mean" in r:
                    cell += f" ({'met' if r['met_on_mean'] else '**missed**'}, <= {r['max_drop_points']})"
                cells.append(cell)
            lines.append(f"| {name} | {m['seeds']} | " + " | ".join(cells) + " |")
    commands = sorted({(folder / r.name / "command.txt").read_text().strip()
                       for r in folder.iterdir() if (r / "command.txt").is_file()})
    lines += ["", "Commands (each run's `command.txt`):", "", *[f"- `{c}`" for c in commands],
              "", "Summary: `python experiments/summarize_seeds.py`.", ""]
    (folder / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
