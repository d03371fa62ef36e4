"""Packet captures through the Argus flow meter (`ltcn flows`, `ltcn detect --source X.pcap`).

The captures in tests/fixtures/pcap are real (see PROVENANCE.md there). Tests that run Argus
skip with the reason when it is not installed (`make test` installs it where it can).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, FIXTURES
from ltcn_jax.data.prepare import DataConfig
from ltcn_jax.export import export_run
from ltcn_kernels.errors import DataFormatError
from ltcn_kernels.gateway import DetectOptions, GatewayError, run_detect
from ltcn_kernels.io import schema
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.io.pcap import (
    ARGUS_FIELDS,
    CAPTURE_MAGIC,
    PRODUCIBLE,
    FlowMeterError,
    argus_available,
    capture_kind,
    capture_to_flows,
    header_line,
    is_capture,
)
from ltcn_kernels.pipeline import classify_files, load_model

PCAP = FIXTURES / "pcap"
needs_argus = pytest.mark.skipif(
    not argus_available(),
    reason="Argus is not installed (apt install argus-server argus-client; `make test` does it "
    "as root)",
)


# ------------------------------------------------------------------ magic numbers (no Argus)
def test_capture_kind_recognises_every_magic_and_the_fixtures():
    assert {capture_kind(m + b"rest") for m in CAPTURE_MAGIC} == {"pcap", "pcapng"}
    for path in PCAP.glob("*.pcap"):
        assert is_capture(path), path
    assert not is_capture(BOT_ENTIRE)
    assert not is_capture(PCAP / "missing.pcap")


@given(st.binary(max_size=64))
def test_capture_kind_is_none_unless_the_first_four_bytes_are_a_magic(head):
    assert capture_kind(head) == CAPTURE_MAGIC.get(head[:4])


def test_a_capture_given_to_the_flow_readers_says_what_to_do():
    with pytest.raises(DataFormatError, match="pcap capture: `ltcn flows` or `ltcn detect`"):
        read_flows(PCAP / "teardrop.pcap", progress=False)


def test_argus_field_names_are_the_bot_iot_columns():
    columns = [c.raw for c in schema.BOT_IOT_ENTIRE.columns]
    assert header_line().split(",") == columns
    assert columns == ["pkSeqID", *ARGUS_FIELDS, "attack", "category", "subcategory"]
    # Every model input of a BoT-IoT full-schema model is an Argus field.
    lay = schema.BOT_IOT_ENTIRE
    inputs = (*lay.feature_names, *lay.categorical_names, *lay.bucketed_ports)
    assert set(inputs) <= set(ARGUS_FIELDS)
    assert all(PRODUCIBLE["bot-iot"][n].startswith("produced") for n in inputs)


def test_missing_argus_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name, path=None: None)
    with pytest.raises(FlowMeterError, match="apt install argus-server argus-client"):
        capture_to_flows(PCAP / "trickbot.pcap", tmp_path / "f.csv")


def test_a_non_capture_is_refused_before_argus_runs(tmp_path):
    with pytest.raises(FlowMeterError, match="not a pcap or pcapng capture"):
        capture_to_flows(BOT_ENTIRE, tmp_path / "f.csv")


# ------------------------------------------------------------------ Argus itself
def _nfstream(name: str) -> Counter:
    lines = (PCAP / f"{name}.nfstream.csv").read_text().splitlines()[1:]
    return Counter((int(s.split(",")[1]), int(s.split(",")[2])) for s in lines)


@needs_argus
@pytest.mark.parametrize(
    "name", ["synscan.pcap", "WebattackSQLinj.pcap", "trickbot.pcap", "ftp_failed.pcap"]
)
def test_argus_flows_match_an_independent_flow_meter(tmp_path, name):
    """Flow count and each flow's (packets, bytes) equal nfstream's own test oracle."""
    out = tmp_path / "flows.csv"
    n = capture_to_flows(PCAP / name, out)
    table = read_flows(out, "bot-iot", drop_duplicates=False, unknown_label="keep", progress=False)
    assert len(table) == n == sum(_nfstream(name).values())
    pkts = table.features[:, table.feature_names.index("pkts")].astype(int)
    size = table.features[:, table.feature_names.index("bytes")].astype(int)
    assert Counter(zip(pkts.tolist(), size.tolist(), strict=True)) == _nfstream(name)


@needs_argus
def test_converted_records_carry_every_model_input(tmp_path):
    out = tmp_path / "flows.csv"
    capture_to_flows(PCAP / "synscan.pcap", out)
    text = out.read_text().splitlines()
    assert text[0] == header_line()
    table = read_flows(out, "bot-iot", drop_duplicates=False, unknown_label="keep", progress=False)
    assert set(table.layouts) == {"entire"}
    assert np.isfinite(table.features).all()  # every numeric model feature was produced
    assert set(table.strings["proto"].vocab) >= {"tcp"}
    assert set(table.strings["state"].vocab) & {"REQ", "RST", "CON"}
    assert all(v == v.strip() for v in table.strings["flgs"].vocab)  # Argus pads flags
    stime = table.aux_column("stime")
    assert np.all(np.diff(stime) >= 0)  # written in start-time order
    assert np.isfinite(table.aux_column("dport")).all()
    # All 1,994 probes come from the scanner.
    assert set(table.strings["saddr"].vocab) == {"172.16.0.8"}


@needs_argus
def test_a_damaged_capture_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 3)  # the file header cut short
    with pytest.raises(FlowMeterError, match=r"bad\.pcap"):
        capture_to_flows(bad, tmp_path / "f.csv")


@needs_argus
def test_a_capture_cut_mid_packet_keeps_the_complete_packets(tmp_path):
    whole = (PCAP / "WebattackSQLinj.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 100])  # the last packet is truncated
    n = capture_to_flows(cut, tmp_path / "f.csv")
    assert n == 9  # the same 9 TCP connections, the last one a few bytes short
    table = read_flows(tmp_path / "f.csv", "bot-iot", drop_duplicates=False, unknown_label="keep",
                       progress=False)
    size = table.features[:, table.feature_names.index("bytes")]
    assert size.sum() < sum(b * c for (_, b), c in _nfstream("WebattackSQLinj.pcap").items())


@needs_argus
def test_cli_flows_and_features(tmp_path, capsys):
    from ltcn_kernels.cli import main

    assert (
        main(
            [
                "flows",
                str(PCAP / "trickbot.pcap"),
                str(PCAP / "ftp_failed.pcap"),
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    made = sorted(p.name for p in tmp_path.glob("*.flows.csv"))
    assert made == ["ftp_failed.pcap.flows.csv", "trickbot.pcap.flows.csv"]
    assert main(["flows", str(PCAP / "trickbot.pcap"), str(BOT_ENTIRE), "-o", str(tmp_path)]) == 2
    assert "not a pcap or pcapng capture" in capsys.readouterr().err
    assert main(["flows", "--features"]) == 0
    listing = capsys.readouterr().out
    assert "bot-iot:" in listing and "N_IN_Conn_P_SrcIP" in listing and "cicids2017:" in listing


# ------------------------------------------------------------------ detection on a capture
@pytest.fixture(scope="module")
def deployable(tiny_run, tmp_path_factory):
    """A per-flow model without the aggregate-statistics features (as the gateway config)."""
    dropped = ("mean", "stddev", "sum", "min", "max")
    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block", sequence="flows",
                      window=1, fractions=(0.5, 0.2, 0.3), drop_duplicates=False, log_scale=True,
                      exclude_features=dropped)
    run = tiny_run("deploy", data, channels=(6, 6), dilations=(1, 2), k=2)
    path = tmp_path_factory.mktemp("deploym") / "m.ltcn"
    export_run(run, path)
    _, pre = load_model(path)
    assert not set(dropped) & set(pre.feature_names)
    assert "pkts" in pre.feature_names
    return path


@needs_argus
def test_detect_on_a_capture_equals_batch_predictions_on_its_flows(deployable, tmp_path):
    capture = PCAP / "synscan.pcap"
    flows = tmp_path / "flows.csv"
    capture_to_flows(capture, flows)
    pred = classify_files(deployable, [flows])
    normal = pred.classes.index("Normal")
    p_attack = 1.0 - pred.probs[:, normal]
    threshold = float(np.median(p_attack))
    if threshold <= 0:
        threshold = 0.5
    expect = [(int(pred.table.line[pred.order[i]]), float(p_attack[i]))
              for i in np.flatnonzero(p_attack >= threshold)]
    alerts_path = tmp_path / "alerts.jsonl"
    fw_out = io.StringIO()
    options = DetectOptions(str(capture), alerts=str(alerts_path), threshold=threshold,
                            firewall="nftables", stats_every=0)
    res = run_detect(deployable, options, out=fw_out, err=io.StringIO())
    alerts = [json.loads(s) for s in alerts_path.read_text().splitlines()]
    assert res["captures"] == 1 and res["flows"] == len(pred.order) == 1994 and res["skipped"] == 0
    assert [(a["ltcn"]["line"], a["ltcn"]["p_attack"]) for a in alerts] == [
        (line, pytest.approx(p, abs=2e-6)) for line, p in expect
    ]
    assert all(a["src_ip"] == "172.16.0.8" and a["dest_ip"] == "64.13.134.52" for a in alerts)
    assert all(a["proto"] == "TCP" and a["ltcn"]["source_file"] == "synscan.pcap" for a in alerts)
    commands = [json.loads(s) for s in fw_out.getvalue().splitlines()]
    adds = [c for c in commands if c[:3] == ["nft", "add", "element"]]
    if alerts:  # one timed entry for the one scanning source, however many flows alerted
        assert adds == [["nft", "add", "element", "inet", "ltcn", "blocklist", "{", "172.16.0.8",
                         "timeout", "10m", "}"]]


def test_capture_needs_a_bot_iot_model(nsl_run, tmp_path):
    model = tmp_path / "nsl.ltcn"
    export_run(nsl_run, model)
    with pytest.raises(GatewayError, match="trained on nsl-kdd, whose features Argus does not"):
        run_detect(
            model, DetectOptions(str(PCAP / "trickbot.pcap"), stats_every=0), err=io.StringIO()
        )


def test_pcap_header_struct_is_what_magic_detection_reads():
    # A nanosecond-resolution little-endian header, as `tcpdump --time-stamp-precision=nano`.
    head = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    assert capture_kind(head) == "pcap"


@pytest.fixture
def veth_pair():
    """Two network namespaces joined by a veth pair: (gateway ns, its interface, peer ns)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a live capture in network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("needs `ip` (apt install iproute2)")
    tag = os.getpid() % 100_000
    gw, peer = f"ltcn-gw-{tag}", f"ltcn-peer-{tag}"

    def ip(*args):
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)

    made = ip("netns", "add", gw)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        steps = [
            ("netns", "add", peer),
            (
                "link",
                "add",
                "vgw",
                "netns",
                gw,
                "type",
                "veth",
                "peer",
                "name",
                "vpeer",
                "netns",
                peer,
            ),
            ("-n", gw, "addr", "add", "10.99.0.1/24", "dev", "vgw"),
            ("-n", peer, "addr", "add", "10.99.0.2/24", "dev", "vpeer"),
            ("-n", gw, "link", "set", "vgw", "up"),
            ("-n", peer, "link", "set", "vpeer", "up"),
        ]
        for step in steps:
            done = ip(*step)
            if done.returncode != 0:
                pytest.skip(
                    f"cannot build the veth pair: ip {' '.join(step)}: {done.stderr.strip()}"
                )
        yield gw, "vgw", peer
    finally:
        ip("netns", "del", gw)
        ip("netns", "del", peer)


