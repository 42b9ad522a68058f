"""Issue 14 regressions against a real coordinator on 127.0.0.1: each case was a 5xx, an
unbounded read or an accepted forgery on the code before the fix."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from synthspace.http_signatures import sign_request
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    PgDatabases,
    enrol,
    make_server,
)

UPLOAD_DECLARED = 200 * 1024 * 1024
SENT_BEFORE_ANSWER = 64 * 1024


@pytest.fixture(scope="module")
def roomy_server(
    tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases
) -> Iterator[CoordinatorServer]:
    """Default upload limit (256 MiB), so a 200 MiB body passes the size check."""
    srv = make_server(tmp_path_factory, pg_databases, "sqlite")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def roomy_org(roomy_server: CoordinatorServer) -> Iterator[OrgIdentity]:
    ident = enrol(roomy_server)
    yield ident
    ident.close()


def _answer_after_partial_body(server: CoordinatorServer, head: bytes) -> tuple[int, dict[str, str]]:
    """Send `head` and SENT_BEFORE_ANSWER body bytes, then stop sending and read the answer.

    The answer arrives although the client sent only SENT_BEFORE_ANSWER of the declared bytes:
    so the server decided from the headers, reading at most what was sent.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b"\0" * SENT_BEFORE_ANSWER)
        data = b""
        while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1].rstrip().endswith(b"}"):
            chunk = sock.recv(65536)  # times out (test error) if the server waits for the body
            if not chunk:
                break
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), json.loads(body)


def test_unsigned_oversized_upload_is_refused_from_the_headers(
    roomy_server: CoordinatorServer,
) -> None:
    head = (
        b"POST /v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XX\r\n"
        b"Content-Length: %d\r\n\r\n" % UPLOAD_DECLARED
    )
    status, body = _answer_after_partial_body(roomy_server, head)
    assert status == 401 and body["error"] == "signature_required", body


def test_forged_signature_upload_is_refused_from_the_headers(
    roomy_server: CoordinatorServer, roomy_org: OrgIdentity
) -> None:
    signed = sign_request("POST", f"{roomy_server.url}/v1/artifacts", b"other", roomy_org.request_key)
    sig = bytearray(base64.b64decode(signed["Signature"].split("=", 1)[1].strip(":")))
    sig[0] ^= 1
    forged = f"sig1=:{base64.b64encode(bytes(sig)).decode()}:"
    head = (
        b"POST /v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XX\r\n"
        + f"Content-Digest: {signed['Content-Digest']}\r\n"
        f"Signature-Input: {signed['Signature-Input']}\r\nSignature: {forged}\r\n".encode()
        + b"Content-Length: %d\r\n\r\n" % UPLOAD_DECLARED
    )
    status, body = _answer_after_partial_body(roomy_server, head)
    assert status == 401 and "does not verify" in body["detail"], body


def _cursor(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


BAD_CURSORS = [
    _cursor({"s": "newest", "k": [2**63]}),
    _cursor({"s": "newest", "k": [2**64 + 5]}),
    _cursor({"s": "newest", "k": [True]}),
    _cursor({"s": "newest", "k": [-1]}),
    _cursor({"s": "newest", "k": [1.5]}),
    _cursor({"s": "newest", "k": ["1"]}),
    _cursor({"s": "newest", "k": [[1]]}),
    _cursor({"s": "newest", "k": {"a": 1}}),
    _cursor({"s": "newest", "k": []}),
    _cursor({"s": "newest"}),
    _cursor(["s", "k"]),
    _cursor("newest"),
    _cursor(None),
    _cursor({"s": "title", "k": ["a\x00b", 1]}),
    _cursor({"s": "title", "k": ["\ud800", 1]}),
    _cursor({"s": "title", "k": ["a", 2**63]}),
    _cursor({"s": "title", "k": [1, 1]}),
    _cursor({"s": "newest", "k": [1], "x": 0}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    base64.urlsafe_b64encode(b"[" * 700).decode(),
    "%%%",
]


def test_malformed_cursors_are_400_on_the_api(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    for cursor in BAD_CURSORS:
        for sort in ("newest", "title"):
            r = client.get("/v1/artifacts", params={"cursor": cursor, "sort": sort})
            assert r.status_code == 400 and r.json()["error"] == "invalid_cursor", (cursor, r.text)
    # positive control: a cursor the server made still pages
    assert client.get("/v1/artifacts", params={"cursor": _cursor({"s": "newest", "k": [5]})}).status_code == 200


def test_malformed_cursors_are_400_on_the_public_catalog(server: CoordinatorServer) -> None:
    for cursor in BAD_CURSORS:
        for sort in ("newest", "title"):
            r = httpx.get(f"{server.url}/catalog", params={"cursor": cursor, "sort": sort})
            assert r.status_code == 400, (cursor, sort, r.status_code)
    assert httpx.get(f"{server.url}/catalog", params={"cursor": _cursor({"s": "newest", "k": [5]})}).status_code == 200


@pytest.mark.parametrize("part_head", [b"[]", b"no colon here", b"\x00:\x00", b": empty name"])
def test_malformed_multipart_part_headers_are_400(
    server: CoordinatorServer, org: OrgIdentity, part_head: bytes
) -> None:
    body = b"--XX\r\n" + part_head + b"\r\n\r\nhello\r\n--XX--\r\n"
    r = org.client().post(
        "/v1/artifacts", content=body, headers={"content-type": "multipart/form-data; boundary=XX"}
    )
    assert 400 <= r.status_code < 500, r.text
