"""The coordinator refuses a child whose parents' terms forbid it (policy_forbids,
licence_incompatible): signed forged publishes that bypass the node's own checks, on SQLite
and PostgreSQL."""

from __future__ import annotations

import hashlib
import struct

import pytest

from synthspace.lineage import Parent, Training
from synthspace.policy import Constraint, Rule, UsagePolicy, share_policy
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    publish,
)

pytestmark = pytest.mark.slow


def _publish_parent(org: OrgIdentity, **predicate: object) -> tuple[str, Parent]:
    env, data = build_artifact(org, **predicate)  # type: ignore[arg-type]
    r = publish(org.client(), env, data)
    assert r.status_code == 201, r.text
    aid = r.json()["artifact_id"]
    return aid, Parent(artifact_id=aid, digest={"sha256": hashlib.sha256(data).hexdigest()})  # type: ignore[arg-type]


def test_derive_forbidden_by_parent_policy_is_refused(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    beta = enrol(server)
    try:
        no_derive = UsagePolicy(
            permission=[Rule(action="use")], prohibition=[Rule(action="derive")]
        )
        _, link = _publish_parent(org, policy=no_derive)
        env, data = build_artifact(beta, kind="derived-dataset", parents=[link])
        r = publish(beta.client(), env, data)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "policy_forbids" and "prohibition: derive" in r.text, r.text
        # positive controls: the same parent's own org may derive; a parent sharing derive with beta
        env, data = build_artifact(org, kind="derived-dataset", parents=[link])
        assert publish(org.client(), env, data).status_code == 201
        _, shared = _publish_parent(org, policy=share_policy([beta.name], ["use", "derive"]))
        env, data = build_artifact(beta, kind="derived-dataset", parents=[shared])
        r = publish(beta.client(), env, data)
        assert r.status_code == 201, r.text
        # and a parent signed without any policy (release-1 terms) may still be derived from
        _, unsigned = _publish_parent(org)
        env, data = build_artifact(beta, kind="derived-dataset", parents=[unsigned])
        assert publish(beta.client(), env, data).status_code == 201
    finally:
        beta.close()


def test_child_licence_more_permissive_than_parent_is_refused(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    _, link = _publish_parent(org, license="CC-BY-NC-4.0")
    env, data = build_artifact(org, kind="derived-dataset", parents=[link], license="CC-BY-4.0")
    r = publish(org.client(), env, data)
    assert r.status_code == 422 and r.json()["error"] == "licence_incompatible", r.text
    assert "CC-BY-NC-4.0" in r.text
    env, data = build_artifact(org, kind="derived-dataset", parents=[link], license="CC-BY-NC-4.0")
    assert publish(org.client(), env, data).status_code == 201


def _safetensors() -> bytes:
    return struct.pack("<Q", 2) + b"{}"


def test_adapter_whose_training_parent_forbids_the_rounds_is_refused(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    capped = UsagePolicy(
        permission=[
            Rule(
                action="train",
                constraint=[
                    Constraint(leftOperand="federatedRounds", operator="lteq", rightOperand=2)
                ],
            )
        ]
    )
    _, link = _publish_parent(org, policy=capped)
    training_link = link.model_copy(update={"role": "training-data"})
    beta = enrol(server)
    try:

        def adapter(rounds: int) -> tuple[bytes, bytes]:
            training = Training(
                strategy="FedAvg",
                base_model="m",
                rounds=rounds,
                participants=[beta.name],
                training_artifacts={beta.name: [link.digest.sha256]},
            )
            return build_artifact(
                beta,
                data=_safetensors(),
                kind="model-adapter",
                gates=[],
                record_count=None,
                training=training,
                parents=[training_link],
            )

        r = publish(beta.client(), *adapter(3))
        assert r.status_code == 422 and r.json()["error"] == "policy_forbids", r.text
        assert "federatedRounds lteq 2 (asked: 3)" in r.text
        r = publish(beta.client(), *adapter(2))
        assert r.status_code == 201, r.text
    finally:
        beta.close()
