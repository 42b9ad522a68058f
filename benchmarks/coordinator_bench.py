"""Coordinator benchmarks: publish throughput, catalog list/search latency, log proof latency.

    .venv/bin/python benchmarks/coordinator_bench.py                       # everything, SQLite and PostgreSQL
    .venv/bin/python benchmarks/coordinator_bench.py --only proofs --backends sqlite

Sections (each on a fresh coordinator home and database):
- publish: verified, logged artifacts per second through the real HTTP server (uvicorn
  subprocess), 1 publisher vs 16 concurrent publishers (16 orgs), with publishes integrated
  one by one (`publish_integration=direct`, the old path) and in batches, run by the server's
  sequencer thread (`batched-thread`) or by its integrator process (`batched`, the default).
- sequencer: the log's write side alone (prepared publishes integrated one per transaction vs
  in batches), in process.
- list: p50/p95 latency of GET /v1/artifacts (signed requests, real server) and of the
  in-process service, at N artifacts bulk-inserted straight into the tables.
- proofs: inclusion/consistency proof latency and DB reads per proof at growing tree sizes up
  to M log entries (leaf and subtree hashes bulk-loaded), against the baseline of a store
  without subtree hashes (read every leaf hash of the tree and compute the proof from them).
Results print as Markdown; JSON goes to bench-out/coordinator.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(ROOT)
)  # for tests.coordinator.conftest helpers (server, org, artifact builders)

from tests.coordinator.conftest import (  # noqa: E402
    CoordinatorServer,
    PgDatabases,
    build_artifact,
    enrol,
    init_home,
    publish,
)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def ms(v: float) -> str:
    return f"{v * 1000:.2f}"


def new_home(backend: str, pg: PgDatabases, **overrides: Any) -> Any:
    home = Path(tempfile.mkdtemp(prefix=f"coordbench-{backend}-"))
    return init_home(home, pg.new() if backend == "postgres" else None, **overrides)


# ---- publish throughput ---------------------------------------------------------------------


def _publish_run(server: Any, orgs: list[Any], per: int) -> tuple[float, list[dict[str, Any]]]:
    """len(orgs) concurrent publishers (one org each, `per` artifacts each): (publishes/s, receipts)."""
    work = {o.name: [build_artifact(o, rows=50) for _ in range(per)] for o in orgs}
    errors: list[str] = []
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run(o: Any) -> None:
        c = o.client()
        for env, data in work[o.name]:
            r = publish(c, env, data)
            with lock:
                (receipts.append(r.json()) if r.status_code == 201 else errors.append(r.text))

    threads = [threading.Thread(target=run, args=(o,)) for o in orgs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = len(orgs) * per / (time.perf_counter() - t0)
    assert not errors, errors[:3]
    return rate, receipts


# direct: each publish its own transaction (the pre-sequencer path); batched-thread: batches in
# the server process's sequencer thread (before the integrator process); batched: the default,
# batches in the integrator process.
PUBLISH_MODES = ("direct", "batched-thread", "batched")


def bench_publish(backend: str, pg: PgDatabases, n: int, publishers: int = 16) -> dict[str, Any]:
    """Same run, both integration paths: `direct` (each publish its own transaction and
    checkpoint, the pre-sequencer path) and `batched` (the sequencer, group commit)."""
    out: dict[str, Any] = {"n": n, "publishers": publishers}
    for mode in PUBLISH_MODES:
        integration, _, integrator = mode.partition("-")
        settings = new_home(
            backend, pg, publish_integration=integration, publish_integrator=integrator or "process"
        )
        server = CoordinatorServer(home=settings.home, backend=backend).start()
        try:
            orgs = [enrol(server) for _ in range(publishers)]
            one, _ = _publish_run(server, orgs[:1], max(1, n // 8))
            cpu0 = _cpu_seconds(server)
            many, receipts = _publish_run(server, orgs, max(1, n // publishers))
            cpu = {k: 1000 * (v - cpu0[k]) / len(receipts) for k, v in _cpu_seconds(server).items()}
            batches = len({r["inclusion_proof"]["size"] for r in receipts})
            coord = server.coordinator()
            try:
                coord.verify_integrity("full")
            finally:
                coord.close()
        finally:
            server.stop()
        out[mode] = {
            "publishers_1_per_s": one,
            "publishers_n_per_s": many,
            "mean_batch": len(receipts) / batches,
            "cpu_ms_per_publish": cpu,  # server process, this (client) process, PostgreSQL
        }
    return out


def _cpu_seconds(server: Any) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server process with its children (the
    integrator process), this benchmark process (the signing clients) and every PostgreSQL
    server process on the machine."""
    import psutil

    def of(p: Any) -> float:
        t = p.cpu_times()
        return float(t.user + t.system)

    def tree(p: Any) -> float:
        total = of(p)
        for c in p.children(recursive=True):
            try:
                total += of(c)
            except psutil.Error:
                continue
        return total

    pg = 0.0
    for p in psutil.process_iter(["name", "username"]):
        try:
            if p.info["username"] == "postgres" or (p.info["name"] or "").startswith("postgres"):
                pg += of(p)
        except psutil.Error:
            continue
    return {"server": tree(psutil.Process(server.proc.pid)), "client": of(psutil.Process()), "postgres": pg}


