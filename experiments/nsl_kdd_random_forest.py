"""Baseline: scikit-learn Random Forest (100 trees, balanced class weights) on per-record features.

Run:  ltcn run experiments/nsl_kdd_random_forest.py      (about 10 s)
"""

from ltcn_jax.presets import random_forest_config


def get_config():
    return random_forest_config()  # written once, in the package (``ltcn demo`` trains it)
