"""Results a reviewer can trust (issue 17): seeded runs with intervals, trivial baselines on the
same test split, bootstrap intervals over test records, and the refusal of any config whose
model selection would see the test split."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, NSL_TEST, NSL_TRAIN
from ltcn_jax import metrics
from ltcn_jax.config import ExperimentConfig, ModelConfig, TrainConfig
from ltcn_jax.data.prepare import DataConfig
from ltcn_jax.experiment import check_selection
from ltcn_jax.seeds import mean_interval, run_seeds, seed_configs
from ltcn_kernels.errors import UsageError

NSL = DataConfig(dataset="nsl-kdd", train_files=(str(NSL_TRAIN),), test_files=(str(NSL_TEST),),
                 sequence="features", val_fraction=0.2)
BOT = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block", sequence="flows",
                 window=5, fractions=(0.5, 0.2, 0.3), drop_duplicates=False)


def _config(data=NSL, seeds=1, **train) -> ExperimentConfig:
    return ExperimentConfig("tiny", data, ModelConfig("ltcn", {"channels": (4, 8), "dilations": (1, 2),
                                                               "kernel_size": 3}),
                            TrainConfig(epochs=1, batch_size=64, seeds=seeds, **train))


def test_seed_configs_vary_init_and_the_validation_carve_but_not_the_test_split():
    cfgs = seed_configs(_config(seeds=3, seed=5))
    assert [c.train.seed for c in cfgs] == [5, 6, 7] and {c.train.seeds for c in cfgs} == {1}
    assert [c.data.seed for c in cfgs] == [0, 1, 2]  # official split: only the validation carve
    assert {c.data.test_files for c in cfgs} == {NSL.test_files}
    bot = seed_configs(_config(BOT, seeds=2))
    assert bot[0].data == bot[1].data == BOT  # time-block splits: the data stay as they are
    with pytest.raises(ValueError, match=r"train\.seeds must be an integer >= 1"):
        TrainConfig(seeds=0)


def test_mean_interval():
    s = mean_interval([0.9, 0.92, 0.91, 0.95, 0.93])
    assert s["mean"] == pytest.approx(0.922) and s["std"] == pytest.approx(np.std([0.9, 0.92, 0.91, 0.95, 0.93], ddof=1))
    assert 0.9 <= s["ci95"][0] < s["mean"] < s["ci95"][1] <= 0.95 and s["n"] == 5
    assert mean_interval([None])["mean"] is None and mean_interval([0.5])["std"] == 0.0


def test_bootstrap_agrees_with_evaluate_and_narrows_with_more_records():
    rng = np.random.default_rng(0)
    classes = ["normal", "a", "b", "c"]
    y = rng.integers(0, 3, 4000)  # class c never occurs
    probs = rng.dirichlet(np.ones(4), 4000)
    probs[np.arange(4000), y] += 0.4 * (rng.random(4000) < 0.6)
    full = metrics.headline(metrics.evaluate(y, probs, classes, 0))
    same = metrics._headline_counts(y, probs.argmax(1), metrics.attack_scores(probs, 0) >= 0.5, 4, 0)
    assert same == pytest.approx(full)
    wide = metrics.bootstrap_ci(y[:400], probs[:400], classes, 0, resamples=300)
    narrow = metrics.bootstrap_ci(y, probs, classes, 0, resamples=300)
    for m in metrics.HEADLINE:
        lo, hi = narrow[m]
        assert lo <= full[m] <= hi and hi - lo < wide[m][1] - wide[m][0]


def test_trivial_baselines_predict_from_the_training_split():
    classes = ["normal", "dos", "probe"]
    y_train = np.array([1] * 50 + [0] * 30 + [2] * 20)
    y_test = np.array([0] * 70 + [1] * 20 + [2] * 10)
    b = metrics.trivial_baselines(y_train, y_test, classes, 0)
    assert b["majority"]["predicts"] == "dos" and b["majority"]["accuracy"] == pytest.approx(0.2)
    assert b["majority"]["attack_vs_normal_accuracy"] == pytest.approx(0.3)  # flags everything
    assert b["always_attack"]["predicts"] == "dos"
    normal_heavy = metrics.trivial_baselines(np.array([0] * 90 + [1] * 10), y_test, classes, 0)
    assert normal_heavy["majority"]["attack_vs_normal_accuracy"] == pytest.approx(0.7)


def test_a_seeded_run_aggregates_its_seeds(tmp_path):
    # (BoT-IoT per flow: the fastest real fixture to train twice)
    data = dataclasses.replace(BOT, window=1)
    agg = run_seeds(_config(data, seeds=2), tmp_path, command="ltcn run tiny --seeds 2", progress=False)
    per = [json.loads((tmp_path / f"seed_{s}" / "metrics.json").read_text()) for s in (0, 1)]
    f1 = [p["test"]["f1_macro"] for p in per]
    assert agg["test"]["f1_macro"]["values"] == f1 and agg["test"]["f1_macro"]["mean"] == pytest.approx(np.mean(f1))
    assert len(set(f1)) > 1  # independent trainings, not one run three times
    assert json.loads((tmp_path / "metrics.json").read_text())["seeds"] == 2
    for p in per:
        lo, hi = p["test_ci"]["f1_macro"]
        assert lo <= p["test"]["f1_macro"] <= hi
        assert set(p["baselines"]) == {"majority", "always_attack"}
    text = (tmp_path / "report.md").read_text()
    assert "2 seeds" in text and "± " in text and "Trivial baselines" in text
    assert (tmp_path / "seeds.png").stat().st_size > 1000


@pytest.mark.parametrize("change, message", [
    ({"val_fraction": 0.0}, "needs a validation split"),
    ({"test_files": (str(NSL_TRAIN),)}, "is both a training and a test file"),
])
def test_selection_on_the_test_split_is_refused(change, message):
    with pytest.raises(UsageError, match=message):
        check_selection(_config(dataclasses.replace(NSL, **change)))
    with pytest.raises(UsageError, match="needs a validation share"):
        check_selection(_config(dataclasses.replace(BOT, fractions=(0.7, 0.0, 0.3))))


def test_the_command_line_refuses_it_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ltcn_kernels.cli", "run", "experiments/nsl_kdd_quickstart.py",
                           "--set", "data.val_fraction=0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs a validation split" in done.stderr.strip().splitlines()[-1]


def test_the_ablation_is_aggregated_and_judged_on_the_mean():
    from ltcn_jax.seeds import aggregate_ablation

    def abl(dense, at60, at90):
        return [{"target": 0.0, "f1_macro": dense, "accuracy": 0.9}, {"target": 0.6, "f1_macro": at60, "accuracy": 0.9},
                {"target": 0.9, "f1_macro": at90, "accuracy": 0.8}]

    rows = aggregate_ablation([abl(0.80, 0.799, 0.75), abl(0.82, 0.815, 0.80), abl(0.81, 0.812, 0.79)])
    by = {r["target"]: r for r in rows}
    assert by[0.6]["drop_points"]["values"] == pytest.approx([0.1, 0.5, -0.2])
    assert by[0.6]["met_on_mean"] and by[0.6]["max_drop_points"] == 0.3  # mean drop 0.13
    assert by[0.9]["drop_points"]["mean"] == pytest.approx((5 + 2 + 2) / 3) and not by[0.9]["met_on_mean"]
    assert "met_on_mean" not in by[0.0]


# ------------------------------------------------------------------ leave one family out
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=60))
def test_the_validation_threshold_maximises_detection_minus_false_alarms(points):
    from ltcn_jax.holdout import youden_threshold

    attack = np.array([a for a, _ in points])
    score = np.array([s for _, s in points])
    probs = np.stack([1 - score, score], axis=1)
    t = youden_threshold(np.where(attack, 1, 0), probs, 0)
    score = metrics.attack_scores(probs, 0)  # what is thresholded: 1 - P(normal)

    def j(th):
        flagged = score >= th
        if attack.all() or not attack.any():
            return 0.0
        return flagged[attack].mean() - flagged[~attack].mean()

    if attack.all() or not attack.any():
        assert t == 0.5  # nothing to trade off
    else:
        assert j(t) == pytest.approx(max(j(th) for th in [*score, 0.5, 1.1]))


def test_a_held_out_family_is_never_trained_on_and_its_test_records_are_classified():
    from ltcn_jax.data.prepare import prepare
    from ltcn_jax.holdout import run_family

    cfg = _config()
    held = dataclasses.replace(NSL, holdout=("Probe",))
    p = prepare(held, progress=False)
    assert "Probe" not in p.classes and "Probe" not in p.info["splits"]["train"]["classes"]
    assert p.info["splits"]["train"]["unmodelled"] == p.info["splits"]["val"]["unmodelled"] == 0
    full = prepare(NSL, progress=False)
    probe = full.classes.index("Probe")
    assert p.info["splits"]["test"]["unmodelled"] == int(np.count_nonzero(full.y["test"] == probe))
    run = run_family(cfg, "Probe")
    fam = run["families"]["Probe"]
    assert fam["held_out"] and fam["test_records"] == p.info["splits"]["test"]["unmodelled"]
    assert 0.0 <= fam["flagged"] <= 1.0 and 0.0 < run["threshold"] <= 1.0
    with pytest.raises(ValueError, match="holdout class 'Botnet' is not in the data"):
        prepare(dataclasses.replace(NSL, holdout=("Botnet",)), progress=False)


def test_gateway_captures_tabulates_every_seed(tmp_path):
    """The seeded capture table: per-seed rates and their mean ± std over the seeds."""
    import gateway_captures

    rows = [{"truth": "benign", "flows": 10, "false_alerts": 2, "attack_flows": 0, "detected_attack_flows": 0},
            {"truth": "attack", "flows": 50, "false_alerts": 0, "attack_flows": 40, "detected_attack_flows": 30}]
    t0 = gateway_captures.totals(rows)
    assert t0 == {"benign_flows": 10, "false_alerts": 2, "attack_flows": 40, "detected": 30}
    t1 = {"benign_flows": 10, "false_alerts": 6, "attack_flows": 40, "detected": 40}
    gateway_captures.write_seed_table({"seed_0": t0, "seed_1": t1}, tmp_path, "cmd")
    table = (tmp_path / "table.md").read_text()
    assert "| seed_0 | 2/10 (20.0 %) | 30/40 (75.0 %) |" in table
    assert "| mean ± std | 40.0 ± 28.3 % | 87.5 ± 17.7 % |" in table
    for seed in ("seed_2", "seed_0", "seed_10"):
        (tmp_path / "run" / seed).mkdir(parents=True)
        (tmp_path / "run" / seed / "metrics.json").write_text("{}")
    assert [p.name for p in gateway_captures.seeded_runs(str(tmp_path / "run"))] == ["seed_0", "seed_2", "seed_10"]
