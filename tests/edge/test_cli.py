"""The ``ltcn`` front door (``ltcn_kernels.cli``): the edge owns it, the training side's
commands are plugins, the ``detect`` flags come from ``DetectOptions``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import BOT_ENTIRE, NSL_TEST, REPO
from ltcn_kernels.cli import EDGE_COMMANDS, build_parser, detect_options, main
from ltcn_kernels.gateway.options import OPTION_GROUPS, DetectOptions

TRAIN_COMMANDS = ("run", "export", "keygen", "sign", "bench", "demo")


def _loaded_after(args: list[str]) -> tuple[int, str]:
    """Run ``ltcn ARGS`` in a fresh interpreter; its exit code and which training modules
    were imported by then."""
    code = (
        "import sys\n"
        "from ltcn_kernels.cli import main\n"
        f"rc = main({args!r})\n"
        "print('LOADED:' + ','.join(m for m in ('ltcn_jax', 'jax', 'flax', 'optax') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=False)
    marker = [ln for ln in done.stdout.splitlines() if ln.startswith("LOADED:")]
    assert marker, done.stderr
    return done.returncode, marker[-1].removeprefix("LOADED:")


def test_edge_commands_never_import_the_training_side(bot_window_model, tmp_path):
    model = str(bot_window_model)
    runs = [
        ["detect", "--model", model, "--source", str(BOT_ENTIRE), "--alerts", str(tmp_path / "a"),
         "--stats-every", "0"],
        ["predict", "--model", model, str(BOT_ENTIRE), "--out", str(tmp_path / "p.csv")],
        ["evaluate", "--model", model, str(BOT_ENTIRE), "--json"],
        ["verify", model],
        ["flows", "--features"],
        ["data", "summary", str(NSL_TEST), "--json"],
    ]
    for args in runs:
        rc, loaded = _loaded_after(args)
        assert rc in (0, 1), args  # verify: 1 when the test model's key is not trusted here
        assert loaded == "", f"ltcn {args[0]} imported {loaded}"


def test_training_commands_are_plugins_loaded_on_demand():
    sub = next(a for a in build_parser("detect")._actions if a.dest == "command")
    assert set(sub.choices) == set(EDGE_COMMANDS)  # an edge command: no plugin imported
    full = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(full.choices) == set(EDGE_COMMANDS) | set(TRAIN_COMMANDS)
    one = next(a for a in build_parser("run")._actions if a.dest == "command")
    assert set(one.choices) == set(EDGE_COMMANDS) | {"run"}


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("ltcn 0.")


def _subparsers(parser):
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        nested = [a for a in p._actions if isinstance(a, type(sub))]
        if nested:
            yield from ((f"{name} {n}", q) for n, q in nested[0].choices.items())
        else:
            yield name, p


def test_every_command_has_an_example_and_every_option_a_help_line():
    for name, parser in _subparsers(build_parser()):
        text = parser.format_help()
        assert "example:\n  ltcn " in text, name
        for action in parser._actions:
            assert action.help, f"ltcn {name} {action.option_strings or action.dest}: no help"


def test_detect_flags_are_the_option_fields_with_their_defaults():
    parser = dict(_subparsers(build_parser("detect")))["detect"]
    flagged = [f for f in dataclasses.fields(DetectOptions) if "group" in f.metadata]
    assert {f.metadata["group"] for f in flagged} <= set(OPTION_GROUPS)
    dests = {a.dest for a in parser._actions} - {"help", "model"}
    assert dests == {f.name for f in flagged}
    args = parser.parse_args(["--model", "m.ltcn", "--source", "x.csv"])
    assert detect_options(args) == DetectOptions(source="x.csv")  # every default written once
    text = parser.format_help()
    assert "(default: 4096)" in text and "(default: 0.5)" in text
    assert [g.title.split(":")[0] for g in parser._action_groups[2:]] == list(OPTION_GROUPS)
    args = parser.parse_args(["--model", "m", "--interface", "eth0", "--allow", "10.0.0.0/8",
                              "--allow", "::1", "--threshold", "0.9", "--apply", "--firewall",
                              "nftables", "--micro-batch", "16"])
    opts = detect_options(args)
    assert opts.allow == ("10.0.0.0/8", "::1") and opts.threshold == 0.9 and opts.apply
    assert opts.micro_batch == 16 and opts.interface == "eth0" and opts.source is None


def test_detect_needs_exactly_one_input(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--model", "m.ltcn"])
    assert "one of the arguments --source --interface is required" in capsys.readouterr().err


def test_run_names_ltcn_data_when_a_config_has_no_data(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("LTCN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./data here
    config = REPO / "experiments/cicids2017_per_flow.py"
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LTCN_DATA is not set" in err[0] and "set LTCN_DATA to" in err[0]


def test_run_and_bench_write_to_runs_unless_told(capsys):
    parser = dict(_subparsers(build_parser()))
    assert parser["run"].parse_args(["c.py"]).out is None  # -> runs/<config name>
    assert "runs/<config name>" in parser["run"].format_help()
    assert parser["bench"].parse_args([]).out == "runs/bench"


def test_a_source_tree_without_entry_points_runs_the_training_commands(monkeypatch, capsys):
    import ltcn_jax.cli as train_cli
    from ltcn_kernels import cli

    monkeypatch.setattr(cli, "_entry_points", lambda group: {})  # as if never pip-installed
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--help"])
    assert stop.value.code == 2  # no such command without the training side's plugins
    with pytest.raises(SystemExit) as stop:
        train_cli.main(["run", "--help"])  # python -m ltcn_jax.cli: it passes its commands
    assert stop.value.code == 0 and "example:\n  ltcn run" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["evaluate", "--model", "{run}", "x.csv"],
                                     ["detect", "--model", "{run}", "--source", "{csv}"],
                                     ["verify", "{run}"], ["warmup", "--model", "{run}"]])
def test_a_run_folder_given_as_the_model_says_to_export_it(command, tmp_path, capsys):
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    csv = tmp_path / "x.csv"
    csv.write_text("")
    argv = [a.format(run=run, csv=csv) for a in command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ltcn: error: {run}: a run folder, not a .ltcn model file: export its model "
                   f"first, `ltcn export {run} --out model.ltcn`, and pass that file"]


def test_engine_commands_announce_a_cold_compile_before_it_starts(bot_window_model, monkeypatch,
                                                                    capsys):
    from ltcn_kernels.engine import run

    monkeypatch.setattr(run, "_told_cold", False)
    monkeypatch.setattr(run, "is_cold", lambda kernel: True)  # as on a fresh machine
    assert main(["evaluate", "--model", str(bot_window_model), str(BOT_ENTIRE), "--json"]) == 0
    assert capsys.readouterr().err.count(run.COLD_COMPILE_NOTICE) == 1
    monkeypatch.setattr(run, "_told_cold", False)
    assert main(["flows", "--features"]) == 0  # not an engine command: nothing to say
    assert run.COLD_COMPILE_NOTICE not in capsys.readouterr().err


def test_evaluate_says_when_macro_f1_counts_classes_absent_from_the_files(capsys):
    model = REPO / "results/lab/model.ltcn"  # five BoT-IoT classes; the fixture holds two
    assert main(["evaluate", "--model", str(model), str(BOT_ENTIRE)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "macro-F1 0.4000 (over 5 classes, 3 absent here: F1 0)" in first


def test_a_folder_given_as_flow_files_is_named_as_a_folder(tmp_path, capsys):
    assert main(["data", "summary", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ltcn: error: {tmp_path}: a folder, not a flow-record file: give the files in it")


def _relabelled(path, out, changes: list[tuple[tuple[str, str], int, tuple[str, str]]]):
    """A copy of a BoT-IoT file at ``out`` where, for each ``(old, n, new)`` of ``changes`` in
    turn, the next ``n`` rows labelled ``old`` (category, subcategory) are labelled ``new``.
    Features and row order stay, so the model's probabilities do too."""
    lines = path.read_text().splitlines()
    left = [n for _, n, _ in changes]
    rows = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        for i, (old, _, new) in enumerate(changes):
            if left[i] and tuple(fields[-2:]) == old:
                left[i] -= 1
                fields[-2:] = new
                break
        rows.append(",".join(fields))
    out.write_text("\n".join(rows) + "\n")
    return out


