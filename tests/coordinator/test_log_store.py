"""The DB-backed transparency log against the protocol's reference maths, on both backends."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from synthspace import transparency_log as tlog
from synthspace.coordinator.errors import InvalidRequestError, LogIntegrityError
from synthspace.coordinator.models import LogLeaf
from synthspace.log_entries import RetractEntry, parse_entry


def _append(coord: Any, n: int, tag: str = "") -> list[int]:
    indices = []
    for i in range(n):
        with coord.session() as session, coord.log.writer(session) as state:
            entry = RetractEntry(
                time=datetime.now(UTC), org="o", artifact_id=f"{tag}{i}", reason="r", by="operator"
            )
            indices.append(coord.log.append(session, state, entry).index)
            session.commit()
    return indices


def _leaf_hashes(coord: Any) -> list[bytes]:
    with coord.session() as session:
        return [bytes(leaf.leaf_hash) for leaf in coord.log.leaves(session, 0, 10**9)]


def test_roots_and_proofs_match_reference_maths(coordinator: Any) -> None:
    with coordinator.session() as session:
        start = coordinator.log.size(session)  # init logged the operator org's two keys
    assert start == 2
    _append(coordinator, 35)
    hashes = _leaf_hashes(coordinator)
    assert len(hashes) == 37
    rng = random.Random(7)
    with coordinator.session() as session:
        assert coordinator.log.root(session) == tlog.root_from_leaf_hashes(hashes)
        for size in [1, 2, 3, 8, 16, 17, 31, 32, 33, 37]:
            root = coordinator.log.root(session, size)
            assert root == tlog.root_from_leaf_hashes(hashes[:size])
            for index in {0, size - 1, rng.randrange(size)}:
                proof = coordinator.log.inclusion_proof(session, index, size)
                assert proof == tlog.inclusion_proof(index, size, hashes)
                tlog.verify_inclusion(hashes[index], index, size, proof, root)
            for first in {1, size // 2 or 1, size}:
                proof = coordinator.log.consistency_proof(session, first, size)
                first_root = tlog.root_from_leaf_hashes(hashes[:first])
                tlog.verify_consistency(first, size, first_root, root, proof)
    assert coordinator.verify_integrity("full") == 37


def test_proof_arguments_out_of_range_are_client_errors(coordinator: Any) -> None:
    with coordinator.session() as session:
        with pytest.raises(InvalidRequestError):
            coordinator.log.inclusion_proof(session, 5, 3)
        with pytest.raises(InvalidRequestError):
            coordinator.log.inclusion_proof(session, 0, 99)
        with pytest.raises(InvalidRequestError):
            coordinator.log.consistency_proof(session, 3, 1)


def test_concurrent_appends_never_gap_or_repeat(coordinator: Any) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            results.append(_append(coordinator, 15, tag))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{i}-",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    indices = sorted(i for r in results for i in r)
    assert indices == list(range(2, 62))
    hashes = _leaf_hashes(coordinator)
    with coordinator.session() as session:
        assert coordinator.log.root(session) == tlog.root_from_leaf_hashes(hashes)
        leaves = coordinator.log.leaves(session, 2, 62)
    assert {parse_entry(bytes(leaf.leaf)).artifact_id for leaf in leaves} == {  # type: ignore[union-attr]
        f"t{t}-{i}" for t in range(4) for i in range(15)
    }


def test_verify_detects_a_tampered_leaf(coordinator: Any) -> None:
    _append(coordinator, 5)
    with coordinator.session() as session:
        session.execute(update(LogLeaf).where(LogLeaf.idx == 3).values(leaf=b'{"forged":true}'))
        session.commit()
    with pytest.raises(LogIntegrityError, match="leaf 3"):
        coordinator.verify_integrity("full")


def test_verify_detects_a_rewritten_leaf_hash(coordinator: Any) -> None:
    _append(coordinator, 5)
    with coordinator.session() as session:
        session.execute(
            update(LogLeaf)
            .where(LogLeaf.idx == 4)
            .values(leaf=b"x", leaf_hash=tlog.leaf_hash(b"x"))
        )
        session.commit()
    with pytest.raises(LogIntegrityError, match="root"):
        coordinator.verify_integrity("root")
