"""Text normalisation and vectorised character n-gram hashing shared by every gate.

Two normal forms are used:

* ``pii_form``: Unicode NFKC only. Full-width digits, letters and hyphen-minus become ASCII,
  so one set of regular expressions covers ``０３－１２３４－５６７８`` and ``03-1234-5678``;
  whitespace is kept because it separates numbers.
* ``match_form``: NFKC, case-folded, with every whitespace character removed. Seed-leakage,
  canary and duplicate checks compare this form, so inserting spaces or line breaks into a
  copied span, or switching it to full-width, does not hide it.

Many documents are hashed at once: their code points are concatenated into one numpy array
with a separator code between documents, and polynomial rolling hashes are computed with a
handful of whole-array operations instead of a Python loop per character.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Private-use code point that separates documents, fields and masked (allow-listed) spans.
#: It is stripped from input text, so no n-gram can ever span two documents.
SEPARATOR = "\ue000"
_SEPARATOR_CODE = ord(SEPARATOR)
_U64 = np.uint64
_BASE = _U64(0x100000001B3)  # FNV prime: odd, so the polynomial hash is a bijection per step
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)


def pii_form(text: str) -> str:
    """NFKC-normalise `text` (full-width digits and letters become ASCII)."""
    return unicodedata.normalize("NFKC", text).replace(SEPARATOR, " ")


def match_form(text: str) -> str:
    """NFKC, case-fold and remove all whitespace: the form leakage checks compare."""
    # str.split() with no argument splits on any Unicode whitespace in C: much faster than a
    # regex substitution over long non-ASCII strings.
    return "".join(unicodedata.normalize("NFKC", text).casefold().split()).replace(SEPARATOR, "")


#: Characters per processing block. On this class of machine first-touch page faults make a
#: fresh 250 MB numpy temporary cost seconds, while ~8 MB temporaries are recycled by the
#: allocator from block to block; every corpus-wide pass therefore works block by block.
BLOCK_CHARS = 1 << 20


def blocks(
    lengths: Sequence[int] | npt.NDArray[np.int64], max_chars: int | None = None
) -> list[tuple[int, int]]:
    """Split documents into consecutive [start, end) ranges of about `max_chars` characters
    (default BLOCK_CHARS; a document longer than that forms its own block)."""
    max_chars = max_chars or BLOCK_CHARS
    n = len(lengths)
    if n == 0:
        return []
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64) + 1)
    out: list[tuple[int, int]] = []
    start, base = 0, 0
    while start < n:
        stop = int(np.searchsorted(ends, base + max_chars, side="right"))
        stop = max(stop, start + 1)
        out.append((start, stop))
        base = int(ends[stop - 1])
        start = stop
    return out


def mix64(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser: spreads polynomial-hash bits so any bit slice is uniform."""
    h = h ^ (h >> _U64(30))
    h = h * _MIX1
    h = h ^ (h >> _U64(27))
    h = h * _MIX2
    return h ^ (h >> _U64(31))


@dataclass(frozen=True)
class CodeArray:
    """Documents concatenated as code points, separator between them.

    `codes[starts[i]:starts[i] + lengths[i]]` is document i.
    """

    codes: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> CodeArray:
        """Build from already-normalised texts (which must not contain SEPARATOR... they may:
        it then acts as an internal break, which is how masked spans are expressed)."""
        joined = SEPARATOR.join(texts) + SEPARATOR
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        starts = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        return cls(codes=codes, starts=starts, lengths=lengths)

    def doc_of(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of the document each absolute position falls in."""
        if len(positions) > len(self.starts) * 4:
            # Dense lookups: one linear pass beats a binary search per position.
            owner = np.repeat(np.arange(len(self.starts), dtype=np.int64), self.lengths + 1)
            return owner[positions]
        return np.searchsorted(self.starts, positions, side="right").astype(np.int64) - 1

    def ngram_hashes(
        self, n: int, mix: bool = True
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Hash of the n-gram starting at every position, and whether it is a real n-gram
        (lies inside one document and crosses no separator). Without `mix` the raw
        polynomial hash is returned: its high bits are well spread, its low bits are not."""
        codes = self.codes
        total = len(codes)
        m = total - n + 1
        if m <= 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
        h = codes[:m].copy()
        for k in range(1, n):
            h *= _BASE
            h += codes[k : k + m]
        is_sep = codes == _SEPARATOR_CODE
        seps = np.concatenate(([0], np.cumsum(is_sep, dtype=np.int64)))
        valid = (seps[n : n + m] - seps[:m]) == 0
        return (mix64(h) if mix else h), valid
