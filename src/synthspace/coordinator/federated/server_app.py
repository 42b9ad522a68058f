"""The Flower ServerApp: FedAvg (or FedProx / FedAdam, optionally with DP clipping) over LoRA adapters.

Runs in a `flwr-serverapp` process the SuperLink starts for each `flwr run`. The round loop is
ours (Flower's `Strategy.start` waits forever for nodes); the strategy still configures and
aggregates, so every Flower strategy and DP wrapper works unchanged. Rules:

- before each round, wait at most `start-timeout` (first round) or `round-timeout` for
  `min-nodes` online SuperNodes, else the run fails with a status that says so;
- each round waits at most `round-timeout` for replies; fewer than `min-nodes` valid updates
  ends the run as failed (no half-trained adapter is published);
- a reply counts only if its declared org equals the org the coordinator registered for that
  SuperNode key and its base model digest equals the run's.

Every round's metrics, per-org metrics, bytes and timings go to the coordinator database. At the
end the adapter is saved as safetensors and published to the catalog as a signed artifact.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.server_config import ServerConfig as LegacyServerConfig
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid, ServerApp
from safetensors.numpy import save_file

from synthspace.canonical_json import file_sha256
from synthspace.coordinator.federated.adapter_publish import publish_adapter
from synthspace.coordinator.federated.privacy import PrivacyLedger, update_norm
from synthspace.coordinator.federated.rounds import (  # the round pieces; several are public API here
    SECAGG_LABEL as SECAGG_LABEL,
)
from synthspace.coordinator.federated.rounds import (
    RoundOutcome as RoundOutcome,
)
from synthspace.coordinator.federated.rounds import (
    _declared as _declared,
)
from synthspace.coordinator.federated.rounds import (
    _log as _log,
)
from synthspace.coordinator.federated.rounds import (
    _metric_dict as _metric_dict,
)
from synthspace.coordinator.federated.rounds import (
    arrays_digest as arrays_digest,
)
from synthspace.coordinator.federated.rounds import (
    check_replies as check_replies,
)
from synthspace.coordinator.federated.rounds import (
    make_strategy as make_strategy,
)
from synthspace.coordinator.federated.rounds import (
    parse_canary_exposure as parse_canary_exposure,
)
from synthspace.coordinator.federated.rounds import (
    unpack_tensors as unpack_tensors,
)
from synthspace.coordinator.federated.rounds import (
    wait_for_nodes as wait_for_nodes,
)
from synthspace.coordinator.federated.run_store import RunStore
from synthspace.coordinator.federated.server_config import (
    STRATEGIES as STRATEGIES,
)
from synthspace.coordinator.federated.server_config import (
    FederationAborted as FederationAborted,
)
from synthspace.coordinator.federated.server_config import (
    ServerConfig as ServerConfig,
)
from synthspace.lineage import CanaryExposure, Training, TrainingPrivacy

app = ServerApp()

@dataclass
class FederatedTraining:
    """One run of the round loop against a Grid (testable without a SuperLink via a fake Grid)."""

    grid: Grid
    cfg: ServerConfig
    run_id: str
    store: Any  # RunStore
    run_dir: Path
    base_model: str | None = None
    base_digest: str | None = None
    adapter_config: dict[str, Any] = field(default_factory=dict)
    adapter_layout: list[tuple[str, list[int]]] = field(default_factory=list)
    participants: set[str] = field(default_factory=set)
    training_artifacts: dict[str, set[str]] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ledger: Any = None  # privacy.PrivacyLedger when DP is on
    canary_exposure: dict[str, Any] = field(default_factory=dict)  # org -> CanaryExposure dict (last evaluation)

    def __post_init__(self) -> None:
        if self.cfg.dp_noise_multiplier > 0:
            self.ledger = PrivacyLedger(self.cfg.dp_noise_multiplier, self.cfg.dp_clipping_norm, self.cfg.dp_delta)

    def _node_config(self) -> ConfigRecord:
        return ConfigRecord(dict(self.cfg.node))

    def initial_adapter(self, orgs: dict[int, str]) -> ArrayRecord:
        """Ask one node for the seeded initial adapter (the coordinator never loads the model)."""
        t0 = time.perf_counter()
        node_id = sorted(orgs)[0]
        msg = Message(
            RecordDict({"config": self._node_config()}), dst_node_id=node_id, message_type=f"{MessageType.QUERY}.init"
        )
        replies = list(self.grid.send_and_receive([msg], timeout=self.cfg.round_timeout))
        if not replies or replies[0].has_error():
            why = replies[0].error.reason if replies else f"no reply within {self.cfg.round_timeout:.0f} s"
            raise FederationAborted(f"{orgs[node_id]} could not build the initial adapter: {why}")
        reply = replies[0]
        declared = _declared(reply)
        self.base_model = str(declared.get("base-model-id", ""))
        self.base_digest = str(declared.get("base-model-digest", ""))
        self.adapter_config = json.loads(str(declared.get("adapter-config", "{}")))
        self.adapter_layout = json.loads(str(declared.get("adapter-layout", "[]")))
        arrays = reply.content.array_records["arrays"]
        self.store.update_run(self.run_id, base_model=self.base_model, base_model_digest=self.base_digest)
        self.store.record_round(
            self.run_id, 0, "init",
            finished_at=datetime.now(UTC), wall_seconds=time.perf_counter() - t0, replies=1,
            bytes_received=arrays.count_bytes(), adapter_sha256=arrays_digest(arrays),
            metrics={"adapter-tensors": len(self.adapter_layout), "adapter-bytes": arrays.count_bytes()},
        )  # fmt: skip
        _log(f"initial adapter from {orgs[node_id]}: {len(self.adapter_layout)} tensors, {arrays.count_bytes()} bytes, base {self.base_model}")
        return arrays

    def train_round(self, strategy: Any, rnd: int, arrays: ArrayRecord) -> ArrayRecord:
        timeout = self.cfg.start_timeout if rnd == 1 else self.cfg.round_timeout
        orgs = wait_for_nodes(self.grid, self.cfg.min_nodes, timeout)
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        messages = list(strategy.configure_train(rnd, arrays, self._node_config(), self.grid))
        sent = arrays.count_bytes() * len(messages) if len(arrays) else 0
        replies = list(self.grid.send_and_receive(messages, timeout=self.cfg.round_timeout))
        t_replies = time.perf_counter()
        outcome = check_replies(replies, orgs, self.base_digest, "train")
        missing = len(messages) - len(replies)
        if missing > 0:
            outcome.errors.append(f"{missing} node(s) sent no reply within {self.cfg.round_timeout:.0f} s")
        if len(outcome.valid) < self.cfg.min_nodes:
            self.store.record_round(
                self.run_id, rnd, "train", started_at=started, finished_at=datetime.now(UTC),
                wall_seconds=t_replies - t0, replies=len(outcome.valid), failures=len(messages) - len(outcome.valid),
                bytes_sent=sent, bytes_received=outcome.bytes_received, per_org=outcome.per_org, errors=outcome.errors,
            )  # fmt: skip
            raise FederationAborted(
                f"round {rnd}: {len(outcome.valid)} of {len(messages)} nodes returned a valid update "
                f"within {self.cfg.round_timeout:.0f} s (minimum {self.cfg.min_nodes}): {'; '.join(outcome.errors)}"
            )
        if self.base_digest is None:  # no init wave: the round-1 replies name the base model
            bases = {(e["base_model"], e["base_model_digest"]) for e in outcome.per_org.values()}
            if len(bases) != 1:
                raise FederationAborted(f"round {rnd}: nodes trained different base models: {sorted(bases)}")
            (self.base_model, self.base_digest), = bases
            first = next(iter(outcome.per_org.values()))
            self.adapter_config = json.loads(first["adapter_config"])
            self.adapter_layout = json.loads(first["adapter_layout"])
            self.store.update_run(self.run_id, base_model=self.base_model, base_model_digest=self.base_digest)
        dp_metrics: dict[str, float] = {}
        if self.ledger is not None:
            current = arrays.to_numpy_ndarrays()
            shapes = [a.shape for a in current]

            def updates() -> list[list[Any]]:
                out = [next(iter(m.content.array_records.values())).to_numpy_ndarrays() for m in outcome.valid]
                for org, nd in zip(outcome.per_org, out, strict=True):
                    if [a.shape for a in nd] != shapes:
                        raise FederationAborted(f"round {rnd}: {org} sent an adapter of another shape than the global one")
                return out

            before = [update_norm(u, current) for u in updates()]
            strategy.num_sampled_clients = len(outcome.valid)  # noise stddev = sigma * clip / n aggregated
        new_arrays, agg = strategy.aggregate_train(rnd, outcome.valid)
        if new_arrays is None:
            raise FederationAborted(f"round {rnd}: the strategy produced no aggregate")
        if self.ledger is not None:
            after = [update_norm(u, current) for u in updates()]  # the wrapper clipped the replies in place
            self.ledger.record_round(before, after)
            dp_metrics = {
                "dp-update-norm-max-before": max(before), "dp-update-norm-max-after": max(after),
                "dp-noise-stddev": self.cfg.dp_noise_multiplier * self.cfg.dp_clipping_norm / len(outcome.valid),
                "dp-epsilon": self.ledger.epsilon, "dp-delta": self.cfg.dp_delta,
            }  # fmt: skip
        t_agg = time.perf_counter()
        for org, entry in outcome.per_org.items():
            self.participants.add(org)
            self.training_artifacts.setdefault(org, set()).update(entry["training_digests"])
        digest = arrays_digest(new_arrays)
        metrics = {**_metric_dict(agg), **dp_metrics}
        self.store.record_round(
            self.run_id, rnd, "train", started_at=started, finished_at=datetime.now(UTC),
            wall_seconds=t_agg - t0, train_seconds=outcome.train_seconds, aggregate_seconds=t_agg - t_replies,
            replies=len(outcome.valid), failures=len(messages) - len(outcome.valid), bytes_sent=sent,
            bytes_received=outcome.bytes_received, metrics=metrics, per_org=outcome.per_org,
            errors=outcome.errors, adapter_sha256=digest,
        )  # fmt: skip
        self.store.update_run(
            self.run_id, rounds_completed=rnd, status="running", participants=sorted(self.participants),
            training_artifacts={k: sorted(v) for k, v in self.training_artifacts.items()},
        )  # fmt: skip
        _log(
            f"round {rnd}/{self.cfg.rounds}: {len(outcome.valid)} updates, train-loss "
            f"{metrics.get('train-loss', float('nan')):.4f}, loss-before {metrics.get('loss-before', float('nan')):.4f}, "
            f"{t_agg - t0:.1f} s"
        )
        return new_arrays

    def secagg_train_round(self, rnd: int, arrays: ArrayRecord) -> ArrayRecord:
        """One round under Flower's SecAgg+ (legacy workflow API): the coordinator learns only the
        average of the nodes' adapters. A reply that fails a check aborts the round, because a
        masked update cannot be taken out of the sum afterwards."""
        timeout = self.cfg.start_timeout if rnd == 1 else self.cfg.round_timeout
        orgs = wait_for_nodes(self.grid, self.cfg.min_nodes, timeout)
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        job = self
        checked: dict[str, Any] = {}

        class CheckedFedAvg(LegacyFedAvg):  # type: ignore[misc]
            def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> Any:
                errors = [f"{orgs.get(int(p.node_id), p.cid)}: {r.status.message}" for p, r in results if r.status.code.value]
                errors += [f"failure: {f if isinstance(f, BaseException) else f[1].status.message}" for f in failures]
                per_org: dict[str, Any] = {}
                for proxy, res in results:
                    org = orgs.get(int(proxy.node_id), f"node-{proxy.node_id}")
                    meta = {k: v for k, v in res.metrics.items()}
                    claimed = str(meta.get("declared/org", ""))
                    digest = str(meta.get("declared/base-model-digest", ""))
                    if claimed != org:
                        errors.append(f"{org}: reply declares org {claimed!r}, not the org registered for its SuperNode key")
                    elif job.base_digest is not None and digest != job.base_digest:
                        errors.append(f"{org}: trained on base model {digest}, the run uses {job.base_digest}")
                    per_org[org] = {
                        "node_id": str(proxy.node_id),
                        "metrics": {k: float(v) for k, v in meta.items() if not k.startswith("declared/")},
                        "training_digests": [d for d in str(meta.get("declared/training-digests", "")).split(",") if d],
                        "training_artifact_ids": [d for d in str(meta.get("declared/training-artifact-ids", "")).split(",") if d],
                    }
                checked.update(per_org=per_org, errors=errors, replies=len(results))
                if errors or len(results) < job.cfg.min_nodes:
                    raise FederationAborted(
                        f"round {server_round}: secure aggregation over {len(results)} masked updates "
                        f"(minimum {job.cfg.min_nodes}) cannot drop a bad one: {'; '.join(errors) or 'too few updates'}"
                    )
                return super().aggregate_fit(server_round, results, failures)

        node_cfg = dict(self.cfg.node)
        strategy = CheckedFedAvg(
            fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=self.cfg.min_nodes,
            min_evaluate_clients=0, min_available_clients=self.cfg.min_nodes, accept_failures=False,
            on_fit_config_fn=lambda r: {**node_cfg, "server-round": r},
        )  # fmt: skip
        manager = SimpleClientManager()
        run_id = int(self.run_id) if self.run_id.isdigit() else 0
        for node_id in sorted(orgs):
            manager.register(GridClientProxy(node_id=node_id, grid=self.grid, run_id=run_id))
        base = Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config={})
        legacy = LegacyContext(base, config=LegacyServerConfig(num_rounds=self.cfg.rounds), strategy=strategy, client_manager=manager)
        legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: rnd})
        params = ndarrays_to_parameters([a.numpy() for a in arrays.values()])
        legacy.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(params, keep_input=True)
        # max_weight 1: every node sends weight 1, so values are quantised at full resolution (16 / 2^22)
        workflow = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=1.0, max_weight=1.0, timeout=self.cfg.round_timeout)
        workflow(self.grid, legacy)
        t_agg = time.perf_counter()
        if "per_org" not in checked:
            self.store.record_round(
                self.run_id, rnd, "train", started_at=started, finished_at=datetime.now(UTC), wall_seconds=t_agg - t0,
                replies=0, failures=len(orgs), errors=["secure aggregation halted before unmasking"],
            )  # fmt: skip
            raise FederationAborted(
                f"round {rnd}: secure aggregation halted before unmasking (a node failed or did not answer one of the "
                f"SecAgg+ stages within {self.cfg.round_timeout:.0f} s; see the SuperLink log)"
            )
        aggregate = parameters_to_ndarrays(compat.arrayrecord_to_parameters(legacy.state.array_records[MAIN_PARAMS_RECORD], keep_input=True))
        new_arrays = ArrayRecord({"adapter": Array(aggregate[0].astype(arrays[next(iter(arrays.keys()))].numpy().dtype))})
        per_org = checked["per_org"]
        for org, entry in per_org.items():
            self.participants.add(org)
            self.training_artifacts.setdefault(org, set()).update(entry["training_digests"])
        names = sorted({k for e in per_org.values() for k in e["metrics"]})
        metrics = {k: sum(e["metrics"].get(k, 0.0) for e in per_org.values()) / len(per_org) for k in names}
        self.store.record_round(
            self.run_id, rnd, "train", started_at=started, finished_at=datetime.now(UTC), wall_seconds=t_agg - t0,
            train_seconds=max((e["metrics"].get("train-seconds", 0.0) for e in per_org.values()), default=0.0),
            replies=checked["replies"], bytes_sent=arrays.count_bytes() * len(orgs), metrics=metrics, per_org=per_org,
            adapter_sha256=arrays_digest(new_arrays),
        )  # fmt: skip
        self.store.update_run(
            self.run_id, rounds_completed=rnd, status="running", participants=sorted(self.participants),
            training_artifacts={k: sorted(v) for k, v in self.training_artifacts.items()},
        )  # fmt: skip
        _log(f"round {rnd}/{self.cfg.rounds} (SecAgg+): {checked['replies']} masked updates, train-loss {metrics.get('train-loss', float('nan')):.4f}")
        return new_arrays

    def evaluate_round(self, strategy: Any, rnd: int, arrays: ArrayRecord) -> dict[str, float]:
        orgs = wait_for_nodes(self.grid, self.cfg.min_nodes, self.cfg.round_timeout)
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        messages = list(strategy.configure_evaluate(rnd, arrays, self._node_config(), self.grid))
        replies = list(self.grid.send_and_receive(messages, timeout=self.cfg.round_timeout))
        outcome = check_replies(replies, orgs, self.base_digest, "evaluate")
        self.canary_exposure = {o: e["canary_exposure"] for o, e in outcome.per_org.items() if "canary_exposure" in e}
        agg = strategy.aggregate_evaluate(rnd, outcome.valid) if outcome.valid else None
        metrics = _metric_dict(agg)
        self.store.record_round(
            self.run_id, rnd, "evaluate", started_at=started, finished_at=datetime.now(UTC),
            wall_seconds=time.perf_counter() - t0, replies=len(outcome.valid),
            failures=len(messages) - len(outcome.valid), bytes_sent=arrays.count_bytes() * len(messages),
            metrics=metrics, per_org=outcome.per_org, errors=outcome.errors,
        )  # fmt: skip
        if len(outcome.valid) < self.cfg.min_nodes:
            raise FederationAborted(
                f"evaluation after round {rnd}: {len(outcome.valid)} of {len(messages)} nodes replied "
                f"(minimum {self.cfg.min_nodes}): {'; '.join(outcome.errors)}"
            )
        _log(f"evaluation after round {rnd}: eval-loss {metrics.get('eval-loss', float('nan')):.4f}")
        return metrics

    def save_adapter(self, arrays: ArrayRecord) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "adapter.safetensors"
        tensors = unpack_tensors(arrays, self.adapter_layout)
        save_file(tensors, str(path), metadata={"format": "pt", "run_id": self.run_id})
        (self.run_dir / "adapter_config.json").write_text(
            json.dumps(self.adapter_config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        return path

    def run(self) -> None:
        cfg = self.cfg
        strategy = make_strategy(cfg)
        orgs = wait_for_nodes(self.grid, cfg.min_nodes, cfg.start_timeout)
        self.store.update_run(self.run_id, status="running", status_detail=f"{len(orgs)} nodes online")
        arrays = self.initial_adapter(orgs) if cfg.needs_initial_arrays else ArrayRecord()
        final_eval: dict[str, float] = {}
        last_train: dict[str, float] = {}
        for rnd in range(1, cfg.rounds + 1):
            if cfg.secure_aggregation:
                arrays = self.secagg_train_round(rnd, arrays)
            else:
                arrays = self.train_round(strategy, rnd, arrays)
            last_train = self.store.get_run(self.run_id)["rounds"][-1]["metrics"]
            if cfg.evaluate == "every" or (cfg.evaluate == "final" and rnd == cfg.rounds):
                final_eval = self.evaluate_round(strategy, rnd, arrays)
        path = self.save_adapter(arrays)
        size = path.stat().st_size

        final_metrics = {
            **{f"train/{k}": v for k, v in last_train.items() if not k.startswith("dp-")},
            **{f"eval/{k}": v for k, v in final_eval.items()},
            **self.privacy_metrics(),
        }
        self.store.update_run(
            self.run_id, adapter_sha256=file_sha256(path), adapter_bytes=size, final_metrics=final_metrics
        )
        detail = f"{cfg.rounds} rounds with {', '.join(sorted(self.participants))}; adapter {path}"
        if cfg.publish:
            receipt = self.publish(final_metrics)
            detail += f"; published as {receipt['artifact_id']} (log index {receipt['log_index']})"
            self.store.update_run(self.run_id, artifact_id=receipt["artifact_id"], log_index=receipt["log_index"])
        self.store.update_run(self.run_id, status="completed", status_detail=detail)
        _log(f"completed: {detail}")

    def privacy(self) -> Any:
        """The run's TrainingPrivacy for the lineage (None when nothing privacy-related ran)."""
        if self.ledger is None and not self.canary_exposure and not self.cfg.secure_aggregation:
            return None
        return TrainingPrivacy(
            differential_privacy=self.ledger.lineage() if self.ledger is not None else None,
            secure_aggregation=SECAGG_LABEL if self.cfg.secure_aggregation else None,
            canary_exposure={org: CanaryExposure.model_validate(v) for org, v in sorted(self.canary_exposure.items())},
        )

    def privacy_metrics(self) -> dict[str, float]:
        """Flat `privacy/...` entries for the run record (shown by `federate status` and the web)."""
        out = {f"privacy/canary-exposure/{org}": float(v["max_exposure"]) for org, v in self.canary_exposure.items()}
        if self.cfg.secure_aggregation:
            out["privacy/secure-aggregation"] = 1.0
        if self.ledger is None:
            return out
        dp = self.ledger.lineage()
        return {
            "privacy/epsilon": dp.epsilon, "privacy/delta": dp.delta, "privacy/noise-multiplier": dp.noise_multiplier,
            "privacy/clipping-norm": dp.clipping_norm, "privacy/releases": float(dp.releases),
            **{f"privacy/{k.replace('_', '-')}": v for k, v in dp.update_norms.items()}, **out,
        }  # fmt: skip

    def publish(self, final_metrics: dict[str, float]) -> dict[str, Any]:
        training = Training(
            strategy=self.cfg.strategy_label(),
            base_model=self.base_model or "unknown",
            base_model_digest=self.base_digest,
            rounds=self.cfg.rounds,
            participants=sorted(self.participants),
            training_artifacts={k: sorted(v) for k, v in self.training_artifacts.items()},
            metrics={**{k: v for k, v in final_metrics.items() if not k.startswith("privacy/")}, "lora": self.adapter_config},
            privacy=self.privacy(),
        )
        title = self.cfg.title or f"Federated LoRA adapter ({len(self.participants)} orgs, {self.cfg.rounds} rounds)"
        description = self.cfg.description or (
            f"LoRA adapter for {self.base_model} trained with Flower {self.cfg.strategy_label()} over "
            f"{self.cfg.rounds} rounds by {', '.join(sorted(self.participants))} on their synthetic data "
            f"(Flower run {self.run_id})."
        )
        return publish_adapter(
            self.cfg.coord_home, self.run_dir, training=training, title=title[:200], description=description,
            license=self.cfg.license, started=self.started, finished=datetime.now(UTC),
        )  # fmt: skip


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point Flower calls in the flwr-serverapp process."""
    cfg = ServerConfig.from_run_config(dict(context.run_config))
    run_id = str(context.run_id)
    store = RunStore.open(cfg.coord_home)
    try:
        store.create_run(
            run_id, strategy=cfg.strategy_label(), rounds=cfg.rounds, min_nodes=cfg.min_nodes,
            config={k: v for k, v in dict(context.run_config).items() if k != "coord-home"},
        )  # fmt: skip
        run_dir = Path(cfg.coord_home) / "federation" / "runs" / run_id
        job = FederatedTraining(grid=grid, cfg=cfg, run_id=run_id, store=store, run_dir=run_dir)
        try:
            job.run()
        except FederationAborted as exc:
            store.update_run(run_id, status="failed", status_detail=str(exc))
            _log(f"failed: {exc}")
            raise
        except Exception as exc:
            store.update_run(run_id, status="failed", status_detail=f"{type(exc).__name__}: {exc}")
            _log(f"failed: {type(exc).__name__}: {exc}")
            raise
    finally:
        store.close()
