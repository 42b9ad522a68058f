"""Agreements required by default (issue 16, the rest of item 3): on a coordinator with default
settings (SQLite and PostgreSQL), another org's data is served only under a logged agreement;
the node's internal consumers sign one (the auditor's lineage walk: `use`/`audit`; derive:
`derive`) and reuse it; a derived set's signed lineage lists the agreements it relied on and
the auditor's `parent_agreements` check finds each one in the log (a child listing a missing
one fails); every pull is traced by the withdrawal notices of `audit log`."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synthspace.log_entries import AgreementEntry
from tests.node.conftest import Coordinator, auditor_for, cli, generate_run, make_node

pytestmark = pytest.mark.slow

PG_ADMIN_URL = os.environ.get(
    "SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Orgs:
    coord: Coordinator
    base: Path
    alpha: Any  # publishes the parent
    beta: Any  # derives a child from it
    gamma: Any  # audits the child
    parent: Any  # alpha's PublishResult


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def orgs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_llm: Any
) -> Iterator[Orgs]:
    from synthspace.node.publishing import publish_run

    database_url = None
    admin = None
    name = f"ss_agree_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    coord = Coordinator.create(
        tmp_path_factory.mktemp(f"agree-{request.param}"), database_url=database_url
    ).start()
    try:
        base = tmp_path_factory.mktemp("agree-orgs")
        alpha = make_node(base, coord, "alpha")
        beta = make_node(base, coord, "beta")
        gamma = make_node(base, coord, "gamma")
        parent = publish_run(
            alpha, generate_run(base / "run", alpha, fake_llm, limit=6), title="Parent set"
        )
        yield Orgs(coord, base, alpha, beta, gamma, parent)
    finally:
        coord.stop()
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _agreements(auditor: Any, org: str) -> list[tuple[int, AgreementEntry]]:
    auditor.refresh()
    ctx = auditor._context()
    return [(i, e) for i, e in ctx.view.iter_entries() if isinstance(e, AgreementEntry) and e.org == org]


def test_pull_is_refused_without_an_agreement_by_default(orgs: Orgs, tmp_path: Path) -> None:
    from synthspace.node.catalog import AgreementNeeded, pull
    from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError

    aid = orgs.parent.artifact_id
    client = CoordinatorClient.for_home(orgs.gamma)
    with pytest.raises(CoordinatorError) as refused:
        client.download_data(aid, tmp_path / "raw.parquet")
    assert refused.value.status == 403 and refused.value.code == "agreement_required"
    with pytest.raises(AgreementNeeded):
        pull(auditor_for(orgs.gamma), aid, tmp_path / "no")
    assert not (tmp_path / "no").exists()
    # the publisher needs none (positive control for the refusal being about agreements)
    assert CoordinatorClient.for_home(orgs.alpha).download_data(aid, tmp_path / "own.parquet")

    report = pull(auditor_for(orgs.gamma), aid, tmp_path / "pulled", purpose="research")
    assert report.ok and (tmp_path / "pulled" / "agreement.json").is_file()
    logged = _agreements(auditor_for(orgs.gamma), orgs.gamma.config().org)
    assert [(e.artifact_id, e.action, e.purpose) for _, e in logged] == [(aid, "use", "research")]
    assert client.download_data(aid, tmp_path / "raw.parquet")  # now served
    # pulled again: the cached agreement is reused, nothing new is logged
    pull(auditor_for(orgs.gamma), aid, tmp_path / "pulled", purpose="research")
    assert len(_agreements(auditor_for(orgs.gamma), orgs.gamma.config().org)) == 1


def test_derive_lists_its_agreement_and_another_org_audits_the_child(
    orgs: Orgs, tmp_path: Path
) -> None:
    from synthspace.node.derive import Operations, derive_dataset, publish_derived

    beta_org = orgs.beta.config().org
    d = derive_dataset(
        auditor_for(orgs.beta),
        [orgs.parent.artifact_id],
        tmp_path / "child",
        title="Child",
        operations=Operations(sample=3),
    )
    assert d.agreements is not None and len(d.agreements) == 1
    ref = d.agreements[0]
    assert (ref.artifact_id, ref.org, ref.action, ref.purpose) == (
        orgs.parent.artifact_id, beta_org, "derive", "derive"
    )
    child = publish_derived(orgs.beta, tmp_path / "child")
    listed = child.statement.predicate.agreements
    assert listed is not None and [a.agreement_id for a in listed] == [ref.agreement_id]
    # the listed agreement is the `agreement` entry at that index of the log
    entries = dict(_agreements(auditor_for(orgs.beta), beta_org))
    assert entries[ref.log_index].envelope_sha256 == ref.agreement_id
    assert entries[ref.log_index].action == "derive"

    # gamma audits beta's child by id: its lineage walk downloads alpha's parent under a
    # `use`/`audit` agreement it signs, and the child's listed agreement checks out.
    gamma_org = orgs.gamma.config().org
    before = len(_agreements(auditor_for(orgs.gamma), gamma_org))
    report = auditor_for(orgs.gamma).audit_artifact(child.artifact_id)
    assert report.ok, report.to_dict()
    check = report.check("parent_agreements")
    assert check is not None and check.status == "pass", check
    signed = _agreements(auditor_for(orgs.gamma), gamma_org)
    assert len(signed) >= before and all(e.action in ("use", "derive", "train", "evaluate") for _, e in signed)
    # a second audit reuses the agreements (cached): nothing new in the log
    again = auditor_for(orgs.gamma).audit_artifact(child.artifact_id)
    assert again.ok and len(_agreements(auditor_for(orgs.gamma), gamma_org)) == len(signed)
    # the CLI too, exit 0
    code, out, err = cli("audit", child.artifact_id, "--home", str(orgs.gamma.path))
    assert code == 0, err + out


def test_a_child_whose_listed_agreement_is_bogus_is_refused_at_publish_and_fails_the_auditor(
    orgs: Orgs, tmp_path: Path
) -> None:
    """One rule (acceptance_lineage.listed_agreement_problems), two callers: the coordinator refuses the
    forged child with 422 and the problem's code; the auditor's `parent_agreements` check fails
    the same signed Statement (it never reaches the log, so it is checked from its bundle)."""
    from synthspace import dsse
    from synthspace.lineage import Statement
    from synthspace.node.audit.agreements import check_parent_agreements
    from synthspace.node.audit.report import AuditReport
    from synthspace.node.coordinator_client import CoordinatorError
    from synthspace.node.derive import (
        DATA_FILE,
        DERIVATION_FILE,
        Operations,
        derive_dataset,
        load_derivation,
        publish_derived,
    )
    from synthspace.node.publishing import ENVELOPE_FILE

    good = tmp_path / "good"
    derive_dataset(
        auditor_for(orgs.beta),
        [orgs.parent.artifact_id],
        good,
        title="Honest child",
        operations=Operations(sample=2),
    )
    derivation = load_derivation(good)
    assert derivation.agreements

    def refused(name: str, agreements: Any) -> tuple[CoordinatorError, Statement]:
        out = tmp_path / name
        out.mkdir()
        shutil.copy(good / DATA_FILE, out / DATA_FILE)
        changed = derivation.model_copy(update={"title": name, "agreements": agreements})
        (out / DERIVATION_FILE).write_text(changed.model_dump_json(indent=2))
        with pytest.raises(CoordinatorError) as exc:
            publish_derived(orgs.beta, out)
        envelope = dsse.Envelope.from_json((out / "publish" / ENVELOPE_FILE).read_bytes())
        return exc.value, Statement.model_validate_json(envelope.payload_bytes())

    def audited(statement: Statement) -> Any:
        auditor = auditor_for(orgs.gamma)
        auditor.refresh()
        report = AuditReport(target="forged")
        walked = {orgs.parent.artifact_id: orgs.parent.statement}
        check_parent_agreements(report, auditor._context(), None, statement, walked)
        return report.check("parent_agreements")

    # positive control: the honest child is accepted and passes the auditor
    honest = publish_derived(orgs.beta, good)
    assert auditor_for(orgs.gamma).audit_artifact(honest.artifact_id).ok
    assert audited(honest.statement).status == "pass"

    ref = derivation.agreements[0]
    error, statement = refused("missing", [ref.model_copy(update={"log_index": orgs.parent.log_index})])
    assert (error.status, error.code) == (422, "listed_agreement_missing"), error
    check = audited(statement)
    assert check.status == "fail" and "is missing" in check.detail

    error, statement = refused("beyond", [ref.model_copy(update={"log_index": 10**9})])
    assert (error.status, error.code) == (422, "listed_agreement_missing"), error
    assert audited(statement).status == "fail"

    error, statement = refused("unlisted", [])
    assert (error.status, error.code) == (422, "agreement_not_listed"), error
    check = audited(statement)
    assert check.status == "fail" and "no valid agreement" in check.detail

    error, statement = refused("use-only", [ref.model_copy(update={"action": "use"})])
    assert (error.status, error.code) == (422, "listed_agreement_mismatch"), error
    assert audited(statement).status == "fail"

    # another org's real agreement (gamma's, signed for its audit above), listed faithfully
    from synthspace.lineage import AgreementRef

    index, theirs = next(
        (i, e)
        for i, e in _agreements(auditor_for(orgs.gamma), orgs.gamma.config().org)
        if e.artifact_id == orgs.parent.artifact_id
    )
    borrowed = AgreementRef(
        artifact_id=theirs.artifact_id, agreement_id=theirs.envelope_sha256, log_index=index,
        org=theirs.org, action=theirs.action, purpose=theirs.purpose, policy_sha256=theirs.policy_sha256,
    )
    error, statement = refused("borrowed", [borrowed])
    assert (error.status, error.code) == (422, "listed_agreement_wrong_org"), error
    check = audited(statement)
    assert check.status == "fail" and "is signed by 'gamma" in check.detail


def test_every_pull_is_traced_by_the_withdrawal_notice(orgs: Orgs, tmp_path: Path, fake_llm: Any) -> None:
    from synthspace.node.publishing import publish_run, retract

    source = publish_run(
        orgs.alpha, generate_run(tmp_path / "run", orgs.alpha, fake_llm, limit=6), title="Soon withdrawn"
    )
    home = ("--home", str(orgs.gamma.path))
    # Without a purpose the pull is refused (nothing pulled, so nothing to trace) ...
    code, _, err = cli("catalog", "pull", source.artifact_id, "--out", str(tmp_path / "no"), *home)
    assert code == 1 and "--purpose" in err
    # ... with one it is served under a logged agreement, which the notices read.
    code, _, err = cli(
        "catalog", "pull", source.artifact_id, "--out", str(tmp_path / "p"), "--purpose", "research", *home
    )
    assert code == 0, err
    assert cli("audit", "log", *home)[0] == 0  # baseline
    retract(orgs.alpha, source.artifact_id, "wrong labels")
    code, out, err = cli("audit", "log", "--follow", "--max-polls", "1", "--interval", "0.1", *home)
    assert code == 0, err
    assert f"affected: pulled {source.artifact_id} is itself retracted" in out, out
    assert "wrong labels" in out
