"""Flower deployment engine end to end: a real SuperLink (TLS, SuperNode auth) and two
SuperNodes as processes on 127.0.0.1, a real coordinator over HTTP, LoRA rounds on CPU, the
adapter published and audited. Tests run in file order and share the module's federation."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.federated.conftest import Federation, qa_rows

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip


def test_superlink_speaks_only_tls_from_the_federation_ca_and_registers_enrolled_keys(
    federation: Federation, tmp_path: Path
) -> None:
    from synthspace.coordinator.federated.federation import load_registry
    from synthspace.coordinator.federated.pki import ensure_ca
    from synthspace.coordinator.federated.superlink import FlowerControl, tls_ready

    link = federation.link
    assert tls_ready(link.host, link.port, link.ca_cert)
    other_ca, _ = ensure_ca(tmp_path / "other-ca")
    assert not tls_ready(link.host, link.port, other_ca)  # a certificate from another CA is refused
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{link.address}/health", timeout=5)  # no plaintext endpoint

    registry = load_registry(federation.coord_home)
    assert sorted(v["org"] for v in registry.values()) == sorted(federation.homes)
    node_ids = {n["node-id"] for n in FlowerControl(federation.coord_home).list_supernodes()}
    assert {v["node_id"] for v in registry.values()} <= node_ids


def test_supernode_with_an_unregistered_key_is_refused(federation: Federation, tmp_path: Path) -> None:
    from synthspace.node.federated.supernode import SuperNodeRefused, join
    from synthspace.node.home import NodeHome

    rogue = NodeHome.init(tmp_path / "rogue", "rogue-org", federation.coord.url)  # never enrolled
    data = tmp_path / "rogue.parquet"
    pd.DataFrame(qa_rows("rogue", 0)).to_parquet(data)
    with pytest.raises(SuperNodeRefused) as exc:
        join(rogue.path, superlink=federation.link.address, ca_cert=federation.link.ca_cert, data=[str(data)])
    assert "refused" in str(exc.value) and "rogue-org" in str(exc.value)
    assert "Failed to activate SuperNode" in (rogue.path / "federation" / "supernode.log").read_text()


def test_a_key_created_by_join_is_added_at_the_coordinator_and_admitted_after_sync(
    federation: Federation, tmp_path: Path
) -> None:
    from synthspace.coordinator.federated.federation import sync_supernode_keys
    from synthspace.node.enrolment import enroll
    from synthspace.node.federated.supernode import (
        FederationJoinError,
        SuperNodeRefused,
        join,
        start_supernode,
    )
    from synthspace.node.home import NodeHome

    late = NodeHome.init(tmp_path / "late", "late-org", federation.coord.url, supernode_key=False)
    enroll(late, federation.coord.invite("late-org"))  # enrolled before it had a SuperNode key
    data = tmp_path / "late.parquet"
    pd.DataFrame(qa_rows("late", 0)).to_parquet(data)
    link = federation.link
    with pytest.raises(SuperNodeRefused):  # the coordinator knows the new key, the SuperLink not yet
        join(late.path, superlink=link.address, ca_cert=link.ca_cert, data=[str(data)])
    public = late.supernode_public_key()
    assert public is not None
    report = sync_supernode_keys(federation.coord_home)
    assert report.registered == ["late-org"] and not report.errors
    sn = join(late.path)  # join.json remembers the SuperLink, CA and data
    try:
        assert sn.running() and sn.node_id is not None
    finally:
        sn.stop()
    assert not sn.running()

    # Revoked at the coordinator -> unregistered at the SuperLink -> refused again.
    import hashlib

    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import revoke_key
    from synthspace.coordinator.settings import CoordinatorSettings

    rt = Coordinator.open(CoordinatorSettings.load(federation.coord_home), migrate=False, verify=False)
    try:
        with rt.session() as session:
            revoke_key(session, rt.log, "late-org", hashlib.sha256(public.strip().encode()).hexdigest(), "lost laptop", operator=True)
    finally:
        rt.close()
    report = sync_supernode_keys(federation.coord_home)
    assert report.unregistered == ["late-org"] and not report.errors
    with pytest.raises(FederationJoinError, match="was revoked at the coordinator"):
        join(late.path)
    with pytest.raises(SuperNodeRefused):  # and the SuperLink itself no longer admits the key
        start_supernode(late.path)


EVAL_BENCH = [
    {"id": "s1", "kind": "choice", "question": "Which status code means not found?", "options": ["404", "200"], "answer": 0},
    {"id": "s2", "kind": "choice", "question": "Which status code means OK?", "options": ["500", "200"], "answer": 1},
    {"id": "s3", "kind": "exact", "question": "Reply with the word yes.", "answer": "yes"},
]  # fmt: skip


def test_two_rounds_train_on_both_orgs_and_publish_an_auditable_adapter(federation: Federation) -> None:
    from safetensors.numpy import load_file

    from synthspace.coordinator.federated.federation import federation_status
    from synthspace.lineage import Statement

    for org in federation.homes:
        federation.join(org)
    # The run names a benchmark: once the adapter is published, the first org's node evaluates
    # it (base vs adapter) and publishes the signed evaluation (checked at the end).
    orgs = sorted(federation.homes)
    bench = federation.base / "status-codes.jsonl"
    bench.write_text("".join(json.dumps(i) + "\n" for i in EVAL_BENCH), encoding="utf-8")
    evaluator = federation.homes[orgs[0]]
    # Through the CLI, as an operator runs it: progress is streamed while rounds finish.
    cli = _cli(
        "federate", "run", "--home", str(federation.coord_home), "--rounds", "2", "--min-nodes", "2",
        "--local-steps", "4", "--batch-size", "4", "--lr", "0.01", "--max-seq-len", "32",
        "--base-model", str(federation.tiny_model), "--start-timeout", "90", "--round-timeout", "180",
        "--title", "Status-code adapter", "--timeout", "900",
        "--benchmark", str(bench), "--eval-home", str(evaluator.path), "--eval-threads", "1",
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    run_id = cli.stdout.split("run ", 1)[1].split()[0]
    record = federation_status(federation.coord_home, int(run_id))[0]

    assert record["status"] == "completed", record["status_detail"]
    assert record["rounds_completed"] == 2 and record["participants"] == orgs
    rounds = {(r["kind"], r["round"]): r for r in record["rounds"]}
    r1, r2, ev = rounds[("train", 1)], rounds[("train", 2)], rounds[("evaluate", 2)]
    # The global adapter changes every round (round 1 starts from the seeded initial adapter
    # every node builds itself, so round 1 sends no weights at all).
    assert r1["adapter_sha256"] != r2["adapter_sha256"]
    # Training loss on each node's own data goes down: the global adapter of round 2 starts lower
    # than the initial one did in round 1, and each round's local steps lower it further.
    for org in orgs:
        m1, m2 = r1["per_org"][org]["metrics"], r2["per_org"][org]["metrics"]
        assert m2["loss-before"] < m1["loss-before"], (org, m1, m2)
        assert m1["train-loss-last"] < m1["loss-before"]
    assert r2["metrics"]["train-loss"] < r1["metrics"]["train-loss"]
    assert math.isfinite(ev["metrics"]["eval-loss"]) and set(ev["per_org"]) == set(orgs)

    run_dir = federation.coord_home / "federation" / "runs" / record["run_id"]
    tensors = load_file(str(run_dir / "adapter.safetensors"))
    assert tensors and all("lora_" in k for k in tensors)
    assert {k.split(".")[-2] for k in tensors} == {"lora_A", "lora_B"}
    # Only the adapter travelled: each update is the adapter's tensors (plus per-tensor .npy
    # headers and names), the same size from every org in every round.
    raw = sum(t.nbytes for t in tensors.values())
    sizes = {r["per_org"][o]["adapter_bytes"] for r in (r1, r2) for o in orgs}
    assert len(sizes) == 1
    update = sizes.pop()
    assert raw < update <= raw + 256 * len(tensors)
    assert r1["bytes_sent"] == 0 and r2["bytes_sent"] == 2 * update
    assert r2["bytes_received"] == 2 * update
    progress = cli.stderr.splitlines()
    assert any(m.startswith("round 1/2: train-loss") for m in progress), cli.stderr
    assert any(m.startswith("round 2/2: train-loss") for m in progress), cli.stderr
    assert f"adapter artifact {record['artifact_id']}" in cli.stdout

    # Published with lineage naming base model, rounds, both orgs and their training data.
    statement = Statement.model_validate_json((run_dir / "statement.json").read_text())
    pred = statement.predicate
    assert pred.kind == "model-adapter" and pred.training is not None and pred.title == "Status-code adapter"
    assert pred.training.participants == orgs and pred.training.rounds == 2
    assert pred.training.base_model_digest and pred.training.base_model_digest.startswith("sha256:")
    for org in orgs:
        subject = federation.bundles[org].statement.subject[0].digest.sha256
        assert pred.training.training_artifacts[org] == [subject]
    assert sorted(p.artifact_id for p in pred.parents) == sorted(b.artifact_id for b in federation.bundles.values())
    assert all(p.role == "training-data" for p in pred.parents)
    assert record["artifact_id"] and record["log_index"] is not None

    # `synthspace audit` traces the model back to both orgs' data.
    home = federation.homes[orgs[0]].path
    audit = _cli("audit", record["artifact_id"], "--home", str(home))
    assert audit.returncode == 0, audit.stdout + audit.stderr

    status = _cli("federate", "status", "--home", str(federation.coord_home), record["run_id"], "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["status"] == "completed" and shown["artifact_id"] == record["artifact_id"]
    # the run record names the benchmark (file name and digest, not the operator's path)
    digest = hashlib.sha256(bench.read_bytes()).hexdigest()
    assert shown["config"]["benchmark"] == f"status-codes.jsonl sha256:{digest}"

    # The evaluation of the run's own adapter: published by the evaluating node, its one parent
    # the adapter, base and adapter scored on every item, and it audits clean from the other org.
    line = next(ln for ln in cli.stdout.splitlines() if ln.startswith("evaluation "))
    eval_id = line.split()[1]
    out = evaluator.path / "evaluations" / record["artifact_id"][:16]
    ev_statement = Statement.model_validate_json(
        base64.b64decode(json.loads((out / "publish" / "envelope.json").read_text())["payload"])
    )
    ev_pred = ev_statement.predicate
    assert ev_pred.kind == "evaluation" and ev_pred.producer.org == orgs[0]
    assert [(p.artifact_id, p.role) for p in ev_pred.parents] == [(record["artifact_id"], "evaluated-model")]
    assert ev_pred.evaluation is not None and set(ev_pred.evaluation.metrics) == {"base", "adapter"}
    assert ev_pred.evaluation.items == len(EVAL_BENCH) and ev_pred.evaluation.benchmark_digest == f"sha256:{digest}"
    assert ev_pred.evaluation.model.model_digest == pred.training.base_model_digest
    audit = _cli("audit", eval_id, "--home", str(federation.homes[orgs[1]].path), "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["parents"][0]["artifact_id"] == record["artifact_id"]


def test_a_node_stopped_mid_run_ends_the_run_with_a_clear_status(federation: Federation) -> None:
    from synthspace.coordinator.federated.federation import federation_status, start_run, watch_run
    from synthspace.coordinator.federated.superlink import FlowerControl

    for org in federation.homes:
        if org not in federation.supernodes or not federation.supernodes[org].running():
            federation.join(org)
    victim = sorted(federation.homes)[1]
    opts = federation.run_options(rounds=3, evaluate="none", publish=False, round_timeout=90)
    run_id = start_run(federation.coord_home, opts)
    end = None
    for event in watch_run(federation.coord_home, run_id, timeout=600):
        if event.kind == "round" and event.data.get("kind") == "train" and event.data.get("round") == 1:
            federation.supernodes[victim].stop()  # the org leaves in the middle of the run
        if event.kind == "end":
            end = event
    assert end is not None and end.status == "failed", end
    record = federation_status(federation.coord_home, run_id)[0]
    assert record["status"] == "failed" and record["rounds_completed"] == 1
    assert "minimum 2" in record["status_detail"], record["status_detail"]
    assert record["artifact_id"] is None  # nothing half-trained is published
    # Our record is written before the ServerApp process exits; Flower marks the run finished
    # once that process is gone, which on a loaded machine takes a few seconds.
    control = FlowerControl(federation.coord_home)
    deadline = time.monotonic() + 120
    while not str(control.run_info(run_id)["status"]).startswith("finished") and time.monotonic() < deadline:
        time.sleep(1.0)
    assert str(control.run_info(run_id)["status"]).startswith("finished")


def test_a_secure_aggregation_run_on_the_superlink_publishes_an_adapter_whose_lineage_names_secagg(
    federation: Federation,
) -> None:
    """SecAgg+ across real SuperNode processes: the four protocol stages run through the SuperLink,
    the coordinator unmasks only the average, and the adapter's lineage and the run say so."""
    from synthspace.coordinator.federated.federation import federation_status, start_run, watch_run
    from synthspace.lineage import Statement

    for org in federation.homes:
        if org not in federation.supernodes or not federation.supernodes[org].running():
            federation.join(org)
    opts = federation.run_options(rounds=1, secure_aggregation=True, title="SecAgg+ adapter")
    run_id = start_run(federation.coord_home, opts)
    end = None
    for event in watch_run(federation.coord_home, run_id, timeout=600):
        if event.kind == "end":
            end = event
    record = federation_status(federation.coord_home, run_id)[0]
    assert end is not None and record["status"] == "completed", record["status_detail"]
    assert record["strategy"] == "FedAvg+SecAgg+" and record["participants"] == sorted(federation.homes)
    train = [r for r in record["rounds"] if r["kind"] == "train"]
    assert len(train) == 1 and set(train[0]["per_org"]) == set(federation.homes)
    assert record["final_metrics"]["privacy/secure-aggregation"] == 1.0
    run_dir = federation.coord_home / "federation" / "runs" / str(run_id)
    statement = Statement.model_validate_json((run_dir / "statement.json").read_text())
    assert statement.predicate.training is not None and statement.predicate.training.privacy is not None
    assert (statement.predicate.training.privacy.secure_aggregation or "").startswith("SecAgg+")
    # The catalog's adapter page states the privacy the run gave.
    page = httpx.get(f"{federation.coord.url}/catalog/artifacts/{record['artifact_id']}", timeout=30).text
    row = page.split('id="training-privacy"', 1)[1].split("</tr>", 1)[0]
    assert "SecAgg+" in row and "no differential privacy" in row


