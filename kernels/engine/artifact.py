"""The deployable model file (``.ltcn``): one JSON manifest and raw little-endian arrays.

Layout::

    b"LTCNMDL\\n"                  8-byte magic
    uint64 little-endian          manifest length in bytes (at most MAX_MANIFEST_BYTES)
    manifest                      UTF-8 JSON (schema version, architecture, preprocessing,
                                  classes, per-layer sparsity, sizes, one SHA-256 per array)
    zero padding to 64 bytes
    array blobs                   each at its manifest offset (64-byte aligned)
    [signature trailer]           104 bytes, signed files only (see .signature)

Schema 2 (what ``ltcn export`` writes) stores the engine's packed layout itself: the arrays of
:meth:`EngineModel.engine_arrays <ltcn_kernels.engine.model.EngineModel.engine_arrays>` as
``engine/meta``, ``engine/values``, ``engine/indices``, ``engine/indptr``, ``engine/bias`` and
its scalars (format, pad_max, c_max, state_size, layer_names) as the manifest's ``"engine"``
entry. Each Flax parameter is then a ``"layers"`` record with ``"storage": "engine"``: its
kernel is the layer's slice of the engine arrays (``meta``'s val_off / nnz / ptr_off columns),
its bias the layer's slice of ``engine/bias``, so the file holds every weight once and
:func:`dense_params` expands them for ONNX, Flax and the tools. Loading such a file reads it
once into a private, read-only buffer, verifies that buffer, and :func:`engine_model` builds
the engine from views of it: one copy of the file in memory (its size: 0.2 MB for the lab
model, 5.3 MB for the paper-scale sparse one), no second copy of any weight. The model that
was verified is the model that runs, whatever happens to the file afterwards: written over in
place, truncated or replaced, the running model does not change (it once mapped the file, and
a write in place changed the weights under a running detector, a truncation killed it with
SIGBUS). A new model is taken only by loading it again (``ltcn detect`` on SIGHUP).

Schema 1 files (each parameter stored on its own, packed again at every load) are no longer
read: export the model again (``ltcn export``), or re-write the file with the schema 2 writer.

No pickle anywhere: arrays are plain bytes of a whitelisted numeric dtype. Loading reads the
16-byte header first (a foreign file is refused before anything else is read), then checks a
signed file's Ed25519 signature over every byte before its trailer (a file altered after
signing is refused before its manifest is parsed; whether the signer is trusted is the
caller's policy: :meth:`TrustStore.check <ltcn_kernels.engine.signature.TrustStore.check>`),
then the manifest, which is bounded in size and nesting depth before it is parsed and then checked
against the schema (types, required keys, bounds, every array inside the file, shape x itemsize
= bytes, layers consistent with the arrays and the architecture, the model spec:
:func:`~ltcn_kernels.spec.read_spec`), the schema version (a newer or older file is refused),
the manifest's own checksum, the file length (a truncated file is refused), every array's
SHA-256 and the arrays' contents (the engine layout: row pointers, column indices, offsets)
before anything is returned, so a damaged or tampered file is never half-loaded, and
every problem is one :class:`~ltcn_kernels.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..arch import IDENTITY, LTCNArch
from ..errors import DataFormatError, show
from ..spec import ModelSpec
from ._manifest import (
    ALIGN,
    DTYPES,
    ENGINE,
    MAX_MANIFEST_BYTES,
    InvalidManifest,
    check_manifest,
    parse_manifest,
)
from .csr import CSR, kernel_from_matrix
from .model import FORMATS, EngineModel
from .signature import Signer, make_trailer, signed_message, verify_signed

MAGIC = b"LTCNMDL\n"
SCHEMA_VERSION = 2
MAX_MODEL_BYTES = 256 << 20  # refused before anything is hashed (a dense paper-scale model: 9 MB)
_HEAD = len(MAGIC) + 8


@dataclass(frozen=True)
class Artifact:
    """A verified model file: its manifest and arrays (read-only views of a private copy of
    the file, made when it was read).

    ``engine``: the engine model the file stores, built from the same views when the file
    was read; None for a file that holds no model. ``signer``: the public key whose
    valid signature the file carries, None for an unsigned file. ``arch`` and ``spec``: the
    network and the model spec (:class:`~ltcn_kernels.spec.ModelSpec`), read and validated
    once from the manifest's ``"architecture"`` entry when the file was read; ``spec`` is
    None for a bare weights file that does not say how it is fed (benchmarks write those),
    both are None for a file without an architecture.
    """

    manifest: dict
    arrays: dict[str, np.ndarray]
    path: str = ""
    engine: EngineModel | None = field(default=None, repr=False, compare=False)
    signer: bytes | None = None
    arch: LTCNArch | None = field(default=None, compare=False)
    spec: ModelSpec | None = field(default=None, compare=False)


def _digest(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return _digest(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _data_start(manifest_bytes: int) -> int:
    head = _HEAD + manifest_bytes
    return head + (-head) % ALIGN


# --------------------------------------------------------------------------- writing


def write_artifact(
    path: str | os.PathLike,
    manifest: dict,
    arrays: dict[str, np.ndarray],
    *,
    signer: Signer | None = None,
) -> int:
    """Write ``manifest`` (JSON-serialisable) and ``arrays`` to ``path``, signed by ``signer``
    when one is given; returns the file size.

    The manifest gets ``schema_version``, an ``arrays`` table (dtype, shape, offset, bytes,
    sha256), ``file_bytes`` and its own ``manifest_sha256``. Written to a temporary file and
    renamed, so a crash never leaves half a model behind (and a process that has the old file
    loaded keeps its own copy anyway).
    """
    table = {}
    blobs = []
    offset = 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in DTYPES:
            raise ValueError(f"array {name!r}: dtype {array.dtype} is not one of {DTYPES}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        table[name] = {
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "offset": offset,
            "bytes": len(data),
            "sha256": _digest(data),
        }
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    manifest = {**manifest, "schema_version": SCHEMA_VERSION, "arrays": table}
    # file_bytes depends on the manifest's length, which depends on file_bytes: iterate.
    manifest["file_bytes"] = 0
    for _ in range(3):
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        text = json.dumps(manifest, indent=1, sort_keys=True).encode()
        total = _data_start(len(text)) + offset
        if manifest["file_bytes"] == total:
            break
        manifest["file_bytes"] = total
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    if len(text) > MAX_MANIFEST_BYTES:
        raise ValueError(f"manifest of {len(text)} bytes is over the {MAX_MANIFEST_BYTES} limit")
    padding = b"\0" * (_data_start(len(text)) - _HEAD - len(text))
    parts = [MAGIC + struct.pack("<Q", len(text)) + text + padding, *blobs]
    if signer is not None:
        digest = hashlib.sha512()  # signed_message, fed part by part: no copy of the arrays
        for part in parts:
            digest.update(part)
        parts.append(_trailer(signer, digest.digest()))
    _replace(path, parts)
    return os.path.getsize(path)


def _trailer(signer: Signer, body_sha512: bytes) -> bytes:
    return make_trailer(signer.public_key, signer.sign(signed_message(body_sha512)))


def _replace(path: str | os.PathLike, parts) -> None:
    """Write ``parts`` to a new file and rename it onto ``path``: a crash never leaves half a
    model, and a process that maps the old file keeps its intact inode."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        for part in parts:
            f.write(part)
    os.replace(tmp, path)


