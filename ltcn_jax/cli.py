"""The ``ltcn`` command line: a thin launcher; the logic lives in testable modules.

Sub-commands import what they need when they run (the function-level imports below), so the
edge-only commands work where only numpy and numba are installed. Errors: the project's
:class:`~ltcn_kernels.errors.InputError` (bad files, options, config values) and missing files
print one line and exit 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from ltcn_kernels.extras import COMMAND_EXTRAS, require

EXIT_BAD_INPUT = 2


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from ltcn_kernels import read_flows
    from ltcn_kernels.io.summary import format_summary, summarize

    table = read_flows(
        args.paths,
        args.dataset,
        skip_bad_lines=args.skip_bad_lines,
        unknown_label=args.unknown_label,
        drop_duplicates=not args.keep_duplicates,
        progress=None if not args.json else False,
    )
    summary = summarize(table)
    if args.json:
        print(json.dumps(summary, indent=None if args.compact else 1))
    else:
        print(format_summary(summary))
    return 0


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
        from ltcn_jax.experiment import run_experiment
        from ltcn_jax.report import headline

    config = _user_config(args.config, args.set or [])
    if args.seeds is not None:
        config = _user_config(args.config, [*(args.set or []), f"train.seeds={args.seeds}"])
    out = Path(args.out) if args.out else Path("results") / config.name
    command = "ltcn " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_experiment(config, out, command=command, use_cache=not args.no_cache)
    if config.train.seeds > 1:
        from ltcn_jax.seeds import headline as seeds_headline

        print(f"{seeds_headline(result)}  -> {out}")
        return 0
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
                      signer=_signer(args))  # fmt: skip
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
          f"gateway: sudo install -D -m 0644 {path}.pub /etc/ltcn/trusted-keys/{key.key_id[8:]}.pub")  # fmt: skip
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    with require("ltcn sign", "train"):
        from ltcn_kernels.engine.artifact import sign_artifact
        from ltcn_kernels.engine.signature import key_id

        signer = _signer(args)
    artifact = sign_artifact(args.model, signer)
    print(f"signed {args.model} with {key_id(artifact.signer)} ({signer.path})")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ltcn_kernels.engine.signature import UntrustedModelError
    from ltcn_kernels.gateway.trust import trusted_model

    try:  # a damaged or altered file: exit 2, as any bad input
        _, vouch = trusted_model(args.model, tuple(args.trusted_keys or ()))
    except UntrustedModelError as exc:
        print(f"{args.model}: NOT TRUSTED: {exc.message}")
        return 1
    print(f"{args.model}: {vouch}")
    return 0


def _predictions(args: argparse.Namespace):
    from ltcn_kernels.engine.predict import classify_files, load_model

    proba = None
    if args.backend == "jax":
        with require(f"ltcn {args.command} --backend jax", "train"):
            import flax  # noqa: F401  (fail before any work, not after reading the files)
            import jax  # noqa: F401

            from ltcn_jax.reference import flax_proba

        proba = flax_proba(load_model(args.model)[0])
    backend = "sparse" if args.backend == "jax" else args.backend
    return classify_files(
        args.model, args.paths, backend=backend, proba=proba, skip_bad_lines=args.skip_bad_lines
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from ltcn_kernels.engine.predict import format_record_counts, write_predictions

    pred = _predictions(args)
    n = write_predictions(args.out, pred)
    flagged = int(np.count_nonzero(pred.predicted != _normal_index(pred)))
    print(
        f"classified {n:,} flows with the {args.backend} backend -> {args.out} ({flagged:,} not normal)"
    )
    print(format_record_counts(pred.record_counts()))
    return 0


def _normal_index(pred) -> int:
    from ltcn_kernels.io.labels import normal_index

    index = normal_index(pred.table.dataset, pred.classes)
    return -1 if index is None else index


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ltcn_kernels.engine.predict import format_record_counts
    from ltcn_kernels.metrics import evaluate  # numpy only: no scikit-learn on the edge

    pred = _predictions(args)
    rows = pred.y_true >= 0
    normal = _normal_index(pred)
    result = evaluate(
        pred.y_true[rows], pred.probs[rows], pred.classes, normal if normal >= 0 else None
    )
    result["roc_auc"] = (result.get("binary") or {}).get("roc_auc")
    result["backend"] = args.backend
    result["unmodelled_rows"] = int((~rows).sum())
    result["records"] = pred.record_counts()
    if args.json:
        print(json.dumps(result))
    else:
        b = result.get("binary") or {}
        print(f"{args.backend} backend on {result['n']:,} flows: accuracy {result['accuracy']:.4f}  "
              f"balanced {result['balanced_accuracy']:.4f}  macro-F1 {result['f1_macro']:.4f}  "
              f"attack-vs-normal acc {b.get('accuracy', float('nan')):.4f}  AUC {b.get('roc_auc') or float('nan'):.4f}")  # fmt: skip
        print(format_record_counts(result["records"])
              + (f"; {result['unmodelled_rows']:,} of a class the model lacks, not scored"
                 if result["unmodelled_rows"] else ""))  # fmt: skip
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from ltcn_kernels.gateway import DetectOptions, run_detect

    options = DetectOptions(
        source=args.source, interface=args.interface, alerts=args.alerts,
        alerts_max_bytes=args.alerts_max_bytes, alerts_keep=args.alerts_keep,
        firewall=args.firewall, apply=args.apply, block_timeout=args.block_timeout,
        block_rate=args.block_rate, threshold=args.threshold, micro_batch=args.micro_batch,
        realtime=args.realtime, speed=args.speed, max_gap=args.max_gap, follow=args.follow,
        max_seconds=args.max_seconds, stats_every=args.stats_every, backend=args.backend,
        save_flows=args.save_flows, status_interval=args.status_interval,
        max_hosts=args.max_hosts, allow=tuple(args.allow or ()),
        trusted_keys=tuple(args.trusted_keys or ()), allow_unsigned=args.allow_unsigned,
    )  # fmt: skip
    run_detect(args.model, options)
    return 0


def _cmd_warmup(args: argparse.Namespace) -> int:
    from ltcn_kernels.gateway.warmup import warm_up

    info = warm_up(args.model, tuple(args.backend or ("sparse", "dense")))
    where = info["cache_dir"] or "Numba's default cache (beside the package or ~/.cache/numba)"
    print(f"ltcn warmup: {args.model}: kernels for {', '.join(info['backends'])} compiled or "
          f"loaded in {info['seconds']:.1f} s; cache: {where}", file=sys.stderr)  # fmt: skip
    return 0


def _cmd_flows(args: argparse.Namespace) -> int:
    from ltcn_kernels.io.pcap import PRODUCIBLE, capture_to_flows

    if args.features:
        for dataset, features in PRODUCIBLE.items():
            print(f"{dataset}:")
            for name, how in features.items():
                print(f"  {name:<20} {how}")
        return 0
    if not args.captures or not args.out:
        print("ltcn flows: give CAPTURE... and -o OUT (or --features)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if len(args.captures) > 1 and not os.path.isdir(args.out):
        print("ltcn flows: several captures need -o DIRECTORY", file=sys.stderr)
        return EXIT_BAD_INPUT
    for capture in args.captures:
        out = args.out
        if os.path.isdir(out):
            out = os.path.join(out, os.path.basename(capture) + ".flows.csv")
        n = capture_to_flows(capture, out, label=args.label)
        print(f"{capture}: {n:,} flow records -> {out}", file=sys.stderr)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from ltcn_kernels.lab import load_scenario, record, scenario_names

    if args.lab_command == "scenarios":
        for name in scenario_names():
            print(f"{name:<10} {load_scenario(name).description}")
        return 0
    bar = None
    try:
        from tqdm import tqdm

        bar = tqdm(total=int(args.seconds), unit="s", desc=f"lab {args.scenario}", leave=False,
                   disable=None)  # fmt: skip
    except ImportError:
        pass

    def progress(done: float, total: float) -> None:
        if bar is not None:
            bar.update(int(done) - bar.n)

    try:
        m = record(args.scenario, args.seconds, args.seed, args.out,
                   keep_capture=args.keep_capture, progress=progress)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    labels = ", ".join(f"{k} {v:,}" for k, v in m["labels"].items())
    print(f"ltcn lab: {m['flows']:,} labelled flows ({labels}); {m['capture']['packets']:,} "
          f"packets captured, {m['argus_packets']:,} in Argus flows -> {args.out}", file=sys.stderr)  # fmt: skip
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ltcn_kernels.bench.machine import BLAS_OVERRIDES, parse_cores, pin_threads, set_affinity

    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    cores = parse_cores(args.core)
    if args.no_pin:  # this process as it is: only its affinity changes (every thread)
        if cores is not None:
            set_affinity(cores)
    else:  # bind to the core, set the thread variables, re-execute before the libraries load
        pin_threads(args.threads, [sys.executable, "-m", "ltcn_jax.cli", *argv], cores=cores,
                    unset=BLAS_OVERRIDES)
    with require("ltcn bench (on the edge: python -m ltcn_kernels.bench)", "train"):
        from ltcn_jax.bench import main_bench

    return main_bench(args, argv)


def _cmd_demo(args: argparse.Namespace) -> int:
    with require("ltcn demo", "train"):
        from ltcn_jax.demo import run_demo

    return run_demo(quick=args.quick, out=args.out, stored=args.stored)


def _add_data_parser(sub) -> None:
    data = sub.add_parser("data", help="inspect flow-record files")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    summary = data_sub.add_parser(
        "summary", help="format, rows kept/dropped, features and labels of flow files"
    )
    summary.add_argument("paths", nargs="+", metavar="PATH")
    summary.add_argument(
        "--dataset", default="auto", choices=["auto", "nsl-kdd", "cicids2017", "bot-iot"]
    )
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument("--compact", action="store_true", help="JSON on one line")
    summary.add_argument(
        "--skip-bad-lines", action="store_true", help="skip and count bad lines instead of failing"
    )
    summary.add_argument(
        "--unknown-label", default="error", choices=["error", "drop", "keep"],
        help="what to do with a label name the tables do not know",
    )  # fmt: skip
    summary.add_argument(
        "--keep-duplicates", action="store_true", help="do not drop exact duplicate records"
    )
    summary.set_defaults(func=_cmd_data_summary)


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="[train] run one experiment config end to end into results/")
    run.add_argument("config", help="a config file, e.g. experiments/nsl_kdd_quickstart.py")
    run.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=3 (repeatable)",
    )  # fmt: skip
    run.add_argument("--out", help="output folder (default results/<config name>)")
    run.add_argument("--no-cache", action="store_true", help="do not reuse prepared arrays")
    run.add_argument("--seeds", type=int, metavar="N",
                     help="N independent trainings (seeds seed..seed+N-1), aggregated with "
                          "intervals (= --set train.seeds=N)")  # fmt: skip
    run.set_defaults(func=_cmd_run)


def _add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="[train] write a run's model to one deployable .ltcn file")
    export.add_argument("run_dir", help="an `ltcn run` output folder")
    export.add_argument("--out", required=True, help="the .ltcn file to write")
    export.add_argument(
        "--format",
        default="csr",
        choices=["csr", "dense", "onnx"],
        help="onnx: the ONNX graph (needs the `bench` extra)",
    )
    export.add_argument(
        "--sparsity", type=int, default=None,
        help="for an ablation run: the pruned model to export (e.g. 60)",
    )  # fmt: skip
    _add_signing_key_option(export)
    export.add_argument("--unsigned", action="store_true",
                        help="write the file unsigned (`ltcn detect` then needs --allow-unsigned)")  # fmt: skip
    export.set_defaults(func=_cmd_export)


def _add_signing_key_option(parser) -> None:
    parser.add_argument(
        "--signing-key", metavar="PEM", help="an Ed25519 private key (default $LTCN_SIGNING_KEY, "
        "else ~/.config/ltcn/signing-key.pem, created and trusted here on first use)",
    )  # fmt: skip


def _add_trusted_keys_option(parser) -> None:
    parser.add_argument(
        "--trusted-keys", action="append", metavar="PATH", help="a PEM file or a directory of "
        "trusted public keys (repeatable; default /etc/ltcn/trusted-keys and "
        "~/.config/ltcn/trusted-keys)",
    )  # fmt: skip


def _add_signing_parsers(sub) -> None:
    keygen = sub.add_parser("keygen", help="[train] make an Ed25519 key that signs exported models")
    keygen.add_argument("--out", help="the private key file (default ~/.config/ltcn/signing-key.pem)")
    keygen.add_argument("--no-trust", action="store_true",
                        help="do not add its public key to this machine's trust store")  # fmt: skip
    keygen.set_defaults(func=_cmd_keygen)
    sign = sub.add_parser("sign", help="[train] sign (or re-sign) a .ltcn model file")
    sign.add_argument("model", help="the .ltcn file, signed in place (by rename)")
    _add_signing_key_option(sign)
    sign.set_defaults(func=_cmd_sign)
    verify = sub.add_parser(
        "verify", help="check a model's signature and whether its key is trusted (exit 1 if not)"
    )
    verify.add_argument("model", help="a .ltcn file")
    _add_trusted_keys_option(verify)
    verify.set_defaults(func=_cmd_verify)


def _add_predict_evaluate_parser(sub) -> None:
    for name, helptext in (
        ("predict", "classify flow files with an exported model -> CSV"),
        ("evaluate", "metrics of an exported model on labelled flow files"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
        p.add_argument("--backend", default="sparse", choices=["sparse", "dense", "jax"],
                       help="jax needs the train extra")  # fmt: skip
        p.add_argument("paths", nargs="+", metavar="FILE")
        p.add_argument("--skip-bad-lines", action="store_true")
        if name == "predict":
            p.add_argument("--out", required=True, help="predictions CSV")
            p.set_defaults(func=_cmd_predict)
        else:
            p.add_argument("--json", action="store_true")
            p.set_defaults(func=_cmd_evaluate)


def _add_detect_parser(sub) -> None:
    detect = sub.add_parser(
        "detect", help="stream flow records through a model: EVE alerts, optional nftables blocks"
    )
    detect.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    where = detect.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--source",
        help="a flow-record file, a directory of them (sorted), a pcap/pcapng capture "
        "(through Argus) or - for standard input",
    )  # fmt: skip
    where.add_argument("--interface", help="live: Argus flow records from this network interface")
    detect.add_argument(
        "--save-flows", help="append the flow meter's records (captures, --interface) to this CSV"
    )
    detect.add_argument(
        "--status-interval", type=int, help="with --interface: seconds between Argus status "
        "records of an active flow (default argus.conf's, 5 s); bounds the time to block",
    )  # fmt: skip
    detect.add_argument(
        "--max-hosts", type=int, default=4096, help="per-host models: source addresses whose "
        "recent flows are kept (LRU; memory = hosts x (window-1) x features x 4 bytes)",
    )  # fmt: skip
    detect.add_argument("--alerts", help="alert JSON-lines file (default: standard output)")
    detect.add_argument(
        "--alerts-max-bytes", type=int, default=0, help="rotate above this size (0 = never)"
    )
    detect.add_argument("--alerts-keep", type=int, default=5, help="rotated alert files kept")
    detect.add_argument("--firewall", default="none", choices=["none", "nftables"])
    detect.add_argument(
        "--apply", action="store_true", help="run the nft commands (root); default: print them"
    )
    detect.add_argument(
        "--block-timeout", type=int, default=600, help="seconds a source stays blocked"
    )
    detect.add_argument(
        "--block-rate", type=float, default=10.0, help="max blocklist additions per second"
    )
    detect.add_argument(
        "--allow", action="append", metavar="CIDR", help="an address or network never blocked "
        "(repeatable); the gateway's own addresses never are",
    )  # fmt: skip
    detect.add_argument(
        "--realtime", action="store_true", help="replay records at their time stamps"
    )
    detect.add_argument("--speed", type=float, default=1.0, help="replay speed-up with --realtime")
    detect.add_argument("--max-gap", type=float, default=5.0, help="longest replayed pause (s)")
    detect.add_argument("--threshold", type=float, default=0.5, help="alert when P(attack) >= this")
    detect.add_argument("--micro-batch", type=int, default=256, help="flows per engine call")
    detect.add_argument(
        "--stats-every", type=float, default=10.0, help="stats line period (s, 0 = off)"
    )
    detect.add_argument("--follow", action="store_true", help="keep reading a file being written")
    detect.add_argument("--max-seconds", type=float, help="stop after this long")
    detect.add_argument("--backend", default="sparse", choices=["sparse", "dense"])
    _add_trusted_keys_option(detect)
    detect.add_argument("--allow-unsigned", action="store_true",
                        help="run a model that is unsigned or signed by an untrusted key")  # fmt: skip
    detect.set_defaults(func=_cmd_detect)


def _add_warmup_parser(sub) -> None:
    warm = sub.add_parser(
        "warmup", help="compile the Numba kernels for a model into the cache (install time, "
        "the unit's ExecStartPre=) so `ltcn detect` starts fast",
    )  # fmt: skip
    warm.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    warm.add_argument("--backend", action="append", choices=["sparse", "dense"],
                      help="engine to warm (repeatable; default both)")  # fmt: skip
    warm.set_defaults(func=_cmd_warmup)


def _add_flows_parser(sub) -> None:
    flows = sub.add_parser(
        "flows", help="packet captures -> BoT-IoT flow records with the Argus flow meter"
    )
    flows.add_argument("captures", nargs="*", help="pcap or pcapng files")
    flows.add_argument("-o", "--out", help="output CSV (or a directory for several captures)")
    flows.add_argument(
        "--label", help="one class for every flow, e.g. Normal or DoS/TCP (training data)"
    )
    flows.add_argument("--features", action="store_true",
                       help="list which model features Argus produces, per dataset")  # fmt: skip
    flows.set_defaults(func=_cmd_flows)


def _add_lab_parser(sub) -> None:
    lab = sub.add_parser(
        "lab", help="[root] an IoT network in namespaces: benign and attack traffic, labelled flows"
    )
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    rec = lab_sub.add_parser("record", help="run a scenario, capture it, write labelled flows")
    rec.add_argument("--scenario", required=True, help="a shipped scenario name or a TOML file")
    rec.add_argument("--seconds", type=float, required=True, help="how long to record")
    rec.add_argument("--seed", type=int, default=0, help="seeds the schedule and every choice")
    rec.add_argument("--out", required=True, help="output folder (flows.csv.gz, manifest.json)")
    rec.add_argument("--keep-capture", action="store_true", help="also keep capture.pcap")
    lab_sub.add_parser("scenarios", help="list the shipped scenarios")
    lab.set_defaults(func=_cmd_lab)


def _add_bench_parser(sub) -> None:
    bench = sub.add_parser(
        "bench", help="latency / throughput / memory / energy of every runtime (and the sweep)"
    )
    bench.add_argument("--model", help="a .ltcn file from `ltcn export` (or use --sweep)")
    bench.add_argument("--batch", type=int, default=1000, help="flows per batch (default 1000)")
    bench.add_argument("--threads", type=int, default=1, help="threads per runtime (default 1)")
    bench.add_argument(
        "--core", metavar="N",
        help="the core every runtime is bound to (N, N,M or N-M; default: the last core this "
             "process may run on)",
    )  # fmt: skip
    bench.add_argument("--repeats", type=int, default=7, help="timed rounds (medians over them)")
    bench.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    bench.add_argument("--stream-flows", type=int, default=300, help="flows streamed per round")
    bench.add_argument(
        "--watts", type=float, default=6.4,
        help="ASSUMED power draw for the energy estimate (default: Raspberry Pi 4 ~6.4 W)",
    )  # fmt: skip
    bench.add_argument(
        "--sweep", action="store_true",
        help="sparsity 0-95 %% at the default and paper scales, plus the trained runs",
    )  # fmt: skip
    bench.add_argument(
        "--runs", metavar="RESULTS",
        help="with --sweep: a results/ folder whose trained runs are benchmarked too",
    )  # fmt: skip
    from ltcn_kernels.bench.harness import add_power_args

    add_power_args(bench)
    bench.add_argument("--out", default="results/bench", help="JSON/MD/PNG folder ('' = none)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument(
        "--no-pin", action="store_true",
        help="do not re-execute with the thread variables set (they are still reported); "
             "the process is still bound to --core",
    )  # fmt: skip
    bench.set_defaults(func=_cmd_bench)


def _add_demo_parser(sub) -> None:
    demo = sub.add_parser("demo", help="[train] the main job on the embedded NSL-KDD data")
    demo.add_argument("--quick", action="store_true", help="a shorter run (smoke test)")
    demo.add_argument("--out", default="runs/demo", help="folder for the runs (default runs/demo)")
    demo.add_argument(
        "--stored", metavar="RESULTS",
        help="a results/ folder: print its stored deep baselines beside (make demo: results)",
    )  # fmt: skip
    demo.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    extras = "\n".join(
        f"  {extra:<6} pip install \"ltcn[{extra}]\": {', '.join(cmds)}"
        for extra, cmds in COMMAND_EXTRAS.items()
    )
    parser = argparse.ArgumentParser(
        prog="ltcn", description="Edge-native intrusion detection with a pruned L-TCN.",
        epilog="which commands need which extra (the edge install is `edge`):\n" + extras,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_parser(sub)
    _add_run_parser(sub)
    _add_export_parser(sub)
    _add_signing_parsers(sub)
    _add_predict_evaluate_parser(sub)
    _add_detect_parser(sub)
    _add_warmup_parser(sub)
    _add_flows_parser(sub)
    _add_lab_parser(sub)
    _add_bench_parser(sub)
    _add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ltcn_kernels.errors import InputError

    args = build_parser().parse_args(argv)
    what = f"ltcn {args.command}"
    if getattr(args, "backend", None) == "jax":
        what += " --backend jax"
    try:
        # an optional extra's module missing anywhere in a command: one line naming the extra
        with require(what):
            return args.func(args)
    except InputError as exc:  # the project's own input errors: one line, exit 2
        print(f"ltcn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"ltcn: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `ltcn data summary ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # Anything else is a bug in ltcn, not bad input: it surfaces with its traceback.


if __name__ == "__main__":
    sys.exit(main())
