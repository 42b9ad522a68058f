"""NodeHome: layout, permissions, refusal to overwrite, enrolment state (no server needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from synthspace.node.home import NodeHome, NodeHomeError, NotEnrolledError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_keys_config_and_private_store(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import (
        load_ssh_private_key,
        load_ssh_public_key,
    )

    from synthspace import keys

    home = NodeHome.init(tmp_path / "n", "acme-legal", "http://127.0.0.1:8600/")
    assert mode(home.artifact_key_path) == 0o600
    assert mode(home.request_key_path) == 0o600
    assert mode(home.supernode_key_path) == 0o600
    assert mode(home.private_dir) == 0o700
    assert mode(home.keys_dir) == 0o700
    cfg = json.loads(home.config_path.read_text())
    assert cfg["org"] == "acme-legal"
    assert cfg["coordinator_url"] == "http://127.0.0.1:8600"  # normalised
    assert cfg["enrolled"] is False
    assert cfg["artifact_key_id"] == keys.key_id(home.artifact_key())
    assert cfg["request_key_id"] == keys.key_id(home.request_key())
    assert cfg["artifact_key_id"] != cfg["request_key_id"]
    # Nothing secret in node.json.
    assert "PRIVATE" not in home.config_path.read_text()
    # The SuperNode key is what Flower's --auth-supernode-private-key loads (ECDSA, OpenSSH).
    pub = home.supernode_public_key()
    assert pub is not None and pub.startswith("ecdsa-sha2-nistp384 ")
    load_ssh_public_key(pub.encode())
    load_ssh_private_key(home.supernode_key_path.read_bytes(), None)
    assert set(home.secret_files()) >= {home.artifact_key_path, home.request_key_path, home.supernode_key_path}
    assert home.supernode_public_key_path not in home.secret_files()


def test_init_refuses_to_overwrite_an_identity(tmp_path: Path) -> None:
    home = NodeHome.init(tmp_path / "n", "acme", "http://127.0.0.1:1")
    before = home.artifact_key_path.read_bytes()
    with pytest.raises(NodeHomeError, match="already holds a node home"):
        NodeHome.init(tmp_path / "n", "other", "http://127.0.0.1:1")
    assert home.artifact_key_path.read_bytes() == before


@pytest.mark.parametrize("org", ["", "Acme", "a b", "../x", "x" * 70])
def test_init_rejects_bad_org_names(tmp_path: Path, org: str) -> None:
    with pytest.raises(NodeHomeError, match="invalid org name"):
        NodeHome.init(tmp_path / "n", org, "http://127.0.0.1:1")
    assert not (tmp_path / "n" / "node.json").exists()


def test_init_rejects_non_http_coordinator(tmp_path: Path) -> None:
    with pytest.raises(NodeHomeError, match="must start with http"):
        NodeHome.init(tmp_path / "n", "acme", "ftp://x")


def test_missing_home_and_not_enrolled_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NodeHomeError, match="node init"):
        NodeHome(tmp_path / "absent").config()
    home = NodeHome.init(tmp_path / "n", "acme", "http://127.0.0.1:1")
    with pytest.raises(NotEnrolledError, match="node enroll"):
        home.require_enrolled()
    cfg = home.mark_enrolled("log+01020304+AQ==")
    assert cfg.enrolled and cfg.log_verifier_key == "log+01020304+AQ=="
    assert home.require_enrolled().enrolled


def test_private_store_lives_in_private_dir(tmp_path: Path) -> None:
    home = NodeHome.init(tmp_path / "n", "acme", "http://127.0.0.1:1")
    salt = home.private_store().seed_salt("seeds-1")
    assert len(salt) == 32
    assert home.private_store().seed_salt("seeds-1") == salt
    salt_files = [p for p in home.private_dir.rglob("*") if p.is_file()]
    assert salt_files and all(mode(p) == 0o600 for p in salt_files)
    assert all(p in home.secret_files() for p in salt_files)


def test_cli_init_and_offline_status(tmp_path: Path) -> None:
    from tests.node.conftest import cli_subprocess as cli

    code, out, err = cli("node", "init", "--home", str(tmp_path / "n"), "--org", "acme", "--coordinator", "http://127.0.0.1:9")
    assert code == 0, err
    assert "artifact key id" in out
    code, out, err = cli("node", "status", "--home", str(tmp_path / "n"), "--offline", "--json")
    assert code == 0, err
    st = json.loads(out)
    assert st["org"] == "acme" and st["enrolled"] is False and st["supernode_key"] is True
    # A second init is a one-line error, not a traceback.
    code, out, err = cli("node", "init", "--home", str(tmp_path / "n"), "--org", "acme", "--coordinator", "http://127.0.0.1:9")
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    # Status online against a dead coordinator reports the problem and exits non-zero.
    code, out, err = cli("node", "status", "--home", str(tmp_path / "n"))
    assert code == 1 and "cannot reach the coordinator" in err