def test_training_bundles_must_verify_against_the_publishers_enrolled_key(
    federation: Federation, tmp_path: Path
) -> None:
    """The org's published bundle verifies; copies with no signature, a signature by a key no org
    enrolled, or a changed payload are refused - by `join` before the SuperNode starts and by the
    ClientApp's train handler (which is what answers a round) with an error naming the check."""
    import base64
    import shutil

    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

    from synthspace import keys
    from synthspace.artifact import sign_statement
    from synthspace.lineage import Statement
    from synthspace.node.federated.client_app import app as client_app
    from synthspace.node.federated.supernode import JoinConfig, save_join_config
    from synthspace.node.federated.training_data import (
        UnverifiedTrainingData,
        audit_verifier,
        load_training_data,
    )

    org = sorted(federation.homes)[0]
    home = federation.homes[org]
    good = federation.bundles[org].bundle_dir
    verify = audit_verifier(home.path)
    assert len(load_training_data([str(good)], verify_bundle=verify).train) > 0

    envelope = json.loads((good / "envelope.json").read_text())
    statement = Statement.from_json_bytes(base64.b64decode(envelope["payload"]))

    def variant(name: str, env: dict[str, object]) -> Path:
        out = tmp_path / name
        shutil.copytree(good, out)
        (out / "envelope.json").write_text(json.dumps(env))
        (out / "audit.json").unlink(missing_ok=True)
        return out

    unsigned = variant("unsigned", {**envelope, "signatures": []})
    stranger = variant(
        "stranger", json.loads(sign_statement(statement, keys.generate_private_key()).to_json())
    )
    edited = statement.model_copy(
        update={"predicate": statement.predicate.model_copy(update={"title": "edited"})}
    )
    forged = variant(
        "forged", {**envelope, "payload": base64.b64encode(edited.to_json_bytes()).decode()}
    )
    cases = {
        unsigned: "envelope carries no signature",
        stranger: "no org has enrolled",
        forged: "does not verify",
    }
    for bundle, why in cases.items():
        with pytest.raises(UnverifiedTrainingData, match=why):
            load_training_data([str(bundle)], verify_bundle=verify)

    # The train handler refuses the round: a node whose declared bundle lost its signature after
    # it joined (join itself would have refused it, see below).
    node_home = tmp_path / "node-copy"
    shutil.copytree(home.path, node_home)
    save_join_config(
        node_home,
        JoinConfig(
            superlink=federation.link.address,
            root_certificates=str(federation.link.ca_cert),
            data=[str(unsigned)],
            torch_threads=1,
        ),
    )
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 7, 0, 1
    try:
        msg = Message(
            RecordDict(
                {
                    "arrays": ArrayRecord(),
                    "config": ConfigRecord({"base-model": str(federation.tiny_model)}),
                }
            ),
            dst_node_id=1,
            message_type="train",
        )
        ctx = Context(
            run_id=7,
            node_id=1,
            node_config={"home": str(node_home)},
            state=RecordDict(),
            run_config={},
        )
        with pytest.raises(
            UnverifiedTrainingData,
            match="refusing to train on it, its envelope carries no signature",
        ):
            client_app(message=msg, context=ctx)
    finally:
        TaskIdentity._run_id = TaskIdentity._node_id = TaskIdentity._task_id = None

    from synthspace.node.federated.supernode import join

    with pytest.raises(UnverifiedTrainingData, match="no org has enrolled"):
        join(node_home, data=[str(stranger)])


