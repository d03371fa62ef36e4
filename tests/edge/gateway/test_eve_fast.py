"""The batch EVE writer (``eve.alert_lines`` and ``AlertWriter.write_lines``) against the
per-alert implementation it replaced, kept here as the reference: byte for byte on the real
fixtures and on generated hostile records (odd addresses, escapes, huge or non-finite numbers),
the same files and rotations, and a detector that no record can stop."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, CIC_IMPROVED, CIC_MLCVE, CIC_TRAFFIC, NSL_TEST
from ltcn_kernels.gateway import evetext
from ltcn_kernels.gateway.alertfile import AlertWriter
from ltcn_kernels.gateway.eve import (
    CATEGORIES,
    IP_PROTOCOLS,
    SIGNATURE_BASE,
    TIME_COLUMNS,
    AlertColumns,
    AlertFormat,
    alert_event,
    alert_lines,
)
from ltcn_kernels.gateway.evetext import TIME_MAX, TIME_MIN
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.io.table import Categorical, FlowTable

UTC = timezone.utc  # noqa: UP017


# ----------------------------------------------------------------- the reference (977df4d)
# The per-alert code the batch writer replaced, verbatim but for names: one dict per alert,
# one strftime, one json.dumps.
def _column(table, names, kind):
    for n in names:
        if kind == "str" and n in table.strings:
            return table.strings[n].values()
        if kind == "aux" and n in table.aux_names:
            return table.aux_column(n)
    return None


class RefColumns:
    def __init__(self, table):
        self.table = table
        self.src = _column(table, ("Source IP", "saddr"), "str")
        self.dst = _column(table, ("Destination IP", "daddr"), "str")
        self.sport = _column(table, ("Source Port", "sport"), "aux")
        self.dport = _column(table, ("Destination Port", "dport"), "aux")
        self.proto_t = _column(table, ("proto",), "str")
        self.proto_n = _column(table, ("Protocol",), "aux")
        self.times = _column(table, TIME_COLUMNS, "aux")
        self.flow_n = _column(table, ("pkSeqID", "id"), "aux")
        self.flow_t = _column(table, ("Flow ID",), "str")
        name = table.files[0]
        self.source_file = os.path.basename(name) if name != "-" else "-"

    def endpoints(self, row):
        event = {}
        flow_n, flow_t = self.flow_n, self.flow_t
        if flow_n is not None and math.isfinite(flow_n[row]):
            event["flow_id"] = int(flow_n[row])
        elif flow_t is not None and flow_t[row]:
            digest = hashlib.blake2b(flow_t[row].encode(), digest_size=6).digest()
            event["flow_id"] = int.from_bytes(digest, "big")
        if self.src is not None:
            event["src_ip"] = self.src[row]
        if self.sport is not None and _port(self.sport[row]) is not None:
            event["src_port"] = _port(self.sport[row])
        if self.dst is not None:
            event["dest_ip"] = self.dst[row]
        if self.dport is not None and _port(self.dport[row]) is not None:
            event["dest_port"] = _port(self.dport[row])
        if self.proto_t is not None and self.proto_t[row]:
            event["proto"] = self.proto_t[row].upper()
        elif self.proto_n is not None and math.isfinite(self.proto_n[row]):
            number = int(self.proto_n[row])
            event["proto"] = IP_PROTOCOLS.get(number, str(number))
        return event


def ref_event(cols, row, probs, p_attack, cls, classes, action="allowed", time=None):
    time = time or ref_iso_time
    name = classes[cls]
    category, base = CATEGORIES.get(name.lower(), ("Misc Attack", 2))
    severity = int(min(3, base + (0 if p_attack >= 0.9 else 1)))
    times = cols.times
    event = {
        "timestamp": time(None if times is None else float(times[row])),
        "event_type": "alert",
        **cols.endpoints(row),
    }
    event["alert"] = {
        "action": action,
        "gid": 1,
        "signature_id": SIGNATURE_BASE + cls,
        "rev": 1,
        "signature": f"LTCN {name}",
        "category": category,
        "severity": severity,
    }
    event["ltcn"] = {
        "probabilities": {c: round(float(v), 6) for c, v in zip(classes, probs, strict=True)},
        "p_attack": round(p_attack, 6),
        "class": name,
        "source_file": cols.source_file,
        "line": int(cols.table.line[row]),
    }
    if cols.flow_t is not None and cols.flow_t[row]:
        event["ltcn"]["flow_key"] = cols.flow_t[row]
    return event


def ref_iso_time(ts):
    if ts is None or not math.isfinite(ts):
        dt = datetime.now(UTC)
    else:
        dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def clamped_iso_time(ts):
    """The reference, except where it raised: the clamped markers (the new behaviour)."""
    try:
        return ref_iso_time(ts)
    except (OverflowError, OSError, ValueError):
        return TIME_MAX if ts > 0 else TIME_MIN


def _port(v):
    return int(v) if v is not None and math.isfinite(v) else None


def ref_line(event) -> str:
    return json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n"


class RefWriter:
    """The old writer: a text file, a flush per alert, rotation before the line that would
    pass ``max_bytes``."""

    def __init__(self, path, max_bytes=0, keep=5):
        self.path, self.max_bytes, self.keep = str(path), int(max_bytes), max(0, int(keep))
        self.rotations = 0
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = os.path.getsize(self.path)

    def _rotate(self):
        self._f.close()
        if self.keep == 0:
            os.remove(self.path)
        else:
            oldest = f"{self.path}.{self.keep}"
            if os.path.exists(oldest):
                os.remove(oldest)
            for k in range(self.keep - 1, 0, -1):
                if os.path.exists(f"{self.path}.{k}"):
                    os.replace(f"{self.path}.{k}", f"{self.path}.{k + 1}")
            os.replace(self.path, f"{self.path}.1")
        self.rotations += 1
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = 0

    def write_line(self, line):
        size = len(line.encode("utf-8"))
        if self.max_bytes > 0 and self._size > 0 and self._size + size > self.max_bytes:
            self._rotate()
        self._f.write(line)
        self._f.flush()
        self._size += size

    def close(self):
        self._f.close()


# ----------------------------------------------------------------- helpers
_STAMP = re.compile(r'^\{"timestamp":"([^"]*)"')


def _compare(table, rows, probs, p_attack, cls, classes, blocked=None):
    """alert_lines of ``rows`` against the reference, line by line. Rows whose time is missing
    or not finite are stamped "now" by both (one clock reading per batch here, one per alert
    there): their stamps are checked to be now, the rest of the line byte for byte."""
    new = AlertColumns(table)
    data, sizes = alert_lines(AlertFormat(classes), new, rows, probs, p_attack, cls, blocked)
    ref = RefColumns(table)
    want = []
    for i, row in enumerate(rows.tolist()):
        action = "blocked" if blocked is not None and blocked[i] else "allowed"
        want.append(ref_line(ref_event(ref, row, probs[i], float(p_attack[i]), int(cls[i]),
                                       classes, action, clamped_iso_time)))
    got = data.decode("ascii").splitlines(keepends=True)
    assert [len(g) for g in got] == sizes.tolist()
    assert len(got) == len(want)
    times = ref.times
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if times is None or not math.isfinite(times[rows[i]]):
            stamp = _STAMP.match(g).group(1)
            assert abs(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f+0000").replace(tzinfo=UTC)
                       - datetime.now(UTC)) < timedelta(seconds=60)
            g, w = _STAMP.sub("", g), _STAMP.sub("", w)
        assert g == w, (i, g, w)
    return data


def _probs(rng, n, k):
    """Class probabilities as the engine gives them (float32), with the awkward values: 0, 1,
    exact rounding ties (2**-7 = 0.0078125), below 1e-4 (repr's exponent form)."""
    p = rng.dirichlet(np.full(k, 0.3), n).astype(np.float32)
    special = np.array([0.0, 1.0, 0.0078125, 5e-5, 1e-6, 4.9999e-7, 5e-7, 0.5, 0.9, 0.999_999_5],
                       np.float32)
    mask = rng.random(p.shape) < 0.2
    p[mask] = rng.choice(special, mask.sum())
    return p


# ----------------------------------------------------------------- real fixtures
@pytest.mark.parametrize("path", [BOT_ENTIRE, CIC_TRAFFIC, CIC_MLCVE, NSL_TEST, *CIC_IMPROVED],
                         ids=lambda p: p.name)
def test_alert_lines_equal_the_reference_on_the_fixtures(path):
    table = read_flows(path, drop_duplicates=False, unknown_label="keep", progress=False)
    rng = np.random.default_rng(len(table))
    classes = ("Normal", "DoS", "Reconnaissance", "Theft", "Brute Force", "Web Attack")
    probs = _probs(rng, len(table), len(classes))
    p_attack = (1.0 - probs[:, 0]).astype(np.float64)
    cls = 1 + np.argmax(probs[:, 1:], axis=1)
    for rows in (np.arange(len(table)), rng.permutation(len(table))[: len(table) // 3],
                 np.array([0, 0, len(table) - 1])):
        _compare(table, rows, probs[rows], p_attack[rows], cls[rows], classes,
                 blocked=rng.random(len(rows)) < 0.3)


def test_alert_event_is_the_reference_dict():
    table = read_flows(BOT_ENTIRE, drop_duplicates=False, unknown_label="keep", progress=False)
    classes = ("Normal", "DDoS", "DoS", "Reconnaissance", "Theft")
    probs = np.array([0.1, 0.2, 0.3, 0.35, 0.05], np.float32)
    for row in (0, 7, len(table) - 1):
        got = alert_event(AlertColumns(table), row, probs, 0.9, 3, classes, "blocked")
        assert got == ref_event(RefColumns(table), row, probs, 0.9, 3, classes, "blocked")


# ----------------------------------------------------------------- generated records
_IPS = ["10.0.0.1", "::1", "2001:db8::ff00:42:8329", "fe80::1%eth0", "::ffff:192.0.2.1", "",
        "1.2.3.4;reboot", "$(reboot)", "a\"b\\c", "\x00\x1f\x7f", "caf\u00e9", "\u2028\ufffd",
        "\U0001f600", " 10.0.0.2 "]
_texts = st.one_of(st.sampled_from(_IPS), st.text(max_size=12))
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 80.0, 65535.9, -1.0, 2.0**53, 2.0**63, -(2.0**63),
                     9e18, -9e18, 9.3e18, 1e19, 1e300, -1e300, 6.0, 17.0, 58.0, 255.0, 256.0]),
)
_times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e11, 3e11),
    st.floats(1.4e9, 1.6e9),
    st.sampled_from([0.0, -0.0, -1.0, -0.5, 1e-7, -1e-7, 0.9999995, 1526344121.188091,
                     -30_610_224_000.0, -30_610_224_000.5, -62_135_596_800.0, -62_135_596_801.0,
                     253_402_300_799.0, 253_402_300_799.9999995, 253_402_300_800.0, 1e12, 1e19,
                     -1e19, 1e300, -1e300]),
)


