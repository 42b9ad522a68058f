"""Privacy gates: seed leakage, PII detection and replay, canaries, membership.

Everything here runs on the node and sees private seeds; only counts, rates and positions of
synthetic records ever leave it (see docs/gates.md).
"""

from synthspace.node.privacy.canaries import collect_canaries, find_canaries
from synthspace.node.privacy.leakage import LeakageResult, SeedIndex, check_leakage
from synthspace.node.privacy.pii import PII_TYPES, PiiFinding, find_pii
from synthspace.node.privacy.pii_checksums import (
    corporate_number_valid,
    luhn_valid,
    my_number_valid,
)
from synthspace.node.privacy.text import match_form, pii_form

__all__ = [
    "PII_TYPES",
    "LeakageResult",
    "PiiFinding",
    "SeedIndex",
    "check_leakage",
    "collect_canaries",
    "corporate_number_valid",
    "find_canaries",
    "find_pii",
    "luhn_valid",
    "match_form",
    "my_number_valid",
    "pii_form",
]
