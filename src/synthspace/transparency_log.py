"""Merkle-tree maths of RFC 6962 / RFC 9162: hashes, roots, inclusion and consistency proofs.

leaf hash = SHA-256(0x00 || d), node hash = SHA-256(0x01 || l || r); a tree of n > 1 leaves
splits at k, the largest power of two strictly below n. Proofs are lists of 32-byte hashes.
This module is storage-agnostic: the coordinator persists hashes, auditors verify.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def leaf_hash(data: bytes) -> bytes:
    raise NotImplementedError


def node_hash(left: bytes, right: bytes) -> bytes:
    raise NotImplementedError


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root over already-hashed leaves; the empty tree's root is SHA-256(b"")."""
    raise NotImplementedError


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes] | Callable[[int, int], bytes]) -> list[bytes]:
    """Audit path for leaf `index` in the tree of the first `size` leaves.

    `leaf_hashes` may be a sequence or a callable subtree_hash(start, end) -> bytes giving the
    root of leaves[start:end] (lets the coordinator answer from stored subtree hashes in
    O(log n) reads). Raises ProofError for out-of-range arguments.
    """
    raise NotImplementedError


def verify_inclusion(leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2; raises ProofError (a VerificationError) on mismatch."""
    raise NotImplementedError


def consistency_proof(first: int, second: int, leaf_hashes: Sequence[bytes] | Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.4 proof that tree `first` is a prefix of tree `second`."""
    raise NotImplementedError


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2; raises ProofError on mismatch."""
    raise NotImplementedError
