"""A bounded preview of an artifact's Parquet data: schema and the first rows as strings.

Reads only the first record batch(es) it needs through pyarrow, so a multi-gigabyte artifact
costs the same to preview as a small one. Values are returned as plain (unescaped) strings,
clipped in length; the template escapes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from synthspace.coordinator.parquet_bounds import ParquetBoundsError, check_parquet_pages

MAX_CELL_CHARS = 300
PREVIEW_MAX_PAGE_BYTES = 4 * 1024 * 1024  # per page (so per cell), uncompressed
PREVIEW_MAX_BYTES = 16 * 1024 * 1024  # all pages decoded for the preview, uncompressed
PREVIEW_MAX_LEAF_COLUMNS = 256
_READ_BUFFER = 64 * 1024


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


def _clipped(column: Any) -> Any:
    """Clip text and binary cells inside Arrow, before any Python value is built."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.utf8_slice_codeunits(column, 0, MAX_CELL_CHARS + 1)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pc.binary_length(column)  # shown as a length: "<n bytes>" needs no bytes
    return column


def preview_parquet(source: BinaryIO, max_rows: int = 10) -> DataPreview:
    """First `max_rows` rows of a Parquet file; a non-Parquet or damaged file gives `error`.

    Bounded: the page headers of what would be decoded are checked first (no page above
    PREVIEW_MAX_PAGE_BYTES, at most PREVIEW_MAX_BYTES in all), column chunks are read through a
    small buffer, and cells are clipped in Arrow before becoming Python strings.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        size = source.seek(0, 2)
        source.seek(0)
        pf = pq.ParquetFile(source, buffer_size=_READ_BUFFER, pre_buffer=False)
        meta = pf.metadata
        schema = pf.schema_arrow
        preview = DataPreview(
            columns=list(schema.names),
            types=[str(t) for t in schema.types],
            total_rows=meta.num_rows,
        )
        if max_rows <= 0:
            return preview
        groups, rows_seen = 0, 0
        while groups < meta.num_row_groups and rows_seen < max_rows:
            rows_seen += meta.row_group(groups).num_rows
            groups += 1
        try:
            if meta.num_columns > PREVIEW_MAX_LEAF_COLUMNS:
                raise ParquetBoundsError(f"more than {PREVIEW_MAX_LEAF_COLUMNS} leaf columns")
            sizes = check_parquet_pages(
                source, meta, size, PREVIEW_MAX_PAGE_BYTES, range(groups), stop_after_values=max_rows
            )
            if sizes.total_uncompressed > PREVIEW_MAX_BYTES:
                raise ParquetBoundsError(
                    f"the first rows span {sizes.total_uncompressed} bytes uncompressed "
                    f"(preview limit {PREVIEW_MAX_BYTES})"
                )
        except ParquetBoundsError as exc:
            preview.error = f"no preview: {exc}"
            return preview
        for batch in pf.iter_batches(batch_size=max_rows):
            clipped = [_clipped(batch.column(i)) for i in range(batch.num_columns)]
            binary = [
                pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
                for t in batch.schema.types
            ]
            for r in range(batch.num_rows):
                row = []
                for col, is_binary in zip(clipped, binary, strict=True):
                    value = col[r].as_py()
                    row.append(f"<{value} bytes>" if is_binary and value is not None else _cell(value))
                preview.rows.append(row)
                if len(preview.rows) >= max_rows:
                    return preview
        return preview
    except (pa.ArrowException, OSError, ValueError) as exc:
        return DataPreview(error=f"cannot read the data as Parquet: {exc}")
