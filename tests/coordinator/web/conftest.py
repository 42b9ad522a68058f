"""A real coordinator on 127.0.0.1 with a small, known catalog for the web-page tests.

`synthspace coordinator serve` runs as a subprocess on a free port, and the catalog is built
through its HTTP API: enrolment with an invite token, RFC 9421-signed multipart publishes
and a signed retraction (the operator org publishes the federated adapter with its keys).

Catalog (titles are what the tests look for):
    clause-qa     acme-legal   dataset          legal-qa  ja_JP  CC-BY-4.0  tags legal, qa
    triage        kobe-health  dataset          triage    en_US  CC0-1.0    tags health
    filtered      acme-legal   derived-dataset  legal-qa  ja_JP  (parent: clause-qa)
    adapter       federation   model-adapter    trained on clause-qa and triage, 2 rounds
    withdrawn     kobe-health  dataset          retracted
and then acme-legal rotates its artifact key (the key that signed clause-qa and filtered is
revoked afterwards). Log: 2 operator keys, 2 keys per org, 5 publishes, 1 retraction, 1 key
added and 1 revoked = 14 entries.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthspace.local_servers import CoordinatorProcess

PG_ADMIN_URL = os.environ.get("SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
XSS = "<script>document.title='pwned'</script>"



def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def safetensors_bytes() -> bytes:
    """A minimal valid safetensors file (one 2x2 float32 LoRA tensor)."""
    payload = struct.pack("<4f", 0.1, -0.2, 0.3, 0.05)
    header = json.dumps(
        {"base_model.lora_A.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, len(payload)]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + payload


@dataclass
class Published:
    artifact_id: str
    title: str
    subject_sha256: str


@dataclass
class WebCatalog:
    url: str
    home: Path
    backend: str
    artifacts: dict[str, Published] = field(default_factory=dict)
    server: CoordinatorProcess | None = None

    def page(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params or None, timeout=30, follow_redirects=False)

    def log_text(self) -> str:
        return self.server.log_text() if self.server else ""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _gates() -> list[Any]:
    from synthspace.lineage import GateResult

    return [
        GateResult(name="seed_leakage", blocking=True, passed=True,
                   metrics={"max_ngram_containment": 0.02, "failing_records": 0}, thresholds={"max_ngram_containment": 0.3}),
        GateResult(name="pii", blocking=True, passed=True, metrics={"hits": 0, "records_with_pii": 0}, thresholds={"max_hits": 0}),
        GateResult(name="quality", blocking=False, passed=True, metrics={"distinct_2": 0.81}),
    ]


def _statement(org: str, key: Any, data: bytes, name: str, **predicate: Any) -> Any:
    from synthspace.keys import key_id
    from synthspace.lineage import LineagePredicate, Producer, Statement, Subject, Times

    now = datetime.now(UTC)
    fields: dict[str, Any] = dict(
        kind="dataset",
        license="CC-BY-4.0",
        producer=Producer(org=org, artifact_key_id=key_id(key), software="synthspace 0.1.0"),
        times=Times(started=now, finished=now, signed=now),
    )
    fields.update(predicate)
    return Statement(
        subject=[Subject(name=name, digest={"sha256": hashlib.sha256(data).hexdigest()})],  # type: ignore[arg-type]
        predicate=LineagePredicate(**fields),
    )


def _invite(home: Path, org: str) -> str:
    """An enrolment token, as `synthspace coordinator invite` makes it (operator side)."""
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import create_invite
    from synthspace.coordinator.settings import CoordinatorSettings

    coord = Coordinator.open(CoordinatorSettings.load(home), migrate=False, verify=False)
    try:
        with coord.session() as session:
            token, _ = create_invite(session, org, 3600)
            session.commit()
    finally:
        coord.close()
    return str(token)


def build_catalog(base_url: str, home: Path) -> dict[str, Published]:
    """Enrol two orgs and publish the test catalog through the coordinator's HTTP API on
    `base_url` (RFC 9421-signed requests, multipart upload, signed retraction). The federated
    adapter is published by the operator org with the operator keys from the coordinator home,
    as the ServerApp does."""
    from synthspace import keys
    from synthspace.artifact import artifact_id, sign_statement
    from synthspace.coordinator.settings import CoordinatorSettings
    from synthspace.http_signatures import Ed25519RequestAuth
    from synthspace.lineage import Generator, Parent, PersonaSource, SeedCommitment, Training

    settings = CoordinatorSettings.load(home)
    out: dict[str, Published] = {}
    identities: dict[str, tuple[Any, httpx.Client]] = {}
    clients: list[httpx.Client] = []
    try:
        for org in ("acme-legal", "kobe-health"):
            art, req = keys.generate_private_key(), keys.generate_private_key()
            r = httpx.post(f"{base_url}/v1/enrol", timeout=30, json={
                "token": _invite(home, org), "org": org,
                "artifact_public_key": keys.public_key_pem(art), "request_public_key": keys.public_key_pem(req),
            })
            assert r.status_code == 201, r.text
            client = httpx.Client(base_url=base_url, auth=Ed25519RequestAuth(req), timeout=60)
            clients.append(client)
            identities[org] = (art, client)
        op_client = httpx.Client(
            base_url=base_url, auth=Ed25519RequestAuth(keys.load_private_key(settings.operator_key_path("request"))), timeout=60
        )
        clients.append(op_client)
        identities[settings.operator_org] = (keys.load_private_key(settings.operator_key_path("artifact")), op_client)

        def publish(label: str, org: str, data: bytes, name: str, **predicate: Any) -> Published:
            key, client = identities[org]
            env = sign_statement(_statement(org, key, data, name, **predicate), key).to_json()
            r = client.post("/v1/artifacts", files={
                "envelope": ("envelope.json", env, "application/json"),
                "data": (name, data, "application/octet-stream"),
            })
            assert r.status_code in (200, 201), r.text
            assert r.json()["artifact_id"] == artifact_id(env)
            pub = Published(r.json()["artifact_id"], predicate["title"], hashlib.sha256(data).hexdigest())
            out[label] = pub
            return pub

        gen = Generator(backend="transformers", model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
                        parameters={"temperature": 0.7})
        personas = PersonaSource(kind="spec", locale="ja_JP", spec_digest="sha256:" + "ab" * 32, count=50)
        seeds = SeedCommitment(root="cd" * 32, count=12)
        qa_rows = [
            {"record_id": f"r{i}", "question": f"第{i}条の解除条件は何ですか?", "answer": f"Clause {i} ends on notice.",
             "persona_id": f"p{i % 3}"}
            for i in range(14)
        ]
        qa_rows[0]["answer"] = XSS  # must be shown as text, never run
        clause = publish("clause-qa", "acme-legal", parquet_bytes(qa_rows), "data.parquet",
                         title="Contract clause QA", description="Synthetic Japanese contract-law questions and answers.",
                         task="legal-qa", locale="ja_JP", tags=["legal", "qa"], record_count=len(qa_rows),
                         generator=gen, persona_source=personas, seed_commitment=seeds, gates=_gates())
        triage_rows = [{"record_id": f"t{i}", "dialogue": f"Patient reports symptom {i}.", "persona_id": "p1"} for i in range(5)]
        triage = publish("triage", "kobe-health", parquet_bytes(triage_rows), "data.parquet",
                         title="Clinic triage dialogues", description="Synthetic nurse triage conversations.",
                         task="triage", locale="en_US", license="CC0-1.0", tags=["health"],
                         record_count=len(triage_rows), generator=gen, gates=_gates())
        filtered_rows = qa_rows[1:6]
        publish("filtered", "acme-legal", parquet_bytes(filtered_rows), "data.parquet",
                title="Filtered clause QA", description="Clause QA filtered to termination clauses.",
                kind="derived-dataset", task="legal-qa", locale="ja_JP", tags=["legal"],
                record_count=len(filtered_rows), gates=_gates(),
                parents=[Parent(artifact_id=clause.artifact_id, digest={"sha256": clause.subject_sha256}, role="source")])  # type: ignore[arg-type]
        publish("adapter", settings.operator_org, safetensors_bytes(), "adapter.safetensors",
                title="Federated legal+triage LoRA", description="LoRA adapter co-trained by two organisations.",
                kind="model-adapter", tags=["lora"], license="Apache-2.0",
                parents=[
                    Parent(artifact_id=clause.artifact_id, digest={"sha256": clause.subject_sha256}, role="training-data"),  # type: ignore[arg-type]
                    Parent(artifact_id=triage.artifact_id, digest={"sha256": triage.subject_sha256}, role="training-data"),  # type: ignore[arg-type]
                ],
                training=Training(strategy="FedAvg", base_model="HuggingFaceTB/SmolLM2-135M-Instruct", rounds=2,
                                  participants=["acme-legal", "kobe-health"],
                                  training_artifacts={"acme-legal": [clause.subject_sha256],
                                                      "kobe-health": [triage.subject_sha256]},
                                  metrics={"train_loss": [2.41, 1.87], "eval_loss": [2.5, 2.02], "final_eval_loss": 2.02}))
        gone = publish("withdrawn", "kobe-health",
                       parquet_bytes([{"record_id": "w0", "text": "old", "persona_id": "p0"}]), "data.parquet",
                       title="Withdrawn intake notes", description="Published by mistake.", task="triage",
                       locale="en_US", tags=["health"], record_count=1, gates=_gates())
        r = identities["kobe-health"][1].post(f"/v1/artifacts/{gone.artifact_id}/retract", json={"reason": "contains a template bug"})
        assert r.status_code == 200, r.text
        # acme-legal rotates its artifact key: the old one is revoked, what it signed stays valid.
        r = identities["acme-legal"][1].post("/v1/orgs/acme-legal/keys", json={
            "purpose": "artifact", "public_key_pem": keys.public_key_pem(keys.generate_private_key()),
            "revoke_previous": True,
        })
        assert r.status_code in (200, 201), r.text
    finally:
        for c in clients:
            c.close()
    return out


def start_server(catalog: WebCatalog, timeout: float = 120.0) -> None:
    # The web catalog's switch comes from the home's settings here, not from this environment.
    drop = ("SYNTHSPACE_DATABASE_URL", "SYNTHSPACE_WEB_CATALOG")
    catalog.server = CoordinatorProcess(catalog.home, log_level=None, drop_env=drop).start(timeout)
    catalog.url = catalog.server.url


@contextmanager
def agreements_required(catalog: WebCatalog, required: bool) -> Iterator[None]:
    """Serve `catalog` with `require_agreements` set as given (the server restarts on its port),
    then restore the home's settings and restart again."""
    from synthspace.coordinator.settings import CoordinatorSettings

    settings = CoordinatorSettings.load(catalog.home)
    before = settings.require_agreements
    assert catalog.server is not None

    def serve(value: bool) -> None:
        settings.require_agreements = value
        settings.save()
        catalog.stop()
        start_server(catalog)

    serve(required)
    try:
        yield
    finally:
        serve(before)


