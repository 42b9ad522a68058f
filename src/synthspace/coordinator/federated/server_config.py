"""The run config of a federated run as the ServerApp reads it, with the rules it must meet.

Free of Flower imports, so `federation.RunOptions.validate` can check a run before anything
starts without loading Flower; `rounds` uses them and `server_app` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synthspace.errors import SynthspaceError
from synthspace.federated_run_config import NODE_CONFIG_KEYS, ServerRunOptions

STRATEGIES = ("fedavg", "fedprox", "fedadam")


class FederationAborted(SynthspaceError):
    """The run stopped before completing: too few nodes, a timeout, or an inconsistent reply."""


@dataclass(kw_only=True)
class ServerConfig(ServerRunOptions):
    """The run config the ServerApp reads (keys of [tool.flwr.app.config]): the server half of
    a run, where the coordinator's home is, and the node half to forward to every ClientApp."""

    coord_home: str
    node: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_config(cls, rc: dict[str, Any]) -> ServerConfig:
        home = rc.get("coord-home")
        if not isinstance(home, str) or not home:
            raise FederationAborted("run config coord-home is missing: start runs with `synthspace federate run`")
        cfg = cls(
            coord_home=home,
            node={k: rc[k] for k in NODE_CONFIG_KEYS if k in rc},
            **ServerRunOptions.config_values(rc),
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
