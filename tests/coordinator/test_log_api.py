"""Public log reads over HTTP, verified with the protocol's verifiers."""

from __future__ import annotations

import base64

import httpx
import pytest

from synthspace import checkpoint
from synthspace import transparency_log as tlog
from synthspace.errors import ProofError
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    publish,
)


def _leaf_hashes(server: CoordinatorServer, size: int) -> list[bytes]:
    out: list[bytes] = []
    for start in range(0, size, 1000):
        r = httpx.get(
            f"{server.url}/v1/log/entries", params={"start": start, "end": min(size, start + 1000)}
        )
        assert r.status_code == 200
        out += [tlog.leaf_hash(base64.b64decode(e["leaf"])) for e in r.json()["entries"]]
    return out


def test_checkpoint_proofs_and_entries_agree(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    for _ in range(3):
        env, data = build_artifact(org)
        assert publish(client, env, data).status_code == 201
    enrol(server)
    verifier = checkpoint.Verifier.from_string(
        httpx.get(f"{server.url}/v1/log/verifier-key").text.strip()
    )
    assert verifier.name == "test.synthspace/log"
    r = httpx.get(f"{server.url}/v1/log/checkpoint")
    assert r.headers["content-type"].startswith("text/plain")
    cp = checkpoint.open_checkpoint(r.text, verifier)
    hashes = _leaf_hashes(server, cp.size)
    assert len(hashes) == cp.size
    assert tlog.root_from_leaf_hashes(hashes) == cp.root
    for index in sorted({0, 1, cp.size // 2, cp.size - 1}):
        p = httpx.get(
            f"{server.url}/v1/log/proof/inclusion", params={"index": index, "size": cp.size}
        ).json()
        assert p["index"] == index and p["size"] == cp.size
        tlog.verify_inclusion(
            hashes[index], index, cp.size, [bytes.fromhex(h) for h in p["hashes"]], cp.root
        )
    for first in sorted({1, 2, cp.size // 2, cp.size}):
        p = httpx.get(
            f"{server.url}/v1/log/proof/consistency", params={"first": first, "second": cp.size}
        ).json()
        old_root = tlog.root_from_leaf_hashes(hashes[:first])
        tlog.verify_consistency(
            first, cp.size, old_root, cp.root, [bytes.fromhex(h) for h in p["hashes"]]
        )


def test_a_forged_proof_does_not_verify(server: CoordinatorServer) -> None:
    cp_text = httpx.get(f"{server.url}/v1/log/checkpoint").text
    verifier = checkpoint.Verifier.from_string(
        httpx.get(f"{server.url}/v1/log/verifier-key").text.strip()
    )
    cp = checkpoint.open_checkpoint(cp_text, verifier)
    hashes = _leaf_hashes(server, cp.size)
    p = httpx.get(
        f"{server.url}/v1/log/proof/inclusion", params={"index": 0, "size": cp.size}
    ).json()
    proof = [bytes.fromhex(h) for h in p["hashes"]]
    with pytest.raises(ProofError):
        tlog.verify_inclusion(hashes[1], 0, cp.size, proof, cp.root)


@pytest.mark.parametrize(
    "path,params",
    [
        ("/v1/log/proof/inclusion", {"index": 10**6, "size": 10**6 + 1}),
        ("/v1/log/proof/inclusion", {"index": 3, "size": 2}),
        ("/v1/log/proof/inclusion", {"index": -1, "size": 2}),
        ("/v1/log/proof/inclusion", {"index": "x", "size": 2}),
        ("/v1/log/proof/inclusion", {"index": 2**70, "size": 2}),
        ("/v1/log/proof/consistency", {"first": 5, "second": 2}),
        ("/v1/log/proof/consistency", {"first": 1, "second": 10**9}),
        ("/v1/log/entries", {"start": 5, "end": 2}),
        ("/v1/log/entries", {"start": 0, "end": 10**9}),
        ("/v1/log/entries", {"start": 0}),
    ],
)
def test_bad_log_queries_are_4xx_json(
    server: CoordinatorServer, path: str, params: dict[str, object]
) -> None:
    r = httpx.get(f"{server.url}{path}", params=params)
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == {"error", "detail"}
