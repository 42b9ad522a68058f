"""Catalog search by index (issue 17 item 5): the tag filter walks (tag, log_index), and on SQLite
the free-text `q` takes its candidates from the FTS5 trigram table. Results must be exactly
those of the plain scan: same rows, same order, same pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from synthspace.coordinator.models import Artifact, ArtifactTag
from synthspace.coordinator.services import catalog
from synthspace.coordinator.services.auth import Principal
from tests.coordinator.conftest import prepared_publishes

TITLES = [
    "Contract law questions",
    "Tenancy disputes (Osaka)",
    "Sale of goods: 100% refunds",
    "Employment_law FAQ",
    'The "quoted" title',
    "Straße und Recht",
    "ΣΟΦΙΑ legal corpus",
]


def _publish_all(coord: Any, n: int) -> list[str]:
    """n artifacts logged through the sequencer's own integrate (tags written as it writes them)."""
    from synthspace.coordinator.sequencer import integrate

    items = prepared_publishes(
        coord, coord.settings.operator_org, n,
        title=lambda i: TITLES[i % len(TITLES)] + f" #{i}",
        description=lambda i: f"batch {i} of {n}",
        tags=lambda i: ["every", f"mod3-{i % 3}"],
    )  # fmt: skip
    with coord.session() as session:
        integrate(session, coord.log, items)
    return [p.artifact_id for p in items]


def _all_pages(coord: Any, limit: int = 4, **filters: Any) -> list[str]:
    viewer = Principal(org=coord.settings.operator_org, key_id="-", is_operator=True)
    out: list[str] = []
    cursor = None
    with coord.session() as session:
        while True:
            page = catalog.list_artifacts(session, viewer=viewer, limit=limit, cursor=cursor, **filters)
            out += [a.artifact_id for a in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return out


def test_tag_filter_pages_follow_the_log_order(coordinator: Any) -> None:
    ids = _publish_all(coordinator, 20)
    expected = [aid for i, aid in enumerate(ids) if i % 3 == 1]
    assert _all_pages(coordinator, tag="mod3-1") == expected[::-1]
    assert _all_pages(coordinator, tag="mod3-1", sort="oldest") == expected
    assert _all_pages(coordinator, tag="mod3-1", sort="title", limit=50) == sorted(
        expected, key=lambda a: (TITLES[ids.index(a) % len(TITLES)] + f" #{ids.index(a)}", ids.index(a))
    )
    with coordinator.session() as session:  # every tag row carries its artifact's log index
        mismatched = session.execute(
            select(func.count())
            .select_from(ArtifactTag)
            .join(Artifact, Artifact.artifact_id == ArtifactTag.artifact_id)
            .where(Artifact.log_index != ArtifactTag.log_index)
        ).scalar_one()
    assert mismatched == 0


@pytest.mark.parametrize(
    "q", ["contract", "CONTRACT", "batch 7 ", "100%", "employment_", '"quoted"', "straße", "σοφια", "#1", "zz-none"]
)
def test_free_text_search_is_the_substring_scan_exactly(
    coordinator: Any, q: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_all(coordinator, 30)
    indexed = _all_pages(coordinator, q=q)
    used: list[Any] = []
    real = catalog._search_candidates
    monkeypatch.setattr(catalog, "_search_candidates", lambda s, n: used.append(real(s, n)) or None)
    plain = _all_pages(coordinator, q=q)  # the same query without the candidate list
    assert indexed == plain
    sqlite = coordinator.settings.resolved_database_url().startswith("sqlite")
    # positive control: on SQLite a needle of 3+ characters took its candidates from the index
    assert (isinstance(used[0], list)) == (sqlite and len(q) >= 3)
    if q == "contract":
        assert len(plain) == 5  # i = 0, 7, 14, 21, 28


def test_too_many_candidates_fall_back_to_the_log_walk(
    coordinator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_all(coordinator, 12)
    monkeypatch.setattr(catalog, "SEARCH_CANDIDATES_MAX", 3)
    with coordinator.session() as session:
        assert catalog._search_candidates(session, "batch") is None  # 12 hits > 3
    assert len(_all_pages(coordinator, q="batch")) == 12


def test_search_index_follows_title_changes_and_migrations(
    coordinator: Any, tmp_path: Any
) -> None:
    """The triggers keep the FTS table in step; down to j0a1 and up again rebuilds it and the
    tags' log indexes from the rows."""
    from alembic import command
    from sqlalchemy import update

    from synthspace.coordinator.database import alembic_config, make_engine, upgrade_database

    ids = _publish_all(coordinator, 6)
    with coordinator.session() as session:
        session.execute(update(Artifact).where(Artifact.artifact_id == ids[0]).values(title="Renamed maritime set"))
        session.commit()
    assert _all_pages(coordinator, q="maritime") == [ids[0]]
    assert _all_pages(coordinator, q="contract law") == []  # the old title is gone from the index
    url = coordinator.settings.resolved_database_url()
    coordinator.close()
    engine = make_engine(url)
    cfg: Any = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "j0a1_policy_versions")
    assert upgrade_database(engine) == "k0a1_catalog_search"
    with engine.connect() as conn:
        tags = conn.execute(text("SELECT count(*) FROM artifact_tags WHERE log_index IS NULL")).scalar_one()
        assert tags == 0
        if url.startswith("sqlite"):
            assert conn.execute(text("SELECT count(*) FROM artifacts_fts")).scalar_one() == 6
    engine.dispose()
