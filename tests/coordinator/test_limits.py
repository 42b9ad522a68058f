"""Transport limits: a stalled body times out with 408, oversize bodies get 413, both as JSON."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.coordinator.conftest import CoordinatorServer, PgDatabases, make_server


@pytest.fixture(scope="module")
def strict_server(
    tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases
) -> Iterator[CoordinatorServer]:
    srv = make_server(
        tmp_path_factory, pg_databases, "sqlite", request_timeout_s=1.0, max_upload_bytes=4096
    )
    yield srv
    srv.stop()


def _raw(
    server: CoordinatorServer, request: bytes, pause_after: float = 0.0
) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request)
        if pause_after:
            time.sleep(pause_after)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) == 0:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body.decode()) if body.strip().startswith(b"{") else {}


def test_stalled_body_gets_408(strict_server: CoordinatorServer) -> None:
    request = (
        b"POST /v1/enrol HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 200\r\n\r\n{"token": '
    )
    status, body = _raw(strict_server, request)
    assert status == 408 and body["error"] == "request_timeout"  # the server, not the client, gave up


def test_declared_oversize_body_gets_413_without_reading_it(
    strict_server: CoordinatorServer,
) -> None:
    request = b"POST /v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\n\r\n"
    status, body = _raw(strict_server, request)
    assert status == 413 and body["error"] == "payload_too_large"


def test_chunked_oversize_body_gets_413(strict_server: CoordinatorServer) -> None:
    chunk = b"a" * 3000
    request = (
        b"POST /v1/enrol HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(chunk)
        + chunk
        + b"\r\n"
        + b"%x\r\n" % len(chunk)
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    status, body = _raw(strict_server, request)
    assert status == 413 and body["error"] == "payload_too_large"
