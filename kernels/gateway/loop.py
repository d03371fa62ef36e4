"""The detection loop: records in micro-batches through the classifier, alerts out.

:func:`run_detect` (``ltcn detect``) wires the stages together -- the sources
(:mod:`.sources`), the flow log (:mod:`.flowlog`), the classifier (:mod:`.classifier`), the
outputs (:mod:`.sinks`: the firewall, the alert file and the metrics, each handed every batch
of alerts) and the counters (:mod:`.stats`) -- and :class:`Gateway` runs them. Records are read in micro-batches of complete lines and parsed
from memory with the batch tools' own reader (:func:`~ltcn_kernels.io.flows.read_flows_bytes`
over the header and the batch), ordered by capture time within the batch, preprocessed with
the model's frozen preprocessing and classified by a stateful engine whose state carries
across batches -- so the alerts equal the batch computation over the whole stream (for a
stream already in capture order).
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataFormatError, InputError
from ..extras import import_module
from ..io.detection import header_line
from ..io.flows import detect, read_flows_bytes
from ..io.labels import normal_index
from ..io.pcap import LiveFlows, check_interface, is_capture
from ..io.table import FlowTable
from ..pipeline import LoadedModel, load_model
from .alertfile import AlertWriter
from .classifier import Classifier
from .eve import AlertColumns, AlertFormat
from .firewall import Firewall, interface_networks
from .flowlog import FlowLog
from .options import DetectOptions, GatewayError
from .sinks import AlertBatch, AlertFileSink, FirewallSink, Sink, emit_all
from .site import Site
from .sources import (
    MAX_BATCH_BYTES,
    ROTATED,
    TRUNCATED,
    Lines,
    Reader,
    TeeLive,
    capture_flows,
    open_source,
)
from .stats import Stats
from .suppress import alert_filter
from .trust import trusted_model
from .warmup import warm_up

MAX_UNDETECTED = 1000  # bad lines before the first record or header, then the input is wrong


@dataclass
class _SourceState:
    """Where :meth:`Gateway.run_source` stands in one source: the partial line, the format
    (the header, once detected), the bad lines before it, and the micro-batch being filled."""

    name: str
    lines: Lines = field(default_factory=Lines)  # the partial last line of the last read
    header: bytes | None = None  # each batch is parsed under it (None: a headerless layout)
    detected: bool = False  # the format is known
    undetected: int = 0  # bad lines before the first record or header
    why: str = ""  # the first one's error
    pending: list[bytes] = field(default_factory=list)  # the micro-batch being filled
    first: int = 0  # its first line's number
    held: int = 0  # its bytes
    lineno: int = 0  # lines of the current file read so far


class Gateway:
    """The detection loop over one or more sources; see :func:`run_detect`.

    Args:
        model: the loaded model (:func:`~ltcn_kernels.pipeline.load_model`: read, verified
            and trusted once by the caller; the gateway reads no file).
        options: the settings (threshold, micro-batch, replay pace, engine, statistics).
        alerts: where alerts go.
        firewall: blocks alert sources (None: no blocking).
        sinks: more outputs of each batch of alerts (:class:`~.sinks.Sink`), after the
            firewall and the alert file.
        err: where statistics lines go (default: standard error).
        site: the site baseline (:class:`~.site.Site`: learning, then deciding which flows
            alert); None: a flow alerts when P(attack) >= the threshold.
    """

    def __init__(self, model: LoadedModel, options: DetectOptions, *, alerts: AlertWriter,
                 firewall: Firewall | None = None, sinks: Sequence[Sink] = (),
                 err=None, site: Site | None = None):
        if not isinstance(model, LoadedModel):
            raise TypeError("Gateway takes a loaded model: ltcn_kernels.pipeline.load_model(path)")
        self.options = options
        self._use_model(model)
        self.alerts, self.firewall = alerts, firewall
        # The outputs, in order: the firewall first, so an alert says whether its source
        # was blocked.
        firewalls = [] if firewall is None else [FirewallSink(firewall)]
        self.sinks: list[Sink] = [*firewalls, AlertFileSink(alerts), *sinks]
        self.threshold, self.micro_batch = float(options.threshold), int(options.micro_batch)
        self.site = site
        self.realtime, self.speed = options.realtime, float(options.speed)
        self.max_gap, self.stats_every = float(options.max_gap), float(options.stats_every)
        self.err = err if err is not None else sys.stderr
        self.stats = Stats()
        # The suppression and threshold rules (--rules, --suppress), checked against the
        # model's classes before the compile; their counters are the statistics'.
        self.filter = alert_filter(options.rules, options.suppress, self.classes)
        if self.filter is not None:
            self.stats.suppressed = self.filter.suppressed
            self.stats.thresholded = self.filter.thresholded
        # Compile (or load from the Numba cache) before the first flow, so the first
        # micro-batch's latency is the engine's, not the compiler's; reported as compile_s.
        self.stats.compile_s = warm_up(model, (options.backend,), options.mode)["seconds"]
        self.stats.start = time.monotonic()
        self.stop = False
        self.reopen = False  # SIGHUP: open the log files again
        self.flow_log = None  # (run_detect's --save-flows log, reopened with the alerts)
        self._last_stats = time.monotonic()
        self._replay: tuple[float, float] | None = None  # (wall, record time) of the last flow

    def _use_model(self, model: LoadedModel) -> None:
        """Classify with ``model`` from now on (a new classifier: per-host histories start
        again)."""
        self.model = model
        self.artifact, self.pre = model
        self.classify = Classifier(self.artifact, self.options.backend, self.options.mode,
                                   max_hosts=self.options.max_hosts)
        self.flows_mode = model.spec.flows
        self.classes = tuple(self.pre.classes)
        normal = normal_index(self.pre.dataset, self.classes)
        self.normal = [] if normal is None else [normal]
        self.attack = [i for i in range(len(self.classes)) if i not in self.normal]
        self._attack = np.asarray(self.attack, np.int64)
        self.format = AlertFormat(self.classes)

    def reload_model(self) -> None:
        """SIGHUP: read the model file again and take it if it verifies and fits; otherwise
        keep the running model. One line says which (the model that runs is only ever one
        that was verified: :func:`~ltcn_kernels.engine.artifact.read_artifact` keeps a private
        copy, so nothing done to the file reaches the running model without this)."""
        path = self.artifact.path
        try:
            fresh, vouch = trusted_model(path, self.options.trusted_keys,
                                         self.options.allow_unsigned)
            new = fresh.manifest["manifest_sha256"]
            if new == self.artifact.manifest["manifest_sha256"]:
                return  # the same model: nothing to do
            why = _why_not_swap(self, fresh)
            if why is None:
                model = load_model(fresh)
                warm_up(model, (self.options.backend,), self.options.mode)
                self._use_model(model)
                self.stats.model_reloads += 1
                print(f"ltcn detect: model reloaded from {path} ({vouch}); per-host "
                      "histories start again", file=self.err, flush=True)
                return
        except InputError as exc:
            why = str(exc)
        print(f"ltcn detect: model reload refused, the running model stays: {why}",
              file=self.err, flush=True)

    # ---------------------------------------------------------------- reading
    def run_source(self, name: str, f, follow: bool, deadline: float | None, poll: float) -> None:
        """Read ``f`` (reported as ``name``) to its end, ``deadline`` or a stop."""
        reader, src = Reader(name, f, follow, poll), _SourceState(name)
        try:
            while not self.stop:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                data = reader.read()
                if data is None:  # nothing new yet: classify what we have, then wait
                    self._flush(src)
                    self._maybe_stats()
                    if reader.fd is None and not reader.live:
                        time.sleep(poll)
                    continue
                switch = data if data is ROTATED or data is TRUNCATED else None
                eof = switch is not None or data == b""
                got = self._complete_lines(src, data, eof)
                self._take_records(src, got, self._find_header(src, got))
                if switch is not None:  # the followed file was rotated: its lines are done
                    self._start_over(src, switch)
                    continue
                if eof:
                    if not src.detected and src.undetected:  # the whole input: not flow records
                        raise DataFormatError(name, 0, 0, f"no line is a flow record or header "
                                              f"({src.undetected:,} tried): {src.why}")
                    break
            self._flush(src)
        finally:
            reader.close()

    def _complete_lines(self, src: _SourceState, data: bytes, eof: bool) -> list[bytes]:
        """The complete lines ``data`` ends (all that is left at the end of a file)."""
        got = src.lines.finish() if eof else src.lines.feed(data)
        if src.lines.too_long:  # (each left as an empty line in its place)
            self.stats.skipped["line too long"] += src.lines.too_long
            src.lines.too_long = 0
        return got

    def _find_header(self, src: _SourceState, got: list[bytes]) -> int:
        """Until the format is known: skip blank and bad lines, then take the header (if any);
        the index in ``got`` where the records start."""
        i = 0
        while not src.detected and i < len(got):  # blank lines, then the header (if any)
            ln = got[i]
            if ln.strip():
                try:
                    det = detect(src.name, head=ln + b"\n", dataset=self.pre.dataset)
                except DataFormatError as exc:  # a bad first line: skip and count it
                    src.undetected += 1
                    src.why = src.why or exc.message
                    if src.undetected >= MAX_UNDETECTED:
                        raise DataFormatError(src.name, src.lineno + 1, 0, f"no line of the "
                                              f"first {src.undetected:,} is a flow record "
                                              f"or header: {src.why}") from None
                    self.stats.skipped[self._skip_reason(exc)] += 1
                    i += 1
                    src.lineno += 1
                    continue
                src.detected = True
                if not det.has_header:
                    # A record, taken below. Each batch is parsed under the layout's
                    # own header, so a batch never starts with a record that could
                    # be mistaken for a format (every line numbered as in the stream).
                    src.header = header_line(det)
                    break
                src.header = ln
            i += 1
            src.lineno += 1
        return i

    def _take_records(self, src: _SourceState, got: list[bytes], i: int) -> None:
        """Records ``got[i:]`` into micro-batches, each classified once it is full."""
        while i < len(got):  # the records, micro-batch by micro-batch
            if not src.pending:
                src.first, src.held = src.lineno + 1, 0
            take = min(self.micro_batch - len(src.pending), len(got) - i)
            sizes = np.cumsum([len(ln) + 1 for ln in got[i : i + take]])
            fits = int(np.searchsorted(sizes, MAX_BATCH_BYTES - src.held, side="right"))
            full = fits < take  # bounded in bytes too, not only in lines
            take = max(fits, 1 if not src.pending else 0) if full else take
            src.pending.extend(got[i : i + take])
            src.held += int(sizes[take - 1]) if take else 0
            i += take
            src.lineno += take
            if full or len(src.pending) >= self.micro_batch:
                self._flush(src)
                if self.stop:
                    break

    def _flush(self, src: _SourceState) -> None:
        """Classify the records held for the micro-batch, if any."""
        if src.pending:
            self._batch(src.name, src.header, src.first, src.pending)
            src.pending = []

    def _start_over(self, src: _SourceState, switch) -> None:
        """After a rotation or truncation: the old file's records classified, line numbers
        counted from the new file's start, and a rotated file's own header (or none) read."""
        self._flush(src)
        src.lines, src.lineno = Lines(), 0  # line numbers are the new file's
        if switch is ROTATED:  # a new file: its own header (or none)
            src.header, src.detected = None, False
        self.stats.rotations += 1

    def _skip_reason(self, exc: DataFormatError) -> str:
        """The stats key a bad line is counted under: its error's kind, never its values."""
        key = f"bad line: {exc.message.split(' for ')[0].split(':')[0][:60]}"
        if key not in self.stats.skipped and len(self.stats.skipped) >= 64:
            key = "bad line: other"  # bounded: reasons, not values, are the keys
        return key

    def _parse(self, name, header, first, lines) -> list[FlowTable]:
        """Tables of the batch's good records (bad lines skipped and counted)."""
        data = (b"" if header is None else header + b"\n") + b"\n".join(lines) + b"\n"
        try:
            table = read_flows_bytes(
                data, self.pre.dataset, name=name, skip_bad_lines=True, drop_duplicates=False,
                unknown_label="keep", chunk_bytes=1 << 20,
            )
        except DataFormatError as exc:
            if len(lines) == 1:
                self.stats.skipped[self._skip_reason(exc)] += 1
                return []
            half = len(lines) // 2  # split to keep the good records around the bad one
            return self._parse(name, header, first, lines[:half]) + self._parse(
                name, header, first + half, lines[half:]
            )
        for reason, n in table.drops.items():
            self.stats.skipped[reason] += n
        table.line = first + table.line - (2 if header is not None else 1)
        return [table]

    # ---------------------------------------------------------------- classifying
    def _batch(self, name: str, header, first: int, lines: list[bytes]) -> None:
        self.stats.lines += len(lines)
        self.stats.batches += 1
        if any(b"\0" in ln for ln in lines):  # a NUL is never in a record, wherever it is
            nul = [k for k, ln in enumerate(lines) if b"\0" in ln]
            lines = list(lines)
            for k in nul:
                lines[k] = b""  # (its place kept: the lines after it keep their numbers)
            self.stats.skipped["bad line: NUL byte"] += len(nul)
        t0 = time.perf_counter()
        for table in self._parse(name, header, first, lines):
            if len(table) == 0:
                continue
            order = table.capture_order() if self.flows_mode else np.arange(len(table))
            keys = self._stream_keys(table, order)
            if self.classify.uses_gap:
                table = self.classify.add_gaps(table, order, keys)
            x = self.pre.transform(table, order)
            if self.classify.mode != "hosts":
                keys = None
            if self.realtime:
                times = table.start_times()
                cols = AlertColumns(table)
                for i in range(len(order)):
                    if times is not None:
                        self._sleep_until(float(times[order[i]]))
                    t1 = time.perf_counter()
                    probs = self.classify(x[i : i + 1], None if keys is None else keys[i : i + 1])
                    self.stats.add_latency(time.perf_counter() - t1, 1)
                    self._report(table, order[i : i + 1], probs, cols)
                    if self.stop:
                        break
            else:
                probs = self.classify(x, keys)
                self.stats.add_latency(time.perf_counter() - t0, len(order))
                self._report(table, order, probs)
            t0 = time.perf_counter()
        self._maybe_stats()

    def _stream_keys(self, table: FlowTable, order: np.ndarray):
        """The source address of each flow, for a model with per-host windows or gaps (else
        None)."""
        wanted = self.classify.mode == "hosts" or self.classify.uses_gap
        key = self.classify.stream_key if wanted else ""
        if not key:
            return None
        col = table.strings.get(key)
        if col is None:
            raise GatewayError(f"this model windows flows per {key!r}, which the records lack")
        return np.asarray(col.vocab, dtype=object)[col.codes[order]]

    def _sleep_until(self, ts: float) -> None:
        now = time.monotonic()
        if not math.isfinite(ts):
            return
        if self._replay is not None:
            wall, prev = self._replay
            delay = min(max(ts - prev, 0.0), self.max_gap) / self.speed
            wait = wall + delay - now
            while wait > 0 and not self.stop:
                time.sleep(min(wait, 0.2))
                wait = wall + delay - time.monotonic()
            now = wall + delay
        self._replay = (now, ts)

    def _report(self, table: FlowTable, order: np.ndarray, probs: np.ndarray,
                cols: AlertColumns | None = None) -> None:
        """Count the flows; hand those at or above the threshold to the outputs, as one
        :class:`~.sinks.AlertBatch` in row order (:func:`~.sinks.emit_all`)."""
        self.stats.flows += len(order)
        p_attack = 1.0 - probs[:, self.normal].sum(axis=1) if self.normal else np.ones(len(order))
        if self.site is not None:  # learning (no alerts), or the site's rule
            cols = cols if cols is not None else AlertColumns(table)
            hits = np.flatnonzero(self.site.judge(cols, order, p_attack))
        else:
            hits = np.flatnonzero(p_attack >= self.threshold)
        self.stats.see_times(table.start_times(), order)  # (alerts per hour of record time)
        if not hits.size:
            return
        cols = cols if cols is not None else AlertColumns(table)
        rows, p = order[hits], probs[hits]
        if self.attack:
            cls = self._attack[np.argmax(p[:, self._attack], axis=1)]
        else:
            cls = np.argmax(p, axis=1)
        pa = p_attack[hits].astype(np.float64)
        batch = AlertBatch(self.format, cols, rows, p, pa, cls)
        if self.filter is not None:  # suppressed alerts out; thresholded ones without an event
            batch = self.filter.apply(batch)
        self.stats.alerts += len(batch)
        self.stats.alert_events += batch.events
        if len(batch):
            emit_all(self.sinks, batch)

    def _maybe_stats(self) -> None:
        if self.reopen:
            self.reopen = False
            for sink in self.sinks:
                sink.reopen()
            if self.flow_log is not None:
                self.flow_log.reopen()
            self.reload_model()
        if self.stats_every > 0 and time.monotonic() - self._last_stats >= self.stats_every:
            self._last_stats = time.monotonic()
            self.print_stats()

    def snapshot(self) -> dict:
        """The statistics (:meth:`~.stats.Stats.snapshot`), with the engine mode, the hosts
        forgotten (per-host models), the alert file's rotations and the site baseline's."""
        out = self.stats.snapshot(self.firewall, self.alerts)
        out["engine_mode"] = self.classify.mode
        if self.classify.mode == "hosts":
            out["hosts_evicted"] = self.classify.evicted
        out["alert_rotations"] = self.alerts.rotations
        if self.flow_log is not None and self.flow_log.lost:  # (--save-flows on a full disk)
            out["saved_flows_lost"] = self.flow_log.lost
        if self.site is not None:
            out["site"] = self.site.snapshot()
        return out

    def print_stats(self, final: bool = False, snapshot: dict | None = None) -> None:
        """One ``ltcn detect stats:`` (or ``final:``) line of ``snapshot`` (default: now's)."""
        line = json.dumps(self.snapshot() if snapshot is None else snapshot,
                          separators=(",", ":"))
        print(f"ltcn detect {'final' if final else 'stats'}: {line}", file=self.err, flush=True)


