"""The publish sequencer: batches (one transaction, one checkpoint), the queue between server
processes on PostgreSQL, failover after kill -9 of the sequencer, and its migration."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, inspect, select, text

from synthspace import checkpoint
from synthspace import transparency_log as tlog
from synthspace.log_entries import PublishEntry, parse_entry
from tests.coordinator.conftest import (
    BACKENDS,
    CoordinatorServer,
    OrgIdentity,
    PgDatabases,
    build_artifact,
    database_url_for,
    enrol,
    init_home,
    leading_sequencer,
    make_server,
    prepared_publishes,
    publish,
    submit_concurrently,
)


def _verify_receipt(receipt: dict[str, Any], verifier: checkpoint.Verifier) -> int:
    """The receipt's entry is included in the tree its signed checkpoint names; returns that size."""
    cp = checkpoint.open_checkpoint(receipt["checkpoint"], verifier)
    proof = receipt["inclusion_proof"]
    assert proof["size"] == cp.size and proof["index"] == receipt["log_index"]
    tlog.verify_inclusion(
        tlog.leaf_hash(base64.b64decode(receipt["entry_leaf"])),
        proof["index"],
        cp.size,
        [bytes.fromhex(h) for h in proof["hashes"]],
        cp.root,
    )
    return int(cp.size)


# ---- one batch, in process ---------------------------------------------------------------------


def test_a_batch_is_one_transaction_with_one_checkpoint(coordinator: Any) -> None:
    """Five publishes integrated together: consecutive indices, every leaf records the batch's
    size, the receipts prove inclusion against the ONE checkpoint of that size, the root
    recomputes, and a duplicate inside and after the batch is not logged twice."""
    from synthspace.coordinator.models import ArtifactTag, LogLeaf
    from synthspace.coordinator.sequencer import integrate
    from synthspace.coordinator.services.publishing import receipt_for

    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 5)
    with coordinator.session() as session:
        before = coordinator.log.size(session)
        outcomes, taken = integrate(session, coordinator.log, [*items, items[2]])
    assert len(taken) == 6
    indices = sorted(o.index for o in outcomes.values())
    assert indices == list(range(before, before + 5))
    assert {o.tree_size for o in outcomes.values()} == {before + 5}
    assert len({o.checkpoint for o in outcomes.values()}) == 1
    verifier = checkpoint.Verifier.from_string(coordinator.log.verifier_key())
    with coordinator.session() as session:
        sizes = dict(
            session.execute(
                select(LogLeaf.idx, LogLeaf.tree_size).where(LogLeaf.idx >= before)
            ).all()
        )
        assert set(sizes.values()) == {before + 5}
        assert session.execute(select(func.count()).select_from(ArtifactTag)).scalar_one() == 10
        from synthspace.coordinator.models import Artifact

        for item in items:
            row = session.get(Artifact, item.artifact_id)
            receipt = receipt_for(session, coordinator.log, row).model_dump(mode="json")
            assert _verify_receipt(receipt, verifier) == before + 5
            assert receipt["checkpoint"] == outcomes[item.artifact_id].checkpoint
        # logged again (a retry after a lost answer): the original entry, nothing appended
        again, _ = integrate(session, coordinator.log, [items[0]])
        assert again[items[0].artifact_id].existing_org == org
        assert coordinator.log.size(session) == before + 5
    assert coordinator.verify_integrity("root") == before + 5  # rows here are stand-ins
    from sqlalchemy import update

    from synthspace.coordinator.errors import LogIntegrityError

    with coordinator.session() as session:  # a batch size beyond the log is caught
        session.execute(update(LogLeaf).where(LogLeaf.idx == before).values(tree_size=before + 6))
        session.commit()
    with pytest.raises(LogIntegrityError, match="batch checkpoint size"):
        coordinator.verify_integrity("root")


def test_direct_mode_logs_one_by_one(tmp_path: Path) -> None:
    """publish_integration=direct (the comparison path): each publish is its own tree."""
    from synthspace.coordinator.runtime import Coordinator

    settings = init_home(tmp_path / "home", None, publish_integration="direct")
    coord = Coordinator.open(settings)
    try:
        seq = coord.start_sequencer()
        assert not seq.running  # no thread: publishes integrate in the caller's thread
        org = settings.operator_org
        outcomes = [seq.submit(p) for p in prepared_publishes(coord, org, 3)]
        assert [o.tree_size for o in outcomes] == [o.index + 1 for o in outcomes]
    finally:
        coord.close()


