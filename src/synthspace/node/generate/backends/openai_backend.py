"""Any OpenAI-compatible `/v1/chat/completions` endpoint: `vllm serve`, NIM, TGI, OpenAI.

Async with a bounded number of requests in flight, a per-request timeout, and retries with
exponential backoff (full jitter) on 408/429/5xx and transport errors that honour `Retry-After`.
Structured output goes as `response_format: json_schema` and/or vLLM's `guided_json` field.
Three HTTP clients. `client="auto"` (the default) uses our lean HTTP/1.1 client (http11.py),
which spends about half of aiohttp's CPU per request against a 50 ms endpoint
(docs/benchmarks.md); when a proxy is configured for an endpoint (HTTP(S)_PROXY / NO_PROXY) it
uses httpx, which honours proxies. `client="aiohttp"` and `client="httpx"` can be chosen outright.

Several base URLs (one per vLLM replica) are balanced by load with failover, and without a fixed
`concurrency` the number of requests in flight adapts to the endpoints (see endpoints.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import os
import random
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from synthspace.node.generate import fastjson
from synthspace.node.generate.backends.base import (
    Backend,
    BackendRequestError,
    BackendUnavailableError,
    Completion,
    GenerationRequest,
    GeneratorInfo,
)
from synthspace.node.generate.backends.endpoints import AdaptiveLimit, Endpoint, EndpointPool
from synthspace.node.generate.backends.http11 import Http11Client, check_header, check_url

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
StructuredMode = Literal["response_format", "guided_json", "both", "none"]
ClientKind = Literal["auto", "http11", "httpx", "aiohttp"]
ADAPTIVE_START = 16
ADAPTIVE_MAX = 512
OVERLOAD_STATUS = frozenset({429, 503})
MESSAGES_CACHE = 4096  # serialised messages lists kept (as many as execution.Prompts keeps rendered)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class _Transport:
    """Minimal POST-JSON interface over httpx or aiohttp. The response headers come back as the
    client's own case-insensitive mapping: only error answers read them (Retry-After), so
    copying them per request would be wasted work."""

    def __init__(self, limit: int) -> None:
        """At most `limit` connections open per host."""

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _HttpxTransport(_Transport):
    def __init__(self, limit: int) -> None:
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit), timeout=None
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        r = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        return r.status_code, r.headers, r.content

    async def close(self) -> None:
        await self._client.aclose()


class _Http11Transport(_Transport):
    def __init__(self, limit: int) -> None:
        self._client = Http11Client(limit)

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        return await self._client.post(url, body, headers, timeout)

    async def close(self) -> None:
        await self._client.close()


def _proxied(url: str) -> bool:
    """Whether the environment routes `url` through a proxy (HTTP(S)_PROXY or ALL_PROXY, minus
    NO_PROXY), as httpx would."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    scheme = url.split("://", 1)[0].lower()
    proxies = urllib.request.getproxies()
    return (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host)


class _AiohttpTransport(_Transport):
    def __init__(self, limit: int) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit))
        self._timeouts: dict[float, Any] = {}  # one ClientTimeout per value, not one per request

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        t = self._timeouts.get(timeout)
        if t is None:
            t = self._timeouts[timeout] = self._aiohttp.ClientTimeout(total=timeout)
        async with self._session.post(url, data=body, headers=headers, timeout=t) as r:
            data = await r.read()
            return r.status, r.headers, data

    async def close(self) -> None:
        await self._session.close()


def _json_number(x: Any) -> str:
    """A number as json.dumps writes it: int.__repr__ / float.__repr__ for plain finite values
    (what its encoder calls), json.dumps itself for anything else (bool, NaN, subclasses)."""
    t = type(x)
    if t is int:
        return int.__repr__(x)
    if t is float and x - x == 0.0:
        return float.__repr__(x)
    return json.dumps(x)


@functools.cache
def _transport_errors() -> tuple[type[BaseException], ...]:
    import aiohttp

    return (httpx.TransportError, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError)


