"""``python -m lab``: the gateway lab's command line (root; run with ``PYTHONPATH=experiments``
from the repository, or from ``experiments/``).

    python -m lab scenarios
    python -m lab record --scenario iot --seconds 600 --seed 7 --out results/lab/recording
"""

from __future__ import annotations

import argparse
import os
import sys

from ltcn_kernels.errors import InputError

from . import load_scenario, record, scenario_names

PROG = "python -m lab"
MAX_SECONDS = 86_400.0  # a recording longer than a day is a mistake, not a lab run


def _seconds(text: str) -> float:
    """``--seconds``: a finite number of seconds in (0, a day]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= MAX_SECONDS):  # (NaN compares false: refused too)
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, 86400]")
    return value


def _seed(text: str) -> int:
    """``--seed``: a whole number in 0 .. 2**32 - 1 (what numpy's generators take)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in 0..4294967295")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="an IoT network in network namespaces: benign and attack traffic, "
        "labelled flows. Needs root (it creates namespaces, bridges and nftables rules) and the "
        "lab's tools (`make system-deps` as root installs them).",
    )
    sub = p.add_subparsers(dest="lab_command", required=True)
    rec = sub.add_parser("record", help="run a scenario, capture it, write labelled flows")
    rec.add_argument("--scenario", required=True, help="a shipped scenario name or a TOML file")
    rec.add_argument("--seconds", type=_seconds, required=True,
                     help="how long to record, in (0, 86400]")
    rec.add_argument("--seed", type=_seed, default=0,
                     help="seeds the schedule and every choice (0..4294967295)")
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
    p = parser()
    args = p.parse_args(argv)
    if args.lab_command == "record" and os.path.exists(args.out) and not os.path.isdir(args.out):
        p.error(f"--out {args.out}: a file, not a folder (the recording is a folder of files)")
    try:
        if args.lab_command == "scenarios":
            return list_scenarios()
        return record_scenario(args)
    except InputError as exc:  # not root, a tool missing, a bad scenario: one line
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
