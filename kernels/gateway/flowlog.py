"""``--save-flows``: the flow records the flow meter produced, kept as one CSV with one header."""

from __future__ import annotations

import numpy as np

from ..io.pcap import header_line
from .alertfile import AlertWriter

FLOW_HEADER = header_line().encode()


class FlowLog:
    """Appends flow-meter output (a header line first, then records) to ``path``; a header
    already in the file, or repeated by later outputs, is written once. ``path=None``: off.

    The lines go through an :class:`~.alertfile.AlertWriter` (never rotated), so a write that
    fails (a full disk) is what it is for the alerts: the lines are counted in :attr:`lost`,
    the file is cut back to its last whole line, a warning (to ``err``) says so at most once
    a minute, and detection goes on with the records."""

    def __init__(self, path: str | None, err=None):
        self.path = path
        self._w = None if path is None else AlertWriter(
            path, err=err, flag="--save-flows", noun="flow records")
        self._header = self._w is not None and self._w.size > 0

    def reopen(self) -> None:
        """Open ``path`` again (SIGHUP, after an outside rotation); a new file gets a header."""
        if self._w is not None:
            self._w.reopen()
            self._header = self._w.size > 0

    @property
    def enabled(self) -> bool:
        return self._w is not None

    @property
    def lost(self) -> int:
        """Lines (the header or records) that could not be written."""
        return 0 if self._w is None else self._w.lost

    def write(self, data: bytes) -> bytes:
        """Append ``data`` (a header line first, then records) and return it unchanged."""
        if self._w is not None and data:
            self._w.follow_name()  # (a file removed or moved away: the new one needs a header)
            self._header = self._w.size > 0
            body = data
            if self._header and data.startswith(FLOW_HEADER):
                body = data[data.find(b"\n") + 1 :]
            elif not self._header and not data.startswith(FLOW_HEADER):
                body = FLOW_HEADER + b"\n" + data  # (a new file after a reopen, or a lost header)
            ends = np.flatnonzero(np.frombuffer(body, np.uint8) == ord("\n"))
            self._w.write_lines(body, np.diff(ends, prepend=-1))
            self._header = self._w.size > 0
        return data

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
