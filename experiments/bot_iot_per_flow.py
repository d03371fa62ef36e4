"""The BoT-IoT sample L-TCN with windows of ONE flow (per-flow mode), for comparison.

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_per_flow.py   (about 30 s)
"""

import dataclasses

import bot_iot_sample as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="bot_iot_per_flow",
        description="L-TCN on the BoT-IoT sample, class-time-block split, 1-flow windows.",
        data=dataclasses.replace(config.data, window=1),
    )
