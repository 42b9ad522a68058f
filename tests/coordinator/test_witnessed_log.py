"""The log over HTTP as tiles, witnessed by nodes: real coordinator and witness servers on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from synthspace import keys, tlog_tiles
from synthspace import transparency_log as tlog
from synthspace.checkpoint import Verifier, open_checkpoint
from synthspace.local_servers import free_port
from synthspace.log_entries import KeyEntry
from synthspace.witness import WitnessError, WitnessKey, WitnessPolicy, verify_witnessed
from tests.coordinator.conftest import (
    BACKENDS,
    CoordinatorServer,
    PgDatabases,
    build_artifact,
    database_url_for,
    enrol,
    init_home,
    publish,
)

CLI = [sys.executable, "-m", "synthspace.cli.main"]


def _append_key_entries(server: CoordinatorServer, n: int) -> None:
    """Fill the log fast (a tile needs 256 leaves) with key entries written in-process."""
    coord = server.coordinator()
    try:
        pem = keys.public_key_pem(keys.generate_private_key())
        with coord.session() as session, coord.log.writer(session) as state:
            for i in range(n):
                entry = KeyEntry(type="key-add", time=datetime.now(UTC), org=f"filler-{i}", key_id=f"{i:064x}", purpose="request", public_key_pem=pem)
                coord.log.append(session, state, entry)
            session.commit()
    finally:
        coord.close()


@pytest.fixture(scope="module", params=BACKENDS)
def tiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases) -> Iterator[CoordinatorServer]:
    home = tmp_path_factory.mktemp(f"tiles-{request.param}")
    init_home(home, database_url_for(request.param, pg_databases), startup_verify="off")
    srv = CoordinatorServer(home=home, backend=request.param).start()
    try:
        _append_key_entries(srv, 300)
        yield srv
    finally:
        srv.stop()


def test_tiles_recompute_the_checkpoint_root(tiled: CoordinatorServer) -> None:
    with httpx.Client(base_url=tiled.url, timeout=30) as c:
        verifier = Verifier.from_string(c.get("/v1/log/verifier-key").text)
        checkpoint = open_checkpoint(c.get("/v1/log/checkpoint").text, verifier)
        assert checkpoint.size >= 300
        reads: list[str] = []

        def fetch(level: int, index: int, width: int) -> bytes:
            path = "/v1/log/" + tlog_tiles.tile_path(level, index, width)
            reads.append(path)
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            return r.content

        reader = tlog_tiles.TileReader(checkpoint.size, fetch)
        assert reader.root() == checkpoint.root
        assert "/v1/log/tile/1/000.p/1" in reads  # the first 256 leaves come from one level-1 hash
        assert any(p.startswith("/v1/log/tile/0/001.p/") for p in reads)  # the partial right edge
        bundle = c.get("/v1/log/tile/entries/000")
        assert bundle.status_code == 200
        entries = tlog_tiles.decode_entry_bundle(bundle.content, 256)
        assert [tlog.leaf_hash(e) for e in entries] == [reader.leaf_hash(i) for i in range(256)]
        assert "/v1/log/tile/0/000" in reads  # a full tile


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/log/tile/0/0001", 400), ("/v1/log/tile/99/000", 400), ("/v1/log/tile/0/x999/000", 404), ("/v1/log/tile/1/000", 404), ("/v1/log/tile/0/001", 404)],
)
def test_bad_or_missing_tiles_are_4xx(tiled: CoordinatorServer, path: str, status: int) -> None:
    r = httpx.get(tiled.url + path, timeout=30)
    assert r.status_code == status, r.text
    assert r.json()["error"]


# ---- witnesses ---------------------------------------------------------------------------------


class WitnessProcess:
    def __init__(self, base: Path, name: str, log_key: str) -> None:
        self.home = base / name
        self.port = free_port()
        subprocess.run([*CLI, "node", "init", "--home", str(self.home), "--org", name, "--coordinator", "http://127.0.0.1:9", "--no-supernode-key"], check=True, capture_output=True)
        args = [*CLI, "node", "witness", "--home", str(self.home), "--log", log_key, "--name", f"{name}.example/witness"]
        self.key = subprocess.run([*args, "--print-key"], check=True, capture_output=True, text=True).stdout.strip()
        self.log = open(self.home / "witness.log", "wb")
        self.proc = subprocess.Popen([*args, "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/witness-key", timeout=1).text.strip() == self.key:
                    break
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, (self.home / "witness.log").read_text()
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _policy(log_key: str, witnesses: list[WitnessProcess], quorum: str = "both") -> WitnessPolicy:
    lines = [f"log {log_key}"] + [f"witness w{i} {w.key} {w.url}" for i, w in enumerate(witnesses)]
    return WitnessPolicy.parse("\n".join([*lines, "group both all w0 w1", f"quorum {quorum}"]) + "\n")


def _wait_cosigned(url: str, size: int, policy: WitnessPolicy) -> str:
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(url + "/v1/log/cosigned-checkpoint", timeout=10)
        if r.status_code == 200:
            try:
                checkpoint, _ = verify_witnessed(r.text, policy)
                if checkpoint.size >= size:
                    return r.text
            except WitnessError:
                pass
        assert time.monotonic() < deadline, f"no cosigned checkpoint at size {size}: {r.status_code} {r.text}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_witnessed_log_and_a_caught_fork(tmp_path: Path, pg_databases: PgDatabases, backend: str) -> None:
    home = tmp_path / "coord"
    settings = init_home(home, database_url_for(backend, pg_databases))
    from synthspace.checkpoint import verifier_for

    log_key = verifier_for(settings.log_origin, keys.load_private_key(settings.log_key_path)).to_string()
    witnesses = [WitnessProcess(tmp_path, f"w{i}", log_key) for i in range(2)]
    server: CoordinatorServer | None = None
    try:
        for w in witnesses:
            subprocess.run([*CLI, "coordinator", "add-witness", "--home", str(home), "--url", w.url, "--key", w.key], check=True, capture_output=True)
        bad = subprocess.run([*CLI, "coordinator", "add-witness", "--home", str(home), "--url", "http://127.0.0.1:1", "--key", log_key], capture_output=True, text=True)
        assert bad.returncode == 2 and "0x04" in bad.stderr  # a log key is not a witness key
        server = CoordinatorServer(home=home, backend=backend).start()
        policy = _policy(log_key, witnesses)
        ident = enrol(server)
        client = ident.client()
        for _ in range(2):
            assert publish(client, *build_artifact(ident)).status_code == 201
        ident.close()
        size = open_checkpoint(httpx.get(server.url + "/v1/log/checkpoint").text, Verifier.from_string(log_key)).size
        note = _wait_cosigned(server.url, size, policy)
        _, cosigners = verify_witnessed(note, policy)
        assert set(cosigners) == {"w0", "w1"}

        # A fork: another coordinator with the same log key and origin but a different history.
        fork_home = tmp_path / "fork"
        fork_settings = init_home(fork_home, None)  # same origin as every test home
        shutil.copy(settings.log_key_path, fork_settings.log_key_path)
        fork = CoordinatorServer(home=fork_home, backend="sqlite")
        for _ in range(size + 1):
            _append_key_entries(fork, 1)
        for w in witnesses:
            subprocess.run([*CLI, "coordinator", "add-witness", "--home", str(fork_home), "--url", w.url, "--key", w.key], check=True, capture_output=True)
        res = subprocess.run([*CLI, "coordinator", "cosign", "--home", str(fork_home)], capture_output=True, text=True, env={**os.environ})
        assert res.returncode == 1, res.stdout + res.stderr
        assert res.stderr.count("HTTP 422") == 2  # both witnesses refused: not consistent with what they saw
        fork_note = (fork_home / "log" / "cosigned-checkpoint").read_text()
        open_checkpoint(fork_note, Verifier.from_string(log_key))  # the log key did sign it ...
        with pytest.raises(WitnessError, match="not met"):  # ... but a node's policy refuses it
            verify_witnessed(fork_note, policy)
        assert WitnessKey.from_string(witnesses[0].key).name == "w0.example/witness"
    finally:
        if server is not None:
            server.stop()
        for w in witnesses:
            w.stop()