def bench_sequencer(backend: str, pg: PgDatabases, n: int) -> dict[str, Any]:
    """The log's write side alone, in process (no HTTP, no verification): n prepared publishes
    integrated one per transaction (direct) vs in batches of 16 and 256 (the sequencer)."""
    from synthspace.coordinator.models import OrgKey
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.sequencer import PreparedPublish, integrate
    from synthspace.log_entries import PublishEntry, entry_bytes

    settings = new_home(backend, pg)
    coord = Coordinator.open(settings)
    org = settings.operator_org
    from sqlalchemy import select

    with coord.session() as session:
        key_id = session.execute(
            select(OrgKey.key_id).where(OrgKey.org_name == org, OrgKey.purpose == "artifact")
        ).scalar_one()

    def item(i: int, tag: str) -> Any:
        aid = hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()
        now = datetime.now(UTC)
        entry = PublishEntry(time=now, org=org, artifact_id=aid, subject_sha256=aid,
                             envelope_sha256=aid, key_id=key_id)  # fmt: skip
        row = {"artifact_id": aid, "org_name": org, "key_id": key_id, "kind": "dataset",
               "title": f"Bench {i}", "description": "bench", "license": "CC0-1.0", "task": "t",
               "locale": "ja_JP", "record_count": 50, "subject_name": "data.parquet",
               "subject_sha256": aid, "size_bytes": 4096, "envelope": b"{}" * 600,
               "envelope_sha256": aid, "statement": {"bench": True}, "signed_at": now,
               "published_at": now, "visible_to_all": True}  # fmt: skip
        return PreparedPublish(aid, org, entry_bytes(entry), now, row, tags=["legal", "qa"])

    out: dict[str, Any] = {"n": n}
    try:
        for batch in (1, 16, 256):
            items = [item(i, f"b{batch}") for i in range(n)]
            t0 = time.perf_counter()
            for start in range(0, n, batch):
                with coord.session() as session:
                    integrate(session, coord.log, items[start : start + batch])
            out[f"batch_{batch}_per_s"] = n / (time.perf_counter() - t0)
        coord.verify_integrity("root")
    finally:
        coord.close()
    return out


# ---- list/search latency --------------------------------------------------------------------

WORDS = (
    "contract lease invoice tax clause liability warranty privacy employment insurance "
    "patent merger loan audit customs pension zoning tenancy consumer"
).split()


