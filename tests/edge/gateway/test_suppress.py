"""Alert suppression and thresholds (`ltcn detect --rules FILE --suppress RULE`): the rules
parser (round trips, one error type naming file:line:column), each rule type on constructed
alert sequences with known counts, the bounded windows, and an end-to-end run where a suppress
rule removes one source's alerts and a limit rule cuts events but not flows alerted."""

from __future__ import annotations

import io
import ipaddress
import json
import math
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltcn_kernels.errors import DataFormatError, UsageError
from ltcn_kernels.gateway import AlertBatch, DetectOptions, GatewayError, run_detect
from ltcn_kernels.gateway.suppress import (
    KINDS,
    SUPPRESS_TRACKS,
    THRESHOLD_TRACKS,
    TYPES,
    AlertFilter,
    Rule,
    alert_filter,
    flag_rules,
    parse_rules,
    read_rules,
)
from ltcn_kernels.pipeline import classify_files

CLASSES = ("Normal", "DDoS", "DoS", "Reconnaissance", "Theft")
DDOS, DOS, RECON, THEFT = 1, 2, 3, 4

EXAMPLE = """\
# site rules
suppress class DoS, track by_src, ip 192.168.1.0/24
suppress class *, track by_dst, ip 10.0.0.5   # the backup server
suppress class Reconnaissance, track by_either, ip [2001:db8::/32, 10.1.0.0/16]
suppress class theft

threshold class *, type limit, track by_src, count 1, seconds 60
threshold class DDoS, type threshold, track by_src, count 10, seconds 60
event_filter class *, type both, track by_dst, count 5, seconds 300
"""


# ------------------------------------------------------------------------------ parsing
def test_the_example_file_parses_to_its_rules(tmp_path):
    path = tmp_path / "rules.conf"
    path.write_text(EXAMPLE)
    rules = read_rules(str(path))
    assert [r.line for r in rules] == [2, 3, 4, 5, 7, 8, 9]
    assert [r.key for r in rules][:2] == ["rules.conf:2", "rules.conf:3"]
    dos, dst, recon, theft, limit, ddos, both = rules
    assert (dos.kind, dos.cls, dos.track) == ("suppress", "DoS", "by_src")
    assert dos.networks == (ipaddress.ip_network("192.168.1.0/24"),)
    assert dst.networks == (ipaddress.ip_network("10.0.0.5/32"),)
    assert recon.networks == tuple(map(ipaddress.ip_network, ("2001:db8::/32", "10.1.0.0/16")))
    assert (theft.track, theft.networks) == (None, ())
    assert (limit.type, limit.track, limit.count, limit.seconds) == ("limit", "by_src", 1, 60)
    assert (ddos.cls, ddos.type, ddos.count) == ("DDoS", "threshold", 10)
    assert (both.kind, both.type, both.track, both.seconds) == ("threshold", "both", "by_dst", 300)
    assert dst.text == "suppress class *, track by_dst, ip 10.0.0.5"  # (no comment)


