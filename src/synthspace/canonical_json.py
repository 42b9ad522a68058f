"""Canonical JSON (RFC 8785, JCS) and sha256 helpers for hashing configs, recipes and specs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rfc8785
from pydantic import BaseModel

from synthspace.errors import CanonicalJSONError


def _to_json_value(value: Any) -> Any:
    """Dump pydantic models (also nested in dicts/lists) to plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, Mapping):
        return {k: _to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(v) for v in value]
    return value


def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value (pydantic models are dumped in JSON mode first).

    Raises CanonicalJSONError for values JSON cannot carry exactly (NaN/Infinity, integers
    outside the IEEE-754 safe range, non-string keys, unknown types).
    """
    try:
        return rfc8785.dumps(_to_json_value(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


def sha256_hex(data: bytes) -> str:
    """Lowercase hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """'sha256:<hex>' of the canonical JSON of `value`: the form used for config/recipe/spec digests in lineage."""
    return "sha256:" + sha256_hex(canonicalize(value))


def file_sha256(path: Any, chunk_size: int = 1 << 20) -> str:
    """Lowercase hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
