"""From published files to model-ready arrays: read, split, fit the frozen transform, apply it.

``prepare(config)`` is what experiments call. Prepared arrays are cached on disk keyed by the
input files' SHA-256 and the data config, as ``.npz`` (``allow_pickle=False``) plus a JSON
sidecar that holds the checksum of the arrays and the fitted transform.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ltcn_kernels import FlowTable, Preprocessor, read_flows
from ltcn_kernels.features.gaps import add_stream_gaps
from ltcn_kernels.features.windows import SEQUENCE_MODES, STREAM_KEYS, stream_keys
from ltcn_kernels.io.datasets import dataset as dataset_entry
from ltcn_kernels.io.detection import check_dataset
from ltcn_kernels.io.summary import summarize

from .splits import (
    SPLITS,
    carve_validation,
    class_time_block_split,
    stratified_split,
    time_block_split,
)

CACHE_VERSION = 2  # 2: per-host stream keys are per file
EMBEDDED_PREFIX = "embedded:"
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class DataConfig:
    """Which files, how to split them, and how to turn flows into model inputs.

    Attributes:
        dataset: ``nsl-kdd``, ``cicids2017`` or ``bot-iot`` (checked against the files).
        files: all flows, for the ``time-block``, ``class-time-block`` and ``stratified``
            splits.
        train_files, test_files: the ``official`` split (NSL-KDD's KDDTrain+/KDDTest+).
            ``embedded:NAME`` names a file shipped with the package.
        split: one of ``SPLITS``.
        fractions: (train, val, test) for the non-official splits.
        val_fraction: share of the training files carved out for validation (official split;
            stratified at random, as NSL-KDD records have no time order).
        sequence: ``flows`` (causal windows of consecutive flows) or ``features`` (each
            record's feature vector as the sequence).
        window: flows per window (``flows`` mode); 1 = per-flow.
        stream_key: ``""`` (windows of consecutive flows of the whole capture) or ``saddr``
            (windows of each source address's own consecutive flows: per-host streams).
        stream_gap: add the input ``gap``, seconds since the stream's previous flow started
            (:mod:`ltcn_kernels.features.gaps`); needs ``stream_key``.
        label_kind: ``group`` (coarse classes) or ``raw`` (attack names).
        log_scale: sign(x)*log1p(|x|) before Min-Max scaling.
        drop_duplicates: drop exact duplicate records before splitting.
        unknown_label: ``error``, ``drop`` or ``keep``.
        seed: for the random parts (stratified split, validation carving).
        exclude_features: model inputs left out (numeric, categorical or port column names),
            e.g. those the deployment's flow meter cannot produce.
        holdout: classes (``label_kind`` names, e.g. ``DoS``) left out of training: their
            rows leave the training and validation splits, they are not model classes, and
            their test rows stay, unmodelled (y = -1), to see what a new attack family looks
            like to the detector (``ltcn_jax.holdout``).
    """

    dataset: str = "nsl-kdd"
    files: tuple[str, ...] = ()
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    split: str = "official"
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    val_fraction: float = 0.1
    sequence: str = "features"
    window: int = 1
    stream_key: str = ""
    stream_gap: bool = False
    label_kind: str = "group"
    log_scale: bool = False
    drop_duplicates: bool = True
    unknown_label: str = "error"
    seed: int = 0
    exclude_features: tuple[str, ...] = ()
    holdout: tuple[str, ...] = ()

    def __post_init__(self):
        check_dataset(self.dataset)  # a name of the dataset registry (or auto)
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; expected one of {', '.join(SPLITS)}")
        if self.sequence not in SEQUENCE_MODES:
            raise ValueError(
                f"unknown sequence mode {self.sequence!r}; expected one of {', '.join(SEQUENCE_MODES)}"
            )
        if self.split == "official" and not (self.train_files and self.test_files):
            raise ValueError("the official split needs train_files and test_files")
        if self.split != "official" and not self.files:
            raise ValueError(f"the {self.split} split needs files")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.stream_key not in STREAM_KEYS:
            raise ValueError(f"unknown stream_key {self.stream_key!r}; expected one of "
                             f"{', '.join(repr(k) for k in STREAM_KEYS)}")
        if self.stream_key and self.sequence != "flows":
            raise ValueError("stream_key needs sequence = 'flows'")
        if self.stream_gap and not self.stream_key:
            raise ValueError("stream_gap needs a stream_key (the gap is to the same stream's "
                             "previous flow)")


@dataclass
class Prepared:
    """Model-ready arrays of each split (rows in capture order) and the fitted transform."""

    config: DataConfig
    preprocessor: Preprocessor
    x: dict[str, np.ndarray]  # split -> float32 (n, width)
    y: dict[str, np.ndarray]  # split -> int32 (n,), -1 = class not modelled (kept as context)
    info: dict = field(default_factory=dict)
    keys: dict[str, np.ndarray] | None = None  # split -> int (n,) stream keys (stream_key set)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.preprocessor.classes

    def labelled(self, split: str) -> np.ndarray:
        """Indices of the rows of a split that have a modelled class."""
        return np.flatnonzero(self.y[split] >= 0)


def resolve(path: str) -> str:
    """A file path, with ``embedded:NAME`` mapped to the data shipped with the package."""
    if path.startswith(EMBEDDED_PREFIX):
        name = path[len(EMBEDDED_PREFIX) :]
        root = resources.files("ltcn_jax.data") / "embedded"
        for candidate in (name, name + ".gz"):
            target = root / candidate
            if target.is_file():
                return str(target)
        raise FileNotFoundError(f"no embedded data file {name!r}")
    return path


def file_sha256(path: str, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("LTCN_CACHE_DIR", Path.home() / ".cache" / "ltcn"))


def _cache_key(config: DataConfig) -> str:
    files = [resolve(p) for p in (*config.files, *config.train_files, *config.test_files)]
    material = {
        "version": CACHE_VERSION,
        "config": dataclasses.asdict(config),
        "files": [file_sha256(p) for p in files],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def _read(paths, config: DataConfig, progress) -> FlowTable:
    table = read_flows(
        [resolve(p) for p in paths],
        config.dataset,
        unknown_label=config.unknown_label,
        drop_duplicates=config.drop_duplicates,
        progress=progress,
    )
    if config.stream_gap:  # over the whole table in capture order, as the gateway sees it
        order = table.capture_order()
        table = add_stream_gaps(table, order, stream_keys(table, config.stream_key, order))
    return table


def prepare(
    config: DataConfig, *, use_cache: bool = True, progress: bool | None = None
) -> Prepared:
    """Read the files of ``config``, split, fit the transform on train, transform every split.

    Args:
        config: the data config.
        use_cache: reuse (and store) prepared arrays under ``cache_dir()``.
        progress: progress bars (None: only on a terminal).

    Returns:
        The prepared splits. ``info`` records per-split sizes and class counts, what was
        dropped, and the summaries of the input tables.
    """
    key = _cache_key(config) if use_cache else ""
    if use_cache:
        cached = _load_cache(key, config)
        if cached is not None:
            return cached
    parts, tables = _split_rows(config, progress)
    classes = _present_classes(tables.values(), config.label_kind)
    if config.holdout:
        classes = _hold_out(parts, classes, config)
    train_table, train_rows = parts["train"]
    pre = Preprocessor.fit(
        train_table,
        train_rows,
        classes=classes,
        label_kind=config.label_kind,
        log_scale=config.log_scale,
        exclude=tuple(config.exclude_features),
    )
    x, y, keys = _transform_splits(pre, parts, config.stream_key)
    prepared = Prepared(config, pre, x, y, _split_info(tables, pre, y), keys)
    if use_cache:
        _store_cache(key, prepared)
    return prepared


def _split_rows(config: DataConfig, progress) -> tuple[dict, dict[str, FlowTable]]:
    """The input tables read, and each split as (its table, its rows) by ``config.split``."""
    if config.split == "official":
        train_table = _read(config.train_files, config, progress)
        test_table = _read(config.test_files, config, progress)
        group_train = train_table.group.codes
        train_rows, val_rows = carve_validation(
            np.arange(len(train_table)),
            group_train,
            config.val_fraction,
            config.seed,
            by_time=False,
        )
        parts = {"train": (train_table, train_rows), "val": (train_table, val_rows)}
        parts["test"] = (test_table, np.arange(len(test_table)))
        return parts, {"train": train_table, "test": test_table}
    table = _read(config.files, config, progress)
    order = table.capture_order()
    y_all = table.group.codes if config.label_kind == "group" else table.label.codes
    if config.split == "time-block":
        rows = time_block_split(order, config.fractions)
    elif config.split == "class-time-block":
        rows = class_time_block_split(order, y_all, config.fractions)
    else:
        rows = stratified_split(order, y_all, config.fractions, config.seed)
    return {name: (table, rows[name]) for name in SPLIT_NAMES}, {"all": table}


def _hold_out(parts: dict, classes: tuple[str, ...], config: DataConfig) -> tuple[str, ...]:
    """The classes without ``config.holdout``, whose rows leave train and val (in ``parts``)."""
    unknown = sorted(set(config.holdout) - set(classes))
    if unknown:
        raise ValueError(f"holdout class {unknown[0]!r} is not in the data; classes: {', '.join(classes)}")
    for name in ("train", "val"):  # the detector never sees the held-out family
        table, rows = parts[name]
        labels = table.group if config.label_kind == "group" else table.label
        held = [i for i, v in enumerate(labels.vocab) if v in config.holdout]
        parts[name] = (table, rows[~np.isin(labels.codes[rows], held)])
    return tuple(c for c in classes if c not in config.holdout)


def _transform_splits(pre: Preprocessor, parts: dict, stream_key) -> tuple[dict, dict, dict | None]:
    """Each split's features, labels and (given a ``stream_key``) stream keys."""
    x, y, keys = {}, {}, ({} if stream_key else None)
    for name in SPLIT_NAMES:
        table, rows = parts[name]
        x[name] = pre.transform(table, rows)
        y[name] = pre.encode_labels(table, rows)
        if keys is not None:
            keys[name] = stream_keys(table, stream_key, rows)
    return x, y, keys


def _split_info(tables: dict[str, FlowTable], pre: Preprocessor, y: dict) -> dict:
    """``Prepared.info``: the input tables' summaries, per-split sizes and class counts."""
    info = {
        "tables": {k: summarize(t) for k, t in tables.items()},
        "splits": {
            name: {
                "rows": len(y[name]),
                "classes": {
                    c: int(np.count_nonzero(y[name] == i)) for i, c in enumerate(pre.classes)
                },
                "unmodelled": int(np.count_nonzero(y[name] < 0)),
            }
            for name in SPLIT_NAMES
        },
        "width": pre.width,
    }
    missing = [c for c, n in info["splits"]["train"]["classes"].items() if n == 0]
    if missing:
        info["warnings"] = [f"classes absent from the training split: {', '.join(missing)}"]
    return info


def _present_classes(tables, label_kind: str) -> tuple[str, ...]:
    """Classes that occur anywhere in the data, in the dataset's canonical order.

    A class seen only in the test split stays a class (the model cannot predict it, and the
    metrics show that); a group that never occurs in these files is not made a class.
    """
    tables = list(tables)
    present: set[str] = set()
    for t in tables:
        present |= set((t.group if label_kind == "group" else t.label).counts())
    if label_kind == "raw":
        return tuple(sorted(present))
    canonical = [g for g in dataset_entry(tables[0].dataset).groups if g in present]
    return tuple(canonical + sorted(present - set(canonical)))


def _store_cache(key: str, prepared: Prepared) -> None:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name in SPLIT_NAMES:
        arrays[f"x_{name}"] = prepared.x[name]
        arrays[f"y_{name}"] = prepared.y[name]
        if prepared.keys is not None:
            arrays[f"k_{name}"] = prepared.keys[name]
    npz = directory / f"{key}.npz"
    tmp = directory / f"{key}.tmp.npz"
    np.savez(tmp, **arrays)
    sidecar = {
        "npz_sha256": file_sha256(str(tmp)),
        "preprocessor": prepared.preprocessor.to_dict(),
        "info": prepared.info,
    }
    (directory / f"{key}.json").write_text(json.dumps(sidecar))
    os.replace(tmp, npz)


def _load_cache(key: str, config: DataConfig) -> Prepared | None:
    npz = cache_dir() / f"{key}.npz"
    sidecar = cache_dir() / f"{key}.json"
    if not (npz.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
        if meta.get("npz_sha256") != file_sha256(str(npz)):
            return None  # damaged cache: rebuild
        pre = Preprocessor.from_dict(meta["preprocessor"], str(sidecar))
        with np.load(npz, allow_pickle=False) as data:
            x = {n: data[f"x_{n}"] for n in SPLIT_NAMES}
            y = {n: data[f"y_{n}"] for n in SPLIT_NAMES}
            keys = {n: data[f"k_{n}"] for n in SPLIT_NAMES} if config.stream_key else None
    except (OSError, ValueError, KeyError):
        return None
    info = meta.get("info", {})
    info["cache"] = str(npz)
    return Prepared(config, pre, x, y, info, keys)
