"""The sequencer's batches integrated in a child process of their own (`publish_integrator=process`).

Why a process: a batch is about 1.2 ms of Python per publish and ~9 database round trips. In the
server process it shares the GIL with every request thread, and after each round trip it waits
to take the GIL back: under 16 concurrent publishers a batch of 6 took ~33 ms of wall time for
~8 ms of its own CPU, and every publish waited for it (docs/benchmarks.md, issue 17). A child
process has a GIL of its own: the server's sequencer thread hands it the batch over a pipe and
waits once.

The child holds no state a crash can lose: it opens its own engine and log signer, runs
`sequencer.integrate` on what it is sent (one transaction, as in the thread) and answers with the
outcomes and the hashes the batch wrote (the parent caches them, as `note_committed` does for a
batch written in process). If it dies mid-batch the transaction rolls back in the database; the
parent sees the pipe close, fails that batch over to its own one-by-one path and starts a new
child for the next batch.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from synthspace import keys
from synthspace.coordinator.database import make_engine, make_sessionmaker, session_scope
from synthspace.coordinator.errors import CoordinatorError
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.sequencer import integrate

logger = logging.getLogger("synthspace.coordinator.integrator")

START_TIMEOUT_S = 60.0


class IntegratorError(CoordinatorError):
    """The integrator process failed a batch or is gone; the batch was not logged by it."""

    status = 503
    code = "publish_pending"


@dataclass(frozen=True)
class BatchResult:
    """What the child sends back for one batch."""

    outcomes: dict[str, Any]  # artifact id -> sequencer.Outcome
    taken: list[Any]  # the PreparedPublish items logged or settled (queued ones included)
    size: int  # the log's size after the batch (-1: nothing was appended)
    hashes: dict[tuple[int, int], bytes] | None  # leaf and subtree hashes the batch made durable


def _child(conn: Connection, database_url: str, origin: str, key_path: str) -> None:
    """The child's loop: (items, drain) in, ("ok", BatchResult) or ("error", text) out."""
    engine = make_engine(database_url, pool_size=1, max_overflow=1)
    sessions = make_sessionmaker(engine)
    log = TransparencyLog(origin, keys.load_private_key(Path(key_path)), cache_hashes=False)
    conn.send(("ready", None))
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:  # the server is gone
                return
            if request is None:
                return
            items, drain = request
            try:
                with session_scope(sessions) as session:
                    outcomes, taken = integrate(session, log, items, drain_queue=drain)
                hashes = log.take_committed_hashes()
                size = max((o.tree_size for o in outcomes.values()), default=-1)
                conn.send(("ok", BatchResult(outcomes, taken, size, hashes)))
            except Exception as exc:  # reported to the parent, which falls back
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


class IntegratorProcess:
    """One child process that integrates batches; restarted after it dies."""

    def __init__(self, database_url: str, origin: str, key_path: Path) -> None:
        self._args = (database_url, origin, str(key_path))
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one batch at a time over the pipe
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> IntegratorProcess:
        with self._lock:
            self._ensure()
        return self

    def _ensure(self) -> Connection:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            return self._conn
        self._discard()
        # spawn: a fork of a threaded server could copy a held lock into the child
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(child, *self._args), name="log-integrator", daemon=True)
        proc.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            proc.kill()
            raise IntegratorError(f"the integrator process did not start within {START_TIMEOUT_S:.0f} s")
        try:
            parent.recv()
        except EOFError:
            proc.join(timeout=5)
            raise IntegratorError(
                f"the integrator process exited while starting (code {proc.exitcode}); its error is in the server's log"
            ) from None
        self._proc, self._conn = proc, parent
        self.starts += 1
        return parent

    def integrate(self, items: list[Any], drain: int) -> BatchResult:
        """Integrate one batch in the child; IntegratorError if it failed or the child died."""
        with self._lock:
            conn = self._ensure()
            try:
                conn.send((items, drain))
                status, value = conn.recv()
            except (EOFError, OSError) as exc:
                self._discard()
                raise IntegratorError(f"the integrator process died during a batch: {exc!r}") from None
        if status != "ok":
            raise IntegratorError(f"the integrator process failed the batch: {value}")
        result: BatchResult = value
        return result

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
        self._proc, self._conn = None, None

    def stop(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(None)
                except OSError:
                    pass
            if self._proc is not None:
                self._proc.join(timeout=10)
            self._discard()
