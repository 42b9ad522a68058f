"""Fixtures for federation tests: a real coordinator (HTTP, subprocess), two enrolled orgs that
published their synthetic data, a real SuperLink (TLS + SuperNode auth) and SuperNodes as
processes on 127.0.0.1, and a tiny Llama model folder so CPU rounds take seconds.

Every process is started in its own group and stopped by PID at teardown; ports are freed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from synthspace.local_servers import CoordinatorProcess, free_port


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with SmolLM2's tokenizer: same code path as the embedded model, fast on CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from synthspace.node.models.embedded import cached_model_dir

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(str(cached_model_dir()))
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def qa_rows(org: str, offset: int, n: int = 16) -> list[dict[str, str]]:
    """Synthetic prompt/answer records (the shape of a support or legal Q&A recipe's output)."""
    return [
        {
            "record_id": f"{org}-{i}",
            "question": f"What is the status code for request {offset + i}?",
            "answer": f"Status {200 + (offset + i) % 5}.",
            "persona_id": f"p{i % 3}",
        }
        for i in range(n)
    ]


def publish_dataset(home: Any, base: Path, org: str, offset: int) -> Any:
    """Publish a Parquet dataset for `home` through the node's publish API (real HTTP)."""
    import pandas as pd

    from synthspace.lineage import GateResult, LineagePredicate, Producer, Times
    from synthspace.node.publishing import publish_file
    from synthspace.node.quality.near_duplicates import exact_duplicates

    path = base / f"{org}-data.parquet"
    rows = qa_rows(org, offset)
    pd.DataFrame(rows).to_parquet(path, index=False)
    # The catalog requires gate results; measure the one that applies to hand-made records.
    dup_rate = float(exact_duplicates([r["question"] + r["answer"] for r in rows]).mean())
    gate = GateResult(
        name="near_duplicates", blocking=True, passed=dup_rate == 0.0,
        metrics={"exact_duplicate_rate": dup_rate}, thresholds={"max_exact_duplicate_rate": 0.0},
    )  # fmt: skip
    now = datetime.now(UTC)
    predicate = LineagePredicate(
        kind="dataset",
        title=f"{org} synthetic status-code Q&A",
        record_count=16,
        task="status-qa",
        gates=[gate, GateResult(name="pii", blocking=True, passed=True, metrics={"records_with_pii": 0})],
        producer=Producer(org=org, artifact_key_id="0" * 64, software="test"),
        times=Times(started=now, finished=now, signed=now),
    )
    return publish_file(home, path, predicate, bundle_dir=base / f"{org}-bundle", subject_name="data.parquet")


class CoordinatorServer(CoordinatorProcess):
    """`coordinator serve` on 127.0.0.1 (local_servers) plus an in-process invite."""

    def invite(self, org: str) -> str:
        from synthspace.coordinator.runtime import Coordinator
        from synthspace.coordinator.services.orgs import create_invite
        from synthspace.coordinator.settings import CoordinatorSettings

        rt = Coordinator.open(CoordinatorSettings.load(self.home), migrate=False, verify=False)
        try:
            with rt.session() as session:
                token, _ = create_invite(session, org, 3600)
        finally:
            rt.close()
        return str(token)


def start_coordinator(home: Path) -> CoordinatorServer:
    from synthspace.coordinator.home import init_home

    init_home(home, log_origin="test.federation/log")
    return serve_coordinator(home)


def serve_coordinator(home: Path) -> CoordinatorServer:
    """`coordinator serve` on an initialised home, on a free port of 127.0.0.1."""
    return CoordinatorServer(home).start()


@dataclass
class Federation:
    coord: CoordinatorServer
    base: Path
    homes: dict[str, Any]
    bundles: dict[str, Any]  # org -> PublishResult of its dataset
    link: Any  # SuperLinkProcess
    tiny_model: Path
    supernodes: dict[str, Any] = field(default_factory=dict)

    @property
    def coord_home(self) -> Path:
        return self.coord.home

    def join(self, org: str) -> Any:
        from synthspace.node.federated.supernode import join

        sn = join(
            self.homes[org].path, superlink=self.link.address, ca_cert=self.link.ca_cert,
            data=[str(self.bundles[org].bundle_dir)], torch_threads=1,
        )  # fmt: skip
        self.supernodes[org] = sn
        return sn

    def run_options(self, **overrides: Any) -> Any:
        from synthspace.coordinator.federated.federation import RunOptions

        values: dict[str, Any] = dict(
            rounds=2, min_nodes=2, local_steps=4, batch_size=4, lr=1e-2, max_seq_len=32,
            base_model=str(self.tiny_model), lora_rank=4, lora_alpha=8, exact_match_examples=2,
            max_new_tokens=4, start_timeout=90, round_timeout=180,
        )  # fmt: skip
        values.update(overrides)
        return RunOptions(**values)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Federation]:
    from synthspace.coordinator.federated.federation import start_superlink
    from synthspace.node.enrolment import enroll
    from synthspace.node.home import NodeHome

    base = tmp_path_factory.mktemp("federation")
    coord = start_coordinator(base / "coordinator")
    link = None
    fed: Federation | None = None
    try:
        homes: dict[str, Any] = {}
        bundles: dict[str, Any] = {}
        for i, prefix in enumerate(("alpha", "beta")):
            org = f"{prefix}-{uuid.uuid4().hex[:6]}"
            home = NodeHome.init(base / org, org, coord.url)
            enroll(home, coord.invite(org))
            homes[org] = home
            bundles[org] = publish_dataset(home, base, org, offset=100 * i)
        link = start_superlink(coord.home, port=free_port())
        fed = Federation(coord, base, homes, bundles, link, tiny_model)
        yield fed
    finally:
        if fed is not None:
            for sn in fed.supernodes.values():
                sn.stop()
        if link is not None:
            link.stop()
        coord.stop()
