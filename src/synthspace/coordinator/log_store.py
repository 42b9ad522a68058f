"""The coordinator's transparency log, persisted in the catalog database.

Leaves live in `log_leaves` (index, canonical entry bytes, leaf hash). Whenever an append
closes a complete, aligned power-of-two subtree its hash goes into `log_nodes`, so any
subtree hash the RFC 9162 proof algorithms ask for costs O(log n) primary-key reads instead of
rehashing leaves. `log_state` (one row) holds size, root and the right-edge frontier; updating
that row first in the publishing transaction takes its row lock, which serialises appends
across processes on PostgreSQL and takes SQLite's write lock, so indices never repeat or gap.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import and_, insert, literal, or_, select, text, union_all, update
from sqlalchemy.orm import Session

from synthspace import checkpoint as checkpoint_mod
from synthspace import transparency_log as tlog
from synthspace.coordinator.errors import InvalidRequestError, LogIntegrityError
from synthspace.coordinator.models import LogLeaf, LogNode, LogState, utcnow
from synthspace.log_entries import AnyEntry, entry_bytes

EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_LEN = 32
HASH_CACHE_MAX = 100_000  # (level, idx) -> hash entries kept per process (~20 MB at most)
T = TypeVar("T")


@dataclass(frozen=True)
class AppendedEntry:
    index: int
    leaf: bytes
    leaf_hash: bytes


def _split_frontier(raw: bytes) -> list[bytes]:
    return [raw[i : i + HASH_LEN] for i in range(0, len(raw), HASH_LEN)]


def _decompose(start: int, end: int, out: set[tuple[int, int]]) -> None:
    """The stored pieces, (level, idx), whose hashes compose MTH(leaves[start:end])."""
    n = end - start
    if n <= 0:
        return
    if n & (n - 1) == 0 and start % n == 0:
        out.add((n.bit_length() - 1, start // n))
        return
    k = 1 << ((n - 1).bit_length() - 1)
    _decompose(start, start + k, out)
    _decompose(start + k, end, out)


# One statement text whatever the pieces (arrays, not IN lists of varying length): compiled
# once, and prepared server-side by psycopg after a few uses, so PostgreSQL plans it once.
_PG_FETCH_HASHES = text(
    "SELECT 0 AS level, idx, leaf_hash AS hash FROM log_leaves WHERE idx = ANY(CAST(:leaves AS BIGINT[])) "
    "UNION ALL SELECT n.level, n.idx, n.hash FROM log_nodes n "
    "JOIN unnest(CAST(:levels AS INTEGER[]), CAST(:idxs AS BIGINT[])) AS w(level, idx) "
    "ON n.level = w.level AND n.idx = w.idx"
)


def _fetch_hashes_pg(session: Session, pieces: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    leaves = [idx for level, idx in pieces if level == 0]
    nodes = [(level, idx) for level, idx in pieces if level]
    rows = session.execute(
        _PG_FETCH_HASHES,
        {"leaves": leaves, "levels": [lv for lv, _ in nodes], "idxs": [i for _, i in nodes]},
    ).all()
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


def _frontier_pieces(size: int, frontier: list[bytes]) -> dict[tuple[int, int], bytes]:
    """(level, idx) of each frontier hash of a tree of `size` leaves: its maximal aligned complete
    subtrees, largest (leftmost) first, one per set bit of `size`."""
    out: dict[tuple[int, int], bytes] = {}
    pos = 0
    levels = [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]
    for level, h in zip(levels, frontier, strict=True):
        out[(level, pos >> level)] = h
        pos += 1 << level
    return out


def root_from_frontier(frontier: list[bytes]) -> bytes:
    """Root of a tree given the hashes of its maximal complete subtrees, left to right."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1]
    for left in reversed(frontier[:-1]):
        h = tlog.node_hash(left, h)
    return h


