"""Read published flow-record files (NSL-KDD, CICIDS2017, BoT-IoT) into a :class:`FlowTable`.

The format is decided from the header and the content, never from the file name. Files are
read in fixed-size chunks (bounded memory besides the output) by the Numba kernel in
:mod:`ltcn_kernels._csv`; every bad line becomes a :class:`DataFormatError` naming the file,
line and column -- or, with ``skip_bad_lines=True`` (streams), is skipped and counted.

Needs numpy and numba only: the edge gateway reads the same files with the same code.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataFormatError
from . import _csv, labels, schema
from .pcap import capture_kind

CHUNK_BYTES = 8 << 20
_BOM = b"\xef\xbb\xbf"
_DELIMITERS = {",": 44, "\t": 9, ";": 59}
_PROTOCOLS = {"tcp", "udp", "icmp", "arp", "ipv6-icmp", "igmp", "rtp", "rtcp", "esp", "gre"}


# ------------------------------------------------------------------------------ types
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

    def capture_order(self) -> np.ndarray:
        """Row indices in capture order: by the layout's time/sequence columns where the
        files have them, otherwise file order (stable, so ties keep file order)."""
        keys = [self.aux_column(n) for n in self.order_by if n in self.aux_names]
        if not keys:
            return np.arange(len(self))
        # np.lexsort sorts by the last key first; NaN (a file without that column) sorts last.
        return np.lexsort((np.arange(len(self)), *reversed(keys)))


@dataclass(frozen=True)
class Detected:
    layout: schema.Layout
    delimiter: int
    has_header: bool
    data_offset: int  # byte offset of the first data line
    first_line: int  # its 1-based line number


def _open(path: str):
    """Open a file for binary reading, transparently gunzipping (decided by magic number)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


# -------------------------------------------------------------------------- detection
def _norm(name: str) -> str:
    return " ".join(name.strip().strip('"').split()).lower()


def _split_first_line(head: bytes, path: str) -> tuple[str, int, str, int]:
    """Return (first line text, delimiter byte, delimiter char, byte length incl. newline)."""
    end = head.find(b"\n")
    raw = head if end < 0 else head[:end]
    length = len(raw) + (0 if end < 0 else 1)
    text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
    counts = {d: text.count(d) for d in _DELIMITERS}
    delim = max(counts, key=counts.get)
    if counts[delim] == 0:
        raise DataFormatError(
            path, 1, 0, "no delimiter found (expected comma-, tab- or semicolon-separated records)"
        )
    return text, _DELIMITERS[delim], delim, length


def _headerless_layout(fields: list[str]) -> schema.Layout | None:
    values = [f.strip().strip('"').strip().lower() for f in fields]
    if len(values) in (42, 43) and values[1] in ("tcp", "udp", "icmp"):
        return schema.NSL_KDD if len(values) == 43 else schema.NSL_KDD_42
    if len(values) == 35 and values[3] in _PROTOCOLS:
        return schema.BOT_IOT_ENTIRE
    if len(values) == 19 and values[1] in _PROTOCOLS:
        return schema.BOT_IOT_10BEST
    return None


def _closest_layout(names: list[str]) -> tuple[schema.Layout, float]:
    best, score = schema.LAYOUTS[0], -1.0
    got = set(names)
    for layout in schema.LAYOUTS:
        want = {_norm(c.raw) for c in layout.columns}
        overlap = len(got & want) / max(len(want), len(got))
        if overlap > score:
            best, score = layout, overlap
    return best, score


def _header_mismatch(
    path: str, layout: schema.Layout, names: list[str], fields: list[str]
) -> DataFormatError:
    want = [_norm(c.raw) for c in layout.columns]
    shown = [f.strip().strip('"').strip() for f in fields]
    for i, (w, g) in enumerate(zip(want, names, strict=False)):
        if w != g:
            if g not in want:
                msg = f"unexpected column {shown[i]!r} (expected {layout.columns[i].raw!r})"
            else:
                msg = f"missing column {layout.columns[i].raw!r} (found {shown[i]!r})"
            return DataFormatError(path, 1, i + 1, f"{msg} for {layout.dataset} {layout.name}")
    if len(names) < len(want):
        missing = ", ".join(repr(c.raw) for c in layout.columns[len(names) :][:3])
        return DataFormatError(
            path, 1, len(names) + 1, f"missing columns {missing} for {layout.dataset} {layout.name}"
        )
    return DataFormatError(
        path,
        1,
        len(want) + 1,
        f"extra column {shown[len(want)]!r}: {layout.dataset} {layout.name} has {len(want)}",
    )


