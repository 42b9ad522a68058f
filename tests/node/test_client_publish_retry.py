"""The node client retries a publish the coordinator answered 503 (queued, not yet logged).

Publishing the same envelope again is idempotent on the coordinator (tests/coordinator/
test_sequencer.py shows the 503 publish_pending and the single log entry); here the client's
side: it honours Retry-After, sends the same envelope again, stops after PUBLISH_ATTEMPTS, and
never retries a 4xx.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from synthspace.node import coordinator_client as cc
from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError

RECEIPT = {
    "artifact_id": "ab" * 32,
    "log_index": 0,
    "entry_leaf": "AA==",
    "inclusion_proof": {"index": 0, "size": 1, "hashes": []},
    "checkpoint": "example.org/log\n1\nAAAA\n\n— sig\n",
}


def _client(responses: list[httpx.Response], seen: list[bytes]) -> CoordinatorClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return responses.pop(0)

    return CoordinatorClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler))


def _pending(retry_after: str | None = "0") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(503, json={"error": "publish_pending", "detail": "queued"}, headers=headers)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 not really")
    return path


def test_publish_retries_503_with_the_same_envelope(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(cc.time, "sleep", slept.append)
    seen: list[bytes] = []
    client = _client([_pending("0"), _pending("1"), httpx.Response(200, json=RECEIPT)], seen)
    receipt = client.publish(b'{"payload": "x"}', data)
    assert receipt.artifact_id == RECEIPT["artifact_id"]
    assert len(seen) == 3 and all(b'{"payload": "x"}' in body and b"PAR1 not really" in body for body in seen)
    assert slept == [0.0, 1.0]  # each wait is the server's Retry-After


def test_publish_gives_up_after_the_attempt_limit(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(cc.time, "sleep", slept.append)
    seen: list[bytes] = []
    client = _client([_pending("999") for _ in range(cc.PUBLISH_ATTEMPTS)], seen)
    with pytest.raises(CoordinatorError) as err:
        client.publish(b"{}", data)
    assert err.value.status == 503 and err.value.code == "publish_pending"
    assert len(seen) == cc.PUBLISH_ATTEMPTS
    assert slept == [cc.MAX_RETRY_AFTER_S] * (cc.PUBLISH_ATTEMPTS - 1)  # a huge Retry-After is capped


def test_publish_never_retries_a_refusal(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cc.time, "sleep", lambda s: pytest.fail("a 4xx must not be retried"))
    seen: list[bytes] = []
    client = _client([httpx.Response(422, json={"error": "gate_failed", "detail": "no"})], seen)
    with pytest.raises(CoordinatorError) as err:
        client.publish(b"{}", data)
    assert err.value.code == "gate_failed" and len(seen) == 1


def test_retry_after_reads_delta_seconds_only() -> None:
    def parse(value: str | None) -> float | None:
        headers = {"Retry-After": value} if value is not None else {}
        return cc._retry_after(httpx.Response(503, headers=headers))

    assert parse("3") == 3.0
    assert parse(None) is None
    assert parse("Wed, 21 Oct 2026 07:28:00 GMT") is None  # an HTTP date: fall back to the default
    assert parse("-1") is None
    assert parse("100000") == cc.MAX_RETRY_AFTER_S
