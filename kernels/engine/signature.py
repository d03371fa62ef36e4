"""Model signatures: the trailer a signed ``.ltcn`` file ends with, public keys, trust.

A signed file is an artifact followed by a 104-byte trailer::

    b"LTCNSIG1"        8-byte magic
    public key         32 bytes (Ed25519)
    signature          64 bytes, of MESSAGE_DOMAIN + SHA-512(every byte before the trailer)

so the signature covers the header, the manifest (with its per-array SHA-256s) and every
array byte, and signing or re-signing never changes the model itself (the manifest's
``file_bytes`` is the unsigned length). Signatures are made on the training side
(``ltcn export`` / ``ltcn sign``, with the ``cryptography`` package) and verified here, in
pure Python (:mod:`._ed25519`), before the manifest is parsed.

Keys are the standard PEM files that ``openssl genpkey -algorithm ed25519`` and
``openssl pkey -pubout`` write (PKCS #8 private, SubjectPublicKeyInfo public). A trust store
is a PEM file holding one or more public keys, or a directory of them (``*.pem``, ``*.pub``),
that only root or the user running ltcn can change (checked as ``sshd``'s StrictModes does:
:mod:`._trust_files`).
``ltcn detect`` trusts :func:`default_trust_paths` unless told otherwise:
``/etc/ltcn/trusted-keys`` (the gateway's) and ``<config>/trusted-keys`` (the user's, where
``ltcn keygen`` puts the public half of each key it makes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import DataFormatError, UsageError
from ._ed25519 import KEY_BYTES, SIGNATURE_BYTES, point_problem, verify
from ._trust_files import read_trust_path

SIGNATURE_MAGIC = b"LTCNSIG1"
TRAILER_BYTES = len(SIGNATURE_MAGIC) + KEY_BYTES + SIGNATURE_BYTES
MESSAGE_DOMAIN = b"ltcn model signature v1\n"  # what is signed is never a bare hash
SYSTEM_TRUST = Path("/etc/ltcn/trusted-keys")
MAX_KEY_FILE_BYTES = 1 << 20
# DER of an Ed25519 SubjectPublicKeyInfo (RFC 8410) up to the 32 key bytes.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z ]{1,64})-----")
KEY_SUFFIXES = (".pem", ".pub")


class UntrustedModelError(DataFormatError):
    """A model that verifies but is unsigned, or signed by a key the trust store lacks."""


class Signer(Protocol):
    """What signs a model (``ltcn_jax.signing``'s key on the training side)."""

    public_key: bytes  # raw, 32 bytes

    def sign(self, message: bytes) -> bytes: ...


def config_dir() -> Path:
    """Where the user's signing key and trust store live: ``$LTCN_CONFIG_DIR``, else
    ``$XDG_CONFIG_HOME/ltcn``, else ``~/.config/ltcn``."""
    if env := os.environ.get("LTCN_CONFIG_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(xdg) / "ltcn"


def default_trust_paths() -> tuple[Path, ...]:
    return SYSTEM_TRUST, config_dir() / "trusted-keys"


def key_id(public_key: bytes) -> str:
    """A short name for a key in messages: ``ed25519:`` and 16 hex digits of its SHA-256."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def signed_message(body_sha512: bytes) -> bytes:
    """What the signature of a file signs, given the SHA-512 of its unsigned bytes."""
    return MESSAGE_DOMAIN + body_sha512


def make_trailer(public_key: bytes, signature: bytes) -> bytes:
    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise ValueError("an Ed25519 key is 32 bytes and a signature 64")
    return SIGNATURE_MAGIC + public_key + signature


def split_signed(data) -> tuple[int, bytes | None, bytes | None]:
    """``(body length, public key, signature)`` of a file's bytes: the key and signature are
    None when the file does not end with a signature trailer."""
    n = len(data) - TRAILER_BYTES
    if n < 0 or bytes(data[n : n + len(SIGNATURE_MAGIC)]) != SIGNATURE_MAGIC:
        return len(data), None, None
    key = bytes(data[n + len(SIGNATURE_MAGIC) : n + len(SIGNATURE_MAGIC) + KEY_BYTES])
    return n, key, bytes(data[n + len(SIGNATURE_MAGIC) + KEY_BYTES :])


def verify_signed(path: str, data) -> tuple[int, bytes | None]:
    """``(body length, signer)`` of a file's bytes; signer is the public key of a valid
    signature, None for an unsigned file.

    Raises:
        DataFormatError: a trailer whose signature does not verify (the file was altered
            after it was signed, or the trailer is damaged), or whose key is not a valid one
            (small order or non-canonical: a forgery).
    """
    n, key, signature = split_signed(data)
    if key is None:
        return n, None
    if problem := point_problem(key):  # checked apart to say why: such a key signs nothing
        raise DataFormatError(path, 0, 0, f"the signature's key ({key_id(key)}) is not a valid "
                              f"Ed25519 public key: {problem}; the file is refused")
    if not verify(key, signed_message(hashlib.sha512(data[:n]).digest()), signature):
        raise DataFormatError(path, 0, 0, f"the signature (key {key_id(key)}) does not verify: "
                              "the file was altered after it was signed")
    return n, key


# --------------------------------------------------------------------------- keys


def public_key_pem(public_key: bytes) -> str:
    """A raw Ed25519 public key as the PEM block ``openssl pkey -pubout`` writes."""
    body = base64.encodebytes(_SPKI_PREFIX + public_key).decode().strip()
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def _pem_blocks(text: bytes, path: str) -> Iterator[tuple[str, int, bytes]]:
    """``(label, line, body)`` of each ``-----BEGIN label-----`` ... ``-----END label-----``
    block, in one pass: every byte is searched once (a backtracking pattern over the whole
    block took 16 s on 108 kB of BEGIN lines or blanks, and grows with the square).

    Raises:
        DataFormatError: a BEGIN line whose END line never comes.
    """
    pos, line, counted = 0, 1, 0
    while begin := _PEM_BEGIN.search(text, pos):
        line += text.count(b"\n", counted, begin.start())
        counted = begin.start()
        label = begin.group(1)
        end = text.find(b"-----END " + label + b"-----", begin.end())
        if end < 0:
            raise DataFormatError(path, line, 1, f"a BEGIN {label.decode()} block with no "
                                  f"-----END {label.decode()}----- line")
        yield label.decode(), line, text[begin.end() : end]
        pos = end + len(label) + len(b"-----END -----")


def parse_public_keys(text: bytes, path: str) -> list[bytes]:
    """Every Ed25519 public key in PEM ``text`` (at least one).

    Raises:
        DataFormatError: no key, a PEM block that is not an Ed25519 public key (a private key
            is named as such: it must never be where public keys are kept), bad base64, a key
            that is not a canonical point of the curve or has small order (as libsodium).
    """
    keys, checked = [], set()
    for label, line, body in _pem_blocks(text, path):
        if "PRIVATE" in label:
            raise DataFormatError(path, line, 1, "a PRIVATE key: a trust store holds public keys only")
        if label != "PUBLIC KEY":
            raise DataFormatError(path, line, 1, f"a {label} block, not a PUBLIC KEY")
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise DataFormatError(path, line, 1, "damaged PEM block (bad base64)") from None
        key = der[len(_SPKI_PREFIX) :]
        if der[: len(_SPKI_PREFIX)] != _SPKI_PREFIX or len(key) != KEY_BYTES:
            raise DataFormatError(path, line, 1, "not an Ed25519 public key (only Ed25519 is used)")
        if key not in checked and (problem := point_problem(key)):  # curve maths once per key
            raise DataFormatError(path, line, 1, f"not a valid Ed25519 public key: {problem}")
        checked.add(key)
        keys.append(key)
    if not keys:
        raise DataFormatError(path, 0, 0, "no PEM public key found (expected "
                              "-----BEGIN PUBLIC KEY-----, as `openssl pkey -pubout` writes)")
    return keys


@dataclass(frozen=True)
class TrustStore:
    """Trusted public keys, each with the file it came from."""

    keys: dict[bytes, str]
    paths: tuple[str, ...]

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike] | None = None) -> TrustStore:
        """The keys of ``paths`` (files or directories); None: :func:`default_trust_paths`,
        where a missing path is skipped (a path given explicitly must exist).

        Raises:
            UsageError: a given path that does not exist; a key file or folder that others
                could change, or a linked key file (:mod:`._trust_files`: as sshd's StrictModes).
            DataFormatError: a key file that holds anything but Ed25519 public keys.
        """
        explicit = paths is not None
        paths = [Path(p) for p in (paths if explicit else default_trust_paths())]
        keys: dict[bytes, str] = {}
        for root in paths:
            if not root.exists():
                if explicit:
                    raise UsageError(f"{root}: no such trusted-keys file or directory")
                continue
            for file, text in read_trust_path(root, KEY_SUFFIXES, MAX_KEY_FILE_BYTES):
                if len(text) > MAX_KEY_FILE_BYTES:
                    raise DataFormatError(str(file), 0, 0, f"over {MAX_KEY_FILE_BYTES} bytes: not a key file")
                for key in parse_public_keys(text, str(file)):
                    keys.setdefault(key, str(file))
        return cls(keys, tuple(str(p) for p in paths))

    def check(self, path: str, signer: bytes | None) -> str:
        """Who vouches for a model: one line for the log.

        Raises:
            UntrustedModelError: the model is unsigned, or signed by a key not in the store;
                the message says how to trust it or opt out.
        """
        where = " or ".join(self.paths) or "(no trust paths)"
        if signer is None:
            raise UntrustedModelError(path, 0, 0, "the model is not signed; sign it (`ltcn sign`) "
                                      f"with a key trusted in {where}, or pass --allow-unsigned")
        if signer not in self.keys:
            raise UntrustedModelError(path, 0, 0, f"signed by {key_id(signer)}, which is not a "
                                      f"trusted key (none in {where} is); add its public key "
                                      "there, or pass --allow-unsigned")
        return f"signed by {key_id(signer)}, trusted by {self.keys[signer]}"