def detect(path: str | os.PathLike, head: bytes | None = None, dataset: str = "auto") -> Detected:
    """Decide the dataset and layout of a file from its first line.

    Args:
        path: the file (read for its first 64 KiB unless ``head`` is given).
        head: the file's first bytes, if already read.
        dataset: ``auto`` or the dataset the file must belong to.

    Returns:
        The layout, delimiter, whether a header is present and where the data starts.

    Raises:
        DataFormatError: empty file, no delimiter, unknown or damaged layout.
    """
    path = str(path)
    if dataset != "auto" and dataset not in schema.DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected auto or one of {', '.join(schema.DATASETS)}"
        )
    if head is None:
        with _open(path) as f:
            head = f.read(1 << 16)
    if b"\x00" in head[:4096]:
        kind = _binary_kind(head)
        raise DataFormatError(
            path, 0, 0, f"binary file ({kind}), not comma- or tab-separated flow records"
        )
    offset = len(_BOM) if head.startswith(_BOM) else 0
    body = head[offset:]
    line = 1
    while body[:1] in (b"\n", b"\r"):  # leading blank lines
        cut = body.find(b"\n") + 1
        if cut == 0:
            break
        body, offset, line = body[cut:], offset + cut, line + 1
    if not body.strip():
        raise DataFormatError(path, 0, 0, "empty file: no records")
    text, delim, delim_char, length = _split_first_line(body, path)
    fields = text.split(delim_char)
    names = [_norm(f) for f in fields]
    layout: schema.Layout | None = None
    has_header = False
    for candidate in schema.LAYOUTS:
        if names == [_norm(c.raw) for c in candidate.columns]:
            layout, has_header = candidate, True
            break
    if layout is None:
        layout = _headerless_layout(fields)
        if layout is None:
            closest, score = _closest_layout(names)
            if score >= 0.6:
                raise _header_mismatch(path, closest, names, fields)
            raise DataFormatError(
                path,
                line,
                0,
                f"unknown format: {len(fields)} fields, not a known NSL-KDD, CICIDS2017 or "
                "BoT-IoT layout (header or first record not recognised)",
            )
    if dataset != "auto" and layout.dataset != dataset:
        raise DataFormatError(
            path, line, 0, f"this is a {layout.dataset} file ({layout.name}), not {dataset}"
        )
    data_offset = offset + (length if has_header else 0)
    return Detected(layout, delim, has_header, data_offset, line + (1 if has_header else 0))


def _binary_kind(head: bytes) -> str:
    kind = capture_kind(head)
    if kind is None:
        return "unknown binary data"
    return f"a {kind} capture: `ltcn flows` or `ltcn detect` turn it into flow records"


# ---------------------------------------------------------------------------- reading
@dataclass
class _Plan:
    """Where each column of each file goes in the combined output arrays."""

    dataset: str
    feature_names: tuple[str, ...]
    aux_names: list[str]
    string_names: list[str]
    categorical_names: tuple[str, ...]
    port_names: tuple[str, ...]
    label_names: tuple[str, ...]
    order_by: tuple[str, ...]
    excluded: tuple[str, ...]


