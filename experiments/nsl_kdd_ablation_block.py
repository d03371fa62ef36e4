"""``nsl_kdd_ablation`` with 1x4 BLOCK pruning: the same config (same data, seed, dense model,
targets 0/40/60/80/90 %, 3 rounds x 1 epoch of fine-tuning), only ``prune.structure`` changed
to ``"block"`` (blocks of 4 consecutive output channels at one (tap, input channel) position,
``prune.block = 4``). Compare its ``ablation.md`` with the unstructured one of
``results/nsl_kdd_ablation/`` (see ``results/block-pruning/``).

Run:  ltcn run experiments/nsl_kdd_ablation_block.py   (about 8-10 min on 2 CPU cores)
"""

import dataclasses

import nsl_kdd_ablation as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_ablation_block",
        description=f"{config.description} 1x4 block pruning (prune.structure = 'block').",
        prune=dataclasses.replace(config.prune, structure="block", block=4),
    )