def test_a_failing_write_rolls_back_the_whole_batch(coordinator: Any) -> None:
    """A batch's writes are all or nothing: a catalog row that breaks a constraint (a parent
    not in the catalog) fails the batch, which leaves no leaf, row or tree growth behind; the
    same batch without it logs from the same index. Through the sequencer thread the failing
    publish gets its error and the others are logged, whether or not they shared its batch
    (a failed batch is retried one by one)."""
    from sqlalchemy.exc import IntegrityError

    from synthspace.coordinator.models import Artifact, LogLeaf
    from synthspace.coordinator.sequencer import integrate

    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 6)
    items[1].parents = [("99" + "ab" * 31, "source")]  # an artifact that does not exist
    with coordinator.session() as session:
        before = coordinator.log.size(session)
        with pytest.raises(IntegrityError):
            integrate(session, coordinator.log, items[:3])
    with coordinator.session() as session:
        assert coordinator.log.size(session) == before
        assert session.execute(select(func.count()).select_from(LogLeaf)).scalar_one() == before
        assert session.execute(select(func.count()).select_from(Artifact)).scalar_one() == 0
        outcomes, _ = integrate(session, coordinator.log, [items[0], items[2]])
    assert sorted(o.index for o in outcomes.values()) == [before, before + 1]
    seq = leading_sequencer(coordinator)
    try:
        results = submit_concurrently(seq, items[1:2] + items[3:])
    finally:
        seq.stop()
    assert isinstance(results.pop(items[1].artifact_id), IntegrityError)
    assert sorted(o.index for o in results.values()) == [before + 2, before + 3, before + 4]
    assert coordinator.verify_integrity("root") == before + 5


@pytest.mark.parametrize("coordinator", ["postgres"], indirect=True)
def test_a_queued_publish_that_cannot_be_logged_does_not_hold_up_the_queue(
    coordinator: Any,
) -> None:
    """Publishes another process queued: one of them fails the batch that drains them; the
    sequencer logs the others one by one and drops the failing one from the queue, instead of
    failing every later batch on it."""
    from synthspace.coordinator.models import Artifact, PublishQueue
    from synthspace.coordinator.sequencer import PreparedPublish

    org = coordinator.settings.operator_org
    items: list[PreparedPublish] = prepared_publishes(coordinator, org, 4)
    items[2].parents = [("99" + "ab" * 31, "source")]  # not in the catalog
    with coordinator.session() as session:
        before = coordinator.log.size(session)
        for p in items:
            session.execute(insert(PublishQueue).values(**p.to_queue()))
        session.commit()
    seq = coordinator.start_sequencer()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with coordinator.session() as session:
                queued = session.execute(select(func.count()).select_from(PublishQueue)).scalar_one()
                logged = set(session.execute(select(Artifact.artifact_id)).scalars())
            if queued == 0 and len(logged) == 3:
                break
            time.sleep(0.1)
    finally:
        seq.stop()
    assert queued == 0
    assert logged == {items[i].artifact_id for i in (0, 1, 3)}
    assert coordinator.verify_integrity("root") == before + 3


def test_sequencer_thread_batches_concurrent_submits(coordinator: Any) -> None:
    """Submitted from many threads at once, everything is logged exactly once, each caller gets
    its own index, and the callers of one batch share its size (no timing: sizes just agree)."""
    seq = coordinator.start_sequencer()
    try:
        assert seq.running
        org = coordinator.settings.operator_org
        items = prepared_publishes(coordinator, org, 24)
        results: dict[str, Any] = {}

        def go(p: Any) -> None:
            results[p.artifact_id] = seq.submit(p)

        threads = [threading.Thread(target=go, args=(p,)) for p in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        indices = sorted(o.index for o in results.values())
        assert len(set(indices)) == 24 and indices == list(range(indices[0], indices[0] + 24))
        for o in results.values():
            assert o.index < o.tree_size and o.existing_org is None
        assert seq.batches <= 24
    finally:
        seq.stop()
    assert coordinator.verify_integrity("root") == indices[-1] + 1


# ---- two server processes on PostgreSQL -----------------------------------------------------------


def _sequencer_pid(database_url: str) -> int | None:
    """The process id (application_name) of the server holding the sequencer's advisory lock."""
    from sqlalchemy import create_engine

    from synthspace.coordinator.sequencer import ADVISORY_LOCK_KEY

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            name = conn.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND "
                    # advisory locks are per database: other tests' coordinators hold the same key
                    "l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
                    "((l.classid::bigint << 32) | l.objid::bigint) = :k"
                ),
                {"k": ADVISORY_LOCK_KEY},
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    return int(name.rsplit("-", 1)[1]) if name else None


