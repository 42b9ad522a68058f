"""Vectorised ancestral sampling over a spec's tables, with exact conditioning on evidence.

Forward sampling: variables are drawn in topological order; for each one the parent codes of
all rows are turned into a parent-configuration index and one `searchsorted` over the table's
per-configuration CDFs (laid end to end, offset by the configuration index) draws every row
at once by inverse CDF. Zero-probability states are never drawn.

Evidence (`prefecture=東京都`, `age_band=30-39,40-49`, `age=35`, `occupation_group=...`) is
exact: let S be the evidence variables together with all their ancestors. S is ancestrally
closed, so P(S) is the product of the tables of its members; restricting the evidence
variables to their allowed states and normalising gives the exact posterior P(S | evidence),
which is sampled jointly. Every other variable has no evidence among its descendants, so given
its parents it is independent of the evidence and is forward-sampled as usual. No rejection,
no approximation; `tests/node/personas` checks the result against pgmpy's variable elimination.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthspace.node.personas.errors import EvidenceError
from synthspace.node.personas.spec import DerivedMapping, LocaleSpec

CHUNK_SIZE = 1 << 16  # fixed, so a seed gives the same personas whatever the progress display
MAX_POSTERIOR_STATES = 20_000_000


@dataclass(frozen=True)
class Evidence:
    """Allowed states per network variable, plus an optional single-year age range."""

    allowed: dict[str, tuple[int, ...]] = field(default_factory=dict)
    age_range: tuple[int, int] | None = None
    text: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not self.allowed and self.age_range is None


def parse_where(spec: LocaleSpec, conditions: Sequence[str] | dict[str, str] | None) -> Evidence:
    """Parse `k=v` conditions (v may be `a,b` for either state; `age=35` or `age=30-34`)."""
    if not conditions:
        return Evidence()
    items = list(conditions.items()) if isinstance(conditions, dict) else []
    if not isinstance(conditions, dict):
        for cond in conditions:
            key, sep, value = cond.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise EvidenceError(f"condition {cond!r} is not of the form variable=state")
            items.append((key.strip(), value.strip()))
    allowed: dict[str, set[int]] = {}
    age_range: tuple[int, int] | None = None
    age = spec.derived_age()
    mappings = {d.name: d for d in spec.derived_mappings()}
    for key, value in items:
        if age is not None and key == age.name:
            m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", value)
            if not m:
                raise EvidenceError(f"age condition {value!r} must be a number or a range like 30-34")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if lo > hi:
                raise EvidenceError(f"age range {value!r} is empty")
            age_range = (lo, hi) if age_range is None else (max(lo, age_range[0]), min(hi, age_range[1]))
            if age_range[0] > age_range[1]:
                raise EvidenceError("the age conditions exclude each other")
            continue
        wanted = [v.strip() for v in value.split(",") if v.strip()]
        if key in mappings:
            d: DerivedMapping = mappings[key]
            known = set(d.mapping.values())
            bad = [w for w in wanted if w not in known]
            if bad:
                raise EvidenceError(f"{key} has no value {bad[0]!r}; values: {', '.join(sorted(known))}")
            states = spec.variable(d.source_variable).states
            codes = {i for i, s in enumerate(states) if d.mapping[s] in wanted}
            var_name = d.source_variable
        else:
            var = spec.by_name.get(key)
            if var is None:
                names = [v.name for v in spec.variables] + list(mappings) + ([age.name] if age else [])
                raise EvidenceError(f"unknown variable {key!r} in --where; variables: {', '.join(names)}")
            bad = [w for w in wanted if w not in var.states]
            if bad:
                shown = ", ".join(var.states[:12]) + (" ..." if len(var.states) > 12 else "")
                raise EvidenceError(f"{key} has no state {bad[0]!r}; states: {shown}")
            codes = {var.states.index(w) for w in wanted}
            var_name = key
        allowed[var_name] = allowed[var_name] & codes if var_name in allowed else codes
        if not allowed[var_name]:
            raise EvidenceError(f"the conditions on {var_name} exclude each other")
    text = tuple(f"{k}={v}" for k, v in items)
    return Evidence({k: tuple(sorted(v)) for k, v in allowed.items()}, age_range, text)


class _Table:
    """One variable's per-configuration CDFs laid end to end for a single searchsorted."""

    def __init__(self, spec: LocaleSpec, name: str, order: dict[str, int]) -> None:
        var = spec.variable(name)
        table = spec.table(name)  # (configs, states)
        self.name = name
        self.card = table.shape[1]
        self.parents = [order[p] for p in var.parents]
        cards = [len(spec.variable(p).states) for p in var.parents]
        self.strides = [math.prod(cards[i + 1 :]) for i in range(len(cards))]
        self.flat_cdf, self.last = _offset_cdf(table)


