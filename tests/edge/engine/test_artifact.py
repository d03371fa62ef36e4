"""The .ltcn model file: round trip, checksums, refusal of damaged or newer files, export."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltcn_kernels import DataFormatError
from ltcn_kernels.engine.artifact import MAGIC, read_artifact, write_artifact
from ltcn_kernels.engine.csr import csr_from_dense, index_dtype, kernel_matrix


def _arrays(rng):
    return {
        "a/kernel": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "a/indices": rng.integers(0, 200, size=17).astype(np.uint8),
        "b": np.arange(6, dtype=np.int64).reshape(2, 3),
    }


def test_round_trip(tmp_path):
    arrays = _arrays(np.random.default_rng(0))
    path = tmp_path / "m.ltcn"
    size = write_artifact(path, {"format": "test", "note": "x"}, arrays)
    assert size == path.stat().st_size
    art = read_artifact(path)
    assert art.manifest["note"] == "x" and art.manifest["file_bytes"] == size
    for name, value in arrays.items():
        np.testing.assert_array_equal(art.arrays[name], value)
        assert art.arrays[name].dtype == value.dtype


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_single_byte_change_or_cut_is_refused(data):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.ltcn"
        write_artifact(path, {"format": "test"}, _arrays(np.random.default_rng(1)))
        raw = bytearray(path.read_bytes())
        if data.draw(st.booleans()):
            cut = data.draw(st.integers(0, len(raw) - 1))
            damaged = bytes(raw[:cut])
        else:
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] ^= data.draw(st.integers(1, 255))
            damaged = bytes(raw)
        path.write_bytes(damaged)
        try:
            art = read_artifact(path)
        except DataFormatError:
            return
        # A change in alignment padding or JSON whitespace is harmless; the content must be intact.
        for name, value in _arrays(np.random.default_rng(1)).items():
            np.testing.assert_array_equal(art.arrays[name], value)


def test_newer_schema_and_wrong_magic_are_refused(tmp_path):
    path = tmp_path / "m.ltcn"
    write_artifact(path, {"format": "test"}, _arrays(np.random.default_rng(2)))
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[8:16])
    manifest = json.loads(raw[16 : 16 + length])
    manifest["schema_version"] = 99
    text = json.dumps(manifest).encode()
    path.write_bytes(MAGIC + struct.pack("<Q", len(text)) + text)
    with pytest.raises(DataFormatError, match="newer"):
        read_artifact(path)
    path.write_bytes(b"PK\x03\x04" + raw[4:])
    with pytest.raises(DataFormatError, match="magic"):
        read_artifact(path)


def test_pickle_dtypes_are_rejected_on_write(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_artifact(tmp_path / "m.ltcn", {}, {"x": np.array([object()])})


def test_csr_invariants_and_round_trip():
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 40, 16)).astype(np.float32)
    kernel[rng.random(kernel.shape) < 0.8] = 0
    kernel[:, :, 5] = 0  # an empty row
    csr = csr_from_dense(kernel_matrix(kernel))
    assert csr.indices.dtype == np.uint8 and csr.indptr.dtype.kind == "u"
    assert np.all(np.diff(csr.indptr.astype(np.int64)) >= 0) and csr.indptr[-1] == csr.nnz
    assert csr.indices.max() < 3 * 40
    np.testing.assert_array_equal(csr.to_dense(), kernel_matrix(kernel))
    assert index_dtype(255) == np.uint8 and index_dtype(256) == np.uint16
    assert index_dtype(70000) == np.uint32
