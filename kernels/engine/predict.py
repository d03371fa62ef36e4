"""Classify published-format flow files with an exported model (numpy + numba only).

``classify_files`` is what ``ltcn predict`` and ``ltcn evaluate`` run on the edge: read the
files with the data layer, apply the model's frozen preprocessing, build the same sequences
the model was trained on (causal windows of ``window`` flows in capture order, or each record
as a sequence) and run the engine.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from ..features.gaps import GAP_FEATURE, add_stream_gaps
from ..features.preprocess import Preprocessor
from ..features.windows import STREAM_KEYS, make_sequences, stream_keys
from ..io.flows import FlowTable, read_flows
from .artifact import Artifact, engine_model, read_artifact
from .model import FORMATS
from .run import predict_proba_windows

BACKENDS = FORMATS  # the engine axis: "sparse" (CSR kernels) or "dense"
BLOCK = 4096  # sequences per engine call: bounds the memory of the gathered windows


@dataclass
class Predictions:
    table: FlowTable
    order: np.ndarray  # table rows in the order classified (capture order)
    probs: np.ndarray  # float32 (n, classes), row i belongs to table row order[i]
    y_true: np.ndarray  # int32 (n,), -1 where the true class is not a model class
    classes: tuple[str, ...]
    label_kind: str = "group"  # the model's classes are label groups or raw labels

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def record_counts(self) -> dict:
        """Records read, classified and skipped (by reason: a bad line, a NaN, empty or
        infinite feature), so no tool drops a record without saying so."""
        skipped = {k: int(v) for k, v in sorted(self.table.drops.items()) if v}
        return {"read": int(self.table.rows_read), "classified": len(self.order),
                "skipped": sum(skipped.values()), "skipped_by_reason": skipped}


def format_record_counts(counts: dict) -> str:
    """``Predictions.record_counts`` as the one line the tools print."""
    line = f"{counts['read']:,} records read, {counts['classified']:,} classified"
    if counts["skipped"]:
        why = ", ".join(f"{n:,} {reason}" for reason, n in counts["skipped_by_reason"].items())
        line += f", {counts['skipped']:,} skipped ({why})"
    return line


SEQUENCES = ("flows", "features")  # the manifest's architecture "sequence": how data is fed
MAX_WINDOW = 1 << 20


def load_model(path: str | os.PathLike | Artifact) -> tuple[Artifact, Preprocessor]:
    """A verified model file (:func:`~ltcn_kernels.engine.artifact.read_artifact`) and its
    preprocessing; refuses files that are not models or do not say how data is fed."""
    artifact = path if isinstance(path, Artifact) else read_artifact(path)
    manifest = artifact.manifest
    if manifest.get("format") != "ltcn-model":
        raise DataFormatError(artifact.path, 0, 0, "not an ltcn model (manifest format)")
    arch = manifest.get("architecture")  # read_artifact checked it for an ltcn-model file
    arch = arch if isinstance(arch, dict) else {}
    sequence, window = arch.get("sequence"), arch.get("window")
    if sequence not in SEQUENCES:
        raise DataFormatError(artifact.path, 0, 0,
                              f"architecture sequence must be one of {', '.join(SEQUENCES)}")  # fmt: skip
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
        raise DataFormatError(artifact.path, 0, 0,
                              f"architecture window must be an integer in 1..{MAX_WINDOW}")  # fmt: skip
    key = arch.get("stream_key", "")
    if key not in STREAM_KEYS or (key and sequence != "flows"):
        raise DataFormatError(artifact.path, 0, 0, "architecture stream_key must be one of "
                              f"{', '.join(repr(k) for k in STREAM_KEYS)} (flows models only)")  # fmt: skip
    pre = Preprocessor.from_dict(manifest.get("preprocess"), artifact.path)
    if GAP_FEATURE in pre.feature_names and not key:
        raise DataFormatError(artifact.path, 0, 0, f"the {GAP_FEATURE!r} input needs an "
                              "architecture stream_key")  # fmt: skip
    return artifact, pre


def engine_for(artifact: Artifact, backend: str = "sparse"):
    """The Numba engine for an artifact: ``sparse`` (CSR kernels) or ``dense``. The format
    the file stores is used straight from its mapped arrays, no copy
    (:func:`~ltcn_kernels.engine.artifact.engine_model`); the other one is packed again."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return engine_model(artifact, backend)


