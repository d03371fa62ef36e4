"""The alert file: EVE JSON lines appended a micro-batch at a time, flushed per batch and
rotated by size (``path.1`` .. ``path.keep``), reopened on SIGHUP; and :func:`open_output`,
which every log file of the gateway is opened with.

What goes into a line is :mod:`.eve`'s (Suricata, likewise, builds an event apart from writing
and rotating its file); this module only writes complete lines and keeps the file healthy.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
import time

import numpy as np

from ..errors import InputError
from .eve import event_json


def open_output(path: str, flag: str, mode: str = "a", **kwargs):
    """``open(path, mode)`` for an output file named by option ``flag``, creating its folder
    (``--alerts /var/log/ltcn/alerts.jsonl`` on a fresh system). A folder or file that cannot
    be made or written is an :class:`~ltcn_kernels.errors.InputError` saying exactly which
    path, as which user, and how to fix it (the unit's ``LogsDirectory=``)."""
    parent = os.path.dirname(os.path.abspath(path))
    user = _user()
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot create the folder {parent} as user {user} "
            f"({exc.strerror}); create it writable by {user} (e.g. `install -d -o {user} "
            f"{parent}`, or LogsDirectory= in the systemd unit)"
        ) from exc
    try:
        # O_NOFOLLOW: a link planted where the log goes must not point our writes elsewhere
        return open(path, mode, opener=_no_follow, **kwargs)
    except IsADirectoryError as exc:
        raise InputError(f"{flag} {path}: is a directory; give a file name") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{flag} {path}: is a symbolic link; give the file itself "
                             f"({os.path.realpath(path)})") from exc
        raise InputError(
            f"{flag} {path}: cannot write as user {user} ({exc.strerror}); make {parent} "
            f"writable by {user}"
        ) from exc


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o640)


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return str(getattr(os, "geteuid", lambda: "?")())


