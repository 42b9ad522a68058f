"""Derivation and training respect the parents' terms: `policy.permits`, the licence table and
the acceptance rule `acceptance_lineage.parent_problems` (coordinator at publish, auditor's parent_policy)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthspace.acceptance_lineage import parent_problems
from synthspace.licences import TIERS, incompatibility, most_restrictive, rank
from synthspace.lineage import (
    DigestSet,
    LineagePredicate,
    Parent,
    Producer,
    Statement,
    Subject,
    Times,
    Training,
)
from synthspace.policy import (
    Constraint,
    Rule,
    UsagePolicy,
    default_policy,
    enforced_policy,
    permits,
    share_policy,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_permits_names_the_failing_term() -> None:
    no_derive = UsagePolicy(permission=[Rule(action="use")], prohibition=[Rule(action="derive")])
    d = permits(no_derive, "derive", "beta", publisher="acme", now=NOW)
    assert not d.permitted and d.reason == "prohibition: derive for members"
    assert permits(no_derive, "derive", "acme", publisher="acme", now=NOW).permitted  # publisher

    shared = share_policy(["beta", "gamma"], ["train"], expires=NOW + timedelta(days=1))
    d = permits(shared, "train", "delta", publisher="acme", now=NOW)
    assert not d.permitted and "assignee: 'delta' is not among ['beta', 'gamma']" in d.reason
    assert permits(shared, "train", "beta", publisher="acme", now=NOW).permitted
    d = permits(shared, "train", "beta", publisher="acme", now=NOW + timedelta(days=2))
    assert (
        not d.permitted
        and "expired" in d.reason
        and (NOW + timedelta(days=1)).isoformat() in d.reason
    )

    fed = UsagePolicy(
        permission=[
            Rule(
                action="train",
                constraint=[
                    Constraint(leftOperand="federatedRounds", operator="lteq", rightOperand=2),
                    Constraint(leftOperand="federatedOnly", operator="eq", rightOperand=True),
                ],
            )
        ]
    )
    assert permits(
        fed, "train", "beta", publisher="acme", now=NOW, rounds=2, federated=True
    ).permitted
    d = permits(fed, "train", "beta", publisher="acme", now=NOW, rounds=3, federated=True)
    assert not d.permitted and "federatedRounds lteq 2 (asked: 3)" in d.reason
    d = permits(fed, "train", "beta", publisher="acme", now=NOW, rounds=1, federated=False)
    assert not d.permitted and "federatedOnly" in d.reason


def test_unsigned_statements_keep_release_one_derivation_signed_default_does_not() -> None:
    assert permits(enforced_policy(None), "derive", "beta", publisher="acme", now=NOW).permitted
    assert not permits(
        enforced_policy(None), "redistribute", "beta", publisher="acme", now=NOW
    ).permitted
    signed_default = enforced_policy(default_policy())
    assert not permits(signed_default, "derive", "beta", publisher="acme", now=NOW).permitted
    assert permits(signed_default, "train", "beta", publisher="acme", now=NOW).permitted


@pytest.mark.parametrize(
    ("child", "parent", "ok"),
    [
        ("CC-BY-4.0", "CC-BY-4.0", True),
        ("Apache-2.0", "CC0-1.0", True),  # same tier
        ("CC-BY-SA-4.0", "CC-BY-4.0", True),  # more restrictive child
        ("CC-BY-NC-4.0", "CC-BY-SA-4.0", True),
        ("LicenseRef-acme-internal", "CC-BY-NC-4.0", True),
        ("cc-by-nc-4.0", "CC-BY-NC-4.0", True),  # SPDX ids are case-insensitive
        ("CC-BY-4.0", "CC-BY-SA-4.0", False),
        ("MIT", "CC-BY-NC-4.0", False),
        ("CC-BY-NC-4.0", "LicenseRef-acme-internal", False),
        ("CC-BY-4.0", "proprietary", False),
        ("GPL-3.0-only", "GPL-3.0-only", True),  # unknown: only equal
        ("GPL-3.0-only", "MIT", False),
        ("MIT", "GPL-3.0-only", False),
    ],
)
def test_licence_table(child: str, parent: str, ok: bool) -> None:
    why = incompatibility(child, parent)
    assert (why is None) is ok, why
    if not ok:
        assert child in why and parent in why  # type: ignore[operator]


def test_licence_ranks_and_most_restrictive() -> None:
    assert [rank(ids[0]) for _, ids in TIERS] == [0, 1, 2, 3]
    assert rank("LicenseRef-x") == 3 and rank("GPL-3.0-only") is None
    assert most_restrictive(["CC-BY-4.0", "CC-BY-NC-4.0", "MIT"]) == "CC-BY-NC-4.0"
    assert most_restrictive(["GPL-3.0-only", "MIT"]) is None


# ---- the acceptance rule -------------------------------------------------------------------


def _statement(
    org: str, *, kind: str = "dataset", payload: str = "x", **predicate: Any
) -> Statement:
    fields: dict[str, Any] = dict(
        kind=kind,
        title=f"{kind} of {org}",
        producer=Producer(org=org, artifact_key_id="k" * 64, software="t"),
        times=Times(started=NOW, finished=NOW, signed=NOW),
    )
    fields.update(predicate)
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return Statement(
        subject=[Subject(name="data.parquet", digest=DigestSet(sha256=digest))],
        predicate=LineagePredicate(**fields),
    )


def _link(aid: str, parent: Statement, role: str) -> Parent:
    return Parent(artifact_id=aid, digest=parent.subject[0].digest, role=role)  # type: ignore[arg-type]


PID = "a" * 64


def test_derived_child_of_a_parent_that_prohibits_derive_is_refused() -> None:
    no_derive = UsagePolicy(permission=[Rule(action="use")], prohibition=[Rule(action="derive")])
    parent = _statement("acme", policy=no_derive)
    child = _statement("beta", kind="derived-dataset", parents=[_link(PID, parent, "source")])
    problems = parent_problems(child, {PID: parent}, at=NOW)
    assert [p.code for p in problems] == ["policy_forbids"]
    assert "prohibition: derive" in problems[0].message and "'beta'" in problems[0].message
    assert problems[0].check == "parent_policy"
    # positive controls: the publisher itself, a policy naming beta, an unsigned parent
    own = _statement("acme", kind="derived-dataset", parents=[_link(PID, parent, "source")])
    assert parent_problems(own, {PID: parent}, at=NOW) == []
    allowed = _statement("acme", policy=share_policy(["beta"], ["use", "derive"]))
    assert parent_problems(child, {PID: allowed}, at=NOW) == []
    assert parent_problems(child, {PID: _statement("acme")}, at=NOW) == []


def test_expiry_is_judged_at_publication_time() -> None:
    parent = _statement("acme", policy=share_policy(["beta"], ["derive"], expires=NOW))
    child = _statement("beta", kind="derived-dataset", parents=[_link(PID, parent, "source")])
    assert parent_problems(child, {PID: parent}, at=NOW) == []
    late = parent_problems(child, {PID: parent}, at=NOW + timedelta(seconds=1))
    assert [p.code for p in late] == ["policy_forbids"] and "expired" in late[0].message


def test_adapter_training_parents_checked_per_participant_and_rounds() -> None:
    capped = UsagePolicy(
        permission=[
            Rule(
                action="train",
                assignee=["beta", "gamma"],
                constraint=[
                    Constraint(leftOperand="federatedRounds", operator="lteq", rightOperand=2)
                ],
            )
        ]
    )
    parent = _statement("acme", policy=capped)
    sha = parent.subject[0].digest.sha256

    def adapter(rounds: int, who: str) -> Statement:
        training = Training(
            strategy="FedAvg",
            base_model="m",
            rounds=rounds,
            participants=[who],
            training_artifacts={who: [sha]},
        )
        return _statement(
            "operator",
            kind="model-adapter",
            payload="adapter",
            gates=[],
            training=training,
            parents=[_link(PID, parent, "training-data")],
        )

    assert parent_problems(adapter(2, "beta"), {PID: parent}, at=NOW) == []
    over = parent_problems(adapter(3, "beta"), {PID: parent}, at=NOW)
    assert [p.code for p in over] == [
        "policy_forbids"
    ] and "federatedRounds lteq 2 (asked: 3)" in over[0].message
    outsider = parent_problems(adapter(2, "delta"), {PID: parent}, at=NOW)
    assert [p.code for p in outsider] == ["policy_forbids"] and "'delta'" in outsider[0].message


def test_licence_incompatible_child_is_refused() -> None:
    parent = _statement("acme", license="CC-BY-NC-4.0")
    child = _statement(
        "beta", kind="derived-dataset", license="CC-BY-4.0", parents=[_link(PID, parent, "source")]
    )
    problems = parent_problems(child, {PID: parent}, at=NOW)
    assert [p.code for p in problems] == ["licence_incompatible"] and "CC-BY-NC-4.0" in problems[
        0
    ].message
    ok = child.model_copy(
        update={"predicate": child.predicate.model_copy(update={"license": "CC-BY-NC-4.0"})}
    )
    assert parent_problems(ok, {PID: parent}, at=NOW) == []
