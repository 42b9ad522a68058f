"""A 503 from the coordinator says when to come back (the node client's publish retry reads it)."""

from __future__ import annotations

from synthspace.coordinator.api.errors import RETRY_AFTER_S, error_response


def test_503_carries_retry_after_and_4xx_does_not() -> None:
    assert error_response(503, "publish_pending", "queued").headers["retry-after"] == str(RETRY_AFTER_S)
    assert "retry-after" not in error_response(422, "gate_failed", "no").headers
