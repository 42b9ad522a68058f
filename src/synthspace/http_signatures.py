"""HTTP Message Signatures (RFC 9421) with alg ed25519, and Content-Digest (RFC 9530).

Covered components: "@method", "@target-uri", "content-digest"; parameters created, expires,
keyid, nonce, alg="ed25519". Signature label "sig1".
The client side is an httpx.Auth; the server side is a framework-free verify function the
coordinator calls from a FastAPI dependency.

Layers, from general to policy:
- `signature_base()` builds the RFC 9421 section 2.5 signature base for any covered
  components among the derived ones (@method, @target-uri, @authority, @scheme,
  @request-target, @path, @query) and header fields (without component parameters);
- `verify_message_signature()` checks one labelled signature over any such components;
- `sign_request()` / `Ed25519RequestAuth` and `verify_request()` apply synthspace's policy
  (required components and parameters, freshness, nonce replay, Content-Digest).

Both sides pass the target URI through `normalize_target_uri()` (lowercase scheme and host,
default port dropped, empty path as "/", fragment dropped), so "http://Host:80/x" signed by a
client and "http://host/x" seen by a server agree.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synthspace.errors import HTTPSignatureError
from synthspace.keys import key_id
from synthspace.structured_fields import MAX_HEADER_LENGTH as MAX_HEADER_LENGTH
from synthspace.structured_fields import Bare as Bare
from synthspace.structured_fields import Params as Params
from synthspace.structured_fields import Token as Token
from synthspace.structured_fields import _Parser as _Parser
from synthspace.structured_fields import serialize_signature_params as serialize_signature_params

LABEL = "sig1"
ALG = "ed25519"
COVERED_COMPONENTS: tuple[str, ...] = ("@method", "@target-uri", "content-digest")
MAX_CLOCK_SKEW_S = 60  # how far in the future `created` may be, for clocks slightly ahead

# Request headers: a mapping (starlette/httpx headers keep repeated lines) or raw (name, value) pairs.
HeaderSource = Mapping[str, str] | Sequence[tuple[str, str]]


def content_digest(body: bytes) -> str:
    """'sha-256=:<base64>:' per RFC 9530."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


# ---- signature base -------------------------------------------------------------------------


