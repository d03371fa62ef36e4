"""``python -m lab``: the gateway lab's command line (root; run with ``PYTHONPATH=experiments``
from the repository, or from ``experiments/``).

    python -m lab scenarios
    python -m lab record --scenario iot --seconds 600 --seed 7 --out results/lab/recording
"""

from __future__ import annotations

import argparse
import sys

from ltcn_kernels.errors import InputError

from . import load_scenario, record, scenario_names

PROG = "python -m lab"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="[root] an IoT network in namespaces: benign and attack traffic, labelled flows",
    )
    sub = p.add_subparsers(dest="lab_command", required=True)
    rec = sub.add_parser("record", help="run a scenario, capture it, write labelled flows")
    rec.add_argument("--scenario", required=True, help="a shipped scenario name or a TOML file")
    rec.add_argument("--seconds", type=float, required=True, help="how long to record")
    rec.add_argument("--seed", type=int, default=0, help="seeds the schedule and every choice")
    rec.add_argument("--out", required=True, help="output folder (flows.csv.gz, manifest.json)")
    rec.add_argument("--keep-capture", action="store_true", help="also keep capture.pcap")
    sub.add_parser("scenarios", help="list the shipped scenarios")
    return p


def list_scenarios() -> int:
    for name in scenario_names():
        print(f"{name:<10} {load_scenario(name).description}")
    return 0


def record_scenario(args: argparse.Namespace) -> int:
    """Record one scenario with a progress bar (where tqdm is installed and a terminal shows
    it), then one summary line."""
    bar = None
    try:
        from tqdm import tqdm

        bar = tqdm(total=int(args.seconds), unit="s", desc=f"lab {args.scenario}", leave=False,
                   disable=None)
    except ImportError:
        pass

    def progress(done: float, total: float) -> None:
        if bar is not None:
            bar.update(int(done) - bar.n)

    try:
        m = record(args.scenario, args.seconds, args.seed, args.out,
                   keep_capture=args.keep_capture, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    labels = ", ".join(f"{k} {v:,}" for k, v in m["labels"].items())
    print(f"{PROG}: {m['flows']:,} labelled flows ({labels}); {m['capture']['packets']:,} "
          f"packets captured, {m['argus_packets']:,} in Argus flows -> {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.lab_command == "scenarios":
            return list_scenarios()
        return record_scenario(args)
    except InputError as exc:  # not root, a tool missing, a bad scenario: one line
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
