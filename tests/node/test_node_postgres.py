"""The node's whole path against a coordinator on PostgreSQL (127.0.0.1:5432): enrol, publish,
pull, audit, retract, audit the log. Nothing on the node may depend on the catalog's backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import Coordinator, auditor_for, generate_run, make_node

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_ADMIN_URL = os.environ.get("SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def pg_coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    from sqlalchemy import create_engine, text

    name = f"ss_node_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    coord: Coordinator | None = None
    try:
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        coord = Coordinator.create(tmp_path_factory.mktemp("pg-coordinator"), database_url=url).start()
        yield coord
    finally:
        if coord is not None:
            coord.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_publish_pull_audit_retract_on_postgres(pg_coordinator: Coordinator, tmp_path: Path, fake_llm: Any) -> None:
    from synthspace.node.audit import AuditFailed
    from synthspace.node.catalog import pull
    from synthspace.node.publishing import publish_run, retract

    alpha = make_node(tmp_path, pg_coordinator, "pg-alpha")
    beta = make_node(tmp_path, pg_coordinator, "pg-beta")
    res = publish_run(alpha, generate_run(tmp_path / "run", alpha, fake_llm, limit=6), title="On PostgreSQL")
    report = pull(auditor_for(beta), res.artifact_id, tmp_path / "pulled", purpose="research")
    assert report.ok and (tmp_path / "pulled" / "data.parquet").is_file()
    full = auditor_for(beta).audit_artifact(res.artifact_id)
    assert full.ok, full.to_dict()
    log = auditor_for(beta).audit_log()
    assert log.ok, log.to_dict()
    assert log.counts["publish"] == 1 and log.counts["key-add"] >= 6
    retract(alpha, res.artifact_id, "postgres test over")
    with pytest.raises(AuditFailed, match="retraction"):
        pull(auditor_for(beta), res.artifact_id, tmp_path / "again")
