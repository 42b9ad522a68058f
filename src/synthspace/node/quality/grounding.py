"""Grounding validators declared in a recipe's `gates.usefulness.validators`.

Each validator checks one output field of one record and returns a reason (`grounding:<field>`
or the callable's own name) or None. Seed comparisons use the squashed form (NFKC, case-folded,
no spaces or punctuation) so `第3条` and `第 3 条` match.
"""

from __future__ import annotations

import importlib
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from synthspace.errors import ConfigError
from synthspace.node.quality.degenerate import squash
from synthspace.node.recipes.gate_rules import (
    CallableValidator,
    EnumValidator,
    RangeValidator,
    RegexValidator,
    SeedMatchValidator,
    Validator,
)

Check = Callable[[dict[str, Any], int | None], str | None]


def field_text(value: Any) -> str:
    """A record field as NFKC text (None/NaN -> "", a list -> its items on lines); the one
    reading of a field that grounding validators and answer grounding compare."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(field_text(v) for v in value)
    return unicodedata.normalize("NFKC", str(value))


def _import(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"grounding validator {target!r} cannot be imported: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"grounding validator {target!r} is not callable")
    return fn  # type: ignore[no-any-return]


def build_checks(validators: Sequence[Validator], seeds: Sequence[dict[str, Any]]) -> list[Check]:
    """One check per validator; raises ConfigError when a seed validator has no seeds to use."""
    return [_build(v, seeds) for v in validators]


def _build(v: Validator, seeds: Sequence[dict[str, Any]]) -> Check:
    reason = f"grounding:{v.name or v.field}" if not isinstance(v, CallableValidator) else f"grounding:{v.name}"
    field = v.field if not isinstance(v, CallableValidator) else ""
    if isinstance(v, SeedMatchValidator):
        if not seeds:
            raise ConfigError(
                f"grounding validator on {v.field!r} compares with seed field {v.seed_field!r}: "
                "give the seeds (--seeds)"
            )
        values = [squash(field_text(s.get(v.seed_field))) for s in seeds]
        pool = sorted({x for x in values if x})
        equals = v.kind == "seed_equals"

        def seed_match(rec: dict[str, Any], seed_index: int | None) -> str | None:
            got = squash(field_text(rec.get(field)))
            if not got:
                return reason
            own = v.scope == "own" and seed_index is not None and 0 <= seed_index < len(values)
            candidates = [values[seed_index]] if own and seed_index is not None else pool
            for c in candidates:
                if c and (got == c if equals else c in got):
                    return None
            return reason

        return seed_match
    if isinstance(v, RegexValidator):
        rx = re.compile(v.pattern)
        return lambda rec, _i: None if rx.search(field_text(rec.get(field))) else reason
    if isinstance(v, EnumValidator):
        allowed = set(v.values)
        return lambda rec, _i: None if field_text(rec.get(field)) in allowed else reason
    if isinstance(v, RangeValidator):
        lo, hi = v.minimum, v.maximum

        def in_range(rec: dict[str, Any], _i: int | None) -> str | None:
            try:
                x = float(rec.get(field))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return reason
            if math.isnan(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
                return reason
            return None

        return in_range
    fn = _import(v.target)

    def custom(rec: dict[str, Any], seed_index: int | None) -> str | None:
        seed = (
            seeds[seed_index] if seed_index is not None and 0 <= seed_index < len(seeds) else None
        )
        out = fn(rec, seed)
        if out is None or out is True:
            return None
        return reason if out is False else f"{reason}:{out}"[:80]

    return custom


def run_checks(
    checks: Sequence[Check], records: Sequence[dict[str, Any]], seed_index: Sequence[int | None]
) -> list[list[str]]:
    """Per record, the reasons of the failing validators."""
    out: list[list[str]] = []
    for rec, si in zip(records, seed_index, strict=True):
        out.append([r for c in checks if (r := c(rec, si)) is not None])
    return out


__all__ = [
    "Check",
    "EnumValidator",
    "RangeValidator",
    "RegexValidator",
    "SeedMatchValidator",
    "build_checks",
    "run_checks",
]
