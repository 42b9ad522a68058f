"""The one coordinator start-up the demo, the tests and the benchmarks share
(synthspace.local_servers.CoordinatorProcess), against the real `coordinator serve`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from synthspace.local_servers import CoordinatorProcess, ServerStartError, listening


def test_a_home_that_cannot_serve_is_a_start_error_with_the_log(tmp_path: Path) -> None:
    server = CoordinatorProcess(tmp_path / "not-a-home")
    (tmp_path / "not-a-home").mkdir()
    with pytest.raises(ServerStartError, match="exited with code") as err:
        server.start(timeout=60)
    assert str(tmp_path / "not-a-home" / "server.log") in str(err.value)
    assert server.proc is None and not listening(server.port)  # nothing left behind


def test_start_stop_restart_keeps_the_port_and_frees_it(tmp_path: Path) -> None:
    from synthspace.coordinator.home import init_home

    init_home(tmp_path / "coord", log_origin="test.local-servers/log")
    server = CoordinatorProcess(tmp_path / "coord").start()
    port = server.port
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        server.stop()
        assert not server.running() and not listening(port)
        server.start()
        assert server.port == port and httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        server.kill9()
        assert not listening(port)
    finally:
        server.stop()
