"""What a deployable model is, besides its weights: one validated, frozen :class:`ModelSpec`.

An exported model is an L-TCN (:class:`~ltcn_kernels.arch.LTCNArch`: its layers) plus how
flow records are fed to it: ``sequence`` (``"flows"``: causal windows of consecutive flows in
capture order; ``"features"``: each record's features as a sequence), ``window`` (flows per
window), ``stream_key`` (``"saddr"``: one stream of windows per source address) and whether it
reads the per-host ``gap`` input (:mod:`~ltcn_kernels.features.gaps`). ``ltcn export`` writes
:meth:`ModelSpec.to_dict` as the ``.ltcn`` manifest's ``"architecture"`` entry and
:func:`read_spec` (called once, by
:func:`~ltcn_kernels.engine.artifact.read_artifact`) is the one place that reads and
validates that entry; everything downstream (the batch tools, the gateway's classifier, the
benchmark) uses the typed object (``artifact.spec``). The ``gap`` input is listed with the
preprocessing (``"preprocess"``), not in ``"architecture"``, so the key names on disk are
unchanged.

Numpy and the standard library only: the edge imports it, and the engine below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .arch import LTCNArch
from .errors import show

__all__ = [
    "GAP_FEATURE",
    "MAX_PARAMS",
    "MAX_WINDOW",
    "SEQUENCES",
    "STREAM_KEYS",
    "ModelSpec",
    "architecture_from_dict",
    "read_spec",
]

SEQUENCES = ("flows", "features")  # how records become sequences (the entry's "sequence")
# Which flows share a window: "" one stream of every flow in capture order; "saddr" one stream
# per source address (a window holds one host's consecutive flows, not every host's
# interleaved).
STREAM_KEYS = ("", "saddr")
GAP_FEATURE = "gap"  # the per-host input: seconds since the host's previous flow
MAX_WINDOW = 1 << 20
MAX_PARAMS = 1 << 28  # dense parameters of an architecture (1 GiB of float32)
_MAX_DIM = 1 << 24  # any channel count, kernel size or dilation
_MAX_BLOCKS = 256
_FED = ("sequence", "window", "stream_key")  # the entry's keys that are not the network


def _integer(value: Any, what: str, lo: int, hi: int) -> int:
    """A JSON integer in ``lo..hi`` (a bool or a float is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"architecture {what} must be an integer, got {show(value)}")
    if not lo <= value <= hi:
        raise ValueError(f"architecture {what} = {value} is outside {lo}..{hi}")
    return value


def architecture_from_dict(entry: Any) -> LTCNArch:
    """The network of an ``"architecture"`` entry, its JSON types and bounds checked first (a
    file's entry is untrusted input), then :meth:`LTCNArch.from_dict`.

    Raises:
        ValueError: one line saying what does not fit.
    """
    if not isinstance(entry, Mapping):
        raise ValueError(f"architecture must be a JSON object, got {show(entry)}")
    for key in ("input_channels", "num_classes", "kernel_size", "convs_per_block"):
        if key not in entry:
            raise ValueError(f"architecture lacks {key!r}")
        _integer(entry[key], key, 1, _MAX_DIM)
    for key in ("channels", "dilations"):
        if key not in entry:
            raise ValueError(f"architecture lacks {key!r}")
        values = entry[key]
        if not isinstance(values, list) or not 1 <= len(values) <= _MAX_BLOCKS:
            raise ValueError(f"architecture {key} must be a list of 1..{_MAX_BLOCKS} integers, "
                             f"got {show(values)}")
        for v in values:
            _integer(v, f"{key} entry", 1, _MAX_DIM)
    if "receptive_field" in entry:
        _integer(entry["receptive_field"], "receptive_field", 0, 1 << 62)
    if "model" in entry and not isinstance(entry["model"], str):
        raise ValueError(f"architecture model must be a string, got {show(entry['model'])}")
    try:
        arch = LTCNArch.from_dict(entry)
    except ValueError as exc:
        raise ValueError(f"architecture: {exc}") from None
    if arch.param_count() > MAX_PARAMS:
        raise ValueError(f"architecture has {arch.param_count()} parameters, over {MAX_PARAMS}")
    return arch


