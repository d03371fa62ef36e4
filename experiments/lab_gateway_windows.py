"""The lab gateway model on windows of 16 consecutive flows of the whole capture (every host's
flows interleaved, in start-time order): ``lab_gateway.py`` with ``window = 16``.

Run:  LTCN_DATA=DATA ltcn run experiments/lab_gateway_windows.py --out results/lab/windows/run
"""

import dataclasses

import lab_gateway as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="lab_gateway_windows",
        description="Lab gateway model, 16-flow windows in global capture order, 60 % sparse.",
        data=dataclasses.replace(config.data, window=16),
    )
