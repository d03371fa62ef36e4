"""``--save-flows``: the flow records the flow meter produced, kept as one CSV with one header."""

from __future__ import annotations

from ..io.pcap import header_line
from .alertfile import open_output

FLOW_HEADER = header_line().encode()


class FlowLog:
    """Appends flow-meter output (a header line first, then records) to ``path``; a header
    already in the file, or repeated by later outputs, is written once. ``path=None``: off."""

    def __init__(self, path: str | None):
        self.path = path
        self._f = None if path is None else open_output(path, "--save-flows", "ab")
        self._header = self._f is not None and self._f.tell() > 0

    def reopen(self) -> None:
        """Open ``path`` again (SIGHUP, after an outside rotation); a new file gets a header."""
        if self._f is not None:
            self._f.close()
            self._f = open_output(self.path, "--save-flows", "ab")
            self._header = self._f.tell() > 0

    @property
    def enabled(self) -> bool:
        return self._f is not None

    def write(self, data: bytes) -> bytes:
        """Append ``data`` (a header line first, then records) and return it unchanged."""
        if self._f is not None and data:
            body = data
            if not self._header:
                self._header = True
            elif data.startswith(FLOW_HEADER):
                body = data[data.find(b"\n") + 1 :]
            self._f.write(body)
            self._f.flush()
        return data

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
