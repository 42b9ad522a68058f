"""PII redaction: replace the PII spans of a record instead of dropping it (`pii.action: redact`).

Detection runs on the NFKC form of a record's output fields (docs/gates.md, `pii`). To change
the original text and nothing else, each field's text is split into normalisation groups (a
character plus what NFKC composes with it); a finding's span is widened to whole groups and
mapped back, so full-width digits or combining marks outside the span are kept as they were.

Each span becomes a typed placeholder (`[PHONE]`) or, with `redaction: synthetic`, a value of
the same type that cannot be a real one (555-01xx phone numbers, example.com / example.jp
mail, documentation IP ranges, never-issued SSN areas, a fixed list of fictional names). A
synthetic value is chosen by a hash of (record id, span ordinal, type) only: reruns give the
same text, and nothing of the original value goes into it.

The redacted record is checked again with the same detectors. A record is dropped (reason
`pii:<types>`) when a blocking finding remains outside the inserted values, when a finding
straddles two field pieces, when two widened spans overlap, or when a non-text value would
have to change. Records already blamed by seed leakage are never redacted: they are dropped.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthspace.node.gates.context import GateRun
from synthspace.node.gates.errors import GateReportError
from synthspace.node.gates.run_dir import record_texts
from synthspace.node.privacy.pii import PiiFinding, PiiType, find_pii
from synthspace.node.privacy.text import SEPARATOR, match_form

REDACTIONS_FILE = Path("private") / "redacted-records.jsonl"
_RECORD_SEP = "\ue001"

PLACEHOLDERS: dict[PiiType, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "my_number": "[MY_NUMBER]",
    "corporate_number": "[CORPORATE_NUMBER]",
    "payment_card": "[CARD_NUMBER]",
    "postal_code": "[POSTAL_CODE]",
    "ip_address": "[IP_ADDRESS]",
    "ssn": "[SSN]",
    "iban": "[IBAN]",
    "person_name": "[PERSON]",
    "street_address": "[ADDRESS]",
}

# Clearly fictional names and addresses (no persona table holds names).
_NAMES_EN = (
    "Jane Doe",
    "John Doe",
    "Alex Example",
    "Sam Placeholder",
    "Casey Sample",
    "Robin Fictional",
    "Jordan Testperson",
    "Taylor Noname",
)
_NAMES_JA = (
    "仮名太郎",
    "見本花子",
    "例示一郎",
    "架空次郎",
    "仮名花子",
    "見本三郎",
    "例示良子",
    "架空四郎",
)
_ADDRESSES_EN = (
    "123 Example Street",
    "456 Sample Avenue",
    "789 Placeholder Road",
    "1 Fictional Lane",
)
_ADDRESSES_JA = ("架空市見本町1丁目", "例示市仮名町2丁目", "見本市架空町3丁目", "仮名市例示町4丁目")


def _pick(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def synthetic_value(kind: PiiType, key: str, locale: str | None) -> str:
    """A fictional value of type `kind`, chosen by `key` (never by the original value)."""
    n = _pick(f"synthspace-redaction-v1\0{kind}\0{key}")
    ja = (locale or "ja").lower().startswith("ja")
    if kind == "email":
        return f"user{n % 10000:04d}@{'example.jp' if ja else 'example.com'}"
    if kind == "phone":
        # NANP 555-0100..0199 is reserved for fiction; Japanese subscriber numbers never
        # start with 0 after the area code.
        return f"03-0000-{n % 10000:04d}" if ja else f"202-555-01{n % 100:02d}"
    if kind == "ip_address":
        return f"192.0.2.{n % 254 + 1}"
    if kind == "ssn":
        return f"000-00-{n % 10000:04d}"  # area 000 is never issued
    if kind == "payment_card":
        return f"0000-0000-0000-{n % 10000:04d}"  # no issuer has IIN 0
    if kind == "iban":
        return f"XX00 0000 0000 {n % 10000:04d}"  # XX is no ISO 3166 country
    if kind == "my_number":
        return f"0000-0000-{n % 10000:04d}"
    if kind == "corporate_number":
        return f"000000000{n % 10000:04d}"
    if kind == "postal_code":
        return "〒000-0000" if ja else "ZIP 00000"
    if kind == "person_name":
        names = _NAMES_JA if ja else _NAMES_EN
        return names[n % len(names)]
    if kind == "street_address":
        addresses = _ADDRESSES_JA if ja else _ADDRESSES_EN
        return addresses[n % len(addresses)]
    return PLACEHOLDERS[kind]  # pragma: no cover - every PiiType is listed above


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _groups(text: str) -> tuple[list[int], list[int]] | None:
    """Boundaries (original, normalised) of NFKC-independent groups; None if unmappable."""
    if unicodedata.is_normalized("NFKC", text):
        bounds = list(range(len(text) + 1))
        return bounds, bounds
    obounds, nbounds = [0], [0]
    start = 0
    for i in range(1, len(text)):
        group = text[start:i]
        if _nfkc(group + text[i]) == _nfkc(group) + _nfkc(text[i]):
            obounds.append(i)
            nbounds.append(nbounds[-1] + len(_nfkc(group)))
            start = i
    if text:
        obounds.append(len(text))
        nbounds.append(nbounds[-1] + len(_nfkc(text[start:])))
    pieces = [_nfkc(text[a:b]) for a, b in zip(obounds, obounds[1:], strict=False)]
    if "".join(pieces) != _nfkc(text):
        return None
    return obounds, nbounds


@dataclass
class RecordRedaction:
    """One record's redacted output fields and what was replaced (types, counts)."""

    position: int
    fields: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    pii_text: str = ""
    match_text: str = ""


