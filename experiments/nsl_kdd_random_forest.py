"""Baseline: scikit-learn Random Forest (100 trees, balanced class weights) on per-record features.

Run:  ltcn run experiments/nsl_kdd_random_forest.py      (about 10 s)
"""

import dataclasses

import nsl_kdd_quickstart as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_random_forest",
        description="Baseline Random Forest on NSL-KDD per-record features, quickstart split.",
        model=ModelConfig("random-forest", {"n_estimators": 100}),
    )
