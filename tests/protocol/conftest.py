"""Fixtures for protocol tests: a fixed key and a realistic lineage Statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from synthspace import keys
from synthspace.lineage import (
    DigestSet,
    GateResult,
    Generator,
    LineagePredicate,
    PersonaSource,
    Producer,
    SeedCommitment,
    Statement,
    Subject,
    Times,
)

# RFC 8032 section 7.1 TEST 1 secret: deterministic keys make the docs' examples reproducible.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def make_statement(key: Ed25519PrivateKey, data_sha256: str = "ab" * 32) -> Statement:
    t = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    return Statement(
        subject=[Subject(name="data.parquet", digest=DigestSet(sha256=data_sha256))],
        predicate=LineagePredicate(
            kind="dataset",
            title="Legal Q&A (ja_JP), synthetic",
            task="legal-qa",
            locale="ja_JP",
            record_count=1000,
            producer=Producer(org="acme", artifact_key_id=keys.key_id(key), software="synthspace 0.1.0"),
            generator=Generator(backend="transformers", model_id="SmolLM2-135M-Instruct", parameters={"temperature": 0.7}),
            persona_source=PersonaSource(kind="spec", locale="ja_JP", spec_digest="sha256:" + "cd" * 32, count=500),
            seed_commitment=SeedCommitment(root="ef" * 32, count=450),
            recipe_digest="sha256:" + "01" * 32,
            gates=[GateResult(name="seed_leakage", blocking=True, passed=True, metrics={"exact": 0, "failing_records": 0})],
            times=Times(started=t, finished=t, signed=t),
        ),
    )


@pytest.fixture
def fixed_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)


@pytest.fixture
def statement(fixed_key: Ed25519PrivateKey) -> Statement:
    return make_statement(fixed_key)
