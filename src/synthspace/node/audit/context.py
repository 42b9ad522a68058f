"""What one audit run fetched once (the verified log view, the key history) and small helpers
the named checks share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from synthspace.canonical_json import sha256_hex
from synthspace.lineage import check_subject_name
from synthspace.node.audit.key_directory import KeyDirectory
from synthspace.node.audit.log_monitor import LogCheckFailed, LogView
from synthspace.node.audit.report import BundleError

if TYPE_CHECKING:
    from synthspace.checkpoint import Checkpoint


@dataclass
class AuditContext:
    """What one audit run fetched once and shares across the artifact and its parents."""

    view: LogView | None = None
    checkpoint: Checkpoint | None = None
    log_failure: LogCheckFailed | None = None
    keys: KeyDirectory | None = None
    key_source: str = ""
    org_records: dict[str, Any] = field(default_factory=dict)  # org -> OrgRecord | None (unreadable)


def sha256_bytes(data: bytes) -> str:
    return sha256_hex(data)


def safe_name(name: str) -> str:
    """A subject name usable as a file name inside a bundle (no paths, no hidden files)."""
    try:
        return check_subject_name(name)  # the same rule publishing applies
    except ValueError:
        raise BundleError(f"artifact subject name {name!r} is not a plain file name") from None


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
