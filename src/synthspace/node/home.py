"""The node's home directory: its keys, its config and its private store.

Layout (CONTRACTS.md, "Node home"):

    DIR/node.json            NodeConfig: org, coordinator URL, key ids, enrolment state,
                             the coordinator's pinned log verifier key
    DIR/keys/artifact.pem    Ed25519, signs DSSE envelopes        (PEM PKCS#8, 0600)
    DIR/keys/request.pem     Ed25519, signs RFC 9421 requests     (PEM PKCS#8, 0600)
    DIR/keys/supernode       ECDSA P-384, Flower SuperNode auth   (OpenSSH, 0600)
    DIR/keys/supernode.pub   its public half (OpenSSH)
    DIR/private/             0700: seed salts (PrivateStore), run state, auditor state

Nothing under keys/ or private/ is ever sent to the coordinator; only public halves travel.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, ValidationError

from synthspace import keys
from synthspace.api_models import is_org_name
from synthspace.atomic_files import atomic_write_json
from synthspace.config_model import StrictModel
from synthspace.errors import SynthspaceError
from synthspace.node.private_store import PrivateStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

HOME_ENV = "SYNTHSPACE_HOME"
DEFAULT_HOME = Path("~/.synthspace/node")
CONFIG_NAME = "node.json"
CONFIG_VERSION = 1


class NodeHomeError(SynthspaceError):
    """The node home is missing, incomplete or not set up for the requested operation."""


class NotEnrolledError(NodeHomeError):
    """The node has not enrolled with its coordinator yet."""


class NodeConfig(StrictModel):
    """DIR/node.json: everything the node needs to talk to its coordinator (no secrets)."""

    version: int = Field(default=CONFIG_VERSION, description="Layout version of node.json.")
    org: str = Field(min_length=1, max_length=100, description="The organisation this node belongs to.")
    coordinator_url: str = Field(description="Base URL of the coordinator, e.g. https://catalog.example:8443.")
    artifact_key_id: str = Field(description="Key id of keys/artifact.pem (signs DSSE envelopes).")
    request_key_id: str = Field(description="Key id of keys/request.pem (signs HTTP requests).")
    created_at: datetime = Field(description="When the home was initialised (UTC).")
    enrolled: bool = Field(default=False, description="Whether the keys are registered with the coordinator.")
    enrolled_at: datetime | None = Field(default=None, description="When enrolment succeeded (UTC).")
    log_verifier_key: str | None = Field(
        default=None,
        description="The coordinator's checkpoint verifier key (C2SP note verifier), pinned at enrolment.",
    )


def default_home() -> Path:
    """`$SYNTHSPACE_HOME`, else ~/.synthspace/node."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else DEFAULT_HOME.expanduser()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write_private_text(path: Path, text: str | bytes) -> None:
    """Create a file readable only by its owner, without a world-readable moment."""
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class NodeHome:
    """One node's home directory. Construct with `NodeHome(dir)`, or create with `NodeHome.init`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    # ---- layout ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def artifact_key_path(self) -> Path:
        return self.keys_dir / "artifact.pem"

    @property
    def request_key_path(self) -> Path:
        return self.keys_dir / "request.pem"

    @property
    def supernode_key_path(self) -> Path:
        return self.keys_dir / "supernode"

    @property
    def supernode_public_key_path(self) -> Path:
        return self.keys_dir / "supernode.pub"

    @property
    def private_dir(self) -> Path:
        return self.path / "private"

    @property
    def runs_state_dir(self) -> Path:
        return self.private_dir / "runs"

    @property
    def auditor_state_dir(self) -> Path:
        """Where this node's auditor keeps the last checkpoint it saw (see synthspace.node.audit)."""
        return self.private_dir / "auditor"

    # ---- creation -------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: Path | str,
        org: str,
        coordinator_url: str,
        *,
        supernode_key: bool = True,
    ) -> NodeHome:
        """Create a new home: two Ed25519 keys, a SuperNode key, node.json, private/ (0700).

        Refuses to touch a directory that already holds a node.json or keys, so an existing
        identity is never overwritten.
        """
        home = cls(path)

        org = org.strip()
        if not is_org_name(org):
            raise NodeHomeError(
                f"invalid org name {org!r}: use 1-63 lowercase letters, digits and '-', starting with a letter or digit"
            )
        url = coordinator_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise NodeHomeError(f"coordinator URL must start with http:// or https://, got {coordinator_url!r}")
        if home.config_path.exists() or home.artifact_key_path.exists() or home.request_key_path.exists():
            raise NodeHomeError(f"{home.path} already holds a node home; choose another --home or remove it")
        home.path.mkdir(parents=True, exist_ok=True)
        home.keys_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(home.keys_dir, 0o700)
        home.private_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(home.private_dir, 0o700)
        for sub in (home.runs_state_dir, home.auditor_state_dir):
            sub.mkdir(mode=0o700, exist_ok=True)

        artifact_key = keys.generate_private_key()
        request_key = keys.generate_private_key()
        keys.save_private_key(artifact_key, home.artifact_key_path)
        keys.save_private_key(request_key, home.request_key_path)
        if supernode_key:
            home._create_supernode_key()

        config = NodeConfig(
            org=org,
            coordinator_url=url,
            artifact_key_id=keys.key_id(artifact_key),
            request_key_id=keys.key_id(request_key),
            created_at=_now(),
        )
        home.save_config(config)
        return home

    def _create_supernode_key(self) -> None:
        """Flower's SuperNode authentication takes an ECDSA key in OpenSSH format (SECP384R1)."""
        key = ec.generate_private_key(ec.SECP384R1())
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        _write_private_text(self.supernode_key_path, private)
        self.supernode_public_key_path.write_bytes(public + b"\n")

    # ---- config ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> NodeConfig:
        if not self.config_path.is_file():
            raise NodeHomeError(
                f"no node home at {self.path} (missing {CONFIG_NAME}); "
                "run `synthspace node init --home DIR --org ORG --coordinator URL` first"
            )
        try:
            return NodeConfig.model_validate_json(self.config_path.read_bytes())
        except (ValidationError, ValueError) as exc:
            raise NodeHomeError(f"{self.config_path} is not a valid node config: {exc}") from exc

    def save_config(self, config: NodeConfig) -> None:
        """Atomic replace, so a crash never leaves a half-written node.json."""
        atomic_write_json(self.config_path, config.model_dump(mode="json"))

    def mark_enrolled(self, log_verifier_key: str) -> NodeConfig:
        config = self.config().model_copy(
            update={"enrolled": True, "enrolled_at": _now(), "log_verifier_key": log_verifier_key}
        )
        self.save_config(config)
        return config

    def require_enrolled(self) -> NodeConfig:
        config = self.config()
        if not config.enrolled:
            raise NotEnrolledError(
                f"node {config.org!r} at {self.path} is not enrolled; "
                "run `synthspace node enroll --home DIR --token TOKEN` first"
            )
        return config

    # ---- keys -----------------------------------------------------------------------------
    def artifact_key(self) -> Ed25519PrivateKey:
        return keys.load_private_key(self.artifact_key_path)

    def request_key(self) -> Ed25519PrivateKey:
        return keys.load_private_key(self.request_key_path)

    def artifact_public_key(self) -> Ed25519PublicKey:
        return self.artifact_key().public_key()

    def request_public_key(self) -> Ed25519PublicKey:
        return self.request_key().public_key()

    def supernode_public_key(self) -> str | None:
        """The SuperNode public key as Flower wants it (OpenSSH text), or None if there is none.

        Federation hook: `synthspace.node.federated` may write its own pair to
        keys/supernode{,.pub}; enrolment sends whatever is there.
        """
        path = self.supernode_public_key_path
        if not path.is_file():
            return None
        text = path.read_text().strip()
        return text or None

    # ---- private store --------------------------------------------------------------------
    def private_store(self) -> PrivateStore:
        """Seed salts and other node-only state (owner: generation; lives in private/)."""
        return PrivateStore(self.private_dir)

    def secret_files(self) -> list[Path]:
        """Every file whose bytes must never leave the node (keys and the private store)."""
        out: list[Path] = []
        for root in (self.keys_dir, self.private_dir):
            if root.is_dir():
                out.extend(p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".pub"))
        return out
