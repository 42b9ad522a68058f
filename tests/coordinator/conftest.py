"""Fixtures for coordinator tests: real uvicorn servers (subprocesses on 127.0.0.1) on SQLite
and on PostgreSQL, enrolled org identities with signing clients, and artifact builders."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthspace.local_servers import CoordinatorProcess

PG_ADMIN_URL = os.environ.get(
    "SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# ---- databases ------------------------------------------------------------------------------


class PgDatabases:
    """Creates uniquely named databases for this test session and drops them at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.prefix = f"ss_coord_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    def _admin(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def new(self) -> str:
        from sqlalchemy import text

        name = f"{self.prefix}_{len(self.created)}"
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append(name)
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop_all(self) -> None:
        from sqlalchemy import text

        if not self.created:
            return
        engine = self._admin()
        with engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


def database_url_for(backend: str, pg: PgDatabases) -> str | None:
    return pg.new() if backend == "postgres" else None


# ---- servers --------------------------------------------------------------------------------



def init_home(home: Path, database_url: str | None, **overrides: Any) -> Any:
    from synthspace.coordinator.home import init_home as _init

    env_before = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    try:
        return _init(home, database_url=database_url, log_origin="test.synthspace/log", **overrides)
    finally:
        if env_before is not None:
            os.environ["SYNTHSPACE_DATABASE_URL"] = env_before


@dataclass
class CoordinatorServer(CoordinatorProcess):
    """`synthspace coordinator serve` as a real subprocess on 127.0.0.1 (local_servers)."""

    backend: str = "sqlite"

    def settings(self) -> Any:
        from synthspace.coordinator.settings import CoordinatorSettings

        return CoordinatorSettings.load(self.home)

    def coordinator(self) -> Any:
        """An in-process Coordinator on the same home and database (for invites, checks)."""
        from synthspace.coordinator.runtime import Coordinator

        return Coordinator.open(self.settings(), migrate=False, verify=False)

    def invite(self, org: str, ttl_s: int = 3600) -> str:
        from synthspace.coordinator.services.orgs import create_invite

        coord = self.coordinator()
        try:
            with coord.session() as session:
                token, _ = create_invite(session, org, ttl_s)
        finally:
            coord.close()
        return token


def make_server(
    tmp_path_factory: pytest.TempPathFactory, pg: PgDatabases, backend: str, **overrides: Any
) -> CoordinatorServer:
    home = tmp_path_factory.mktemp(f"coord-{backend}")
    init_home(home, database_url_for(backend, pg), **overrides)
    return CoordinatorServer(home=home, backend=backend).start()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PgDatabases,
) -> Iterator[CoordinatorServer]:
    srv = make_server(
        tmp_path_factory, pg_databases, request.param, max_upload_bytes=2 * 1024 * 1024
    )
    try:
        yield srv
    finally:
        srv.stop()


# ---- org identities -------------------------------------------------------------------------


@dataclass
class OrgIdentity:
    name: str
    artifact_key: Any
    request_key: Any
    base_url: str
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: Any = None) -> httpx.Client:
        from synthspace.http_signatures import Ed25519RequestAuth

        c = httpx.Client(
            base_url=self.base_url, auth=Ed25519RequestAuth(key or self.request_key), timeout=60.0
        )
        self._clients.append(c)
        return c

    @property
    def artifact_key_id(self) -> str:
        from synthspace.keys import key_id

        return str(key_id(self.artifact_key))

    def close(self) -> None:
        for c in self._clients:
            c.close()

    @classmethod
    def operator(cls, settings: Any, base_url: str = "http://unused") -> OrgIdentity:
        """The operator org that `coordinator init` set up, with its keys from the home."""
        from synthspace import keys

        return cls(
            settings.operator_org,
            keys.load_private_key(settings.operator_key_path("artifact")),
            keys.load_private_key(settings.operator_key_path("request")),
            base_url,
        )