def _wait_for_sequencer(url: str, among: list[CoordinatorServer], timeout: float = 60) -> CoordinatorServer:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _sequencer_pid(url)
        for s in among:
            if s.proc is not None and s.proc.pid == pid:
                return s
        time.sleep(0.1)
    raise AssertionError("no server took the sequencer role")


def _coordinator_verify(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSPACE_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "coordinator", "verify", "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_of_the_sequencer_the_other_process_takes_over(
    tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases
) -> None:
    """Publishers through two server processes; the one holding the sequencer role is killed
    with SIGKILL mid-load; the other takes the role and logs what was queued; every
    acknowledged publish is in the log exactly once, receipts verify, `coordinator verify` passes."""
    first = make_server(tmp_path_factory, pg_databases, "postgres")
    url = first.settings().resolved_database_url()
    second = CoordinatorServer(home=first.home, backend="postgres").start()
    servers = [first, second]
    try:
        leader = _wait_for_sequencer(url, servers)
        follower = second if leader is first else first
        orgs = [enrol(follower) for _ in range(4)]
        prepared = {o.name: [build_artifact(o) for _ in range(10)] for o in orgs}
        receipts: dict[str, dict[str, Any]] = {}
        lock = threading.Lock()
        started = threading.Event()

        def run(o: OrgIdentity, via: CoordinatorServer) -> None:
            client = httpx.Client(base_url=via.url, auth=o.client().auth, timeout=120)
            for env, data in prepared[o.name]:
                try:
                    r = publish(client, env, data)
                except httpx.HTTPError:
                    if via is leader:
                        return  # the killed server: its requests were never acknowledged
                    raise
                if r.status_code == 201:
                    with lock:
                        receipts[r.json()["artifact_id"]] = r.json()
                    started.set()
                else:
                    assert via is leader, r.text
            client.close()

        # orgs 0 and 1 go through the follower (its publishes travel through the queue),
        # orgs 2 and 3 through the sequencer itself
        threads = [
            threading.Thread(target=run, args=(o, follower if i < 2 else leader))
            for i, o in enumerate(orgs)
        ]
        for t in threads:
            t.start()
        assert started.wait(120), "no publish was acknowledged"
        leader.kill9()
        for t in threads:
            t.join()
        assert _wait_for_sequencer(url, [follower]) is follower
        # the follower's publishers all finished: 20 acknowledged through it, whatever the kill did
        follower_orgs = {orgs[0].name, orgs[1].name}
        by_follower = [r for r in receipts.values() if parse_entry(base64.b64decode(r["entry_leaf"])).org in follower_orgs]  # type: ignore[union-attr]
        assert len(by_follower) == 20
        # every publisher retries what it has: idempotent for the logged ones, new for the others
        for o in orgs:
            client = httpx.Client(base_url=follower.url, auth=o.client().auth, timeout=120)
            for env, data in prepared[o.name]:
                r = publish(client, env, data)
                assert r.status_code == 201, r.text
                if r.json()["artifact_id"] in receipts:
                    assert r.json() == receipts[r.json()["artifact_id"]]  # the same receipt
            client.close()
        verifier = checkpoint.Verifier.from_string(
            httpx.get(f"{follower.url}/v1/log/verifier-key").text.strip()
        )
        for r in receipts.values():
            _verify_receipt(r, verifier)
        cp = checkpoint.open_checkpoint(httpx.get(f"{follower.url}/v1/log/checkpoint").text, verifier)
        leaves = [
            base64.b64decode(e["leaf"])
            for e in httpx.get(
                f"{follower.url}/v1/log/entries", params={"start": 0, "end": cp.size}
            ).json()["entries"]
        ]
        assert tlog.root_from_leaf_hashes([tlog.leaf_hash(x) for x in leaves]) == cp.root
        published = [e for e in map(parse_entry, leaves) if isinstance(e, PublishEntry)]
        ids = [e.artifact_id for e in published]
        assert len(ids) == len(set(ids)) == 40  # every publish exactly once, acknowledged or retried
        assert set(receipts) <= set(ids)
        for aid, r in receipts.items():
            assert ids.index(aid) >= 0 and leaves[r["log_index"]] == base64.b64decode(r["entry_leaf"])
        coord = follower.coordinator()
        try:
            with coord.session() as session:
                from synthspace.coordinator.models import PublishQueue

                assert session.execute(select(func.count()).select_from(PublishQueue)).scalar_one() == 0
        finally:
            coord.close()
    finally:
        for s in servers:
            s.stop()
    result = _coordinator_verify(first.home)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- migration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequencer_migration_down_and_up(
    tmp_path: Path, backend: str, pg_databases: PgDatabases
) -> None:
    """i0a1 adds log_leaves.tree_size, publish_queue (and trigram indexes on PostgreSQL);
    downgrading to h0a2 removes them and keeps the log; upgrading again restores them."""
    from alembic import command

    from synthspace.coordinator.database import alembic_config, make_engine, upgrade_database
    from synthspace.coordinator.runtime import Coordinator

    settings = init_home(tmp_path / "home", database_url_for(backend, pg_databases))
    coord = Coordinator.open(settings)
    org = settings.operator_org
    with coord.session() as session:
        from synthspace.coordinator.sequencer import integrate

        integrate(session, coord.log, prepared_publishes(coord, org, 3))
        size = coord.log.size(session)
    coord.close()
    url = settings.resolved_database_url()
    engine = make_engine(url)

    def state() -> tuple[set[str], set[str], set[str]]:
        insp = inspect(engine)
        return (
            set(insp.get_table_names()),
            {c["name"] for c in insp.get_columns("log_leaves")},
            {i["name"] for i in insp.get_indexes("artifacts")},
        )

    tables, columns, indexes = state()
    assert "publish_queue" in tables and "tree_size" in columns
    assert ("ix_artifacts_title_trgm" in indexes) == (backend == "postgres")
    cfg: Any = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "h0a2_agreements")
    tables, columns, indexes = state()
    assert "publish_queue" not in tables and "tree_size" not in columns
    assert "ix_artifacts_title_trgm" not in indexes
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_leaves")).scalar_one() == size
    assert upgrade_database(engine) == "k0a1_catalog_search"
    tables, columns, _ = state()
    assert "publish_queue" in tables and "tree_size" in columns
    engine.dispose()
    coord = Coordinator.open(settings, verify=False)  # stand-in rows: check the log itself
    try:
        assert coord.verify_integrity("root") == size
    finally:
        coord.close()


