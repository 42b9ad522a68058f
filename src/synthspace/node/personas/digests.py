"""Digests recorded in lineage, all from the protocol module `synthspace.canonical_json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthspace import canonical_json


def canonical_digest(value: Any) -> str:
    """'sha256:<hex>' of the RFC 8785 canonical JSON of `value` (spec digests)."""
    return canonical_json.digest(value)


def file_digest(path: str | Path) -> str:
    """'sha256:<hex>' of a file's bytes (persona-set digests)."""
    return "sha256:" + canonical_json.file_sha256(path)
