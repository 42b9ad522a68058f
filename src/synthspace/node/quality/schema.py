"""Schema validity of the records against the recipe's output JSON schema, column-wise.

Generation validates each output before writing it, so this is an independent re-check of
what is actually in the shards. The common keywords of flat object schemas (type, enum,
minLength/maxLength, pattern, minimum/maximum, minItems/maxItems, items) are checked with
vectorised pandas operations; any record holding a keyword outside that set is checked with
`jsonschema` when it is installed.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

_HANDLED = {
    "type",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "items",
    "description",
    "title",
}


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _check_value_column(col: pd.Series, spec: dict[str, Any]) -> np.ndarray:
    """Boolean array: which values of `col` satisfy `spec`."""
    t = spec.get("type")
    values = col.tolist()
    ok = np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values])
    if t == "string" or "enum" in spec:
        ok &= np.array([isinstance(v, str) for v in values])
        s = col.where(ok, "").astype(str)
        lengths = s.str.len().to_numpy()
        if "minLength" in spec:
            ok &= lengths >= spec["minLength"]
        if "maxLength" in spec:
            ok &= lengths <= spec["maxLength"]
        if "pattern" in spec:
            ok &= s.str.contains(re.compile(spec["pattern"]), regex=True).to_numpy(dtype=bool)
        if "enum" in spec:
            ok &= s.isin(spec["enum"]).to_numpy()
    elif t in ("integer", "number"):

        def num_ok(v: Any) -> bool:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                return False
            if isinstance(v, (float, np.floating)) and not math.isfinite(v):
                return False
            return t == "number" or float(v).is_integer()

        ok &= np.array([num_ok(v) for v in values], dtype=bool)
        nums = pd.to_numeric(col.where(ok, 0), errors="coerce").fillna(0).to_numpy(dtype=float)
        if "minimum" in spec:
            ok &= nums >= spec["minimum"]
        if "maximum" in spec:
            ok &= nums <= spec["maximum"]
    elif t == "boolean":
        ok &= np.array([isinstance(v, (bool, np.bool_)) for v in values], dtype=bool)
    elif t == "array":
        ok &= np.array([_is_list(v) for v in values], dtype=bool)
        sizes = np.array([len(v) if _is_list(v) else 0 for v in values])
        if "minItems" in spec:
            ok &= sizes >= spec["minItems"]
        if "maxItems" in spec:
            ok &= sizes <= spec["maxItems"]
        items = spec.get("items")
        if isinstance(items, dict) and items:
            flat = [x for v in values if _is_list(v) for x in v]
            owner = np.repeat(np.arange(len(values)), sizes)
            if flat:
                item_ok = _check_value_column(pd.Series(flat, dtype=object), items)
                bad_rows = np.unique(owner[~item_ok])
                ok[bad_rows] = False
    return ok


def schema_validity(df: pd.DataFrame, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Valid-record count and rate, and per-field invalid counts."""
    return schema_check(df, schema)[0]


def schema_check(
    df: pd.DataFrame, schema: dict[str, Any] | None
) -> tuple[dict[str, Any], np.ndarray]:
    """(metrics of `schema_validity`, per-record validity mask)."""
    n = len(df)
    if not schema or not isinstance(schema.get("properties"), dict):
        return {
            "records": n,
            "valid": n,
            "rate": 1.0 if n else 0.0,
            "checked": False,
            "invalid_by_field": {},
        }, np.ones(n, dtype=bool)
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    valid = np.ones(n, dtype=bool)
    invalid_by_field: dict[str, int] = {}
    fallback: list[str] = []
    for name, spec in props.items():
        if name not in df.columns:
            if name in required:
                valid[:] = False
                invalid_by_field[name] = n
            continue
        ok = _check_value_column(df[name], spec if isinstance(spec, dict) else {})
        if not required.__contains__(name):
            ok |= df[name].isna().to_numpy()
        if set(spec) - _HANDLED:
            fallback.append(name)
        invalid_by_field[name] = int((~ok).sum())
        valid &= ok
    if fallback:
        try:
            import jsonschema
        except ImportError:  # pragma: no cover - jsonschema ships with our dev tools
            jsonschema = None
        if jsonschema is not None:
            sub = {"type": "object", "properties": {k: props[k] for k in fallback}}
            validator = jsonschema.Draft202012Validator(sub)
            for i, rec in enumerate(df[fallback].to_dict("records")):
                if valid[i] and not validator.is_valid(_plain(rec)):
                    valid[i] = False
    good = int(valid.sum())
    return {
        "records": n,
        "valid": good,
        "rate": good / n if n else 0.0,
        "checked": True,
        "invalid_by_field": invalid_by_field,
    }, valid


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if _is_list(v):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
