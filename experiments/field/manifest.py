"""The field benchmark's capture list: which captures, from where, with which checksum.

A manifest is JSON: a list of entries, or an object whose ``captures`` is that list. An entry:

    {"id": "hue-bridge", "role": "benign", "site": "home-1", "path": "hue/bridge.pcap",
     "sha256": "...", "local_subnet": "192.168.1.0/24"}
    {"id": "mirai-scan", "role": "attack", "family": "scan", "path": "attacks/mirai.pcap",
     "sha256": "...", "attacker": "10.0.0.5"}

``path`` is relative to the data folder (where an entry also has ``file``, ``file`` is that
and ``path`` is the file's path in its source repository); ``sha256`` is checked before
anything runs (a changed capture would change every figure silently); ``attacker`` (optional)
names the attacking host, whose flows are the attack flows (without it, every flow of the
capture is); ``local_subnet`` (optional) is the site's IPv4 network, taken from its flows where
absent (:func:`field.replay.infer_subnet`); ``site`` groups benign captures of one network
(the "mean per site" figures average over sites). Other keys (source, commit, licence, notes)
are carried into the results and otherwise ignored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Entry", "ManifestError", "load_manifest", "sha256_of"]

ROLES = ("benign", "attack")


class ManifestError(Exception):
    """A manifest that cannot be used; the message is one line naming the entry."""


@dataclass(frozen=True)
class Entry:
    id: str
    role: str
    path: Path  # resolved against the data folder
    sha256: str
    site: str | None = None
    family: str | None = None
    local_subnet: str | None = None
    attacker: str | None = None
    file: str = ""  # as the manifest names it, relative to the data folder
    extra: dict = field(default_factory=dict, compare=False)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text(raw: dict, key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _entry(raw: object, index: int, source: Path, data: Path, check_sums: bool) -> Entry:
    where = f"{source}: entry {index}"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected an object")
    where = f"{source}: entry {index} ({str(raw.get('id'))[:60]!r})"
    role = _text(raw, "role", where)
    if role not in ROLES:
        raise ManifestError(f"{where}: role {role[:40]!r}, expected benign or attack")
    local = "file" if "file" in raw else "path"  # the data folder's copy
    names = ("id", local, "sha256", "site", "family", "local_subnet", "attacker")
    required = {"id", local, "sha256", *(("family",) if role == "attack" else ())}
    values = {k: _text(raw, k, where, k in required) for k in names}
    if role == "attack" and values["local_subnet"] is not None:
        raise ManifestError(f"{where}: an attack capture has no local_subnet (its addresses move "
                            "into each site's); the attacking host is 'attacker'")
    path = data / values[local]
    if not path.is_file():
        raise ManifestError(f"{where}: no file {path}")
    if values["local_subnet"] is not None:
        try:
            ipaddress.IPv4Network(values["local_subnet"], strict=False)
        except ValueError:
            raise ManifestError(f"{where}: local_subnet {values['local_subnet'][:60]!r} is not "
                                "an IPv4 network such as 192.168.1.0/24") from None
    if values["attacker"] is not None:
        try:
            ipaddress.IPv4Address(values["attacker"])
        except ValueError:
            raise ManifestError(f"{where}: attacker {values['attacker'][:60]!r} is not an IPv4 "
                                "address") from None
    if check_sums and sha256_of(path) != values["sha256"].lower():
        raise ManifestError(f"{where}: {path} does not match its sha256 (changed or replaced)")
    return Entry(id=values["id"], role=role, path=path, sha256=values["sha256"].lower(),
                 site=values["site"] or values["id"], family=values["family"],
                 local_subnet=values["local_subnet"], attacker=values["attacker"],
                 extra={k: v for k, v in raw.items() if k not in names and k != "role"},
                 file=values[local])


def load_manifest(manifest: str | os.PathLike, data: str | os.PathLike, *,
                  check_sums: bool = True) -> list[Entry]:
    """The manifest's entries, each file found under ``data`` and (by default) checksummed.

    Raises:
        ManifestError: unreadable JSON, a bad entry, a missing or changed file, a repeated id,
            or no benign or no attack capture.
    """
    source = Path(manifest)
    try:
        body = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{source}: not a readable JSON manifest ({e})") from None
    raws = body.get("captures") if isinstance(body, dict) else body
    if not isinstance(raws, list):
        raise ManifestError(f"{source}: expected a list of entries (or {{\"captures\": [...]}})")
    entries = [_entry(raw, i, source, Path(data), check_sums) for i, raw in enumerate(raws, 1)]
    ids = [e.id for e in entries]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ManifestError(f"{source}: ids used twice: {', '.join(repeated)}")
    for role in ROLES:
        if not any(e.role == role for e in entries):
            raise ManifestError(f"{source}: no {role} capture")
    return entries
