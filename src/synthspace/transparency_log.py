"""Merkle-tree maths of RFC 6962 / RFC 9162: hashes, roots, inclusion and consistency proofs.

leaf hash = SHA-256(0x00 || d), node hash = SHA-256(0x01 || l || r); a tree of n > 1 leaves
splits at k, the largest power of two strictly below n. Proofs are lists of 32-byte hashes.
This module is storage-agnostic: the coordinator persists hashes, auditors verify.

Proof producers accept either the leaf hashes themselves or a callable
``subtree_hash(start, end)`` returning MTH(leaves[start:end]). Every range a proof asks for
is a left-aligned RFC 6962 subtree, so a store of *perfect* subtree hashes (size 2**h at an
index that is a multiple of 2**h) answers any of them in O(log n) reads: see
``subtree_hash_from_perfect`` and ``MerkleTree``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from synthspace.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# A proof for a tree of n leaves has at most ceil(log2 n) + 1 hashes; 2**64 leaves is plenty.
MAX_PROOF_LENGTH = 65

SubtreeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root over already-hashed leaves; the empty tree's root is SHA-256(b"")."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Fold pairwise bottom-up, carrying an odd last node up unchanged: this equals the
    # recursive RFC 6962 definition (the right edge is the only unbalanced part).
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def subtree_hash_from_perfect(start: int, end: int, perfect: SubtreeHash) -> bytes:
    """MTH(leaves[start:end]) composed from perfect subtree hashes.

    `perfect(start, end)` is only called with end - start a power of two and start a multiple
    of it (what a store of complete subtrees holds). `start` must be a multiple of the largest
    power of two not above end - start, which holds for every range proofs ask for.
    """
    n = end - start
    if n <= 0:
        raise ProofError(f"empty subtree range [{start}, {end})")
    if n & (n - 1) == 0:
        return perfect(start, end)
    k = split_point(n)
    return node_hash(perfect(start, start + k), subtree_hash_from_perfect(start + k, end, perfect))


def _subtree_fn(leaf_hashes: Sequence[bytes] | SubtreeHash, size: int) -> SubtreeHash:
    if callable(leaf_hashes):
        return leaf_hashes
    if size > len(leaf_hashes):
        raise ProofError(f"tree size {size} exceeds the {len(leaf_hashes)} leaves available")
    seq = leaf_hashes
    return lambda start, end: root_from_leaf_hashes(seq[start:end])


def _path(m: int, start: int, end: int, sub: SubtreeHash) -> list[bytes]:
    # RFC 9162 2.1.3.1 PATH(m, D[start:end]), iteratively from the root down, then reversed
    # so the proof runs leaf-to-root.
    out: list[bytes] = []
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            out.append(sub(start + k, end))
            end = start + k
        else:
            out.append(sub(start, start + k))
            start, m = start + k, m - k
    out.reverse()
    return out


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes] | Callable[[int, int], bytes]) -> list[bytes]:
    """Audit path for leaf `index` in the tree of the first `size` leaves.

    `leaf_hashes` may be a sequence or a callable subtree_hash(start, end) -> bytes giving the
    root of leaves[start:end] (lets the coordinator answer from stored subtree hashes in
    O(log n) reads). Raises ProofError for out-of-range arguments.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    return _path(index, 0, size, _subtree_fn(leaf_hashes, size))


def _check_hashes(proof: Sequence[bytes], *named: tuple[str, bytes]) -> None:
    if len(proof) > MAX_PROOF_LENGTH:
        raise ProofError(f"proof has {len(proof)} hashes, more than any real tree needs")
    for i, h in enumerate(proof):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is not {HASH_SIZE} bytes")
    for name, h in named:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 2.1.3.2 steps 1-4)."""
    _check_hashes(proof, ("leaf hash", leaf_hash_))
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = bytes(leaf_hash_)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2; raises ProofError (a VerificationError) on mismatch."""
    if root_from_inclusion_proof(leaf_hash_, index, size, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of tree size {size}")


def consistency_proof(first: int, second: int, leaf_hashes: Sequence[bytes] | Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.4 proof that tree `first` is a prefix of tree `second`."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    sub = _subtree_fn(leaf_hashes, second)
    if first == 0 or first == second:
        return []
    # SUBPROOF(m, D[start:end], b), walked from the root down.
    out: list[bytes] = []
    m, start, end, whole = first, 0, second, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append(sub(start, end))
            break
        k = split_point(n)
        if m <= k:
            out.append(sub(start + k, end))
            end = start + k
        else:
            out.append(sub(start, start + k))
            start, m, whole = start + k, m - k, False
    out.reverse()
    return out


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2; raises ProofError on mismatch."""
    _check_hashes(proof, ("first root", first_root), ("second root", second_root))
    if not 0 <= first <= second:
        raise ProofError(f"tree size went from {first} to {second}: a log never shrinks")
    if first == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if first_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of the empty string")
        return
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}: the log forked")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from size {first} to {second}")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != first_root:
        raise ProofError(f"consistency proof does not reproduce the root of tree size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not reproduce the root of tree size {second}")


class MerkleTree:
    """An append-only in-memory tree keeping every perfect subtree hash.

    levels[h][i] is the root of leaves[i*2**h:(i+1)*2**h]. Appending costs O(log n) hashes;
    roots and proofs for any past size cost O(log n) lookups. The coordinator can persist
    the same (level, index) -> hash table and pass `subtree_hash` to the proof functions.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    def __len__(self) -> int:
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Append leaf data; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        if len(h) != HASH_SIZE:
            raise ProofError(f"a leaf hash is {HASH_SIZE} bytes, got {len(h)}")
        index = len(self.levels[0])
        self.levels[0].append(bytes(h))
        level, i = 0, index
        # Each time the new node completes a pair, its parent becomes a new perfect subtree.
        while i & 1:
            parent = node_hash(self.levels[level][i - 1], self.levels[level][i])
            level += 1
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(parent)
            i >>= 1
        return index

    def perfect_hash(self, start: int, end: int) -> bytes:
        n = end - start
        h = n.bit_length() - 1
        if n <= 0 or n != 1 << h or start % n or end > len(self):
            raise ProofError(f"[{start}, {end}) is not a complete subtree of a tree of size {len(self)}")
        return self.levels[h][start >> h]

    def subtree_hash(self, start: int, end: int) -> bytes:
        if not 0 <= start < end <= len(self):
            raise ProofError(f"[{start}, {end}) is outside a tree of size {len(self)}")
        return subtree_hash_from_perfect(start, end, self.perfect_hash)

    def root(self, size: int | None = None) -> bytes:
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ProofError(f"tree size {size} exceeds the {len(self)} leaves appended")
        return EMPTY_ROOT if size == 0 else self.subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = len(self) if size is None else size
        if size > len(self):
            raise ProofError(f"tree size {size} exceeds the {len(self)} leaves appended")
        return inclusion_proof(index, size, self.subtree_hash)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second = len(self) if second is None else second
        if second > len(self):
            raise ProofError(f"tree size {second} exceeds the {len(self)} leaves appended")
        return consistency_proof(first, second, self.subtree_hash)