def _offset_cdf(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flattened CDFs, row c shifted by +c, and each row's last state with positive probability."""
    cdf = np.cumsum(table, axis=1)
    cdf /= cdf[:, -1:]
    last = (table.shape[1] - 1 - np.argmax(table[:, ::-1] > 0, axis=1)).astype(np.int64)
    cols = np.arange(table.shape[1])[None, :]
    cdf = np.where(cols >= last[:, None], 1.0, cdf)  # trailing states exactly at 1: never drawn by rounding
    flat = (cdf + np.arange(table.shape[0], dtype=np.float64)[:, None]).ravel()
    return flat, last


def _draw(flat_cdf: np.ndarray, last: np.ndarray, card: int, config: np.ndarray, u: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(flat_cdf, config + u, side="right")
    state = idx - config * card
    return np.minimum(state, last[config])


class PersonaSampler:
    """Samples a spec's variables (and derived attributes) in bulk, reproducibly for a seed."""

    def __init__(self, spec: LocaleSpec) -> None:
        self.spec = spec
        self.names = [v.name for v in spec.variables]
        self.order = {n: i for i, n in enumerate(self.names)}
        self.tables = [_Table(spec, n, self.order) for n in self.names]
        self.age = spec.derived_age()
        self._age_years: dict[tuple[int, int] | None, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- evidence ---------------------------------------------------------------------------
    def ancestors(self, names: Sequence[str]) -> list[str]:
        """`names` and all their ancestors, in topological order."""
        keep: set[str] = set()
        stack = list(names)
        while stack:
            n = stack.pop()
            if n not in keep:
                keep.add(n)
                stack.extend(self.spec.variable(n).parents)
        return [n for n in self.names if n in keep]

    def _age_likelihood(self, age_range: tuple[int, int]) -> np.ndarray:
        assert self.age is not None
        band_states = self.spec.variable(self.age.source_variable).states
        out = np.zeros(len(band_states))
        for i, band in enumerate(band_states):
            weights = self.age.weights[band]
            total = sum(weights.values())
            inside = sum(w for a, w in weights.items() if age_range[0] <= int(a) <= age_range[1])
            out[i] = inside / total
        return out

    def posterior(
        self, evidence: Evidence, extra: Sequence[str] = ()
    ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
        """Exact P(S | evidence) over S = evidence variables, `extra` and all their ancestors.

        Returns S's names, for each the state codes its axis stands for (evidence variables
        keep only their allowed states), and the normalised joint table over those axes.
        """
        targets = list(evidence.allowed) + [x for x in extra if x not in evidence.allowed]
        likelihood: dict[str, np.ndarray] = {}
        if evidence.age_range is not None:
            if self.age is None:
                raise EvidenceError(f"spec {self.spec.locale} has no single-year age")
            band = self.age.source_variable
            targets.append(band)
            likelihood[band] = self._age_likelihood(evidence.age_range)
        closure = self.ancestors(targets)
        axis_codes = [
            np.asarray(evidence.allowed.get(n, range(len(self.spec.variable(n).states))), dtype=np.int64)
            for n in closure
        ]
        size = math.prod(len(c) for c in axis_codes)
        if size > MAX_POSTERIOR_STATES:
            raise EvidenceError(
                f"conditioning on {', '.join(targets)} needs a posterior over {size:,} joint states "
                f"({', '.join(closure)}); narrow the conditions"
            )
        letters = dict(zip(closure, string.ascii_letters, strict=False))
        operands: list[np.ndarray] = []
        subscripts: list[str] = []
        for n, codes in zip(closure, axis_codes, strict=True):
            var = self.spec.variable(n)
            table = self.spec.table(n)
            cards = [len(self.spec.variable(p).states) for p in var.parents]
            arr = table.reshape(*cards, table.shape[1]) if cards else table.reshape(table.shape[1])
            for axis, p in enumerate(var.parents):
                arr = np.take(arr, axis_codes[closure.index(p)], axis=axis)
            arr = np.take(arr, codes, axis=-1)
            if n in likelihood:
                arr = arr * likelihood[n][codes]
            operands.append(arr)
            subscripts.append("".join(letters[p] for p in var.parents) + letters[n])
        out = "".join(letters[n] for n in closure)
        joint = np.einsum(",".join(subscripts) + "->" + out, *operands)
        total = float(joint.sum())
        if not total > 0:
            raise EvidenceError(
                f"the conditions {', '.join(evidence.text)} have probability zero under spec {self.spec.locale}"
            )
        return closure, axis_codes, joint / total

    def exact_marginal(self, variable: str, evidence: Evidence | None = None) -> np.ndarray:
        """Exact P(variable | evidence) over the variable's states (same algebra as the sampler)."""
        closure, axis_codes, joint = self.posterior(evidence or Evidence(), extra=[variable])
        axis = closure.index(variable)
        summed = joint.sum(axis=tuple(i for i in range(joint.ndim) if i != axis))
        out = np.zeros(len(self.spec.variable(variable).states))
        out[axis_codes[axis]] = summed
        return out

    # -- sampling ---------------------------------------------------------------------------
    def sample_codes(
        self,
        n: int,
        seed: int | None = None,
        evidence: Evidence | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """State codes of every variable (and `age` when the spec derives it) for `n` personas."""
        if n < 0:
            raise EvidenceError("the number of personas must not be negative")
        rng = np.random.default_rng(seed)
        evidence = evidence or Evidence()
        post = None if evidence.is_empty() else self.posterior(evidence)
        if post is not None:
            closure, axis_codes, joint = post
            post_cdf = np.cumsum(joint.ravel())
            post_cdf /= post_cdf[-1]
            post_last = int(np.flatnonzero(joint.ravel() > 0)[-1])  # rounding never lands past it
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        ages: list[np.ndarray] = []
        done = 0
        while done < n:
            m = min(CHUNK_SIZE, n - done)
            codes: list[np.ndarray | None] = [None] * len(self.names)
            if post is not None:
                flat = np.minimum(np.searchsorted(post_cdf, rng.random(m), side="right"), post_last)
                idx = np.unravel_index(flat, joint.shape)
                for name, ax, codes_of_axis in zip(closure, idx, axis_codes, strict=True):
                    codes[self.order[name]] = codes_of_axis[ax]
            for i, t in enumerate(self.tables):
                if codes[i] is not None:
                    continue
                config = np.zeros(m, dtype=np.int64)
                for p, stride in zip(t.parents, t.strides, strict=True):
                    config += codes[p] * stride  # type: ignore[operator]
                codes[i] = _draw(t.flat_cdf, t.last, t.card, config, rng.random(m))
            for i, name in enumerate(self.names):
                chunks[name].append(np.asarray(codes[i], dtype=np.int32))
            if self.age is not None:
                band = codes[self.order[self.age.source_variable]]
                ages.append(self._draw_age(np.asarray(band), rng.random(m), evidence.age_range))
            done += m
            if progress is not None:
                progress(m)
        out = {
            name: (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32))
            for name, parts in chunks.items()
        }
        if self.age is not None:
            out[self.age.name] = np.concatenate(ages) if ages else np.zeros(0, dtype=np.int32)
        return out

    def _draw_age(self, band: np.ndarray, u: np.ndarray, age_range: tuple[int, int] | None) -> np.ndarray:
        if age_range not in self._age_years:
            assert self.age is not None
            bands = self.spec.variable(self.age.source_variable).states
            years = sorted({int(a) for b in bands for a in self.age.weights[b]})
            lo, hi = age_range if age_range else (-1, 10**6)
            table = np.zeros((len(bands), len(years)))
            for i, b in enumerate(bands):
                for a, w in self.age.weights[b].items():
                    if lo <= int(a) <= hi:
                        table[i, years.index(int(a))] = w
            ok = table.sum(axis=1) > 0
            table[~ok, 0] = 1.0  # bands the evidence excludes are never drawn; keep the CDF defined
            flat, last = _offset_cdf(table)
            self._age_years[age_range] = (flat, last, np.asarray(years, dtype=np.int32), ok)
        flat, last, years_arr, _ = self._age_years[age_range]
        state = _draw(flat, last, len(years_arr), band.astype(np.int64), u)
        return years_arr[state]

    def sample(
        self,
        n: int,
        seed: int | None = None,
        where: Sequence[str] | dict[str, str] | Evidence | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """A DataFrame of `n` personas' attributes: categorical columns per variable, `age`, derived mappings."""
        evidence = where if isinstance(where, Evidence) else parse_where(self.spec, where)
        codes = self.sample_codes(n, seed, evidence, progress)
        return codes_to_frame(self.spec, codes)


def codes_to_frame(spec: LocaleSpec, codes: dict[str, np.ndarray]) -> pd.DataFrame:
    """Turn state codes into a DataFrame with categorical columns and the derived attributes."""
    cols: dict[str, object] = {}
    for v in spec.variables:
        cols[v.name] = pd.Categorical.from_codes(codes[v.name], categories=v.states)
    age = spec.derived_age()
    if age is not None:
        cols[age.name] = codes[age.name].astype(np.int32)
    for d in spec.derived_mappings():
        states = spec.variable(d.source_variable).states
        categories = list(dict.fromkeys(d.mapping[s] for s in states))
        lookup = np.array([categories.index(d.mapping[s]) for s in states], dtype=np.int32)
        cols[d.name] = pd.Categorical.from_codes(lookup[codes[d.source_variable]], categories=categories)
    return pd.DataFrame(cols)
