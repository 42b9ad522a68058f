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


def test_unsigned_oversized_json_body_is_refused_before_parsing(roomy_server: CoordinatorServer) -> None:
    """FastAPI reads a declared JSON body before the signature dependency: only publish may be
    large, every other body is capped at 1 MiB (from Content-Length, or while a chunked body
    streams)."""
    head = (
        b"POST /v1/orgs/victim/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % UPLOAD_DECLARED
    )
    status, body = _answer_after_partial_body(roomy_server, head)
    assert status == 413 and body["error"] == "payload_too_large", body
    chunk = b"[" + b" " * (256 * 1024 - 1)
    chunked = (
        b"POST /v1/orgs/victim/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5
    )
    with socket.create_connection(("127.0.0.1", roomy_server.port), timeout=10) as sock:
        sock.sendall(chunked)  # 1.25 MiB sent, never finished: the server must answer anyway
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


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


# ---- finding 6 and 2c: publishing rules -----------------------------------------------------


def _raw_envelope(ident: OrgIdentity, data: bytes, mutate: object) -> bytes:
    """A correctly signed envelope over a Statement edited as JSON (bypassing client models)."""
    from synthspace.canonical_json import canonicalize
    from synthspace.dsse import INTOTO_PAYLOAD_TYPE, sign
    from tests.coordinator.conftest import make_statement

    doc = json.loads(make_statement(ident, data, record_count=3).to_json_bytes())
    mutate(doc)  # type: ignore[operator]
    return sign(canonicalize(doc), INTOTO_PAYLOAD_TYPE, [ident.artifact_key]).to_json()


@pytest.mark.parametrize(
    "name", ["../evil.parquet", "a/b.parquet", "x\r\nSet-Cookie: a=b", "<b>x</b>.parquet", ".hidden", "a..b", "é.parquet"]
)
def test_unsafe_subject_names_are_refused_at_publish(
    server: CoordinatorServer, org: OrgIdentity, name: str
) -> None:
    from tests.coordinator.conftest import parquet_bytes, publish

    data = parquet_bytes(3)

    def rename(doc: dict) -> None:  # type: ignore[type-arg]
        doc["subject"][0]["name"] = name

    r = publish(org.client(), _raw_envelope(org, data, rename), data)
    assert r.status_code == 422 and r.json()["error"] == "invalid_statement", r.text
    assert "plain file name" in r.json()["detail"]


def test_subject_name_rule_is_shared_with_pull() -> None:
    from synthspace.lineage import check_subject_name
    from synthspace.node.audit import BundleError, _safe_name

    for bad in ("../x", "a\nb", "<i>", ".x"):
        with pytest.raises(ValueError):
            check_subject_name(bad)
        with pytest.raises(BundleError):
            _safe_name(bad)
    assert _safe_name("data.parquet") == check_subject_name("data.parquet") == "data.parquet"


@pytest.mark.parametrize(
    "field,value",
    [("tags", [f"t{i}" for i in range(5000)]), ("tags", ["x" * 100_000]), ("task", "x" * 100_000),
     ("license", "x" * 100_000), ("locale", "x" * 1000)],
)
def test_oversized_tags_and_facets_are_refused(
    server: CoordinatorServer, org: OrgIdentity, field: str, value: object
) -> None:
    from tests.coordinator.conftest import parquet_bytes, publish

    data = parquet_bytes(3)

    def inflate(doc: dict) -> None:  # type: ignore[type-arg]
        doc["predicate"][field] = value

    r = publish(org.client(), _raw_envelope(org, data, inflate), data)
    assert r.status_code == 422 and r.json()["error"] == "invalid_statement", r.text[:300]


def test_retracted_parent_is_refused_at_publish(server: CoordinatorServer, org: OrgIdentity) -> None:
    from tests.coordinator.conftest import build_artifact, publish

    client = org.client()
    envelope, data = build_artifact(org)
    parent = publish(client, envelope, data).json()["artifact_id"]
    import hashlib

    link = {"artifact_id": parent, "digest": {"sha256": hashlib.sha256(data).hexdigest()}, "role": "source"}
    child_env, child_data = build_artifact(org, kind="derived-dataset", parents=[link])
    r = client.post(f"/v1/artifacts/{parent}/retract", json={"reason": "leaked seed text"})
    assert r.status_code == 200, r.text
    r = publish(client, child_env, child_data)
    assert r.status_code == 422 and r.json()["error"] == "parent_retracted", r.text
    # positive control: with an active parent the same kind of child publishes
    envelope, data = build_artifact(org)
    other = publish(client, envelope, data).json()["artifact_id"]
    link = {"artifact_id": other, "digest": {"sha256": hashlib.sha256(data).hexdigest()}, "role": "source"}
    assert publish(client, *build_artifact(org, kind="derived-dataset", parents=[link])).status_code == 201


@pytest.mark.parametrize("name", ["evil\n", "evil\r\n", "Evil", "-evil", "e" * 64, ""])
def test_invalid_org_names_get_no_invite(server: CoordinatorServer, name: str) -> None:
    import subprocess
    import sys

    from synthspace.api_models import is_org_name

    assert not is_org_name(name)
    run = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "coordinator", "invite", name, "--home", str(server.home)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0 and "sst_" not in run.stdout, run.stdout
    assert is_org_name("evil") and is_org_name("e" * 63)


def test_valid_org_name_gets_an_invite_positive_control(server: CoordinatorServer) -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "coordinator", "invite", "good-org", "--home", str(server.home)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0 and run.stdout.startswith("sst_"), run.stderr


# ---- finding 6: partial uploads of a killed server are swept at start-up -------------------

_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from synthspace.coordinator.blobs import BlobStore

