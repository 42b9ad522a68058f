"""Named exceptions shared by every layer.

Each carries a message a user can act on; the CLI prints it on one line and exits non-zero,
the coordinator turns it into a 4xx JSON body.
"""


class SynthspaceError(Exception):
    """Base class of every error synthspace raises on purpose."""


class CodedError(SynthspaceError):
    """An error that carries the API error code the coordinator answers with (`code`), so the
    node, the coordinator and the auditor name the same refusal the same way."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(SynthspaceError):
    """A configuration file, recipe or spec is invalid."""


class VerificationError(SynthspaceError):
    """A signature, digest, proof or checkpoint did not verify."""


class KeyFileError(SynthspaceError):
    """A key file or PEM text is missing, unreadable, or not an Ed25519 key."""


class CanonicalJSONError(SynthspaceError):
    """A value cannot be expressed as RFC 8785 canonical JSON (NaN, huge integers, non-JSON types)."""


class DSSEError(VerificationError):
    """A DSSE envelope is malformed or its signatures do not verify."""


class StatementError(VerificationError):
    """A verified DSSE payload is not a valid synthspace in-toto Statement."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed, out of range, or does not verify."""


class CheckpointError(VerificationError):
    """A signed checkpoint note or verifier key is malformed or its signature does not verify."""


class HTTPSignatureError(VerificationError):
    """An RFC 9421 request signature or RFC 9530 Content-Digest is missing, stale or invalid."""
