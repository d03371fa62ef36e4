"""ltcn edge side: flow readers, the frozen preprocessing and the inference engine.

Installed as ``ltcn_kernels`` (folder ``kernels/``). Needs numpy and numba only -- it never
imports jax, flax, optax, pandas or scikit-learn, so it installs on a Raspberry Pi.
"""

from .errors import DataFormatError
from .features.preprocess import Preprocessor
from .features.windows import causal_windows, feature_sequence, make_sequences
from .io.flows import Categorical, FlowTable, detect, read_flows

__all__ = [
    "Categorical",
    "DataFormatError",
    "FlowTable",
    "Preprocessor",
    "causal_windows",
    "detect",
    "feature_sequence",
    "make_sequences",
    "read_flows",
]