def _bulk_catalog(coord: Any, n: int) -> None:
    from sqlalchemy import insert

    from synthspace.coordinator.models import (
        Artifact,
        ArtifactAssignee,
        ArtifactTag,
        LogLeaf,
        LogState,
        Org,
        OrgKey,
    )

    rng = random.Random(42)
    now = datetime.now(UTC)
    orgs = [f"bench-org-{i:02d}" for i in range(20)]
    with coord.engine.begin() as conn:
        conn.execute(
            insert(Org),
            [
                {"name": o, "display_name": o, "is_operator": False, "enrolled_at": now}
                for o in orgs
            ],
        )
        conn.execute(
            insert(OrgKey),
            [
                {
                    "key_id": hashlib.sha256(o.encode()).hexdigest(),
                    "org_name": o,
                    "purpose": "artifact",
                    "public_key_pem": "-",
                    "valid_from": now,
                    "added_log_index": 0,
                }
                for o in orgs
            ],
        )
        start = conn.execute(LogState.__table__.select()).one().size
        chunk = 10_000
        for base in range(0, n, chunk):
            leaves, arts, tags, assignees = [], [], [], []
            for i in range(base, min(n, base + chunk)):
                idx = start + i
                aid = hashlib.sha256(f"artifact-{i}".encode()).hexdigest()
                org = orgs[i % len(orgs)]
                title = " ".join(rng.sample(WORDS, 3)).title()
                leaves.append(
                    {
                        "idx": idx,
                        "leaf": b"bench",
                        "leaf_hash": b"\0" * 32,
                        "entry_type": "bench",
                        "created_at": now,
                    }
                )
                arts.append(
                    {
                        "artifact_id": aid,
                        "org_name": org,
                        "key_id": hashlib.sha256(org.encode()).hexdigest(),
                        "kind": "dataset",
                        "title": title,
                        "description": f"Synthetic {title.lower()} questions, batch {i}",
                        "license": rng.choice(["CC-BY-4.0", "CC0-1.0", "Apache-2.0"]),
                        "task": f"task-{i % 10}",
                        "locale": rng.choice(["ja_JP", "en_US", "de_DE", "fr_FR", "ko_KR"]),
                        "record_count": 1000,
                        "subject_name": "data.parquet",
                        "subject_sha256": hashlib.sha256(aid.encode()).hexdigest(),
                        "size_bytes": 4096,
                        "envelope": b"{}",
                        "envelope_sha256": aid,
                        "statement": {"bench": True},
                        "signed_at": now,
                        "published_at": now - timedelta(seconds=n - i),
                        "log_index": idx,
                        # one in ten is shared with two named orgs only (usage policy)
                        "visible_to_all": i % 10 != 0,
                    }
                )
                if i % 10 == 0:
                    assignees += [
                        {"artifact_id": aid, "org_name": orgs[(i + k) % len(orgs)]} for k in (1, 2)
                    ]
                tags += [
                    {"artifact_id": aid, "tag": rng.choice(WORDS), "log_index": idx},
                    {"artifact_id": aid, "tag": f"batch-{i % 100}", "log_index": idx},
                ]
            conn.execute(insert(LogLeaf), leaves)
            conn.execute(insert(Artifact), arts)
            unique_tags = {
                (t["artifact_id"], t["tag"]): t for t in tags
            }  # two draws may repeat a tag
            conn.execute(insert(ArtifactTag), list(unique_tags.values()))
            if assignees:
                conn.execute(insert(ArtifactAssignee), assignees)
        conn.exec_driver_sql("ANALYZE")


LIST_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("newest page (50)", {}),
    ("org filter", {"org": "bench-org-07"}),
    ("tag filter", {"tag": "batch-42"}),
    ("task + locale", {"task": "task-3", "locale": "ja_JP"}),
    ("free text q", {"q": "warranty"}),
    ("rare free text q (~11 hits)", {"q": "batch 4242"}),
    ("sort by title", {"sort": "title"}),
    ("created range", {"created_after": "__mid__"}),
]