class _Unredactable(Exception):
    """The record cannot be redacted safely: it is dropped instead."""


def _clean(piece: str) -> str:
    return piece.replace(SEPARATOR, " ").replace(_RECORD_SEP, " ")


def _redact_piece(
    piece: str,
    spans: list[tuple[int, int, PiiType]],
    replace: Callable[[PiiType, int], str],
    ordinal: int,
) -> tuple[str, str, list[tuple[int, int]], int]:
    """(new piece, its NFKC form, inserted spans in that form, next ordinal)."""
    piece = _clean(piece)
    if not spans:
        return piece, _nfkc(piece), [], ordinal
    mapped = _groups(piece)
    if mapped is None:
        raise _Unredactable("text does not map back from its normal form")
    obounds, nbounds = mapped
    segments: list[tuple[str, bool]] = []  # (text, inserted)
    pos = 0
    for s, e, kind in spans:
        k = bisect.bisect_right(nbounds, s) - 1
        j = bisect.bisect_left(nbounds, e)
        a, b = obounds[k], obounds[min(j, len(obounds) - 1)]
        if a < pos or b <= a:
            raise _Unredactable("redaction spans overlap")
        segments.append((piece[pos:a], False))
        segments.append((replace(kind, ordinal), True))
        ordinal += 1
        pos = b
    segments.append((piece[pos:], False))
    new = "".join(t for t, _ in segments)
    norm = _nfkc(new)
    inserted: list[tuple[int, int]] = []
    at = 0
    for text, ins in segments:
        n = len(_nfkc(text))
        if ins:
            inserted.append((at, at + n))
        at += n
    if "".join(_nfkc(t) for t, _ in segments) != norm:
        raise _Unredactable("redacted text does not normalise piecewise")
    return new, norm, inserted, ordinal


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """`value` with every text piece replaced by fn(piece), in `value_texts` order."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return fn(value)
    text = str(value)
    if fn(text) != text:
        raise _Unredactable("a non-text value holds PII")
    return value


def _redact_record(
    run: GateRun,
    position: int,
    findings: list[PiiFinding],
    replace: Callable[[PiiType, int, int], str],
) -> tuple[RecordRedaction, list[tuple[int, int]]]:
    """Plan one record's redaction; _Unredactable when it cannot be done safely."""
    pieces = run.fields[position]
    norms = [_nfkc(_clean(p)) for p in pieces]
    if "\n".join(norms) != run.pii_texts[position]:
        raise _Unredactable("record text does not match its normal form")
    starts: list[int] = []
    at = 0
    for n in norms:
        starts.append(at)
        at += len(n) + 1
    by_piece: dict[int, list[tuple[int, int, PiiType]]] = {}
    for f in findings:
        i = bisect.bisect_right(starts, f.start) - 1
        if f.end > starts[i] + len(norms[i]):
            raise _Unredactable("a finding straddles two fields")
        by_piece.setdefault(i, []).append((f.start - starts[i], f.end - starts[i], f.type))
    out_pieces: list[str] = []
    out_norms: list[str] = []
    inserted: list[tuple[int, int]] = []
    ordinal = 0
    base = 0
    for i, piece in enumerate(pieces):
        spans = sorted(by_piece.get(i, []))
        new, norm, ins, ordinal = _redact_piece(
            piece, spans, lambda kind, o: replace(kind, position, o), ordinal
        )
        out_pieces.append(new)
        out_norms.append(norm)
        inserted.extend((base + s, base + e) for s, e in ins)
        base += len(norm) + 1
    # Write the new pieces back into the record's field values, in `record_texts` order.
    queue = iter(zip(pieces, out_pieces, strict=True))
    new_fields: dict[str, Any] = {}
    df = run.data.records
    for name in [f for f in run.data.output_fields if f in df.columns]:
        original = df[name].iat[position]

        def swap(text: str) -> str:
            old, new = next(queue)
            if old != text:
                raise _Unredactable("field pieces out of order")
            return new

        new_fields[name] = _map_strings(original, swap)
    if next(queue, None) is not None:
        raise _Unredactable("field pieces left over")
    rec = RecordRedaction(
        position=position,
        fields=new_fields,
        counts=Counter(f.type for f in findings),
        pii_text="\n".join(out_norms),
        match_text=SEPARATOR.join(match_form(p) for p in out_pieces),
    )
    return rec, inserted