def normalize_target_uri(uri: str) -> str:
    """Lowercase scheme and host, drop a default port and the fragment, empty path as '/'."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise HTTPSignatureError(f"target URI {uri!r} is invalid: {exc}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        raise HTTPSignatureError(f"target URI {uri!r} must be absolute (scheme://host/path)")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = f"?{parts.query}" if parts.query or uri.split("#")[0].endswith("?") else ""
    return f"{scheme}://{host}{parts.path or '/'}{query}"


def _derived(name: str, method: str, target_uri: str) -> str:
    if name == "@method":
        return method
    if name == "@target-uri":
        return target_uri
    parts = urlsplit(target_uri)
    if name == "@authority":
        return normalize_target_uri(target_uri).split("/")[2]
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raise HTTPSignatureError(f"unsupported derived component {name!r}")


def signature_base(
    method: str,
    target_uri: str,
    headers: HeaderSource,
    components: Sequence[str],
    params: Sequence[tuple[str, Bare]],
) -> bytes:
    """RFC 9421 section 2.5 signature base (without a trailing newline)."""
    lines = []
    if len(set(components)) != len(components):
        raise HTTPSignatureError("a covered component is listed twice")
    for name in components:
        if name != name.lower() or not name:
            raise HTTPSignatureError(f"component name {name!r} must be lowercase")
        if name.startswith("@"):
            try:
                value = _derived(name, method, target_uri)
            except ValueError as exc:
                raise HTTPSignatureError(f"target URI {target_uri!r} is invalid: {exc}") from None
        else:
            raw = single_header(headers, name)
            if raw is None:
                raise HTTPSignatureError(f"covered header {name!r} is missing from the request")
            value = raw.strip(" \t")
        if "\n" in value or "\r" in value:
            raise HTTPSignatureError(f"component {name!r} contains a line break")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {serialize_signature_params(components, params)}')
    return "\n".join(lines).encode("utf-8")


# ---- signing -----------------------------------------------------------------------------


def sign_request(
    method: str,
    target_uri: str,
    body: bytes,
    key: Ed25519PrivateKey,
    keyid: str | None = None,
    created: int | None = None,
    lifetime_s: int = 300,
    nonce: str | None = None,
    label: str = LABEL,
) -> dict[str, str]:
    """The Content-Digest, Signature-Input and Signature headers for a request."""
    created = int(time.time()) if created is None else created
    params: list[tuple[str, Bare]] = [
        ("created", created),
        ("expires", created + lifetime_s),
        ("keyid", keyid if keyid is not None else key_id(key)),
        ("nonce", nonce if nonce is not None else secrets.token_urlsafe(16)),
        ("alg", ALG),
    ]
    headers = {"content-digest": content_digest(body)}
    base = signature_base(method.upper(), normalize_target_uri(target_uri), headers, COVERED_COMPONENTS, params)
    signature = key.sign(base)
    return {
        "Content-Digest": headers["content-digest"],
        "Signature-Input": f"{label}={serialize_signature_params(COVERED_COMPONENTS, params)}",
        "Signature": f"{label}=:{base64.b64encode(signature).decode('ascii')}:",
    }


class Ed25519RequestAuth(httpx.Auth):
    """httpx auth hook: adds Content-Digest, Signature-Input and Signature to each request."""

    requires_request_body = True

    def __init__(self, key: Ed25519PrivateKey, keyid: str | None = None, lifetime_s: int = 300) -> None:
        if lifetime_s <= 0:
            raise HTTPSignatureError("signature lifetime must be positive")
        self.key = key
        self.keyid = keyid if keyid is not None else key_id(key)
        self.lifetime_s = lifetime_s

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Each attempt (including httpx retries through this flow) gets a fresh nonce/created.
        signed = sign_request(
            request.method, str(request.url), request.content, self.key, self.keyid, lifetime_s=self.lifetime_s
        )
        request.headers.update(signed)
        yield request


# ---- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedRequest:
    keyid: str
    created: int
    expires: int | None
    nonce: str | None


@dataclass(frozen=True)
class SignatureInput:
    """One parsed Signature-Input member with its signature bytes."""

    label: str
    components: list[str]
    params: Params
    signature: bytes

    def param(self, name: str) -> Bare | None:
        return dict(self.params).get(name)


def _field_lines(headers: HeaderSource) -> Iterable[tuple[str, str]]:
    multi = getattr(headers, "multi_items", None)  # httpx.Headers: items() joins duplicates
    if callable(multi):
        return cast(Iterable[tuple[str, str]], multi())
    if isinstance(headers, Mapping):
        return cast(Iterable[tuple[str, str]], headers.items())  # starlette: every field line
    return headers


def field_lines(headers: HeaderSource) -> list[tuple[str, str]]:
    """Every header field line as (name, value), read once: a verifier that looks up several
    fields reads this list instead of decoding the server's headers for each lookup."""
    return list(_field_lines(headers))


def single_header(headers: HeaderSource, name: str) -> str | None:
    """The value of header field `name` (case-insensitive), or None when absent.

    The one way this module (and the coordinator's auth) reads a header: a field that appears on
    more than one line is refused, never resolved to its first or last value, so every check
    (signature base, Content-Digest, Signature-Input) sees the same bytes.
    """
    name = name.lower()
    values = [v for k, v in _field_lines(headers) if k.lower() == name]
    if len(values) > 1:
        raise HTTPSignatureError(
            f"header {name!r} appears {len(values)} times; a signed request must carry it once"
        )
    return values[0] if values else None