def test_nothing_private_reaches_the_superlink(federation: Federation) -> None:
    """Both SuperNodes connect through a TLS-terminating recorder. A run: the decoded traffic
    (HTTP requests -> protobuf fields -> Flower object bodies -> .npy / UTF-32 text) holds no
    training record and no private key. The decoder's positive control (a record in a Flower
    Array is found) is tests/federated/test_privacy.py::test_superlink_decoder_finds_text_in_a_flower_array_pushed_over_rest."""
    from synthspace.coordinator.federated.federation import start_run, watch_run
    from synthspace.node.federated.supernode import join
    from tests.federated.conftest import qa_rows
    from tests.federated.superlink_wire import TlsRecordingProxy, decoded_leaves
    from tests.node.test_node_wire_privacy import private_key_needles

    ca = federation.coord_home / "federation" / "ca"
    host, port = federation.link.address.rsplit(":", 1)
    for sn in federation.supernodes.values():
        sn.stop()

    def recorded_run() -> tuple[list[bytes], str]:
        proxy = TlsRecordingProxy((host, int(port)), ca / "superlink.crt", ca / "superlink.key", ca / "ca.crt").start()
        try:
            for org in federation.homes:
                federation.supernodes[org] = join(
                    federation.homes[org].path, superlink=proxy.address, ca_cert=federation.link.ca_cert,
                    data=[str(federation.bundles[org].bundle_dir)], torch_threads=1,
                )  # fmt: skip
            # Generous timeouts: every byte goes through an in-process TLS recorder, which on a
            # loaded 2-core machine makes joining and the round several times slower.
            opts = federation.run_options(rounds=1, evaluate="none", publish=False, start_timeout=240, round_timeout=420)
            run_id = start_run(federation.coord_home, opts)
            status = ""
            for event in watch_run(federation.coord_home, run_id, timeout=900):
                if event.kind == "end":
                    status = f"{event.status}: {event.message}"
        finally:
            for sn in federation.supernodes.values():
                sn.stop()
            proxy.stop()
        return proxy.sent_bytes(), status

    needles: dict[str, bytes] = {}
    for i, (org, home) in enumerate(sorted(federation.homes.items())):
        needles.update({f"{org} {k}": v for k, v in private_key_needles(home).items()})
        for row in qa_rows(org, 100 * i):
            needles[f"{org} record {row['record_id']}"] = row["question"].encode()

    sent, status = recorded_run()
    assert status.startswith("completed"), status
    leaves = decoded_leaves(sent)
    assert sum(len(s) for s in sent) > 10_000 and len(leaves) > 100, leaves[:3]  # the recording holds the run
    assert any(b"train-loss" in leaf for leaf in leaves)  # decoding reaches the replies' metric records
    leaks = sorted({name for name, needle in needles.items() if any(needle in leaf for leaf in leaves)})
    assert leaks == [], f"private bytes on the way to the SuperLink: {leaks}"


def test_federate_superlink_command_runs_until_sigterm_and_leaves_nothing_behind(tmp_path: Path) -> None:
    import signal
    import socket

    from synthspace.coordinator.home import init_home
    from synthspace.local_servers import free_port

    home = tmp_path / "coord"
    init_home(home, log_origin="test.federation.cli/log")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthspace.cli.main", "federate", "superlink", "--home", str(home), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    superlink_pid = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"SuperLink running on 127.0.0.1:{port}" in line, line
        superlink_pid = int(line.split("(pid ", 1)[1].split(")")[0])
        assert "federation CA certificate" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if superlink_pid is not None:  # never leave the SuperLink behind, even when this test fails
            try:
                os.killpg(superlink_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # no Flower process of this home is left
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if str(home) not in ps:
            break
        time.sleep(0.5)
    assert str(home) not in ps
