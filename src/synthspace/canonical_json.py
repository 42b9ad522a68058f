"""Canonical JSON (RFC 8785, JCS) and sha256 helpers for hashing configs, recipes and specs."""

from __future__ import annotations

from typing import Any


def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value (pydantic models are dumped in JSON mode first)."""
    raise NotImplementedError


def sha256_hex(data: bytes) -> str:
    raise NotImplementedError


def digest(value: Any) -> str:
    """'sha256:<hex>' of the canonical JSON of `value`: the form used for config/recipe/spec digests in lineage."""
    raise NotImplementedError


def file_sha256(path: Any, chunk_size: int = 1 << 20) -> str:
    """Lowercase hex sha256 of a file, streamed."""
    raise NotImplementedError
