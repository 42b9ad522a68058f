"""The publish sequencer: verified publishes are logged in batches by one integrator.

A publish is verified in the request's own thread (signature, Statement, data, gates, parents:
`services/publishing.py`), outside the log's critical section and in parallel with other
publishes. What is left — one log leaf, one catalog row with its tags, parents and assignees —
goes to the sequencer, which integrates everything waiting in ONE transaction under the log's
write lock and signs ONE checkpoint for the batch (group commit). Each request waits for its
batch; its receipt's inclusion proof is against the batch's checkpoint (`log_leaves.tree_size`).

Who integrates:
- SQLite: the process's own sequencer thread (one writer).
- PostgreSQL: the process holding a session-level advisory lock (`pg_try_advisory_lock`) on a
  dedicated connection. A process without it writes the verified publish to `publish_queue`
  (committed, `NOTIFY synthspace_publish`) and waits for `NOTIFY synthspace_log`. When the
  sequencer dies (kill -9), PostgreSQL ends its session, the lock is free and another process
  takes it within a poll interval and integrates the queue. A batch's transaction deletes the
  queue rows it logs, so nothing is lost (a killed batch rolls back and stays queued) and
  nothing is logged twice (artifact ids are checked inside the locked transaction).

Where a batch runs: with an `integrator` (integrator.py, the server's default) in a child process
with its own interpreter lock; without one in this process's sequencer thread. Either way this
process decides the batch, holds the role and answers the waiters.

Exclusivity is for throughput only: correctness rests on the `log_state` row lock every
integration takes, so a second integrator (e.g. after a network split of the lock's
connection) would be serialised, never double-log.

`mode="direct"` integrates each publish in its own request thread, one transaction and one
checkpoint per publish (the pre-batching path; kept for comparison and for in-process callers
that run no sequencer thread).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from synthspace.coordinator.database import session_scope
from synthspace.coordinator.errors import CoordinatorError
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import (
    Artifact,
    ArtifactAssignee,
    ArtifactParent,
    ArtifactTag,
    OrgKey,
    PublishQueue,
)

if TYPE_CHECKING:
    from synthspace.coordinator.integrator import IntegratorProcess

logger = logging.getLogger("synthspace.coordinator.sequencer")

ADVISORY_LOCK_KEY = 0x5354_4C4F_4753_4551 & 0x7FFF_FFFF_FFFF_FFFF  # "STLOGSEQ", a bigint
LOG_CHANNEL = "synthspace_log"
QUEUE_CHANNEL = "synthspace_publish"
DRAIN_EVERY_S = 1.0  # a busy sequencer still looks at the queue at least this often
APPLICATION_NAME = "synthspace-sequencer"


class PublishPendingError(CoordinatorError):
    """The publish is verified and queued but was not logged in time; retrying is safe."""

    status = 503
    code = "publish_pending"


# Artifact columns a prepared publish carries (log_index is assigned at integration).
_ROW_DATETIMES = ("signed_at", "published_at")


@dataclass
class PreparedPublish:
    """A verified publish: its log leaf and the catalog rows to write with it."""

    artifact_id: str
    org: str
    leaf: bytes
    logged_at: datetime
    row: dict[str, Any]  # Artifact column values except log_index
    tags: list[str] = field(default_factory=list)
    parents: list[tuple[str, str]] = field(default_factory=list)  # (parent id, role)
    assignees: list[str] | None = None

    def to_queue(self) -> dict[str, Any]:
        row = {k: v for k, v in self.row.items() if k != "envelope"}
        for k in _ROW_DATETIMES:
            row[k] = row[k].isoformat()
        return {
            "artifact_id": self.artifact_id,
            "org_name": self.org,
            "leaf": self.leaf,
            "envelope": self.row["envelope"],
            "enqueued_at": self.logged_at,
            "payload": {
                "row": row,
                "tags": self.tags,
                "parents": [list(p) for p in self.parents],
                "assignees": self.assignees,
            },
        }

    @classmethod
    def from_queue(cls, q: PublishQueue) -> PreparedPublish:
        payload = q.payload
        row = dict(payload["row"])
        for k in _ROW_DATETIMES:
            row[k] = datetime.fromisoformat(row[k])
        row["envelope"] = bytes(q.envelope)
        return cls(
            artifact_id=q.artifact_id,
            org=q.org_name,
            leaf=bytes(q.leaf),
            logged_at=row["published_at"],
            row=row,
            tags=list(payload["tags"]),
            parents=[(p[0], p[1]) for p in payload["parents"]],
            assignees=payload["assignees"],
        )


@dataclass(frozen=True)
class Outcome:
    """Where a publish ended up: its index and batch size, or the org that logged it first."""

    index: int
    tree_size: int
    checkpoint: str | None = None  # the batch's signed note, when this process signed it
    existing_org: str | None = None  # set when the artifact was already in the catalog
    key_revoked_at: datetime | None = None  # set when its signing key was revoked: not logged


def integrate(
    session: Session, log: TransparencyLog, items: list[PreparedPublish], *, drain_queue: int = 0
) -> tuple[dict[str, Outcome], list[PreparedPublish]]:
    """Log `items` (and up to `drain_queue` queued publishes) in ONE transaction; commits.

    Returns outcomes by artifact id and the items actually taken (queued ones included).
    Already-published artifacts (a concurrent identical publish) get `existing_org`.
    """
    with log.writer(session) as state:
        taken = list(items)
        queued_ids: list[int] = []
        if drain_queue:
            for q in session.execute(
                select(PublishQueue).order_by(PublishQueue.seq).limit(drain_queue)
            ).scalars():
                queued_ids.append(q.seq)
                taken.append(PreparedPublish.from_queue(q))
        ids = list({p.artifact_id for p in taken})
        existing: dict[str, tuple[str, int]] = {}
        for chunk in range(0, len(ids), 500):
            for aid, org, idx in session.execute(
                select(Artifact.artifact_id, Artifact.org_name, Artifact.log_index).where(
                    Artifact.artifact_id.in_(ids[chunk : chunk + 500])
                )
            ):
                existing[aid] = (org, int(idx))
        # Signing keys are checked here, under the log's lock (which a revocation also takes):
        # verification may have used a cached key, and no publish may follow its key's
        # revocation in the log.
        revoked = _revoked_keys(session, {p.row["key_id"] for p in taken})
        fresh: list[PreparedPublish] = []
        refused: dict[str, datetime] = {}
        seen: set[str] = set()
        for p in taken:
            if p.artifact_id in existing or p.artifact_id in seen:
                continue
            seen.add(p.artifact_id)
            if p.row["key_id"] in revoked:
                refused[p.artifact_id] = revoked[p.row["key_id"]]
            else:
                fresh.append(p)
        appended = log.append_batch(
            session, state, [(p.leaf, "publish", p.logged_at) for p in fresh]
        )
        size = int(state.size)
        outcomes: dict[str, Outcome] = {}
        if fresh:
            # Core inserts on the session's connection: the ORM's bulk path costs more Python
            # than the statements (the rows are plain dicts; nothing needs an entity).
            conn = session.connection()
            conn.execute(
                insert(Artifact),
                [{**p.row, "log_index": a.index} for p, a in zip(fresh, appended, strict=True)],
            )
            tags = [
                {"artifact_id": p.artifact_id, "tag": t, "log_index": a.index}
                for p, a in zip(fresh, appended, strict=True)
                for t in p.tags
            ]
            parents = [
                {"child_id": p.artifact_id, "parent_id": pid, "role": role}
                for p in fresh
                for pid, role in p.parents
            ]
            assignees = [
                {"artifact_id": p.artifact_id, "org_name": o}
                for p in fresh
                for o in (p.assignees or ())
            ]
            for model, rows in (
                (ArtifactTag, tags),
                (ArtifactParent, parents),
                (ArtifactAssignee, assignees),
            ):
                if rows:
                    conn.execute(insert(model), rows)
        if queued_ids:
            session.execute(delete(PublishQueue).where(PublishQueue.seq.in_(queued_ids)))
        if fresh and session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_notify(:c, :s)"), {"c": LOG_CHANNEL, "s": str(size)})
        note = log.sign(size, bytes(state.root)) if fresh else None
        session.commit()
    log.note_committed(size)
    # (the same artifact twice in one batch: one entry, both callers get its outcome)
    for p, a in zip(fresh, appended, strict=True):
        outcomes[p.artifact_id] = Outcome(index=a.index, tree_size=size, checkpoint=note)
    for aid, (org, idx) in existing.items():
        outcomes[aid] = Outcome(index=idx, tree_size=-1, existing_org=org)
    for aid, when in refused.items():
        outcomes[aid] = Outcome(index=-1, tree_size=-1, key_revoked_at=when)
    return outcomes, taken


def _revoked_keys(session: Session, key_ids: set[str]) -> dict[str, datetime]:
    """Revocation times of those of `key_ids` that are revoked (one query)."""
    if not key_ids:
        return {}
    rows = session.execute(
        select(OrgKey.key_id, OrgKey.revoked_at).where(
            OrgKey.key_id.in_(sorted(key_ids)), OrgKey.revoked_at.is_not(None)
        )
    )
    return {kid: when for kid, when in rows if when is not None}


class Sequencer:
    """Integrates verified publishes in batches; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        log: TransparencyLog,
        *,
        database_url: str,
        mode: str = "batched",
        batch_max: int = 256,
        wait_s: float = 60.0,
        poll_s: float = 0.25,
        integrator: IntegratorProcess | None = None,
    ) -> None:
        self.sessions = sessions
        self.log = log
        self.mode = mode
        self.batch_max = batch_max
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.integrator = integrator  # batches run in a child process (integrator.py), else here
        self.postgres = database_url.startswith("postgresql")
        self._dsn = (
            "postgresql://" + database_url.split("://", 1)[1] if self.postgres else ""
        )
        self._pending: list[tuple[PreparedPublish, Future[Outcome]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._leader = threading.Event()
        self._grown = threading.Condition()  # notified when the log grows (here or elsewhere)
        self._queue_announced = threading.Event()  # another process queued a publish (NOTIFY)
        self._drained_at = 0.0
        self._threads: list[threading.Thread] = []
        self.batches = 0  # batches this process integrated (tests, benchmarks)
        if not self.postgres:
            self._leader.set()  # SQLite: one process, one writer

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sequencer:
        if self.mode != "batched" or self._threads:
            return self
        if self.integrator is not None and self._leader.is_set():
            # (a PostgreSQL process that is not the sequencer starts its child on its first
            # batch after taking the role: until then it would sit idle)
            self.integrator.start()
        self._threads.append(threading.Thread(target=self._run, name="log-sequencer", daemon=True))
        if self.postgres:
            self._threads.append(
                threading.Thread(target=self._listen, name="log-sequencer-lock", daemon=True)
            )
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        if self.integrator is not None:
            self.integrator.stop()
        with self._lock:
            pending, self._pending = self._pending, []
        for _, fut in pending:
            if not fut.done():
                fut.set_exception(PublishPendingError("the server is shutting down; publish again"))

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    # ---- submitting ------------------------------------------------------------------------

    def submit(self, item: PreparedPublish) -> Outcome:
        """Log `item` (waiting for its batch) and return where it landed."""
        if not self.running:
            return self.integrate_now(item)
        if self._leader.is_set():
            fut: Future[Outcome] = Future()
            with self._lock:
                self._pending.append((item, fut))
            self._wake.set()
            try:
                return fut.result(timeout=self.wait_s)
            except FutureTimeout:
                raise PublishPendingError(
                    f"artifact {item.artifact_id} was verified but not logged within {self.wait_s:.0f} s; "
                    "publish it again (re-publishing is idempotent)"
                ) from None
        return self._submit_remote(item)

    def integrate_now(self, item: PreparedPublish) -> Outcome:
        """One publish, one transaction, one checkpoint, in the caller's thread."""
        with session_scope(self.sessions) as session:
            outcomes, _ = integrate(session, self.log, [item])
        return outcomes[item.artifact_id]

    def _submit_remote(self, item: PreparedPublish) -> Outcome:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        with session_scope(self.sessions) as session:
            session.execute(
                pg_insert(PublishQueue).values(**item.to_queue()).on_conflict_do_nothing()
            )
            session.execute(text("SELECT pg_notify(:c, '')"), {"c": QUEUE_CHANNEL})
            session.commit()
            deadline = time.monotonic() + self.wait_s
            find = select(Artifact.org_name, Artifact.log_index).where(
                Artifact.artifact_id == item.artifact_id
            )
            while True:
                found = session.execute(find).one_or_none()
                if found is None:  # refused by the sequencer (its key revoked meanwhile)?
                    # (the key first: once its revocation is committed, the sequencer, which
                    # checks under the log lock, will not log the publish any more)
                    revoked_at = session.execute(
                        select(OrgKey.revoked_at).where(OrgKey.key_id == item.row["key_id"])
                    ).scalar_one_or_none()
                    if revoked_at is not None:
                        found = session.execute(find).one_or_none()
                        if found is None:
                            session.rollback()
                            return Outcome(index=-1, tree_size=-1, key_revoked_at=revoked_at)
                session.rollback()
                if found is not None:
                    org, idx = found
                    _, size = self.log.receipt_size(session, int(idx))
                    session.rollback()
                    if org != item.org:
                        return Outcome(index=int(idx), tree_size=size, existing_org=org)
                    return Outcome(index=int(idx), tree_size=size)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PublishPendingError(
                        f"artifact {item.artifact_id} is verified and queued but was not logged within "
                        f"{self.wait_s:.0f} s; publish it again (re-publishing is idempotent)"
                    )
                if self._leader.is_set():  # we became the sequencer meanwhile: drain now
                    self._queue_announced.set()
                    self._wake.set()
                with self._grown:
                    self._grown.wait(timeout=min(left, self.poll_s))

    # ---- the sequencer thread ----------------------------------------------------------------

    def _take(self) -> list[tuple[PreparedPublish, Future[Outcome]]]:
        with self._lock:
            batch, self._pending = self._pending[: self.batch_max], self._pending[self.batch_max :]
            if self._pending:
                self._wake.set()
        return batch

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            batch = self._take()
            drain = self._drain_now(batch)
            if not batch and not drain:
                continue
            try:
                self._integrate(batch, drain)
            except Exception:  # never let the thread die: fail the waiters, keep serving
                logger.exception("integrating a batch of %d publishes failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(
                            PublishPendingError("the publish could not be logged; publish it again")
                        )
                time.sleep(self.poll_s)

    def _drain_now(self, batch: list[Any]) -> int:
        """How many queued publishes (other processes') this batch also takes: a page when
        this process is the sequencer and the queue was announced (NOTIFY), or the loop is idle,
        or the last look is over DRAIN_EVERY_S old (a notification lost with a connection);
        0 otherwise, sparing a busy sequencer a query per batch."""
        if not (self.postgres and self._leader.is_set()):
            return 0
        now = time.monotonic()
        if batch and not self._queue_announced.is_set() and now - self._drained_at < DRAIN_EVERY_S:
            return 0
        self._queue_announced.clear()  # (before the look: an announcement during it is kept)
        self._drained_at = now
        return self.batch_max

    def _integrate(self, batch: list[tuple[PreparedPublish, Future[Outcome]]], drain: int) -> None:
        items = [p for p, _ in batch]
        if drain:
            with session_scope(self.sessions) as session:
                if not items and session.execute(select(PublishQueue.seq).limit(1)).first() is None:
                    return
        try:
            outcomes, taken = self._batch(items, drain)
        except Exception:
            logger.exception("batch of %d failed; integrating its publishes one by one", len(items))
            outcomes = {}
            for p, fut in batch:
                try:
                    outcomes.update(self._single(p))
                except Exception as exc:
                    fut.set_exception(exc)
            if drain:
                self._drain_one_by_one(drain)
            taken = items
        self.batches += 1
        for p, fut in batch:
            if not fut.done():
                fut.set_result(outcomes[p.artifact_id])
        if taken:
            with self._grown:
                self._grown.notify_all()
            if len(taken) - len(items) >= drain > 0:
                self._queue_announced.set()  # a full queue page: there may be more
                self._wake.set()

    def _batch(
        self, items: list[PreparedPublish], drain: int
    ) -> tuple[dict[str, Outcome], list[PreparedPublish]]:
        if self.integrator is None:
            with session_scope(self.sessions) as session:
                return integrate(session, self.log, items, drain_queue=drain)
        result = self.integrator.integrate(items, drain)
        if result.size >= 0:
            self.log.note_committed(result.size, result.hashes)
        return result.outcomes, result.taken

    def _drain_one_by_one(self, limit: int) -> None:
        """After a failed batch that took queued publishes: log up to `limit` of them one at a
        time, and drop from the queue one that fails alone. It would fail every batch that
        takes it and hold up the queue behind it; its process answers 503 (publish again).
        Never raises: the batch's own publishes were logged one by one and await their answers."""
        for _ in range(limit):
            try:
                with session_scope(self.sessions) as session:
                    _, taken = integrate(session, self.log, [], drain_queue=1)
                if not taken:
                    return
            except Exception:
                logger.exception("a queued publish cannot be logged; dropping it from the queue")
                try:
                    with session_scope(self.sessions) as session:
                        head = session.execute(
                            select(PublishQueue.seq).order_by(PublishQueue.seq).limit(1)
                        ).scalar_one_or_none()
                        if head is None:
                            return
                        session.execute(delete(PublishQueue).where(PublishQueue.seq == head))
                        session.commit()
                except Exception:  # the database itself fails: the next batch tries again
                    logger.exception("the publish queue cannot be read; leaving it as it is")
                    return

    def _single(self, p: PreparedPublish) -> dict[str, Outcome]:
        with session_scope(self.sessions) as session:
            return integrate(session, self.log, [p])[0]

    # ---- PostgreSQL: the sequencer role and notifications -----------------------------------------

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._dsn, autocommit=True, application_name=f"{APPLICATION_NAME}-{os.getpid()}"
                ) as conn:
                    conn.execute(f"LISTEN {LOG_CHANNEL}")
                    conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                    while not self._stop.is_set():
                        if not self._leader.is_set():
                            row = conn.execute(
                                "SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)
                            ).fetchone()
                            if row and row[0]:
                                logger.info("this process now holds the sequencer role")
                                self._queue_announced.set()
                                self._leader.set()
                                self._wake.set()  # drain whatever was queued meanwhile
                        for n in conn.notifies(timeout=self.poll_s):
                            if n.channel == QUEUE_CHANNEL:
                                self._queue_announced.set()
                                self._wake.set()
                            else:
                                with self._grown:
                                    self._grown.notify_all()
            except Exception:
                if not self._stop.is_set():
                    logger.exception("sequencer lock connection failed; retrying")
            finally:
                self._leader.clear()  # the session (and its advisory lock) is gone
            self._stop.wait(1.0)

