"""The federated run config is defined once: what `federate run` writes is what the ServerApp
and every ClientApp read back, field for field."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import pytest

from synthspace.coordinator.federated.federation import RunOptions
from synthspace.coordinator.federated.server_config import FederationAborted, ServerConfig
from synthspace.federated_run_config import (
    NODE_CONFIG_KEYS,
    RUN_DEFAULTS,
    NodeTrainingOptions,
    ServerRunOptions,
    wire_key,
)


def test_halves_are_disjoint_and_cover_the_run_config(tmp_path: Path) -> None:
    server_keys = {wire_key(f.name) for f in fields(ServerRunOptions)}
    assert server_keys.isdisjoint(NODE_CONFIG_KEYS)
    rc = RunOptions().run_config(tmp_path)
    assert set(rc) == server_keys | set(NODE_CONFIG_KEYS) | {"coord-home"}


def test_what_run_writes_is_what_both_sides_read(tmp_path: Path) -> None:
    options = RunOptions(rounds=5, strategy="FedProx", proximal_mu=0.2, local_steps=7, lr=1e-3, lora_rank=8, lora_alpha=16)
    rc = options.run_config(tmp_path)
    server = ServerConfig.from_run_config(rc)
    assert (server.rounds, server.strategy, server.proximal_mu) == (5, "fedprox", 0.2)
    node = NodeTrainingOptions.from_config(server.node)  # what the ServerApp forwards to each ClientApp
    assert asdict(node) == {f.name: getattr(options, f.name) for f in fields(NodeTrainingOptions)}


def test_absent_keys_take_the_defaults_and_values_are_typed() -> None:
    node = NodeTrainingOptions.from_config({"local-steps": 3.0, "lr": 1})
    assert node.local_steps == 3 and isinstance(node.local_steps, int)
    assert node.lr == 1.0 and isinstance(node.lr, float)
    assert node.max_seq_len == NodeTrainingOptions().max_seq_len
    assert ServerRunOptions.from_config({}) == ServerRunOptions()
    assert RUN_DEFAULTS["rounds"] == ServerRunOptions().rounds


def test_server_rules_still_refuse_a_bad_config(tmp_path: Path) -> None:
    rc = RunOptions().run_config(tmp_path)
    with pytest.raises(FederationAborted, match="unknown strategy"):
        ServerConfig.from_run_config({**rc, "strategy": "fedsgd"})
    with pytest.raises(FederationAborted, match="coord-home"):
        ServerConfig.from_run_config({k: v for k, v in rc.items() if k != "coord-home"})
