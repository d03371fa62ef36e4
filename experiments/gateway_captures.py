"""The deployable gateway model on real packet captures: what does ``ltcn detect`` flag?

    LTCN_DATA=DATA ltcn run experiments/bot_iot_gateway.py
    python experiments/gateway_captures.py --run results/bot_iot_gateway \
        --captures DATA/pcap --out results/gateway-captures

Each capture goes through the real gateway path (``run_detect``: Argus + racluster, the frozen
preprocessing, the 60 %-sparse CSR engine, EVE alerts, a dry-run nftables blocklist). Ground
truth is per capture, from its provenance: in an attack capture the flows to or from the
attacking host are attacks, the rest benign; a benign capture's flows are all benign. The
model was trained on 1,109 BoT-IoT records (DDoS/TCP and Normal only), so scans, web attacks
and C2 traffic are classes it never saw: those rows measure how far it generalises, not what it
was trained to do.

``--local-benign A.pcap B.pcap`` tests the obvious remedy: those captures (from the
deployment's own network) are converted with ``ltcn flows --label Normal``, added to the
config's training files, the model is retrained, and the captures are left out of the
evaluation, so every benign row of the table is traffic the model never saw.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ltcn_jax.config import load_config
from ltcn_jax.experiment import run_experiment
from ltcn_jax.export import export_run
from ltcn_kernels.gateway import DetectOptions, run_detect
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.io.pcap import capture_to_flows, is_capture

# capture -> (what it holds, attacking host or None for benign, "attack"/"benign"/"unclear")
TRUTH = {
    "syn_flood.pcap": ("SYN flood (DoS)", "192.168.1.52", "attack"),
    "teardrop.pcap": ("teardrop fragments (DoS)", "10.1.1.1", "attack"),
    "synscan.pcap": ("nmap SYN scan", "172.16.0.8", "attack"),
    "tcp_0_1000_20190821.pcap": ("masscan ports 0-1000", None, "attack"),
    "WebattackSQLinj.pcap": ("SQL injection (CICIDS2017)", "172.16.0.1", "attack"),
    "trickbot.pcap": ("TrickBot C2 session", "10.12.29.101", "attack"),
    "ftp_failed.pcap": ("one failed FTP login", None, "unclear"),
    "no_flood.pcap": ("desktop web/TLS", None, "benign"),
    "coap_mqtt.pcap": ("IoT MQTT/CoAP lab", None, "benign"),
    "alexa-app.pcapng": ("Alexa app/Echo cloud", None, "benign"),
}


def evaluate_capture(model: Path, capture: Path, threshold: float) -> dict:
    name = capture.name
    what, attacker, kind = TRUTH.get(name, ("(not in the truth table)", None, "unclear"))
    with tempfile.TemporaryDirectory() as tmp:
        alerts_path, flows_path = Path(tmp) / "alerts.jsonl", Path(tmp) / "flows.csv"
        firewall = io.StringIO()
        t0 = time.perf_counter()
        options = DetectOptions(
            source=str(capture), alerts=str(alerts_path), save_flows=str(flows_path),
            threshold=threshold, firewall="nftables", stats_every=0,
        )
        stats = run_detect(model, options, out=firewall, err=io.StringIO())
        seconds = time.perf_counter() - t0
        table = read_flows(flows_path, "bot-iot", drop_duplicates=False, unknown_label="keep",
                           progress=False)
        alerts = (
            [json.loads(s) for s in alerts_path.read_text().splitlines()]
            if alerts_path.exists()
            else []
        )
    src = np.asarray(table.strings["saddr"].vocab, dtype=object)[table.strings["saddr"].codes]
    dst = np.asarray(table.strings["daddr"].vocab, dtype=object)[table.strings["daddr"].codes]
    if kind == "attack" and attacker is None:  # one scanning source: the busiest one
        values, counts = np.unique(src.astype(str), return_counts=True)
        attacker = str(values[np.argmax(counts)])
    is_attack = (
        (src == attacker) | (dst == attacker) if kind == "attack" else np.zeros(len(table), bool)
    )
    alerted = np.zeros(len(table), bool)
    line_to_row = {int(line): r for r, line in enumerate(table.line.tolist())}
    for a in alerts:
        alerted[line_to_row[a["ltcn"]["line"]]] = True
    blocked = sorted({json.loads(s)[7] for s in firewall.getvalue().splitlines()
                      if json.loads(s)[:3] == ["nft", "add", "element"]})
    n_attack, n_benign = int(is_attack.sum()), int((~is_attack).sum())
    return {
        "capture": name,
        "content": what,
        "truth": kind,
        "attacker": attacker,
        "flows": len(table),
        "attack_flows": n_attack,
        "alerts": len(alerts),
        "detected_attack_flows": int((alerted & is_attack).sum()),
        "detection_rate": None
        if n_attack == 0
        else round(float((alerted & is_attack).sum()) / n_attack, 4),
        "false_alerts": int((alerted & ~is_attack).sum()) if kind != "unclear" else None,
        "false_alert_rate": None
        if kind == "unclear" or n_benign == 0
        else round(float((alerted & ~is_attack).sum()) / n_benign, 4),
        "blocked_sources": blocked,
        "classes_alerted": sorted({a["alert"]["signature"] for a in alerts}),
        "seconds": round(seconds, 3),
        "gateway_stats": stats,
    }


def _fmt(v, pct=False):
    if v is None:
        return "–"
    return f"{100 * v:.1f} %" if pct else str(v)


def write_table(rows: list[dict], out: Path, meta: dict) -> None:
    lines = [
        "# The deployable gateway model on real packet captures",
        "",
        f"Model: `{meta['run']}` exported to CSR ({meta['model_bytes']:,} bytes), threshold "
        f"P(attack) >= {meta['threshold']}. Each capture went through `ltcn detect` (Argus + "
        "racluster, frozen preprocessing, sparse engine, dry-run nftables).",
        "",
        *(
            [
                f"Retrained with these captures labelled Normal (and not evaluated): "
                f"{', '.join(meta['local_benign'])}.",
                "",
            ]
            if meta["local_benign"]
            else []
        ),
        "| capture | content | truth | flows | attack flows | alerts | detected | false alerts "
        "| blocked sources | s |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        fa = (
            "–"
            if r["false_alerts"] is None
            else f"{r['false_alerts']} ({_fmt(r['false_alert_rate'], True)})"
        )
        lines.append(
            f"| `{r['capture']}` | {r['content']} | {r['truth']} | {r['flows']:,} | "
            f"{r['attack_flows']:,} | {r['alerts']:,} | {_fmt(r['detection_rate'], True)} | {fa} | "
            f"{', '.join(r['blocked_sources'][:3]) or '–'}{' …' if len(r['blocked_sources']) > 3 else ''} "
            f"| {r['seconds']} |"
        )
    t = totals(rows)
    lines += [
        "",
        f"Over the benign captures: {t['false_alerts']:,} of {t['benign_flows']:,} flows alerted "
        f"({100 * t['false_alerts'] / max(t['benign_flows'], 1):.1f} % false alerts). Over the attack "
        f"captures: {t['detected']:,} of {t['attack_flows']:,} attack flows alerted "
        f"({100 * t['detected'] / max(t['attack_flows'], 1):.1f} %).",
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default="results/bot_iot_gateway", help="an `ltcn run` folder (L-TCN)")
    p.add_argument("--captures", required=True, help="a folder of pcap/pcapng files")
    p.add_argument("--out", default="results/gateway-captures")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--local-benign", nargs="*", default=[], metavar="CAPTURE",
                   help="capture names in --captures to label Normal, train on, and not evaluate")
    p.add_argument("--config", default="experiments/bot_iot_gateway.py",
                   help="the config retrained with --local-benign")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = args.run
    if args.local_benign:
        extra = []
        for name in args.local_benign:
            flows = out / "local-benign" / f"{name}.csv"
            flows.parent.mkdir(exist_ok=True)
            capture_to_flows(Path(args.captures) / name, flows, label="Normal")
            extra.append(str(flows))
        config = load_config(args.config)
        data = dataclasses.replace(config.data, files=(*config.data.files, *extra))
        config = dataclasses.replace(config, name=f"{config.name}_local_benign", data=data)
        run = str(out / "run")
        run_experiment(config, run, command=f"(by {Path(__file__).name})")
    captures = sorted(
        c for c in Path(args.captures).iterdir()
        if c.is_file() and is_capture(c) and c.name not in args.local_benign
    )
    if not captures:
        raise SystemExit(f"no pcap/pcapng files in {args.captures}")
    command = "python experiments/gateway_captures.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    seeds = seeded_runs(run)
    trained_by = (
        "" if args.local_benign else "LTCN_DATA=DATA ltcn run experiments/bot_iot_gateway.py"
        f"{f' --seeds {len(seeds)} --out {run}' if seeds else ''}\n"
    )
    (out / "command.txt").write_text(trained_by + "LTCN_DATA=DATA " + command + "\n")
    if not seeds:
        evaluate_run(run, captures, out, args, command)
        print((out / "table.md").read_text())
        return 0
    # A seeded run (`ltcn run --seeds N --out RUN`): every seed's model on every capture, then
    # the two headline rates over the seeds.
    per_seed = {}
    for seed in seeds:
        print(f"== {seed.name}", file=sys.stderr, flush=True)
        per_seed[seed.name] = totals(evaluate_run(str(seed), captures, out / seed.name, args, command))
    write_seed_table(per_seed, out, command)
    print((out / "table.md").read_text())
    return 0


def seeded_runs(run: str) -> list[Path]:
    return sorted((p for p in Path(run).glob("seed_*") if (p / "metrics.json").is_file()),
                  key=lambda p: int(p.name.split("_")[1]))


def evaluate_run(run: str, captures: list[Path], out: Path, args, command: str) -> list[dict]:
    """Export ``run``, run every capture through ``ltcn detect``; write results.json and table.md."""
    out.mkdir(parents=True, exist_ok=True)
    model = out / "model.ltcn"
    export_run(run, model)
    rows = []
    for i, capture in enumerate(captures, 1):
        print(f"[{i}/{len(captures)}] {capture.name}", file=sys.stderr, flush=True)
        rows.append(evaluate_capture(model, capture, args.threshold))
    meta = {"run": run, "local_benign": list(args.local_benign), "threshold": args.threshold, "model_bytes": os.path.getsize(model),
            "command": command}
    (out / "results.json").write_text(json.dumps({"meta": meta, "captures": rows}, indent=1))
    write_table(rows, out / "table.md", meta)
    return rows


def totals(rows: list[dict]) -> dict:
    """False alerts over the benign captures and detections over the attack captures."""
    benign = [r for r in rows if r["truth"] == "benign"]
    attack = [r for r in rows if r["truth"] == "attack"]
    return {"benign_flows": sum(r["flows"] for r in benign),
            "false_alerts": sum(r["false_alerts"] for r in benign),
            "attack_flows": sum(r["attack_flows"] for r in attack),
            "detected": sum(r["detected_attack_flows"] for r in attack)}


def write_seed_table(per_seed: dict[str, dict], out: Path, command: str) -> None:
    fa = np.array([t["false_alerts"] / max(t["benign_flows"], 1) for t in per_seed.values()])
    det = np.array([t["detected"] / max(t["attack_flows"], 1) for t in per_seed.values()])
    lines = ["# The deployable gateway model on real packet captures, every seed", "",
             "Each seed's model (`seed_<n>/`, its own table there) through `ltcn detect` on every "
             "capture; rates over all benign / all attack flows of the captures.", "",
             "| seed | benign flows alerted | attack flows alerted |", "|---|---:|---:|"]
    for (name, t), f, d in zip(per_seed.items(), fa, det, strict=True):
        lines.append(f"| {name} | {t['false_alerts']:,}/{t['benign_flows']:,} ({100 * f:.1f} %) | "
                     f"{t['detected']:,}/{t['attack_flows']:,} ({100 * d:.1f} %) |")
    sd = (lambda v: float(v.std(ddof=1)) if v.size > 1 else 0.0)  # noqa: E731
    lines += [f"| mean ± std | {100 * fa.mean():.1f} ± {100 * sd(fa):.1f} % | "
              f"{100 * det.mean():.1f} ± {100 * sd(det):.1f} % |", "", f"Command: `{command}`", ""]
    (out / "results.json").write_text(json.dumps({"command": command, "per_seed": per_seed}, indent=1))
    (out / "table.md").write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
