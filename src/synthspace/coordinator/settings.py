"""Coordinator settings: HOME/config.json, overridden by environment variables.

`SYNTHSPACE_DATABASE_URL` selects PostgreSQL (or another SQLite file); without it the
catalog lives in HOME/coordinator.db (SQLite, WAL).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthspace.atomic_files import atomic_write_json
from synthspace.coordinator.errors import HomeError
from synthspace.witness import WitnessError, WitnessKey, check_witness_url

DATABASE_URL_ENV = "SYNTHSPACE_DATABASE_URL"
CONFIG_FILE = "config.json"


class WitnessEndpoint(BaseModel):
    """A witness the coordinator asks to cosign each new checkpoint (C2SP tlog-witness)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Base URL of the witness; requests go to <url>/add-checkpoint.")
    key: str = Field(description="The witness's cosignature/v1 verifier key (<name>+<hash>+<base64>).")

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        try:
            WitnessKey.from_string(value)
        except WitnessError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            return check_witness_url(value)
        except WitnessError as exc:
            raise ValueError(str(exc)) from None


class CoordinatorSettings(BaseModel):
    """Everything the coordinator needs to run; persisted (minus `home`) in HOME/config.json."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(
        description="Coordinator home folder (keys/, blobs/, config.json, coordinator.db)."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; None means SQLite at HOME/coordinator.db. The environment "
        "variable SYNTHSPACE_DATABASE_URL overrides it.",
    )
    log_origin: str = Field(
        default_factory=lambda: f"{socket.gethostname()}/synthspace-log",
        min_length=1,
        description="Origin line of checkpoints and name of the log's verifier key.",
    )
    operator_org: str = Field(
        default="federation",
        description="Org the coordinator itself publishes as (federated adapters) and retracts as.",
    )
    public_url: str | None = Field(
        default=None,
        description="Externally visible base URL (e.g. https://catalog.example.org) when behind a "
        "proxy; signatures are checked against it instead of the URL uvicorn sees.",
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_page_size: int = Field(
        default=200, ge=1, le=10_000, description="Largest `limit` of list endpoints."
    )
    default_page_size: int = Field(
        default=50, ge=1, description="`limit` when the client gives none."
    )
    max_log_entries_per_request: int = Field(
        default=1000, ge=1, description="Largest end-start of /v1/log/entries."
    )
    request_timeout_s: float = Field(
        default=60.0, gt=0, description="Seconds a client may stall while sending a body (408)."
    )
    signature_max_age_s: int = Field(
        default=300,
        ge=1,
        description="Oldest accepted `created` of a request signature, in seconds.",
    )
    invite_ttl_s: int = Field(
        default=72 * 3600, ge=60, description="Default lifetime of enrolment tokens."
    )
    require_agreements: bool = Field(
        default=True,
        description="Serve an artifact's data to an org other than its publisher only under a logged agreement "
        "(use, train, evaluate or derive) that the policy still permits (403 agreement_required otherwise). "
        "false: serve it to every org that may see the artifact (agreements are then optional receipts).",
    )
    accept_failed_nonblocking_gates: bool = Field(
        default=False,
        description="Accept artifacts whose non-blocking gates failed (blocking gates must always pass).",
    )
    replay_cache: str = Field(
        default="auto",
        description="Where request nonces are remembered: 'memory' (this process; no database write per "
        "request), 'database', 'redis://HOST:PORT/DB' (shared by several server processes), or 'auto' "
        "(memory on SQLite; on PostgreSQL memory without public_url, since signatures then name this "
        "process's own address, and database with it).",
    )
    request_key_cache_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a server reuses an enrolled request key it looked up (0: read it on every "
        "request). A key revoked or rotated through this server's API is dropped at once; one revoked by "
        "another process (CLI, a second server) stops being accepted here within this many seconds.",
    )
    witnesses: list[WitnessEndpoint] = Field(
        default_factory=list,
        description="Witnesses asked to cosign every new checkpoint; the cosigned note is served at "
        "/v1/log/cosigned-checkpoint.",
    )
    witness_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="How often a server checks for a new checkpoint to get cosigned."
    )
    publish_integration: Literal["batched", "direct"] = Field(
        default="batched",
        description="'batched': verified publishes are logged by one sequencer in batches (one transaction "
        "and one signed checkpoint per batch; on PostgreSQL one process holds the role); 'direct': each "
        "publish is logged in its own transaction by the process that received it (the old path).",
    )
    publish_integrator: Literal["process", "thread"] = Field(
        default="process",
        description="Where the sequencer's batches run: 'process' (a child process with its own "
        "interpreter lock, so a batch does not wait on request threads between database round trips) "
        "or 'thread' (the server process's sequencer thread). Only for publish_integration 'batched'.",
    )
    publish_batch_max: int = Field(
        default=256, ge=1, le=10_000, description="Most publishes the sequencer logs in one batch."
    )
    publish_wait_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a publish waits for its batch to be logged (503 publish_pending after; "
        "publishing again is safe).",
    )
    startup_verify: Literal["full", "root", "off"] = Field(
        default="full",
        description="On startup, 'full' rehashes every leaf and recomputes the root; 'root' recomputes the "
        "root from stored leaf hashes; 'off' skips it.",
    )

    @field_validator("replay_cache")
    @classmethod
    def _valid_replay_cache(cls, value: str) -> str:
        if value not in ("auto", "memory", "database") and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("replay_cache must be auto, memory, database or a redis:// URL")
        return value

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def log_key_path(self) -> Path:
        return self.keys_dir / "log.pem"

    def operator_key_path(self, purpose: Literal["artifact", "request"]) -> Path:
        """Private keys of the operator org (`federation` by default) live next to the log key."""
        return self.keys_dir / f"{self.operator_org}-{purpose}.pem"

    def resolved_database_url(self) -> str:
        url = os.environ.get(DATABASE_URL_ENV) or self.database_url
        if not url:
            return f"sqlite+pysqlite:///{(self.home / 'coordinator.db').resolve()}"
        # Plain postgresql:// URLs mean psycopg 3 here (psycopg2 is not installed).
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def save(self) -> None:
        data = self.model_dump(mode="json", exclude={"home"})
        atomic_write_json(self.home / CONFIG_FILE, data, sort_keys=True)

    @classmethod
    def load(cls, home: Path | str) -> CoordinatorSettings:
        """Read HOME/config.json; raises HomeError when the home was never initialised."""
        home = Path(home).expanduser()
        path = home / CONFIG_FILE
        if not path.is_file():
            raise HomeError(
                f"{path} not found: run `synthspace coordinator init --home {home}` first"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.model_validate({**data, "home": home})
        except (ValueError, ValidationError) as exc:
            raise HomeError(f"{path} is not a valid coordinator config: {exc}") from exc
