"""End to end against a real coordinator on 127.0.0.1: two orgs enrol, alpha generates (openai
backend against a local fake LLM), gates and publishes; beta lists, pulls and audits; a derived
set names its parent and audit walks the chain; retraction; publish refuses a failing run."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.node.conftest import Space, auditor_for, cli, generate_run, make_node

pytestmark = pytest.mark.slow


def test_publish_stores_a_verified_receipt_and_clean_data(space: Space) -> None:
    import pyarrow.parquet as pq

    from synthspace.node.generate.manifest import load_manifest

    res = space.published
    bundle = space.run_dir / "publish"
    assert res.bundle_dir == bundle
    assert {p.name for p in bundle.iterdir()} >= {"receipt.json", "envelope.json", "data.parquet"}
    receipt = json.loads((bundle / "receipt.json").read_text())
    assert receipt["artifact_id"] == res.artifact_id and receipt["log_index"] == res.log_index
    table = pq.read_table(bundle / "data.parquet")
    assert not [c for c in table.column_names if c.startswith("_")]
    assert {"record_id", "dialogue", "category", "resolved", "satisfaction", "persona_id"} <= set(table.column_names)
    manifest = load_manifest(space.run_dir)
    p = res.statement.predicate
    assert p.kind == "dataset" and p.title == "Kettle support dialogues"
    assert p.record_count == table.num_rows == manifest.completed
    assert p.producer.org == space.alpha.config().org
    assert p.generator is not None and p.generator.backend == "openai" and p.generator.model_id == "fake-model"
    assert p.seed_commitment == manifest.seed_commitment
    assert p.recipe_digest == manifest.recipe_digest and p.task == "en_support_dialogues"
    assert {"seed_leakage", "pii"} <= {g.name for g in p.gates} and all(g.passed for g in p.gates if g.blocking)
    assert "support" in p.tags and "demo" in p.tags
    assert res.statement.subject[0].digest.sha256 == __import__("hashlib").sha256(
        (bundle / "data.parquet").read_bytes()
    ).hexdigest()


def test_publishing_again_is_idempotent(space: Space) -> None:
    from synthspace.node.publishing import publish_run

    again = publish_run(space.alpha, space.run_dir)
    assert again.already_published
    assert again.artifact_id == space.published.artifact_id and again.log_index == space.published.log_index
    # An interrupted publish (signed, receipt lost) re-uploads the same envelope: same receipt.
    receipt = space.run_dir / "publish" / "receipt.json"
    saved = receipt.read_text()
    receipt.unlink()
    resumed = publish_run(space.alpha, space.run_dir)
    assert not resumed.already_published and resumed.log_index == space.published.log_index
    assert json.loads(receipt.read_text())["artifact_id"] == json.loads(saved)["artifact_id"]


def test_cli_list_show_filters(space: Space) -> None:
    aid = space.published.artifact_id
    alpha_org = space.alpha.config().org
    code, out, err = cli("catalog", "list", "--home", str(space.beta.path), "--org", alpha_org, "--json")
    assert code == 0, err
    items = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [i["artifact_id"] for i in items] == [aid]
    code, out, err = cli("catalog", "list", "--home", str(space.beta.path), "--org", "nobody-here", "--json")
    assert code == 0 and out.strip() == ""
    code, out, err = cli("catalog", "list", "--home", str(space.beta.path), "--task", "en_support_dialogues")
    assert code == 0 and "Kettle support dialogues" in out
    code, out, err = cli("catalog", "show", aid, "--home", str(space.beta.path))
    assert code == 0, err
    assert alpha_org in out and "seed_leakage: pass" in out and "openai fake-model" in out


def test_pull_verifies_then_writes_and_data_loads_everywhere(space: Space, tmp_path: Path) -> None:
    import datasets
    import pandas as pd
    import pyarrow.parquet as pq

    out = tmp_path / "pulled"
    code, stdout, err = cli("catalog", "pull", space.published.artifact_id, "--out", str(out), "--purpose", "research", "--home", str(space.beta.path))
    assert code == 0, err
    assert "verified and pulled" in stdout
    assert {p.name for p in out.iterdir()} == {"data.parquet", "envelope.json", "receipt.json", "statement.json", "audit.json", "proof.tlog", "README.md", "agreement.json", "agreement-receipt.json"}
    assert (out / "envelope.json").read_bytes() == (space.run_dir / "publish" / "envelope.json").read_bytes()
    rows = space.published.statement.predicate.record_count
    assert len(pd.read_parquet(out / "data.parquet")) == rows
    assert pq.read_table(out / "data.parquet").num_rows == rows
    ds = datasets.load_dataset("parquet", data_files=str(out / "data.parquet"), split="train")
    assert ds.num_rows == rows and "dialogue" in ds.column_names
    # The pulled bundle audits offline-style (as a directory) for beta too.
    report = auditor_for(space.beta).audit_bundle(out)
    assert report.ok, report.to_dict()


def test_audit_by_id_and_by_dir_pass_every_named_check(space: Space) -> None:
    from synthspace.node.audit import CHECKS

    for target in (space.published.artifact_id, str(space.run_dir / "publish")):
        code, out, err = cli("audit", target, "--home", str(space.beta.path), "--json")
        assert code == 0, err + out
        report = json.loads(out)
        assert report["ok"] and report["first_failure"] is None
        # beta audits alpha's data under a logged agreement (signed for the first audit, reused
        # after), so the `agreement` check follows the named ones.
        assert [c["name"] for c in report["checks"]] == [*CHECKS, "agreement"]
        assert all(c["status"] == "pass" for c in report["checks"])
        assert report["log_index"] == space.published.log_index
        publisher = next(c for c in report["checks"] if c["name"] == "publisher_key")
        assert f"GET /v1/orgs/{space.alpha.config().org} agrees" in publisher["detail"]


def test_outsider_audits_a_bundle_and_the_log_without_a_node_home(space: Space, tmp_path: Path) -> None:
    """An auditor with no enrolled key: public log reads only, its own --state."""
    state = tmp_path / "auditor"
    code, out, err = cli(
        "audit", str(space.run_dir / "publish"), "--coordinator", space.coord.url, "--state", str(state), "--json"
    )
    assert code == 0, err + out
    publisher = next(c for c in json.loads(out)["checks"] if c["name"] == "publisher_key")
    assert "org directory not readable, key history from the log alone" in publisher["detail"]
    assert (state / "checkpoint.txt").is_file() and (state / "verifier-key.txt").is_file()
    code, out, err = cli("audit", "log", "--coordinator", space.coord.url, "--state", str(state), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["counts"]["publish"] >= 1
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["org_directory"] == "skip"  # the org directory needs a signed request
    assert names["publish_entries"] == "pass" and names["log_root"] == "pass"


def test_audit_log_follow_monitors_new_checkpoints(space: Space, tmp_path: Path) -> None:
    code, out, err = cli(
        "audit", "log", "--home", str(space.alpha.path), "--follow", "--interval", "0.2", "--max-polls", "3", "--json"
    )
    assert code == 0, err
    polls = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(polls) == 3 and all(p["ok"] for p in polls)


def test_derived_artifact_names_its_parent_and_audit_walks_the_chain(space: Space, tmp_path: Path) -> None:
    import pandas as pd

    from synthspace.node.derive import Operations, derive_dataset, publish_derived

    parent_id = space.published.artifact_id
    out = tmp_path / "derived"
    d = derive_dataset(
        auditor_for(space.beta),
        [parent_id],
        out,
        title="Resolved kettle dialogues",
        operations=Operations(where="resolved == True", dedupe=True),
    )
    data = pd.read_parquet(out / "data.parquet")
    assert len(data) == d.record_count > 0 and bool(data["resolved"].all())
    assert set(data["source_artifact_id"]) == {parent_id}
    assert d.parents[0].artifact_id == parent_id
    assert d.parents[0].digest.sha256 == space.published.statement.subject[0].digest.sha256
    res = publish_derived(space.beta, out)
    assert res.statement.predicate.kind == "derived-dataset"
    assert [p.artifact_id for p in res.statement.predicate.parents] == [parent_id]

    report = auditor_for(space.alpha).audit_artifact(res.artifact_id)
    assert report.ok, report.to_dict()
    assert report.check("lineage").status == "pass"  # type: ignore[union-attr]
    assert [p.artifact_id for p in report.parents] == [parent_id] and report.parents[0].ok
    # The catalog shows the edge both ways.
    from synthspace.node.coordinator_client import CoordinatorClient

    with CoordinatorClient.for_home(space.alpha) as client:
        assert [c.artifact_id for c in client.artifact(parent_id).children] == [res.artifact_id]


def test_retraction_fails_audit_and_pull_and_breaks_the_childs_lineage(space: Space, tmp_path: Path, fake_llm) -> None:
    from synthspace.node.audit import AuditFailed
    from synthspace.node.catalog import pull
    from synthspace.node.derive import Operations, derive_dataset, publish_derived
    from synthspace.node.publishing import publish_run, retract

    run = generate_run(tmp_path / "run", space.alpha, fake_llm, limit=6)
    parent = publish_run(space.alpha, run, title="To be withdrawn")
    child_dir = tmp_path / "child"
    derive_dataset(auditor_for(space.beta), [parent.artifact_id], child_dir, title="Child", operations=Operations(sample=3))
    child = publish_derived(space.beta, child_dir)

    retract(space.alpha, parent.artifact_id, "contains a mislabelled category")
    report = auditor_for(space.beta).audit_artifact(parent.artifact_id)
    first = report.first_failure()
    assert first is not None and first.name == "retraction" and "mislabelled" in first.detail
    with pytest.raises(AuditFailed, match="retraction"):
        pull(auditor_for(space.beta), parent.artifact_id, tmp_path / "nope")
    assert not (tmp_path / "nope").exists() or not any((tmp_path / "nope").iterdir())
    child_report = auditor_for(space.beta).audit_artifact(child.artifact_id)
    first = child_report.first_failure()
    assert first is not None and first.name == "lineage" and "retraction" in first.detail
    code, out, err = cli("audit", child.artifact_id, "--home", str(space.beta.path))
    assert code == 1 and "audit failed at check lineage" in err


def test_publish_refuses_a_run_whose_gates_fail(space: Space, tmp_path: Path, leaky_llm) -> None:
    from synthspace.node.publishing import GatesFailedError, publish_run

    run = generate_run(tmp_path / "leaky", space.alpha, leaky_llm, limit=6)
    before = _log_size(space)
    with pytest.raises(GatesFailedError) as info:
        publish_run(space.alpha, run)
    assert "seed_leakage" in info.value.failed
    assert not (run / "publish" / "envelope.json").exists()
    code, out, err = cli("publish", str(run), "--home", str(space.alpha.path))
    assert code == 1 and "blocking gate(s) failed" in err and "seed_leakage" in err and "Traceback" not in err
    assert _log_size(space) == before  # nothing reached the coordinator


def test_cli_publish_prints_id_and_log_index(space: Space, tmp_path: Path, fake_llm) -> None:
    run = generate_run(tmp_path / "run", space.beta, fake_llm, limit=4)
    code, out, err = cli("publish", str(run), "--home", str(space.beta.path), "--title", "Beta set", "--tag", "x")
    assert code == 0, err
    receipt = json.loads((run / "publish" / "receipt.json").read_text())
    assert f"published artifact {receipt['artifact_id']}" in out
    assert f"log index {receipt['log_index']}" in out


def test_enrolment_token_is_single_use_and_status_reports_keys(space: Space, tmp_path: Path) -> None:
    from synthspace.node.coordinator_client import CoordinatorError
    from synthspace.node.enrolment import EnrolmentError, enroll, node_status
    from synthspace.node.home import NodeHome

    st = node_status(space.alpha)
    assert st.enrolled and not st.problems
    assert st.coordinator["org"]["org"] == space.alpha.config().org
    with pytest.raises(EnrolmentError, match="already enrolled"):
        enroll(space.alpha, "whatever")
    token = space.coord.invite("gamma-once")
    enroll(NodeHome.init(tmp_path / "g1", "gamma-once", space.coord.url), token)
    with pytest.raises(CoordinatorError):
        enroll(NodeHome.init(tmp_path / "g2", "gamma-once", space.coord.url), token)
    # A pinned verifier key that does not match the coordinator's stops enrolment.
    other = NodeHome.init(tmp_path / "g3", "gamma-pin", space.coord.url)
    with pytest.raises(EnrolmentError, match="not enrolling"):
        enroll(other, space.coord.invite("gamma-pin"), verifier_key="other+00000000+AQ==")
    assert not other.config().enrolled


def _log_size(space: Space) -> int:
    from synthspace.node.coordinator_client import CoordinatorClient

    with CoordinatorClient(space.coord.url) as client:
        return client.health().log_size


def test_second_node_enrols_via_make_node(space: Space, tmp_path: Path) -> None:
    home = make_node(tmp_path, space.coord, "delta")
    assert home.config().enrolled and home.config().log_verifier_key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("audit", "not-an-id"), "neither a bundle directory nor a 64-hex artifact id"),
        (("audit", "0" * 64), "404"),
        (("audit", "0" * 64, "--follow"), "--follow only applies"),
        (("catalog", "show", "f" * 64), "404"),
        (("catalog", "list", "--created-after", "yesterday-ish"), "coordinator refused"),
        (("catalog", "derive", "0" * 64, "--out", "{tmp}/d", "--title", "t"), "404"),
        (("publish", "{tmp}"), "neither a run directory"),
        (("publish", "{tmp}/missing"), "does not exist"),
        (("catalog", "retract", "0" * 64, "--reason", "x"), "404"),
    ],
)
def test_cli_bad_input_is_one_error_line(space: Space, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = cli(*argv, "--home", str(space.beta.path))
    assert code != 0
    assert "Traceback" not in err + out
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, err


def test_pull_refuses_a_directory_holding_another_artifact(space: Space, tmp_path: Path) -> None:
    from synthspace.node.catalog import PullError, pull

    out = tmp_path / "holder"
    shutil.copytree(space.run_dir / "publish", out)
    envelope = json.loads((out / "envelope.json").read_text())
    envelope["payload"] = base64.b64encode(b'{"other": 1}').decode()
    (out / "envelope.json").write_text(json.dumps(envelope))
    with pytest.raises(PullError, match="already holds artifact"):
        pull(auditor_for(space.beta), space.published.artifact_id, out)


def test_unreachable_coordinator_is_a_clear_error(space: Space, tmp_path: Path) -> None:
    from synthspace.node.home import NodeHome

    home = NodeHome.init(tmp_path / "n", "lonely", "http://127.0.0.1:9")
    home.mark_enrolled(space.alpha.config().log_verifier_key or "")
    code, out, err = cli("catalog", "list", "--home", str(home.path))
    assert code == 1 and "cannot reach the coordinator at http://127.0.0.1:9" in err


def test_offline_audit_uses_only_the_auditors_state(space: Space, tmp_path: Path) -> None:
    state = tmp_path / "state"
    bundle = str(space.run_dir / "publish")
    # Never online: nothing to check against.
    code, out, err = cli("audit", bundle, "--offline", "--state", str(state), "--home", str(space.beta.path))
    assert code == 1 and "audit once online" in err
    assert cli("audit", bundle, "--state", str(state), "--home", str(space.beta.path))[0] == 0
    # Offline now: against an unreachable coordinator URL, so any network use would fail.
    code, out, err = cli("audit", bundle, "--offline", "--state", str(state), "--coordinator", "http://127.0.0.1:9", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and {c["status"] for c in report["checks"]} == {"pass"}
    tampered = tmp_path / "tampered"
    shutil.copytree(space.run_dir / "publish", tampered)
    data = bytearray((tampered / "data.parquet").read_bytes())
    data[100] ^= 0xFF
    (tampered / "data.parquet").write_bytes(bytes(data))
    code, out, err = cli("audit", str(tampered), "--offline", "--state", str(state), "--coordinator", "http://127.0.0.1:9")
    assert code == 1 and "audit failed at check data_digest" in err
    code, out, err = cli("audit", space.published.artifact_id, "--offline", "--state", str(state), "--coordinator", "http://127.0.0.1:9")
    assert code == 1 and "needs the coordinator" in err


def test_cli_derive_publish_audit_retract(space: Space, tmp_path: Path) -> None:
    import pandas as pd

    pulled = tmp_path / "pulled"
    home = ["--home", str(space.beta.path)]
    assert cli("catalog", "pull", space.published.artifact_id, "--out", str(pulled), "--purpose", "research", *home)[0] == 0
    out = tmp_path / "derived"
    code, stdout, err = cli(
        "catalog", "derive", str(pulled), "--out", str(out), "--title", "Categories only",
        "--columns", "category,satisfaction", "--sample", "5", "--seed", "3", "--tag", "slim", *home,
    )
    assert code == 0, err
    assert "from 1 verified parent(s)" in stdout
    data = pd.read_parquet(out / "data.parquet")
    assert list(data.columns) == ["record_id", "category", "satisfaction", "source_artifact_id"] and len(data) == 5
    code, stdout, err = cli("publish", str(out), *home)
    assert code == 0, err
    child_id = json.loads((out / "publish" / "receipt.json").read_text())["artifact_id"]
    code, stdout, err = cli("audit", child_id, *home, "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["parents"][0]["artifact_id"] == space.published.artifact_id
    assert {c["name"]: c["status"] for c in report["checks"]}["lineage"] == "pass"
    code, stdout, err = cli("catalog", "retract", child_id, "--reason", "superseded", *home)
    assert code == 0, err
    code, stdout, err = cli("audit", child_id, *home)
    assert code == 1 and "audit failed at check retraction" in err and "superseded" in err
    # Only the publisher (or the operator) may retract: alpha cannot retract beta's artifact.
    code, stdout, err = cli("catalog", "retract", child_id, "--reason", "mine now", "--home", str(space.alpha.path))
    assert code == 1 and err.startswith("error: ")


def test_publish_refuses_an_unfinished_run_and_a_changed_bundle(space: Space, tmp_path: Path) -> None:
    from synthspace.node.generate.manifest import load_manifest, write_manifest
    from synthspace.node.publishing import PublishError, publish_bundle, publish_run

    run = tmp_path / "unfinished"
    shutil.copytree(space.run_dir, run, ignore=shutil.ignore_patterns("publish", ".lock"))
    manifest = load_manifest(run)
    manifest.status = "running"
    write_manifest(run, manifest)
    with pytest.raises(PublishError, match="not complete"):
        publish_run(space.alpha, run)
    assert not (run / "publish" / "envelope.json").exists()
    # A signed bundle whose data changed after signing is not uploaded.
    bundle = tmp_path / "bundle"
    shutil.copytree(space.run_dir / "publish", bundle)
    (bundle / "receipt.json").unlink()
    (bundle / "data.parquet").write_bytes((bundle / "data.parquet").read_bytes() + b"\0")
    with pytest.raises(PublishError, match="changed after it was signed"):
        publish_bundle(space.alpha, bundle)


def test_request_key_rotation_locks_out_the_old_key(space: Space, tmp_path: Path) -> None:
    from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError
    from synthspace.node.enrolment import node_status, rotate_key

    home = make_node(tmp_path, space.coord, "rho")
    old_key = home.request_key()
    old_id, new_id = rotate_key(home, "request")
    assert old_id != new_id == home.config().request_key_id
    st = node_status(home)
    assert not st.problems, st.problems
    with CoordinatorClient(space.coord.url, old_key, keyid=old_id) as stale, pytest.raises(CoordinatorError) as info:
        stale.list_artifacts()
    assert info.value.status == 401
    with CoordinatorClient.for_home(home) as fresh:
        assert fresh.list_artifacts(limit=1).items is not None
