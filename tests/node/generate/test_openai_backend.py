"""The openai backend against a real OpenAI-compatible server on 127.0.0.1 (tests/node/generate/openai_stub_server.py)."""

from __future__ import annotations

import json
import sys
import time

import pytest

from synthspace.node.generate.backends import (
    BackendRequestError,
    BackendUnavailableError,
    GenerationRequest,
    get_backend,
)
from synthspace.node.generate.backends.openai_backend import parse_retry_after
from tests.node.generate.conftest import StubServer

SCHEMA = {
    "type": "object",
    "properties": {"q": {"type": "string", "minLength": 3, "maxLength": 30}, "n": {"type": "integer", "minimum": 2}},
    "required": ["q", "n"],
    "additionalProperties": False,
}


def _reqs(n: int) -> list[GenerationRequest]:
    return [GenerationRequest(key=str(i), messages=[{"role": "user", "content": f"prompt {i}"}], max_tokens=50) for i in range(n)]


@pytest.mark.parametrize("client", ["http11", "httpx", "aiohttp"])
def test_concurrency_bound_is_respected(stub: StubServer, client: str) -> None:
    stub.configure(latency=0.05)
    be = get_backend("openai", base_url=stub.base_url, model="m", concurrency=4, client=client)
    t0 = time.monotonic()
    out = be.generate(_reqs(40), SCHEMA)
    elapsed = time.monotonic() - t0
    stats = stub.stats()
    assert stats["requests"] == 40 and stats["max_in_flight"] == 4  # concurrent, and never more than 4
    assert elapsed >= 40 / 4 * 0.05 * 0.9  # a lower bound: load only makes it slower
    assert all(json.loads(c.text)["n"] == 2 for c in out)
    body = stats["last_body"]
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA and "guided_json" not in body
    assert body["max_tokens"] == 50 and body["model"] == "m"