def test_spacing_case_and_tabs_do_not_matter():
    one = parse_rules("THRESHOLD\tclass  DoS ,TYPE Limit,  track BY_SRC,count 3 , seconds 9\r\n")
    assert one[0].canonical() == "threshold class DoS, type limit, track by_src, count 3, seconds 9"


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        ("suppres class DoS", "r.conf:1:1", "expected suppress or threshold, got 'suppres'"),
        ("  suppress class DoS, track by_src", "r.conf:1:12", "a suppress rule with track needs ip"),
        ("suppress class DoS, ip 1.2.3.4", "r.conf:1:10", "a suppress rule with ip needs track"),
        ("suppress class DoS, track by_foo, ip 1.2.3.4", "r.conf:1:27",
         "track 'by_foo': expected one of by_src, by_dst, by_either"),
        ("suppress class DoS, track by_both, ip 1.2.3.4", "r.conf:1:27", "track 'by_both'"),
        ("suppress class DoS, track by_src, ip [1.2.3.4, x]", "r.conf:1:48", "ip 'x': not an IP"),
        ("suppress class DoS, track by_src, ip 1.2.3.4/33", "r.conf:1:38", "ip '1.2.3.4/33'"),
        ("suppress class DoS, track by_src, ip $HOME_NET", "r.conf:1:38", "ip '$HOME_NET'"),
        ("suppress class DoS, track by_src, ip fe80::1%eth0", "r.conf:1:38", "not an IP"),
        ("suppress class DoS, track by_src, ip [1.2.3.4", "r.conf:1:46", "a '[' without its ']'"),
        ("suppress class DoS, track by_src, ip 1.2.3.4]", "r.conf:1:45", "a ']' without its '['"),
        ("suppress class DoS,, track by_src", "r.conf:1:20", "an empty field"),
        ("suppress class DoS,", "r.conf:1:20", "an empty field"),
        ("suppress", "r.conf:1:9", "a suppress rule needs class"),
        ("suppress gen_id 1, sig_id 2", "r.conf:1:10", "unknown key 'gen_id'"),
        ("suppress class DoS, class DDoS", "r.conf:1:21", "class given twice"),
        ("suppress class", "r.conf:1:10", "class without a value"),
        ("threshold class *, type limit, track by_src, count 1", "r.conf:1:11",
         "a threshold rule needs seconds"),
        ("threshold class *, type limits, track by_src, count 1, seconds 6", "r.conf:1:25",
         "type 'limits': expected one of limit, threshold, both"),
        ("threshold class *, type limit, track by_either, count 1, seconds 6", "r.conf:1:38",
         "expected one of by_src, by_dst, by_both, by_rule"),
        ("threshold class *, type limit, track by_src, count 0, seconds 6", "r.conf:1:52",
         "count '0': expected a whole number in 1..1,000,000,000"),
        ("threshold class *, type limit, track by_src, count 1, seconds 1.5", "r.conf:1:63",
         "seconds '1.5': expected a whole number"),
        ("threshold class *, type limit, track by_src, count ١, seconds 6", "r.conf:1:52",
         "count '١'"),  # (an Arabic-Indic digit: str.isdigit, but not a count)
        ("threshold class *, type limit, track by_src, count 1, seconds 6, ip 1.2.3.4",
         "r.conf:1:66", "unknown key 'ip' in a threshold rule"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_line_and_column(line, where, message):
    with pytest.raises(DataFormatError) as err:
        parse_rules(f"# first\n{line}\n", "r.conf")
    text = str(err.value)
    where = where.replace(":1:", ":2:")  # (after the comment line)
    assert text.startswith(f"{where}: "), text
    assert message in text
    assert "\n" not in text


def test_files_that_cannot_be_rules_are_one_error(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope\.conf: cannot read the rules"):
        read_rules(str(tmp_path / "nope.conf"))
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"suppress class DoS\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"bin.conf:2: not UTF-8 text"):
        read_rules(str(binary))
    big = tmp_path / "big.conf"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(DataFormatError, match="more than 1,048,576 bytes"):
        read_rules(str(big))
    many = tmp_path / "many.conf"
    many.write_text("suppress class DoS\n" * 1025)
    with pytest.raises(DataFormatError, match=r"many.conf:1025: more than 1,024 rules"):
        read_rules(str(many))


def test_an_unknown_class_names_the_rule_and_the_models_classes():
    rules = parse_rules("\nsuppress class *\nthreshold class Dos2, type limit, track by_src, "
                        "count 1, seconds 6\n", "r.conf")
    with pytest.raises(DataFormatError, match=r"^r.conf:3:17: unknown class 'Dos2'; this "
                       r"model's classes are Normal, DDoS, DoS, Reconnaissance, Theft"):
        AlertFilter(rules, CLASSES)
    with pytest.raises(UsageError, match=r"^--suppress 'class Dos2' \(column 7\): unknown class"):
        AlertFilter(flag_rules(["class Dos2"]), CLASSES)


def test_suppress_flags_are_rule_lines_checked_when_the_options_are_made():
    rules = flag_rules(["class DoS, track by_src, ip 10.0.0.0/8", "suppress class *"])
    assert [r.canonical() for r in rules] == [
        "suppress class DoS, track by_src, ip 10.0.0.0/8", "suppress class *"]
    assert rules[0].key == "--suppress class DoS, track by_src, ip 10.0.0.0/8"
    with pytest.raises(GatewayError, match=r"^--suppress 'class DoS, track by_sr, ip 1.1.1.1' "
                       r"\(column 18\): track 'by_sr': expected one of"):
        DetectOptions(source="x", suppress=("class DoS, track by_sr, ip 1.1.1.1",))
    with pytest.raises(GatewayError, match=r"needs class"):
        DetectOptions(source="x", suppress=("",))
    assert alert_filter(None, (), CLASSES) is None  # no rules: no filter, no cost


_words = st.sampled_from([
    *KINDS, *TYPES, *SUPPRESS_TRACKS, *THRESHOLD_TRACKS, "class", "type", "track", "ip", "count",
    "seconds", "gen_id", "*", "DoS", ",", ", ", " ", "\t", "[", "]", "#", "10.0.0.0/8", "::1",
    "1", "0", "60", "-1", "99999999999999999999999", "1e3", "$X", "%", "\r", "\x00", "é",
])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_words, max_size=30).map("".join)))
def test_any_text_parses_or_is_one_data_format_error(text):
    try:
        rules = parse_rules(text, "h.conf")
    except DataFormatError as exc:
        assert str(exc).startswith("h.conf:") and "\n" not in str(exc)
        return
    for rule in rules:  # what parses round-trips through its canonical line
        again = parse_rules(rule.canonical())[0]
        assert again.canonical() == rule.canonical()
    try:
        AlertFilter(rules, CLASSES)
    except DataFormatError as exc:
        assert "unknown class" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=3))
