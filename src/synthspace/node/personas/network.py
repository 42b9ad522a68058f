"""The pgmpy model of a locale spec: validation with `check_model()` and exact queries.

pgmpy defines, checks and queries the network; bulk sampling uses the vectorised sampler in
`sampler.py` over the very same tables (`LocaleSpec.table`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthspace.node.personas.errors import EvidenceError, SpecError
from synthspace.node.personas.spec import LocaleSpec

if TYPE_CHECKING:
    from pgmpy.models import DiscreteBayesianNetwork

_MODELS: dict[str, Any] = {}


def build_model(spec: LocaleSpec) -> DiscreteBayesianNetwork:
    """A checked `DiscreteBayesianNetwork` with one `TabularCPD` per spec table (cached per spec digest)."""
    if spec.digest in _MODELS:
        return _MODELS[spec.digest]
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    edges = [(p, v.name) for v in spec.variables for p in v.parents]
    model = DiscreteBayesianNetwork(edges)
    model.add_nodes_from([v.name for v in spec.variables])
    cpds = []
    for v in spec.variables:
        cpds.append(
            TabularCPD(
                variable=v.name,
                variable_card=len(v.states),
                values=spec.table(v.name).T,  # pgmpy wants (states, parent configurations)
                evidence=list(v.parents) or None,
                evidence_card=[len(spec.variable(p).states) for p in v.parents] or None,
                state_names={v.name: list(v.states), **{p: list(spec.variable(p).states) for p in v.parents}},
            )
        )
    model.add_cpds(*cpds)
    try:
        ok = model.check_model()
    except ValueError as exc:
        raise SpecError(f"spec {spec.locale}: pgmpy rejected the network: {exc}") from None
    if not ok:
        raise SpecError(f"spec {spec.locale}: pgmpy's check_model() failed")
    _MODELS[spec.digest] = model
    return model


def _check_evidence(spec: LocaleSpec, evidence: dict[str, str] | None) -> dict[str, str]:
    out = {}
    for name, state in (evidence or {}).items():
        var = spec.by_name.get(name)
        if var is None:
            raise EvidenceError(f"unknown variable {name!r}; variables: {', '.join(spec.by_name)}")
        if state not in var.states:
            raise EvidenceError(f"{name} has no state {state!r}")
        out[name] = state
    return out


def query(
    spec: LocaleSpec, variables: list[str], evidence: dict[str, str] | None = None
) -> pd.Series:
    """Exact P(variables | evidence) by variable elimination, as a Series indexed by state tuples."""
    from pgmpy.inference import VariableElimination

    for v in variables:
        spec.variable(v)
    ev = _check_evidence(spec, evidence)
    model = build_model(spec)
    try:
        factor = VariableElimination(model).query(
            variables=list(variables), evidence=ev or None, joint=True, show_progress=False
        )
    except (ValueError, ZeroDivisionError) as exc:
        raise EvidenceError(f"cannot condition on {ev}: {exc}") from None
    values = np.asarray(factor.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise EvidenceError(f"the evidence {ev} has probability zero under spec {spec.locale}")
    names = [factor.state_names[v] for v in factor.variables]
    index = pd.MultiIndex.from_product(names, names=list(factor.variables))
    series = pd.Series(values.reshape(-1), index=index)
    series = series.reorder_levels(list(variables)) if len(variables) > 1 else series
    if len(variables) == 1:
        series.index = pd.Index([i[0] for i in series.index], name=variables[0])
    return series.sort_index()


def marginal(spec: LocaleSpec, variable: str, evidence: dict[str, str] | None = None) -> pd.Series:
    """Exact P(variable | evidence) as a Series over the variable's states, in spec order."""
    series = query(spec, [variable], evidence)
    return series.reindex(spec.variable(variable).states).fillna(0.0)
