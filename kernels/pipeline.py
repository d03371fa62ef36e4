"""Classify published-format flow files with an exported model (numpy + numba only).

The glue above the engine: :func:`load_model` (a verified ``.ltcn`` file and its frozen
preprocessing, loaded once and handed to whatever runs it: the batch tools, the gateway) and
:func:`classify_files`, what ``ltcn predict`` and ``ltcn evaluate`` run on the edge: read the
files with the data layer, apply the model's preprocessing, build the same sequences the
model was trained on (causal windows of ``window`` flows in capture order, or each record as a
sequence; :class:`~ltcn_kernels.spec.ModelSpec`) and run the engine. It sits above
:mod:`~ltcn_kernels.engine`, which reads neither flow files nor features.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .engine import FORMATS, predict_proba_windows
from .engine.artifact import Artifact, engine_model, read_artifact
from .errors import DataFormatError
from .features.gaps import add_stream_gaps
from .features.preprocess import Preprocessor
from .features.windows import make_sequences, stream_keys
from .io.datasets import dataset as dataset_entry
from .io.flows import FlowTable, read_flows
from .io.labels import UNKNOWN_GROUP
from .spec import SEQUENCES, ModelSpec

__all__ = [
    "BACKENDS",
    "LoadedModel",
    "Predictions",
    "classify_files",
    "classify_table",
    "format_record_counts",
    "load_model",
    "model_inputs",
    "write_predictions",
]

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

    def true_labels(self) -> np.ndarray:
        """Each classified row's true label as the model names its classes (group or raw
        label; the dataset normaliser's spelling), object array in classification order."""
        labels = self.table.group if self.label_kind == "group" else self.table.label
        return labels.values()[self.order]

    def unrecognised(self) -> np.ndarray:
        """Rows whose label the dataset's normaliser does not know: neither normal nor a
        known attack, so no figure may count them as either."""
        return self.table.group.values()[self.order] == UNKNOWN_GROUP

    def unmodelled(self) -> np.ndarray:
        """Rows of an attack class the model lacks (a family it was not trained on): no
        model class (``y_true`` -1), yet a label the dataset knows and not its normal one.
        Normality is the normaliser's (its spellings of the benign label map to
        ``Dataset.normal``), never a comparison of raw strings."""
        group = self.table.group.values()[self.order]
        normal = dataset_entry(self.table.dataset).normal
        return (self.y_true < 0) & (group != UNKNOWN_GROUP) & (group != normal)

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


class LoadedModel(NamedTuple):
    """A verified model file and its frozen preprocessing (:func:`load_model`): load once,
    then hand this to what runs it. Unpacks as ``artifact, pre``."""

    artifact: Artifact
    pre: Preprocessor

    @property
    def spec(self) -> ModelSpec:
        """The model spec (validated when the file was read)."""
        return self.artifact.spec


def load_model(path: str | os.PathLike | Artifact | LoadedModel) -> LoadedModel:
    """A verified model file (:func:`~ltcn_kernels.engine.artifact.read_artifact`, which
    reads and validates its spec) and its preprocessing; refuses files that are not models or
    do not say how data is fed. A loaded model is returned as it is (nothing is read again)."""
    if isinstance(path, LoadedModel):
        return path
    artifact = path if isinstance(path, Artifact) else read_artifact(path)
    manifest = artifact.manifest
    if manifest.get("format") != "ltcn-model":
        raise DataFormatError(artifact.path, 0, 0, "not an ltcn model (manifest format)")
    if artifact.spec is None:  # a bare weights file: the architecture names no sequence
        raise DataFormatError(artifact.path, 0, 0,
                              f"architecture sequence must be one of {', '.join(SEQUENCES)}")
    pre = Preprocessor.from_dict(manifest.get("preprocess"), artifact.path)
    spec = artifact.spec
    channels = pre.width if spec.flows else 1  # a record's features as a sequence: 1 channel
    if spec.arch.n_features != channels:
        raise DataFormatError(artifact.path, 0, 0, (
            f"the network takes {spec.arch.n_features} input channels, but its preprocessing "
            f"gives {pre.width} features, fed as sequence {spec.sequence!r}: {channels} "
            "channels (the manifest does not describe this model; export it again)"))
    return LoadedModel(artifact, pre)


def model_inputs(artifact: Artifact, pre: Preprocessor, table: FlowTable):
    """(capture order, preprocessed rows, (n, time, channels) sequence view) of a table."""
    spec = artifact.spec
    order = table.capture_order() if spec.flows else np.arange(len(table))
    keys = stream_keys(table, spec.stream_key, order) if spec.stream_key else None
    if spec.gap:
        table = add_stream_gaps(table, order, keys)
    x = pre.transform(table, order)
    return order, x, make_sequences(x, spec.sequence, spec.window, keys)


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
        model: a ``.ltcn`` file (or a loaded artifact or model).
        paths: flow-record files of the model's dataset, in any layout the readers know.
        backend: ``sparse`` or ``dense`` Numba engine (ignored when ``proba`` is given).
        proba: a function from ``(n, time, channels)`` inputs to probabilities, to run another
            backend (e.g. the Flax reference) on exactly the same inputs.
        skip_bad_lines: skip and count unparseable lines instead of failing.
    """
    artifact, pre = load_model(model)
    if proba is None:
        engine = engine_model(artifact, backend)  # the stored format: the file's mapped arrays
        proba = lambda x: predict_proba_windows(engine, x)  # noqa: E731
    # Every flow is classified, duplicates included: a detector sees repeated flows too.
    table = read_flows(
        paths, pre.dataset, drop_duplicates=False, unknown_label="keep",
        skip_bad_lines=skip_bad_lines,
    )
    if len(table) == 0:
        names = ", ".join(os.fspath(p) for p in paths)
        skipped = sum(table.drops.values())
        raise DataFormatError(names, 0, 0, "no flow records to classify ("
                              + (f"all {skipped:,} skipped" if skipped else "a header only") + ")")
    return classify_table(artifact, pre, table, proba)


def write_predictions(path: str | os.PathLike, pred: Predictions) -> int:
    """CSV with ``row, file, line, label, predicted`` and one ``p_<class>`` column per class;
    ``label`` is the true label grouped as at training (empty where the file has none)."""
    table = pred.table
    label_values = pred.true_labels()
    names = np.asarray(pred.classes, dtype=object)[pred.predicted]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "file", "line", "label", "predicted", *(f"p_{c}" for c in pred.classes)])
        for i, row in enumerate(pred.order.tolist()):
            writer.writerow([
                row, os.path.basename(table.files[table.file_index[row]]), int(table.line[row]),
                label_values[i], names[i], *(f"{p:.6f}" for p in pred.probs[i]),
            ])
    return len(pred.order)

