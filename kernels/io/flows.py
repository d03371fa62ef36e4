"""Read published flow-record files (NSL-KDD, CICIDS2017, BoT-IoT) into a :class:`FlowTable`.

:func:`read_flows` reads files, :func:`read_flows_bytes` the same records held in memory (an
upload, a gateway micro-batch): one code path, so a file and its bytes give the same table.
The format is decided from the header and the content, never from the name
(:mod:`ltcn_kernels.io.detection`). Inputs are read in fixed-size chunks (bounded memory
besides the output) by the Numba kernel in :mod:`ltcn_kernels.io._csv`; every bad line becomes
a :class:`DataFormatError` naming the input, line and column -- or, with
``skip_bad_lines=True`` (streams), is skipped and counted.

Needs numpy and numba only: the edge gateway reads the same files with the same code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from . import _csv, labels
from .datasets import dataset as dataset_entry
from .detection import Detected, check_dataset, detect, detect_head
from .inputs import BytesInput, FileInput, Progress
from .plan import Plan, column_tables, make_plan
from .table import Categorical, FlowTable

__all__ = ["CHUNK_BYTES", "Categorical", "Detected", "FlowTable", "detect", "read_flows",
           "read_flows_bytes"]

CHUNK_BYTES = 8 << 20
_EMPTY_HASH = int(np.uint64(14695981039346656037))  # FNV-1a of the empty string


# ------------------------------------------------------------------------------ entries
def read_flows(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    dataset: str = "auto",
    *,
    skip_bad_lines: bool = False,
    unknown_label: str = "error",
    drop_duplicates: bool = True,
    drop_nonfinite: bool = True,
    progress: bool | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> FlowTable:
    """Read one or more published-format files of one dataset into a :class:`FlowTable`.

    Args:
        paths: files (gzipped or not); layouts may differ (e.g. CICIDS2017
            MachineLearningCVE and improved) as long as they map to the same canonical
            features.
        dataset: ``auto`` (detect) or the dataset the files must belong to.
        skip_bad_lines: skip (and count in ``drops``) ragged or unparseable lines instead of
            raising. Streams use this; training data should not.
        unknown_label: ``error`` (default), ``drop`` (count and drop the row) or ``keep``
            (raw label kept, group ``unknown``).
        drop_duplicates: drop exact duplicate records (same features and labels; identifiers
            and time stamps ignored), keeping the first.
        drop_nonfinite: drop rows with a NaN, empty or infinite feature value.
        progress: show a progress bar (None: only on a terminal).
        chunk_bytes: read size; memory besides the output stays near two chunks.

    Returns:
        The table, with ``drops`` counting every removed row by reason.

    Raises:
        DataFormatError: naming file, line and column of the first problem.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("no input files")
    labels.check_policy(unknown_label)
    for p in paths:
        if os.path.isdir(p):
            raise DataFormatError(p, 0, 0, "a folder, not a flow-record file: give the files in it")
        if not os.path.isfile(p):
            raise DataFormatError(p, 0, 0, "no such file")
    settings = _Settings(skip_bad_lines, unknown_label, drop_duplicates, drop_nonfinite,
                         progress, chunk_bytes)
    return _read([FileInput(p) for p in paths], dataset, settings)


def read_flows_bytes(
    data: bytes | bytearray | memoryview,
    dataset: str = "auto",
    *,
    name: str = "<bytes>",
    skip_bad_lines: bool = False,
    unknown_label: str = "error",
    drop_duplicates: bool = True,
    drop_nonfinite: bool = True,
    progress: bool | None = False,
    chunk_bytes: int = CHUNK_BYTES,
) -> FlowTable:
    """:func:`read_flows` on the bytes of one file, held in memory (gzipped or not).

    Args:
        data: what the file would hold: an optional header line, then records.
        dataset: ``auto`` (detect) or the dataset the records must belong to.
        name: what errors and ``FlowTable.files`` call the input (the file, upload or stream
            it came from).
        skip_bad_lines, unknown_label, drop_duplicates, drop_nonfinite, chunk_bytes: as for
            :func:`read_flows`.
        progress: show a progress bar (default: no; None: only on a terminal).

    Returns:
        The table -- the same, array for array, as :func:`read_flows` of a file holding
        ``data`` (except ``files``, which holds ``name``).

    Raises:
        DataFormatError: naming ``name``, the line and the column of the first problem.
    """
    labels.check_policy(unknown_label)
    settings = _Settings(skip_bad_lines, unknown_label, drop_duplicates, drop_nonfinite,
                         progress, chunk_bytes)
    return _read([BytesInput(data, name)], dataset, settings)


