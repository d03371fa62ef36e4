"""Bad input: one clear error naming file, line and column -- never a crash or a traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, CIC_IMPROVED, CIC_MLCVE, CIC_TRAFFIC, NSL_TEST
from ltcn_kernels import DataFormatError, read_flows
from ltcn_kernels.io._csv import parse_number, parse_time


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _error(path, **kwargs) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        read_flows(path, **kwargs)
    err = info.value
    assert err.path == str(path)
    assert "\n" not in str(err)
    return err


def test_empty_file(tmp_path):
    err = _error(_write(tmp_path, "empty.csv", b""))
    assert "empty" in err.message
    err = _error(_write(tmp_path, "blank.csv", b"\n\r\n  \n"))
    assert "empty" in err.message


def test_header_only_file_has_no_rows(tmp_path):
    header = CIC_MLCVE.read_bytes().splitlines(keepends=True)[0]
    table = read_flows(_write(tmp_path, "header.csv", header))
    assert len(table) == 0


def test_missing_column_in_header(tmp_path):
    lines = CIC_TRAFFIC.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b" Source Port,", b"")
    err = _error(_write(tmp_path, "missing.csv", b"\n".join(lines)))
    assert (err.line, err.column) == (1, 3)
    assert "Source Port" in err.message


def test_extra_column_in_header(tmp_path):
    lines = CIC_MLCVE.read_bytes().split(b"\n")
    lines[0] = lines[0].rstrip(b"\r") + b",Comment"
    err = _error(_write(tmp_path, "extra.csv", b"\n".join(lines)))
    assert (err.line, err.column) == (1, 80)
    assert "Comment" in err.message


def test_truncated_line(tmp_path):
    lines = NSL_TEST.read_bytes().split(b"\n")
    lines[9] = lines[9][: len(lines[9]) // 2].rsplit(b",", 1)[0]
    n_fields = lines[9].count(b",") + 1
    err = _error(_write(tmp_path, "truncated.txt", b"\n".join(lines)))
    assert (err.line, err.column) == (10, n_fields + 1)
    assert "too few fields" in err.message


def test_ragged_line_with_extra_field(tmp_path):
    lines = BOT_ENTIRE.read_bytes().split(b"\r\n")
    lines[3] = lines[3] + b",surplus"
    err = _error(_write(tmp_path, "ragged.csv", b"\r\n".join(lines)))
    assert (err.line, err.column) == (4, 36)
    assert "too many fields" in err.message


def test_wrong_delimiter_on_a_line(tmp_path):
    lines = CIC_IMPROVED[0].read_bytes().split(b"\n")
    lines[7] = lines[7].replace(b",", b";")
    err = _error(_write(tmp_path, "semicolons.csv", b"\n".join(lines)))
    assert err.line == 8
    assert "fields" in err.message or "not a number" in err.message


def test_non_numeric_value_names_column_and_value(tmp_path):
    lines = CIC_MLCVE.read_bytes().split(b"\n")
    fields = lines[4].split(b",")
    fields[14] = b"fast"  # Flow Bytes/s
    lines[4] = b",".join(fields)
    err = _error(_write(tmp_path, "text.csv", b"\n".join(lines)))
    assert (err.line, err.column) == (5, 15)
    assert "Flow Bytes/s" in err.message and "'fast'" in err.message


def test_bad_timestamp(tmp_path):
    lines = CIC_TRAFFIC.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"7/7/2017 3:30", b"7/7/2017 3h30")
    err = _error(_write(tmp_path, "time.csv", b"\n".join(lines)))
    assert (err.line, err.column) == (3, 7)
    assert "timestamp" in err.message


def test_unknown_format_and_binary_file(tmp_path):
    err = _error(_write(tmp_path, "other.csv", b"a,b,c\n1,2,3\n"))
    assert "unknown format" in err.message and err.line == 1
    err = _error(_write(tmp_path, "capture.csv", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(40)))
    assert "pcap" in err.message


def test_mixed_datasets_refused():
    with pytest.raises(DataFormatError, match="mixed"):
        read_flows([NSL_TEST, BOT_ENTIRE])
    with pytest.raises(DataFormatError, match="not cicids2017"):
        read_flows(NSL_TEST, dataset="cicids2017")


def test_skip_bad_lines_counts_and_keeps_good_ones(tmp_path):
    lines = NSL_TEST.read_bytes().split(b"\n")
    good = read_flows(NSL_TEST, drop_duplicates=False)
    lines[3] = lines[3][:20]  # truncated
    lines[8] = lines[8] + b",extra"  # ragged
    lines[12] = lines[12].replace(b"0,", b"zero,", 1)  # not a number
    path = _write(tmp_path, "dirty.txt", b"\n".join(lines))
    table = read_flows(path, skip_bad_lines=True, drop_duplicates=False)
    assert table.drops == {
        "bad line: too few fields": 1,
        "bad line: too many fields": 1,
        "bad line: not a number": 1,
    }
    keep = np.ones(len(good), bool)
    keep[[3, 8, 12]] = False
    np.testing.assert_array_equal(table.features, good.features[keep])
    np.testing.assert_array_equal(table.line, good.line[keep])


def test_cli_error_is_one_line_exit_2(tmp_path):
    lines = NSL_TEST.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",tcp,", b",tcp,,", 1)
    path = _write(tmp_path, "bad.txt", b"\n".join(lines))
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "data", "summary", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"ltcn: error: {path}:3:")


# ------------------------------------------------------------------ property tests
FORMAT_FIXTURES = [NSL_TEST, CIC_MLCVE, CIC_TRAFFIC, CIC_IMPROVED[0], BOT_ENTIRE]
_HEADS = {p: p.read_bytes()[:6000] for p in FORMAT_FIXTURES}


@st.composite
def corrupted(draw):
    """A real fixture's first few KB with random damage: cut, insert, replace, or delete."""
    path = draw(st.sampled_from(FORMAT_FIXTURES))
    data = bytearray(_HEADS[path])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "insert", "replace", "delete", "delimiter"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 50))]
        elif op == "delimiter":
            data[pos:pos] = draw(st.sampled_from([b",", b"\t", b";", b'"', b"\n", b"\r"]))
    return path.name, bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=corrupted())
