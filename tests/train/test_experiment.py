"""Experiment configs and the end-to-end runner (`ltcn run`) on tiny data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import BOT_ENTIRE, NSL_TEST, NSL_TRAIN, REPO
from ltcn_jax.config import ExperimentConfig, load_config, override

EXPERIMENTS = REPO / "experiments"


# Config files define get_config(); the other files in experiments/ are scripts.
CONFIGS = sorted(p for p in EXPERIMENTS.glob("*.py") if "def get_config" in p.read_text())


def test_configs_are_found():
    assert len(CONFIGS) >= 15


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_loads_and_documents_its_command(path, monkeypatch):
    monkeypatch.setenv("LTCN_DATA", "/data")
    config = load_config(path)
    assert isinstance(config, ExperimentConfig)
    assert config.name == path.stem or path.stem == "default"
    header = path.read_text().split('"""')[1]
    assert f"ltcn run experiments/{path.name}" in header  # run command in the docstring
    assert "min" in header or " s)" in header or " h" in header  # expected run time


def test_variants_extend_rather_than_copy():
    quick = load_config(EXPERIMENTS / "nsl_kdd_quickstart.py")
    lstm = load_config(EXPERIMENTS / "nsl_kdd_lstm.py")
    assert lstm.data == quick.data and lstm.train == quick.train
    assert lstm.model.kind == "lstm"


def test_overrides_and_their_errors():
    config = load_config(EXPERIMENTS / "nsl_kdd_quickstart.py")
    changed = override(config, ["train.epochs=2", "model.kwargs.channels=(8, 8)", "data.window=3"])
    assert changed.train.epochs == 2 and changed.model.kwargs["channels"] == (8, 8)
    assert changed.data.window == 3 and config.train.epochs != 2
    with pytest.raises(ValueError, match="unknown config key"):
        override(config, ["train.epoch=2"])
    with pytest.raises(ValueError, match="expected one of ltcn, lstm, transformer, cnn, random-forest"):
        override(config, ["model.kind=svm"])
    with pytest.raises(ValueError, match="expected auto or one of nsl-kdd, cicids2017, bot-iot"):
        override(config, ["data.dataset=kdd"])
    with pytest.raises(ValueError, match="key=value"):
        override(config, ["train.epochs"])


def _tiny_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(body)
    return path


TINY_LTCN = f'''
"""Tiny smoke config. Run: ltcn run tiny.py (seconds)."""
from ltcn_jax.config import ExperimentConfig, ModelConfig, TrainConfig
from ltcn_jax.data.prepare import DataConfig

def get_config():
    return ExperimentConfig(
        name="tiny",
        data=DataConfig(dataset="nsl-kdd", train_files=({str(NSL_TRAIN)!r},),
                        test_files=({str(NSL_TEST)!r},), sequence="features", val_fraction=0.2),
        model=ModelConfig("ltcn", {{"channels": (4, 8), "dilations": (1, 2), "kernel_size": 3}}),
        train=TrainConfig(epochs=2, batch_size=64, patience=2),
    )
'''


def test_ltcn_run_end_to_end_writes_results(tmp_path):
    config = _tiny_config(tmp_path, TINY_LTCN)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "run", str(config), "--out", str(out),
         "--set", "train.epochs=1"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("dataset", "model", "params", "train_seconds"):
        assert key in metrics
    t = metrics["test"]
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
        assert 0.0 <= t[key] <= 1.0
    assert metrics["dataset"] == "nsl-kdd" and metrics["model"] == "ltcn"
    assert t["n"] == metrics["data"]["test"]["rows"] - metrics["data"]["test"]["unmodelled"]
    assert len(metrics["history"]) == 1  # the --set override took effect
    assert metrics["train_step_compilations"] in (1, None)
    for name in ("config.json", "report.md", "command.txt", "preprocess.json", "params.msgpack",
                 "roc_pr.png", "confusion.png", "training.png"):
        assert (out / name).stat().st_size > 0, name
    assert "ltcn run" in (out / "command.txt").read_text()
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 1


