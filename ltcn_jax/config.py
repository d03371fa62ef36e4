"""Experiment configs: frozen dataclasses, Python config files, ``--set key=value`` overrides.

A config file is a Python module with ``get_config() -> ExperimentConfig``; a variant imports
another config's ``get_config`` and overrides what differs (``dataclasses.replace``), so no
config is a copy of another.
"""

from __future__ import annotations

import ast
import dataclasses
import glob
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data.prepare import EMBEDDED_PREFIX, DataConfig
from .model_kinds import model_kind

DATA_ENV = "LTCN_DATA"


@dataclass(frozen=True)
class ModelConfig:
    """Which model (a name in ``ltcn_jax.model_kinds.MODEL_KINDS``) and its constructor
    arguments (see ``ltcn_jax.models``)."""

    kind: str = "ltcn"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        model_kind(self.kind)  # an unknown name: ValueError listing the kinds


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the source paper: Adam, lr 1e-3, cross-entropy)."""

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    class_weights: str = "balanced"
    seed: int = 0
    max_train_rows: int = 0  # 0 = all; else a seeded random subset of the training windows
    eval_batch_size: int = 2048
    folds: int = 0  # > 1: also k-fold cross-validate on train+val (reported as mean +/- std)
    # > 1: that many independent trainings (seeds seed, seed+1, ...; ltcn run --seeds N),
    # aggregated with mean, std and intervals (ltcn_jax.seeds)
    seeds: int = 1

    def __post_init__(self):
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"train.seeds must be an integer >= 1, got {self.seeds!r}")


PRUNE_MODES = ("after-training", "during-training")
# = ``ltcn_jax.pruning.STRUCTURES`` (a test checks they agree); repeated here so a config
# loads and validates without importing jax.
PRUNE_STRUCTURES = ("unstructured", "block")


@dataclass(frozen=True)
class PruneConfig:
    """Magnitude pruning (see ``ltcn_jax.pruning``).

    Attributes:
        targets: sparsities of the prunable layers. Empty: no pruning. One value: the run's
            model is pruned to it (the saved params and masks are the pruned ones). Several:
            the ablation -- the same trained model is pruned to each, and the Table VII-style
            comparison is written to ``ablation.md``.
        mode: ``after-training`` (train dense, then prune and fine-tune: the paper's loop) or
            ``during-training`` (train from scratch while the sparsity ramps up over
            ``rounds``, the first round dense; ``train.epochs`` are spread over the rounds).
        schedule: ``one-shot``, ``iterative`` or ``polynomial`` (per round).
        rounds: prune/fine-tune rounds.
        criterion: ``layerwise`` or ``global`` magnitude.
        include_head: also prune the dense head (biases are never pruned).
        finetune_epochs: epochs of fine-tuning per round (after-training mode).
        structure: ``unstructured`` (single weights: the paper's method) or ``block``: whole
            blocks of ``block`` consecutive output channels at one (tap, input channel)
            position, i.e. ``block`` consecutive rows of one column of the engine's matrix.
        block: output channels per block (``structure = "block"``; 4 = XNNPACK's 1x4).
    """

    targets: tuple[float, ...] = ()
    mode: str = "after-training"
    schedule: str = "iterative"
    rounds: int = 3
    criterion: str = "layerwise"
    include_head: bool = False
    finetune_epochs: int = 1
    structure: str = "unstructured"
    block: int = 4

    def __post_init__(self):
        if self.mode not in PRUNE_MODES:
            raise ValueError(f"unknown prune mode {self.mode!r}; expected one of {', '.join(PRUNE_MODES)}")
        if self.structure not in PRUNE_STRUCTURES:
            raise ValueError(
                f"unknown prune structure {self.structure!r}; expected one of {', '.join(PRUNE_STRUCTURES)}"
            )
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 1:
            raise ValueError(f"prune block must be an integer >= 1, got {self.block!r}")
        if any(not 0.0 <= t < 1.0 for t in self.targets):
            raise ValueError(f"prune targets must be in [0, 1), got {self.targets}")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    description: str = ""
    prune: PruneConfig = field(default_factory=PruneConfig)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Import a config file and call its ``get_config()``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such config file", str(path))
    # Configs import the configs they extend by module name (`import default`), so their
    # folder is importable while the file loads.
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(f"ltcn_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path}: a config file must define get_config()")
    config = module.get_config()
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"{path}: get_config() returned {type(config).__name__}, not ExperimentConfig")
    return config


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def override(config: ExperimentConfig, assignments: list[str]) -> ExperimentConfig:
    """Apply ``key=value`` overrides with dotted keys, e.g. ``train.epochs=3`` or
    ``model.kwargs.channels=(8,16)``. Values are Python literals (strings may be bare)."""
    for assignment in assignments:
        if "=" not in assignment:
            raise ValueError(f"override {assignment!r} is not key=value")
        key, text = assignment.split("=", 1)
        config = _set(config, key.strip().split("."), _parse_value(text.strip()), key)
    return config


def _set(obj: Any, path: list[str], value: Any, full_key: str) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        current = obj.get(head)
        new = value if not rest else _set(current if current is not None else {}, rest, value, full_key)
        return {**obj, head: new}
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"cannot set {full_key!r}: {head!r} is inside a {type(obj).__name__}")
    names = [f.name for f in dataclasses.fields(obj)]
    if head not in names:
        raise ValueError(f"unknown config key {full_key!r}; {head!r} is not one of {', '.join(names)}")
    current = getattr(obj, head)
    if rest:
        new = _set(current, rest, value, full_key)
    else:
        new = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
        _check_kind(full_key, current, new)
    return dataclasses.replace(obj, **{head: new})


def _check_kind(key: str, current: Any, new: Any) -> None:
    """An override keeps the kind of value the field holds (a number stays a number, a tuple a
    tuple), so ``train.epochs=abc`` is one clear error here, not a TypeError deep in training.
    A field that is None (unset) takes any value; an int field takes no float or bool."""
    if current is None or new is None:
        return
    if isinstance(current, bool) or isinstance(new, bool):
        ok = isinstance(current, bool) and isinstance(new, bool)
    elif isinstance(current, int):
        ok = isinstance(new, int)
    elif isinstance(current, float):
        ok = isinstance(new, (int, float))
    else:
        ok = isinstance(new, type(current))
    if not ok:
        raise ValueError(f"{key}: expected {type(current).__name__} like {current!r}, got {new!r}")


def to_dict(config: ExperimentConfig) -> dict:
    return dataclasses.asdict(config)


def data_files(*patterns: str) -> tuple[str, ...]:
    """Expand ``$LTCN_DATA/...`` glob patterns (sorted) for configs of external data sets.

    The published files are large and not shipped; point ``LTCN_DATA`` at the folder that
    holds them (``cicids2017/`` and ``bot-iot/``, and ``pcap/`` for the capture experiments;
    NSL-KDD is embedded). Patterns that match nothing are
    kept as they are, so the reader reports the missing file by name.
    """
    root = os.environ.get(DATA_ENV, "data")
    out: list[str] = []
    for pattern in patterns:
        if pattern.startswith(EMBEDDED_PREFIX):
            out.append(pattern)
            continue
        full = os.path.join(root, pattern)
        matches = sorted(glob.glob(full))
        out.extend(matches or [full])
    return tuple(out)


def check_data_files(config: ExperimentConfig, source: str) -> None:
    """Every data file ``config`` reads exists (embedded files aside).

    Raises:
        UsageError: one line naming the first missing file, the config ``source`` and
            ``LTCN_DATA``, the variable that says where the published files are.
    """
    from ltcn_kernels.errors import UsageError

    d = config.data
    for path in (*d.files, *d.train_files, *d.test_files):
        if not path.startswith(EMBEDDED_PREFIX) and not os.path.exists(path):
            root = os.environ.get(DATA_ENV)
            where = f"{DATA_ENV}={root}" if root else f"{DATA_ENV} is not set, so ./data"
            raise UsageError(f"{source}: no data file {path} ({where}); set {DATA_ENV} to the "
                             "folder holding cicids2017/ and bot-iot/, e.g. "
                             f"{DATA_ENV}=/path/to/data ltcn run {source}")