@st.composite
def tables(draw):
    """A flow table with any subset of the columns alerts report, under either name, holding
    hostile values."""
    n = draw(st.integers(1, 12))
    strings, aux_names, aux = {}, [], []
    for names in (("Source IP", "saddr"), ("Destination IP", "daddr"), ("proto",),
                  ("Flow ID",)):
        if draw(st.booleans()):
            words = draw(st.lists(_texts, min_size=1, max_size=6, unique=True))
            codes = draw(st.lists(st.integers(0, len(words) - 1), min_size=n, max_size=n))
            strings[draw(st.sampled_from(names))] = Categorical(np.array(codes, np.int32),
                                                                tuple(words))
    for names, values in ((("Source Port", "sport"), _numbers), (("Destination Port", "dport"),
                          _numbers), (("Protocol",), _numbers), (TIME_COLUMNS, _times),
                          (("pkSeqID", "id"), _numbers)):
        if draw(st.booleans()):
            aux_names.append(draw(st.sampled_from(names)))
            aux.append(draw(st.lists(values, min_size=n, max_size=n)))
    line = draw(st.lists(st.integers(1, 2**40), min_size=n, max_size=n))
    files = [draw(st.sampled_from(["-", "/var/log/x.csv", 'we"ird\\name\u00e9.csv']))]
    table = FlowTable(
        dataset="bot-iot", files=files, layouts=["x"], feature_names=(),
        features=np.zeros((n, 0), np.float32), aux_names=tuple(aux_names),
        aux=np.array(aux, np.float64).T.reshape(n, len(aux_names)), strings=strings,
        categorical_names=(), port_names=(), label=Categorical(np.zeros(n, np.int32), ("x",)),
        group=Categorical(np.zeros(n, np.int32), ("x",)), file_index=np.zeros(n, np.int16),
        line=np.array(line, np.int64),
    )
    return table


