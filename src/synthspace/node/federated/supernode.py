"""Join a federation: the org's Flower SuperNode as a supervised process.

`join()` writes NODE_HOME/federation/join.json (SuperLink address, the federation CA
certificate, the declared training data), makes sure the SuperNode key pair exists
(NODE_HOME/keys/supernode{,.pub}, ECDSA P-384 in OpenSSH format, as Flower's node
authentication reads it) and starts `flower-supernode` with TLS and that key in its own process
group. The SuperLink refuses a key that the coordinator has not registered; `join()` then
raises `SuperNodeRefused` with Flower's reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field

from synthspace.errors import SynthspaceError
from synthspace.local_servers import free_port
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.node.federated.training_data import TrainingUse, audit_verifier, read_source
from synthspace.node.home import NodeHome
from synthspace.process_groups import (
    child_environment,
    find_executable,
    read_log_text,
    stop_process_group,
)

JOIN_FILE = "join.json"
CONNECTED_MARKER = "SuperNode ID:"


class FederationJoinError(SynthspaceError):
    """The node cannot join the federation (bad config, missing key or certificate, no SuperLink)."""


class SuperNodeRefused(FederationJoinError):
    """The SuperLink refused this SuperNode (its key is not registered, or TLS failed)."""


class JoinConfig(BaseModel):
    """NODE_HOME/federation/join.json: how this node joins its federation. No secrets."""

    model_config = ConfigDict(extra="forbid")

    superlink: str = Field(description="SuperLink address host:port (Fleet, Control and Runtime API).")
    root_certificates: str = Field(description="Path of the federation CA certificate (PEM) that signs the SuperLink's TLS certificate.")
    data: list[str] = Field(default_factory=list, description="Training sources: run dirs, artifact bundles or .parquet files.")
    held_out_percent: int = Field(default=20, ge=0, lt=100, description="Share of records held out for evaluation.")
    max_examples: int | None = Field(default=None, ge=1, description="Cap on train (and held-out) examples per round.")
    torch_threads: int | None = Field(default=None, ge=1, description="CPU threads per ClientApp process (None: torch's default).")
    canaries: int = Field(default=0, ge=0, le=100, description="Secret Sharer canaries planted in this node's training data (0 = off).")
    canary_repeats: int = Field(default=8, ge=1, le=1000, description="Times each canary is repeated among the training examples.")
    canary_candidates: int = Field(default=1000, ge=2, le=100_000, description="Candidates |R| each canary is ranked among after training.")


def federation_dir(home: Path) -> Path:
    return Path(home).expanduser() / "federation"


def load_join_config(home: Path | str) -> JoinConfig:
    path = federation_dir(Path(home)) / JOIN_FILE
    if not path.is_file():
        raise FederationJoinError(
            f"{path} not found: run `synthspace node join --home {home} --superlink HOST:PORT "
            "--ca-cert CA.crt --data RUN_DIR` first"
        )
    try:
        return JoinConfig.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise FederationJoinError(f"{path} is not a valid join config: {exc}") from exc


def save_join_config(home: Path | str, config: JoinConfig) -> Path:
    d = federation_dir(Path(home))
    d.mkdir(parents=True, exist_ok=True)
    path = d / JOIN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def ensure_supernode_key(home: Path | str) -> tuple[Path, str]:
    """(private key path, OpenSSH public key text); creates the pair if the home has none."""
    node_home = NodeHome(home)
    node_home.config()  # raises a clear error when this is not a node home
    private, public = node_home.supernode_key_path, node_home.supernode_public_key_path
    if not private.is_file():
        key = ec.generate_private_key(ec.SECP384R1())
        private.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            + b"\n"
        )
    text = node_home.supernode_public_key()
    if text is None:
        raise FederationJoinError(f"{public} is missing or empty; remove {private} and join again")
    return private, text


def _openssh(text: str) -> str | None:
    """OpenSSH form of a PEM or OpenSSH public key (None if it is neither)."""
    raw = text.strip().encode()
    try:
        key = serialization.load_pem_public_key(raw) if raw.startswith(b"-----") else serialization.load_ssh_public_key(raw)
        return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    except (ValueError, TypeError):
        return None


def register_supernode_key(home: Path | str) -> bool:
    """Enrolled homes: make sure the coordinator knows this SuperNode key (adds it if not).

    Homes enrolled before they had a SuperNode key (or whose key `join` just created) add it as
    a `supernode` key of their org, a signed, logged key addition. Returns True if it was added.
    """
    node_home = NodeHome(home)
    config = node_home.config()
    if not config.enrolled:
        return False
    _, public = ensure_supernode_key(home)
    with CoordinatorClient.for_home(node_home) as client:
        record = client.org(config.org)
        mine = _openssh(public)
        same = [k for k in record.keys if k.purpose == "supernode" and _openssh(k.public_key_pem) == mine]
        if any(k.revoked_at is None for k in same):
            return False
        if same:
            raise FederationJoinError(
                f"this node's SuperNode key {same[0].key_id[:16]}… was revoked at the coordinator "
                f"({same[0].revoke_reason or 'no reason given'}); remove {node_home.supernode_key_path} and "
                f"{node_home.supernode_public_key_path} and join again to create and enrol a new one"
            )
        client.add_key(config.org, "supernode", public)
    return True


def flower_executable(name: str) -> str:
    """A Flower console script from this interpreter's environment (else PATH)."""
    return find_executable(name, "install flwr==1.41.* in this environment")