@dataclass(frozen=True)
class ModelSpec:
    """A deployable model's network and how records are fed to it; validated on creation.

    Attributes:
        arch: the network's layers.
        sequence: ``"flows"`` (windows of consecutive flows) or ``"features"`` (each record's
            features as a sequence).
        window: flows per window (1: each flow on its own; ``features`` models: 1).
        stream_key: ``""`` (one stream) or ``"saddr"`` (windows per source address; flows
            models only).
        gap: the model reads the per-host ``gap`` input (needs a ``stream_key``).
    """

    arch: LTCNArch
    sequence: str
    window: int
    stream_key: str = ""
    gap: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.arch, LTCNArch):
            raise ValueError(f"arch must be an LTCNArch, got {type(self.arch).__name__}")
        if self.sequence not in SEQUENCES:
            raise ValueError(f"architecture sequence must be one of {', '.join(SEQUENCES)}")
        window = self.window
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"architecture window must be an integer in 1..{MAX_WINDOW}")
        key = self.stream_key
        if key not in STREAM_KEYS or (key and self.sequence != "flows"):
            raise ValueError("architecture stream_key must be one of "
                             f"{', '.join(repr(k) for k in STREAM_KEYS)} (flows models only)")
        if not isinstance(self.gap, bool):
            raise ValueError(f"gap must be True or False, got {self.gap!r}")
        if self.gap and not key:
            raise ValueError(f"the {GAP_FEATURE!r} input needs an architecture stream_key")

    # ------------------------------------------------------------------ derived

    @property
    def n_features(self) -> int:
        return self.arch.n_features

    @property
    def num_classes(self) -> int:
        return self.arch.num_classes

    @property
    def receptive_field(self) -> int:
        return self.arch.receptive_field

    @property
    def flows(self) -> bool:
        """Fed consecutive flows in capture order (else each record on its own)."""
        return self.sequence == "flows"

    @property
    def per_host(self) -> bool:
        """Windows are built per source address (the gateway keeps one history a host)."""
        return bool(self.stream_key) and self.window > 1

    @property
    def stream_exact(self) -> bool:
        """A stateful stream reproduces the training windows: the receptive field fits in the
        window (the threshold between the gateway's ``stream`` and ``windows`` modes)."""
        return self.receptive_field <= self.window

    # ------------------------------------------------------------------ manifest

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``"architecture"`` entry (JSON-ready): the network's keys
        (:meth:`LTCNArch.to_dict`), ``sequence``, ``window`` and ``stream_key`` where one is
        set. The key names are a file format: committed ``.ltcn`` files hold them."""
        key = {"stream_key": self.stream_key} if self.stream_key else {}
        return {**self.arch.to_dict(), "sequence": self.sequence, "window": self.window, **key}

    @classmethod
    def from_dict(cls, entry: Any, *, gap: bool = False) -> ModelSpec:
        """Inverse of :meth:`to_dict` (``gap`` is read from the preprocessing, not this entry).

        Raises:
            ValueError: one line saying what does not fit.
        """
        arch = architecture_from_dict(entry)
        return cls(arch, entry.get("sequence"), entry.get("window"), entry.get("stream_key", ""),
                   gap)


def _lists_gap(preprocess: Any) -> bool:
    """Whether the ``"preprocess"`` entry lists the ``gap`` input. Only the names are looked
    at: the entry itself is validated in full by
    :meth:`~ltcn_kernels.features.preprocess.Preprocessor.from_dict`."""
    features = preprocess.get("features") if isinstance(preprocess, Mapping) else None
    if not isinstance(features, list):
        return False
    return any(isinstance(f, Mapping) and f.get("name") == GAP_FEATURE for f in features)


def read_spec(manifest: Mapping[str, Any]) -> tuple[LTCNArch, ModelSpec | None]:
    """The network and the spec of a manifest that has an ``"architecture"`` entry.

    The spec is None for a bare weights file (benchmarks write one: an entry with the
    network's keys only); a deployable model says how it is fed (``sequence``, ``window``).

    Raises:
        ValueError: an entry (or a ``gap`` input) that does not fit, in one line.
    """
    entry = manifest["architecture"]
    if not isinstance(entry, Mapping) or not any(k in entry for k in _FED):
        return architecture_from_dict(entry), None
    spec = ModelSpec.from_dict(entry, gap=_lists_gap(manifest.get("preprocess")))
    return spec.arch, spec