class AlertWriter:
    """JSON lines, written through after each batch of alerts, rotated by size (``path.1`` ..
    ``path.keep``) between lines: no file but the current one exceeds ``max_bytes`` unless a
    single line does.

    A write that fails (a full disk, an I/O error) never stops the detector: the batch's
    lines are counted in ``lost`` (the file is cut back to its last whole line), a warning
    says so at most once a minute, and the next batch tries again. :meth:`reopen` (SIGHUP)
    opens the file at ``path`` anew, after an outside rotation moved it away.

    ``flag`` and ``noun`` name the option and the lines in messages: the flow log
    (:class:`~.flowlog.FlowLog`, ``--save-flows``) writes its records through one too."""

    WARN_EVERY_S = 60.0

    def __init__(self, path: str | None, max_bytes: int = 0, keep: int = 5, stream=None,
                 err=None, *, flag: str = "--alerts", noun: str = "alerts"):
        self.path = None if path in (None, "-") else str(path)
        self.flag, self.noun = flag, noun
        self.max_bytes = int(max_bytes)
        self.keep = max(0, int(keep))
        self.rotations = 0
        self.written = 0
        self.lost = 0
        self.reopens = 0
        self.reopens_refused = 0  # SIGHUPs whose new file could not be opened (kept the old)
        self.err = err
        self._warned = -float("inf")
        if self.path is None:
            self._f = stream if stream is not None else sys.stdout
            self._size = 0
            self._text = isinstance(self._f, io.TextIOBase) or hasattr(self._f, "encoding")
        else:
            self._open()
            self._text = False

    def _open(self) -> None:
        # unbuffered: a failed write is known at once, and no failed bytes linger in a buffer
        self._f = open_output(self.path, self.flag, "ab", buffering=0)
        self._size = os.fstat(self._f.fileno()).st_size

    @property
    def size(self) -> int:
        """Bytes in the current file (its size when opened, plus the lines written since)."""
        return self._size

    @property
    def stream(self):
        """Where the lines go now (the open alert file, or the output stream)."""
        return self._f

    def reopen(self) -> None:
        """Open ``path`` again (``logrotate``'s ``postrotate`` sends SIGHUP). The new file is
        opened before the old one is closed: if it cannot be (a symbolic link planted at the
        path, a permission), a warning says so and the lines keep going to the file already
        open, instead of the detector ending."""
        if self.path is None:
            return
        try:
            new = open_output(self.path, self.flag, "ab", buffering=0)
        except InputError as exc:
            self.reopens_refused += 1
            print(f"ltcn detect: warning: not reopened: {exc}; still writing to the file "
                  "already open", file=self.err or sys.stderr, flush=True)
            return
        self.close()
        self._f, self._size = new, os.fstat(new.fileno()).st_size
        self.reopens += 1

    def follow_name(self) -> None:
        """Before a batch: if the file at ``path`` is gone or another file (removed or
        renamed away without a SIGHUP), open ``path`` anew, as ``tail -F`` follows a name;
        otherwise lines would go to a file nobody can see, uncounted."""
        try:
            now = os.stat(self.path, follow_symlinks=False)
            mine = os.fstat(self._f.fileno())
        except FileNotFoundError:
            now = mine = None
        except (OSError, ValueError):
            return  # (closed by a failed rotation: the rotation code reopens it)
        if now is not None and stat.S_ISLNK(now.st_mode):
            return  # (a link planted at the path: never followed; a SIGHUP says so, once)
        if now is None or (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            self.reopen()

    def _rotate(self) -> None:
        try:
            os.fsync(self._f.fileno())
        except (OSError, ValueError):
            pass  # (closed by a rotation that failed before: the lines it has are written)
        self._f.close()
        if not os.path.exists(self.path):
            # Removed from outside: nothing to keep, so no rotation; the file is opened anew
            # and counted as a reopen (else the next rotation fails on the file we closed).
            self._open()
            self.reopens += 1
            return
        try:
            if self.keep == 0:
                os.remove(self.path)
            else:
                oldest = f"{self.path}.{self.keep}"
                if os.path.exists(oldest):
                    os.remove(oldest)
                for k in range(self.keep - 1, 0, -1):
                    if os.path.exists(f"{self.path}.{k}"):
                        os.replace(f"{self.path}.{k}", f"{self.path}.{k + 1}")
                os.replace(self.path, f"{self.path}.1")
        finally:  # (a move that failed is a lost batch, never a closed file to write to)
            self._open()
        self.rotations += 1

    def _put(self, data: bytes) -> None:
        if self._text:
            self._f.write(data.decode("ascii"))
            return
        view = memoryview(data)
        while view.nbytes:
            n = self._f.write(view)
            if not n:
                raise OSError(errno.EAGAIN, "the alert output took no bytes")
            view = view[n:]

    def _lose(self, lines: int, exc: OSError) -> None:
        """Count ``lines`` as lost and cut the file back to its last whole line."""
        self.lost += lines
        if self.path is not None:
            try:
                os.ftruncate(self._f.fileno(), self._size)
            except (OSError, ValueError):
                pass  # (not a regular file, or closed: nothing to cut)
        now = time.monotonic()
        if now - self._warned >= self.WARN_EVERY_S:
            self._warned = now
            print(f"ltcn detect: cannot write {self.noun} to {self.path or 'the output'} "
                  f"({exc.strerror or exc}); {self.lost:,} {self.noun} lost so far, still "
                  "detecting", file=self.err or sys.stderr, flush=True)

    def write_lines(self, data: bytes, sizes) -> None:
        """Append complete lines (``data``, ASCII; ``sizes`` the length of each), rotating
        before a line that would take the file past ``max_bytes``."""
        sizes = np.asarray(sizes, np.int64)
        n = int(sizes.shape[0])
        if n == 0:
            return
        if self.path is not None:
            self.follow_name()
        if self.path is None or self.max_bytes <= 0:
            try:
                self._put(data)
                self._f.flush()  # (an output stream's buffer; a no-op on the unbuffered file)
            except OSError as exc:
                self._lose(n, exc)
                return
            self._size += len(data)
            self.written += n
            return
        ends = np.cumsum(sizes)
        start = 0
        while start < n:
            base = int(ends[start - 1]) if start else 0
            room = self.max_bytes - self._size + base
            stop = max(start, int(np.searchsorted(ends, room, side="right")))
            try:
                if stop == start:  # the next line does not fit
                    if self._size > 0:
                        self._rotate()
                        continue
                    stop = start + 1  # a line longer than max_bytes, alone in a fresh file
                self._put(data[base : int(ends[stop - 1])])
            except OSError as exc:
                self._lose(n - start, exc)
                return
            self._size += int(ends[stop - 1]) - base
            self.written += stop - start
            start = stop

    def write(self, event: dict) -> None:
        """Append one event (a dict) as a JSON line."""
        line = (event_json(event) + "\n").encode("ascii")
        self.write_lines(line, [len(line)])

    def close(self) -> None:
        try:
            self._f.flush()
            if self.path is not None:
                os.fsync(self._f.fileno())
        except (OSError, ValueError):
            pass
        if self.path is not None:
            try:
                self._f.close()
            except (OSError, ValueError):
                pass
