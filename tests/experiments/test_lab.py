"""The gateway lab: scenario files, the schedule, the labels, and one real recording.

The recording (`test_smoke_recording`) builds the namespaces, runs every benign activity and
every attack of ``smoke.toml`` for a minute, and checks what a user of the recording relies
on: every class present, benign traffic from every server, the Argus flows holding exactly
the packets tcpdump captured, the file readable by the BoT-IoT reader, nothing left behind.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lab import label_flows, load_scenario, pcap_packet_count, record, schedule
from lab.scenario import GRACE_S, benign_times, scenario_names
from lab.services import missing_tools
from lab.topology import Topology
from lab.traffic import ATTACKS, BENIGN, attack_kind, benign_activity

from conftest import REPO
from ltcn_kernels.errors import UsageError
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.io.pcap import BOT_IOT_COLUMNS, argus_available

EXPERIMENTS = REPO / "experiments"  # where the lab lives


# -- scenarios -------------------------------------------------------------------------------
def test_shipped_scenarios_load_and_name_known_things():
    assert {"smoke", "iot"} <= set(scenario_names())
    for name in scenario_names():
        s = load_scenario(name)
        assert s.description and s.attacks and s.benign
        assert set(s.benign) <= set(BENIGN)
    # every attack kind and every benign activity is exercised by the smoke scenario
    smoke = load_scenario("smoke")
    assert {a.kind for a in smoke.attacks} == set(ATTACKS)
    assert set(smoke.benign) == set(BENIGN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices = 0", "devices: expected a number in [1, 50]"),
        ("colour = 'red'", "colour: unknown key; expected one of"),
        ("[benign]\nmqtt = 'often'", "benign.mqtt: expected a number"),
        ("[benign]\ntelnet = 3", "benign.telnet: unknown activity; expected one of mqtt"),
        ("[[attack]]\nkind = 'smurf'", "attack[0].kind: expected one of dos_tcp"),
        ("[[attack]]\nkind = 'dos_tcp'\nrate = 1e9", "attack[0].rate: expected a number in"),
        ("[[attack]]\nkind = 'dos_tcp'\ncolour = 1", "attack[0].colour: unknown key"),
        ("devices = [", "Invalid"),
    ],
)
def test_bad_scenario_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        load_scenario(str(path))
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_command_line_lists_scenarios_and_a_bad_one_is_one_line(tmp_path):
    """``python -m lab`` (run from the repository with experiments/ on the path, as make lab
    does): the scenario list, and a bad scenario as one line with exit 2 (no root needed)."""
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS)}
    run = [sys.executable, "-m", "lab"]
    listed = subprocess.run([*run, "scenarios"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} >= {"smoke", "iot"}
    bad = subprocess.run([*run, "record", "--scenario", "nosuch", "--seconds", "1", "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "python -m lab: error: unknown scenario 'nosuch'; expected a TOML file or one of iot, smoke"]


def test_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(UsageError, match="one of iot, smoke"):
        load_scenario("nope")


_VALUES = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=5),
                    st.booleans(), st.lists(st.integers(), max_size=2))
_KEYS = st.sampled_from(["devices", "bots", "warmup", "description", "benign", "attack", "x"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_any_scenario_table_loads_or_raises_usage_error(tmp_path_factory, table):
    import json

    lines = []
    for key, value in table.items():
        lines.append(f"{key} = {json.dumps(value) if not isinstance(value, bool) else str(value).lower()}")
    path = tmp_path_factory.mktemp("s") / "s.toml"
    path.write_text("\n".join(lines).replace("NaN", "nan").replace("Infinity", "inf"))
    try:
        s = load_scenario(str(path))
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert 1 <= s.devices <= 50 and 1 <= s.bots <= 8


def test_schedule_is_seeded_in_order_and_leaves_grace_between_attacks():
    s = load_scenario("iot")
    a = schedule(s, 600, np.random.default_rng(3))
    b = schedule(s, 600, np.random.default_rng(3))
    assert a == b and len(a) == sum(x.repeat for x in s.attacks)
    assert a != schedule(s, 600, np.random.default_rng(4))
    assert a[0].start >= s.warmup
    for prev, nxt in itertools.pairwise(a):
        assert prev.start + prev.seconds + GRACE_S <= nxt.start
    assert a[-1].start + a[-1].seconds + GRACE_S <= 600
    with pytest.raises(UsageError, match="need --seconds >="):
        schedule(s, 60, np.random.default_rng(0))


def test_benign_times_follow_the_scenario_rates():
    s = load_scenario("smoke")
    runs = benign_times(s, 3000, np.random.default_rng(0))
    assert [r[0] for r in runs] == sorted(r[0] for r in runs)
    assert all(0 <= t < 3000 for t, _, _ in runs)
    for activity, mean in s.benign.items():
        n = sum(1 for _, _, a in runs if a == activity)
        expected = s.devices * 3000 / mean
        assert abs(n - expected) < 5 * np.sqrt(expected), activity


def test_attack_commands_are_bounded_argument_lists():
    """Every attack's processes stop by themselves: a packet count, a request range, a time
    limit or a finite word list, never an open-ended flood."""
    topo = Topology(devices=3, bots=2, tag="0")

    class FakeServices:  # the files the builders name
        ssh_key, wordlist, exfil_file = Path("k"), Path("w"), Path("f")

    rng = np.random.default_rng(0)
    bounds = {"hping3": "-c", "curl": "-m", "nmap": "--host-timeout", "slowhttptest": "-l",
              "hydra": "-P"}
    for name, kind in ATTACKS.items():
        sources = topo.bot_hosts if kind.origin == "bots" else [topo.host("inside")]
        target = topo.device_hosts[0]
        commands = kind.build(topo, FakeServices, sources, target, 4, 200.0, rng)
        assert commands, name
        for host, argv in commands:
            assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
            assert host in {h.name for h in topo.hosts}
            tool = os.path.basename(argv[0])
            if tool in bounds:
                assert bounds[tool] in argv, (name, argv)
        floods = [(h, a[a.index("-p") + 1]) for h, a in commands if a[0].endswith("hping3")]
        for src in sources if floods else []:  # two distinct service ports from each flooder
            ports = [p for h, p in floods if h == src.name]
            assert len(ports) == 2 and len(set(ports)) == 2, (name, ports)
    with pytest.raises(ValueError, match="expected one of dos_tcp"):
        attack_kind("smurf")
    with pytest.raises(ValueError, match="expected one of mqtt"):
        benign_activity("telnet")


# -- labels ----------------------------------------------------------------------------------
def _flow(stime: float, src: str, dst: str, proto: str = "tcp", pkts: int = 3) -> list[str]:
    row = dict.fromkeys(BOT_IOT_COLUMNS, "0")
    row.update(stime=f"{stime}", ltime=f"{stime + 1}", saddr=src, daddr=dst, proto=proto,
               pkts=str(pkts), attack="", category="", subcategory="", flgs="e", state="CON",
               sport="1000", dport="80")
    return [row[c] for c in BOT_IOT_COLUMNS]


def test_labels_come_from_who_and_when(tmp_path):
    raw, out = tmp_path / "raw.csv", tmp_path / "flows.csv.gz"
    bot, inside, dev, cloud = "198.19.77.66", "198.18.77.66", "198.18.77.10", "198.19.77.10"
    rows = [
        _flow(100.0, dev, cloud),  # benign
        _flow(110.2, bot, dev),  # in the DDoS window
        _flow(111.0, dev, bot),  # reply, in the window
        _flow(112.0, inside, dev),  # in the scan window
        _flow(130.0, bot, dev),  # attacker outside every window: left out
        _flow(110.5, bot, dev, proto="arp"),  # attacker's ARP: left out
        _flow(113.0, dev, cloud),  # benign during an attack
    ]
    with open(raw, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(BOT_IOT_COLUMNS)
        w.writerows(rows)
    ran = {"events": [
        {"start_unix": 110.0, "end_unix": 111.5, "attackers": [bot], "label": "DDoS/TCP"},
        {"start_unix": 111.8, "end_unix": 113.0, "attackers": [inside],
         "label": "Reconnaissance/Service_Scan"},
    ]}
    counts, packets, dropped = label_flows(raw, out, ran, [bot, inside])
    assert counts == {"Normal": 2, "DDoS/TCP": 2, "Reconnaissance/Service_Scan": 1}
    assert dropped == {"attacker outside its windows": 1, "attacker ARP": 1}
    assert packets == 3 * len(rows)
    with gzip.open(out, "rt") as f:
        labelled = list(csv.DictReader(f))
    assert [r["category"] for r in labelled] == ["Normal", "DDoS", "DDoS", "Reconnaissance",
                                                  "Normal"]
    assert [r["attack"] for r in labelled] == ["0", "1", "1", "1", "0"]
    assert [r["pkSeqID"] for r in labelled] == ["1", "2", "3", "4", "5"]


def test_pcap_packet_count(tmp_path):
    path = tmp_path / "x.pcap"
    rng = np.random.default_rng(0)
    sizes = rng.integers(14, 200, size=37)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, n in enumerate(sizes):
            f.write(struct.pack("<IIII", i, 0, int(n), int(n) + 10))
            f.write(rng.bytes(int(n)))
    assert pcap_packet_count(path) == 37


# -- one real recording ----------------------------------------------------------------------
def _lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if not argus_available():
        return "the lab needs Argus (make system-deps)"
    missing = missing_tools()
    if missing or shutil.which("ip") is None:
        return f"the lab needs {', '.join(missing) or 'iproute2'} (make system-deps)"
    probe = subprocess.run(["ip", "netns", "add", f"ltcn-probe-{os.getpid()}"],
                           capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", f"ltcn-probe-{os.getpid()}"], capture_output=True)
    if probe.returncode != 0:
        return "this machine does not allow network namespaces"
    return None


@pytest.mark.skipif(_lab_missing() is not None, reason=str(_lab_missing()))
def test_smoke_recording(tmp_path):
    out = tmp_path / "rec"
    m = record("smoke", 60, 1, out)
    scenario = load_scenario("smoke")
    expected = {"Normal"} | {attack_kind(a.kind).label for a in scenario.attacks}
    assert set(m["labels"]) == expected, m["labels"]
    assert m["labels"]["Normal"] >= 150  # ~330 benign runs in a minute
    for label, n in m["labels"].items():
        assert n >= 1, label
    # Argus accounts for every captured packet (IPv6 is off, so nothing is outside a flow)
    assert m["capture"]["packets"] > 1000
    assert m["argus_packets"] == m["capture"]["packets"]
    assert m["benign_skipped"] == 0 and m["attacks"] == len(scenario.attacks)
    assert m["flows"] == sum(m["labels"].values())
    # the file is a BoT-IoT full-schema file: the project's reader takes it as it is
    table = read_flows(out / "flows.csv.gz", "bot-iot", drop_duplicates=False, progress=False)
    assert len(table) == m["flows"]
    names = np.asarray(table.label.vocab, dtype=object)[table.label.codes]
    values, counts = np.unique(names.astype(str), return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == m["labels"]
    # benign traffic reached every kind of server (their ports, with answers)
    with gzip.open(out / "flows.csv.gz", "rt") as f:
        normal = [r for r in csv.DictReader(f) if r["category"] == "Normal"]
    ports = {r["dport"] for r in normal if int(r["dpkts"]) > 0}
    assert {"1883", "8080", "443", "80", "22", "5683", "53", "123"} <= ports
    # DHCP: the devices' broadcasts, and the gateway's dnsmasq answering each device
    assert any(r["daddr"] == "255.255.255.255" and r["dport"] == "67" for r in normal)
    assert any(r["sport"] == "67" and r["dport"] == "68" for r in normal)
    # nothing of the lab is left behind
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ltcn-{os.getpid()}-" not in names
    assert (out / "manifest.json").exists() and (out / "events.json").exists()
    # the live forms: the same packets as unmerged status records, every label still there
    for name, form in m["live_forms"].items():
        assert form["packets"] == m["capture"]["packets"], name
        assert form["records"] >= m["flows"] and set(form["labels"]) == expected, name
        assert len(read_flows(out / name, "bot-iot", drop_duplicates=False, progress=False)) == form["records"]


@pytest.mark.parametrize("argv, message", [
    (["--seconds", "nan"], "not a number of seconds in (0, 86400]"),
    (["--seconds", "inf"], "not a number of seconds in (0, 86400]"),
    (["--seconds", "1e9"], "not a number of seconds in (0, 86400]"),  # (it used to hang)
    (["--seconds", "5", "--seed", "-1"], "not a whole number in 0..4294967295"),
])
def test_lab_arguments_are_one_line_before_anything_starts(argv, message, capsys):
    from lab.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["record", "--scenario", "iot", "--out", "/nonexistent/x", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_lab_out_that_is_a_file_is_one_line(tmp_path, capsys):
    from lab.__main__ import main

    out = tmp_path / "file"
    out.write_text("")
    with pytest.raises(SystemExit):
        main(["record", "--scenario", "iot", "--seconds", "5", "--out", str(out)])
    assert "a file, not a folder" in capsys.readouterr().err
