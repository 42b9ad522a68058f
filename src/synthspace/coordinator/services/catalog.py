"""Catalog reads: list/search with keyset pagination, artifact detail with lineage links."""

from __future__ import annotations

import base64
import binascii
import json
import weakref
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, text, true
from sqlalchemy.orm import Session, defer

from synthspace.api_models import (
    ArtifactDetail,
    ArtifactPage,
    ArtifactSummary,
    ParentLink,
    Retraction,
    SortOrder,
    WithdrawnAncestor,
)
from synthspace.coordinator.errors import InvalidRequestError, NotFoundError
from synthspace.coordinator.models import (
    Artifact,
    ArtifactAssignee,
    ArtifactParent,
    ArtifactTag,
    PolicyVersionRow,
)
from synthspace.coordinator.services.auth import Principal
from synthspace.policy import UsagePolicy, enforced_policy


def visible_to(viewer: Principal | None) -> ColumnElement[bool]:
    """The one visibility rule, as a SQL condition on Artifact (issue 16, docs/governance.md).

    An org sees an artifact when its usage policy lets every member see it, when it published
    it, or when the policy names it (artifact_assignees); the operator sees everything; the
    anonymous web catalog (`viewer=None`) sees only artifacts visible to every member.
    """
    if viewer is None:
        return Artifact.visible_to_all.is_(True)
    if viewer.is_operator:
        return true()
    return or_(
        Artifact.visible_to_all.is_(True),
        Artifact.org_name == viewer.org,
        exists().where(
            ArtifactAssignee.artifact_id == Artifact.artifact_id,
            ArtifactAssignee.org_name == viewer.org,
        ),
    )


def summary(row: Artifact) -> ArtifactSummary:
    return ArtifactSummary(**_summary_fields(row, [t.tag for t in row.tags]))


# What a list row needs (the summary's columns), selected as plain columns.
_LIST_COLUMNS = (
    Artifact.artifact_id, Artifact.org_name, Artifact.kind, Artifact.title, Artifact.description,
    Artifact.license, Artifact.task, Artifact.locale, Artifact.record_count, Artifact.subject_name,
    Artifact.subject_sha256, Artifact.size_bytes, Artifact.key_id, Artifact.signed_at,
    Artifact.published_at, Artifact.log_index, Artifact.retracted_at, Artifact.retraction_reason,
    Artifact.retracted_by, Artifact.retract_log_index, Artifact.policy_version,
    Artifact.policy_withdrawn_at,
)  # fmt: skip


def _summary_fields(row: Any, tags: list[str]) -> dict[str, Any]:
    """Summary fields of an Artifact entity or a row of _LIST_COLUMNS (same attribute names)."""
    retraction = None
    if row.retracted_at is not None:
        retraction = Retraction(
            retracted_at=row.retracted_at,
            reason=row.retraction_reason or "",
            by=row.retracted_by or "operator",  # type: ignore[arg-type]
            log_index=row.retract_log_index or 0,
        )
    return dict(
        artifact_id=row.artifact_id,
        org=row.org_name,
        kind=row.kind,
        title=row.title,
        description=row.description,
        license=row.license,
        task=row.task,
        locale=row.locale,
        tags=sorted(tags),
        record_count=row.record_count,
        subject_name=row.subject_name,
        subject_sha256=row.subject_sha256,
        size_bytes=row.size_bytes,
        key_id=row.key_id,
        signed_at=row.signed_at,
        published_at=row.published_at,
        log_index=row.log_index,
        retraction=retraction,
        policy_version=row.policy_version or 0,
        policy_withdrawn_at=row.policy_withdrawn_at,
    )


def get_artifact(session: Session, artifact_id: str, *, viewer: Principal | None) -> Artifact:
    """The artifact if `viewer` may see it; 404 alike for unknown and not-visible (no existence leak)."""
    row = session.scalars(
        select(Artifact).where(Artifact.artifact_id == artifact_id, visible_to(viewer))
    ).one_or_none()
    if row is None:
        raise NotFoundError(
            f"artifact {artifact_id} is not in the catalog", code="unknown_artifact"
        )
    return row


def signed_policy(row: Artifact) -> UsagePolicy:
    """The usage policy in the artifact's signed predicate, or the terms the space applies to an
    artifact signed without one (policy.enforced_policy: the same rule agreements use)."""
    raw = (row.statement or {}).get("predicate", {}).get("policy")
    return enforced_policy(None if raw is None else UsagePolicy.model_validate(raw))


