"""Size bounds of a Parquet file read from its page headers, before anything is decompressed.

The footer's sizes are written by the publisher and can lie; what a reader allocates when it
decompresses a page is the `uncompressed_page_size` in that page's own header. This module walks
the page headers of column chunks (a minimal Thrift compact-protocol reader, no decoding of
values) and refuses any page larger than a limit. A value never spans pages, so the page limit
bounds every cell as well. Publishing checks every page against `MAX_PUBLISH_PAGE_BYTES`; the
web preview checks the pages it is about to decode against its own, smaller limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from synthspace.errors import SynthspaceError

MAX_PUBLISH_PAGE_BYTES = 16 * 1024 * 1024  # uncompressed bytes of one page (so of one cell)
MAX_PAGES_PER_CHUNK = 100_000
MAX_PAGE_HEADER_BYTES = 256 * 1024
_MAX_DEPTH = 16


class ParquetBoundsError(SynthspaceError):
    """A Parquet file exceeds a size bound or its page headers cannot be read."""


@dataclass(frozen=True)
class PageSizes:
    pages: int
    largest_page: int  # uncompressed bytes
    total_uncompressed: int


class _Truncated(ParquetBoundsError):
    """The header runs past the bytes read: read more, up to MAX_PAGE_HEADER_BYTES."""


class _Compact:
    """Just enough of the Thrift compact protocol to read two i32 fields and skip the rest."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.i = buf, 0

    def byte(self) -> int:
        if self.i >= len(self.buf):
            raise _Truncated("a Parquet page header is truncated or too long")
        b = self.buf[self.i]
        self.i += 1
        return b

    def varint(self) -> int:
        buf, i, end = self.buf, self.i, len(self.buf)
        out, shift = 0, 0
        while True:
            if i >= end:
                raise _Truncated("a Parquet page header is truncated or too long")
            b = buf[i]
            i += 1
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                self.i = i
                return out
            shift += 7
            if shift > 63:
                raise ParquetBoundsError("a Parquet page header has an overlong varint")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, ftype: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ParquetBoundsError("a Parquet page header nests too deeply")
        if ftype in (1, 2):  # booleans carry their value in the type nibble
            return
        if ftype == 3:
            self.byte()
        elif ftype in (4, 5, 6):
            self.varint()
        elif ftype == 7:
            self.i += 8
        elif ftype == 8:
            length = self.varint()  # (not `self.i += self.varint()`: that reads i before the call)
            self.i += length
        elif ftype in (9, 10):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                if etype in (1, 2):
                    self.byte()
                else:
                    self.skip(etype, depth + 1)
        elif ftype == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip(kv >> 4, depth + 1)
                    self.skip(kv & 0x0F, depth + 1)
        elif ftype == 12:
            self.struct(depth + 1)
        else:
            raise ParquetBoundsError(f"a Parquet page header has an unknown field type {ftype}")
        if self.i > len(self.buf):
            raise _Truncated("a Parquet page header is truncated or too long")

    def struct(self, depth: int, want: tuple[int, ...] = (), nested: tuple[int, ...] = ()) -> dict[int, int]:
        """Read a struct, returning its i32 fields in `want`; for struct fields in `nested`, their
        field 1 (num_values of a data page header) is returned under the struct's field id."""
        found: dict[int, int] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return found
            delta, ftype = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            last = fid
            if fid in want and ftype == 5:
                found[fid] = self.zigzag()
            elif fid in nested and ftype == 12:
                inner = self.struct(depth + 1, want=(1,))
                if 1 in inner:
                    found[fid] = inner[1]
            else:
                self.skip(ftype, depth)


# Bytes read for a page header, widened while it does not fit: a header is usually under 100
# bytes, and reading the most a header may take (256 KiB) for every page cost a copy of that
# much per page, so a file of many small pages made the check copy gigabytes.
_HEADER_WINDOWS = (1024, 64 * 1024, MAX_PAGE_HEADER_BYTES)


def _read_page_header(source: BinaryIO, offset: int, file_size: int) -> tuple[int, int, int, int]:
    """(header length, uncompressed size, compressed size, values) of the page header at `offset`;
    values is 0 for a dictionary or index page."""
    available = max(0, file_size - offset)
    for window in _HEADER_WINDOWS:
        size = min(window, available)
        source.seek(offset)
        reader = _Compact(source.read(size))
        try:
            fields = reader.struct(0, want=(2, 3), nested=(5, 8))
            break
        except _Truncated:
            if size == available or window == MAX_PAGE_HEADER_BYTES:
                raise
    if 2 not in fields or 3 not in fields:
        raise ParquetBoundsError(f"the Parquet page header at byte {offset} lacks its sizes")
    uncompressed, compressed = fields[2], fields[3]
    if uncompressed < 0 or compressed < 0:
        raise ParquetBoundsError(f"the Parquet page header at byte {offset} has a negative size")
    return reader.i, uncompressed, compressed, max(fields.get(5, 0), fields.get(8, 0), 0)


def column_chunk_pages(
    source: BinaryIO, column: Any, file_size: int, max_page_bytes: int, stop_after_values: int | None = None
) -> PageSizes:
    """Walk one column chunk's page headers; ParquetBoundsError on a page above the limit.

    With `stop_after_values`, stop once the data pages walked hold that many values (a reader
    after the first rows decodes no further)."""
    starts = [o for o in (column.dictionary_page_offset, column.data_page_offset) if o]
    if not starts:
        raise ParquetBoundsError("a Parquet column chunk has no page offset")
    pos = min(starts)
    end = pos + int(column.total_compressed_size)
    if pos < 4 or end > file_size:
        raise ParquetBoundsError("a Parquet column chunk lies outside the file")
    pages = largest = total = values = 0
    while pos < end and (stop_after_values is None or values < stop_after_values):
        pages += 1
        if pages > MAX_PAGES_PER_CHUNK:
            raise ParquetBoundsError(f"a Parquet column chunk has more than {MAX_PAGES_PER_CHUNK} pages")
        header_len, uncompressed, compressed, page_values = _read_page_header(source, pos, file_size)
        values += page_values
        if uncompressed > max_page_bytes:
            raise ParquetBoundsError(
                f"a Parquet page of column {column.path_in_schema!r} holds {uncompressed} bytes "
                f"uncompressed; the limit is {max_page_bytes} (a page, so any cell, must be smaller)"
            )
        largest, total = max(largest, uncompressed), total + uncompressed
        pos += header_len + compressed
    return PageSizes(pages=pages, largest_page=largest, total_uncompressed=total)


def check_parquet_pages(
    source: BinaryIO,
    metadata: Any,
    file_size: int,
    max_page_bytes: int = MAX_PUBLISH_PAGE_BYTES,
    row_groups: range | None = None,
    stop_after_values: int | None = None,
) -> PageSizes:
    """Every page (of the chosen row groups) must be at most `max_page_bytes` uncompressed.

    `metadata` is the pyarrow FileMetaData; `source` is seeked, and left at offset 0.
    """
    pages = largest = total = 0
    try:
        for rg in row_groups if row_groups is not None else range(metadata.num_row_groups):
            group = metadata.row_group(rg)
            for c in range(group.num_columns):
                sizes = column_chunk_pages(
                    source, group.column(c), file_size, max_page_bytes, stop_after_values
                )
                pages += sizes.pages
                largest = max(largest, sizes.largest_page)
                total += sizes.total_uncompressed
    finally:
        source.seek(0)
    return PageSizes(pages=pages, largest_page=largest, total_uncompressed=total)
