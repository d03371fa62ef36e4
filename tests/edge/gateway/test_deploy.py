"""Deploying the edge install as a user would (issue 15): one-line errors for missing extras,
numpy-only evaluate, the flow meter's errors surfaced, the alert folder, the Numba cache
fallback, `ltcn warmup` and compile time reported apart from latency, the shipped systemd unit,
and the aarch64 check's committed results."""

from __future__ import annotations

import io
import json
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from conftest import BOT_ENTIRE, NSL_TEST, REPO
from ltcn_kernels.errors import InputError
from ltcn_kernels.extras import MissingExtraError, require
from ltcn_kernels.io.pcap import ArgusTools, FlowMeterError, LiveFlows, check_interface

BLOCK_TRAIN = (
    "import sys\n"
    "for name in ('jax', 'jaxlib', 'flax', 'optax', 'sklearn', 'pandas', 'matplotlib',\n"
    "             'cryptography'):\n"
    "    sys.modules[name] = None  # the edge install: any import of them fails\n"
    "from ltcn_kernels.cli import main\n"
)


def _edge(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """``ltcn ARGS`` in a subprocess where the train extra is unimportable."""
    code = BLOCK_TRAIN + f"sys.exit(main({args!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, check=False)


# ------------------------------------------------------------------ missing extras
@pytest.mark.parametrize("args", [
    ["run", "experiments/nsl_kdd_quickstart.py"],
    ["export", "some_run", "--out", "m.ltcn"],
    ["demo", "--quick"],
    ["predict", "--model", "MODEL", "--backend", "jax", "DATA", "--out", "p.csv"],
    ["evaluate", "--model", "MODEL", "--backend", "jax", "DATA"],
])
def test_training_commands_in_the_edge_install_say_which_extra(args, request):
    if "MODEL" in args:  # a real model and data: the extra must be named before any work
        model = str(request.getfixturevalue("bot_window_model"))
        args = [{"MODEL": model, "DATA": str(BOT_ENTIRE)}.get(a, a) for a in args]
    done = _edge(args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"ltcn: error: ltcn {args[0]}")
    assert 'needs the `train` extra' in lines[0] and 'pip install "ltcn[train]"' in lines[0]


def test_require_keeps_unrelated_import_errors():
    with pytest.raises(MissingExtraError, match=r"no module named 'sklearn'.*ltcn\[train\]"):
        with require("ltcn x"):
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
    with pytest.raises(ModuleNotFoundError):  # not an extra's module: a bug, keeps its traceback
        with require("ltcn x"):
            raise ModuleNotFoundError("No module named 'typo'", name="typo")
    assert issubclass(MissingExtraError, InputError)


def test_help_says_which_commands_need_which_extra():
    from ltcn_kernels.cli import build_parser

    text = build_parser().format_help()
    assert 'pip install "ltcn[edge]": data summary, flows, detect, warmup' in text
    assert 'pip install "ltcn[train]": run, export, keygen, sign, demo, predict/evaluate --backend jax' in text
    assert "[train] write a run's model" in text


def test_evaluate_and_detect_run_in_the_edge_install(bot_window_model, tmp_path):
    done = _edge(["evaluate", "--model", str(bot_window_model), str(BOT_ENTIRE), "--json"])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] > 0 and 0 <= result["accuracy"] <= 1 and "binary" in result
    done = _edge(["warmup", "--model", str(bot_window_model)])
    assert done.returncode == 0 and "compiled or loaded" in done.stderr, done.stderr


