"""Show latency of the "built on withdrawn data" query, and what marking list pages would cost (issue 16 item 5).

    .venv/bin/python benchmarks/withdrawn_bench.py --n 5000 --backends sqlite postgres

A catalog of N bulk-inserted artifacts (coordinator_bench._bulk_catalog: 20 orgs, one in ten
restricted) gets lineage links -- 60% of artifacts name one or two earlier artifacts as parents,
plus one 100-link chain to hit the 64-link bound -- and 1% of artifacts are retracted. The
in-process catalog service is timed as an ordinary member sees it: the show record's
`withdrawn_ancestors` query against the whole show, and a list page against what marking each
of its items would add (why lists do not carry the mark).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordinator_bench import _bulk_catalog, ms, new_home, pct

from tests.coordinator.conftest import PgDatabases


def _aid(i: int) -> str:
    return hashlib.sha256(f"artifact-{i}".encode()).hexdigest()


def _links(coord: Any, n: int) -> int:
    from sqlalchemy import insert, update

    from synthspace.coordinator.models import Artifact, ArtifactParent

    rng = random.Random(7)
    edges: set[tuple[str, str]] = set()
    for i in range(1, n):
        if rng.random() < 0.6:
            for _ in range(rng.choice((1, 2))):
                edges.add((_aid(i), _aid(rng.randrange(max(0, i - 500), i))))
    chain = list(range(n - 100, n))  # the newest 100 form one chain as well
    edges |= {(_aid(c), _aid(p)) for p, c in zip(chain, chain[1:], strict=False)}
    retracted = [_aid(i) for i in rng.sample(range(n), n // 100)] + [_aid(chain[0])]
    with coord.engine.begin() as conn:
        conn.execute(
            insert(ArtifactParent),
            [{"child_id": c, "parent_id": p, "role": "source"} for c, p in edges],
        )
        conn.execute(
            update(Artifact)
            .where(Artifact.artifact_id.in_(retracted))
            .values(
                retracted_at=datetime.now(UTC),
                retraction_reason="bench",
                retracted_by="operator",
                retract_log_index=0,
            )
        )
        # the chain is visible to every member, so the walk is not cut by a restricted link
        conn.execute(
            update(Artifact)
            .where(Artifact.artifact_id.in_([_aid(i) for i in chain]))
            .values(visible_to_all=True)
        )
        conn.exec_driver_sql("ANALYZE")
    return len(edges)


def run(backend: str, pg: PgDatabases, n: int, samples: int) -> None:
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services import catalog
    from synthspace.coordinator.services.auth import Principal

    member = Principal(org="bench-org-03", key_id="-", is_operator=False)
    coord = Coordinator.open(new_home(backend, pg, startup_verify="off"), verify=False)
    try:
        _bulk_catalog(coord, n)
        edges = _links(coord, n)
        print(f"\n{backend}: {n} artifacts, {edges} lineage links, {n // 100 + 1} retracted")
        # Lists do not carry the mark: marking a page means one walk per item (timed here as
        # the page plus withdrawn_ancestors for each of its items) -- measured, then left out.
        for label, params in (
            ("newest page (50)", {}),
            ("free text q", {"q": "warranty"}),
            ("title sort", {"sort": "title"}),
        ):
            plain: list[float] = []
            marked_t: list[float] = []
            marked = 0
            for _ in range(samples):
                with coord.session() as session:
                    t = time.perf_counter()
                    page = catalog.list_artifacts(session, viewer=member, limit=50, **params)
                    plain.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    marked = sum(
                        bool(catalog.withdrawn_ancestors(session, a.artifact_id, viewer=member))
                        for a in page.items
                    )
                    marked_t.append(plain[-1] + time.perf_counter() - t)
            print(
                f"  list {label}: p50 {ms(pct(plain, 0.5))} ms (p95 {ms(pct(plain, 0.95))}); "
                f"with a per-item mark it would be p50 {ms(pct(marked_t, 0.5))} ms "
                f"(p95 {ms(pct(marked_t, 0.95))}), {marked}/{len(page.items)} marked"
            )
        cases = (
            ("show, 60 links below the chain's retracted head", n - 40),
            ("show, 99 links below it (past the 64-link bound)", n - 1),
            ("show, an ordinary artifact", n // 2 + 1),
        )
        for label, i in cases:
            times = []
            detail = []
            for _ in range(samples):
                with coord.session() as session:
                    t = time.perf_counter()
                    found = catalog.withdrawn_ancestors(session, _aid(i), viewer=member)
                    times.append(time.perf_counter() - t)
                with coord.session() as session:
                    t = time.perf_counter()
                    catalog.artifact_detail(session, _aid(i), viewer=member)
                    detail.append(time.perf_counter() - t)
            print(f"  {label}: whole show (artifact_detail) p50 {ms(pct(detail, 0.5))} ms")
            print(
                f"  {label}: withdrawn_ancestors p50 {ms(pct(times, 0.5))} ms, p95 {ms(pct(times, 0.95))} ms ({len(found)} found)"
            )
    finally:
        coord.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = ap.parse_args()
    pg = PgDatabases()
    try:
        for backend in args.backends:
            run(backend, pg, args.n, args.samples)
    finally:
        pg.drop_all()


if __name__ == "__main__":
    main()
