"""Default L-TCN experiment: the base that every other config imports and overrides.

Run:  ltcn run experiments/default.py        (about 4-6 min on 2 CPU cores)

L-TCN (channels 16/32/64/64, dilations 1/2/4/8, two causal convolutions per block) on the
embedded NSL-KDD data with its official split (KDDTrain+_20Percent for training and
validation, KDDTest+ for test). NSL-KDD records have no time order, so the convolution runs
along each record's feature vector (``sequence = "features"``, 120 steps of 1 channel); kernel
size 5 gives a receptive field of 121 steps, so the last step sees every feature. Numeric
features are log-scaled (sign * log1p) before Min-Max: byte counts span nine orders of
magnitude (``nsl_kdd_quickstart_minmax.py`` is the paper's plain Min-Max, for comparison).
"""

from ltcn_jax.config import ExperimentConfig, ModelConfig, TrainConfig
from ltcn_jax.data.prepare import DataConfig

LTCN_DEFAULT = {
    "channels": (16, 32, 64, 64),
    "dilations": (1, 2, 4, 8),
    "kernel_size": 5,
    "convs_per_block": 2,
    "dropout_rate": 0.1,
}


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="default",
        description="L-TCN on NSL-KDD (official KDDTest+ split), features as the sequence.",
        data=DataConfig(
            dataset="nsl-kdd",
            train_files=("embedded:KDDTrain+_20Percent.txt",),
            test_files=("embedded:KDDTest+.txt",),
            split="official",
            sequence="features",
            val_fraction=0.1,
            log_scale=True,
        ),
        model=ModelConfig("ltcn", dict(LTCN_DEFAULT)),
        train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, patience=5),
    )
