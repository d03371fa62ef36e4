"""Format detection: which dataset and layout a flow-record file holds, from its first line.

The format is decided from the header and the content, never from the file name: a header
that names a known layout's columns (:mod:`ltcn_kernels.io.schema`), or -- for the headerless
published files -- the field count and where the protocol field is. A near miss of a known
header is reported as the column that differs; binary data (a packet capture) as such.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import DataFormatError
from . import schema
from .datasets import DATASETS, LAYOUTS
from .inputs import HEAD_BYTES, open_binary
from .pcap import capture_kind

_BOM = b"\xef\xbb\xbf"
_DELIMITERS = {",": 44, "\t": 9, ";": 59}
# A protocol as Argus names it (tcp, arp, rarp, ipv6-icmp, llc, ipx/spx): a headerless
# BoT-IoT record is recognised by its shape, not by a list of protocols, so an uncommon
# protocol in the first record does not make the input unreadable. A name, not a number: a
# damaged line of numbers is not taken for a BoT-IoT record.
_PROTOCOL = re.compile(r"[a-z][a-z0-9/_.+-]{0,31}")


@dataclass(frozen=True)
class Detected:
    layout: schema.Layout
    delimiter: int
    has_header: bool
    data_offset: int  # byte offset of the first data line
    first_line: int  # its 1-based line number


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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _headerless_layout(fields: list[str]) -> schema.Layout | None:
    values = [f.strip().strip('"').strip().lower() for f in fields]
    if len(values) in (42, 43) and values[1] in ("tcp", "udp", "icmp"):  # NSL-KDD's only three
        return schema.NSL_KDD if len(values) == 43 else schema.NSL_KDD_42
    # BoT-IoT: pkSeqID, then stime and proto (entire) or proto (10-best)
    if len(values) == 35 and _is_number(values[0]) and _is_number(values[1]) and _PROTOCOL.fullmatch(values[3]):
        return schema.BOT_IOT_ENTIRE
    if len(values) == 19 and _is_number(values[0]) and _PROTOCOL.fullmatch(values[1]):
        return schema.BOT_IOT_10BEST
    return None


def header_line(detected: Detected) -> bytes:
    """The header of ``detected``'s layout, with its delimiter: what a headerless input's
    batches are parsed under, so no batch's first record is mistaken for its format."""
    return chr(detected.delimiter).join(c.raw for c in detected.layout.columns).encode()


def _closest_layout(names: list[str]) -> tuple[schema.Layout, float]:
    best, score = LAYOUTS[0], -1.0
    got = set(names)
    for layout in LAYOUTS:
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
        path: the file (read for its first 64 KiB unless ``head`` is given); with ``head``,
            only the name that errors report.
        head: the file's first bytes, if already read.
        dataset: ``auto`` or the dataset the file must belong to.

    Returns:
        The layout, delimiter, whether a header is present and where the data starts.

    Raises:
        DataFormatError: empty file, no delimiter, unknown or damaged layout.
    """
    path = str(path)
    check_dataset(dataset)
    if head is None:
        with open_binary(path) as f:
            head = f.read(HEAD_BYTES)
    return detect_head(path, head, dataset)


def check_dataset(dataset: str) -> None:
    """``ValueError`` unless ``dataset`` is ``auto`` or a known dataset."""
    if dataset != "auto" and dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected auto or one of {', '.join(DATASETS)}"
        )


def detect_head(name: str, head: bytes, dataset: str = "auto") -> Detected:
    """:func:`detect` on the first bytes ``head`` of an input reported as ``name``
    (``dataset`` already checked by :func:`check_dataset`)."""
    if b"\x00" in head[:4096]:
        kind = _binary_kind(head)
        raise DataFormatError(
            name, 0, 0, f"binary file ({kind}), not comma- or tab-separated flow records"
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
        raise DataFormatError(name, 0, 0, "empty file: no records")
    text, delim, delim_char, length = _split_first_line(body, name)
    layout, has_header = _layout_of(text.split(delim_char), name, line)
    if dataset != "auto" and layout.dataset != dataset:
        raise DataFormatError(
            name, line, 0, f"this is a {layout.dataset} file ({layout.name}), not {dataset}"
        )
    data_offset = offset + (length if has_header else 0)
    return Detected(layout, delim, has_header, data_offset, line + (1 if has_header else 0))


def _layout_of(fields: list[str], name: str, line: int) -> tuple[schema.Layout, bool]:
    """(layout, has a header) of an input whose first line (number ``line``) has ``fields``."""
    names = [_norm(f) for f in fields]
    for candidate in LAYOUTS:
        if names == [_norm(c.raw) for c in candidate.columns]:
            return candidate, True
    layout = _headerless_layout(fields)
    if layout is not None:
        return layout, False
    closest, score = _closest_layout(names)
    if score >= 0.6:
        raise _header_mismatch(name, closest, names, fields)
    raise DataFormatError(
        name,
        line,
        0,
        f"unknown format: {len(fields)} fields, not a known NSL-KDD, CICIDS2017 or "
        "BoT-IoT layout (header or first record not recognised)",
    )


def _binary_kind(head: bytes) -> str:
    kind = capture_kind(head)
    if kind is None:
        return "unknown binary data"
    return f"a {kind} capture: `ltcn flows` or `ltcn detect` turn it into flow records"
