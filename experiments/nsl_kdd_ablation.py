"""Sparsity ablation on NSL-KDD: the quickstart L-TCN pruned to 0/40/60/80/90 %.

Run:  ltcn run experiments/nsl_kdd_ablation.py      (about 8-10 min on 2 CPU cores)

One dense model is trained (the quickstart schedule), then pruned from those same weights to
each target: layer-wise magnitude pruning of the convolution kernels (biases and head dense),
3 rounds of prune + 1 epoch of fine-tuning (the paper's iterative loop). Writes the paper's
Table VII layout to ``ablation.md`` and macro-F1 against sparsity to ``ablation.png``.
"""

import dataclasses

import nsl_kdd_quickstart as base

from ltcn_jax.config import PruneConfig

ABLATION = PruneConfig(targets=(0.0, 0.4, 0.6, 0.8, 0.9), schedule="iterative", rounds=3, finetune_epochs=1)


def get_config():
    return dataclasses.replace(
        base.get_config(),
        name="nsl_kdd_ablation",
        description="Sparsity ablation of the quickstart L-TCN on NSL-KDD (KDDTest+).",
        prune=ABLATION,
    )
