"""The field benchmark's harness (issue 26, item 4): replaying attack captures into a site
capture (after its learning period, on addresses of its subnet it never uses, nothing lost or
added but the non-IPv4 packets), labelling flows by the mapped addresses, matching alerts to
flows by line, and the manifest's checks. Small captures built here, and two real fixtures."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from field.manifest import ManifestError, load_manifest, sha256_of
from field.replay import (
    TOOLS,
    AttackCapture,
    PlacedAttack,
    ReplayError,
    address_roles,
    allocate_addresses,
    attack_slots,
    capture_info,
    free_addresses,
    infer_subnet,
    ipv4_addresses,
    label_flow,
    replay_into_site,
)
from field.score import LabelledFlows, count_alerts, direction, read_alert_lines

from conftest import REPO, SHARED_DATA

FIXTURES = REPO / "tests" / "fixtures" / "pcap"
needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"the replay needs {', '.join(TOOLS)} (apt install wireshark-common tcpreplay tcpdump)",
)


# ------------------------------------------------------------------ tiny captures, built here
def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def _udp_frame(src: str, dst: str) -> bytes:
    payload = b"ping"
    udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, _ip(src), _ip(dst))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp  # checksums left 0: --fixcsum


def _arp_frame() -> bytes:
    return b"\xff" * 6 + b"\x04" * 6 + b"\x08\x06" + bytes(28)


def _write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for t, frame in packets:
            f.write(struct.pack("<IIII", int(t), round((t % 1) * 1e6), len(frame), len(frame)))
            f.write(frame)
    return path


def _write_sll_pcap(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """Linux cooked (SLL) packets: a phone's or an `any`-interface capture."""
    _write_pcap(path, [(t, frame[14:]) for t, frame in packets])  # Ethernet header off
    data = bytearray(path.read_bytes())
    data[20:24] = struct.pack("<I", 113)
    out, at = bytearray(data[:24]), 24
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800)
    while at < len(data):
        sec, usec, n, _ = struct.unpack_from("<IIII", data, at)
        out += struct.pack("<IIII", sec, usec, n + 16, n + 16) + sll + data[at + 16:at + 16 + n]
        at += 16 + n
    path.write_bytes(bytes(out))
    return path


def _packet_lines(path: Path) -> list[tuple[float, str]]:
    out = subprocess.run(["tcpdump", "-nn", "-tt", "-vv", "-r", str(path)], capture_output=True,
                         text=True, check=True).stdout
    # -vv prints each IPv4 packet on two lines: the time stamp, then the addresses
    joined = re.sub(r"\n\s+", " ", out)
    return [(float(line.split(" ", 1)[0]), line) for line in joined.splitlines() if line]


@pytest.fixture
def tiny(tmp_path):
    """A site on 192.168.7.0/24 (it uses .1, .10 and .254) over t = 1000..1099 s, and an attack
    of 5 IPv4 packets 10.0.0.1 -> 10.0.0.2 plus one ARP packet at t = 50..55 s."""
    site = [(1000.0 + i, _udp_frame("192.168.7.10", "192.168.7.1" if i % 2 else "192.168.7.254"))
            for i in range(100)]
    attack = [(50.0 + i, _udp_frame("10.0.0.1", "10.0.0.2")) for i in range(5)]
    attack.append((55.0, _arp_frame()))
    return (_write_pcap(tmp_path / "site.pcap", site),
            _write_pcap(tmp_path / "attack.pcap", attack))


# ------------------------------------------------------------------ replay
@needs_tools
def test_replay_lands_after_learning_on_unused_addresses_and_keeps_every_ipv4_packet(tiny, tmp_path):
    site, attack = tiny
    used = ipv4_addresses(site)
    assert used == ["192.168.7.1", "192.168.7.10", "192.168.7.254"]
    replay = replay_into_site(site, "192.168.7.0/24", [AttackCapture("a", "scan", attack)],
                              tmp_path / "work", site_addresses=used, learn_fraction=0.3)
    assert replay.learn_end == pytest.approx(1000 + 0.3 * 99)
    (placed,) = replay.attacks
    # the highest host addresses the site does not use (.255 is the broadcast, .254 is taken)
    assert placed.address_map == {"10.0.0.1": "192.168.7.253", "10.0.0.2": "192.168.7.252"}
    assert (placed.packets, placed.packets_ipv4, placed.dropped_non_ipv4) == (6, 5, 1)
    assert replay.merged_packets == 100 + 5 == capture_info(replay.merged)["packets"]
    packets = _packet_lines(Path(replay.merged))
    moved = [(t, line) for t, line in packets if re.search(r"192\.168\.7\.25[23]\b", line)]
    assert len(moved) == 5 and len(packets) == 105
    assert all(t >= replay.learn_end for t, _ in moved)
    assert [t for t, _ in moved] == pytest.approx([placed.start + i for i in range(5)], abs=1e-5)
    assert all("10.0.0." not in line for _, line in packets)
    assert all("bad" not in line for _, line in moved)  # --fixcsum fixed the IP checksums


