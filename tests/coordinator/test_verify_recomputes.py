"""Issue 14 item 4: `coordinator verify` recomputes the stored state from the log, the signed
envelopes and the blob bytes, and names each inconsistency (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, update

from synthspace import keys
from synthspace.coordinator.errors import LogIntegrityError
from synthspace.coordinator.models import Artifact, LogNode, OrgKey
from tests.coordinator.conftest import CoordinatorServer, OrgIdentity, build_artifact, publish


def _published(org: OrgIdentity) -> str:
    envelope, data = build_artifact(org)
    r = publish(org.client(), envelope, data)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["artifact_id"])


@contextmanager
def _coordinator(server: CoordinatorServer) -> Iterator[Any]:
    coord = server.coordinator()
    try:
        yield coord
    finally:
        coord.close()


def _verify_names(server: CoordinatorServer) -> str:
    with _coordinator(server) as coord, pytest.raises(LogIntegrityError) as info:
        coord.verify_integrity("full")
    return str(info.value)


def _clean(server: CoordinatorServer) -> None:
    with _coordinator(server) as coord:
        coord.verify_integrity("full")


@contextmanager
def _tampered(server: CoordinatorServer, apply: Callable[[Any], Callable[[Any], None]]) -> Iterator[None]:
    """Apply an edit in the database (apply returns its undo), yield, undo."""
    with _coordinator(server) as coord, coord.session() as s:
        undo = apply(s)
        s.commit()
    try:
        yield
    finally:
        with _coordinator(server) as coord, coord.session() as s:
            undo(s)
            s.commit()


def _set(aid: str, **values: Any) -> Callable[[Any], Callable[[Any], None]]:
    def apply(s: Any) -> Callable[[Any], None]:
        row = s.get(Artifact, aid)
        before = {k: getattr(row, k) for k in values}
        s.execute(update(Artifact).where(Artifact.artifact_id == aid).values(**values))
        return lambda s2: s2.execute(update(Artifact).where(Artifact.artifact_id == aid).values(**before))

    return apply


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("title", "A better title", "artifact_metadata"),
        ("description", "edited", "artifact_metadata"),
        ("kind", "model-adapter", "artifact_metadata"),
        ("subject_sha256", "ab" * 32, "data_digest"),
        ("envelope_sha256", "cd" * 32, "envelope_digest"),
    ],
)
def test_edited_row_is_named(
    server: CoordinatorServer, org: OrgIdentity, column: str, value: Any, check: str
) -> None:
    aid = _published(org)
    _clean(server)  # positive control: untouched state verifies
    with _tampered(server, _set(aid, **{column: value})):
        names = _verify_names(server)
        assert f"{check} [{aid}]" in names, names
    _clean(server)


def test_swapped_envelope_is_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    a, b = _published(org), _published(org)

    def apply(s: Any) -> Callable[[Any], None]:
        ra, rb = s.get(Artifact, a), s.get(Artifact, b)
        env_a, env_b = ra.envelope, rb.envelope
        s.execute(update(Artifact).where(Artifact.artifact_id == a).values(envelope=env_b))
        return lambda s2: s2.execute(update(Artifact).where(Artifact.artifact_id == a).values(envelope=env_a))

    with _tampered(server, apply):
        assert f"envelope_digest [{a}]" in _verify_names(server)


def test_changed_blob_bytes_are_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    aid = _published(org)
    with _coordinator(server) as coord, coord.session() as s:
        path = coord.blobs.path_for(s.get(Artifact, aid).subject_sha256)
    original = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        names = _verify_names(server)
        assert f"data_digest [{aid}]" in names and "other bytes" in names
    finally:
        path.write_bytes(original)
    _clean(server)


def test_retraction_rows_are_checked(server: CoordinatorServer, org: OrgIdentity) -> None:
    aid = _published(org)
    from datetime import UTC, datetime

    with _tampered(server, _set(aid, retracted_at=datetime.now(UTC), retraction_reason="x", retracted_by="operator")):
        assert f"retraction [{aid}]" in _verify_names(server)  # retracted without a log entry
    r = org.client().post(f"/v1/artifacts/{aid}/retract", json={"reason": "mislabelled"})
    assert r.status_code == 200, r.text
    _clean(server)
    with _tampered(server, _set(aid, retracted_at=None, retract_log_index=None)):
        assert f"retraction [{aid}]" in _verify_names(server)  # a cleared retraction


def test_zeroed_subtree_hash_is_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    _published(org)
    _published(org)

    def apply(s: Any) -> Callable[[Any], None]:
        node = s.execute(select(LogNode).order_by(LogNode.level.desc())).scalars().first()
        level, idx, h = node.level, node.idx, node.hash
        node.hash = b"\0" * 32

        def undo(s2: Any) -> None:
            s2.execute(update(LogNode).where(LogNode.level == level, LogNode.idx == idx).values(hash=h))

        return undo

    with _tampered(server, apply):
        assert "log_nodes [node " in _verify_names(server)


def test_swapped_request_key_pem_is_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    kid = keys.key_id(org.request_key)
    attacker = keys.public_key_pem(keys.generate_private_key().public_key())

    def apply(s: Any) -> Callable[[Any], None]:
        pem = s.get(OrgKey, kid).public_key_pem
        s.execute(update(OrgKey).where(OrgKey.key_id == kid).values(public_key_pem=attacker))
        return lambda s2: s2.execute(update(OrgKey).where(OrgKey.key_id == kid).values(public_key_pem=pem))

    with _tampered(server, apply):
        names = _verify_names(server)
        assert f"key_directory [{kid}]" in names and "public key differs" in names


def test_swapped_log_indices_are_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    a, b = _published(org), _published(org)

    def swap(s: Any) -> None:
        ia, ib = s.get(Artifact, a).log_index, s.get(Artifact, b).log_index
        s.execute(update(Artifact).where(Artifact.artifact_id == a).values(log_index=0))  # a key entry (FK), no artifact
        s.execute(update(Artifact).where(Artifact.artifact_id == b).values(log_index=ia))
        s.execute(update(Artifact).where(Artifact.artifact_id == a).values(log_index=ib))

    def apply(s: Any) -> Callable[[Any], None]:
        swap(s)
        return swap

    with _tampered(server, apply):
        names = _verify_names(server)
        assert f"artifact_entry [{a}]" in names and f"artifact_entry [{b}]" in names


def test_widened_visibility_is_named(server: CoordinatorServer, org: OrgIdentity) -> None:
    """A restricted artifact made visible to all (or given an extra assignee) in the database."""
    from synthspace.coordinator.models import ArtifactAssignee
    from synthspace.policy import share_policy

    envelope, data = build_artifact(org, policy=share_policy(["partner-org"], ["use", "train"]))
    r = publish(org.client(), envelope, data)
    assert r.status_code in (200, 201), r.text
    aid = str(r.json()["artifact_id"])
    _clean(server)  # positive control: the signed policy and the rows agree
    with _tampered(server, _set(aid, visible_to_all=True)):
        assert f"visibility [{aid}]" in _verify_names(server)

    def extra(s: Any) -> Callable[[Any], None]:
        s.add(ArtifactAssignee(artifact_id=aid, org_name="eavesdropper"))
        return lambda s2: s2.execute(
            ArtifactAssignee.__table__.delete().where(ArtifactAssignee.org_name == "eavesdropper")
        )

    with _tampered(server, extra):
        assert f"visibility [{aid}]" in _verify_names(server)
    _clean(server)


def test_policy_versions_are_checked(server: CoordinatorServer, org: OrgIdentity) -> None:
    """After a logged restriction, verify recomputes visibility from the signed policy plus its
    versions (clean), and names an edited version row or a version counter out of step."""
    from synthspace.coordinator.models import PolicyVersionRow
    from synthspace.policy import share_policy
    from synthspace.policy_versions import sign_policy_update

    signed = share_policy(["partner-org", "other-org"], ["use", "train"])
    envelope, data = build_artifact(org, policy=signed)
    aid = str(publish(org.client(), envelope, data).json()["artifact_id"])
    signed_update = sign_policy_update(
        org.artifact_key, artifact_id=aid, previous=signed, policy=share_policy(["partner-org"], ["use"]), org=org.name
    )
    r = org.client().post(
        f"/v1/artifacts/{aid}/policy", content=signed_update.to_json(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    _clean(server)  # positive control: visibility follows the version, rows match the log

    def widen(s: Any) -> Callable[[Any], None]:
        row = s.scalars(select(PolicyVersionRow).where(PolicyVersionRow.artifact_id == aid)).one()
        before = dict(row.policy)
        row.policy = signed.model_dump(mode="json")
        return lambda s2: s2.execute(
            update(PolicyVersionRow).where(PolicyVersionRow.artifact_id == aid).values(policy=before)
        )

    with _tampered(server, widen):
        assert f"policy_version [{aid}]" in _verify_names(server)
    with _tampered(server, _set(aid, policy_version=0)):
        assert f"policy_version [{aid}]" in _verify_names(server)
    _clean(server)
