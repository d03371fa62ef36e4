"""The site baseline: what ``ltcn detect --learn`` learned of a site, and its file.

A baseline holds two separate signals (:mod:`.site` combines them):

- **attack-like**: the classifier's P(attack) of the flows seen while learning, as a histogram
  of their log-odds (:class:`Scores`), and the site threshold fitted to it
  (:func:`fit_threshold`): the quantile that puts the learning period's alert rate at the
  target rate, never below the model's own threshold and never above :data:`SURE`, so a
  flow the classifier is sure of (a flood, a scan: P(attack) >= 0.99) is never hidden by a
  noisy site.
- **normal here**: the habits of the site's hosts (:class:`~.profile.Profile`).

The file is JSON, versioned (:data:`VERSION`) and checksummed (``sha256`` of the canonical
JSON of the rest), tied to the model it was learned with (its manifest checksum), written
atomically (a temporary file, fsync, rename), and checked value by value when read: a
damaged, truncated, foreign or hostile file is one :class:`~ltcn_kernels.errors.DataFormatError`
naming it, never a silent default.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataFormatError, show
from .profile import MAX_SERVICES, Habits

FORMAT = "ltcn-site-baseline"
VERSION = 1
FILENAME = "baseline.json"
LOGIT_LIMIT = 16.0  # log-odds are clipped to +-16 (P within 1e-7 of 0 or 1)
BIN_WIDTH = 0.05
N_BINS = round(2 * LOGIT_LIMIT / BIN_WIDTH)  # 640
SURE = 0.99  # the site threshold is never above this
MIN_NEW_FLOWS = 50  # fewer new flows than this: fit on all the learning period's flows
MAX_FILE_BYTES = 256 << 20
MAX_COUNT = 1 << 53  # counts are exact integers in JSON readers and float64


def logits(p: np.ndarray) -> np.ndarray:
    """The log-odds of probabilities, clipped to +-:data:`LOGIT_LIMIT`."""
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1.0 - 1e-12)
    return np.clip(np.log(p) - np.log1p(-p), -LOGIT_LIMIT, LOGIT_LIMIT)


def probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit))


@dataclass
class Scores:
    """A histogram of log-odds of P(attack) (:data:`N_BINS` bins over +-:data:`LOGIT_LIMIT`):
    bounded, mergeable, and enough for a quantile to one bin."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, np.int64))

    def add(self, p: np.ndarray) -> None:
        idx = np.floor((logits(p) + LOGIT_LIMIT) / BIN_WIDTH).astype(np.int64)
        self.counts += np.bincount(np.clip(idx, 0, N_BINS - 1), minlength=N_BINS)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def upper_quantile(self, rate: float) -> float:
        """The smallest bin edge (log-odds) with at most ``rate`` of the scores above it."""
        allowed = rate * self.n
        above = self.n - np.cumsum(self.counts)  # scores above each bin's upper edge
        k = int(np.argmax(above <= allowed))
        return -LOGIT_LIMIT + (k + 1) * BIN_WIDTH

    def normal_fit(self) -> tuple[float, float]:
        """Mean and standard deviation of the log-odds (bin centres): the log-normal fit of
        Kitsune, on the odds. Reported beside the quantile, which is what is used."""
        if self.n == 0:
            return 0.0, 0.0
        centres = -LOGIT_LIMIT + (np.arange(N_BINS) + 0.5) * BIN_WIDTH
        w = self.counts / self.n
        mu = float((w * centres).sum())
        return mu, float(math.sqrt(max((w * (centres - mu) ** 2).sum(), 0.0)))


