"""The training side's ``ltcn`` commands: ``run``, ``export``, ``keygen``, ``sign``, ``bench``
and ``demo``, added to the edge's command line (:mod:`ltcn_kernels.cli`) through the
``ltcn.commands`` entry points in ``pyproject.toml``; the ``jax`` engine of ``ltcn predict`` and
``ltcn evaluate`` is the ``ltcn.backends`` entry point (:func:`ltcn_jax.reference.flax_proba`).

A thin launcher: the logic lives in testable modules, imported when a command runs, so adding
these parsers imports no JAX (an edge install without the ``train`` extra still lists them).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from ltcn_kernels.cli import add_command
from ltcn_kernels.extras import require

RUNS = Path("runs")  # where runs go unless --out says otherwise (git ignores it)


def _user_config(path: str, sets: list[str]):
    """The config file with the ``--set`` overrides: its ValueErrors are the user's input
    errors (unknown keys, bad values), so they become one line naming the file."""
    from ltcn_jax.config import load_config, override
    from ltcn_kernels.errors import UsageError

    try:
        return override(load_config(path), sets)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from exc


def _cmd_run(args: argparse.Namespace) -> int:
    with require("ltcn run", "train"):
        from ltcn_jax.config import check_data_files
        from ltcn_jax.experiment import run_experiment
        from ltcn_jax.report import headline
        from ltcn_jax.seeds import headline as seeds_headline
        from ltcn_jax.seeds import run_seeds

    config = _user_config(args.config, args.set or [])
    if args.seeds is not None:
        config = _user_config(args.config, [*(args.set or []), f"train.seeds={args.seeds}"])
    check_data_files(config, args.config)
    out = Path(args.out) if args.out else RUNS / config.name
    command = "ltcn " + " ".join(shlex.quote(a) for a in args.argv)
    if config.train.seeds > 1:  # run_experiment trains one seed; the seeds are our loop
        result = run_seeds(config, out, command=command, use_cache=not args.no_cache)
        print(f"{seeds_headline(result)}  -> {out}")
        return 0
    result = run_experiment(config, out, command=command, use_cache=not args.no_cache)
    print(f"{headline(result)}  -> {out}")
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    with require("ltcn export", "train"):
        from ltcn_jax.export import export_run

    if args.format == "onnx":
        with require("ltcn export --format onnx", "bench"):
            from ltcn_jax.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "model.ltcn"
            export_run(args.run_dir, model, fmt="dense", sparsity=args.sparsity, signer=None)
            info = export_onnx(model, args.out)
        print(f"wrote {info['file']}: {info['file_bytes']:,} bytes (onnx)")
        return 0
    info = export_run(args.run_dir, args.out, fmt=args.format, sparsity=args.sparsity,
                      signer=_signer(args))
    signed = f"signed by {info['signed_by']}" if info["signed_by"] else "UNSIGNED"
    print(
        f"wrote {info['file']}: {info['file_bytes']:,} bytes ({args.format}, {signed}); weights "
        f"{info['stored_bytes']:,} bytes stored vs {info['dense_equivalent_bytes']:,} dense fp32; "
        f"conv kernel sparsity {100 * info['sparsity']:.1f} %"
    )
    return 0


def _signer(args: argparse.Namespace):
    """The key ``--signing-key`` names, none with ``--unsigned``, else the default key."""
    from ltcn_jax.signing import default_signer, load_key

    if getattr(args, "unsigned", False):
        return None
    return load_key(args.signing_key) if args.signing_key else default_signer()


def _cmd_keygen(args: argparse.Namespace) -> int:
    with require("ltcn keygen", "train"):
        from ltcn_jax.signing import default_key_path, generate_key, user_trust_dir

    path = args.out or default_key_path()
    key = generate_key(path, trust=not args.no_trust)
    trust = "" if args.no_trust else f"; trusted on this machine ({user_trust_dir()})"
    print(f"wrote {path} (secret, mode 0600) and {path}.pub: {key.key_id}{trust}. On each "
          f"gateway: sudo install -D -m 0644 {path}.pub /etc/ltcn/trusted-keys/{key.key_id[8:]}.pub")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    with require("ltcn sign", "train"):
        from ltcn_kernels.engine.artifact import sign_artifact
        from ltcn_kernels.engine.signature import key_id

        signer = _signer(args)
    artifact = sign_artifact(args.model, signer)
    print(f"signed {args.model} with {key_id(artifact.signer)} ({signer.path})")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ltcn_kernels.bench.machine import BLAS_OVERRIDES, parse_cores, pin_threads, set_affinity

    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    cores = parse_cores(args.core)
    if args.no_pin:  # this process as it is: only its affinity changes (every thread)
        if cores is not None:
            set_affinity(cores)
    else:  # bind to the core, set the thread variables, re-execute before the libraries load
        pin_threads(args.threads, [sys.executable, "-m", "ltcn_kernels.cli", *argv], cores=cores,
                    unset=BLAS_OVERRIDES)
    with require("ltcn bench (on the edge: python -m ltcn_kernels.bench)", "train"):
        from ltcn_jax.bench import main_bench

    return main_bench(args, argv)


def _cmd_demo(args: argparse.Namespace) -> int:
    with require("ltcn demo", "train"):
        from ltcn_jax.demo import run_demo

    return run_demo(quick=args.quick, out=args.out, stored=args.stored)


def add_run_parser(sub) -> None:
    run = add_command(
        sub, "run", "[train] run one experiment config end to end (default into runs/NAME)",
        "ltcn run experiments/nsl_kdd_quickstart.py --set train.epochs=3",
        "LTCN_DATA=DATA ltcn run experiments/bot_iot_per_flow.py --seeds 5   # -> runs/bot_iot_per_flow",
    )
    run.add_argument("config", help="a config file, e.g. experiments/nsl_kdd_quickstart.py")
    run.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=3 (repeatable)",
    )
    run.add_argument("--out", help=f"output folder (default {RUNS}/<config name>; the stored "
                     "results are written only when asked: --out results/<name>)")
    run.add_argument("--no-cache", action="store_true", help="do not reuse prepared arrays")
    run.add_argument("--seeds", type=int, metavar="N",
                     help="N independent trainings (seeds seed..seed+N-1), aggregated with "
                          "intervals (= --set train.seeds=N)")
    run.set_defaults(func=_cmd_run)


def add_export_parser(sub) -> None:
    export = add_command(
        sub, "export", "[train] write a run's model to one deployable, signed .ltcn file",
        "ltcn export runs/nsl_kdd_quickstart --out model.ltcn",
        "ltcn export results/nsl_kdd_ablation --sparsity 60 --out model60.ltcn",
    )
    export.add_argument("run_dir", help="an `ltcn run` output folder")
    export.add_argument("--out", required=True, help="the .ltcn file to write")
    export.add_argument("--format", default="csr", choices=["csr", "dense", "onnx"],
                        help="onnx: the ONNX graph (needs the `bench` extra)")
    export.add_argument("--sparsity", type=int, default=None,
                        help="for an ablation run: the pruned model to export (e.g. 60)")
    _add_signing_key_option(export)
    export.add_argument("--unsigned", action="store_true",
                        help="write the file unsigned (`ltcn detect` then needs --allow-unsigned)")
    export.set_defaults(func=_cmd_export)


def _add_signing_key_option(parser) -> None:
    parser.add_argument(
        "--signing-key", metavar="PEM", help="an Ed25519 private key (default $LTCN_SIGNING_KEY, "
        "else ~/.config/ltcn/signing-key.pem, created and trusted here on first use)",
    )


def add_keygen_parser(sub) -> None:
    keygen = add_command(sub, "keygen", "[train] make an Ed25519 key that signs exported models",
                         "ltcn keygen --out ~/.config/ltcn/signing-key.pem")
    keygen.add_argument("--out", help="the private key file (default ~/.config/ltcn/signing-key.pem)")
    keygen.add_argument("--no-trust", action="store_true",
                        help="do not add its public key to this machine's trust store")
    keygen.set_defaults(func=_cmd_keygen)


def add_sign_parser(sub) -> None:
    sign = add_command(sub, "sign", "[train] sign (or re-sign) a .ltcn model file",
                       "ltcn sign model.ltcn --signing-key team-key.pem")
    sign.add_argument("model", help="the .ltcn file, signed in place (by rename)")
    _add_signing_key_option(sign)
    sign.set_defaults(func=_cmd_sign)


def add_bench_parser(sub) -> None:
    bench = add_command(
        sub, "bench", "[train] latency / throughput / memory / energy of every runtime (and the "
        "sparsity sweep), each pinned to one core",
        "ltcn bench --model results/lab/model.ltcn --repeats 7",
        "ltcn bench --sweep --runs results   # -> runs/bench (the stored one: --out results/bench)",
    )
    bench.add_argument("--model", help="a .ltcn file from `ltcn export` (or use --sweep)")
    bench.add_argument("--batch", type=int, default=1000, help="flows per batch")
    bench.add_argument("--threads", type=int, default=1, help="threads per runtime")
    bench.add_argument(
        "--core", metavar="N",
        help="the core every runtime is bound to (N, N,M or N-M; default: the last core this "
             "process may run on)",
    )
    bench.add_argument("--repeats", type=int, default=7, help="timed rounds (medians over them)")
    bench.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    bench.add_argument("--stream-flows", type=int, default=300, help="flows streamed per round")
    bench.add_argument("--watts", type=float, default=6.4,
                       help="ASSUMED power draw for the energy estimate (a Raspberry Pi 4 ~6.4 W)")
    bench.add_argument(
        "--sweep", action="store_true",
        help="sparsity 0-95 %% at the default and paper scales, plus the trained runs",
    )
    bench.add_argument(
        "--runs", metavar="RESULTS",
        help="with --sweep: a results/ folder whose trained runs are benchmarked too",
    )
    from ltcn_kernels.bench.harness import add_power_args

    add_power_args(bench)
    bench.add_argument("--out", default=str(RUNS / "bench"),
                       help="JSON/MD/PNG folder ('' = none; the stored results: --out results/bench)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument(
        "--no-pin", action="store_true",
        help="do not re-execute with the thread variables set (they are still reported); "
             "the process is still bound to --core",
    )
    bench.set_defaults(func=_cmd_bench)


def add_demo_parser(sub) -> None:
    demo = add_command(sub, "demo", "[train] the main job on the embedded NSL-KDD data",
                       "ltcn demo --stored results", "ltcn demo --quick")
    demo.add_argument("--quick", action="store_true", help="a shorter run (smoke test)")
    demo.add_argument("--out", default=str(RUNS / "demo"), help="folder for the runs")
    demo.add_argument(
        "--stored", metavar="RESULTS",
        help="a results/ folder: print its stored deep baselines beside (make demo: results)",
    )
    demo.set_defaults(func=_cmd_demo)


# The commands above by name: what the ``ltcn.commands`` entry points name one by one, and
# what ``python -m ltcn_jax.cli`` hands the edge's command line in a source tree that is not
# installed (so has no entry points), e.g. on a lent machine with only PYTHONPATH set.
COMMANDS = {
    "run": add_run_parser, "export": add_export_parser, "keygen": add_keygen_parser,
    "sign": add_sign_parser, "bench": add_bench_parser, "demo": add_demo_parser,
}


def main(argv: list[str] | None = None) -> int:
    """``ltcn`` with this module's commands, whether or not the package is installed."""
    from ltcn_kernels.cli import main as ltcn_main

    return ltcn_main(argv, commands=COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
