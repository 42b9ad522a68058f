"""Persona coverage: does the synthetic set cover the population its personas describe?

For every categorical persona attribute (a column with at most `max_values` distinct values,
numeric columns with many values such as age compared in 10-wide bands;
`persona_id` and free-text columns such as `narrative` are skipped), the share of records
per value is compared with the share of personas per value: the report gives both, the
share of the persona set's values that occur in at least one record, and the total variation
distance between the two distributions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

_NUMERIC_BANDS = 12
_SKIP = {"persona_id", "narrative", "name", "first_name", "last_name", "full_name"}


def persona_coverage(
    records: pd.DataFrame, personas: pd.DataFrame, max_values: int = 60, top: int = 50
) -> dict[str, Any]:
    """Coverage metrics per categorical persona attribute."""
    if "persona_id" not in records.columns or "persona_id" not in personas.columns:
        return {
            "attributes": {},
            "records_with_known_persona": 0,
            "unknown_persona_ids": len(records),
        }
    pid = records["persona_id"].astype(str)
    p = personas.copy()
    p["persona_id"] = p["persona_id"].astype(str)
    p = p.drop_duplicates("persona_id").set_index("persona_id")
    known = pid.isin(p.index)
    joined = p.loc[pid[known]]
    out: dict[str, Any] = {}
    for col in p.columns:
        if col in _SKIP or col.startswith("_"):
            continue
        series = p[col]
        if series.map(lambda v: isinstance(v, (list, dict))).any():
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            if series.nunique(dropna=True) > _NUMERIC_BANDS:
                # Ages and similar: compare 10-wide bands rather than single values.
                series = (series // 10 * 10).map(
                    lambda v: f"{int(v)}-{int(v) + 9}" if pd.notna(v) else v
                )
        rec_values = series.loc[pid[known]] if len(joined) else series.iloc[:0]
        nunique = series.nunique(dropna=True)
        if nunique == 0 or nunique > max_values:
            continue
        pop = series.astype(str).value_counts(normalize=True)
        got = rec_values.astype(str).value_counts(normalize=True) if len(joined) else pop * 0
        got = got.reindex(pop.index.union(got.index), fill_value=0.0)
        pop = pop.reindex(got.index, fill_value=0.0)
        covered = float((got[pop > 0] > 0).mean())
        tvd = float(0.5 * (got - pop).abs().sum())
        order = pop.sort_values(ascending=False).index[:top]
        out[col] = {
            "values": int(nunique),
            "value_coverage": round(covered, 4),
            "total_variation": round(tvd, 4),
            "record_share": {str(k): round(float(got[k]), 4) for k in order},
            "persona_share": {str(k): round(float(pop[k]), 4) for k in order},
        }
    return {
        "min_value_coverage": min((a["value_coverage"] for a in out.values()), default=1.0),
        "max_total_variation": max((a["total_variation"] for a in out.values()), default=0.0),
        "attributes": out,
        "records_with_known_persona": int(known.sum()),
        "unknown_persona_ids": int((~known).sum()),
    }
