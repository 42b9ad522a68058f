"""The node's HTTP client for the coordinator API (`/v1`, CONTRACTS.md).

Every call except health and the public log reads is signed with RFC 9421 by the node's
request key (`synthspace.http_signatures.Ed25519RequestAuth`). Errors come back as named
exceptions carrying the coordinator's `{"error", "detail"}` body, so the CLI can print one
actionable line. This module holds no verification logic: callers (publishing, audit) verify
everything the coordinator says against signatures and proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from synthspace import __version__
from synthspace.api_models import (
    ArtifactDetail,
    ArtifactPage,
    ArtifactSummary,
    Health,
    OrgList,
    OrgRecord,
    PolicyHistory,
    Receipt,
)
from synthspace.errors import SynthspaceError
from synthspace.http_signatures import Ed25519RequestAuth
from synthspace.tlog_tiles import tile_path

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthspace.node.home import NodeHome

M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, read=300.0, write=300.0)
ENTRIES_PAGE = 1000
PUBLISH_ATTEMPTS = 4  # a 503 publish is retried (idempotent) up to this many tries in all
MAX_RETRY_AFTER_S = 30.0  # a Retry-After beyond this is capped: the caller is waiting at a terminal


class CoordinatorError(SynthspaceError):
    """The coordinator answered with an error (4xx/5xx); `code` is its machine-readable error."""

    def __init__(
        self, status: int, code: str, detail: str, url: str, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.url = url
        self.retry_after = retry_after  # seconds, from a 503/429's Retry-After header (bounded)
        super().__init__(f"coordinator refused {url} ({status} {code}): {detail}")


class CoordinatorUnreachable(SynthspaceError):
    """The coordinator could not be reached at all."""


class CoordinatorProtocolError(SynthspaceError):
    """The coordinator answered with something that is not what the API promises."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise CoordinatorProtocolError(f"coordinator sent malformed base64 in {what}") from exc


