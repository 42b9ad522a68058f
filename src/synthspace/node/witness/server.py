"""HTTP endpoint of a node's witness: `POST /add-checkpoint` (C2SP tlog-witness)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from synthspace.node.witness.service import Witness
from synthspace.witness import MAX_REQUEST_BYTES


def witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title="synthspace witness", openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> PlainTextResponse:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
            return PlainTextResponse(f"body larger than {MAX_REQUEST_BYTES} bytes\n", status_code=413)
        body = bytearray()
        async for chunk in request.stream():  # bounded even without a Content-Length
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return PlainTextResponse(f"body larger than {MAX_REQUEST_BYTES} bytes\n", status_code=413)
        result = witness.add_checkpoint(bytes(body))
        return PlainTextResponse(result.body, status_code=result.status, media_type=result.content_type)

    @app.get("/witness-key")
    def witness_key() -> PlainTextResponse:
        return PlainTextResponse(witness.key.to_string() + "\n")

    return app
