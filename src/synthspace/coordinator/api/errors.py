"""Exception handlers: every error leaves as `{"error": code, "detail": message}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from python_multipart.exceptions import FormParserError
from sqlalchemy.exc import DataError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthspace.coordinator.errors import CoordinatorError
from synthspace.errors import SynthspaceError, VerificationError

logger = logging.getLogger("synthspace.coordinator")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


# A 503 means "not now, the same request will work later" (a publish queued but not yet logged,
# the database away): tell clients when to come back, as RFC 9110 15.6.4 suggests.
RETRY_AFTER_S = 2


def error_response(status: int, code: str, detail: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(status_code=status, content={"error": code, "detail": detail}, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CoordinatorError)
    async def _coordinator_error(_: Request, exc: CoordinatorError) -> JSONResponse:
        if exc.status >= 500:
            logger.error("coordinator error: %s", exc)
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(VerificationError)
    async def _verification_error(_: Request, exc: VerificationError) -> JSONResponse:
        return error_response(422, "verification_failed", str(exc))

    @app.exception_handler(SynthspaceError)
    async def _synthspace_error(_: Request, exc: SynthspaceError) -> JSONResponse:
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(FormParserError)
    async def _multipart(_: Request, exc: FormParserError) -> JSONResponse:
        # python-multipart raises these for malformed part headers (e.g. a line `[]`); starlette
        # turns only its own MultiPartException into a 400.
        return error_response(400, "bad_multipart", f"malformed multipart body: {exc}")

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        return error_response(
            400, "invalid_value", "a value is out of range or not storable (e.g. NUL characters)"
        )

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        logger.error("database unavailable: %s", exc)
        return error_response(
            503, "database_unavailable", "the catalog database is unavailable; retry shortly"
        )

    @app.exception_handler(StatementError)
    async def _statement(_: Request, exc: StatementError) -> JSONResponse:
        if isinstance(getattr(exc, "orig", None), ValueError | OverflowError | UnicodeError):
            return error_response(400, "invalid_value", f"a value cannot be stored: {exc.orig}")
        logger.exception("database statement failed")
        return error_response(
            500, "internal_error", "internal error; the operator's log has details"
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return error_response(
            500, "internal_error", "internal error; the operator's log has details"
        )