def _plan(detected: list[Detected], paths: list[str]) -> _Plan:
    first = detected[0].layout
    aux_names: list[str] = []
    string_names: list[str] = []
    excluded: list[str] = []
    for d, p in zip(detected, paths, strict=True):
        lay = d.layout
        if lay.dataset != first.dataset:
            raise DataFormatError(
                p, 0, 0, f"{lay.dataset} file mixed with {first.dataset} files; read them apart"
            )
        if lay.feature_names != first.feature_names or lay.label_names != first.label_names:
            raise DataFormatError(
                p,
                0,
                0,
                f"layout {lay.name} has other features than {first.name}; "
                "files of both cannot form one table",
            )
        for c in lay.columns:
            if c.role in (schema.PORT, schema.TIME, schema.META) and c.name not in aux_names:
                aux_names.append(c.name)
            if c.role in (schema.CATEGORY, schema.LABEL, schema.META_TEXT):
                if c.name not in string_names:
                    string_names.append(c.name)
        excluded.extend(x for x in lay.excluded if x not in excluded)
    order_by = tuple(dict.fromkeys(n for d in detected for n in d.layout.order_by))
    return _Plan(
        dataset=first.dataset,
        feature_names=first.feature_names,
        aux_names=aux_names,
        string_names=string_names,
        categorical_names=first.categorical_names,
        port_names=first.bucketed_ports,
        label_names=first.label_names,
        order_by=order_by,
        excluded=tuple(excluded),
    )


def _column_tables(layout: schema.Layout, plan: _Plan):
    n = len(layout.columns)
    kinds = np.zeros(n, np.int64)
    dests = np.zeros(n, np.int64)
    slots = np.zeros(n, np.int64)
    dedup = np.zeros(n, np.int64)
    features = {name: i for i, name in enumerate(plan.feature_names)}
    # fmt: off
    for j, c in enumerate(layout.columns):
        if c.role == schema.FEATURE:
            kinds[j], dests[j], slots[j], dedup[j] = _csv.KIND_NUMBER, _csv.DEST_FEATURE, features[c.name], 1
        elif c.role in (schema.CATEGORY, schema.LABEL):
            kinds[j], dests[j], slots[j], dedup[j] = _csv.KIND_STRING, _csv.DEST_STRING, plan.string_names.index(c.name), 1
        elif c.role == schema.META_TEXT:
            kinds[j], dests[j], slots[j] = _csv.KIND_STRING, _csv.DEST_STRING, plan.string_names.index(c.name)
        elif c.role == schema.PORT:
            kinds[j], dests[j], slots[j] = _csv.KIND_PORT, _csv.DEST_AUX, plan.aux_names.index(c.name)
            dedup[j] = 1 if c.bucket else 0
        elif c.role == schema.TIME:
            kinds[j], dests[j], slots[j] = _csv.KIND_TIME, _csv.DEST_AUX, plan.aux_names.index(c.name)
        elif c.role == schema.META:
            kinds[j], dests[j], slots[j] = _csv.KIND_NUMBER, _csv.DEST_AUX, plan.aux_names.index(c.name)
    # fmt: on
    return kinds, dests, slots, dedup  # fmt: skip


def _count_rows(path: str, offset: int) -> int:
    """An upper bound on the data rows of a file: its newline count (+1 for a last line)."""
    buf = np.empty(CHUNK_BYTES, np.uint8)
    n = 0
    last = 10
    with _open(path) as f:
        f.seek(offset)
        while True:
            got = f.readinto(memoryview(buf))
            if not got:
                break
            n += _csv.count_lines(buf, got)
            last = buf[got - 1]
    return n + (0 if last == 10 else 1)