def test_any_suppress_flag_parses_or_is_one_usage_error(values):
    try:
        flag_rules(values)
    except UsageError as exc:
        assert str(exc).startswith("--suppress ")


_networks = st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False),
              st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False),
              st.integers(0, 2**128 - 1), st.integers(0, 128)),
)
_suppress = st.builds(
    lambda c, track, nets: Rule("suppress", c, track, tuple(nets) if track else ()),
    st.sampled_from(["*", *CLASSES]), st.sampled_from([None, *SUPPRESS_TRACKS]),
    st.lists(_networks, min_size=1, max_size=3))
_threshold = st.builds(
    lambda c, t, track, n, s: Rule("threshold", c, track, (), t, n, s),
    st.sampled_from(["*", *CLASSES]), st.sampled_from(TYPES), st.sampled_from(THRESHOLD_TRACKS),
    st.integers(1, 10**9), st.integers(1, 366 * 86_400))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_suppress, _threshold), max_size=8))
def test_rules_round_trip_through_their_canonical_lines(rules):
    text = "\n".join(r.canonical() for r in rules)
    again = parse_rules(text)
    fields = ("kind", "cls", "track", "networks", "type", "count", "seconds")
    assert [[getattr(r, f) for f in fields] for r in again] == [
        [getattr(r, f) for f in fields] for r in rules]


# ------------------------------------------------------------------------------ applying
class _Columns:
    """What :meth:`AlertFilter.apply` reads of an alert batch's columns."""

    def __init__(self, src, dst, times):
        self.src, self.dst = list(src), list(dst)
        self.times = None if times is None else np.asarray(times, np.float64)

    def source_ips(self, rows):
        return [self.src[r] for r in rows.tolist()]

    def dest_ips(self, rows):
        return [self.dst[r] for r in rows.tolist()]


def _batch(cls, src, dst=None, times=None) -> AlertBatch:
    n = len(cls)
    dst = dst if dst is not None else ["10.9.9.9"] * n
    return AlertBatch(None, _Columns(src, dst, times), np.arange(n), np.zeros((n, len(CLASSES))),
                      np.ones(n), np.asarray(cls, np.int64))


def _run(rules: str, cls, src, dst=None, times=None, **kwargs):
    """The filter of ``rules`` over one batch: (kept rows, emitted rows, the filter)."""
    filt = AlertFilter(parse_rules(rules, "r.conf"), CLASSES, **kwargs)
    out = filt.apply(_batch(cls, src, dst, times))
    emitted = out.rows if out.emit is None else out.rows[out.emit]
    return out.rows.tolist(), emitted.tolist(), filt


def test_suppress_by_source_destination_either_and_class():
    src = ["192.168.1.7", "192.168.2.7", "10.0.0.1", "2001:db8::1", "10.0.0.1", "8.8.8.8"]
    dst = ["1.1.1.1", "1.1.1.1", "10.0.0.5", "1.1.1.1", "2001:db8::9", "1.1.1.1"]
    cls = [DOS, DOS, DDOS, RECON, RECON, THEFT]
    kept, emitted, filt = _run(EXAMPLE.split("\nthreshold")[0], cls, src, dst)
    # row 0: DoS from 192.168.1.0/24; row 2: to 10.0.0.5 (any class); rows 3 and 4: either end
    # in 2001:db8::/32 (Reconnaissance); row 5: every Theft alert.
    assert kept == emitted == [1]
    assert filt.suppressed == Counter({"r.conf:2": 1, "r.conf:3": 1, "r.conf:4": 2, "r.conf:5": 1})
    assert not filt.thresholded


