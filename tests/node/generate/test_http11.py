"""The lean HTTP/1.1 client (backends/http11.py) against scripted servers on 127.0.0.1.

Each test runs a raw asyncio TCP server whose answers are written byte for byte, so framing
(chunked, read-until-EOF, keep-alive), hostile answers (oversized, malformed, doubled) and the
keep-alive race are exercised exactly; the well-behaved path against a real OpenAI-compatible
server is covered by test_openai_backend.py, where http11 is the default client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from synthspace.node.generate.backends.http11 import Http11Client, HTTPProtocolError

Handler = Callable[[int, int, bytes, asyncio.StreamWriter], Awaitable[bool]]  # (conn no, request no on it, request, writer) -> keep open


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


class Server:
    """Counts connections and requests; `handler` writes each answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.open_now = 0
        self.max_open = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no, n = self.connections, 0
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                n += 1
                if not await self.handler(conn_no, n, request, writer):
                    return
        finally:
            self.open_now -= 1
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


Steps = Callable[[Http11Client, str], Awaitable[None]]


def scenario(handler: Handler, steps: Steps, limit: int = 1, **client_kw: int) -> Server:
    """Run `steps(client, url)` against a scripted server; returns the server for its counts."""
    srv = Server(handler)

    async def main() -> None:
        async with srv as url:
            client = Http11Client(limit, **client_kw)
            try:
                await steps(client, url)
            finally:
                await client.close()

    run(main())
    return srv


H = {"content-type": "application/json"}


def test_keep_alive_reuses_one_connection_and_sends_the_exact_request() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b'{"n": %d}' % n))
        return True

    urls: list[str] = []

    async def steps(client: Http11Client, url: str) -> None:
        urls.append(url)
        for i in range(5):
            status, headers, body = await client.post(url, b'{"i": %d}' % i, H, 5)
            assert (status, body) == (200, b'{"n": %d}' % (i + 1))

    srv = scenario(handler, steps, limit=4)
    assert srv.connections == 1
    port = urls[0].split(":")[2].split("/")[0]
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert set(lines[1:]) == {f"Host: 127.0.0.1:{port}".encode(), b"content-type: application/json", b"Content-Length: 8"}
    assert body == b'{"i": 0}'


def test_chunked_and_read_until_close_answers_are_reassembled() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        if conn == 1:
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            return True
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ")
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"the end")
        return False  # close: the end of the body

    async def steps(client: Http11Client, url: str) -> None:
        assert (await client.post(url, b"{}", H, 5))[2] == b"hello world"
        second = Http11Client(1)  # a second client, so a second connection (the first is pooled)
        assert (await second.post(url, b"{}", H, 5))[2] == b"until the end"
        await second.close()

    scenario(handler, steps)


def test_connection_close_is_honoured() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b"{}", b"Connection: close\r\n"))
        return False

    async def steps(client: Http11Client, url: str) -> None:
        for _ in range(3):
            assert (await client.post(url, b"{}", H, 5))[0] == 200

    assert scenario(handler, steps, limit=2).connections == 3


def test_an_idle_connection_the_server_dropped_is_retried_once_fresh() -> None:
    # The server drops every connection's second request without a byte of answer (what a server
    # whose idle timeout fires as our request leaves looks like).
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        if n == 2:
            w.transport.abort()
            return False
        w.write(ok(b'{"conn": %d}' % conn))
        return True

    async def steps(client: Http11Client, url: str) -> None:
        assert (await client.post(url, b"{}", H, 5))[2] == b'{"conn": 1}'
        assert (await client.post(url, b"{}", H, 5))[2] == b'{"conn": 2}'  # conn 1 dropped it: retried on conn 2

    assert scenario(handler, steps).connections == 2


def test_a_fresh_connection_dropped_without_an_answer_fails() -> None:
    # Control for the retry above: only a *reused* connection is retried, so a server that drops
    # every request fails the request (the backend's retry loop decides what happens next).
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.transport.abort()
        return False

    async def steps(client: Http11Client, url: str) -> None:
        with pytest.raises(ConnectionResetError):
            await client.post(url, b"{}", H, 5)

    assert scenario(handler, steps).connections == 1


def test_error_answers_carry_their_headers() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow")
        return True

    async def steps(client: Http11Client, url: str) -> None:
        status, headers, body = await client.post(url, b"{}", H, 5)
        assert (status, headers["retry-after"], body) == (429, "7", b"slow")

    scenario(handler, steps)


