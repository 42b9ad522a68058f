"""`Coordinator`: the opened service (settings, database, blob store, log) for the API, the CLI
and server-side callers such as the Flower ServerApp.

    from synthspace.coordinator.runtime import Coordinator
    coord = Coordinator.open(CoordinatorSettings.load(home))
    receipt = coord.publish("federation", envelope_bytes, adapter_bytes)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from synthspace import keys
from synthspace.api_models import Receipt
from synthspace.coordinator.blobs import BlobStore
from synthspace.coordinator.database import (
    make_engine,
    make_sessionmaker,
    session_scope,
    upgrade_database,
)
from synthspace.coordinator.errors import HomeError, LogIntegrityError
from synthspace.coordinator.integrator import IntegratorProcess
from synthspace.coordinator.integrity import verify_state
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import Artifact, LogLeaf
from synthspace.coordinator.replay_cache import MemoryReplayCache, RedisReplayCache, ReplayCache
from synthspace.coordinator.sequencer import Sequencer
from synthspace.coordinator.services.auth import NonceStore, RequestKeys
from synthspace.coordinator.services.orgs import ArtifactKeys
from synthspace.coordinator.services.publishing import publish_artifact
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.errors import SynthspaceError


def make_replay_cache(settings: CoordinatorSettings, sessions: sessionmaker[Session]) -> ReplayCache:
    """The replay cache `settings.replay_cache` names (see replay_cache.py)."""
    ttl = 2 * settings.signature_max_age_s + 60  # a signature is valid max_age, plus clock skew
    choice = settings.replay_cache
    if choice == "auto":
        # Without public_url a signature covers this process's own address, so a nonce can only
        # be replayed to the process that already saw it: memory is enough. With one, several
        # processes may answer for the same URL, so the nonce goes where they all look.
        sqlite = settings.resolved_database_url().startswith("sqlite")
        choice = "memory" if sqlite or settings.public_url is None else "database"
    if choice == "memory":
        return MemoryReplayCache(ttl)
    if choice == "database":
        return NonceStore(sessions, retain_s=ttl)
    return RedisReplayCache(choice, ttl)


@dataclass
class Coordinator:
    settings: CoordinatorSettings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    log: TransparencyLog
    nonces: ReplayCache
    request_keys: RequestKeys
    artifact_keys: ArtifactKeys
    schema_revision: str = ""
    sequencer: Sequencer | None = None

    def start_sequencer(self) -> Sequencer:
        """Start logging publishes in batches (the server does this; see sequencer.py)."""
        if self.sequencer is None:
            integrator = None
            if self.settings.publish_integration == "batched" and self.settings.publish_integrator == "process":
                integrator = IntegratorProcess(
                    self.settings.resolved_database_url(), self.log.origin, self.settings.log_key_path
                )
            self.sequencer = Sequencer(
                self.sessions,
                self.log,
                database_url=self.settings.resolved_database_url(),
                mode=self.settings.publish_integration,
                batch_max=self.settings.publish_batch_max,
                wait_s=self.settings.publish_wait_s,
                integrator=integrator,
            )
        return self.sequencer.start()

    @classmethod
    def open(
        cls, settings: CoordinatorSettings, *, migrate: bool = True, verify: bool = True
    ) -> Coordinator:
        """Connect, apply pending migrations, load the log key and (optionally) verify the log."""
        try:
            log_key = keys.load_private_key(settings.log_key_path)
        except SynthspaceError as exc:
            raise HomeError(
                f"cannot load the log signing key: {exc} (run `synthspace coordinator init`)"
            ) from exc
        engine = make_engine(settings.resolved_database_url())
        revision = upgrade_database(engine) if migrate else ""
        sessions = make_sessionmaker(engine)
        coord = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=BlobStore(settings.blobs_dir),
            log=TransparencyLog(settings.log_origin, log_key),
            nonces=make_replay_cache(settings, sessions),
            request_keys=RequestKeys(sessions, settings.request_key_cache_s),
            artifact_keys=ArtifactKeys(sessions),
            schema_revision=revision,
        )
        if verify and settings.startup_verify != "off":
            coord.verify_integrity(settings.startup_verify)
        coord.blobs.sweep_tmp()
        return coord

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    def verify_integrity(self, mode: str = "full") -> int:
        """Check the log root against its entries and that every catalog row has its entry and blob."""
        with self.session() as session:
            size = self.log.verify(session, mode=mode)
            publishes = session.execute(
                select(func.count()).select_from(LogLeaf).where(LogLeaf.entry_type == "publish")
            ).scalar_one()
            rows = session.execute(select(func.count()).select_from(Artifact)).scalar_one()
            if publishes != rows:
                raise LogIntegrityError(
                    f"the log has {publishes} publish entries but the catalog has {rows} artifacts"
                )
            if mode == "full":
                count, found = verify_state(session, self.blobs)
                if count:
                    listed = "\n".join(str(i) for i in found)
                    raise LogIntegrityError(
                        f"{count} inconsistenc{'y' if count == 1 else 'ies'} between the stored state "
                        f"and the log:\n{listed}"
                    )
        return size

    def publish(self, org: str, envelope_bytes: bytes, data: bytes | BinaryIO) -> Receipt:
        """Publish as `org` without HTTP (same code path as POST /v1/artifacts)."""
        with self.session() as session:
            return publish_artifact(
                session,
                self.blobs,
                self.log,
                org,
                envelope_bytes,
                data,
                accept_failed_nonblocking_gates=self.settings.accept_failed_nonblocking_gates,
                sequencer=self.sequencer,
                artifact_keys=self.artifact_keys,
            )

    def close(self) -> None:
        if self.sequencer is not None:
            self.sequencer.stop()
        self.engine.dispose()
