"""Usage policies (synthspace ODRL profile): evaluation, restriction-only updates, lineage, JSON-LD."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from synthspace.policy import (
    Constraint,
    Rule,
    UsagePolicy,
    UseRequest,
    decide,
    default_policy,
    may_see,
    restriction_violations,
    share_policy,
    to_jsonld,
    unsigned_policy,
    visible_orgs,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _req(org: str, action: str, **kw: object) -> UseRequest:
    return UseRequest(org=org, action=action, time=NOW, **kw)  # type: ignore[arg-type]


def test_default_policy_members_use_train_evaluate_no_redistribution() -> None:
    p = default_policy()
    for action in ("use", "train", "evaluate"):
        assert decide(p, _req("beta", action), publisher="acme").permitted
    for action in ("derive", "redistribute"):
        d = decide(p, _req("beta", action), publisher="acme")
        assert not d.permitted and action in d.reason
    assert "prohibition" in decide(p, _req("beta", "redistribute"), publisher="acme").reason
    assert decide(p, _req("acme", "redistribute"), publisher="acme").permitted  # publisher
    assert visible_orgs(p) is None and may_see(p, "anyone", publisher="acme")


def test_share_policy_assignees_and_expiry() -> None:
    p = share_policy(["beta", "gamma"], ["train", "evaluate"], expires=NOW + timedelta(days=1))
    assert decide(p, _req("beta", "train"), publisher="acme").permitted
    assert not decide(p, _req("beta", "use"), publisher="acme").permitted
    outsider = decide(p, _req("delta", "train"), publisher="acme")
    assert not outsider.permitted and "delta" in outsider.reason
    assert not may_see(p, "delta", publisher="acme") and may_see(p, "gamma", publisher="acme")
    assert visible_orgs(p) == ["beta", "gamma"]
    late = UseRequest(org="beta", action="train", time=NOW + timedelta(days=2))
    d = decide(p, late, publisher="acme")
    assert not d.permitted and "expired" in d.reason


def test_groups_purpose_rounds_and_federated_only() -> None:
    p = UsagePolicy(
        groups={"hospitals": ["h1", "h2"]},
        permission=[
            Rule(
                action="train",
                assignee=["hospitals"],
                constraint=[
                    Constraint(leftOperand="purpose", operator="isAnyOf", rightOperand=["research"]),
                    Constraint(leftOperand="federatedRounds", operator="lteq", rightOperand=5),
                    Constraint(leftOperand="federatedOnly", operator="eq", rightOperand=True),
                ],
            )
        ],
    )
    ok = _req("h1", "train", purpose="research", federated=True, rounds=5)
    assert decide(p, ok, publisher="acme").permitted
    for bad, term in [
        (_req("h1", "train", purpose="marketing", federated=True, rounds=5), "purpose"),
        (_req("h1", "train", purpose="research", federated=True, rounds=6), "federatedRounds"),
        (_req("h1", "train", purpose="research", federated=False, rounds=1), "federatedOnly"),
        (_req("h3", "train", purpose="research", federated=True, rounds=1), "no permission"),
    ]:
        d = decide(p, bad, publisher="acme")
        assert not d.permitted and term in d.reason, d


def test_profile_rejects_malformed_policies() -> None:
    with pytest.raises(ValidationError):
        Constraint(leftOperand="dateTime", operator="lteq", rightOperand=datetime(2027, 1, 1))  # naive
    with pytest.raises(ValidationError):
        Constraint(leftOperand="purpose", operator="eq", rightOperand=True)
    with pytest.raises(ValidationError):
        UsagePolicy.model_validate({"permission": [{"action": "sell"}]})
    with pytest.raises(ValidationError):
        UsagePolicy.model_validate({"permission": [], "extra": 1})
    with pytest.raises(ValidationError):
        UsagePolicy(groups={"members": ["x"]})
    with pytest.raises(ValidationError):
        UsagePolicy(permission=[Rule(action="use", assignee=["../etc"])])


def test_later_policy_may_only_restrict() -> None:
    old = share_policy(["beta", "gamma"], ["use", "train"], expires=NOW + timedelta(days=30))
    narrower = share_policy(["beta"], ["train"], expires=NOW + timedelta(days=1))
    assert restriction_violations(old, narrower) == []
    assert restriction_violations(old, UsagePolicy(prohibition=[Rule(action="redistribute")])) == []
    wider_orgs = share_policy(["beta", "delta"], ["train"], expires=NOW + timedelta(days=1))
    assert any("permission train" in v for v in restriction_violations(old, wider_orgs))
    later = share_policy(["beta"], ["train"], expires=NOW + timedelta(days=60))
    assert restriction_violations(old, later)
    no_expiry = share_policy(["beta"], ["train"])
    assert restriction_violations(old, no_expiry)
    new_action = share_policy(["beta"], ["evaluate"], expires=NOW)
    assert restriction_violations(old, new_action)
    to_members = default_policy()
    assert restriction_violations(old, to_members)
    # dropping the default's redistribution prohibition widens it
    d = default_policy()
    dropped = UsagePolicy(permission=d.permission)
    assert any("prohibition redistribute" in v for v in restriction_violations(d, dropped))
    # redefining a group to include more orgs widens
    g_old = UsagePolicy(groups={"g": ["a"]}, permission=[Rule(action="use", assignee=["g"])])
    g_new = UsagePolicy(groups={"g": ["a", "b"]}, permission=[Rule(action="use", assignee=["g"])])
    assert restriction_violations(g_old, g_new)
    assert restriction_violations(g_new, g_old) == []


def test_policy_is_part_of_the_signed_predicate() -> None:
    from synthspace.lineage import LineagePredicate

    base = {
        "kind": "dataset",
        "title": "t",
        "producer": {"org": "acme", "artifact_key_id": "k", "software": "s"},
        "times": {"started": NOW.isoformat(), "finished": NOW.isoformat(), "signed": NOW.isoformat()},
    }
    legacy = LineagePredicate.model_validate(base)
    assert legacy.policy is None and legacy.effective_policy() == unsigned_policy()  # default + derive
    shared = share_policy(["beta"], ["train"])
    pred = LineagePredicate.model_validate({**base, "policy": shared.model_dump(mode="json")})
    assert pred.effective_policy() == shared
    assert pred.model_dump(mode="json")["policy"]["permission"][0]["assignee"] == ["beta"]
    with pytest.raises(ValidationError):
        LineagePredicate.model_validate({**base, "policy": {"permission": [{"action": "x"}]}})
    assert shared.digest() != default_policy().digest() and shared.digest().startswith("sha256:")


def test_jsonld_export_expands_with_odrl_iris() -> None:
    p = share_policy(["beta"], ["train"], expires=NOW)
    doc = to_jsonld(p, target="https://c.example/v1/artifacts/ab", assigner="https://c.example/orgs/acme",
                    space="https://c.example")
    json.dumps(doc)
    pyld = pytest.importorskip("pyld")  # dev dependency; the plain-JSON checks above always run
    expanded = pyld.jsonld.expand(doc)
    flat = json.dumps(expanded)
    assert "http://www.w3.org/ns/odrl/2/permission" in flat
    assert "http://www.w3.org/ns/odrl/2/assignee" in flat and "https://c.example/orgs/beta" in flat
    assert "https://synthspace.dev/odrl/v1#train" in flat
