"""Round-level pieces of the ServerApp: the strategy, waiting for nodes, and the
checks every reply must pass (declared org, base model digest, adapter layout, canary reports)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp import strategy as st
from pydantic import ValidationError

from synthspace.coordinator.federated.server_config import FederationAborted, ServerConfig
from synthspace.flower_apps import CANARY_EXPOSURE_KEY, DP_WEIGHT_KEY
from synthspace.lineage import CanaryExposure

SECAGG_LABEL = (
    "SecAgg+ (Flower 1.41 SecAggPlusWorkflow + secaggplus_mod): the coordinator unmasks only the "
    "equal-weight average of the nodes' adapters; all sampled nodes must complete each round"
)


def make_strategy(cfg: ServerConfig) -> Any:
    """The Flower strategy for `cfg`, wrapped in server-side DP clipping when asked for."""
    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": cfg.min_nodes,
        "min_evaluate_nodes": cfg.min_nodes,
        "min_available_nodes": cfg.min_nodes,
    }
    if cfg.dp_noise_multiplier > 0:
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