def engine_proba(engine) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: predict_proba_windows(engine, x)


def model_inputs(artifact: Artifact, pre: Preprocessor, table: FlowTable):
    """(capture order, preprocessed rows, (n, time, channels) sequence view) of a table."""
    arch = artifact.manifest["architecture"]
    order = table.capture_order() if arch["sequence"] == "flows" else np.arange(len(table))
    key = arch.get("stream_key", "")
    keys = stream_keys(table, key, order) if key else None
    if GAP_FEATURE in pre.feature_names:
        table = add_stream_gaps(table, order, keys)
    x = pre.transform(table, order)
    return order, x, make_sequences(x, arch["sequence"], arch["window"], keys)


def classify_table(
    artifact: Artifact, pre: Preprocessor, table: FlowTable, proba: Callable[[np.ndarray], np.ndarray]
) -> Predictions:
    order, _, seqs = model_inputs(artifact, pre, table)
    n = len(order)
    probs = np.zeros((n, len(pre.classes)), np.float32)
    for start in range(0, n, BLOCK):
        probs[start : start + BLOCK] = proba(np.ascontiguousarray(seqs[start : start + BLOCK]))
    return Predictions(
        table, order, probs, pre.encode_labels(table, order), pre.classes, pre.label_kind
    )


def classify_files(
    model: str | os.PathLike | Artifact,
    paths: Sequence[str | os.PathLike],
    *,
    backend: str = "sparse",
    proba: Callable[[np.ndarray], np.ndarray] | None = None,
    skip_bad_lines: bool = False,
) -> Predictions:
    """Read ``paths`` and classify every flow with the model.

    Args:
        model: a ``.ltcn`` file (or a loaded artifact).
        paths: flow-record files of the model's dataset, in any layout the readers know.
        backend: ``sparse`` or ``dense`` Numba engine (ignored when ``proba`` is given).
        proba: a function from ``(n, time, channels)`` inputs to probabilities, to run another
            backend (e.g. the Flax reference) on exactly the same inputs.
        skip_bad_lines: skip and count unparseable lines instead of failing.
    """
    artifact, pre = load_model(model)
    if proba is None:
        proba = engine_proba(engine_for(artifact, backend))
    # Every flow is classified, duplicates included: a detector sees repeated flows too.
    table = read_flows(
        paths, pre.dataset, drop_duplicates=False, unknown_label="keep",
        skip_bad_lines=skip_bad_lines,
    )  # fmt: skip
    if len(table) == 0:
        names = ", ".join(os.fspath(p) for p in paths)
        skipped = sum(table.drops.values())
        raise DataFormatError(names, 0, 0, "no flow records to classify ("
                              + (f"all {skipped:,} skipped" if skipped else "a header only") + ")")  # fmt: skip
    return classify_table(artifact, pre, table, proba)


def write_predictions(path: str | os.PathLike, pred: Predictions) -> int:
    """CSV with ``row, file, line, label, predicted`` and one ``p_<class>`` column per class;
    ``label`` is the true label grouped as at training (empty where the file has none)."""
    table = pred.table
    labels = table.group if pred.label_kind == "group" else table.label
    label_values = labels.values()[pred.order]
    names = np.asarray(pred.classes, dtype=object)[pred.predicted]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "file", "line", "label", "predicted", *(f"p_{c}" for c in pred.classes)])
        for i, row in enumerate(pred.order.tolist()):
            writer.writerow([
                row, os.path.basename(table.files[table.file_index[row]]), int(table.line[row]),
                label_values[i], names[i], *(f"{p:.6f}" for p in pred.probs[i]),
            ])  # fmt: skip
    return len(pred.order)

