"""Read-only queries the web pages need beyond the catalog service: facets, lineage links,
the models trained on an artifact, their evaluations, and the log's tree heads.

Everything here reads the coordinator's own models (synthspace.coordinator.models); the list
and detail queries themselves are the catalog service's (services/catalog.py), never a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synthspace.coordinator.models import Artifact, ArtifactParent, ArtifactTag, LogLeaf, Org
from synthspace.coordinator.services.catalog import visible_to
from synthspace.coordinator.services.catalog import (
    withdrawn_ancestors as catalog_withdrawn_ancestors,
)
from synthspace.coordinator.web.lineage_graph import (
    LineageGraph,
    LineageNode,
    build_lineage_graph,
    mark_withdrawn,
)
from synthspace.lineage import (
    MAX_FACET_CHARS,
    MAX_TAG_CHARS,
    Evaluation,
    EvaluationDelta,
    EvaluationMetrics,
)

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
        policy_withdrawn=row.policy_withdrawn_at is not None,
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

    graph = build_lineage_graph(_node(row), lookup, parents, children, max_depth=max_depth)
    # The focus may be built on withdrawn data beyond the picture's depth: ask the catalog.
    beyond = [row.artifact_id] if catalog_withdrawn_ancestors(session, row.artifact_id, viewer=None) else []
    mark_withdrawn(graph, beyond)
    return graph


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


@dataclass(frozen=True)
class EvaluationView:
    """One published evaluation of an adapter, as the artifact pages show it."""

    artifact_id: str
    title: str
    org: str
    retracted: bool
    adapter_id: str
    adapter_title: str
    benchmark: str
    benchmark_digest: str
    items: int
    base: EvaluationMetrics | None
    adapter: EvaluationMetrics | None
    delta: EvaluationDelta | None


def _adapters_of(session: Session, row: Artifact) -> list[Artifact]:
    """Adapters trained on `row`: by their training record or as a training-data parent."""
    found = {a.artifact_id: a for a in trained_on(session, row)}
    children = session.execute(
        select(Artifact)
        .join(ArtifactParent, ArtifactParent.child_id == Artifact.artifact_id)
        .where(ArtifactParent.parent_id == row.artifact_id, Artifact.kind == "model-adapter", visible_to(None))
        .order_by(Artifact.log_index)
    ).scalars()
    for a in children:
        found.setdefault(a.artifact_id, a)
    return list(found.values())


def evaluations_for(session: Session, row: Artifact) -> list[EvaluationView]:
    """Evaluations of this adapter, or (for a dataset) of every adapter trained on it; oldest first.

    Read from the signed Statements the catalog stored (validated at publish); an evaluation
    names its adapter as its `evaluated-model` parent."""
    if row.kind == "model-adapter":
        adapters = [row]
    elif row.kind in ("dataset", "derived-dataset"):
        adapters = _adapters_of(session, row)
    else:
        return []
    if not adapters:
        return []
    by_id = {a.artifact_id: a for a in adapters}
    evals = session.execute(
        select(Artifact, ArtifactParent.parent_id)
        .join(ArtifactParent, ArtifactParent.child_id == Artifact.artifact_id)
        .where(
            ArtifactParent.parent_id.in_(sorted(by_id)),
            ArtifactParent.role == "evaluated-model",
            Artifact.kind == "evaluation",
            visible_to(None),
        )
        .order_by(Artifact.log_index)
    ).all()
    out: list[EvaluationView] = []
    for ev_row, adapter_id in evals:
        try:
            ev = Evaluation.model_validate((ev_row.statement.get("predicate") or {}).get("evaluation"))
        except ValidationError:
            continue
        out.append(
            EvaluationView(
                artifact_id=ev_row.artifact_id,
                title=ev_row.title,
                org=ev_row.org_name,
                retracted=ev_row.retracted_at is not None,
                adapter_id=adapter_id,
                adapter_title=by_id[adapter_id].title,
                benchmark=ev.benchmark_name,
                benchmark_digest=ev.benchmark_digest,
                items=ev.items,
                base=ev.metrics.get("base"),
                adapter=ev.metrics.get("adapter"),
                delta=ev.delta,
            )
        )
    return out