class PgDatabase:
    """One uniquely named PostgreSQL database for this session, dropped at the end."""

    def __init__(self) -> None:
        self.name = f"ss_web_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    def _admin(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError, ProgrammingError

        engine = self._admin()
        try:
            # CREATE DATABASE fails while another session copies template1 (other test
            # sessions on this shared server do); retry briefly instead of failing the run.
            for attempt in range(6):
                try:
                    with engine.connect() as conn:
                        conn.execute(text(f'CREATE DATABASE "{self.name}"'))
                    break
                except (OperationalError, ProgrammingError):
                    if attempt == 5:
                        raise
                    time.sleep(0.5 * (attempt + 1))
        finally:
            engine.dispose()
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"

    def drop(self) -> None:
        from sqlalchemy import text

        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


def _make_catalog(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[WebCatalog]:
    from synthspace.coordinator.home import init_home

    home = tmp_path_factory.mktemp(f"web-{backend}")
    pg = PgDatabase() if backend == "postgres" else None
    url = pg.create() if pg else None
    saved = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    catalog = WebCatalog(url="", home=home, backend=backend)
    try:
        init_home(home, database_url=url, log_origin="web.test/log")
        start_server(catalog)
        catalog.artifacts = build_catalog(catalog.url, home)
        yield catalog
    finally:
        catalog.stop()
        if saved is not None:
            os.environ["SYNTHSPACE_DATABASE_URL"] = saved
        if pg:
            pg.drop()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def web(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebCatalog]:
    """The test catalog served on SQLite and on PostgreSQL."""
    yield from _make_catalog(tmp_path_factory, request.param)


@pytest.fixture(scope="session")
def web_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebCatalog]:
    """The test catalog on SQLite only (browser tests)."""
    yield from _make_catalog(tmp_path_factory, "sqlite")