def sign_artifact(path: str | os.PathLike, signer: Signer) -> Artifact:
    """Sign an existing model file in place (by rename), replacing any signature it had; the
    file is verified first (a damaged or altered file is never signed). Returns the re-read,
    signed artifact."""
    artifact = read_artifact(path)
    body = artifact.manifest["file_bytes"]
    with open(path, "rb") as f:
        data = f.read(body)
    _replace(path, [data, _trailer(signer, hashlib.sha512(data).digest())])
    return read_artifact(path)


def engine_payload(model: EngineModel) -> tuple[dict[str, np.ndarray], dict]:
    """What a schema 2 file stores for ``model``: ``(arrays, manifest entries)``.

    ``arrays``: the packed arrays as ``engine/<field>``; the entries: ``"engine"`` (the
    scalars) and ``"layers"``, one record per Flax parameter with ``"storage": "engine"``,
    its true non-zeros, sparsity and the bytes it takes in the engine arrays (they sum to
    ``model.nbytes``: each weight is stored once).
    """
    arrays = {ENGINE + name: a for name, a in model.engine_arrays().items()}
    scalars = {k: list(v) if isinstance(v, tuple) else v for k, v in model.engine_scalars().items()}
    index_bytes = 0 if model.dense else model.indices.itemsize
    layers = []
    for layer in model.arch.layers:
        if layer.role == IDENTITY:
            continue
        row = model.layer(layer.name)
        voff, nnz, boff = row["val_off"], row["nnz"], row["bias_off"]
        kernel_nnz = int(np.count_nonzero(model.values[voff : voff + nnz]))
        kernel_bytes = nnz * (model.values.itemsize + index_bytes)
        if not model.dense:
            kernel_bytes += (layer.c_out + 1) * model.indptr.itemsize
        bias_nnz = int(np.count_nonzero(model.bias[boff : boff + layer.c_out]))
        for path, shape, n, nbytes in (
            (layer.kernel_path, layer.kernel_shape, kernel_nnz, kernel_bytes),
            (layer.bias_path, (layer.c_out,), bias_nnz, layer.c_out * model.bias.itemsize),
        ):
            layers.append({"name": path, "shape": list(shape), "storage": "engine", "nnz": n,
                           "sparsity": round(1 - n / math.prod(shape), 6),
                           "bytes": int(nbytes)})
    return arrays, {"engine": scalars, "layers": layers}