def policy_in_force(session: Session, row: Artifact) -> UsagePolicy:
    """The policy that governs the artifact now: its latest logged version (policy_versions),
    else the signed one. Every permission decision of the coordinator (agreements, data, derive
    and train parents) reads it here."""
    if not row.policy_version:
        return signed_policy(row)
    raw = session.scalars(
        select(PolicyVersionRow.policy).where(
            PolicyVersionRow.artifact_id == row.artifact_id,
            PolicyVersionRow.version == row.policy_version,
        )
    ).one()
    return UsagePolicy.model_validate(raw)


def policy_at_index(session: Session, row: Artifact, log_index: int) -> UsagePolicy:
    """The policy in force just before log index `log_index` (what an agreement logged there
    had to name): the last version logged before it, else the signed policy."""
    raw = session.scalars(
        select(PolicyVersionRow.policy)
        .where(PolicyVersionRow.artifact_id == row.artifact_id, PolicyVersionRow.log_index < log_index)
        .order_by(PolicyVersionRow.version.desc())
        .limit(1)
    ).first()
    return signed_policy(row) if raw is None else UsagePolicy.model_validate(raw)


MAX_WITHDRAWAL_DEPTH = 64  # lineage links walked up when looking for withdrawn ancestors


def withdrawn_ancestors(
    session: Session, artifact_id: str, *, viewer: Principal | None
) -> list[WithdrawnAncestor]:
    """The retracted or policy-withdrawn artifacts `artifact_id` is built on ("built on
    withdrawn data").

    One recursive query over `artifact_parents` (SQLite and PostgreSQL alike), up to
    MAX_WITHDRAWAL_DEPTH links and only through artifacts `viewer` may see (`visible_to`), so
    an ancestor hidden from the caller is neither named nor walked through.
    """
    anchor = (
        select(ArtifactParent.parent_id.label("aid"), literal(1).label("depth"))
        .join(Artifact, Artifact.artifact_id == ArtifactParent.parent_id)
        .where(ArtifactParent.child_id == artifact_id, visible_to(viewer))
        .cte("ancestors", recursive=True)
    )
    step = (
        select(ArtifactParent.parent_id, anchor.c.depth + 1)
        .join(anchor, ArtifactParent.child_id == anchor.c.aid)
        .join(Artifact, Artifact.artifact_id == ArtifactParent.parent_id)
        .where(anchor.c.depth < MAX_WITHDRAWAL_DEPTH, visible_to(viewer))
    )
    ancestors = anchor.union(step)  # UNION, not UNION ALL: a diamond is walked once per depth
    rows = session.execute(
        select(
            Artifact.artifact_id, Artifact.title, Artifact.retracted_at, Artifact.retraction_reason,
            Artifact.policy_withdrawn_at, PolicyVersionRow.reason,
        )
        .outerjoin(
            PolicyVersionRow,
            and_(
                PolicyVersionRow.artifact_id == Artifact.artifact_id,
                PolicyVersionRow.version == Artifact.policy_version,
                PolicyVersionRow.withdrawn.is_(True),
            ),
        )
        .where(
            Artifact.artifact_id.in_(select(ancestors.c.aid)),
            Artifact.artifact_id != artifact_id,
            or_(Artifact.retracted_at.is_not(None), Artifact.policy_withdrawn_at.is_not(None)),
        )
        .order_by(Artifact.log_index)
    ).all()
    out: list[WithdrawnAncestor] = []
    for aid, title, retracted_at, reason, withdrawn_at, withdraw_reason in rows:
        if retracted_at is not None:
            out.append(WithdrawnAncestor(artifact_id=aid, title=title, retracted_at=retracted_at, reason=reason or ""))
        elif withdrawn_at is not None:  # always, by the WHERE clause; narrows the type
            out.append(
                WithdrawnAncestor(
                    artifact_id=aid, title=title, retracted_at=withdrawn_at,
                    reason=withdraw_reason or "", how="policy withdrawn",
                )
            )  # fmt: skip
    return sorted(out, key=lambda w: (w.retracted_at, w.artifact_id))