_CONNECT_SCAN = """
import socket
for port in range(1, 41):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(("10.99.0.1", port))
    except OSError:
        pass
    s.close()
"""


def _wait_for_argus(iface: str, detect: subprocess.Popen, limit_s: float = 90.0) -> None:
    """Until the flow meter listens on ``iface``: ``ltcn detect`` loads (and, on a cold cache,
    compiles) the model first, which on a loaded machine takes longer than any fixed sleep."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and detect.poll() is None:
        probe = subprocess.run(["pgrep", "-f", f"argus -i {iface} "], capture_output=True)
        if probe.returncode == 0:
            time.sleep(1.0)  # argus opens the capture just after it starts
            return
        time.sleep(0.2)
    raise AssertionError(f"argus never started on {iface} (detect exited {detect.poll()})")


@needs_argus
def test_live_interface_flows_and_alerts(deployable, veth_pair, tmp_path):
    """`ltcn detect --interface` on a real interface: Argus sees a connect scan from the peer
    namespace; the alerts equal the batch predictions on the records it saved."""
    gw, iface, peer = veth_pair
    alerts_path, saved = tmp_path / "alerts.jsonl", tmp_path / "flows.csv"
    detect = subprocess.Popen(
        ["ip", "netns", "exec", gw, sys.executable, "-m", "ltcn_kernels.cli", "detect",
         "--model", str(deployable), "--interface", iface, "--alerts", str(alerts_path),
         "--save-flows", str(saved), "--threshold", "0.5", "--max-seconds", "15",
         "--stats-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_argus(iface, detect)
    subprocess.run(
        ["ip", "netns", "exec", peer, sys.executable, "-c", _CONNECT_SCAN], check=True, timeout=60
    )
    _, err = detect.communicate(timeout=120)
    assert detect.returncode == 0, err
    final = json.loads(err.split("ltcn detect final: ")[-1])
    table = read_flows(
        saved, "bot-iot", drop_duplicates=False, unknown_label="keep", progress=False
    )
    tcp = table.strings["proto"].codes == table.strings["proto"].vocab.index("tcp")
    src = np.asarray(table.strings["saddr"].vocab)[table.strings["saddr"].codes]
    dport = table.aux_column("dport")
    scanned = set(dport[tcp & (src == "10.99.0.2")].astype(int).tolist())
    assert scanned == set(range(1, 41))  # every probe became a flow record
    assert final["flows"] == len(table) and final["skipped"] == 0
    pred = classify_files(deployable, [saved])
    p_attack = 1.0 - pred.probs[:, pred.classes.index("Normal")]
    expect = sorted((int(pred.table.line[pred.order[i]]), round(float(p_attack[i]), 5))
                    for i in np.flatnonzero(p_attack >= 0.5))
    alerts = (
        [json.loads(s) for s in alerts_path.read_text().splitlines()]
        if alerts_path.exists()
        else []
    )
    got = sorted((a["ltcn"]["line"], round(a["ltcn"]["p_attack"], 5)) for a in alerts)
    assert got == expect


@needs_argus
def test_the_cli_gateway_runs_without_the_training_stack(deployable, tmp_path):
    """On the Pi only numpy and numba are installed: `ltcn flows` and `ltcn detect` on a capture
    must work with jax, flax, optax and scikit-learn unimportable."""
    code = (
        "import sys\n"
        "for name in ('jax', 'jaxlib', 'flax', 'optax', 'sklearn', 'pandas'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "from ltcn_kernels.cli import main\n"
        f"assert main(['flows', {str(PCAP / 'trickbot.pcap')!r}, '-o', {str(tmp_path / 'f.csv')!r}]) == 0\n"
        f"sys.exit(main(['detect', '--model', {str(deployable)!r}, '--source', "
        f"{str(PCAP / 'synscan.pcap')!r}, '--alerts', {str(tmp_path / 'a.jsonl')!r}, "
        "'--stats-every', '0']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stderr.split("ltcn detect final: ")[-1])
    assert final["flows"] == 1994 and final["captures"] == 1
    assert (tmp_path / "f.csv").read_text().startswith(header_line())


@needs_argus
def test_labelled_captures_become_training_records(tmp_path, capsys):
    from ltcn_kernels.cli import main

    benign, attack = tmp_path / "benign.csv", tmp_path / "attack.csv"
    assert main(["flows", str(PCAP / "no_flood.pcap"), "--label", "Normal", "-o", str(benign)]) == 0
    assert (
        main(
            [
                "flows",
                str(PCAP / "synscan.pcap"),
                "--label",
                "Reconnaissance/Service_Scan",
                "-o",
                str(attack),
            ]
        )
        == 0
    )
    table = read_flows(
        [benign, attack], "bot-iot", drop_duplicates=False, progress=False
    )  # labels required
    groups = np.asarray(table.group.vocab)[table.group.codes]
    assert Counter(groups.tolist()) == {"Normal": 20, "Reconnaissance": 1994}
    assert (
        main(
            [
                "flows",
                str(PCAP / "trickbot.pcap"),
                "--label",
                "Botnet",
                "-o",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown BoT-IoT label 'Botnet'" in err and "Reconnaissance" in err
