"""The gateway model trained on the lab: per-flow L-TCN on Argus-producible inputs, 60 % sparse.

Run:  LTCN_DATA=DATA ltcn run experiments/lab_gateway.py --out results/lab/per-flow/run   (about 1 min)
Then: LTCN_DATA=DATA python experiments/lab_captures.py --run results/lab/per-flow/run \
      --captures DATA/pcap --out results/lab/per-flow   (threshold on lab validation, then
      the real captures, which were never in training)

Training data: the kept lab recording (``results/lab/recording``: ``python -m lab record --scenario
iot``, 24 IoT devices, every benign activity, every attack kind four times) and the BoT-IoT
sample. Same inputs as ``bot_iot_gateway.py`` (the five racluster-only aggregate statistics
left out), so the model sees what a capture and a live interface both give. Classes are
BoT-IoT's categories (Normal, DDoS, DoS, Reconnaissance, Theft); the gateway alerts on
P(not Normal). Split ``class-time-block``: each class's first half (in time) trains, the next
fifth validates, the last 30 % tests, so repeats of an attack seen in training are not tested.
"""

import dataclasses

import bot_iot_gateway as base

from ltcn_jax.config import data_files

LAB_RECORDING = "results/lab/recording/flows.csv.gz"


def get_config():
    config = base.get_config()
    return dataclasses.replace(
        config,
        name="lab_gateway",
        description="Deployable L-TCN trained on the namespace lab + BoT-IoT sample, per flow, "
        "Argus-producible inputs, 60 % sparse.",
        data=dataclasses.replace(
            config.data, files=(LAB_RECORDING, *data_files("bot-iot/data_t.csv"))
        ),
    )
