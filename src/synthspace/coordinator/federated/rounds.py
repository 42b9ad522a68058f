"""Round-level pieces of the ServerApp: the run config, the strategy, waiting for nodes, and the
checks every reply must pass (declared org, base model digest, adapter layout, canary reports)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid

from synthspace.coordinator.federated.run_defaults import RUN_DEFAULTS
from synthspace.errors import SynthspaceError
from synthspace.flower_apps import CANARY_EXPOSURE_KEY

STRATEGIES = ("fedavg", "fedprox", "fedadam")
NODE_CONFIG_KEYS = (
    "base-model", "lora-rank", "lora-alpha", "lora-targets", "lora-seed", "local-steps",
    "batch-size", "lr", "max-seq-len", "seed", "exact-match-examples", "max-new-tokens",
)  # fmt: skip


SECAGG_LABEL = (
    "SecAgg+ (Flower 1.41 SecAggPlusWorkflow + secaggplus_mod): the coordinator unmasks only the "
    "equal-weight average of the nodes' adapters; all sampled nodes must complete each round"
)


class FederationAborted(SynthspaceError):
    """The run stopped before completing: too few nodes, a timeout, or an inconsistent reply."""


@dataclass
class ServerConfig:
    """The run config the ServerApp reads (keys of [tool.flwr.app.config])."""

    coord_home: str
    rounds: int = RUN_DEFAULTS["rounds"]
    min_nodes: int = RUN_DEFAULTS["min_nodes"]
    strategy: str = RUN_DEFAULTS["strategy"]
    proximal_mu: float = RUN_DEFAULTS["proximal_mu"]
    fedadam_eta: float = RUN_DEFAULTS["fedadam_eta"]
    fedadam_eta_l: float = RUN_DEFAULTS["fedadam_eta_l"]
    dp_noise_multiplier: float = RUN_DEFAULTS["dp_noise_multiplier"]
    dp_clipping_norm: float = RUN_DEFAULTS["dp_clipping_norm"]
    dp_delta: float = RUN_DEFAULTS["dp_delta"]
    secure_aggregation: bool = RUN_DEFAULTS["secure_aggregation"]
    round_timeout: float = RUN_DEFAULTS["round_timeout"]
    start_timeout: float = RUN_DEFAULTS["start_timeout"]
    evaluate: str = RUN_DEFAULTS["evaluate"]
    publish: bool = RUN_DEFAULTS["publish"]
    title: str = RUN_DEFAULTS["title"]
    description: str = RUN_DEFAULTS["description"]
    license: str = RUN_DEFAULTS["license"]
    node: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_config(cls, rc: dict[str, Any]) -> ServerConfig:
        home = rc.get("coord-home")
        if not isinstance(home, str) or not home:
            raise FederationAborted("run config coord-home is missing: start runs with `synthspace federate run`")
        def get(name: str) -> Any:  # the run config spells keys with '-'; defaults from RUN_DEFAULTS
            value = rc.get(name.replace("_", "-"), RUN_DEFAULTS[name])
            return type(RUN_DEFAULTS[name])(value)

        cfg = cls(
            coord_home=home,
            **{name: get(name) for name in RUN_DEFAULTS},
            node={k: rc[k] for k in NODE_CONFIG_KEYS if k in rc},
        )
        cfg.strategy = cfg.strategy.lower()
        if cfg.strategy not in STRATEGIES:
            raise FederationAborted(f"unknown strategy {cfg.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if cfg.rounds < 1 or cfg.min_nodes < 1:
            raise FederationAborted("rounds and min-nodes must be >= 1")
        if cfg.evaluate not in ("final", "every", "none"):
            raise FederationAborted(f"evaluate must be final, every or none, got {cfg.evaluate!r}")
        if cfg.dp_noise_multiplier < 0 or cfg.dp_clipping_norm <= 0 or not 0 < cfg.dp_delta < 1:
            raise FederationAborted("dp-noise-multiplier must be >= 0, dp-clipping-norm > 0 and dp-delta in (0, 1)")
        if cfg.dp_noise_multiplier > 0 and cfg.strategy == "fedadam":
            raise FederationAborted(
                "DP accounting needs the noised release to be an equal-weight average of clipped updates; "
                "FedAdam rescales it after the noise: use --strategy fedavg or fedprox with --dp-noise"
            )
        if cfg.secure_aggregation:
            if cfg.dp_noise_multiplier > 0:
                raise FederationAborted(
                    "secure aggregation with DP is not supported: the coordinator could no longer clip each "
                    "org's update (client-side clipping is not wired in); choose one"
                )
            if cfg.strategy != "fedavg":
                raise FederationAborted("secure aggregation averages the masked updates: use --strategy fedavg")
            if cfg.min_nodes < 2:
                raise FederationAborted("secure aggregation needs --min-nodes >= 2 (a sum of one update is that update)")
        return cfg

    @property
    def needs_initial_arrays(self) -> bool:
        """FedAdam, DP clipping and SecAgg+ work from a server-held model; FedAvg/FedProx do not,
        so their nodes build the seeded initial adapter themselves (saves one message wave)."""
        return self.strategy == "fedadam" or self.dp_noise_multiplier > 0 or self.secure_aggregation

    def strategy_label(self) -> str:
        name = {"fedavg": "FedAvg", "fedprox": "FedProx", "fedadam": "FedAdam"}[self.strategy]
        if self.secure_aggregation:
            name += "+SecAgg+"
        if self.dp_noise_multiplier > 0:
            name += f"+DPServerSideFixedClipping(noise={self.dp_noise_multiplier},clip={self.dp_clipping_norm})"
        return name


def make_strategy(cfg: ServerConfig) -> Any:
    """The Flower strategy for `cfg`, wrapped in server-side DP clipping when asked for."""
    from flwr.serverapp import strategy as st

    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": cfg.min_nodes,
        "min_evaluate_nodes": cfg.min_nodes,
        "min_available_nodes": cfg.min_nodes,
    }
    if cfg.dp_noise_multiplier > 0:
        from synthspace.coordinator.federated.privacy import DP_WEIGHT_KEY

        common["weighted_by_key"] = DP_WEIGHT_KEY  # equal weights: each org's sensitivity is clip/n
    strategy: Any
    if cfg.strategy == "fedprox":
        strategy = st.FedProx(proximal_mu=cfg.proximal_mu, **common)
    elif cfg.strategy == "fedadam":
        strategy = st.FedAdam(eta=cfg.fedadam_eta, eta_l=cfg.fedadam_eta_l, **common)
    else:
        strategy = st.FedAvg(**common)
    if cfg.dp_noise_multiplier > 0:
        strategy = st.DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=cfg.dp_noise_multiplier,
            clipping_norm=cfg.dp_clipping_norm,
            num_sampled_clients=cfg.min_nodes,
        )
    return strategy


def arrays_digest(arrays: ArrayRecord) -> str:
    """sha256 over the adapter's tensor names, dtypes, shapes and bytes (order-independent)."""
    h = hashlib.sha256()
    for name in sorted(arrays.keys()):
        a = arrays[name]
        h.update(f"{name}|{a.dtype}|{list(a.shape)}\n".encode())
        h.update(a.numpy().tobytes())
    return h.hexdigest()