def test_hash_cache_never_keeps_hashes_that_rolled_back(coordinator: Any) -> None:
    """Proofs read inside a writer block (rows that may still roll back) do not feed the
    per-process hash cache: after a rollback and a different append at the same index, proofs
    verify against the new root."""
    from datetime import UTC, datetime

    log = coordinator.log
    now = datetime.now(UTC)
    with coordinator.session() as session:
        with log.writer(session) as state:
            start = int(state.size)
            log.append_batch(session, state, [(b"doomed-%d" % i, "bench", now) for i in range(3)])
            log.inclusion_proof(session, start + 1, start + 3)  # read inside the block
            session.rollback()
        with log.writer(session) as state:
            log.append_batch(session, state, [(b"kept-%d" % i, "bench", now) for i in range(3)])
            session.commit()
    with coordinator.session() as session:
        root = log.root(session)
        for _ in range(2):  # the second round is served from the cache
            proof = log.inclusion_proof(session, start + 1, start + 3)
            sub_root = log.root(session, start + 3)
            tlog.verify_inclusion(tlog.leaf_hash(b"kept-1"), start + 1, start + 3, proof, sub_root)
        assert log.root(session) == root
    assert log._hashes, "reads outside a writer block are cached"


def test_receipts_of_a_committed_batch_are_proved_from_memory(coordinator: Any) -> None:
    """After a batch commits, its receipts' inclusion proofs need no database read (the append
    computed every hash they use), and equal the proofs a fresh process reads from the tables;
    a batch that rolled back leaves nothing in the cache."""
    from datetime import UTC, datetime

    from sqlalchemy import event

    from synthspace.coordinator.log_store import TransparencyLog

    log = coordinator.log
    fresh = TransparencyLog(log.origin, log._key)  # another process: nothing cached
    now = datetime.now(UTC)
    statements: list[str] = []
    event.listen(coordinator.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with coordinator.session() as session:
        with log.writer(session) as state:  # rolled back: must not be cached
            log.append_batch(session, state, [(b"doomed-%d" % i, "bench", now) for i in range(5)])
            session.rollback()
        for n in (1, 3, 5, 8, 13, 2, 1, 21):
            with log.writer(session) as state:
                start = int(state.size)
                log.append_batch(session, state, [(b"b%d-%d" % (start, i), "bench", now) for i in range(n)])
                session.commit()
            log.note_committed(start + n)
            statements.clear()
            proofs = [log.inclusion_proof(session, i, start + n) for i in range(start, start + n)]
            assert statements == [], statements  # served from memory
            root = fresh.root(session, start + n)
            for i, proof in zip(range(start, start + n), proofs, strict=True):
                assert proof == fresh.inclusion_proof(session, i, start + n)
                tlog.verify_inclusion(tlog.leaf_hash(b"b%d-%d" % (start, i - start)), i, start + n, proof, root)


def test_a_publish_not_logged_in_time_is_503_and_stays_queued(coordinator: Any) -> None:
    """The caller gets 503 publish_pending when its batch is not logged within publish_wait_s;
    the publish is still logged afterwards, and submitting it again finds it (no duplicate)."""
    from synthspace.coordinator.sequencer import PublishPendingError

    seq = coordinator.start_sequencer()
    release = threading.Event()
    original = seq._integrate

    def held(batch: Any, drain: int) -> None:
        release.wait(60)
        original(batch, drain)

    seq._integrate = held  # type: ignore[method-assign]
    seq.wait_s = 0.2
    try:
        item = prepared_publishes(coordinator, coordinator.settings.operator_org, 1)[0]
        with pytest.raises(PublishPendingError) as err:
            seq.submit(item)
        assert err.value.status == 503 and err.value.code == "publish_pending"
        release.set()
        seq.wait_s = 60
        again = seq.submit(item)  # logged by the held batch or by this one: exactly once
        with coordinator.session() as session:
            from synthspace.coordinator.models import Artifact

            rows = session.execute(
                select(func.count()).select_from(Artifact).where(Artifact.artifact_id == item.artifact_id)
            ).scalar_one()
        assert rows == 1 and again.index >= 0
    finally:
        release.set()
        seq.stop()


# ---- keys revoked between verification and the batch ------------------------------------------


def _revoke_artifact_key(coord: Any, org: str) -> str:
    """Revoke `org`'s artifact key the way another process would (this one's caches untouched)."""
    from synthspace.coordinator.models import OrgKey
    from synthspace.coordinator.services.orgs import revoke_key

    with coord.session() as session:
        kid = str(
            session.execute(
                select(OrgKey.key_id).where(OrgKey.org_name == org, OrgKey.purpose == "artifact")
            ).scalar_one()
        )
        revoke_key(session, coord.log, org, kid, "test", operator=True)
    return kid


def test_the_batch_refuses_a_publish_whose_key_was_revoked_after_verification(coordinator: Any) -> None:
    """Verification may use a cached key; the log writer checks revocation under its lock, so a
    publish verified before a revocation and integrated after it is refused, not logged."""
    from synthspace.coordinator.models import Artifact
    from synthspace.coordinator.sequencer import integrate

    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 2)
    with coordinator.session() as session:  # positive control: the same key is fine before
        outcomes, _ = integrate(session, coordinator.log, items[:1])
    assert outcomes[items[0].artifact_id].index >= 0
    assert outcomes[items[0].artifact_id].key_revoked_at is None
    _revoke_artifact_key(coordinator, org)
    with coordinator.session() as session:
        size = coordinator.log.size(session)
        outcomes, _ = integrate(session, coordinator.log, items)
        # the one logged before the revocation keeps its entry; the new one is refused
        assert outcomes[items[0].artifact_id].existing_org == org
        refused = outcomes[items[1].artifact_id]
        assert refused.key_revoked_at is not None and refused.index == -1
        assert coordinator.log.size(session) == size
        assert session.get(Artifact, items[1].artifact_id) is None
    coordinator.verify_integrity("root")  # (prepared publishes carry no real envelope)


