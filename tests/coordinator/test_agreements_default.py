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
        owner, aid = _published(srv)
        assert enrol(srv).client().get(f"/v1/artifacts/{aid}/data").status_code == 200
        # The policy in force is still enforced without agreements: a withdrawn one serves
        # nothing (only a purpose term is left unchecked: nobody declared one).
        from synthspace.policy_versions import sign_policy_update, withdrawal_policy

        withdraw = sign_policy_update(
            owner.artifact_key, artifact_id=aid, previous=unsigned_policy(),
            policy=withdrawal_policy(unsigned_policy()), org=owner.name,
        )  # fmt: skip
        r = owner.client().post(f"/v1/artifacts/{aid}/policy", content=withdraw.to_json(), headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        refused = enrol(srv).client().get(f"/v1/artifacts/{aid}/data")
        assert refused.status_code == 403 and refused.json()["error"] == "policy_withdrawn", refused.text
        assert owner.client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    finally:
        srv.stop()


def test_adapter_lists_the_participants_train_agreements(server: CoordinatorServer) -> None:
    """What the ServerApp signs into an adapter's lineage: for each other org's training-data
    parent, the participant's logged `train` agreement; none at all when one is missing."""
    from synthspace.coordinator.federated.adapter_publish import (
        training_agreements,
        training_parents,
    )

    owner, aid = _published(server)
    trainer, idle = enrol(server), enrol(server)
    sha = owner.client().get(f"/v1/artifacts/{aid}").json()["subject_sha256"]
    envelope = sign_agreement(
        trainer.artifact_key, artifact_id=aid, policy_sha256=unsigned_policy().digest(),
        org=trainer.name, purpose="train", action="train",
    ).to_json()
    r = trainer.client().post(
        "/v1/agreements", content=envelope, headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    coord = server.coordinator()
    try:
        with coord.session() as session:
            parents = [p for p in training_parents(session, [sha]) if p.artifact_id == aid]
            assert len(parents) == 1
            refs = training_agreements(session, parents, {trainer.name: [sha], owner.name: [sha]})
            assert refs is not None and len(refs) == 1  # the publisher's own use needs none
            ref = refs[0]
            assert (ref.artifact_id, ref.org, ref.action) == (aid, trainer.name, "train")
            assert (ref.agreement_id, ref.log_index) == (r.json()["agreement_id"], r.json()["log_index"])
            # a participant without a train agreement: no partial list
            assert training_agreements(session, parents, {trainer.name: [sha], idle.name: [sha]}) is None
    finally:
        coord.close()
