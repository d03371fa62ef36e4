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

from ltcn_jax.config import ExperimentConfig
from ltcn_jax.presets import default_config


def get_config() -> ExperimentConfig:
    return default_config()  # written once, in the package (``ltcn demo`` runs it anywhere)
