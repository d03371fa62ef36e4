"""What learning costs when the learning period is not clean: the lab recording learned twice.

Learning assumes no attacker is on the network while the gateway learns. The lab recording
(``results/lab/recording``: 600 s, benign devices throughout, 40 labelled attacks from a
schedule, several attackers reused) says what it costs when that is false:

* ``clean``: the first ``--fraction`` of the recording's time learned with its attack flows
  removed (what learning on a clean network would have seen), then the whole rest detected;
* ``poisoned``: the same period learned as recorded, attacks included.

Both detect the same flows (those after the learning period). Reported: benign flows alerted,
attack flows alerted per class, and split by whether the attacker had attacked during the
learning period (a "returning" attacker: its habits are now the site's) or not. The model is
the shipped one, trained on this lab's recording, so absolute recall here is optimistic; the
difference between the two columns is what poisoning costs.

    python experiments/site_poisoning.py --out runs/site-poisoning
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as a file: `field` is beside it
    sys.path.insert(0, str(HERE))

from field.score import read_alert_lines  # noqa: E402  (the one EVE alert-line reader)


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(REPO / "results/lab/model.ltcn"))
    ap.add_argument("--recording", default=str(REPO / "results/lab/recording/flows.csv.gz"))
    ap.add_argument("--fraction", type=float, default=0.3, help="share of the time learned")
    ap.add_argument("--out", default="runs/site-poisoning")
    ap.add_argument("--core", type=int, default=1)
    return ap.parse_args(argv)


def _detect(model, source: str, state: str, learn_s: float) -> list[int]:
    """The CSV lines of the flows ``ltcn detect`` alerted on, learning ``learn_s`` first."""
    from ltcn_kernels.gateway import DetectOptions, run_detect

    alerts = os.path.join(state, "alerts.jsonl")
    opts = DetectOptions(source=source, allow_unsigned=True, stats_every=0, alerts=alerts,
                         state_dir=state, learn=f"{learn_s:.6f}s")
    run_detect(model, opts, out=io.StringIO(), err=io.StringIO())
    return read_alert_lines(alerts, source)


def _count(rows: list[dict], alerted: set[int], returning: set[str]) -> dict:
    out: dict = {"benign": Counter(), "attack": Counter(), "by_class": {}, "by_attacker": {}}
    for r in rows:
        hit = r["line"] in alerted
        if r["category"] == "Normal":
            out["benign"].update(flows=1, alerted=hit)
            continue
        out["attack"].update(flows=1, alerted=hit)
        out["by_class"].setdefault(r["category"], Counter()).update(flows=1, alerted=hit)
        who = "returning" if r["saddr"] in returning else "new"
        out["by_attacker"].setdefault(who, Counter()).update(flows=1, alerted=hit)

    def rate(c: Counter) -> dict:
        return {"flows": c["flows"], "alerted": c["alerted"],
                "rate": round(c["alerted"] / c["flows"], 4) if c["flows"] else None}

    return {"benign": rate(out["benign"]), "attack": rate(out["attack"]),
            "by_class": {k: rate(v) for k, v in sorted(out["by_class"].items())},
            "by_attacker": {k: rate(v) for k, v in sorted(out["by_attacker"].items())}}


def main(argv=None) -> int:
    args = _args(argv)
    from ltcn_kernels.bench.machine import pin_threads

    pin_threads(1, [sys.executable, *sys.argv], cores=[args.core])
    import csv

    from ltcn_kernels.bench.machine import machine_info
    from ltcn_kernels.pipeline import load_model

    with gzip.open(args.recording, "rt", newline="") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    for i, r in enumerate(rows):
        r["line"] = i + 2  # the header is line 1
    start = [float(r["stime"]) for r in rows]
    t0, t1 = min(start), max(start)
    learn_s = args.fraction * (t1 - t0)
    cut = t0 + learn_s
    learning = [r for r in rows if float(r["stime"]) < cut]
    returning = {r["saddr"] for r in learning if r["category"] != "Normal"}
    measured = [r for r in rows if float(r["stime"]) >= cut]
    model = load_model(args.model)
    header = text.split("\n", 1)[0]
    result: dict = {"machine": machine_info()["cpu"], "model": args.model,
                    "recording": args.recording, "learn_s": round(learn_s, 3),
                    "learning_flows": len(learning),
                    "learning_attack_flows": sum(r["category"] != "Normal" for r in learning),
                    "returning_attackers": sorted(returning),
                    "measured_flows": len(measured),
                    "command": " ".join(["python", *[a for a in sys.argv]])}
    with tempfile.TemporaryDirectory() as work:
        for way in ("clean", "poisoned"):
            keep = [r for r in rows if way == "poisoned" or float(r["stime"]) >= cut
                    or r["category"] == "Normal"]
            source = os.path.join(work, f"{way}.csv")
            lines = text.split("\n")
            with open(source, "w") as f:  # the recording's own lines, in order, some left out
                f.write(header + "\n" + "".join(lines[r["line"] - 1] + "\n" for r in keep))
            # lines renumbered in the written file: map back to the recording's rows
            back = {k + 2: r["line"] for k, r in enumerate(keep)}
            state = os.path.join(work, way)
            os.makedirs(state)
            alerted = {back[x] for x in _detect(model, source, state, learn_s)}
            result[way] = _count(measured, alerted, returning)
            print(f"{way}: {json.dumps(result[way]['attack'])}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "table.md").write_text(_table(result))
    print(_table(result))
    return 0


def _pct(c: dict) -> str:
    return "–" if not c["flows"] else f"{c['alerted']:,}/{c['flows']:,} ({c['rate']:.1%})"


def _table(r: dict) -> str:
    lines = [
        "# What a learning period with attackers in it costs (the lab recording, learned twice)",
        "",
        f"The first {r['learn_s']:.0f} s of the lab recording learned ({r['learning_flows']:,} "
        f"flows, {r['learning_attack_flows']:,} of them attack flows), then the remaining "
        f"{r['measured_flows']:,} flows detected with `ltcn detect --state-dir --learn`; "
        "**clean** learned that period without its attack flows, **poisoned** with them. "
        f"Model `{os.path.relpath(r['model'], REPO)}` (trained on this lab: recall is "
        f"optimistic; the difference is the point). CPU: {r['machine']}.",
        "",
        "| flows after learning | clean | poisoned |",
        "|---|---:|---:|",
        f"| benign alerted | {_pct(r['clean']['benign'])} | {_pct(r['poisoned']['benign'])} |",
        f"| attack alerted | {_pct(r['clean']['attack'])} | {_pct(r['poisoned']['attack'])} |",
    ]
    for who in ("returning", "new"):
        c, p = r["clean"]["by_attacker"].get(who), r["poisoned"]["by_attacker"].get(who)
        if c:
            what = ("returning attackers (attacked while learning)" if who == "returning" else
                    "other hosts' flows labelled attack (the lab labels a victim's replies)")
            lines.append(f"| attack, {what} | {_pct(c)} | {_pct(p)} |")
    for cls in r["clean"]["by_class"]:
        lines.append(f"| attack class {cls} | {_pct(r['clean']['by_class'][cls])} | "
                     f"{_pct(r['poisoned']['by_class'][cls])} |")
    lines += ["", f"Returning attackers (attacked during learning): "
              f"{', '.join(r['returning_attackers']) or 'none'}.", "",
              f"Command: `{r['command']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