def artifact_detail(
    session: Session, artifact_id: str, *, viewer: Principal | None
) -> ArtifactDetail:
    row = get_artifact(session, artifact_id, viewer=viewer)
    parents = session.execute(
        select(ArtifactParent.parent_id, ArtifactParent.role, Artifact.title)
        .join(Artifact, Artifact.artifact_id == ArtifactParent.parent_id)
        .where(ArtifactParent.child_id == artifact_id, visible_to(viewer))
    ).all()
    children = session.execute(
        select(ArtifactParent.child_id, ArtifactParent.role, Artifact.title)
        .join(Artifact, Artifact.artifact_id == ArtifactParent.child_id)
        .where(ArtifactParent.parent_id == artifact_id, visible_to(viewer))
        .order_by(Artifact.log_index)
    ).all()
    statement = dict(row.statement)
    return ArtifactDetail(
        **_summary_fields(row, [t.tag for t in row.tags]),
        statement=statement,
        gates=list(statement.get("predicate", {}).get("gates", [])),
        parents=[ParentLink(artifact_id=p[0], role=p[1], title=p[2]) for p in parents],
        children=[ParentLink(artifact_id=c[0], role=c[1], title=c[2]) for c in children],
        withdrawn_ancestors=withdrawn_ancestors(session, artifact_id, viewer=viewer),
        policy_in_force=policy_in_force(session, row).model_dump(mode="json") if row.policy_version else None,
    )


