"""Quality gates: schema validity, diversity statistics, duplicates, persona coverage."""

from synthspace.node.quality.coverage import persona_coverage
from synthspace.node.quality.near_duplicates import (
    NearDuplicateResult,
    exact_duplicates,
    minhash_signatures,
    near_duplicates,
)
from synthspace.node.quality.schema import schema_validity
from synthspace.node.quality.stats import compression_ratio, distinct_n, length_stats

__all__ = [
    "NearDuplicateResult",
    "compression_ratio",
    "distinct_n",
    "exact_duplicates",
    "length_stats",
    "minhash_signatures",
    "near_duplicates",
    "persona_coverage",
    "schema_validity",
]
