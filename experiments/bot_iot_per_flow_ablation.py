"""Sparsity ablation of the per-flow (window 1) L-TCN of ``bot_iot_per_flow``: 0/40/60/80/90 %.

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_per_flow_ablation.py   (about 1-2 min)
"""

import dataclasses

import bot_iot_per_flow as base
import nsl_kdd_ablation


def get_config():
    return dataclasses.replace(
        base.get_config(),
        name="bot_iot_per_flow_ablation",
        description="Sparsity ablation of the per-flow L-TCN on the bot_iot sample(s).",
        prune=nsl_kdd_ablation.ABLATION,
    )
