"""Counting for the field benchmark: which flow each alert is about, and what that adds up to.

A merged capture's flows are labelled by address (:func:`field.replay.label_flow`): the site's
own flows are benign, flows touching a replayed attacker are that family's attack flows, and
the rest of an attack capture's flows ("background", e.g. the victim's own DNS) are neither and
are counted apart. Alerts are matched to flows exactly by the line number the EVE record
carries (``ltcn.line``), never by address or time. Only flows that start after the learning
period are measured, in both the calibrated and the uncalibrated run, so the two columns are
about the same flows.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltcn_kernels.io.flows import read_flows

from .replay import SiteReplay, address_roles, label_flow

__all__ = ["LabelledFlows", "count_alerts", "direction", "label_flows", "read_alert_lines",
           "totals"]


@dataclass
class LabelledFlows:
    """One merged capture's flow records: where each is in the file and what it is."""

    csv: str
    line: np.ndarray  # 1-based line in the CSV (what ltcn.line says)
    start: np.ndarray  # flow start time (epoch s)
    role: np.ndarray  # benign / attack / attack-background
    family: np.ndarray  # attack family or ""
    service: np.ndarray | None = None  # "tcp/443 out": protocol, port, direction (for the why)

    def __len__(self) -> int:
        return len(self.line)


def label_flows(csv: str | os.PathLike, replay: SiteReplay) -> LabelledFlows:
    """Read ``ltcn flows``' CSV of the merged capture and label every record."""
    table = read_flows(csv, "bot-iot", drop_duplicates=False, drop_nonfinite=False,
                       unknown_label="keep", progress=False)
    roles = address_roles(replay.attacks)
    saddr, daddr = table.strings["saddr"].values(), table.strings["daddr"].values()
    labels = [label_flow(s, d, roles) for s, d in zip(saddr, daddr, strict=True)]
    net = ipaddress.ip_network(replay.subnet, strict=False)
    service = [
        f"{proto}/{int(port) if math.isfinite(port) else '-'} {direction(s, d, net)}"
        for proto, port, s, d in zip(table.strings["proto"].values(), table.aux_column("dport"),
                                     saddr, daddr, strict=True)
    ]
    return LabelledFlows(
        csv=str(csv), line=table.line.astype(np.int64), start=table.start_times(),
        role=np.array([r for r, _, _ in labels], dtype=object),
        family=np.array([f or "" for _, f, _ in labels], dtype=object),
        service=np.array(service, dtype=object),
    )


def direction(saddr: str, daddr: str, net: ipaddress.IPv4Network) -> str:
    """Which way a flow goes, for the false-alert breakdown: ``multicast`` (to a group or a
    broadcast address), ``ipv6``, ``l2`` (MAC endpoints: ARP and the like), else ``local``,
    ``out``, ``in`` or ``other`` by whether each end is in the site's subnet."""
    try:
        s, d = ipaddress.ip_address(saddr), ipaddress.ip_address(daddr)
    except ValueError:
        return "l2"
    if d.is_multicast or d == ipaddress.IPv4Address("255.255.255.255") or d == net.broadcast_address:
        return "multicast"
    if s.version == 6 or d.version == 6:
        return "ipv6"
    return {(True, True): "local", (True, False): "out", (False, True): "in",
            (False, False): "other"}[s in net, d in net]


def read_alert_lines(alerts: str | os.PathLike, csv: str | os.PathLike) -> list[int]:
    """The flow-record line of every EVE alert in ``alerts`` (one entry per alert event, so a
    flow alerted twice appears twice).

    Raises:
        ValueError: an alert about another file than ``csv``, or one without a line.
    """
    path, lines = Path(alerts), []
    if not path.exists():
        return lines  # ltcn detect writes the file on its first alert
    name = Path(csv).name
    for text in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(text)
        if event.get("event_type") != "alert":
            continue
        where = event.get("ltcn", {})
        if where.get("source_file") != name or not isinstance(where.get("line"), int):
            raise ValueError(f"{alerts}: an alert about {where.get('source_file')!r} line "
                             f"{where.get('line')!r}, expected a line of {name}")
        lines.append(where["line"])
    return lines