@needs_tools
def test_replay_of_a_real_attack_capture_into_a_real_site(tmp_path):
    site, attack = FIXTURES / "no_flood.pcap", FIXTURES / "trickbot.pcap"
    used = ipv4_addresses(site)
    replay = replay_into_site(site, "192.168.1.0/24",
                              [AttackCapture("tb", "C2", attack, "10.12.29.101")],
                              tmp_path / "work", site_addresses=used)
    (placed,) = replay.attacks
    assert set(placed.address_map) == {"10.12.29.101", "82.118.225.196"}
    assert not set(placed.address_map.values()) & set(used)
    assert all(a.startswith("192.168.1.") for a in placed.address_map.values())
    assert placed.attack_addresses == [placed.address_map["10.12.29.101"]]
    assert replay.merged_packets == capture_info(site)["packets"] + placed.packets_ipv4
    assert replay.learn_end < placed.start < placed.end <= replay.site_end


@needs_tools
def test_what_a_full_subnet_cannot_hold_goes_to_the_benchmarking_block(tiny, tmp_path):
    site, attack = tiny
    replay = replay_into_site(site, "192.168.7.252/30", [AttackCapture("a", "scan", attack,
                                                                       "10.0.0.2")],
                              tmp_path / "work", site_addresses=["192.168.7.253"])
    (placed,) = replay.attacks
    # the /30 has one free host (.254): the attacker gets it, the victim goes to 198.18.0.0/15
    assert placed.address_map == {"10.0.0.2": "192.168.7.254", "10.0.0.1": "198.18.0.1"}
    assert placed.outside_subnet == 1 and placed.attack_addresses == ["192.168.7.254"]
    assert replay.merged_packets == 105


@needs_tools
def test_a_capture_with_more_addresses_than_one_tcprewrite_pass_takes(tiny, tmp_path):
    site, _ = tiny
    sources = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(600)]  # spoofed-source flood
    attack = _write_pcap(tmp_path / "flood.pcap",
                         [(10.0 + i / 1000, _udp_frame(a, "10.0.0.1")) for i, a in enumerate(sources)])
    replay = replay_into_site(site, "192.168.7.0/24", [AttackCapture("f", "flood", attack)],
                              tmp_path / "work", site_addresses=ipv4_addresses(site))
    (placed,) = replay.attacks
    assert len(placed.address_map) == 601 == len(set(placed.address_map.values()))
    assert placed.outside_subnet == 601 - 251  # .1-.254 less the site's three
    assert set(ipv4_addresses(replay.merged)) == {*ipv4_addresses(site),
                                                  *placed.address_map.values()}


def test_every_capture_gets_fresh_addresses_attackers_first():
    maps = allocate_addresses("10.9.8.0/29", ["10.9.8.6"], [
        (["1.1.1.1", "2.2.2.2", "10.9.8.5"], "2.2.2.2"),  # 10.9.8.5: an original address
        (["3.3.3.3", "4.4.4.4"], None),
    ])
    # free hosts of the /29: .1-.6 less .6 (the site's) and .5 (an attack capture's own)
    assert maps[0]["2.2.2.2"] == "10.9.8.4" and maps[1]["3.3.3.3"] == "10.9.8.3"
    assert maps[0]["1.1.1.1"] == "10.9.8.2" and maps[0]["10.9.8.5"] == "10.9.8.1"
    assert maps[1]["4.4.4.4"] == "198.18.0.1"
    new = [b for m in maps for b in m.values()]
    assert len(set(new)) == len(new) == 5


@needs_tools
def test_an_attack_on_another_link_type_is_put_on_the_sites(tiny, tmp_path):
    site, _ = tiny
    attack = _write_sll_pcap(tmp_path / "phone.pcap",
                             [(50.0 + i, _udp_frame("10.0.0.1", "10.0.0.2")) for i in range(4)])
    assert capture_info(attack)["encapsulation"] == "linux-sll"
    replay = replay_into_site(site, "192.168.7.0/24", [AttackCapture("p", "c2", attack)],
                              tmp_path / "work", site_addresses=ipv4_addresses(site))
    (placed,) = replay.attacks
    assert placed.converted_from == "linux-sll" and replay.merged_packets == 104
    moved = [line for _, line in _packet_lines(Path(replay.merged)) if "192.168.7.253" in line]
    assert len(moved) == 4 and all("UDP, length 4" in line for line in moved)


