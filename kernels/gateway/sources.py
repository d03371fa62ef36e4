"""Where the gateway's records come from: files, directories, a followed file, standard input,
packet captures (through the Argus flow meter) and live interfaces.

:func:`source_files` expands ``--source``; :func:`open_source` opens one of its files (gzipped
or not) or standard input; :func:`capture_flows` converts a capture to flow records;
:class:`TeeLive` is a live interface whose records are also saved (``--save-flows``).
:class:`Reader` turns any of them into byte chunks (``None``: nothing new yet) and
:class:`Lines` the chunks into complete lines, bounded in memory.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import tempfile
import time
from contextlib import contextmanager

from ..errors import DataFormatError
from ..io.inputs import open_binary
from ..io.pcap import LiveFlows, capture_to_flows
from .flowlog import FlowLog

READ_BYTES = 1 << 16
# A longer "line" is skipped and counted: a flow record is a few hundred bytes (CICIDS2017's
# widest, 85 fields, under 1 KiB), so 64 KiB is garbage, not a record.
MAX_LINE_BYTES = 1 << 16
# The most bytes of records held for one micro-batch: with the line bound, memory follows
# this, not --micro-batch x line length (600 lines of 1 MiB were 917 MiB).
MAX_BATCH_BYTES = 8 << 20


def source_files(source: str) -> list[str]:
    """``-``, the files of a directory (sorted, no hidden ones) or the one file ``source``."""
    if source == "-":
        return ["-"]
    if os.path.isdir(source):
        files = sorted(
            os.path.join(source, n) for n in os.listdir(source)
            if not n.startswith(".") and os.path.isfile(os.path.join(source, n))
        )
        if not files:
            raise DataFormatError(source, 0, 0, "no files in this directory")
        return files
    try:
        os.stat(source)
    except PermissionError:
        raise DataFormatError(source, 0, 0, "permission denied (a folder on the way, or the "
                              "file, is not readable by this user)") from None
    except OSError:
        raise DataFormatError(source, 0, 0, "no such file or directory") from None
    if not os.access(source, os.R_OK):
        raise DataFormatError(source, 0, 0, "permission denied (not readable by this user)")
    return [source]


def open_source(path: str, stdin=None):
    """A binary stream of ``path`` (gunzipped by magic number), or of standard input for
    ``-`` (``stdin`` if given)."""
    if path == "-":
        return stdin if stdin is not None else sys.stdin.buffer
    if stat.S_ISFIFO(os.stat(path).st_mode):
        # Not blocking until a writer comes (which ignored --max-seconds and SIGTERM), and not
        # sniffed for gzip (its bytes are read once); :class:`Reader` waits for a writer.
        return os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0)
    return open_binary(path)


@contextmanager
def capture_flows(path: str, flow_log: FlowLog):
    """The flow records of a packet capture (Argus), as an open file; appended to
    ``flow_log`` first when it saves flows."""
    with tempfile.TemporaryDirectory(prefix="ltcn-detect-") as tmp:
        flows = os.path.join(tmp, "flows.csv")
        capture_to_flows(path, flows)
        if flow_log.enabled:  # (the file is read a second time only then)
            with open(flows, "rb") as f:
                flow_log.write(f.read())
        with open(flows, "rb") as f:
            yield f


class TeeLive:
    """A :class:`LiveFlows` whose records are also appended to a :class:`FlowLog`."""

    def __init__(self, live: LiveFlows, log: FlowLog):
        self.live, self.log = live, log

    def read(self, poll: float) -> bytes | None:
        data = self.live.read(poll)
        return None if data is None else self.log.write(data)

    def close(self) -> None:
        self.live.close()


class Lines:
    """Split a byte stream into complete lines (without the newline), bounded in memory.

    A line over ``MAX_LINE_BYTES`` is counted in ``too_long`` and given as an empty line in
    its place (which the readers skip), so the lines after it keep their numbers."""

    def __init__(self):
        self.carry = b""
        self.too_long = 0
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        parts = (self.carry + data).split(b"\n")
        self.carry = parts.pop()
        if self._skipping and parts:  # the tail of an over-long line: its place
            parts[0] = b""
            self._skipping = False
        if parts and max(map(len, parts)) > MAX_LINE_BYTES:  # a whole one inside this chunk
            for k, part in enumerate(parts):
                if len(part) > MAX_LINE_BYTES:
                    parts[k] = b""
                    self.too_long += 1
        if len(self.carry) > MAX_LINE_BYTES:
            self.carry = b""
            if not self._skipping:
                self.too_long += 1
            self._skipping = True
        return parts

    def finish(self) -> list[bytes]:
        rest, self.carry = self.carry, b""
        return [rest] if rest.strip() and not self._skipping else []


class _Switch:
    """What :meth:`Reader.read` returns when a followed file was rotated."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


ROTATED = _Switch("rotated: a new file at the path")  # rename-and-recreate
TRUNCATED = _Switch("truncated: the same file cut back")  # copy-truncate


class Reader:
    """Bytes from a file, a growing file (follow) or standard input; ``None`` = none now.

    A followed file is followed by name, as ``tail -F`` does: at its end, a new file at the
    path (rename-and-recreate rotation) is opened and read from its start (``ROTATED``), and a
    file cut shorter than what was read (copy-truncate) is read again from its start
    (``TRUNCATED``); a path that is gone is waited for."""

    def __init__(self, name: str, f, follow: bool, poll: float):
        self.name, self.f, self.follow, self.poll = name, f, follow, poll
        self.fd = None
        self.fifo = False  # a named pipe: its end is a writer closing it
        self.seen = False  # a writer has written (before that, no writer is not an end)
        self.live = isinstance(f, (LiveFlows, TeeLive))  # it polls by itself
        if self.live:
            return
        try:
            fd = f.fileno()
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                self.fd, self.fifo = fd, stat.S_ISFIFO(mode) and name != "-"
        except (AttributeError, OSError, ValueError):
            pass

    def read(self) -> bytes | None:
        if self.live:
            return self.f.read(self.poll)
        if self.fd is not None:
            ready, _, _ = select.select([self.fd], [], [], self.poll)
            if not ready:
                return None
            try:
                data = os.read(self.fd, READ_BYTES)
            except BlockingIOError:  # (a writer with nothing written yet)
                return None
            if data:
                self.seen = True
            elif self.fifo and (self.follow or not self.seen):
                # no writer (yet, or any more with --follow): wait for one, a poll at a time,
                # so --max-seconds and SIGTERM are honoured meanwhile
                time.sleep(self.poll)
                return None
            return data
        data = self.f.read(READ_BYTES)
        if data:
            return data
        if not self.follow:
            return b""
        return self._rotation()

    def _rotation(self):
        """At the end of a followed file: ``ROTATED``/``TRUNCATED`` when it was rotated, else
        None (wait for more)."""
        if self.name == "-" or not hasattr(self.f, "fileno"):
            return None
        try:
            now = os.stat(self.name)
            mine = os.fstat(self.f.fileno())
        except OSError:
            return None  # renamed away and not made again yet
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            try:
                new = open_binary(self.name)
            except OSError:
                return None
            self.f.close()  # (read to its end above: nothing of it is lost)
            self.f = new
            return ROTATED
        if now.st_size < self.f.tell():
            self.f.seek(0)
            return TRUNCATED
        return None

    def close(self) -> None:
        if self.live or self.fifo or (self.fd is None and self.name != "-"):
            self.f.close()