def test_random_forest_and_window_mode(tmp_path):
    from ltcn_jax.config import ModelConfig, TrainConfig, override
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.experiment import run_experiment

    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block",
                      sequence="flows", window=4, fractions=(0.5, 0.2, 0.3), drop_duplicates=False)
    forest = ExperimentConfig("forest", data, ModelConfig("random-forest", {"n_estimators": 10}))
    result = run_experiment(forest, tmp_path / "forest", progress=False)
    assert result["test"]["per_class"]["Normal"]["support"] > 0
    assert result["param_kind"] == "tree nodes"
    tcn = ExperimentConfig(
        "tcn", data, ModelConfig("ltcn", {"channels": (4,), "dilations": (1,), "kernel_size": 2}),
        TrainConfig(epochs=1, batch_size=32),
    )
    result = run_experiment(override(tcn, []), None, progress=False)
    assert result["sequence"] == {"mode": "flows", "length": 4}
    assert result["test"]["n"] == result["data"]["test"]["rows"]


def test_cli_rejects_bad_override_cleanly(tmp_path):
    config = _tiny_config(tmp_path, TINY_LTCN)
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "run", str(config), "--set", "train.nope=1"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2 and "unknown config key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cross_validation_reports_mean_and_std(tmp_path):
    from ltcn_jax.config import ModelConfig, TrainConfig
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.experiment import run_experiment

    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block",
                      sequence="flows", window=3, fractions=(0.6, 0.2, 0.2), drop_duplicates=False)
    config = ExperimentConfig(
        "cv", data, ModelConfig("random-forest", {"n_estimators": 5}), TrainConfig(folds=3)
    )
    cv = run_experiment(config, None, progress=False)["cross_validation"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    values = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["accuracy"]["mean"] == pytest.approx(np.mean(values))
    assert cv["accuracy"]["std"] == pytest.approx(np.std(values))


def _tiny_tcn(prune):
    from ltcn_jax.config import ModelConfig, TrainConfig
    from ltcn_jax.data.prepare import DataConfig

    data = DataConfig(dataset="nsl-kdd", train_files=(str(NSL_TRAIN),), test_files=(str(NSL_TEST),),
                      sequence="features", val_fraction=0.2)
    model = ModelConfig("ltcn", {"channels": (4, 8), "dilations": (1, 2), "kernel_size": 3})
    return ExperimentConfig("tiny", data, model, TrainConfig(epochs=1, batch_size=64), prune=prune)


def test_ablation_prunes_the_same_model_to_each_target(tmp_path):
    from ltcn_jax.config import PruneConfig
    from ltcn_jax.experiment import run_experiment

    config = _tiny_tcn(PruneConfig(targets=(0.0, 0.5, 0.9), rounds=2, finetune_epochs=1))
    result = run_experiment(config, tmp_path, progress=False)
    rows = result["ablation"]
    assert [r["target"] for r in rows] == [0.0, 0.5, 0.9]
    assert rows[0]["sparsity"] == 0.0
    for r in rows[1:]:
        assert abs(r["sparsity"] - r["target"]) < 0.01
        assert r["csr_mb"] < rows[0]["csr_mb"]
    assert rows[0]["dense_mb"] == rows[2]["dense_mb"]
    for name in ("ablation.md", "ablation.json", "ablation.png", "sparsity_90_masks.msgpack"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("mode", ["after-training", "during-training"])
def test_single_target_pruning_saves_pruned_params_and_masks(tmp_path, mode):
    import jax
    from flax.serialization import msgpack_restore

    from ltcn_jax.config import PruneConfig
    from ltcn_jax.experiment import run_experiment

    config = _tiny_tcn(PruneConfig(targets=(0.6,), mode=mode, rounds=2))
    result = run_experiment(config, tmp_path, progress=False)
    info = result["pruning"]
    assert info["report"]["prunable"]["sparsity"] == pytest.approx(0.6, abs=0.01)
    params = msgpack_restore((tmp_path / "params.msgpack").read_bytes())
    kernels = [np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(params)
               if "kernel" in jax.tree_util.keystr(k) and "head" not in jax.tree_util.keystr(k)]
    zeros = sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)
    assert zeros == pytest.approx(0.6, abs=0.01)
    assert (tmp_path / "masks.msgpack").stat().st_size > 0


def test_an_override_of_the_wrong_kind_is_one_clear_error():
    from ltcn_jax.config import load_config, override

    config = load_config(EXPERIMENTS / "nsl_kdd_quickstart.py")
    with pytest.raises(ValueError, match=r"train.epochs: expected int like 4, got 'abc'"):
        override(config, ["train.epochs=abc"])
    with pytest.raises(ValueError, match=r"train\.epochs: expected int"):
        override(config, ["train.epochs=2.5"])
    assert override(config, ["train.learning_rate=1"]).train.learning_rate == 1  # an int is a float
    assert override(config, ["prune.targets=(0.6,)"]).prune.targets == (0.6,)