# ------------------------------------------------------------------------------- state
@dataclass(frozen=True)
class _Settings:
    skip_bad_lines: bool
    unknown_label: str
    drop_duplicates: bool
    drop_nonfinite: bool
    progress: bool | None
    chunk_bytes: int


@dataclass
class _Rows:
    """The output arrays, filled from row 0 as the inputs are parsed (capacity: an upper bound
    on the rows), and the counters the kernel keeps."""

    feat: np.ndarray  # float32 (n, F)
    aux: np.ndarray  # float64 (n, A)
    str_hash: np.ndarray  # uint64 (n, max(S, 1))
    line_no: np.ndarray  # int64 (n,)
    row_hash: np.ndarray  # uint64 (n,)
    row_flags: np.ndarray  # uint8 (n,)
    file_index: np.ndarray  # int16 (n,)
    vocab: list[dict[int, str]]  # per string column: hash -> text
    counts: np.ndarray  # lines skipped per error code, then (last slot) negative feature values
    err: np.ndarray  # the kernel's report of a bad line
    rows: int = 0

    @classmethod
    def allocate(cls, n: int, plan: Plan) -> _Rows:
        n_feat, n_aux, n_str = len(plan.feature_names), len(plan.aux_names), len(plan.string_names)
        return cls(
            feat=np.empty((n, n_feat), np.float32),
            aux=np.full((n, n_aux), np.nan, np.float64),
            str_hash=np.zeros((n, max(n_str, 1)), np.uint64),
            line_no=np.zeros(n, np.int64),
            row_hash=np.zeros(n, np.uint64),
            row_flags=np.zeros(n, np.uint8),
            file_index=np.zeros(n, np.int16),
            vocab=[{} for _ in range(max(n_str, 1))],
            counts=np.zeros(len(_csv.ERROR_MESSAGES) + 1, np.int64),
            err=np.zeros(5, np.int64),
        )

    def trim(self) -> None:
        """Cut the arrays to the rows written (views, no copies)."""
        n = self.rows
        self.feat, self.aux, self.str_hash = self.feat[:n], self.aux[:n], self.str_hash[:n]
        self.line_no, self.row_hash = self.line_no[:n], self.row_hash[:n]
        self.row_flags, self.file_index = self.row_flags[:n], self.file_index[:n]


# ----------------------------------------------------------------------------- reading
def _read(inputs: list, dataset: str, settings: _Settings) -> FlowTable:
    """Detect, plan, parse and clean ``inputs`` (:class:`FileInput` / :class:`BytesInput`)."""
    check_dataset(dataset)
    detected = [detect_head(inp.name, inp.head(), dataset) for inp in inputs]
    names = [inp.name for inp in inputs]
    plan = make_plan(detected, names)
    out = _Rows.allocate(
        sum(inp.count_rows(d.data_offset) for inp, d in zip(inputs, detected, strict=True)), plan
    )
    # Progress counts uncompressed bytes, so a gzipped input has no known total.
    sizes = [inp.size() for inp in inputs]
    bar = Progress(None if None in sizes else sum(sizes), settings.progress)
    try:
        for fi, (inp, det) in enumerate(zip(inputs, detected, strict=True)):
            _read_input(inp, det, fi, plan, out, settings, bar)
    finally:
        bar.close()
    return _table(out, plan, names, detected, settings)


def _read_input(inp, det: Detected, fi: int, plan: Plan, out: _Rows, settings, bar) -> None:
    """Parse input number ``fi`` into ``out`` from row ``out.rows``."""
    tables = column_tables(det.layout, plan)
    _, dests, slots, _ = tables
    # Strings a layout lacks (e.g. Timestamp-less files) read as the empty string.
    present = set(slots[dests == _csv.DEST_STRING].tolist())
    missing = [k for k in range(len(plan.string_names)) if k not in present]
    for k in missing:
        out.vocab[k].setdefault(_EMPTY_HASH, "")
    start = out.rows
    bar.update(det.data_offset)
    _parse_chunks(inp, det, tables, out, settings, bar)
    for k in missing:
        out.str_hash[start : out.rows, k] = np.uint64(_EMPTY_HASH)
    out.file_index[start : out.rows] = fi


