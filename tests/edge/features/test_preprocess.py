"""The frozen transform: fitted on train only, JSON round trip, clipping, unseen categories."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, CIC_IMPROVED, NSL_TEST, NSL_TRAIN
from ltcn_kernels import DataFormatError, Preprocessor, read_flows
from ltcn_kernels.features.preprocess import port_buckets
from ltcn_kernels.io.schema import WELL_KNOWN_PORTS


@pytest.fixture(scope="module")
def nsl():
    return read_flows(NSL_TRAIN), read_flows(NSL_TEST)


def test_bounds_come_from_training_rows_only(nsl):
    train, _ = nsl
    rows = np.arange(0, len(train), 2)
    pre = Preprocessor.fit(train, rows)
    np.testing.assert_array_equal(pre.minimum, train.features[rows].min(axis=0))
    np.testing.assert_array_equal(pre.maximum, train.features[rows].max(axis=0))
    x = pre.transform(train, rows)
    numeric = x[:, : len(pre.feature_names)]
    assert numeric.min() >= 0 and numeric.max() <= 1
    varying = np.asarray(pre.maximum) > np.asarray(pre.minimum)
    assert np.allclose(numeric[:, varying].max(axis=0), 1.0)
    assert np.allclose(numeric[:, varying].min(axis=0), 0.0)
    assert (numeric[:, ~varying] == 0).all()  # constant columns carry nothing


def test_out_of_range_values_are_clipped_and_unseen_categories_go_to_other(nsl):
    train, test = nsl
    pre = Preprocessor.fit(train)
    x = pre.transform(test)
    f = len(pre.feature_names)
    assert x[:, :f].min() >= 0 and x[:, :f].max() <= 1
    # Each categorical block is one-hot: exactly one 1 per row.
    col = f
    for name, vocab in pre.categorical:
        block = x[:, col : col + len(vocab) + 1]
        assert (block.sum(axis=1) == 1).all()
        unseen = ~np.isin(test.strings[name].values(), vocab)
        np.testing.assert_array_equal(block[:, -1] == 1, unseen)
        col += len(vocab) + 1
    assert x.shape == (len(test), pre.width) and x.dtype == np.float32


def test_width_and_names_nsl_kdd(nsl):
    train, _ = nsl
    pre = Preprocessor.fit(train)
    assert len(pre.output_names) == pre.width
    assert pre.classes == ("normal", "DoS", "Probe", "R2L", "U2R")
    assert "protocol_type=tcp" in pre.output_names and "protocol_type=other" in pre.output_names


def test_port_buckets():
    ports = np.array([80, 443, 12345, np.nan, 22, 0x0303])
    slots = port_buckets(ports, WELL_KNOWN_PORTS)
    assert slots.tolist() == [
        WELL_KNOWN_PORTS.index(80), WELL_KNOWN_PORTS.index(443), len(WELL_KNOWN_PORTS),
        len(WELL_KNOWN_PORTS) + 1, WELL_KNOWN_PORTS.index(22), len(WELL_KNOWN_PORTS),
    ]


@pytest.mark.parametrize("path", [NSL_TRAIN, BOT_ENTIRE, CIC_IMPROVED[0]])
def test_json_round_trip_is_exact(path, tmp_path):
    table = read_flows(path)
    for log_scale in (False, True):
        pre = Preprocessor.fit(table, log_scale=log_scale)
        text = pre.to_json()
        again = Preprocessor.from_json(text)
        assert again == pre
        np.testing.assert_array_equal(again.transform(table), pre.transform(table))
        assert "pickle" not in text


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=2, max_size=6),
    st.lists(st.text(min_size=1, max_size=8), max_size=5, unique=True),
)
def test_spec_round_trip_property(bounds, vocab):
    pre = Preprocessor(
        dataset="bot-iot",
        feature_names=tuple(f"f{i}" for i in range(len(bounds))),
        minimum=tuple(min(b, 0.0) for b in bounds),
        maximum=tuple(max(b, 0.0) for b in bounds),
        categorical=(("proto", tuple(vocab)),),
        ports=(("dport", WELL_KNOWN_PORTS),),
        classes=("Normal", "DDoS"),
    )
    assert Preprocessor.from_json(pre.to_json()) == pre


def test_tampered_or_newer_spec_is_refused():
    table = read_flows(BOT_ENTIRE)
    spec = Preprocessor.fit(table).to_dict()
    tampered = json.loads(json.dumps(spec))
    tampered["features"][0]["max"] = 1e9
    with pytest.raises(DataFormatError, match="checksum"):
        Preprocessor.from_dict(tampered)
    newer = dict(spec, version=99)
    with pytest.raises(DataFormatError, match="newer"):
        Preprocessor.from_dict(newer)
    with pytest.raises(DataFormatError, match="invalid JSON"):
        Preprocessor.from_json("{not json")


def test_features_of_another_layout_are_refused():
    pre = Preprocessor.fit(read_flows(BOT_ENTIRE))
    with pytest.raises(DataFormatError, match="do not match"):
        pre.transform(read_flows(NSL_TEST))


def test_labels_encode_to_model_classes(nsl):
    train, test = nsl
    pre = Preprocessor.fit(train)
    y = pre.encode_labels(test)
    assert y.min() >= 0
    names = np.asarray(pre.classes)[y]
    np.testing.assert_array_equal(names, test.group.values())
    raw = Preprocessor.fit(train, label_kind="raw")
    y_raw = raw.encode_labels(test)
    # Attack names never seen in training are not model classes: -1.
    unseen = ~np.isin(test.label.values(), raw.classes)
    np.testing.assert_array_equal(y_raw < 0, unseen)
