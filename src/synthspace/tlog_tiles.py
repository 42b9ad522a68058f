"""The log as C2SP tlog-tiles: tile paths, entry bundles, and a tree root rebuilt from tiles.

A tile at level L, index N holds up to 256 consecutive hashes of perfect subtrees of height 8L
(level 0: leaf hashes). A full tile has 256; a partial tile `.p/W` has the W (1-255) complete
ones at the tree's right edge. Index N is written in three-digit groups, every group but the
last prefixed with `x` (1234067 -> x001/x234/067). Entry bundles (`tile/entries/N`) hold the
leaves themselves, each as a big-endian uint16 length and the bytes. Tiles never change once
written, so they can be cached forever by any HTTP cache.

See https://c2sp.org/tlog-tiles.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence

from synthspace import transparency_log as tlog
from synthspace.errors import ProofError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_LEN = 32
MAX_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF
_GROUP_LAST = re.compile(r"[0-9]{3}")
_GROUP = re.compile(r"x[0-9]{3}")


class TilePathError(ValueError):
    """A tile path that is not in the tlog-tiles form."""


def encode_index(index: int) -> str:
    if index < 0:
        raise TilePathError("tile index must not be negative")
    digits = f"{index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]` (level "entries" for entry bundles), relative to the log prefix."""
    if not 1 <= width <= TILE_WIDTH:
        raise TilePathError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def parse_tile_path(path: str) -> tuple[int | str, int, int]:
    """(level or "entries", index, width) of a path after `tile/`; raises TilePathError."""
    parts = path.split("/")
    if len(parts) < 2:
        raise TilePathError("tile path needs a level and an index")
    level_s, rest = parts[0], parts[1:]
    level: int | str
    if level_s == "entries":
        level = "entries"
    elif re.fullmatch(r"0|[1-9][0-9]?", level_s) and int(level_s) <= MAX_LEVEL:
        level = int(level_s)
    else:
        raise TilePathError(f"tile level {level_s[:10]!r} is not 0-{MAX_LEVEL} or 'entries'")
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not re.fullmatch(r"[1-9][0-9]{0,2}", w) or int(w) >= TILE_WIDTH:
            raise TilePathError(f"partial tile width {w[:10]!r} is not 1-{TILE_WIDTH - 1}")
        width = int(w)
        rest = rest[:-2] + [rest[-2][:-2]]
    if not rest or len(rest) > 7 or not _GROUP_LAST.fullmatch(rest[-1]) or not all(_GROUP.fullmatch(g) for g in rest[:-1]):
        raise TilePathError("tile index must be 3-digit groups, all but the last prefixed with 'x'")
    index = int("".join(g.lstrip("x") for g in rest))
    if encode_index(index) != "/".join(rest):
        raise TilePathError("tile index is not in its one canonical spelling")
    return level, index, width


def level_count(size: int, level: int) -> int:
    """How many complete hashes of height 8*level a tree of `size` leaves has."""
    return size >> (TILE_HEIGHT * level)


def tile_width_at(size: int, level: int, index: int) -> int:
    """Width of tile (level, index) in a tree of `size` leaves; 0 when the tile is empty."""
    return max(0, min(TILE_WIDTH, level_count(size, level) - index * TILE_WIDTH))


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_BYTES:
            raise ValueError(f"log entry of {len(e)} bytes does not fit an entry bundle")
        out += struct.pack(">H", len(e)) + e
    return bytes(out)


def decode_entry_bundle(data: bytes, expected: int) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ProofError("entry bundle ends inside a length prefix")
        (n,) = struct.unpack(">H", data[pos : pos + 2])
        if pos + 2 + n > len(data):
            raise ProofError("entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    if len(entries) != expected:
        raise ProofError(f"entry bundle holds {len(entries)} entries, expected {expected}")
    return entries


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    if len(data) != width * HASH_LEN:
        raise ProofError(f"tile is {len(data)} bytes, expected {width} hashes of {HASH_LEN}")
    return [data[i : i + HASH_LEN] for i in range(0, len(data), HASH_LEN)]


FetchTile = Callable[[int, int, int], bytes]
"""fetch(level, index, width) -> the tile's bytes."""


class TileReader:
    """Subtree hashes and roots of a tree of `size` leaves, read from its tiles (cached)."""

    def __init__(self, size: int, fetch: FetchTile) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def _hash(self, level: int, idx: int) -> bytes:
        """Hash of the perfect subtree of height 8*level at position idx."""
        t = idx // TILE_WIDTH
        if (level, t) not in self._tiles:
            width = tile_width_at(self.size, level, t)
            if width == 0:
                raise ProofError(f"tree of size {self.size} has no tile {level}/{t}")
            self._tiles[(level, t)] = decode_hash_tile(self._fetch(level, t, width), width)
        tile = self._tiles[(level, t)]
        if idx % TILE_WIDTH >= len(tile):
            raise ProofError(f"tile {level}/{t} does not reach hash {idx}")
        return tile[idx % TILE_WIDTH]

    def perfect(self, height: int, idx: int) -> bytes:
        """Hash of the perfect subtree of 2**height leaves starting at leaf idx * 2**height."""
        level, extra = divmod(height, TILE_HEIGHT)
        hashes = [self._hash(level, (idx << extra) + i) for i in range(1 << extra)]
        while len(hashes) > 1:
            hashes = [tlog.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end) for any range inside the tree (RFC 9162 split)."""
        n = end - start
        if n <= 0:
            return tlog.EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self.perfect(n.bit_length() - 1, start // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return tlog.node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self) -> bytes:
        return self.subtree(0, self.size)

    def leaf_hash(self, index: int) -> bytes:
        return self._hash(0, index)
