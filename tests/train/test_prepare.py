"""From files to model-ready arrays: the official split, time splits, the cache, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import BOT_ENTIRE, CIC_IMPROVED, CIC_MLCVE, NSL_TEST, NSL_TRAIN
from ltcn_jax.data.prepare import DataConfig, cache_dir, prepare, resolve
from ltcn_jax.presets import quickstart_config
from ltcn_kernels import Preprocessor, make_sequences, read_flows


def test_embedded_data_is_the_published_nsl_kdd():
    train = read_flows(resolve("embedded:KDDTrain+_20Percent.txt"), drop_duplicates=False)
    test = read_flows(resolve("embedded:KDDTest+.txt"), drop_duplicates=False)
    assert (len(train), len(test)) == (25192, 22544)
    assert len(test.label.counts()) == 38


def test_official_split_fits_on_train_only():
    config = DataConfig(train_files=(str(NSL_TRAIN),), test_files=(str(NSL_TEST),), val_fraction=0.2)
    prepared = prepare(config, use_cache=False)
    train = read_flows(NSL_TRAIN)
    assert prepared.info["splits"]["train"]["rows"] + prepared.info["splits"]["val"]["rows"] == len(train)
    # Refit on the training rows alone reproduces the frozen bounds: test rows played no part.
    assert max(prepared.preprocessor.maximum) <= train.features.max()
    seq = make_sequences(prepared.x["test"], config.sequence, config.window)
    assert seq.shape == (prepared.info["splits"]["test"]["rows"], prepared.preprocessor.width, 1)
    assert set(np.unique(prepared.y["test"])) <= set(range(len(prepared.classes)))


def test_time_block_split_windows(tmp_path):
    config = DataConfig(
        dataset="cicids2017", files=tuple(map(str, CIC_IMPROVED)), split="class-time-block",
        sequence="flows", window=8, fractions=(0.5, 0.25, 0.25),
    )
    prepared = prepare(config, use_cache=False)
    for split in ("train", "val", "test"):
        seq = make_sequences(prepared.x[split], config.sequence, config.window)
        assert seq.shape == (len(prepared.y[split]), 8, prepared.preprocessor.width)
        np.testing.assert_array_equal(seq[:, -1], prepared.x[split])
        assert prepared.info["splits"][split]["rows"] > 0
    assert "warnings" not in prepared.info  # every class is in the training split


def test_time_block_split_warns_about_classes_missing_from_train():
    config = DataConfig(dataset="cicids2017", files=tuple(map(str, CIC_IMPROVED)), split="time-block")
    prepared = prepare(config, use_cache=False)
    assert any("absent from the training split" in w for w in prepared.info.get("warnings", []))


def test_cache_round_trip_and_damage():
    config = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="stratified", fractions=(0.6, 0.2, 0.2))
    first = prepare(config)
    second = prepare(config)
    assert "cache" in second.info and "cache" not in first.info
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(first.x[split], second.x[split])
        np.testing.assert_array_equal(first.y[split], second.y[split])
    assert second.preprocessor == first.preprocessor
    (npz,) = cache_dir().glob("*.npz")
    npz.write_bytes(npz.read_bytes()[:-10])  # damaged: rebuilt, not trusted
    third = prepare(config)
    assert "cache" not in third.info
    np.testing.assert_array_equal(third.x["test"], first.x["test"])


def test_config_errors_list_options():
    with pytest.raises(ValueError, match="expected one of"):
        DataConfig(split="random", files=("a",))
    with pytest.raises(ValueError, match="expected one of"):
        DataConfig(sequence="packets", train_files=("a",), test_files=("b",))
    with pytest.raises(ValueError, match="needs"):
        DataConfig(split="official")


def test_quickstart_config_prepares_embedded_data():
    prepared = prepare(quickstart_config().data, use_cache=False)
    assert prepared.info["splits"]["test"]["rows"] == 22544
    assert prepared.x["train"].dtype == np.float32
    spec = Preprocessor.from_json(prepared.preprocessor.to_json())
    assert spec == prepared.preprocessor


def test_cli_summary_json():
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "data", "summary", str(CIC_MLCVE), "--json"],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["format"] == "cicids2017/machine-learning-cve"
    assert summary["rows"] == sum(summary["labels"].values()) == sum(summary["groups"].values())
    assert summary["rows_read"] == summary["rows"] + sum(summary["dropped"].values())
    assert summary["groups"]["Web Attack"] > 0
    assert "Destination Port" not in summary["features"]


def test_edge_package_imports_no_training_stack():
    code = (
        "import sys, ltcn_kernels, ltcn_kernels.io.summary, ltcn_kernels.engine, ltcn_kernels.engine.artifact,"
        " ltcn_kernels.pipeline, ltcn_kernels.spec, ltcn_kernels.engine.csr, ltcn_kernels.gateway, ltcn_kernels.io.pcap;"
        "bad = [m for m in ('jax', 'flax', 'optax', 'pandas', 'sklearn', 'ltcn_jax') if m in sys.modules];"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