def test_free_addresses_are_the_highest_hosts_not_used():
    assert free_addresses("10.1.2.0/24", ["10.1.2.254", "fe80::1", "aa:bb:cc:dd:ee:ff"], 2) == [
        "10.1.2.253", "10.1.2.252"]
    with pytest.raises(ReplayError, match="IPv4 addresses only"):
        free_addresses("2001:db8::/64", [], 1)


def test_a_missing_subnet_is_the_24_of_the_busiest_private_address():
    counts = {"192.168.5.7": 40, "8.8.8.8": 90, "10.0.0.2": 3, "224.0.0.251": 50,
              "fe80::1": 70, "169.254.1.1": 60}
    assert infer_subnet(counts) == "192.168.5.0/24"
    assert infer_subnet({"8.8.8.8": 1, "aa:bb:cc:dd:ee:ff": 2}) is None


def test_attacks_follow_each_other_after_learning_and_never_overlap():
    starts = attack_slots(100.0, 200.0, [10.0, 80.0, 5.0], gap=1.0)
    assert starts[0] == 101.0  # just after learning
    assert starts[1] == pytest.approx(100 + 100 / 3 + 1)  # its slot
    assert starts[2] == pytest.approx(starts[1] + 80 + 1)  # after the long one, not its slot
    ends = [s + d for s, d in zip(starts, [10.0, 80.0, 5.0], strict=True)]
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False))


# ------------------------------------------------------------------ labels and counts
def _placed(family: str, mapping: dict[str, str], attacker: str | None) -> PlacedAttack:
    return PlacedAttack(id=family, family=family, path="x", start=0, end=0, shift_s=0, packets=0,
                        packets_ipv4=0, dropped_non_ipv4=0, address_map=mapping, attacker=attacker,
                        attack_addresses=[mapping[attacker]] if attacker else list(mapping.values()))


def test_flows_are_labelled_by_the_mapped_addresses():
    roles = address_roles([
        _placed("flood", {"1.1.1.1": "10.0.0.254", "2.2.2.2": "10.0.0.253",
                          "3.3.3.3": "10.0.0.252"}, attacker="1.1.1.1"),
        _placed("scan", {"4.4.4.4": "10.0.0.251", "5.5.5.5": "10.0.0.250"}, attacker=None),
    ])
    assert label_flow("10.0.0.254", "10.0.0.253", roles) == ("attack", "flood", "flood")
    assert label_flow("10.0.0.253", "10.0.0.254", roles) == ("attack", "flood", "flood")
    # the flood capture's victim talking to its own DNS: neither the site's nor the attack
    assert label_flow("10.0.0.253", "10.0.0.252", roles) == ("attack-background", "flood", "flood")
    assert label_flow("10.0.0.7", "10.0.0.250", roles) == ("attack", "scan", "scan")
    assert label_flow("10.0.0.7", "8.8.8.8", roles) == ("benign", None, None)
    assert label_flow("aa:bb:cc:dd:ee:ff", "ff:ff:ff:ff:ff:ff", roles)[0] == "benign"


def test_the_direction_of_a_flow_names_multicast_ipv6_and_layer_2_apart():
    net = ipaddress.IPv4Network("192.168.1.0/24")
    assert direction("192.168.1.5", "8.8.8.8", net) == "out"
    assert direction("8.8.8.8", "192.168.1.5", net) == "in"
    assert direction("192.168.1.5", "192.168.1.1", net) == "local"
    assert direction("192.168.1.5", "239.255.255.250", net) == "multicast"
    assert direction("192.168.1.5", "192.168.1.255", net) == "multicast"
    assert direction("fe80::1", "fe80::2", net) == "ipv6"
    assert direction("aa:bb:cc:dd:ee:ff", "ff:ff:ff:ff:ff:ff", net) == "l2"


def test_counts_measure_only_after_learning_and_match_alerts_by_line(tmp_path):
    flows = LabelledFlows(
        csv="merged.csv", line=np.arange(2, 9), start=np.array([0, 5, 10, 11, 12, 13, 14.0]),
        role=np.array(["benign", "benign", "benign", "benign", "attack", "attack",
                       "attack-background"], dtype=object),
        family=np.array(["", "", "", "", "scan", "scan", "scan"], dtype=object))
    alerts = tmp_path / "alerts.jsonl"
    events = [{"event_type": "alert", "ltcn": {"source_file": "merged.csv", "line": n}}
              for n in (2, 4, 5, 5, 6, 8)]  # line 5 twice: one flow, two events
    alerts.write_text("\n".join(json.dumps(e) for e in
                                [*events, {"event_type": "stats"}]) + "\n")
    lines = read_alert_lines(alerts, "/some/where/merged.csv")
    c = count_alerts(flows, lines, learn_end=10.0, measured_hours=2.0)
    assert (c["benign_flows"], c["false_alerts"], c["false_alert_events"]) == (2, 2, 3)
    assert c["false_alert_events_per_hour"] == 1.5
    assert c["families"] == {"scan": {"flows": 2, "alerted": 1, "flows_in_learning": 0}}
    assert (c["learning_flows"], c["learning_alerts"]) == (2, 1)
    assert (c["background_flows"], c["background_alerted"]) == (1, 1)
    with pytest.raises(ValueError, match=r"expected a line of other\.csv"):
        read_alert_lines(alerts, "other.csv")