def parse_signature(headers: HeaderSource, label: str | None = None) -> SignatureInput:
    """Parse Signature-Input and Signature; pick `label`, or the only signature present."""
    raw_input, raw_sig = single_header(headers, "signature-input"), single_header(headers, "signature")
    if raw_input is None or raw_sig is None:
        raise HTTPSignatureError("request is not signed: Signature-Input and Signature headers are required")
    inputs = _Parser(raw_input, "Signature-Input").dictionary()
    sigs = _Parser(raw_sig, "Signature").dictionary()
    if label is None:
        if LABEL in inputs:
            label = LABEL
        elif len(inputs) == 1:
            label = next(iter(inputs))
        else:
            raise HTTPSignatureError(f"request carries signatures {sorted(inputs)}; expected one labelled {LABEL!r}")
    if label not in inputs:
        raise HTTPSignatureError(f"no signature labelled {label!r} in Signature-Input")
    if label not in sigs:
        raise HTTPSignatureError(f"Signature-Input names {label!r} but the Signature header has no such member")
    value, params = inputs[label]
    if not isinstance(value, list):
        raise HTTPSignatureError(f"Signature-Input {label!r} must be an inner list of component names")
    components = []
    for item, item_params in value:
        if not isinstance(item, str) or item_params:
            raise HTTPSignatureError("covered components must be plain quoted names (no component parameters)")
        components.append(item)
    sig_value, _ = sigs[label]
    if not isinstance(sig_value, bytes):
        raise HTTPSignatureError(f"Signature {label!r} must be a byte sequence (:base64:)")
    return SignatureInput(label=label, components=components, params=params, signature=sig_value)


def verify_message_signature(
    method: str,
    target_uri: str,
    headers: HeaderSource,
    public_key: Ed25519PublicKey,
    label: str | None = None,
) -> SignatureInput:
    """Verify one Ed25519 signature over whatever components it covers (no policy checks).

    The caller must check the components and parameters it requires: use verify_request.
    """
    sig = parse_signature(headers, label)
    if sig.param("alg") not in (None, ALG):
        raise HTTPSignatureError(f"signature algorithm {sig.param('alg')!r} is not supported; use {ALG!r}")
    base = signature_base(method, target_uri, headers, sig.components, sig.params)
    if len(sig.signature) != 64:
        raise HTTPSignatureError("an Ed25519 signature is 64 bytes")
    try:
        public_key.verify(sig.signature, base)
    except InvalidSignature:
        raise HTTPSignatureError("request signature does not verify") from None
    return sig


