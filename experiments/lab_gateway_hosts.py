"""The lab gateway model on per-host windows: each window holds the last 16 flows that one
source address started (``stream_key = "saddr"``), so a flood, a scan or a password-guessing
run is seen as the run of flows it is, not as single flows that each look like a benign one.
The gateway keeps one such stream per source (``ltcn detect``: engine mode ``hosts``, LRU-
bounded).

Run:  LTCN_DATA=DATA ltcn run experiments/lab_gateway_hosts.py --out results/lab/hosts/run
"""

import dataclasses

import lab_gateway as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="lab_gateway_hosts",
        description="Lab gateway model, per-host 16-flow windows (one stream per source "
        "address), 60 % sparse.",
        data=dataclasses.replace(config.data, window=16, stream_key="saddr"),
    )
