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


def test_blob_store_makes_folders_durably_once_and_again_when_removed(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import shutil

    import synthspace.coordinator.blobs as blobs_mod

    synced: list[Path] = []
    real_fsync_dir = blobs_mod._fsync_dir
    monkeypatch.setattr(blobs_mod, "_fsync_dir", lambda p: (synced.append(Path(p)), real_fsync_dir(p)))
    made: list[Path] = []
    real_mkdir = Path.mkdir
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: (made.append(self), real_mkdir(self, *a, **k))[1])

    root = tmp_path / "blobs"
    store = BlobStore(root)
    first = store.put_bytes(b"one")
    shard = store.path_for(first).parent
    # Every folder made has its entry made durable: its parent is fsynced (root's parent too).
    assert set(made) == {root, root / "tmp", root / "sha256", shard.parent, shard}
    assert {m.parent for m in made} <= set(synced)
    # Another blob into the same folder (1 in 65,536 digests share it): no mkdir at all.
    made.clear()
    data = next(b for i in range(5_000_000) if store.path_for(hashlib.sha256(b := b"x%d" % i).hexdigest()).parent == shard)
    store.put_bytes(data)
    assert made == []
    # Folders removed by hand (not something a sweep does) are noticed and made again.
    shutil.rmtree(root / "tmp")
    shutil.rmtree(shard)
    again = store.put_bytes(b"one")
    assert again == first and store.path_for(first).read_bytes() == b"one"
    assert root / "tmp" in made and shard in made