def chunks():
    yield b"partial upload " * 1000
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-upload: the temp file stays behind
    print("writing", flush=True)
    sys.stdin.readline()  # a live writer: holds its temp file until told to finish
    yield b"rest"

BlobStore(Path(sys.argv[1])).put_chunks(chunks())
"""


def test_startup_sweeps_partial_uploads_of_a_killed_writer_but_not_a_live_one(
    tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases
) -> None:
    import subprocess
    import sys

    srv = make_server(tmp_path_factory, pg_databases, "sqlite")
    blobs = srv.settings().blobs_dir
    srv.stop()
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(blobs), "die"])
    assert killed.returncode == -9
    orphans = list((blobs / "tmp").iterdir())
    assert len(orphans) == 1  # what the killed writer left (fresh: an age rule would keep it)
    live = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(blobs), "live"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "writing"
        srv.start()  # start-up sweeps blobs/tmp
        left = list((blobs / "tmp").iterdir())
        assert orphans[0] not in left and len(left) == 1  # the live writer's file stays
        assert live.stdin is not None
        live.stdin.write("\n")
        live.stdin.flush()
        assert live.wait(timeout=60) == 0
        assert list((blobs / "tmp").iterdir()) == []  # renamed into place by its writer
    finally:
        if live.poll() is None:
            live.kill()
        srv.stop()


# ---- finding 3: no 5xx on the public web pages (not in /openapi.json, so not schemathesis) --

NASTY = ["\u00b2", "\u0661\u0662", "-1", "9" * 30, "\x00", "<script>", "1e9", " 5", "%ff", "a" * 3000, "[]", "NaN"]
WEB_PATHS = ["/catalog", "/catalog/log", "/catalog/orgs", "/catalog/federated", "/catalog/artifacts/x", "/catalog/orgs/x"]
WEB_PARAMS = ["per_page", "before", "cursor", "sort", "status", "kind", "q", "org", "tag", "task", "locale", "license"]


@pytest.mark.slow
def test_public_web_pages_never_answer_5xx(server: CoordinatorServer) -> None:
    """Every page x parameter x nasty value: 4xx or 2xx, never 5xx or a dropped connection.
    ('\u00b2'.isdigit() is True but int() refuses it: that was a 500 on per_page and before.)"""
    bad, sent = [], 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in WEB_PATHS:
            for name in WEB_PARAMS:
                for value in NASTY:
                    try:
                        r = client.get(path, params={name: value})
                    except httpx.TransportError as exc:
                        bad.append((path, name, value[:20], repr(exc)))
                        continue
                    sent += 1
                    if r.status_code >= 500:
                        bad.append((path, name, value[:20], r.status_code))
        for value in [*NASTY, "0" * 64, "..", "x%00"]:
            for template in ("/catalog/artifacts/{}", "/catalog/artifacts/{}/lineage.svg", "/catalog/orgs/{}"):
                try:
                    r = client.get(template.format(value))
                except httpx.InvalidURL:
                    continue
                sent += 1
                if r.status_code >= 500:
                    bad.append((template, value[:20], r.status_code))
    assert sent > 800 and not bad, bad[:10]


def test_catalog_page_stays_small_with_rows_stored_before_the_bounds(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    """5,000 long tags and a 100 KB task on a row stored before publishing bounded them (written
    straight into the database): the public list and artifact pages stay small."""
    from sqlalchemy import update

    from synthspace.coordinator.models import Artifact, ArtifactTag
    from tests.coordinator.conftest import build_artifact, publish

    envelope, data = build_artifact(org)
    artifact_id = publish(org.client(), envelope, data).json()["artifact_id"]
    coord = server.coordinator()
    try:
        with coord.session() as session:
            # PostgreSQL's columns cap these (task 200, tag 100 characters); SQLite stores anything
            task = "t" * (100_000 if server.backend == "sqlite" else 200)
            session.execute(update(Artifact).where(Artifact.artifact_id == artifact_id).values(task=task))
            index = session.get(Artifact, artifact_id).log_index
            session.add_all(
                ArtifactTag(artifact_id=artifact_id, tag=f"bulk-{i:05d}-" + "x" * 80, log_index=index)
                for i in range(5000)
            )
            session.commit()
    finally:
        coord.close()
    for path in ("/catalog", f"/catalog/artifacts/{artifact_id}"):
        r = httpx.get(f"{server.url}{path}", params={"org": org.name} if path == "/catalog" else None)
        assert r.status_code == 200
        at = r.text.find("t" * 1000)
        assert at < 0 and "bulk-00000" not in r.text, (path, r.text[max(0, at - 300):at])
        assert len(r.content) < 256 * 1024, (path, len(r.content))


def test_signed_upload_larger_than_the_in_memory_spool_publishes(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    """The body streams through the Content-Digest check into a spooled file (1 MiB in memory,
    the rest on disk) and is replayed to the endpoint: a 1.5 MiB upload still publishes."""
    import io
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthspace.coordinator.api.deps import SPOOL_IN_MEMORY_BYTES
    from tests.coordinator.conftest import build_artifact, publish

    rows = 1500
    table = pa.table({"record_id": [f"r{i}" for i in range(rows)], "text": [os.urandom(512).hex() for _ in range(rows)]})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none")
    data = buf.getvalue()
    assert SPOOL_IN_MEMORY_BYTES < len(data) < 2 * 1024 * 1024
    envelope, data = build_artifact(org, rows=rows, data=data)
    r = publish(org.client(), envelope, data)
    assert r.status_code == 201, r.text
    fetched = org.client().get(f"/v1/artifacts/{r.json()['artifact_id']}/data")
    assert fetched.status_code == 200 and fetched.content == data
