"""The edge gateway (`ltcn detect`): streamed alerts equal the batch predictions, bad lines are
skipped and counted, firewall commands are validated argument lists, alerts rotate."""

from __future__ import annotations

import io
import ipaddress
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest

from conftest import REPO as REPO_PATH
from ltcn_kernels.errors import DataFormatError, InputError
from ltcn_kernels.gateway import DetectOptions, Firewall, GatewayError, run_detect
from ltcn_kernels.gateway.firewall import own_addresses
from ltcn_kernels.io.flows import detect
from ltcn_kernels.pipeline import classify_files

REPO = str(REPO_PATH)


@pytest.fixture(scope="module")
def model(bot_window_model):
    return bot_window_model


@pytest.fixture(scope="module")
def replay(bot_replay):
    return bot_replay


@pytest.fixture(scope="module")
def expected(model, replay):
    """(threshold, [(line, class, probs)]) from the batch tools over the same file."""
    pred = classify_files(model, [replay])
    np.testing.assert_array_equal(pred.order, np.arange(len(pred.order)))  # already in order
    normal = pred.classes.index("Normal")
    p_attack = 1.0 - pred.probs[:, normal]
    # A threshold between two well-separated values, so that about half the flows alert.
    values = np.unique(np.round(p_attack, 4))
    gaps = [(b - a, (a + b) / 2) for a, b in itertools.pairwise(values)]
    mid = len(values) // 2
    threshold = float(max(gaps[max(0, mid - 20) : mid + 20])[1]) if gaps else 0.5
    rows = []
    for i in np.flatnonzero(p_attack >= threshold):
        attack = [c for c in range(len(pred.classes)) if c != normal]
        cls = pred.classes[attack[int(np.argmax(pred.probs[i, attack]))]]
        rows.append((int(pred.table.line[pred.order[i]]), cls, pred.probs[i]))
    assert 0 < len(rows) < len(p_attack)
    return threshold, rows, pred.classes


def _alerts(path):
    return [json.loads(s) for s in open(path).read().splitlines() if s]


def _check(alerts, expected, lines=None):
    _, rows, classes = expected
    assert len(alerts) == len(rows)
    for a, (line, cls, probs) in zip(alerts, rows, strict=True):
        assert a["ltcn"]["class"] == cls
        got = [a["ltcn"]["probabilities"][c] for c in classes]
        np.testing.assert_allclose(got, probs, atol=2e-5)
        if lines is None:
            assert a["ltcn"]["line"] == line
        elif lines:
            assert lines[a["ltcn"]["line"]] == lines["expected"][line]


def _detect(model, source, *, out=None, stdin=None, **options):
    """`run_detect` with quiet statistics; ``options`` are :class:`DetectOptions` fields."""
    options = DetectOptions(source=source, stats_every=0, **options)
    return run_detect(model, options, out=out, stdin=stdin, err=io.StringIO())


def test_alerts_equal_the_batch_predictions_for_any_micro_batch(model, replay, expected, tmp_path):
    threshold = expected[0]
    first = None
    for mb in (1, 7, 64, 10_000):
        out = tmp_path / f"a{mb}.jsonl"
        res = _detect(model, str(replay), alerts=str(out), threshold=threshold, micro_batch=mb)
        assert res["engine_mode"] == "stream"
        _check(_alerts(out), expected)
        text = out.read_text()
        assert first is None or text == first  # byte-identical across micro-batch sizes
        first = text
        assert res["alerts"] == len(expected[1]) and res["skipped"] == 0
    # The window-buffer engine (used when the receptive field exceeds the window) agrees too.
    out = tmp_path / "w.jsonl"
    res = _detect(model, str(replay), alerts=str(out), threshold=threshold, micro_batch=13,
                  mode="windows")
    assert res["engine_mode"] == "windows"
    _check(_alerts(out), expected)


def test_eve_fields_are_present_and_typed(model, replay, expected, tmp_path):
    out = tmp_path / "a.jsonl"
    _detect(model, str(replay), alerts=str(out), threshold=expected[0])
    for a in _alerts(out):
        assert a["event_type"] == "alert"
        assert isinstance(a["timestamp"], str) and a["timestamp"].startswith("2018-")
        assert a["timestamp"].endswith("+0000") and "T" in a["timestamp"]
        assert isinstance(a["src_ip"], str) and isinstance(a["dest_ip"], str)
        assert isinstance(a["flow_id"], int)
        assert isinstance(a["proto"], str) and a["proto"].isupper()
        for port in ("src_port", "dest_port"):
            assert port not in a or isinstance(a[port], int)
        al = a["alert"]
        assert al["action"] == "allowed" and isinstance(al["signature_id"], int)
        assert al["signature"] == f"LTCN {a['ltcn']['class']}" and isinstance(al["category"], str)
        assert al["severity"] in (1, 2, 3)
        assert set(a["ltcn"]) >= {"probabilities", "class", "source_file", "line"}
        assert a["ltcn"]["source_file"] == "replay.csv"
        assert abs(sum(a["ltcn"]["probabilities"].values()) - 1) < 1e-4


