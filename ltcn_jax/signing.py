"""Ed25519 signing keys for model files (the training side; the secret key never goes to the
edge, which only verifies: :mod:`ltcn_kernels.engine.signature`).

Keys are unencrypted PKCS #8 PEM files (``openssl genpkey -algorithm ed25519`` writes the same),
created with mode 0600; each has its public half beside it as ``<key>.pub`` (SubjectPublicKeyInfo
PEM). The default key is ``$LTCN_SIGNING_KEY``, else ``<config>/signing-key.pem``
(:func:`~ltcn_kernels.engine.signature.config_dir`); ``ltcn export`` creates it on first use and
says so. Signing uses the ``cryptography`` package (OpenSSL's constant-time Ed25519).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ltcn_kernels.engine.signature import config_dir, key_id, public_key_pem
from ltcn_kernels.errors import UsageError

MAX_KEY_BYTES = 1 << 16


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key: ``public_key`` (raw 32 bytes) and :meth:`sign` (the
    :class:`~ltcn_kernels.engine.signature.Signer` protocol)."""

    path: str
    public_key: bytes
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def default_key_path() -> Path:
    return Path(os.environ.get("LTCN_SIGNING_KEY") or config_dir() / "signing-key.pem")


def user_trust_dir() -> Path:
    return config_dir() / "trusted-keys"


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never overwrite) with ``mode`` from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def trust_public_key(public_key: bytes, trust_dir: str | os.PathLike | None = None) -> Path:
    """Add a public key to a trust directory (default: the user's) as ``<key id>.pub``."""
    folder = Path(trust_dir) if trust_dir is not None else user_trust_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o755)  # never group-writable: see _trust_files
    path = folder / (key_id(public_key).split(":")[1] + ".pub")
    if not path.exists():
        _write_new(path, public_key_pem(public_key).encode(), 0o644)
    return path


def generate_key(path: str | os.PathLike, *, trust: bool = True) -> SigningKey:
    """Create a new key at ``path`` (mode 0600) and its ``.pub``; with ``trust``, its public
    half joins the user's trust store so this machine's ``ltcn detect`` accepts its models.

    Raises:
        UsageError: ``path`` or its ``.pub`` exists (a key is never overwritten).
    """
    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        if p.exists() or p.is_symlink():
            raise UsageError(f"{p}: already exists; a signing key is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_new(path, pem, 0o600)
    raw = _raw_public(private)
    _write_new(pub, public_key_pem(raw).encode(), 0o644)
    if trust:
        trust_public_key(raw)
    return SigningKey(str(path), raw, private)


def load_key(path: str | os.PathLike) -> SigningKey:
    """Read a PEM Ed25519 private key.

    Raises:
        UsageError: missing, unreadable, not an unencrypted Ed25519 private key.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"{path}: the signing key is encrypted; ltcn needs an unencrypted key "
                         "(mode 0600)") from None
    except ValueError:
        raise UsageError(f"{path}: not a PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key (make one with `ltcn keygen`)")
    return SigningKey(str(path), _raw_public(private), private)


def default_signer(err: TextIO | None = None) -> SigningKey:
    """The user's default key (:func:`default_key_path`), created and trusted on first use with
    a notice on ``err`` (default standard error)."""
    path = default_key_path()
    if path.exists():
        return load_key(path)
    key = generate_key(path)
    print(f"ltcn: created signing key {path} ({key.key_id}); this machine trusts it "
          f"({user_trust_dir()}); to deploy, copy {path}.pub to /etc/ltcn/trusted-keys/ on each "
          "gateway", file=err or sys.stderr)
    return key
