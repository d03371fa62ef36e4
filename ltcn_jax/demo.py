"""``make demo``: the main job on the embedded NSL-KDD data.

Reads KDDTrain+_20Percent and KDDTest+ (shipped with the package), trains the quickstart L-TCN
and prunes it to 60 % (iterative magnitude pruning with fine-tuning), trains the Random Forest
baseline, evaluates both on KDDTest+ and prints them beside the deep baselines' stored results
(``results/nsl_kdd_*/metrics.json``, each made by the command in its ``command.txt``). Then it
exports the pruned L-TCN to one ``.ltcn`` file and classifies KDDTest+ again with the Numba CSR
engine (numpy + numba only): its metrics must equal the Flax model's. Outputs go to
``runs/demo/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ltcn_kernels import read_flows
from ltcn_kernels.engine import compile_times
from ltcn_kernels.io.labels import normal_index
from ltcn_kernels.io.summary import summarize
from ltcn_kernels.pipeline import classify_files

from . import paper
from .config import override
from .data.prepare import resolve
from .experiment import run_experiment
from .export import export_run
from .metrics import evaluate
from .presets import quickstart_config, random_forest_config
from .report import headline
from .seeds import headline as seeds_headline

EMBEDDED_TRAIN = "embedded:KDDTrain+_20Percent.txt"
EMBEDDED_TEST = "embedded:KDDTest+.txt"
STORED_BASELINES = ("nsl_kdd_lstm", "nsl_kdd_transformer", "nsl_kdd_cnn")


def _describe_data() -> None:
    for name in (EMBEDDED_TRAIN, EMBEDDED_TEST):
        s = summarize(read_flows(resolve(name), progress=False))
        groups = ", ".join(f"{k} {v}" for k, v in s["groups"].items())
        dropped = sum(s["dropped"].values())
        print(
            f"{name}: {s['format']}, {s['rows_read']} rows ({dropped} dropped), "
            f"{len(s['labels'])} attack names -> {groups}"
        )


def run_demo(
    quick: bool = False, out: str | Path = "runs/demo", stored: str | Path | None = None
) -> int:
    """Train and evaluate the quickstart and the forest; print them beside stored baselines.

    Args:
        quick: one epoch instead of the quickstart schedule (a smoke test).
        out: where the run folders go.
        stored: a ``results/`` folder whose ``nsl_kdd_{lstm,transformer,cnn}`` runs are printed
            beside (``make demo`` passes the repository's); None prints none.
    """
    _describe_data()
    print()
    results = []
    for config in (quickstart_config(), random_forest_config()):
        name = config.name
        sets = ["train.epochs=1"] if quick else []
        if name == "nsl_kdd_quickstart":
            sets += ["prune.targets=(0.6,)", "prune.rounds=2"]
        config = override(config, sets)
        what = " + pruning to 60 %" if config.prune.targets else ""
        print(f"== training {name} ({config.model.kind}{what})")
        result = run_experiment(config, Path(out) / name, command=f"ltcn demo{' --quick' if quick else ''}")
        results.append(result)
    print()
    print("Test metrics on KDDTest+ (22,544 records; 17 attack names never seen in training):")
    for result in results:
        print("  " + headline(result))
    if stored is not None:
        _print_stored_baselines(Path(stored))
    model = _edge_check(Path(out), results[0])
    _short_bench(model)
    _print_headline(results[0], None if stored is None else Path(stored))
    print(f"\nReports and plots: {out}/<name>/report.md; full benchmark: `ltcn bench --sweep --runs results`")
    return 0


def _print_stored_baselines(stored: Path) -> None:
    """The deep baselines' stored test metrics: over seeds where ``results/seeds/`` has them
    (mean +- std), else the single stored run, labelled as one seed."""
    for name in STORED_BASELINES:
        seeded, single = stored / "seeds" / name / "metrics.json", stored / name / "metrics.json"
        if seeded.is_file():
            print("  " + seeds_headline(json.loads(seeded.read_text())) + f"   [stored: {seeded}]")
        elif single.is_file():
            print("  " + headline(json.loads(single.read_text())) + f"   [stored: {single}, ONE seed]")


def _print_headline(result: dict, stored: Path | None) -> None:
    """Which of the demo's numbers is the headline, and how it compares with the seeded
    results and with the paper (which reports no NSL-KDD figure)."""
    acc = result["test"]["binary"]["accuracy"]
    print(f"\n== headline: attack-vs-normal accuracy of the 60 %-pruned L-TCN on KDDTest+ = "
          f"{100 * acc:.2f} % (this run: one seed; 17 of KDDTest+'s attack names are never seen in training)")
    seeded = None if stored is None else stored / "seeds" / "nsl_kdd_quickstart" / "metrics.json"
    if seeded is not None and seeded.is_file():
        t = json.loads(seeded.read_text())
        a = t["test"]["attack_vs_normal_accuracy"]
        print(f"   the same L-TCN unpruned over {t['seeds']} seeds: {100 * a['mean']:.2f} +- "
              f"{100 * a['std']:.2f} % (95 % interval {100 * a['ci95'][0]:.2f}-{100 * a['ci95'][1]:.2f}; "
              f"{seeded.parent}); one seed moves by about a point, so compare with the interval")
    cic, bot = paper.claim("cicids2017_accuracy"), paper.claim("bot_iot_accuracy")
    print(f"   the paper: no NSL-KDD figure; its accuracy claims are CICIDS2017 {cic.value} % and "
          f"BoT-IoT {bot.value} % (Table {cic.table}): results/paper_tables.md sets each beside ours")


def _short_bench(model: Path) -> None:
    """A short version of the benchmark on the demo's model: ``ltcn bench`` (every runtime the
    install has: the engine, NumPy, XLA, ONNX Runtime where installed), pinned to one core, one
    thread, 3 timed rounds. The edge-only entry (no JAX) is ``python -m ltcn_kernels.bench``."""
    print("\n== short benchmark of the exported model (1 core, 1 thread, 3 timed rounds; "
          "`ltcn bench --sweep` has the full one)")
    cmd = [sys.executable, "-m", "ltcn_kernels.cli", "bench", "--model", str(model), "--batch", "1000",
           "--threads", "1", "--repeats", "3", "--warmup", "1", "--stream-flows", "100",
           "--out", ""]
    subprocess.run(cmd, check=True)


def _edge_check(out: Path, flax_result: dict) -> Path:
    """Export the pruned quickstart, classify KDDTest+ with the CSR engine, compare with Flax."""
    model = out / "nsl_kdd_quickstart.ltcn"
    info = export_run(out / "nsl_kdd_quickstart", model, fmt="csr")
    print(
        f"\n== exported {model}: {info['file_bytes']:,} bytes; weights {info['stored_bytes']:,} B as CSR "
        f"vs {info['dense_equivalent_bytes']:,} B dense fp32 (conv sparsity {100 * info['sparsity']:.1f} %)"
    )
    pred = classify_files(model, [resolve(EMBEDDED_TEST)], backend="sparse")
    rows = pred.y_true >= 0
    normal = normal_index(pred.table.dataset, pred.classes)
    edge = evaluate(pred.y_true[rows], pred.probs[rows], pred.classes, normal)
    flax = flax_result["test"]
    compile_s = sum(compile_times().values())
    print(f"   first engine call (compile or cache load + run): {compile_s:.1f} s")
    for who, m in (("Flax (training run)", flax), ("Numba CSR engine", edge)):
        print(
            f"   {who:<20} acc {m['accuracy']:.4f}  macro-F1 {m['f1_macro']:.4f}  "
            f"attack-vs-normal acc {m['binary']['accuracy']:.4f}  AUC {m['binary']['roc_auc']:.4f}"
        )
    same = abs(edge["accuracy"] - flax["accuracy"]) < 1e-9 and abs(edge["f1_macro"] - flax["f1_macro"]) < 1e-9
    print(f"   engine metrics equal the Flax model's: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit("edge engine and Flax model disagree")
    return model
