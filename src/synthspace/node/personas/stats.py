"""`personas stats`: a persona set's marginals against the exact distribution of its spec.

For a set sampled from a spec (its Parquet metadata names the locale, spec digest and the
`--where` conditions), each variable's observed shares are compared with the exact
P(variable | conditions): a chi-square goodness-of-fit test (cells with expected count < 5
pooled) and the total variation distance. Foreign sets (Nemotron) are compared with the
locale's spec only where the state names match, which the report says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from synthspace.config_model import StrictModel
from synthspace.lineage import PersonaSource
from synthspace.node.personas.errors import PersonaSetError
from synthspace.node.personas.persona_sets import get_sampler
from synthspace.node.personas.records import read_metadata, read_persona_frame
from synthspace.node.personas.sampler import parse_where
from synthspace.node.personas.spec import LocaleSpec, load_spec


class StateShare(StrictModel):
    state: str = Field(description="State name.")
    observed: float = Field(description="Share in the set.")
    expected: float = Field(description="Exact share under the spec (and the set's conditions).")


class VariableStats(StrictModel):
    variable: str = Field(description="Variable or derived attribute.")
    chi2: float = Field(description="Chi-square goodness-of-fit statistic.")
    dof: int = Field(description="Degrees of freedom after pooling small cells.")
    p_value: float = Field(description="p-value of the chi-square test.")
    tvd: float = Field(description="Total variation distance between observed and expected shares.")
    unknown_states: int = Field(default=0, description="Rows whose value is not a state of the spec.")
    top: list[StateShare] = Field(description="The most frequent states (by expected share).")


class StatsReport(StrictModel):
    path: str = Field(description="The persona set.")
    source: PersonaSource = Field(description="Its lineage record.")
    spec_locale: str | None = Field(description="Spec compared against.")
    spec_matches: bool = Field(description="Whether the set was sampled from exactly this spec (same digest).")
    where: list[str] = Field(default_factory=list, description="Conditions the set was sampled under.")
    variables: list[VariableStats] = Field(description="Per-variable comparison.")


def chi_square(observed: np.ndarray, expected_p: np.ndarray) -> tuple[float, int, float]:
    """Goodness of fit of counts to probabilities, pooling cells with expected count < 5."""
    from scipy import stats

    n = observed.sum()
    expected = expected_p * n
    impossible = (expected_p == 0) & (observed > 0)
    if impossible.any():
        return float("inf"), int((expected_p > 0).sum()) - 1, 0.0
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    mask = exp > 0
    obs, exp = obs[mask], exp[mask]
    if len(obs) < 2:
        return 0.0, 0, 1.0
    exp = exp * obs.sum() / exp.sum()
    res = stats.chisquare(obs, exp)
    return float(res.statistic), len(obs) - 1, float(res.pvalue)


def compare_frame(frame: pd.DataFrame, spec: LocaleSpec, where: list[str] | None = None, top: int = 5) -> list[VariableStats]:
    """Compare every spec variable (and mapped derived attribute) present in `frame` with the exact marginal."""
    sampler = get_sampler(spec)
    evidence = parse_where(spec, where)
    out = []
    targets: list[tuple[str, list[str], np.ndarray]] = []
    for v in spec.variables:
        if v.name in frame.columns:
            targets.append((v.name, list(v.states), sampler.exact_marginal(v.name, evidence)))
    for d in spec.derived_mappings():
        if d.name in frame.columns:
            src = spec.variable(d.source_variable)
            p_src = sampler.exact_marginal(d.source_variable, evidence)
            cats = list(dict.fromkeys(d.mapping[s] for s in src.states))
            p = np.zeros(len(cats))
            for s, ps in zip(src.states, p_src, strict=True):
                p[cats.index(d.mapping[s])] += ps
            targets.append((d.name, cats, p))
    for name, states, p in targets:
        values = frame[name].astype(str)
        counts = values.value_counts()
        observed = np.array([counts.get(s, 0) for s in states], dtype=np.float64)
        unknown = int(len(values) - observed.sum())
        chi2, dof, pval = chi_square(observed, p)
        shares = observed / max(observed.sum(), 1)
        order = np.argsort(-p)[:top]
        out.append(
            VariableStats(
                variable=name, chi2=chi2, dof=dof, p_value=pval, tvd=float(0.5 * np.abs(shares - p).sum()),
                unknown_states=unknown,
                top=[StateShare(state=states[i], observed=float(shares[i]), expected=float(p[i])) for i in order],
            )
        )
    return out


def persona_set_stats(path: str | Path, locale: str | None = None, top: int = 5) -> StatsReport:
    """Marginals of the persona set at `path` against its spec (or the given locale's spec)."""
    frame, source = read_persona_frame(path, locale=locale)
    meta = read_metadata(path) or {}
    spec_locale = locale or source.locale
    if spec_locale is None:
        raise PersonaSetError(f"{path}: cannot tell the locale; pass --locale")
    spec = load_spec(spec_locale)
    where = list(meta.get("where", []))
    variables = compare_frame(frame, spec, where, top)
    return StatsReport(
        path=str(path), source=source, spec_locale=spec.locale, spec_matches=source.spec_digest == spec.digest,
        where=where, variables=variables,
    )
