"""What a run will generate: the ordered list of (seed, k, persona) tasks with stable record ids.

The plan is a pure function of the recipe, the seed count and the persona set, so a restarted
run computes the same record ids and skips the ones already on disk. Order is k-major
(all seeds once, then all seeds again, ...) so `--limit N` spreads over as many seeds as it can,
and persona assignment and sampling draws never depend on `--limit`.
"""

from __future__ import annotations

import _random
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthspace.errors import ConfigError
from synthspace.lineage import PersonaSource
from synthspace.node.recipes.models import FixedValue, RandomAssignment, Recipe


class PersonaError(ConfigError):
    """The persona file is missing, unreadable, or lacks a column the recipe needs."""


@dataclass(frozen=True)
class PersonaSet:
    """Personas as plain dicts (each with `persona_id`) and their lineage source."""

    personas: list[dict[str, Any]]
    source: PersonaSource
    path: Path | None = None


NO_PERSONAS = PersonaSet(personas=[], source=PersonaSource(kind="none", count=0), path=None)


def _persona_dict(p: Any) -> dict[str, Any]:
    """A persona as the flat dict templates see: attributes, narrative, and its extra texts."""
    d = p.model_dump() if hasattr(p, "model_dump") else dict(p)
    texts = d.pop("texts", None) or {}
    for k, v in texts.items():
        d.setdefault(k, v)
    # Absent attributes are left out (not None) so `persona.get('x', default)` works in templates.
    return {k: (str(v) if k == "persona_id" else v) for k, v in d.items() if v is not None}


def load_personas(path: str | Path | None) -> PersonaSet:
    """Read a persona Parquet file (synthspace persona set or Nemotron-Personas), or no personas."""
    if path is None:
        return NO_PERSONAS
    from synthspace.node.personas import load_persona_set

    p = Path(path)
    if not p.is_file():
        raise PersonaError(f"persona file not found: {p}")
    personas, source = load_persona_set(p)
    records = [_persona_dict(x) for x in personas]
    if not records:
        raise PersonaError(f"{p}: the persona file holds no personas")
    ids = [r.get("persona_id") for r in records]
    if len(set(ids)) != len(ids):
        raise PersonaError(f"{p}: persona_id values are not unique")
    return PersonaSet(personas=records, source=source, path=p.resolve())


@dataclass(frozen=True)
class Task:
    """One record to produce."""

    index: int  # position in the plan
    seed_index: int
    k: int
    persona_index: int | None
    record_id: str
    temperature: float
    top_p: float


def _u64(*parts: object) -> int:
    return u64_of("\x1f".join(map(str, parts)))


def u64_of(joined: str) -> int:
    """`_u64(*parts)` given its parts already joined by "\x1f" (hot paths join a constant prefix once)."""
    return int.from_bytes(hashlib.sha256(joined.encode()).digest()[:8], "big")


def _record_id_prefix(recipe_digest: str, seed_root: str) -> str:
    return f"synthspace-record-v1\x1f{recipe_digest}\x1f{seed_root}\x1f"


def _record_id_after(prefix: str, seed_index: int, persona_id: str | None, k: int) -> str:
    return hashlib.sha256(f"{prefix}{seed_index}\x1f{persona_id or '-'}\x1f{k}".encode()).hexdigest()[:32]


def record_id(recipe_digest: str, seed_root: str, seed_index: int, persona_id: str | None, k: int) -> str:
    """Stable id of the k-th output of seed `seed_index` with persona `persona_id`."""
    return _record_id_after(_record_id_prefix(recipe_digest, seed_root), seed_index, persona_id, k)


class _Draws:
    """`random.Random(_u64(seed, name, seed_index, k)).uniform(low, high)` (or the fixed value) for
    every task of a plan, with the same values: one Random re-seeded through the C seed that `random.Random(n)` ends in (instead of a new
    generator and random.py's Python-level `seed` per task), `uniform`'s own formula, and the
    key's constant prefix joined once. Re-seeding still fills the Mersenne Twister's whole state,
    as `random.Random(n)` does; the saving is the layers around it."""

    def __init__(self, spec: Any, seed: object, name: str) -> None:
        self.fixed = float(spec.value) if isinstance(spec, FixedValue) else None
        self.low: float = 0.0 if self.fixed is not None else spec.low
        self.span: float = 0.0 if self.fixed is not None else spec.high - spec.low
        self.prefix = f"{seed}\x1f{name}\x1f"
        self.rng = random.Random()

    def __call__(self, seed_index: int, k: int) -> float:
        if self.fixed is not None:
            return self.fixed
        _SEED(self.rng, u64_of(f"{self.prefix}{seed_index}\x1f{k}"))
        # random.Random.uniform(a, b) is a + (b - a) * random()
        return self.low + self.span * self.rng.random()  # type: ignore[no-any-return]


_SEED = _random.Random.seed  # what random.Random.seed calls for an int


def plan_size(recipe: Recipe, n_seeds: int, limit: int | None = None) -> tuple[int, int]:
    """(target records, records to generate): the target times `generation.overgenerate`."""
    total = n_seeds * recipe.generation.outputs_per_seed
    target = total if limit is None else min(limit, total)
    return target, math.ceil(target * recipe.generation.overgenerate - 1e-9)


def build_plan(
    recipe: Recipe,
    recipe_digest: str,
    seed_root: str,
    n_seeds: int,
    personas: Sequence[dict[str, Any]],
    limit: int | None = None,
) -> list[Task]:
    """The first `limit` tasks (all when None) of the run's deterministic plan, times
    `generation.overgenerate`."""
    count = plan_size(recipe, n_seeds, limit)[1]
    assign = recipe.persona_assignment
    strata: list[list[int]] = []
    if personas and not isinstance(assign, RandomAssignment):
        attr = assign.attribute
        if attr not in personas[0]:
            raise PersonaError(
                f"recipe stratifies personas by {attr!r}, which the persona file lacks; columns: {', '.join(personas[0])}"
            )
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(personas):
            groups.setdefault(str(p.get(attr)), []).append(i)
        for value in sorted(groups):
            members = groups[value]
            random.Random(_u64(assign.seed, "stratum", value)).shuffle(members)
            strata.append(members)
    s = recipe.sampling
    temperature, top_p = _Draws(s.temperature, s.seed, "temperature"), _Draws(s.top_p, s.seed, "top_p")
    persona_rng, persona_prefix = random.Random(), f"{assign.seed}\x1fpersona\x1f"
    id_prefix = _record_id_prefix(recipe_digest, seed_root)
    tasks = []
    for t in range(count):
        k, seed_index = divmod(t, n_seeds)
        pidx: int | None = None
        if personas:
            if strata:
                members = strata[t % len(strata)]
                pidx = members[(t // len(strata)) % len(members)]
            else:
                # random.Random(_u64(assign.seed, "persona", seed_index, k)).randrange(len(personas))
                _SEED(persona_rng, u64_of(f"{persona_prefix}{seed_index}\x1f{k}"))
                pidx = persona_rng.randrange(len(personas))
        pid = personas[pidx]["persona_id"] if pidx is not None else None
        tasks.append(
            Task(
                index=t,
                seed_index=seed_index,
                k=k,
                persona_index=pidx,
                record_id=_record_id_after(id_prefix, seed_index, pid, k),  # record_id(), prefix built once
                temperature=temperature(seed_index, k),
                top_p=top_p(seed_index, k),
            )
        )
    return tasks
