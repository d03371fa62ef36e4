"""Baseline: Random Forest on per-flow features of the CICIDS2017 samples, same split as the L-TCN.

Run:  LTCN_DATA=DATA ltcn run experiments/cicids2017_random_forest.py   (about 10 s)
"""

import dataclasses

import cicids2017_samples as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="cicids2017_random_forest",
        description="Random Forest on CICIDS2017 improved samples, per-flow features, class-time-block split.",
        model=ModelConfig("random-forest", {"n_estimators": 100}),
    )