def _parse_chunks(inp, det: Detected, tables, out: _Rows, settings: _Settings, bar) -> None:
    """Read ``inp`` chunk by chunk and parse the complete lines of each chunk."""
    buf = np.empty(settings.chunk_bytes, np.uint8)
    span = np.zeros((0, len(out.vocab), 2), np.int64)
    carry = 0
    line = det.first_line
    with inp.open() as f:
        f.seek(det.data_offset)
        while True:
            got = f.readinto(memoryview(buf)[carry:])
            eof = got == 0  # a short read is not EOF on a pipe or a growing file
            n = carry + got
            if n == 0:
                break
            end = n
            if not eof:
                # Parse complete lines only; the partial last line waits for the next read.
                end = _last_newline(buf, n) + 1
                if end == 0:
                    if n == buf.shape[0]:  # a line longer than the buffer: grow it
                        buf = np.concatenate([buf, np.empty_like(buf)])
                    carry = n
                    continue
            if span.shape[0] < end // 8 + 16:
                span = np.zeros((end // 8 + 16, len(out.vocab), 2), np.int64)
            line = _parse_lines(inp, buf, end, det, tables, out, span, line, settings)
            bar.update(end)
            carry = n - end
            if carry:
                buf[:carry] = buf[end:n]
            if eof:
                break


def _parse_lines(inp, buf, end, det: Detected, tables, out: _Rows, span, line, settings) -> int:
    """Parse ``buf[:end]`` (complete lines, the first numbered ``line``); returns the number
    of the line after them."""
    kinds, dests, slots, dedup = tables
    done = 0
    while done < end:
        view = buf[done:end]
        room = min(out.feat.shape[0] - out.rows, span.shape[0])
        wrote, lines, consumed = _csv.parse_block(
            view, end - done, det.delimiter, kinds, dests, slots, dedup,
            det.layout.pm_before_hour, int(settings.skip_bad_lines), line,
            out.feat[: out.rows + room], out.aux, out.str_hash, span, out.line_no, out.row_hash,
            out.row_flags, out.rows, out.counts, out.err,
        )
        _decode_strings(view, out.str_hash[out.rows : out.rows + wrote], span[:wrote], out.vocab)
        out.rows += wrote
        line += lines
        done += consumed
        if out.err[0]:
            _raise_parse_error(inp, det, out.err)
        if consumed == 0:
            raise RuntimeError(f"{inp.name}: row capacity exhausted (internal error)")
    return line


def _last_newline(buf: np.ndarray, n: int) -> int:
    """Index of the last newline in buf[:n], or -1; looks at the tail first (lines are short)."""
    step = 1 << 16
    hi = n
    while hi > 0:
        lo = max(0, hi - step)
        hits = np.flatnonzero(buf[lo:hi] == 10)
        if hits.size:
            return lo + int(hits[-1])
        hi = lo
    return -1


def _decode_strings(buf, hashes, span, vocab) -> None:
    """Decode each string value not seen before, once (the kernel only hashed it)."""
    if hashes.shape[0] == 0:
        return
    for k, table in enumerate(vocab):
        uniq, first = np.unique(hashes[:, k], return_index=True)
        for h, i in zip(uniq.tolist(), first.tolist(), strict=True):
            if h not in table:
                s, e = span[i, k]
                table[h] = bytes(buf[s:e]).decode("utf-8", errors="replace")


def _field_text(inp, offset: int, line: int, column: int, delim: int) -> str:
    """The text of field ``column`` (1-based) on ``line`` of an input, for error messages."""
    with inp.open() as f:
        f.seek(offset)
        for _ in range(line - 1):
            f.readline()
        raw = f.readline().rstrip(b"\r\n")
    parts = raw.split(bytes([delim]))
    if 1 <= column <= len(parts):
        return parts[column - 1].decode("utf-8", errors="replace")[:60]
    return ""


def _raise_parse_error(inp, det: Detected, err: np.ndarray):
    code, line, column, _ = (int(x) for x in err[:4])
    layout = det.layout
    if code in (_csv.ERR_TOO_FEW, _csv.ERR_TOO_MANY):
        raise DataFormatError(
            inp.name,
            line,
            column,
            f"{_csv.ERROR_MESSAGES[code]}: {layout.dataset} {layout.name} records have "
            f"{len(layout.columns)} fields (truncated or ragged line, or a wrong delimiter?)",
        )
    name = layout.columns[column - 1].raw if 1 <= column <= len(layout.columns) else "?"
    value = _field_text(inp, det.data_offset, line - det.first_line + 1, column, det.delimiter)
    raise DataFormatError(
        inp.name, line, column, f"{_csv.ERROR_MESSAGES[code]} in column {name!r}: {value!r}"
    )


# ---------------------------------------------------------------------------- cleaning
def _table(out: _Rows, plan: Plan, names, detected, settings: _Settings) -> FlowTable:
    """The table of the parsed rows: strings decoded, labels normalised, rows dropped."""
    out.trim()
    rows = out.rows
    bad_counts = out.counts[:-1]
    drops: dict[str, int] = {}
    for code, count in enumerate(bad_counts):
        if count:
            drops[f"bad line: {_csv.ERROR_MESSAGES[code]}"] = int(count)
    strings = {}
    for k, name in enumerate(plan.string_names):
        uniq, codes = np.unique(out.str_hash[:, k], return_inverse=True)
        strings[name] = Categorical(
            codes.astype(np.int32), tuple(out.vocab[k][int(h)] for h in uniq)
        )
    raw_label, group, label_ok = _normalise_labels(
        plan, strings, names, detected, out.file_index, out.line_no, settings.unknown_label
    )
    if not label_ok.all():
        drops["unknown label"] = int((~label_ok).sum())
    keep = _keep(out, label_ok, drops, settings)
    feat, aux, line_no, file_index = out.feat, out.aux, out.line_no, out.file_index
    if not keep.all():
        # In place: no second copy of the feature matrix.
        kept = _csv.compact_rows(
            keep, feat, aux, out.str_hash, line_no, out.row_hash, out.row_flags
        )
        index = np.flatnonzero(keep)
        feat, aux, line_no = feat[:kept], aux[:kept], line_no[:kept]
        file_index = file_index[index]
        strings = {k: v.take(index) for k, v in strings.items()}
        raw_label, group = raw_label.take(index), group.take(index)
    return FlowTable(
        dataset=plan.dataset,
        files=list(names),
        layouts=[d.layout.name for d in detected],
        feature_names=plan.feature_names,
        features=feat,
        aux_names=tuple(plan.aux_names),
        aux=aux,
        strings=strings,
        categorical_names=plan.categorical_names,
        port_names=plan.port_names,
        label=raw_label,
        group=group,
        file_index=file_index,
        line=line_no,
        order_by=plan.order_by,
        excluded=plan.excluded,
        drops=drops,
        rows_read=rows + int(bad_counts.sum()),
        negative_cells=int(out.counts[-1]),
    )


def _keep(out: _Rows, keep: np.ndarray, drops: dict[str, int], settings: _Settings):
    """The rows kept after the NaN/infinity and duplicate policies (counted in ``drops``)."""
    if settings.drop_nonfinite:
        has_nan = (out.row_flags & _csv.FLAG_NAN) != 0
        has_inf = (out.row_flags & _csv.FLAG_INF) != 0
        if has_nan.any():
            drops["NaN or empty feature"] = int((has_nan & keep).sum())
        if has_inf.any():
            drops["infinite feature"] = int((has_inf & ~has_nan & keep).sum())
        keep = keep & ~has_nan & ~has_inf
    if settings.drop_duplicates:
        candidates = np.flatnonzero(keep)
        _, first = np.unique(out.row_hash[candidates], return_index=True)
        is_first = np.zeros(out.rows, bool)
        is_first[candidates[first]] = True
        n_dup = int(keep.sum() - is_first.sum())
        if n_dup:
            drops["duplicate"] = n_dup
        keep = is_first
    return keep


def _normalise_labels(plan, strings, paths, detected, file_index, line_no, policy):
    """Map label columns to (raw Categorical, group Categorical, ok mask)."""
    cols = [strings[n] for n in plan.label_names]
    n = cols[0].codes.shape[0]
    # One normalisation per distinct combination of label values, not per row.
    if len(cols) == 1:
        combo = cols[0].codes.astype(np.int64)
    else:
        combo = np.zeros(n, np.int64)
        for c in cols:
            combo = combo * len(c.vocab) + c.codes
    uniq, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
    entry = dataset_entry(plan.dataset)
    raw_vocab: list[str] = []
    raw_codes = np.zeros(len(uniq), np.int32)
    group_codes = np.zeros(len(uniq), np.int32)
    ok = np.ones(len(uniq), bool)
    group_vocab = list(entry.groups)
    for u, row in enumerate(first.tolist()):
        values = tuple(c.vocab[c.codes[row]] for c in cols)
        result = entry.normalize(*values)
        if result is None:
            if policy == "error":
                layout = detected[file_index[row]].layout
                col_name = plan.label_names[0]
                col = 1 + [c.name for c in layout.columns].index(col_name)
                raise labels.unknown_label_error(
                    paths[file_index[row]], int(line_no[row]), col, col_name, "/".join(values)
                )
            ok[u] = policy == "keep"
            result = ("/".join(values), labels.UNKNOWN_GROUP)
            if labels.UNKNOWN_GROUP not in group_vocab:
                group_vocab.append(labels.UNKNOWN_GROUP)
        raw, grp = result
        if raw not in raw_vocab:
            raw_vocab.append(raw)
        raw_codes[u] = raw_vocab.index(raw)
        group_codes[u] = group_vocab.index(grp)
    return (
        Categorical(raw_codes[inverse], tuple(raw_vocab)),
        Categorical(group_codes[inverse], tuple(group_vocab)),
        ok[inverse],
    )
