"""Where the gateway's alerts go: outputs ("sinks") that each get every batch of alerts.

A sink is anything with :meth:`Sink.emit` (and, where it needs them, ``start``, ``reopen`` and
``close``): the EVE alert file (:class:`AlertFileSink`), the nftables firewall
(:class:`FirewallSink`) and the Prometheus metrics (:mod:`.prometheus`). A new output is one
module with one such class, handed to :class:`~ltcn_kernels.gateway.Gateway` in ``sinks``.

The gateway hands each micro-batch's alerting flows to its sinks in order, as one
:class:`AlertBatch` (:func:`emit_all`). The firewall comes first, so the alert file can say
whether an alert's source was blocked (``batch.blocked``). Suppressed alerts
(:mod:`.suppress`) are in no batch; thresholded ones are, with ``batch.emit`` false: every sink
sees them (the firewall blocks their sources), the alert file writes no event for them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from .alertfile import AlertWriter
from .eve import AlertColumns, AlertFormat, alert_lines
from .evetext import iso_time
from .firewall import Firewall

_SAME = object()  # (AlertBatch.take: the picked alerts keep their own event mask)


@dataclasses.dataclass
class AlertBatch:
    """The alerting flows of one micro-batch, in row order, as every sink sees them.

    Attributes:
        fmt: the model's alert format (its class names: ``fmt.classes``).
        cols: the table's columns the alerts report.
        rows: the table rows of the alerts.
        probs: their class probabilities, ``(len(rows), classes)``.
        p_attack: their P(attack) (float64).
        cls: the index of the class each reports.
        blocked: where the firewall added the alert's source (set by :class:`FirewallSink`;
            None: no firewall).
        now: the time stamp of alerts whose flow has no time (None: the clock, when written).
        emit: which alerts are written as events (None: all); a thresholded alert
            (:mod:`.suppress`) is still an alert -- the firewall blocks its source -- but
            has no event.
    """

    fmt: AlertFormat
    cols: AlertColumns
    rows: np.ndarray
    probs: np.ndarray
    p_attack: np.ndarray
    cls: np.ndarray
    blocked: np.ndarray | None = None
    now: str | None = None
    emit: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def events(self) -> int:
        """How many of the alerts are written as events."""
        return len(self) if self.emit is None else int(np.count_nonzero(self.emit))

    def take(self, pick, *, now: str | None = None, emit=_SAME) -> AlertBatch:
        """The alerts ``pick`` (a slice, indices or a mask), as a batch (their time stamp
        ``now`` where they have none; ``emit``: their event mask, default this batch's)."""
        blocked = None if self.blocked is None else self.blocked[pick]
        if emit is _SAME:
            emit = None if self.emit is None else self.emit[pick]
        return AlertBatch(self.fmt, self.cols, self.rows[pick], self.probs[pick],
                          self.p_attack[pick], self.cls[pick], blocked, now, emit)

    def one(self, i: int, now: str | None = None) -> AlertBatch:
        """Alert ``i`` alone, as a batch of one (its time stamp ``now`` where it has none)."""
        return self.take(slice(i, i + 1), now=now)

    def written(self) -> AlertBatch:
        """The alerts written as events (this batch, where all are)."""
        return self if self.emit is None else self.take(self.emit, now=self.now, emit=None)

    def class_names(self) -> list[str]:
        """The name of the class each alert reports."""
        return [self.fmt.classes[c] for c in self.cls.tolist()]


class Sink:
    """An output of the gateway. Subclasses implement :meth:`emit`; the rest do nothing here.

    ``stream`` is the text stream the sink prints each alert to, if it shares one with
    another sink (None: its own file, or nothing printed per alert)."""

    stream = None

    def start(self, gateway) -> None:
        """Called once the engine is ready, before the first record (``gateway``: the
        :class:`~ltcn_kernels.gateway.Gateway`, whose ``stats`` a sink may read)."""

    def emit(self, batch: AlertBatch) -> None:
        """Take one batch of alerts (never empty)."""
        raise NotImplementedError

    def reopen(self) -> None:
        """Open log files anew (SIGHUP, after an outside rotation)."""

    def close(self) -> None:
        """Flush and release what the sink holds (the detector is ending)."""


def emit_all(sinks: list[Sink], batch: AlertBatch) -> None:
    """Hand ``batch`` to each sink, in order. Sinks that print to one stream (a dry-run
    firewall and alerts, both on standard output) get it one alert at a time, so what each
    prints of an alert stays together (a block command before its alert), all with the time
    stamp the whole batch would have had."""
    streams = [id(s.stream) for s in sinks if s.stream is not None]
    if len(set(streams)) == len(streams):
        for sink in sinks:
            sink.emit(batch)
        return
    now = iso_time(None)
    for i in range(len(batch)):
        one = batch.one(i, now)
        for sink in sinks:
            sink.emit(one)


class FirewallSink(Sink):
    """Blocks the sources of alerts (:class:`~ltcn_kernels.gateway.Firewall`) and marks the
    alerts whose source it added (``batch.blocked``; a dry run blocks nothing)."""

    def __init__(self, firewall: Firewall):
        self.firewall = firewall
        self.gateway = None
        self._told = False  # (the output closed: said once)

    @property
    def stream(self):
        return None if self.firewall.apply else self.firewall.out  # (a dry run prints)

    def start(self, gateway) -> None:
        self.gateway = gateway
        self.firewall.start()
        self._stop_if_closed()

    def _stop_if_closed(self) -> None:
        """A dry run whose output closed (`| head -1`) has nowhere to print its commands: say
        so in one line and stop the gateway, which then prints its final statistics."""
        gw = self.gateway
        if self.firewall.output_closed and not self._told and gw is not None:
            self._told = True
            print("ltcn detect: the output closed (its reader is gone): the dry run's nft "
                  "commands have nowhere to go; stopping", file=gw.err, flush=True)
            gw.stop = True

    def emit(self, batch: AlertBatch) -> None:
        cols, fw = batch.cols, self.firewall
        if cols.src is None:  # a layout without source addresses: nothing to block
            return
        sources, peers = cols.source_ips(batch.rows), cols.dest_ips(batch.rows)
        # The sources with the most alerting flows in this batch go first: a flood's source
        # is then in the set before its victim's replies in the same batch are judged
        # (``Firewall.block`` never blocks a reply to a blocked address), since a victim
        # answers with fewer flows than the flood has.
        many = Counter(sources)
        added = np.zeros(len(sources), bool)
        for i in sorted(range(len(sources)), key=lambda k: -many[sources[k]]):
            added[i] = fw.block(sources[i], peers[i]) == "added"
        batch.blocked = added & bool(fw.apply)
        self._stop_if_closed()


class AlertFileSink(Sink):
    """The EVE alert lines of each batch (:func:`~.eve.alert_lines`), written with one flush,
    in row order (:class:`~.alertfile.AlertWriter`: a file rotated by size, or a stream)."""

    def __init__(self, writer: AlertWriter):
        self.writer = writer

    @property
    def stream(self):
        return self.writer.stream if self.writer.path is None else None

    def emit(self, batch: AlertBatch) -> None:
        batch = batch.written()  # (a thresholded alert has no event)
        if not len(batch):
            return
        data, sizes = alert_lines(batch.fmt, batch.cols, batch.rows, batch.probs,
                                  batch.p_attack, batch.cls, batch.blocked, batch.now)
        self.writer.write_lines(data, sizes)

    def reopen(self) -> None:
        self.writer.reopen()

    def close(self) -> None:
        self.writer.close()
