"""Ablation: the quickstart with the source paper's plain Min-Max scaling (no log scaling).

Run:  ltcn run experiments/nsl_kdd_quickstart_minmax.py      (about 2-3 min on 2 CPU cores)
"""

import dataclasses

import nsl_kdd_quickstart as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_quickstart_minmax",
        description="Quickstart L-TCN with plain Min-Max scaling (no log1p), as in the source paper.",
        data=dataclasses.replace(config.data, log_scale=False),
    )
