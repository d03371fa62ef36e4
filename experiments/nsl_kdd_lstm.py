"""Baseline: the source paper's "cloud LSTM" (2 x 64 units) on the quickstart's data and split.

Run:  ltcn run experiments/nsl_kdd_lstm.py      (about 3-5 min on 2 CPU cores)
"""

import dataclasses

import nsl_kdd_quickstart as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_lstm",
        description="Baseline LSTM (2 x 64) on NSL-KDD, same data, split and schedule as the quickstart.",
        model=ModelConfig("lstm", {"hidden_sizes": (64, 64), "dropout_rate": 0.1}),
    )
