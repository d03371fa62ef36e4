"""One table of every seeded run under results/seeds/ (issue 17), beside the single-seed number
the README quoted before and the trivial baselines of the same test split.

    python experiments/summarize_seeds.py   # -> results/seeds/README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pm(s: dict) -> str:
    if s.get("mean") is None:
        return "n/a"
    lo, hi = s["ci95"]
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"


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
             "|---|---:|---|---|---|---:|---|---:|"]  # fmt: skip
    for run in sorted(p for p in folder.iterdir() if (p / "metrics.json").is_file()):
        m = json.loads((run / "metrics.json").read_text())
        t, b = m["test"], m.get("baselines") or {}
        single = ROOT / "results" / run.name / "metrics.json"
        one = json.loads(single.read_text())["test"]["f1_macro"] if single.is_file() else None
        maj, att = b.get("majority", {}), b.get("always_attack", {})
        att_acc = f"{100 * att['attack_vs_normal_accuracy']:.2f}" if att else ""
        lines.append(f"| {run.name} | {m['seeds']} | {_pm(t['accuracy'])} | {_pm(t['f1_macro'])} | "
                     f"{_pm(t['attack_vs_normal_accuracy'])} | {'' if one is None else f'{100 * one:.2f}'} | "
                     f"{100 * maj['accuracy']:.2f} / {100 * maj['f1_macro']:.2f} | "
                     f"{att_acc} |")  # fmt: skip
    commands = sorted({(folder / r.name / "command.txt").read_text().strip()
                       for r in folder.iterdir() if (r / "command.txt").is_file()})  # fmt: skip
    lines += ["", "Commands (each run's `command.txt`):", "", *[f"- `{c}`" for c in commands],
              "", "Summary: `python experiments/summarize_seeds.py`.", ""]  # fmt: skip
    (folder / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