def bench_list(backend: str, pg: PgDatabases, n: int, samples: int) -> dict[str, Any]:
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services import catalog
    from synthspace.coordinator.services.auth import Principal

    # Same data, same run: the operator's view has no policy filter (visible_to -> TRUE); an
    # ordinary member's view filters in SQL (visible_to_all OR publisher OR assignee row).
    unfiltered = Principal(org="bench-org-03", key_id="-", is_operator=True)
    member = Principal(org="bench-org-03", key_id="-", is_operator=False)
    settings = new_home(backend, pg, startup_verify="off")
    coord = Coordinator.open(settings, verify=False)
    server = CoordinatorServer(home=settings.home, backend=backend).start()
    results: dict[str, Any] = {"n": n, "queries": {}}
    try:
        ident = enrol(server)  # before the bulk load: nothing appends to the log afterwards
        # The bulk rows get placeholder log leaves (not a valid tree): this section measures reads only.
        t0 = time.perf_counter()
        _bulk_catalog(coord, n)
        results["load_s"] = time.perf_counter() - t0
        mid = (datetime.now(UTC) - timedelta(seconds=n // 2)).isoformat()
        client = ident.client()
        for label, params in LIST_QUERIES:
            params = {k: (mid if v == "__mid__" else v) for k, v in params.items()}
            http_t, svc_t = [], []
            first = client.get("/v1/artifacts", params=params)
            assert first.status_code == 200, first.text
            count = len(first.json()["items"])
            for _ in range(samples):
                t = time.perf_counter()
                r = client.get("/v1/artifacts", params=params)
                http_t.append(time.perf_counter() - t)
                assert r.status_code == 200
            svc_params = {
                k: (datetime.fromisoformat(v) if k == "created_after" else v)
                for k, v in params.items()
            }
            nofilter_t: list[float] = []
            for _ in range(samples):  # interleaved, so drift on a shared machine hits both alike
                for viewer, into in ((member, svc_t), (unfiltered, nofilter_t)):
                    with coord.session() as session:
                        t = time.perf_counter()
                        catalog.list_artifacts(session, viewer=viewer, limit=50, **svc_params)
                        into.append(time.perf_counter() - t)
            results["queries"][label] = {
                "items": count,
                "http_p50": pct(http_t, 0.5),
                "http_p95": pct(http_t, 0.95),
                "svc_p50": pct(svc_t, 0.5),
                "svc_p95": pct(svc_t, 0.95),
                "svc_nofilter_p50": pct(nofilter_t, 0.5),
            }
        # a deep page: follow the cursor 40 pages in, then time the next page
        cursor = None
        for _ in range(40):
            cursor = client.get(
                "/v1/artifacts", params={"cursor": cursor} if cursor else {}
            ).json()["next_cursor"]
        deep = []
        for _ in range(samples):
            t = time.perf_counter()
            assert client.get("/v1/artifacts", params={"cursor": cursor}).status_code == 200
            deep.append(time.perf_counter() - t)
        results["queries"]["page 41 via cursor"] = {
            "items": 50,
            "http_p50": pct(deep, 0.5),
            "http_p95": pct(deep, 0.95),
            "svc_p50": float("nan"),
            "svc_p95": float("nan"),
            "svc_nofilter_p50": float("nan"),
        }
    finally:
        server.stop()
        coord.close()
    return results


# ---- proofs ---------------------------------------------------------------------------------


def _bulk_log(coord: Any, m: int) -> bytes:
    """Load m leaves plus every closed subtree hash; returns the root."""
    from synthspace import transparency_log as tlog
    from synthspace.coordinator.log_store import root_from_frontier

    leaf_hashes = [tlog.leaf_hash(b"bench-%d" % i) for i in range(m)]
    levels = [leaf_hashes]
    while len(levels[-1]) >= 2:
        prev = levels[-1]
        levels.append([tlog.node_hash(prev[2 * i], prev[2 * i + 1]) for i in range(len(prev) // 2)])
    frontier, offset = [], 0
    for b in reversed(range(m.bit_length())):
        if m & (1 << b):
            frontier.append(levels[b][offset >> b])
            offset += 1 << b
    root = root_from_frontier(frontier)
    raw = coord.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DELETE FROM org_keys")  # init's two key entries: start the log from empty
        cur.execute("DELETE FROM orgs")
        cur.execute("DELETE FROM log_leaves")
        cur.execute("DELETE FROM log_nodes")
        created = "2026-01-01 00:00:00.000000"
        if coord.engine.dialect.name == "sqlite":
            cur.executemany(
                "INSERT INTO log_leaves (idx, leaf, leaf_hash, entry_type, created_at) VALUES (?,?,?,?,?)",
                ((i, b"bench-%d" % i, h, "bench", created) for i, h in enumerate(leaf_hashes)),
            )
            cur.executemany(
                "INSERT INTO log_nodes (level, idx, hash) VALUES (?,?,?)",
                ((lvl, i, h) for lvl in range(1, len(levels)) for i, h in enumerate(levels[lvl])),
            )
            cur.execute(
                "UPDATE log_state SET size=?, root=?, frontier=? WHERE id=1",
                (m, root, b"".join(frontier)),
            )
        else:
            with cur.copy(
                "COPY log_leaves (idx, leaf, leaf_hash, entry_type, created_at) FROM STDIN"
            ) as cp:
                for i, h in enumerate(leaf_hashes):
                    cp.write_row((i, b"bench-%d" % i, h, "bench", "2026-01-01T00:00:00+00:00"))
            with cur.copy("COPY log_nodes (level, idx, hash) FROM STDIN") as cp:
                for lvl in range(1, len(levels)):
                    for i, h in enumerate(levels[lvl]):
                        cp.write_row((lvl, i, h))
            cur.execute(
                "UPDATE log_state SET size=%s, root=%s, frontier=%s WHERE id=1",
                (m, root, b"".join(frontier)),
            )
            cur.execute("ANALYZE log_leaves")
            cur.execute("ANALYZE log_nodes")
        raw.commit()
    finally:
        raw.close()
    assert tlog.root_from_leaf_hashes(leaf_hashes) == root
    return root


def _rows_needed(index: int, size: int) -> int:
    """Stored hashes (rows) an inclusion proof reads: aligned subtrees covering each sibling."""
    from synthspace import transparency_log as tlog
    from synthspace.coordinator.log_store import _decompose

    ranges: list[tuple[int, int]] = []
    tlog.inclusion_proof(index, size, lambda s, e: ranges.append((s, e)) or b"\0" * 32)
    pieces: set[tuple[int, int]] = set()
    for s, e in ranges:
        _decompose(s, e, pieces)
    return len(pieces)


def bench_proofs(
    backend: str, pg: PgDatabases, m: int, samples: int, baseline_samples: int
) -> dict[str, Any]:
    from sqlalchemy import event, select

    from synthspace import transparency_log as tlog
    from synthspace.coordinator.models import LogLeaf
    from synthspace.coordinator.runtime import Coordinator

    settings = new_home(backend, pg, startup_verify="off")
    coord = Coordinator.open(settings, verify=False)
    t0 = time.perf_counter()
    _bulk_log(coord, m)
    load_s = time.perf_counter() - t0
    reads = {"n": 0}

    @event.listens_for(coord.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        reads["n"] += 1

    rng = random.Random(1)
    sizes = [s for s in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if s <= m]
    if m not in sizes:
        sizes.append(m)
    out: dict[str, Any] = {"m": m, "load_s": load_s, "sizes": {}}
    for size in sizes:
        inc_t, con_t, inc_reads, con_reads, lengths, rows = [], [], [], [], [], []
        with coord.session() as session:
            root = coord.log.root(session, size)
            for _ in range(samples):
                index = rng.randrange(size)
                reads["n"] = 0
                t = time.perf_counter()
                proof = coord.log.inclusion_proof(session, index, size)
                inc_t.append(time.perf_counter() - t)
                inc_reads.append(reads["n"])
                lengths.append(len(proof))
                rows.append(_rows_needed(index, size))
                if _ < 3:
                    tlog.verify_inclusion(
                        tlog.leaf_hash(b"bench-%d" % index), index, size, proof, root
                    )
                first = rng.randrange(1, size)
                reads["n"] = 0
                t = time.perf_counter()
                coord.log.consistency_proof(session, first, size)
                con_t.append(time.perf_counter() - t)
                con_reads.append(reads["n"])
            base_t = []
            for _ in range(baseline_samples):
                index = rng.randrange(size)
                t = time.perf_counter()
                hashes = [
                    bytes(h)
                    for h in session.execute(
                        select(LogLeaf.leaf_hash).where(LogLeaf.idx < size).order_by(LogLeaf.idx)
                    ).scalars()
                ]
                tlog.inclusion_proof(index, size, hashes)
                base_t.append(time.perf_counter() - t)
        out["sizes"][size] = {
            "proof_len": statistics.mean(lengths),
            "rows": statistics.mean(rows),
            "inc_p50": pct(inc_t, 0.5),
            "inc_p95": pct(inc_t, 0.95),
            "inc_reads": statistics.mean(inc_reads),
            "con_p50": pct(con_t, 0.5),
            "con_p95": pct(con_t, 0.95),
            "con_reads": statistics.mean(con_reads),
            "baseline_p50": pct(base_t, 0.5),
        }
    # end to end over HTTP at the largest size
    server = CoordinatorServer(home=settings.home, backend=backend).start()
    try:
        import httpx

        http_t = []
        with httpx.Client(base_url=server.url) as c:
            for _ in range(samples):
                t = time.perf_counter()
                r = c.get("/v1/log/proof/inclusion", params={"index": rng.randrange(m), "size": m})
                http_t.append(time.perf_counter() - t)
                assert r.status_code == 200
        out["http_inclusion_p50"] = pct(http_t, 0.5)
        out["http_inclusion_p95"] = pct(http_t, 0.95)
    finally:
        server.stop()
        coord.close()
    return out


# ---- report ---------------------------------------------------------------------------------


def report(results: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    backends = list(results)
    if all("publish" in results[b] for b in backends):
        k = results[backends[0]]["publish"]["publishers"]
        lines += [
            "### Publish throughput (verified + logged artifacts/s, real server, 50-row Parquet)",
            "",
            f"| backend | integration | 1 publisher | {k} concurrent publishers ({k} orgs) | mean receipts per checkpoint "
            f"| CPU ms per publish at {k}: server / client / PostgreSQL |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for b in backends:
            for mode in PUBLISH_MODES:
                p = results[b]["publish"][mode]
                c = p["cpu_ms_per_publish"]
                lines.append(
                    f"| {b} | {mode} | {p['publishers_1_per_s']:.1f} | {p['publishers_n_per_s']:.1f} | {p['mean_batch']:.1f} "
                    f"| {c['server']:.2f} / {c['client']:.2f} / {c['postgres']:.2f} |"
                )
            for base in ("direct", "batched-thread"):
                d, bt = results[b]["publish"][base], results[b]["publish"]["batched"]
                lines.append(
                    f"| {b} | batched / {base} | {bt['publishers_1_per_s'] / d['publishers_1_per_s']:.2f}x | "
                    f"{bt['publishers_n_per_s'] / d['publishers_n_per_s']:.2f}x | | |"
                )
        lines.append("")
    if all("sequencer" in results[b] for b in backends):
        lines += [
            "### The log's write side alone (in process, prepared publishes/s, no HTTP or verification)",
            "",
            "| backend | 1 per transaction (direct) | batches of 16 | batches of 256 |",
            "| --- | --- | --- | --- |",
        ]
        for b in backends:
            q = results[b]["sequencer"]
            lines.append(
                f"| {b} | {q['batch_1_per_s']:.0f} | {q['batch_16_per_s']:.0f} | {q['batch_256_per_s']:.0f} |"
            )
        lines.append("")
    if all("list" in results[b] for b in backends):
        n = results[backends[0]]["list"]["n"]
        lines += [
            f"### Catalog list/search latency at {n:,} artifacts (ms; HTTP = signed request end to end, service = in-process query)",
            "",
            "| query | "
            + " | ".join(
                f"{b} HTTP p50 / p95 | {b} service p50 / p95 | {b} policy filter: unfiltered p50, ratio"
                for b in backends
            )
            + " |",
            "| --- | " + " | ".join("--- | --- | ---" for _ in backends) + " |",
        ]
        for label in results[backends[0]]["list"]["queries"]:
            cells = []
            for b in backends:
                q = results[b]["list"]["queries"][label]
                svc = (
                    "-"
                    if q["svc_p50"] != q["svc_p50"]
                    else f"{ms(q['svc_p50'])} / {ms(q['svc_p95'])}"
                )
                nf = q.get("svc_nofilter_p50", float("nan"))
                ratio = "-" if nf != nf else f"{ms(nf)}, {q['svc_p50'] / nf:.2f}x"
                cells.append(f"{ms(q['http_p50'])} / {ms(q['http_p95'])} | {svc} | {ratio}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append(
            "\nBulk load: "
            + ", ".join(f"{b} {results[b]['list']['load_s']:.0f} s" for b in backends)
            + "\n"
        )
    if all("proofs" in results[b] for b in backends):
        for b in backends:
            p = results[b]["proofs"]
            lines += [
                f"### Log proofs on {b}, {p['m']:,} entries loaded ({p['load_s']:.0f} s)",
                "",
                "| tree size | proof hashes | rows read | inclusion p50 / p95 ms | queries | consistency p50 / p95 ms | queries | baseline: read all leaves + compute, p50 ms | baseline / ours |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for size, s in p["sizes"].items():
                lines.append(
                    f"| {int(size):,} | {s['proof_len']:.1f} | {s['rows']:.1f} | {ms(s['inc_p50'])} / {ms(s['inc_p95'])} | {s['inc_reads']:.1f} | "
                    f"{ms(s['con_p50'])} / {ms(s['con_p95'])} | {s['con_reads']:.1f} | {ms(s['baseline_p50'])} | {s['baseline_p50'] / s['inc_p50']:.1f}x |"
                )
            lines.append(
                f"\nGET /v1/log/proof/inclusion at size {p['m']:,} over HTTP: p50 {ms(p['http_inclusion_p50'])} ms, p95 {ms(p['http_inclusion_p95'])} ms\n"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--only", default="publish,list,proofs")
    ap.add_argument("--publishes", type=int, default=320, help="artifacts per throughput run")
    ap.add_argument("--publishers", type=int, default=16, help="concurrent publishers (orgs)")
    ap.add_argument("--sequencer-n", type=int, default=2048, help="publishes per sequencer run")
    ap.add_argument("--artifacts", type=int, default=100_000)
    ap.add_argument("--log-size", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--baseline-samples", type=int, default=2)
    args = ap.parse_args()
    os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    pg = PgDatabases()
    results: dict[str, dict[str, Any]] = {}
    try:
        for backend in args.backends.split(","):
            results[backend] = {}
            for section in args.only.split(","):
                t0 = time.perf_counter()
                print(f"[{backend}] {section} ...", file=sys.stderr, flush=True)
                if section == "publish":
                    results[backend]["publish"] = bench_publish(backend, pg, args.publishes, args.publishers)
                elif section == "sequencer":
                    results[backend]["sequencer"] = bench_sequencer(backend, pg, args.sequencer_n)
                elif section == "list":
                    results[backend]["list"] = bench_list(backend, pg, args.artifacts, args.samples)
                elif section == "proofs":
                    results[backend]["proofs"] = bench_proofs(
                        backend, pg, args.log_size, args.samples, args.baseline_samples
                    )
                print(
                    f"[{backend}] {section} done in {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        pg.drop_all()
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "coordinator.json").write_text(json.dumps(results, indent=2, default=str))
    load = os.getloadavg()
    print(
        f"Machine: {os.cpu_count()} CPUs, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min; shared machine).\n"
    )
    print(report(results))


if __name__ == "__main__":
    main()
