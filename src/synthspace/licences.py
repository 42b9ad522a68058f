"""Licence compatibility of derived artifacts (protocol module; no node/coordinator imports).

A child (a derived dataset, an adapter trained on datasets) may not carry a MORE permissive
licence than its most restrictive parent. SPDX ids are grouped by permissiveness; a lower rank
is more permissive:

| rank | tier | SPDX ids |
| --- | --- | --- |
| 0 | permissive | CC0-1.0, PDDL-1.0, Unlicense, MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, CC-BY-4.0, ODC-By-1.0, CDLA-Permissive-2.0 |
| 1 | share-alike | CC-BY-SA-4.0, ODbL-1.0, CDLA-Sharing-1.0 |
| 2 | non-commercial | CC-BY-NC-4.0, CC-BY-NC-SA-4.0 |
| 3 | restricted | CC-BY-ND-4.0, CC-BY-NC-ND-4.0, `proprietary`, any `LicenseRef-*` |

A child is compatible with a parent when both ranks are known and the child's rank is at least
the parent's, or when the two ids are equal (SPDX ids compare case-insensitively). A licence
not in the table (e.g. GPL-3.0-only) compares only equal. This is an ordering of
permissiveness, not legal advice: it does not model share-alike's "same licence" clause.
"""

from __future__ import annotations

from typing import Final

TIERS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "permissive",
        (
            "CC0-1.0",
            "PDDL-1.0",
            "Unlicense",
            "MIT",
            "Apache-2.0",
            "BSD-2-Clause",
            "BSD-3-Clause",
            "CC-BY-4.0",
            "ODC-By-1.0",
            "CDLA-Permissive-2.0",
        ),
    ),
    ("share-alike", ("CC-BY-SA-4.0", "ODbL-1.0", "CDLA-Sharing-1.0")),
    ("non-commercial", ("CC-BY-NC-4.0", "CC-BY-NC-SA-4.0")),
    ("restricted", ("CC-BY-ND-4.0", "CC-BY-NC-ND-4.0", "proprietary")),
)
RESTRICTED_PREFIX: Final = "licenseref-"

_RANK: Final[dict[str, int]] = {
    lic.lower(): i for i, (_tier, ids) in enumerate(TIERS) for lic in ids
}


def rank(licence: str) -> int | None:
    """0 (most permissive) .. 3 (restricted); None for a licence not in the table."""
    key = licence.strip().lower()
    if key in _RANK:
        return _RANK[key]
    if key.startswith(RESTRICTED_PREFIX):
        return len(TIERS) - 1
    return None


def _rank_or(licence: str, default: int) -> int:
    r = rank(licence)
    return default if r is None else r


def tier(licence: str) -> str:
    r = rank(licence)
    return TIERS[r][0] if r is not None else "unknown"


def incompatibility(child: str, parent: str) -> str | None:
    """None when a child may carry `child` given a parent under `parent`; else why not."""
    if child.strip().lower() == parent.strip().lower():
        return None
    c, p = rank(child), rank(parent)
    if c is None or p is None:
        unknown = child if c is None else parent
        return f"{unknown} is not in the licence table, so {child} and {parent} compare only equal"
    if c < p:
        return (
            f"{child} ({TIERS[c][0]}) is more permissive than the parent's {parent} ({TIERS[p][0]})"
        )
    return None


def most_restrictive(licences: list[str]) -> str | None:
    """The licence every one of `licences` permits a child to carry (None if there is none)."""
    for candidate in sorted(set(licences), key=lambda x: -_rank_or(x, -1)):
        if all(incompatibility(candidate, other) is None for other in licences):
            return candidate
    return None
