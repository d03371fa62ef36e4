"""The model kinds an experiment config may name (``model.kind``): one registry, looked up by name.

In the style of jaxpruner's ``ALGORITHM_REGISTRY``: ``MODEL_KINDS`` maps each name to a
`ModelKind` holding what every place that handles models needs to know about it -- how to
build it (`build_model`), whether it is a Flax network trained by :mod:`ltcn_jax.train` (and
so can be pruned, counted in MACs and kept for the leave-one-family-out study) or a
scikit-learn estimator, and which function counts its MACs. A new model is one entry here.

Classes and counters are named as ``"module:attribute"`` and imported when first used, so this
module -- and the config files that validate ``model.kind`` against it -- load without jax,
flax or scikit-learn.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ModelConfig


def _resolve(target: str) -> Any:
    """The object a ``"module:attribute"`` string names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModelKind:
    """One entry of `MODEL_KINDS`.

    Attributes:
        name: what ``model.kind`` says.
        model: ``"module:Class"`` of the model; a network class takes ``num_classes`` and the
            config's ``model.kwargs``, an estimator class only the kwargs.
        network: a Flax network trained by :mod:`ltcn_jax.train` (prunable, MACs counted, its
            trained parameters kept); False: a scikit-learn estimator fitted on per-flow rows.
        macs: ``"module:function"`` counting the network's MACs as
            ``macs(model, num_features, window)`` (:mod:`ltcn_jax.complexity`); None for
            estimators.
        defaults: constructor arguments the config's ``model.kwargs`` override.
    """

    name: str
    model: str
    network: bool = True
    macs: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def model_class(self) -> type:
        return _resolve(self.model)

    def count_macs(self, model: Any, num_features: int, window: int) -> dict[str, Any]:
        if self.macs is None:
            raise TypeError(f"no MAC counter for model kind {self.name!r}")
        return _resolve(self.macs)(model, num_features, window)


MODEL_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("ltcn", "ltcn_jax.models:LTCN", macs="ltcn_jax.complexity:ltcn_macs"),
    ModelKind("lstm", "ltcn_jax.models:LSTMClassifier", macs="ltcn_jax.complexity:lstm_macs"),
    ModelKind("transformer", "ltcn_jax.models:TransformerClassifier",
              macs="ltcn_jax.complexity:transformer_macs"),
    ModelKind("cnn", "ltcn_jax.models:HeavyCNN", macs="ltcn_jax.complexity:heavy_cnn_macs"),
    ModelKind("random-forest", "sklearn.ensemble:RandomForestClassifier", network=False,
              defaults={"n_estimators": 100, "n_jobs": -1, "class_weight": "balanced"}),
)}

# Model kwargs that Flax module attributes need as tuples (hashable), while a ``--set``
# override or a JSON config gives lists.
_TUPLE_KWARGS = ("channels", "dilations", "hidden_sizes")


def model_kind(name: str) -> ModelKind:
    """The registry entry of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the options).
    """
    try:
        return MODEL_KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_KINDS)}") from None


def kind_of(model: Any) -> ModelKind:
    """The entry whose class ``model`` is an instance of.

    Raises:
        TypeError: ``model`` is of no registered kind.
    """
    for kind in MODEL_KINDS.values():
        if isinstance(model, kind.model_class()):
            return kind
    raise TypeError(f"{type(model).__name__} is no registered model kind ({', '.join(MODEL_KINDS)})")


def build_model(config: ModelConfig, num_classes: int) -> Any:
    """The Flax module (or scikit-learn estimator) a model config (``kind``, ``kwargs``) names."""
    kind = model_kind(config.kind)
    kwargs = {**kind.defaults, **config.kwargs}
    for key in _TUPLE_KWARGS:
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    if kind.network:
        return kind.model_class()(num_classes=num_classes, **kwargs)
    return kind.model_class()(**kwargs)
