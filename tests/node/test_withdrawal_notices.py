"""Withdrawal propagates to nodes (issue 16 item 5): `audit log` / `audit log --follow` tells a
node which of its pulled or published artifacts a new retraction affects, and says nothing about
the ones it does not; `audit ID` names the withdrawn ancestor; `catalog show` prints it."""

from __future__ import annotations

from pathlib import Path

from synthspace.node.catalog import Consumer, pull
from synthspace.node.derive import Operations, derive_dataset, publish_derived
from synthspace.node.publishing import publish_run, retract
from tests.node.conftest import Coordinator, auditor_for, cli, generate_run, make_node


def test_follow_names_affected_pulled_artifacts_only(
    tmp_path: Path, coordinator: Coordinator, fake_llm
) -> None:
    alpha = make_node(tmp_path, coordinator, "alpha")
    beta = make_node(tmp_path, coordinator, "beta")
    source = publish_run(
        alpha, generate_run(tmp_path / "r1", alpha, fake_llm, limit=6), title="Withdrawn source"
    )
    unrelated = publish_run(
        alpha, generate_run(tmp_path / "r2", alpha, fake_llm, limit=6), title="Unrelated"
    )
    derive_dataset(
        auditor_for(alpha),
        [source.artifact_id],
        tmp_path / "child",
        title="Child",
        operations=Operations(sample=3),
    )
    child = publish_derived(alpha, tmp_path / "child")
    derive_dataset(
        auditor_for(alpha),
        [child.artifact_id],
        tmp_path / "gc",
        title="Grandchild",
        operations=Operations(sample=2),
    )
    grandchild = publish_derived(alpha, tmp_path / "gc")
    # beta pulls the grandchild (built on the source, two links up) and the unrelated set.
    consumer = Consumer.for_home(beta)
    pull(
        auditor_for(beta),
        grandchild.artifact_id,
        tmp_path / "pulled-gc",
        purpose="train",
        consumer=consumer,
    )
    pull(
        auditor_for(beta),
        unrelated.artifact_id,
        tmp_path / "pulled-u",
        purpose="train",
        consumer=consumer,
    )
    home = ("--home", str(beta.path))
    code, out, err = cli("audit", "log", *home)  # the baseline: nothing retracted yet
    assert code == 0, err
    assert "affected:" not in out

    retract(alpha, source.artifact_id, "mislabelled categories")
    code, out, err = cli("audit", "log", "--follow", "--max-polls", "1", "--interval", "0.1", *home)
    assert code == 0, err
    expected = f"affected: pulled {grandchild.artifact_id} is built on {source.artifact_id}"
    assert expected in out and "mislabelled categories" in out, out
    assert unrelated.artifact_id not in out  # control: the unrelated pull is not affected
    # told once: the next poll has no new retraction
    code, out, err = cli("audit", "log", *home)
    assert code == 0 and "affected:" not in out, out

    # A second retraction that hits nothing of beta's says nothing; alpha's own node is told
    # about its published child and grandchild.
    other = publish_run(
        alpha, generate_run(tmp_path / "r3", alpha, fake_llm, limit=6), title="Other"
    )
    code, out, err = cli("audit", "log", *home)
    assert code == 0, err
    retract(alpha, other.artifact_id, "superseded")
    code, out, err = cli("audit", "log", *home)
    assert code == 0 and "affected:" not in out, out
    notices = auditor_for(alpha).withdrawal_notices(0)
    hit = {(n.local_id, n.retracted_id) for n in notices}
    assert (child.artifact_id, source.artifact_id) in hit and (
        grandchild.artifact_id,
        source.artifact_id,
    ) in hit
    assert (source.artifact_id, source.artifact_id) in hit and (
        other.artifact_id,
        other.artifact_id,
    ) in hit
    assert not any(n.local_id == unrelated.artifact_id for n in notices)

    # `audit ID` names the withdrawn ancestor of the grandchild; `catalog show` prints it.
    code, out, err = cli("audit", grandchild.artifact_id, *home)
    assert code == 1 and "audit failed at check lineage" in err
    assert f"built on withdrawn data: {source.artifact_id} failed retraction" in err, err
    assert "mislabelled categories" in err
    code, out, err = cli("catalog", "show", grandchild.artifact_id, *home)
    assert code == 0, err
    assert (
        f"BUILT ON WITHDRAWN DATA: {source.artifact_id}" in out and "mislabelled categories" in out
    )
    code, out, err = cli("catalog", "show", unrelated.artifact_id, *home)
    assert code == 0 and "WITHDRAWN" not in out
