"""Fast checks of the federation's building blocks: CA and certificates, SuperNode keys,
training data declarations, run options, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.federated.conftest import qa_rows


def test_ca_signs_a_superlink_certificate_for_its_names_and_reissues_for_new_ones(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from synthspace.coordinator.federated.pki import ensure_server_cert

    ca_dir = tmp_path / "ca"
    tls = ensure_server_cert(ca_dir, ("localhost", "127.0.0.1"))
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    pub = ca.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for key in (ca_dir / "ca.key", tls.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700

    again = ensure_server_cert(ca_dir, ("localhost", "127.0.0.1"))
    assert again.server_cert.read_bytes() == tls.server_cert.read_bytes()  # kept while valid
    before = tls.server_cert.read_bytes()
    wider = ensure_server_cert(ca_dir, ("localhost", "127.0.0.1", "fl.example.org"))
    assert wider.server_cert.read_bytes() != before
    cert2 = x509.load_pem_x509_certificate(wider.server_cert.read_bytes())
    names = cert2.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fl.example.org" in names.get_values_for_type(x509.DNSName)
    assert wider.ca_cert.read_bytes() == tls.ca_cert.read_bytes()  # same CA
    assert len(tls.ca_fingerprint()) == 64


def test_supernode_public_keys_are_normalised_to_openssh_and_non_ec_keys_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    from synthspace.coordinator.federated.federation import openssh_public_key
    from synthspace.coordinator.federated.superlink import SuperLinkError

    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    ssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert openssh_public_key(pem) == ssh == openssh_public_key(ssh + "\n")
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_pem = ed.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(SuperLinkError, match="ECDSA"):
        openssh_public_key(ed_pem)
    with pytest.raises(SuperLinkError, match="not a PEM or OpenSSH"):
        openssh_public_key("hello")


def test_node_join_creates_a_supernode_key_for_homes_without_one(tmp_path: Path) -> None:
    from synthspace.node.federated.supernode import ensure_supernode_key
    from synthspace.node.home import NodeHome

    home = NodeHome.init(tmp_path / "n", "org-x", "http://127.0.0.1:1", supernode_key=False)
    assert home.supernode_public_key() is None
    path, public = ensure_supernode_key(home.path)
    assert public.startswith("ecdsa-sha2-nistp384 ") and home.supernode_public_key() == public
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_supernode_key(home.path) == (path, public)  # stable
    assert path in home.secret_files()


def test_training_data_splits_stably_drops_private_columns_and_refuses_unsigned_or_tampered_bundles(tmp_path: Path) -> None:
    import base64
    import hashlib

    from synthspace.errors import VerificationError
    from synthspace.lineage import DigestSet, LineagePredicate, Producer, Statement, Subject, Times
    from synthspace.node.federated.training_data import (
        TrainingDataError,
        UnverifiedTrainingData,
        load_training_data,
    )

    rows = [{**r, "_seed_index": "secret-seed-text"} for r in qa_rows("o", 0, 40)]
    parquet = tmp_path / "d.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    a = load_training_data([str(parquet)], held_out_percent=25)
    b = load_training_data([str(parquet)], held_out_percent=25)
    assert [e.text for e in a.held_out] == [e.text for e in b.held_out]
    assert {e.text for e in a.train}.isdisjoint({e.text for e in a.held_out})
    assert len(a.train) + len(a.held_out) == 40 and a.held_out
    assert all("secret-seed-text" not in e.text for e in a.train + a.held_out)
    assert a.train[0].prompt and a.train[0].answer
    assert a.digests == [hashlib.sha256(parquet.read_bytes()).hexdigest()]

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    data = bundle / "data.parquet"
    pd.DataFrame(qa_rows("o", 0, 10)).to_parquet(data)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    statement = Statement(
        subject=[Subject(name="data.parquet", digest=DigestSet(sha256=hashlib.sha256(data.read_bytes()).hexdigest()))],
        predicate=LineagePredicate(
            kind="dataset", title="t", producer=Producer(org="o", artifact_key_id="0" * 64, software="t"),
            times=Times(started=now, finished=now, signed=now),
        ),
    )  # fmt: skip
    payload = statement.to_json_bytes()
    envelope = {"payload": base64.b64encode(payload).decode(), "payloadType": "x", "signatures": []}
    (bundle / "envelope.json").write_text(json.dumps(envelope))
    verified: list[Path] = []
    # An unsigned envelope is refused before anything else, whatever the verifier would say.
    with pytest.raises(UnverifiedTrainingData, match="envelope carries no signature"):
        load_training_data([str(bundle)], verify_bundle=verified.append)
    assert verified == []
    envelope["signatures"] = [{"keyid": "k", "sig": "AAAA"}]
    (bundle / "envelope.json").write_text(json.dumps(envelope))
    with pytest.raises(UnverifiedTrainingData, match="no verifier"):
        load_training_data([str(bundle)])  # bundles are never read unverified

    def refuse(path: Path) -> None:
        raise UnverifiedTrainingData(f"{path}: bad signature")

    with pytest.raises(UnverifiedTrainingData, match="bad signature"):
        load_training_data([str(bundle)], verify_bundle=refuse)
    ok = load_training_data([str(bundle)], verify_bundle=verified.append)
    assert verified == [bundle]
    assert ok.artifact_ids == [hashlib.sha256(payload).hexdigest()]
    pd.DataFrame(qa_rows("o", 5, 10)).to_parquet(data)  # changed after the pull
    with pytest.raises(VerificationError, match="differs from the signed subject"):
        load_training_data([str(bundle)], verify_bundle=verified.append)
    with pytest.raises(TrainingDataError, match="declares no training data"):
        load_training_data([])
    with pytest.raises(TrainingDataError, match="does not exist"):
        load_training_data([str(tmp_path / "nope")])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("rounds", 0, "--rounds"), ("strategy", "fedsgd", "--strategy"), ("evaluate", "x", "--evaluate"),
     ("local_steps", 0, "--local-steps"), ("lora_rank", 0, "--lora-rank"), ("round_timeout", 0, "timeouts")],
)  # fmt: skip
def test_run_options_refuse_bad_values(field: str, value: object, message: str) -> None:
    from synthspace.coordinator.federated.federation import FederationRunError, RunOptions

    with pytest.raises(FederationRunError, match=message):
        RunOptions(**{field: value}).validate()  # type: ignore[arg-type]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip


def test_cli_reports_bad_input_on_one_line_without_a_traceback(tmp_path: Path) -> None:
    from synthspace.node.home import NodeHome

    res = _cli("federate", "status", "--home", str(tmp_path / "missing"))
    assert res.returncode == 1 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert "coordinator init" in res.stderr

    home = NodeHome.init(tmp_path / "n", "org-x", "http://127.0.0.1:1")
    res = _cli("node", "join", "--home", str(home.path))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "--superlink" in res.stderr and "--ca-cert" in res.stderr
    not_pem = tmp_path / "ca.crt"
    not_pem.write_text("hello")
    res = _cli("node", "join", "--home", str(home.path), "--superlink", "127.0.0.1:9", "--ca-cert", str(not_pem), "--data", str(tmp_path))
    assert res.returncode == 1 and "not a PEM certificate" in res.stderr


def test_federate_status_privacy_column_states_epsilon_secagg_and_canaries() -> None:
    from synthspace.cli.federate import _privacy_cell

    assert _privacy_cell({}) == "no DP"
    cell = _privacy_cell(
        {"privacy/epsilon": 7.0772, "privacy/delta": 1e-5, "privacy/canary-exposure/org-a": 2.5, "privacy/canary-exposure/org-b": 0.25}
    )
    assert cell == "ε=7.08 (δ=1e-05); canary exposure ≤ 2.50 bits"
    assert _privacy_cell({"privacy/secure-aggregation": 1.0}) == "no DP; SecAgg+"
