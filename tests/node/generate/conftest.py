"""Fixtures for generation tests: a real OpenAI-compatible stub server on 127.0.0.1, small recipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
STUB = HERE / "openai_stub_server.py"


class StubServer:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def configure(self, **config: Any) -> None:
        defaults = {"latency": 0.0, "fail_first": 0, "fail_status": 503, "retry_after": None, "hang_first": 0,
                    "invalid_every": 0, "truncate_every": 0, "capacity": 0, "exit_after": 0}
        self._call("POST", "/admin/config", {**defaults, **config, "reset": True})

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/admin/stats")  # type: ignore[no-any-return]


def start_stub(latency: float = 0.0) -> StubServer:
    proc = subprocess.Popen([sys.executable, str(STUB), "--port", "0", "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r}")
    return StubServer(proc, int(line.split()[1]))


def stop_stub(server: StubServer) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def stub_server_session() -> Iterator[StubServer]:
    server = start_stub()
    yield server
    stop_stub(server)


@pytest.fixture()
def stub(stub_server_session: StubServer) -> StubServer:
    stub_server_session.configure()
    return stub_server_session


TINY_RECIPE = """
task: tiny_qa
description: tiny test recipe
license: CC0-1.0
locale: en_US
seed_fields:
  - {name: topic, type: string}
  - {name: fact, type: string}
output_fields:
  - {name: question, type: string, min_length: 3, max_length: 60}
  - {name: answer, type: string, min_length: 2, max_length: 60}
  - {name: level, type: enum, choices: [easy, hard]}
  - {name: score, type: integer, minimum: 1, maximum: 5}
prompt:
  template: |
    Topic: {{ seed.topic }}. Fact: {{ seed.fact }}.{% if persona %} Asked by someone from {{ persona.region }}.{% endif %}
    Write one short question and answer about the topic as JSON.
generation:
  outputs_per_seed: 3
  max_retries: 2
sampling:
  temperature: {kind: range, low: 0.5, high: 0.9}
  top_p: {kind: fixed, value: 0.95}
  max_tokens: 96
"""

SEEDS = [
    {"topic": "tea kettles", "fact": "Secret canary ZQX-4411 boils at noon", "extra": "ignored"},
    {"topic": "bicycles", "fact": "The private seed value for Mrs. Kowalczyk is 555-0199"},
    {"topic": "libraries", "fact": "Fictional branch opens at 9 in Lindenfeld"},
    {"topic": "gardens", "fact": "Confidential: tulips planted on plot 27B"},
    {"topic": "trains", "fact": "Seed-only string: platform nine of Ostbahn"},
]


@pytest.fixture()
def tiny(tmp_path: Path) -> dict[str, Path]:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    return {"recipe": recipe, "seeds": seeds, "home": tmp_path / "home", "out": tmp_path / "run"}


def write_personas(path: Path, n: int = 12) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    regions = ["north", "south", "east"]
    table = pa.table(
        {
            "persona_id": [f"p{i:03d}" for i in range(n)],
            "region": [regions[i % 3] if i < 9 else "north" for i in range(n)],
            "narrative": [f"Persona number {i} likes fictional things." for i in range(n)],
        }
    ).replace_schema_metadata(
        {"synthspace.persona_set": json.dumps({"format": "synthspace-persona-set/v1", "kind": "spec", "locale": "en_US",
                                               "spec_digest": "sha256:" + "ab" * 32})}
    )
    pq.write_table(table, path)
    return path


def synthspace_cli() -> list[str]:
    return [sys.executable, "-m", "synthspace.cli.main"]


def env_without_proxy() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def wait_until(pred: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False
