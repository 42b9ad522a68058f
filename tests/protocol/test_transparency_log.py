"""RFC 6962 / 9162 Merkle maths against an independent recursive definition.

The reference functions below are transcribed directly from the RFC's recursive definitions
(MTH, PATH, SUBPROOF) with list slicing and no shared code; every root, every inclusion proof
and every consistency proof of every tree size 1..64 must match them and verify.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthspace import transparency_log as tl
from synthspace.errors import ProofError, VerificationError

MAX_N = 64


def ref_leaf(d: bytes) -> bytes:
    return hashlib.sha256(bytes([0]) + d).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256().digest()
    if n == 1:
        return ref_leaf(d[0])
    k = ref_k(n)
    return hashlib.sha256(bytes([1]) + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


DATA = [b"leaf-%d" % i for i in range(MAX_N)]
LEAF_HASHES = [tl.leaf_hash(d) for d in DATA]
TREE = tl.MerkleTree(LEAF_HASHES)
REF_ROOTS = [ref_mth(DATA[:n]) for n in range(MAX_N + 1)]


def test_hash_definitions() -> None:
    assert tl.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert tl.node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert tl.root_from_leaf_hashes([]) == hashlib.sha256(b"").digest() == tl.EMPTY_ROOT
    assert [tl.split_point(n) for n in (2, 3, 4, 5, 8, 9, 64, 65)] == [1, 2, 2, 4, 4, 8, 32, 64]


# Certificate Transparency reference test data (used by RFC 6962 implementations).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (6, 7): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}


def test_certificate_transparency_vectors() -> None:
    hashes = [tl.leaf_hash(d) for d in CT_LEAVES]
    tree = tl.MerkleTree(hashes)
    for n, root in enumerate(CT_ROOTS, start=1):
        assert tl.root_from_leaf_hashes(hashes[:n]).hex() == root
        assert tree.root(n).hex() == root
    for (i, n), path in CT_INCLUSION.items():
        assert [h.hex() for h in tl.inclusion_proof(i, n, hashes)] == path
        tl.verify_inclusion(hashes[i], i, n, [bytes.fromhex(h) for h in path], bytes.fromhex(CT_ROOTS[n - 1]))
    for (m, n), proof in CT_CONSISTENCY.items():
        assert [h.hex() for h in tl.consistency_proof(m, n, hashes)] == proof
        tl.verify_consistency(m, n, bytes.fromhex(CT_ROOTS[m - 1]), bytes.fromhex(CT_ROOTS[n - 1]), [bytes.fromhex(h) for h in proof])


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_roots_and_every_inclusion_proof(n: int) -> None:
    root = REF_ROOTS[n]
    assert tl.root_from_leaf_hashes(LEAF_HASHES[:n]) == root
    assert TREE.root(n) == root
    for i in range(n):
        expected = ref_path(i, DATA[:n])
        assert tl.inclusion_proof(i, n, LEAF_HASHES) == expected
        assert tl.inclusion_proof(i, n, TREE.subtree_hash) == expected
        assert TREE.inclusion_proof(i, n) == expected
        tl.verify_inclusion(LEAF_HASHES[i], i, n, expected, root)
        # The same proof must fail for any other index, leaf, root or size.
        for j in {0, i - 1, i + 1, n - 1} - {i}:
            if 0 <= j < n:
                with pytest.raises(ProofError):
                    tl.verify_inclusion(LEAF_HASHES[i], j, n, expected, root)
        with pytest.raises(ProofError):
            tl.verify_inclusion(tl.leaf_hash(b"other"), i, n, expected, root)
        with pytest.raises(ProofError):
            tl.verify_inclusion(LEAF_HASHES[i], i, n, expected, REF_ROOTS[n - 1])
        # (A wrong size with the same path shape can still verify: the signed checkpoint binds
        # size and root together, which is why clients verify against a checkpoint.)


def _tamperings(proof: list[bytes]):
    for k in range(len(proof)):
        flipped = bytearray(proof[k])
        flipped[k % 32] ^= 0x80
        yield proof[:k] + [bytes(flipped)] + proof[k + 1 :]
        yield proof[:k] + proof[k + 1 :]  # drop one hash
        if k + 1 < len(proof) and proof[k] != proof[k + 1]:
            yield proof[:k] + [proof[k + 1], proof[k]] + proof[k + 2 :]  # swap neighbours
    yield proof + [b"\x00" * 32]  # one too many


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_tampered_inclusion_proofs_fail(n: int) -> None:
    for i in range(n):
        proof = tl.inclusion_proof(i, n, LEAF_HASHES)
        for bad in _tamperings(proof):
            with pytest.raises(ProofError):
                tl.verify_inclusion(LEAF_HASHES[i], i, n, bad, REF_ROOTS[n])


@pytest.mark.parametrize("second", range(1, MAX_N + 1))
def test_every_consistency_proof(second: int) -> None:
    for first in range(0, second + 1):
        expected = ref_proof(first, DATA[:second]) if 0 < first < second else []
        assert tl.consistency_proof(first, second, LEAF_HASHES) == expected
        assert tl.consistency_proof(first, second, TREE.subtree_hash) == expected
        assert TREE.consistency_proof(first, second) == expected
        tl.verify_consistency(first, second, REF_ROOTS[first], REF_ROOTS[second], expected)
        if first == 0:
            continue
        for bad in _tamperings(expected) if expected else [[b"\x00" * 32]]:
            with pytest.raises(ProofError):
                tl.verify_consistency(first, second, REF_ROOTS[first], REF_ROOTS[second], bad)
        if first < second:
            with pytest.raises(ProofError):  # a root the old tree never had
                tl.verify_consistency(first, second, REF_ROOTS[first - 1], REF_ROOTS[second], expected)
            with pytest.raises(ProofError):
                tl.verify_consistency(first, second, REF_ROOTS[first], REF_ROOTS[second - 1], expected)
            with pytest.raises(ProofError):  # no proof at all
                tl.verify_consistency(first, second, REF_ROOTS[first], REF_ROOTS[second], [])


def test_a_forked_log_is_not_consistent() -> None:
    # Same size-8 prefix, different leaf 3: no proof from the honest tree links them.
    forked = list(LEAF_HASHES[:16])
    forked[3] = tl.leaf_hash(b"rewritten")
    fork_root = tl.root_from_leaf_hashes(forked)
    for first in range(4, 16):
        proof = tl.consistency_proof(first, 16, forked)
        with pytest.raises(ProofError):
            tl.verify_consistency(first, 16, REF_ROOTS[first], fork_root, proof)
    with pytest.raises(ProofError, match="forked"):
        tl.verify_consistency(16, 16, REF_ROOTS[16], fork_root, [])


def test_callable_source_reads_only_log_n_subtrees() -> None:
    calls: list[tuple[int, int]] = []

    def perfect(start: int, end: int) -> bytes:
        calls.append((start, end))
        return TREE.perfect_hash(start, end)

    def sub(start: int, end: int) -> bytes:
        return tl.subtree_hash_from_perfect(start, end, perfect)

    for n in (33, 63, 64):
        for i in range(n):
            calls.clear()
            assert tl.inclusion_proof(i, n, sub) == ref_path(i, DATA[:n])
            assert len(calls) <= 2 * n.bit_length()
            for s, e in calls:  # only complete, aligned subtrees were asked for
                size = e - s
                assert size & (size - 1) == 0 and s % size == 0
        for m in range(1, n):
            calls.clear()
            assert tl.consistency_proof(m, n, sub) == ref_proof(m, DATA[:n])
            assert len(calls) <= 2 * n.bit_length()


def test_out_of_range_and_malformed_arguments() -> None:
    with pytest.raises(ProofError):
        tl.inclusion_proof(5, 5, LEAF_HASHES)
    with pytest.raises(ProofError):
        tl.inclusion_proof(-1, 5, LEAF_HASHES)
    with pytest.raises(ProofError, match="exceeds"):
        tl.inclusion_proof(0, MAX_N + 1, LEAF_HASHES)
    with pytest.raises(ProofError):
        tl.consistency_proof(5, 4, LEAF_HASHES)
    with pytest.raises(ProofError):
        TREE.root(MAX_N + 1)
    with pytest.raises(ProofError):
        TREE.inclusion_proof(0, MAX_N + 1)
    with pytest.raises(ProofError):
        TREE.perfect_hash(1, 3)
    with pytest.raises(ProofError, match="32 bytes"):
        tl.verify_inclusion(LEAF_HASHES[0], 0, 2, [b"short"], REF_ROOTS[2])
    with pytest.raises(ProofError, match="leaf hash"):
        tl.verify_inclusion(b"short", 0, 1, [], REF_ROOTS[1])
    with pytest.raises(ProofError):
        tl.verify_inclusion(LEAF_HASHES[0], 0, 0, [], tl.EMPTY_ROOT)
    with pytest.raises(ProofError, match="more than"):
        tl.verify_inclusion(LEAF_HASHES[0], 0, 2, [b"\x00" * 32] * 100, REF_ROOTS[2])
    with pytest.raises(ProofError, match="never shrinks"):
        tl.verify_consistency(5, 4, REF_ROOTS[5], REF_ROOTS[4], [])
    with pytest.raises(ProofError):
        tl.verify_consistency(0, 4, REF_ROOTS[1], REF_ROOTS[4], [])
    with pytest.raises(ProofError):
        tl.verify_consistency(3, 4, REF_ROOTS[3], REF_ROOTS[4], [])
    assert issubclass(ProofError, VerificationError)


def test_merkle_tree_append() -> None:
    t = tl.MerkleTree()
    assert t.root() == tl.EMPTY_ROOT and len(t) == 0
    for i, d in enumerate(DATA[:20]):
        assert t.append(d) == i
        assert t.root() == REF_ROOTS[i + 1]
    with pytest.raises(ProofError):
        t.append_hash(b"x")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=300), st.data())
def test_property_larger_trees(data: list[bytes], draw: st.DataObject) -> None:
    hashes = [tl.leaf_hash(d) for d in data]
    n = len(hashes)
    tree = tl.MerkleTree(hashes)
    assert tree.root() == tl.root_from_leaf_hashes(hashes) == ref_mth(data)
    i = draw.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(i)
    tl.verify_inclusion(hashes[i], i, n, proof, tree.root())
    m = draw.draw(st.integers(1, n))
    tl.verify_consistency(m, n, tree.root(m), tree.root(), tree.consistency_proof(m))
    if proof:
        k = draw.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[k] = hashlib.sha256(bad[k]).digest()
        with pytest.raises(ProofError):
            tl.verify_inclusion(hashes[i], i, n, bad, tree.root())