class _Progress:
    """A byte-count progress bar over all files (tqdm, quiet when not on a terminal)."""

    def __init__(self, total: int | None, enabled: bool | None):
        self.bar = None
        if enabled is not False:
            try:
                from tqdm import tqdm
            except ImportError:  # progress bars are a nicety, not a dependency of the edge
                return
            self.bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc="reading flows",
                disable=None if enabled is None else not enabled,
                leave=False,
            )

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _field_text(path: str, offset: int, line: int, column: int, delim: int) -> str:
    """The text of field ``column`` (1-based) on ``line`` of a file, for error messages."""
    with _open(path) as f:
        f.seek(offset)
        for _ in range(line - 1):
            f.readline()
        raw = f.readline().rstrip(b"\r\n")
    parts = raw.split(bytes([delim]))
    if 1 <= column <= len(parts):
        return parts[column - 1].decode("utf-8", errors="replace")[:60]
    return ""


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
        paths: files; layouts may differ (e.g. CICIDS2017 MachineLearningCVE and improved)
            as long as they map to the same canonical features.
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
        if not os.path.isfile(p):
            raise DataFormatError(p, 0, 0, "no such file")
    detected = [detect(p, dataset=dataset) for p in paths]
    plan = _plan(detected, paths)
    capacity = [_count_rows(p, d.data_offset) for p, d in zip(paths, detected, strict=True)]
    n_total = sum(capacity)
    n_feat, n_aux, n_str = len(plan.feature_names), len(plan.aux_names), len(plan.string_names)
    feat = np.empty((n_total, n_feat), np.float32)
    aux = np.full((n_total, n_aux), np.nan, np.float64)
    str_hash = np.zeros((n_total, max(n_str, 1)), np.uint64)
    line_no = np.zeros(n_total, np.int64)
    row_hash = np.zeros(n_total, np.uint64)
    row_flags = np.zeros(n_total, np.uint8)
    file_index = np.zeros(n_total, np.int16)
    vocab: list[dict[int, str]] = [{} for _ in range(max(n_str, 1))]
    # Lines skipped per error code, then (last slot) negative feature values.
    counts = np.zeros(len(_csv.ERROR_MESSAGES) + 1, np.int64)
    err = np.zeros(5, np.int64)
    rows = 0
    # Progress counts uncompressed bytes, so a gzipped input has no known total.
    total_bytes = None if any(map(_is_gzip, paths)) else sum(map(os.path.getsize, paths))
    bar = _Progress(total_bytes, progress)
    empty_hash = int(np.uint64(14695981039346656037))
    try:
        for fi, (path, det) in enumerate(zip(paths, detected, strict=True)):
            kinds, dests, slots, dedup = _column_tables(det.layout, plan)
            # Strings a layout lacks (e.g. Timestamp-less files) read as the empty string.
            present = set(slots[dests == _csv.DEST_STRING].tolist())
            for k in range(n_str):
                if k not in present:
                    vocab[k].setdefault(empty_hash, "")
            file_start = rows
            bar.update(det.data_offset)
            rows = _read_file(
                path, det, kinds, dests, slots, dedup, chunk_bytes, feat, aux, str_hash,
                line_no, row_hash, row_flags, vocab, counts, err, skip_bad_lines, rows, bar,
            )  # fmt: skip
            for k in range(n_str):
                if k not in present:
                    str_hash[file_start:rows, k] = np.uint64(empty_hash)
            file_index[file_start:rows] = fi
    finally:
        bar.close()
    feat, aux, str_hash = feat[:rows], aux[:rows], str_hash[:rows]
    line_no, row_hash, file_index = line_no[:rows], row_hash[:rows], file_index[:rows]
    row_flags = row_flags[:rows]
    bad_counts = counts[:-1]
    drops: dict[str, int] = {}
    for code, count in enumerate(bad_counts):
        if count:
            drops[f"bad line: {_csv.ERROR_MESSAGES[code]}"] = int(count)

    strings = {}
    for k, name in enumerate(plan.string_names):
        uniq, codes = np.unique(str_hash[:, k], return_inverse=True)
        strings[name] = Categorical(codes.astype(np.int32), tuple(vocab[k][int(h)] for h in uniq))
    raw_label, group, label_ok = _normalise_labels(
        plan, strings, paths, detected, file_index, line_no, unknown_label
    )
    keep = label_ok
    if not label_ok.all():
        drops["unknown label"] = int((~label_ok).sum())
    negative_cells = int(counts[-1])
    if drop_nonfinite:
        has_nan = (row_flags & _csv.FLAG_NAN) != 0
        has_inf = (row_flags & _csv.FLAG_INF) != 0
        if has_nan.any():
            drops["NaN or empty feature"] = int((has_nan & keep).sum())
        if has_inf.any():
            drops["infinite feature"] = int((has_inf & ~has_nan & keep).sum())
        keep = keep & ~has_nan & ~has_inf
    if drop_duplicates:
        candidates = np.flatnonzero(keep)
        _, first = np.unique(row_hash[candidates], return_index=True)
        is_first = np.zeros(rows, bool)
        is_first[candidates[first]] = True
        n_dup = int(keep.sum() - is_first.sum())
        if n_dup:
            drops["duplicate"] = n_dup
        keep = is_first
    if not keep.all():
        # In place: no second copy of the feature matrix.
        kept = _csv.compact_rows(keep, feat, aux, str_hash, line_no, row_hash, row_flags)
        index = np.flatnonzero(keep)
        feat, aux, line_no = feat[:kept], aux[:kept], line_no[:kept]
        file_index = file_index[index]
        strings = {k: v.take(index) for k, v in strings.items()}
        raw_label, group = raw_label.take(index), group.take(index)
    return FlowTable(
        dataset=plan.dataset,
        files=paths,
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
        negative_cells=negative_cells,
    )


