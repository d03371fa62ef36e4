"""Schema 2 model files: the engine's packed layout stored once, loaded as one private copy
the engine runs on (nothing done to the file later reaches a loaded model);
schema 1 files are refused, saying how to get a schema 2 one; every malformed manifest or array
is one DataFormatError."""

from __future__ import annotations

import builtins
import hashlib
import json
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE, REPO
from ltcn_kernels import DataFormatError
from ltcn_kernels.arch import LTCNArch, is_conv_kernel
from ltcn_kernels.engine import FORMATS, EngineModel, logits_windows
from ltcn_kernels.engine import artifact as A
from ltcn_kernels.engine.artifact import (
    MAGIC,
    dense_params,
    engine_model,
    engine_payload,
    read_artifact,
    write_artifact,
)
from ltcn_kernels.engine.csr import csr_from_dense, kernel_matrix
from ltcn_kernels.pipeline import load_model

ROOT = REPO
# Written by the schema 1 writer, re-written by the schema 2 one (the same weights).
COMMITTED = ROOT / "results/gateway-captures/model.ltcn"
ARCH = LTCNArch(5, 3, (4, 4), (1, 2), 3, 2)  # block 0: a 1x1 residual (5 -> 4); block 1: identity
X = np.random.default_rng(9).normal(size=(6, 4, 5)).astype(np.float32)


def _params(arch: LTCNArch = ARCH, seed: int = 0, keep: float = 0.4) -> dict[str, np.ndarray]:
    """Random weights, about 60 % exact zeros in every tensor."""
    rng = np.random.default_rng(seed)
    return {p: (rng.normal(size=s) * (rng.random(s) < keep)).astype(np.float32)
            for p, s in arch.param_shapes().items()}


def _manifest(arch: LTCNArch = ARCH) -> dict:
    return {"format": "ltcn-model", "architecture": {**arch.to_dict(), "sequence": "flows", "window": 4}}


def _write_v2(path, params=None, fmt="sparse", arch=ARCH) -> EngineModel:
    model = EngineModel.from_arch(arch, params or _params(arch), format=fmt)
    arrays, entries = engine_payload(model)
    write_artifact(path, {**_manifest(arch), "storage": "csr" if fmt == "sparse" else fmt,
                          **entries}, arrays)
    return model


def _write_v1(path, params=None, fmt="csr", arch=ARCH) -> None:
    """The schema 1 layout (ltcn export before schema 2): one array or CSR triple per param,
    stamped schema 1 (the writer now writes schema 2 only)."""
    arrays, layers = {}, []
    for name, value in (params or _params(arch)).items():
        if fmt == "csr" and is_conv_kernel(name):
            c = csr_from_dense(kernel_matrix(value))
            arrays[f"{name}/values"], arrays[f"{name}/indices"], arrays[f"{name}/indptr"] = (
                c.values, c.indices, c.indptr)
            layers.append({"name": name, "shape": list(value.shape), "storage": "csr"})
        else:
            arrays[name] = value
            layers.append({"name": name, "shape": list(value.shape), "storage": "dense"})
    write_artifact(path, {**_manifest(arch), "storage": fmt, "layers": layers}, arrays)
    manifest, data = _split(path)
    manifest["schema_version"] = 1
    _assemble(path, manifest, data)


