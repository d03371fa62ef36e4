"""The CICIDS2017 samples L-TCN with windows of ONE flow (per-flow mode), for comparison.

Run:  LTCN_DATA=DATA ltcn run experiments/cicids2017_per_flow.py   (about 1-2 min)

Same data, split and schedule as ``cicids2017_samples``; only ``window = 1``: each flow is
classified from its own features, as the Random Forest does. Shows what the 61-flow windows
add (or cost) on these per-class random samples.
"""

import dataclasses

import cicids2017_samples as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="cicids2017_per_flow",
        description="L-TCN on CICIDS2017 improved samples, class-time-block split, 1-flow windows.",
        data=dataclasses.replace(config.data, window=1),
    )