def test_corrupted_files_parse_or_fail_cleanly(tmp_path, case):
    name, data = case
    path = _write(tmp_path, name, data)
    try:
        table = read_flows(path, drop_duplicates=False, drop_nonfinite=False, progress=False)
    except DataFormatError as err:
        assert err.path == str(path)
        assert str(err).startswith(str(path))
        return
    assert len(table) <= data.count(b"\n") + 1
    assert table.features.shape == (len(table), len(table.feature_names))
    assert (table.line >= 1).all() and (np.diff(table.line) > 0).all()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_parse_number_matches_python_float(value):
    for text in (repr(value), f"{value:.6e}", f"{value:g}"):
        buf = np.frombuffer(text.encode(), np.uint8)
        got, ok = parse_number(buf, 0, len(buf), False)
        assert ok
        assert got == pytest.approx(float(text), rel=1e-13, abs=0.0)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=__import__("datetime").datetime(1970, 1, 2),
                    max_value=__import__("datetime").datetime(2099, 12, 31)))
def test_parse_time_matches_datetime(moment):
    import datetime as dt

    want = moment.replace(tzinfo=dt.UTC).timestamp()
    for text in (moment.isoformat(sep=" "), moment.strftime("%m/%d/%Y %I:%M:%S %p")):
        buf = np.frombuffer(text.encode(), np.uint8)
        got, ok = parse_time(buf, 0, len(buf), 0)
        assert ok, text
        expect = want if "M" not in text else want - moment.microsecond / 1e6
        assert got == pytest.approx(expect, abs=1e-6), text


@pytest.mark.parametrize("text", ["1e", "--1", "1.2.3", "0x", "0xZZ", "abc", "1e5x", "+", "."])
def test_parse_number_rejects(text):
    buf = np.frombuffer(text.encode(), np.uint8)
    assert not parse_number(buf, 0, len(buf), True)[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000),
                                                            st.integers(1, 255)), max_size=3))
def test_damaged_gzip_is_one_line_naming_the_file(tmp_path, cut, flips):
    """A truncated or byte-flipped gzip file (from the reader, format detection, the bytes
    reader and `ltcn data summary` alike) parses or is one DataFormatError naming it."""
    import gzip

    from ltcn_kernels import read_flows_bytes

    data = bytearray(gzip.compress(BOT_ENTIRE.read_bytes(), mtime=0))
    for at, xor in flips:
        data[10 + at % (len(data) - 10)] ^= xor  # past the magic: still taken as gzip
    data = bytes(data[: 2 + cut % (len(data) - 1)])
    path = _write(tmp_path, "damaged.csv.gz", data)
    for read in (lambda: read_flows(path, progress=False),
                 lambda: read_flows_bytes(data, name=str(path))):
        try:
            read()
        except DataFormatError as err:
            assert err.path == str(path) and "\n" not in str(err)


def test_damaged_gzip_on_the_command_line_is_one_line_exit_2(tmp_path):
    import gzip

    data = gzip.compress(BOT_ENTIRE.read_bytes())
    path = _write(tmp_path, "cut.csv.gz", data[: len(data) // 2])
    for argv in (["data", "summary", str(path)],):
        proc = subprocess.run([sys.executable, "-m", "ltcn_kernels.cli", *argv], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1] == (
            f"ltcn: error: {path}: corrupt or truncated gzip data (it ends early)")
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("stime", ["1e12", "1e20", "-1e15"])
def test_out_of_range_time_stamps_are_summarised_not_fatal(tmp_path, stime):
    from ltcn_kernels.io.summary import format_summary, summarize

    lines = BOT_ENTIRE.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("stime")] = stime
    path = _write(tmp_path, "far.csv", "\n".join([lines[0], ",".join(row), *lines[2:]]).encode())
    text = format_summary(summarize(read_flows(path, progress=False)))
    assert "out of the calendar's range" in text