def test_suppress_never_matches_what_is_not_an_address():
    kept, _, filt = _run("suppress class *, track by_either, ip [0.0.0.0/0, ::/0]",
                         [DOS] * 3, ["", "aa:bb:cc:dd:ee:ff", "1.2.3.4"], [None, "x", "y"])
    assert kept == [0, 1]
    assert sum(filt.suppressed.values()) == 1


def _one_a_second(n=30, src="1.1.1.1"):
    return [DOS] * n, [src] * n, None, np.arange(n, dtype=np.float64)


@pytest.mark.parametrize(
    ("kind", "count", "expected"),
    [
        ("limit", 2, [0, 1, 10, 11, 20, 21]),  # the first 2 of each 10-s window
        ("threshold", 3, [2, 5, 8, 12, 15, 18, 22, 25, 28]),  # every 3rd in each window
        ("both", 3, [2, 12, 22]),  # the 3rd of each window only
        ("limit", 1, [0, 10, 20]),
        ("threshold", 1, list(range(30))),
        ("both", 11, []),  # never reached within a window
    ],
)
def test_each_threshold_type_on_one_alert_a_second(kind, count, expected):
    rule = f"threshold class *, type {kind}, track by_src, count {count}, seconds 10"
    kept, emitted, filt = _run(rule, *_one_a_second())
    assert kept == list(range(30))  # all still alerts: the firewall sees every one
    assert emitted == expected
    assert filt.thresholded == Counter({"r.conf:1": 30 - len(expected)})


def test_windows_are_per_key_per_class_and_tracked_as_asked():
    src = ["1.1.1.1", "2.2.2.2", "1.1.1.1", "2.2.2.2", "1.1.1.1", "1.1.1.1"]
    dst = ["9.9.9.9", "9.9.9.9", "8.8.8.8", "1.1.1.1", "9.9.9.9", "9.9.9.9"]
    cls = [DOS, DOS, DOS, DOS, DOS, DDOS]
    times = [0, 1, 2, 3, 4, 5]
    limit = "threshold class *, type limit, track {}, count 1, seconds 60"
    assert _run(limit.format("by_src"), cls, src, dst, times)[1] == [0, 1, 5]  # (5: DDoS)
    assert _run(limit.format("by_dst"), cls, src, dst, times)[1] == [0, 2, 3, 5]
    # by_both: the pair either way round (row 3 is 2.2.2.2 -> 1.1.1.1: a new pair)
    assert _run(limit.format("by_both"), cls, src, dst, times)[1] == [0, 1, 2, 3, 5]
    assert _run(limit.format("by_rule"), cls, src, dst, times)[1] == [0, 5]
    back = ["2.2.2.2", "1.1.1.1"], ["1.1.1.1", "2.2.2.2"]
    assert _run(limit.format("by_both"), [DOS, DOS], *back, [0, 1])[1] == [0]


def test_a_class_rule_replaces_the_wildcard_and_all_that_apply_must_pass():
    rules = ("threshold class *, type limit, track by_src, count 1, seconds 60\n"
             "threshold class *, type limit, track by_dst, count 2, seconds 60\n"
             "threshold class DDoS, type threshold, track by_src, count 2, seconds 60\n")
    n = 6
    cls = [DOS] * n + [DDOS] * n
    src = [f"1.1.1.{i}" for i in range(n)] * 2  # a new source each time
    dst = ["9.9.9.9"] * 2 * n  # one destination
    times = list(range(2 * n))
    kept, emitted, filt = _run(rules, cls, src, dst, times)
    assert len(kept) == 2 * n
    # DoS: each source's first (line 1) but only 2 per destination (line 2): rows 0 and 1.
    # DDoS: its own rule only, every 2nd alert of each source: none (each source alerts once).
    assert emitted == [0, 1]
    assert filt.thresholded == Counter({"r.conf:2": n - 2, "r.conf:3": n})


