"""Readers: every format and layout, their quirks, and parity with a reference CSV parse."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (
    BOT_ENTIRE,
    CIC_IMPROVED,
    CIC_MLCVE,
    CIC_TRAFFIC,
    FIXTURES,
    NSL_TEST,
    NSL_TRAIN,
    shared,
)
from ltcn_kernels import DataFormatError, detect, read_flows
from ltcn_kernels.io import datasets, schema
from ltcn_kernels.io.flows import read_flows_bytes
from ltcn_kernels.io.labels import NSL_KDD_CATEGORIES, normalize_cicids


def _reference_rows(path, delimiter=","):
    text = path.read_bytes().decode("utf-8-sig")
    return [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]


def _ref_float(text: str) -> float:
    text = text.strip().strip('"')
    return math.nan if text == "" else float(text)


# --------------------------------------------------------------------------- detection
@pytest.mark.parametrize(
    ("path", "dataset", "layout"),
    [
        (NSL_TEST, "nsl-kdd", "kdd-43"),
        (NSL_TRAIN, "nsl-kdd", "kdd-43"),
        (CIC_MLCVE, "cicids2017", "machine-learning-cve"),
        (CIC_TRAFFIC, "cicids2017", "traffic-labelling"),
        (CIC_IMPROVED[0], "cicids2017", "improved"),
        (BOT_ENTIRE, "bot-iot", "entire"),
    ],
)
def test_detects_layout_from_content(path, dataset, layout, tmp_path):
    det = detect(path)
    assert (det.layout.dataset, det.layout.name) == (dataset, layout)
    # The file name plays no part: the same bytes under a misleading name detect the same.
    decoy = tmp_path / "KDDTest+.txt"
    decoy.write_bytes(path.read_bytes())
    assert detect(decoy).layout.name == layout


def test_leak_columns_are_never_features():
    leaky = {"Flow ID", "Source IP", "Destination IP", "Timestamp", "Source Port", "id",
             "pkSeqID", "stime", "ltime", "seq", "saddr", "daddr", "sport", "difficulty"}
    for layout in datasets.LAYOUTS:
        assert not leaky & set(layout.feature_names), layout.name
        assert not leaky & set(layout.categorical_names), layout.name
    table = read_flows(CIC_TRAFFIC)
    assert {"Flow ID", "Source IP", "Timestamp"} <= set(table.excluded)


def test_the_dataset_registry_holds_each_datasets_layouts_and_label_normaliser():
    assert list(datasets.DATASETS) == ["nsl-kdd", "cicids2017", "bot-iot"]
    for name, entry in datasets.DATASETS.items():
        assert entry.layouts and all(layout.dataset == name for layout in entry.layouts)
        assert entry.normal in entry.groups
    assert datasets.dataset("nsl-kdd").normalize("neptune") == ("neptune", "DoS")
    assert datasets.dataset("cicids2017").normalize("Web Attack \ufffd XSS") == ("Web Attack - XSS", "Web Attack")
    assert datasets.dataset("bot-iot").normalize("1", "DoS", "TCP") == ("DoS/TCP", "DoS")
    assert len(datasets.LAYOUTS) == len(set(datasets.LAYOUTS)) == 7
    with pytest.raises(ValueError, match="unknown dataset 'kdd'; expected one of nsl-kdd, cicids2017, bot-iot"):
        datasets.dataset("kdd")
    with pytest.raises(ValueError, match="expected auto or one of nsl-kdd, cicids2017, bot-iot"):
        read_flows(CIC_TRAFFIC, "kdd")


def test_cicids_layouts_share_one_canonical_feature_order():
    names = {
        lay.feature_names
        for lay in (schema.CICIDS_MLCVE, schema.CICIDS_TRAFFIC, schema.CICIDS_IMPROVED)
    }
    assert len(names) == 1
    (features,) = names
    assert len(features) == 76  # 78 features - duplicated Fwd Header Length - Destination Port
    assert len(set(features)) == 76
    table = read_flows([CIC_MLCVE, CIC_TRAFFIC, *CIC_IMPROVED])  # all three layouts at once
    assert table.layouts.count("improved") == len(CIC_IMPROVED)


# ------------------------------------------------------------ parity with a reference parse
@pytest.mark.parametrize("path", [NSL_TEST, CIC_MLCVE, CIC_TRAFFIC, CIC_IMPROVED[2], BOT_ENTIRE])
def test_numeric_features_equal_reference_parse(path):
    det = detect(path)
    table = read_flows(path, drop_duplicates=False, drop_nonfinite=False)
    rows = _reference_rows(path)
    if det.has_header:
        rows = rows[1:]
    assert len(rows) == len(table)
    columns = det.layout.columns
    for j, col in enumerate(columns):
        if col.role != schema.FEATURE:
            continue
        k = table.feature_names.index(col.name)
        want = np.array([_ref_float(r[j]) for r in rows], np.float32)
        got = table.features[:, k]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=col.raw)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6, err_msg=col.raw)


def test_duplicated_fwd_header_length_keeps_the_first():
    rows = _reference_rows(CIC_MLCVE)
    header = [h.strip() for h in rows[0]]
    assert [i for i, h in enumerate(header) if h == "Fwd Header Length"] == [34, 55]
    table = read_flows(CIC_MLCVE, drop_duplicates=False, drop_nonfinite=False)
    k = table.feature_names.index("Fwd Header Length")
    np.testing.assert_allclose(table.features[:, k], [float(r[34]) for r in rows[1:]])


def test_infinity_and_nan_text_are_counted_and_dropped():
    raw = read_flows(CIC_MLCVE, drop_duplicates=False, drop_nonfinite=False)
    text = CIC_MLCVE.read_bytes()
    assert np.isinf(raw.features).sum() == text.count(b"Infinity")
    assert np.isnan(raw.features).sum() == text.count(b",NaN")
    clean = read_flows(CIC_MLCVE, drop_duplicates=False)
    dropped = clean.drops.get("NaN or empty feature", 0) + clean.drops.get("infinite feature", 0)
    assert len(clean) == len(raw) - dropped
    assert np.isfinite(clean.features).all()
    assert raw.negative_cells > 0  # Init_Win_bytes = -1 and negative IATs are kept


def test_labels_bom_and_mojibake():
    assert CIC_MLCVE.read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"Web Attack \xc3\xaf\xc2\xbf\xc2\xbd Brute Force" in CIC_MLCVE.read_bytes()
    table = read_flows(CIC_MLCVE, drop_duplicates=False, drop_nonfinite=False)
    counts = table.label.counts()
    raw = [r[-1] for r in _reference_rows(CIC_MLCVE)[1:]]
    assert counts == {
        "BENIGN": raw.count("BENIGN"),
        "Web Attack - Brute Force": sum(x.endswith("Brute Force") for x in raw),
        "Web Attack - XSS": sum(x.endswith("XSS") for x in raw),
        "Web Attack - Sql Injection": sum(x.endswith("Sql Injection") for x in raw),
    }
    assert min(counts.values()) > 0
    assert table.group.counts()["Web Attack"] == sum(v for k, v in counts.items() if k != "BENIGN")


@pytest.mark.parametrize(
    ("raw", "label", "group"),
    [
        ("Web Attack \u00ef\u00bf\u00bd Brute Force", "Web Attack - Brute Force", "Web Attack"),
        ("Web Attack \ufffd XSS", "Web Attack - XSS", "Web Attack"),
        ("Web Attack \u2013 Sql Injection", "Web Attack - Sql Injection", "Web Attack"),
        ("Web Attack - SQL Injection", "Web Attack - Sql Injection", "Web Attack"),
        ("Portscan", "PortScan", "PortScan"),
        ("PortScan", "PortScan", "PortScan"),
        ("Bot", "Bot", "Bot"),
        ("Botnet", "Bot", "Bot"),
        ("DoS slowloris", "DoS slowloris", "DoS"),
        ("DoS Slowloris", "DoS slowloris", "DoS"),
        ("DoS Slowhttptest", "DoS Slowhttptest", "DoS"),
        (" BENIGN", "BENIGN", "BENIGN"),
        ("FTP-Patator - Attempted", "FTP-Patator - Attempted", "Attempted"),
        ("Heartbleed", "Heartbleed", "Heartbleed"),
    ],
)
def test_cicids_label_spellings(raw, label, group):
    assert normalize_cicids(raw) == (label, group)


def test_improved_labels_and_microsecond_timestamps():
    table = read_flows(CIC_IMPROVED, drop_duplicates=False)
    assert set(table.label.counts()) == {
        "BENIGN",
        "Bot",
        "DDoS",
        "FTP-Patator",
        "PortScan",
        "SSH-Patator",
    }
    rows = _reference_rows(CIC_IMPROVED[1])[1:]  # Botnet
    first = table.file_index == 1
    want = dt.datetime.fromisoformat(rows[0][7]).replace(tzinfo=dt.UTC).timestamp()
    assert table.aux_column("Timestamp")[first][0] == pytest.approx(want, abs=1e-6)
    order = table.capture_order()
    assert np.all(np.diff(table.aux_column("Timestamp")[order]) >= 0)


def test_traffic_labelling_twelve_hour_clock():
    table = read_flows(CIC_TRAFFIC)
    stamp = dt.datetime.fromtimestamp(table.aux_column("Timestamp")[0], dt.UTC)
    assert b"7/7/2017 3:30" in CIC_TRAFFIC.read_bytes()
    assert (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute) == (2017, 7, 7, 15, 30)


def test_nsl_kdd_every_test_label_is_mapped():
    table = read_flows(NSL_TEST, drop_duplicates=False)
    names = set(table.label.counts())
    assert len(names) == 38
    assert names <= set(NSL_KDD_CATEGORIES)
    only_in_test = {"apache2", "httptunnel", "mailbomb", "mscan", "named", "perl", "processtable",
                    "ps", "saint", "sendmail", "snmpgetattack", "snmpguess", "sqlattack",
                    "udpstorm", "worm", "xlock", "xsnoop", "xterm"}
    assert only_in_test <= names
    assert set(table.group.counts()) == {"normal", "DoS", "Probe", "R2L", "U2R"}


def test_nsl_kdd_variants_header_crlf_42_columns_gzip(tmp_path):
    base = read_flows(NSL_TEST, drop_duplicates=False)
    lines = NSL_TEST.read_bytes().splitlines()
    header = ",".join([*schema._NSL_NAMES, "label", "difficulty"]).encode()
    variants = {
        "header.csv": b"\n".join([header, *lines]) + b"\n",
        "crlf.txt": b"\r\n".join(lines),  # CRLF and no final newline
        "kdd42.txt": b"\n".join(line.rsplit(b",", 1)[0] for line in lines) + b"\n",
    }
    for name, data in variants.items():
        path = tmp_path / name
        path.write_bytes(data)
        table = read_flows(path, drop_duplicates=False)
        np.testing.assert_array_equal(table.features, base.features, err_msg=name)
        assert table.label.values().tolist() == base.label.values().tolist()
    gz = tmp_path / "KDDTest.txt.gz"
    gz.write_bytes(gzip.compress(NSL_TEST.read_bytes()))
    np.testing.assert_array_equal(read_flows(gz, drop_duplicates=False).features, base.features)


def test_unknown_label_policy(tmp_path):
    lines = NSL_TEST.read_bytes().splitlines()
    target = next(i for i, line in enumerate(lines) if b",neptune," in line)
    lines[target] = lines[target].replace(b",neptune,", b",zeroday,")
    path = tmp_path / "unknown.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataFormatError) as info:
        read_flows(path)
    assert (info.value.line, info.value.column) == (target + 1, 42)
    assert "zeroday" in str(info.value)
    dropped = read_flows(path, unknown_label="drop", drop_duplicates=False)
    assert dropped.drops["unknown label"] == 1 and len(dropped) == len(lines) - 1
    kept = read_flows(path, unknown_label="keep", drop_duplicates=False)
    assert kept.group.counts()["unknown"] == 1


# ------------------------------------------------------------------------------ BoT-IoT
def test_bot_iot_crlf_float_and_empty_ports():
    assert b"\r\n" in BOT_ENTIRE.read_bytes()
    table = read_flows(BOT_ENTIRE, drop_duplicates=False)
    rows = _reference_rows(BOT_ENTIRE)[1:]
    dport = table.aux_column("dport")
    want = np.array([_ref_float(r[7]) for r in rows])
    np.testing.assert_array_equal(np.isnan(dport), np.isnan(want))
    assert np.isnan(dport).sum() == sum(1 for r in rows if r[7] == "")  # ARP rows
    assert table.label.counts() == {"Normal": 65, "DDoS/TCP": 150}
    assert table.group.counts() == {"Normal": 65, "DDoS": 150}


def _published_bot_iot(rows, quote=True):
    """The published byte format: no header, double-quoted strings, CRLF."""
    out = []
    for r in rows:
        fields = []
        for j, v in enumerate(r):
            role = schema.BOT_IOT_ENTIRE.columns[j].role
            text = v
            if (
                quote
                and role in (schema.CATEGORY, schema.META_TEXT, schema.LABEL, schema.SKIP)
                and j not in (32,)
            ):
                text = f'"{v}"'
            fields.append(text)
        out.append(",".join(fields))
    return ("\r\n".join(out) + "\r\n").encode()


def test_bot_iot_published_format_quoted_headerless_hex_ports(tmp_path):
    rows = _reference_rows(BOT_ENTIRE)[1:]
    base = read_flows(BOT_ENTIRE, drop_duplicates=False)
    # Same values written as the published files write them: hexadecimal ports, and ports
    # as plain integers instead of pandas' floats.
    hexed = [list(r) for r in rows]
    for r in hexed:
        for j in (5, 7):
            if r[j]:
                r[j] = hex(int(float(r[j])))
    path = tmp_path / "UNSW_2018_IoT_Botnet_Dataset_1.csv"
    path.write_bytes(_published_bot_iot(hexed))
    det = detect(path)
    assert (det.layout.name, det.has_header) == ("entire", False)
    table = read_flows(path, drop_duplicates=False)
    np.testing.assert_array_equal(table.features, base.features)
    np.testing.assert_array_equal(table.aux_column("dport"), base.aux_column("dport"))
    assert table.strings["proto"].values().tolist() == base.strings["proto"].values().tolist()
    assert table.label.values().tolist() == base.label.values().tolist()


def test_bot_iot_tab_separated_crlf_without_final_newline(tmp_path):
    rows = _reference_rows(BOT_ENTIRE)
    path = tmp_path / "bot.tsv"
    path.write_bytes("\r\n".join("\t".join(r) for r in rows).encode())
    base = read_flows(BOT_ENTIRE, drop_duplicates=False)
    table = read_flows(path, drop_duplicates=False)
    assert detect(path).delimiter == 9
    np.testing.assert_array_equal(table.features, base.features)
    assert len(table) == len(base)


def test_bot_iot_10_best_schema(tmp_path):
    # The published 10-best files' header and field formats (values from the schema's types).
    header = ",".join(c.raw for c in schema.BOT_IOT_10BEST.columns)
    lines = [
        header,
        '3142762,"udp","192.168.100.150",6551,"192.168.100.3",80,251984,1.900363,100,0.0,4,2.687519,100,0.0,0.494549,4.031619,1,"DoS","UDP"',
        '2432264,"tcp","192.168.100.150",5532,"192.168.100.3",80,256724,0.078003,38,3.85693,3,3.934927,100,0.0,0.256493,4.012924,1,"DoS","TCP"',
        '1976315,"tcp","192.168.100.147","0x0303","192.168.100.3",80,62921,0.268666,100,2.9741,3,3.341429,100,0.0,0.268,3.7,1,"DDoS","HTTP"',
    ]
    path = tmp_path / "UNSW_2018_IoT_Botnet_Final_10_best_Testing.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    table = read_flows(path, drop_duplicates=False)
    assert table.layouts == ["10-best"]
    assert table.aux_column("sport").tolist() == [6551, 5532, 0x0303]
    assert table.label.values().tolist() == ["DoS/UDP", "DoS/TCP", "DDoS/HTTP"]
    assert "N_IN_Conn_P_SrcIP" in table.feature_names and "seq" not in table.feature_names


def test_duplicates_removed_and_counted():
    table = read_flows(BOT_ENTIRE)
    raw = read_flows(BOT_ENTIRE, drop_duplicates=False)
    assert table.drops["duplicate"] == len(raw) - len(table) > 0
    key = np.concatenate([table.features, table.group.codes[:, None]], axis=1)
    assert len(np.unique(key, axis=0)) == len(table)


def test_chunked_reading_matches_one_chunk():
    whole = read_flows(CIC_MLCVE, drop_duplicates=False)
    small = read_flows(CIC_MLCVE, drop_duplicates=False, chunk_bytes=4096)  # many chunks
    np.testing.assert_array_equal(whole.features, small.features)
    assert whole.label.values().tolist() == small.label.values().tolist()
    np.testing.assert_array_equal(whole.line, small.line)


# ------------------------------------------------------- the staged full samples (../shared)
STAGED = [
    ("nsl-kdd/KDDTrain+_20Percent.txt", 25192, {"normal": 13449, "neptune": 8282, "ipsweep": 710}, 22),
    ("nsl-kdd/KDDTest+.txt", 22544, {"normal": 9711, "neptune": 4657, "guess_passwd": 1231}, 38),
    ("cicids2017/cicids_sample.csv", 10180, {"BENIGN": 8000, "Web Attack - Brute Force": 1507,
                                             "Web Attack - XSS": 652, "Web Attack - Sql Injection": 21}, 4),
    ("cicids2017/Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.csv", 299, {"BENIGN": 299}, 1),
    ("cicids2017/improved/BENIGN_2500.csv", 2500, {"BENIGN": 2500}, 1),
    ("cicids2017/improved/DDoS_2500.csv", 2500, {"DDoS": 2500}, 1),
    ("cicids2017/improved/Portscan_2500.csv", 2500, {"PortScan": 2500}, 1),
    ("cicids2017/improved/Botnet_736.csv", 736, {"Bot": 736}, 1),
    ("cicids2017/improved/FTP-Patator_2500.csv", 2500, {"FTP-Patator": 2500}, 1),
    ("cicids2017/improved/SSH-Patator_2500.csv", 2500, {"SSH-Patator": 2500}, 1),
    ("bot-iot/data_t.csv", 1109, {"DDoS/TCP": 1044, "Normal": 65}, 2),
]


@pytest.mark.parametrize(("path", "rows", "labels", "n_labels"), STAGED)
def test_staged_files_parse_with_published_counts(path, rows, labels, n_labels):
    table = read_flows(shared(path), drop_duplicates=False, drop_nonfinite=False)
    assert len(table) == table.rows_read == rows
    counts = table.label.counts()
    assert len(counts) == n_labels
    for name, n in labels.items():
        assert counts[name] == n


def test_staged_cicids_sample_has_20_infinity_and_2_nan_cells():
    table = read_flows(
        shared("cicids2017/cicids_sample.csv"), drop_duplicates=False, drop_nonfinite=False
    )
    assert int(np.isinf(table.features).sum()) == 20
    assert int(np.isnan(table.features).sum()) == 2


# ------------------------------------------------------------------- bytes in memory
def _variants(tmp_path):
    """Every layout the fixtures have, plus the published variants built from them."""
    nsl = NSL_TEST.read_bytes().splitlines()
    header = ",".join([*schema._NSL_NAMES, "label", "difficulty"]).encode()
    bot = _reference_rows(BOT_ENTIRE)
    made = {
        "nsl-header.csv": b"\n".join([header, *nsl]) + b"\n",
        "nsl-crlf.txt": b"\r\n".join(nsl),  # CRLF and no final newline
        "kdd42.txt": b"\n".join(line.rsplit(b",", 1)[0] for line in nsl) + b"\n",
        "bot.tsv": "\r\n".join("\t".join(r) for r in bot).encode(),
        "bot-published.csv": _published_bot_iot(bot[1:]),
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return [NSL_TEST, NSL_TRAIN, CIC_MLCVE, CIC_TRAFFIC, *CIC_IMPROVED, BOT_ENTIRE,
            *(tmp_path / name for name in made)]


def _assert_same_table(got, want):
    """Every array and field of two tables equal, except the input names."""
    for name in ("dataset", "layouts", "feature_names", "aux_names", "categorical_names",
                 "port_names", "order_by", "excluded", "drops", "rows_read", "negative_cells"):
        assert getattr(got, name) == getattr(want, name), name
    for name in ("features", "aux", "file_index", "line"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert list(got.strings) == list(want.strings)
    for k in ("label", "group", *got.strings):
        a = getattr(got, k) if k in ("label", "group") else got.strings[k]
        b = getattr(want, k) if k in ("label", "group") else want.strings[k]
        assert a.vocab == b.vocab, k
        np.testing.assert_array_equal(a.codes, b.codes, err_msg=k)


@pytest.mark.parametrize("options", [{}, {"drop_duplicates": False, "drop_nonfinite": False},
                                     {"unknown_label": "keep", "chunk_bytes": 4096}])
def test_bytes_and_file_give_the_same_table_for_every_layout(tmp_path, options):
    for path in _variants(tmp_path):
        want = read_flows(path, progress=False, **options)
        data = path.read_bytes()
        got = read_flows_bytes(data, name="upload.csv", **options)
        assert got.files == ["upload.csv"] and want.files == [str(path)]
        _assert_same_table(got, want)
        # Gzipped bytes (decided by the magic number, as for files).
        _assert_same_table(read_flows_bytes(gzip.compress(data), **options), want)
        assert read_flows_bytes(bytearray(data), **options).features.shape == want.features.shape


def test_bytes_errors_name_the_input_line_and_column(tmp_path):
    lines = BOT_ENTIRE.read_bytes().splitlines()
    fields = lines[7].split(b",")
    fields[8] = b"abc"  # pkts is not a number
    bad = b"\n".join([*lines[:7], b",".join(fields), *lines[8:]]) + b"\n"
    ragged = b"\n".join([*lines[:4], lines[4][:40], *lines[5:]]) + b"\n"
    nfstream = (FIXTURES / "pcap/synscan.pcap.nfstream.csv").read_bytes()
    for data in (bad, ragged, nfstream, b"", b"\x00\x01binary", gzip.compress(bad)):
        path = tmp_path / "f.csv"
        path.write_bytes(data)
        with pytest.raises(DataFormatError) as from_file:
            read_flows(path, progress=False)
        with pytest.raises(DataFormatError) as from_bytes:
            read_flows_bytes(data, name="upload")
        e, f = from_bytes.value, from_file.value
        assert (e.path, e.line, e.column, e.message) == ("upload", f.line, f.column, f.message)
        assert str(e).startswith("upload")
    with pytest.raises(DataFormatError, match="not a number in column 'pkts': 'abc'"):
        read_flows_bytes(bad)
    with pytest.raises(DataFormatError, match="this is a bot-iot file"):
        read_flows_bytes(BOT_ENTIRE.read_bytes(), "nsl-kdd")


_BAD_LINES = [b"this is not a flow record", b"1,2,3", b""]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(["bot", "nsl"]),
    cuts=st.lists(st.integers(0, 300), max_size=12),
    bad=st.lists(st.tuples(st.integers(0, 300), st.sampled_from(range(len(_BAD_LINES)))), max_size=6),
    chunk=st.sampled_from([64, 4096, 1 << 20]),
)
def test_micro_batches_from_bytes_lose_no_good_record(source, cuts, bad, chunk):
    """The gateway's path: a stream cut into micro-batches of lines, each parsed from bytes
    (the header first where the file has one), bad lines skipped. Together the batches hold
    every good record of the whole file, in order, with its line number."""
    path = BOT_ENTIRE if source == "bot" else NSL_TEST
    raw = path.read_bytes().splitlines()
    header, records = (raw[0], raw[1:]) if source == "bot" else (None, raw)
    whole = read_flows(path, drop_duplicates=False, drop_nonfinite=False, progress=False)
    # Bad lines anywhere (but first in a headerless stream: there they would be its format).
    stream = [(ln, True) for ln in records]
    for where, which in sorted(bad, reverse=True):
        stream.insert(
            max(where % (len(stream) + 1), 0 if header else 1), (_BAD_LINES[which], False)
        )
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    if header is None:  # a headerless batch's first line is its format: the gateway's business
        bounds = [b for b in bounds if b == len(stream) or stream[b][1]]
    tables, skipped, good_lines = [], 0, []
    for lo, hi in itertools.pairwise(bounds):
        batch = stream[lo:hi]
        data = (
            (b"" if header is None else header + b"\n") + b"\n".join(ln for ln, _ in batch) + b"\n"
        )
        t = read_flows_bytes(data, skip_bad_lines=True, drop_duplicates=False, drop_nonfinite=False,
                             unknown_label="keep", chunk_bytes=chunk)
        skipped += sum(n for reason, n in t.drops.items() if reason.startswith("bad line"))
        tables.append(t)
        # Line numbers in the batch -> positions in the stream.
        good_lines += [lo + int(n) - (2 if header else 1) for n in t.line]
    assert skipped == sum(1 for ln, ok in stream if not ok and ln.strip())
    assert [stream[i][1] for i in good_lines] == [True] * len(whole)  # only good records kept
    np.testing.assert_array_equal(np.concatenate([t.features for t in tables]), whole.features)
    np.testing.assert_array_equal(np.concatenate([t.aux for t in tables]), whole.aux)
    assert [v for t in tables for v in t.label.values().tolist()] == whole.label.values().tolist()
