"""ASGI middleware enforcing the body size limit (413) and a body-receive timeout (408).

It runs before routing, so oversize bodies are refused from Content-Length without reading
them, and chunked bodies are cut off as soon as they pass the limit. Only the upload routes
(publish) may carry `max_body_bytes`; every other body is capped at MAX_SMALL_BODY_BYTES,
because FastAPI reads (and parses) a declared JSON body before the signature dependency runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_SMALL_BODY_BYTES = 1024 * 1024


class LimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout_s: float,
        upload_routes: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.max_upload = max_body_bytes
        self.max_small = min(max_body_bytes, MAX_SMALL_BODY_BYTES)
        self.upload_routes = upload_routes
        self.timeout = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        route = (scope.get("method", ""), scope.get("path", ""))
        max_body = self.max_upload if route in self.upload_routes else self.max_small
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_error(send, 400, "bad_request", "Content-Length is not a number")
                return
            if declared > max_body:
                await _send_error(
                    send,
                    413,
                    "payload_too_large",
                    f"request body of {declared} bytes exceeds the limit of {max_body} bytes",
                )
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            try:  # asyncio.timeout, not wait_for: no extra Task per body chunk
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                # HTTPException, not our own error: FastAPI turns anything else raised while it
                # reads a body into a generic 400.
                raise HTTPException(
                    408, f"the request body did not arrive within {self.timeout:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise HTTPException(
                        413, f"request body exceeds the limit of {max_body} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)


async def _send_error(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
