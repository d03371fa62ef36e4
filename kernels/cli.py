"""The ``ltcn`` command line: the edge's commands, and the training side's added as plugins.

The edge package owns the front door. Its commands (``data summary``, ``flows``, ``detect``,
``warmup``, ``verify``, ``baseline``, ``predict``, ``evaluate``) need numpy and numba only and
never import
the training package. The training package adds its commands (``run``, ``export``, ``keygen``,
``sign``, ``bench``, ``demo``) through the entry-point group :data:`COMMAND_GROUP`, and its
engines for ``predict``/``evaluate --backend`` through :data:`BACKEND_GROUP`. A plugin is
imported only when its command runs (or for the full ``ltcn --help``), so ``ltcn detect`` on a
gateway imports nothing of ``ltcn_jax``.

Errors: the project's :class:`~ltcn_kernels.errors.InputError` (bad files, options, config
values) and missing files print one line and exit 2; any other exception is a bug and keeps
its traceback.

(Over 500 lines: one short section a command, each its parser and its handler side by side,
which reads better in one file than as eight modules of sixty lines.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Callable, Mapping
from importlib import metadata

import numpy as np

from .extras import COMMAND_EXTRAS, require

EXIT_BAD_INPUT = 2
COMMAND_GROUP = "ltcn.commands"  # name = command, value = a function adding its parser
BACKEND_GROUP = "ltcn.backends"  # name = --backend choice, value = artifact -> proba function
EDGE_BACKENDS = ("sparse", "dense")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows each option's default where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default is None or default is False or default in ((), [])
                or default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def _examples(*lines: str) -> str:
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(sub, name: str, help: str, *examples: str) -> argparse.ArgumentParser:
    """A sub-command with its help line and examples, formatted like every other command's
    (what the training side's plugins use too)."""
    return sub.add_parser(name, help=help, description=help, epilog=_examples(*examples),
                          formatter_class=HelpFormatter)


def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The installed plugins of ``group`` by name, read from the package metadata (nothing is
    imported)."""
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def version() -> str:
    try:
        return metadata.version("ltcn")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


# -- data summary -------------------------------------------------------------------------


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from .io.flows import read_flows
    from .io.summary import format_summary, summarize

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


def _add_data_parser(sub) -> None:
    from .io.datasets import DATASETS

    data = add_command(sub, "data", "inspect flow-record files",
                       "ltcn data summary tests/fixtures/nsl-kdd/KDDTest+_subset.txt")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="summary")
    summary = add_command(
        data_sub, "summary", "format, rows kept/dropped, features and labels of flow files",
        "ltcn data summary tests/fixtures/nsl-kdd/KDDTest+_subset.txt",
    )
    summary.add_argument("paths", nargs="+", metavar="PATH", help="flow-record files")
    summary.add_argument("--dataset", default="auto", choices=["auto", *DATASETS],
                         help="the files' dataset (auto: recognised by their layout)")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument("--compact", action="store_true", help="JSON on one line")
    summary.add_argument(
        "--skip-bad-lines", action="store_true", help="skip and count bad lines instead of failing"
    )
    summary.add_argument(
        "--unknown-label", default="error", choices=["error", "drop", "keep"],
        help="what to do with a label name the tables do not know",
    )
    summary.add_argument(
        "--keep-duplicates", action="store_true", help="do not drop exact duplicate records"
    )
    summary.set_defaults(func=_cmd_data_summary)


# -- verify -------------------------------------------------------------------------------


def _cmd_verify(args: argparse.Namespace) -> int:
    from .engine.signature import UntrustedModelError
    from .gateway.trust import trusted_model

    try:  # a damaged or altered file: exit 2, as any bad input
        _, vouch = trusted_model(args.model, tuple(args.trusted_keys or ()))
    except UntrustedModelError as exc:
        print(f"{args.model}: NOT TRUSTED: {exc.message}")
        return 1
    print(f"{args.model}: {vouch}")
    return 0


def _add_verify_parser(sub) -> None:
    verify = add_command(
        sub, "verify", "check a model's signature and whether its key is trusted (exit 0 "
        "trusted, 1 unsigned or untrusted, 2 damaged or unreadable: a bad file, a wrong path)",
        "ltcn verify results/lab/model.ltcn",
        "ltcn verify /etc/ltcn/gateway.ltcn --trusted-keys /etc/ltcn/trusted-keys   # on a gateway",
    )
    verify.add_argument("model", help="a .ltcn file")
    verify.add_argument("--trusted-keys", action="append", metavar="PATH",
                        help=_detect_field("trusted_keys").metadata["help"])
    verify.set_defaults(func=_cmd_verify)


# -- baseline -----------------------------------------------------------------------------


def _cmd_baseline(args: argparse.Namespace) -> int:
    import json

    from .gateway.baseline import FILENAME, describe, read_baseline

    path = args.state_dir
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    b = read_baseline(path, None)
    if args.json:
        body = b.to_dict()
        for key in ("all_scores", "new_scores", "hosts"):
            body.pop(key)
        body["hosts"] = len(b.hosts)
        print(json.dumps(body, indent=1))
        return 0
    print(f"{path}: " + "\n".join(describe(b)))
    return 0


def _add_baseline_parser(sub) -> None:
    baseline = add_command(
        sub, "baseline", "show what a site baseline learned (ltcn detect --state-dir DIR --learn)",
        "ltcn baseline /var/lib/ltcn",
        "ltcn baseline runs/site/baseline.json --json",
    )
    baseline.add_argument("state_dir", metavar="DIR", help="a --state-dir folder or its "
                          "baseline.json")
    baseline.add_argument("--json", action="store_true", help="the baseline's summary as JSON")
    baseline.set_defaults(func=_cmd_baseline)


# -- predict / evaluate -------------------------------------------------------------------


def _predictions(args: argparse.Namespace):
    from .pipeline import classify_files, load_model

    model, proba, backend = args.model, None, args.backend
    if backend not in EDGE_BACKENDS:  # a plugin's engine: load it before reading any file
        with require(f"ltcn {args.command} --backend {backend}"):
            make_proba = _entry_points(BACKEND_GROUP)[backend].load()
            model = load_model(args.model)  # once: classify_files takes the loaded model
            proba = make_proba(model.artifact)
        backend = "sparse"  # the plugin computes the probabilities; the reader is the same
    return classify_files(
        model, args.paths, backend=backend, proba=proba, skip_bad_lines=args.skip_bad_lines
    )


def _normal_index(pred) -> int:
    from .io.labels import normal_index

    index = normal_index(pred.table.dataset, pred.classes)
    return -1 if index is None else index


def _cmd_predict(args: argparse.Namespace) -> int:
    from .pipeline import format_record_counts, write_predictions

    pred = _predictions(args)
    n = write_predictions(args.out, pred)
    flagged = int(np.count_nonzero(pred.predicted != _normal_index(pred)))
    print(
        f"classified {n:,} flows with the {args.backend} backend -> {args.out} ({flagged:,} not normal)"
    )
    print(format_record_counts(pred.record_counts()))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import evaluate  # numpy only: no scikit-learn on the edge

    pred = _predictions(args)
    normal = _normal_index(pred)
    # An attack of a family the model lacks is an attack: attack-vs-normal counts it, the
    # per-class figures (over the model's classes) cannot. A label the dataset does not know
    # is neither normal nor attack: it is counted apart, never guessed.
    scored = (pred.y_true >= 0) | pred.unmodelled()
    result = evaluate(
        pred.y_true[scored], pred.probs[scored], pred.classes, normal if normal >= 0 else None,
        unmodelled_labels=pred.true_labels()[scored],
    )
    result["roc_auc"] = (result.get("binary") or {}).get("roc_auc")
    result["backend"] = args.backend
    result["unmodelled_rows"] = int(np.count_nonzero(pred.y_true < 0))
    unknown = pred.unrecognised() & ~scored  # (a model may have learnt an 'unknown' class)
    names, counts = np.unique(pred.table.label.values()[pred.order][unknown].astype(str),
                              return_counts=True)
    result["unrecognised_labels"] = {
        "rows": int(unknown.sum()),
        "by_label": {str(k): int(v) for k, v in zip(names, counts, strict=True)},
    }
    result["records"] = pred.record_counts()
    if args.json:
        print(json.dumps(result))
    else:
        _print_evaluation(args.backend, result)
    return 0


def _print_evaluation(backend: str, result: dict) -> None:
    from .pipeline import format_record_counts

    b = result.get("binary") or {}
    absent = [name for name, c in result["per_class"].items() if c["support"] == 0]
    over = f" (over {len(result['per_class'])} classes, {len(absent)} absent here: F1 0)" if absent else ""
    print(f"{backend} backend on {result['n']:,} flows: accuracy {result['accuracy']:.4f}  "
          f"balanced {result['balanced_accuracy']:.4f}  macro-F1 {result['f1_macro']:.4f}{over}  "
          f"attack-vs-normal acc {b.get('accuracy', float('nan')):.4f}  AUC {b.get('roc_auc') or float('nan'):.4f}")
    unmodelled = result.get("unmodelled_attacks") or {"rows": 0}
    if unmodelled["rows"]:
        per_label = ", ".join(f"{name} {c['detected']:,}/{c['rows']:,}"
                              for name, c in unmodelled["by_label"].items())
        print(f"unmodelled attacks (classes the model lacks; in attack-vs-normal, not per class): "
              f"{unmodelled['detected']:,} of {unmodelled['rows']:,} detected "
              f"({unmodelled['detection_rate']:.4f}): {per_label}")
    unknown = result["unrecognised_labels"]["rows"]
    lacking = result["unmodelled_rows"] - unmodelled["rows"] - unknown  # a model without normal
    why = [f"{unknown:,} with a label the dataset does not know"] if unknown else []
    if lacking:
        why.append(f"{lacking:,} of a class the model lacks (it has no normal class)")
    print(format_record_counts(result["records"])
          + (f"; not scored: {', '.join(why)}" if why else ""))


def _add_predict_evaluate_parsers(sub) -> None:
    plugins = sorted(set(_entry_points(BACKEND_GROUP)) - set(EDGE_BACKENDS))
    engines = "sparse or dense: the Numba engines" + "".join(
        f"; {name}: the training side's (pip install \"ltcn[train]\")" for name in plugins
    )
    for name, helptext, example in (
        ("predict", "classify flow files with an exported model -> CSV",
         "ltcn predict --model results/lab/model.ltcn --out pred.csv tests/fixtures/bot-iot/data_t_subset.csv"),
        ("evaluate", "metrics of an exported model on labelled flow files",
         "ltcn evaluate --model results/lab/model.ltcn tests/fixtures/bot-iot/data_t_subset.csv"),
    ):
        p = add_command(sub, name, helptext, example)
        p.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
        p.add_argument("--backend", default="sparse", choices=[*EDGE_BACKENDS, *plugins],
                       help=engines)
        p.add_argument("paths", nargs="+", metavar="FILE", help="flow-record files")
        p.add_argument("--skip-bad-lines", action="store_true",
                       help="skip and count bad lines instead of failing")
        if name == "predict":
            p.add_argument("--out", required=True, help="predictions CSV")
            p.set_defaults(func=_cmd_predict)
        else:
            p.add_argument("--json", action="store_true", help="print one JSON object")
            p.set_defaults(func=_cmd_evaluate)


# -- detect -------------------------------------------------------------------------------


def _detect_field(name: str) -> dataclasses.Field:
    from .gateway.options import DetectOptions

    return next(f for f in dataclasses.fields(DetectOptions) if f.name == name)


def _flag_kwargs(f: dataclasses.Field, hint) -> dict:
    """argparse keywords for one DetectOptions field, from its type and metadata."""
    meta = f.metadata
    kwargs: dict = {"help": meta["help"], "default": f.default}
    if meta["metavar"]:
        kwargs["metavar"] = meta["metavar"]
    if hint is bool:
        return {"action": "store_true", "help": meta["help"]}
    if typing.get_origin(hint) is tuple:  # repeatable: the values collected, then a tuple
        return {**kwargs, "action": "append", "default": None}
    scalar = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    if meta["choices"]:
        kwargs["choices"] = meta["choices"]
    elif scalar[0] is not str:
        kwargs["type"] = scalar[0]
    return kwargs


def add_detect_options(parser: argparse.ArgumentParser) -> None:
    """``ltcn detect``'s flags, one per :class:`DetectOptions` field with a group, grouped by
    the stage they belong to, with the field's default and help."""
    from .gateway.options import OPTION_GROUPS, DetectOptions

    hints = typing.get_type_hints(DetectOptions)
    groups = {name: parser.add_argument_group(title) for name, title in OPTION_GROUPS.items()}
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for f in dataclasses.fields(DetectOptions):
        if "group" not in f.metadata:
            continue
        target = groups[f.metadata["group"]]
        if f.metadata["exclusive"]:
            key = f.metadata["exclusive"]
            if key not in exclusive:
                exclusive[key] = target.add_mutually_exclusive_group(required=True)
            target = exclusive[key]
        flag = "--" + f.name.replace("_", "-")
        target.add_argument(flag, dest=f.name, **_flag_kwargs(f, hints[f.name]))


def detect_options(args: argparse.Namespace):
    """The :class:`DetectOptions` of parsed ``ltcn detect`` arguments."""
    from .gateway.options import DetectOptions

    values = {}
    for f in dataclasses.fields(DetectOptions):
        if "group" in f.metadata:
            value = getattr(args, f.name)
            values[f.name] = tuple(value or ()) if isinstance(f.default, tuple) else value
    return DetectOptions(**values)


def _cmd_detect(args: argparse.Namespace) -> int:
    from .gateway import run_detect

    run_detect(args.model, detect_options(args))
    return 0


def _add_detect_parser(sub) -> None:
    detect = add_command(
        sub, "detect", "stream flow records through a model: EVE alerts, optional nftables blocks",
        "ltcn detect --model results/lab/model.ltcn --allow-unsigned --source tests/fixtures/pcap/synscan.pcap "
        "--alerts runs/alerts.jsonl",
        "sudo ltcn detect --model /etc/ltcn/gateway.ltcn --interface eth0 --firewall nftables "
        "--apply --allow 192.168.1.0/24 --state-dir /var/lib/ltcn --learn 24h   # learn, then block",
    )
    detect.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    add_detect_options(detect)
    detect.set_defaults(func=_cmd_detect)


# -- warmup -------------------------------------------------------------------------------


def _cmd_warmup(args: argparse.Namespace) -> int:
    from .gateway.warmup import warm_up

    info = warm_up(args.model, tuple(args.backend or EDGE_BACKENDS))
    where = info["cache_dir"] or "Numba's default cache (beside the package or ~/.cache/numba)"
    print(f"ltcn warmup: {args.model}: kernels for {', '.join(info['backends'])} compiled or "
          f"loaded in {info['seconds']:.1f} s; cache: {where}", file=sys.stderr)
    return 0


def _add_warmup_parser(sub) -> None:
    warm = add_command(
        sub, "warmup", "compile the Numba kernels for a model into the cache (install time, "
        "the unit's ExecStartPre=) so `ltcn detect` starts fast",
        "ltcn warmup --model results/lab/model.ltcn",
    )
    warm.add_argument("--model", required=True, help="a .ltcn file from `ltcn export`")
    warm.add_argument("--backend", action="append", choices=EDGE_BACKENDS,
                      help="engine to warm (repeatable; default both)")
    warm.set_defaults(func=_cmd_warmup)


# -- flows --------------------------------------------------------------------------------


def _cmd_flows(args: argparse.Namespace) -> int:
    from .io.pcap import PRODUCIBLE, capture_to_flows

    if args.features:
        for dataset, features in PRODUCIBLE.items():
            print(f"{dataset}:")
            for name, how in features.items():
                print(f"  {name:<20} {how}")
        return 0
    from .errors import UsageError

    for capture in args.captures:
        if not os.path.isfile(capture):
            raise FileNotFoundError(2, "no such capture file", capture)
    if not args.captures or not args.out:
        raise UsageError("ltcn flows: give CAPTURE... and -o OUT (or --features)")
    if len(args.captures) > 1 and not os.path.isdir(args.out):
        raise UsageError("ltcn flows: several captures need -o DIRECTORY")
    for capture in args.captures:
        out = args.out
        if os.path.isdir(out):
            out = os.path.join(out, os.path.basename(capture) + ".flows.csv")
        n = capture_to_flows(capture, out, label=args.label)
        print(f"{capture}: {n:,} flow records -> {out}", file=sys.stderr)
    return 0


def _add_flows_parser(sub) -> None:
    flows = add_command(
        sub, "flows", "packet captures -> BoT-IoT flow records with the Argus flow meter",
        "ltcn flows capture.pcap -o capture.flows.csv", "ltcn flows --features",
    )
    flows.add_argument("captures", nargs="*", help="pcap or pcapng files")
    flows.add_argument("-o", "--out", help="output CSV (or a directory for several captures)")
    flows.add_argument(
        "--label", help="one class for every flow, e.g. Normal or DoS/TCP (training data)"
    )
    flows.add_argument("--features", action="store_true",
                       help="list which model features Argus produces, per dataset")
    flows.set_defaults(func=_cmd_flows)


# -- the parser and main ------------------------------------------------------------------

ENGINE_COMMANDS = ("detect", "predict", "evaluate", "warmup")  # compile kernels on first use
EDGE_COMMANDS = {
    "data": _add_data_parser, "verify": _add_verify_parser, "baseline": _add_baseline_parser,
    "predict": _add_predict_evaluate_parsers, "evaluate": _add_predict_evaluate_parsers,
    "detect": _add_detect_parser, "warmup": _add_warmup_parser, "flows": _add_flows_parser,
}


def _command_word(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(
    command: str | None = None, commands: Mapping[str, Callable] | None = None
) -> argparse.ArgumentParser:
    """The ``ltcn`` parser. With ``command`` an edge command, only the edge's parsers are
    built and no plugin is imported; otherwise every installed plugin adds its commands
    (only ``command``'s when it names one). ``commands`` (name -> parser adder) are a caller's
    own plugins, used instead of the installed ones of the same name (a source tree that is
    not installed has none: ``python -m ltcn_jax.cli`` passes its own)."""
    extras = "\n".join(
        f"  {extra:<7} pip install \"ltcn[{extra}]\": {', '.join(cmds)}"
        for extra, cmds in COMMAND_EXTRAS.items()
    )
    parser = argparse.ArgumentParser(
        prog="ltcn", description="Edge-native intrusion detection with a pruned L-TCN.",
        epilog="which commands need which extra (the edge install is `edge`):\n" + extras
        + "\n\n`ltcn COMMAND --help` shows a command's options and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ltcn {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in dict.fromkeys(EDGE_COMMANDS.values()):  # each adder once, in order
        add(sub)
    if command in EDGE_COMMANDS:
        return parser
    plugins: dict[str, Callable[[], Callable]] = {
        name: ep.load for name, ep in _entry_points(COMMAND_GROUP).items()
    }
    plugins.update({name: (lambda add=add: add) for name, add in (commands or {}).items()})
    wanted = [command] if command in plugins else list(plugins)
    for name in wanted:
        if name in EDGE_COMMANDS:
            continue
        with require(f"ltcn {name}"):
            plugins[name]()(sub)
    return parser


def main(argv: list[str] | None = None, commands: Mapping[str, Callable] | None = None) -> int:
    """``ltcn ARGV`` (default ``sys.argv[1:]``): the exit status. ``commands``: see
    :func:`build_parser`."""
    from .errors import InputError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(_command_word(argv), commands).parse_args(argv)
    except InputError as exc:  # a plugin whose extra is missing
        print(f"ltcn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.argv = argv
    what = f"ltcn {args.command}"
    backend = getattr(args, "backend", None)  # (warmup's is a list of the Numba engines)
    if isinstance(backend, str) and backend not in EDGE_BACKENDS:
        what += f" --backend {backend}"
    if args.command in ENGINE_COMMANDS:
        from .engine.run import announce_cold_compile

        announce_cold_compile()  # before the reader's and the engine's first compile
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
