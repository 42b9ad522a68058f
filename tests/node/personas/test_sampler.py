"""The vectorised sampler reproduces the spec's distribution, and pgmpy's own sampler agrees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synthspace.node.personas import query
from synthspace.node.personas.stats import chi_square

from .conftest import ALPHA, counts


def test_same_seed_same_personas_other_seed_differs(ja_sampler) -> None:
    a = ja_sampler.sample(5000, seed=11)
    b = ja_sampler.sample(5000, seed=11)
    c = ja_sampler.sample(5000, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


@pytest.mark.parametrize(
    "variable", ["region", "prefecture", "age_band", "sex", "marital_status", "education", "life_stage", "occupation", "given_name"]
)
def test_marginals_match_exact_pgmpy_marginals(ja_spec, ja_sample, variable) -> None:
    expected = query(ja_spec, [variable])  # pgmpy variable elimination
    observed = counts(ja_sample, [variable], expected.index)
    chi2, dof, p = chi_square(observed, expected.to_numpy())
    assert p > ALPHA, f"{variable}: chi2={chi2:.1f} dof={dof} p={p:.2g}"


def test_exact_marginal_matches_pgmpy(ja_spec, ja_sampler) -> None:
    for v in ("education", "occupation", "life_stage"):
        ours = ja_sampler.exact_marginal(v)
        theirs = query(ja_spec, [v]).reindex(ja_spec.variable(v).states).to_numpy()
        assert np.allclose(ours, theirs, atol=1e-10)


PAIRS = [
    ("sex", "marital_status"),
    ("region", "education"),
    ("age_band", "life_stage"),
    ("education", "occupation"),
    ("sex", "given_name"),
]


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
def test_pairwise_joints_match_the_spec(ja_spec, ja_sample, pair) -> None:
    expected = query(ja_spec, list(pair))
    observed = counts(ja_sample, list(pair), expected.index)
    chi2, dof, p = chi_square(observed, expected.to_numpy())
    assert p > ALPHA, f"{pair}: chi2={chi2:.1f} dof={dof} p={p:.2g}"


def test_conditionals_equal_the_cpd_columns(ja_spec, ja_sample) -> None:
    # P(marital_status | sex=女性, age_band=30-39) is column (1, 2) of the table itself
    table = ja_spec.table("marital_status")
    col = 1 * len(ja_spec.variable("age_band").states) + 2
    rows = ja_sample[(ja_sample.sex == "女性") & (ja_sample.age_band == "30-39")]
    observed = counts(rows, ["marital_status"], pd.Index(ja_spec.variable("marital_status").states))
    assert chi_square(observed, table[col])[2] > ALPHA


def test_the_test_has_power(ja_spec, ja_sample) -> None:
    # the same sample against a distribution off by 1 point must be rejected
    expected = query(ja_spec, ["sex", "marital_status"])
    wrong = expected.to_numpy().copy()
    wrong[0] += 0.01
    wrong[1] -= 0.01
    observed = counts(ja_sample, ["sex", "marital_status"], expected.index)
    assert chi_square(observed, wrong)[2] < 1e-6


def test_structural_zeros_never_sampled(ja_sample) -> None:
    tokyo = ja_sample[ja_sample.prefecture == "東京都"]
    assert (tokyo.region == "関東地方").all()
    students = ja_sample[ja_sample.life_stage == "学生"]
    assert (students.occupation == "学生").all()
    doctors = ja_sample[ja_sample.occupation == "医師"]
    assert len(doctors) > 0 and doctors.education.isin(["大学", "大学院(修士)", "大学院(博士)"]).all()
    for band, years in (("18-19", {18, 19}), ("30-39", set(range(30, 40)))):
        assert set(ja_sample.loc[ja_sample.age_band == band, "age"].unique()) <= years


def test_agrees_with_pgmpy_forward_sample(ja_spec, ja_sampler) -> None:
    from pgmpy.sampling import BayesianModelSampling

    from synthspace.node.personas import build_model

    n = 40_000
    theirs = BayesianModelSampling(build_model(ja_spec)).forward_sample(size=n, seed=5, show_progress=False)
    ours = ja_sampler.sample(n, seed=6)
    for cols in (["region"], ["age_band"], ["education"], ["life_stage"], *map(list, PAIRS[:3])):
        a = ours[cols].astype(str).groupby(cols).size()
        b = theirs[cols].astype(str).groupby(cols).size()
        table = pd.concat([a, b], axis=1).fillna(0).to_numpy()
        table = table[table.sum(axis=1) >= 10]  # pool-free: drop cells too sparse for the test
        p = stats.chi2_contingency(table.T)[1]
        assert p > ALPHA, f"{cols}: two-sample p={p:.2g}"
