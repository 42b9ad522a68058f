"""Read-only queries the web pages need beyond the catalog service: facets, lineage links,
the models trained on an artifact, and the log's tree heads.

Everything here reads the coordinator's own models (synthspace.coordinator.models); the list
and detail queries themselves are the catalog service's (services/catalog.py), never a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synthspace.coordinator.models import Artifact, ArtifactParent, ArtifactTag, LogLeaf, Org
from synthspace.coordinator.services.catalog import visible_to
from synthspace.coordinator.web.lineage_graph import LineageGraph, LineageNode, build_lineage_graph
from synthspace.lineage import MAX_FACET_CHARS, MAX_TAG_CHARS

FACET_LIMIT = 200


@dataclass(frozen=True)
class Facets:
    orgs: list[str]
    tasks: list[str]
    locales: list[str]
    licenses: list[str]
    tags: list[str]
    kinds: list[str]


def facets(session: Session) -> Facets:
    """Distinct values for the filter drop-downs (bounded, sorted)."""

    # Publishing bounds tags and facets (lineage); values of rows stored before those bounds are
    # left out of the drop-downs rather than inflating every catalog page.
    def values(column: Any, max_chars: int = MAX_FACET_CHARS) -> list[str]:
        stmt = (
            select(column)
            .distinct()
            .where(column.is_not(None), func.length(column) <= max_chars)
            .order_by(column)
            .limit(FACET_LIMIT)
        )
        if column.class_ is ArtifactTag:
            stmt = stmt.join(Artifact, Artifact.artifact_id == ArtifactTag.artifact_id)
        stmt = stmt.where(visible_to(None))  # the anonymous web catalog: public artifacts only
        return [str(v) for v in session.execute(stmt).scalars() if v != ""]

    return Facets(
        orgs=values(Artifact.org_name),
        tasks=values(Artifact.task),
        locales=values(Artifact.locale),
        licenses=values(Artifact.license),
        tags=values(ArtifactTag.tag, MAX_TAG_CHARS),
        kinds=values(Artifact.kind),
    )


def catalog_counts(session: Session) -> tuple[int, int, int]:
    """(artifacts, retracted, organisations)."""
    public = visible_to(None)
    total = session.execute(select(func.count()).select_from(Artifact).where(public)).scalar_one()
    retracted = session.execute(
        select(func.count()).select_from(Artifact).where(Artifact.retracted_at.is_not(None), public)
    ).scalar_one()
    orgs = session.execute(select(func.count()).select_from(Org)).scalar_one()
    return int(total), int(retracted), int(orgs)


def _node(row: Artifact) -> LineageNode:
    return LineageNode(
        artifact_id=row.artifact_id,
        title=row.title,
        kind=row.kind,
        org=row.org_name,
        retracted=row.retracted_at is not None,
    )


def trained_on(session: Session, row: Artifact) -> list[Artifact]:
    """Model adapters whose training record names this artifact's data digest.

    Adapters may list their training data as lineage parents (then they are also children in
    `artifact_parents`) or only by digest in `training.training_artifacts`; both count.
    """
    found: list[Artifact] = []
    adapters = session.execute(
        select(Artifact)
        .where(Artifact.kind == "model-adapter", visible_to(None))
        .order_by(Artifact.log_index)
    ).scalars()
    for adapter in adapters:
        training = (adapter.statement.get("predicate") or {}).get("training") or {}
        digests = training.get("training_artifacts") or {}
        names = {d.removeprefix("sha256:") for ds in digests.values() for d in ds}
        if row.subject_sha256 in names or row.artifact_id in names:
            found.append(adapter)
    return found


def lineage_graph(session: Session, row: Artifact, max_depth: int = 4) -> LineageGraph:
    """Parents (from the signed lineage, so parents missing from this catalog show too),
    children (catalog edges) and the adapters trained on each artifact in the walk."""

    def public(aid: str) -> Artifact | None:
        # Restricted artifacts are not on the anonymous web catalog: in a graph they show as
        # ids only (like their log entries), never with their title or metadata.
        return session.scalars(
            select(Artifact).where(Artifact.artifact_id == aid, visible_to(None))
        ).one_or_none()

    def lookup(aid: str) -> LineageNode | None:
        found = public(aid)
        return _node(found) if found is not None else None

    def parents(aid: str) -> list[tuple[str, str]]:
        found = public(aid)
        if found is None:
            return []
        declared = (found.statement.get("predicate") or {}).get("parents") or []
        return [(p["artifact_id"], p.get("role", "source")) for p in declared if "artifact_id" in p]

    def children(aid: str) -> list[tuple[str, str]]:
        links = [
            (c, r)
            for c, r in session.execute(
                select(ArtifactParent.child_id, ArtifactParent.role)
                .join(Artifact, Artifact.artifact_id == ArtifactParent.child_id)
                .where(ArtifactParent.parent_id == aid, visible_to(None))
                .order_by(Artifact.log_index)
            ).all()
        ]
        found = public(aid)
        if found is not None:
            have = {c for c, _ in links}
            links += [(a.artifact_id, "training-data") for a in trained_on(session, found) if a.artifact_id not in have]
        return links

    return build_lineage_graph(_node(row), lookup, parents, children, max_depth=max_depth)


@dataclass(frozen=True)
class TreeHead:
    """The log after entry `index` was appended: tree size index+1 and its root."""

    index: int
    size: int
    time: datetime
    entry_type: str
    entry: dict[str, Any]
    root_hex: str
    consistent: bool | None
    detail: str


def log_leaves_page(session: Session, before: int | None, limit: int) -> list[LogLeaf]:
    stmt = select(LogLeaf).order_by(LogLeaf.idx.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(LogLeaf.idx < before)
    return list(session.execute(stmt).scalars())