# ------------------------------------------------------------------ manifest
def test_manifest_checks_files_and_checksums(tmp_path):
    (tmp_path / "a.pcap").write_bytes(b"benign")
    (tmp_path / "b.pcap").write_bytes(b"attack")
    entries = [
        {"id": "a", "role": "benign", "site": "home", "path": "a.pcap",
         "sha256": sha256_of(tmp_path / "a.pcap"), "local_subnet": "192.168.1.0/24",
         "source": "https://example.org"},
        {"id": "b", "role": "attack", "family": "scan", "path": "b.pcap",
         "sha256": sha256_of(tmp_path / "b.pcap"), "attacker": "10.0.0.1"},
    ]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"captures": entries}))
    site, attack = load_manifest(manifest, tmp_path)
    assert (site.site, site.extra, attack.family, attack.attacker) == (
        "home", {"source": "https://example.org"}, "scan", "10.0.0.1")
    (tmp_path / "b.pcap").write_bytes(b"changed")
    with pytest.raises(ManifestError, match=r"entry 2 \('b'\): .*does not match its sha256"):
        load_manifest(manifest, tmp_path)
    manifest.write_text(json.dumps([{**entries[0], "local_subnet": "home"}, entries[1]]))
    with pytest.raises(ManifestError, match="not an IPv4 network"):
        load_manifest(manifest, tmp_path)
    manifest.write_text(json.dumps([entries[0], {**entries[1], "local_subnet": "10.0.0.1"}]))
    with pytest.raises(ManifestError, match="attack capture has no local_subnet"):
        load_manifest(manifest, tmp_path)
    # 'file' is the data folder's copy where 'path' names the file in its source repository
    (tmp_path / "b.pcap").write_bytes(b"attack")
    site_entry = {k: v for k, v in entries[0].items() if k != "local_subnet"}
    manifest.write_text(json.dumps([{**site_entry, "path": "repo/dir/x.pcapng", "file": "a.pcap"},
                                    entries[1]]))
    site, _ = load_manifest(manifest, tmp_path)
    assert (site.file, site.local_subnet, site.extra["path"]) == ("a.pcap", None, "repo/dir/x.pcapng")


def test_the_dev_manifest_is_well_formed():
    body = json.loads((REPO / "experiments" / "field" / "dev_captures.json").read_text())
    data = SHARED_DATA / "pcap"
    if not data.is_dir():  # the entries alone, where the development captures are absent
        assert {c["role"] for c in body["captures"]} == {"benign", "attack"}
        return
    entries = load_manifest(REPO / "experiments" / "field" / "dev_captures.json", data)
    assert len([e for e in entries if e.role == "benign"]) == 3


# ------------------------------------------------------------------ the whole command
@needs_tools
def test_run_writes_the_table_for_a_small_site_and_attack(tmp_path):
    from ltcn_kernels.io.pcap import argus_available
    if not argus_available():
        pytest.skip("ltcn flows needs Argus (argus, racluster)")
    model = REPO / "results" / "lab" / "model.ltcn"
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([
        {"id": "desktop", "role": "benign", "path": "no_flood.pcap", "local_subnet": "192.168.1.0/24",
         "sha256": sha256_of(FIXTURES / "no_flood.pcap")},
        {"id": "scan", "role": "attack", "family": "scan", "path": "synscan.pcap",
         "attacker": "172.16.0.8", "sha256": sha256_of(FIXTURES / "synscan.pcap")},
    ]))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "field" / "run.py"), "--manifest",
         str(manifest), "--data", str(FIXTURES), "--model", str(model), "--allow-unsigned",
         "--out", str(out)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[1/1] desktop: " in proc.stderr
    body = json.loads((out / "results.json").read_text())
    (site,) = body["sites"]
    assert site["benign_flows_in_merge"] == site["site_flows"] == 20
    u = site["modes"]["uncalibrated"]
    assert u["families"]["scan"]["flows"] == 1994 and u["families"]["scan"]["flows_in_learning"] == 0
    assert u["benign_flows"] + u["learning_flows"] == 20  # the attack lands after learning
    assert (out / "command.txt").read_text().startswith("python experiments/field/run.py --manifest")
    assert "| benign flows alerted, flow-weighted |" in (out / "table.md").read_text()
