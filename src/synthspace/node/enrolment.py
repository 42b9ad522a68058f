"""Enrolment of a node with its coordinator, and the node's status.

Enrolment sends the one-time token and the PUBLIC halves of the node's keys, and pins the
coordinator's log verifier key in node.json: from then on every checkpoint the node sees must
carry that key's signature.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthspace import keys
from synthspace.errors import SynthspaceError
from synthspace.keys import public_key_pem
from synthspace.node.audit.auditor_state import AuditorState
from synthspace.node.audit.log_monitor import advance_checkpoint, resolve_verifier
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.node.witness import load_witness
from synthspace.witness import WitnessError, check_witness_url, witness_name_for

if TYPE_CHECKING:
    import httpx

    from synthspace.api_models import OrgRecord
    from synthspace.node.home import NodeHome
    from synthspace.witness import WitnessKey


class EnrolmentError(SynthspaceError):
    """Enrolment failed or its answer does not match what the node sent."""


def enroll(
    home: NodeHome,
    token: str,
    *,
    verifier_key: str | None = None,
    witness_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> OrgRecord:
    """Register this node's public keys with the coordinator using a one-time `token`.

    `verifier_key` pins the coordinator's log key out of band (recommended; the operator prints
    it with `synthspace coordinator init`); without it the key the coordinator presents now is
    pinned. With `witness_url` the node's witness key (named `<org>/witness`, the one
    `synthspace node witness` cosigns with) is enrolled too, as a key with purpose `witness`.
    Returns the coordinator's org record.
    """
    config = home.config()
    if config.enrolled:
        raise EnrolmentError(
            f"node {config.org!r} is already enrolled with {config.coordinator_url} "
            f"(since {config.enrolled_at}); rotate keys instead of enrolling again"
        )
    token = token.strip()
    if not token:
        raise EnrolmentError("the enrolment token is empty; ask the coordinator operator for one")
    with CoordinatorClient(config.coordinator_url, transport=transport) as client:
        presented = client.verifier_key()
        if verifier_key is not None and verifier_key.strip() != presented:
            raise EnrolmentError(
                f"the coordinator at {config.coordinator_url} presents log key {presented!r}, "
                f"not the {verifier_key.strip()!r} you expected; not enrolling"
            )
        record = client.enrol(
            token=token,
            org=config.org,
            artifact_public_key_pem=public_key_pem(home.artifact_key()),
            request_public_key_pem=public_key_pem(home.request_key()),
            supernode_public_key=home.supernode_public_key(),
            witness_key=node_witness_key(home).to_string() if witness_url else None,
            witness_url=witness_url,
        )
        enrolled_ids = {k.key_id for k in record.keys}
        expected = {config.artifact_key_id, config.request_key_id}
        if witness_url:
            expected.add(keys.key_id(node_witness_key(home).public_key))
        if not expected <= enrolled_ids:
            raise EnrolmentError("the coordinator's answer does not list the keys this node sent")
        state = AuditorState(home.auditor_state_dir)
        verifier, _ = resolve_verifier(client, state, presented)
        advance_checkpoint(client, state, verifier, client.checkpoint())
    home.mark_enrolled(presented)
    return record


def node_witness_key(home: NodeHome) -> WitnessKey:
    """The node's witness key under its one enrollable name, `<org>/witness` (created on first use)."""
    return load_witness(home.path, witness_name_for(home.config().org), {}).key


def register_witness(
    home: NodeHome, url: str, *, transport: httpx.BaseTransport | None = None
) -> tuple[str, list[str]]:
    """Enrol (or re-register) this enrolled node's witness key and URL at the coordinator.

    A signed key-add with purpose `witness` (logged like every key) that revokes the org's
    earlier witness keys: the rotation path. Returns (vkey, ids of the keys it replaced).
    Registering the same key again is refused by the coordinator (409 key_exists).
    """
    config = home.require_enrolled()
    try:
        url = check_witness_url(url)
    except WitnessError as exc:
        raise EnrolmentError(f"--url: {exc}") from None
    wkey = node_witness_key(home)
    with CoordinatorClient.for_home(home, transport=transport) as client:
        before = [k.key_id for k in client.org(config.org).keys if k.purpose == "witness" and k.revoked_at is None]
        added = client.add_key(config.org, "witness", wkey.to_string(), revoke_previous=True, witness_url=url)
    if not isinstance(added, dict) or added.get("key_id") != keys.key_id(wkey.public_key):
        raise EnrolmentError("the coordinator's answer does not name the witness key this node sent")
    return wkey.to_string(), before


