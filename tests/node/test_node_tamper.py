"""Every tamper case fails audit or pull, naming the check that caught it.

modified data bytes, modified envelope payload, a signature by a non-enrolled key, a key of
another org, a revoked key, an entry missing from the log, and a checkpoint inconsistent with
an earlier one (a forged same-size checkpoint, and a split view served by a second coordinator
holding the same log key).
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import Coordinator, Space, auditor_for, cli, make_node

pytestmark = pytest.mark.slow


def copy_bundle(space: Space, dest: Path) -> Path:
    shutil.copytree(space.run_dir / "publish", dest)
    return dest


def first_failure(report: Any) -> tuple[str, str]:
    first = report.first_failure()
    assert first is not None, report.to_dict()
    return first.name, first.detail


def resign(envelope_path: Path, key: Any) -> None:
    """Replace the envelope's signature with one by `key` over the SAME payload."""
    from synthspace import dsse

    env = dsse.Envelope.from_json(envelope_path.read_bytes())
    new = dsse.sign(env.payload_bytes(), env.payloadType, [key])
    envelope_path.write_bytes(new.to_json())


def signed_bundle(dest: Path, org: str, key: Any, rows: int = 4, receipt_from: Path | None = None) -> Path:
    """A bundle for NEW data with a valid Statement of `org`, signed by `key`, never published."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthspace import artifact, keys
    from synthspace.lineage import GateResult, LineagePredicate, Producer, Times
    from synthspace.node.publishing import build_statement

    dest.mkdir(parents=True)
    pq.write_table(pa.table({"record_id": [f"x{i}" for i in range(rows)], "text": ["fresh"] * rows}), dest / "data.parquet")
    now = datetime.now(UTC)
    predicate = LineagePredicate(
        kind="dataset",
        title="never published",
        producer=Producer(org=org, artifact_key_id=keys.key_id(key), software="test"),
        gates=[GateResult(name="seed_leakage", blocking=True, passed=True)],
        times=Times(started=now, finished=now, signed=now),
    )
    envelope = artifact.sign_statement(build_statement(dest / "data.parquet", predicate), key)
    (dest / "envelope.json").write_bytes(envelope.to_json())
    if receipt_from is not None:
        shutil.copy(receipt_from / "receipt.json", dest / "receipt.json")
    return dest


def test_modified_data_bytes_fail_data_digest(space: Space, tmp_path: Path) -> None:
    bundle = copy_bundle(space, tmp_path / "b")
    data = bytearray((bundle / "data.parquet").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / "data.parquet").write_bytes(bytes(data))
    name, detail = first_failure(auditor_for(space.beta).audit_bundle(bundle))
    assert name == "data_digest" and "modified" in detail
    code, out, err = cli("audit", str(bundle), "--home", str(space.beta.path))
    assert code == 1 and "audit failed at check data_digest" in err


def test_modified_envelope_payload_fails_envelope_signature(space: Space, tmp_path: Path) -> None:
    bundle = copy_bundle(space, tmp_path / "b")
    env = json.loads((bundle / "envelope.json").read_text())
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["title"] = "A more attractive title"
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (bundle / "envelope.json").write_text(json.dumps(env))
    name, detail = first_failure(auditor_for(space.beta).audit_bundle(bundle))
    assert name == "envelope_signature" and "does not verify" in detail


def test_signature_by_a_non_enrolled_key_fails_envelope_signature(space: Space, tmp_path: Path) -> None:
    from synthspace import keys

    bundle = copy_bundle(space, tmp_path / "b")
    resign(bundle / "envelope.json", keys.generate_private_key())
    name, detail = first_failure(auditor_for(space.beta).audit_bundle(bundle))
    assert name == "envelope_signature" and "no org has enrolled" in detail


def test_key_of_another_org_fails_publisher_key(space: Space, tmp_path: Path) -> None:
    bundle = copy_bundle(space, tmp_path / "b")
    resign(bundle / "envelope.json", space.beta.artifact_key())  # beta signs alpha's lineage
    name, detail = first_failure(auditor_for(space.alpha).audit_bundle(bundle))
    assert name == "publisher_key"
    assert space.beta.config().org in detail and space.alpha.config().org in detail


def test_entry_missing_from_the_log_fails_log_inclusion(space: Space, tmp_path: Path) -> None:
    # Validly signed by alpha's real key, with a receipt borrowed from a real artifact, but
    # never published: the log has no entry for it.
    bundle = signed_bundle(
        tmp_path / "b", space.alpha.config().org, space.alpha.artifact_key(), receipt_from=space.run_dir / "publish"
    )
    report = auditor_for(space.beta).audit_bundle(bundle)
    name, detail = first_failure(report)
    assert name == "log_inclusion" and "no publish entry" in detail
    assert report.check("envelope_signature").status == "pass"  # type: ignore[union-attr]
    assert report.check("data_digest").status == "pass"  # type: ignore[union-attr]


def test_revoked_key(space: Space, tmp_path: Path) -> None:
    """An adapter published before its key was rotated out still audits (the key was valid
    then); anything signed with the revoked key afterwards fails publisher_key, and the
    coordinator refuses to publish it."""
    import numpy as np
    from safetensors.numpy import save_file

    from synthspace import keys
    from synthspace.lineage import GateResult, LineagePredicate, Producer, Times, Training
    from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError
    from synthspace.node.publishing import publish_file

    gamma = make_node(tmp_path, space.coord, "gamma")
    org = gamma.config().org
    old_key = gamma.artifact_key()
    adapter = tmp_path / "adapter.safetensors"
    save_file({"lora_A": np.ones((2, 4), dtype=np.float32), "lora_B": np.zeros((4, 2), dtype=np.float32)}, str(adapter))
    now = datetime.now(UTC)
    predicate = LineagePredicate(
        kind="model-adapter",
        title="LoRA adapter",
        producer=Producer(org=org, artifact_key_id="set-by-publish", software="test"),
        gates=[GateResult(name="adapter_format", blocking=True, passed=True)],
        training=Training(strategy="FedAvg", base_model="SmolLM2-135M-Instruct", rounds=1, participants=[org]),
        times=Times(started=now, finished=now, signed=now),
    )
    published = publish_file(gamma, adapter, predicate, bundle_dir=tmp_path / "adapter-bundle")
    assert published.statement.subject[0].name == "adapter.safetensors"
    assert published.statement.predicate.producer.artifact_key_id == keys.key_id(old_key)

    code, out, err = cli("node", "rotate-key", "artifact", "--home", str(gamma.path))
    assert code == 0, err
    assert gamma.config().artifact_key_id != keys.key_id(old_key)
    assert (gamma.keys_dir / "retired" / f"artifact-{keys.key_id(old_key)[:16]}.pem").is_file()
    with CoordinatorClient.for_home(gamma) as client:
        revoked = {k.key_id: k for k in client.org(org).keys}[keys.key_id(old_key)]
    assert revoked.revoked_at is not None
    # The rotated-in key publishes and audits like the old one did.
    later = publish_file(gamma, adapter, predicate, bundle_dir=tmp_path / "adapter-bundle-2")
    assert later.statement.predicate.producer.artifact_key_id == gamma.config().artifact_key_id
    assert auditor_for(space.beta).audit_artifact(later.artifact_id).ok

    before = auditor_for(space.beta).audit_artifact(published.artifact_id)
    assert before.ok, before.to_dict()
    assert "revoked later" in before.check("publisher_key").detail  # type: ignore[union-attr]

    bundle = signed_bundle(tmp_path / "after", org, old_key)
    name, detail = first_failure(auditor_for(space.beta).audit_bundle(bundle))
    assert name == "publisher_key" and "revoked" in detail

    with CoordinatorClient.for_home(gamma) as client, pytest.raises(CoordinatorError) as info:
        client.publish((bundle / "envelope.json").read_bytes(), bundle / "data.parquet")
    assert info.value.status in (400, 403, 409, 422)


def test_tampered_blob_on_the_coordinator_fails_pull_before_anything_is_written(
    space: Space, tmp_path: Path, fake_llm: Any
) -> None:
    from synthspace.node.audit import AuditFailed
    from synthspace.node.catalog import pull
    from synthspace.node.publishing import publish_run
    from tests.node.conftest import generate_run

    run = generate_run(tmp_path / "run", space.alpha, fake_llm, limit=5)
    res = publish_run(space.alpha, run, title="Blob to tamper")
    digest = res.statement.subject[0].digest.sha256
    blobs = [p for p in (space.coord.home / "blobs").rglob("*") if p.is_file() and digest in p.name]
    assert len(blobs) == 1, "the coordinator stores blobs content-addressed by sha256"
    original = blobs[0].read_bytes()
    try:
        blobs[0].write_bytes(original[:-8] + b"tampered")
        out = tmp_path / "out"
        with pytest.raises(AuditFailed, match="data_digest"):
            pull(auditor_for(space.beta), res.artifact_id, out, purpose="research")
        assert not out.exists() or not any(out.iterdir())
        code, stdout, err = cli("catalog", "pull", res.artifact_id, "--out", str(tmp_path / "out2"), "--purpose", "research", "--home", str(space.beta.path))
        assert code == 1 and "data_digest" in err
        assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())
    finally:
        blobs[0].write_bytes(original)


def test_forged_checkpoint_of_the_same_size_fails_checkpoint_consistency(space: Space, tmp_path: Path) -> None:
    """The auditor remembers a checkpoint; a signed checkpoint that contradicts it (here forged
    with the coordinator's own log key, as a compromised or forking coordinator could) is caught,
    kept as evidence, and never replaces the remembered one."""
    import hashlib

    from synthspace.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
    from synthspace.node.cli_support import open_auditor

    state = tmp_path / "state"
    auditor = open_auditor(home=space.beta.path, state=state)
    assert auditor.audit_bundle(space.run_dir / "publish").ok
    verifier = auditor.verifier()
    seen = open_checkpoint((state / "checkpoint.txt").read_text(), verifier)
    forged = sign_checkpoint(
        Checkpoint(seen.origin, seen.size, hashlib.sha256(b"another history").digest()),
        verifier.name,
        space.coord.log_key(),
    )
    (state / "checkpoint.txt").write_text(forged)

    report = open_auditor(home=space.beta.path, state=state).audit_bundle(space.run_dir / "publish")
    name, detail = first_failure(report)
    assert name == "checkpoint_consistency"
    assert (state / "checkpoint.txt").read_text() == forged  # the earlier view is kept
    evidence = list((state / "evidence").iterdir())
    assert len(evidence) == 1 and forged in evidence[0].read_text()


def test_split_view_from_a_second_coordinator_with_the_same_key_is_caught(space: Space, tmp_path: Path) -> None:
    """A coordinator that shows one auditor two different logs under the same key and origin."""
    import httpx

    from synthspace import keys

    fork_home = tmp_path / "fork"
    (fork_home / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy(space.coord.home / "keys" / "log.pem", fork_home / "keys" / "log.pem")
    fork = Coordinator.create(fork_home, origin="test.node/log").start()
    try:
        state = tmp_path / "monitor"
        code, out, err = cli("audit", "log", "--coordinator", space.coord.url, "--state", str(state), "--json")
        assert code == 0, err
        real_size = json.loads(out)["size"]
        # Grow the fork past the real log so a consistency proof is needed (and must fail).
        while httpx.get(f"{fork.url}/healthz").json()["log_size"] <= real_size:
            org = f"forked-{len(list(fork_home.iterdir()))}-{keys.key_id(keys.generate_private_key())[:6]}"
            r = httpx.post(
                f"{fork.url}/v1/enrol",
                json={
                    "token": fork.invite(org),
                    "org": org,
                    "artifact_public_key": keys.public_key_pem(keys.generate_private_key()),
                    "request_public_key": keys.public_key_pem(keys.generate_private_key()),
                },
            )
            assert r.status_code == 201, r.text
            (fork_home / org).mkdir()
        code, out, err = cli("audit", "log", "--coordinator", fork.url, "--state", str(state))
        assert code == 1 and "log audit failed at check checkpoint_consistency" in err
        assert len(list((state / "evidence").iterdir())) == 1
        # An artifact audit against the fork names the same check.
        code, out, err = cli("audit", str(space.run_dir / "publish"), "--coordinator", fork.url, "--state", str(state), "--json")
        assert code == 1
        checks = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
        assert checks["checkpoint_consistency"] == "fail"
    finally:
        fork.stop()


def test_coordinator_serving_a_different_log_key_is_refused(space: Space, tmp_path: Path) -> None:
    """An auditor's state pins the log key: a coordinator with another key is an error, not TOFU again."""
    other = Coordinator.create(tmp_path / "other", origin="test.node/log").start()
    try:
        state = tmp_path / "pinned"
        assert cli("audit", "log", "--coordinator", space.coord.url, "--state", str(state))[0] == 0
        code, out, err = cli("audit", "log", "--coordinator", other.url, "--state", str(state))
        assert code == 1 and "pinned" in err
    finally:
        other.stop()


def test_org_directory_contradicting_the_log_fails_publisher_key(space: Space, tmp_path: Path) -> None:
    """A coordinator whose database says a key was revoked (or not) differently from its own
    log is caught: the auditor trusts neither alone."""
    import sqlite3

    key_id = space.alpha.config().artifact_key_id
    db = sqlite3.connect(space.coord.home / "coordinator.db")
    try:
        with db:
            db.execute("UPDATE org_keys SET revoked_at = '2000-01-01 00:00:00' WHERE key_id = ?", (key_id,))
        name, detail = first_failure(auditor_for(space.beta).audit_bundle(space.run_dir / "publish"))
        assert name == "publisher_key" and "disagree on the revocation" in detail
        code, out, err = cli("audit", "log", "--home", str(space.beta.path))
        assert code == 1 and "org_directory" in err
    finally:
        with db:
            db.execute("UPDATE org_keys SET revoked_at = NULL WHERE key_id = ?", (key_id,))
        db.close()
    assert auditor_for(space.beta).audit_bundle(space.run_dir / "publish").ok
