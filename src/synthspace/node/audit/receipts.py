"""Verifying a publish receipt: the logged entry is ours, included under a signed checkpoint
that is consistent with what this auditor saw before."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from synthspace import artifact, dsse
from synthspace.errors import SynthspaceError
from synthspace.log_entries import PublishEntry, parse_entry
from synthspace.node.audit.auditor_state import AuditorState
from synthspace.node.audit.context import sha256_bytes
from synthspace.node.audit.log_monitor import LogCheckFailed, advance_checkpoint
from synthspace.node.audit.report import ReceiptError
from synthspace.transparency_log import leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from synthspace.checkpoint import Checkpoint, Verifier
    from synthspace.node.coordinator_client import CoordinatorClient


def verify_receipt(
    client: CoordinatorClient,
    state: AuditorState,
    verifier: Verifier,
    receipt: dict[str, Any],
    *,
    envelope_bytes: bytes,
    subject_sha256: str,
    org: str,
    key_id: str,
) -> Checkpoint:
    """Check a publish receipt; returns the (advanced) checkpoint. Raises ReceiptError."""
    try:
        aid = artifact.artifact_id(dsse.Envelope.from_json(envelope_bytes))
        if receipt.get("artifact_id") != aid:
            raise ReceiptError(f"the receipt is for {receipt.get('artifact_id')}, not {aid}")
        leaf = base64.b64decode(str(receipt["entry_leaf"]), validate=True)
        entry = parse_entry(leaf)
        if not isinstance(entry, PublishEntry):
            raise ReceiptError(f"the receipt's entry is a {entry.type!r} entry, not a publish entry")
        expected = {
            "artifact_id": aid,
            "envelope_sha256": sha256_bytes(envelope_bytes),
            "subject_sha256": subject_sha256,
            "key_id": key_id,
            "org": org,
        }
        for name, value in expected.items():
            if getattr(entry, name) != value:
                raise ReceiptError(f"the logged entry's {name} is {getattr(entry, name)!r}, expected {value!r}")
        proof = receipt["inclusion_proof"]
        index = int(receipt["log_index"])
        if int(proof["index"]) != index:
            raise ReceiptError("the inclusion proof is for another index than the receipt's")
        checkpoint = advance_checkpoint(client, state, verifier, str(receipt["checkpoint"]))
        if int(proof["size"]) != checkpoint.size:
            raise ReceiptError("the inclusion proof is for another tree size than the checkpoint's")
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        verify_inclusion(leaf_hash(leaf), index, checkpoint.size, hashes, checkpoint.root)
        return checkpoint
    except ReceiptError:
        raise
    except LogCheckFailed as exc:
        raise ReceiptError(str(exc)) from exc
    except (SynthspaceError, KeyError, TypeError, ValueError) as exc:
        raise ReceiptError(f"the receipt does not verify: {exc}") from exc
