"""The Flower ClientApp a node runs: LoRA SFT on the node's own data, adapter weights out.

Message API handlers (one process per message, started by the org's SuperNode):

- query "init": build the seeded initial adapter on this node's base model; reply with it and
  the base model's id and digest (the coordinator never loads the model);
- train: load the global adapter, train `local-steps` on the node's declared data, reply with
  ONLY the adapter tensors (ArrayRecord "arrays"), `num-examples` and train metrics
  (MetricRecord "metrics"), and what was trained on (ConfigRecord "declared": org, base model
  digest, sha256 digests and catalog ids of the training artifacts);
- evaluate: loss (and exact match when records are prompt/answer pairs) of the global adapter
  on the node's held-out split.

The node home comes from the SuperNode's node config (`home`), set by `synthspace node join`.
Records, seeds and keys stay on the node.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat

from synthspace.errors import SynthspaceError
from synthspace.federated_run_config import NodeTrainingOptions
from synthspace.flower_apps import CANARY_EXPOSURE_KEY, DP_WEIGHT_KEY
from synthspace.node.federated import canaries
from synthspace.node.federated.lora import (
    LoraSettings,
    adapter_state,
    attach_lora,
    eval_loss,
    exact_match,
    load_adapter_state,
    load_base_model,
    pack_adapter,
    train_steps,
    unpack_adapter,
)
from synthspace.node.federated.supernode import load_join_config
from synthspace.node.federated.training_data import (
    Example,
    TrainingUse,
    audit_verifier,
    load_training_data,
)
from synthspace.node.home import NodeHome

app = ClientApp()

ADAPTER_KEY = "adapter"  # the packed LoRA tensors (see lora.pack_adapter)

_STARTED = time.perf_counter()


class ClientAppConfigError(SynthspaceError):
    """A message's config or the SuperNode's node config is missing a value this app needs."""


def _home(context: Context) -> Path:
    home = context.node_config.get("home")
    if not isinstance(home, str) or not home:
        raise ClientAppConfigError(
            "the SuperNode was started without node config home=NODE_HOME; start it with `synthspace node join`"
        )
    return Path(home)


def _cfg(msg: Message) -> ConfigRecord:
    records = msg.content.config_records
    return records["config"] if "config" in records else ConfigRecord()


def _lora_settings(opts: NodeTrainingOptions) -> Any:
    return LoraSettings(
        rank=opts.lora_rank,
        alpha=opts.lora_alpha,
        targets=tuple(t.strip() for t in opts.lora_targets.split(",") if t.strip()),
        seed=opts.lora_seed,
    )


def _model_with_adapter(msg: Message) -> tuple[Any, Any, NodeTrainingOptions]:
    """(base model info, peft model, node options) with the message's global adapter loaded."""
    array_records = msg.content.array_records
    arrays = array_records["arrays"] if "arrays" in array_records else ArrayRecord()
    return _load_model(_cfg(msg), arrays)


def _load_model(cfg: ConfigRecord, arrays: ArrayRecord) -> tuple[Any, Any, NodeTrainingOptions]:
    """(base model info, peft model, the node options read from `cfg`) with `arrays` (the
    packed global adapter) loaded."""
    opts = NodeTrainingOptions.from_config(cfg)
    base = load_base_model(opts.base_model)
    peft_model = attach_lora(base.model, _lora_settings(opts))
    if len(arrays) > 0:
        if ADAPTER_KEY not in arrays:
            raise ClientAppConfigError(f"the global adapter must come as one packed array {ADAPTER_KEY!r}")
        _, layout = pack_adapter(adapter_state(peft_model))
        load_adapter_state(peft_model, unpack_adapter(arrays[ADAPTER_KEY].numpy(), layout))
    return base, peft_model, opts


def _adapter_reply(peft_model: Any) -> tuple[ArrayRecord, str]:
    """(ArrayRecord with the packed adapter, its layout as JSON)."""
    flat, layout = pack_adapter(adapter_state(peft_model))
    return ArrayRecord({ADAPTER_KEY: Array(flat)}), json.dumps(layout)


def _join_config(context: Context) -> Any:
    """This node's join.json; applies its CPU thread setting to torch."""
    join = load_join_config(_home(context))
    if join.torch_threads:
        import torch

        torch.set_num_threads(join.torch_threads)
    return join


def _training_data(context: Context, server_round: int = 1) -> Any:
    """The node's verified training data, with its opted-in canaries planted in the train split.
    Each catalog bundle's policy must permit this org's federated training in `server_round`."""
    join = _join_config(context)
    data = load_training_data(
        join.data,
        held_out_percent=join.held_out_percent,
        max_examples=join.max_examples,
        verify_bundle=audit_verifier(_home(context)),
        use=TrainingUse(org=_org(context), round=server_round),
    )
    if join.canaries:
        planted = canaries.load_or_create(_home(context), join.canaries)
        data.train += [Example(text=c) for c in planted for _ in range(join.canary_repeats)]
    return data


def _canary_exposure(context: Context, peft_model: Any, tokenizer: Any) -> str | None:
    """JSON of the exposure of this node's canaries under the global adapter (None if not opted in)."""
    join = _join_config(context)
    if not join.canaries:
        return None
    planted = canaries.load_or_create(_home(context), join.canaries)
    return json.dumps(canaries.measure(peft_model, tokenizer, planted, join.canary_candidates))


def _org(context: Context) -> str:
    return NodeHome(_home(context)).config().org


