"""The nonce replay store prunes what has expired; the blob store is content-addressed."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from synthspace.coordinator.blobs import BlobStore
from synthspace.coordinator.models import RequestNonce, utcnow
from synthspace.coordinator.services.auth import NonceStore


def test_nonce_store_detects_replays_and_prunes_expired(coordinator: Any) -> None:
    store = NonceStore(coordinator.sessions, retain_s=600)
    assert store.seen("k1", "n1") is False
    assert store.seen("k1", "n1") is True
    assert store.seen("k2", "n1") is False  # nonces are per key
    with coordinator.session() as session:
        session.execute(
            update(RequestNonce)
            .where(RequestNonce.key_id == "k1")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert store.prune() == 1
    with coordinator.session() as session:
        assert session.execute(select(func.count()).select_from(RequestNonce)).scalar_one() == 1


def test_blob_store_is_content_addressed_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"PAR1 example PAR1"
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = store.path_for(digest)
    assert path == tmp_path / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert store.put_bytes(data) == digest  # idempotent
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    with store.open(digest) as fh:
        assert fh.read() == data