def run_detect(model, options: DetectOptions, *, stdin=None, out=None, err=None,
               clock=time.monotonic, runner=None, sinks: Sequence[Sink] = ()) -> dict:
    """Classify a stream of flow records; write alerts; optionally block sources.

    Args:
        model: an exported ``.ltcn`` file (or its artifact, or the loaded model), read and
            checked once here.
        options: what to read and how (:class:`DetectOptions`, already checked).
        stdin: the binary stream read for source ``-`` (default: standard input).
        out: where alerts go without an alert file, and firewall commands in a dry run
            (default: standard output).
        err: where the statistics lines go (default: standard error).
        clock, runner: the firewall's clock and command runner (for tests).
        sinks: more outputs of each batch of alerts (:class:`~.sinks.Sink`), started and
            closed here, besides the alert file, the firewall and the metrics.

    Returns the final statistics (also printed to ``err`` as one ``ltcn detect final:`` line).
    SIGINT/SIGTERM (main thread) stop the stream cleanly: alerts are flushed and the
    statistics printed.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    files = options.source_files()
    artifact = model.artifact if isinstance(model, LoadedModel) else model
    artifact, vouch = trusted_model(artifact, options.trusted_keys, options.allow_unsigned)
    print(f"ltcn detect: model {artifact.path}: {vouch}", file=err, flush=True)
    # The one load: the gateway and its warm-up take the loaded model as it is.
    model = load_model(model if isinstance(model, LoadedModel) else artifact)
    if options.interface is not None:
        check_interface(options.interface)  # before minutes of compiling on a Pi
    fw = _firewall(options, out, err, clock, runner)
    writer = AlertWriter(options.alerts, options.alerts_max_bytes, options.alerts_keep, stream=out,
                         err=err)
    flow_log = FlowLog(options.save_flows, err=err)
    old: dict = {}
    outputs: list[Sink] = list(sinks)
    site = None
    try:
        metrics = _metrics_sinks(options)  # (a busy port is refused before the compile)
        outputs += metrics
        site = _open_site(options, artifact, err)  # (a bad baseline: refused before the compile)
        gw = Gateway(model, options, alerts=writer, firewall=fw, sinks=outputs, err=err,
                     site=site)
        gw.flow_log = flow_log
        print(f"ltcn detect: kernels ready in {gw.stats.compile_s:.1f} s (compiled, or loaded "
              "from the Numba cache: `ltcn warmup`); not counted as latency", file=err, flush=True)
        if gw.classify.mode == "hosts":
            gap = ", and each host's last flow start" if gw.classify.uses_gap else ""
            print(f"ltcn detect: one stream per source address, up to {gw.classify.max_hosts:,} "
                  f"hosts ({gw.classify.host_state_bytes / 2**20:.1f} MiB of history{gap})",
                  file=err, flush=True)
        for sink in metrics:
            print(f"ltcn detect: {sink}", file=err, flush=True)
        if fw is not None and not fw.apply:
            print("ltcn detect: firewall DRY RUN: the nft commands are printed with the alerts, "
                  "not run (--apply runs them, as root)", file=err, flush=True)
        _stop_on_signals(gw, old)
        for sink in gw.sinks:
            sink.start(gw)
        _run_sources(gw, options, files, flow_log, stdin)
        result = gw.snapshot()
        gw.print_stats(final=True, snapshot=result)  # (the line a log keeps is the result)
        return result
    finally:
        if site is not None:
            site.close()  # a baseline being learned is saved: the next start resumes it
        writer.close()
        flow_log.close()
        for sink in outputs:
            sink.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _why_not_swap(gw: Gateway, fresh) -> str | None:
    """Why a verified new model cannot replace the running one in place (None: it can)."""
    if gw.site is not None:
        return ("a site baseline is in use and it is the running model's (restart with the new "
                "model and --relearn --learn DURATION)")
    old, new = gw.artifact.manifest, fresh.manifest
    if fresh.spec is None or fresh.engine is None:
        return "the new file holds no deployable model"
    if tuple(new.get("classes") or ()) != tuple(old.get("classes") or ()):
        return "its classes differ from the running model's (restart the detector to change them)"
    if fresh.spec.to_dict() != gw.artifact.spec.to_dict():
        return "it is fed differently (window, sequence or per-host input): restart to change that"
    return None


def _firewall(options: DetectOptions, out, err, clock, runner) -> Firewall | None:
    """The nftables firewall ``options`` ask for (None: none), its protected networks said."""
    if options.firewall != "nftables":
        return None
    fw = Firewall(apply=options.apply, timeout_s=options.block_timeout, rate=options.block_rate,
                  out=out, clock=clock, runner=runner, allow=options.allow,
                  own=None if runner is None else (), protected=_protected(options, runner))
    if fw.protected:
        print("ltcn detect: never blocked, since spoofed flows can name any source: "
              + ", ".join(map(str, fw.protected)) + " (--block-local blocks them too)",
              file=err, flush=True)
    return fw


def _protected(options: DetectOptions, runner=None) -> tuple:
    """The networks whose sources are never blocked (:mod:`.firewall`'s docstring): the
    ``--protect`` networks and the watched interface's subnets, none with ``--block-local``."""
    if options.block_local:
        return ()
    nets = list(options.protect)
    if options.interface is not None:
        nets += [str(n) for n in interface_networks(options.interface, runner)]
    return tuple(nets)


def _open_site(options: DetectOptions, artifact, err) -> Site | None:
    """The site baseline in ``--state-dir`` (learning, resumed or learned), or None."""
    if options.state_dir is None:
        return None
    site = Site(options.state_dir, artifact.manifest["manifest_sha256"], options.threshold,
                learn_s=options.learn_s, relearn=options.relearn, extend=options.extend,
                target_rate=options.target_rate, max_hosts=options.max_hosts,
                form=_record_form(options), err=err)
    print(f"ltcn detect: {site.describe()}", file=err, flush=True)
    return site


def _record_form(options: DetectOptions) -> str:
    """What flow records the detector reads, as a site baseline records it: a live interface's
    status records (their interval sets how many a flow makes), or whole-flow records."""
    if options.interface is None:
        return "flow"
    every = "argus.conf's" if options.status_interval is None else f"{options.status_interval} s"
    return f"live status ({every} interval)"


def _metrics_sinks(options: DetectOptions) -> list[Sink]:
    """The Prometheus metrics output, where asked for (``prometheus_client``: the ``metrics``
    extra, else one line saying so)."""
    if options.metrics_listen is None and options.metrics_textfile is None:
        return []
    prometheus = import_module("ltcn_kernels.gateway.prometheus",
                               "ltcn detect --metrics-listen/--metrics-textfile", "metrics")
    return [prometheus.MetricsSink(options.metrics_address, options.metrics_textfile)]


def _stop_on_signals(gw: Gateway, old: dict) -> None:
    """SIGINT/SIGTERM set ``gw.stop``; SIGHUP sets ``gw.reopen`` (the log files are opened
    anew between batches, as daemons do for logrotate) instead of ending the detector without
    its final statistics. Main thread only; the old handlers go to ``old``."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _stop(signum, frame):
        gw.stop = True

    def _reopen(signum, frame):
        gw.reopen = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, _stop)
    if hasattr(signal, "SIGHUP"):
        old[signal.SIGHUP] = signal.signal(signal.SIGHUP, _reopen)


def _run_sources(gw: Gateway, options: DetectOptions, files: list[str], flow_log: FlowLog,
                 stdin) -> None:
    """Run the interface, then each file (captures through the flow meter), in order."""
    deadline = (
        None if options.max_seconds is None else time.monotonic() + float(options.max_seconds)
    )
    captures = [p for p in files if p != "-" and is_capture(p)]
    if (captures or options.interface is not None) and gw.pre.dataset != "bot-iot":
        raise GatewayError(
            "packet captures become BoT-IoT (Argus) flow records, and this model was "
            f"trained on {gw.pre.dataset}, whose features Argus does not produce "
            "(see `ltcn flows --features`)"
        )
    poll = options.poll
    if options.interface is not None:
        live = TeeLive(LiveFlows(options.interface, status_interval=options.status_interval),
                       flow_log)
        gw.run_source(f"argus:{options.interface}", live, True, deadline, poll)
    for path in files:
        if gw.stop or (deadline is not None and time.monotonic() >= deadline):
            break
        if path in captures:
            gw.stats.captures += 1
            with capture_flows(path, flow_log) as f:
                gw.run_source(path, f, False, deadline, poll)
            continue
        gw.run_source(path, open_source(path, stdin), options.follows, deadline, poll)
