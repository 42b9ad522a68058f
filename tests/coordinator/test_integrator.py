"""The sequencer's batches in a child process (`publish_integrator=process`, integrator.py):
the batch's writes happen there, receipts are still proved from memory here, and a child killed
with SIGKILL, even mid-batch, loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from tests.coordinator.conftest import leading_sequencer, prepared_publishes, submit_concurrently


def _started(coordinator: Any) -> Any:
    seq = leading_sequencer(coordinator)
    assert seq.integrator is not None
    return seq


def test_batches_are_written_by_the_child_and_proved_from_memory_here(coordinator: Any) -> None:
    """Concurrent submits are logged once each with consecutive indices, by another process:
    this process's engine runs no INSERT into the log. The hashes the child's batches wrote come
    back with the outcomes, so receipts' inclusion proofs here need no database read."""
    assert coordinator.settings.publish_integrator == "process"
    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 16)
    statements: list[str] = []
    event.listen(coordinator.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    seq = _started(coordinator)
    try:
        with coordinator.session() as session:
            before = coordinator.log.size(session)
        results = submit_concurrently(seq, items)
        assert seq.integrator.pid not in (None, os.getpid())
        assert not [s for s in statements if "INSERT INTO log_leaves" in s]
        indices = sorted(o.index for o in results.values())
        assert indices == list(range(before, before + 16))
        statements.clear()
        with coordinator.session() as session:
            for o in results.values():
                coordinator.log.inclusion_proof(session, o.index, o.tree_size)
        assert statements == [], statements
    finally:
        seq.stop()
    assert coordinator.verify_integrity("root") == before + 16


def _hold_log_lock(url: str) -> tuple[Any, Any]:
    """Take the log's write lock from outside (as another writer would) and keep it."""
    engine = create_engine(url)
    conn = engine.connect()
    if url.startswith("sqlite"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.exec_driver_sql("UPDATE log_state SET size = size WHERE id = 1")
    else:
        conn.execute(text("UPDATE log_state SET size = size WHERE id = 1"))
    return engine, conn


def test_kill_9_of_the_integrator_mid_batch_loses_and_duplicates_nothing(coordinator: Any) -> None:
    """The child is killed with SIGKILL while its batch waits for the log's lock: every waiter
    of that batch is still answered (the batch is redone one by one here), a new child takes the
    next batch, and the log holds each publish exactly once."""
    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 12)
    url = coordinator.settings.resolved_database_url()
    seq = _started(coordinator)
    try:
        with coordinator.session() as session:
            before = coordinator.log.size(session)
        first = submit_concurrently(seq, items[:3])
        assert sorted(o.index for o in first.values()) == [before, before + 1, before + 2]
        child = seq.integrator.pid
        engine, conn = _hold_log_lock(url)
        results: dict[str, Any] = {}
        t = threading.Thread(target=lambda: results.update(submit_concurrently(seq, items[3:8])))
        t.start()
        try:
            if url.startswith("postgresql"):  # wait until the child's batch is blocked on the lock
                probe = create_engine(url)
                deadline = time.monotonic() + 30
                with probe.connect() as pc:
                    while time.monotonic() < deadline:
                        waiting = pc.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database()"
                            )
                        ).scalar_one()
                        if waiting:
                            break
                        time.sleep(0.05)
                    assert waiting, "the child's batch never waited for the log's lock"
                probe.dispose()
            else:
                time.sleep(1.0)  # SQLite: the child is in its busy wait by now (or about to be)
            os.kill(child, signal.SIGKILL)
        finally:
            conn.rollback()
            conn.close()
            engine.dispose()
        t.join(timeout=120)
        assert not t.is_alive()
        assert all(not isinstance(r, Exception) for r in results.values()), results
        later = submit_concurrently(seq, [*items[8:], items[4]])  # items[4] again: not logged twice
        assert seq.integrator.starts == 2 and seq.integrator.pid != child
    finally:
        seq.stop()
    everything = {**first, **results, **later}
    fresh = sorted({o.index for o in everything.values()})
    assert fresh == list(range(before, before + 12))
    assert everything[items[4].artifact_id].index in fresh
    assert coordinator.verify_integrity("root") == before + 12


@pytest.mark.parametrize("coordinator", ["sqlite"], indirect=True)
def test_thread_integrator_runs_batches_in_this_process(coordinator: Any) -> None:
    """publish_integrator=thread: no child; the batch's INSERTs run on this process's engine."""
    coordinator.settings = coordinator.settings.model_copy(update={"publish_integrator": "thread"})
    org = coordinator.settings.operator_org
    items = prepared_publishes(coordinator, org, 4)
    statements: list[str] = []
    event.listen(coordinator.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    seq = coordinator.start_sequencer()
    try:
        assert seq.integrator is None
        results = submit_concurrently(seq, items)
    finally:
        seq.stop()
    assert len({o.index for o in results.values()}) == 4
    assert [s for s in statements if "INSERT INTO log_leaves" in s]
