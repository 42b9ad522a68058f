"""The SuperLink beside the coordinator, and the `flwr` CLI that drives its Control API.

`start_superlink()` runs `flower-superlink` with TLS (certificates from the federation CA),
`--enable-supernode-auth` (only SuperNode keys registered through the Control API may connect)
and `--disable-runtime-dependency-installation` (ServerApps run with this environment's
packages), in its own process group, state in COORD_HOME/federation/superlink.db.

`FlowerControl` calls the `flwr` CLI (the Control API's public client) with
FLWR_HOME=COORD_HOME/federation/flwr, whose config.toml names the connection `synthspace`.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from synthspace.coordinator.federated.pki import DEFAULT_SERVER_NAMES, ensure_server_cert
from synthspace.errors import SynthspaceError
from synthspace.process_groups import (
    child_environment,
    find_executable,
    read_log_text,
    stop_process_group,
)

CONNECTION = "synthspace"
DEFAULT_PORT = 9092


class SuperLinkError(SynthspaceError):
    """The SuperLink could not be started or reached, or a Control API call failed."""


def federation_dir(home: Path | str) -> Path:
    return Path(home).expanduser().resolve() / "federation"


def flower_executable(name: str) -> str:
    """A Flower console script from this interpreter's environment (else PATH)."""
    return find_executable(name, "install flwr==1.41.* in this environment")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tls_ready(host: str, port: int, ca_cert: Path, server_name: str = "localhost") -> bool:
    """True once the port completes a TLS handshake that verifies against the federation CA."""
    ctx = ssl.create_default_context(cafile=str(ca_cert))
    try:
        with socket.create_connection((host, port), timeout=2) as raw, ctx.wrap_socket(raw, server_hostname=server_name):
            return True
    except (OSError, ssl.SSLError):
        return False


def write_flwr_config(home: Path | str, address: str, ca_cert: Path) -> Path:
    """FLWR_HOME/config.toml with the `synthspace` connection (TLS, the federation CA)."""
    flwr_home = federation_dir(home) / "flwr"
    flwr_home.mkdir(parents=True, exist_ok=True)
    path = flwr_home / "config.toml"
    path.write_text(
        "[superlink]\n"
        f'default = "{CONNECTION}"\n\n'
        f"[superlink.{CONNECTION}]\n"
        f'address = "{address}"\n'
        f'root-certificates = "{ca_cert}"\n',
        encoding="utf-8",
    )
    return path