def test_suppressed_alerts_count_toward_no_threshold():
    rules = ("suppress class *, track by_src, ip 6.6.6.6\n"
             "threshold class *, type limit, track by_dst, count 1, seconds 60\n")
    kept, emitted, filt = _run(rules, [DOS, DOS], ["6.6.6.6", "1.1.1.1"], None, [0, 1])
    assert kept == emitted == [1]
    assert filt.suppressed == Counter({"r.conf:1": 1}) and not filt.thresholded


def test_the_flows_time_is_used_the_clock_only_where_there_is_none():
    rule = "threshold class *, type limit, track by_src, count 1, seconds 10\n"
    filt = AlertFilter(parse_rules(rule), CLASSES, clock=lambda: 1000.0)
    # Flow times 0, NaN (the last time seen: 0), 11: a new window; no times: the clock.
    out = filt.apply(_batch([DOS] * 3, ["1.1.1.1"] * 3, times=[0.0, math.nan, 11.0]))
    assert out.emit.tolist() == [True, False, True]
    out = filt.apply(_batch([DOS] * 2, ["1.1.1.1"] * 2, times=None))
    assert out.emit.tolist() == [True, False]  # 1000 - 11 >= 10: a new window, then within it
    # The same alerts in two batches or one: the same events (state carries across batches).
    one = AlertFilter(parse_rules(rule), CLASSES).apply(_batch(*_one_a_second(20)[:2],
                                                               times=np.arange(20.0)))
    two = AlertFilter(parse_rules(rule), CLASSES)
    halves = [two.apply(_batch([DOS] * 10, ["1.1.1.1"] * 10, times=np.arange(k, k + 10.0)))
              for k in (0, 10)]
    assert one.emit.tolist() == halves[0].emit.tolist() + halves[1].emit.tolist()


def test_the_windows_are_a_bounded_lru():
    rule = "threshold class *, type limit, track by_src, count 1, seconds 3600\n"
    filt = AlertFilter(parse_rules(rule), CLASSES, max_keys=4)
    src = [f"10.0.0.{i}" for i in range(10)]
    out = filt.apply(_batch([DOS] * 10, src, times=np.arange(10.0)))
    assert out.emit is None  # each source's first alert
    assert filt.windows == 4 and filt.evicted == 6
    # A source still held is limited; one forgotten starts a new window (its event again).
    again = filt.apply(_batch([DOS] * 2, ["10.0.0.9", "10.0.0.0"], times=[20.0, 21.0]))
    assert again.emit.tolist() == [False, True]
    assert filt.windows == 4 and filt.evicted == 7
    with pytest.raises(ValueError, match="max_keys"):
        AlertFilter([], CLASSES, max_keys=0)


def test_a_batch_with_nothing_filtered_is_handed_on_as_it_is():
    batch = _batch([DOS], ["1.1.1.1"], times=[0.0])
    assert AlertFilter(parse_rules("suppress class Theft"), CLASSES).apply(batch) is batch


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def threshold(bot_window_model, bot_replay):
    """A threshold at which about half the replay's flows alert."""
    pred = classify_files(bot_window_model, [bot_replay])
    p_attack = 1.0 - pred.probs[:, pred.classes.index("Normal")]
    return float(np.median(p_attack))


def _detect(model, source, tmp_path, name, **options):
    alerts = tmp_path / f"{name}.json"
    out = io.StringIO()
    res = run_detect(model, DetectOptions(source=str(source), alerts=str(alerts), stats_every=0,
                                          **options), out=out, err=io.StringIO())
    lines = [json.loads(s) for s in alerts.read_text().splitlines()]
    return res, lines, out.getvalue()


