"""Which org held which key, and when: built from the verified log, cross-checked with the API.

The coordinator records every key it enrols, rotates in or revokes as a `key-add` /
`key-revoke` log entry; an auditor who verified the log (synthspace.node.audit.log_monitor) can
therefore answer "was key K an artifact key of org O at time T" without trusting the
coordinator's database. `GET /v1/orgs/{org}` states the same validity periods; a disagreement
between the two is itself a finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from synthspace.keys import load_public_key_pem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from synthspace.api_models import OrgRecord
    from synthspace.log_entries import KeyEntry


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class KeyRecord:
    """One key's history."""

    org: str
    key_id: str
    purpose: str
    public_key_pem: str
    valid_from: datetime
    revoked_at: datetime | None = None
    added_log_index: int | None = None
    revoked_log_index: int | None = None

    def active_at(self, when: datetime) -> bool:
        when = _as_utc(when)
        return _as_utc(self.valid_from) <= when and (self.revoked_at is None or when < _as_utc(self.revoked_at))

    def public_key(self) -> Ed25519PublicKey:
        return load_public_key_pem(self.public_key_pem)

    def describe(self) -> str:
        span = f"valid from {self.valid_from.isoformat()}"
        if self.revoked_at is not None:
            span += f", revoked at {self.revoked_at.isoformat()}"
        return f"{self.purpose} key {self.key_id[:16]}… of org {self.org!r} ({span})"


class KeyDirectory:
    """Key id -> KeyRecord for every key any org ever enrolled."""

    def __init__(self, records: Iterable[KeyRecord] = ()) -> None:
        self._by_id: dict[str, KeyRecord] = {r.key_id: r for r in records}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, key_id: str) -> KeyRecord | None:
        return self._by_id.get(key_id)

    def records(self) -> list[KeyRecord]:
        return list(self._by_id.values())

    def for_org(self, org: str, purpose: str | None = None) -> list[KeyRecord]:
        return [r for r in self._by_id.values() if r.org == org and (purpose is None or r.purpose == purpose)]

    @classmethod
    def from_log(cls, entries: Iterable[tuple[int, KeyEntry]]) -> KeyDirectory:
        """Replay key-add / key-revoke entries in log order."""
        by_id: dict[str, KeyRecord] = {}
        for index, entry in entries:
            if entry.type == "key-add":
                if entry.key_id not in by_id:
                    by_id[entry.key_id] = KeyRecord(
                        org=entry.org,
                        key_id=entry.key_id,
                        purpose=entry.purpose,
                        public_key_pem=entry.public_key_pem,
                        valid_from=_as_utc(entry.time),
                        added_log_index=index,
                    )
            elif entry.type == "key-revoke":
                record = by_id.get(entry.key_id)
                if record is not None and record.revoked_at is None:
                    record.revoked_at = _as_utc(entry.time)
                    record.revoked_log_index = index
        return cls(by_id.values())

    @classmethod
    def from_org_records(cls, orgs: Iterable[OrgRecord]) -> KeyDirectory:
        """From `GET /v1/orgs` records (keys as PEM with validity periods)."""
        records: list[KeyRecord] = []
        for org in orgs:
            for key in org.keys:
                records.append(
                    KeyRecord(
                        org=org.org,
                        key_id=key.key_id,
                        purpose=key.purpose,
                        public_key_pem=key.public_key_pem,
                        valid_from=_as_utc(key.valid_from),
                        revoked_at=_as_utc(key.revoked_at) if key.revoked_at else None,
                        added_log_index=key.added_log_index,
                        revoked_log_index=key.revoked_log_index,
                    )
                )
        return cls(records)

    def disagreements(self, other: KeyDirectory, orgs: Iterable[str] | None = None) -> list[str]:
        """Where `other` (the API's view) differs from this (the log's view), for `orgs`."""
        wanted = set(orgs) if orgs is not None else None
        problems: list[str] = []
        for record in other.records():
            if wanted is not None and record.org not in wanted:
                continue
            mine = self.get(record.key_id)
            if mine is None:
                problems.append(f"key {record.key_id[:16]}… of {record.org!r} is not in the log")
                continue
            if mine.org != record.org or mine.purpose != record.purpose:
                problems.append(f"key {record.key_id[:16]}…: org/purpose differ between API and log")
            if mine.public_key_pem.strip() != record.public_key_pem.strip():
                problems.append(f"key {record.key_id[:16]}…: the API serves another public key than the log")
            if (mine.revoked_at is None) != (record.revoked_at is None):
                problems.append(f"key {record.key_id[:16]}…: revocation differs between API and log")
        for mine in self.records():
            if wanted is not None and mine.org not in wanted:
                continue
            if other.get(mine.key_id) is None:
                problems.append(f"key {mine.key_id[:16]}… of {mine.org!r} is in the log but not in the API")
        return problems
