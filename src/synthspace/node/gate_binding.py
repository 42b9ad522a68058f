"""Binding a gate report to the data it judged and the gate code that judged it.

`gate-report.json` is a plain file in the run directory: anyone who can edit it could make a
failed run look clean. So the node signs, with its artifact key, a binding of

    the report's exact bytes (sha256),
    the run's data (sha256 over every shard's sha256, in shard order),
    the gate code version (sha256 over the sources of `synthspace.node.gates`),

into RUN_DIR/private/gate-binding.json right after the gates ran inside `publish`. Publishing
uses a report only when its binding verifies; otherwise it runs the gates again. A report edited
by hand, shards changed after gating, or gates whose code changed since, all mean a fresh run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature

from synthspace.atomic_files import atomic_write_bytes
from synthspace.canonical_json import canonicalize

if TYPE_CHECKING:
    from synthspace.node.home import NodeHome

BINDING_FILE = Path("private") / "gate-binding.json"
_DOMAIN = "synthspace-gate-binding-v1"


@cache
def gates_code_version() -> str:
    """sha256 over the gate package's Python sources (name and bytes, sorted by name)."""
    h = hashlib.sha256()
    root = Path(__file__).parent / "gates"  # synthspace.node.gates, found without importing it
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def shards_digest(shards: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in shards:
        fh = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                fh.update(chunk)
        h.update(path.name.encode() + b"\0" + fh.digest())
    return h.hexdigest()


def _claims(report_bytes: bytes, shards: Sequence[Path]) -> dict[str, str]:
    return {
        "domain": _DOMAIN,
        "report_sha256": hashlib.sha256(report_bytes).hexdigest(),
        "data_sha256": shards_digest(shards),
        "gates_code": gates_code_version(),
    }


def bind_report(home: NodeHome, run_dir: Path, report_path: Path, shards: Sequence[Path]) -> Path:
    """Sign the binding of the report on disk to the shards and the gate code."""
    claims = _claims(report_path.read_bytes(), shards)
    sig = home.artifact_key().sign(canonicalize(claims))
    path = run_dir / BINDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**claims, "signature": base64.b64encode(sig).decode()}
    atomic_write_bytes(path, json.dumps(body, indent=2).encode(), mode=0o600)
    return path


def binding_problem(home: NodeHome, run_dir: Path, report_path: Path, shards: Sequence[Path]) -> str | None:
    """Why the report on disk is not bound to these shards and this gate code (None: it is)."""
    path = run_dir / BINDING_FILE
    if not path.is_file():
        return "no gate binding"
    try:
        body = json.loads(path.read_bytes())
        sig = base64.b64decode(body.pop("signature"), validate=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return "the gate binding is unreadable"
    claims = _claims(report_path.read_bytes(), shards)
    try:
        home.artifact_public_key().verify(sig, canonicalize(body))
    except InvalidSignature:
        return "the gate binding's signature does not verify"
    for key, what in (
        ("report_sha256", "the gate report changed since the gates ran"),
        ("data_sha256", "the shards changed since the gates ran"),
        ("gates_code", "the gate code changed since the gates ran"),
    ):
        if body.get(key) != claims[key]:
            return what
    return None
