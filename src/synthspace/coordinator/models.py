"""SQLAlchemy 2.0 models of the catalog, its organisations and its transparency log.

Every schema change goes through a NEW Alembic migration in src/synthspace/coordinator/migrations/versions;
other parts (federated runs, web catalog) add their tables the same way and may import these
models to read the catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# BIGINT primary keys on PostgreSQL; INTEGER (the rowid alias) on SQLite.
BigInt = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Org(Base):
    """An enrolled organisation."""

    __tablename__ = "orgs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)

    keys: Mapped[list[OrgKey]] = relationship(back_populates="org", order_by="OrgKey.valid_from")


class OrgKey(Base):
    """A public key of an org with its validity period; never deleted, only revoked."""

    __tablename__ = "org_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_name: Mapped[str] = mapped_column(ForeignKey("orgs.name"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # artifact | request | supernode | witness
    public_key_pem: Mapped[str] = mapped_column(Text)
    witness_url: Mapped[str | None] = mapped_column(Text, default=None)  # witness keys only; not logged
    valid_from: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoke_reason: Mapped[str | None] = mapped_column(Text, default=None)
    added_log_index: Mapped[int] = mapped_column(BigInt)
    revoked_log_index: Mapped[int | None] = mapped_column(BigInt, default=None)

    org: Mapped[Org] = relationship(back_populates="keys")

    __table_args__ = (Index("ix_org_keys_org_purpose", "org_name", "purpose"),)

    def active_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.revoked_at is None or when < self.revoked_at)


class EnrolmentToken(Base):
    """A one-time enrolment token; only its sha256 is stored."""

    __tablename__ = "enrolment_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_name: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Artifact(Base):
    """One published artifact: denormalised search columns plus the envelope as published."""

    __tablename__ = "artifacts"

    artifact_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_name: Mapped[str] = mapped_column(ForeignKey("orgs.name"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("org_keys.key_id"))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(100), index=True)
    task: Mapped[str | None] = mapped_column(String(200), index=True)
    locale: Mapped[str | None] = mapped_column(String(35), index=True)
    record_count: Mapped[int | None] = mapped_column(BigInt)
    subject_name: Mapped[str] = mapped_column(String(255))
    subject_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInt)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    statement: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_at: Mapped[datetime]
    published_at: Mapped[datetime] = mapped_column(index=True)
    log_index: Mapped[int] = mapped_column(BigInt, ForeignKey("log_leaves.idx"), unique=True)
    retracted_at: Mapped[datetime | None] = mapped_column(default=None)
    retraction_reason: Mapped[str | None] = mapped_column(Text, default=None)
    retracted_by: Mapped[str | None] = mapped_column(String(16), default=None)
    retract_log_index: Mapped[int | None] = mapped_column(BigInt, default=None)
    # Visibility from the signed usage policy (synthspace.policy.visible_orgs): True when every
    # member may see it; otherwise only the publisher and the orgs in artifact_assignees.
    visible_to_all: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Policy versions (synthspace.policy_versions): 0 = the signed policy is in force; N = the
    # N-th logged version (policy_versions row) is. A withdrawal sets policy_withdrawn_at.
    policy_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    policy_withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)

    tags: Mapped[list[ArtifactTag]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (
        Index("ix_artifacts_title_log", "title", "log_index"),
        Index("ix_artifacts_org_log", "org_name", "log_index"),
        Index("ix_artifacts_task_log", "task", "log_index"),
    )


class ArtifactTag(Base):
    __tablename__ = "artifact_tags"

    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.artifact_id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    # The artifact's log index, copied in: a tag filter walks (tag, log_index) newest-first.
    log_index: Mapped[int] = mapped_column(BigInt)

    __table_args__ = (
        Index("ix_artifact_tags_tag_artifact", "tag", "artifact_id"),
        Index("ix_artifact_tags_tag_log", "tag", "log_index"),
    )


class ArtifactAssignee(Base):
    """An org that may see a restricted artifact (its policy names it, directly or by group)."""

    __tablename__ = "artifact_assignees"
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.artifact_id"), primary_key=True)
    org_name: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_artifact_assignees_org_artifact", "org_name", "artifact_id"),)


class ArtifactParent(Base):
    """Lineage edge child -> parent (both catalog artifacts)."""

    __tablename__ = "artifact_parents"

    child_id: Mapped[str] = mapped_column(ForeignKey("artifacts.artifact_id"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(
        ForeignKey("artifacts.artifact_id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32))


class Agreement(Base):
    """A consumer's signed agreement to an artifact's policy, logged as an `agreement` entry."""

    __tablename__ = "agreements"

    envelope_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.artifact_id"))
    org_name: Mapped[str] = mapped_column(ForeignKey("orgs.name"))
    key_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(100))
    policy_sha256: Mapped[str] = mapped_column(String(71))
    signed_at: Mapped[datetime]
    logged_at: Mapped[datetime]
    log_index: Mapped[int] = mapped_column(BigInt, ForeignKey("log_leaves.idx"), unique=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_agreements_artifact_org", "artifact_id", "org_name", "action"),)


class PolicyVersionRow(Base):
    """A publisher's signed restriction (or withdrawal) of its artifact's policy, logged as a
    `policy` entry. (artifact_id, version) is unique: two updates cannot both follow one version."""

    __tablename__ = "policy_versions"

    envelope_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.artifact_id"))
    version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_sha256: Mapped[str] = mapped_column(String(71))
    previous_policy_sha256: Mapped[str] = mapped_column(String(71))
    withdrawn: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    logged_at: Mapped[datetime]
    log_index: Mapped[int] = mapped_column(BigInt, ForeignKey("log_leaves.idx"), unique=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_policy_versions_artifact_version", "artifact_id", "version", unique=True),
    )


class LogLeaf(Base):
    """One transparency-log entry: its canonical bytes and RFC 6962 leaf hash."""

    __tablename__ = "log_leaves"

    idx: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Size of the signed checkpoint the entry's receipt proves against: the end of the batch it
    # was integrated in (services/sequencer.py). NULL: logged on its own, i.e. idx + 1.
    tree_size: Mapped[int | None] = mapped_column(BigInt, default=None)


class LogNode(Base):
    """Hash of the complete subtree [idx*2^level, (idx+1)*2^level), level >= 1, stored as it closes."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogState(Base):
    """Single row (id=1): tree size, root and the right-edge frontier; its row lock serialises appends."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInt, default=0)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PublishQueue(Base):
    """A verified publish waiting for the sequencer (PostgreSQL, received by a process that does
    not hold the sequencer role). Deleted in the transaction that logs it."""

    __tablename__ = "publish_queue"

    seq: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    artifact_id: Mapped[str] = mapped_column(String(64), unique=True)
    org_name: Mapped[str] = mapped_column(String(64))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)


class RequestNonce(Base):
    """(keyid, nonce) pairs already used by signed requests; rows expire and are pruned."""

    __tablename__ = "request_nonces"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
