"""The frozen preprocessing transform: one-hot categoricals, port buckets, Min-Max scaling.

There is exactly one implementation of the transform, this numpy-only one: training fits it on
the training split and uses it, the export writes it to JSON, and the edge engine applies it
from that JSON. Bounds are fitted on training rows only and frozen; at inference values
outside them are clipped to [0, 1] (a flow twice as large as anything seen in training is
"as large as the largest", not a new extrapolated input), and categories not seen in training
go to the column's ``other`` slot.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from ..io.datasets import dataset as dataset_entry
from ..io.flows import FlowTable
from ..io.schema import WELL_KNOWN_PORTS

SPEC_FORMAT = "ltcn-preprocess"
SPEC_VERSION = 1
OTHER = "other"
MISSING = "missing"
LABEL_KINDS = ("group", "raw")


@dataclass(frozen=True)
class Preprocessor:
    """A fitted transform from a :class:`FlowTable` to model inputs ``float32 (n, width)``.

    Output columns, in order: the scaled numeric features, then one one-hot block per
    categorical column (its training vocabulary, then ``other``), then one per bucketed port
    column (the well-known ports, ``other``, ``missing``).
    """

    dataset: str
    feature_names: tuple[str, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]
    categorical: tuple[tuple[str, tuple[str, ...]], ...]
    ports: tuple[tuple[str, tuple[int, ...]], ...]
    classes: tuple[str, ...]
    label_kind: str = "group"
    log_scale: bool = False

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        table: FlowTable,
        rows: np.ndarray | None = None,
        *,
        classes: tuple[str, ...] | None = None,
        label_kind: str = "group",
        log_scale: bool = False,
        exclude: tuple[str, ...] = (),
    ) -> Preprocessor:
        """Fit bounds and vocabularies on ``table`` rows ``rows`` (the training split).

        Args:
            table: the flows.
            rows: indices of the training rows; all rows when None.
            classes: output class names in model order. Default: the dataset's group names
                (``label_kind="group"``) or the raw labels seen in ``rows``.
            label_kind: train on grouped (``group``) or raw labels.
            log_scale: apply sign(x)*log1p(|x|) before Min-Max (heavy-tailed byte and rate
                counters otherwise squeeze almost every flow into [0, 1e-4]).
            exclude: model inputs (numeric, categorical or port columns) left out, e.g. the
                ones a deployment's flow meter cannot produce.

        Raises:
            ValueError: an unknown label kind, no training rows, or an ``exclude`` name that is
                not an input of this table (the message lists the inputs).
        """
        inputs = (*table.feature_names, *table.categorical_names, *table.port_names)
        unknown = [n for n in exclude if n not in inputs]
        if unknown:
            raise ValueError(
                f"cannot exclude {', '.join(map(repr, unknown))}: not a {table.dataset} model "
                f"input; expected some of {', '.join(inputs)}"
            )

        if label_kind not in LABEL_KINDS:
            raise ValueError(f"unknown label kind {label_kind!r}; expected one of {LABEL_KINDS}")
        if rows is None:
            rows = np.arange(len(table))
        if len(rows) == 0:
            raise ValueError("cannot fit the preprocessing on zero training rows")
        kept = [i for i, n in enumerate(table.feature_names) if n not in exclude]
        lo, hi = _column_bounds(table.features, np.asarray(rows), log_scale, np.asarray(kept, dtype=np.intp))
        categorical = []
        for name in (n for n in table.categorical_names if n not in exclude):
            col = table.strings[name]
            seen = np.unique(col.codes[rows])
            vocab = tuple(sorted({col.vocab[i] for i in seen.tolist()} - {OTHER}))
            categorical.append((name, vocab))
        ports = tuple((n, WELL_KNOWN_PORTS) for n in table.port_names if n not in exclude)
        if classes is None:
            if label_kind == "group":
                classes = tuple(g for g in dataset_entry(table.dataset).groups if g != "Attempted")
                attempted = (
                    table.group.vocab.index("Attempted") if "Attempted" in table.group.vocab else -1
                )
                if attempted >= 0 and np.any(table.group.codes[rows] == attempted):
                    classes = (*classes, "Attempted")
            else:
                seen = np.unique(table.label.codes[rows])
                classes = tuple(sorted(table.label.vocab[i] for i in seen.tolist()))
        return cls(
            dataset=table.dataset,
            feature_names=tuple(table.feature_names[i] for i in kept),
            minimum=tuple(float(v) for v in lo),
            maximum=tuple(float(v) for v in hi),
            categorical=tuple(categorical),
            ports=ports,
            classes=tuple(classes),
            label_kind=label_kind,
            log_scale=log_scale,
        )

    # ---------------------------------------------------------------- shape
    @property
    def output_names(self) -> tuple[str, ...]:
        names = list(self.feature_names)
        for name, vocab in self.categorical:
            names += [f"{name}={v}" for v in vocab] + [f"{name}={OTHER}"]
        for name, ports in self.ports:
            names += [f"{name}={p}" for p in ports] + [f"{name}={OTHER}", f"{name}={MISSING}"]
        return tuple(names)

    @property
    def width(self) -> int:
        n = len(self.feature_names)
        n += sum(len(v) + 1 for _, v in self.categorical)
        n += sum(len(p) + 2 for _, p in self.ports)
        return n

    # ---------------------------------------------------------------- applying
    def check_table(self, table: FlowTable) -> None:
        """Refuse a table that lacks one of the fitted inputs (extra columns are ignored)."""
        have = (*table.feature_names, *table.categorical_names, *table.port_names)
        need = (*self.feature_names, *(n for n, _ in self.categorical), *(n for n, _ in self.ports))
        missing = [n for n in need if n not in have]
        if table.dataset != self.dataset or missing:
            raise DataFormatError(
                table.files[0] if table.files else "<table>",
                0,
                0,
                f"{table.dataset} {'/'.join(sorted(set(table.layouts)))} features do not match "
                f"the model's {self.dataset} features"
                + (f" (missing {', '.join(missing[:3])})" if missing else ""),
            )

    def transform(
        self, table: FlowTable, rows: np.ndarray | None = None, *, block_rows: int = 4096
    ) -> np.ndarray:
        """Model inputs for ``table`` rows ``rows`` (all rows when None), ``float32 (n, width)``.

        Works in blocks of rows, so neither a float64 copy of the features nor a copy of the
        selected rows is made.
        """
        self.check_table(table)
        all_rows = rows is None
        rows = np.arange(len(table)) if all_rows else np.asarray(rows)
        n = len(rows)
        out = np.zeros((n, self.width), np.float32)
        f = len(self.feature_names)
        cols = [table.feature_names.index(n) for n in self.feature_names]
        subset = None if cols == list(range(len(table.feature_names))) else np.asarray(cols)
        lo = np.asarray(self.minimum, np.float32)
        span = np.asarray(self.maximum, np.float64) - np.asarray(self.minimum, np.float64)
        # Constant training columns carry no information: they map to 0.
        scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            block = out[start:stop, :f]
            src = table.features[start:stop] if all_rows else table.features[rows[start:stop]]
            if subset is not None:
                src = src[:, subset]
            np.copyto(block, _signed_log1p(src) if self.log_scale else src)
            block -= lo
            block *= scale
            # Clip to [0, 1]; fmax/fmin also turn NaN (a missing value at inference) into 0,
            # the training minimum.
            np.fmax(block, 0.0, out=block)
            np.fmin(block, 1.0, out=block)
        col = f
        out_rows = np.arange(n)
        for name, vocab in self.categorical:
            values = table.strings[name]
            index = {v: i for i, v in enumerate(vocab)}
            lookup = np.array([index.get(v, len(vocab)) for v in values.vocab], np.int64)
            if n:
                out[out_rows, col + lookup[values.codes[rows]]] = 1.0
            col += len(vocab) + 1
        for name, ports in self.ports:
            out[out_rows, col + port_buckets(table.aux_column(name)[rows], ports)] = 1.0
            col += len(ports) + 2
        return out

    def encode_labels(self, table: FlowTable, rows: np.ndarray | None = None) -> np.ndarray:
        """Class index of each row (int32); -1 where the row's class is not a model class."""
        labels = table.group if self.label_kind == "group" else table.label
        codes = labels.codes if rows is None else labels.codes[rows]
        index = {c: i for i, c in enumerate(self.classes)}
        lookup = np.array([index.get(v, -1) for v in labels.vocab] + [-1], np.int32)
        return lookup[codes]

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        body = {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "dataset": self.dataset,
            "label_kind": self.label_kind,
            "classes": list(self.classes),
            "log_scale": self.log_scale,
            "clip": [0.0, 1.0],
            "features": [
                {"name": n, "min": lo, "max": hi}
                for n, lo, hi in zip(self.feature_names, self.minimum, self.maximum, strict=True)
            ],
            "categorical": [{"name": n, "vocab": list(v)} for n, v in self.categorical],
            "ports": [{"name": n, "ports": list(p)} for n, p in self.ports],
            "width": self.width,
        }
        body["sha256"] = _digest(body)
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, spec: dict, source: str = "<preprocess spec>") -> Preprocessor:
        """Rebuild from :meth:`to_dict`, verifying format, version and checksum."""
        if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
            raise DataFormatError(source, 0, 0, f"not an {SPEC_FORMAT} spec")
        version = spec.get("version")
        if not isinstance(version, int) or version > SPEC_VERSION:
            raise DataFormatError(
                source, 0, 0, f"spec version {version!r} is newer than this reader ({SPEC_VERSION})"
            )
        body = {k: v for k, v in spec.items() if k != "sha256"}
        try:
            digest = _digest(body)
        except (TypeError, ValueError, RecursionError):  # NaN/Infinity, or not JSON at all
            raise DataFormatError(source, 0, 0, "malformed spec: not plain JSON (a NaN or "
                                  "Infinity, or too deeply nested)") from None
        if spec.get("sha256") != digest:
            raise DataFormatError(
                source, 0, 0, "checksum mismatch: the spec was altered or damaged"
            )
        try:
            pre = cls(
                dataset=spec["dataset"],
                feature_names=tuple(f["name"] for f in spec["features"]),
                minimum=tuple(float(f["min"]) for f in spec["features"]),
                maximum=tuple(float(f["max"]) for f in spec["features"]),
                categorical=tuple((c["name"], tuple(c["vocab"])) for c in spec["categorical"]),
                ports=tuple((p["name"], tuple(int(x) for x in p["ports"])) for p in spec["ports"]),
                classes=tuple(spec["classes"]),
                label_kind=spec["label_kind"],
                log_scale=bool(spec["log_scale"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(source, 0, 0, f"malformed spec: {exc!r}") from None
        if not all(math.isfinite(v) for v in (*pre.minimum, *pre.maximum)):
            raise DataFormatError(source, 0, 0, "malformed spec: a feature bound is not finite")
        if pre.width != spec.get("width"):
            raise DataFormatError(source, 0, 0, "malformed spec: width does not match its columns")
        return pre

    @classmethod
    def from_json(cls, text: str, source: str = "<preprocess spec>") -> Preprocessor:
        try:
            spec = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                source, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise DataFormatError(source, 0, 0, f"invalid JSON: {str(exc)[:80]}") from None
        return cls.from_dict(spec, source)


def port_buckets(ports: np.ndarray, well_known: tuple[int, ...]) -> np.ndarray:
    """Slot of each port: its index in ``well_known``, then ``other``, then ``missing`` (NaN)."""
    table = np.asarray(well_known, np.float64)
    order = np.argsort(table)
    sorted_ports = table[order]
    pos = np.searchsorted(sorted_ports, ports)
    pos_clipped = np.minimum(pos, len(sorted_ports) - 1)
    hit = sorted_ports[pos_clipped] == ports
    slot = np.where(hit, order[pos_clipped], len(table))
    return np.where(np.isnan(ports), len(table) + 1, slot).astype(np.int64)


def _column_bounds(
    features: np.ndarray,
    rows: np.ndarray,
    log_scale: bool,
    columns: np.ndarray,
    block_rows: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of ``columns`` over ``rows``, ignoring NaN, block by block (no
    full copy)."""
    width = len(columns)
    lo = np.full(width, np.inf)
    hi = np.full(width, -np.inf)
    for start in range(0, len(rows), block_rows):
        block = features[rows[start : start + block_rows]][:, columns]
        if log_scale:
            block = _signed_log1p(block)
        np.fmin(lo, np.fmin.reduce(block, axis=0), out=lo)
        np.fmax(hi, np.fmax.reduce(block, axis=0), out=hi)
    # A column with no value at all (all NaN) scales to 0.
    missing = ~np.isfinite(lo) | ~np.isfinite(hi)
    lo[missing] = 0.0
    hi[missing] = 0.0
    return lo, hi


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return (np.sign(x) * np.log1p(np.abs(x))).astype(np.float32)


def _no_constant(name: str):
    """``json.loads``' hook for ``NaN``/``Infinity``, which plain JSON does not have."""
    raise ValueError(f"{name} is not a JSON number")


def _digest(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