def _views_the_copy(a: np.ndarray) -> bool:
    """``a``'s memory is the loader's one private copy of the file (walking the ``.base``
    chain to a read-only memoryview of a bytearray): a view, not a copy of its own."""
    base = a
    while base is not None and not isinstance(base, memoryview):
        base = getattr(base, "base", None)
    return isinstance(base, memoryview) and base.readonly and isinstance(base.obj, bytearray)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_v2_round_trip_is_zero_copy_and_bitwise(fmt, tmp_path):
    path = tmp_path / "m.ltcn"
    params = _params()
    mem = _write_v2(path, params, fmt)
    art = read_artifact(path)
    assert art.manifest["schema_version"] == 2 and art.manifest["engine"]["format"] == fmt
    # The file holds the engine's arrays and nothing else: each weight once.
    assert set(art.arrays) == {f"engine/{n}" for n in mem.engine_arrays()}
    eng = engine_model(art)
    assert eng is art.engine and eng.format == fmt
    for name, a in eng.engine_arrays().items():
        assert not a.flags.writeable and _views_the_copy(a), name
        assert np.shares_memory(a, art.arrays[f"engine/{name}"]) or a.size == 0
        np.testing.assert_array_equal(a, getattr(mem, name))
        assert a.dtype == getattr(mem, name).dtype
    assert eng.engine_scalars() == mem.engine_scalars()
    assert eng.nbytes == mem.nbytes == art.manifest.get("stored_bytes", mem.nbytes)
    assert sum(rec["bytes"] for rec in art.manifest["layers"]) == mem.nbytes
    np.testing.assert_array_equal(logits_windows(eng, X), logits_windows(mem, X))  # bitwise
    # The Flax parameters come back exactly (zeros are exact), for ONNX / Flax / the tools.
    flat = dense_params(art)
    assert set(flat) == set(params)
    for name, value in params.items():
        np.testing.assert_array_equal(flat[name], value)
        assert flat[name].flags.writeable and flat[name].dtype == np.float32
    # Another format is packed again from those parameters.
    other = "dense" if fmt == "sparse" else "sparse"
    rebuilt = engine_model(art, other)
    assert rebuilt.format == other and not rebuilt.values.flags.writeable  # models are immutable
    np.testing.assert_array_equal(rebuilt.values, EngineModel.from_arch(ARCH, params, format=other).values)
    with pytest.raises(ValueError, match="unknown backend"):
        engine_model(art, "tiles")


def test_engine_arrays_pair_round_trips_in_memory():
    mem = EngineModel.from_arch(ARCH, _params(), format="sparse")
    arrays, scalars = mem.engine_arrays(), mem.engine_scalars()
    assert set(arrays) == {"meta", "values", "indices", "indptr", "bias"}
    assert set(scalars) == {"format", "pad_max", "c_max", "state_size", "layer_names"}
    assert all(arrays[n] is getattr(mem, n) for n in arrays)  # the arrays, not copies
    again = EngineModel.from_engine_arrays(ARCH, arrays, {**scalars, "layer_names": list(scalars["layer_names"])})
    assert again.layer_names == mem.layer_names and again.values is mem.values
    np.testing.assert_array_equal(logits_windows(again, X), logits_windows(mem, X))


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_v1_files_are_refused_saying_how_to_get_a_v2_one(fmt, tmp_path):
    _write_v1(tmp_path / "v1.ltcn", _params(seed=3), fmt)
    with pytest.raises(DataFormatError, match=r"schema 1 .*ltcn export") as exc:
        read_artifact(tmp_path / "v1.ltcn")
    assert "\n" not in str(exc.value)


def test_committed_model_loads_and_matches_its_repacked_engine():
    pytest.importorskip("numba")
    art, pre = load_model(COMMITTED)
    assert art.manifest["schema_version"] == 2 and art.engine is not None and pre.width == art.arch.n_features
    eng = engine_model(art)
    assert eng.format == "sparse" and eng is art.engine
    # Stored again as schema 2, the same engine comes straight from the map.
    with tempfile.TemporaryDirectory() as tmp:
        arrays, entries = engine_payload(eng)
        body = {k: v for k, v in art.manifest.items()
                if k not in ("arrays", "file_bytes", "manifest_sha256", "schema_version")}
        write_artifact(Path(tmp) / "v2.ltcn", {**body, **entries}, arrays)
        v2 = read_artifact(Path(tmp) / "v2.ltcn")
        for name, a in v2.engine.engine_arrays().items():
            np.testing.assert_array_equal(a, getattr(eng, name))
        for name, value in dense_params(art).items():
            np.testing.assert_array_equal(dense_params(v2)[name], value)


# --------------------------------------------------------------------------- malformed files