def test_numpy_metrics_equal_scikit_learns():
    from sklearn import metrics as skm

    from ltcn_kernels.metrics import evaluate

    rng = np.random.default_rng(3)
    n, k = 400, 4
    y = rng.integers(0, k - 1, size=n)  # class 3 never occurs
    probs = rng.dirichlet(np.ones(k), size=n)
    probs[::7] = probs[0]  # ties in the scores
    probs = np.round(probs, 2)
    probs /= probs.sum(axis=1, keepdims=True)
    r = evaluate(y, probs, ["normal", "a", "b", "c"], normal_index=0)
    pred = probs.argmax(axis=1)
    p, rec, f, support = skm.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    assert [r["per_class"][c]["support"] for c in ("normal", "a", "b", "c")] == support.tolist()
    assert [r["per_class"][c]["f1"] for c in ("normal", "a", "b", "c")] == pytest.approx(f)
    assert r["precision_macro"] == pytest.approx(p.mean()) and r["recall_macro"] == pytest.approx(rec.mean())
    assert r["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, labels=range(k), average="weighted", zero_division=0))
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert r["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=range(k)).tolist()
    attack, score = y != 0, 1 - probs[:, 0]
    assert r["binary"]["roc_auc"] == pytest.approx(skm.roc_auc_score(attack, score), abs=1e-12)
    assert r["binary"]["average_precision"] == pytest.approx(
        skm.average_precision_score(attack, score), abs=1e-12)
    assert evaluate(np.zeros(0, int), np.zeros((0, 2)), ["normal", "x"], 0)["n"] == 0


# ------------------------------------------------------------------ the live interface
def test_a_wrong_interface_is_refused_before_the_flow_meter_starts(bot_window_model, capsys):
    from ltcn_kernels.cli import main

    with pytest.raises(FlowMeterError, match=r"nosuch0: no such network interface \(this machine has .*lo"):
        check_interface("nosuch0")
    assert main(["detect", "--model", str(bot_window_model), "--interface", "nosuch0",
                 "--max-seconds", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ltcn: error: --interface nosuch0: no such network interface")


def test_a_down_interface_is_refused(tmp_path):
    (tmp_path / "lo").mkdir()
    (tmp_path / "lo/flags").write_text("0x8\n")  # IFF_UP clear
    (tmp_path / "lo/operstate").write_text("down\n")
    with pytest.raises(FlowMeterError, match=r"interface is down .+ip link set lo up"):
        check_interface("lo", sys_net=str(tmp_path))
    (tmp_path / "lo/flags").write_text("0x1003\n")
    with pytest.raises(FlowMeterError, match=r"no link \(operstate down"):
        check_interface("lo", sys_net=str(tmp_path))
    (tmp_path / "lo/operstate").write_text("unknown\n")  # loopback: up, state unknown
    check_interface("lo", sys_net=str(tmp_path))


def _fake_tools(tmp_path, argus_body: str) -> ArgusTools:
    argus, ra = tmp_path / "argus", tmp_path / "ra"
    argus.write_text("#!/bin/sh\n" + argus_body)
    ra.write_text("#!/bin/sh\ncat > /dev/null\n")
    for f in (argus, ra):
        f.chmod(0o755)
    return ArgusTools(str(argus), str(ra), str(ra))


def _read_until_end(live: LiveFlows, seconds: float = 10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = live.read(0.1)
        if data == b"":
            return data
    raise AssertionError("the flow meter did not end")


def test_a_flow_meter_that_ends_by_itself_is_an_error_with_its_message(tmp_path):
    # What Argus does on a vanished interface: a warning on stderr, exit status 0.
    tools = _fake_tools(tmp_path, "echo '  ArgusWarning: 01 Dec ArgusOpenInterface lo: No such "
                                  "device exists' >&2\nexit 0\n")
    live = LiveFlows("lo", tools=tools)
    try:
        with pytest.raises(FlowMeterError, match=r"--interface lo: the flow meter \(argus\) "
                           r"stopped after 0 records \(exit status 0\): .*No such device exists"):
            _read_until_end(live)
    finally:
        live.close()


def test_a_flow_meter_stopped_by_sigterm_ends_the_stream_cleanly(tmp_path):
    tools = _fake_tools(tmp_path, "exec sleep 30\n")
    live = LiveFlows("lo", tools=tools)
    try:
        assert live.read(0.1).startswith(b"pkSeqID,")  # the header
        os.kill(live._meter.pid, signal.SIGTERM)  # systemd stopping the service's cgroup
        assert _read_until_end(live) == b""
    finally:
        live.close()


# ------------------------------------------------------------------ the alert folder
def test_detect_creates_its_alert_folder_or_says_what_is_missing(bot_window_model, tmp_path, capsys):
    from ltcn_kernels.cli import main

    alerts = tmp_path / "var/log/ltcn/alerts.jsonl"
    assert main(["detect", "--model", str(bot_window_model), "--source", str(BOT_ENTIRE),
                 "--alerts", str(alerts), "--threshold", "0.01", "--stats-every", "0"]) == 0
    assert alerts.read_text().count('"event_type":"alert"') > 0
    (tmp_path / "afile").write_text("")
    blocked = tmp_path / "afile/ltcn/alerts.jsonl"  # a folder that cannot be made
    assert main(["detect", "--model", str(bot_window_model), "--source", str(BOT_ENTIRE),
                 "--alerts", str(blocked), "--stats-every", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"ltcn: error: --alerts {blocked}: cannot create the folder "
                          f"{blocked.parent} as user ")
    assert "LogsDirectory=" in err


# ------------------------------------------------------------------ Numba's cache
def test_no_writable_cache_falls_back_to_a_temporary_folder(monkeypatch, tmp_path, capsys):
    import ltcn_kernels

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(ltcn_kernels._tempfile, "gettempdir", lambda: str(tmp))
    monkeypatch.setattr(ltcn_kernels, "_writable", lambda p: str(p).startswith(str(tmp)))
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/nonexistent/cache")
    chosen = ltcn_kernels._numba_cache_fallback()
    assert chosen is not None and chosen.startswith(str(tmp)) and os.environ["NUMBA_CACHE_DIR"] == chosen
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NUMBA_CACHE_DIR=/nonexistent/cache is not writable" in err[0]
    import numba.core.config

    assert numba.core.config.CACHE_DIR == chosen  # numba was imported first: told directly


def test_a_system_user_without_a_home_imports_and_caches():
    """The issue's crash: `cannot cache function ... no locator available` as a system user
    whose home does not exist, with a package folder it cannot write to."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as the unprivileged user `nobody`")
    if os.access(REPO / "kernels", os.W_OK, effective_ids=False) and os.stat(REPO / "kernels").st_mode & 0o002:
        pytest.skip("the package folder is world-writable: no failing cache to fall back from")
    code = ("import ltcn_kernels, numba.core.config as c\n"
            "from ltcn_kernels.gateway.warmup import _read_sample\n"
            "_read_sample()\nprint(ltcn_kernels.NUMBA_CACHE_FALLBACK)\n")
    tmp = Path(tempfile.mkdtemp(prefix="ltcn-test-", dir="/tmp"))  # reachable by `nobody`
    tmp.chmod(0o777)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TMPDIR": str(tmp)}
    try:
        done = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
             "-c", code], capture_output=True, text=True, timeout=600, env=env, cwd="/", check=False,
        )
        if done.returncode != 0 and "Permission denied" in done.stderr and "ltcn_kernels" not in done.stderr:
            pytest.skip(f"`nobody` cannot read this checkout: {done.stderr.strip()[-200:]}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(tmp / f"ltcn-numba-cache-{pwd.getpwnam('nobody').pw_uid}")
        warnings = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(warnings) == 1 and warnings[0].startswith("ltcn: warning: no writable Numba cache")
        assert any(tmp.rglob("*.nbi"))  # the kernels were cached there
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ warmup and compile time
def test_detect_compiles_before_the_first_flow_and_reports_it_apart(bot_window_model):
    from ltcn_kernels.engine import compile_times
    from ltcn_kernels.gateway import DetectOptions, Gateway, run_detect
    from ltcn_kernels.gateway.alertfile import AlertWriter
    from ltcn_kernels.pipeline import load_model

    options = DetectOptions(str(BOT_ENTIRE), stats_every=0, micro_batch=7)
    Gateway(load_model(bot_window_model), options, alerts=AlertWriter(None, stream=io.StringIO()))
    before = set(compile_times())
    err = io.StringIO()
    res = run_detect(bot_window_model, options, out=io.StringIO(), err=err)
    assert set(compile_times()) == before  # the stream first-called no kernel the warmup missed
    assert res["compile_s"] >= 0 and res["flows"] > 0 and res["latency_us_p50"] is not None
    first, second = err.getvalue().splitlines()[:2]
    assert first.startswith(f"ltcn detect: model {bot_window_model}: signed by ed25519:")
    assert second.startswith("ltcn detect: kernels ready in ")
    final = json.loads(err.getvalue().split("ltcn detect final: ")[-1])
    assert "compile_s" in final


def test_warmup_command(bot_window_model, capsys):
    from ltcn_kernels.cli import main

    assert main(["warmup", "--model", str(bot_window_model), "--backend", "dense"]) == 0
    assert "kernels for dense compiled or loaded in" in capsys.readouterr().err
    assert main(["warmup", "--model", str(NSL_TEST)]) == 2  # not a model: one line, exit 2


# ------------------------------------------------------------------ the systemd unit
def _unit() -> dict[str, list[str]]:
    text = (resources.files("ltcn_kernels.gateway") / "ltcn-detect.service").read_text()
    text = text.replace("\\\n", " ")
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_the_shipped_unit_has_its_directories_user_and_hardening():
    u = _unit()  # shipped as package data of ltcn_kernels.gateway
    assert u["User"] == ["ltcn"] and u["Restart"] == ["on-failure"]
    assert u["LogsDirectory"] == u["CacheDirectory"] == u["ConfigurationDirectory"] == ["ltcn"]
    assert u["StateDirectory"] == ["ltcn"]  # the site baseline survives restarts there
    env = dict(e.split("=", 1) for e in shlex.split(" ".join(u["Environment"])))
    assert env["NUMBA_CACHE_DIR"] == "/var/cache/ltcn" and env["NUMBA_NUM_THREADS"] == "1"
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("RestrictSUIDSGID", "yes")):
        assert u[key] == [value], key
    assert set(u["CapabilityBoundingSet"][0].split()) == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert "MemoryDenyWriteExecute" not in u  # Numba's JIT writes machine code it then runs
    from ltcn_kernels.cli import build_parser

    pre = shlex.split(u["ExecStartPre"][0])
    start = shlex.split(u["ExecStart"][0])
    assert pre[0] == start[0] == "/opt/ltcn/bin/ltcn" and pre[1] == "warmup"
    args = build_parser().parse_args(start[1:])  # the unit's command line is a valid one
    assert args.command == "detect" and args.alerts.startswith("/var/log/ltcn/")
    assert args.state_dir == "${STATE_DIRECTORY}" and args.learn  # systemd expands it
    assert args.model == build_parser().parse_args(pre[1:]).model == "/etc/ltcn/gateway.ltcn"


def test_systemd_accepts_the_unit():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = REPO / "kernels/gateway/ltcn-detect.service"
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    problems = [ln for ln in (done.stdout + done.stderr).splitlines()
                if ln.strip() and "/opt/ltcn/bin/ltcn" not in ln]
    assert problems == []


# ------------------------------------------------------------------ aarch64
def test_committed_aarch64_results_show_parity():
    """What `make check-aarch64` measured: every printed output (predictions, evaluate, flows,
    alerts, nft commands) bit-identical; the engine bit-identical on identical inputs."""
    result = json.loads((REPO / "results/aarch64/parity.json").read_text())
    assert result["printed_outputs_identical"] and result["unit_alerts_equal_x86"]
    assert result["arm64_versions"]["machine"] == "aarch64"
    printed = {n: f for n, f in result["compared"].items() if not n.endswith(".npy")}
    assert {"predict_bot_sparse.csv", "predict_bot_dense.csv", "alerts_pcap.jsonl",
            "alerts_csv.jsonl", "evaluate_nsl.json"} <= set(printed)
    assert all(f["identical"] and f["lines"] > 1 for n, f in printed.items() if n != "evaluate_nsl.json")
    raw = [f for n, f in result["compared"].items() if n.endswith(".npy") and not f["identical"]]
    assert all(f["max_abs_diff"] < 1e-6 for f in raw)  # one float32 ulp, from numpy's log1p
    if raw:
        assert result["diagnosis"]["engine_on_identical_inputs_values_different"] == {"sparse": 0, "dense": 0}
    assert "EMULATION" in result["timings_note"]


def test_the_arm64_edge_install_runs():
    """A short look into the cached arm64 root file system `make check-aarch64` left."""
    root = Path(os.environ.get("AARCH64_CACHE", "/var/cache/ltcn-aarch64")) / "run"
    if shutil.which("qemu-aarch64-static") is None:
        pytest.skip("qemu-user-static not installed (make check-aarch64 installs it, as root)")
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.skip("no binfmt_misc entry for aarch64 (make check-aarch64 registers it)")
    if os.geteuid() != 0 or not (root / "opt/ltcn/bin/python").exists():
        pytest.skip(f"needs root and the root file system of `make check-aarch64` in {root}")
    code = "import platform, ltcn_kernels; print(platform.machine(), len(ltcn_kernels.__all__))"
    chroot = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
    done = subprocess.run([chroot, str(root), "/opt/ltcn/bin/python", "-c", code],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/root", "NUMBA_CACHE_DIR": "/tmp/nc"})
    assert done.returncode == 0, done.stderr
    import ltcn_kernels

    assert done.stdout.split() == ["aarch64", str(len(ltcn_kernels.__all__))]