def test_evaluate_counts_attacks_of_a_family_the_model_lacks(bot_window_model, tmp_path, capsys):
    from ltcn_kernels.metrics import attack_scores
    from ltcn_kernels.pipeline import classify_files

    # 30 DDoS rows become DoS (a family the model has no class for); 2 Normal rows are spelled
    # "normal/NORMAL" (the normaliser's rules: still normal); 3 Normal rows carry a subcategory
    # the dataset does not know (neither normal nor attack: counted apart, never as an attack).
    path = _relabelled(BOT_ENTIRE, tmp_path / "relabelled.csv", [
        (("DDoS", "TCP"), 30, ("DoS", "UDP")),
        (("Normal", "Normal"), 2, ("normal", "NORMAL")),
        (("Normal", "Normal"), 3, ("Normal", "Idle")),
    ])
    pred = classify_files(bot_window_model, [path])
    assert "DoS" not in pred.classes and "Normal" in pred.classes
    flagged = attack_scores(pred.probs, pred.classes.index("Normal")) >= 0.5
    dos = pred.true_labels() == "DoS"
    assert dos.sum() == 30 and (pred.y_true[dos] == -1).all()
    detected = int(np.count_nonzero(flagged & dos))

    assert main(["evaluate", "--model", str(bot_window_model), str(BOT_ENTIRE), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--model", str(bot_window_model), str(path), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["unmodelled_attacks"] == {
        "rows": 30, "detected": detected, "detection_rate": pytest.approx(detected / 30),
        "by_label": {"DoS": {"rows": 30, "detected": detected}}}
    assert after["unrecognised_labels"] == {"rows": 3, "by_label": {"0/Normal/Idle": 3}}
    assert after["unmodelled_rows"] == 33 and after["n"] == before["n"] - 33
    # Attack-vs-normal: the DoS rows are attacks, as they were when labelled DDoS; the normal
    # rows spelled otherwise are normal; the unknown-label rows are in neither count.
    b, b0 = after["binary"], before["binary"]
    assert (b["tp"], b["fn"]) == (b0["tp"], b0["fn"]) and b["tp"] + b["fn"] == 150
    unknown_flagged = int(np.count_nonzero(flagged & pred.unrecognised()))
    assert (b["fp"], b["tn"]) == (b0["fp"] - unknown_flagged, b0["tn"] - 3 + unknown_flagged)
    assert main(["evaluate", "--model", str(bot_window_model), str(path)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[1].startswith("unmodelled attacks (classes the model lacks; in attack-vs-normal, "
                              f"not per class): {detected} of 30 detected")
    assert text[2].endswith("; not scored: 3 with a label the dataset does not know")
