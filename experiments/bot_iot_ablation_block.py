"""``bot_iot_ablation`` with 1x4 BLOCK pruning: the same config (same data, seed, dense model,
targets 0/40/60/80/90 %, 3 rounds x 1 epoch of fine-tuning), only ``prune.structure`` changed
to ``"block"`` (blocks of 4 consecutive output channels at one (tap, input channel) position,
``prune.block = 4``). Compare its ``ablation.md`` with the unstructured one of
``results/bot_iot_ablation/`` (see ``results/block-pruning/``).

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_ablation_block.py   (about 1-2 min)
"""

import dataclasses

import bot_iot_ablation as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="bot_iot_ablation_block",
        description=f"{config.description} 1x4 block pruning (prune.structure = 'block').",
        prune=dataclasses.replace(config.prune, structure="block", block=4),
    )
