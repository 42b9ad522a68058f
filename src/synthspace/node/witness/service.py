"""The witness's decision on one add-checkpoint request (C2SP tlog-witness semantics).

Status codes as the spec gives them: 200 with the cosignature line; 400 malformed; 403 the log's
signature does not verify; 404 unknown log; 409 the old size is not the witness's (the body is
the size it has, `text/x.tlog.size`); 422 the consistency proof does not verify.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from synthspace import keys
from synthspace import transparency_log as tlog
from synthspace.checkpoint import Checkpoint, CheckpointError, Verifier, split_note, verify_note
from synthspace.errors import ProofError, SynthspaceError
from synthspace.node.witness.state import LogHead, WitnessState
from synthspace.witness import AddCheckpoint, WitnessError, WitnessKey, cosign

EMPTY_ROOT = tlog.EMPTY_ROOT


@dataclass(frozen=True)
class AddCheckpointResult:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass
class WitnessConfig:
    """Who the witness is and which logs it witnesses (origin -> log verifier key)."""

    name: str
    key: Ed25519PrivateKey
    logs: dict[str, Verifier] = field(default_factory=dict)


class Witness:
    def __init__(self, config: WitnessConfig, state: WitnessState) -> None:
        self.config = config
        self.state = state

    @property
    def key(self) -> WitnessKey:
        return WitnessKey.for_key(self.config.name, self.config.key)

    def add_checkpoint(self, body: bytes, now: int | None = None) -> AddCheckpointResult:
        try:
            req = AddCheckpoint.from_bytes(body)
            text, _ = split_note(req.note)
        except CheckpointError as exc:
            return AddCheckpointResult(400, f"malformed add-checkpoint request: {exc}\n")
        origin = text.split("\n", 1)[0]
        verifier = self.config.logs.get(origin)
        if verifier is None:
            return AddCheckpointResult(404, f"this witness does not witness log {origin!r}\n")
        try:
            new = Checkpoint.from_body(verify_note(req.note, verifier))
        except CheckpointError as exc:
            return AddCheckpointResult(403, f"checkpoint signature: {exc}\n")
        with self.state.locked() as heads:
            head = heads.get(origin, LogHead(0, EMPTY_ROOT, ""))
            if req.old_size != head.size:
                return AddCheckpointResult(409, f"{head.size}\n", "text/x.tlog.size")
            if new.size < head.size:
                return AddCheckpointResult(400, f"checkpoint size {new.size} is below the witnessed size {head.size}\n")
            try:
                tlog.verify_consistency(head.size, new.size, head.root, new.root, list(req.proof))
            except ProofError as exc:
                return AddCheckpointResult(
                    422, f"checkpoint at size {new.size} is not consistent with the witnessed size {head.size}: {exc}\n"
                )
            heads[origin] = LogHead(new.size, new.root, req.note)
        return AddCheckpointResult(200, cosign(text, self.config.name, self.config.key, int(time.time()) if now is None else now))


def witness_key_path(home: Path) -> Path:
    return Path(home) / "keys" / "witness.pem"


def load_witness(home: Path, name: str, logs: dict[str, Verifier]) -> Witness:
    """The witness of a node home: its key (created on first use, 0600) and its state folder."""
    path = witness_key_path(home)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys.save_private_key(keys.generate_private_key(), path)
    try:
        key = keys.load_private_key(path)
    except SynthspaceError as exc:
        raise WitnessError(f"witness key {path}: {exc}") from None
    return Witness(WitnessConfig(name=name, key=key, logs=logs), WitnessState(Path(home) / "witness"))