def test_end_to_end_suppress_removes_a_source_and_limit_cuts_events_not_alerts(
        bot_window_model, bot_replay, threshold, tmp_path):
    fw = {"firewall": "nftables", "block_rate": 1e6, "threshold": threshold}
    base, alerts, base_commands = _detect(bot_window_model, bot_replay, tmp_path, "base", **fw)
    assert base["alerts"] == base["alert_events"] == len(alerts) > 10
    assert base["suppressed"] == base["thresholded"] == 0
    sources = Counter(a["src_ip"] for a in alerts)
    noisy, n_noisy = sources.most_common(1)[0]
    assert 0 < n_noisy < len(alerts)

    # The flows' own times: the span of the fixture's start times, and the rates over it.
    stime = [float(line.split(b",")[1]) for line in bot_replay.read_bytes().splitlines()[1:]]
    span = max(stime) - min(stime)
    assert base["record_span_s"] == pytest.approx(span, abs=1e-3)
    assert base["flows_alerted_per_hour"] == pytest.approx(len(alerts) * 3600 / span, rel=1e-3)

    rules = tmp_path / "site.rules"
    rules.write_text(f"# the noisy host is ours\nsuppress class *, track by_src, ip {noisy}\n")
    res, kept, commands = _detect(bot_window_model, bot_replay, tmp_path, "suppressed",
                                  rules=str(rules), **fw)
    assert res["alerts"] == res["alert_events"] == len(alerts) - n_noisy == len(kept)
    assert res["suppressed"] == n_noisy
    assert res["suppressed_by_rule"] == {"site.rules:2": n_noisy}
    assert [a["ltcn"]["line"] for a in kept] == [
        a["ltcn"]["line"] for a in alerts if a["src_ip"] != noisy]
    assert noisy in base_commands
    assert not re.search(rf"\b{re.escape(noisy)}\b", commands)  # never blocked (the dry run)

    # The same by --suppress, and a limit rule: one event per class and source in a window
    # longer than the capture (366 days).
    limit = tmp_path / "limit.rules"
    limit.write_text("threshold class *, type limit, track by_src, count 1, seconds 31622400\n")
    prom = tmp_path / "ltcn.prom"
    res, events, commands = _detect(bot_window_model, bot_replay, tmp_path, "limited",
                                    rules=str(limit), suppress=(f"class *, track by_src, ip {noisy}",),
                                    metrics_textfile=str(prom), **fw)
    rest = [a for a in alerts if a["src_ip"] != noisy]
    assert res["alerts"] == len(rest)  # flows alerted: unchanged by a threshold
    assert res["firewall"] == _firewall_without(bot_window_model, bot_replay, tmp_path, noisy, fw)
    assert res["suppressed_by_rule"] == {f"--suppress class *, track by_src, ip {noisy}/32": n_noisy}
    assert res["thresholded_by_rule"] == {"limit.rules:1": res["alerts"] - res["alert_events"]}
    assert res["alert_events"] == len(events) < res["alerts"]
    firsts = {}  # each (class, source)'s first alert
    for a in rest:
        firsts.setdefault((a["ltcn"]["class"], a["src_ip"]), a["ltcn"]["line"])
    assert span < 31622400
    assert [a["ltcn"]["line"] for a in events] == list(firsts.values())
    assert res["alert_events_per_hour"] == pytest.approx(len(events) * 3600 / span, rel=1e-5)
    metrics = prom.read_text()  # (the Prometheus textfile: the same counters)
    assert f"ltcn_alert_events_total {float(len(events))}" in metrics
    assert (f'ltcn_suppressed_total{{rule="--suppress class *, track by_src, ip {noisy}/32"}} '
            f"{float(n_noisy)}") in metrics
    assert f'ltcn_thresholded_total{{rule="limit.rules:1"}} {float(len(rest) - len(events))}' in metrics
    got = re.search(r"^ltcn_record_span_seconds (\S+)$", metrics, re.M)
    assert got and float(got[1]) == pytest.approx(span, abs=1e-3)


def _firewall_without(model, replay, tmp_path, noisy, fw):
    """The firewall's counts with the noisy source suppressed and no threshold."""
    res, _, _ = _detect(model, replay, tmp_path, "fw", suppress=(f"class *, track by_src, ip {noisy}",),
                        **fw)
    return res["firewall"]


def test_a_bad_rules_file_stops_the_detector_before_it_starts(bot_window_model, bot_replay,
                                                              tmp_path, capsys):
    from ltcn_kernels.cli import main

    rules = tmp_path / "bad.rules"
    rules.write_text("suppress class *\nthreshold class Dos, type limit, track by_src, count 1\n")
    assert main(["detect", "--model", str(bot_window_model), "--source", str(bot_replay),
                 "--rules", str(rules), "--stats-every", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("bad.rules:2:11: a threshold rule needs seconds"), err
    rules.write_text("suppress class Dos2\n")
    with pytest.raises(DataFormatError, match=r"bad.rules:1:16: unknown class 'Dos2'"):
        run_detect(bot_window_model, DetectOptions(source=str(bot_replay), rules=str(rules)),
                   out=io.StringIO(), err=io.StringIO())
