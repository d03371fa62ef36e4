"""What the readers read from: a file by its path, or bytes already in memory.

Both are gunzipped transparently (decided by the gzip magic number, never by a name) and
both carry a ``name`` that every :class:`~ltcn_kernels.errors.DataFormatError` reports. The
parser reads either through the same ``open()`` stream in fixed-size chunks, so a file and
its bytes give the same table. :class:`Progress` is the readers' byte-count progress bar.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib

import numpy as np

from ..errors import DataFormatError
from . import _csv

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 1 << 16  # what format detection looks at
COUNT_BYTES = 8 << 20  # read size when counting lines


# What a truncated or corrupted gzip stream raises from a read, whichever byte is damaged.
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def _checked(method):
    """``method`` of :class:`gzip.GzipFile` with its corruption errors made one
    :class:`DataFormatError` naming the input."""

    def read(self, *args):
        try:
            return method(self, *args)
        except GZIP_ERRORS as exc:
            why = "it ends early" if isinstance(exc, EOFError) else str(exc).split(":")[-1].strip()
            raise DataFormatError(self.input_name, 0, 0,
                                  f"corrupt or truncated gzip data ({why})") from None

    read.__name__ = read.__qualname__ = method.__name__
    return read


class CheckedGzip(gzip.GzipFile):
    """A gzip reader whose corruption errors are one :class:`DataFormatError` naming the
    input, from whichever read meets them (the readers, format detection, the gateway)."""

    def __init__(self, name: str, **kwargs):
        super().__init__(mode="rb", **kwargs)
        self.input_name = str(name)

    read = _checked(gzip.GzipFile.read)
    read1 = _checked(gzip.GzipFile.read1)
    readinto = _checked(gzip.GzipFile.readinto)
    readline = _checked(gzip.GzipFile.readline)
    peek = _checked(gzip.GzipFile.peek)
    seek = _checked(gzip.GzipFile.seek)


def open_binary(path: str | os.PathLike):
    """Open a file for binary reading, transparently gunzipping (decided by magic number);
    damaged gzip data is a :class:`DataFormatError` naming the file."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return CheckedGzip(str(path), filename=path) if magic == GZIP_MAGIC else open(path, "rb")


def is_gzip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


class FileInput:
    """A flow-record file; ``name`` is its path."""

    def __init__(self, path: str):
        self.name = str(path)

    def open(self):
        return open_binary(self.name)

    def head(self) -> bytes:
        with self.open() as f:
            return f.read(HEAD_BYTES)

    def size(self) -> int | None:
        """Bytes the parser will see, where known without reading (None for gzip)."""
        return None if is_gzip(self.name) else os.path.getsize(self.name)

    def count_rows(self, offset: int) -> int:
        return _count_rows(self.open(), offset)


class BytesInput:
    """Flow records in memory (an upload, a gateway micro-batch), reported as ``name``."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>"):
        self.data = bytes(data)  # (no copy when it already is bytes)
        self.name = str(name)
        self.compressed = self.data[:2] == GZIP_MAGIC

    def open(self):
        raw = io.BytesIO(self.data)
        return CheckedGzip(self.name, fileobj=raw) if self.compressed else raw

    def head(self) -> bytes:
        if not self.compressed:
            return self.data[:HEAD_BYTES]
        with self.open() as f:
            return f.read(HEAD_BYTES)

    def size(self) -> int | None:
        return None if self.compressed else len(self.data)

    def count_rows(self, offset: int) -> int:
        if self.compressed:
            return _count_rows(self.open(), offset)
        n = self.data.count(b"\n", offset)
        last = self.data[-1] if len(self.data) > offset else 10
        return n + (0 if last == 10 else 1)


def _count_rows(f, offset: int) -> int:
    """An upper bound on the data rows of a stream: its newline count (+1 for a last line)."""
    buf = np.empty(COUNT_BYTES, np.uint8)
    n = 0
    last = 10
    with f:
        f.seek(offset)
        while True:
            got = f.readinto(memoryview(buf))
            if not got:
                break
            n += _csv.count_lines(buf, got)
            last = buf[got - 1]
    return n + (0 if last == 10 else 1)


class Progress:
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
