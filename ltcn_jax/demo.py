"""``make demo``: the main job on the embedded NSL-KDD data.

Reads KDDTrain+_20Percent and KDDTest+ (shipped with the package), trains the quickstart L-TCN
and the Random Forest baseline, evaluates both on KDDTest+ and prints them beside the deep
baselines' stored results (``results/nsl_kdd_*/metrics.json``, each made by the command in its
``command.txt``). Run outputs go to ``runs/demo/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ltcn_kernels import read_flows
from ltcn_kernels.summary import summarize

from .config import load_config
from .data.prepare import DataConfig, resolve
from .experiment import run_experiment
from .report import headline

EMBEDDED_TRAIN = "embedded:KDDTrain+_20Percent.txt"
EMBEDDED_TEST = "embedded:KDDTest+.txt"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
STORED_BASELINES = ("nsl_kdd_lstm", "nsl_kdd_transformer", "nsl_kdd_cnn")


def quickstart_data_config() -> DataConfig:
    return load_config(EXPERIMENTS / "nsl_kdd_quickstart.py").data


def _describe_data() -> None:
    for name in (EMBEDDED_TRAIN, EMBEDDED_TEST):
        s = summarize(read_flows(resolve(name), progress=False))
        groups = ", ".join(f"{k} {v}" for k, v in s["groups"].items())
        dropped = sum(s["dropped"].values())
        print(
            f"{name}: {s['format']}, {s['rows_read']} rows ({dropped} dropped), "
            f"{len(s['labels'])} attack names -> {groups}"
        )


def run_demo(quick: bool = False, out: str | Path = "runs/demo") -> int:
    """Train and evaluate the quickstart and the forest; print them beside stored baselines.

    Args:
        quick: one epoch instead of the quickstart schedule (a smoke test).
        out: where the run folders go.
    """
    _describe_data()
    print()
    results = []
    for name in ("nsl_kdd_quickstart", "nsl_kdd_random_forest"):
        config = load_config(EXPERIMENTS / f"{name}.py")
        if quick:
            from .config import override

            config = override(config, ["train.epochs=1"])
        print(f"== training {name} ({config.model.kind})")
        result = run_experiment(config, Path(out) / name, command=f"ltcn demo{' --quick' if quick else ''}")
        results.append(result)
    print()
    print("Test metrics on KDDTest+ (22,544 records; 17 attack names never seen in training):")
    for result in results:
        print("  " + headline(result))
    repo_results = EXPERIMENTS.parent / "results"
    for name in STORED_BASELINES:
        path = repo_results / name / "metrics.json"
        if path.is_file():
            print("  " + headline(json.loads(path.read_text())) + "   [stored: " + str(path.relative_to(EXPERIMENTS.parent)) + "]")
    print(f"\nReports and plots: {out}/<name>/report.md")
    return 0