def redact(
    run: GateRun, per_record: dict[int, list[PiiFinding]], counted: Callable[[PiiFinding], bool]
) -> tuple[dict[int, RecordRedaction], dict[int, set[str]]]:
    """Redact the records in `per_record` (position -> findings to replace).

    Returns (redacted records, records that could not be redacted -> PII types to blame).
    """
    c = run.cfg.pii
    locale = run.data.locale
    ids = (
        run.data.records["record_id"].tolist() if "record_id" in run.data.records.columns else None
    )

    def replace(kind: PiiType, position: int, ordinal: int) -> str:
        if c.redaction == "placeholder":
            return PLACEHOLDERS[kind]
        rid = str(ids[position]) if ids is not None else str(position)
        return synthetic_value(kind, f"{rid}\0{ordinal}", locale)

    done: dict[int, RecordRedaction] = {}
    inserted: dict[int, list[tuple[int, int]]] = {}
    failed: dict[int, set[str]] = {}
    for p, found in sorted(per_record.items()):
        try:
            done[p], inserted[p] = _redact_record(run, p, found, replace)
        except _Unredactable:
            failed[p] = {f.type for f in found}
    if done:
        # Re-detect on the redacted text: anything blocking left outside what we inserted
        # means the redaction did not remove the PII, and the record is dropped.
        order = sorted(done)
        again = find_pii(
            [done[p].pii_text for p in order], list(c.types), already_normalised=True, locale=locale
        )
        for f in again:
            p = order[f.doc]
            if not counted(f):
                continue
            if any(s <= f.start and f.end <= e for s, e in inserted[p]):
                continue  # one of our fictional values
            failed.setdefault(p, set()).update({*done[p].counts, f.type})
        for p in failed:
            done.pop(p, None)
    return done, failed


def apply(run: GateRun) -> None:
    """Make the later gates judge the redacted text (what publishing will ship)."""
    if not run.redactions:
        return
    df = run.data.records.copy()
    for p, rec in run.redactions.items():
        for name, value in rec.fields.items():
            df.iat[p, df.columns.get_loc(name)] = value
        run.pii_texts[p] = rec.pii_text
        run.match_texts[p] = rec.match_text
    run.data.records = df
    run.fields = record_texts(df, run.data.output_fields)


def summary(run: GateRun, kept: np.ndarray) -> tuple[int, dict[str, int]]:
    """(kept records redacted, replaced spans per type over them)."""
    by_type: Counter[str] = Counter()
    n = 0
    for p, rec in run.redactions.items():
        if kept[p]:
            n += 1
            by_type.update(rec.counts)
    return n, dict(sorted(by_type.items()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def redactions_bytes(run: GateRun, kept: np.ndarray) -> bytes:
    """RUN_DIR/private/redacted-records.jsonl: per kept redacted record, its new field values."""
    if "record_id" not in run.data.records.columns:
        return b""
    col = run.data.records["record_id"]
    lines = [
        json.dumps(
            {"record_id": str(col.iat[p]), "fields": _jsonable(rec.fields)},
            ensure_ascii=False,
            sort_keys=True,
        )
        for p, rec in sorted(run.redactions.items())
        if kept[p]
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def load_redactions(run_dir: Path, sha256: str, count: int) -> dict[str, dict[str, Any]]:
    """The redacted field values a gate report committed to (record id -> fields)."""
    path = run_dir / REDACTIONS_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GateReportError(
            f"{path} is missing ({exc.strerror or exc}): run `synthspace gate {run_dir}` again"
        ) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise GateReportError(
            f"{path} does not match the gate report's digest: run `synthspace gate {run_dir}` again"
        )
    out: dict[str, dict[str, Any]] = {}
    for line in data.decode("utf-8").splitlines():
        obj = json.loads(line)
        out[str(obj["record_id"])] = dict(obj["fields"])
    if len(out) != count:
        raise GateReportError(f"{path} holds {len(out)} records, the gate report {count}")
    return out


__all__ = [
    "PLACEHOLDERS",
    "REDACTIONS_FILE",
    "RecordRedaction",
    "apply",
    "load_redactions",
    "redact",
    "redactions_bytes",
    "summary",
    "synthetic_value",
]
