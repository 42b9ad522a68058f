"""Fixtures for node tests: a real coordinator (`synthspace coordinator serve` subprocess on
127.0.0.1, SQLite), enrolled node homes, a fake OpenAI-compatible LLM server, generated runs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synthspace.local_servers import CoordinatorProcess
from tests.node.fake_llm import FakeLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "synthspace" / "node" / "examples"
RECIPE = EXAMPLES / "en_support.yaml"
SEEDS = EXAMPLES / "en_support_seeds.jsonl"



class Coordinator(CoordinatorProcess):
    """A coordinator home and its server process (the one server start-up, local_servers)."""

    @classmethod
    def create(cls, home: Path, origin: str = "test.node/log", database_url: str | None = None) -> Coordinator:
        from synthspace.coordinator.home import init_home

        env_before = os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
        try:
            init_home(home, log_origin=origin, database_url=database_url)
        finally:
            if env_before is not None:
                os.environ["SYNTHSPACE_DATABASE_URL"] = env_before
        return cls(home=home)

    def _runtime(self) -> Any:
        from synthspace.coordinator.runtime import Coordinator as Runtime
        from synthspace.coordinator.settings import CoordinatorSettings

        return Runtime.open(CoordinatorSettings.load(self.home), migrate=False, verify=False)

    def invite(self, org: str) -> str:
        from synthspace.coordinator.services.orgs import create_invite

        rt = self._runtime()
        try:
            with rt.session() as session:
                token, _ = create_invite(session, org, 3600)
        finally:
            rt.close()
        return str(token)

    def log_key(self) -> Any:
        from synthspace import keys

        return keys.load_private_key(self.home / "keys" / "log.pem")


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    coord = Coordinator.create(tmp_path_factory.mktemp("coordinator")).start()
    try:
        yield coord
    finally:
        coord.stop()


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def leaky_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM(leak=True).start()
    yield fake
    fake.stop()


def unique_org(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_node(base: Path, coord: Coordinator, prefix: str = "org", url: str | None = None) -> Any:
    """An initialised and enrolled node home (through the Python API the CLI calls)."""
    from synthspace.node.enrolment import enroll
    from synthspace.node.home import NodeHome

    org = unique_org(prefix)
    home = NodeHome.init(base / org, org, url or coord.url)
    enroll(home, coord.invite(org))
    return home


def generate_run(run_dir: Path, home: Any, llm: FakeLLM, limit: int = 12) -> Path:
    """A real generation run (openai backend against the fake LLM) into `run_dir`."""
    from synthspace.node.generate.runner import run_generation

    run_generation(
        RECIPE,
        SEEDS,
        run_dir,
        backend="openai",
        model="fake-model",
        backend_options={"base_url": llm.base_url, "api_key": "test-key"},
        limit=limit,
        home=home.path,
    )
    return run_dir


@dataclass
class Space:
    """A coordinator with two enrolled orgs; alpha has published one generated run."""

    coord: Coordinator
    base: Path
    alpha: Any
    beta: Any
    run_dir: Path
    published: Any  # PublishResult


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory, coordinator: Coordinator, fake_llm: FakeLLM) -> Space:
    from synthspace.node.publishing import publish_run

    base = tmp_path_factory.mktemp("space")
    alpha = make_node(base, coordinator, "alpha")
    beta = make_node(base, coordinator, "beta")
    run_dir = generate_run(base / "run-alpha", alpha, fake_llm)
    published = publish_run(alpha, run_dir, title="Kettle support dialogues", tags=["support", "demo"])
    return Space(coordinator, base, alpha, beta, run_dir, published)


def auditor_for(home: Any) -> Any:
    from synthspace.node.cli_support import open_auditor

    return open_auditor(home=home.path)


def cli_subprocess(*args: str) -> tuple[int, str, str]:
    """Run the real `synthspace` CLI in a subprocess; (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return proc.returncode, proc.stdout, proc.stderr


def cli(*args: str) -> tuple[int, str, str]:
    """Run the `synthspace` CLI entry point in this process (same code path as the console
    script, without paying interpreter start-up per call); (exit code, stdout, stderr).

    An exception escaping the entry point is returned as exit 1 with its traceback on stderr,
    so tests asserting "no traceback" catch it."""
    import contextlib
    import io
    import traceback

    from synthspace.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("COLUMNS", "NO_COLOR")}
    os.environ.update({"COLUMNS": "200", "NO_COLOR": "1"})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()