def test_a_server_publish_reads_no_key_rows_and_a_later_revocation_is_still_refused(
    coordinator: Any,
) -> None:
    """Coordinator.publish (the HTTP route's path) keeps each org's artifact keys: the second
    publish issues no key-directory query of its own; after another process revokes the key,
    the next publish gets ForbiddenError key_revoked from the log writer and is not logged."""
    from sqlalchemy import event

    from synthspace.coordinator.errors import ForbiddenError

    settings = coordinator.settings
    org = settings.operator_org
    ident = OrgIdentity.operator(settings)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    coordinator.publish(org, *build_artifact(ident))
    event.listen(coordinator.engine, "before_cursor_execute", seen)
    try:
        coordinator.publish(org, *build_artifact(ident))
        by_org = [s for s in statements if "org_keys.org_name" in s]
        assert by_org == [], by_org  # no key lookup per publish
        assert any("org_keys.key_id IN" in s for s in statements)  # the writer's check ran
    finally:
        event.remove(coordinator.engine, "before_cursor_execute", seen)
    kid = _revoke_artifact_key(coordinator, org)
    with coordinator.session() as session:
        size = coordinator.log.size(session)
    for _ in range(2):  # refused by the writer (cached key), then by verification (read again)
        with pytest.raises(ForbiddenError) as err:
            coordinator.publish(org, *build_artifact(ident))
        assert err.value.code == "key_revoked" and kid in str(err.value)
    with coordinator.session() as session:
        assert coordinator.log.size(session) == size
    coordinator.verify_integrity("full")


