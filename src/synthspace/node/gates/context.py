"""State shared by the gates of one run: normalised texts, results, and the records blamed.

Normalisation is done once for the whole run (one NFKC call over all records joined, then
case-folding and whitespace removal over the same string), and every gate reads the shared
arrays, so the cost stays a few numpy passes over the corpus.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from synthspace.lineage import GateResult
from synthspace.node.gates.run_dir import RunData, record_texts, seed_texts
from synthspace.node.privacy.leakage import LeakageResult, SeedIndex
from synthspace.node.privacy.text import SEPARATOR, match_form, pii_form
from synthspace.node.recipes.gates import GatesConfig

if TYPE_CHECKING:
    from synthspace.node.gates.redaction import RecordRedaction

Progress = Callable[[str], None]
_RECORD_SEP = "\ue001"
LIST_CAP = 100  # positions listed per gate in the publishable report


def normalise_records(fields: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """(pii-form texts, match-form texts) of every record, fields joined.

    One NFKC call over everything joined is far cheaper than one per field. PUA delimiters
    are starters under NFKC, so nothing composes across them.
    """
    clean = (
        [[v.replace(SEPARATOR, " ").replace(_RECORD_SEP, " ") for v in vals] for vals in fields]
        if any(SEPARATOR in v or _RECORD_SEP in v for vals in fields for v in vals)
        else fields
    )
    joined = _RECORD_SEP.join(SEPARATOR.join(vals) for vals in clean)
    nfkc = unicodedata.normalize("NFKC", joined)
    pii_texts = nfkc.replace(SEPARATOR, "\n").split(_RECORD_SEP)
    match_texts = "".join(nfkc.casefold().split()).split(_RECORD_SEP)
    if len(pii_texts) != len(fields) or len(match_texts) != len(fields):  # pragma: no cover
        pii_texts = ["\n".join(pii_form(v) for v in vals) for vals in fields]
        match_texts = [SEPARATOR.join(match_form(v) for v in vals) for vals in fields]
    return pii_texts, match_texts


class GateRun:
    """The records of one run, what the gates found, and which records they blame."""

    def __init__(self, data: RunData, cfg: GatesConfig, progress: Progress) -> None:
        self.data = data
        self.cfg = cfg
        self.progress = progress
        self.results: list[GateResult] = []
        self.skipped: dict[str, str] = {}
        self.detail: dict[str, Any] = {}
        self.blamed: dict[int, set[str]] = {}  # position -> reasons
        progress("normalising records")
        self.fields = record_texts(data.records, data.output_fields)
        self.pii_texts, self.match_texts = normalise_records(self.fields)
        self.n = len(self.fields)
        self.seed_fields = seed_texts(data.seeds)
        self.index: SeedIndex | None = None
        self.leak: LeakageResult | None = None
        self.filter_positions: dict[str, list[int]] = {}
        self.redactions: dict[int, RecordRedaction] = {}  # position -> redacted record
        # Gate work started early in worker processes, collected by its gate (usefulness).
        self.pending: dict[str, Any] = {}
        # The records as generated; `data.records` holds the redacted ones once applied.
        self.generated_records = data.records

    @property
    def drop(self) -> bool:
        """Whether gates that can blame records drop them (else they fail the run)."""
        return self.cfg.filtering.drop_records

    def drop_ok(self, count: int) -> bool:
        """In drop mode a blaming gate passes unless it alone drops more than 1 - min_kept."""
        return self.drop and (not self.n or count / self.n <= 1 - self.cfg.filtering.min_kept)

    def blame(self, positions: Iterable[int], reason: str | Callable[[int], str]) -> int:
        """Mark records for dropping; returns how many were marked."""
        n = 0
        for p in positions:
            why = reason(int(p)) if callable(reason) else reason
            self.blamed.setdefault(int(p), set()).add(why)
            n += 1
        return n

    def kept_mask(self) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        if self.blamed:
            mask[np.fromiter(self.blamed, dtype=np.int64, count=len(self.blamed))] = False
        return mask

    def ids(self, positions: np.ndarray | list[int]) -> list[str]:
        if "record_id" not in self.data.records.columns:
            return []
        col = self.data.records["record_id"]
        return [str(col.iat[int(p)]) for p in list(positions)[:LIST_CAP]]

    def id(self, position: int) -> str | None:
        ids = self.ids([position])
        return ids[0] if ids else None

    def add(
        self,
        name: str,
        blocking: bool,
        passed: bool,
        metrics: dict[str, Any],
        thresholds: dict[str, Any],
    ) -> None:
        self.results.append(
            GateResult(
                name=name,
                blocking=blocking,
                passed=bool(passed),
                metrics=metrics,
                thresholds=thresholds,
            )
        )