class BodyDigest:
    """The request's Content-Digest, checked incrementally while the body streams in.

    Construct it from the headers (the header must be present, once, with a sha-256 member),
    `update()` it with each chunk, then `check()`.
    """

    def __init__(self, headers: HeaderSource) -> None:
        raw = single_header(headers, "content-digest")
        if raw is None:
            raise HTTPSignatureError("Content-Digest header is missing")
        members = _Parser(raw, "Content-Digest").dictionary()
        sha256 = members.get("sha-256")
        if sha256 is None or not isinstance(sha256[0], bytes):
            raise HTTPSignatureError("Content-Digest must carry a sha-256=:<base64>: member")
        sha512 = members.get("sha-512")
        if sha512 is not None and not isinstance(sha512[0], bytes):
            raise HTTPSignatureError("Content-Digest sha-512 must be a byte sequence")
        self._expected: list[tuple[str, bytes, Any]] = [("sha-256", sha256[0], hashlib.sha256())]
        if sha512 is not None:
            assert isinstance(sha512[0], bytes)
            self._expected.append(("sha-512", sha512[0], hashlib.sha512()))
        self.bytes_read = 0

    def update(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        for _, _, h in self._expected:
            h.update(chunk)

    def check(self) -> None:
        for name, want, h in self._expected:
            if h.digest() != want:
                which = "" if name == "sha-256" else f" {name}"
                raise HTTPSignatureError(f"Content-Digest{which} does not match the request body")


def check_content_digest(headers: HeaderSource, body: bytes) -> None:
    """The Content-Digest header must carry a sha-256 digest equal to the body's."""
    digest = BodyDigest(headers)
    digest.update(body)
    digest.check()


def verify_request_headers(
    method: str,
    target_uri: str,
    headers: HeaderSource,
    resolve_key: Callable[[str], Ed25519PublicKey],
    now: int | None = None,
    max_age_s: int = 300,
    seen_nonce: Callable[[str, str], bool] | None = None,
) -> tuple[VerifiedRequest, BodyDigest]:
    """Everything verify_request checks that needs no body: run it before reading the body.

    Returns the verified request and the BodyDigest the caller must feed the body through and
    `check()` before acting on it. The nonce is recorded once the signature verifies, so a
    replayed upload is refused before its body is read.
    """
    now = int(time.time()) if now is None else now
    sig = parse_signature(headers)
    missing = [c for c in COVERED_COMPONENTS if c not in sig.components]
    if missing:
        raise HTTPSignatureError(f"signature must cover {', '.join(COVERED_COMPONENTS)}; missing {', '.join(missing)}")
    if sig.param("alg") != ALG:
        raise HTTPSignatureError(f"signature parameter alg must be {ALG!r}")
    keyid, created, expires, nonce = (sig.param(p) for p in ("keyid", "created", "expires", "nonce"))
    if not isinstance(keyid, str) or not keyid:
        raise HTTPSignatureError("signature parameter keyid (a string) is required")
    if not isinstance(created, int) or isinstance(created, bool):
        raise HTTPSignatureError("signature parameter created (an integer) is required")
    if not isinstance(nonce, str) or not nonce:
        raise HTTPSignatureError("signature parameter nonce (a string) is required")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise HTTPSignatureError("signature parameter expires must be an integer")
    if created > now + MAX_CLOCK_SKEW_S:
        raise HTTPSignatureError(f"signature created {created - now}s in the future; check the client's clock")
    if now - created > max_age_s:
        raise HTTPSignatureError(f"signature is stale: created {now - created}s ago, at most {max_age_s}s allowed")
    if expires is not None and now > expires:
        raise HTTPSignatureError(f"signature expired {now - expires}s ago")
    if expires is not None and expires < created:
        raise HTTPSignatureError("signature expires before it was created")
    digest = BodyDigest(headers)
    try:
        key = resolve_key(keyid)
    except LookupError:
        raise HTTPSignatureError(f"unknown request key id {keyid}") from None
    verify_message_signature(method.upper(), normalize_target_uri(target_uri), headers, key, sig.label)
    # Only after the signature verifies: a forger must not be able to burn others' nonces.
    if seen_nonce is not None and seen_nonce(keyid, nonce):
        raise HTTPSignatureError(f"nonce {nonce!r} was already used with key {keyid}: replayed request")
    return VerifiedRequest(keyid=keyid, created=created, expires=expires, nonce=nonce), digest


def verify_request(
    method: str,
    target_uri: str,
    headers: HeaderSource,
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey],
    now: int | None = None,
    max_age_s: int = 300,
    seen_nonce: Callable[[str, str], bool] | None = None,
) -> VerifiedRequest:
    """Verify a signed request whose body is already in memory (verify_request_headers + digest).

    `resolve_key(keyid)` returns the key or raises (unknown/revoked keys). `seen_nonce(keyid, nonce)`
    returns True if the pair was already used (the call also records it). The Content-Digest
    header must match `body`. Raises HTTPSignatureError (a VerificationError) naming the problem.
    """
    verified, digest = verify_request_headers(
        method, target_uri, headers, resolve_key, now=now, max_age_s=max_age_s, seen_nonce=seen_nonce
    )
    digest.update(body)
    digest.check()
    return verified
