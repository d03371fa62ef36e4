"""ltcn training side: Flax models, training, magnitude pruning, experiments and export.

The public API is the names in ``__all__``; import them from the package::

    from ltcn_jax import LTCN, fit, load_config, run_experiment, export_run, pruning

Names resolve lazily (PEP 562): the ``ltcn`` command line lives in this package, and its edge
commands (``ltcn detect``, ``ltcn flows``, ...) must run where only numpy and numba are
installed, so importing the package itself must not import jax, flax or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that owns it
_OWNERS = {
    # models
    "LTCN": "models",
    "LSTMClassifier": "models",
    "TransformerClassifier": "models",
    "HeavyCNN": "models",
    # training
    "TrainState": "train",
    "FitResult": "train",
    "create_train_state": "train",
    "fit": "train",
    "predict_proba": "train",
    "make_mesh": "train",
    "save_params": "train",
    "load_params": "train",
    # configs and experiments
    "ExperimentConfig": "config",
    "ModelConfig": "config",
    "TrainConfig": "config",
    "PruneConfig": "config",
    "load_config": "config",
    "override": "config",
    "DataConfig": "data.prepare",
    "prepare": "data.prepare",
    "run_experiment": "experiment",
    "run_seeds": "seeds",
    "default_config": "presets",
    "quickstart_config": "presets",
    # evaluation and accounting
    "evaluate": "metrics",
    "complexity_table": "complexity",
    # export to the edge
    "export_run": "export",
    "generate_key": "signing",
    "load_key": "signing",
    "default_signer": "signing",
    "export_onnx": "onnx_export",
    "flax_proba": "reference",
}
_SUBMODULES = ("pruning",)

__all__ = sorted((*_OWNERS, *_SUBMODULES))


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value: Any = importlib.import_module(f".{name}", __name__)
    elif name in _OWNERS:
        value = getattr(importlib.import_module(f".{_OWNERS[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
