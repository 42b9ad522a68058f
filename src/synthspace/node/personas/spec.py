"""Locale specs: the variables, states and conditional tables a persona network is built from.

A spec is a JSON data file shipped in `synthspace/node/personas/specs/<locale>.json` (or any
path). Every table cites the sources it was derived from and says whether it is an
approximation. A table's `probabilities` hold one column per configuration of its parents,
in pgmpy's order (the first parent varies slowest), each column a distribution over the
variable's states. Loading validates everything and names the table at fault.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from synthspace.config_model import FrozenModel
from synthspace.node.personas.digests import canonical_digest
from synthspace.node.personas.errors import SpecError

SPEC_FORMAT = "synthspace-persona-spec/v1"
COLUMN_TOLERANCE = 1e-6
# Names a network variable or derived attribute may take: the persona record's attribute fields.
PERSONA_ATTRIBUTES = (
    "region",
    "prefecture",
    "state",
    "sex",
    "age_band",
    "age",
    "marital_status",
    "education",
    "life_stage",
    "occupation",
    "occupation_group",
    "surname",
    "given_name",
)


class _SpecModel(FrozenModel):
    pass


class Source(_SpecModel):
    """An official (or, where said, unofficial) publication a table was derived from."""

    title: str = Field(description="Title of the table or publication.")
    publisher: str = Field(description="Who publishes it (e.g. Statistics Bureau of Japan).")
    url: str | None = Field(default=None, description="Where it is published.")
    year: int | None = Field(default=None, description="Reference year.")
    official: bool = Field(default=True, description="Whether it is an official statistic.")


class Variable(_SpecModel):
    """One network variable: its states and its conditional table given its parents."""

    name: str = Field(description="Variable name; also the persona attribute it fills.")
    label: str = Field(description="Human-readable label in the locale's language.")
    description: str = Field(default="", description="What the variable means.")
    states: list[str] = Field(min_length=1, description="The variable's states, in table order.")
    parents: list[str] = Field(default_factory=list, description="Parent variables (declared earlier).")
    probabilities: list[list[float]] = Field(
        description="One column per parent configuration (first parent slowest), each a distribution over states."
    )
    sources: list[str] = Field(min_length=1, description="Keys into the spec's `sources`.")
    approximate: bool = Field(description="True when the table is an approximation of the cited figures.")
    notes: str = Field(default="", description="How the table was derived and what is approximate.")


class DerivedAge(_SpecModel):
    """Single years of age drawn within each age band."""

    kind: Literal["age_from_band"] = Field(description="Discriminator.")
    name: Literal["age"] = Field(default="age", description="The derived attribute.")
    source_variable: str = Field(description="The band variable, e.g. age_band.")
    weights: dict[str, dict[str, float]] = Field(
        description="Per band, relative weights of each single year (keys are ages as strings)."
    )
    sources: list[str] = Field(min_length=1, description="Keys into the spec's `sources`.")
    approximate: bool = Field(description="True when the weights are approximate.")
    notes: str = Field(default="", description="How the weights were derived.")


class DerivedMapping(_SpecModel):
    """An attribute that is a fixed function of one variable (e.g. occupation -> major group)."""

    kind: Literal["mapping"] = Field(description="Discriminator.")
    name: str = Field(description="The derived attribute.")
    label: str = Field(description="Human-readable label.")
    source_variable: str = Field(description="The variable it is a function of.")
    mapping: dict[str, str] = Field(description="Value of the attribute for every state of the source.")
    sources: list[str] = Field(min_length=1, description="Keys into the spec's `sources`.")
    approximate: bool = Field(default=False, description="True when the mapping is approximate.")
    notes: str = Field(default="", description="Notes.")


class LocaleSpec(_SpecModel):
    """A whole locale spec, validated."""

    format: Literal["synthspace-persona-spec/v1"] = Field(description="Spec format version.")
    locale: str = Field(pattern=r"^[a-z]{2}_[A-Z]{2}$", description="Locale, e.g. ja_JP.")
    language: str = Field(description="Language of the states and narratives, e.g. ja.")
    country: str = Field(description="Country name as written in the locale's language.")
    title: str = Field(description="Title of the spec.")
    description: str = Field(default="", description="What the spec models.")
    reference_date: str = Field(description="Date the figures refer to, e.g. 2020-10-01.")
    sources: dict[str, Source] = Field(description="Cited sources by key.")
    variables: list[Variable] = Field(min_length=1, description="Network variables in topological order.")
    derived: list[DerivedAge | DerivedMapping] = Field(
        default_factory=list, description="Attributes computed from sampled variables."
    )

    @cached_property
    def digest(self) -> str:
        """'sha256:<hex>' of the spec's canonical JSON: the spec digest recorded in lineage."""
        return canonical_digest(self.model_dump(mode="json"))

    @cached_property
    def by_name(self) -> dict[str, Variable]:
        return {v.name: v for v in self.variables}

    def variable(self, name: str) -> Variable:
        try:
            return self.by_name[name]
        except KeyError:
            raise SpecError(f"spec {self.locale} has no variable {name!r}") from None

    @cached_property
    def normalised_tables(self) -> dict[str, np.ndarray]:
        """Every table as an array of shape (n_parent_configs, n_states), columns renormalised."""
        out = {}
        for v in self.variables:
            arr = np.asarray(v.probabilities, dtype=np.float64)
            out[v.name] = arr / arr.sum(axis=1, keepdims=True)
        return out

    def table(self, name: str) -> np.ndarray:
        """The normalised table of `name` as an array of shape (n_parent_configs, n_states)."""
        self.variable(name)
        return self.normalised_tables[name]

    def cards(self) -> dict[str, int]:
        return {v.name: len(v.states) for v in self.variables}

    def derived_age(self) -> DerivedAge | None:
        return next((d for d in self.derived if isinstance(d, DerivedAge)), None)

    def derived_mappings(self) -> list[DerivedMapping]:
        return [d for d in self.derived if isinstance(d, DerivedMapping)]

    def parent_configuration(self, name: str, column: int) -> str:
        """'sex=女, age_band=30-39' for column `column` of table `name` (for error messages)."""
        var = self.variable(name)
        cards = [len(self.variable(p).states) for p in var.parents]
        idx = np.unravel_index(column, cards) if cards else ()
        return ", ".join(
            f"{p}={self.variable(p).states[int(i)]}" for p, i in zip(var.parents, idx, strict=True)
        ) or "(no parents)"


