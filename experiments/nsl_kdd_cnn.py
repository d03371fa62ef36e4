"""Baseline: a heavier non-dilated CNN (64/128/128/256, kernel 5) on the quickstart's data.

Run:  ltcn run experiments/nsl_kdd_cnn.py      (about 5-8 min on 2 CPU cores)
"""

import dataclasses

import nsl_kdd_quickstart as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_cnn",
        description="Baseline heavy CNN on NSL-KDD, quickstart data and schedule.",
        model=ModelConfig("cnn", {"channels": (64, 128, 128, 256), "kernel_size": 5}),
    )
