"""Reading a trust store's files the way ``sshd``'s StrictModes reads ``authorized_keys``.

A key in the trust store lets its holder decide what the gateway blocks, so a key file or
folder that someone else could change is refused, not read: one that is group- or
world-writable, owned by anyone but root or the user running ltcn, or a symbolic link (a key
file given as a link, or a link among a folder's key files: what it points to is not where
keys are kept and checked). Each refusal is one line naming the path, the problem and the
``chmod`` / ``chown`` that fixes it. Files are opened without following links and without
blocking (a FIFO is refused, never waited on), and checked on the open descriptor, so what is
checked is what is read. The folders above a trust path are not checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import UsageError

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _writable_by(mode: int) -> str | None:
    who = [name for bit, name in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "world")) if mode & bit]
    return " and ".join(who).replace("group and", "group- and") + "-writable" if who else None


def _check_owner_and_mode(path: Path, info: os.stat_result, what: str) -> None:
    """Refuse ``path`` (a trusted-keys ``what``: file or folder) when others could change it."""
    me = os.geteuid()
    if info.st_uid not in (0, me):
        raise UsageError(f"{path}: the trusted-keys {what} is owned by uid {info.st_uid}, not root "
                         f"or you (uid {me}), so its owner could add a key; refused (fix: chown "
                         f"{'root' if me == 0 else me} {path})")
    if writable := _writable_by(info.st_mode):
        raise UsageError(f"{path}: the trusted-keys {what} is {writable} (mode "
                         f"{stat.S_IMODE(info.st_mode):04o}), so others could add a key; refused "
                         f"(fix: chmod go-w {path})")


def _refuse_link(path: Path) -> UsageError:
    try:
        target = os.readlink(path)
    except OSError:  # gone since: name it anyway
        target = "?"
    return UsageError(f"{path}: the trusted-keys file is a symbolic link (to {target}), so it "
                      "is read from where keys are not kept; refused (fix: replace it with the "
                      f"file it points to: cp --remove-destination {target} {path})")


def _read_key_file(path: Path, max_bytes: int, dir_fd: int | None = None) -> bytes:
    """The first ``max_bytes + 1`` bytes of a key file, after the checks."""
    name = path.name if dir_fd is not None else path
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW: ELOOP (or EMLINK on some systems)
            raise _refuse_link(path) from None
        raise UsageError(f"{path}: cannot read trusted keys: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: not a regular file (a FIFO, device or socket); refused "
                             "as a trusted-keys file")
        _check_owner_and_mode(path, info, "file")
        try:
            return f.read(max_bytes + 1)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read trusted keys: {exc.strerror}") from None


def read_trust_path(root: Path, suffixes: tuple[str, ...], max_bytes: int) -> list[tuple[Path, bytes]]:
    """``(file, first max_bytes + 1 bytes)`` of each key file of ``root``: ``root`` itself,
    or a folder's files named ``*<suffix>`` (sorted; sub-folders are skipped). A folder may
    be a link to one (its target is checked); a key file may not.

    Raises:
        UsageError: ``root`` or a key file that others could change, a linked key file, a
            FIFO or device, or one that cannot be read; the message says how to fix it.
    """
    if os.path.islink(root) and not root.is_dir():
        raise _refuse_link(root)
    if not root.is_dir():
        return [(root, _read_key_file(root, max_bytes))]
    try:
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"{root}: cannot read trusted keys: {exc.strerror}") from None
    try:
        _check_owner_and_mode(root, os.fstat(folder), "folder")
        files = []
        for name in sorted(os.listdir(folder)):
            path = root / name
            if path.suffix not in suffixes:
                continue
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                    continue
            except OSError as exc:  # removed while listed
                raise UsageError(f"{path}: cannot read trusted keys: {exc.strerror}") from None
            files.append((path, _read_key_file(path, max_bytes, dir_fd=folder)))
        return files
    finally:
        os.close(folder)
