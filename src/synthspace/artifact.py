"""Signed artifacts: an in-toto Statement in a DSSE envelope, and the artifact id.

The artifact id is the lowercase hex sha256 of the decoded DSSE payload bytes (the canonical
Statement JSON). It names what was signed, so re-encoding the envelope or adding a signature
does not change it, while any change to the lineage does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from synthspace.canonical_json import file_sha256
from synthspace.dsse import INTOTO_PAYLOAD_TYPE, Envelope, sign, verify
from synthspace.errors import StatementError
from synthspace.lineage import PREDICATE_TYPE, STATEMENT_TYPE, Statement


def _envelope(envelope: Envelope | bytes | str) -> Envelope:
    return envelope if isinstance(envelope, Envelope) else Envelope.from_json(envelope)


def artifact_id(envelope: Envelope | bytes | str) -> str:
    """Hex sha256 of the decoded DSSE payload bytes (envelope JSON bytes are parsed first)."""
    return hashlib.sha256(_envelope(envelope).payload_bytes()).hexdigest()


def sign_statement(statement: Statement, key: Ed25519PrivateKey | list[Ed25519PrivateKey]) -> Envelope:
    """DSSE-sign the Statement's canonical JSON with payloadType application/vnd.in-toto+json."""
    keys = key if isinstance(key, list) else [key]
    return sign(statement.to_json_bytes(), INTOTO_PAYLOAD_TYPE, keys)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise StatementError(f"statement JSON repeats the key {k!r}")
        seen[k] = v
    return seen


def parse_statement(payload: bytes) -> Statement:
    """Parse verified payload bytes into a Statement; raises StatementError naming the problem."""
    try:
        raw = json.loads(payload.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StatementError(f"signed payload is not UTF-8 JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise StatementError("signed payload is not a JSON object")
    if raw.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"statement _type is {raw.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if raw.get("predicateType") != PREDICATE_TYPE:
        raise StatementError(
            f"predicateType is {raw.get('predicateType')!r}, expected {PREDICATE_TYPE!r}"
            " (not a synthspace lineage statement, or an unsupported version)"
        )
    try:
        return Statement.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'statement'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise StatementError(f"invalid lineage statement: {problems}") from None


def open_statement(
    envelope: Envelope | bytes | str,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    threshold: int = 1,
) -> Statement:
    """Verify the envelope's signatures FIRST, then parse its payload as a Statement.

    Raises DSSEError when the signatures do not verify and StatementError when the signed
    payload is not an in-toto v1 Statement with synthspace's lineage predicate.
    """
    env = _envelope(envelope)
    if env.payloadType != INTOTO_PAYLOAD_TYPE:
        raise StatementError(f"payloadType is {env.payloadType!r}, expected {INTOTO_PAYLOAD_TYPE!r}")
    payload = verify(env, trusted_keys, threshold)
    return parse_statement(payload)


def check_subject(statement: Statement, data: bytes | Path, name: str | None = None) -> None:
    """Check that `data` (bytes or a file) has the sha256 of a subject of the statement.

    With `name`, the subject of that name must match. Raises StatementError otherwise.
    """
    actual = hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else file_sha256(data)
    subjects = [s for s in statement.subject if name is None or s.name == name]
    if name is not None and not subjects:
        raise StatementError(f"the statement has no subject named {name!r}")
    if not any(s.digest.sha256 == actual for s in subjects):
        expected = ", ".join(f"{s.name}={s.digest.sha256}" for s in subjects)
        raise StatementError(f"data sha256 {actual} matches no signed subject ({expected})")
