"""The gateway's counters: flows, alerts, skipped lines by reason, a sliding latency window,
and the span of record time seen (so alerts can be counted per hour of the site's traffic)."""

from __future__ import annotations

import math
import time
from collections import Counter, deque

import numpy as np

LATENCY_WINDOW = 10_000  # flows in the sliding latency window


class Stats:
    """What the gateway has done so far; :meth:`snapshot` is the ``ltcn detect stats`` line."""

    def __init__(self):
        self.start = time.monotonic()
        self.flows = 0
        self.alerts = 0  # flows alerted (suppressed ones not counted)
        self.alert_events = 0  # alert events emitted (thresholded alerts have none)
        # Alerts suppressed / kept without an event, by rule (the filter's own counters,
        # bounded by the number of rules: :class:`~.suppress.AlertFilter`).
        self.suppressed: Counter[str] = Counter()
        self.thresholded: Counter[str] = Counter()
        self.first_time = math.inf  # earliest and latest flow start time seen (record time)
        self.last_time = -math.inf
        self.lines = 0
        self.batches = 0  # micro-batches classified
        self.classify_s = 0.0  # seconds spent classifying them (the latencies' batches, summed)
        self.captures = 0  # packet captures converted by the flow meter
        self.rotations = 0  # times a followed file was rotated (--follow)
        self.model_reloads = 0  # new models taken on SIGHUP
        self.compile_s = 0.0  # kernels compiled or loaded from the cache before the first flow
        self.skipped: Counter[str] = Counter()
        self.latency_us: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add_latency(self, seconds: float, n: int) -> None:
        """One engine call of ``n`` flows took ``seconds``: each flow's latency."""
        self.classify_s += seconds
        self.latency_us.extend([seconds * 1e6] * min(n, LATENCY_WINDOW))

    def see_times(self, times: np.ndarray | None, rows: np.ndarray) -> None:
        """Widen the record-time span to the flow start times ``times[rows]`` (``times``
        None: a layout without times; NaN: a record without one)."""
        if times is None or not len(rows):
            return
        times = times[rows]
        with np.errstate(invalid="ignore"):
            low, high = np.fmin.reduce(times), np.fmax.reduce(times)
        if math.isfinite(low):
            self.first_time = min(self.first_time, float(low))
            self.last_time = max(self.last_time, float(high))

    @property
    def record_span_s(self) -> float:
        """Seconds from the first to the last flow start time seen (0: none or one)."""
        return max(self.last_time - self.first_time, 0.0)  # (-inf before any time: 0)

    def per_hour(self, count: int) -> float | None:
        """``count`` per hour of record time (None: no span to divide by)."""
        span = self.record_span_s
        return float(f"{count * 3600.0 / span:.6g}") if span > 0 else None

    def snapshot(self, firewall=None, alerts=None) -> dict:
        """The statistics as JSON-ready values (with the firewall's counts, and the alert
        writer's lost alerts and reopens where there were any, if given)."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        lat = np.fromiter(self.latency_us, np.float64) if self.latency_us else None
        out = {
            "flows": self.flows,
            "captures": self.captures,
            "flows_per_s": round(self.flows / elapsed, 1),
            "alerts": self.alerts,
            "alert_events": self.alert_events,
            "suppressed": sum(self.suppressed.values()),
            "thresholded": sum(self.thresholded.values()),
            "record_span_s": round(self.record_span_s, 3),
            "flows_alerted_per_hour": self.per_hour(self.alerts),
            "alert_events_per_hour": self.per_hour(self.alert_events),
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
            "latency_us_p50": None if lat is None else round(float(np.percentile(lat, 50)), 1),
            "latency_us_p99": None if lat is None else round(float(np.percentile(lat, 99)), 1),
            "elapsed_s": round(elapsed, 3),
            "compile_s": round(self.compile_s, 3),
        }
        if self.suppressed:
            out["suppressed_by_rule"] = dict(self.suppressed)
        if self.thresholded:
            out["thresholded_by_rule"] = dict(self.thresholded)
        if firewall is not None:
            out["firewall"] = dict(firewall.counts)
        if self.rotations:
            out["source_rotations"] = self.rotations
        if self.model_reloads:
            out["model_reloads"] = self.model_reloads
        for key in ("lost", "reopens", "reopens_refused"):
            if alerts is not None and getattr(alerts, key, 0):
                out[f"alerts_{key}"] = int(getattr(alerts, key))
        return out
