"""Complexity table of every model: parameters, multiply-accumulates per classified flow, fp32 MB.

    python experiments/complexity_table.py --out results/complexity

Two input settings, the ones our experiments use: NSL-KDD with the record's 120 features as
the sequence (1 channel x 120 steps, 5 classes) and CICIDS2017 flow windows (118 features x 61
flows, 5 classes). Models are built from the experiment configs, so the table describes exactly
what was trained. Shapes only: nothing is trained or run. See ``ltcn_jax.complexity`` for what
each MAC column counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ltcn_jax import paper
from ltcn_jax.complexity import complexity_table
from ltcn_jax.config import ModelConfig, load_config
from ltcn_jax.model_kinds import build_model

HERE = Path(__file__).parent
SETTINGS = {
    "nsl-kdd features (1 x 120 steps)": {
        "features": 1, "window": 120, "classes": 5,
        "configs": ["nsl_kdd_quickstart", "nsl_kdd_lstm", "nsl_kdd_transformer", "nsl_kdd_cnn"],
    },
    "cicids2017 flow windows (118 x 61 flows)": {
        "features": 118, "window": 61, "classes": 5,
        "configs": ["cicids2017_samples", "paper_scale"],
        "baselines": ["nsl_kdd_lstm", "nsl_kdd_transformer", "nsl_kdd_cnn"],
    },
}


def build(name: str, classes: int, model: ModelConfig | None = None):
    config = load_config(HERE / f"{name}.py")
    return build_model(model or config.model, classes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/complexity"))
    args = parser.parse_args()
    tables = {}
    for setting, spec in SETTINGS.items():
        models = {name: build(name, spec["classes"]) for name in spec["configs"]}
        for name in spec.get("baselines", []):
            models[name.replace("nsl_kdd_", "")] = build(name, spec["classes"])
        tables[setting] = complexity_table(models, spec["features"], spec["window"])
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/complexity_table.py --out " + str(args.out)
    (args.out / "complexity.json").write_text(json.dumps({"command": command, "tables": tables}, indent=1) + "\n")
    lines = ["# Model complexity", "", f"Command: `{command}`", "",
             "MACs per flow: the work to classify one flow from its window, computing only what "
             "that decision needs (for the L-TCN, the last output step). Per step: the cost of "
             "one new flow in streaming mode with cached activations (n/a for the non-causal "
             "CNN). MB = 10^6 bytes of fp32 weights. Random Forest sizes are in each run's "
             "report (tree nodes).", ""]
    for setting, rows in tables.items():
        lines += [f"## {setting}", "", "| model | params | fp32 MB | MACs per flow | MACs full window | MACs per step |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            step = "n/a" if r["macs_per_step"] is None else f"{r['macs_per_step']:,}"
            lines.append(
                f"| {r['model']} | {r['params']:,} | {r['fp32_mb']} | {r['macs_per_flow']:,} | "
                f"{r['macs_full_window']:,} | {step} |"
            )
        lines.append("")
    lines.append(f"Paper (quoted): unpruned L-TCN {paper.value('unpruned_mb')} MB; pruned "
                 f"{paper.value('pruned_params_m')} M parameters / {paper.value('pruned_mb')} MB.")
    (args.out / "complexity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
