"""Nothing private leaves a node: every byte the node sends to the coordinator is recorded (a
TCP proxy on 127.0.0.1) through enrol, publish, list, show, pull, audit, derive and retract,
and none of it is seed text, a seed salt, or private key material (PEM or raw, hex, base64)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import SEEDS, Coordinator, auditor_for, cli, generate_run, make_node
from tests.node.recording_proxy import RecordingProxy

pytestmark = pytest.mark.slow


def encodings(raw: bytes) -> list[bytes]:
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
    ]


def private_key_needles(home: Any) -> dict[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    needles: dict[str, bytes] = {}
    for label, key in (("artifact", home.artifact_key()), ("request", home.request_key())):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        for i, enc in enumerate(encodings(raw)):
            needles[f"{label} private key raw/{i}"] = enc
    for path in (home.artifact_key_path, home.request_key_path, home.supernode_key_path):
        text = path.read_bytes()
        needles[f"{path.name} file"] = text
        # The base64 body lines of the PEM/OpenSSH file, each on its own.
        for n, line in enumerate(text.splitlines()):
            if len(line) >= 40 and not line.startswith(b"-----"):
                needles[f"{path.name} line {n}"] = line
    ec = load_ssh_private_key(home.supernode_key_path.read_bytes(), None)
    scalar = ec.private_numbers().private_value.to_bytes(48, "big")  # type: ignore[union-attr]
    for i, enc in enumerate(encodings(scalar)):
        needles[f"supernode scalar/{i}"] = enc
    return needles


def salt_needles(home: Any) -> dict[str, bytes]:
    needles: dict[str, bytes] = {}
    files = [p for p in home.private_dir.rglob("*") if p.is_file() and "salt" in str(p.relative_to(home.private_dir))]
    assert files, "generation must have created a seed salt in the node's private store"
    for path in files:
        data = path.read_bytes()
        candidates = [data, data.strip()]
        try:
            candidates.append(bytes.fromhex(data.strip().decode()))
        except ValueError:
            pass
        for raw in candidates:
            if len(raw) >= 16:
                for i, enc in enumerate(encodings(raw)):
                    needles[f"salt {path.name}/{i}"] = enc
    return needles


def seed_needles() -> dict[str, bytes]:
    needles: dict[str, bytes] = {}
    for n, line in enumerate(SEEDS.read_text().splitlines()):
        for field, value in json.loads(line).items():
            if isinstance(value, str) and len(value) >= 16:
                needles[f"seed {n}.{field}"] = value.encode()
                needles[f"seed {n}.{field} (json)"] = json.dumps(value)[1:-1].encode()
                needles[f"seed {n}.{field} (ascii json)"] = json.dumps(value, ensure_ascii=True)[1:-1].encode()
    assert len(needles) > 20
    return needles


def test_no_seed_salt_or_private_key_byte_reaches_the_coordinator(
    tmp_path: Path, coordinator: Coordinator, fake_llm: Any
) -> None:
    from synthspace.node.catalog import pull
    from synthspace.node.derive import Operations, derive_dataset, publish_derived
    from synthspace.node.publishing import publish_run, retract

    proxy = RecordingProxy("127.0.0.1", coordinator.port).start()
    try:
        alpha = make_node(tmp_path, coordinator, "wire-a", url=proxy.url)
        beta = make_node(tmp_path, coordinator, "wire-b", url=proxy.url)
        run = generate_run(tmp_path / "run", alpha, fake_llm, limit=10)
        res = publish_run(alpha, run, title="Wire test")
        assert cli("catalog", "list", "--home", str(beta.path))[0] == 0
        assert cli("catalog", "show", res.artifact_id, "--home", str(beta.path))[0] == 0
        assert cli("node", "status", "--home", str(alpha.path))[0] == 0
        pull(auditor_for(beta), res.artifact_id, tmp_path / "pulled")
        assert auditor_for(alpha).audit_artifact(res.artifact_id).ok
        assert cli("audit", "log", "--home", str(alpha.path))[0] == 0
        derived = tmp_path / "derived"
        derive_dataset(auditor_for(beta), [tmp_path / "pulled"], derived, title="wire derived", operations=Operations(sample=5))
        child = publish_derived(beta, derived)
        retract(beta, child.artifact_id, "wire test over")
    finally:
        proxy.stop()

    sent = proxy.sent_bytes()
    wire = b"".join(sent)
    # The recording really holds the traffic: requests, the uploaded Parquet, public keys.
    assert b"POST /v1/enrol" in wire and b"POST /v1/artifacts" in wire and b"GET /v1/log/checkpoint" in wire
    assert b"PAR1" in wire and b"Signature-Input" in wire.replace(b"signature-input", b"Signature-Input")
    from synthspace.keys import public_key_pem

    assert public_key_pem(alpha.artifact_key()).splitlines()[1].encode() in wire

    leaks = []
    for home in (alpha, beta):
        needles = {**private_key_needles(home), **(salt_needles(home) if home is alpha else {})}
        leaks += [name for name, needle in needles.items() if any(needle in conn for conn in sent)]
    leaks += [name for name, needle in seed_needles().items() if any(needle in conn for conn in sent)]
    assert leaks == [], f"private bytes on the wire: {leaks}"