def fit_threshold(all_flows: Scores, new_flows: Scores, target_rate: float,
                  floor: float) -> dict[str, Any]:
    """The site threshold: P(attack) at the ``1 - target_rate`` quantile of the new flows'
    scores (those new to the profile when they came: the population the threshold judges
    after learning; all flows when fewer than :data:`MIN_NEW_FLOWS` were new), clipped to
    ``[floor, SURE]``. Returns the threshold and how it was reached."""
    scores, basis = (new_flows, "new flows") if new_flows.n >= MIN_NEW_FLOWS else (
        all_flows, "all flows")
    quantile = probability(scores.upper_quantile(target_rate)) if scores.n else floor
    mu, sigma = scores.normal_fit()
    threshold = min(max(quantile, floor), SURE)
    return {"threshold": threshold, "quantile": quantile, "basis": basis, "flows": scores.n,
            "logit_mean": mu, "logit_std": sigma, "floor": floor, "ceiling": SURE}


@dataclass
class Baseline:
    """A site baseline (module docstring): what is saved between runs."""

    model: str  # the model's manifest checksum
    target_rate: float
    learn_s: float = 0.0  # traffic seconds asked for (the sum of every --learn)
    learned_s: float = 0.0  # traffic seconds learned so far
    complete: bool = False
    flows: int = 0
    all_scores: Scores = field(default_factory=Scores)
    new_scores: Scores = field(default_factory=Scores)
    hosts: dict[str, Habits] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    form: str = ""  # the flow records it learned from (a live interface's status interval)

    def to_dict(self) -> dict[str, Any]:
        body = {
            "format": FORMAT, "version": VERSION, "model": self.model,
            "target_rate": self.target_rate, "learn_s": self.learn_s,
            "learned_s": self.learned_s, "complete": self.complete, "flows": self.flows,
            "bins": {"limit": LOGIT_LIMIT, "width": BIN_WIDTH},
            "all_scores": self.all_scores.counts.tolist(),
            "new_scores": self.new_scores.counts.tolist(),
            "hosts": {h: {"services": sorted(hb.services), "peak": list(hb.peak)}
                      for h, hb in sorted(self.hosts.items())},
            "fit": self.fit, "form": self.form,
        }
        body["sha256"] = _digest(body)
        return body


def _digest(body: dict) -> str:
    rest = {k: v for k, v in body.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":"),
                                     allow_nan=False).encode()).hexdigest()


