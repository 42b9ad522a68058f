"""Concurrent publishers across processes, restart persistence, kill -9 in the middle of publishing."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import httpx
import pytest

from synthspace import checkpoint
from synthspace import transparency_log as tlog
from synthspace.log_entries import PublishEntry, parse_entry
from tests.coordinator.conftest import (
    BACKENDS,
    CoordinatorServer,
    OrgIdentity,
    PgDatabases,
    build_artifact,
    enrol,
    make_server,
    publish,
)


def _log_snapshot(server: CoordinatorServer) -> tuple[checkpoint.Checkpoint, list[bytes]]:
    verifier = checkpoint.Verifier.from_string(
        httpx.get(f"{server.url}/v1/log/verifier-key").text.strip()
    )
    cp = checkpoint.open_checkpoint(httpx.get(f"{server.url}/v1/log/checkpoint").text, verifier)
    leaves: list[bytes] = []
    for start in range(0, cp.size, 1000):
        r = httpx.get(
            f"{server.url}/v1/log/entries",
            params={"start": start, "end": min(cp.size, start + 1000)},
        )
        leaves += [base64.b64decode(e["leaf"]) for e in r.json()["entries"]]
    return cp, leaves


@pytest.fixture(params=BACKENDS)
def fresh_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PgDatabases,
) -> Any:
    srv = make_server(tmp_path_factory, pg_databases, request.param)
    yield srv
    srv.stop()


@pytest.mark.slow
def test_concurrent_publishes_from_several_orgs_and_two_server_processes(
    fresh_server: CoordinatorServer,
) -> None:
    """4 orgs publish at once, through two server processes sharing one database."""
    second = CoordinatorServer(home=fresh_server.home, backend=fresh_server.backend).start()
    try:
        orgs = [enrol(fresh_server) for _ in range(4)]
        per_org = 6
        prepared = {o.name: [build_artifact(o) for _ in range(per_org)] for o in orgs}
        receipts: list[dict[str, Any]] = []
        failures: list[str] = []
        lock = threading.Lock()

        def run(o: OrgIdentity, via: CoordinatorServer) -> None:
            client = httpx.Client(base_url=via.url, auth=o.client().auth, timeout=120)
            for env, data in prepared[o.name]:
                r = publish(client, env, data)
                with lock:
                    (receipts.append(r.json()) if r.status_code == 201 else failures.append(r.text))
            client.close()

        threads = [
            threading.Thread(target=run, args=(o, fresh_server if i % 2 else second))
            for i, o in enumerate(orgs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures
        assert len(receipts) == 4 * per_org
        indices = sorted(r["log_index"] for r in receipts)
        assert len(set(indices)) == len(indices)
        cp, leaves = _log_snapshot(fresh_server)
        publish_indices = [
            i for i, leaf in enumerate(leaves) if isinstance(parse_entry(leaf), PublishEntry)
        ]
        assert (
            publish_indices == indices
        )  # every publish is in the log exactly once, no gaps in the log
        assert tlog.root_from_leaf_hashes([tlog.leaf_hash(leaf) for leaf in leaves]) == cp.root
        for r in receipts:  # every receipt verifies against the final tree via a consistency proof
            size = r["inclusion_proof"]["size"]
            p = httpx.get(
                f"{fresh_server.url}/v1/log/proof/consistency",
                params={"first": size, "second": cp.size},
            ).json()
            old_root = tlog.root_from_leaf_hashes([tlog.leaf_hash(leaf) for leaf in leaves[:size]])
            tlog.verify_consistency(
                size, cp.size, old_root, cp.root, [bytes.fromhex(h) for h in p["hashes"]]
            )
    finally:
        second.stop()


@pytest.mark.slow
def test_restart_keeps_catalog_and_log(fresh_server: CoordinatorServer) -> None:
    org = enrol(fresh_server)
    env, data = build_artifact(org)
    receipt = publish(org.client(), env, data).json()
    cp_before, _ = _log_snapshot(fresh_server)
    fresh_server.stop()
    fresh_server.start()
    cp_after, leaves = _log_snapshot(fresh_server)
    assert (cp_after.size, cp_after.root) == (cp_before.size, cp_before.root)
    client = org.client()
    assert client.get(f"/v1/artifacts/{receipt['artifact_id']}/data").content == data
    assert publish(client, env, data).json() == receipt  # idempotent across restarts


@pytest.mark.slow
def test_kill_9_during_publishing_leaves_no_half_written_artifact(
    fresh_server: CoordinatorServer,
) -> None:
    orgs = [enrol(fresh_server) for _ in range(3)]
    prepared = [(o, *build_artifact(o, rows=200)) for o in orgs for _ in range(12)]
    accepted: list[str] = []
    stop = threading.Event()

    def run(batch: list[Any]) -> None:
        for o, env, data in batch:
            if stop.is_set():
                return
            try:
                r = publish(o.client(), env, data)
                if r.status_code == 201:
                    accepted.append(r.json()["artifact_id"])
            except httpx.HTTPError:
                return

    threads = [threading.Thread(target=run, args=(prepared[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(accepted) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    fresh_server.kill9()  # mid-stream: some publishes are in flight
    stop.set()
    for t in threads:
        t.join()
    assert accepted, "no publish completed before the kill"
    coord = fresh_server.coordinator()
    try:
        size = coord.verify_integrity(
            "full"
        )  # root matches entries; rows == publish entries; blobs exist
        from sqlalchemy import select

        from synthspace.coordinator.models import Artifact

        with coord.session() as session:
            stored = set(session.execute(select(Artifact.artifact_id)).scalars())
    finally:
        coord.close()
    assert set(accepted) <= stored  # every receipt handed out survived
    fresh_server.start()  # startup verification passes and the server serves again
    cp, leaves = _log_snapshot(fresh_server)
    assert cp.size == size
    client = orgs[0].client()
    for o, env, data in prepared:
        r = publish(
            o.client(), env, data
        )  # finish the batch: the in-flight ones are either there or publish now
        assert r.status_code == 201, r.text
    cp2, leaves2 = _log_snapshot(fresh_server)
    assert leaves2[: len(leaves)] == leaves
    published = [
        parse_entry(leaf) for leaf in leaves2 if isinstance(parse_entry(leaf), PublishEntry)
    ]
    assert len({e.artifact_id for e in published}) == len(published) == len(prepared)  # type: ignore[union-attr]
    assert client.get("/v1/artifacts", params={"limit": 200}).status_code == 200


def test_a_pooled_postgresql_connection_that_died_while_idle_is_replaced(
    pg_databases: PgDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping per checkout: a pooled connection idle over PING_IDLE_S is pinged, and one the
    server ended meanwhile is replaced instead of failing the request. Positive control: with
    the ping window not passed, the dead connection is handed out and the query fails."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from synthspace.coordinator import database

    engine = database.make_engine(pg_databases.new(), pool_size=1, max_overflow=0)
    admin = database.make_engine(pg_databases.new())
    try:

        def kill_pooled() -> int:
            with engine.connect() as conn:
                pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            with admin.connect() as conn:  # the pool holds it idle now; end it server-side
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
            time.sleep(0.2)
            return pid

        monkeypatch.setattr(database, "PING_IDLE_S", 3600.0)
        kill_pooled()
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        monkeypatch.setattr(database, "PING_IDLE_S", 0.0)
        pid = kill_pooled()
        with engine.connect() as conn:
            assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid
    finally:
        engine.dispose()
        admin.dispose()
