"""Agreements are required by default (issue 16): on a coordinator started with default settings
(SQLite and PostgreSQL), another org's data is refused without a logged agreement (403
agreement_required), served under one for any action that needs the bytes (here `derive`),
and `require_agreements = false` switches the requirement off."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from synthspace.agreement import sign_agreement
from synthspace.log_entries import AgreementEntry, parse_entry
from synthspace.policy import unsigned_policy
from tests.coordinator.conftest import (
    BACKENDS,
    CoordinatorServer,
    build_artifact,
    enrol,
    make_server,
    publish,
)

pytestmark = pytest.mark.slow


def _published(server: CoordinatorServer) -> tuple[Any, str]:
    owner = enrol(server)
    envelope, data = build_artifact(owner)
    r = publish(owner.client(), envelope, data)
    assert r.status_code == 201, r.text
    return owner, r.json()["artifact_id"]


def test_default_settings_require_an_agreement(server: CoordinatorServer) -> None:
    from synthspace.coordinator.settings import CoordinatorSettings

    assert CoordinatorSettings.model_fields["require_agreements"].default is True
    owner, aid = _published(server)
    consumer = enrol(server)
    r = consumer.client().get(f"/v1/artifacts/{aid}/data")
    assert r.status_code == 403 and r.json()["error"] == "agreement_required", r.text
    assert owner.client().get(f"/v1/artifacts/{aid}/data").status_code == 200  # the publisher
    envelope = sign_agreement(
        consumer.artifact_key, artifact_id=aid, policy_sha256=unsigned_policy().digest(),
        org=consumer.name, purpose="derive", action="derive",
    ).to_json()
    r = consumer.client().post(
        "/v1/agreements", content=envelope, headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    entry = parse_entry(base64.b64decode(r.json()["entry_leaf"]))
    assert isinstance(entry, AgreementEntry) and (entry.org, entry.action) == (consumer.name, "derive")
    served = consumer.client().get(f"/v1/artifacts/{aid}/data")
    assert served.status_code == 200 and served.content == owner.client().get(f"/v1/artifacts/{aid}/data").content
    # another org is still refused: the agreement is the consumer's own
    assert enrol(server).client().get(f"/v1/artifacts/{aid}/data").status_code == 403


@pytest.mark.parametrize("backend", BACKENDS)
def test_require_agreements_false_serves_without_one(
    backend: str, tmp_path_factory: pytest.TempPathFactory, pg_databases: Any
) -> None:
    srv = make_server(tmp_path_factory, pg_databases, backend, require_agreements=False)
    try:
        _, aid = _published(srv)
        assert enrol(srv).client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    finally:
        srv.stop()
