"""A local OpenAI-compatible chat-completions server for tests and benchmarks.

Answers POST /v1/chat/completions with a JSON record that fits the request's JSON schema
(`response_format.json_schema.schema` or `guided_json`), after a fixed latency. Faults are set
at runtime with POST /admin/config: fail the first N attempts of every distinct request with a
status and Retry-After, hang (for timeouts), or answer invalid JSON every M-th request.
GET /admin/stats reports requests, peak concurrency and status counts.

Run: python tests/node/generate/openai_stub_server.py --port 0 --latency 0.05
(prints `PORT <n>` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from typing import Any

from aiohttp import web

WORDS = "alpha bravo cedar delta ember fjord grove harbor island juniper kestrel lumen meadow nectar orbit".split()


def _text(seed: str, lo: int, hi: int) -> str:
    target = max(lo, min(hi, 40))
    h = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    out: list[str] = []
    while len(" ".join(out)) < target:
        out.append(WORDS[h % len(WORDS)])
        h //= len(WORDS)
        if h == 0:
            h = int(hashlib.sha256((seed + str(len(out))).encode()).hexdigest(), 16)
    return " ".join(out)[:hi]


def _content(message: dict[str, Any]) -> str:
    """Text of a chat message whose content is a string or a list of parts."""
    c = message.get("content", "")
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return str(c)


def value_for(schema: dict[str, Any], seed: str) -> Any:
    if "enum" in schema:
        return schema["enum"][int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(schema["enum"])]
    t = schema.get("type")
    if t == "object":
        return {k: value_for(v, seed + k) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        n = max(schema.get("minItems", 1), min(schema.get("maxItems", 2), 2))
        return [value_for(schema.get("items", {"type": "string"}), f"{seed}/{i}") for i in range(n)]
    if t == "integer":
        return schema.get("minimum", schema.get("maximum", 3))
    if t == "number":
        return float(schema.get("minimum", 0.5))
    if t == "boolean":
        return True
    return _text(seed, schema.get("minLength", 1), schema.get("maxLength", 200))


class Stub:
    def __init__(self, latency: float) -> None:
        self.config: dict[str, Any] = {"latency": latency, "fail_first": 0, "fail_status": 503, "retry_after": None,
                                        "hang_first": 0, "invalid_every": 0, "truncate_every": 0, "capacity": 0,
                                        "exit_after": 0}
        self.reset()

    def reset(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.statuses: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.last_body: dict[str, Any] | None = None
        self.retry_gaps: list[float] = []
        self._last_seen: dict[str, float] = {}

    def _status(self, code: int) -> None:
        self.statuses[str(code)] = self.statuses.get(str(code), 0) + 1

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.requests += 1
        try:
            body = await request.json()
            self.last_body = body
            key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
            n = self.attempts[key] = self.attempts.get(key, 0) + 1
            now = asyncio.get_running_loop().time()
            if key in self._last_seen:
                self.retry_gaps.append(now - self._last_seen[key])
            self._last_seen[key] = now
            cfg = self.config
            if n <= cfg["hang_first"]:
                await asyncio.sleep(3600)
            if cfg.get("exit_after") and self.requests > cfg["exit_after"]:
                os._exit(3)  # a replica dying mid-run: no reply, open connections just break
            if cfg.get("capacity") and self.in_flight > cfg["capacity"]:
                # An overloaded server: refuse what is above its capacity, as vLLM's queue limit does.
                self._status(429)
                return web.json_response({"error": {"message": "overloaded"}}, status=429, headers={"Retry-After": "0"})
            await asyncio.sleep(cfg["latency"])
            if n <= cfg["fail_first"]:
                self._status(cfg["fail_status"])
                headers = {"Retry-After": str(cfg["retry_after"])} if cfg["retry_after"] is not None else {}
                return web.json_response({"error": {"message": "stub fault"}}, status=cfg["fail_status"], headers=headers)
            schema = None
            rf = body.get("response_format")
            if isinstance(rf, dict) and rf.get("type") == "json_schema":
                schema = rf["json_schema"]["schema"]
            schema = schema or body.get("guided_json")
            fenced = False
            last = _content(body["messages"][-1])
            if schema is None and "<response_schema>" in last:
                # Clients that ask for JSON in the prompt (e.g. Data Designer) get a fenced answer.
                schema = json.loads(last.rsplit("<response_schema>", 1)[1].split("</response_schema>")[0])
                fenced = True
            finish = "stop"
            if schema is not None:
                content = json.dumps(value_for(schema, key), ensure_ascii=False)
                if fenced:
                    content = "```json\n" + content + "\n```"
                if cfg["invalid_every"] and self.requests % cfg["invalid_every"] == 0:
                    content = content[: len(content) // 2]
                if cfg["truncate_every"] and self.requests % cfg["truncate_every"] == 0:
                    content, finish = content[: len(content) // 2], "length"
            else:
                content = "A plain stub reply to: " + last[:40]
            self._status(200)
            prompt_chars = sum(len(_content(m)) for m in body["messages"])
            return web.json_response(
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                    "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": max(1, len(content) // 4),
                              "total_tokens": prompt_chars // 4 + len(content) // 4},
                }
            )
        finally:
            self.in_flight -= 1

    async def set_config(self, request: web.Request) -> web.Response:
        self.config.update(await request.json())
        if self.config.pop("reset", False):
            self.reset()
        return web.json_response(self.config)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "max_in_flight": self.max_in_flight, "statuses": self.statuses,
                                  "in_flight": self.in_flight, "last_body": self.last_body, "retry_gaps": self.retry_gaps})


def make_app(latency: float) -> web.Application:
    stub = Stub(latency)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", stub.chat)
    app.router.add_post("/admin/config", stub.set_config)
    app.router.add_get("/admin/stats", stub.stats)
    return app


async def _serve(host: str, port: int, latency: float) -> None:
    runner = web.AppRunner(make_app(latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    a = ap.parse_args(argv)
    try:
        import uvloop  # noqa: F401  (not required)
    except ImportError:
        pass
    asyncio.run(_serve(a.host, a.port, a.latency))


if __name__ == "__main__":
    sys.exit(main())
