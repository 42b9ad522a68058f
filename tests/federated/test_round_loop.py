"""The ServerApp's round loop against an in-process Grid that hands each message to the real
ClientApp handlers (real peft LoRA on a tiny Llama, real node homes and data), with run records
in the coordinator database on SQLite and PostgreSQL. Covers what the process tests do not:
FedAdam's initial-adapter wave, DP clipping, impostor orgs, error replies, waiting for nodes."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flwr.app import Context, Error, Message, RecordDict
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from tests.federated.conftest import qa_rows

PG_ADMIN_URL = os.environ.get("SYNTHSPACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class PgDatabases:
    """Uniquely named PostgreSQL databases for this module, dropped at the end."""

    def __init__(self) -> None:
        self.prefix = f"ss_fed_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []

    def new(self) -> str:
        from sqlalchemy import create_engine, text

        name = f"{self.prefix}_{len(self.created)}"
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append(name)
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    def drop_all(self) -> None:
        from sqlalchemy import create_engine, text

        if not self.created:
            return
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="module")
def pg() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    """Messages need a run id, as inside a flwr-serverapp process."""
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 7, 0, 1
    yield
    TaskIdentity._run_id = TaskIdentity._node_id = TaskIdentity._task_id = None


@dataclass
class FakeNode:
    node_id: int
    name: str  # the org registered for its key
    home: Path
    fail: bool = False


class InProcessGrid(Grid):
    """Delivers each message to the real ClientApp of the addressed node, in this process."""

    def __init__(self, nodes: list[FakeNode], client_app: str = "app") -> None:
        self.nodes = {n.node_id: n for n in nodes}
        self.sent: list[Message] = []
        self.replies: list[Message] = []
        self.client_app = client_app  # attribute of synthspace.node.federated.client_app
        self.states: dict[int, RecordDict] = {}  # each node's Context.state lives across messages, as in a SuperNode

    def set_run(self, run: Any) -> None:  # pragma: no cover - not used by the loop
        pass

    @property
    def run(self) -> Any:  # pragma: no cover
        raise NotImplementedError

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes)

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n.node_id, name=n.name) for n in self.nodes.values()]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:  # pragma: no cover
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:  # pragma: no cover
        raise NotImplementedError

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        from synthspace.node.federated import client_app

        app = getattr(client_app, self.client_app)
        replies = []
        for msg in messages:
            self.sent.append(msg)
            node = self.nodes[msg.metadata.dst_node_id]
            if node.fail:
                replies.append(Message(Error(code=0, reason="node went away"), reply_to=msg))
                continue
            msg = copy.deepcopy(msg)  # each node gets its own copy, as after deserialisation
            state = self.states.setdefault(node.node_id, RecordDict())
            ctx = Context(run_id=7, node_id=node.node_id, node_config={"home": str(node.home)}, state=state, run_config={})
            replies.append(app(message=msg, context=ctx))
        self.replies.extend(replies)
        return replies


def make_node_home(base: Path, org: str, offset: int) -> Path:
    from synthspace.node.federated.supernode import JoinConfig, save_join_config
    from synthspace.node.home import NodeHome

    home = NodeHome.init(base / org, org, "http://127.0.0.1:1", supernode_key=False)
    data = base / f"{org}.parquet"
    pd.DataFrame(qa_rows(org, offset)).to_parquet(data)
    save_join_config(home.path, JoinConfig(superlink="127.0.0.1:1", root_certificates="unused", data=[str(data)], torch_threads=1))
    return home.path


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fed-homes")
    return {org: make_node_home(base, org, 100 * i) for i, org in enumerate(("org-a", "org-b"))}


def coordinator_home(base: Path, database_url: str | None) -> Path:
    from synthspace.coordinator.home import init_home

    env_before = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    try:
        init_home(base, database_url=database_url, log_origin="test.federation/log")
    finally:
        if env_before is not None:
            os.environ["SYNTHSPACE_DATABASE_URL"] = env_before
    return base


def training(grid: Grid, coord: Path, tiny_model: Path, **cfg: Any) -> Any:
    from synthspace.coordinator.federated.run_store import RunStore
    from synthspace.coordinator.federated.server_app import FederatedTraining, ServerConfig

    rc: dict[str, Any] = {
        "coord-home": str(coord), "rounds": 2, "min-nodes": 2, "base-model": str(tiny_model),
        "local-steps": 3, "batch-size": 4, "lr": 1e-2, "max-seq-len": 32, "exact-match-examples": 1,
        "max-new-tokens": 3, "start-timeout": 2.0, "round-timeout": 30.0, "publish": False,
    }  # fmt: skip
    rc.update(cfg)
    config = ServerConfig.from_run_config(rc)
    store = RunStore.open(coord)
    run_id = uuid.uuid4().hex[:12]
    store.create_run(run_id, strategy=config.strategy_label(), rounds=config.rounds, min_nodes=config.min_nodes, config={})
    return FederatedTraining(grid=grid, cfg=config, run_id=run_id, store=store, run_dir=coord / "federation" / "runs" / run_id)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fedadam_runs_an_init_wave_records_rounds_and_publishes(
    backend: str, homes: dict[str, Path], tiny_model: Path, tmp_path: Path, pg: PgDatabases
) -> None:
    from synthspace.coordinator.federated.server_app import arrays_digest  # noqa: F401
    from synthspace.lineage import Statement

    coord = coordinator_home(tmp_path / "coord", pg.new() if backend == "postgres" else None)
    grid = InProcessGrid([FakeNode(11, "org-a", homes["org-a"]), FakeNode(22, "org-b", homes["org-b"])])
    job = training(grid, coord, tiny_model, strategy="fedadam", publish=True)
    try:
        job.run()
        run = job.store.get_run(job.run_id)
    finally:
        job.store.close()
    assert run["status"] == "completed", run["status_detail"]
    assert run["strategy"] == "FedAdam"
    kinds = [(r["kind"], r["round"]) for r in run["rounds"]]
    assert kinds == [("init", 0), ("train", 1), ("train", 2), ("evaluate", 2)]
    assert grid.sent[0].metadata.message_type == "query.init"
    digests = [r["adapter_sha256"] for r in run["rounds"] if r["kind"] != "evaluate"]
    assert len(set(digests)) == 3  # init, round 1, round 2 all differ
    assert run["participants"] == ["org-a", "org-b"]
    assert run["base_model_digest"].startswith("sha256:")
    assert run["artifact_id"] and run["log_index"] is not None
    statement = Statement.model_validate_json((job.run_dir / "statement.json").read_text())
    assert statement.predicate.training is not None
    assert statement.predicate.training.participants == ["org-a", "org-b"]
    assert set(statement.predicate.training.training_artifacts) == {"org-a", "org-b"}
    assert statement.predicate.parents == []  # the nodes' Parquet files are not catalog artifacts


def test_dp_clips_every_update_noises_the_aggregate_and_records_the_accounted_epsilon(
    homes: dict[str, Path], tiny_model: Path, tmp_path: Path
) -> None:
    """Server-side DP on the real ClientApp's updates: a small clipping norm bounds every update,
    the aggregate is the mean of the clipped updates plus Gaussian noise of stddev sigma*C/n, and
    the published lineage carries the accountant's (epsilon, delta) for the rounds run. The same
    run has org-a opt in to canaries: their exposure (and nothing of the canaries) is reported."""
    import numpy as np

    from synthspace.coordinator.federated.privacy import epsilon_for, update_norm
    from synthspace.lineage import Statement
    from synthspace.node.federated.supernode import load_join_config, save_join_config

    sigma, clip, delta = 0.8, 1e-3, 1e-5
    canary_home = make_node_home(tmp_path / "canary-node", "org-a", 0)
    save_join_config(canary_home, load_join_config(canary_home).model_copy(update={"canaries": 2, "canary_candidates": 64}))
    coord = coordinator_home(tmp_path / "coord", None)
    grid = InProcessGrid([FakeNode(11, "org-a", canary_home), FakeNode(22, "org-b", homes["org-b"])])
    dp = {"dp-noise-multiplier": sigma, "dp-clipping-norm": clip, "dp-delta": delta}
    job = training(grid, coord, tiny_model, evaluate="final", publish=True, **dp)
    try:
        job.run()
        run = job.store.get_run(job.run_id)
    finally:
        job.store.close()
    assert run["status"] == "completed", run["status_detail"]

    def packed(msg: Any) -> Any:
        return msg.content.array_records["arrays"]["adapter"].numpy().astype(np.float64)

    train_msgs = [m for m in grid.sent if m.metadata.message_type == "train"]
    train_replies = [r for r in grid.replies if r.metadata.message_type == "train"]
    assert len(train_msgs) == len(train_replies) == 4
    globals_ = [packed(train_msgs[0]), packed(train_msgs[2])]  # the global adapter sent in rounds 1 and 2
    final = job.run_dir / "adapter.safetensors"
    assert final.is_file()
    for rnd in (1, 2):
        r = run["rounds"][rnd]  # rounds[0] is the init wave
        assert r["kind"] == "train" and r["round"] == rnd
        # The recorded pre-clipping norms are real and far above C; after clipping they are <= C.
        assert r["metrics"]["dp-update-norm-max-before"] > 10 * clip
        assert r["metrics"]["dp-update-norm-max-after"] <= clip * (1 + 1e-5)
        # The replies the strategy aggregated were clipped in place: check them independently.
        current = globals_[rnd - 1]
        updates = [packed(m) - current for m in train_replies[2 * (rnd - 1) : 2 * rnd]]
        for u in updates:
            assert update_norm([u], []) <= clip * (1 + 1e-5)
        if rnd == 1:  # round 2's global adapter is round 1's noised aggregate
            residual = globals_[1] - current - np.mean(updates, axis=0)
            expected_std = sigma * clip / 2
            assert residual.size > 500
            assert np.std(residual) == pytest.approx(expected_std, rel=0.15)  # noise is there, at its scale
            assert abs(np.mean(residual)) < 4 * expected_std / np.sqrt(residual.size)
    statement = Statement.model_validate_json((job.run_dir / "statement.json").read_text())
    assert statement.predicate.training is not None and statement.predicate.training.privacy is not None
    privacy = statement.predicate.training.privacy.differential_privacy
    assert privacy is not None
    assert privacy.releases == 2 and privacy.delta == delta and privacy.noise_multiplier == sigma
    assert privacy.epsilon == pytest.approx(epsilon_for(sigma, 2, delta), rel=1e-12)
    assert privacy.update_norms["max_after_clipping"] <= clip * (1 + 1e-5) < privacy.update_norms["max_before_clipping"]
    assert run["final_metrics"]["privacy/epsilon"] == pytest.approx(privacy.epsilon)

    canaries = statement.predicate.training.privacy.canary_exposure
    assert list(canaries) == ["org-a"]  # only the org that opted in
    report = canaries["org-a"]
    assert report.canaries == 2 and report.candidates == 64 and len(report.exposure) == 2
    assert all(0.0 <= e <= 6.0 for e in report.exposure) and report.max_exposure == max(report.exposure)
    assert run["final_metrics"]["privacy/canary-exposure/org-a"] == report.max_exposure
    # The web catalog's adapter page shows the accounted epsilon and the canary exposure.
    import httpx

    from tests.federated.conftest import serve_coordinator

    server = serve_coordinator(coord)
    try:
        page = httpx.get(f"{server.url}/catalog/artifacts/{run['artifact_id']}", timeout=30).text
    finally:
        server.stop()
    row = page.split('id="training-privacy"', 1)[1].split("</tr>", 1)[0]
    assert f"ε = {privacy.epsilon:.3g}" in row and "δ = 1e-05" in row and "RDP" in row
    assert f"canary exposure (org-a): max {report.max_exposure:.2f} bits over 64 candidates" in row
    codes = json.loads((canary_home / "federation" / "canaries.json").read_text())["codes"]
    sent = repr([(dict(r.content.config_records), dict(r.content.metric_records)) for r in grid.replies])
    assert len(codes) == 2 and not any(code in sent for code in codes)  # the secrets stay on the node


def test_secagg_plus_aggregate_is_the_average_of_updates_no_reply_carries(
    homes: dict[str, Path], tiny_model: Path, tmp_path: Path
) -> None:
    """Flower's SecAgg+ over the real ClientApp: the replies carry masked vectors, never an org's
    adapter; the unmasked aggregate equals (to quantisation) the plain average of the adapters the
    same nodes train without it (training is deterministic); lineage names the protocol."""
    import numpy as np

    from synthspace.lineage import Statement

    nodes = [FakeNode(11, "org-a", homes["org-a"]), FakeNode(22, "org-b", homes["org-b"])]
    coord = coordinator_home(tmp_path / "coord", None)
    secure = InProcessGrid(nodes, client_app="secagg_app")
    # max-seq-len 160: long enough to reach past the chat template into each org's own records
    job = training(secure, coord, tiny_model, rounds=1, evaluate="final", publish=True, **{"secure-aggregation": True, "max-seq-len": 160})
    try:
        job.run()
        run = job.store.get_run(job.run_id)
    finally:
        job.store.close()
    assert run["status"] == "completed", run["status_detail"]
    assert run["strategy"] == "FedAvg+SecAgg+" and run["participants"] == ["org-a", "org-b"]
    assert run["final_metrics"]["privacy/secure-aggregation"] == 1.0
    statement = Statement.model_validate_json((job.run_dir / "statement.json").read_text())
    assert statement.predicate.training is not None and statement.predicate.training.privacy is not None
    assert "SecAgg+" in (statement.predicate.training.privacy.secure_aggregation or "")
    from safetensors.numpy import load_file

    tensors = load_file(str(job.run_dir / "adapter.safetensors"))
    aggregate = np.concatenate([tensors[name].ravel() for name, _ in job.adapter_layout])
    init = secure.replies[0].content.array_records["arrays"]["adapter"].numpy()

    # The same round without secure aggregation, from the same initial adapter: the adapters each
    # org trains (and would have sent in the clear).
    plain = InProcessGrid(nodes)
    from flwr.app import Array, ArrayRecord, ConfigRecord

    cfg = ConfigRecord({**job.cfg.node, "server-round": 1})
    msgs = [Message(RecordDict({"arrays": ArrayRecord({"adapter": Array(init)}), "config": cfg}), dst_node_id=n.node_id, message_type="train") for n in nodes]
    adapters = [r.content.array_records["arrays"]["adapter"].numpy() for r in plain.send_and_receive(msgs)]
    spread = np.abs(adapters[0] - adapters[1])
    assert spread.max() > 1e-3  # the orgs' updates differ
    assert np.max(np.abs(aggregate - np.mean(adapters, axis=0))) < 1e-4  # quantisation: 16 / 2^22 per value
    assert min(np.max(np.abs(aggregate - a)) for a in adapters) > 1e-3  # and it is neither org's adapter
    # No reply of the secure run holds either org's adapter: the mod empties the arrays and sends
    # only masked integer vectors; no run of 16 trained values of either adapter is in any reply.
    train_replies = [r for r in secure.replies if r.metadata.message_type == "train"]
    assert len(train_replies) == 8  # 4 SecAgg+ stages x 2 nodes
    i = int(np.argmax(spread))
    window = slice(max(0, i - 8), max(0, i - 8) + 16)
    chunks = [a[window].astype(np.float32).tobytes() for a in adapters]
    for reply in train_replies:
        assert all(len(record) == 0 for record in reply.content.array_records.values())
        blob = b"".join(
            v if isinstance(v, bytes) else b"".join(x for x in v if isinstance(x, bytes)) if isinstance(v, list) else repr(v).encode()
            for record in reply.content.config_records.values()
            for v in record.values()
        )
        assert all(chunk not in blob for chunk in chunks)


def test_dp_with_fedadam_is_refused_because_its_release_is_not_accountable() -> None:
    from synthspace.coordinator.federated.server_app import FederationAborted, ServerConfig

    with pytest.raises(FederationAborted, match="FedAdam rescales"):
        ServerConfig.from_run_config({"coord-home": "/x", "strategy": "fedadam", "dp-noise-multiplier": 1.0})


def test_replies_carry_only_adapter_tensors_metrics_and_digests(homes: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    """What a node sends back holds no record text, no key material and no file paths."""
    from synthspace.node.home import NodeHome

    coord = coordinator_home(tmp_path / "coord", None)
    grid = InProcessGrid([FakeNode(11, "org-a", homes["org-a"]), FakeNode(22, "org-b", homes["org-b"])])
    job = training(grid, coord, tiny_model, rounds=1)
    try:
        job.run()
    finally:
        job.store.close()
    secrets: list[bytes] = []
    for org, home in homes.items():
        node = NodeHome(home)
        secrets += [p.read_bytes() for p in node.secret_files()]
        secrets.append(str(home).encode())
        for row in qa_rows(org, 0 if org == "org-a" else 100):
            secrets += [row["question"].encode(), row["answer"].encode()]
    assert grid.replies
    for reply in grid.replies:
        content = reply.content
        assert set(content.keys()) <= {"arrays", "metrics", "declared"}
        for name, arrays in content.array_records.items():
            assert name == "arrays" and list(arrays.keys()) == ["adapter"]  # one packed LoRA vector
        layout = json.loads(str(content.config_records["declared"].get("adapter-layout", "[]")))
        if content.array_records:
            assert layout and all(".lora_A." in n or ".lora_B." in n for n, _ in layout)
        text = repr(dict(content.config_records)).encode() + repr(dict(content.metric_records)).encode()
        for secret in secrets:
            assert secret not in text
        blob = b"".join(a.numpy().tobytes() for r in content.array_records.values() for a in r.values())
        assert all(secret not in blob for secret in secrets if len(secret) > 16)


def test_a_node_claiming_another_org_is_not_aggregated(homes: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    from synthspace.coordinator.federated.server_app import FederationAborted

    coord = coordinator_home(tmp_path / "coord", None)
    # Node 22's key is registered to "org-c", but its home says org-b.
    grid = InProcessGrid([FakeNode(11, "org-a", homes["org-a"]), FakeNode(22, "org-c", homes["org-b"])])
    job = training(grid, coord, tiny_model, rounds=1, evaluate="none")
    try:
        with pytest.raises(FederationAborted, match="declares org 'org-b'"):
            job.run()
        run = job.store.get_run(job.run_id)
    finally:
        job.store.close()
    assert run["rounds"][0]["replies"] == 1 and run["rounds"][0]["failures"] == 1


def test_an_error_reply_below_min_nodes_aborts_but_above_it_the_run_goes_on(
    homes: dict[str, Path], tiny_model: Path, tmp_path: Path
) -> None:
    from synthspace.coordinator.federated.server_app import FederationAborted

    coord = coordinator_home(tmp_path / "coord", None)
    nodes = [FakeNode(11, "org-a", homes["org-a"]), FakeNode(22, "org-b", homes["org-b"], fail=True)]
    job = training(InProcessGrid(nodes), coord, tiny_model, rounds=1, evaluate="none")
    try:
        with pytest.raises(FederationAborted, match=r"round 1: 1 of 2 nodes .*minimum 2.*org-b: node went away"):
            job.run()
    finally:
        job.store.close()
    job = training(InProcessGrid(nodes), coord, tiny_model, rounds=1, evaluate="none", **{"min-nodes": 1})
    try:
        job.run()
        run = job.store.get_run(job.run_id)
    finally:
        job.store.close()
    assert run["status"] == "completed" and run["participants"] == ["org-a"]
    assert run["rounds"][0]["errors"] == ["org-b: node went away"]


def test_too_few_nodes_online_fails_after_the_start_timeout(homes: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    from synthspace.coordinator.federated.server_app import FederationAborted

    coord = coordinator_home(tmp_path / "coord", None)
    job = training(InProcessGrid([FakeNode(11, "org-a", homes["org-a"])]), coord, tiny_model, **{"start-timeout": 1.0})
    try:
        with pytest.raises(FederationAborted, match="only 1 of the minimum 2 SuperNodes were online"):
            job.run()
    finally:
        job.store.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("strategy", "fedsgd", "unknown strategy"),
        ("rounds", 0, "rounds and min-nodes"),
        ("evaluate", "sometimes", "evaluate must be"),
    ],
)
def test_bad_run_config_is_refused_with_a_named_reason(key: str, value: Any, message: str) -> None:
    from synthspace.coordinator.federated.server_app import FederationAborted, ServerConfig

    with pytest.raises(FederationAborted, match=message):
        ServerConfig.from_run_config({"coord-home": "/x", key: value})
    with pytest.raises(FederationAborted, match="coord-home"):
        ServerConfig.from_run_config({})
