"""Seed leakage: exact copies, n-gram containment and longest common substring.

All comparisons run on `match_form` text (NFKC, case-folded, whitespace removed). Allow-listed
phrases (statute quotations, boilerplate) are cut out of the seeds before indexing, so they
can never contribute to a match.

The work is staged so that almost every record costs only vectorised numpy work:

1. every character n-gram (default 13) of every seed is hashed once into a sorted array plus
   a 2**24-bit membership bitmap;
2. every n-gram of every record is hashed in one pass; a bitmap gather rejects nearly all,
   `searchsorted` confirms the rest; per record this gives the containment (share of its
   n-grams found in some seed) and the longest run of consecutive hits, an upper bound on
   the longest common substring (a common substring of length L yields L - n + 1
   consecutive hits);
3. only records whose bound exceeds the review threshold are walked through a suffix
   automaton of the concatenated seeds, which gives the exact longest common substring with
   any single seed and the seed it came from.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from synthspace.node.privacy.text import SEPARATOR, CodeArray, blocks, match_form

_BITMAP_BITS = 24


def mask_allowlist(text: str, allowlist: Sequence[str]) -> str:
    """Replace every occurrence of an allow-listed phrase (both in match form) by SEPARATOR."""
    for phrase in allowlist:
        if phrase and phrase in text:
            text = text.replace(phrase, SEPARATOR)
    return text


class SuffixAutomaton:
    """Suffix automaton of the concatenated seeds, for exact longest-common-substring queries.

    Seeds are joined with SEPARATOR, which never occurs in a query, so a match never spans
    two seeds. Built lazily and only when some record needs an exact answer.
    """

    def __init__(self, text: str, seed_starts: list[int]) -> None:
        self._seed_starts = seed_starts
        nxt: list[dict[str, int]] = [{}]
        link = [-1]
        length = [0]
        first_end = [-1]
        last = 0
        for i, ch in enumerate(text):
            cur = len(nxt)
            nxt.append({})
            length.append(length[last] + 1)
            link.append(-1)
            first_end.append(i)
            p = last
            while p != -1 and ch not in nxt[p]:
                nxt[p][ch] = cur
                p = link[p]
            if p == -1:
                link[cur] = 0
            else:
                q = nxt[p][ch]
                if length[p] + 1 == length[q]:
                    link[cur] = q
                else:
                    clone = len(nxt)
                    nxt.append(dict(nxt[q]))
                    length.append(length[p] + 1)
                    link.append(link[q])
                    first_end.append(first_end[q])
                    while p != -1 and nxt[p].get(ch) == q:
                        nxt[p][ch] = clone
                        p = link[p]
                    link[q] = clone
                    link[cur] = clone
            last = cur
        self._next = nxt
        self._link = link
        self._len = length
        self._first_end = first_end

    def longest_match(self, query: str) -> tuple[int, int, int]:
        """(length, seed index, end offset in query) of the longest substring of `query`
        occurring in a seed; (0, -1, -1) if none."""
        nxt, link, length = self._next, self._link, self._len
        state, cur = 0, 0
        best, best_state, best_end = 0, -1, -1
        for i, ch in enumerate(query):
            while state and ch not in nxt[state]:
                state = link[state]
                cur = length[state]
            if ch in nxt[state]:
                state = nxt[state][ch]
                cur += 1
                if cur > best:
                    best, best_state, best_end = cur, state, i
            else:
                state, cur = 0, 0
        if best == 0:
            return 0, -1, -1
        start = self._first_end[best_state] - best + 1
        seed = bisect.bisect_right(self._seed_starts, start) - 1
        return best, seed, best_end


@dataclass
class SeedIndex:
    """Everything the leakage check needs to know about the seeds; stays on the node."""

    texts: list[str]  # match-form seed texts, allow-listed spans masked
    field_values: set[str]  # match-form whole field values, for exact matching
    field_owner: dict[str, int]
    n: int
    hashes: npt.NDArray[np.uint64]  # sorted unique n-gram hashes
    hash_seed: npt.NDArray[np.int64]  # first seed containing each hash
    bitmap: npt.NDArray[np.bool_]
    seed_ngram_counts: npt.NDArray[np.int64]
    pair_hash_idx: npt.NDArray[np.int64]  # every (unique-hash index, seed) pair, sorted
    pair_seed: npt.NDArray[np.int64]
    _automaton: SuffixAutomaton | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, seed_fields: Sequence[Sequence[str]], n: int, allowlist: Sequence[str] = ()
    ) -> SeedIndex:
        """Index seeds given as lists of text field values (one list per seed)."""
        allow = sorted({match_form(a) for a in allowlist if match_form(a)}, key=len, reverse=True)
        texts: list[str] = []
        field_values: set[str] = set()
        owner: dict[str, int] = {}
        for i, values in enumerate(seed_fields):
            parts = [mask_allowlist(match_form(v), allow) for v in values if v]
            for p in parts:
                if p and SEPARATOR not in p:
                    field_values.add(p)
                    owner.setdefault(p, i)
            texts.append(SEPARATOR.join(parts))
        arr = CodeArray.from_texts(texts)
        h, valid = arr.ngram_hashes(n)
        pos = np.flatnonzero(valid)
        hv = h[pos]
        seeds = arr.doc_of(pos)
        counts = np.bincount(seeds, minlength=len(texts)).astype(np.int64)
        order = np.argsort(hv, kind="stable")
        hv, seeds = hv[order], seeds[order]
        keep = np.ones(len(hv), dtype=bool)
        keep[1:] = hv[1:] != hv[:-1]
        hidx = np.cumsum(keep, dtype=np.int64) - 1
        pairs = np.unique(hidx * np.int64(len(texts) + 1) + seeds)
        bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        bitmap[hv >> np.uint64(64 - _BITMAP_BITS)] = True
        return cls(
            texts=texts,
            field_values=field_values,
            field_owner=owner,
            n=n,
            hashes=hv[keep],
            hash_seed=seeds[keep],
            bitmap=bitmap,
            seed_ngram_counts=counts,
            pair_hash_idx=pairs // (len(texts) + 1),
            pair_seed=pairs % (len(texts) + 1),
        )

    @property
    def automaton(self) -> SuffixAutomaton:
        if self._automaton is None:
            starts: list[int] = []
            pos = 0
            for t in self.texts:
                starts.append(pos)
                pos += len(t) + 1
            self._automaton = SuffixAutomaton(SEPARATOR.join(self.texts), starts)
        return self._automaton

    def lookup(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Index into `hashes` for each of `h`, or -1 where the n-gram is in no seed."""
        out = np.full(len(h), -1, dtype=np.int64)
        maybe = np.flatnonzero(self.bitmap[h >> np.uint64(64 - _BITMAP_BITS)])
        if len(maybe) and len(self.hashes):
            idx = np.searchsorted(self.hashes, h[maybe])
            idx_c = np.minimum(idx, len(self.hashes) - 1)
            hit = self.hashes[idx_c] == h[maybe]
            out[maybe[hit]] = idx_c[hit]
        return out


