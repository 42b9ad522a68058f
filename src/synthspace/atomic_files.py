"""Crash-safe file writes, written once for every part of synthspace.

A reader of any file written here sees the old content or the new, never half of it: the bytes
go to a temporary file in the same folder, are fsynced, renamed over the target, and the
folder is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "create_once",
    "fsync_dir",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, mode)
    return fd, Path(name)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces `path` only when the block ends cleanly.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    target = Path(path)
    fd, tmp = _temp_beside(target, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably."""
    with atomic_output(path, mode=mode) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Replace `path` with UTF-8 `text` atomically and durably."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(
    path: str | os.PathLike[str], value: Any, *, indent: int | None = 2, sort_keys: bool = False, mode: int = 0o644
) -> None:
    """Replace `path` with `value` as JSON (UTF-8, trailing newline) atomically and durably."""
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    atomic_write_text(path, text, mode=mode)


def create_once(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> bool:
    """Create `path` with `data` unless it exists; True when this call created it.

    Several processes may race: exactly one wins (a hard link fails on an existing name) and
    every loser keeps the winner's bytes, which is what a secret created on first use needs.
    """
    target = Path(path)
    fd, tmp = _temp_beside(target, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        fsync_dir(target.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)
