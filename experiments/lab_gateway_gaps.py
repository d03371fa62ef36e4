"""The live gateway model (``lab_gateway_live.py``) with the per-host inter-arrival input: each
flow also carries the seconds since its host's previous flow started
(``DataConfig.stream_gap``, :mod:`ltcn_kernels.features.gaps`).

Run:  LTCN_DATA=DATA ltcn run experiments/lab_gateway_gaps.py --out results/lab/gaps/run   (about 7 min)

Why: a window of one host's flows says what they were, not how fast they came. The home
server's polls of its devices' web UIs and the lab's HTTP flood are alike flow by flow; the
live time-to-block run of ``lab_gateway_live`` blocked the home server for them, and 12.5 % of
its test Normal flows alert (``results/lab/context.md``). Their gaps differ by about 5x (median
0.17 s against 0.05 s in the kept recording).
"""

import dataclasses

import lab_gateway_live as base


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="lab_gateway_gaps",
        description="Live gateway model + per-host inter-arrival input: per-host 16-flow windows "
        "on merged and 1 s / 5 s status records, each flow with its gap to the host's previous "
        "flow, 60 % sparse.",
        data=dataclasses.replace(config.data, stream_gap=True),
    )