@dataclass
class LeakageResult:
    """Per-record leakage measurements (arrays of length = number of records)."""

    exact: npt.NDArray[np.bool_]
    containment: npt.NDArray[np.float64]
    lcs: npt.NDArray[np.int64]  # exact where computed; 0 where the bound rules out a review
    lcs_bound: npt.NDArray[np.int64]
    seed_index: npt.NDArray[np.int64]  # best-matching seed, -1 if none
    hit_records: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    hit_hash_idx: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


def _modal_seed(
    hit_rec: npt.NDArray[np.int64], hit_seed: npt.NDArray[np.int64], nseeds: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(records, their most frequent seed among hits)."""
    base = np.int64(nseeds + 1)
    pair = hit_rec * base + hit_seed
    uniq, cnt = np.unique(pair, return_counts=True)
    recs = uniq // base
    order = np.lexsort((-cnt, recs))
    recs = recs[order]
    first = np.ones(len(recs), dtype=bool)
    first[1:] = recs[1:] != recs[:-1]
    return recs[first], (uniq[order] % base)[first]


def check_leakage(
    index: SeedIndex,
    record_fields: Sequence[Sequence[str]],
    lcs_review_chars: int,
    exact_min_chars: int,
    match_texts: Sequence[str] | None = None,
    keep_hits: bool = True,
) -> LeakageResult:
    """Measure every record against the seed index.

    `record_fields` holds each record's text values; `match_texts` may pass the records'
    already computed match-form texts (fields joined by SEPARATOR) to save a pass.
    `keep_hits` keeps the (record, n-gram) hits for the membership check.
    """
    nrec = len(record_fields)
    if match_texts is None:
        match_texts = [SEPARATOR.join(match_form(v) for v in vals if v) for vals in record_fields]
    exact = np.zeros(nrec, dtype=bool)
    seed_index = np.full(nrec, -1, dtype=np.int64)
    fv, owner = index.field_values, index.field_owner
    for i, text in enumerate(match_texts):
        for part in text.split(SEPARATOR) if SEPARATOR in text else (text,):
            if len(part) >= exact_min_chars and part in fv:
                exact[i] = True
                seed_index[i] = owner[part]
                break

    n = index.n
    totals = np.zeros(nrec, dtype=np.int64)
    hits = np.zeros(nrec, dtype=np.int64)
    lcs_bound = np.zeros(nrec, dtype=np.int64)
    modal = np.full(nrec, -1, dtype=np.int64)
    windows: dict[int, list[tuple[int, int]]] = {}
    kept_rec: list[npt.NDArray[np.int64]] = []
    kept_idx: list[npt.NDArray[np.int64]] = []
    lengths = [len(t) for t in match_texts]
    for b0, b1 in blocks(lengths):
        arr = CodeArray.from_texts(match_texts[b0:b1])
        h, valid = arr.ngram_hashes(n)
        vpos = np.flatnonzero(valid)
        rec_local = arr.doc_of(vpos)
        totals[b0:b1] = np.bincount(rec_local, minlength=b1 - b0)
        found = index.lookup(h[vpos])
        hit_mask = found >= 0
        if not hit_mask.any():
            continue
        hit_pos = vpos[hit_mask]
        hit_rec = rec_local[hit_mask]
        hit_idx = found[hit_mask]
        hits[b0:b1] = np.bincount(hit_rec, minlength=b1 - b0)
        # Runs of consecutive hit positions: a common substring of length L >= n gives
        # L - n + 1 consecutive hits, so run length + n - 1 bounds the LCS from above.
        brk = np.ones(len(hit_pos), dtype=bool)
        brk[1:] = (hit_pos[1:] != hit_pos[:-1] + 1) | (hit_rec[1:] != hit_rec[:-1])
        run_id = np.cumsum(brk, dtype=np.int64) - 1
        run_len = np.bincount(run_id)
        run_rec = hit_rec[brk]
        run_start = hit_pos[brk] - arr.starts[run_rec]
        bound_local = np.zeros(b1 - b0, dtype=np.int64)
        np.maximum.at(bound_local, run_rec, run_len + n - 1)
        lcs_bound[b0:b1] = bound_local
        long_runs = np.flatnonzero(run_len + n - 1 > lcs_review_chars)
        for r, st, ln in zip(
            run_rec[long_runs].tolist(),
            run_start[long_runs].tolist(),
            run_len[long_runs].tolist(),
            strict=True,
        ):
            windows.setdefault(b0 + r, []).append((st, st + ln + n - 1))
        recs, seeds = _modal_seed(hit_rec, index.hash_seed[hit_idx], len(index.texts))
        modal[b0 + recs] = seeds
        if keep_hits:
            kept_rec.append((hit_rec + b0).astype(np.int64))
            kept_idx.append(hit_idx)
    containment = np.divide(hits, totals, out=np.zeros(nrec, dtype=np.float64), where=totals > 0)
    unset = seed_index < 0
    seed_index[unset] = modal[unset]

    # Exact LCS only inside the long runs: every common substring longer than the review
    # threshold lies entirely inside one of them.
    lcs = np.zeros(nrec, dtype=np.int64)
    if windows:
        sam = index.automaton
        for r, spans in windows.items():
            text = match_texts[r]
            best, best_seed = 0, -1
            for st, en in spans:
                length, seed, _ = sam.longest_match(text[st:en])
                if length > best:
                    best, best_seed = length, seed
            lcs[r] = best
            if best_seed >= 0:
                seed_index[r] = best_seed
    # Exact matches are at least as long as the matched field.
    for r in np.flatnonzero(exact & (lcs == 0)).tolist():
        lcs[r] = max((len(p) for p in match_texts[r].split(SEPARATOR) if p in fv), default=0)
    empty = np.zeros(0, dtype=np.int64)
    return LeakageResult(
        exact=exact,
        containment=containment,
        lcs=lcs,
        lcs_bound=lcs_bound,
        seed_index=seed_index,
        hit_records=np.concatenate(kept_rec) if kept_rec else empty,
        hit_hash_idx=np.concatenate(kept_idx) if kept_idx else empty,
    )