def validate_spec(spec: LocaleSpec) -> None:
    """Check every table against its states and parents; raise SpecError naming the bad table."""
    seen: dict[str, Variable] = {}
    for var in spec.variables:
        where = f"spec {spec.locale}, table {var.name!r}"
        if var.name in seen:
            raise SpecError(f"{where}: variable declared twice")
        if var.name not in PERSONA_ATTRIBUTES:
            raise SpecError(f"{where}: {var.name!r} is not a persona attribute ({', '.join(PERSONA_ATTRIBUTES)})")
        if len(set(var.states)) != len(var.states):
            dupes = sorted({s for s in var.states if var.states.count(s) > 1})
            raise SpecError(f"{where}: duplicate states {dupes}")
        for p in var.parents:
            if p not in seen:
                raise SpecError(
                    f"{where}: parent {p!r} is not declared before it (variables must be in topological order)"
                )
        if len(set(var.parents)) != len(var.parents):
            raise SpecError(f"{where}: a parent is listed twice")
        for s in var.sources:
            if s not in spec.sources:
                raise SpecError(f"{where}: cites unknown source {s!r}")
        n_cols = math.prod(len(seen[p].states) for p in var.parents)
        if len(var.probabilities) != n_cols:
            raise SpecError(
                f"{where}: has {len(var.probabilities)} columns but its parents "
                f"({', '.join(var.parents) or 'none'}) have {n_cols} configurations"
            )
        seen[var.name] = var
        for j, col in enumerate(var.probabilities):
            if len(col) != len(var.states):
                raise SpecError(
                    f"{where}: column {j} ({spec.parent_configuration(var.name, j)}) has "
                    f"{len(col)} values for {len(var.states)} states"
                )
            arr = np.asarray(col, dtype=np.float64)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise SpecError(
                    f"{where}: column {j} ({spec.parent_configuration(var.name, j)}) has a negative or non-finite value"
                )
            total = float(arr.sum())
            if abs(total - 1.0) > COLUMN_TOLERANCE:
                raise SpecError(
                    f"{where}: column {j} ({spec.parent_configuration(var.name, j)}) sums to "
                    f"{total:.9g}, not 1 (tolerance {COLUMN_TOLERANCE:g})"
                )
    names = {v.name for v in spec.variables}
    for d in spec.derived:
        where = f"spec {spec.locale}, derived attribute {d.name!r}"
        if d.source_variable not in names:
            raise SpecError(f"{where}: source variable {d.source_variable!r} is not a variable")
        if d.name in names:
            raise SpecError(f"{where}: clashes with a variable of the same name")
        if d.name not in PERSONA_ATTRIBUTES:
            raise SpecError(f"{where}: {d.name!r} is not a persona attribute")
        for s in d.sources:
            if s not in spec.sources:
                raise SpecError(f"{where}: cites unknown source {s!r}")
        states = spec.by_name[d.source_variable].states
        keys = d.weights if isinstance(d, DerivedAge) else d.mapping
        missing = [s for s in states if s not in keys]
        extra = [k for k in keys if k not in states]
        if missing or extra:
            raise SpecError(
                f"{where}: keys must be exactly the states of {d.source_variable!r} "
                f"(missing {missing[:5]}, unknown {extra[:5]})"
            )
        if isinstance(d, DerivedAge):
            for band, weights in d.weights.items():
                if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                    raise SpecError(f"{where}: band {band!r} needs positive weights")
                if not all(k.isdigit() for k in weights):
                    raise SpecError(f"{where}: band {band!r} has a non-integer age key")


