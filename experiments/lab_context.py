"""Why the lab's own test split flatters global-order windows: benign flows that happen during an
attack.

    python experiments/lab_context.py   (after lab_captures.py for windows and hosts)

The lab runs one attack at a time, so a window of the 16 flows before a benign flow is full of
attack flows exactly when an attack is on. A model on global windows can learn "an attack is
going on" instead of "this flow is an attack"; on the lab's test split that still scores (few
benign flows fall inside attack windows), on real traffic it alerts on every bystander. This
splits the lab test Normal flows (the last 30 % of Normal flows in time, the
``class-time-block`` test block) into those inside an attack's window (``events.json``) and the
rest, and gives each model's false-alert rate on both at its chosen threshold.

Writes ``results/lab/context.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from lab.topology import CLOUD, GATEWAY_LAN, HUB, LAN_PREFIX

from ltcn_kernels.io.labels import normal_index
from ltcn_kernels.pipeline import classify_files

ROOT = Path("results/lab")
RECORDING = ROOT / "recording" / "flows.csv.gz"


def _test_normal(model: Path, captures: Path):
    """The model's ``(alerted, test, stime, src)`` over the recording's merged flows, in capture
    order: whether each flow alerts at the model's lab-chosen threshold, which flows are test
    Normal ones, their start times and sources."""
    threshold = json.loads(captures.read_text())["threshold"]["threshold"]
    pred = classify_files(model, [RECORDING])
    table = pred.table
    stime = table.aux[:, table.aux_names.index("stime")][pred.order]
    labels = np.asarray(table.group.vocab, dtype=object)[table.group.codes[pred.order]]
    src = np.asarray(table.strings["saddr"].vocab, dtype=object)[table.strings["saddr"].codes[pred.order]]
    alerted = 1.0 - pred.probs[:, normal_index("bot-iot", pred.classes)] >= threshold
    is_normal = labels == "Normal"
    test = is_normal & (stime > np.quantile(stime[is_normal], 0.7))
    return alerted, test, stime, src


def _share(alerted: np.ndarray, mask: np.ndarray) -> tuple[int, str]:
    n, hit = int(mask.sum()), int(alerted[mask].sum())
    return n, f"{hit:,} ({100 * hit / max(n, 1):.1f} %)"


def _by_source(models: list[tuple[str, Path, Path]]) -> list[str]:
    """Each model's false alerts on the lab test Normal flows, by the source's role: a 1 % rate
    over all hosts can hide one host whose traffic looks like an attack."""
    models = [(what, m, c) for what, m, c in models if m.exists() and c.exists()]
    if not models:
        return []
    roles = {HUB: "home server (polls the devices' web UIs, hosts SSH)",
             CLOUD: "cloud (CoAP polls, SSH sessions)", GATEWAY_LAN: "gateway (DNS, NTP, DHCP)"}
    results = [_test_normal(m, c) for _, m, c in models]
    _, test, _, src = results[0]
    role = np.array([roles.get(a, "devices" if a.startswith(LAN_PREFIX + ".") else "other")
                     for a in src.tolist()], dtype=object)
    out = ["", "The same Normal flows by source (merged flows):", "",
           "| source | Normal flows | " + " | ".join(f"alerted: {w}" for w, _, _ in models) + " |",
           "|---|---:|" + "---:|" * len(models)]
    for name in sorted(set(role[test].tolist())):
        mask = test & (role == name)
        cells = [_share(alerted, mask)[1] for alerted, *_ in results]
        out.append(f"| {name} | {int(mask.sum()):,} | " + " | ".join(cells) + " |")
    return out


def main() -> int:
    events = json.loads((ROOT / "recording" / "events.json").read_text())
    windows = np.array([(e["start_unix"], e["end_unix"]) for e in events])
    lines = [
        "# Benign flows during attacks: false alerts inside and outside attack windows",
        "",
        "Lab test Normal flows (the last 30 % of the recording's Normal flows in time), each "
        "model at its threshold from the lab validation split.",
        "",
        "| model | Normal flows outside attack windows | alerted | Normal flows inside attack "
        "windows | alerted |",
        "|---|---:|---:|---:|---:|",
    ]
    variants = (("per-flow", "per flow"), ("windows", "global-order windows"),
                ("hosts", "per-host windows"), ("live", "per-host, + live forms"),
                ("gaps", "per-host, live forms, + gap (shipped)"))
    for folder, what in variants:
        model = ROOT / folder / "model.ltcn"
        captures = ROOT / folder / "captures.json"
        if not (model.exists() and captures.exists()):
            continue
        alerted, test, stime, _ = _test_normal(model, captures)
        inside = np.zeros(len(stime), bool)
        for lo, hi in windows:
            inside |= (stime >= lo) & (stime <= hi)
        cells = []
        for mask in (test & ~inside, test & inside):
            n, cell = _share(alerted, mask)
            cells += [f"{n:,}", cell]
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    lines += _by_source([(what, ROOT / f / "model.ltcn", ROOT / f / "captures.json")
                         for f, what in variants[-2:]])
    lines += ["", "Command: `python experiments/lab_context.py`", ""]
    (ROOT / "context.md").write_text("\n".join(lines))
    print((ROOT / "context.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
