"""The strict global time-block split on the CICIDS2017 samples (expected to fail honestly).

Run:  LTCN_DATA=DATA ltcn run experiments/cicids2017_time_block.py   (about 2-4 min)

Train on the earliest 60 % of all flows, test on the latest 25 %. The attacks of the staged
samples happened on different days, so classes in the test block are missing from training;
the per-class table shows what that costs.
"""

import dataclasses

import cicids2017_samples as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="cicids2017_time_block",
        description="L-TCN on CICIDS2017 improved samples, strict global time-block split.",
        data=dataclasses.replace(config.data, split="time-block"),
    )
