"""The gateway's statistics as Prometheus metrics (``--metrics-listen``, ``--metrics-textfile``).

:class:`MetricsSink` serves them over HTTP at ``http://HOST:PORT/metrics`` for Prometheus to
scrape, and/or writes them atomically to a ``*.prom`` file for node_exporter's textfile
collector. The counters are read at each scrape from the gateway's own (its
:class:`~ltcn_kernels.gateway.Stats`, firewall and alert writer), the way a custom collector
exposes an application's counters, so nothing is counted twice and a scrape equals the
``ltcn detect stats`` line; as a sink, it also counts the alerts by class and action.

Needs ``prometheus_client`` (the ``metrics`` extra). Metric names (all ``ltcn_``):

=====================================  ========  =====================================================
``lines_total``                        counter   record lines read into micro-batches (good and bad)
``flows_total``                        counter   flows classified
``alerts_total{class,action}``         counter   alerts by reported class and ``allowed``/``blocked``
``alert_events_total``                 counter   alert events emitted (thresholded alerts have none)
``suppressed_total{rule}``             counter   alerts suppressed, by rule (``file:line``)
``thresholded_total{rule}``            counter   alerts kept without an event, by threshold rule
``record_span_seconds``                gauge     first to last flow start time seen (record time)
``skipped_total{reason}``              counter   lines skipped, by reason
``batches_total``                      counter   micro-batches classified
``classify_seconds_total``             counter   seconds spent classifying micro-batches
``latency_seconds{quantile}``          gauge     a flow's latency, 0.5 and 0.99, last 10,000 flows
``captures_total``                     counter   packet captures converted by the flow meter
``source_rotations_total``             counter   times a followed file was rotated
``compile_seconds``                    gauge     kernels compiled or loaded before the first flow
``start_time_seconds``                 gauge     when the detector started (Unix time)
``hosts`` / ``hosts_evicted_total``    gauge     per-host histories held / forgotten (per-host models)
``firewall_total{outcome}``            counter   block requests by outcome (``added``, ...)
``site_learning``                      gauge     1 while the site baseline is being learned, else 0
``site_learned_seconds``               gauge     traffic seconds the baseline has learned
``site_threshold``                     gauge     the site's P(attack) threshold (once learned)
``site_hosts``                         gauge     hosts whose habits the baseline holds
``site_flows_total{phase}``            counter   flows ``learned``, and detected ``familiar``
``alerts_written_total``               counter   alert lines written
``alerts_lost_total``                  counter   alert lines lost to write errors
``alert_file_rotations_total``         counter   alert file rotations by size
``alert_file_reopens_total``           counter   alert file reopens (SIGHUP)
=====================================  ========  =====================================================

plus the ``process_*`` metrics of the process (CPU, memory, open files) on Linux.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    start_http_server,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .options import GatewayError
from .sinks import AlertBatch, Sink

TEXTFILE_EVERY_S = 15.0  # node_exporter reads the file at each scrape (commonly every 15 s)


class MetricsSink(Sink):
    """Prometheus metrics of one detector: served at ``listen`` (``(host, port)``) and/or
    written to ``textfile`` every ``every`` seconds and at the end (None: not).

    The server is bound when the sink is made (a busy port is refused before minutes of
    compiling); until :meth:`start` it serves the process metrics only.

    Raises:
        GatewayError: the address cannot be listened on, or the file cannot be written.
    """

    def __init__(self, listen: tuple[str, int] | None = None, textfile: str | None = None,
                 every: float = TEXTFILE_EVERY_S):
        self.alerts: Counter[tuple[str, str]] = Counter()  # (class, action) -> alerts
        self.gateway = None
        self.registry = CollectorRegistry()
        self.registry.register(_GatewayCollector(self))
        ProcessCollector(registry=self.registry)
        self.textfile, self.every = textfile, float(every)
        self._server = self._thread = self._writer = None
        self._done = threading.Event()
        if textfile is not None:
            self._write()  # (a path that cannot be written is refused now, in one line)
        if listen is not None:
            host, port = listen
            try:
                self._server, self._thread = start_http_server(port, host, registry=self.registry)
            except OSError as exc:
                raise GatewayError(f"--metrics-listen {_address(host, port)}: cannot listen "
                                   f"({exc.strerror or exc})") from None

    @property
    def port(self) -> int | None:
        """The port the endpoint listens on (None: no endpoint)."""
        return None if self._server is None else int(self._server.server_address[1])

    def __str__(self) -> str:
        where = []
        if self._server is not None:
            host = self._server.server_address[0]
            where.append(f"at http://{_address(host, self.port)}/metrics")
        if self.textfile is not None:
            where.append(f"in {self.textfile} (every {self.every:g} s)")
        return "Prometheus metrics " + " and ".join(where)

    def start(self, gateway) -> None:
        self.gateway = gateway
        if self.textfile is not None:
            self._writer = threading.Thread(target=self._write_every, name="ltcn-metrics-textfile",
                                            daemon=True)
            self._writer.start()

    def emit(self, batch: AlertBatch) -> None:
        blocked = np.zeros(len(batch), bool) if batch.blocked is None else batch.blocked
        for name, was in zip(batch.class_names(), blocked.tolist(), strict=True):
            self.alerts[name, "blocked" if was else "allowed"] += 1

    def close(self) -> None:
        """Stop the endpoint and write the textfile a last time (the final counters)."""
        self._done.set()
        if self._writer is not None:
            self._writer.join()
        if self.textfile is not None:
            try:
                self._write()
            except GatewayError:
                pass  # (said when it was made; the detector's own output is done)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def _write(self) -> None:
        try:
            write_to_textfile(self.textfile, self.registry)  # (a temporary file, renamed)
        except OSError as exc:
            raise GatewayError(f"--metrics-textfile {self.textfile}: cannot write "
                               f"({exc.strerror or exc})") from None

    def _write_every(self) -> None:
        while not self._done.wait(self.every):
            try:
                self._write()
            except GatewayError:
                pass  # (a full disk: the next write tries again; detection goes on)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _GatewayCollector:
    """Reads the gateway's counters at each scrape (from the server's thread: every read is
    of a number, or a copy made in one step, of what the detecting thread updates)."""

    def __init__(self, sink: MetricsSink):
        self.sink = sink

    def collect(self):
        gw = self.sink.gateway
        if gw is None:  # still compiling
            return
        stats = gw.stats
        yield from _counters(stats)
        alerts = CounterMetricFamily("ltcn_alerts", "alerts by reported class and firewall action",
                                     labels=("class", "action"))
        for (name, action), n in sorted(dict(self.sink.alerts).items()):
            alerts.add_metric((name, action), n)
        yield alerts
        skipped = CounterMetricFamily("ltcn_skipped", "lines skipped, by reason", labels=("reason",))
        for reason, n in sorted(dict(stats.skipped).items()):
            skipped.add_metric((reason,), n)
        yield skipped
        latency = GaugeMetricFamily("ltcn_latency_seconds", "a flow's latency (its micro-batch's "
                                    "time from records to probabilities), over the last 10,000 "
                                    "flows", labels=("quantile",))
        window = list(stats.latency_us)
        if window:
            for q in (0.5, 0.99):
                latency.add_metric((str(q),), float(np.percentile(window, q * 100)) / 1e6)
        yield latency
        yield from _engine(gw.classify)
        if gw.site is not None:
            yield from _site(gw.site.snapshot())
        if gw.firewall is not None:
            outcomes = CounterMetricFamily("ltcn_firewall", "block requests of alert sources by "
                                           "outcome (added: blocked now)", labels=("outcome",))
            for outcome, n in sorted(dict(gw.firewall.counts).items()):
                outcomes.add_metric((outcome,), n)
            yield outcomes
        yield from _alert_file(gw.alerts)


def _counters(stats):
    started = time.time() - (time.monotonic() - stats.start)
    for name, doc, value in (
        ("lines", "record lines read into micro-batches (good and bad)", stats.lines),
        ("flows", "flows classified", stats.flows),
        ("batches", "micro-batches classified", stats.batches),
        ("classify_seconds", "seconds spent classifying micro-batches (parsing, preprocessing, "
         "engine)", stats.classify_s),
        ("captures", "packet captures converted by the flow meter", stats.captures),
        ("source_rotations", "times a followed file was rotated", stats.rotations),
        ("alert_events", "alert events emitted (alerted flows less those a threshold rule "
         "kept without an event)", stats.alert_events),
    ):
        yield CounterMetricFamily(f"ltcn_{name}", doc, value=value)
    yield GaugeMetricFamily("ltcn_compile_seconds", "seconds the kernels took to compile or "
                            "load before the first flow", value=stats.compile_s)
    for name, doc, counts in (
        ("suppressed", "alerts suppressed (no event, no block), by rule", stats.suppressed),
        ("thresholded", "alerts kept (blocked) without an event, by threshold rule",
         stats.thresholded),
    ):
        family = CounterMetricFamily(f"ltcn_{name}", doc, labels=("rule",))
        for rule, n in sorted(dict(counts).items()):
            family.add_metric((rule,), n)
        yield family
    yield GaugeMetricFamily("ltcn_record_span_seconds", "seconds from the first to the last "
                            "flow start time seen (record time: alerts per site-hour divide by "
                            "it)", value=stats.record_span_s)
    yield GaugeMetricFamily("ltcn_start_time_seconds", "when the detector started, in seconds "
                            "since the Unix epoch", value=started)


def _engine(classify):
    if getattr(classify, "mode", None) != "hosts":
        return
    yield GaugeMetricFamily("ltcn_hosts", "source addresses whose recent flows are held",
                            value=len(classify.hosts))
    yield CounterMetricFamily("ltcn_hosts_evicted", "source addresses forgotten (least "
                              "recently seen first) to keep --max-hosts", value=classify.evicted)


def _site(snap: dict):
    for name, doc, value in (
        ("site_learning", "1 while the site baseline is being learned (no alerts), else 0",
         float(snap["state"] == "learning")),
        ("site_learned_seconds", "traffic seconds the site baseline has learned", snap["learned_s"]),
        ("site_hosts", "hosts whose habits the site baseline holds", snap["hosts"]),
    ):
        yield GaugeMetricFamily(f"ltcn_{name}", doc, value=value)
    if snap["threshold"] is not None:
        yield GaugeMetricFamily("ltcn_site_threshold", "the site's P(attack) threshold",
                                value=snap["threshold"])
    flows = CounterMetricFamily("ltcn_site_flows", "flows learned, and flows detected that were "
                                "familiar (the site's habits: never alerted)", labels=("phase",))
    flows.add_metric(("learned",), snap["learning_flows"])
    flows.add_metric(("familiar",), snap["familiar"])
    yield flows


def _alert_file(writer):
    for name, doc, value in (
        ("alerts_written", "alert lines written", writer.written),
        ("alerts_lost", "alert lines lost to write errors (a full disk)", writer.lost),
        ("alert_file_rotations", "alert file rotations by size", writer.rotations),
        ("alert_file_reopens", "alert file reopens (SIGHUP)", writer.reopens),
    ):
        yield CounterMetricFamily(f"ltcn_{name}", doc, value=value)