class OpenAIBackend(Backend):
    """Chat completions over HTTP with bounded concurrency, timeouts and retries."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        concurrency: int | None = None,
        timeout: float = 120.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        structured_output: StructuredMode = "response_format",
        client: ClientKind = "auto",
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        given = [base_url] if isinstance(base_url, str) else list(base_url or [])
        if not given and os.environ.get("OPENAI_BASE_URL"):
            given = [u for u in os.environ["OPENAI_BASE_URL"].split(",") if u.strip()]
        if not given:
            raise BackendUnavailableError(
                "the openai backend needs an endpoint: pass --base-url http://HOST:PORT/v1 (repeat it for "
                "several replicas) or set OPENAI_BASE_URL"
            )
        for base in given:
            if not base.startswith(("http://", "https://")):
                raise BackendUnavailableError(f"base URL {base!r} must start with http:// or https://")
            try:
                check_url(base.rstrip("/") + "/chat/completions")
            except ValueError as exc:
                raise BackendUnavailableError(f"base URL {base!r}: {exc}") from None
        if len(set(given)) != len(given):
            raise BackendUnavailableError("the same base URL is given twice")
        if not model:
            raise BackendUnavailableError("the openai backend needs --model (the model name the endpoint serves)")
        if structured_output not in ("response_format", "guided_json", "both", "none"):
            raise BackendUnavailableError(
                f"structured_output {structured_output!r} is not one of response_format, guided_json, both, none"
            )
        if client not in ("auto", "http11", "httpx", "aiohttp"):
            raise BackendUnavailableError(f"client {client!r} is not one of auto, http11, httpx, aiohttp")
        if (concurrency is not None and concurrency < 1) or max_attempts < 1 or timeout <= 0:
            raise BackendUnavailableError("concurrency and max_attempts must be >= 1 and timeout > 0")
        self.pool = EndpointPool([u.rstrip("/") for u in given])
        self.base_url = self.pool.endpoints[0].url
        self.adaptive = concurrency is None
        self.limiter = AdaptiveLimit(ADAPTIVE_START if concurrency is None else concurrency,
                                     ADAPTIVE_MAX if concurrency is None else concurrency, adaptive=concurrency is None)
        concurrency = ADAPTIVE_MAX if concurrency is None else concurrency
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._headers = {"content-type": "application/json"}
        if self._api_key:
            self._headers["authorization"] = f"Bearer {self._api_key}"
            try:  # (the HTTP/1.1 client's own rule, for every client: refused here, not mid-run)
                check_header("authorization", self._headers["authorization"])
            except ValueError:
                raise BackendUnavailableError("the API key has characters an HTTP header cannot carry") from None
        self.max_concurrency = concurrency
        self.max_batch_size = 1
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.structured_output = structured_output
        self.client_kind: Literal["http11", "httpx", "aiohttp"] = (
            client if client != "auto" else ("httpx" if any(_proxied(u) for u in given) else "http11")
        )
        self.extra_body = dict(extra_body or {})
        self._transport: _Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"requests": 0, "retries": 0}
        self._tails: dict[int, tuple[Any, str]] = {}
        self._model_json = json.dumps(self.model, ensure_ascii=False)
        self._messages_json: dict[int, tuple[list[dict[str, str]], str]] = {}

    def info(self) -> GeneratorInfo:
        # The endpoint's weights are not visible over the API: no digest.
        return GeneratorInfo(
            backend="openai",
            model_id=self.model,
            model_digest=None,
            parameters={
                "concurrency": "adaptive" if self.adaptive else self.max_concurrency,
                "endpoints": len(self.pool.endpoints),
                "structured_output": self.structured_output,
            },
        )

    def _ensure(self) -> tuple[_Transport, AdaptiveLimit]:
        loop = asyncio.get_running_loop()
        if self._transport is None or self._loop is not loop:
            kinds: dict[str, type[_Transport]] = {"http11": _Http11Transport, "aiohttp": _AiohttpTransport, "httpx": _HttpxTransport}
            self._transport = kinds[self.client_kind](self.max_concurrency)
            self.limiter.reset_loop()
            self._loop = loop
        return self._transport, self.limiter

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.close()
        self._transport = None
        self._loop = None

    def _head(self, req: GenerationRequest) -> dict[str, Any]:
        """The part of a request body that differs per request."""
        head: dict[str, Any] = {
            "model": self.model,
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
        }
        if req.seed is not None:
            head["seed"] = req.seed
        return head

    def _body(self, req: GenerationRequest, json_schema: dict[str, Any] | None) -> dict[str, Any]:
        return {**self._head(req), **self._constant_fields(json_schema)}

    def _constant_fields(self, json_schema: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if json_schema is not None:
            if self.structured_output in ("response_format", "both"):
                out["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "record", "schema": json_schema, "strict": True},
                }
            if self.structured_output in ("guided_json", "both"):
                out["guided_json"] = json_schema
        out.update(self.extra_body)
        return out

    def _payload(self, req: GenerationRequest, json_schema: dict[str, Any] | None) -> bytes:
        """The request body; the part that is the same for every request (schema, extra body) is
        serialised once per schema and spliced in, which was 7-9% of a record's CPU. The model and
        messages are serialised once per messages list: a run hands every output and retry of one
        seed x persona pair the same list (execution.Prompts), and they are the bulk of the head.
        The numbers are written as json.dumps writes them (`_json_number`). The bytes are those of
        json.dumps(head)[:-1] + tail, since json.dumps writes an object as its members' texts
        joined by ", "."""
        key = id(json_schema)
        tail = self._tails.get(key)
        if tail is None or tail[0] is not json_schema:
            const = self._constant_fields(json_schema)
            text = json.dumps(const, ensure_ascii=False)
            tail = self._tails[key] = (json_schema, ("," + text[1:]) if const else "}")
        messages = req.messages
        cached = self._messages_json.get(id(messages))
        if cached is None or cached[0] is not messages:  # `is`: an id can be reused once a list is gone
            if len(self._messages_json) >= MESSAGES_CACHE:
                self._messages_json.pop(next(iter(self._messages_json)))
            head = f'{{"model": {self._model_json}, "messages": {json.dumps(messages, ensure_ascii=False)}, '
            cached = self._messages_json[id(messages)] = (messages, head)
        seed = "" if req.seed is None else f', "seed": {_json_number(req.seed)}'
        return (f'{cached[1]}"max_tokens": {_json_number(req.max_tokens)}, "temperature": {_json_number(req.temperature)}, '
                f'"top_p": {_json_number(req.top_p)}{seed}{tail[1]}').encode()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, max(self.backoff_max, 60.0))
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)

    async def _one(self, req: GenerationRequest, json_schema: dict[str, Any] | None) -> Completion:
        transport, limit = self._ensure()
        payload = self._payload(req, json_schema)
        headers = self._headers
        errors = _transport_errors()
        last, last_url = "", self.base_url
        budget = self.max_attempts * len(self.pool.endpoints)  # every replica gets its tries
        failed_on: Endpoint | None = None
        attempt = 0
        while attempt < budget:
            endpoint, wait = self.pool.pick(avoid=failed_on)
            if endpoint is None:  # every replica is cooling down: wait for the first to return
                await asyncio.sleep(wait)
                continue
            attempt += 1
            url = last_url = endpoint.url + "/chat/completions"
            retry_after: float | None = None
            overloaded, latency = False, None
            await limit.acquire()
            endpoint.in_flight += 1
            endpoint.requests += 1
            t0 = time.monotonic()
            try:
                self.stats["requests"] += 1
                status, rheaders, data = await transport.post(url, payload, headers, self.timeout)
            except errors as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if isinstance(exc, asyncio.TimeoutError) or "Timeout" in type(exc).__name__:
                    last = f"timed out after {self.timeout:g} s"
                self.pool.failed(endpoint)
                failed_on = endpoint
            else:
                latency = time.monotonic() - t0
                if status == 200:
                    self.pool.succeeded(endpoint)
                    return self._parse(data)
                detail = data[:300].decode("utf-8", "replace")
                if status not in RETRY_STATUS:
                    raise BackendRequestError(f"{url} answered HTTP {status}: {detail}")
                last = f"HTTP {status}: {detail}"
                retry_after = parse_retry_after(rheaders.get("retry-after"))
                overloaded = status in OVERLOAD_STATUS
                if status >= 500:
                    self.pool.failed(endpoint)
                    failed_on = endpoint
            finally:
                endpoint.in_flight -= 1
                limit.release(latency, overloaded)
            if attempt >= budget:
                break
            self.stats["retries"] += 1
            if failed_on is endpoint and self.pool.others_healthy(endpoint):
                continue  # fail over at once; the failed replica cools down
            await asyncio.sleep(self._delay(min(attempt, self.max_attempts), retry_after))
        raise BackendUnavailableError(f"{last_url} failed {self.max_attempts} times; last error: {last}")

    @staticmethod
    def _parse(data: bytes) -> Completion:
        try:
            doc = fastjson.loads(data)
            choice = doc["choices"][0]
            text = choice["message"].get("content") or ""
            finish = choice.get("finish_reason") or "stop"
            usage = doc.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return Completion(text="", finish_reason="error", error="malformed chat completion response")
        return Completion(
            text=text,
            finish_reason="length" if finish == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    async def agenerate(
        self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None
    ) -> list[Completion]:
        if len(requests) == 1:  # the run's usual call (batch size 1): gather would add a Task per request
            return [await self._one(requests[0], json_schema)]
        return list(await asyncio.gather(*(self._one(r, json_schema) for r in requests)))
