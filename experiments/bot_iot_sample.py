"""L-TCN on the BoT-IoT sample (``data_t.csv``: full-feature schema, DDoS/TCP and Normal).

Run:  LTCN_DATA=DATA ltcn run experiments/bot_iot_sample.py   (about 1 min)

1,109 records: 1,044 consecutive DDoS/TCP records and 65 Normal ones from across the capture.
Exact duplicates are kept here (``drop_duplicates = False``): in a flood, repeated identical
flow records are the signal a temporal model should see, and dropping them would remove 638 of
the 1,109 rows. Windows of 16 flows in ``stime`` order (receptive field of the kernel-3 L-TCN
is 61; shorter windows keep the few Normal records from being swamped by padding), split
``class-time-block`` 50/20/30 so Normal records are in every split. Accuracy is meaningless here
(94 % of rows are attacks): read balanced accuracy, macro-F1 and the per-class recall.
"""

import dataclasses

import default

from ltcn_jax.config import TrainConfig, data_files
from ltcn_jax.data.prepare import DataConfig


def get_config():
    config = default.get_config()
    return dataclasses.replace(
        config,
        name="bot_iot_sample",
        description="L-TCN on the BoT-IoT data_t.csv sample, class-time-block split, 16-flow windows.",
        data=DataConfig(
            dataset="bot-iot",
            files=data_files("bot-iot/data_t.csv"),
            split="class-time-block",
            fractions=(0.5, 0.2, 0.3),
            sequence="flows",
            window=16,
            log_scale=True,
            drop_duplicates=False,
        ),
        model=dataclasses.replace(config.model, kwargs={**config.model.kwargs, "kernel_size": 3}),
        train=TrainConfig(epochs=30, batch_size=64, patience=8),
    )