@dataclass
class SuperLinkProcess:
    """A running `flower-superlink`; `stop()` ends its process group and frees the port."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    ca_cert: Path
    log_path: Path
    _log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return read_log_text(self.log_path)

    def stop(self, timeout: float = 15.0) -> int | None:
        stop_process_group(self.process, timeout)
        # The SuperLink's SuperExec runs in its own session and watches its parent's pid; wait
        # for the port to be released so a restart on the same port works.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not port_is_free(self.host, self.port):
            time.sleep(0.2)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def __enter__(self) -> SuperLinkProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_superlink(
    home: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    server_names: tuple[str, ...] = (),
    startup_timeout: float = 60.0,
    extra_env: dict[str, str] | None = None,
) -> SuperLinkProcess:
    """Start the SuperLink with TLS and SuperNode authentication; returns once it serves TLS."""
    fed = federation_dir(home)
    fed.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys((*DEFAULT_SERVER_NAMES, *server_names, *([host] if host not in ("0.0.0.0", "::") else []))))
    tls = ensure_server_cert(fed / "ca", names)
    if not port_is_free(host, port):
        raise SuperLinkError(f"port {port} on {host} is in use; pick another with --port")
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    write_flwr_config(home, f"{connect_host}:{port}", tls.ca_cert)
    log_path = fed / "superlink.log"
    log = log_path.open("ab")
    cmd = [
        flower_executable("flower-superlink"),
        "--ssl-ca-certfile", str(tls.ca_cert),
        "--ssl-certfile", str(tls.server_cert),
        "--ssl-keyfile", str(tls.server_key),
        "--enable-supernode-auth",
        "--disable-runtime-dependency-installation",
        "--isolation", "subprocess",
        "--database", str(fed / "superlink.db"),
        "--host", host,
        "--port", str(port),
    ]  # fmt: skip
    env = child_environment({"FLWR_HOME": str(fed / "flwr"), "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    link = SuperLinkProcess(proc, connect_host, port, tls.ca_cert, log_path, log)
    deadline = time.monotonic() + startup_timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SuperLinkError(f"flower-superlink exited with code {proc.returncode}; see {log_path}")
            if tls_ready(connect_host, port, tls.ca_cert):
                return link
            time.sleep(0.3)
    except BaseException:  # interrupted or failed while starting: leave no process behind
        link.stop()
        raise
    link.stop()
    raise SuperLinkError(f"the SuperLink did not serve TLS on {connect_host}:{port} within {startup_timeout:.0f} s; see {log_path}")


class FlowerControl:
    """The SuperLink's Control API through the `flwr` CLI (JSON output)."""

    def __init__(self, home: Path | str, timeout: float = 120.0) -> None:
        self.home = Path(home).expanduser().resolve()
        self.flwr_home = federation_dir(self.home) / "flwr"
        self.timeout = timeout
        if not (self.flwr_home / "config.toml").is_file():
            raise SuperLinkError(
                f"no SuperLink connection in {self.flwr_home}: start it with `synthspace federate superlink --home {self.home}`"
            )

    def _flwr(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        env = child_environment({"FLWR_HOME": str(self.flwr_home)})
        try:
            return subprocess.run(
                [flower_executable("flwr"), *args],
                env=env, capture_output=True, text=True, timeout=timeout or self.timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise SuperLinkError(f"`flwr {' '.join(args[:2])}` timed out after {exc.timeout:.0f} s") from exc

    def _json(self, *args: str) -> dict[str, Any]:
        res = self._flwr(*args, "--format", "json")
        text = res.stdout.strip()
        start = text.find("{")
        try:
            data: dict[str, Any] = json.loads(text[start:]) if start >= 0 else {}
        except ValueError:
            data = {}
        if res.returncode != 0 or not data.get("success", False):
            # flwr prints {"success": false, "error-message": ...} in JSON mode
            lines = (res.stderr.strip() or text or "no output").splitlines()
            detail = " ".join(str(data.get("error-message") or lines[-1]).split())
            raise SuperLinkError(f"`flwr {' '.join(args[:2])}` failed: {detail}")
        return data

    def register_supernode(self, public_key_openssh: str, name: str) -> int:
        with tempfile.NamedTemporaryFile("w", suffix=".pub", delete=False) as fh:
            fh.write(public_key_openssh.strip() + "\n")
            path = fh.name
        try:
            data = self._json("supernode", "register", path, CONNECTION, "--name", name)
        finally:
            os.unlink(path)
        return int(data["node-id"])

    def unregister_supernode(self, node_id: int) -> None:
        self._json("supernode", "unregister", str(node_id), CONNECTION)

    def list_supernodes(self) -> list[dict[str, Any]]:
        return list(self._json("supernode", "ls", CONNECTION).get("nodes", []))

    def start_run(self, app_dir: Path) -> int:
        data = self._json("run", str(app_dir), CONNECTION)
        run_id = data.get("run-id")
        if not run_id:
            raise SuperLinkError(f"the SuperLink did not start the run: {data}")
        return int(run_id)

    def run_info(self, run_id: int) -> dict[str, Any]:
        runs = self._json("ls", CONNECTION, "--run-id", str(run_id)).get("runs", [])
        if not runs:
            raise SuperLinkError(f"the SuperLink knows no run {run_id}")
        return dict(runs[0])

    def list_runs(self) -> list[dict[str, Any]]:
        return list(self._json("ls", CONNECTION).get("runs", []))

    def stop_run(self, run_id: int) -> None:
        self._json("stop", str(run_id), CONNECTION)

    def run_log(self, run_id: int) -> str:
        res = self._flwr("log", str(run_id), CONNECTION, "--show", timeout=60)
        return res.stdout