def count_alerts(flows: LabelledFlows, alert_lines: list[int], learn_end: float,
                 measured_hours: float) -> dict:
    """Per role and family: flows after the learning period, how many alerted, alert events;
    and what alerted during the learning period (the calibrated run should show none)."""
    row_of = {int(line): row for row, line in enumerate(flows.line)}
    unmatched = sum(1 for line in alert_lines if line not in row_of)
    rows = np.array([row_of[line] for line in alert_lines if line in row_of], dtype=np.int64)
    events = np.bincount(rows, minlength=len(flows))
    alerted = events > 0
    after = flows.start >= learn_end
    benign = after & (flows.role == "benign")
    background = after & (flows.role == "attack-background")
    families = {}
    for family in sorted(set(flows.family[flows.role == "attack"])):
        mine = flows.role == "attack"
        mine &= flows.family == family
        families[family] = {"flows": int((mine & after).sum()),
                            "alerted": int((mine & after & alerted).sum()),
                            "flows_in_learning": int((mine & ~after).sum())}
    false_events = int(events[benign].sum())
    services = Counter(flows.service[benign & alerted]) if flows.service is not None else Counter()
    return {
        "benign_flows": int(benign.sum()),
        "false_alerts": int((benign & alerted).sum()),
        "false_alert_events": false_events,
        "false_alert_events_per_hour": false_events / measured_hours if measured_hours else None,
        "alert_events": len(alert_lines),
        "alert_events_per_hour": len(alert_lines) / measured_hours if measured_hours else None,
        "learning_flows": int((~after).sum()),
        "learning_alerts": int((~after & alerted).sum()),
        "families": families,
        "background_flows": int(background.sum()),
        "background_alerted": int((background & alerted).sum()),
        "unmatched_alerts": unmatched,
        "false_alert_services": dict(services.most_common()),  # where they come from
    }


def _rate(hits: int, flows: int) -> float | None:
    return hits / flows if flows else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def totals(sites: list[dict], mode: str) -> dict:
    """Flow-weighted and mean-per-site figures of one mode over the sites that ran in it.

    ``sites`` are run.py's per-capture records (``site``, ``hours``, ``modes[mode]``); captures
    of one ``site`` are pooled before the per-site mean."""
    ran = [s for s in sites if mode in s.get("modes", {})]
    pooled: dict[str, dict] = {}
    for s in ran:
        c, p = s["modes"][mode], pooled.setdefault(s["site"], {"benign": 0, "false": 0,
                                                                "families": {}})
        p["benign"] += c["benign_flows"]
        p["false"] += c["false_alerts"]
        for family, f in c["families"].items():
            q = p["families"].setdefault(family, [0, 0])
            q[0], q[1] = q[0] + f["flows"], q[1] + f["alerted"]
    families = sorted({f for p in pooled.values() for f in p["families"]})
    per_family = {}
    for family in families:
        flows = sum(p["families"].get(family, [0, 0])[0] for p in pooled.values())
        hits = sum(p["families"].get(family, [0, 0])[1] for p in pooled.values())
        per_family[family] = {
            "flows": flows, "alerted": hits, "recall": _rate(hits, flows),
            "mean_per_site": _mean([_rate(p["families"][family][1], p["families"][family][0])
                                    for p in pooled.values() if family in p["families"]]),
        }
    benign = sum(p["benign"] for p in pooled.values())
    false = sum(p["false"] for p in pooled.values())
    attack = sum(f["flows"] for f in per_family.values())
    detected = sum(f["alerted"] for f in per_family.values())
    hours = sum(s["hours"] for s in ran)
    false_events = sum(s["modes"][mode]["false_alert_events"] for s in ran)
    site_hours: dict[str, list[float]] = {}
    for s in ran:
        h = site_hours.setdefault(s["site"], [0.0, 0.0])
        h[0], h[1] = h[0] + s["modes"][mode]["false_alert_events"], h[1] + s["hours"]
    services: Counter[str] = Counter()
    for s in ran:
        services.update(s["modes"][mode].get("false_alert_services", {}))
    return {
        "captures": len(ran), "sites": len(pooled),
        "false_alert_services": dict(services.most_common()),
        "benign_flows": benign, "false_alerts": false,
        "false_alert_rate": _rate(false, benign),
        "false_alert_rate_mean_per_site": _mean([_rate(p["false"], p["benign"])
                                                 for p in pooled.values()]),
        "attack_flows": attack, "attack_alerted": detected, "recall": _rate(detected, attack),
        "families": per_family,
        "measured_hours": hours,
        "false_alert_events_per_site_hour": false_events / hours if hours else None,
        "false_alert_events_per_hour_mean_per_site": _mean([e / h if h else None
                                                            for e, h in site_hours.values()]),
    }