@pytest.mark.parametrize("coordinator", ["postgres"], indirect=True)
def test_a_queued_publish_whose_key_was_revoked_is_refused_to_the_process_waiting(
    coordinator: Any,
) -> None:
    """PostgreSQL, two sequencers: a process without the role queues its publish; the sequencer
    refuses it (key revoked meanwhile) and deletes its queue row; the waiting process answers
    with the revocation instead of waiting out publish_wait_s."""
    from synthspace.coordinator.models import Artifact, PublishQueue
    from synthspace.coordinator.sequencer import Sequencer

    leader = coordinator.start_sequencer()
    deadline = time.monotonic() + 20
    while not leader.is_leader and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leader.is_leader
    other = Sequencer(
        coordinator.sessions,
        coordinator.log,
        database_url=coordinator.settings.resolved_database_url(),
        wait_s=20,
        poll_s=0.05,
    ).start()
    try:
        time.sleep(0.3)
        assert not other.is_leader
        org = coordinator.settings.operator_org
        items = prepared_publishes(coordinator, org, 2)
        assert other.submit(items[0]).index >= 0  # positive control: queued, logged
        _revoke_artifact_key(coordinator, org)
        t0 = time.monotonic()
        out = other.submit(items[1])
        assert out.key_revoked_at is not None and out.index == -1
        assert time.monotonic() - t0 < 10
        queued = 1
        deadline = time.monotonic() + 10  # the sequencer drains (refuses) the queue row
        while queued and time.monotonic() < deadline:
            time.sleep(0.05)
            with coordinator.session() as session:
                queued = session.execute(select(func.count()).select_from(PublishQueue)).scalar_one()
        assert queued == 0
        with coordinator.session() as session:
            assert session.get(Artifact, items[1].artifact_id) is None
    finally:
        other.stop()
    coordinator.verify_integrity("root")
