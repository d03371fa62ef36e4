"""Baseline: a small causal Transformer encoder IDS on the quickstart's data and split.

Run:  ltcn run experiments/nsl_kdd_transformer.py      (about 3-5 min on 2 CPU cores)
"""

import dataclasses

import nsl_kdd_quickstart as base

from ltcn_jax.config import ModelConfig


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_transformer",
        description="Baseline Transformer encoder (2 layers, d=64, 4 heads) on NSL-KDD, quickstart data and schedule.",
        model=ModelConfig(
            "transformer",
            {"d_model": 64, "num_heads": 4, "num_layers": 2, "mlp_dim": 128, "max_len": 128},
        ),
    )