def unique_org(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def enrol(
    server: CoordinatorServer, name: str | None = None, supernode_pem: str | None = None
) -> OrgIdentity:
    from synthspace import keys

    name = name or unique_org()
    ident = OrgIdentity(name, keys.generate_private_key(), keys.generate_private_key(), server.url)
    body: dict[str, Any] = {
        "token": server.invite(name),
        "org": name,
        "artifact_public_key": keys.public_key_pem(ident.artifact_key),
        "request_public_key": keys.public_key_pem(ident.request_key),
    }
    if supernode_pem is not None:
        body["supernode_public_key"] = supernode_pem
    r = httpx.post(f"{server.url}/v1/enrol", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return ident


@pytest.fixture
def org(server: CoordinatorServer) -> Iterator[OrgIdentity]:
    ident = enrol(server)
    yield ident
    ident.close()


# ---- artifacts ------------------------------------------------------------------------------


def parquet_bytes(rows: int = 3, salt: str = "") -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "record_id": [f"r{i}{salt}" for i in range(rows)],
            "question": [f"What is clause {i}? {salt}" for i in range(rows)],
            "answer_score": [float(i) / 2 for i in range(rows)],
            "persona_id": [f"p{i % 2}" for i in range(rows)],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def passing_gates() -> list[Any]:
    from synthspace.lineage import GateResult

    return [
        GateResult(
            name="seed_leakage", blocking=True, passed=True, metrics={"max_containment": 0.01, "failing_records": 0}
        ),
        GateResult(name="pii", blocking=True, passed=True, metrics={"hits": 0, "records_with_pii": 0}),
    ]


def make_statement(ident: OrgIdentity, data: bytes, **predicate: Any) -> Any:
    import hashlib

    from synthspace.lineage import LineagePredicate, Producer, Statement, Subject, Times

    now = datetime.now(UTC)
    fields: dict[str, Any] = dict(
        kind="dataset",
        title=f"Synthetic legal QA {uuid.uuid4().hex[:6]}",
        description="Synthetic question/answer pairs about contract clauses.",
        license="CC-BY-4.0",
        tags=["legal", "qa"],
        task="legal-qa",
        locale="ja_JP",
        record_count=None,
        producer=Producer(
            org=ident.name, artifact_key_id=ident.artifact_key_id, software="synthspace 0.1.0"
        ),
        gates=passing_gates(),
        times=Times(started=now, finished=now, signed=now),
    )
    fields.update(predicate)
    return Statement(
        subject=[Subject(name="data.parquet", digest={"sha256": hashlib.sha256(data).hexdigest()})],  # type: ignore[arg-type]
        predicate=LineagePredicate(**fields),
    )


def build_artifact(
    ident: OrgIdentity, rows: int = 3, key: Any = None, data: bytes | None = None, **predicate: Any
) -> tuple[bytes, bytes]:
    """(envelope JSON bytes, Parquet bytes) signed by the org's artifact key."""
    from synthspace.artifact import sign_statement

    data = data if data is not None else parquet_bytes(rows, salt=uuid.uuid4().hex[:8])
    predicate.setdefault("record_count", rows)
    statement = make_statement(ident, data, **predicate)
    return sign_statement(statement, key or ident.artifact_key).to_json(), data


def publish(client: httpx.Client, envelope: bytes, data: bytes) -> httpx.Response:
    return client.post(
        "/v1/artifacts",
        files={
            "envelope": ("envelope.json", envelope, "application/json"),
            "data": ("data.parquet", data, "application/octet-stream"),
        },
    )


@pytest.fixture(params=BACKENDS)
def coordinator(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> Iterator[Any]:
    """An in-process Coordinator (no HTTP) on a fresh home, per backend."""
    from synthspace.coordinator.runtime import Coordinator

    settings = init_home(tmp_path / "home", database_url_for(request.param, pg_databases))
    coord = Coordinator.open(settings)
    yield coord
    coord.close()


# ---- publishes ready for the sequencer ------------------------------------------------------


def prepared_publishes(
    coord: Any,
    org: str,
    n: int,
    *,
    title: Any = lambda i: f"t{i}",
    description: Any = lambda i: "",
    tags: Any = lambda i: ["a", "b"],
) -> list[Any]:
    """n verified publishes of `org` (signed by its artifact key), ready for the sequencer (not
    yet logged); `title`, `description` and `tags` give each one's by its number."""
    from sqlalchemy import select

    from synthspace.coordinator.models import OrgKey
    from synthspace.coordinator.sequencer import PreparedPublish
    from synthspace.log_entries import PublishEntry, entry_bytes

    with coord.session() as session:
        key_id = str(
            session.execute(
                select(OrgKey.key_id).where(OrgKey.org_name == org, OrgKey.purpose == "artifact")
            ).scalar_one()
        )
    items = []
    for i in range(n):
        aid = f"{i:02d}" + "ab" * 31
        now = datetime.now(UTC)
        entry = PublishEntry(time=now, org=org, artifact_id=aid, subject_sha256="cd" * 32,
                             envelope_sha256="ef" * 32, key_id=key_id)  # fmt: skip
        items.append(
            PreparedPublish(
                artifact_id=aid, org=org, leaf=entry_bytes(entry), logged_at=now,
                row={"artifact_id": aid, "org_name": org, "key_id": key_id, "kind": "dataset",
                     "title": title(i), "description": description(i), "license": "CC0-1.0",
                     "task": None, "locale": None, "record_count": 1, "subject_name": "d.parquet",
                     "subject_sha256": "cd" * 32, "size_bytes": 1, "envelope": b"{}",
                     "envelope_sha256": "ef" * 32, "statement": {}, "signed_at": now,
                     "published_at": now, "visible_to_all": True},
                tags=tags(i),
            )  # fmt: skip
        )
    return items


def leading_sequencer(coord: Any, timeout: float = 30.0) -> Any:
    """`coord`'s sequencer, started, once it holds the role (on PostgreSQL, the advisory lock)."""
    seq = coord.start_sequencer()
    deadline = time.monotonic() + timeout
    while not seq.is_leader and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seq.is_leader, "the sequencer did not take the role"
    return seq


def submit_concurrently(seq: Any, items: list[Any]) -> dict[str, Any]:
    """Submit every item from a thread of its own at once: artifact id -> Outcome, or the
    exception its submit raised."""
    results: dict[str, Any] = {}

    def go(p: Any) -> None:
        try:
            results[p.artifact_id] = seq.submit(p)
        except Exception as exc:  # the caller asserts on it
            results[p.artifact_id] = exc

    threads = [threading.Thread(target=go, args=(p,)) for p in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
