"""Default values of a federated run, written once: `federate run`'s options (RunOptions), the
run config the coordinator writes into the Flower App, and the ServerApp that reads it back
(ServerConfig) all take them from here. No Flower import, so the CLI stays light."""

from __future__ import annotations

from typing import Any

RUN_DEFAULTS: dict[str, Any] = {
    "rounds": 2,
    "min_nodes": 2,
    "strategy": "fedavg",
    "proximal_mu": 0.01,
    "fedadam_eta": 1e-2,
    "fedadam_eta_l": 1e-2,
    "dp_noise_multiplier": 0.0,
    "dp_clipping_norm": 1.0,
    "dp_delta": 1e-5,
    "secure_aggregation": False,
    "round_timeout": 600.0,
    "start_timeout": 120.0,
    "evaluate": "final",
    "publish": True,
    "title": "",
    "description": "",
    "license": "Apache-2.0",
}
"""Field name (RunOptions/ServerConfig spelling) -> default; the run config spells keys with '-'."""
