"""Decode what a node sent on the wire, layer by layer, so a privacy search sees plain text.

A recorded connection is split into HTTP requests (Content-Length or chunked bodies). Each body
is decoded recursively: Content-Encoding (gzip, deflate, zstd), multipart/form-data parts,
Parquet files (every cell value after pyarrow decompressed the column chunks), JSON (every
string, and strings that are base64 - a DSSE envelope's payload - decoded again), and URL
escapes in request lines. Every layer is kept with a label saying how it was reached, so a hit
names where the leak was (e.g. `POST /v1/artifacts > multipart part 'data' > parquet cell`).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_DEPTH = 6
B64 = re.compile(rb"^[A-Za-z0-9+/_-]{16,}={0,2}$")


@dataclass(frozen=True)
class Layer:
    label: str
    data: bytes


def _headers(block: bytes) -> tuple[bytes, dict[str, str]]:
    lines = block.split(b"\r\n")
    out: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return lines[0], out


def http_requests(stream: bytes) -> Iterator[tuple[bytes, dict[str, str], bytes]]:
    """(request line, headers, body) of each request on one connection; the rest as one body."""
    pos = 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            yield b"(unparsed)", {}, stream[pos:]
            return
        line, headers = _headers(stream[pos:end])
        pos = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                nl = stream.find(b"\r\n", pos)
                size = int(stream[pos:nl].split(b";")[0], 16)
                pos = nl + 2
                body += stream[pos : pos + size]
                pos += size + 2
                if size == 0:
                    break
            yield line, headers, bytes(body)
        else:
            n = int(headers.get("content-length", "0"))
            yield line, headers, stream[pos : pos + n]
            pos += n


def _multipart(body: bytes, content_type: str) -> Iterator[tuple[str, dict[str, str], bytes]]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return
    sep = b"--" + m.group(1).encode()
    for part in body.split(sep)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        _, headers = _headers(b"x\r\n" + head)
        name = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        yield (name.group(1) if name else "?"), headers, data.removesuffix(b"\r\n")


def _parquet_cells(data: bytes) -> list[bytes]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    cells: list[bytes] = []
    for column in table.columns:
        for value in column.to_pylist():
            if value is not None:
                cells.append(
                    (
                        value
                        if isinstance(value, str)
                        else json.dumps(value, default=str, ensure_ascii=False)
                    ).encode()
                )
    cells += [str(name).encode() for name in table.column_names]
    meta = table.schema.metadata or {}
    cells += [bytes(k) + b"=" + bytes(v) for k, v in meta.items()]
    return cells


def _unzstd(data: bytes) -> bytes:
    import pyarrow as pa

    return bytes(pa.CompressedInputStream(pa.BufferReader(data), "zstd").read())


def _json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_strings(v)


def _b64(text: bytes) -> bytes | None:
    if not B64.match(text):
        return None
    padded = text + b"=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return None


def decode(data: bytes, label: str, content_type: str = "", depth: int = 0) -> Iterator[Layer]:
    """`data` itself and every layer decoded from it."""
    yield Layer(label, data)
    if depth >= MAX_DEPTH or not data:
        return
    if content_type.startswith("multipart/"):
        for name, headers, part in _multipart(data, content_type):
            yield from decode(
                part,
                f"{label} > multipart part {name!r}",
                headers.get("content-type", ""),
                depth + 1,
            )
        return
    if data.startswith(b"PAR1"):
        try:
            cells = _parquet_cells(data)
        except Exception as exc:  # an undecodable Parquet body is itself a finding
            raise AssertionError(
                f"{label}: a Parquet body that pyarrow cannot read: {exc}"
            ) from exc
        for cell in cells:
            yield from decode(cell, f"{label} > parquet cell", "", depth + 1)
        return
    for name, unpack in (("gzip", gzip.decompress), ("zlib", zlib.decompress)):
        if (name == "gzip" and data[:2] == b"\x1f\x8b") or (name == "zlib" and data[:1] == b"\x78"):
            try:
                yield from decode(unpack(data), f"{label} > {name}", "", depth + 1)
                return
            except (OSError, zlib.error, EOFError):
                pass
    if data[:4] == b"\x28\xb5\x2f\xfd":
        yield from decode(_unzstd(data), f"{label} > zstd", "", depth + 1)
        return
    stripped = data.strip()
    if stripped[:1] in (b"{", b"["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if parsed is not None:
            for s in _json_strings(parsed):
                raw = s.encode()
                yield Layer(f"{label} > json string", raw)
                inner = _b64(raw)
                if inner is not None:
                    yield from decode(inner, f"{label} > json string > base64", "", depth + 1)
            return
    inner = _b64(stripped)
    if inner is not None:
        yield from decode(inner, f"{label} > base64", "", depth + 1)


def connection_layers(stream: bytes) -> list[Layer]:
    """Every decoded layer of one recorded client connection."""
    layers: list[Layer] = [Layer("raw connection bytes", stream)]
    for line, headers, body in http_requests(stream):
        request = line.decode("latin-1")
        layers.append(Layer(f"{request} (request line, unescaped)", unquote_to_bytes(line)))
        for name, value in headers.items():
            layers.append(Layer(f"{request} header {name}", unquote_to_bytes(value)))
        ctype = headers.get("content-type", "")
        enc = headers.get("content-encoding", "").lower()
        if enc == "gzip":
            body = gzip.decompress(body)
        elif enc == "deflate":
            body = zlib.decompress(body)
        elif enc == "zstd":
            body = _unzstd(body)
        layers.extend(decode(body, request, ctype))
    return layers


def find_leaks(streams: list[bytes], needles: dict[str, bytes]) -> list[str]:
    """`needle name @ label | label ...` (every layer it was found in) for each needle found."""
    hits: list[str] = []
    all_layers = [layer for stream in streams for layer in connection_layers(stream)]
    for name, needle in needles.items():
        where = sorted({layer.label for layer in all_layers if needle in layer.data})
        if where:
            hits.append(f"{name} @ {' | '.join(where)}")
    return hits