def write_baseline(path: str, baseline: Baseline) -> None:
    """Write ``baseline`` to ``path`` atomically: a reader sees the old file or the new one,
    never a part (a kill mid-write leaves the old file)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    data = json.dumps(baseline.to_dict(), separators=(",", ":"), allow_nan=False).encode()
    fd, tmp = tempfile.mkstemp(prefix=".baseline-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_baseline(path: str, model: str | None) -> Baseline:
    """Read and check a baseline file learned with the model whose manifest checksum is
    ``model`` (None: any model's, for showing it).

    Raises:
        DataFormatError: not a baseline, another version, a checksum mismatch (damaged or
            truncated), another model's, or any value out of its bounds.
    """
    def bad(message: str) -> DataFormatError:
        return DataFormatError(path, 0, 0, f"not a usable site baseline: {message} (relearn "
                               "with --relearn --learn DURATION, or restore a backup)")

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DataFormatError(path, 0, 0, f"cannot read the site baseline: {exc.strerror}"
                              ) from None
    if len(data) > MAX_FILE_BYTES:
        raise bad(f"over {MAX_FILE_BYTES >> 20} MiB")
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
        raise bad(f"not JSON ({str(exc)[:80]}): damaged or truncated") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise bad("not an ltcn site baseline file")
    if body.get("version") != VERSION:
        raise bad(f"version {show(body.get('version'))}; this ltcn reads version {VERSION}")
    if body.get("sha256") != _digest_or_none(body):
        raise bad("checksum mismatch: the file was altered or damaged")
    if model is not None and body.get("model") != model:
        raise DataFormatError(path, 0, 0, "this site baseline was learned with another model "
                              "(a baseline's threshold is the model's): relearn with "
                              "--relearn --learn DURATION")
    try:
        return _from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(str(exc)[:120]) from None


def describe(b: Baseline, top: int = 5) -> list[str]:
    """A baseline in a few lines, for ``ltcn baseline``."""
    state = "complete" if b.complete else f"being learned ({b.learned_s:,.0f} of {b.learn_s:,.0f} s)"
    lines = [f"{state}: {b.learned_s:,.0f} s of traffic learned ({b.form or 'unknown'} "
             f"records), {b.flows:,} flows, "
             f"{counted(len(b.hosts), 'host')}; model {b.model[:16]}"]
    if b.complete:
        f = b.fit
        lines.append(f"site threshold: P(attack) >= {f['threshold']:.4f} (the {1 - b.target_rate:.1%} "
                     f"quantile of {f.get('basis', '')} learned ({f.get('flows', 0):,}): "
                     f"{f.get('quantile', 0):.4f}; floor {f.get('floor', 0):g}, ceiling "
                     f"{f.get('ceiling', SURE):g})")
    busiest = sorted(b.hosts.items(), key=lambda kv: (-len(kv[1].services), kv[0]))[:top]
    for host, h in busiest:
        lines.append(f"  {host}: {counted(len(h.services), 'service')}; peak a minute "
                     f"{h.peak[0]} flows, "
                     f"{h.peak[1]} peers, {h.peak[2]} services")
    return lines


def counted(n: int, what: str) -> str:
    """``n`` ``what``s, the noun singular for one (``1 host``, ``3 hosts``)."""
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _digest_or_none(body: dict) -> str | None:
    try:
        return _digest(body)
    except (TypeError, ValueError):
        return None


def _number(body: dict, key: str, low: float, high: float) -> float:
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
        raise ValueError(f"{key} {show(v)} is not a number in [{low:g}, {high:g}]")
    return float(v)


def _count(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_COUNT:
        raise ValueError(f"{what} {show(v)} is not a count")
    return v


def _histogram(body: dict, key: str) -> Scores:
    v = body[key]
    if not isinstance(v, list) or len(v) != N_BINS:
        raise ValueError(f"{key} is not a list of {N_BINS} counts")
    return Scores(np.array([_count(c, key) for c in v], np.int64))


def _hosts(v) -> dict[str, Habits]:
    if not isinstance(v, dict) or len(v) > 1 << 20:
        raise ValueError("hosts is not a table of at most 2**20 hosts")
    hosts = {}
    for name, h in v.items():
        if len(name) > 64 or not isinstance(h, dict):
            raise ValueError(f"host {show(name)} is not an address with its habits")
        services, peak = h["services"], h["peak"]
        if not isinstance(services, list) or len(services) > MAX_SERVICES:
            raise ValueError(f"host {show(name)}: more than {MAX_SERVICES} services")
        if not isinstance(peak, list) or len(peak) != 3:
            raise ValueError(f"host {show(name)}: peak is not 3 counts")
        hosts[name] = Habits({_count(s, "service") for s in services},
                             [_count(p, "peak") for p in peak])
    return hosts


def _from_dict(body: dict) -> Baseline:
    bins = body["bins"]
    if bins != {"limit": LOGIT_LIMIT, "width": BIN_WIDTH}:
        raise ValueError(f"histogram bins {show(bins)} are not this version's")
    fit = body["fit"]
    if not isinstance(fit, dict):
        raise ValueError("fit is not a table")
    if body["complete"] is True:
        _number(fit, "threshold", 1e-9, SURE)  # the one value of the fit that is used
    elif body["complete"] is not False:
        raise ValueError("complete is not true or false")
    return Baseline(
        model=body["model"], target_rate=_number(body, "target_rate", 1e-6, 0.5),
        learn_s=_number(body, "learn_s", 0.0, 1e10),
        learned_s=_number(body, "learned_s", 0.0, 1e10), complete=body["complete"],
        flows=_count(body["flows"], "flows"), all_scores=_histogram(body, "all_scores"),
        new_scores=_histogram(body, "new_scores"), hosts=_hosts(body["hosts"]), fit=fit,
        form=_text(body, "form"),
    )


def _text(body: dict, key: str, limit: int = 200) -> str:
    v = body[key]
    if not isinstance(v, str) or len(v) > limit:
        raise ValueError(f"{key} is not a text of at most {limit} characters")
    return v