# --------------------------------------------------------------------------- reading


def _folder_message(path: str) -> str:
    """What a folder given as a model is, and what to run instead."""
    if os.path.isfile(os.path.join(path, "metrics.json")):  # what `ltcn run` writes
        return (f"a run folder, not a .ltcn model file: export its model first, "
                f"`ltcn export {path} --out model.ltcn`, and pass that file")
    return "a folder, not a .ltcn model file (`ltcn export RUN --out model.ltcn` writes one)"


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_artifact(path: str | os.PathLike) -> Artifact:
    """Read and verify a ``.ltcn`` file (see the module docstring); the arrays are read-only
    views of one private copy of the file (nothing more is copied on little-endian hosts).

    Raises:
        DataFormatError: a folder (a run folder: says to export it), not an artifact, newer schema, a manifest that does not fit the
            schema, truncated, any checksum mismatch, or arrays that do not fit the layout.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataFormatError(path, 0, 0, _folder_message(path))
    # Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever
    # (regular files ignore the flag). What was opened is checked, not what the name was.
    with open(path, "rb", opener=_open_nonblocking) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise DataFormatError(path, 0, 0, "not a regular file (a pipe, socket or device): "
                                  "a model is read whole and verified, so give the file itself")
        size = info.st_size
        if size > MAX_MODEL_BYTES:
            raise DataFormatError(path, 0, 0, f"{size:,} bytes, over the {MAX_MODEL_BYTES >> 20} "
                                  "MiB a model file may have (the paper-scale model is 9 MB)")
        head = f.read(_HEAD)
        if head[: len(MAGIC)] != MAGIC:
            raise DataFormatError(path, 0, 0, "not an ltcn model file (bad magic number)")
        if len(head) < _HEAD:
            raise DataFormatError(path, 0, 0, "truncated model file (no manifest)")
        (length,) = struct.unpack("<Q", head[len(MAGIC) :])
        if length > MAX_MANIFEST_BYTES:
            raise DataFormatError(
                path, 0, 0, f"damaged manifest: {length} bytes, over the {MAX_MANIFEST_BYTES} limit"
            )
        # One private copy, read once: verified below, and what the engine runs on, so
        # nothing done to the file later (written over, truncated) reaches a running model.
        buffer = bytearray(size)
        buffer[:_HEAD] = head
        got = f.readinto(memoryview(buffer)[_HEAD:]) or 0
        if got != size - _HEAD or f.read(1):
            raise DataFormatError(path, 0, 0, "the model file changed while it was read")
    view = memoryview(buffer).toreadonly()  # (the arrays are read-only views of it)
    # A signed file's signature covers every byte before its trailer: checked before the
    # manifest is parsed, so an altered file is refused before any of it is interpreted.
    body, signer = verify_signed(path, view)
    if _HEAD + length > body:
        raise DataFormatError(path, 0, 0, "truncated model file (manifest cut short)")
    text = bytes(view[_HEAD : _HEAD + length])
    try:
        manifest = parse_manifest(text)
        version = manifest.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidManifest(f"invalid schema version {show(version)}")
        if version > SCHEMA_VERSION:
            raise InvalidManifest(
                f"model schema version {version!r} is newer than this engine "
                f"({SCHEMA_VERSION}); upgrade ltcn"
            )
        if version < SCHEMA_VERSION:
            raise InvalidManifest(
                f"a schema {version} model file (each parameter stored apart) is no longer "
                f"read (this engine reads schema {SCHEMA_VERSION}): export the model again "
                "with `ltcn export`"
            )
        if manifest.get("manifest_sha256") != _manifest_digest(manifest):
            raise InvalidManifest("manifest checksum mismatch: the file was altered")
        if manifest.get("file_bytes") != body:
            what = "before its signature" if signer else "(unsigned)"
            raise InvalidManifest(
                f"model file is {body} bytes {what}, the manifest says "
                f"{show(manifest.get('file_bytes'))}: truncated, padded or a damaged signature"
            )
        data_start = _data_start(length)
        arch, spec = check_manifest(manifest, body, data_start)
    except InvalidManifest as exc:
        raise DataFormatError(path, 0, 0, str(exc)) from None
    arrays = {}
    for name, entry in manifest["arrays"].items():
        lo = data_start + entry["offset"]
        # Hashing reads the private copy in place; nothing more is copied.
        if _digest(view[lo : lo + entry["bytes"]]) != entry["sha256"]:
            raise DataFormatError(path, 0, 0, f"array {name!r} checksum mismatch: the file was altered")
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        array = np.frombuffer(view, dtype, math.prod(entry["shape"]), lo).reshape(entry["shape"])
        if sys.byteorder != "little":
            # A big-endian host cannot use the little-endian bytes in place: a native copy
            # (x86-64 and aarch64, the supported hosts, are little-endian and copy nothing).
            array = array.astype(dtype.newbyteorder("="))
            array.flags.writeable = False
        arrays[name] = array
    engine = None
    if "engine" in manifest:
        engine = _engine_from_arrays(path, arch, manifest, arrays)
    return Artifact(manifest, arrays, path, engine, signer, arch, spec)


def _engine_from_arrays(path: str, arch: LTCNArch, manifest: dict, arrays: Mapping) -> EngineModel:
    stored = {name[len(ENGINE) :]: a for name, a in arrays.items() if name.startswith(ENGINE)}
    try:
        return EngineModel.from_engine_arrays(arch, stored, manifest["engine"])
    except ValueError as exc:
        raise DataFormatError(path, 0, 0, f"the engine arrays do not fit the model: {exc}") from None


def _stored_engine(artifact: Artifact) -> EngineModel:
    if artifact.engine is None:  # (read_artifact builds it for every file with a model)
        raise DataFormatError(artifact.path, 0, 0, "the file holds no model (no engine arrays)")
    return artifact.engine


def stored_format(artifact: Artifact) -> str:
    """The engine format the file stores (``sparse`` or ``dense``)."""
    return _stored_engine(artifact).format


def engine_model(artifact: Artifact, format: str | None = None) -> EngineModel:
    """The engine of an artifact.

    ``format`` None or the stored format: the model built from the file's read-only arrays
    (views of the private copy :func:`read_artifact` made), no copy. The other format: built from :func:`dense_params` and packed again.

    Raises:
        ValueError: an unknown format.
        DataFormatError: a file without a model, or weights that do not fit the architecture.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown backend {format!r}; expected one of {', '.join(FORMATS)}")
    stored = _stored_engine(artifact)
    if format in (None, stored.format):
        return stored
    try:
        return EngineModel.from_arch(artifact.arch, dense_params(artifact), format=format)
    except ValueError as exc:
        raise DataFormatError(artifact.path, 0, 0, f"the model's weights do not fit: {exc}") from None