def _digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _split(path) -> tuple[dict, bytes]:
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[8:16])
    start = 16 + n + (-(16 + n)) % 64
    return json.loads(raw[16 : 16 + n]), raw[start:]


def _assemble(path, manifest, data: bytes, fix_size: bool = True) -> None:
    """Write ``manifest`` (any JSON value) and the blob region with a recomputed manifest
    checksum and file size, so that only the schema checks can refuse what was changed."""
    if isinstance(manifest, dict):
        manifest = dict(manifest)
        for _ in range(4):
            manifest["manifest_sha256"] = _digest(manifest)
            text = json.dumps(manifest).encode()
            start = 16 + len(text) + (-(16 + len(text))) % 64
            if not fix_size or manifest.get("file_bytes") == start + len(data):
                break
            manifest["file_bytes"] = start + len(data)
    text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    pad = b"\0" * ((-(16 + len(text))) % 64)
    Path(path).write_bytes(MAGIC + struct.pack("<Q", len(text)) + text + pad + data)


def _use(path) -> None:
    """Everything a loader does with a file; only DataFormatError may escape."""
    art = read_artifact(path)
    eng = engine_model(art)
    flat = dense_params(art)
    assert set(flat) == set(ARCH.param_shapes())
    for fmt in FORMATS:
        engine_model(art, fmt)
    out = logits_windows(eng, X)
    assert out.shape == (X.shape[0], ARCH.num_classes)


@pytest.fixture(scope="module")
def v2_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("v2") / "m.ltcn"
    _write_v2(path)
    return path


def _edit(v2_file, tmp_path, change) -> Path:
    manifest, data = _split(v2_file)
    change(manifest)
    path = tmp_path / "bad.ltcn"
    _assemble(path, manifest, data)
    return path


def _set(keys, value):
    def change(m):
        node = m
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return change


def _del(keys):
    def change(m):
        node = m
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return change