@dataclass
class NodeStatus:
    org: str
    coordinator_url: str
    home: str
    artifact_key_id: str
    request_key_id: str
    supernode_key: bool
    enrolled: bool
    enrolled_at: str | None
    log_verifier_key: str | None
    coordinator: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def node_status(home: NodeHome, *, online: bool = True, transport: httpx.BaseTransport | None = None) -> NodeStatus:
    """What the node is and, with `online`, what the coordinator says about its keys."""
    config = home.config()
    status = NodeStatus(
        org=config.org,
        coordinator_url=config.coordinator_url,
        home=str(home.path),
        artifact_key_id=config.artifact_key_id,
        request_key_id=config.request_key_id,
        supernode_key=home.supernode_public_key() is not None,
        enrolled=config.enrolled,
        enrolled_at=config.enrolled_at.isoformat() if config.enrolled_at else None,
        log_verifier_key=config.log_verifier_key,
    )
    for path in home.secret_files():
        if path.stat().st_mode & 0o077:
            status.problems.append(f"{path} is readable by others (chmod 600 it)")
    if not online:
        return status
    try:
        with CoordinatorClient.for_home(home, transport=transport) as client:
            status.coordinator["health"] = client.health().model_dump(mode="json")
            if config.enrolled:
                record = client.org(config.org)
                status.coordinator["org"] = record.model_dump(mode="json")
                by_id = {k.key_id: k for k in record.keys}
                for kid, what in ((config.artifact_key_id, "artifact"), (config.request_key_id, "request")):
                    key = by_id.get(kid)
                    if key is None:
                        status.problems.append(f"the coordinator does not know this node's {what} key")
                    elif key.revoked_at is not None:
                        status.problems.append(f"this node's {what} key was revoked at {key.revoked_at.isoformat()}")
    except SynthspaceError as exc:
        status.problems.append(str(exc))
    return status


def rotate_key(
    home: NodeHome,
    purpose: str,
    *,
    reason: str = "rotated",
    transport: httpx.BaseTransport | None = None,
) -> tuple[str, str]:
    """Replace the node's `artifact` or `request` key: enrol a new one and revoke the old one
    at the coordinator (both logged), then swap the key file. Returns (old id, new id).

    The old private key is kept under keys/retired/ (0600): artifacts it signed before the
    rotation stay valid, and nothing signed with it afterwards will verify. The new key is
    written (0600) before the coordinator is asked, so a crash never leaves the node without
    the key the coordinator now expects.
    """
    if purpose not in ("artifact", "request"):
        raise EnrolmentError(f"cannot rotate a {purpose!r} key; choose artifact or request")
    config = home.require_enrolled()
    current = home.artifact_key_path if purpose == "artifact" else home.request_key_path
    old_id = config.artifact_key_id if purpose == "artifact" else config.request_key_id
    pending = current.with_name(current.name + ".new")
    if pending.exists():
        new_key = keys.load_private_key(pending)  # an earlier rotation stopped half way: finish it
    else:
        new_key = keys.generate_private_key()
        keys.save_private_key(new_key, pending)
    new_id = keys.key_id(new_key)
    with CoordinatorClient.for_home(home, transport=transport) as client:
        known = {k.key_id for k in client.org(config.org).keys}
        if new_id not in known:
            client.add_key(config.org, purpose, keys.public_key_pem(new_key), revoke_previous=True)
    retired = home.keys_dir / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(current, retired / f"{purpose}-{old_id[:16]}.pem")
    os.replace(pending, current)
    field_name = "artifact_key_id" if purpose == "artifact" else "request_key_id"
    home.save_config(home.config().model_copy(update={field_name: new_id}))
    return old_id, new_id
