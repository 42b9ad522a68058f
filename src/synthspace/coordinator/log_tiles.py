"""Serve the transparency log as C2SP tlog-tiles from the stored leaves and subtree hashes.

Level-0 tiles are leaf hashes; a level-L tile is the stored `log_nodes` row at tree height 8L,
so every tile is one indexed range read.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthspace import tlog_tiles
from synthspace.coordinator.errors import LogIntegrityError, NotFoundError
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import LogLeaf, LogNode


def _check_available(size: int, level: int, index: int, width: int) -> None:
    have = tlog_tiles.tile_width_at(size, level, index)
    if width > have:
        raise NotFoundError(
            f"tile {tlog_tiles.tile_path(level, index, width)} is not in the log yet (the tree has {size} leaves)",
            code="tile_not_found",
        )


def hash_tile(log: TransparencyLog, session: Session, level: int, index: int, width: int) -> bytes:
    _check_available(log.size(session), level, index, width)
    lo, hi = index * tlog_tiles.TILE_WIDTH, index * tlog_tiles.TILE_WIDTH + width
    if level == 0:
        rows = session.execute(
            select(LogLeaf.leaf_hash).where(LogLeaf.idx >= lo, LogLeaf.idx < hi).order_by(LogLeaf.idx)
        ).scalars()
    else:
        height = tlog_tiles.TILE_HEIGHT * level
        rows = session.execute(
            select(LogNode.hash)
            .where(LogNode.level == height, LogNode.idx >= lo, LogNode.idx < hi)
            .order_by(LogNode.idx)
        ).scalars()
    data = b"".join(bytes(h) for h in rows)
    if len(data) != width * tlog_tiles.HASH_LEN:
        raise LogIntegrityError(f"stored hashes for tile {level}/{index} are incomplete")
    return data


def entry_bundle(log: TransparencyLog, session: Session, index: int, width: int) -> bytes:
    _check_available(log.size(session), 0, index, width)
    lo = index * tlog_tiles.TILE_WIDTH
    leaves = log.leaves(session, lo, lo + width)
    return tlog_tiles.encode_entry_bundle([bytes(leaf.leaf) for leaf in leaves])
