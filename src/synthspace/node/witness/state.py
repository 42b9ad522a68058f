"""What a witness remembers: per log origin, the last checkpoint it cosigned.

One JSON file, rewritten atomically under an exclusive lock, so two witness processes on one
home never both cosign from the same old state.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from synthspace.atomic_files import atomic_write_json
from synthspace.errors import SynthspaceError


class WitnessStateError(SynthspaceError):
    """The witness state file is unreadable or corrupt (never silently reset: that would let a
    forked log be cosigned from size 0)."""


@dataclass(frozen=True)
class LogHead:
    size: int
    root: bytes
    note: str  # the checkpoint as cosigned, kept as evidence


class WitnessState:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, LogHead]]:
        """Read-modify-write under an exclusive lock; the dict is written back on clean exit."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            heads = self._read()
            before = dict(heads)
            yield heads
            if heads != before:
                atomic_write_json(
                    self.path,
                    {o: {"size": h.size, "root": base64.b64encode(h.root).decode(), "note": h.note} for o, h in sorted(heads.items())},
                )

    def heads(self) -> dict[str, LogHead]:
        return self._read()

    def _read(self) -> dict[str, LogHead]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {o: LogHead(int(v["size"]), base64.b64decode(v["root"], validate=True), str(v["note"])) for o, v in raw.items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WitnessStateError(f"witness state {self.path} is corrupt: {exc}; restore it from backup") from None
