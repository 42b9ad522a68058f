"""Nothing private leaves a node: every byte the node sends to the coordinator is recorded (a
TCP proxy on 127.0.0.1) through enrol, publish, list, show, pull, audit, derive and retract,
DECODED (HTTP bodies, multipart parts, Parquet cell values after decompression, JSON strings,
base64 DSSE payloads; see wire_decoding.py) and none of it is seed text, a seed salt, or private
key material (PEM or raw, hex, base64). A positive control publishes a planted seed copy with the
gates relaxed and shows the same search finds it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import SEEDS, Coordinator, auditor_for, cli, generate_run, make_node
from tests.node.recording_proxy import RecordingProxy
from tests.node.wire_decoding import connection_layers, find_leaks

pytestmark = pytest.mark.slow


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Coordinator, RecordingProxy]]:
    """A coordinator reached only through a recording proxy, whose URL is its public_url (the
    coordinator checks request signatures against that URL, not the address it listens on)."""
    import os

    from synthspace.coordinator.home import init_home
    from synthspace.local_servers import free_port

    port = free_port()
    proxy = RecordingProxy("127.0.0.1", port).start()
    home = tmp_path / "coordinator"
    env_before = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    try:
        init_home(home, log_origin="test.node/log", public_url=proxy.url)
    finally:
        if env_before is not None:
            os.environ["SYNTHSPACE_DATABASE_URL"] = env_before
    coord = Coordinator(home=home, port=port).start()
    try:
        yield coord, proxy
    finally:
        coord.stop()
        proxy.stop()


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
    tmp_path: Path, proxied: tuple[Coordinator, RecordingProxy], fake_llm: Any
) -> None:
    from synthspace.node.catalog import pull
    from synthspace.node.derive import Operations, derive_dataset, publish_derived
    from synthspace.node.publishing import publish_run, retract

    coordinator, proxy = proxied
    try:
        alpha = make_node(tmp_path, coordinator, "wire-a", url=proxy.url)
        beta = make_node(tmp_path, coordinator, "wire-b", url=proxy.url)
        run = generate_run(tmp_path / "run", alpha, fake_llm, limit=10)
        res = publish_run(alpha, run, title="Wire test")
        assert cli("catalog", "list", "--home", str(beta.path))[0] == 0
        assert cli("catalog", "show", res.artifact_id, "--home", str(beta.path))[0] == 0
        assert cli("node", "status", "--home", str(alpha.path))[0] == 0
        pull(auditor_for(beta), res.artifact_id, tmp_path / "pulled", purpose="research")
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

    # The decoder really reaches inside: the published records' cell values and the signed
    # statement inside the base64 DSSE payload are among the decoded layers.
    layers = [layer for conn in sent for layer in connection_layers(conn)]
    labels = {layer.label for layer in layers}
    assert any("parquet cell" in label for label in labels), sorted(labels)[:20]
    assert any(b'"predicateType"' in layer.data and "base64" in layer.label for layer in layers)

    needles: dict[str, bytes] = {}
    for home in (alpha, beta):
        needles.update({f"{home.config().org} {k}": v for k, v in private_key_needles(home).items()})
    needles.update(salt_needles(alpha))
    needles.update(seed_needles())
    leaks = find_leaks(sent, needles)
    assert leaks == [], f"private bytes on the wire: {leaks}"


def test_positive_control_a_planted_seed_copy_published_with_relaxed_gates_is_caught(
    tmp_path: Path, proxied: tuple[Coordinator, RecordingProxy]
) -> None:
    """Seed text hidden where a raw byte search cannot see it - a zstd-compressed Parquet cell and
    the description inside the base64 DSSE payload - is found by the decoded search."""
    from datetime import UTC, datetime

    import pandas as pd

    from synthspace.lineage import GateResult, LineagePredicate, Producer, Times
    from synthspace.node.publishing import publish_file

    seeds = [json.loads(line) for line in SEEDS.read_text().splitlines()]
    text_fields = sorted(((k, v) for k, v in seeds[0].items() if isinstance(v, str) and len(v) >= 16), key=lambda kv: -len(kv[1]))
    assert len(text_fields) >= 2
    (cell_field, cell_seed), (desc_field, desc_seed) = text_fields[0], text_fields[1]
    coordinator, proxy = proxied
    try:
        leaky = make_node(tmp_path, coordinator, "leaky", url=proxy.url)
        data = tmp_path / "planted.parquet"
        rows = [{"question": f"filler question {i} " * 8, "answer": f"filler answer {i} " * 8} for i in range(40)]
        rows[17]["answer"] = cell_seed  # a verbatim seed copy among the records
        pd.DataFrame(rows).to_parquet(data, index=False, compression="zstd")
        now = datetime.now(UTC)
        relaxed = GateResult(  # the gate "passed" only because its threshold was relaxed to allow anything
            name="seed_leakage", blocking=True, passed=True, metrics={"max_overlap": 1.0, "failing_records": 0},
            thresholds={"max_overlap": 1.0},
        )
        no_pii = GateResult(name="pii", blocking=True, passed=True, metrics={"records_with_pii": 0})
        predicate = LineagePredicate(
            kind="dataset", title="positive control", description=f"planted: {desc_seed}", record_count=40,
            gates=[relaxed, no_pii], producer=Producer(org=leaky.config().org, artifact_key_id="0" * 64, software="test"),
            times=Times(started=now, finished=now, signed=now),
        )  # fmt: skip
        publish_file(leaky, data, predicate, bundle_dir=tmp_path / "planted-bundle", subject_name="data.parquet")
    finally:
        proxy.stop()
    sent = proxy.sent_bytes()
    planted = {f"seed 0.{cell_field} (in a Parquet cell)": cell_seed.encode(), f"seed 0.{desc_field} (in the DSSE payload)": desc_seed.encode()}
    leaks = find_leaks(sent, planted)
    assert len(leaks) == 2, leaks
    cell_hit, desc_hit = sorted(leaks, key=lambda h: "DSSE" in h)
    assert "parquet cell" in cell_hit
    assert "base64" in desc_hit
    # The description is invisible to a raw byte search (it only travels base64-encoded).
    assert not any(desc_seed.encode() in conn for conn in sent)
