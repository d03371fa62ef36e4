"""Sparsity ablation on the CICIDS2017 samples: the L-TCN of ``cicids2017_samples`` pruned to
0/40/60/80/90 % (same trained weights for every row; 3 rounds x 1 epoch of fine-tuning).

Run:  LTCN_DATA=DATA ltcn run experiments/cicids2017_ablation.py   (about 5-8 min)
"""

import dataclasses

import cicids2017_samples as base
import nsl_kdd_ablation


def get_config():
    return dataclasses.replace(
        base.get_config(),
        name="cicids2017_ablation",
        description="Sparsity ablation of the L-TCN on the CICIDS2017 improved samples.",
        prune=nsl_kdd_ablation.ABLATION,
    )
