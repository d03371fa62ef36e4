"""ltcn edge side: read flow records, run an exported model, guard a gateway.

Installed as ``ltcn_kernels`` (folder ``kernels/``). Needs numpy and numba only -- it never
imports jax, flax, optax, pandas or scikit-learn, so it installs on a Raspberry Pi. The public
API is ``__all__``; the subpackages say what they hold:

* :mod:`.io` -- readers of NSL-KDD, CICIDS2017 and BoT-IoT records, the Argus bridge;
* :mod:`.features` -- the frozen preprocessing and causal windows;
* :mod:`.arch` -- the one description of the L-TCN (layers, parameters, receptive field);
* :mod:`.engine` -- the ``.ltcn`` file and the sparse/dense Numba inference engine;
* :mod:`.gateway` -- ``ltcn detect``: sources, classifier, EVE alerts, nftables;
* :mod:`.bench` -- a measuring tool (``python -m ltcn_kernels.bench``), not engine code.
"""

from .arch import LTCNArch
from .engine import EngineModel, Stream, predict_proba_sequence, predict_proba_windows
from .engine.artifact import Artifact, read_artifact, write_artifact
from .engine.predict import Predictions, classify_files, classify_table, load_model
from .errors import DataFormatError, InputError, UsageError
from .features.preprocess import Preprocessor
from .features.windows import causal_windows, feature_sequence, make_sequences
from .gateway import DetectOptions, run_detect
from .io.flows import Categorical, FlowTable, detect, read_flows, read_flows_bytes

__all__ = [
    "Artifact",
    "Categorical",
    "DataFormatError",
    "DetectOptions",
    "EngineModel",
    "FlowTable",
    "InputError",
    "LTCNArch",
    "Predictions",
    "Preprocessor",
    "Stream",
    "UsageError",
    "causal_windows",
    "classify_files",
    "classify_table",
    "detect",
    "feature_sequence",
    "load_model",
    "make_sequences",
    "predict_proba_sequence",
    "predict_proba_windows",
    "read_artifact",
    "read_flows",
    "read_flows_bytes",
    "run_detect",
    "write_artifact",
]
