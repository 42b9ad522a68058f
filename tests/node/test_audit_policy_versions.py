"""The auditor verifies policy versions and reports withdrawals (issue 16), against a real
coordinator on SQLite and PostgreSQL.

alpha publishes P shared with beta and gamma (use, derive). beta pulls P and derives C1. alpha
restricts P (derive by beta only, `catalog policy --restrict`); gamma pulls P under the new
terms, beta derives C2 under them. alpha then withdraws P (`catalog policy --withdraw`).

- `synthspace audit P` passes with a `policy_versions` check naming both versions; the check
  fails when what the coordinator serves is tampered with (another org's signature, a policy
  that is not the logged one, a version missing or not in the log, a chain that widens);
- agreements name the policy in force when they were logged (checked online and in a pulled
  folder), one naming another digest fails; a child derived after the restriction passes
  parent_policy and parent_agreements on the restricted version;
- after the withdrawal beta's `audit log --follow` says its pull and its children are affected,
  and the audit of a child says "built on withdrawn data".
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthspace.api_models import PolicyHistory
from synthspace.canonical_json import sha256_hex
from synthspace.lineage import Statement
from synthspace.log_entries import AgreementEntry, PolicyEntry
from synthspace.policy import UsagePolicy, share_policy
from synthspace.policy_versions import sign_policy_update
from tests.node.conftest import Coordinator, auditor_for, cli, generate_run, make_node

pytestmark = pytest.mark.slow

PG_ADMIN_URL = os.environ.get("SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _home(node: Any) -> tuple[str, str]:
    return ("--home", str(node.path))


def _org(node: Any) -> str:
    return str(node.config().org)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def story(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_llm: Any
) -> Iterator[dict[str, Any]]:
    from synthspace.node.catalog import pull
    from synthspace.node.derive import Operations, derive_dataset, publish_derived
    from synthspace.node.publishing import publish_run

    database_url, admin = None, None
    name = f"ss_auditpol_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    coord = Coordinator.create(tmp_path_factory.mktemp(f"auditpol-{request.param}"), database_url=database_url).start()
    try:
        base = tmp_path_factory.mktemp("auditpol")
        alpha, beta, gamma = (make_node(base, coord, p) for p in ("alpha", "beta", "gamma"))
        signed = share_policy([_org(beta), _org(gamma)], ["use", "derive"])
        parent = publish_run(
            alpha, generate_run(base / "run", alpha, fake_llm, limit=6), title="Versioned parent", policy=signed
        ).artifact_id
        out: dict[str, Any] = dict(base=base, alpha=alpha, beta=beta, gamma=gamma, parent=parent, signed=signed)

        # Before any version: beta pulls P and derives C1 (agreements name the signed policy).
        pull(auditor_for(beta), parent, base / "beta-pulled", purpose="research")
        derive_dataset(auditor_for(beta), [parent], base / "c1", title="C1", operations=Operations(sample=3))
        out["c1"] = publish_derived(beta, base / "c1").artifact_id

        # Version 1: derive by beta only (use stays with both, so gamma still sees P).
        restricted = signed.model_copy(deep=True)
        restricted.permission[1].assignee = [_org(beta)]
        (base / "restricted.json").write_text(restricted.model_dump_json())
        code, text_out, err = cli(
            "catalog", "policy", parent, "--restrict", str(base / "restricted.json"), "--reason", "gamma stops deriving",
            "--json", *_home(alpha),
        )  # fmt: skip
        assert code == 0, err
        out["v1"] = json.loads(text_out)
        out["restricted"] = restricted

        # Under version 1: gamma pulls P, beta derives C2 (agreements name version 1).
        out["gamma_pull"] = pull(auditor_for(gamma), parent, base / "gamma-pulled", purpose="research")
        derive_dataset(auditor_for(beta), [parent], base / "c2", title="C2", operations=Operations(sample=2))
        out["c2"] = publish_derived(beta, base / "c2").artifact_id
        out["c2_audit"] = auditor_for(gamma).audit_artifact(out["c2"])
        code, log_out, err = cli("audit", "log", *_home(beta))  # beta's baseline: nothing withdrawn yet
        assert code == 0, err
        out["beta_log_before"] = log_out
        out["beta_notices_before"] = auditor_for(beta).withdrawal_notices(0)

        # Version 2: the withdrawal.
        code, text_out, err = cli(
            "catalog", "policy", parent, "--withdraw", "--reason", "consent revoked", "--json", *_home(alpha)
        )
        assert code == 0, err
        out["v2"] = json.loads(text_out)
        yield out
    finally:
        coord.stop()
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_versions_are_logged_as_the_story_says(story: dict[str, Any]) -> None:
    v1, v2 = story["v1"], story["v2"]
    assert v1["withdrawn"] is False and v1["policy_sha256"] == story["restricted"].digest()
    assert v2["withdrawn"] is True and v2["previous_policy_sha256"] == story["restricted"].digest()
    assert v1["log_index"] < v2["log_index"]


# ---- (a) the policy_versions check on a restricted, then withdrawn artifact ----------------


def test_audit_passes_with_a_policy_versions_check_naming_both_versions(story: dict[str, Any]) -> None:
    # gamma: an assignee that is no longer served the data (withdrawn), still audits the rest
    code, out, err = cli("audit", story["parent"], "--json", *_home(story["gamma"]))
    assert code == 0, err + out
    report = json.loads(out)
    checks = {c["name"]: c for c in report["checks"]}
    pv = checks["policy_versions"]
    assert pv["status"] == "pass", pv
    assert f"version 1 restricted it (log index {story['v1']['log_index']}: gamma stops deriving)" in pv["detail"]
    assert f"version 2 withdrew it (log index {story['v2']['log_index']}: consent revoked)" in pv["detail"]
    assert "2 logged version(s) verified" in pv["detail"] and "withdrawn at log index" in pv["detail"]
    assert checks["data_digest"]["status"] == "skip"  # not served after the withdrawal
    # the publisher's own audit (with its data) passes too, every agreement naming the policy
    # in force when it was logged
    own = auditor_for(story["alpha"]).audit_artifact(story["parent"])
    assert own.ok, own.to_dict()
    assert own.check("data_digest").status == "pass"
    agreement = own.check("agreement")
    assert agreement is not None and agreement.status == "pass", agreement
    assert "the policy in force when each was logged" in agreement.detail


def test_an_artifact_without_versions_gets_no_policy_versions_check(story: dict[str, Any]) -> None:
    report = auditor_for(story["gamma"]).audit_artifact(story["c1"], lineage=False)
    assert report.ok and report.check("policy_versions") is None


# ---- (b) the check fires when what the coordinator serves is tampered with ----------------


class _Serving:
    """A coordinator stand-in serving a given policy history."""

    def __init__(self, history: PolicyHistory) -> None:
        self.history = history

    def policy_history(self, artifact_id: str) -> PolicyHistory:
        return self.history


def _setup(story: dict[str, Any]) -> tuple[Any, Any, Statement, PolicyHistory]:
    auditor = auditor_for(story["gamma"])
    ctx = auditor._context()
    statement = Statement.model_validate(auditor.client.artifact(story["parent"]).statement)
    return auditor, ctx, statement, auditor.client.policy_history(story["parent"])


def _run(ctx: Any, served: Any, statement: Statement, aid: str) -> Any:
    from synthspace.node.audit.policy_versions import check_policy_versions
    from synthspace.node.audit.report import AuditReport

    report = AuditReport(target=aid, artifact_id=aid)
    check_policy_versions(report, ctx, served, statement, aid)
    result = report.check("policy_versions")
    assert result is not None
    return result


def _with_version(history: PolicyHistory, n: int, **changes: Any) -> PolicyHistory:
    versions = list(history.versions)
    versions[n] = versions[n].model_copy(update=changes)
    return history.model_copy(update={"versions": versions})


def _envelope(env: Any) -> str:
    return base64.b64encode(env.to_json()).decode()


def test_the_check_passes_on_what_the_coordinator_serves(story: dict[str, Any]) -> None:
    _, ctx, statement, history = _setup(story)
    assert _run(ctx, _Serving(history), statement, story["parent"]).status == "pass"  # the control


def test_an_update_signed_by_another_org_fails(story: dict[str, Any]) -> None:
    from synthspace.node.catalog import Consumer

    _, ctx, statement, history = _setup(story)
    gamma = Consumer.for_home(story["gamma"])
    forged = sign_policy_update(
        gamma.artifact_key, artifact_id=story["parent"], previous=story["signed"], policy=story["restricted"],
        org=_org(story["alpha"]), reason="gamma stops deriving",
    )  # fmt: skip
    result = _run(ctx, _Serving(_with_version(history, 0, envelope=_envelope(forged))), statement, story["parent"])
    assert result.status == "fail"
    assert f"version 1 (log index {story['v1']['log_index']})" in result.detail
    assert f"does not verify against an artifact key of {_org(story['alpha'])!r}" in result.detail


def test_an_update_for_another_policy_than_the_logged_one_fails(story: dict[str, Any]) -> None:
    from synthspace.node.catalog import Consumer

    _, ctx, statement, history = _setup(story)
    alpha = Consumer.for_home(story["alpha"])
    other = share_policy([_org(story["beta"])], ["use"])  # a genuine restriction, never logged
    update = sign_policy_update(
        alpha.artifact_key, artifact_id=story["parent"], previous=story["signed"], policy=other, org=alpha.org
    )
    served = _with_version(history, 0, envelope=_envelope(update))
    result = _run(ctx, _Serving(served), statement, story["parent"])
    assert result.status == "fail"
    assert f"it signs policy {other.digest()}, the log entry names {story['restricted'].digest()}" in result.detail
    # the served record alone (policy digest) differing from the log entry fails too
    served = _with_version(history, 0, policy_sha256=other.digest(), policy=other.model_dump(mode="json"))
    result = _run(ctx, _Serving(served), statement, story["parent"])
    assert result.status == "fail" and "the coordinator's record of it differs from the log entry" in result.detail


def test_another_signed_update_with_the_same_digests_fails(story: dict[str, Any]) -> None:
    """The log commits to the exact signed bytes: a genuine update by the publisher with the
    same policy and previous digest, but another reason, is not the logged one."""
    from synthspace.node.catalog import Consumer

    _, ctx, statement, history = _setup(story)
    alpha = Consumer.for_home(story["alpha"])
    twin = sign_policy_update(
        alpha.artifact_key, artifact_id=story["parent"], previous=story["signed"], policy=story["restricted"],
        org=alpha.org, reason="a reason never logged",
    )  # fmt: skip
    served = _with_version(history, 0, envelope=_envelope(twin))
    result = _run(ctx, _Serving(served), statement, story["parent"])
    assert result.status == "fail" and "the log entry commits to" in result.detail, result.detail
    control = _run(ctx, _Serving(history), statement, story["parent"])
    assert control.status == "pass", control.detail


def test_a_missing_or_unlogged_version_fails(story: dict[str, Any]) -> None:
    _, ctx, statement, history = _setup(story)
    dropped = history.model_copy(update={"versions": history.versions[:1]})
    result = _run(ctx, _Serving(dropped), statement, story["parent"])
    assert result.status == "fail"
    assert f"the policy entry at log index {story['v2']['log_index']} has no signed update" in result.detail
    # a version at a log index that holds no policy entry of this artifact
    publish_index = auditor_for(story["gamma"]).client.artifact(story["parent"]).log_index
    moved = _with_version(history, 0, log_index=publish_index)
    result = _run(ctx, _Serving(moved), statement, story["parent"])
    assert result.status == "fail"
    assert f"(log index {publish_index}) is served by the coordinator but is not a policy entry" in result.detail


def test_a_chain_that_widens_fails_even_when_log_and_signature_agree(story: dict[str, Any]) -> None:
    """A log whose (tampered) entries agree with a publisher-signed widening: chain_problems fires."""
    from synthspace.node.catalog import Consumer

    _, ctx, statement, history = _setup(story)
    alpha = Consumer.for_home(story["alpha"])
    i1, i2 = story["v1"]["log_index"], story["v2"]["log_index"]
    wider = share_policy([_org(story["beta"]), _org(story["gamma"])], ["use", "train", "derive"])
    update = sign_policy_update(
        alpha.artifact_key, artifact_id=story["parent"], previous=story["signed"], policy=wider, org=alpha.org
    )
    view = ctx.view
    real = view.entry(i1)
    assert isinstance(real, PolicyEntry)
    entries = {i: view.entry(i) for i in range(view.size)}
    entries[i1] = real.model_copy(update={"policy_sha256": wider.digest(), "envelope_sha256": sha256_hex(update.to_json())})
    entries[i2] = view.entry(auditor_for(story["gamma"]).client.artifact(story["parent"]).log_index)  # no version 2
    tampered = dataclasses.replace(ctx, view=dataclasses.replace(view, _entries=entries))
    served = _with_version(
        history.model_copy(update={"versions": history.versions[:1]}), 0,
        envelope=_envelope(update), policy=wider.model_dump(mode="json"), policy_sha256=wider.digest(),
    )  # fmt: skip
    result = _run(tampered, _Serving(served), statement, story["parent"])
    assert result.status == "fail"
    assert f"policy version at log index {i1}" in result.detail and "[policy_widened]" in result.detail


# ---- (c) agreements name the policy in force when they were logged -------------------------


def test_agreements_after_a_restriction_name_its_digest(story: dict[str, Any]) -> None:
    restricted = story["restricted"].digest()
    # gamma's pull under version 1: its folder agreement names version 1 and verifies
    pulled = story["gamma_pull"]
    assert pulled.ok, pulled.to_dict()
    folder = pulled.check("agreement")
    assert folder is not None and folder.status == "pass" and restricted[:19] in folder.detail
    folder_agreement = json.loads(Path(story["base"] / "gamma-pulled" / "agreement-receipt.json").read_text())
    assert folder_agreement["policy_sha256"] == restricted
    # the folder audited again (online, then offline against the log mirror) still passes
    again = auditor_for(story["gamma"]).audit_bundle(story["base"] / "gamma-pulled", lineage=False)
    assert again.check("agreement").status == "pass", again.check("agreement")
    code, out, err = cli("audit", str(story["base"] / "gamma-pulled"), "--offline", "--no-lineage", *_home(story["gamma"]))
    assert code == 0, err + out


def test_an_agreement_naming_another_digest_fails(story: dict[str, Any]) -> None:
    """The same agreements judged against a log in which version 1 never happened: the ones
    logged after it name a digest that was not in force, and the check says which."""
    from synthspace.node.audit.agreements import check_logged_agreements
    from synthspace.node.audit.report import AuditReport

    auditor, ctx, statement, _ = _setup(story)
    aid, i1 = story["parent"], story["v1"]["log_index"]
    later = [
        i for i, e in ctx.view.iter_entries() if isinstance(e, AgreementEntry) and e.artifact_id == aid and i > i1
    ]
    assert later
    report = AuditReport(target=aid, artifact_id=aid)
    check_logged_agreements(report, ctx, auditor.client, statement, aid)
    assert report.check("agreement").status == "pass"  # the control: the real log
    view = ctx.view
    entries = {i: view.entry(i) for i in range(view.size)}
    entries[i1] = view.entry(auditor.client.artifact(aid).log_index)  # no version 1 in this "log"
    tampered = dataclasses.replace(ctx, view=dataclasses.replace(view, _entries=entries))
    report = AuditReport(target=aid, artifact_id=aid)
    check_logged_agreements(report, tampered, auditor.client, statement, aid)
    result = report.check("agreement")
    assert result is not None and result.status == "fail"
    wrong = f"names policy {story['restricted'].digest()}, the policy in force when it was logged is {story['signed'].digest()}"
    assert result.detail.count(wrong) == len(later), result.detail
    for i in later:
        assert f"entry {i} (" in result.detail


def test_a_child_derived_under_the_restriction_passes_parent_checks(story: dict[str, Any]) -> None:
    report = story["c2_audit"]  # audited by gamma before the withdrawal
    assert report.ok, report.to_dict()
    assert report.check("parent_policy").status == "pass"
    assert report.check("parent_agreements").status == "pass"
    listed = report.statement.predicate.agreements
    assert [a.policy_sha256 for a in listed] == [story["restricted"].digest()]


# ---- (d) withdrawals reach the nodes built on the artifact ---------------------------------


def test_withdrawal_notices_name_the_pull_and_the_children(story: dict[str, Any]) -> None:
    beta, parent = story["beta"], story["parent"]
    # the control: a restriction is no withdrawal, nothing was affected before version 2
    assert "affected:" not in story["beta_log_before"] and story["beta_notices_before"] == []
    code, out, err = cli("audit", "log", "--follow", "--max-polls", "1", "--interval", "0.1", *_home(beta))
    assert code == 0, err
    assert f"affected: pulled {parent} is itself withdrawn (policy withdrawn " in out, out
    assert f"affected: published {story['c1']} is built on {parent} (policy withdrawn " in out, out
    assert f"affected: published {story['c2']} is built on {parent} (policy withdrawn " in out, out
    code, out, err = cli("audit", "log", *_home(beta))  # told once
    assert code == 0 and "affected:" not in out, out
    # gamma's pull of P is affected too (and the children it audited under an agreement,
    # which the log lists as its pulls); every notice comes from the withdrawal entry
    notices = auditor_for(story["gamma"]).withdrawal_notices(story["v2"]["log_index"])
    assert {(n.local_id, n.withdrawn_id, n.how) for n in notices} == {
        (parent, parent, "pulled"), (story["c1"], parent, "pulled"), (story["c2"], parent, "pulled")
    }
    assert all(isinstance(n.entry, PolicyEntry) and n.entry.withdrawn for n in notices)
    assert not auditor_for(story["alpha"]).withdrawal_notices(story["v2"]["log_index"] + 1)  # nothing later


def test_a_child_audit_says_built_on_withdrawn_data(story: dict[str, Any]) -> None:
    report = auditor_for(story["gamma"]).audit_artifact(story["c1"])
    lineage = report.check("lineage")
    assert lineage is not None and lineage.failed
    assert lineage.detail.startswith(f"built on withdrawn data: {story['parent']} policy withdrawn at ")
    assert f"(log index {story['v2']['log_index']})" in lineage.detail
    assert ";" not in lineage.detail  # nothing else is wrong with the parent
    # published before the withdrawal: the policy in force then permitted it
    assert report.check("parent_policy").status == "pass"
    assert report.check("parent_agreements").status == "pass"
    code, _, err = cli("audit", story["c1"], *_home(story["gamma"]))
    assert code == 1 and f"built on withdrawn data: {story['parent']} policy withdrawn at" in err, err


def test_policy_history_is_readable_by_the_auditor(story: dict[str, Any]) -> None:
    history = auditor_for(story["gamma"]).client.policy_history(story["parent"])
    assert [v.log_index for v in history.versions] == [story["v1"]["log_index"], story["v2"]["log_index"]]
    assert UsagePolicy.model_validate(history.versions[0].policy) == story["restricted"]


def test_audit_log_checks_the_policy_entries_chain(story: dict[str, Any]) -> None:
    from synthspace.node.audit.log_audit import audit_entries

    code, out, err = cli("audit", "log", "--json", *_home(story["gamma"]))
    assert code == 0, err
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["policy_entries"]["status"] == "pass", checks["policy_entries"]
    assert "2 policy version(s) of 1 artifact(s)" in checks["policy_entries"]["detail"]
    # a log whose second version does not follow the first, or comes from another org, fails
    ctx = auditor_for(story["gamma"])._context()
    view, i2 = ctx.view, story["v2"]["log_index"]
    v2 = view.entry(i2)
    assert isinstance(v2, PolicyEntry)
    for change, message in (
        ({"previous_policy_sha256": story["signed"].digest()}, f"entry {i2} follows policy {story['signed'].digest()}"),
        ({"org": _org(story["beta"])}, f"entry {i2}: {_org(story['beta'])!r} versions the policy of an artifact of"),
    ):
        entries = {i: view.entry(i) for i in range(view.size)}
        entries[i2] = v2.model_copy(update=change)
        report = audit_entries(dataclasses.replace(view, _entries=entries), None, lambda: [])
        result = next(c for c in report.checks if c.name == "policy_entries")
        assert result.status == "fail" and message in result.detail, result
