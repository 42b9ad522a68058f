"""Benchmark files: one JSON object per line, each a held-out item of one kind.

    {"id": "en-001", "kind": "choice", "question": "...", "options": ["a", "b", "c"], "answer": 1}
    {"id": "en-002", "kind": "exact", "question": "...", "answer": "30 days"}
    {"id": "en-003", "kind": "judged", "question": "...", "answer": "reference answer", "min_score": 4}

`choice` items are scored by the log-likelihood of each option given the question; `exact`
items by greedy generation compared after normalisation; `judged` items by greedy generation
scored 1-5 by an LLM judge against the reference answer (correct when the score is at least
the item's `min_score`, else the evaluation's threshold: evaluation/judged.py). A benchmark file crosses a trust
boundary (it can come from anyone), so it is size-capped and every line is validated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from synthspace.errors import SynthspaceError

MAX_BENCHMARK_BYTES = 8 * 1024 * 1024
MAX_ITEMS = 20_000
MAX_TEXT_CHARS = 4_000


class BenchmarkError(SynthspaceError):
    """The benchmark file is missing, too large or holds an invalid item."""


class _Item(BaseModel):
    """What every benchmark item has: an id and the question the model sees."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=200, description="Item id, unique in the file.")
    question: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, description="The question shown to the model."
    )


class ChoiceItem(_Item):
    kind: Literal["choice"] = Field(description="Multiple choice scored by option log-likelihood.")
    options: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=2, max_length=10, description="Candidate answers."
    )
    answer: int = Field(ge=0, description="0-based index of the correct option.")

    @model_validator(mode="after")
    def _answer_in_range(self) -> ChoiceItem:
        if self.answer >= len(self.options):
            raise ValueError(
                f"answer {self.answer} is not an index of the {len(self.options)} options"
            )
        if len(set(self.options)) != len(self.options):
            raise ValueError("options repeat")
        return self


class ExactItem(_Item):
    kind: Literal["exact"] = Field(description="Short answer compared after normalisation.")
    answer: str = Field(min_length=1, max_length=200, description="The reference short answer.")


class JudgedItem(_Item):
    kind: Literal["judged"] = Field(description="Free answer scored by an LLM judge.")
    answer: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, description="The reference answer the judge sees."
    )
    min_score: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Judge score (1-5) at which the answer counts correct; None: the "
        "evaluation's threshold (`--judge-min-score`).",
    )


AnyItem = ChoiceItem | ExactItem | JudgedItem
Item = Annotated[AnyItem, Field(discriminator="kind")]
_ITEM: TypeAdapter[AnyItem] = TypeAdapter(Item)


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def load_benchmark(path: Path) -> list[AnyItem]:
    """Validated items of a benchmark JSONL; BenchmarkError names the first bad line."""
    if not path.is_file():
        raise BenchmarkError(f"benchmark {path} does not exist")
    if path.stat().st_size > MAX_BENCHMARK_BYTES:
        raise BenchmarkError(f"benchmark {path} is larger than {MAX_BENCHMARK_BYTES} bytes")
    items: list[AnyItem] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{path}:{n}: not JSON ({exc.msg})") from None
        try:
            item = _ITEM.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BenchmarkError(f"{path}:{n}: invalid item ({where}: {first['msg']})") from None
        if item.id in seen:
            raise BenchmarkError(f"{path}:{n}: item id {item.id!r} repeats")
        seen.add(item.id)
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise BenchmarkError(f"benchmark {path} holds more than {MAX_ITEMS} items")
    if not items:
        raise BenchmarkError(f"benchmark {path} holds no items")
    return items


def shipped_benchmark(name: str) -> Path:
    """Path of a benchmark shipped in synthspace/node/examples/benchmarks/ (e.g. 'en_statutes')."""
    return Path(__file__).resolve().parent.parent / "examples" / "benchmarks" / f"{name}.jsonl"
