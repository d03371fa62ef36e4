"""Baseline: Random Forest on per-flow features of the BoT-IoT sample, same split as the L-TCN.

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_random_forest.py   (about 5 s)
"""

import dataclasses

import bot_iot_sample as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="bot_iot_random_forest",
        description="Random Forest on the BoT-IoT sample, per-flow features, class-time-block split.",
        model=ModelConfig("random-forest", {"n_estimators": 100}),
    )
