"""The deployable model file (``.ltcn``): one JSON manifest and raw little-endian arrays.

Layout::

    b"LTCNMDL\\n"                  8-byte magic
    uint64 little-endian          manifest length in bytes
    manifest                      UTF-8 JSON (schema version, architecture, preprocessing,
                                  classes, per-layer sparsity, sizes, one SHA-256 per array)
    zero padding to 64 bytes
    array blobs                   each at its manifest offset (64-byte aligned)

No pickle anywhere: arrays are plain bytes of a whitelisted numeric dtype. Loading verifies
the magic, the schema version (a newer file is refused), the manifest's own checksum, the file
length (a truncated file is refused) and every array's SHA-256 before anything is returned,
so a damaged or tampered file is never half-loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass

import numpy as np

from ..arch import LTCNArch
from ..errors import DataFormatError
from .csr import CSR

MAGIC = b"LTCNMDL\n"
SCHEMA_VERSION = 1
ALIGN = 64
DTYPES = ("float32", "float64", "uint8", "uint16", "uint32", "uint64", "int32", "int64")


@dataclass(frozen=True)
class Artifact:
    manifest: dict
    arrays: dict[str, np.ndarray]
    path: str = ""

    @property
    def arch(self) -> LTCNArch:
        """The model's layout, from the manifest's ``"architecture"`` entry (the one place the
        edge reads it; ``sequence`` and ``window`` there say how data is fed, not the model)."""
        return LTCNArch.from_dict(self.manifest["architecture"])


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return _digest(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def write_artifact(path: str | os.PathLike, manifest: dict, arrays: dict[str, np.ndarray]) -> int:
    """Write ``manifest`` (JSON-serialisable) and ``arrays`` to ``path``; returns the file size.

    The manifest gets ``schema_version``, an ``arrays`` table (dtype, shape, offset, bytes,
    sha256), ``file_bytes`` and its own ``manifest_sha256``. Written to a temporary file and
    renamed, so a crash never leaves half a model behind.
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
        head = len(MAGIC) + 8 + len(text)
        data_start = head + (-head) % ALIGN
        total = data_start + offset
        if manifest["file_bytes"] == total:
            break
        manifest["file_bytes"] = total
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    head = len(MAGIC) + 8 + len(text)
    padding = b"\0" * ((-head) % ALIGN)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(text)) + text + padding)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_artifact(path: str | os.PathLike) -> Artifact:
    """Read and verify a ``.ltcn`` file.

    Raises:
        DataFormatError: not an artifact, newer schema, truncated, or any checksum mismatch.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise DataFormatError(path, 0, 0, "not an ltcn model file (bad magic number)")
    if len(data) < len(MAGIC) + 8:
        raise DataFormatError(path, 0, 0, "truncated model file (no manifest)")
    (length,) = struct.unpack("<Q", data[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if start + length > len(data):
        raise DataFormatError(path, 0, 0, "truncated model file (manifest cut short)")
    try:
        manifest = json.loads(data[start : start + length].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(path, 0, 0, f"damaged manifest: {exc}") from None
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise DataFormatError(
            path, 0, 0, f"model schema version {version!r} is newer than this engine ({SCHEMA_VERSION}); upgrade ltcn"
        )
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise DataFormatError(path, 0, 0, "manifest checksum mismatch: the file was altered")
    if manifest.get("file_bytes") != len(data):
        raise DataFormatError(
            path, 0, 0, f"model file is {len(data)} bytes, the manifest says {manifest.get('file_bytes')}: truncated or padded"
        )
    head = start + length
    data_start = head + (-head) % ALIGN
    arrays = {}
    for name, entry in manifest["arrays"].items():
        if entry["dtype"] not in DTYPES:
            raise DataFormatError(path, 0, 0, f"array {name!r} has a forbidden dtype {entry['dtype']!r}")
        lo = data_start + entry["offset"]
        blob = data[lo : lo + entry["bytes"]]
        if len(blob) != entry["bytes"] or _digest(blob) != entry["sha256"]:
            raise DataFormatError(path, 0, 0, f"array {name!r} checksum mismatch: the file was altered")
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        arrays[name] = np.frombuffer(blob, dtype=dtype).reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return Artifact(manifest, arrays, path)


def dense_params(artifact: Artifact) -> dict[str, np.ndarray]:
    """The model's parameters as a flat ``{flax path: dense float32 array}`` dict.

    CSR-stored kernels (``<path>/values``, ``/indices``, ``/indptr``) are expanded back to their
    ``(k, c_in, c_out)`` shape; the zeros are exact, so nothing is lost.
    """
    out: dict[str, np.ndarray] = {}
    for layer in artifact.manifest["layers"]:
        name, shape = layer["name"], tuple(layer["shape"])
        if layer["storage"] == "csr":
            k, c_in, c_out = shape if len(shape) == 3 else (1, *shape)
            matrix = CSR(
                artifact.arrays[f"{name}/values"],
                artifact.arrays[f"{name}/indices"],
                artifact.arrays[f"{name}/indptr"],
                (c_out, k * c_in),
            ).to_dense()
            out[name] = np.ascontiguousarray(matrix.T.reshape(shape))
        else:
            out[name] = artifact.arrays[name].astype(np.float32)
    return out
