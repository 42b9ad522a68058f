"""Ports and readiness of local server processes, written once for the demo, the Flower
wrappers, the tests and the benchmarks (127.0.0.1 unless a host is given)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

__all__ = [
    "CoordinatorProcess", "ServerStartError", "free_port", "free_ports", "listening", "port_is_free", "wait_for_http",
]

_handed_out: set[int] = set()


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct TCP ports nothing listens on right now (the OS picks them), none handed out
    before by this process. The sockets stay bound until all are picked: one at a time, the
    kernel may give a just-closed port again (Ray refused two of its components on one port)."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
            port = int(s.getsockname()[1])
            if port not in _handed_out:
                ports.append(port)
                _handed_out.add(port)
    finally:
        for s in socks:
            s.close()
    return ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    return free_ports(1, host)[0]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on HOST:PORT."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> bool:
    """Poll `url` until it answers 200; False when `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class ServerStartError(RuntimeError):
    """A server process exited or did not answer while starting; the message ends with its log."""


@dataclass
class CoordinatorProcess:
    """`synthspace coordinator serve --home HOME` as a child process on HOST:PORT, started and
    stopped in one place for the demo, the tests and the benchmarks.

    The database URL comes from the home's settings, never from this process's environment
    (names in `drop_env` are removed from the child's, `extra_env` is added). A restart keeps the port, so clients'
    URLs stay valid. With `new_session` the server leads its own process group and `stop`
    signals the whole group (the demo's servers outlive a Ctrl-C of the terminal otherwise).
    """

    home: Path
    port: int = 0
    host: str = "127.0.0.1"
    log_level: str | None = "warning"
    new_session: bool = False
    drop_env: tuple[str, ...] = ("SYNTHSPACE_DATABASE_URL",)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "synthspace.cli.main", "coordinator", "serve", "--home", str(self.home),
               "--host", self.host, "--port", str(self.port)]  # fmt: skip
        return [*cmd, "--log-level", self.log_level] if self.log_level else cmd

    def start(self, timeout: float = 90.0) -> Self:
        """Start the server and wait until /healthz answers 200; ServerStartError otherwise."""
        self.port = self.port or free_port(self.host)
        self.log_path = self.home / "server.log"
        env = {**{k: v for k, v in os.environ.items() if k not in self.drop_env}, **self.extra_env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=self.new_session
            )
        proc = self.proc
        if wait_for_http(f"{self.url}/healthz", proc, timeout):
            return self
        exited = proc.poll() is not None
        self.stop()
        what = f"exited with code {proc.returncode}" if exited else f"did not answer on {self.url} within {timeout:.0f} s"
        raise ServerStartError(f"the coordinator {what} while starting; see {self.log_path}\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; returns once the port is free again."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.new_session:
            self._signal(proc, signal.SIGKILL)  # whatever stayed in its group
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and listening(self.port, self.host):
            time.sleep(0.1)

    def kill9(self) -> None:
        """Kill the server without letting it clean up (crash tests)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._signal(proc, signal.SIGKILL)
            proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def _signal(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.new_session:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