@dataclass
class SuperNodeProcess:
    """A running `flower-supernode`; `stop()` ends its whole process group (ClientApps included)."""

    org: str
    process: subprocess.Popen[bytes]
    log_path: Path
    runtime_port: int
    node_id: int | None = None
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return read_log_text(self.log_path)

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> int | None:
        """SIGTERM (the SuperNode deactivates itself at the SuperLink), then SIGKILL after `timeout`."""
        # The ClientApp children share the group; none outlives the SuperNode.
        stop_process_group(self.process, timeout, graceful=graceful)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def __enter__(self) -> SuperNodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _refusal_reason(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "Exit Code" in ln or "Failed to" in ln:
            return " ".join(lines[i : i + 3])
    return lines[-1] if lines else "no output"


def start_supernode(
    home: Path | str,
    *,
    connect_timeout: float = 60.0,
    runtime_port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> SuperNodeProcess:
    """Start this node's SuperNode from its join.json; returns once the SuperLink accepted it."""
    home = Path(home).expanduser().resolve()
    org = NodeHome(home).config().org
    config = load_join_config(home)
    ca = Path(config.root_certificates)
    if not ca.is_file():
        raise FederationJoinError(f"federation CA certificate {ca} not found")
    key_path, _ = ensure_supernode_key(home)
    fed = federation_dir(home)
    flwr_home = fed / "flwr"
    flwr_home.mkdir(parents=True, exist_ok=True)
    port = runtime_port or free_port()
    log_path = fed / "supernode.log"
    log = log_path.open("wb")
    cmd = [
        flower_executable("flower-supernode"),
        "--superlink", config.superlink,
        "--root-certificates", str(ca),
        "--auth-supernode-private-key", str(key_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--node-config", f'home="{home}"',
    ]  # fmt: skip
    env = child_environment({"FLWR_HOME": str(flwr_home), "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    sn = SuperNodeProcess(org=org, process=proc, log_path=log_path, runtime_port=port, _log=log)
    deadline = time.monotonic() + connect_timeout
    try:
        return _wait_connected(sn, deadline, config.superlink)
    except BaseException:  # refused, timed out or interrupted: leave no process behind
        sn.stop()
        raise


def _wait_connected(sn: SuperNodeProcess, deadline: float, superlink: str) -> SuperNodeProcess:
    org, proc, log_path = sn.org, sn.process, sn.log_path
    while time.monotonic() < deadline:
        text = sn.log_text()
        if CONNECTED_MARKER in text:
            tail = text.split(CONNECTED_MARKER, 1)[1].split()
            sn.node_id = int(tail[0]) if tail and tail[0].isdigit() else None
            return sn
        if proc.poll() is not None:
            raise SuperNodeRefused(
                f"the SuperLink at {superlink} refused org {org!r}'s SuperNode: "
                f"{_refusal_reason(text)} (is this node enrolled with its SuperNode key, and the key "
                f"registered with `synthspace federate sync-keys`?) Log: {log_path}"
            )
        time.sleep(0.2)
    raise FederationJoinError(
        f"the SuperNode did not connect to {superlink} in time; "
        f"is the SuperLink running and reachable? Log: {log_path}"
    )


def join(
    home: Path | str,
    *,
    superlink: str | None = None,
    ca_cert: Path | str | None = None,
    data: list[str] | None = None,
    held_out_percent: int | None = None,
    max_examples: int | None = None,
    torch_threads: int | None = None,
    canaries: int | None = None,
    connect_timeout: float = 60.0,
    runtime_port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> SuperNodeProcess:
    """Record how this node joins (options override join.json) and start its SuperNode."""
    home = Path(home).expanduser().resolve()
    fed = federation_dir(home)
    try:
        current = load_join_config(home)
    except FederationJoinError:
        if superlink is None or ca_cert is None:
            raise FederationJoinError(
                "first join needs --superlink HOST:PORT and --ca-cert PATH (the federation CA "
                "certificate from the coordinator operator)"
            ) from None
        current = JoinConfig(superlink=superlink, root_certificates="")
    update: dict[str, object] = {}
    if superlink is not None:
        if ":" not in superlink or superlink.startswith(("http://", "https://")):
            raise FederationJoinError(f"--superlink takes HOST:PORT without a scheme, got {superlink!r}")
        update["superlink"] = superlink
    if ca_cert is not None:
        src = Path(ca_cert).expanduser()
        if not src.is_file():
            raise FederationJoinError(f"CA certificate {src} not found")
        text = src.read_text(encoding="utf-8", errors="replace")
        if "BEGIN CERTIFICATE" not in text:
            raise FederationJoinError(f"{src} is not a PEM certificate")
        fed.mkdir(parents=True, exist_ok=True)
        dest = fed / "ca.crt"
        dest.write_text(text, encoding="utf-8")
        update["root_certificates"] = str(dest)
    if data is not None:
        update["data"] = [str(Path(d).expanduser().resolve()) for d in data]
    if held_out_percent is not None:
        update["held_out_percent"] = held_out_percent
    if max_examples is not None:
        update["max_examples"] = max_examples
    if torch_threads is not None:
        update["torch_threads"] = torch_threads
    if canaries is not None:
        update["canaries"] = canaries
    config = JoinConfig.model_validate({**current.model_dump(), **update})
    if not config.data:
        raise FederationJoinError("declare the training data this node trains on: --data RUN_DIR|BUNDLE|FILE.parquet")
    verify = audit_verifier(home)
    use = TrainingUse(org=NodeHome(Path(home)).config().org)
    for source in config.data:
        # fail now (unreadable, unverified, or a policy that forbids this org to train), not inside a round
        read_source(source, verify, use)
    save_join_config(home, config)
    register_supernode_key(home)
    return start_supernode(home, connect_timeout=connect_timeout, runtime_port=runtime_port, extra_env=extra_env)
