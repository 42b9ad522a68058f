"""Shared fixtures of the persona tests: the shipped specs and one large fixed-seed sample."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthspace.node.personas import LocaleSpec, PersonaSampler, load_spec

warnings.filterwarnings("ignore", category=FutureWarning)

ALPHA = 1e-3  # fixed seeds make every test deterministic; alpha only sets how strict the check is


@pytest.fixture(scope="session")
def ja_spec() -> LocaleSpec:
    return load_spec("ja_JP")


@pytest.fixture(scope="session")
def ja_sampler(ja_spec: LocaleSpec) -> PersonaSampler:
    return PersonaSampler(ja_spec)


@pytest.fixture(scope="session")
def ja_sample(ja_sampler: PersonaSampler) -> pd.DataFrame:
    # 300k rows: a 1-percentage-point shift in a 10% cell is ~10 standard errors.
    return ja_sampler.sample(300_000, seed=20201001)


def counts(frame: pd.DataFrame, columns: list[str], index: pd.Index | pd.MultiIndex) -> np.ndarray:
    """Counts of each combination in `index`, zero where absent."""
    c = frame.groupby(columns, observed=True).size()
    if len(columns) == 1:
        c.index = pd.Index(c.index.astype(str), name=columns[0])
    return c.reindex(index, fill_value=0).to_numpy(dtype=np.float64)