@pytest.mark.parametrize("size,fails", [(900, False), (5000, True)])
def test_the_body_bound_holds_even_against_a_lying_content_length(size: int, fails: bool) -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" if fails else ok(b"x" * size)[:-size])
        for _ in range(size // 100):
            w.write(b"x" * 100)
            await w.drain()
        return True

    async def steps(client: Http11Client, url: str) -> None:
        if fails:
            with pytest.raises(HTTPProtocolError, match="exceeds 1000 bytes"):
                await client.post(url, b"{}", H, 5)
        else:
            assert (await client.post(url, b"{}", H, 5))[2] == b"x" * size

    scenario(handler, steps, max_body=1000)


def test_endless_headers_are_refused() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(2000):
            w.write(b"X-Pad-%d: %s\r\n" % (i, b"y" * 60))
            await w.drain()
        return True

    async def steps(client: Http11Client, url: str) -> None:
        with pytest.raises(HTTPProtocolError, match="headers exceed"):
            await client.post(url, b"{}", H, 5)

    scenario(handler, steps)


def test_garbage_and_doubled_answers() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        if conn == 1:
            w.write(b"SMTP ready\r\n\r\n")
        elif conn == 2:  # two answers to one request: the first is used, the connection is not reused
            w.write(ok(b'"first"') + ok(b'"second"'))
        else:
            w.write(ok(b'"third"'))
        return True

    async def steps(client: Http11Client, url: str) -> None:
        with pytest.raises(HTTPProtocolError, match="malformed"):
            await client.post(url, b"{}", H, 5)
        assert (await client.post(url, b"{}", H, 5))[2] == b'"first"'
        await asyncio.sleep(0.05)
        assert (await client.post(url, b"{}", H, 5))[2] == b'"third"'

    assert scenario(handler, steps).connections == 3


def test_timeout_closes_the_connection() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        if conn == 1:
            await asyncio.sleep(10)  # never answers in time
        w.write(ok(b"{}"))
        return True

    async def steps(client: Http11Client, url: str) -> None:
        with pytest.raises(TimeoutError):
            await client.post(url, b"{}", H, 0.2)
        assert (await client.post(url, b"{}", H, 5))[0] == 200  # a new connection, not the stuck one

    assert scenario(handler, steps).connections == 2


def test_at_most_limit_connections_are_open() -> None:
    async def handler(conn: int, n: int, req: bytes, w: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.02)
        w.write(ok(b"{}"))
        return True

    async def steps(client: Http11Client, url: str) -> None:
        results = await asyncio.gather(*(client.post(url, b"{}", H, 5) for _ in range(30)))
        assert all(r[0] == 200 for r in results)

    srv = scenario(handler, steps, limit=3)
    assert srv.max_open == 3 and srv.connections == 3


def test_urls_it_cannot_send_to_are_refused() -> None:
    async def main() -> None:
        client = Http11Client(1)
        for url in ("ftp://h/x", "http:///x", "http://h/a b", "http://h/\r\nX: y"):
            with pytest.raises(ValueError):
                await client.post(url, b"{}", H, 1)

    run(main())


def test_headers_that_would_split_the_request_are_refused() -> None:
    async def main() -> None:
        client = Http11Client(1)
        for headers in ({"x-a": "1\r\nX-Injected: 1"}, {"bad name": "1"}, {"content-length": "5"}, {"x": "é"}):
            with pytest.raises(ValueError):
                await client.post("http://127.0.0.1:1/v1", b"{}", headers, 1)

    run(main())


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_verifies_the_server_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server with a certificate no system CA signed is refused; trusting that certificate
    # (SSL_CERT_FILE, which the default context reads) makes the same request go through, so the
    # refusal above is the verification and not some other failure.
    import ssl

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            writer.write(ok(b'"over tls"'))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main(trusted: bool) -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
        client = Http11Client(1)
        try:
            if trusted:
                assert (await client.post(url, b"{}", H, 5))[1:] == ({}, b'"over tls"')
            else:
                with pytest.raises(ssl.SSLCertVerificationError):
                    await client.post(url, b"{}", H, 5)
        finally:
            await client.close()
            server.close()

    run(main(trusted=False))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    run(main(trusted=True))
