"""The gateway's counters: flows, alerts, skipped lines by reason, a sliding latency window."""

from __future__ import annotations

import time
from collections import Counter, deque

import numpy as np

LATENCY_WINDOW = 10_000  # flows in the sliding latency window


class Stats:
    """What the gateway has done so far; :meth:`snapshot` is the ``ltcn detect stats`` line."""

    def __init__(self):
        self.start = time.monotonic()
        self.flows = 0
        self.alerts = 0
        self.lines = 0
        self.batches = 0  # micro-batches classified
        self.classify_s = 0.0  # seconds spent classifying them (the latencies' batches, summed)
        self.captures = 0  # packet captures converted by the flow meter
        self.rotations = 0  # times a followed file was rotated (--follow)
        self.compile_s = 0.0  # kernels compiled or loaded from the cache before the first flow
        self.skipped: Counter[str] = Counter()
        self.latency_us: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add_latency(self, seconds: float, n: int) -> None:
        """One engine call of ``n`` flows took ``seconds``: each flow's latency."""
        self.classify_s += seconds
        self.latency_us.extend([seconds * 1e6] * min(n, LATENCY_WINDOW))

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
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
            "latency_us_p50": None if lat is None else round(float(np.percentile(lat, 50)), 1),
            "latency_us_p99": None if lat is None else round(float(np.percentile(lat, 99)), 1),
            "elapsed_s": round(elapsed, 3),
            "compile_s": round(self.compile_s, 3),
        }
        if firewall is not None:
            out["firewall"] = dict(firewall.counts)
        if self.rotations:
            out["source_rotations"] = self.rotations
        for key in ("lost", "reopens"):
            if alerts is not None and getattr(alerts, key, 0):
                out[f"alerts_{key}"] = int(getattr(alerts, key))
        return out