_classes = st.lists(st.one_of(st.sampled_from(["Normal", "DoS", "PortScan", "Bot", "U2R", "x"]),
                              st.text(min_size=1, max_size=8)), min_size=2, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), _classes, st.data())
def test_alert_lines_equal_the_reference_on_generated_records(table, classes, data):
    classes = tuple(classes)  # (repeated names: the dict keeps the first place, last value)
    n, k = len(table), len(classes)
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n)))
    values = st.floats(0, 1, width=32) | st.sampled_from([0.0078125, 5e-5, 1e-6, 0.9999995])
    probs = np.array(data.draw(st.lists(st.lists(values, min_size=k, max_size=k),
                                        min_size=len(rows), max_size=len(rows))), np.float32)
    p_attack = np.array([float(np.float32(1.0) - p[0]) for p in probs])
    cls = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=len(rows),
                                      max_size=len(rows))))
    blocked = np.array(data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))))
    got = _compare(table, rows, probs, p_attack, cls, classes, blocked)
    for line in got.decode("ascii").splitlines():
        json.loads(line)  # every line is JSON


def test_hostile_values_that_stopped_the_old_code_are_marked():
    """A time stamp a datetime cannot hold raised in the old code (and stopped the detector);
    now it is clamped to a marked end of the range. A probability that is not a number made
    json.dumps raise; now it is null."""
    for ts in (1e19, -1e19, 1e300, 253_402_300_800.0, 1e12):
        with pytest.raises((OverflowError, OSError, ValueError)):
            ref_iso_time(ts)
        assert evetext.iso_time(ts) == (TIME_MAX if ts > 0 else TIME_MIN)
    stamps = evetext.time_text(np.array([1e19, -1e300, 1.5e9, np.nan, np.inf]), 5)
    text = [bytes(r[r != 0]).decode() for r in stamps]
    assert text[:3] == [TIME_MAX, TIME_MIN, ref_iso_time(1.5e9)]
    assert all(t.endswith("+0000") and len(t) == 31 for t in text)
    nums = evetext.round6_text(np.array([np.nan, np.inf, -np.inf, 0.5]))
    assert [bytes(r[r != 0]).decode() for r in nums] == ["null", "null", "null", "0.5"]
    # A lone surrogate in a flow identifier: hashed and escaped, not an UnicodeEncodeError.
    table = read_flows(CIC_TRAFFIC, drop_duplicates=False, unknown_label="keep", progress=False)
    table.strings["Flow ID"] = Categorical(np.zeros(len(table), np.int32), ("\udc80x",))
    data, _ = alert_lines(AlertFormat(("a", "b")), AlertColumns(table), np.arange(3),
                          np.full((3, 2), 0.5, np.float32), np.full(3, 0.5), np.ones(3, int))
    assert all('"flow_key":"\\udc80x"' in line for line in data.decode().splitlines())