def _engine_param(engine: EngineModel, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A Flax parameter (``<layer>/kernel`` or ``<layer>/bias``) from the packed arrays."""
    layer, kind = name.rsplit("/", 1)
    row = engine.layer(layer)
    c_out = row["c_out"]
    if kind == "bias":
        return engine.bias[row["bias_off"] : row["bias_off"] + c_out].copy()
    voff, nnz, kc = row["val_off"], row["nnz"], row["k"] * row["c_in"]
    values = engine.values[voff : voff + nnz]
    if engine.dense:
        matrix = values.reshape(c_out, kc)
    else:
        ptr = engine.indptr[row["ptr_off"] : row["ptr_off"] + c_out + 1]
        matrix = CSR(values, engine.indices[voff : voff + nnz], ptr, (c_out, kc)).to_dense()
    return kernel_from_matrix(matrix, shape)


def dense_params(artifact: Artifact) -> dict[str, np.ndarray]:
    """The model's parameters as a flat ``{flax path: dense float32 array}`` dict (writable
    copies), sliced out of the packed engine arrays by ``meta``'s val_off / nnz / ptr_off /
    bias_off columns and expanded back to their shapes; the zeros are exact, so nothing is
    lost."""
    engine = _stored_engine(artifact)
    return {layer["name"]: _engine_param(engine, layer["name"], tuple(layer["shape"]))
            for layer in artifact.manifest["layers"]}
