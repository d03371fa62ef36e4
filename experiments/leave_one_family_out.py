"""Leave one family out (issue 17): for each attack family, a model trained without it, and the
share of that family's test records it still flags as attack (``ltcn_jax.holdout``).

    LTCN_DATA=DATA python experiments/leave_one_family_out.py \\
        --config experiments/nsl_kdd_quickstart.py experiments/cicids2017_per_flow.py \\
        --out results/leave_one_family_out

Thresholds are chosen on each run's validation split; the reference column is the model
trained with every family (same config, same test records). One seed per run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path


def write(out: Path, result: dict, command: str) -> None:
    name = result["config"]
    ref = result["reference"]
    lines = [f"# Leave one family out: {name}", "",
             "Each row: a model trained WITHOUT that attack family (its rows left out of training "
             "and validation; not a class), then that family's test records classified. 'Flagged' "
             "= P(attack) >= the threshold chosen on that run's validation split (detection rate "
             "minus false-alarm rate maximised there); at 0.5 too. Reference: the model trained "
             "with every family, on the same records at its own validation threshold.", "",
             f"Command: `{command}`", "",
             "| family | test records | flagged, trained without it | at 0.5 | flagged, trained with it (reference) | threshold (val) | false alarms on test normal |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for family, run in result["held_out"].items():
        h, r = run["families"][family], ref["families"].get(family, {})
        pct = (lambda v: "n/a" if v is None else f"{100 * v:.1f} %")  # noqa: E731
        lines.append(f"| {family} | {h['test_records']:,} | **{pct(h['flagged'])}** | {pct(h['flagged_at_0.5'])} | "
                     f"{pct(r.get('flagged'))} | {run['threshold']:.3f} | {pct(run['false_alarm_rate'])} |")
    lines += ["", f"Reference threshold {ref['threshold']:.3f}, false alarms on test normal "
              f"{100 * ref['false_alarm_rate']:.1f} %.", ""]
    (out / f"{name}.md").write_text("\n".join(lines))
    (out / f"{name}.json").write_text(json.dumps({**result, "command": command}, indent=1) + "\n")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    fams = list(result["held_out"])
    fig = Figure(figsize=(1.3 * len(fams) + 2, 3.4))
    ax = fig.subplots()
    x = range(len(fams))
    ax.bar([i - 0.2 for i in x], [100 * (ref["families"][f]["flagged"] or 0) for f in fams], 0.4, label="trained with it")
    ax.bar([i + 0.2 for i in x], [100 * (result["held_out"][f]["families"][f]["flagged"] or 0) for f in fams], 0.4,
           label="trained without it")
    ax.set_xticks(list(x), fams, fontsize=8)
    ax.set_ylabel("% of the family's test records flagged")
    ax.set_title(f"{name}: a new attack family (threshold chosen on validation)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)


def main(argv: list[str] | None = None) -> int:
    from ltcn_jax.config import load_config
    from ltcn_jax.holdout import leave_one_family_out

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", nargs="+", required=True)
    p.add_argument("--families", nargs="*", help="only these families (default: every attack class)")
    p.add_argument("--out", default="results/leave_one_family_out")
    args = p.parse_args(argv)
    command = "python experiments/leave_one_family_out.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.config:
        t0 = time.perf_counter()
        result = leave_one_family_out(load_config(path), args.families or None,
                                      log=lambda s: print(s, flush=True))
        result["seconds"] = round(time.perf_counter() - t0, 1)
        write(out, result, command)
        print(f"{path}: {result['seconds']} s -> {out / (result['config'] + '.md')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
