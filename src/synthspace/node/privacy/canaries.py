"""Canary strings: tokens planted on the seed side that must never appear in an output.

Canaries come from the gate configuration (a list or a file, one per line) and from the seeds
themselves: any seed substring matching the canary pattern (default
``SYNTHSPACE-CANARY-<hex>``) is one. Matching uses the match form, so spacing, case and
full-width variants are caught. Canary text is private: reports carry only counts and the
positions of the offending synthetic records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from synthspace.node.privacy.text import blocks, match_form

DEFAULT_CANARY_PATTERN = r"SYNTHSPACE-CANARY-[0-9A-Fa-f]{8,}"


def collect_canaries(
    configured: Iterable[str], seed_texts: Iterable[str], pattern: str | None
) -> list[str]:
    """Configured canaries plus those found in the seeds by `pattern`, in match form."""
    found = {match_form(c) for c in configured if match_form(c)}
    if pattern:
        rx = re.compile(pattern)
        for text in seed_texts:
            for m in rx.finditer(text):
                found.add(match_form(m.group(0)))
    return sorted(found)


def find_canaries(canaries: Sequence[str], match_texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """Number of distinct canaries present in each record (records given in match form)."""
    counts = np.zeros(len(match_texts), dtype=np.int64)
    if not canaries or not match_texts:
        return counts
    # str.find per canary over one joined block: C speed, and overlapping canaries all count.
    for b0, b1 in blocks([len(t) for t in match_texts]):
        joined = "\x00".join(match_texts[b0:b1])
        if not any(c in joined for c in canaries):
            continue
        starts = np.cumsum([0] + [len(t) + 1 for t in match_texts[b0 : b1 - 1]])
        for c in canaries:
            seen: set[int] = set()
            pos = joined.find(c)
            while pos != -1:
                doc = b0 + int(np.searchsorted(starts, pos, side="right") - 1)
                if doc not in seen:
                    seen.add(doc)
                    counts[doc] += 1
                pos = joined.find(c, pos + 1)
    return counts
