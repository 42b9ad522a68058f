"""Helpers shared by the spec build scripts (build_ja_jp.py, build_en_us.py).

The build scripts turn compact, cited inputs into the shipped spec JSON files; the JSON
file, not these scripts, is the artifact the package loads and digests.
"""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

DECIMALS = 10


def normalise(values: list[float] | np.ndarray) -> list[float]:
    """A distribution rounded to DECIMALS, the largest entry absorbing the rounding residue."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.sum() <= 0 or np.any(arr < 0):
        raise ValueError(f"cannot normalise {values!r}")
    arr = arr / arr.sum()
    out = [round(float(x), DECIMALS) for x in arr]
    residue = round(1.0 - sum(out), DECIMALS)
    top = int(np.argmax(arr))
    out[top] = round(out[top] + residue, DECIMALS)
    return out


def rake(seed: np.ndarray, row_targets: np.ndarray, col_targets: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Iterative proportional fitting: scale `seed` until its row and column sums hit the targets."""
    m = np.asarray(seed, dtype=np.float64).copy()
    for _ in range(iterations):
        rows, cols = m.sum(axis=1), m.sum(axis=0)
        m *= np.divide(row_targets, rows, out=np.zeros_like(rows), where=rows > 0)[:, None]
        m *= np.divide(col_targets, cols, out=np.zeros_like(cols), where=cols > 0)[None, :]
    return m


def zipf(n: int, offset: float = 2.0) -> list[float]:
    """Rank weights 1/(rank+offset): a stand-in where only a ranking is known."""
    return [1.0 / (r + offset) for r in range(n)]


def given_name_table(
    sexes: list[str], given_names: dict[str, dict[str, str]], band_eras: list[str]
) -> tuple[list[str], list[list[float]]]:
    """States and CPD columns of given_name | (sex, age_band).

    `given_names[sex][era]` is a space-separated ranked list; each (sex, band) column weights
    the ranked names of that band's birth era by `zipf` (weights stand in for counts).
    """
    states: list[str] = []
    for sex in sexes:
        for era in given_names[sex]:
            for given in era.split():
                if given not in states:
                    states.append(given)
    columns = []
    for sex in sexes:
        for era in band_eras:
            names = given_names[sex][era].split()
            col = [0.0] * len(states)
            for w, given in zip(zipf(len(names)), names, strict=True):
                col[states.index(given)] += w
            columns.append(col)
    return states, columns


def configurations(*cards: int) -> list[tuple[int, ...]]:
    """Parent configurations in pgmpy order (first parent slowest)."""
    return list(product(*(range(c) for c in cards)))


def variable(
    name: str,
    label: str,
    states: list[str],
    parents: list[str],
    columns: list[list[float]],
    sources: list[str],
    approximate: bool,
    notes: str,
    description: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "description": description,
        "states": states,
        "parents": parents,
        "probabilities": [normalise(c) for c in columns],
        "sources": sources,
        "approximate": approximate,
        "notes": notes,
    }


def write_spec(spec: dict[str, Any], path: Path) -> None:
    """Write the spec as stable, readable JSON (UTF-8, sorted keys, one table row per line is not needed)."""
    for v in spec["variables"]:
        n = math.prod(
            len(next(x for x in spec["variables"] if x["name"] == p)["states"]) for p in v["parents"]
        )
        assert len(v["probabilities"]) == n, v["name"]
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
