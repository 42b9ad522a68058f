"""A bounded preview of an artifact's Parquet data: schema and the first rows as strings.

Reads only the first record batch(es) it needs through pyarrow, so a multi-gigabyte artifact
costs the same to preview as a small one. Values are returned as plain (unescaped) strings,
clipped in length; the template escapes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MAX_CELL_CHARS = 300


@dataclass
class DataPreview:
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    error: str | None = None


def _cell(value: Any) -> str:
    if value is None:
        return "\u2205"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "\u2026"


def preview_parquet(source: BinaryIO, max_rows: int = 10) -> DataPreview:
    """First `max_rows` rows of a Parquet file; a non-Parquet or damaged file gives `error`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
        schema = pf.schema_arrow
        preview = DataPreview(
            columns=list(schema.names),
            types=[str(t) for t in schema.types],
            total_rows=pf.metadata.num_rows,
        )
        if max_rows <= 0:
            return preview
        for batch in pf.iter_batches(batch_size=max_rows):
            for row in batch.to_pylist():
                preview.rows.append([_cell(row.get(c)) for c in preview.columns])
                if len(preview.rows) >= max_rows:
                    return preview
        return preview
    except (pa.ArrowException, OSError, ValueError) as exc:
        return DataPreview(error=f"cannot read the data as Parquet: {exc}")
