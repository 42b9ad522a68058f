"""A node refuses inputs whose usage policy forbids its use, before doing the work: `catalog
derive` (derive) and the SuperNode's training data (federated train), with real servers and the
real verification code; the auditor's parent_policy check fails a child an older coordinator
accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from synthspace.policy import Constraint, Rule, UsagePolicy, share_policy
from tests.node.conftest import auditor_for, cli, make_node

NO_DERIVE = UsagePolicy(permission=[Rule(action="use")], prohibition=[Rule(action="derive")])
NO_TRAIN_FOR_BETA_ROUND_2 = UsagePolicy(
    permission=[
        Rule(action="use"),
        Rule(
            action="train",
            constraint=[Constraint(leftOperand="federatedRounds", operator="lteq", rightOperand=1)],
        ),
    ]
)


def _publish(
    home: Any, tmp: Path, title: str, policy: UsagePolicy | None, license: str = "CC-BY-4.0"
) -> Any:
    import pandas as pd

    from synthspace.lineage import GateResult, LineagePredicate, Times
    from synthspace.node.publishing import producer_for, publish_file

    tmp.mkdir(parents=True)
    data = tmp / "data.parquet"
    frame = pd.DataFrame(
        {"question": [f"q{i} {title}" for i in range(6)], "answer": [f"a{i}" for i in range(6)]}
    )
    frame.to_parquet(data, index=False)
    now = datetime.now(UTC)
    predicate = LineagePredicate(
        kind="dataset",
        title=title,
        license=license,
        record_count=6,
        producer=producer_for(home),
        gates=[
            GateResult(
                name="pii",
                blocking=True,
                passed=True,
                metrics={"records_with_pii": 0, "records": 6},
            )
        ],
        times=Times(started=now, finished=now, signed=now),
        policy=policy,
    )
    return publish_file(home, data, predicate, bundle_dir=tmp / "publish")


@pytest.mark.slow
def test_derive_and_training_refuse_forbidden_parents(tmp_path: Path, coordinator: Any) -> None:
    from synthspace.node.catalog import pull
    from synthspace.node.derive import DerivationForbidden, derive_dataset
    from synthspace.node.federated.training_data import (
        TrainingForbidden,
        TrainingUse,
        audit_verifier,
        read_source,
    )

    alpha = make_node(tmp_path, coordinator, "pol-a")
    beta = make_node(tmp_path, coordinator, "pol-b")
    beta_org = beta.config().org
    forbidden = _publish(alpha, tmp_path / "p1", "No derivation", NO_DERIVE)
    shared = _publish(
        alpha,
        tmp_path / "p2",
        "Shared for derivation",
        share_policy([beta_org], ["use", "derive", "train"]),
    )
    capped = _publish(alpha, tmp_path / "p3", "One round only", NO_TRAIN_FOR_BETA_ROUND_2)
    nc = _publish(alpha, tmp_path / "p4", "Non-commercial", None, license="CC-BY-NC-4.0")

    with pytest.raises(DerivationForbidden, match="prohibition: derive"):
        derive_dataset(auditor_for(beta), [forbidden.artifact_id], tmp_path / "d1", title="x")
    assert (
        not (tmp_path / "d1" / "data.parquet").exists()
        and not (tmp_path / "d1" / "derivation.json").exists()
    )
    # the CLI: one line naming the term, non-zero exit
    code, out, err = cli(
        "catalog",
        "derive",
        forbidden.artifact_id,
        "--out",
        str(tmp_path / "d2"),
        "--title",
        "x",
        "--home",
        str(beta.path),
    )
    assert code == 1 and "prohibition: derive" in err and "Traceback" not in err, err
    with pytest.raises(DerivationForbidden, match="more permissive"):
        derive_dataset(
            auditor_for(beta), [nc.artifact_id], tmp_path / "d3", title="x", license="CC-BY-4.0"
        )
    # positive controls: a parent sharing derive with beta; the publisher deriving its own
    d = derive_dataset(auditor_for(beta), [shared.artifact_id], tmp_path / "d4", title="ok")
    assert d.record_count == 6
    assert (
        derive_dataset(
            auditor_for(alpha), [forbidden.artifact_id], tmp_path / "d5", title="own"
        ).record_count
        == 6
    )

    # the SuperNode trains on another org's bundle only under a logged `train` agreement: one
    # pulled under `use` gets one signed (and cached) on first read, reused afterwards
    import json

    verify = audit_verifier(beta.path)
    cache = beta.path / "private" / "agreements" / f"{capped.artifact_id}.json"
    used = tmp_path / "pulled-for-research"
    pull(auditor_for(beta), capped.artifact_id, used, purpose="research")
    assert [(a["action"], a["purpose"]) for a in json.loads(cache.read_text())] == [("use", "research")]
    read_source(used, verify, TrainingUse(org=beta_org, round=1))
    assert [(a["action"], a["purpose"]) for a in json.loads(cache.read_text())] == [
        ("use", "research"), ("train", "train")
    ]
    read_source(used, verify, TrainingUse(org=beta_org, round=1))
    assert len(json.loads(cache.read_text())) == 2  # reused, not signed again
    # the publisher's own bundle needs none
    own = tmp_path / "own-capped"
    pull(auditor_for(alpha), capped.artifact_id, own)
    read_source(own, audit_verifier(alpha.path), TrainingUse(org=alpha.config().org, round=1))
    assert not (alpha.path / "private" / "agreements" / f"{capped.artifact_id}.json").exists()

    # the SuperNode's check, on a pulled bundle, with the real audit verifier
    bundle = tmp_path / "pulled-capped"
    pull(auditor_for(beta), capped.artifact_id, bundle, purpose="train", action="train")
    frame, info = read_source(bundle, verify, TrainingUse(org=beta_org, round=1))
    assert len(json.loads(cache.read_text())) == 2  # the `train` pull reused it too
    assert len(frame) == 6 and info.artifact_id == capped.artifact_id
    with pytest.raises(TrainingForbidden, match=r"federatedRounds lteq 1 \(asked: 2\)"):
        read_source(bundle, verify, TrainingUse(org=beta_org, round=2))
    no_train = tmp_path / "pulled-no-train"
    pull(auditor_for(beta), forbidden.artifact_id, no_train, purpose="research")
    with pytest.raises(TrainingForbidden, match="no permission grants 'train'"):
        read_source(no_train, verify, TrainingUse(org=beta_org))


def test_auditor_fails_a_child_whose_parent_forbade_it() -> None:
    """A child an older coordinator accepted: the parent_policy check names the term."""
    from synthspace.node.audit.checks import check_parent_policy
    from synthspace.node.audit.report import AuditReport
    from tests.protocol.test_parent_terms import NOW, PID, _link, _statement

    parent = _statement("acme", policy=NO_DERIVE)
    child = _statement("beta", kind="derived-dataset", parents=[_link(PID, parent, "source")])
    report = AuditReport(target="child", artifact_id="c" * 64, statement=child)
    report.parents.append(AuditReport(target=PID, artifact_id=PID, statement=parent))
    check_parent_policy(report, child, NOW, walked=True)
    result = report.check("parent_policy")
    assert result is not None and result.status == "fail"
    assert "policy_forbids" in result.detail and "prohibition: derive" in result.detail
    assert report.first_failure() is not None and report.first_failure().name == "parent_policy"  # type: ignore[union-attr]
    # positive control: an unsigned parent (release-1 terms) permits the same child
    ok = AuditReport(target="child", artifact_id="c" * 64, statement=child)
    ok.parents.append(AuditReport(target=PID, artifact_id=PID, statement=_statement("acme")))
    check_parent_policy(ok, child, NOW, walked=True)
    assert ok.check("parent_policy").status == "pass"  # type: ignore[union-attr]
    # offline (parents not walked): skipped, not passed
    off = AuditReport(target="child", artifact_id="c" * 64, statement=child)
    check_parent_policy(off, child, NOW, walked=False)
    assert off.check("parent_policy").status == "skip"  # type: ignore[union-attr]