def _encode_cursor(sort: str, row: Any) -> str:
    key: list[Any] = [row.title, row.log_index] if sort == "title" else [row.log_index]
    raw = json.dumps({"s": sort, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_CHARS = 1000
_MAX_LOG_INDEX = 2**63 - 1  # a signed 64-bit column: larger keys would overflow the database


def _decode_cursor(sort: str, cursor: str) -> list[Any]:
    """The key a cursor carries, checked strictly: any other shape is a 400 `invalid_cursor`."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(f"longer than {MAX_CURSOR_CHARS} characters")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != {"s", "k"} or not isinstance(data["k"], list):
            raise ValueError("not a cursor made by this server")
        key = data["k"]
        if data["s"] != sort:
            raise ValueError("cursor was made for another sort order")
        index = key[-1] if key else None
        ok = isinstance(index, int) and not isinstance(index, bool) and 0 <= index <= _MAX_LOG_INDEX
        if sort == "title":
            title = key[0]
            ok = ok and len(key) == 2 and isinstance(title, str) and len(title) <= 1000
            ok = ok and "\x00" not in title and title.encode("utf-8", "strict") is not None
        else:
            ok = ok and len(key) == 1
        if not ok:
            raise ValueError("bad cursor key")
        return list(key)
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidRequestError(
            f"invalid cursor: {exc}; start again without `cursor`", code="invalid_cursor"
        ) from exc


SEARCH_CANDIDATES_MAX = 500  # more matches than this: walking the log order finds a page sooner
FTS_TABLE = "artifacts_fts"  # SQLite only (migration k0a1_catalog_search)


def _search_candidates(session: Session, needle: str) -> list[str] | None:
    """On SQLite with the trigram index: the ids of every artifact whose title or description
    may contain `needle` (a superset: the substring test still decides), when there are at
    most SEARCH_CANDIDATES_MAX of them. None: search without the index (PostgreSQL has its own,
    the needle is under 3 characters, too common a word, or no index)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or len(needle) < 3 or not _has_fts(bind):
        return None
    phrase = '"' + needle.replace('"', '""') + '"'  # one FTS5 phrase: the trigrams in order
    ids = list(
        session.execute(
            text(f"SELECT artifact_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :p LIMIT :n"),
            {"p": phrase, "n": SEARCH_CANDIDATES_MAX + 1},
        ).scalars()
    )
    return ids if len(ids) <= SEARCH_CANDIDATES_MAX else None


_FTS_PRESENT: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()  # per engine


def _has_fts(bind: Any) -> bool:
    found = _FTS_PRESENT.get(bind)
    if found is None:
        with bind.connect() as conn:
            found = bool(
                conn.execute(
                    text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": FTS_TABLE}
                ).first()
            )
        _FTS_PRESENT[bind] = found
    return found


def list_artifacts(
    session: Session,
    *,
    viewer: Principal | None,
    limit: int,
    org: str | None = None,
    task: str | None = None,
    locale: str | None = None,
    license: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    kind: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    status: Literal["all", "active", "retracted"] = "all",
    sort: SortOrder = "newest",
    cursor: str | None = None,
) -> ArtifactPage:
    """One page of artifacts matching every given filter; `next_cursor` continues it."""
    # Plain columns, no ORM entities: listing never needs the envelope bytes or the Statement
    # JSON, and tuples skip the identity map; tags come in one query for the page.
    stmt = select(*_LIST_COLUMNS).where(visible_to(viewer))
    if org:
        stmt = stmt.where(Artifact.org_name == org)
    if task:
        stmt = stmt.where(Artifact.task == task)
    if locale:
        stmt = stmt.where(Artifact.locale == locale)
    if license:
        stmt = stmt.where(Artifact.license == license)
    if kind:
        stmt = stmt.where(Artifact.kind == kind)
    # With a tag, the log order comes from the (tag, log_index) index: the walk visits only
    # that tag's artifacts, newest first, and stops after a page.
    order_index: Any = Artifact.log_index
    if tag:
        stmt = stmt.join(
            ArtifactTag,
            # log_index is unique, so it alone pairs the rows; a second join column would make
            # PostgreSQL's planner expect one match, sort them all and miss the index walk
            and_(ArtifactTag.log_index == Artifact.log_index, ArtifactTag.tag == tag),
        )
        order_index = ArtifactTag.log_index
    if q:
        needle = q.lower()
        stmt = stmt.where(
            or_(
                func.lower(Artifact.title).contains(needle, autoescape=True),
                func.lower(Artifact.description).contains(needle, autoescape=True),
            )
        )
        candidates = _search_candidates(session, needle)
        if candidates is not None:
            stmt = stmt.where(Artifact.artifact_id.in_(candidates))
    if created_after:
        stmt = stmt.where(Artifact.published_at >= created_after)
    if created_before:
        stmt = stmt.where(Artifact.published_at < created_before)
    if status == "active":
        stmt = stmt.where(Artifact.retracted_at.is_(None))
    elif status == "retracted":
        stmt = stmt.where(Artifact.retracted_at.is_not(None))
    if cursor:
        key = _decode_cursor(sort, cursor)
        if sort == "newest":
            stmt = stmt.where(order_index < key[0])
        elif sort == "oldest":
            stmt = stmt.where(order_index > key[0])
        else:
            stmt = stmt.where(
                or_(
                    Artifact.title > key[0],
                    and_(Artifact.title == key[0], Artifact.log_index > key[1]),
                )
            )
    if sort == "newest":
        stmt = stmt.order_by(order_index.desc())
    elif sort == "oldest":
        stmt = stmt.order_by(order_index.asc())
    else:
        stmt = stmt.order_by(Artifact.title.asc(), Artifact.log_index.asc())
    rows: list[Any] = list(session.execute(stmt.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    tags: dict[str, list[str]] = {}
    if rows:
        for aid, t in session.execute(
            select(ArtifactTag.artifact_id, ArtifactTag.tag).where(
                ArtifactTag.artifact_id.in_([r.artifact_id for r in rows])
            )
        ):
            tags.setdefault(aid, []).append(t)
    return ArtifactPage(
        items=[
            ArtifactSummary(**_summary_fields(r, tags.get(r.artifact_id, []))) for r in rows
        ],
        next_cursor=_encode_cursor(sort, rows[-1]) if more and rows else None,
    )


def catalog_page(
    session: Session, *, viewer: Principal | None, limit: int, cursor: str | None = None
) -> tuple[list[Artifact], str | None]:
    """One page of the active artifacts `viewer` may see, oldest first, for the DCAT export.

    The same visibility rule and cursor format as `list_artifacts` (sort `oldest`): a crawl
    holds at most `limit` rows (with their Statements, never the envelope bytes) at a time.
    Retracted artifacts are not offered.
    """
    stmt = (
        select(Artifact)
        .options(defer(Artifact.envelope))
        .where(visible_to(viewer), Artifact.retracted_at.is_(None))
    )
    if cursor:
        stmt = stmt.where(Artifact.log_index > _decode_cursor("oldest", cursor)[0])
    rows: list[Artifact] = list(
        session.scalars(stmt.order_by(Artifact.log_index.asc()).limit(limit + 1)).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor("oldest", rows[-1]) if more and rows else None)
