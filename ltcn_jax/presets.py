"""The configs the library itself runs: the default NSL-KDD L-TCN, the quickstart schedule
that ``ltcn demo`` trains, the Random Forest baseline beside it, and the tiny pruned L-TCN
the tests and the fuzz harness train in seconds.

They live in the package (not only in ``experiments/``) so that ``ltcn demo`` works from any
folder and an installed copy; ``experiments/default.py``, ``nsl_kdd_quickstart.py`` and
``nsl_kdd_random_forest.py`` return these presets, so each is written once.
"""

from __future__ import annotations

import dataclasses

from .config import ExperimentConfig, ModelConfig, PruneConfig, TrainConfig
from .data.prepare import DataConfig

__all__ = ["default_config", "quickstart_config", "random_forest_config", "tiny_config"]

# Kernel size 5 on NSL-KDD's 120-step feature sequence: a receptive field of 121 steps, so the
# last step sees every feature.
LTCN_DEFAULT = {
    "channels": (16, 32, 64, 64),
    "dilations": (1, 2, 4, 8),
    "kernel_size": 5,
    "convs_per_block": 2,
    "dropout_rate": 0.1,
}


def default_config() -> ExperimentConfig:
    """L-TCN on the embedded NSL-KDD data, official split, features as the sequence."""
    return ExperimentConfig(
        name="default",
        description="L-TCN on NSL-KDD (official KDDTest+ split), features as the sequence.",
        data=DataConfig(
            dataset="nsl-kdd",
            train_files=("embedded:KDDTrain+_20Percent.txt",),
            test_files=("embedded:KDDTest+.txt",),
            split="official",
            sequence="features",
            val_fraction=0.1,
            log_scale=True,
        ),
        model=ModelConfig("ltcn", dict(LTCN_DEFAULT)),
        train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, patience=5),
    )


def quickstart_config() -> ExperimentConfig:
    """The default with a short schedule (what ``make demo`` trains)."""
    config = default_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_quickstart",
        description="Quickstart: L-TCN on embedded NSL-KDD, official KDDTest+ test set, short schedule.",
        train=dataclasses.replace(config.train, epochs=4, patience=2),
    )


def random_forest_config() -> ExperimentConfig:
    """Random Forest (100 trees, balanced class weights) on the quickstart's records."""
    return dataclasses.replace(
        quickstart_config(),
        name="nsl_kdd_random_forest",
        description="Baseline Random Forest on NSL-KDD per-record features, quickstart split.",
        model=ModelConfig("random-forest", {"n_estimators": 100}),
    )


def tiny_config(name: str, data: DataConfig, channels=(4, 8), dilations=(1, 2),
                kernel_size: int = 3) -> ExperimentConfig:
    """A tiny L-TCN on ``data``: one epoch, then pruned to 60 % in one round (seconds to
    train: the tests' fixtures and the fuzz harness's model)."""
    arch = {"channels": channels, "dilations": dilations, "kernel_size": kernel_size}
    return ExperimentConfig(name, data, ModelConfig("ltcn", arch), TrainConfig(epochs=1, batch_size=64),
                            prune=PruneConfig(targets=(0.6,), rounds=1))
