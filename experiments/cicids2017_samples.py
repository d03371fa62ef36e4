"""L-TCN on the CICIDS2017 samples (DistriNet "improved" per-class files), time-ordered windows.

Run:  LTCN_DATA=DATA ltcn run experiments/cicids2017_samples.py   (about 3-5 min)

Data: ``$LTCN_DATA/cicids2017/improved/*.csv`` (BENIGN, Botnet, DDoS, FTP-Patator, Portscan,
SSH-Patator; 13,236 flows, 13,201 after exact duplicates are dropped). Windows of 61
consecutive flows in capture (time stamp) order, labelled by their last flow; the window equals
the L-TCN's receptive field. Split: ``class-time-block`` -- for every class the first 60 % of
its flows in time train, the next 15 % validate, the last 25 % test. (A global time-block split
would test on Friday afternoon only, whose DDoS/PortScan/Bot classes never occur in training:
see ``cicids2017_time_block.py``.) Features are log-scaled before Min-Max: flow byte and packet
rates span ten orders of magnitude.
"""

import dataclasses

import default

from ltcn_jax.config import TrainConfig, data_files
from ltcn_jax.data.prepare import DataConfig


def get_config():
    config = default.get_config()
    return dataclasses.replace(
        config,
        name="cicids2017_samples",
        description="L-TCN on CICIDS2017 improved samples, class-time-block split, 61-flow windows.",
        data=DataConfig(
            dataset="cicids2017",
            files=data_files("cicids2017/improved/*.csv"),
            split="class-time-block",
            fractions=(0.6, 0.15, 0.25),
            sequence="flows",
            window=61,
            log_scale=True,
        ),
        model=dataclasses.replace(config.model, kwargs={**config.model.kwargs, "kernel_size": 3}),
        train=TrainConfig(epochs=15, batch_size=128, patience=4),
    )