# ----------------------------------------------------------------- the number formats
def test_round6_text_is_json_dumps_of_round_everywhere():
    grid = np.arange(0, 1_000_001) / 1e6  # every micro-unit, and its neighbours
    rng = np.random.default_rng(0)
    values = np.concatenate([
        grid, np.nextafter(grid, 2), np.nextafter(grid, -1), grid + 5e-7,
        rng.random(200_000).astype(np.float32), np.arange(2**16, dtype=np.float32) / 2**16,
        [-0.0, -1e-9, -0.5, 999.9999995, 1000.0, 1e16, 1e300, 5e-324, 2.5e-7, 1.5e-6],
    ]).astype(np.float64)
    got = evetext.round6_text(values)
    for x, row in zip(values.tolist(), got, strict=True):
        if bytes(row[row != 0]).decode() != json.dumps(round(x, 6)):
            raise AssertionError((x, bytes(row[row != 0]), json.dumps(round(x, 6))))


def test_time_text_is_strftime_of_fromtimestamp():
    rng = np.random.default_rng(1)
    values = np.concatenate([
        rng.uniform(-30_610_224_000, 253_402_300_799, 100_000),  # years 1000-9999
        rng.uniform(1.4e9, 1.7e9, 50_000),
        np.round(rng.uniform(-1e6, 1e6, 20_000)) + rng.choice([0.9999995, 0.4999995, 1e-7], 20_000),
        np.arange(-2000, 2000) * 86_400 - 0.5,  # day boundaries around the epoch
        [-62_135_596_800.0, -62_135_596_799.5, -30_610_224_000.0, -30_610_224_000.25, 0.0,
         -0.0, 951_782_400.0, 4_107_542_400.0, 253_402_300_799.9999994],
    ])
    got = evetext.time_text(values, len(values))
    for x, row in zip(values.tolist(), got, strict=True):
        assert bytes(row[row != 0]).decode() == clamped_iso_time(x), x


