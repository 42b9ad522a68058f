"""A lean HTTP/1.1 client for the one thing the openai backend does: POST a JSON body, read the
whole answer, over kept-alive connections.

Why not aiohttp: against a 50 ms endpoint, aiohttp's request machinery (URL objects, header
multidicts, tracing hooks, payload objects, stream readers) was about 0.15 ms of CPU per request,
most of a generated record's client CPU (docs/benchmarks.md). This client writes the request
as one preassembled bytes object and parses the answer with httptools (llhttp, the parser behind
uvicorn and Node.js) on an asyncio Protocol, with nothing in between.

What it does and does not do, deliberately:
- http:// and https:// (TLS with the system's default verification), HTTP/1.1 keep-alive with a
  bounded pool per host; `Connection: close` and read-until-EOF answers are honoured.
- Content-Length and chunked answers; no compression is asked for (no Accept-Encoding), so none
  comes back from a conforming server.
- Bounds on what a hostile endpoint can make us hold: response headers (64 KiB) and body
  (`max_body`, 64 MiB by default); beyond them the connection is closed and the request fails.
- A connection reused from the pool that turns out closed before any byte of its answer arrives
  is retried once on a fresh connection (the usual keep-alive race with a server's idle timeout).
- No proxies, redirects or cookies: an OpenAI-compatible endpoint needs none of them, and the
  aiohttp and httpx clients remain (`client="aiohttp"` / `"httpx"`) for setups that do.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_NO_HEADERS: Mapping[str, str] = {}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


class HTTPProtocolError(ConnectionError):
    """The server's answer was not valid HTTP/1.1, or exceeded a bound."""


class _Target:
    """What a URL gives a request: the pool key, the connection arguments and the request line."""

    __slots__ = ("host", "port", "tls", "key", "head")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not supported; use an API key")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key = (self.host, self.port, self.tls)
        default = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default else f"{host}:{self.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for text in (path, authority):
            if any(c in text for c in "\r\n ") or not text.isascii():
                raise ValueError(f"URL {url!r} has characters a request line cannot carry")
        self.head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"


def check_url(url: str) -> None:
    """Raise ValueError if `url` is not one this client can send a request to."""
    _Target(url)


