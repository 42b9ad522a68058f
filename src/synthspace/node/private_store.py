"""The node's private store: secrets that never leave the node (seed salts, run state).

Lives at `NODE_HOME/private` with mode 0700; every file in it is 0600. Values are read and
written here only; nothing in this module prints or logs them.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from synthspace.atomic_files import create_once
from synthspace.errors import SynthspaceError

SALT_BYTES = 32
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class PrivateStoreError(SynthspaceError):
    """The private store cannot be created or read (permissions, a corrupt salt file, a bad key)."""


def default_node_home() -> Path:
    """`$SYNTHSPACE_HOME`, else `~/.synthspace/node`."""
    env = os.environ.get("SYNTHSPACE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".synthspace" / "node"


class PrivateStore:
    """A directory of node-private values; created 0700 on first use."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    @classmethod
    def for_home(cls, home: str | Path | None = None) -> PrivateStore:
        """The store of a node home (`HOME/private`); `None` means the default home."""
        base = Path(home).expanduser() if home is not None else default_node_home()
        return cls(base / "private")

    def _ensure_dir(self, sub: str | None = None) -> Path:
        path = self.directory if sub is None else self.directory / sub
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)  # tighten a directory someone created with a looser mode
            if sub is not None:
                path.mkdir(mode=0o700, exist_ok=True)
                os.chmod(path, 0o700)
        except OSError as exc:
            raise PrivateStoreError(f"cannot create the private store {self.directory}: {exc}") from None
        return path

    def seed_salt(self, key: str) -> bytes:
        """The 32-byte salt for `key`, created randomly on first use and persisted with mode 0600."""
        if not _KEY.match(key):
            raise PrivateStoreError(
                f"invalid salt key {key!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        folder = self._ensure_dir("salts")
        path = folder / key
        if not path.exists():
            # If another process wins the race, its salt is the salt.
            create_once(path, secrets.token_bytes(SALT_BYTES), mode=0o600)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PrivateStoreError(f"cannot read salt {key!r} from {folder}: {exc}") from None
        if len(data) != SALT_BYTES:
            raise PrivateStoreError(
                f"salt file for {key!r} in {folder} is corrupt ({len(data)} bytes, expected {SALT_BYTES}); "
                "restore it from backup: a new salt would change every seed commitment"
            )
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return data
