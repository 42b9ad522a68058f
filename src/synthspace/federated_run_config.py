"""The config of a federated run as it travels: field names, wire keys and defaults, written once.

A run has two halves. `ServerRunOptions` is what the ServerApp reads (rounds, strategy, DP,
timeouts, publishing); `NodeTrainingOptions` is what every ClientApp reads from the message
config (model, LoRA, local steps). `federate run`'s `RunOptions` is both, the ServerApp's
`ServerConfig` is the server half, and the ClientApp parses the node half with
`NodeTrainingOptions.from_config`. The Flower run config spells each field with '-'
(`local_steps` -> `local-steps`). A protocol module: no Flower import, neither side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

__all__ = ["NODE_CONFIG_KEYS", "RUN_DEFAULTS", "NodeTrainingOptions", "ServerRunOptions", "wire_key"]

_T = TypeVar("_T", bound="_WireOptions")


def wire_key(name: str) -> str:
    """The run-config spelling of a field name: `local_steps` -> `local-steps`."""
    return name.replace("_", "-")


class _WireOptions:
    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Field name -> default value."""
        return {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def config_values(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """Field name -> value read from a run config (keys spelt with '-'): absent keys take
        the default, present ones are converted to the default's type."""
        return {name: type(default)(cfg.get(wire_key(name), default)) for name, default in cls.defaults().items()}

    @classmethod
    def from_config(cls: type[_T], cfg: Mapping[str, Any]) -> _T:
        return cls(**cls.config_values(cfg))


@dataclass(kw_only=True)
class ServerRunOptions(_WireOptions):
    """What the ServerApp reads: how many rounds, which strategy and privacy, what to publish."""

    rounds: int = 2
    min_nodes: int = 2
    strategy: str = "fedavg"
    proximal_mu: float = 0.01
    fedadam_eta: float = 1e-2
    fedadam_eta_l: float = 1e-2
    dp_noise_multiplier: float = 0.0
    dp_clipping_norm: float = 1.0
    dp_delta: float = 1e-5
    secure_aggregation: bool = False
    round_timeout: float = 600.0
    start_timeout: float = 120.0
    evaluate: str = "final"
    publish: bool = True
    title: str = ""
    description: str = ""
    license: str = "Apache-2.0"


@dataclass(kw_only=True)
class NodeTrainingOptions(_WireOptions):
    """What each node's ClientApp reads: the base model, the LoRA adapter, local training and
    the exact-match evaluation."""

    base_model: str = "embedded"
    lora_rank: int = 4
    lora_alpha: int = 8
    lora_targets: str = "q_proj,v_proj"
    lora_seed: int = 0
    local_steps: int = 4
    batch_size: int = 2
    lr: float = 5e-4
    max_seq_len: int = 64
    seed: int = 0
    exact_match_examples: int = 4
    max_new_tokens: int = 24


RUN_DEFAULTS: dict[str, Any] = ServerRunOptions.defaults()
"""Server field name -> default."""

NODE_CONFIG_KEYS: tuple[str, ...] = tuple(wire_key(f.name) for f in fields(NodeTrainingOptions))
"""The run-config keys the ServerApp forwards to the nodes in every message."""