def test_guided_json_field_for_vllm(stub: StubServer) -> None:
    be = get_backend("openai", base_url=stub.base_url, model="m", structured_output="guided_json")
    be.generate(_reqs(1), SCHEMA)
    body = stub.stats()["last_body"]
    assert body["guided_json"] == SCHEMA and "response_format" not in body
    be = get_backend("openai", base_url=stub.base_url, model="m", structured_output="both")
    be.generate(_reqs(1), SCHEMA)
    body = stub.stats()["last_body"]
    assert body["guided_json"] == SCHEMA and body["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(stub: StubServer, status: int) -> None:
    stub.configure(fail_first=2, fail_status=status, retry_after=1)
    be = get_backend("openai", base_url=stub.base_url, model="m", backoff_base=0.01)
    t0 = time.monotonic()
    [c] = be.generate(_reqs(1), SCHEMA)
    elapsed = time.monotonic() - t0
    stats = stub.stats()
    assert json.loads(c.text)["q"]
    assert stats["statuses"] == {str(status): 2, "200": 1}
    assert elapsed >= 1.9  # two waits of Retry-After: 1 s, not the 10 ms backoff
    assert all(gap >= 0.95 for gap in stats["retry_gaps"])


def test_5xx_without_retry_after_backs_off_exponentially(stub: StubServer) -> None:
    stub.configure(fail_first=3, fail_status=502)
    be = get_backend("openai", base_url=stub.base_url, model="m", backoff_base=0.2, backoff_max=5)
    [c] = be.generate(_reqs(1), SCHEMA)
    gaps = stub.stats()["retry_gaps"]
    assert c.text and len(gaps) == 3
    # full-jitter in [cap/2, cap] with caps 0.2, 0.4, 0.8: the waits are at least the lower
    # halves (a loaded machine only adds to a gap, so no upper bound is asserted here) ...
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


def test_backoff_delays_stay_in_their_jitter_windows() -> None:
    # ... and the delays drawn are within [cap/2, cap], checked without a clock.
    be = get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m", backoff_base=0.2, backoff_max=5)
    for attempt, cap in ((1, 0.2), (2, 0.4), (3, 0.8), (10, 5.0)):
        delays = [be._delay(attempt, None) for _ in range(200)]  # type: ignore[attr-defined]
        assert min(delays) >= cap / 2 and max(delays) <= cap
    assert be._delay(1, 1.0) == 1.0  # type: ignore[attr-defined]  # Retry-After wins


def test_timeouts_are_retried(stub: StubServer) -> None:
    stub.configure(hang_first=1)
    be = get_backend("openai", base_url=stub.base_url, model="m", timeout=0.5, backoff_base=0.01)
    t0 = time.monotonic()
    [c] = be.generate(_reqs(1), SCHEMA)
    assert c.text and time.monotonic() - t0 >= 0.5  # the first attempt waited out its timeout
    assert stub.stats()["requests"] == 2


def test_retries_exhausted_raise_a_clear_error(stub: StubServer) -> None:
    stub.configure(fail_first=100, fail_status=503)
    be = get_backend("openai", base_url=stub.base_url, model="m", max_attempts=3, backoff_base=0.01)
    with pytest.raises(BackendUnavailableError, match="failed 3 times; last error: HTTP 503"):
        be.generate(_reqs(1), SCHEMA)
    assert stub.stats()["requests"] == 3


def test_client_errors_are_not_retried(stub: StubServer) -> None:
    stub.configure(fail_first=100, fail_status=400)
    be = get_backend("openai", base_url=stub.base_url, model="m", backoff_base=0.01)
    with pytest.raises(BackendRequestError, match="HTTP 400"):
        be.generate(_reqs(1), SCHEMA)
    assert stub.stats()["requests"] == 1


def test_unreachable_endpoint(unused_port: int) -> None:
    be = get_backend("openai", base_url=f"http://127.0.0.1:{unused_port}/v1", model="m", max_attempts=2, backoff_base=0.01)
    with pytest.raises(BackendUnavailableError, match="failed 2 times"):
        be.generate(_reqs(1), SCHEMA)


def test_api_key_and_base_url_from_environment(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    be = get_backend("openai", model="m")
    assert be.base_url == stub.base_url and be._api_key == "sk-test-123"  # type: ignore[attr-defined]
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(BackendUnavailableError, match="OPENAI_BASE_URL"):
        get_backend("openai", model="m")


def test_complete_text_plain(stub: StubServer) -> None:
    be = get_backend("openai", base_url=stub.base_url, model="m")
    out = be.complete_text(["describe a fictional baker", "another"], max_tokens=64, temperature=0.3)
    assert out == ["A plain stub reply to: describe a fictional baker", "A plain stub reply to: another"]
    body = stub.stats()["last_body"]
    assert "response_format" not in body and body["temperature"] == 0.3 and body["max_tokens"] == 64


def test_unknown_options_and_backends() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend"):
        get_backend("llamafile")
    with pytest.raises(BackendUnavailableError, match="option not understood"):
        get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m", batch_size=3)
    with pytest.raises(BackendUnavailableError, match="structured_output"):
        get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m", structured_output="xml")


def test_auto_client_follows_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:1/v1"
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert get_backend("openai", base_url=url, model="m", concurrency=1).client_kind == "http11"  # type: ignore[attr-defined]
    assert get_backend("openai", base_url=url, model="m", concurrency=16).client_kind == "http11"  # type: ignore[attr-defined]
    assert get_backend("openai", base_url=url, model="m", concurrency=64, client="httpx").client_kind == "httpx"  # type: ignore[attr-defined]
    assert get_backend("openai", base_url=url, model="m", client="aiohttp").client_kind == "aiohttp"  # type: ignore[attr-defined]
    # A proxy for the endpoint's scheme: auto takes httpx, which honours it; NO_PROXY exempts a host.
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert get_backend("openai", base_url=url, model="m").client_kind == "httpx"  # type: ignore[attr-defined]
    assert get_backend("openai", base_url="https://api.example/v1", model="m").client_kind == "http11"  # type: ignore[attr-defined]
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert get_backend("openai", base_url=url, model="m").client_kind == "http11"  # type: ignore[attr-defined]
    monkeypatch.delenv("http_proxy")
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("all_proxy", "socks5://proxy.invalid:1080")
    assert get_backend("openai", base_url=url, model="m").client_kind == "httpx"  # type: ignore[attr-defined]


def test_base_url_a_request_line_cannot_carry_is_refused() -> None:
    with pytest.raises(BackendUnavailableError, match="cannot carry"):
        get_backend("openai", base_url="http://127.0.0.1:1/v1 x", model="m")
    with pytest.raises(BackendUnavailableError, match="credentials"):
        get_backend("openai", base_url="http://u:p@127.0.0.1:1/v1", model="m")


def test_vllm_in_process_fails_clearly_without_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    # vLLM made absent on purpose (None in sys.modules makes `import vllm` fail), so this holds on
    # a machine where vLLM is installed as well as here, where it cannot be.
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendUnavailableError, match="vllm serve"):
        get_backend("vllm", model="x")


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:05 GMT", now=1792567680.0) == pytest.approx(5.0)


@pytest.fixture()
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["response_format", "guided_json", "both", "none"])
def test_spliced_payload_equals_the_plain_body(mode: str) -> None:
    be = get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m\u00e9", structured_output=mode, extra_body={"x": 1})
    shared = [{"role": "system", "content": "Sei kurz, \u00fcberall \"genau\"."}, {"role": "user", "content": "\u65e5\u672c\n\ttab"}]
    reqs = [*_reqs(3), GenerationRequest(key="a", messages=shared, temperature=0.123456789, top_p=1, seed=7),
            GenerationRequest(key="b", messages=shared, temperature=1e-7, top_p=0.95, max_tokens=7, seed=None)]
    for req in reqs * 2:  # twice: the second time the messages' cached serialisation is used
        for schema in (SCHEMA, None):
            body = be._body(req, schema)  # type: ignore[attr-defined]
            payload = be._payload(req, schema)  # type: ignore[attr-defined]
            assert json.loads(payload) == body
            # Byte for byte the earlier splice of the whole head's json.dumps and the constant tail.
            head = {k: v for k, v in body.items() if k in ("model", "messages", "max_tokens", "temperature", "top_p", "seed")}
            const = {k: v for k, v in body.items() if k not in head}
            tail = ("," + json.dumps(const, ensure_ascii=False)[1:]) if const else "}"
            assert payload == (json.dumps(head, ensure_ascii=False)[:-1] + tail).encode()


def test_an_api_key_a_header_cannot_carry_is_refused() -> None:
    with pytest.raises(BackendUnavailableError, match="API key"):
        get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-1\r\nX-Evil: 1")
    assert get_backend("openai", base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-fine") is not None