def _adapter_config(base: Any, opts: NodeTrainingOptions) -> str:
    adapter_config = _lora_settings(opts).peft_config().to_dict()
    adapter_config["base_model_name_or_path"] = base.model_id
    return json.dumps(adapter_config, sort_keys=True, default=list)


@app.query("init")
def initial_adapter(msg: Message, context: Context) -> Message:
    """The seeded initial adapter, so the coordinator needs no copy of the model."""
    _join_config(context)
    base, peft_model, opts = _model_with_adapter(msg)
    arrays, layout = _adapter_reply(peft_model)
    declared = ConfigRecord(
        {
            "org": _org(context),
            "base-model-id": base.model_id,
            "base-model-digest": base.digest,
            "adapter-config": _adapter_config(base, opts),
            "adapter-layout": layout,
        }
    )
    return Message(RecordDict({"arrays": arrays, "declared": declared}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local LoRA steps on this node's data; only the adapter tensors go back.

    An empty ArrayRecord (first FedAvg/FedProx round) means: start from the seeded initial adapter,
    which every node builds identically from `lora-seed`.
    """
    array_records = msg.content.array_records
    arrays, metrics, declared = _train(_cfg(msg), array_records["arrays"] if "arrays" in array_records else ArrayRecord(), context)
    return Message(RecordDict({"arrays": arrays, "metrics": metrics, "declared": declared}), reply_to=msg)


def _train(cfg: ConfigRecord, global_arrays: ArrayRecord, context: Context) -> tuple[ArrayRecord, MetricRecord, ConfigRecord]:
    """(packed adapter, train metrics, declarations) after local steps from `global_arrays`."""
    t_load = time.perf_counter()
    server_round = int(cfg.get("server-round", 1))  # type: ignore[arg-type]
    data = _training_data(context, server_round)
    base, peft_model, opts = _load_model(cfg, global_arrays)
    load_seconds = time.perf_counter() - t_load
    result = train_steps(
        peft_model,
        base.tokenizer,
        data.train,
        steps=opts.local_steps,
        batch_size=opts.batch_size,
        lr=opts.lr,
        max_len=opts.max_seq_len,
        seed=opts.seed * 1000 + server_round,
        proximal_mu=float(cfg.get("proximal-mu", 0.0)),  # type: ignore[arg-type]
    )
    arrays, layout = _adapter_reply(peft_model)
    metrics = MetricRecord(
        {
            "num-examples": len(data.train),
            "train-loss": sum(result.losses) / len(result.losses),
            "train-loss-last": result.losses[-1],
            "loss-before": result.loss_before,
            "train-seconds": result.seconds,
            "load-seconds": load_seconds,
            "process-seconds": time.perf_counter() - _STARTED,
            DP_WEIGHT_KEY: 1.0,
        }
    )
    declared = ConfigRecord(
        {
            "org": _org(context),
            "base-model-id": base.model_id,
            "base-model-digest": base.digest,
            "training-digests": ",".join(data.digests),
            "training-artifact-ids": ",".join(data.artifact_ids),
            "adapter-config": _adapter_config(base, opts),
            "adapter-layout": layout,
        }
    )
    return arrays, metrics, declared


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Loss and exact match of the global adapter on this node's held-out records."""
    data = _training_data(context)
    base, peft_model, opts = _model_with_adapter(msg)
    held = data.held_out or data.train
    loss = eval_loss(peft_model, base.tokenizer, held, batch_size=opts.batch_size, max_len=opts.max_seq_len)
    em, em_n = exact_match(
        peft_model, base.tokenizer, held, limit=opts.exact_match_examples, max_new_tokens=opts.max_new_tokens
    )
    metrics = MetricRecord(
        {"num-examples": len(held), "eval-loss": loss, "exact-match": em, "exact-match-n": em_n, DP_WEIGHT_KEY: 1.0}
    )
    declared = ConfigRecord({"org": _org(context)})
    exposure = _canary_exposure(context, peft_model, base.tokenizer)
    if exposure is not None:
        declared[CANARY_EXPOSURE_KEY] = exposure
    return Message(RecordDict({"metrics": metrics, "declared": declared}), reply_to=msg)


def _secagg_train(msg: Message, context: Context) -> Message:
    """Train under SecAgg+: the mod hands over Flower's legacy FitIns and masks the FitRes we return.

    The packed adapter goes into the masked vector with weight 1 (an equal-weight average, as with
    DP); the declarations and metrics travel unmasked in the FitRes metrics.
    """
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    ndarrays = parameters_to_ndarrays(fitins.parameters)
    global_arrays = ArrayRecord({ADAPTER_KEY: Array(ndarrays[0])}) if ndarrays else ArrayRecord()
    arrays, metrics, declared = _train(ConfigRecord(dict(fitins.config)), global_arrays, context)
    fitres = FitRes(
        status=Status(code=Code.OK, message="ok"),
        parameters=ndarrays_to_parameters([arrays[ADAPTER_KEY].numpy()]),
        num_examples=1,
        metrics={**{k: float(v) for k, v in metrics.items()}, **{f"declared/{k}": str(v) for k, v in declared.items()}},  # type: ignore[arg-type]
    )
    return Message(compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=msg)


def _secagg_app() -> ClientApp:
    secure = ClientApp(mods=[secaggplus_mod])
    secure.query("init")(initial_adapter)
    secure.train()(_secagg_train)
    secure.evaluate()(evaluate)
    return secure


secagg_app = _secagg_app()
"""The ClientApp of runs with secure aggregation (synthspace.flower_apps.SECAGG_CLIENT_APP)."""
