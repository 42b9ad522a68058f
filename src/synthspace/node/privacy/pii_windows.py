"""Where PII can be: candidate windows of a joined text, located with numpy on code points.

Locating candidate windows is done on code points with numpy: the regex engine walks a
non-ASCII string at roughly 60 ns a character, far too slow for 30M characters, while
a few vectorised comparisons cost milliseconds. The strict detectors (with their
look-arounds and validators) then run only inside the windows.
"""

from __future__ import annotations

import numpy as np

_SEP_CODES = np.array(
    sorted({ord(c) for c in " ().\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\ufe63-"}),
    dtype=np.uint32,
)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every run of True in `mask`."""
    edges = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def candidate_windows(joined: str) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) windows of `joined` around digit runs, @ signs and colon
    pairs: the only places a digit-anchored value, an e-mail or an IPv6 address can be."""
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    n = len(codes)
    if n == 0:
        return []
    digit = (codes >= 48) & (codes <= 57)
    sep = np.isin(codes, _SEP_CODES)
    spans: list[np.ndarray] = []
    # Digit runs bridged by at most two separator characters: numbers of every layout.
    prev_d = np.concatenate(([False], digit[:-1]))
    prev2_d = np.concatenate(([False, False], digit[:-2]))[:n]
    next_d = np.concatenate((digit[1:], [False]))
    next2_d = np.concatenate((digit[2:], [False, False]))[:n]
    prev_s = np.concatenate(([False], sep[:-1]))
    next_s = np.concatenate((sep[1:], [False]))
    bridge = sep & (prev_d | (prev_s & prev2_d)) & (next_d | (next_s & next2_d))
    starts, ends = _runs(digit | bridge)
    if len(starts):
        cum_d = np.concatenate(([0], np.cumsum(digit, dtype=np.int64)))
        cum_dot = np.concatenate(([0], np.cumsum(codes == 46, dtype=np.int64)))
        nd = cum_d[ends] - cum_d[starts]
        ndot = cum_dot[ends] - cum_dot[starts]
        keep = (nd >= 7) | ((nd >= 4) & (ndot >= 3))
        spans.append(np.stack([starts[keep] - 24, ends[keep] + 8], axis=1))
    at = np.flatnonzero(codes == 64)
    if len(at):
        spans.append(np.stack([at - 80, at + 260], axis=1))
    colon = np.flatnonzero(codes == 58)
    if len(colon) > 1:
        close = colon[1:] - colon[:-1] <= 5
        c = colon[:-1][close]
        if len(c):
            spans.append(np.stack([c - 48, c + 48], axis=1))
    if not spans:
        return []
    allspans = np.concatenate(spans)
    allspans = allspans[np.argsort(allspans[:, 0], kind="stable")]
    merged: list[tuple[int, int]] = []
    for s, e in np.clip(allspans, 0, n).tolist():
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged
