"""deploy/pki/make-certs.sh issues a CA and server certificates that verify against it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from .conftest import DEPLOY

SCRIPT = DEPLOY / "pki" / "make-certs.sh"


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def test_issues_verifiable_server_certificates(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    subprocess.run(["sh", str(SCRIPT), str(out), "superlink", "coordinator"], check=True, capture_output=True)
    for host in ("superlink", "coordinator"):
        crt, key = out / f"{host}.crt", out / f"{host}.key"
        assert "OK" in _openssl("verify", "-CAfile", str(out / "ca.crt"), str(crt))
        text = _openssl("x509", "-in", str(crt), "-noout", "-text")
        assert f"DNS:{host}" in text and "IP Address:127.0.0.1" in text
        assert "TLS Web Server Authentication" in text
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, "private keys must not be readable by others"
        # The key belongs to the certificate.
        assert _openssl("pkey", "-in", str(key), "-pubout") == _openssl("x509", "-in", str(crt), "-noout", "-pubkey")
    assert "CA:TRUE" in _openssl("x509", "-in", str(out / "ca.crt"), "-noout", "-text")
    assert stat.S_IMODE((out / "ca.key").stat().st_mode) == 0o600


def test_rerun_keeps_existing_certificates(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    subprocess.run(["sh", str(SCRIPT), str(out), "superlink"], check=True, capture_output=True)
    first = (out / "superlink.crt").read_bytes(), (out / "ca.crt").read_bytes()
    res = subprocess.run(["sh", str(SCRIPT), str(out), "superlink", "extra"], check=True, capture_output=True, text=True)
    assert "keep existing" in res.stdout
    assert ((out / "superlink.crt").read_bytes(), (out / "ca.crt").read_bytes()) == first
    assert "OK" in _openssl("verify", "-CAfile", str(out / "ca.crt"), str(out / "extra.crt"))


def test_usage_error_without_hosts(tmp_path: Path) -> None:
    res = subprocess.run(["sh", str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr
