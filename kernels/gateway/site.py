"""The gateway learns its site, then detects with what it learned (``ltcn detect --learn``).

Learning (Kitsune's grace period): for ``--learn DURATION`` of traffic time (the flows' own
start times, so a replayed capture learns what a live interface would), every flow is
scored by the classifier and learned into the baseline (:mod:`.baseline`: the scores, and
the hosts' habits, :mod:`.profile`); no flow alerts and nothing is blocked. The partial
baseline is saved every :data:`CHECKPOINT_S` seconds and when the detector stops, and the
next start resumes it. When the period is over the site threshold is fitted, the baseline
saved complete, and detection goes on in the same run.

**The rule that combines the two signals** (:func:`combine`): a flow alerts when

    P(attack) >= the site threshold   and   the flow is not familiar

- *attack-like* is the classifier's view, calibrated to this site: the threshold puts the
  learning period's new flows at the target alert rate, within [the model's threshold, 0.99].
- *normal here* is the profile's (:mod:`.profile`): the source starts one of its learned
  services or one of the site's (a service two or more learned hosts start), at no more than
  (twice its learned peak + slack) flows, peers and services a minute; a source the site has
  not seen only when it announces itself to the LAN (multicast, broadcast) as the site's hosts
  do, at the median learned host's pace.

Why an AND with familiarity, not a weighted score: the supervised model alone does not move
to a new network (it alerts on 12 % of the benign flows of networks it never saw), and the
false alerts it raises there are a site's own repeated habits (a hub's cloud server, a
browser's connections, the chatter every host on a LAN makes): exactly what familiarity
recognises. What familiarity cannot recognise is what an attack has to do to be an attack
here: a service neither the host nor the site uses, or a pace the host (for a newcomer, the
median host) never reached. Those flows are left to the classifier. The cost is plain: an
attack that looks like a habit at its learned pace (C2 over HTTPS where hosts use HTTPS, at a
host's usual rate) is not alerted.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from ..errors import UsageError
from .baseline import (
    FILENAME,
    SURE,
    Baseline,
    counted,
    fit_threshold,
    read_baseline,
    write_baseline,
)
from .eve import AlertColumns
from .options import GatewayError
from .profile import PORTED, Profile, proto_key, service_keys

CHECKPOINT_S = 30.0  # wall seconds between saves of a baseline being learned
MAX_STEP_S = 3600.0  # the most one flow advances the learning clock (a clock jump, e.g. a
#                      Pi without a real-time clock setting its time by NTP after boot, or
#                      one record with a wrong time, cannot end the learning period early)


def combine(p_attack: np.ndarray, familiar: np.ndarray, threshold: float) -> np.ndarray:
    """Which flows alert: attack-like at the site threshold, and not familiar (module
    docstring)."""
    return (np.asarray(p_attack) >= threshold) & ~np.asarray(familiar, bool)


def flow_services(cols: AlertColumns, rows: np.ndarray) -> np.ndarray:
    """The service key (:func:`~.profile.service_keys`) of each of ``rows``; each distinct
    protocol text is hashed once."""
    if cols.proto_t is not None:
        names = [str(v).lower() for v in cols.proto_t.vocab]
    elif cols.proto_n is not None:  # a numeric protocol column: its number as text
        names = [str(int(v)) if np.isfinite(v) else "" for v in cols.proto_n[rows].tolist()]
    else:
        names = [""]
    keys = np.array([proto_key(n) for n in names], np.int64)
    ported = np.array([n in PORTED for n in names], bool)
    at = (cols.proto_t.codes[rows] if cols.proto_t is not None
          else np.arange(len(rows)) if cols.proto_n is not None else np.zeros(len(rows), int))
    return service_keys(keys[at], None if cols.dport is None else cols.dport[rows], ported[at])


def _learning_stop(times: np.ndarray, last_t: float | None, learned_s: float,
                   learn_s: float) -> tuple[int, float]:
    """Where the learning period ends in a batch of flow start times (in capture order):
    ``(index of the first flow after it (len(times) if none), traffic seconds learned up to
    there)``. The clock is the running maximum of the flows' times; each step of it counts at
    most :data:`MAX_STEP_S`; flows without a time do not move it; the first flow of a run
    starts it (the time between runs is not learned)."""
    t = np.where(np.isfinite(times), times, -math.inf)
    start = last_t if last_t is not None else (t[0] if t.size else -math.inf)
    clock = np.maximum.accumulate(np.concatenate([[start], t]))
    # a step from or to no time (-inf) is NaN or infinite: it counts 0
    steps = np.clip(np.nan_to_num(np.diff(clock), nan=0.0, posinf=0.0, neginf=0.0), 0.0,
                    MAX_STEP_S)
    learned = learned_s + np.cumsum(steps)
    over = np.flatnonzero(learned >= learn_s)
    if over.size:
        return int(over[0]), float(learn_s)
    return len(times), float(learned[-1]) if learned.size else learned_s


class Site:
    """The site baseline the gateway uses: learning, then detecting (module docstring).

    Args:
        state_dir: the folder the baseline lives in (``baseline.json``; systemd's
            ``StateDirectory=``).
        model: the model's manifest checksum (a baseline is its model's).
        floor: the model's threshold: the site threshold is never lower.
        learn_s: learn this many seconds of traffic: a new baseline, or the rest of an
            interrupted one (None: use the baseline there, resuming one being learned).
        relearn: start a new baseline even if one is there.
        extend: a complete baseline learns ``learn_s`` more (its threshold is refitted).
        target_rate: the learning period's alert rate the threshold is fitted to.
        max_hosts: most hosts learned (and source windows kept while detecting).
        form: the flow records detected (e.g. a live interface's status interval), stored
            with a new baseline; a baseline learned from another form is used, with a warning
            (its paces count records: status records every 1 s are many more than every 5 s).
        err: where the learning line and warnings go (None: nowhere).
    """

    def __init__(self, state_dir: str, model: str, floor: float, *, learn_s: float | None = None,
                 relearn: bool = False, extend: bool = False, target_rate: float = 0.005,
                 max_hosts: int = 4096, form: str = "", clock=time.monotonic, err=None):
        self.path = os.path.join(state_dir, FILENAME)
        self.floor, self.clock, self.err = float(floor), clock, err
        found = os.path.exists(self.path) and not relearn
        if found:
            self.baseline = read_baseline(self.path, model)
        elif learn_s is None:
            raise UsageError(f"no site baseline in {state_dir}: learn one first "
                             "(ltcn detect ... --state-dir DIR --learn DURATION)")
        else:
            self.baseline = Baseline(model, float(target_rate), form=form)
        b = self.baseline
        if b.form != form and err is not None:
            print(f"ltcn detect: warning: the site baseline was learned from {b.form or 'unknown'}"
                  f" records and these are {form or 'unknown'}: its paces count records, so "
                  "relearn (--relearn --learn) if hosts now look too busy", file=err, flush=True)
        self.note = "resumed" if found and not b.complete else "loaded" if found else "new"
        if learn_s is not None and not b.complete:  # new, or resumed: the latest --learn
            b.learn_s = float(learn_s)
        elif learn_s is not None and extend:
            b.learn_s, b.complete, self.note = b.learned_s + float(learn_s), False, "extended"
        elif learn_s is not None:
            self.note = "loaded; complete, so --learn does nothing: --extend learns more"
        self.profile = Profile(max_hosts, b.hosts)
        b.hosts = self.profile.hosts  # one table: what is learned is what is saved
        self._last_t: float | None = None  # the latest flow time learned in this run
        self._saved = clock()
        self.counts = {"learning_flows": 0, "learning_sure": 0, "familiar": 0,
                       "familiar_over_threshold": 0}
        if b.complete:
            self.profile.finish_learning()

    @property
    def learning(self) -> bool:
        return not self.baseline.complete

    @property
    def threshold(self) -> float | None:
        """The site threshold (None while learning)."""
        return float(self.baseline.fit["threshold"]) if self.baseline.complete else None

    def judge(self, cols: AlertColumns, rows: np.ndarray, p_attack: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (in capture order, with their P(attack)) alert; flows in the
        learning period are learned and never alert."""
        n = len(rows)
        if cols.src is None:
            raise GatewayError("a site baseline learns what each source address does, and "
                               "these records have no source address: run without --state-dir")
        times = cols.times[rows] if cols.times is not None else np.full(n, time.time())
        hosts, peers = cols.source_ips(rows), cols.dest_ips(rows)  # (a peer may be None)
        svcs = flow_services(cols, rows).tolist()
        alert = np.zeros(n, bool)
        start = 0
        if self.learning:
            start = self._learn(times, hosts, peers, svcs, p_attack)
            if start == n:
                return alert
        familiar = np.array(self.profile.familiar(hosts[start:], times[start:].tolist(),
                                                  peers[start:], svcs[start:]), bool)
        p = p_attack[start:]
        threshold = self.threshold
        alert[start:] = combine(p, familiar, threshold)
        self.counts["familiar"] += int(familiar.sum())
        self.counts["familiar_over_threshold"] += int((familiar & (p >= threshold)).sum())
        return alert

    def _learn(self, times, hosts, peers, svcs, p_attack) -> int:
        """Learn the flows of the learning period; the index of the first flow after it (the
        baseline then complete), or ``len(times)``."""
        b, n = self.baseline, len(times)
        stop, learned = _learning_stop(times, self._last_t, b.learned_s, b.learn_s)
        new = np.zeros(stop, bool)
        profile = self.profile
        for i in range(stop):
            new[i] = profile.learn(hosts[i], float(times[i]), peers[i], svcs[i])
        p = p_attack[:stop]
        b.all_scores.add(p)
        b.new_scores.add(p[new])
        b.flows += stop
        b.learned_s = learned
        seen = times[:stop][np.isfinite(times[:stop])]
        if seen.size:
            self._last_t = max(self._last_t or -math.inf, float(seen.max()))
        self.counts["learning_flows"] += stop
        self.counts["learning_sure"] += int((p >= SURE).sum())
        if stop < n:
            self._finish()
        elif self.clock() - self._saved >= CHECKPOINT_S:
            self.save()
        return stop

    def _finish(self) -> None:
        """The learning period is over: fit the threshold, save the baseline complete."""
        b = self.baseline
        self.profile.finish_learning()
        b.fit = fit_threshold(b.all_scores, b.new_scores, b.target_rate, self.floor)
        b.complete = True
        self.save()
        if self.err is not None:
            sure, n = self.counts["learning_sure"], max(self.counts["learning_flows"], 1)
            warn = (f"; {sure:,} of this run's {n:,} learning flows ({sure / n:.1%}) scored "
                    f"P(attack) >= {SURE}: if an attack was running, its habits are now this "
                    "site's (relearn)") if sure else ""
            self.note = "learned now"
            print(f"ltcn detect: learned: {self.describe()}{warn}", file=self.err, flush=True)

    def save(self) -> None:
        write_baseline(self.path, self.baseline)
        self._saved = self.clock()

    def close(self) -> None:
        """Save a baseline being learned (the next start resumes it)."""
        if self.learning and self.baseline.flows:
            self.save()

    def snapshot(self) -> dict[str, Any]:
        """The ``site`` entry of the statistics line."""
        b = self.baseline
        out: dict[str, Any] = {
            "state": "learning" if self.learning else "detecting",
            "learned_s": round(b.learned_s, 1), "learn_s": round(b.learn_s, 1),
            "hosts": len(self.profile.hosts), "threshold": self.threshold,
        }
        out.update(self.counts)
        if self.profile.unlearned:
            out["unlearned_flows"] = self.profile.unlearned
        return out

    def describe(self) -> str:
        """One line for the start of ``ltcn detect``."""
        b = self.baseline
        if self.learning:
            return (f"site baseline {self.path} ({self.note}): learning, {b.learned_s:,.0f} of "
                    f"{b.learn_s:,.0f} s of traffic so far; no alerts until it is learned")
        return (f"site baseline {self.path} ({self.note}): {counted(len(b.hosts), 'host')}, "
                f"threshold P(attack) >= {self.threshold:.4f} ({b.fit.get('basis')}, target "
                f"{b.target_rate:.2%}), learned over {b.learned_s:,.0f} s")
