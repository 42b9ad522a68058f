"""Content-addressed blob store on disk: BLOBS/sha256/ab/cd/<hex>.

A blob is written to a temporary file, fsynced, renamed into place and its folder fsynced
*before* the database transaction that references it commits, so a committed catalog row
always has its bytes. A crash in between leaves at worst an unreferenced blob (harmless; the
same bytes published again reuse it).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from synthspace.coordinator.errors import CoordinatorError, NotFoundError

CHUNK = 1 << 20


class BlobStoreError(CoordinatorError):
    status = 507
    code = "blob_store"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Folders known to exist (at most the 65,536 ab/cd folders and three more): a publish
        # then costs no mkdir (a failing syscall, an exception and a stat each, twice a publish).
        # A sweep removes files only; a folder removed by hand is noticed and made again.
        self._made: set[str] = set()

    def path_for(self, sha256_hex: str) -> Path:
        if len(sha256_hex) != 64 or any(c not in "0123456789abcdef" for c in sha256_hex):
            raise NotFoundError(f"not a sha256 hex digest: {sha256_hex!r}")
        return self.root / "sha256" / sha256_hex[:2] / sha256_hex[2:4] / sha256_hex

    def exists(self, sha256_hex: str) -> bool:
        return self.path_for(sha256_hex).is_file()

    def put_bytes(self, data: bytes) -> str:
        """Store `data` durably; returns its sha256 hex."""
        return self.put_chunks([data])

    def put_file(self, fileobj: BinaryIO) -> str:
        def chunks() -> Iterator[bytes]:
            while chunk := fileobj.read(CHUNK):
                yield chunk

        return self.put_chunks(chunks())

    def _ensure_dir(self, path: Path) -> None:
        """`path` exists; any folder this made is durable in its parent (fsync of the parent)."""
        key = str(path)
        if key in self._made:
            return
        missing: list[Path] = []
        p = path
        while not p.is_dir():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:  # a concurrent writer made it
                continue
            _fsync_dir(d.parent)
        self._made.add(key)

    def _locked_tmp(self) -> tuple[int, str]:
        """A new temp file, flock-ed for as long as this process writes it (see sweep_tmp)."""
        tmp_dir = self.root / "tmp"
        self._ensure_dir(tmp_dir)
        while True:
            try:
                fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
            except FileNotFoundError:  # the folder was removed by hand
                self._made.discard(str(tmp_dir))
                self._ensure_dir(tmp_dir)
                fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:  # not swept between mkstemp and flock
                return fd, tmp_name
            os.close(fd)

    def put_chunks(self, chunks: Iterable[bytes]) -> str:
        h = hashlib.sha256()
        try:
            fd, tmp_name = self._locked_tmp()
        except OSError as exc:
            raise BlobStoreError(f"cannot store blob under {self.root}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:  # closing it releases the lock, after the rename
                for chunk in chunks:
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                digest = h.hexdigest()
                final = self.path_for(digest)
                if final.is_file():
                    os.unlink(tmp_name)
                    return digest
                self._ensure_dir(final.parent)
                try:
                    os.replace(tmp_name, final)
                except FileNotFoundError:  # its folder was removed by hand
                    self._made.discard(str(final.parent))
                    self._ensure_dir(final.parent)
                    os.replace(tmp_name, final)
                _fsync_dir(final.parent)
                return digest
        except OSError as exc:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
            raise BlobStoreError(f"cannot store blob under {self.root}: {exc}") from exc

    def open(self, sha256_hex: str) -> BinaryIO:
        path = self.path_for(sha256_hex)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {sha256_hex} is missing from the blob store") from exc

    def sweep_tmp(self) -> int:
        """Remove temp files left by a killed writer; returns how many.

        A writer holds an flock on its temp file until it is renamed into place or removed, and
        the kernel drops the lock when the process dies: a file whose lock can be taken has no
        live writer, whatever its age. Files another live worker is writing are left alone.
        """
        tmp_dir = self.root / "tmp"
        removed = 0
        if not tmp_dir.is_dir():
            return 0
        for p in tmp_dir.iterdir():
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live writer holds it
                os.close(fd)
                continue
            try:
                p.unlink()
                removed += 1
            except OSError:
                pass
            finally:
                os.close(fd)
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