class TransparencyLog:
    """Append, prove and checkpoint the log stored in the database."""

    def __init__(self, origin: str, signing_key: Ed25519PrivateKey, *, cache_hashes: bool = True) -> None:
        self.origin = origin
        self._key = signing_key
        self._cache_hashes = cache_hashes  # off where nothing is proved (the integrator process)
        # One writer per process; the DB row lock orders writers across processes.
        self._writer = threading.Lock()
        # Committed leaf and subtree hashes never change (append-only): cached by (level, idx),
        # bounded. The largest size seen committed: a proof for a tree no larger needs no read
        # of log_state to check its size (sizes only grow).
        # Only reads outside a writer() block feed them: inside one, rows may yet roll back.
        self._hashes: dict[tuple[int, int], bytes] = {}
        self._seen_size = 0
        self._local = threading.local()

    # ---- writing -------------------------------------------------------------------------

    @contextmanager
    def writer(self, session: Session) -> Iterator[LogState]:
        """Hold the log's write lock for the caller's transaction; the caller commits inside.

        The first statement is an UPDATE of the state row: on PostgreSQL it takes the row lock
        (concurrent writers wait), on SQLite it takes the database write lock (busy-wait).
        Statements issued before this on the same session must not have written anything.
        """
        with self._writer:
            self._local.writing = True
            self._local.batch_hashes = None  # a batch that rolled back must never reach the cache
            try:
                # One statement locks the row and reads it (RETURNING); populate_existing: a
                # state row this session loaded earlier is re-read, not reused.
                state = session.execute(
                    update(LogState)
                    .where(LogState.id == 1)
                    .values(size=LogState.size)
                    .returning(LogState),
                    execution_options={"populate_existing": True, "synchronize_session": False},
                ).scalar_one()
                yield state
            finally:
                self._local.writing = False

    def append(self, session: Session, state: LogState, entry: AnyEntry) -> AppendedEntry:
        """Append one entry inside a `writer()` block (same transaction as the catalog change)."""
        leaf = entry_bytes(entry)
        lh = tlog.leaf_hash(leaf)
        index = state.size
        session.add(
            LogLeaf(
                idx=index, leaf=leaf, leaf_hash=lh, entry_type=entry.type, created_at=entry.time
            )
        )
        frontier = _split_frontier(state.frontier)
        h, level, n = lh, 0, index
        while n & 1:  # carry: each set low bit of the old size is a subtree that now pairs up
            h = tlog.node_hash(frontier.pop(), h)
            level += 1
            n >>= 1
            session.add(LogNode(level=level, idx=((index + 1) >> level) - 1, hash=h))
        frontier.append(h)
        state.size = index + 1
        state.frontier = b"".join(frontier)
        state.root = root_from_frontier(frontier)
        state.updated_at = utcnow()
        session.flush()
        return AppendedEntry(index=index, leaf=leaf, leaf_hash=lh)

    def append_batch(
        self, session: Session, state: LogState, entries: list[tuple[bytes, str, datetime]]
    ) -> list[AppendedEntry]:
        """Append (leaf bytes, entry type, time) entries as one batch inside a `writer()` block.

        Core multi-row inserts for leaves and closed subtree hashes; every leaf records the
        batch's final size as `tree_size`, the checkpoint its receipt proves against.
        """
        if not entries:
            return []
        frontier = _split_frontier(state.frontier)
        start = int(state.size)
        end = start + len(entries)
        leaf_rows: list[dict[str, object]] = []
        node_rows: list[dict[str, object]] = []
        out: list[AppendedEntry] = []
        # Every hash a receipt's inclusion proof needs is here: the old tree's frontier, the new
        # leaves and the subtrees they close. note_committed() caches them once they are durable.
        batch_hashes = _frontier_pieces(start, frontier)
        for offset, (leaf, entry_type, when) in enumerate(entries):
            index = start + offset
            lh = tlog.leaf_hash(leaf)
            leaf_rows.append(
                {"idx": index, "leaf": leaf, "leaf_hash": lh, "entry_type": entry_type,
                 "created_at": when, "tree_size": end}  # fmt: skip
            )
            batch_hashes[(0, index)] = lh
            h, level, n = lh, 0, index
            while n & 1:
                h = tlog.node_hash(frontier.pop(), h)
                level += 1
                n >>= 1
                node_rows.append({"level": level, "idx": ((index + 1) >> level) - 1, "hash": h})
                batch_hashes[(level, ((index + 1) >> level) - 1)] = h
            frontier.append(h)
            out.append(AppendedEntry(index=index, leaf=leaf, leaf_hash=lh))
        conn = session.connection()  # Core inserts: no ORM bulk machinery for plain rows
        conn.execute(insert(LogLeaf), leaf_rows)
        if node_rows:
            conn.execute(insert(LogNode), node_rows)
        state.size = end
        state.frontier = b"".join(frontier)
        state.root = root_from_frontier(frontier)
        state.updated_at = utcnow()
        session.flush()
        self._local.batch_hashes = batch_hashes
        return out

    # ---- reading -------------------------------------------------------------------------

    @staticmethod
    def state(session: Session) -> LogState:
        return session.execute(select(LogState).where(LogState.id == 1)).scalar_one()

    def size(self, session: Session) -> int:
        size = int(self.state(session).size)
        if not self._writing:
            self._seen_size = max(self._seen_size, size)
        return size

    def note_committed(self, size: int, hashes: dict[tuple[int, int], bytes] | None = None) -> None:
        """A writer committed a tree of `size` leaves (proofs up to it need no size read); the
        hashes of the batch this thread appended (or `hashes`, those a batch in the integrator
        process appended) are now durable, so its receipts' proofs are computed from memory."""
        self._seen_size = max(self._seen_size, size)
        batch = hashes if hashes is not None else getattr(self._local, "batch_hashes", None)
        self._local.batch_hashes = None
        if not self._cache_hashes:  # handed to take_committed_hashes() instead (the integrator)
            self._local.committed_hashes = batch
        elif batch:
            if len(self._hashes) + len(batch) > HASH_CACHE_MAX:
                self._hashes.clear()
            self._hashes.update(batch)

    def take_committed_hashes(self) -> dict[tuple[int, int], bytes] | None:
        """The hashes of the batch this thread last committed, once, on a log made with
        `cache_hashes=False` (the integrator process sends them to the server process)."""
        batch = getattr(self._local, "committed_hashes", None)
        self._local.committed_hashes = None
        return batch

    @property
    def _writing(self) -> bool:
        return bool(getattr(self._local, "writing", False))

    def _current_at_least(self, session: Session, size: int) -> int:
        """The log's size if `size` may exceed the largest size seen, else that (no query)."""
        if size <= self._seen_size and not self._writing:
            return self._seen_size
        return self.size(session)

    def subtree_hasher(
        self, session: Session, known: dict[tuple[int, int], bytes] | None = None
    ) -> Callable[[int, int], bytes]:
        """subtree_hash(start, end) over stored hashes, memoised for one request.

        `known` maps (level, idx) -> hash, prefetched; anything missing is read on demand.
        """
        table = dict(known or {})
        memo: dict[tuple[int, int], bytes] = {}

        def stored(level: int, idx: int) -> bytes:
            if (level, idx) in table:
                return table[(level, idx)]
            if level == 0:
                row = session.execute(
                    select(LogLeaf.leaf_hash).where(LogLeaf.idx == idx)
                ).scalar_one_or_none()
            else:
                row = session.execute(
                    select(LogNode.hash).where(LogNode.level == level, LogNode.idx == idx)
                ).scalar_one_or_none()
            if row is None:
                raise LogIntegrityError(f"log hash at level {level}, index {idx} is missing")
            table[(level, idx)] = bytes(row)
            return table[(level, idx)]

        def subtree(start: int, end: int) -> bytes:
            key = (start, end)
            if key not in memo:
                n = end - start
                if n <= 0:
                    memo[key] = EMPTY_ROOT
                elif n & (n - 1) == 0 and start % n == 0:
                    memo[key] = stored(n.bit_length() - 1, start // n)
                else:
                    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
                    memo[key] = tlog.node_hash(subtree(start, start + k), subtree(start + k, end))
            return memo[key]

        return subtree

    def _prefetched(
        self, session: Session, compute: Callable[[Callable[[int, int], bytes]], T]
    ) -> T:
        """Run `compute(subtree_hash)` with every stored hash it needs fetched in two queries.

        The ranges a proof asks for depend only on sizes and indices, never on hash values,
        so a dry run with placeholder hashes lists them; each range decomposes into aligned
        complete subtrees (stored nodes) and single leaves.
        """
        requested: list[tuple[int, int]] = []

        def record(start: int, end: int) -> bytes:
            requested.append((start, end))
            return EMPTY_ROOT

        compute(record)
        pieces: set[tuple[int, int]] = set()
        for start, end in requested:
            _decompose(start, end, pieces)
        cache = self._hashes
        known: dict[tuple[int, int], bytes] = {}
        missing: set[tuple[int, int]] = set()
        for piece in pieces:
            h = cache.get(piece)
            if h is None:
                missing.add(piece)
            else:
                known[piece] = h
        if missing:
            known.update(self._fetch_hashes(session, missing))
            if self._writing:
                return compute(self.subtree_hasher(session, known))
            if len(cache) > HASH_CACHE_MAX:
                cache.clear()
            cache.update((k, v) for k, v in known.items() if k in missing)
        return compute(self.subtree_hasher(session, known))

    @staticmethod
    def _fetch_hashes(
        session: Session, pieces: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """Stored hashes of (level, idx) pieces, leaves and subtree nodes in ONE query."""
        if session.get_bind().dialect.name == "postgresql":
            return _fetch_hashes_pg(session, pieces)
        leaves = sorted(idx for level, idx in pieces if level == 0)
        by_level: dict[int, list[int]] = {}
        for level, idx in pieces:
            if level:
                by_level.setdefault(level, []).append(idx)
        parts: list[Any] = []
        if leaves:
            parts.append(
                select(literal(0).label("level"), LogLeaf.idx, LogLeaf.leaf_hash.label("hash")).where(
                    LogLeaf.idx.in_(leaves)
                )
            )
        if by_level:
            cond = or_(
                *(and_(LogNode.level == lvl, LogNode.idx.in_(idxs)) for lvl, idxs in by_level.items())
            )
            parts.append(select(LogNode.level, LogNode.idx, LogNode.hash).where(cond))
        stmt: Any = parts[0] if len(parts) == 1 else union_all(*parts)
        rows: list[Any] = list(session.execute(stmt).all())
        return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}

    def root(self, session: Session, size: int | None = None) -> bytes:
        state = self.state(session)
        if size is None or size == state.size:
            return bytes(state.root)
        self._check_size(size, int(state.size))
        if size == 0:
            return EMPTY_ROOT
        return self._prefetched(session, lambda sub: sub(0, size))

    def inclusion_proof(self, session: Session, index: int, size: int) -> list[bytes]:
        current = self._current_at_least(session, size)
        self._check_size(size, current)
        if not 0 <= index < size:
            raise InvalidRequestError(
                f"index {index} is outside a tree of size {size}", code="bad_proof_request"
            )
        return self._prefetched(session, lambda sub: tlog.inclusion_proof(index, size, sub))

    def consistency_proof(self, session: Session, first: int, second: int) -> list[bytes]:
        current = self._current_at_least(session, second)
        self._check_size(second, current)
        if not 0 <= first <= second:
            raise InvalidRequestError(
                f"first ({first}) must be between 0 and second ({second})", code="bad_proof_request"
            )
        if first == 0 or first == second:
            return []
        return self._prefetched(session, lambda sub: tlog.consistency_proof(first, second, sub))

    @staticmethod
    def _check_size(size: int, current: int) -> None:
        if not 0 <= size <= current:
            raise InvalidRequestError(
                f"tree size {size} is beyond the log's current size {current}",
                code="bad_proof_request",
            )

    def leaves(self, session: Session, start: int, end: int) -> list[LogLeaf]:
        return list(
            session.execute(
                select(LogLeaf).where(LogLeaf.idx >= start, LogLeaf.idx < end).order_by(LogLeaf.idx)
            ).scalars()
        )

    # ---- checkpoints ---------------------------------------------------------------------

    def checkpoint(self, session: Session, size: int | None = None) -> str:
        """Signed note (C2SP) for the tree of `size` leaves (default: the current tree)."""
        state = self.state(session)
        size = int(state.size) if size is None else size
        return self.sign(size, self.root(session, size))

    def sign(self, size: int, root: bytes) -> str:
        """The signed note for a tree of `size` leaves with `root` (deterministic: Ed25519)."""
        return checkpoint_mod.sign_checkpoint(
            checkpoint_mod.Checkpoint(self.origin, size, root), self.origin, self._key
        )

    @staticmethod
    def receipt_size(session: Session, index: int) -> tuple[bytes, int]:
        """(leaf bytes, size of the checkpoint its receipt proves against) for entry `index`."""
        leaf, tree_size = session.execute(
            select(LogLeaf.leaf, LogLeaf.tree_size).where(LogLeaf.idx == index)
        ).one()
        return bytes(leaf), int(tree_size) if tree_size is not None else index + 1

    def verifier_key(self) -> str:
        return checkpoint_mod.verifier_for(self.origin, self._key).to_string()

    # ---- integrity -----------------------------------------------------------------------

    def verify(self, session: Session, mode: str = "full", chunk: int = 20_000) -> int:
        """Recompute the root from the stored leaves and compare with the stored state.

        mode 'full' also rehashes every leaf's bytes. Raises LogIntegrityError on any mismatch;
        returns the verified size. Streams in chunks, so memory stays flat at millions of leaves.
        """
        state = self.state(session)
        frontier: list[bytes] = []
        expected = 0
        while True:
            cols = (
                (LogLeaf.idx, LogLeaf.leaf_hash, LogLeaf.tree_size, LogLeaf.leaf)
                if mode == "full"
                else (LogLeaf.idx, LogLeaf.leaf_hash, LogLeaf.tree_size)
            )
            rows = session.execute(
                select(*cols).where(LogLeaf.idx >= expected).order_by(LogLeaf.idx).limit(chunk)
            ).all()
            if not rows:
                break
            for row in rows:
                idx, lh = int(row[0]), bytes(row[1])
                if idx != expected:
                    raise LogIntegrityError(f"log has a gap: expected leaf {expected}, found {idx}")
                if row[2] is not None and not idx < int(row[2]) <= int(state.size):
                    raise LogIntegrityError(
                        f"log leaf {idx}: its batch checkpoint size {row[2]} is not in ({idx}, {state.size}]"
                    )
                if mode == "full" and tlog.leaf_hash(bytes(row[3])) != lh:
                    raise LogIntegrityError(f"log leaf {idx}: stored hash does not match its bytes")
                h, n = lh, idx
                while n & 1:
                    h = tlog.node_hash(frontier.pop(), h)
                    n >>= 1
                frontier.append(h)
                expected += 1
        if expected != state.size:
            raise LogIntegrityError(
                f"log state says {state.size} entries but {expected} leaves are stored"
            )
        if root_from_frontier(frontier) != bytes(state.root) or b"".join(frontier) != bytes(
            state.frontier
        ):
            raise LogIntegrityError(
                "the stored log root does not match the root recomputed from its entries"
            )
        return expected
