"""Agreements through the node and the CLI against a real coordinator that requires them:
`catalog pull` without a purpose is refused, `catalog agree` logs one, the pull then keeps the
agreement in the folder, `catalog receipts` shows it to the publisher, and `audit DIR --offline`
verifies it from the folder (a tampered agreement fails the `agreement` check)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import Coordinator, Space, cli, generate_run, make_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def strict_space(tmp_path_factory: pytest.TempPathFactory, fake_llm: Any) -> Iterator[Space]:
    from synthspace.coordinator.home import init_home
    from synthspace.node.publishing import publish_run

    home = tmp_path_factory.mktemp("strict-coordinator")
    env_before = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    try:
        init_home(home, log_origin="test.node/log", require_agreements=True)
    finally:
        if env_before is not None:
            os.environ["SYNTHSPACE_DATABASE_URL"] = env_before
    coord = Coordinator(home=home).start()
    try:
        base = tmp_path_factory.mktemp("strict-space")
        alpha = make_node(base, coord, "alpha")
        beta = make_node(base, coord, "beta")
        run_dir = generate_run(base / "run-alpha", alpha, fake_llm)
        published = publish_run(alpha, run_dir, title="Kettle support dialogues", tags=["support"])
        yield Space(coord, base, alpha, beta, run_dir, published)
    finally:
        coord.stop()


def test_pull_needs_an_agreement_and_the_folder_keeps_it(
    strict_space: Space, tmp_path: Path
) -> None:
    s = strict_space
    aid = s.published.artifact_id
    beta = ("--home", str(s.beta.path))
    code, _, err = cli("catalog", "pull", aid, "--out", str(tmp_path / "refused"), *beta)
    assert code == 1 and "--purpose" in err and "agree" in err, err
    assert not (tmp_path / "refused").exists()

    code, out, err = cli("catalog", "agree", aid, "--purpose", "research", *beta)
    assert code == 0, err
    assert f"{s.beta.config().org} may use {aid}" in out and "logged at index" in out

    pulled = tmp_path / "pulled"
    code, out, err = cli("catalog", "pull", aid, "--out", str(pulled), *beta)
    assert code == 0, err
    assert "agreement:" in out and "'research'" in out
    assert (pulled / "agreement.json").is_file() and (pulled / "agreement-receipt.json").is_file()
    audit = json.loads((pulled / "audit.json").read_text())
    assert {c["name"]: c["status"] for c in audit["checks"]}["agreement"] == "pass"

    # The publisher sees who agreed to what and when.
    code, out, err = cli("catalog", "receipts", aid, "--json", "--home", str(s.alpha.path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    beta_org = s.beta.config().org
    mine = [(r["org"], r["action"], r["purpose"]) for r in rows if r["org"] == beta_org]
    assert mine == [(beta_org, "use", "research")]  # other tests' consumers may be listed too

    # Offline, from the folder and the auditor's state alone (the coordinator URL is dead).
    state = tmp_path / "state"
    assert cli("audit", str(pulled), "--state", str(state), *beta)[0] == 0
    offline = ("--offline", "--state", str(state), "--coordinator", "http://127.0.0.1:9", "--json")
    code, out, err = cli("audit", str(pulled), *offline)
    assert code == 0, err
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["agreement"]["status"] == "pass" and "research" in checks["agreement"]["detail"]

    # Positive control: an agreement whose signed purpose was changed fails the check.
    tampered = tmp_path / "tampered"
    shutil.copytree(pulled, tampered)
    env = json.loads((tampered / "agreement.json").read_text())
    import base64

    payload = json.loads(base64.b64decode(env["payload"]))
    payload["purpose"] = "marketing"
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    (tampered / "agreement.json").write_text(json.dumps(env))
    code, out, err = cli("audit", str(tampered), *offline)
    assert code == 1 and "agreement" in err, (out, err)


def test_pull_with_purpose_signs_the_agreement_itself(strict_space: Space, tmp_path: Path) -> None:
    from synthspace.node.catalog import AgreementNeeded, Consumer, pull
    from synthspace.node.cli_support import open_auditor

    s = strict_space
    third = make_node(s.base, s.coord, "gamma")
    auditor = open_auditor(home=third.path)
    with pytest.raises(AgreementNeeded):
        pull(auditor, s.published.artifact_id, tmp_path / "no", consumer=Consumer.for_home(third))
    report = pull(
        auditor,
        s.published.artifact_id,
        tmp_path / "yes",
        purpose="train",
        consumer=Consumer.for_home(third),
    )
    assert report.ok and report.check("agreement") is not None
    assert report.check("agreement").status == "pass"  # type: ignore[union-attr]
    # The publisher pulls its own artifact without any agreement.
    own = pull(
        open_auditor(home=s.alpha.path),
        s.published.artifact_id,
        tmp_path / "own",
        consumer=Consumer.for_home(s.alpha),
    )
    assert own.ok and not (tmp_path / "own" / "agreement.json").exists()
    # ... and its audit verifies every consumer's logged agreement (it may read all envelopes).
    logged = own.check("agreement")
    assert (
        logged is not None
        and logged.status == "pass"
        and f"{third.config().org} (train)" in logged.detail
    )


def test_online_audit_verifies_every_logged_agreement_of_the_artifact(
    strict_space: Space, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from synthspace.coordinator.models import Agreement
    from synthspace.node.catalog import Consumer, pull
    from synthspace.node.cli_support import open_auditor

    s = strict_space
    consumer = make_node(s.base, s.coord, "delta")
    pull(
        open_auditor(home=consumer.path),
        s.published.artifact_id,
        tmp_path / "p",
        purpose="evaluate",
        consumer=Consumer.for_home(consumer),
    )
    aid = s.published.artifact_id

    def agreement_check(home: Any) -> dict[str, Any]:
        code, out, err = cli(
            "audit",
            aid,
            "--json",
            "--state",
            str(tmp_path / f"state-{home.config().org}"),
            "--home",
            str(home.path),
        )
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        return {"code": code, **checks["agreement"]}

    # The publisher reads every envelope; the consumer only its own (the others: entry only).
    publisher = agreement_check(s.alpha)
    assert publisher["code"] == 0 and publisher["status"] == "pass", publisher
    assert f"{consumer.config().org} (evaluate)" in publisher["detail"]
    own = agreement_check(consumer)
    assert own["status"] == "pass" and "1 envelope(s) readable here" in own["detail"], own

    # Positive control: the coordinator now serves a different envelope for that entry
    # (restored afterwards: the other tests of this module share the coordinator).
    def set_envelope(value: bytes | None) -> bytes:
        rt = s.coord._runtime()
        try:
            with rt.session() as session:
                row = session.scalars(
                    select(Agreement).where(Agreement.org_name == consumer.config().org)
                ).one()
                before = bytes(row.envelope)
                if value is not None:
                    row.envelope = value
                    session.commit()
                return before
        finally:
            rt.close()

    original = set_envelope(b'{"payloadType":"x","payload":"","signatures":[]}')
    try:
        tampered = agreement_check(s.alpha)
    finally:
        set_envelope(original)
    assert (
        tampered["code"] == 1
        and tampered["status"] == "fail"
        and "digest differs" in tampered["detail"]
    ), tampered
    assert agreement_check(s.alpha)["status"] == "pass"
