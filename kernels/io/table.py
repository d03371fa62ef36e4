"""The readers' output: a :class:`FlowTable` of flow records and its :class:`Categorical` columns.

Built by :func:`ltcn_kernels.io.flows.read_flows` (files) and
:func:`ltcn_kernels.io.flows.read_flows_bytes` (bytes in memory); numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# Metadata columns holding a flow's start time in seconds (BoT-IoT/Argus, CICIDS2017).
START_TIME_COLUMNS = ("stime", "Timestamp")


@dataclass
class Categorical:
    """Integer codes into a vocabulary of strings (what pandas calls a categorical)."""

    codes: np.ndarray  # int32 (n,)
    vocab: tuple[str, ...]

    def values(self) -> np.ndarray:
        return np.asarray(self.vocab, dtype=object)[self.codes]

    def counts(self) -> dict[str, int]:
        n = np.bincount(self.codes, minlength=len(self.vocab))
        return {v: int(c) for v, c in zip(self.vocab, n, strict=True) if c}

    def take(self, index: np.ndarray) -> Categorical:
        return Categorical(self.codes[index], self.vocab)


@dataclass
class FlowTable:
    """Flow records of one dataset: raw numeric features, categoricals, labels, metadata.

    Rows are in the order they were read (files in the given order, lines in file order);
    ``capture_order()`` gives the time order. Nothing here is scaled: that is the job of
    :class:`ltcn_kernels.preprocess.Preprocessor`.
    """

    dataset: str
    files: list[str]
    layouts: list[str]
    feature_names: tuple[str, ...]
    features: np.ndarray  # float32 (n, F)
    aux_names: tuple[str, ...]
    aux: np.ndarray  # float64 (n, A): ports, time stamps, numeric identifiers
    strings: dict[str, Categorical]  # categorical features, label columns, textual metadata
    categorical_names: tuple[str, ...]
    port_names: tuple[str, ...]  # aux columns one-hot encoded over well-known ports
    label: Categorical  # normalised raw label
    group: Categorical  # grouped label
    file_index: np.ndarray  # int16 (n,)
    line: np.ndarray  # int64 (n,) 1-based line number in its file
    order_by: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    drops: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    negative_cells: int = 0

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def take(self, index: np.ndarray) -> FlowTable:
        """Rows ``index`` (an int array or boolean mask) as a new table."""
        index = np.asarray(index)
        return FlowTable(
            dataset=self.dataset,
            files=self.files,
            layouts=self.layouts,
            feature_names=self.feature_names,
            features=self.features[index],
            aux_names=self.aux_names,
            aux=self.aux[index],
            strings={k: v.take(index) for k, v in self.strings.items()},
            categorical_names=self.categorical_names,
            port_names=self.port_names,
            label=self.label.take(index),
            group=self.group.take(index),
            file_index=self.file_index[index],
            line=self.line[index],
            order_by=self.order_by,
            excluded=self.excluded,
            drops=dict(self.drops),
            rows_read=self.rows_read,
            negative_cells=self.negative_cells,
        )

    def aux_column(self, name: str) -> np.ndarray:
        return self.aux[:, self.aux_names.index(name)]

    def start_times(self) -> np.ndarray | None:
        """Each flow's start time in seconds (float64), or None where the layout has none."""
        for name in START_TIME_COLUMNS:
            if name in self.aux_names:
                return self.aux_column(name)
        return None

    def with_feature(self, name: str, values: np.ndarray) -> FlowTable:
        """This table with one more numeric feature column ``name`` (one value a row), e.g. a
        derived input such as :data:`ltcn_kernels.features.gaps.GAP_FEATURE`."""
        values = np.asarray(values, np.float32)
        if values.shape != (len(self),):
            raise ValueError(f"feature {name!r}: expected {len(self)} values, got {values.shape}")
        if name in self.feature_names:
            raise ValueError(f"the table already has a feature {name!r}")
        features = np.concatenate([self.features, values[:, None]], axis=1)
        return replace(self, feature_names=(*self.feature_names, name), features=features)

    def capture_order(self) -> np.ndarray:
        """Row indices in capture order: by the layout's time/sequence columns where the
        files have them, otherwise file order (stable, so ties keep file order)."""
        keys = [self.aux_column(n) for n in self.order_by if n in self.aux_names]
        if not keys:
            return np.arange(len(self))
        # np.lexsort sorts by the last key first; NaN (a file without that column) sorts last.
        return np.lexsort((np.arange(len(self)), *reversed(keys)))
