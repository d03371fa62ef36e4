"""Sparsity ablation on the BoT-IoT sample: the L-TCN of ``bot_iot_sample`` pruned to
0/40/60/80/90 % (same trained weights for every row; 3 rounds x 1 epoch of fine-tuning).

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_ablation.py   (about 1-2 min)
"""

import dataclasses

import bot_iot_sample as base
import nsl_kdd_ablation


def get_config():
    return dataclasses.replace(
        base.get_config(),
        name="bot_iot_ablation",
        description="Sparsity ablation of the L-TCN on the BoT-IoT data_t.csv sample.",
        prune=nsl_kdd_ablation.ABLATION,
    )
