"""Private seed examples: loading, validation against a recipe, and the salted Merkle commitment.

Seeds never leave the node. What leaves is a `SeedCommitment`: the RFC 6962 Merkle root over
leaves `salt || canonical-JSON(NFKC(record))` plus the record count (scheme
'sha256-salted-merkle-v1'). The 32-byte salt lives in the node's private store, so nobody can
test a guessed seed against a published root; the node can later open any single record with
an inclusion proof if an auditor needs it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthspace.canonical_json import canonicalize
from synthspace.errors import ConfigError
from synthspace.lineage import SeedCommitment
from synthspace.node.private_store import PrivateStore
from synthspace.node.recipes.models import SeedField
from synthspace.transparency_log import leaf_hash, root_from_leaf_hashes

SCHEME: Literal["sha256-salted-merkle-v1"] = "sha256-salted-merkle-v1"
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class SeedError(ConfigError):
    """A seed file is missing, malformed, or its records do not match the recipe's seed fields."""


@dataclass(frozen=True)
class SeedSet:
    """Validated seed records (only the recipe's seed fields) and where each came from."""

    path: Path
    format: str
    records: list[dict[str, Any]]
    locations: list[str] = field(default_factory=list)  # "line 7" / "row 3", parallel to records

    def __len__(self) -> int:
        return len(self.records)


def _raw_records(path: Path, fmt: str) -> list[tuple[str, Any]]:
    """(location, raw record) pairs; raw records are dicts unless the file is malformed."""
    out: list[tuple[str, Any]] = []
    if fmt == "jsonl":
        with path.open(encoding="utf-8-sig") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append((f"line {lineno}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise SeedError(f"{path}:{lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    elif fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise SeedError(f"{path}: the CSV file has no header row")
            for row in reader:
                if None in row:
                    raise SeedError(f"{path}:{reader.line_num}: more values than header columns")
                out.append((f"line {reader.line_num}", row))
    else:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise SeedError(f"{path}: not a readable Parquet file: {exc}") from None
        out = [(f"row {i + 1}", r) for i, r in enumerate(table.to_pylist())]
    return out


def _coerce(value: Any, spec: SeedField, fmt: str) -> Any:
    """Value converted to the field's type; raises ValueError with a reason."""
    if fmt == "csv" and isinstance(value, str):
        # CSV has no types: parse what the recipe declares.
        if spec.type == "integer":
            return int(value.strip())
        if spec.type == "number":
            v = float(value.strip())
            if not math.isfinite(v):
                raise ValueError("not a finite number")
            return v
        if spec.type == "boolean":
            low = value.strip().lower()
            if low in {"true", "1", "yes"}:
                return True
            if low in {"false", "0", "no"}:
                return False
            raise ValueError("expected true/false")
        return value
    if spec.type == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
    elif spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
    elif spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("expected a finite number")
    elif spec.type == "boolean" and not isinstance(value, bool):
        raise ValueError(f"expected true/false, got {type(value).__name__}")
    return value


def validate_seed_records(
    raw: Sequence[tuple[str, Any]], fields: Sequence[SeedField], source: str, fmt: str = "jsonl"
) -> list[dict[str, Any]]:
    """Check each record against the seed fields; returns records projected onto those fields."""
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    for where, rec in raw:
        if not isinstance(rec, Mapping):
            problems.append(f"{where}: expected an object with keys {', '.join(f.name for f in fields)}")
            continue
        out: dict[str, Any] = {}
        for spec in fields:
            value = rec.get(spec.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                if spec.required:
                    problems.append(f"{where}: missing required field {spec.name!r}")
                out[spec.name] = None
                continue
            try:
                out[spec.name] = _coerce(value, spec, fmt)
            except ValueError as exc:
                problems.append(f"{where}: field {spec.name!r}: {exc}")
        records.append(out)
        if len(problems) >= 20:
            break
    if problems:
        more = " (stopped after 20 problems)" if len(problems) >= 20 else ""
        raise SeedError(f"{source}: seeds do not match the recipe's seed_fields: " + "; ".join(problems) + more)
    return records


def load_seeds(path: str | Path, fields: Sequence[SeedField]) -> SeedSet:
    """Read JSONL, CSV or Parquet seeds and validate them against the recipe's seed fields."""
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise SeedError(f"{p}: unknown seed file type {p.suffix!r}; use .jsonl, .csv or .parquet")
    if not p.is_file():
        raise SeedError(f"seed file not found: {p}")
    try:
        raw = _raw_records(p, fmt)
    except UnicodeDecodeError as exc:
        raise SeedError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not raw:
        raise SeedError(f"{p}: the seed file holds no records")
    records = validate_seed_records(raw, fields, str(p), fmt)
    return SeedSet(path=p.resolve(), format=fmt, records=records, locations=[w for w, _ in raw])


def normalize_record(value: Any) -> Any:
    """NFKC-normalise every string (keys and values) so full-width/half-width variants commit alike."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value)
    if isinstance(value, Mapping):
        return {unicodedata.normalize("NFKC", str(k)): normalize_record(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize_record(v) for v in value]
    return value


def leaf_data(record: Mapping[str, Any], salt: bytes) -> bytes:
    """The bytes of one commitment leaf: salt || canonical JSON of the NFKC-normalised record."""
    return salt + canonicalize(normalize_record(record))


def commitment_leaf_hashes(records: Sequence[Mapping[str, Any]], salt: bytes) -> list[bytes]:
    return [leaf_hash(leaf_data(r, salt)) for r in records]


def commit_records(records: Sequence[Mapping[str, Any]], salt: bytes) -> SeedCommitment:
    """SeedCommitment (root hex + count) over `records` with `salt`."""
    return _commit_canonical([canonicalize(normalize_record(r)) for r in records], salt)


def _commit_canonical(canonical: Sequence[bytes], salt: bytes) -> SeedCommitment:
    """`commit_records` given each record's canonical JSON (leaf = salt || canonical JSON)."""
    if len(salt) < 16:
        raise SeedError("a seed salt must be at least 16 bytes")
    root = root_from_leaf_hashes([leaf_hash(salt + c) for c in canonical])
    return SeedCommitment(scheme=SCHEME, root=root.hex(), count=len(canonical))


def salt_key(records: Sequence[Mapping[str, Any]]) -> str:
    """Private-store key of a seed set's salt: derived from its content, so the same seeds always
    get the same salt (and the same commitment), whatever the file is called."""
    return _salt_key_canonical([canonicalize(normalize_record(r)) for r in records])


def _salt_key_canonical(canonical: Sequence[bytes]) -> str:
    """`salt_key` given each record's canonical JSON: RFC 8785 writes an array as its elements'
    canonical texts joined by "," in brackets, so this hashes the canonical list's exact bytes."""
    return f"seeds-{hashlib.sha256(b'[' + b','.join(canonical) + b']').hexdigest()[:32]}"


def commit_seeds(seeds: SeedSet, store: PrivateStore) -> SeedCommitment:
    """Commit to a seed set with its salt from the node's private store.

    Each record is canonicalised once for both the salt key and the leaves."""
    canonical = [canonicalize(normalize_record(r)) for r in seeds.records]
    return _commit_canonical(canonical, store.seed_salt(_salt_key_canonical(canonical)))
