"""Named errors of the coordinator, each mapped to one HTTP status and a stable error code.

The API turns them into `{"error": code, "detail": message}` 4xx bodies; the CLI prints the
message on one line. Services raise them; nothing else decides status codes.
"""

from __future__ import annotations

from synthspace.errors import SynthspaceError


class CoordinatorError(SynthspaceError):
    """Base of every error the coordinator raises on purpose."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidRequestError(CoordinatorError):
    """The request is malformed (bad JSON, base64, multipart, parameters)."""

    status = 400
    code = "bad_request"


class UnauthorizedError(CoordinatorError):
    """The request signature, its key, nonce or timestamps did not pass."""

    status = 401
    code = "unauthorized"


class ForbiddenError(CoordinatorError):
    """The signer is authenticated but may not do this (wrong org, key not owned)."""

    status = 403
    code = "forbidden"


class NotFoundError(CoordinatorError):
    status = 404
    code = "not_found"


class ConflictError(CoordinatorError):
    """The request conflicts with the catalog's state (already enrolled, already retracted)."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(CoordinatorError):
    status = 413
    code = "payload_too_large"


class InvalidArtifactError(CoordinatorError):
    """The envelope, statement or data does not meet the publishing rules."""

    status = 422
    code = "invalid_artifact"


class HomeError(CoordinatorError):
    """The coordinator home folder is missing, incomplete or already initialised."""

    code = "home"


class LogIntegrityError(CoordinatorError):
    """The stored transparency log does not match its entries (refuse to serve)."""

    status = 500
    code = "log_integrity"