def test_bad_lines_are_skipped_counted_and_do_not_change_alerts(model, replay, expected, tmp_path):
    raw = replay.read_bytes().splitlines()
    good = raw[5]
    fields = good.split(b",")
    bad = [
        b"this is not a flow record",
        good[: len(good) // 2],  # truncated
        b",".join([*fields[:8], b"abc", *fields[9:]]),  # pkts is not a number
        b"\xff\xfe binary junk \x00",
    ]
    out_lines = [raw[0]]
    where = {}  # new line number -> old line number
    for i, line in enumerate(raw[1:], start=2):
        if i in (3, 50, 51, 120):
            out_lines.append(bad[(3, 50, 51, 120).index(i)])
        out_lines.append(line)
        where[len(out_lines)] = i
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\n".join(out_lines) + b"\n")
    for mb in (1, 32):
        out = tmp_path / f"a{mb}.jsonl"
        res = _detect(model, str(path), alerts=str(out), threshold=expected[0], micro_batch=mb)
        assert res["skipped"] == 4, res["skipped_by_reason"]
        alerts = _alerts(out)
        _check(alerts, expected, lines={**{k: out_lines[k - 1] for k in where},
                                        "expected": {v: raw[v - 1] for v in where.values()}})
        assert [where[a["ltcn"]["line"]] for a in alerts] == [r[0] for r in expected[1]]


def test_stdin_source_in_process(model, replay, expected, tmp_path):
    out = tmp_path / "a.jsonl"
    _detect(model, "-", alerts=str(out), threshold=expected[0], micro_batch=9,
            stdin=io.BytesIO(replay.read_bytes()))
    _check(_alerts(out), expected)


def test_directory_source_and_realtime_replay(model, replay, expected, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    raw = replay.read_bytes().splitlines()
    (d / "a.csv").write_bytes(b"\n".join(raw[:100]) + b"\n")
    (d / "b.csv").write_bytes(b"\n".join([raw[0], *raw[100:]]) + b"\n")
    out = tmp_path / "a.jsonl"
    res = _detect(model, str(d), alerts=str(out), threshold=expected[0], realtime=True,
                  speed=1e6, max_gap=0.001)
    alerts = _alerts(out)
    assert res["alerts"] == len(expected[1]) and res["latency_us_p50"] is not None
    got = [(a["ltcn"]["source_file"], a["ltcn"]["line"]) for a in alerts]
    want = [("a.csv", ln) if ln <= 100 else ("b.csv", ln - 99) for ln, _, _ in expected[1]]
    assert got == want
    _check(alerts, expected, lines=False)


def test_follow_mode_reads_a_growing_file(model, replay, expected, tmp_path):
    raw = replay.read_bytes()
    path = tmp_path / "live.csv"
    path.write_bytes(b"")

    def writer():
        with open(path, "ab") as f:
            for start in range(0, len(raw), 3001):  # pieces that cut lines in half
                f.write(raw[start : start + 3001])
                f.flush()
                time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    out = tmp_path / "a.jsonl"
    res = _detect(model, str(path), alerts=str(out), threshold=expected[0], follow=True,
                  max_seconds=2.5, poll=0.02, micro_batch=50)
    t.join()
    _check(_alerts(out), expected)
    assert res["skipped"] == 0


def test_cli_stdin_subprocess_and_sigterm_flush(model, replay, expected, tmp_path):
    out = tmp_path / "a.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(model), "--source", "-",
         "--alerts", str(out), "--threshold", repr(expected[0]), "--micro-batch", "16",
         "--stats-every", "0.2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    proc.stdin.write(replay.read_bytes())
    proc.stdin.flush()  # the pipe stays open: a live feed
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= len(expected[1]):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    err = stderr.decode().splitlines()
    final = [s for s in err if s.startswith("ltcn detect final: ")]
    assert len(final) == 1
    stats = json.loads(final[0].split(": ", 1)[1])
    assert stats["alerts"] == len(expected[1]) and stats["skipped"] == 0
    assert stats["latency_us_p99"] >= stats["latency_us_p50"] > 0
    _check(_alerts(out), expected)


def test_firewall_dry_run_validates_and_rate_limits(model, replay, expected, tmp_path):
    raw = replay.read_bytes().splitlines()
    evil = [b"1.2.3.4;reboot", b"$(reboot)", b"10.0.0.300", b"--help"]
    lines = [raw[0]]
    n_evil = 0
    alert_lines = {r[0] for r in expected[1]}
    for i, line in enumerate(raw[1:], start=2):
        f = line.split(b",")
        if i % 5 == 0:  # saddr is metadata: replacing it changes no probability
            f[4] = evil[i % len(evil)]
            n_evil += i in alert_lines
        lines.append(b",".join(f))
    path = tmp_path / "evil.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    buf = io.StringIO()
    alerts_path = tmp_path / "a.jsonl"
    res = _detect(model, str(path), alerts=str(alerts_path), threshold=expected[0],
                  firewall="nftables", block_rate=1000, out=buf)
    alerts = _alerts(alerts_path)
    _check(alerts, expected)
    cmds = [json.loads(s) for s in buf.getvalue().splitlines()]
    assert all(isinstance(c, list) and c[0] == "nft" for c in cmds)
    assert cmds[0] == ["nft", "add", "table", "inet", "ltcn"]
    assert ["nft", "add", "set", "inet", "ltcn", "blocklist", "{", "type", "ipv4_addr", ";",
            "flags", "timeout", ";", "}"] in cmds
    assert [
        "nft",
        "add",
        "rule",
        "inet",
        "ltcn",
        "input",
        "ip",
        "saddr",
        "@blocklist",
        "drop",
    ] in cmds
    adds = [c for c in cmds if c[:3] == ["nft", "add", "element"]]
    # what the firewall must decide for each alert, in order: an invalid or unblockable source
    # is refused, a flow to an address already blocked is a victim's reply (not blocked), a
    # source already blocked is "recent", anything else is added once
    # (one micro-batch here, whose sources with the most alerts are judged first)
    assert len(raw) - 1 <= 256
    many = Counter(a["src_ip"] for a in alerts)
    blocked, valid, outcome = set(), [], []
    for a in sorted(alerts, key=lambda a: -many[a["src_ip"]]):
        src = a["src_ip"]
        if src.encode() in evil:
            outcome.append("invalid address")
            continue
        addr = ipaddress.ip_address(src)
        if addr.is_multicast or addr.is_loopback or addr.is_unspecified:
            outcome.append("not blockable")
        elif a.get("dest_ip") in blocked:
            outcome.append("reply to a blocked address")
        elif str(addr) in blocked:
            outcome.append("recent")
        else:
            blocked.add(str(addr))
            valid.append(addr)
            outcome.append("added")
    assert adds == [["nft", "add", "element", "inet", "ltcn", "blocklist" if a.version == 4 else "blocklist6",
                     "{", str(a), "timeout", "10m", "}"] for a in valid]
    flat = " ".join(" ".join(c) for c in cmds)
    assert "reboot" not in flat and "300" not in flat and "--help" not in flat
    fw = res["firewall"]
    assert fw["invalid address"] == n_evil > 0
    assert fw["added"] == len(valid) > 0
    assert fw == {k: outcome.count(k) for k in set(outcome)}
    assert fw["recent"] > 0  # repeated sources: one add


def test_firewall_rate_limit_and_timeout_window():
    now = [0.0]
    buf = io.StringIO()
    fw = Firewall(timeout_s=60, rate=2, out=buf, clock=lambda: now[0], own=())
    got = [fw.block(f"10.0.0.{i}") for i in range(5)]
    assert got == ["added", "added", "rate-limited", "rate-limited", "rate-limited"]
    assert fw.block("10.0.0.1") == "recent"
    now[0] = 1.0
    assert fw.block("10.0.0.2") == "added"
    assert fw.block("::ffff:10.0.0.1") == "recent"  # the mapped IPv4 address
    assert fw.block("2001:db8::1") == "added"
    assert fw.block("127.0.0.1") == "not blockable"
    assert fw.block("1.2.3.4 timeout 1s }; flush ruleset") == "invalid address"
    now[0] = 61.0
    assert fw.block("10.0.0.0") == "added"  # its window has passed
    adds = [json.loads(s) for s in buf.getvalue().splitlines()]
    assert adds[-2] == ["nft", "add", "element", "inet", "ltcn", "blocklist6", "{", "2001:db8::1",
                        "timeout", "1m", "}"]


def test_a_victims_replies_to_a_blocked_attacker_do_not_block_the_victim():
    now = [0.0]
    fw = Firewall(timeout_s=60, rate=100, out=io.StringIO(), clock=lambda: now[0], own=())
    assert fw.block("198.51.100.9", peer="192.0.2.10") == "added"  # the attacker
    # the victim's late answers to it, seen as flows from the victim
    assert fw.block("192.0.2.10", peer="198.51.100.9") == "reply to a blocked address"
    assert fw.counts["reply to a blocked address"] == 1 and not fw.blocked("192.0.2.10")
    now[0] = 61.0  # the attacker's entry has expired: the same flow is judged on its own again
    assert not fw.blocked("198.51.100.9")
    assert fw.block("192.0.2.10", peer="198.51.100.9") == "added"


def test_apply_runs_argument_lists_without_a_shell(monkeypatch):
    calls = []

    class Done:
        returncode, stderr = 0, ""

    fw = Firewall(apply=True, runner=lambda argv: calls.append(argv) or Done(), timeout_s=30,
                  own=())
    fw.start()
    assert fw.block("192.0.2.7") == "added"
    assert all(isinstance(c, list) for c in calls)
    assert calls[-1] == ["nft", "add", "element", "inet", "ltcn", "blocklist", "{", "192.0.2.7",
                         "timeout", "30s", "}"]


@pytest.mark.parametrize(
    ("address", "outcome"),
    [
        ("fe80::1%eth0", "invalid address"),  # a scope id never reaches nft
        ("fe80::1%} ; delete table inet ltcn", "invalid address"),
        ("fe80::1%$(reboot)", "invalid address"),
        ("255.255.255.255", "not blockable"),
        ("240.0.0.1", "not blockable"),
        ("0.0.0.0", "not blockable"),
        ("::", "not blockable"),
        ("224.0.0.251", "not blockable"),
        ("ff02::fb", "not blockable"),
        ("::1", "not blockable"),
        ("192.168.1.77", "allow-listed"),  # in --allow 192.168.1.0/24
        ("2001:db8:1::5", "allow-listed"),  # in --allow 2001:db8:1::/48
        ("::ffff:192.168.1.9", "allow-listed"),
        ("198.18.77.1", "allow-listed"),  # the gateway's own address
        ("198.18.77.66", "added"),
        ("fe80::1", "added"),  # link-local unicast without a scope id
    ],
)
def test_firewall_blocks_only_unicast_and_never_the_allowed(address, outcome):
    buf = io.StringIO()
    fw = Firewall(timeout_s=60, rate=100, out=buf, allow=("192.168.1.0/24", "2001:db8:1::/48"),
                  own=("198.18.77.1", "fe80::aa"))
    assert fw.block(address) == outcome
    adds = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(adds) == (outcome == "added")
    assert all("%" not in arg for argv in adds for arg in argv)


def test_ipv4_mapped_allow_entries_protect_the_ipv4_sources():
    """Sources are unmapped to IPv4 before they are checked, so an IPv4-mapped --allow entry
    must be too: else it is accepted and protects nobody."""
    fw = Firewall(timeout_s=60, rate=100, out=io.StringIO(), own=(),
                  allow=("::ffff:10.0.0.2", "::ffff:192.168.100.0/120"))
    for address in ("10.0.0.2", "::ffff:10.0.0.2", "192.168.100.77", "::ffff:192.168.100.1"):
        assert fw.block(address) == "allow-listed", address
    assert fw.block("10.0.0.3") == "added" and fw.block("192.168.101.1") == "added"
    # an IPv6 network holding all of ::ffff:0:0/96 holds every (unmapped) IPv4 source too
    assert Firewall(out=io.StringIO(), own=(), allow=("::/0",)).block("198.51.100.4") == "allow-listed"


def test_a_block_nft_refused_is_not_recorded_and_is_tried_again():
    calls, codes = [], [1, 0]

    class Result:
        def __init__(self, code):
            self.returncode, self.stderr = code, "Error: something"

    fw = Firewall(apply=True, runner=lambda argv: calls.append(argv) or Result(codes.pop(0)),
                  timeout_s=30, own=())
    assert fw.block("192.0.2.7") == "failed" and not fw.blocked("192.0.2.7")
    assert fw.block("192.0.2.7") == "added" and fw.blocked("192.0.2.7")
    assert len(calls) == 2 and fw.counts["nft errors"] == 1


def test_own_addresses_come_from_ip_json():
    class Out:
        returncode = 0
        stdout = json.dumps([
            {"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}, {"local": "::1"}]},
            {"ifname": "br-lan", "addr_info": [{"local": "198.18.77.1"}, {"local": "fe80::1"}]},
            {"ifname": "odd", "addr_info": [{"local": "not an address"}, "junk"]},
        ])

    got = own_addresses(lambda argv: Out())
    assert [str(a) for a in got] == ["127.0.0.1", "::1", "198.18.77.1", "fe80::1"]
    assert own_addresses(lambda argv: (_ for _ in ()).throw(OSError("no ip"))) == ()


def test_apply_needs_root_and_nft(model, replay):
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("nft"):
        pytest.skip("root with nft: --apply is allowed here (test_apply_in_a_network_namespace "
                    "runs it for real)")
    with pytest.raises(GatewayError, match="--apply needs"):
        _detect(model, str(replay), firewall="nftables", apply=True)


@pytest.fixture
def netns():
    """A fresh network namespace (its own empty nftables ruleset), deleted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("--apply in a network namespace needs root (ip netns add)")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"--apply in a network namespace needs `{tool}` (apt install iproute2 nftables)"
            )
    name = f"ltcn-test-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_apply_in_a_network_namespace(model, replay, expected, netns, tmp_path):
    """`ltcn detect --apply` as root adds real timed set elements (inside the namespace only)."""
    alerts_path = tmp_path / "a.jsonl"
    cmd = ["ip", "netns", "exec", netns, sys.executable, "-m", "ltcn_kernels.cli", "detect",
           "--model", str(model), "--source", str(replay), "--alerts", str(alerts_path),
           "--threshold", str(expected[0]), "--firewall", "nftables", "--apply",
           "--block-timeout", "600", "--block-rate", "100000", "--stats-every", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "nft failed" not in done.stderr
    alerts = _alerts(alerts_path)
    _check(alerts, expected)
    # every source is blocked, except one whose only alerts are replies to a blocked address
    # (one micro-batch: the sources with the most alerts are judged first)
    many = Counter(a["src_ip"] for a in alerts)
    blockable, blocked = set(), set()
    for a in sorted(alerts, key=lambda a: -many[a["src_ip"]]):
        if ipaddress.ip_address(a["src_ip"]).is_loopback or a.get("dest_ip") in blocked:
            continue
        blockable.add(a["src_ip"])
        blocked.add(a["src_ip"])
    assert blockable and all(a["alert"]["action"] in ("blocked", "allowed") for a in alerts)
    assert sum(a["alert"]["action"] == "blocked" for a in alerts) == len(blockable)

    def nft(*args):
        got = subprocess.run(["ip", "netns", "exec", netns, "nft", *args], capture_output=True,
                             text=True, check=True)
        return got.stdout

    elements = {}
    for name in ("blocklist", "blocklist6"):
        listing = nft("-j", "list", "set", "inet", "ltcn", name)
        (entry,) = [x["set"] for x in json.loads(listing)["nftables"] if "set" in x]
        elements.update({e["elem"]["val"]: e["elem"] for e in entry.get("elem", [])})
    assert set(elements) == blockable
    assert any(":" in a for a in blockable) and any("." in a for a in blockable)  # both families
    assert all(e["timeout"] == 600 and 0 < e["expires"] <= 600 for e in elements.values())
    ruleset = nft("list", "ruleset")
    assert "ip saddr @blocklist drop" in ruleset and "ip6 saddr @blocklist6 drop" in ruleset
    assert "hook input" in ruleset and "hook forward" in ruleset
    host = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    assert "ltcn" not in host.stdout  # the host's own firewall was never touched


def test_alert_rotation_by_size(model, replay, expected, tmp_path):
    whole = tmp_path / "whole.jsonl"
    _detect(model, str(replay), alerts=str(whole), threshold=expected[0])
    size = max(len(s) + 1 for s in whole.read_text().splitlines())
    limit = 3 * size
    out = tmp_path / "r.jsonl"
    res = _detect(model, str(replay), alerts=str(out), threshold=expected[0],
                  alerts_max_bytes=limit, alerts_keep=1000)
    parts = sorted(tmp_path.glob("r.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert res["alert_rotations"] == len(parts) > 1
    assert all(p.stat().st_size <= limit for p in [*parts, out])
    assert "".join(p.read_text() for p in [*parts, out]) == whole.read_text()
    out2 = tmp_path / "k.jsonl"
    _detect(model, str(replay), alerts=str(out2), threshold=expected[0],
            alerts_max_bytes=limit, alerts_keep=2)
    assert sorted(p.name for p in tmp_path.glob("k.jsonl*")) == [
        "k.jsonl",
        "k.jsonl.1",
        "k.jsonl.2",
    ]


def test_cli_errors_are_one_line(tmp_path, model):
    from ltcn_kernels.cli import main

    assert main(["detect", "--model", str(model), "--source", str(tmp_path / "nope.csv"),
                 "--stats-every", "0"]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["detect", "--model", str(model), "--source", str(bad), "--stats-every", "0"]) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "x", "firewall": "iptables"}, "unknown firewall 'iptables'; expected none or nftables"),
        ({"source": "x", "apply": True}, "--apply needs --firewall nftables"),
        ({}, "give one of --source or --interface"),
        ({"source": "x", "interface": "eth0"}, "give one of --source or --interface"),
        ({"source": "x", "firewall": "nftables", "block_timeout": 0}, "--block-timeout must be a whole number"),
        ({"source": "x", "firewall": "nftables", "block_timeout": 10**15}, r"in 1..2592000 \(30 days\)"),
        ({"source": "x", "firewall": "nftables", "block_timeout": 1.5}, "--block-timeout must be a whole number"),
        ({"source": "x", "firewall": "nftables", "block_rate": 0}, "--block-rate must be a number"),
        ({"source": "x", "firewall": "nftables", "block_rate": float("nan")}, "--block-rate must be a number"),
        ({"source": "x", "firewall": "nftables", "block_rate": float("inf")}, "--block-rate must be a number"),
        ({"source": "x", "firewall": "nftables", "allow": ("10.0.0.0/8", "fe80::1%eth0")},
         "--allow 'fe80::1%eth0': not an IP"),
        ({"source": "x", "firewall": "nftables", "allow": ("example.com",)},
         "--allow 'example.com': not an IP"),
        ({"source": "x", "allow": ("10.0.0.0/8",)}, "--allow needs --firewall nftables"),
        ({"source": "x", "alerts_keep": -1}, "--alerts-keep must be in 0..1000"),
        ({"source": "x", "alerts_max_bytes": -5}, "--alerts-max-bytes must be 0"),
        ({"source": "x", "threshold": float("nan")}, r"--threshold must be in \(0, 1\]"),
        ({"source": "x", "speed": float("nan")}, "--speed must be a number"),
        ({"source": "x", "max_gap": float("inf")}, "--max-gap must be a number"),
        ({"source": "x", "stats_every": -1.0}, "--stats-every must be a number"),
        ({"source": "x", "max_seconds": 0.0}, "--max-seconds must be a number"),
        ({"source": "x", "threshold": 0.0}, r"--threshold must be in \(0, 1\]"),
        ({"source": "x", "threshold": 1.5}, r"--threshold must be in \(0, 1\]"),
        ({"source": "x", "micro_batch": 0}, "--micro-batch must be in 1..65536"),
        ({"source": "x", "micro_batch": 65_537}, "--micro-batch must be in 1..65536"),
        ({"source": "x", "speed": 0}, r"--speed must be a number in \(0, 1e\+06\]"),
    ],
)
def test_options_are_checked_when_made(options, message):
    with pytest.raises(GatewayError, match=message):
        DetectOptions(**options)


def test_options_that_need_the_file_system(tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "b.csv").write_text("x\n")
    with pytest.raises(GatewayError, match="--follow takes one file"):
        DetectOptions(source=str(tmp_path), follow=True).source_files()
    assert DetectOptions(source=str(tmp_path)).source_files() == [
        str(tmp_path / "a.csv"),
        str(tmp_path / "b.csv"),
    ]
    assert DetectOptions(source="-", follow=True).source_files() == ["-"]  # stdin: followed anyway
    # The firewall's limits matter only with a firewall.
    assert DetectOptions(source="-", block_timeout=0, block_rate=0).block_timeout == 0


def test_cli_usage_errors_are_one_line(model, replay, capsys):
    from ltcn_kernels.cli import main

    assert main(["detect", "--model", str(model), "--source", str(replay), "--threshold", "2",
                 "--stats-every", "0"]) == 2
    assert capsys.readouterr().err == "ltcn: error: --threshold must be in (0, 1]\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "x.csv", "status_interval": 1}, "--status-interval needs --interface"),
        ({"interface": "eth0", "status_interval": 0}, "--status-interval must be in 1..3600"),
        ({"source": "x.csv", "max_hosts": 0}, "--max-hosts must be in 1..1048576"),
    ],
)
def test_live_options_are_checked(options, message):
    with pytest.raises(GatewayError, match=message):
        DetectOptions(**options)


def test_a_full_disk_loses_alerts_counted_and_the_detector_goes_on(model, replay, expected):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    err = io.StringIO()
    options = DetectOptions(source=str(replay), alerts="/dev/full", threshold=expected[0],
                            micro_batch=16, stats_every=0)
    res = run_detect(model, options, err=err)
    assert res["flows"] == len(classify_files(model, [replay]).order)
    assert res["alerts"] == len(expected[1]) and res["alerts_lost"] == len(expected[1])
    warnings = [s for s in err.getvalue().splitlines() if "cannot write alerts" in s]
    assert len(warnings) == 1 and "still detecting" in warnings[0]  # once a minute at most


def test_a_failed_write_cuts_the_file_back_to_whole_lines(tmp_path):
    from ltcn_kernels.gateway.alertfile import AlertWriter

    path = tmp_path / "a.jsonl"
    w = AlertWriter(str(path), err=io.StringIO())
    w.write_lines(b'{"a":1}\n', [8])
    real = w._f

    class FillsUp:  # the disk fills up in the middle of a batch
        calls = 0

        def write(self, view):
            FillsUp.calls += 1
            if FillsUp.calls == 1:
                return real.write(view[:5])
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(real, name)

    w._f = FillsUp()
    w.write_lines(b'{"b":2}\n{"c":3}\n', [8, 8])
    w._f = real
    w.write_lines(b'{"d":4}\n', [8])  # space again: the next batch is written
    w.close()
    assert path.read_bytes() == b'{"a":1}\n{"d":4}\n'
    assert w.lost == 2 and w.written == 2


def test_a_full_disk_loses_saved_flows_counted_and_the_detector_goes_on(tmp_path, monkeypatch,
                                                                        capsys):
    """--save-flows on a full disk: the lines are counted as lost, the file is cut back to its
    last whole line, one warning says so, the records still reach detection, and the next
    write that fits is written."""
    from ltcn_kernels.gateway import alertfile
    from ltcn_kernels.gateway.flowlog import FLOW_HEADER, FlowLog

    full = False

    class Disk:  # every log file is opened through alertfile.open_output
        def __init__(self, f):
            self.f = f

        def write(self, data):
            if full:
                raise OSError(28, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    real_open = open
    monkeypatch.setattr(alertfile, "open", lambda *a, **k: Disk(real_open(*a, **k)),
                        raising=False)
    path = tmp_path / "flows.csv"
    log = FlowLog(str(path))
    head = FLOW_HEADER + b"\n"
    log.write(head + b"1,a\n")
    full = True
    assert log.write(b"2,b\n3,c\n") == b"2,b\n3,c\n"  # unchanged: detection goes on
    assert log.write(b"4,d\n") == b"4,d\n"
    full = False
    log.write(b"5,e\n")
    log.close()
    assert path.read_bytes() == head + b"1,a\n5,e\n" and log.lost == 3
    warnings = [s for s in capsys.readouterr().err.splitlines() if "cannot write" in s]
    assert len(warnings) == 1 and "flow records lost so far, still detecting" in warnings[0]


@pytest.mark.skipif(shutil.which("argus") is None or not os.path.exists("/dev/full"),
                    reason="needs argus and /dev/full")
def test_save_flows_on_a_full_disk_is_counted_in_the_final_stats(model, tmp_path):
    capture = os.path.join(REPO, "tests", "fixtures", "pcap", "synscan.pcap")
    err = io.StringIO()
    res = run_detect(model, DetectOptions(source=capture, save_flows="/dev/full", stats_every=0),
                     out=io.StringIO(), err=err)
    assert res["flows"] == 1994 and res["saved_flows_lost"] > 1994  # (the header, the records)
    assert sum("cannot write flow records to /dev/full" in s
               for s in err.getvalue().splitlines()) == 1


@pytest.mark.parametrize("keep", [0, 2])
def test_rotation_after_the_alert_file_was_removed_opens_it_anew(tmp_path, keep):
    """Someone removes the alert file while --alerts-max-bytes is set: the next rotation has
    nothing to move, so it opens the file anew (counted as a reopen) and goes on writing."""
    from ltcn_kernels.gateway.alertfile import AlertWriter

    path = tmp_path / "a.jsonl"
    w = AlertWriter(str(path), max_bytes=16, keep=keep, err=io.StringIO())
    w.write_lines(b'{"a":1}\n{"b":2}\n', [8, 8])
    path.unlink()
    for line in (b'{"c":3}\n', b'{"d":4}\n', b'{"e":5}\n'):  # a rotation, then one more
        w.write_lines(line, [8])
    w.close()
    assert path.read_bytes() == b'{"e":5}\n' and w.lost == 0 and w.written == 5
    assert w.reopens == 1 and w.rotations == 1
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != "a.jsonl")
    assert rotated == ([] if keep == 0 else ["a.jsonl.1"])
    if keep:
        assert (tmp_path / "a.jsonl.1").read_bytes() == b'{"c":3}\n{"d":4}\n'


def test_dry_run_commands_on_a_closed_pipe_say_so_and_end_with_the_final_line(model, replay,
                                                                               expected, tmp_path):
    """`ltcn detect ... --firewall nftables | head -1`: once the reader is gone, one line says
    the output closed, and the detector ends with its final statistics (exit 0)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(model), "--source",
         "-", "--firewall", "nftables", "--alerts", str(tmp_path / "a.jsonl"), "--threshold",
         repr(expected[0]), "--stats-every", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    assert json.loads(proc.stdout.readline())[:2] == ["nft", "add"]  # `head -1` read one...
    proc.stdout.close()  # ...and is gone; the records come after
    _, stderr = proc.communicate(replay.read_bytes(), timeout=120)
    err = stderr.decode().splitlines()
    assert proc.returncode == 0, stderr.decode()
    assert not any("Traceback" in s or "Exception ignored" in s for s in err), stderr.decode()
    closed = [s for s in err if "output closed" in s]
    assert len(closed) == 1 and closed[0].startswith("ltcn detect: ")
    assert err[-1].startswith("ltcn detect final: ")


def test_alerts_refuse_a_symbolic_link(model, replay, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "alerts.jsonl"
    link.symlink_to(target)
    with pytest.raises(InputError, match="is a symbolic link; give the file itself"):
        _detect(model, str(replay), alerts=str(link))
    assert target.read_text() == ""


def test_sighup_reopens_the_alert_file_and_keeps_detecting(model, replay, expected, tmp_path):
    """As logrotate does it: move the file away, SIGHUP, and the detector writes a new one;
    no alert is lost or written twice, and the final statistics still come."""
    source = tmp_path / "in.csv"
    raw = replay.read_bytes()
    header, lines = raw.split(b"\n", 1)
    half = lines.split(b"\n")
    cut = len(half) // 2
    source.write_bytes(header + b"\n" + b"\n".join(half[:cut]) + b"\n")
    out = tmp_path / "a.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(model), "--source",
         str(source), "--follow", "--alerts", str(out), "--threshold", repr(expected[0]),
         "--micro-batch", "16", "--stats-every", "0.1", "--max-seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    first = sum(1 for line, *_ in expected[1] if line <= cut + 1)  # (line 1: the header)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not (out.exists() and
                                               out.read_text().count("\n") >= first):
        time.sleep(0.05)
    time.sleep(0.3)
    os.replace(out, tmp_path / "a.jsonl.1")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    with open(source, "ab") as f:
        f.write(b"\n".join(half[cut:]))
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n")
                                               >= len(expected[1]) - first):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    final = [s for s in stderr.decode().splitlines() if s.startswith("ltcn detect final: ")]
    stats = json.loads(final[0].split(": ", 1)[1])
    assert stats["alerts_reopens"] == 1 and "alerts_lost" not in stats
    _check(_alerts(tmp_path / "a.jsonl.1") + _alerts(out), expected)
    assert len(_alerts(tmp_path / "a.jsonl.1")) == first


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_follow_reads_through_a_rotation_as_tail_F(model, replay, expected, tmp_path, how):
    """Half the records, a rotation (logrotate's two ways), the other half: every record is
    classified exactly once, as the batch tools classify the whole file."""
    raw = replay.read_bytes()
    header, body = raw.split(b"\n", 1)
    rows = body.rstrip(b"\n").split(b"\n")
    cut = len(rows) // 2
    path = tmp_path / "flows.csv"
    path.write_bytes(header + b"\n" + b"\n".join(rows[:cut]) + b"\n")
    ready = threading.Event()

    def rotate():
        time.sleep(1.0)  # the detector has read the first half
        if how == "rename":
            os.replace(path, tmp_path / "flows.csv.1")
            time.sleep(0.3)  # a moment with no file at the path
            path.write_bytes(header + b"\n" + b"\n".join(rows[cut:]) + b"\n")
        else:
            with open(path, "r+b") as f:  # copied away, then cut to nothing and written on
                f.truncate(0)
            time.sleep(0.3)
            with open(path, "ab") as f:
                f.write(b"\n".join(rows[cut:]) + b"\n")
        ready.set()

    t = threading.Thread(target=rotate)
    t.start()
    out = tmp_path / "a.jsonl"
    res = _detect(model, str(path), alerts=str(out), threshold=expected[0], follow=True,
                  max_seconds=3.5, poll=0.02, micro_batch=50)
    t.join()
    assert ready.is_set() and res["source_rotations"] == 1 and res["skipped"] == 0
    assert res["flows"] == len(rows)
    _, want, classes = expected
    got = _alerts(out)
    assert len(got) == len(want)
    for a, (_, cls, probs) in zip(got, want, strict=True):
        assert a["ltcn"]["class"] == cls
        np.testing.assert_allclose([a["ltcn"]["probabilities"][c] for c in classes], probs,
                                   atol=2e-5)
    # line numbers are each file's own: after the rotation they start again
    second = [a["ltcn"]["line"] for a, (line, *_) in zip(got, want, strict=True) if line > cut + 1]
    offset = 1 if how == "rename" else 0  # the new file's header
    assert second == [line - cut - 1 + offset for line, *_ in want if line > cut + 1]


def test_micro_batches_are_bounded_in_bytes_and_lines(model, replay, expected, monkeypatch):
    """Long (but legal) lines end a micro-batch early: memory follows MAX_BATCH_BYTES, not
    --micro-batch x line length; no record is lost or split."""
    from ltcn_kernels.gateway import loop, sources

    monkeypatch.setattr(loop, "MAX_BATCH_BYTES", 4096)
    sizes = []
    real = loop.Gateway._batch

    def spy(self, name, header, first, lines):
        sizes.append((len(lines), sum(len(ln) + 1 for ln in lines)))
        return real(self, name, header, first, lines)

    monkeypatch.setattr(loop.Gateway, "_batch", spy)
    out = io.StringIO()
    res = _detect(model, str(replay), out=out, threshold=expected[0], micro_batch=10_000)
    assert res["alerts"] == len(expected[1]) and res["skipped"] == 0
    assert sum(n for n, _ in sizes) == res["flows"] and len(sizes) > 3
    assert all(b <= 4096 for n, b in sizes if n > 1)
    _check([json.loads(s) for s in out.getvalue().splitlines() if s.startswith("{")], expected)
    assert sources.MAX_LINE_BYTES <= 1 << 16


@pytest.mark.parametrize("micro_batch", [1, 16, 10_000])
def test_bad_lines_are_skipped_wherever_they_fall_and_keep_line_numbers(model, replay, expected,
                                                                        tmp_path, micro_batch):
    """A NUL-bearing line, an over-long line and garbage are skipped and counted the same at
    the start of a micro-batch or deep inside one, and every alert keeps its record's line."""
    lines = replay.read_bytes().rstrip(b"\n").split(b"\n")
    header, rows = lines[0], lines[1:]
    bad = {0: b"\x00" * 3 + rows[0][3:], 5: rows[5][:10] + b"\x00" + rows[5][10:],
           40: b"x" * 70_000, 41: b"y" * 200_000, 90: rows[90].replace(b",", b";")}
    out_rows, where = [], {}
    for k, row in enumerate(rows):
        if k in bad:
            out_rows.append(bad[k])
        where[k + 2] = len(out_rows) + 2  # original file line -> line in the new file
        out_rows.append(row)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\n".join([header, *out_rows]) + b"\n")
    out = tmp_path / "a.jsonl"
    res = _detect(model, str(path), alerts=str(out), threshold=expected[0], micro_batch=micro_batch)
    assert res["skipped_by_reason"]["bad line: NUL byte"] == 2
    assert res["skipped_by_reason"]["line too long"] == 2
    assert res["skipped"] == 5 and res["flows"] == len(rows)
    got = _alerts(out)
    _, want, _ = expected
    assert [a["ltcn"]["line"] for a in got] == [where[line] for line, *_ in want]


def test_a_bad_first_line_on_stdin_is_skipped_not_the_end(model, replay, expected, tmp_path):
    raw = replay.read_bytes()
    stdin = io.BytesIO(b"\x00garbage\x01\n" + b"not,a,header\n" + raw)
    out = tmp_path / "a.jsonl"
    res = _detect(model, "-", stdin=stdin, alerts=str(out), threshold=expected[0])
    assert res["skipped"] == 2 and res["alerts"] == len(expected[1])
    assert [a["ltcn"]["line"] for a in _alerts(out)] == [line + 2 for line, *_ in expected[1]]
    with pytest.raises(DataFormatError, match="no line of the first 1,000"):
        _detect(model, "-", stdin=io.BytesIO(b"nonsense\n" * 1500), threshold=0.5)


@pytest.mark.parametrize("micro_batch", [1, 7])
def test_a_headerless_stream_reads_every_record_whatever_starts_a_batch(model, replay, tmp_path,
                                                                        micro_batch):
    """Records of uncommon protocols (rarp, llc, a number) first in the stream and first in
    micro-batches: none is taken for the stream's format, each is classified as it would be
    under a header, on the line it is on."""
    lines = replay.read_bytes().rstrip(b"\n").split(b"\n")
    header, rows = lines[0], lines[1:80]
    proto = header.split(b",").index(b"proto")
    for k, name in ((0, b"rarp"), (1, b"llc"), (7, b"rarp"), (14, b"132"), (21, b"ipx/spx")):
        f = rows[k].split(b",")
        f[proto] = name
        rows[k] = b",".join(f)
    with_header, without = tmp_path / "h.jsonl", tmp_path / "n.jsonl"
    a = _detect(model, "-", stdin=io.BytesIO(b"\n".join([header, *rows]) + b"\n"),
                alerts=str(with_header), threshold=0.01, micro_batch=micro_batch)
    b = _detect(model, "-", stdin=io.BytesIO(b"\n".join(rows) + b"\n"), alerts=str(without),
                threshold=0.01, micro_batch=micro_batch)
    assert a["flows"] == b["flows"] == len(rows) and a["skipped"] == b["skipped"] == 0
    got, want = _alerts(without), _alerts(with_header)
    assert len(want) > 10 and [x["ltcn"]["line"] + 1 for x in got] == [x["ltcn"]["line"] for x in want]
    assert [x["ltcn"]["p_attack"] for x in got] == [x["ltcn"]["p_attack"] for x in want]
    assert detect("-", head=rows[0] + b"\n").layout.name == "entire"


def test_in_one_batch_the_flood_source_is_blocked_not_its_victim(model, replay, tmp_path):
    """The victim's reply comes first in the micro-batch, the attacker's flood after it: the
    source with the most alerting flows is judged first, so the reply is 'a reply to a
    blocked address' and the victim stays reachable."""
    lines = replay.read_text().splitlines()
    cols = lines[0].split(",")
    src, dst = cols.index("saddr"), cols.index("daddr")

    def row(i, a, b):
        f = lines[1 + i].split(",")
        f[src], f[dst] = a, b
        return ",".join(f)

    attacker, victim = "198.51.100.66", "192.0.2.13"
    rows = [row(0, victim, attacker), *(row(i, attacker, victim) for i in range(1, 6))]
    path = tmp_path / "batch.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    calls = []

    class Done:
        returncode, stderr = 0, ""

    options = DetectOptions(source=str(path), firewall="nftables", apply=True, threshold=1e-6,
                            micro_batch=100, stats_every=0, alerts=str(tmp_path / "a.jsonl"))
    res = run_detect(model, options, err=io.StringIO(), runner=lambda argv: calls.append(argv) or Done())
    added = [c[c.index("{") + 1] for c in calls if c[:3] == ["nft", "add", "element"]]
    assert added == [attacker] and res["alerts"] == 6
    assert res["firewall"]["reply to a blocked address"] == 1


def test_a_firewall_dry_run_says_so(model, replay):
    err = io.StringIO()
    options = DetectOptions(source=str(replay), stats_every=0, firewall="nftables")
    run_detect(model, options, out=io.StringIO(), err=err)
    assert "ltcn detect: firewall DRY RUN: the nft commands are printed" in err.getvalue()
    err = io.StringIO()
    run_detect(model, DetectOptions(source=str(replay), stats_every=0), out=io.StringIO(), err=err)
    assert "DRY RUN" not in err.getvalue()