def _read_file(
    path, det, kinds, dests, slots, dedup, chunk_bytes, feat, aux, str_hash, line_no, row_hash,
    row_flags, vocab, counts, err, skip_bad, rows, bar,
) -> int:  # fmt: skip
    """Parse one file chunk by chunk into the output arrays from row ``rows``; returns the new
    row count."""
    n_str = len(vocab)
    buf = np.empty(chunk_bytes, np.uint8)
    span = np.zeros((0, n_str, 2), np.int64)
    carry = 0
    line = det.first_line
    with _open(path) as f:
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
                span = np.zeros((end // 8 + 16, n_str, 2), np.int64)
            done = 0
            while done < end:
                view = buf[done:end]
                room = min(feat.shape[0] - rows, span.shape[0])
                wrote, lines, consumed = _csv.parse_block(
                    view, end - done, det.delimiter, kinds, dests, slots, dedup,
                    det.layout.pm_before_hour, int(skip_bad), line,
                    feat[: rows + room], aux, str_hash, span, line_no, row_hash, row_flags, rows,
                    counts, err,
                )  # fmt: skip
                _decode_strings(view, str_hash[rows : rows + wrote], span[:wrote], vocab)
                rows += wrote
                line += lines
                done += consumed
                if err[0]:
                    _raise_parse_error(path, det, err)
                if consumed == 0:
                    raise RuntimeError(f"{path}: row capacity exhausted (internal error)")
            bar.update(end)
            carry = n - end
            if carry:
                buf[:carry] = buf[end:n]
            if eof:
                break
    return rows


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


def _raise_parse_error(path: str, det: Detected, err: np.ndarray):
    code, line, column, _ = (int(x) for x in err[:4])
    layout = det.layout
    if code in (_csv.ERR_TOO_FEW, _csv.ERR_TOO_MANY):
        # Count the fields on that line for the message.
        text = _field_text(path, det.data_offset, line - det.first_line + 1, 0, det.delimiter)
        del text
        raise DataFormatError(
            path,
            line,
            column,
            f"{_csv.ERROR_MESSAGES[code]}: {layout.dataset} {layout.name} records have "
            f"{len(layout.columns)} fields (truncated or ragged line, or a wrong delimiter?)",
        )
    name = layout.columns[column - 1].raw if 1 <= column <= len(layout.columns) else "?"
    value = _field_text(path, det.data_offset, line - det.first_line + 1, column, det.delimiter)
    raise DataFormatError(
        path, line, column, f"{_csv.ERROR_MESSAGES[code]} in column {name!r}: {value!r}"
    )


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
    groups = labels.GROUPS[plan.dataset]
    raw_vocab: list[str] = []
    raw_codes = np.zeros(len(uniq), np.int32)
    group_codes = np.zeros(len(uniq), np.int32)
    ok = np.ones(len(uniq), bool)
    group_vocab = list(groups)
    for u, row in enumerate(first.tolist()):
        values = tuple(c.vocab[c.codes[row]] for c in cols)
        result = labels.normalize(plan.dataset, values)
        if result is None:
            if policy == "error":
                layout = detected[file_index[row]].layout
                col_name = plan.label_names[0]
                col = 1 + [c.name for c in layout.columns].index(col_name)
                raise labels.unknown_label_error(
                    paths[file_index[row]], int(line_no[row]), col, col_name, "/".join(values)
                )
            ok[u] = policy == "keep"
            result = ("/".join(values), "unknown")
            if "unknown" not in group_vocab:
                group_vocab.append("unknown")
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
