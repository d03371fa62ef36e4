"""The site baseline: its file, the threshold fit, the host profile, the rule that combines
them, resuming an interrupted learning period, and learn-then-detect end to end."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, REPO
from ltcn_kernels.errors import DataFormatError, UsageError
from ltcn_kernels.gateway import DetectOptions, run_detect
from ltcn_kernels.gateway.baseline import (
    FILENAME,
    N_BINS,
    SURE,
    Baseline,
    Scores,
    fit_threshold,
    read_baseline,
    write_baseline,
)
from ltcn_kernels.gateway.options import GatewayError, parse_duration
from ltcn_kernels.gateway.profile import (
    DYNAMIC_PORT,
    MAX_WINDOW_SET,
    WINDOW_S,
    Habits,
    Profile,
    proto_key,
    service_keys,
)
from ltcn_kernels.gateway.site import combine

MODEL = REPO / "results" / "lab" / "model.ltcn"  # the shipped per-host model
SITE = FIXTURES / "bot-iot" / "site_alexa_flows.csv"  # 167 flows, 175 s of an Alexa app
SCAN = FIXTURES / "bot-iot" / "site_synscan_flows.csv"  # 200 probes of an nmap SYN scan


def _svc(proto: str, port: float) -> int:
    return int(service_keys(np.array([proto_key(proto)]), np.array([port]))[0])


# ------------------------------------------------------------------------------ file format
def _baseline(complete: bool = True) -> Baseline:
    rng = np.random.default_rng(0)
    b = Baseline(model="m" * 64, target_rate=0.005, learn_s=600.0, learned_s=600.0 * complete,
                 complete=complete, flows=1000)
    b.all_scores.add(rng.random(1000))
    b.new_scores.add(rng.random(100))
    b.hosts = {"10.0.0.2": Habits({_svc("tcp", 443), _svc("udp", 53)}, [12, 3, 2])}
    if complete:
        b.fit = fit_threshold(b.all_scores, b.new_scores, b.target_rate, 0.5)
    return b


def test_baseline_round_trip(tmp_path):
    path = str(tmp_path / FILENAME)
    b = _baseline()
    write_baseline(path, b)
    back = read_baseline(path, b.model)
    assert back.to_dict() == b.to_dict()
    assert back.hosts == b.hosts and back.fit["threshold"] == b.fit["threshold"]


def test_another_models_baseline_is_refused(tmp_path):
    path = str(tmp_path / FILENAME)
    write_baseline(path, _baseline())
    with pytest.raises(DataFormatError, match="another model"):
        read_baseline(path, "x" * 64)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(format="other"), "not an ltcn site baseline"),
    (lambda d: d.update(flows=5), "checksum mismatch"),
])
def test_versions_and_altered_files_are_refused(tmp_path, change, message):
    path = tmp_path / FILENAME
    body = _baseline().to_dict()
    change(body)
    path.write_text(json.dumps(body))
    with pytest.raises(DataFormatError, match=message):
        read_baseline(str(path), "m" * 64)


def test_every_truncation_is_one_clear_error(tmp_path):
    path = tmp_path / FILENAME
    write_baseline(str(path), _baseline())
    data = path.read_bytes()
    for cut in list(range(0, 64)) + list(range(64, len(data), max(len(data) // 200, 1))):
        path.write_bytes(data[:cut])
        with pytest.raises(DataFormatError, match=str(path)):
            read_baseline(str(path), "m" * 64)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(_baseline().to_dict())), value=_json)
def test_hostile_values_with_a_valid_checksum_are_one_error_or_read(tmp_path, key, value):
    """Any value in any field, with the checksum recomputed (a deliberate forgery, not
    damage): the file reads as a baseline or is one DataFormatError, never anything else."""
    from ltcn_kernels.gateway.baseline import _digest  # the forger's own checksum

    body = _baseline().to_dict()
    body[key] = value
    body["sha256"] = _digest(body) if key != "sha256" else value
    path = tmp_path / FILENAME
    path.write_text(json.dumps(body))
    try:
        b = read_baseline(str(path), "m" * 64)
    except DataFormatError as exc:
        assert str(path) in str(exc)
    else:  # what was read is usable: its threshold is a probability the rule can use
        assert 0 < b.fit["threshold"] <= SURE and b.all_scores.counts.shape == (N_BINS,)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_are_one_error(tmp_path, data):
    path = tmp_path / FILENAME
    path.write_bytes(data)
    with pytest.raises(DataFormatError):
        read_baseline(str(path), "m" * 64)


def test_a_write_that_fails_leaves_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / FILENAME)
    write_baseline(path, _baseline())
    before = open(path, "rb").read()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_baseline(path, _baseline(complete=False))
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == [FILENAME]  # no temporary file left behind


# ------------------------------------------------------------------------------ threshold fit
def test_the_threshold_is_the_target_quantile_within_floor_and_ceiling():
    rng = np.random.default_rng(1)
    p = 1 / (1 + np.exp(-rng.normal(-4.0, 1.0, 20_000)))  # log-odds N(-4, 1)
    s = Scores()
    s.add(p)
    fit = fit_threshold(s, s, 0.01, floor=0.001)
    # the 99th percentile of N(-4, 1) is -4 + 2.326; one bin (0.05) of rounding up
    expected = 1 / (1 + np.exp(-(-4.0 + 2.326)))
    assert expected <= fit["threshold"] <= 1 / (1 + np.exp(-(-4.0 + 2.326 + 0.1)))
    assert abs(np.mean(p >= fit["threshold"]) - 0.01) < 0.003
    assert fit["basis"] == "new flows" and abs(fit["logit_mean"] + 4.0) < 0.05
    assert fit_threshold(s, s, 0.01, floor=0.5)["threshold"] == 0.5  # never below the model's
    hot = Scores()
    hot.add(np.full(100, 0.9999999))
    assert fit_threshold(hot, hot, 0.01, floor=0.5)["threshold"] == SURE  # never above SURE


def test_few_new_flows_fit_on_all_flows():
    all_flows, new = Scores(), Scores()
    all_flows.add(np.full(500, 0.7))
    new.add(np.full(10, 0.95))
    fit = fit_threshold(all_flows, new, 0.01, floor=0.5)
    assert fit["basis"] == "all flows" and 0.7 <= fit["threshold"] < 0.72


# ------------------------------------------------------------------------------ profile
HOST, PEER = "192.168.1.10", "52.1.2.3"
HTTPS = _svc("tcp", 443)


def _fam(prof: Profile, host: str, t: float, peer: str, svc: int) -> bool:
    return prof.familiar([host], [t], [peer], [svc])[0]


def _learned(flows_a_minute: int = 6, minutes: int = 5) -> Profile:
    prof = Profile(max_hosts=16)
    for m in range(minutes):
        for k in range(flows_a_minute):
            prof.learn(HOST, m * WINDOW_S + k, PEER, HTTPS)
    prof.finish_learning()
    return prof


def test_service_keys_bucket_dynamic_ports_and_portless_protocols():
    assert _svc("tcp", 50_000) == _svc("tcp", 65_535) == _svc("TCP", DYNAMIC_PORT)
    assert _svc("tcp", 443) != _svc("udp", 443) != _svc("udp", 444)
    assert _svc("icmp", float("nan")) == _svc("icmp", -5)


def test_a_learned_habit_at_its_pace_is_familiar():
    prof = _learned()
    assert prof.hosts[HOST].peak == [6, 1, 1]
    t0 = 100 * WINDOW_S
    assert all(_fam(prof, HOST, t0 + k, PEER, HTTPS) for k in range(6))


@pytest.mark.parametrize("case", ["new service", "new host", "flood", "sweep"])
def test_what_an_attack_must_do_is_unfamiliar(case):
    prof, t0 = _learned(), 100 * WINDOW_S
    if case == "new service":
        assert not _fam(prof, HOST, t0, PEER, _svc("tcp", 22))
    elif case == "new host":
        assert not _fam(prof, "192.168.1.99", t0, PEER, HTTPS)
    elif case == "flood":  # the learned peak is 6 a minute: 2 x 6 + 10 = 22 stay familiar
        got = [_fam(prof, HOST, t0 + k / 100, PEER, HTTPS) for k in range(40)]
        assert got == [True] * 22 + [False] * 18
    else:  # one peer learned: 2 x 1 + 5 = 7 peers a minute stay familiar
        got = [_fam(prof, HOST, t0 + k / 100, f"10.0.0.{k}", HTTPS) for k in range(12)]
        assert got == [True] * 7 + [False] * 5


def test_windows_start_again_each_minute():
    prof, t0 = _learned(), 100 * WINDOW_S
    for m in range(3):  # 20 flows a minute for three minutes: each minute within 22
        assert all(_fam(prof, HOST, t0 + m * WINDOW_S + k, PEER, HTTPS) for k in range(20))


def test_memory_is_bounded():
    prof = Profile(max_hosts=4)
    for h in range(10):
        prof.learn(f"10.0.0.{h}", 0.0, PEER, HTTPS)
    assert len(prof.hosts) == 4 and prof.unlearned == 6
    for k in range(MAX_WINDOW_SET + 50):
        prof.learn("10.0.0.0", 1.0, f"p{k}", _svc("tcp", k))
    prof.learn("10.0.0.0", 61.0, PEER, HTTPS)  # (the first window is then wholly learned)
    prof.finish_learning()
    habits = prof.hosts["10.0.0.0"]
    assert len(habits.services) <= 32 and habits.peak[1] == MAX_WINDOW_SET
    for k in range(10):  # detecting: windows of at most max_hosts sources
        _fam(prof, f"172.16.0.{k}", 2 * WINDOW_S, PEER, HTTPS)
    assert len(prof.windows) == 4


def test_a_saturated_count_exceeds_a_ceiling_below_it():
    prof = Profile(max_hosts=4)  # peak 40 peers: ceiling 85 > the 64 a window counts
    for k in range(40):
        prof.learn(HOST, float(k), f"p{k}", HTTPS)
    prof.learn(HOST, 61.0, PEER, HTTPS)  # (the first window is then wholly learned)
    prof.finish_learning()
    got = [_fam(prof, HOST, 2 * WINDOW_S, f"q{k}", HTTPS) for k in range(70)]
    assert got[: MAX_WINDOW_SET - 1] == [True] * (MAX_WINDOW_SET - 1) and not any(got[70 - 5:])


def test_what_every_host_here_does_is_familiar_from_a_new_host_at_the_median_pace():
    prof = Profile(max_hosts=16)
    ssdp = _svc("udp", 1900)
    for h, flows in ((1, 2), (2, 4), (3, 30)):  # three hosts announce themselves (SSDP)
        for k in range(flows):
            prof.learn(f"10.0.0.{h}", float(k), "239.255.255.250", ssdp)
        prof.learn(f"10.0.0.{h}", 61.0, "239.255.255.250", ssdp)
    prof.learn("10.0.0.1", 2.0, PEER, HTTPS)  # one host's own habit: not the site's
    prof.finish_learning()
    assert prof.site_services == {ssdp}
    assert prof.site_limits[0] == 2 * 4 + 10  # the median host's 4 flows a minute
    t0 = 100 * WINDOW_S
    newcomer = [_fam(prof, "10.0.0.99", t0 + k / 10, "239.255.255.250", ssdp) for k in range(20)]
    assert newcomer == [True] * 18 + [False] * 2  # at the median pace, then not
    assert not _fam(prof, "10.0.0.98", t0, PEER, HTTPS)  # one host's habit is not the site's
    assert _fam(prof, "10.0.0.2", t0, PEER, ssdp)  # a learned host, a site service
    # a newcomer's site service to a device (a UDP flood to port 1900) is never familiar
    assert not any(_fam(prof, "10.0.0.97", t0 + k, "10.0.0.2", ssdp) for k in range(3))


@pytest.mark.parametrize("peer, everyone", [
    ("239.255.255.250", True), ("224.0.0.251", True), ("255.255.255.255", True),
    ("192.168.1.255", True), ("ff02::fb", True), ("Broadcast", True), ("ff:ff:ff:ff:ff:ff", True),
    ("192.168.1.10", False), ("8.8.8.8", False), ("fe80::1", False), ("", False), (None, False),
    ("not an address", False),
])
def test_announcements_are_to_everyone(peer, everyone):
    from ltcn_kernels.gateway.profile import to_everyone

    assert to_everyone(peer) is everyone


def test_icmp_is_one_service_whatever_argus_puts_in_its_port():
    icmp, tcp = proto_key("icmp"), proto_key("tcp")
    keys = service_keys(np.array([icmp, icmp, icmp, tcp]), np.array([0x0800, 0x0303, 7, 443.0]),
                        np.array([False, False, False, True]))
    assert keys[0] == keys[1] == keys[2] != keys[3] and keys[3] == _svc("tcp", 443)


def test_a_learning_period_shorter_than_a_window_counts_its_rate():
    prof = Profile(max_hosts=4)  # 10 flows in 20 s of learning: 30 a minute
    for k in range(10):
        prof.learn(HOST, 100 * WINDOW_S + 2.0 * k + 0.5, PEER, HTTPS)
    prof.learn("10.0.0.7", 100 * WINDOW_S + 20.5, PEER, HTTPS)
    prof.finish_learning()
    assert prof.hosts[HOST].peak[0] == 30
    longer = _learned()  # whole windows learned: their counts, not a rate
    assert longer.hosts[HOST].peak == [6, 1, 1]


# ------------------------------------------------------------------------------ the rule
def test_the_rule_alerts_only_on_attack_like_unfamiliar_flows():
    p = np.array([0.2, 0.2, 0.95, 0.95, 1.0])
    familiar = np.array([False, True, False, True, True])
    assert combine(p, familiar, 0.9).tolist() == [False, False, True, False, False]


# ------------------------------------------------------------------------------ the clock
def test_the_learning_clock_is_traffic_time_with_bounded_steps():
    from ltcn_kernels.gateway.site import MAX_STEP_S, _learning_stop

    t = np.array([100.0, 110.0, 130.0, 170.0])
    assert _learning_stop(t, None, 0.0, 60.0) == (3, 60.0)  # 170 - 100 >= 60: the 4th is after
    assert _learning_stop(t, None, 0.0, 600.0) == (4, 70.0)
    assert _learning_stop(t, 90.0, 0.0, 600.0) == (4, 80.0)  # resumed within a run
    # a clock jump (NTP after boot, a wrong record) counts at most MAX_STEP_S
    jump = np.array([0.0, 10.0, 1e6, 1e6 + 10])
    assert _learning_stop(jump, None, 0.0, 7200.0) == (4, 10.0 + MAX_STEP_S + 10.0)
    # times that are not numbers do not move it; going back in time neither
    odd = np.array([50.0, np.nan, 40.0, np.inf, 55.0])
    assert _learning_stop(odd, None, 0.0, 600.0) == (5, 5.0)


# ------------------------------------------------------------------------------ durations
@pytest.mark.parametrize("text, seconds", [("600", 600), ("90s", 90), ("30m", 1800),
                                           ("2h", 7200), ("7d", 604_800), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "abc", "5y", "nan", "inf", "400d"])
def test_bad_durations_are_one_error(text):
    with pytest.raises(GatewayError, match="--learn"):
        parse_duration(text)


@pytest.mark.parametrize("options, message", [
    ({"learn": "10m"}, "needs --state-dir"),
    ({"state_dir": "d", "relearn": True}, "needs --learn"),
    ({"state_dir": "d", "learn": "1m", "relearn": True, "extend": True}, "one of"),
    ({"state_dir": "d", "target_rate": 0.9}, "--target-rate"),
])
def test_site_options_are_checked(options, message):
    with pytest.raises(GatewayError, match=message):
        DetectOptions(source="x.csv", **options)


# ------------------------------------------------------------------------------ end to end
def _replay(tmp_path, scan_at: float = 120.0) -> str:
    """The Alexa site's flows with the first 100 SYN-scan probes moved to ``scan_at`` s after
    its first flow, in capture order (a replay into the site, done on flow records)."""
    site = SITE.read_text().splitlines()
    scan = SCAN.read_text().splitlines()[1:101]
    t0 = min(float(r.split(",")[1]) for r in site[1:])
    s0 = min(float(r.split(",")[1]) for r in scan)
    moved = []
    for r in scan:
        f = r.split(",")
        shift = t0 + scan_at - s0
        f[1], f[11] = f"{float(f[1]) + shift:.6f}", f"{float(f[11]) + shift:.6f}"
        moved.append(",".join(f))
    rows = sorted(site[1:] + moved, key=lambda r: float(r.split(",")[1]))
    out = tmp_path / "replay.csv"
    out.write_text("\n".join([site[0], *rows]) + "\n")
    return str(out)


def _detect(source, tmp_path, **options):
    alerts = tmp_path / "alerts.json"
    alerts.unlink(missing_ok=True)
    result = run_detect(MODEL, DetectOptions(source=source, allow_unsigned=True, stats_every=0,
                                             alerts=str(alerts), **options),
                        err=io.StringIO())
    return result, [json.loads(ln) for ln in alerts.read_text().splitlines()]


def test_learn_then_detect_on_a_replayed_scan(tmp_path):
    replay, state = _replay(tmp_path), str(tmp_path / "state")
    _, plain_alerts = _detect(replay, tmp_path)
    result, alerts = _detect(replay, tmp_path, state_dir=state, learn="52s")
    site = result["site"]
    assert site["state"] == "detecting" and site["learned_s"] == 52.0
    assert os.path.exists(os.path.join(state, FILENAME))
    lines = open(replay).read().splitlines()
    start = {i + 1: float(r.split(",")[1]) for i, r in enumerate(lines) if i}
    t0, scanner = min(start.values()), "172.16.0.8"
    # nothing alerts in the learning period; after it, the scan still alerts, and of the
    # site's own flows fewer alert than with the model alone
    assert alerts and all(start[a["ltcn"]["line"]] >= t0 + 52.0 for a in alerts)
    assert sum(a["src_ip"] == scanner for a in alerts) == 100
    benign_after = [a for a in alerts if a["src_ip"] != scanner]
    benign_plain = [a for a in plain_alerts if a["src_ip"] != scanner]
    assert len(benign_after) < len(benign_plain)
    assert site["learning_flows"] > 0 and site["familiar"] > 0
    # a second run detects with the saved baseline, from the first flow
    again, _ = _detect(replay, tmp_path, state_dir=state)
    assert again["site"]["state"] == "detecting" and again["site"]["learning_flows"] == 0


def test_no_baseline_and_no_learn_is_one_error(tmp_path):
    with pytest.raises(UsageError, match="no site baseline"):
        _detect(str(SITE), tmp_path, state_dir=str(tmp_path / "empty"))


def test_an_interrupted_learning_period_resumes(tmp_path):
    """The input ends (as a stop does) inside the learning period: the partial baseline is
    saved; the next run learns only what is missing, then detects."""
    state = str(tmp_path / "state")
    rows = SITE.read_text().splitlines()
    first = tmp_path / "first.csv"
    first.write_text("\n".join(rows[:41]) + "\n")  # 40 flows, about 30 s
    r1, a1 = _detect(str(first), tmp_path, state_dir=state, learn="100s")
    assert r1["site"]["state"] == "learning" and a1 == []
    part = json.loads(open(os.path.join(state, FILENAME)).read())
    assert part["complete"] is False and 0 < part["learned_s"] < 100
    rest = tmp_path / "rest.csv"
    rest.write_text("\n".join([rows[0], *rows[41:]]) + "\n")
    r2, _ = _detect(str(rest), tmp_path, state_dir=state)  # no --learn: it resumes anyway
    assert r2["site"]["state"] == "detecting"
    assert r2["site"]["learned_s"] == pytest.approx(100.0)
    assert r1["site"]["learning_flows"] == part["flows"] == 40
    assert 0 < r2["site"]["learning_flows"] < len(rows) - 41


def test_relearn_and_extend(tmp_path):
    state = str(tmp_path / "state")
    _detect(str(SITE), tmp_path, state_dir=state, learn="60s")
    b1 = json.loads(open(os.path.join(state, FILENAME)).read())
    _detect(str(SITE), tmp_path, state_dir=state, learn="60s", extend=True)
    b2 = json.loads(open(os.path.join(state, FILENAME)).read())
    assert b2["learned_s"] == pytest.approx(120.0) and b2["flows"] > b1["flows"]
    _detect(str(SITE), tmp_path, state_dir=state, learn="30s", relearn=True)
    b3 = json.loads(open(os.path.join(state, FILENAME)).read())
    assert b3["learned_s"] == pytest.approx(30.0) and b3["flows"] < b1["flows"]


def test_a_damaged_baseline_stops_the_detector_before_it_starts(tmp_path):
    state = tmp_path / "state"
    _detect(str(SITE), tmp_path, state_dir=str(state), learn="60s")
    path = state / FILENAME
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataFormatError, match="damaged or truncated"):
        _detect(str(SITE), tmp_path, state_dir=str(state))


def test_sigterm_mid_learning_saves_and_the_next_start_resumes(tmp_path):
    """A detector following a growing file is stopped (SIGTERM, as systemd stops it) inside
    its learning period; its baseline is on disk, partial, and a new start resumes it."""
    rows = SITE.read_text().splitlines()
    src = tmp_path / "live.csv"
    src.write_text("\n".join(rows[:41]) + "\n")
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(MODEL),
           "--allow-unsigned", "--source", str(src), "--follow", "--state-dir", str(state),
           "--learn", "100s", "--alerts", str(tmp_path / "a.json"), "--stats-every", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the kernels are ready and it reads
            time.sleep(0.5)
            if proc.poll() is not None:
                break
            if os.path.exists(tmp_path / "a.json"):
                break
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    part = json.loads((state / FILENAME).read_text())
    assert part["complete"] is False and part["flows"] == 40
    r2, _ = _detect(str(SITE), tmp_path, state_dir=str(state))
    assert r2["site"]["learned_s"] == pytest.approx(100.0)


def test_a_baseline_learned_from_other_records_is_used_with_a_warning(tmp_path):
    from ltcn_kernels.gateway.site import Site

    state = tmp_path / "state"
    _detect(str(SITE), tmp_path, state_dir=str(state), learn="60s")
    assert json.loads((state / FILENAME).read_text())["form"] == "flow"
    model = json.loads((state / FILENAME).read_text())["model"]
    err = io.StringIO()
    site = Site(str(state), model, 0.5, form="live status (1 s interval)", err=err)
    assert not site.learning
    assert "learned from flow records and these are live status (1 s interval)" in err.getvalue()


def test_the_baseline_command_shows_what_was_learned(tmp_path, capsys):
    from ltcn_kernels.cli import main

    state = tmp_path / "state"
    _detect(str(SITE), tmp_path, state_dir=str(state), learn="60s")
    assert main(["baseline", str(state)]) == 0
    out = capsys.readouterr().out
    assert "complete: 60 s of traffic learned (flow records)" in out and "site threshold: P(attack) >=" in out
    assert main(["baseline", str(state / FILENAME), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["complete"] is True and body["hosts"] > 0 and "all_scores" not in body
    (state / FILENAME).write_text("{}")
    assert main(["baseline", str(state)]) == 2
    assert "not an ltcn site baseline" in capsys.readouterr().err


def test_the_site_is_in_the_prometheus_metrics(tmp_path):
    pytest.importorskip("prometheus_client")
    prom = tmp_path / "ltcn.prom"
    result, _ = _detect(str(SITE), tmp_path, state_dir=str(tmp_path / "state"), learn="60s",
                        metrics_textfile=str(prom))
    text = prom.read_text()
    site = result["site"]
    assert "ltcn_site_learning 0.0" in text
    assert f"ltcn_site_threshold {site['threshold']}" in text
    assert f'ltcn_site_flows_total{{phase="learned"}} {float(site["learning_flows"])}' in text
    assert f'ltcn_site_flows_total{{phase="familiar"}} {float(site["familiar"])}' in text
