"""The `synthspace coordinator` commands and the shipped Alembic migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from tests.coordinator.conftest import BACKENDS, PgDatabases, database_url_for, init_home


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SYNTHSPACE_DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "coordinator", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=180,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_invite_verify_and_reinit(
    tmp_path: Path, backend: str, pg_databases: PgDatabases
) -> None:
    home = tmp_path / "coord"
    env = {}
    url = database_url_for(backend, pg_databases)
    if url:
        env["SYNTHSPACE_DATABASE_URL"] = url
    done = cli("init", "--home", str(home), "--origin", "catalog.example.org/log", env=env)
    assert done.returncode == 0, done.stderr
    assert (home / "keys" / "log.pem").stat().st_mode & 0o777 == 0o600
    assert (home / "keys" / "federation-artifact.pem").exists()
    assert (home / "keys").stat().st_mode & 0o777 == 0o700
    log_key = (home / "keys" / "log.pem").read_bytes()
    done = cli("invite", "acme-legal", "--home", str(home), "--ttl-hours", "1", env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("sst_") and len(token) > 40
    assert "expires" in done.stderr
    # only the hash is stored
    if backend == "sqlite":
        assert token.encode() not in (home / "coordinator.db").read_bytes()
    assert cli("verify", "--home", str(home), env=env).returncode == 0
    again = cli("init", "--home", str(home), env=env)
    assert again.returncode == 0, again.stderr
    assert (home / "keys" / "log.pem").read_bytes() == log_key  # never overwritten


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    missing = cli("serve", "--home", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert (
        missing.stderr.startswith("error: ")
        and "coordinator init" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    init_home(tmp_path / "h", None)
    bad = cli("invite", "Not Valid!", "--home", str(tmp_path / "h"))
    assert bad.returncode == 1 and bad.stderr.startswith("error: invalid org name")
    bad = cli("revoke-key", "federation", "0" * 64, "--home", str(tmp_path / "h"))
    assert bad.returncode == 1 and "has no key" in bad.stderr


def test_operator_revokes_a_key_from_the_cli(tmp_path: Path) -> None:
    from synthspace import keys
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import org_record

    settings = init_home(tmp_path / "h", None)
    kid = keys.key_id(keys.load_private_key(settings.operator_key_path("request")))
    done = cli(
        "revoke-key", "federation", kid, "--reason", "rotated by hand", "--home", str(settings.home)
    )
    assert done.returncode == 0, done.stderr
    coord = Coordinator.open(settings)
    try:
        with coord.session() as session:
            record = org_record(session, "federation")
    finally:
        coord.close()
    revoked = next(k for k in record.keys if k.key_id == kid)
    assert revoked.revoked_at is not None and revoked.revoke_reason == "rotated by hand"


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_upgrade_downgrade_upgrade(
    tmp_path: Path, backend: str, pg_databases: PgDatabases
) -> None:
    from alembic import command

    from synthspace.coordinator.database import alembic_config, make_engine, upgrade_database

    url = database_url_for(backend, pg_databases) or f"sqlite+pysqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    head = upgrade_database(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "artifacts",
        "orgs",
        "org_keys",
        "log_leaves",
        "log_nodes",
        "log_state",
        "request_nonces",
        "enrolment_tokens",
    } <= tables
    cfg: Any = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "artifacts" not in set(inspect(engine).get_table_names())
    assert upgrade_database(engine) == head
    engine.dispose()
