"""Conditional sampling is exact: only matching personas, with the right conditional distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthspace.node.personas import EvidenceError, query
from synthspace.node.personas.stats import chi_square

from .conftest import ALPHA, counts

N = 60_000


def _check(frame: pd.DataFrame, spec, variables: list[str], evidence: dict[str, str]) -> None:
    expected = query(spec, variables, evidence)  # pgmpy variable elimination
    observed = counts(frame, variables, expected.index)
    chi2, dof, p = chi_square(observed, expected.to_numpy())
    assert p > ALPHA, f"{variables} | {evidence}: chi2={chi2:.1f} dof={dof} p={p:.2g}"


def test_root_and_descendant_evidence_prefecture_and_age_band(ja_spec, ja_sampler) -> None:
    evidence = {"prefecture": "東京都", "age_band": "30-39"}
    frame = ja_sampler.sample(N, seed=1, where=[f"{k}={v}" for k, v in evidence.items()])
    assert (frame.prefecture == "東京都").all() and (frame.age_band == "30-39").all()
    assert (frame.region == "関東地方").all() and frame.age.between(30, 39).all()
    for variables in (["education"], ["sex", "marital_status"], ["occupation"], ["life_stage"]):
        _check(frame, ja_spec, variables, evidence)


def test_evidence_on_a_leaf_gives_the_exact_posterior_of_its_ancestors(ja_spec, ja_sampler) -> None:
    # occupation is a descendant of region, age_band, sex, marital_status, education, life_stage
    frame = ja_sampler.sample(N, seed=2, where=["occupation=看護師"])
    assert (frame.occupation == "看護師").all()
    assert (frame.life_stage == "就業者").all()
    for variables in (["sex", "education"], ["age_band"], ["region"], ["marital_status"]):
        _check(frame, ja_spec, variables, {"occupation": "看護師"})
    # and the posterior really differs from the prior (nurses are mostly women)
    assert (frame.sex == "女性").mean() > 0.85


def test_posterior_table_equals_variable_elimination(ja_spec, ja_sampler) -> None:
    from synthspace.node.personas import parse_where

    ev = parse_where(ja_spec, ["given_name=陽菜", "prefecture=大阪府"])
    for v in ("age_band", "region", "sex", "education"):
        ours = ja_sampler.exact_marginal(v, ev)
        theirs = query(ja_spec, [v], {"given_name": "陽菜", "prefecture": "大阪府"})
        assert np.allclose(ours, theirs.reindex(ja_spec.variable(v).states).to_numpy(), atol=1e-10)


def test_set_valued_evidence_and_derived_attributes(ja_spec, ja_sampler) -> None:
    frame = ja_sampler.sample(20_000, seed=3, where=["age=35", "occupation_group=B 専門的・技術的職業従事者"])
    assert (frame.age == 35).all() and (frame.age_band == "30-39").all()
    assert (frame.occupation_group == "B 専門的・技術的職業従事者").all()
    frame = ja_sampler.sample(20_000, seed=4, where=["region=北海道地方", "sex=女性", "age=18-22"])
    assert frame.age.between(18, 22).all() and set(frame.age_band.unique()) <= {"18-19", "20-29"}
    # P(age_band | age in 18..22) follows from the single-year weights: exact, so check it
    w = ja_spec.derived_age().weights
    p18 = sum(w["18-19"].values())
    p20 = sum(v for a, v in w["20-29"].items() if int(a) <= 22)
    prior = query(ja_spec, ["age_band"], {"region": "北海道地方", "sex": "女性"})
    expected = np.array([prior["18-19"] * p18 / sum(w["18-19"].values()),
                         prior["20-29"] * p20 / sum(w["20-29"].values())])
    expected /= expected.sum()
    observed = counts(frame, ["age_band"], pd.Index(["18-19", "20-29"]))
    assert chi_square(observed, expected)[2] > ALPHA
    two = ja_sampler.sample(20_000, seed=5, where=["prefecture=東京都,大阪府"])
    assert set(two.prefecture.unique()) == {"東京都", "大阪府"}
    share = (two.prefecture == "東京都").mean()
    assert share == pytest.approx(14048 / (14048 + 8838), abs=0.015)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (["prefecture=東京都", "region=北海道地方"], "probability zero"),
        (["planet=火星"], "unknown variable 'planet'"),
        (["prefecture=東京"], "no state '東京'"),
        (["prefecture"], "variable=state"),
        (["age=abc"], "age condition"),
        (["age=50-40"], "empty"),
        (["occupation_group=Z"], "no value 'Z'"),
        (["sex=男性", "sex=女性"], "exclude each other"),
    ],
)
def test_bad_or_impossible_evidence_is_a_clear_error(ja_sampler, where, message) -> None:
    with pytest.raises(EvidenceError, match=message):
        ja_sampler.sample(10, seed=0, where=where)


def test_exact_query_occupation_given_tokyo_differs_from_national(ja_spec) -> None:
    tokyo = query(ja_spec, ["occupation"], {"prefecture": "東京都"})
    national = query(ja_spec, ["occupation"])
    assert tokyo.sum() == pytest.approx(1.0) and len(tokyo) == len(ja_spec.variable("occupation").states)
    # more university graduates and a younger population in 関東: more engineers, fewer farmers
    assert tokyo["ソフトウェア作成者"] > national["ソフトウェア作成者"]
    assert tokyo["農耕従事者"] < national["農耕従事者"]


def test_en_us_sampling_matches_its_spec() -> None:
    from synthspace.node.personas import PersonaSampler, load_spec

    spec = load_spec("en_US")
    frame = PersonaSampler(spec).sample(60_000, seed=9, where=["state=California"])
    assert (frame.state == "California").all() and (frame.region == "West").all()
    for variables in (["education"], ["sex", "marital_status"], ["life_stage"]):
        _check(frame, spec, variables, {"state": "California"})