def unpack_tensors(arrays: ArrayRecord, layout: list[tuple[str, list[int]]]) -> dict[str, Any]:
    """The named LoRA tensors of a packed adapter (one flat array, see node lora.pack_adapter)."""
    import math

    if len(arrays) != 1 or not layout:
        raise FederationAborted("the adapter must be one packed array with a layout declared by the nodes")
    flat = next(iter(arrays.values())).numpy().ravel()
    if flat.size != sum(math.prod(shape) for _, shape in layout):
        raise FederationAborted(f"the adapter has {flat.size} values but its declared layout needs a different count")
    out: dict[str, Any] = {}
    offset = 0
    for name, shape in layout:
        n = math.prod(shape)
        out[name] = flat[offset : offset + n].reshape(shape).copy()
        offset += n
    return out


def _log(text: str) -> None:
    print(f"[synthspace] {text}", flush=True)


def wait_for_nodes(grid: Grid, minimum: int, timeout: float) -> dict[int, str]:
    """{node_id: org} of online SuperNodes once at least `minimum` are online, else FederationAborted."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = {n.node_id: (n.name or f"node-{n.node_id}") for n in grid.get_nodes()}
        if len(nodes) >= minimum:
            return nodes
        if time.monotonic() >= deadline:
            raise FederationAborted(
                f"only {len(nodes)} of the minimum {minimum} SuperNodes were online after waiting "
                f"{timeout:.0f} s ({', '.join(sorted(nodes.values())) or 'none'})"
            )
        time.sleep(1.0)


@dataclass
class RoundOutcome:
    valid: list[Message]
    per_org: dict[str, Any]
    errors: list[str]
    train_seconds: float
    bytes_received: int


def _declared(msg: Message) -> ConfigRecord:
    content = msg.content
    return content.config_records["declared"] if "declared" in content.config_records else ConfigRecord()


def check_replies(
    replies: list[Message], orgs: dict[int, str], base_digest: str | None, kind: str
) -> RoundOutcome:
    """Split replies into valid ones and errors; collect per-org metrics and declarations."""
    valid: list[Message] = []
    errors: list[str] = []
    per_org: dict[str, Any] = {}
    train_seconds = 0.0
    received = 0
    for msg in replies:
        src = msg.metadata.src_node_id
        org = orgs.get(src, f"node-{src}")
        if msg.has_error():
            errors.append(f"{org}: {msg.error.reason}")
            continue
        declared = _declared(msg)
        claimed = str(declared.get("org", ""))
        if claimed != org:
            errors.append(f"{org}: reply declares org {claimed!r}, not the org registered for its SuperNode key")
            continue
        digest = declared.get("base-model-digest")
        if kind == "train" and base_digest is not None and digest != base_digest:
            errors.append(f"{org}: trained on base model {digest!s}, the run uses {base_digest}")
            continue
        metrics = {k: float(v) for k, v in next(iter(msg.content.metric_records.values())).items()}  # type: ignore[arg-type]
        entry: dict[str, Any] = {"node_id": str(src), "metrics": metrics}
        if kind == "evaluate" and CANARY_EXPOSURE_KEY in declared:
            try:
                entry["canary_exposure"] = parse_canary_exposure(str(declared[CANARY_EXPOSURE_KEY]))
            except ValueError as exc:
                errors.append(f"{org}: canary exposure not recorded: {exc}")
        if kind == "train":
            entry["base_model"] = str(declared.get("base-model-id", ""))
            entry["base_model_digest"] = str(digest or "")
            entry["adapter_config"] = str(declared.get("adapter-config", "{}"))
            entry["adapter_layout"] = str(declared.get("adapter-layout", "[]"))
            entry["training_digests"] = [d for d in str(declared.get("training-digests", "")).split(",") if d]
            entry["training_artifact_ids"] = [d for d in str(declared.get("training-artifact-ids", "")).split(",") if d]
            arrays = next(iter(msg.content.array_records.values()))
            entry["adapter_bytes"] = arrays.count_bytes()
            received += arrays.count_bytes()
            train_seconds = max(train_seconds, metrics.get("train-seconds", 0.0))
        per_org[org] = entry
        valid.append(msg)
    return RoundOutcome(valid, per_org, errors, train_seconds, received)


def parse_canary_exposure(text: str) -> dict[str, Any]:
    """A node's canary report (JSON, untrusted) as a CanaryExposure dict; ValueError when malformed."""
    import math

    from pydantic import ValidationError

    from synthspace.lineage import CanaryExposure

    if len(text) > 20_000:
        raise ValueError("the report is longer than 20000 characters")
    try:
        raw = json.loads(text)
        size, values = int(raw["candidates"]), [float(v) for v in raw["exposure"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a canary report: {exc}") from None
    if not values or any(not math.isfinite(v) or v < -1e-9 or v > math.log2(max(size, 2)) + 1e-9 for v in values):
        raise ValueError("exposures must lie in [0, log2 |R|]")
    try:
        report = CanaryExposure(canaries=len(values), candidates=size, exposure=values, max_exposure=max(values))
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"])) from None
    return report.model_dump()


def _metric_dict(record: Any) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()} if record is not None else {}