def parse_spec(document: Any, origin: str = "spec") -> LocaleSpec:
    """Validate a parsed JSON document as a LocaleSpec; SpecError on any problem."""
    try:
        spec = LocaleSpec.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "variables" and isinstance(loc[1], int):
            variables = document.get("variables", []) if isinstance(document, dict) else []
            if loc[1] < len(variables) and isinstance(variables[loc[1]], dict):
                where = f"table {variables[loc[1]].get('name', loc[1])!r} ({where})"
        raise SpecError(f"{origin}: invalid spec at {where}: {first['msg']}") from None
    validate_spec(spec)
    return spec


def available_locales() -> list[str]:
    """Locales whose spec ships with the package."""
    folder = resources.files("synthspace.node.personas") / "specs"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


_SPEC_CACHE: dict[str, LocaleSpec] = {}


def load_spec(locale_or_path: str | Path) -> LocaleSpec:
    """Load and validate a shipped locale spec (`ja_JP`, `en_US`) or a spec file at a path."""
    key = str(locale_or_path)
    if key in _SPEC_CACHE:
        return _SPEC_CACHE[key]
    path = Path(key)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    else:
        shipped = resources.files("synthspace.node.personas") / "specs" / f"{key}.json"
        if not shipped.is_file():
            raise SpecError(
                f"no spec for locale {key!r}; shipped locales: {', '.join(available_locales())} "
                "(or pass the path of a spec .json file)"
            )
        text = shipped.read_text(encoding="utf-8")
        origin = f"{key}.json"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{origin}: not valid JSON ({exc})") from None
    spec = parse_spec(document, origin)
    _SPEC_CACHE[key] = spec
    return spec
