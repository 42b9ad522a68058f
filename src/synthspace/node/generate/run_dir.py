"""The run directory on disk: Parquet shards written atomically, and reading them back.

Layout: `manifest.json`, `shards/part-NNNNN.parquet`. A shard is written to a dot-prefixed temp
name, fsynced, then renamed, so a file named `part-*.parquet` is always complete; the shards are
the source of truth for which records exist (the manifest is refreshed from them on resume).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthspace.atomic_files import atomic_output
from synthspace.node.generate.errors import RunDirError
from synthspace.node.generate.manifest import ShardInfo, load_manifest

SHARDS = "shards"
_SHARD = re.compile(r"^part-(\d{5,})\.parquet$")
PRIVATE_COLUMNS = {
    "_seed_index": "int64",
    "_k": "int64",
    "_attempts": "int64",
    "_temperature": "float64",
    "_top_p": "float64",
    "_completion_tokens": "int64",
}


def arrow_schema(output_fields: Sequence[Any]) -> Any:
    """Shard schema: record_id, the recipe's output fields, persona_id, then `_` node-private columns."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "enum": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "string_list": pa.list_(pa.string()),
    }
    fields = [pa.field("record_id", pa.string(), nullable=False)]
    fields += [pa.field(f.name, types[f.type]) for f in output_fields]
    fields.append(pa.field("persona_id", pa.string()))
    fields += [pa.field(name, getattr(pa, t)()) for name, t in PRIVATE_COLUMNS.items()]
    return pa.schema(fields)


def shard_paths(run_dir: str | Path) -> list[Path]:
    """Complete shard files in write order."""
    d = Path(run_dir) / SHARDS
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if _SHARD.match(p.name)), key=lambda p: int(_SHARD.match(p.name).group(1)))  # type: ignore[union-attr]


def remove_partial_shards(run_dir: str | Path) -> int:
    """Delete temp files a killed run left behind; returns how many."""
    d = Path(run_dir) / SHARDS
    n = 0
    if d.is_dir():
        for p in d.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)
                n += 1
    return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def scan_shards(run_dir: str | Path) -> tuple[list[ShardInfo], set[str]]:
    """(shard infos, every record id present) from the files on disk."""
    infos: list[ShardInfo] = []
    ids: set[str] = set()
    paths = shard_paths(run_dir)
    if not paths:  # a fresh run: pyarrow loads later, on the shard writer's thread
        return infos, ids
    import pyarrow.parquet as pq

    for p in paths:
        try:
            col = pq.read_table(p, columns=["record_id"]).column("record_id").to_pylist()
        except Exception as exc:
            raise RunDirError(f"shard {p} is unreadable ({exc}); move it aside and rerun to regenerate its records") from None
        dup = ids.intersection(col)
        if dup:
            raise RunDirError(f"shard {p} repeats {len(dup)} record ids already in earlier shards")
        ids.update(col)
        infos.append(ShardInfo(name=p.name, rows=len(col), sha256=_sha256(p)))
    return infos, ids


def write_shard(run_dir: str | Path, rows: Sequence[dict[str, Any]], schema: Any) -> ShardInfo:
    """Write rows as the next shard: temp name, fsync, rename, fsync the directory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = Path(run_dir) / SHARDS
    d.mkdir(parents=True, exist_ok=True)
    existing = shard_paths(run_dir)
    seq = int(_SHARD.match(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
    final = d / f"part-{seq:05d}.parquet"
    table = pa.Table.from_pylist(list(rows), schema=schema)
    with atomic_output(final) as f:
        pq.write_table(table, f, compression="zstd")
    return ShardInfo(name=final.name, rows=table.num_rows, sha256=_sha256(final))


def read_records(run_dir: str | Path, include_private: bool = True) -> Any:
    """All records of a run as a pandas DataFrame (every complete shard, in write order).

    `include_private=False` drops the node-private `_` columns, as publishing does.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = shard_paths(run_dir)
    if paths:
        table = pa.concat_tables([pq.read_table(p) for p in paths])
    else:
        m = load_manifest(run_dir)
        cols = ["record_id", *m.recipe.output_fields, "persona_id", *PRIVATE_COLUMNS]
        table = pa.table({c: pa.array([], type=pa.string()) for c in cols})
    df = table.to_pandas()
    if not include_private:
        df = df[[c for c in df.columns if not c.startswith("_")]]
    return df


class RunLock:
    """An exclusive lock on a run directory; the OS releases it if the process dies (even kill -9)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirError(f"{self.path.parent} is in use by another generate process") from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
