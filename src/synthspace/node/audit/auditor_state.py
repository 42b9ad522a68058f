"""What one auditor remembers about one coordinator's log, on disk (mode 0600 files).

    verifier-key.txt   the coordinator's checkpoint verifier key, pinned on first use (or at
                       enrolment); a different key later is an error, never silently accepted
    checkpoint.txt     the last signed checkpoint this auditor verified
    leaves.jsonl       every log leaf up to that checkpoint (a cache that sync_log re-checks)
    evidence/          pairs of signed checkpoints that contradict each other (proof of a fork)

Only storage lives here; `log_monitor` decides what may be written.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthspace.atomic_files import atomic_write_bytes
from synthspace.errors import SynthspaceError

DEFAULT_AUDITOR_STATE = Path("~/.synthspace/auditor")


class AuditorStateError(SynthspaceError):
    """The auditor state directory is unusable (pinned to another log, unreadable files)."""


def _open_private(path: Path, mode: str) -> Any:
    """Open for writing with mode 0600: the state may sit in a node's private/ directory."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), mode)


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, mode=0o600)  # auditor state is private to this node


class AuditorState:
    """What one auditor remembers about one coordinator's log (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    @property
    def verifier_key_path(self) -> Path:
        return self.path / "verifier-key.txt"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.txt"

    @property
    def leaves_path(self) -> Path:
        return self.path / "leaves.jsonl"

    @property
    def evidence_dir(self) -> Path:
        return self.path / "evidence"

    def _ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    # ---- pinned verifier key --------------------------------------------------------------
    def pinned_verifier_key(self) -> str | None:
        if not self.verifier_key_path.is_file():
            return None
        return self.verifier_key_path.read_text().strip() or None

    def pin_verifier_key(self, text: str) -> None:
        current = self.pinned_verifier_key()
        if current is not None and current != text.strip():
            raise AuditorStateError(
                f"auditor state {self.path} is pinned to log verifier key {current!r}, not {text.strip()!r}; "
                "use a separate --state for a different coordinator"
            )
        self._ensure()
        _atomic_write(self.verifier_key_path, (text.strip() + "\n").encode())

    # ---- last checkpoint and leaves -------------------------------------------------------
    def last_checkpoint_note(self) -> str | None:
        return self.checkpoint_path.read_text() if self.checkpoint_path.is_file() else None

    def leaves(self) -> list[bytes]:
        if not self.leaves_path.is_file():
            return []
        out: list[bytes] = []
        with open(self.leaves_path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    if item["index"] != n:
                        raise ValueError(f"index {item['index']} at line {n}")
                    out.append(base64.b64decode(item["leaf"], validate=True))
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditorStateError(f"{self.leaves_path} is corrupt at line {n + 1}: {exc}") from exc
        return out

    def save(self, note: str, all_leaves: list[bytes], previous_count: int) -> None:
        """Append leaves [previous_count:] (a cache; see sync_log), then remember the checkpoint."""
        self._ensure()
        if len(all_leaves) > previous_count or previous_count == 0:
            self._write_leaves(all_leaves, previous_count)
        _atomic_write(self.checkpoint_path, note.encode())

    def _line_count(self) -> int:
        if not self.leaves_path.is_file():
            return 0
        with open(self.leaves_path, "rb") as fh:
            return sum(1 for line in fh if line.strip())

    def _write_leaves(self, all_leaves: list[bytes], previous_count: int) -> None:
        mode = "a" if previous_count and self._line_count() == previous_count else "w"
        with _open_private(self.leaves_path, mode) as fh:
            start = previous_count if mode == "a" else 0
            for i in range(start, len(all_leaves)):
                fh.write(json.dumps({"index": i, "leaf": base64.b64encode(all_leaves[i]).decode()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def record_evidence(self, earlier_note: str, later_note: str, reason: str) -> Path:
        """Keep both signed checkpoints: together they prove the coordinator forked its log."""
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.evidence_dir / f"fork-{stamp}.txt"
        with _open_private(path, "w") as fh:
            fh.write(
                f"reason: {reason}\n\n--- earlier checkpoint ---\n{earlier_note}\n--- later checkpoint ---\n{later_note}"
            )
        return path
