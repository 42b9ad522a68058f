"""Record and decode what a SuperNode sends to the SuperLink.

`TlsRecordingProxy` sits between a SuperNode and the SuperLink on 127.0.0.1: it terminates TLS
with the SuperLink's own certificate (issued by the federation CA the node trusts), records the
plaintext the node sends, and forwards it over a second TLS connection to the SuperLink.

`decoded_leaves` turns a recording into searchable bytes: the transport first - HTTP/1.1 requests
with protobuf bodies (Flower 1.41's SuperNode speaks REST here: `POST /v1/fleet/...`), or HTTP/2
frames -> DATA per stream -> gRPC length-prefixed messages - then every length-delimited protobuf
field, recursively, without a schema (so Flower's message, record and object-store payloads are all reached) -> Flower's
inflatable-object bodies (an ASCII header up to a NUL, then protobuf) -> NumPy .npy payloads
(string arrays decoded to text) and UTF-32 runs (how a NumPy unicode array stores text).
"""

from __future__ import annotations

import io
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class TlsRecordingProxy:
    def __init__(self, upstream: tuple[str, int], cert: Path, key: Path, ca: Path) -> None:
        self.upstream = upstream
        self.server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_ctx.load_cert_chain(str(cert), str(key))
        self.server_ctx.set_alpn_protocols(["h2"])
        self.client_ctx = ssl.create_default_context(cafile=str(ca))
        self.client_ctx.set_alpn_protocols(["h2"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._sent: list[bytearray] = []
        self._pumps: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> TlsRecordingProxy:
        self._accept.start()
        return self

    def sent_bytes(self) -> list[bytes]:
        with self._lock:
            return [bytes(b) for b in self._sent]

    def stop(self) -> None:
        """Stop accepting; each connection's pump notices within a poll and closes its own
        sockets (closing an SSL socket another thread is reading aborts the interpreter)."""
        self._stopped.set()
        self._listener.close()
        with self._lock:
            pumps = list(self._pumps)
        for t in pumps:
            t.join(timeout=10)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            with self._lock:
                self._pumps.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.server_ctx.wrap_socket(raw, server_side=True)
            upstream = self.client_ctx.wrap_socket(
                socket.create_connection(self.upstream), server_hostname=self.upstream[0]
            )
        except (OSError, ssl.SSLError):
            raw.close()
            return
        buf = bytearray()
        with self._lock:
            self._sent.append(buf)
        try:
            self._pump(client, upstream, buf)
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass

    def _pump(self, client: ssl.SSLSocket, upstream: ssl.SSLSocket, record: bytearray) -> None:
        """Both directions in this one thread: OpenSSL objects must not be read and written
        (or closed) from two threads at once."""
        peer = {client: upstream, upstream: client}
        for s in peer:
            s.setblocking(False)
        with selectors.DefaultSelector() as sel:
            for s in peer:
                sel.register(s, selectors.EVENT_READ)
            while not self._stopped.is_set():
                pending = [s for s in peer if s.pending()]  # decrypted already, not read yet
                ready = [key.fileobj for key, _ in sel.select(timeout=0 if pending else 0.2)]
                ready += [s for s in pending if s not in ready]
                for src in ready:
                    assert isinstance(src, ssl.SSLSocket)
                    try:
                        data = src.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        continue  # only part of a TLS record has arrived
                    except (OSError, ssl.SSLError):
                        return
                    if not data:
                        return
                    if src is client:
                        with self._lock:
                            record.extend(data)
                    dst = peer[src]
                    try:
                        dst.setblocking(True)
                        dst.sendall(data)
                        dst.setblocking(False)
                    except (OSError, ssl.SSLError):
                        return


def http2_streams(data: bytes) -> dict[int, bytes]:
    """DATA payloads per stream of a client-side HTTP/2 byte stream."""
    if data.startswith(PREFACE):
        data = data[len(PREFACE) :]
    streams: dict[int, bytearray] = {}
    pos = 0
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos : pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        stream = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        payload = data[pos + 9 : pos + 9 + length]
        pos += 9 + length
        if ftype == 0:  # DATA
            if flags & 0x8:  # PADDED
                pad = payload[0]
                payload = payload[1 : len(payload) - pad]
            streams.setdefault(stream, bytearray()).extend(payload)
    return {k: bytes(v) for k, v in streams.items()}


def grpc_messages(body: bytes) -> Iterator[bytes]:
    pos = 0
    while pos + 5 <= len(body):
        n = int.from_bytes(body[pos + 1 : pos + 5], "big")
        yield body[pos + 5 : pos + 5 + n]
        pos += 5 + n


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def protobuf_fields(buf: bytes) -> list[bytes] | None:
    """Length-delimited field payloads of `buf` if it parses as a protobuf message, else None."""
    out: list[bytes] = []
    pos = 0
    try:
        while pos < len(buf):
            key, pos = _varint(buf, pos)
            wire, field = key & 7, key >> 3
            if field == 0:
                return None
            if wire == 0:
                _, pos = _varint(buf, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                n, pos = _varint(buf, pos)
                if pos + n > len(buf):
                    return None
                out.append(buf[pos : pos + n])
                pos += n
            else:
                return None
    except ValueError:
        return None
    return out if pos == len(buf) else None


def _npy_text(blob: bytes) -> list[bytes]:
    import numpy as np

    try:
        arr = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception:  # not (a complete) .npy
        return []
    if arr.dtype.kind in "US":
        return [str(v).encode() for v in arr.ravel()]
    return []


def _utf32_runs(blob: bytes) -> list[bytes]:
    """Text stored as UTF-32-LE (NumPy 'U' arrays), at each of the 4 alignments."""
    out: list[bytes] = []
    for shift in range(4):
        chunk = blob[shift:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        if len(chunk) < 64:
            continue
        text = chunk.decode("utf-32-le", errors="replace")
        runs = [r for r in text.split("\ufffd") if len(r) >= 8]
        out += [r.encode("utf-8", errors="ignore") for r in runs]
    return out


def decoded_leaves(recordings: list[bytes], max_depth: int = 12) -> list[bytes]:
    """Every byte string reachable by decoding the recorded client->SuperLink traffic."""
    leaves: list[bytes] = []
    todo: list[tuple[bytes, int]] = []
    from tests.node.wire_decoding import http_requests

    for rec in recordings:
        leaves.append(rec)
        if rec.startswith(PREFACE):
            for body in http2_streams(rec).values():
                todo += [(m, 0) for m in grpc_messages(body)]
            continue
        for line, headers, body in http_requests(rec):
            leaves.append(line)
            if headers.get("content-encoding", "").lower() == "gzip":
                import gzip

                body = gzip.decompress(body)
            todo.append((body, 0))
    while todo:
        blob, depth = todo.pop()
        leaves.append(blob)
        leaves += _npy_text(blob)
        leaves += _utf32_runs(blob)
        if depth >= max_depth:
            continue
        nul = blob.find(b"\x00", 0, 256)
        if nul > 0 and blob[:nul].isascii():  # Flower inflatable object: "<Type> <children> <len>\0<body>"
            todo.append((blob[nul + 1 :], depth + 1))
        fields = protobuf_fields(blob)
        if fields:
            todo += [(f, depth + 1) for f in fields if f]
    return leaves