def check_header(name: str, value: str) -> None:
    """Raise ValueError if a caller may not send this header: a name that is not a token, a
    value that is not printable ASCII (no CR/LF: nothing can split the request), or a field
    the client writes itself."""
    if not _TOKEN.fullmatch(name) or not (value.isascii() and value.isprintable()):
        raise ValueError(f"header {name!r} cannot be sent")
    if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
        raise ValueError(f"header {name!r} is set by the client itself")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._max_body = max_body
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, Mapping[str, str], bytes]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._got_bytes = False
        self._until_eof = False
        self._status = 0
        self.keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for (a second answer, or noise on an idle connection): the
            # connection's framing can no longer be trusted.
            self._abort(HTTPProtocolError("unexpected data from the server"))
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # A bound we raised inside a callback comes back wrapped (HttpParserCallbackError).
            ours = exc.__context__
            self._abort(ours if isinstance(ours, HTTPProtocolError) else HTTPProtocolError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        if self._until_eof and self._waiter is not None and not self._waiter.done():
            self.keep_alive = False
            self._finish()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._until_eof:
                self.keep_alive = False
                self._finish()
            else:
                err = ConnectionResetError("the server closed the connection before answering in full")
                if exc is not None:
                    err.__cause__ = exc
                waiter.set_exception(err)

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            raise HTTPProtocolError("the server sent more than one answer to one request")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HTTPProtocolError(f"response headers exceed {MAX_HEADER_BYTES} bytes")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if 100 <= self._status < 200:
            # An interim answer (we never send Expect, but a server may): wait for the real one.
            self._headers.clear()
            self._header_bytes = 0
            return
        names = {n.lower() for n, _ in self._headers}
        chunked = any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in self._headers)
        self._until_eof = b"content-length" not in names and not chunked and self._status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            raise HTTPProtocolError(f"response body exceeds {self._max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            return
        self.keep_alive = self._parser.should_keep_alive()
        self._finish()

    # ours
    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        headers: Mapping[str, str] = _NO_HEADERS
        if self._status != 200:  # only error answers are read for headers (Retry-After)
            headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in self._headers}
        waiter.set_result((self._status, headers, body))

    def _abort(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[tuple[int, Mapping[str, str], bytes]]:
        self._waiter = loop.create_future()
        self._headers = []
        self._header_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._got_bytes = False
        self._until_eof = False
        self._status = 0
        self.keep_alive = False
        assert self.transport is not None
        self.transport.write(data)
        return self._waiter

    @property
    def got_bytes(self) -> bool:
        return self._got_bytes

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http11Client:
    """POST JSON bodies over pooled HTTP/1.1 connections, at most `limit` open per host."""

    def __init__(self, limit: int, max_body: int = MAX_BODY_BYTES) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._max_body = max_body
        self._idle: dict[tuple[str, int, bool], deque[_Connection]] = {}
        self._slots: dict[tuple[str, int, bool], asyncio.Semaphore] = {}
        self._all: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._heads: dict[tuple[object, str, int], tuple[Mapping[str, str], bytes]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _target(self, url: str) -> _Target:
        t = self._targets.get(url)
        if t is None:
            if len(self._targets) > 64:
                self._targets.clear()
            t = self._targets[url] = _Target(url)
        return t

    def _head(self, t: _Target, headers: Mapping[str, str]) -> bytes:
        """The request line and headers up to the Content-Length value, built once per (URL,
        headers mapping); the caller passes the same mapping every time."""
        cached = self._heads.get((t.key, t.head, id(headers)))
        if cached is not None and cached[0] is headers:
            return cached[1]
        lines = []
        for k, v in headers.items():
            check_header(k, v)
            lines.append(f"{k}: {v}\r\n")
        head = (t.head + "".join(lines) + "Content-Length: ").encode("ascii")
        if len(self._heads) > 64:
            self._heads.clear()
        self._heads[(t.key, t.head, id(headers))] = (headers, head)
        return head

    async def _connect(self, t: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        if t.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        _, conn = await loop.create_connection(
            lambda: _Connection(self._max_body), t.host, t.port,
            ssl=self._ssl if t.tls else None, server_hostname=t.host if t.tls else None,
        )
        self._all.add(conn)
        return conn

    def _idle_conn(self, key: tuple[str, int, bool]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have timed out
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
            self._all.discard(conn)
        return None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body) of one POST. Headers come back only for non-200 answers (as a
        lower-case dict); a 200's are not read. Raises ConnectionError subclasses and
        asyncio.TimeoutError."""
        if self._closed:
            raise RuntimeError("client is closed")
        t = self._target(url)
        data = self._head(t, headers) + b"%d\r\n\r\n" % len(body) + body
        slots = self._slots.get(t.key)
        if slots is None:
            slots = self._slots[t.key] = asyncio.Semaphore(self._limit)
        async with slots:
            async with asyncio.timeout(timeout):
                for fresh_try in (False, True):
                    conn = None if fresh_try else self._idle_conn(t.key)
                    if conn is None:
                        conn = await self._connect(t)
                    try:
                        result = await conn.send(data, asyncio.get_running_loop())
                    except ConnectionResetError:
                        conn.close()
                        self._all.discard(conn)
                        if conn.reused and not conn.got_bytes and not fresh_try:
                            continue  # the server had closed the idle connection: once more, fresh
                        raise
                    except BaseException:
                        conn.close()  # timeout, cancellation or a protocol error: its framing is lost
                        self._all.discard(conn)
                        raise
                    if conn.keep_alive and not conn.closed:
                        self._idle.setdefault(t.key, deque()).append(conn)
                    else:
                        conn.close()
                        self._all.discard(conn)
                    return result
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
