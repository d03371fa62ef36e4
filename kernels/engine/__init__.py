"""The inference engine: the packed model, its compiled runners, the ``.ltcn`` file, and
classification of flow files with an exported model."""

from .model import FORMATS, EngineModel, flat_params_from_tree
from .run import (
    Stream,
    compile_times,
    executed_macs_per_window,
    logits_sequence,
    logits_windows,
    predict_proba_sequence,
    predict_proba_windows,
    warmup,
)

__all__ = [
    "FORMATS",
    "EngineModel",
    "Stream",
    "compile_times",
    "executed_macs_per_window",
    "flat_params_from_tree",
    "logits_sequence",
    "logits_windows",
    "predict_proba_sequence",
    "predict_proba_windows",
    "warmup",
]