def test_int_text_is_str_of_int():
    values = np.array([0.0, -0.0, -0.7, 0.7, 1.0, -1.0, 9.0, 10.0, 99.5, 65535.0, 2.0**53,
                       9e18 - 1024, -(9e18 - 1024), 9e18, -9e18, 2.0**63, 1e19, -1e300, 1e308,
                       np.nan, np.inf, -np.inf])
    chars, present = evetext.int_text(values)
    for x, row, ok in zip(values.tolist(), chars, present.tolist(), strict=True):
        assert ok == math.isfinite(x)
        assert bytes(row[row != 0]).decode() == (str(int(x)) if ok else "")


# ----------------------------------------------------------------- the writer
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=60), st.integers(0, 1200),
       st.integers(0, 3), st.integers(1, 17), st.integers(0, 50))
def test_write_lines_rotates_as_the_per_line_writer(tmp_path_factory, sizes, max_bytes, keep,
                                                     batch, existing):
    """Same files, same contents, same rotations as one line at a time (the old writer), for
    any batching, limit (also below a line's size) and file already there."""
    tmp = tmp_path_factory.mktemp("rot")
    lines = [(f"{i}:" + "x" * s)[: s - 1] + "\n" if s > 1 else "\n" for i, s in enumerate(sizes)]
    for d in ("old", "new"):
        (tmp / d).mkdir()
        (tmp / d / "a.jsonl").write_text("e" * existing)
    old = RefWriter(tmp / "old" / "a.jsonl", max_bytes, keep)
    for line in lines:
        old.write_line(line)
    old.close()
    new = AlertWriter(str(tmp / "new" / "a.jsonl"), max_bytes, keep)
    for start in range(0, len(lines), batch):
        part = lines[start : start + batch]
        new.write_lines("".join(part).encode(), [len(s) for s in part])
    new.close()
    assert new.rotations == old.rotations and new.written == len(lines)
    names = sorted(os.listdir(tmp / "old"))
    assert sorted(os.listdir(tmp / "new")) == names
    for name in names:
        assert (tmp / "new" / name).read_bytes() == (tmp / "old" / name).read_bytes(), name


