"""The deployable gateway model: BoT-IoT per-flow L-TCN on features the Argus path produces.

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_gateway.py   (about 1 min)
Then: python experiments/gateway_captures.py --run results/bot_iot_gateway --captures DATA/pcap

``ltcn detect`` turns packet captures (and live interfaces) into BoT-IoT full-schema records
with Argus (``ltcn_kernels.io.pcap``; ``ltcn flows --features`` lists what is produced). Every
input of a BoT-IoT full-schema model is an Argus field, but five of them -- ``mean``,
``stddev``, ``sum``, ``min``, ``max`` -- are statistics over the status records that
``racluster`` merged into one flow. A live interface yields unmerged status records, for which
they are trivially ``dur`` (or 0), so this config leaves them out: the model sees only inputs
whose definition is the same for a capture file and for a live interface. One flow per window
(records from a live meter arrive in the order flows end, not start) and 60 % sparsity (the
paper's edge point).
"""

import dataclasses

import bot_iot_per_flow as base

from ltcn_jax.config import PruneConfig

AGGREGATE_STATISTICS = ("mean", "stddev", "sum", "min", "max")


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="bot_iot_gateway",
        description="Deployable L-TCN: BoT-IoT per flow, Argus-producible inputs, 60 % sparse.",
        data=dataclasses.replace(config.data, exclude_features=AGGREGATE_STATISTICS),
        prune=PruneConfig(targets=(0.6,)),
    )