CASES = {
    "no arrays table": (_del(["arrays"]), "lacks 'arrays'"),
    "no dtype": (_del(["arrays", "engine/values", "dtype"]), "lacks 'dtype'"),
    "no engine c_max": (_del(["engine", "c_max"]), "missing \\['c_max'\\]"),
    "no channels": (_del(["architecture", "channels"]), "lacks 'channels'"),
    "no layers": (_del(["layers"]), "lacks 'layers'"),
    "no engine entry": (_del(["engine"]), "without an engine entry"),
    "version as text": (_set(["schema_version"], "2"), "schema version"),
    "version 0": (_set(["schema_version"], 0), "schema version"),
    "version 1 with engine": (_set(["schema_version"], 1), "schema 1"),
    "shape as text": (_set(["arrays", "engine/values", "shape"], "x"), "must be a list"),
    "negative offset": (_set(["arrays", "engine/values", "offset"], -64), "below 0"),
    "float offset": (_set(["arrays", "engine/values", "offset"], 64.0), "integer"),
    "bool bytes": (_set(["arrays", "engine/bias", "bytes"], True), "integer"),
    "unaligned offset": (_set(["arrays", "engine/values", "offset"], 8), "aligned"),
    "offset outside the file": (_set(["arrays", "engine/values", "offset"], 64 << 20), "outside the file"),
    "shape/bytes mismatch": (lambda m: m["arrays"]["engine/values"]["shape"].__setitem__(0, 1), "bytes"),
    "huge shape": (_set(["arrays", "engine/values", "shape"], [2**62]), "above"),
    "forbidden dtype": (_set(["arrays", "engine/values", "dtype"], "object"), "forbidden dtype"),
    "sha not hex": (_set(["arrays", "engine/values", "sha256"], "zz"), "hex"),
    "engine not an object": (_set(["engine"], [1]), "JSON object"),
    "engine format": (_set(["engine", "format"], "tiles"), "engine format"),
    "engine format swapped": (_set(["engine", "format"], "dense"), "dense"),
    "engine pad_max": (_set(["engine", "pad_max"], 99), "pad_max"),
    "engine c_max as text": (_set(["engine", "c_max"], "6"), "c_max"),
    "engine layer names": (_set(["engine", "layer_names"], {"a": 1}), "layer_names"),
    "layers not a list": (_set(["layers"], {}), "must be a list"),
    "layer storage": (lambda m: m["layers"][0].__setitem__("storage", "zip"), "storage"),
    "layer shape": (lambda m: m["layers"][0].__setitem__("shape", [9, 9]), "shape"),
    "layer twice": (lambda m: m["layers"].append(dict(m["layers"][0])), "twice"),
    "layer missing": (lambda m: m["layers"].pop(), "lack parameter"),
    "layer stored apart (schema 1)": (lambda m: m["layers"][0].__setitem__("storage", "dense"), "storage"),
    "channels float": (_set(["architecture", "channels"], [4, 6.5]), "integer"),
    "channels mismatch": (_set(["architecture", "channels"], [4]), "architecture"),
    "receptive field": (_set(["architecture", "receptive_field"], [13]), "receptive_field"),
    "huge architecture": (_set(["architecture", "channels"], [1 << 24, 1 << 24]), "parameters"),
    "architecture not an object": (_set(["architecture"], "ltcn"), "JSON object"),
    "format not text": (_set(["format"], 3), "format"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_schema_failure_is_one_data_format_error(case, v2_file, tmp_path):
    change, message = CASES[case]
    path = _edit(v2_file, tmp_path, change)
    with pytest.raises(DataFormatError, match=message) as err:
        _use(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[1, 2]", "JSON object"),
        (b'"a string"', "JSON object"),
        (b"7", "JSON object"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested 100001 levels"),
        (b"{" * 50_000, "nested"),
        (b'{"a": "' + b"[" * 100 + b'"}', "schema version"),  # brackets inside a string are text
        (b'{"a": "\\"' + b"[" * 100 + b'"}', "schema version"),  # after an escaped quote too
        (b"\xff\xfe{}", "damaged manifest"),
        (b'{"x": 1' + b"0" * 5000 + b"}", "damaged manifest"),  # an int too long to parse
        (b"{nope", "damaged manifest"),
    ],
)
def test_unparseable_or_foreign_manifests_are_refused(text, message, tmp_path):
    path = tmp_path / "bad.ltcn"
    _assemble(path, text, b"")
    with pytest.raises(DataFormatError, match=message):
        read_artifact(path)


def _rewrite_arrays(v2_file, path, change) -> None:
    """Edit the engine arrays and write them with fresh checksums (write_artifact)."""
    art = read_artifact(v2_file)
    arrays = {name: np.array(a) for name, a in art.arrays.items()}
    change(arrays)
    body = {k: v for k, v in art.manifest.items()
            if k not in ("arrays", "file_bytes", "manifest_sha256", "schema_version")}
    write_artifact(path, body, arrays)


def _meta_cell(col, value, row=0):
    def change(a):
        a["engine/meta"][row, col] = value
    return change


def _first_layer_ptr(a):
    return a["engine/indptr"][: ARCH.layers[0].c_out + 1]


ARRAY_CASES = {
    "indptr decreasing": (lambda a: _first_layer_ptr(a).__setitem__(1, _first_layer_ptr(a)[2] + 1), "indptr"),
    "indptr beyond nnz": (lambda a: a["engine/indptr"].__setitem__(ARCH.layers[0].c_out, 255), "indptr"),
    "index out of range": (lambda a: a["engine/indices"].__setitem__(0, 3 * 5), "column index"),
    "indices not ascending": (lambda a: a["engine/indices"].__setitem__(1, a["engine/indices"][0]), "ascend"),
    "c_in in meta": (_meta_cell(3, 7), "meta row 0"),
    "negative val_off": (_meta_cell(8, -1), "val_off"),
    "nnz beyond values": (_meta_cell(9, 10_000), "nnz"),
    "ptr_off beyond indptr": (_meta_cell(10, 10_000), "ptr_off"),
    "bias_off beyond bias": (_meta_cell(11, 10_000), "bias_off"),
    "state_off beyond state": (_meta_cell(12, 10_000), "state_off"),
    "nan weight": (lambda a: a["engine/values"].__setitem__(0, np.nan), "NaN"),
    "infinite bias": (lambda a: a["engine/bias"].__setitem__(0, -np.inf), "infinite"),
    "meta as int32": (lambda a: a.__setitem__("engine/meta", a["engine/meta"].astype(np.int32)), "int64"),
    "values as float64": (lambda a: a.__setitem__("engine/values", a["engine/values"].astype(np.float64)), "float32"),
    "signed indices": (lambda a: a.__setitem__("engine/indices", a["engine/indices"].astype(np.int32)), "unsigned"),
    "short indices": (lambda a: a.__setitem__("engine/indices", a["engine/indices"][:-1]), "entries"),
    "meta rows": (lambda a: a.__setitem__("engine/meta", a["engine/meta"][:-1]), "one row per layer"),
    "missing bias": (lambda a: a.pop("engine/bias"), "missing \\['bias'\\]"),
    "extra array": (lambda a: a.__setitem__("engine/tiles", np.zeros(3, np.uint8)), "unexpected \\['tiles'\\]"),
}


@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_engine_arrays_that_do_not_fit_are_refused(case, v2_file, tmp_path):
    change, message = ARRAY_CASES[case]
    path = tmp_path / "bad.ltcn"
    _rewrite_arrays(v2_file, path, change)
    with pytest.raises(DataFormatError, match=message):
        _use(path)


def _paths(node, prefix=()):
    """Every key / index path in a JSON value."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_manifest_edit_with_fresh_checksums_gives_only_data_format_errors(v2_file, data):
    manifest, blobs = _split(v2_file)
    paths = [p for p in _paths(manifest) if p[0] != "manifest_sha256"]
    where = data.draw(st.sampled_from(paths))
    node = manifest
    for k in where[:-1]:
        node = node[k]
    key, old = where[-1], node[where[-1]]
    how = data.draw(st.sampled_from(["delete", "replace", "nudge"]))
    if how == "delete":
        del node[key]
    elif how == "nudge" and isinstance(old, int) and not isinstance(old, bool):
        node[key] = old + data.draw(st.sampled_from([-65, -64, -1, 1, 64, 2**40, -(2**40)]))
    else:
        node[key] = data.draw(JSON_VALUES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.ltcn"
        _assemble(path, manifest, blobs, fix_size=where[0] != "file_bytes")
        try:
            _use(path)
        except DataFormatError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_engine_array_edit_with_fresh_checksums_gives_only_data_format_errors(v2_file, data):
    name = data.draw(st.sampled_from(["meta", "indptr", "indices", "values", "bias"]))

    def change(arrays):
        a = arrays[f"engine/{name}"]
        i = data.draw(st.integers(0, a.size - 1))
        if a.dtype.kind == "f":
            a.flat[i] = data.draw(st.floats(width=32))
        elif a.dtype.kind == "u":
            a.flat[i] = data.draw(st.integers(0, np.iinfo(a.dtype).max))
        else:
            a.flat[i] = data.draw(st.integers(-3, 300) | st.integers(-(2**63), 2**63 - 1))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.ltcn"
        _rewrite_arrays(v2_file, path, change)
        try:
            _use(path)
        except DataFormatError:
            return
        if name in ("meta", "indptr", "indices"):
            # An accepted layout edit must keep the kernels inside the arrays: the stored
            # sparse engine then agrees with the dense one that numpy unpacks (bounds-checked)
            # from the same offsets (a zero weight adds exactly nothing to a dense sum).
            art = read_artifact(path)
            np.testing.assert_array_equal(logits_windows(art.engine, X),
                                          logits_windows(engine_model(art, "dense"), X))


def test_a_corrupt_preprocess_entry_is_a_data_format_error(tmp_path):
    manifest, data = _split(COMMITTED)
    manifest["preprocess"]["features"][0] = {"name": 3}
    path = tmp_path / "m.ltcn"
    _assemble(path, manifest, data)
    with pytest.raises(DataFormatError, match="checksum"):
        load_model(path)
    manifest["architecture"]["sequence"] = "bytes"
    manifest["preprocess"] = _split(COMMITTED)[0]["preprocess"]
    _assemble(path, manifest, data)
    with pytest.raises(DataFormatError, match="sequence"):
        load_model(path)


def test_cli_reports_a_malformed_manifest_in_one_line(tmp_path, capsys):
    from ltcn_kernels.cli import main

    path = tmp_path / "bad.ltcn"
    _assemble(path, b"[" * 10_000, b"")
    assert main(["predict", "--model", str(path), str(BOT_ENTIRE), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "nested" in err and "Traceback" not in err


# --------------------------------------------------------------------------- reading little


def _counting_open(counter):
    real = builtins.open

    class Counted:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            data = self._f.read(n)
            counter["read"] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def opener(*args, **kwargs):
        return Counted(real(*args, **kwargs))

    return opener


@pytest.mark.parametrize("head", [b"PK\x03\x04" + b"\0" * 12, MAGIC + struct.pack("<Q", 2**62)])
def test_a_50_mb_foreign_file_is_refused_after_reading_a_few_kb(head, tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(50 << 20)
    counter = {"read": 0}
    monkeypatch.setattr(A, "open", _counting_open(counter), raising=False)
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=r"magic|limit"):
            read_artifact(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counter["read"] <= 16 and peak < 64 << 10


def test_a_model_load_copies_the_file_once(tmp_path):
    """A ~2 MB sparse model: the Python heap grows by about the file's size while loading (one
    private copy, read once), not by a second copy of the weights, and every engine array is a
    read-only view of that copy."""
    arch = LTCNArch(40, 4, (128, 256, 256), (1, 2, 4), 3, 2)
    path = tmp_path / "m.ltcn"
    mem = _write_v2(path, _params(arch, keep=0.4), "sparse", arch)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        eng = engine_model(read_artifact(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mem.nbytes > 1 << 20 and size <= peak < size + mem.nbytes // 4
    assert all(_views_the_copy(a) for a in eng.engine_arrays().values() if a.size)


def test_what_is_done_to_the_file_never_reaches_a_loaded_model(tmp_path):
    """Written over in place (the weights' bytes), truncated, removed: the loaded model gives
    the same logits as before (it once mapped the file: a write in place blinded a running
    detector, a truncation killed it with SIGBUS)."""
    arch = LTCNArch(5, 3, (4, 4), (1, 2), 3, 2)
    path = tmp_path / "m.ltcn"
    _write_v2(path, _params(arch, keep=0.5), "sparse", arch)
    eng = engine_model(read_artifact(path))
    x = np.random.default_rng(0).normal(size=(4, 8, 5)).astype(np.float32)
    before = logits_windows(eng, x)
    data = bytearray(path.read_bytes())
    data[-256:] = bytes(256)  # the last arrays (the bias among them) zeroed in place
    with open(path, "r+b") as f:
        f.write(data)
    np.testing.assert_array_equal(logits_windows(eng, x), before)
    with open(path, "r+b") as f:
        f.truncate(100)
    np.testing.assert_array_equal(logits_windows(eng, x), before)
    path.unlink()
    np.testing.assert_array_equal(logits_windows(eng, x), before)


def test_a_pipe_or_fifo_as_model_is_one_line_not_a_hang(tmp_path):
    """A FIFO with no writer (or `--model <(cat m)`) used to block forever or be a traceback."""
    import os
    import threading

    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    got: list = []

    def load():
        try:
            read_artifact(fifo)
        except DataFormatError as exc:
            got.append(str(exc))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "read_artifact blocked on a FIFO"
    assert got and "not a regular file" in got[0] and str(fifo) in got[0]


def test_an_oversized_model_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.ltcn"
    with open(big, "wb") as f:  # a sparse file: the size, not the disk
        f.write(MAGIC + struct.pack("<Q", 100))
        f.truncate(A.MAX_MODEL_BYTES + 1)
    with pytest.raises(DataFormatError, match="over the 256 MiB a model file may have"):
        read_artifact(big)
