"""The ``.ltcn`` manifest's schema: parse the JSON within bounds, then check every entry
(types, required keys, bounds, every array inside the file, shape x itemsize = bytes, layers
consistent with the arrays and the architecture, the model spec) before anything is used.

Used by :func:`~ltcn_kernels.engine.artifact.read_artifact`, which turns an
:class:`InvalidManifest` into one :class:`~ltcn_kernels.errors.DataFormatError` naming the
file. Apart from the file's layout (``artifact``) so that each module holds one concern.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from ..arch import LTCNArch
from ..errors import show
from ..spec import ModelSpec, read_spec

__all__ = [
    "ALIGN",
    "DTYPES",
    "ENGINE",
    "MAX_DEPTH",
    "MAX_DIM",
    "MAX_MANIFEST_BYTES",
    "MAX_NDIM",
    "STORAGES",
    "InvalidManifest",
    "check_manifest",
    "parse_manifest",
]

ALIGN = 64
DTYPES = ("float32", "float64", "uint8", "uint16", "uint32", "uint64", "int32", "int64")
ENGINE = "engine/"  # prefix of the engine's packed arrays (schema 2)
STORAGES = ("engine",)  # where a "layers" record's parameter lives: the engine's arrays
# Bounds checked before anything is parsed or allocated.
MAX_MANIFEST_BYTES = 4 << 20  # exported manifests are ~16 KB
MAX_DEPTH = 32  # JSON nesting (exported manifests: 5)
MAX_NDIM = 8
MAX_DIM = 1 << 40
_SHA = re.compile(r"[0-9a-f]{64}")


class InvalidManifest(Exception):
    """A manifest that does not fit the schema (becomes a DataFormatError naming the file)."""


def _key(d: dict, key: str, where: str):
    if key not in d:
        raise InvalidManifest(f"{where} lacks {key!r}")
    return d[key]


def _int(value, what: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidManifest(f"{what} must be an integer, got {show(value)}")
    if value < lo:
        raise InvalidManifest(f"{what} = {value} is below {lo}")
    if hi is not None and value > hi:
        raise InvalidManifest(f"{what} = {value} is above {hi}")
    return value


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidManifest(f"{what} must be a JSON object, got {show(value)}")
    return value


def _list(value, what: str, lo: int = 0, hi: int | None = None) -> list:
    if not isinstance(value, list):
        raise InvalidManifest(f"{what} must be a list, got {show(value)}")
    if len(value) < lo or (hi is not None and len(value) > hi):
        raise InvalidManifest(f"{what} has {len(value)} entries, expected {lo}..{hi}")
    return value


def _str(value, what: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise InvalidManifest(f"{what} must be a string, got {show(value)}")
    if choices is not None and value not in choices:
        raise InvalidManifest(f"{what} is {show(value)}, expected one of {', '.join(choices)}")
    return value


_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def _nesting(text: bytes) -> int:
    """The deepest ``[`` / ``{`` nesting of JSON text, outside strings; linear, no recursion."""
    plain = _ESCAPE.sub(b"", text)  # drops every escape, so each remaining '"' delimits a string
    outside = b"".join(plain.split(b'"')[0::2]).translate(None, _NOT_BRACKETS)
    opens = outside.count(b"[") + outside.count(b"{")
    if opens <= MAX_DEPTH:
        return opens
    return int(np.cumsum(_STEP[np.frombuffer(outside, np.uint8)], dtype=np.int32).max())


def _no_constant(name: str):
    """``NaN``/``Infinity`` are not JSON: a manifest holding one was not written by us."""
    raise ValueError(f"{name} is not a JSON number")


def parse_manifest(text: bytes) -> dict:
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise InvalidManifest(f"damaged manifest: nested {depth} levels deep (the limit is {MAX_DEPTH})")
    try:
        manifest = json.loads(text.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidManifest(f"damaged manifest: {exc}") from None
    return _obj(manifest, "the manifest")


def _check_arrays(table, size: int, data_start: int) -> None:
    """The ``arrays`` table: dtypes, shapes, sizes and every blob inside the file."""
    for name, entry in _obj(table, "arrays").items():
        where = f"array {name!r}"
        entry = _obj(entry, where)
        dtype = _str(_key(entry, "dtype", where), f"{where} dtype")
        if dtype not in DTYPES:
            raise InvalidManifest(f"{where} has a forbidden dtype {show(dtype)}")
        shape = _list(_key(entry, "shape", where), f"{where} shape", 0, MAX_NDIM)
        for d in shape:
            _int(d, f"{where} shape entry", 0, MAX_DIM)
        offset = _int(_key(entry, "offset", where), f"{where} offset")
        nbytes = _int(_key(entry, "bytes", where), f"{where} bytes")
        want = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes != want:
            raise InvalidManifest(f"{where}: shape {shape} of {dtype} is {want} bytes, the table says {nbytes}")
        if offset % ALIGN:
            raise InvalidManifest(f"{where}: offset {offset} is not {ALIGN}-byte aligned")
        if data_start + offset + nbytes > size:
            raise InvalidManifest(f"{where}: bytes {offset}..{offset + nbytes} lie outside the file")
        sha = _str(_key(entry, "sha256", where), f"{where} sha256")
        if not _SHA.fullmatch(sha):
            raise InvalidManifest(f"{where}: sha256 is not 64 hex digits")


def _check_arch(manifest: dict) -> tuple[LTCNArch, ModelSpec | None]:
    """The ``"architecture"`` entry, read once into the typed network and spec."""
    try:
        return read_spec(manifest)
    except ValueError as exc:
        raise InvalidManifest(str(exc)) from None


def _check_layers(manifest: dict, table: dict, arch: LTCNArch | None) -> None:
    """The ``layers`` records: each one is stored in the engine arrays; with an architecture,
    the records are exactly its parameters."""
    seen: dict[str, tuple[int, ...]] = {}
    for i, rec in enumerate(_list(manifest["layers"], "layers")):
        where = f"layers[{i}]"
        rec = _obj(rec, where)
        name = _str(_key(rec, "name", where), f"{where} name")
        where = f"layer {name!r}"
        if name in seen:
            raise InvalidManifest(f"{where} is listed twice")
        shape = _list(_key(rec, "shape", where), f"{where} shape", 1, 3)
        for d in shape:
            _int(d, f"{where} shape entry", 1, 1 << 24)
        _str(_key(rec, "storage", where), f"{where} storage", STORAGES)
        for key in ("nnz", "bytes"):
            if key in rec:
                _int(rec[key], f"{where} {key}")
        seen[name] = tuple(shape)
        if "engine" not in manifest:
            raise InvalidManifest(f"{where} is stored in the engine arrays, but the file has none")
    if arch is not None:
        want = arch.param_shapes()
        for name, shape in seen.items():
            if name not in want:
                raise InvalidManifest(f"layer {name!r} is not a parameter of the architecture")
            if shape != want[name]:
                raise InvalidManifest(f"layer {name!r} has shape {list(shape)}, the architecture "
                               f"gives {list(want[name])}")
        if missing := [p for p in want if p not in seen]:
            raise InvalidManifest(f"layers lack parameter {missing[0]!r}")


def check_manifest(
    manifest: dict, size: int, data_start: int
) -> tuple[LTCNArch | None, ModelSpec | None]:
    """Everything but the checksum and the arrays' contents; returns the network and spec."""
    _check_arrays(_key(manifest, "arrays", "the manifest"), size, data_start)
    table = manifest["arrays"]
    if "format" in manifest:
        _str(manifest["format"], "format")
    arch = spec = None
    if "architecture" in manifest or manifest.get("format") == "ltcn-model":
        _key(manifest, "architecture", "the manifest")
        arch, spec = _check_arch(manifest)
    engine_arrays = [n for n in table if n.startswith(ENGINE)]
    if "engine" in manifest:
        _obj(manifest["engine"], "engine")
        if arch is None:
            raise InvalidManifest("the engine entry needs an architecture")
    elif engine_arrays:
        raise InvalidManifest(f"array {engine_arrays[0]!r} without an engine entry")
    if "layers" in manifest:
        _check_layers(manifest, table, arch)
    elif manifest.get("format") == "ltcn-model":
        raise InvalidManifest("the manifest lacks 'layers'")
    return arch, spec