def test_writer_on_streams_and_single_events():
    buf = io.StringIO()
    w = AlertWriter(None, stream=buf)
    w.write({"a": "é", "b": [1, 2.5]})
    w.write_lines(b'{"x":1}\n{"y":2}\n', [8, 8])
    assert buf.getvalue() == '{"a":"\\u00e9","b":[1,2.5]}\n{"x":1}\n{"y":2}\n' and w.written == 3
    raw = io.BytesIO()
    AlertWriter("-", stream=raw).write_lines(b"{}\n", [3])
    assert raw.getvalue() == b"{}\n"


# ----------------------------------------------------------------- the detector end to end
def test_hostile_records_never_stop_the_detector(bot_window_model, tmp_path):
    """Time stamps a datetime cannot hold, addresses with quotes, escapes and non-ASCII text:
    every flow still alerts (threshold ~0), every line is JSON, the bad times are marked."""
    from ltcn_kernels.gateway import DetectOptions, run_detect

    raw = BOT_ENTIRE.read_bytes().splitlines()
    evil_times = [b"1e19", b"-1e19", b"1e300", b"253402300800", b"-62135596801"]
    evil_ips = ['a"b\\c', "caf\u00e9", "::ffff:10.0.0.1", "\u2028"]
    out_lines = [raw[0]]
    for i, line in enumerate(raw[1:]):
        f = line.split(b",")
        if i % 3 == 0:
            f[1] = evil_times[i % len(evil_times)]  # stime
        if i % 4 == 0:
            f[4] = evil_ips[i // 4 % len(evil_ips)].encode()  # saddr
        out_lines.append(b",".join(f))
    path = tmp_path / "evil.csv"
    path.write_bytes(b"\n".join(out_lines) + b"\n")
    alerts = tmp_path / "a.jsonl"
    res = run_detect(bot_window_model, DetectOptions(str(path), alerts=str(alerts),
                     threshold=1e-9, stats_every=0, micro_batch=16), err=io.StringIO())
    events = [json.loads(s) for s in alerts.read_text().splitlines()]
    assert res["alerts"] == len(events) == res["flows"] > 0
    stamps = {e["timestamp"] for e in events}
    assert TIME_MAX in stamps and TIME_MIN in stamps
    assert {'a"b\\c', "caf\u00e9"} <= {e["src_ip"] for e in events}


def test_dry_run_commands_stay_before_their_alert_on_a_shared_stream(bot_window_model):
    """Alerts and dry-run nft commands on one stream (no alert file): each command right
    before the alert of the flow whose source it blocks, as one alert at a time wrote them."""
    from ltcn_kernels.gateway import DetectOptions, Firewall, run_detect

    buf = io.StringIO()
    run_detect(bot_window_model, DetectOptions(str(BOT_ENTIRE), threshold=1e-9, stats_every=0,
               firewall="nftables", block_rate=1e6, micro_batch=32), out=buf,
               err=io.StringIO())
    lines = buf.getvalue().splitlines()
    adds = [i for i, s in enumerate(lines) if s.startswith('["nft", "add", "element"')]
    assert adds
    for i in adds:
        after = json.loads(lines[i + 1])
        assert after["event_type"] == "alert"
        assert json.loads(lines[i])[7] == str(Firewall.validate(after["src_ip"]))


def test_warm_up_compiles_every_kernel_of_a_batch():
    evetext.warm_up()
    before = {k: len(v.signatures) for k, v in _kernels().items()}
    table = read_flows(BOT_ENTIRE, drop_duplicates=False, unknown_label="keep", progress=False)
    alert_lines(AlertFormat(("a", "b")), AlertColumns(table), np.arange(5),
                np.full((5, 2), 0.5, np.float32), np.full(5, 0.5), np.ones(5, int))
    assert {k: len(v.signatures) for k, v in _kernels().items()} == before


def _kernels():
    return {k: v for k, v in vars(evetext).items() if hasattr(v, "signatures") and k != "njit"}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