def _hex_list(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise CoordinatorProtocolError(f"coordinator sent no hash list in {what}")
    try:
        return [bytes.fromhex(v) for v in values]
    except (ValueError, TypeError) as exc:
        raise CoordinatorProtocolError(f"coordinator sent a malformed hash in {what}") from exc


class CoordinatorClient:
    """Typed access to the coordinator API. Use as a context manager, or call close()."""

    reads_tiles = True  # the log monitor reads entries as C2SP tiles (sync_log); False: JSON entries API

    def __init__(
        self,
        base_url: str,
        request_key: Ed25519PrivateKey | None = None,
        *,
        keyid: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        auth: httpx.Auth | None = None
        if request_key is not None:
            auth = Ed25519RequestAuth(request_key, keyid)
        self._signed = auth is not None
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": _user_agent()},
            follow_redirects=False,
        )
        # Public reads go unsigned: auditors without an enrolled key can still use them.
        self._public = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": _user_agent()},
            follow_redirects=False,
        )

    @classmethod
    def for_home(
        cls, home: NodeHome, *, transport: httpx.BaseTransport | None = None
    ) -> CoordinatorClient:
        """A client for `home`'s coordinator, signing with its request key."""
        config = home.config()
        return cls(config.coordinator_url, home.request_key(), keyid=config.request_key_id, transport=transport)

    # ---- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()
        self._public.close()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, *, public: bool = False, **kwargs: Any) -> httpx.Response:
        client = self._public if public else self._http
        url = f"{self.base_url}{path}"
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise CoordinatorUnreachable(f"coordinator at {self.base_url} timed out on {method} {path}") from exc
        except httpx.TransportError as exc:
            raise CoordinatorUnreachable(
                f"cannot reach the coordinator at {self.base_url} ({type(exc).__name__}: {exc}); "
                "check the URL in node.json / --coordinator and that it is running"
            ) from exc
        if response.status_code >= 400:
            code, detail = "http_error", response.text[:500]
            try:
                body = response.json()
                if isinstance(body, dict):
                    code = str(body.get("error", code))
                    raw = body.get("detail", detail)
                    detail = raw if isinstance(raw, str) else json.dumps(raw)[:500]
            except ValueError:
                pass
            if response.status_code == 401 and not self._signed:
                detail += " (this call needs a signed request: pass --home of an enrolled node)"
            raise CoordinatorError(
                response.status_code, code, detail, f"{method} {url}", _retry_after(response)
            )
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CoordinatorProtocolError(f"{method} {path} did not return JSON") from exc

    # ---- health and enrolment -------------------------------------------------------------
    def health(self) -> Health:
        return _parse(Health, self._json("GET", "/healthz", public=True), "GET /healthz")

    def enrol(
        self,
        *,
        token: str,
        org: str,
        artifact_public_key_pem: str,
        request_public_key_pem: str,
        supernode_public_key: str | None = None,
        witness_key: str | None = None,
        witness_url: str | None = None,
    ) -> OrgRecord:
        """POST /v1/enrol with the one-time token; only public keys travel."""
        body: dict[str, Any] = {
            "token": token,
            "org": org,
            "artifact_public_key": artifact_public_key_pem,
            "request_public_key": request_public_key_pem,
        }
        if supernode_public_key:
            body["supernode_public_key"] = supernode_public_key
        if witness_key:
            body["witness_key"] = witness_key
            body["witness_url"] = witness_url
        return _parse(OrgRecord, self._json("POST", "/v1/enrol", json=body, public=True), "POST /v1/enrol")

    def orgs(self) -> list[OrgRecord]:
        return _parse(OrgList, self._json("GET", "/v1/orgs"), "GET /v1/orgs").orgs

    def org(self, org: str) -> OrgRecord:
        return _parse(OrgRecord, self._json("GET", f"/v1/orgs/{org}"), f"GET /v1/orgs/{org}")

    def add_key(
        self, org: str, purpose: str, public_key_pem: str, *, revoke_previous: bool = False, witness_url: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"purpose": purpose, "public_key_pem": public_key_pem, "revoke_previous": revoke_previous}
        if witness_url is not None:
            body["witness_url"] = witness_url
        return self._json("POST", f"/v1/orgs/{org}/keys", json=body)

    def revoke_key(self, org: str, key_id: str, reason: str = "") -> Any:
        return self._json("POST", f"/v1/orgs/{org}/keys/{key_id}/revoke", json={"reason": reason})

    # ---- artifacts ------------------------------------------------------------------------
    def publish(self, envelope_json: bytes, data_path: Path, data_name: str | None = None) -> Receipt:
        """POST /v1/artifacts (multipart: envelope + data) -> the receipt (verify it!).

        A 503 (`publish_pending`: verified and queued but not logged in time; `database_unavailable`)
        is retried after its Retry-After, at most PUBLISH_ATTEMPTS times in all: publishing the same
        envelope again is idempotent and returns the one receipt.
        """
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                with open(data_path, "rb") as fh:
                    files = {
                        "envelope": ("envelope.json", envelope_json, "application/json"),
                        "data": (data_name or data_path.name, fh, "application/octet-stream"),
                    }
                    data = self._json("POST", "/v1/artifacts", files=files)
                return _parse(Receipt, data, "POST /v1/artifacts")
            except CoordinatorError as exc:
                if exc.status != 503 or attempt == PUBLISH_ATTEMPTS:
                    raise
                time.sleep(exc.retry_after if exc.retry_after is not None else 2.0)
        raise AssertionError("unreachable")

    def list_artifacts(self, **filters: Any) -> ArtifactPage:
        """One page of GET /v1/artifacts; filters: org, task, locale, license, tag, q,
        created_after, created_before, kind, cursor, limit, sort."""
        params = {k: v for k, v in filters.items() if v is not None and v != [] and v != ""}
        return _parse(ArtifactPage, self._json("GET", "/v1/artifacts", params=params), "GET /v1/artifacts")

    def iter_artifacts(self, max_items: int | None = None, **filters: Any) -> Iterator[ArtifactSummary]:
        """Every matching artifact (at most `max_items`), following the cursor; `limit` in
        `filters` is the page size."""
        cursor: str | None = None
        seen = 0
        while True:
            page = self.list_artifacts(cursor=cursor, **filters)
            for item in page.items:
                yield item
                seen += 1
                if max_items is not None and seen >= max_items:
                    return
            cursor = page.next_cursor
            if not cursor or not page.items:
                return

    def artifact(self, artifact_id: str) -> ArtifactDetail:
        return _parse(ArtifactDetail, self._json("GET", f"/v1/artifacts/{artifact_id}"), "GET /v1/artifacts/{id}")

    def envelope(self, artifact_id: str) -> bytes:
        """The DSSE envelope JSON exactly as published."""
        return self._send("GET", f"/v1/artifacts/{artifact_id}/envelope").content

    def download_data(self, artifact_id: str, dest: Path, chunk: int = 1 << 20) -> str:
        """Stream the artifact's data into `dest`; returns the hex sha256 of the bytes written,
        hashed on the way (the caller verifies it before using the file)."""
        url = f"/v1/artifacts/{artifact_id}/data"
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response, "GET", url)
                with open(dest, "wb") as out:
                    for block in response.iter_bytes(chunk):
                        digest.update(block)
                        out.write(block)
        except httpx.TransportError as exc:
            raise CoordinatorUnreachable(f"download of {artifact_id} from {self.base_url} failed: {exc}") from exc
        return digest.hexdigest()

    def _raise_for(self, response: httpx.Response, method: str, path: str) -> None:
        code, detail = "http_error", response.text[:500]
        try:
            body = response.json()
            code, detail = str(body.get("error", code)), str(body.get("detail", detail))
        except ValueError:
            pass
        raise CoordinatorError(response.status_code, code, detail, f"{method} {self.base_url}{path}")

    # ---- agreements (consumption receipts) --------------------------------------------------
    def agree(self, envelope_json: bytes) -> dict[str, Any]:
        """Submit a signed agreement; returns its receipt (AgreementReceipt JSON)."""
        return dict(
            self._json("POST", "/v1/agreements", content=envelope_json, headers={"content-type": "application/json"})
        )

    def agreement_envelope(self, agreement_id: str) -> bytes:
        return self._send("GET", f"/v1/agreements/{agreement_id}").content

    def agreement_receipt(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/agreements/{agreement_id}/receipt"))

    def agreements(self, artifact_id: str) -> list[dict[str, Any]]:
        """Logged agreements to an artifact (all of them for its publisher; else the caller's own)."""
        return list(self._json("GET", f"/v1/artifacts/{artifact_id}/agreements")["agreements"])

    def policy_history(self, artifact_id: str) -> PolicyHistory:
        """The artifact's signed policy, its logged versions (signed envelopes) and the policy in force."""
        return _parse(
            PolicyHistory, self._json("GET", f"/v1/artifacts/{artifact_id}/policy"), "GET /v1/artifacts/{id}/policy"
        )

    def update_policy(self, artifact_id: str, envelope_json: bytes) -> dict[str, Any]:
        """Submit a signed policy update (policy_versions.sign_policy_update); returns the logged version."""
        return dict(
            self._json(
                "POST", f"/v1/artifacts/{artifact_id}/policy", content=envelope_json,
                headers={"content-type": "application/json"},
            )
        )  # fmt: skip

    def croissant(self, artifact_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/artifacts/{artifact_id}/croissant"))

    def retract(self, artifact_id: str, reason: str) -> Any:
        return self._json("POST", f"/v1/artifacts/{artifact_id}/retract", json={"reason": reason})

    # ---- public log reads -----------------------------------------------------------------
    def checkpoint(self) -> str:
        """The current signed checkpoint note (verify it with synthspace.checkpoint.open_checkpoint)."""
        return self._send("GET", "/v1/log/checkpoint", public=True).text

    def verifier_key(self) -> str:
        return self._send("GET", "/v1/log/verifier-key", public=True).text.strip()

    def cosigned_checkpoint(self) -> str:
        """The latest checkpoint with witness cosignatures (verify with synthspace.witness.verify_witnessed)."""
        return self._send("GET", "/v1/log/cosigned-checkpoint", public=True).text

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Leaves [start, end) as (index, leaf bytes), paging as the coordinator allows."""
        out: list[tuple[int, bytes]] = []
        pos = start
        while pos < end:
            data = self._json(
                "GET", "/v1/log/entries", params={"start": pos, "end": min(end, pos + ENTRIES_PAGE)}, public=True
            )
            items = data.get("entries") if isinstance(data, dict) else None
            if not isinstance(items, list) or not items:
                raise CoordinatorProtocolError(f"GET /v1/log/entries?start={pos} returned no entries")
            for item in items:
                index = int(item["index"])
                if index != pos:
                    raise CoordinatorProtocolError(f"log entries out of order: expected {pos}, got {index}")
                out.append((index, _b64decode(item["leaf"], f"log entry {index}")))
                pos += 1
                if pos >= end:
                    break
        return out

    def tile(self, level: int | str, index: int, width: int) -> bytes:
        """One C2SP tlog-tiles hash tile (level 0-63) or entry bundle (level "entries"), unverified."""
        return self._send("GET", f"/v1/log/{tile_path(level, index, width)}", public=True).content

    def entry(self, index: int) -> bytes:
        return self.entries(index, index + 1)[0][1]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        data = self._json("GET", "/v1/log/proof/inclusion", params={"index": index, "size": size}, public=True)
        return _hex_list(data.get("hashes"), "inclusion proof")

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        data = self._json(
            "GET", "/v1/log/proof/consistency", params={"first": first, "second": second}, public=True
        )
        return _hex_list(data.get("hashes"), "consistency proof")


def _parse(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CoordinatorProtocolError(f"{what} answered with an unexpected body: {exc.errors()[:3]}") from exc


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in delta-seconds, clamped to [0, MAX_RETRY_AFTER_S]; None if absent or an HTTP date."""
    raw = response.headers.get("retry-after")
    if raw is None or not raw.strip().isdigit():
        return None
    return min(float(raw.strip()), MAX_RETRY_AFTER_S)


def _user_agent() -> str:
    return f"synthspace-node/{__version__}"
