"""Small helpers shared by the node's CLI commands: opening homes, clients and auditors.

They live in `synthspace.node` (not in `synthspace.cli`) because the Python API offers the same
choices: an auditor for a node home, or a stand-alone auditor with its own state directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from synthspace.errors import SynthspaceError
from synthspace.node.audit import Auditor
from synthspace.node.audit.auditor_state import DEFAULT_AUDITOR_STATE, AuditorState
from synthspace.node.audit.log_monitor import offline_client
from synthspace.node.audit.witnessing import load_policy
from synthspace.node.consumer import Consumer
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.node.home import NodeHome, default_home
from synthspace.witness import WitnessPolicy


class AuditorSetupError(SynthspaceError):
    """Neither a node home nor a coordinator URL was given to audit against."""


def open_home(home: Path | None) -> NodeHome:
    return NodeHome(home if home is not None else default_home())


def open_auditor(
    *,
    home: Path | None = None,
    coordinator: str | None = None,
    state: Path | None = None,
    verifier_key: str | None = None,
    trust_on_first_use: bool = True,
    offline: bool = False,
    witness_policy: Path | None = None,
) -> Auditor:
    """An Auditor for a node home (signed requests, the node's pinned log key), or, with
    `coordinator`, a stand-alone one keeping its state in `state`
    (default ~/.synthspace/auditor/<coordinator>). With `offline`, no network at all: the log
    as this auditor last verified it answers every log read. The witness policy is
    `witness_policy` if given, else the node home's HOME/witness-policy if it has one."""
    def policy(node_path: Path | None) -> WitnessPolicy | None:
        if witness_policy is not None:
            try:
                text = Path(witness_policy).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AuditorSetupError(f"cannot read the witness policy {witness_policy}: {exc}") from None
            return WitnessPolicy.parse(text)
        return load_policy(node_path) if node_path is not None else None

    if offline:
        if state is None:
            if coordinator is not None:
                url = coordinator.rstrip("/")
                state = DEFAULT_AUDITOR_STATE.expanduser() / hashlib.sha256(url.encode()).hexdigest()[:16]
            else:
                state = open_home(home).auditor_state_dir
        st = AuditorState(state)
        node_path = open_home(home).path if coordinator is None and home is not None else None
        return Auditor(
            offline_client(st), st, pinned_verifier_key=verifier_key, trust_on_first_use=False, offline=True,
            witness_policy=policy(node_path),
        )
    if coordinator is None:
        node = open_home(home)
        if not node.exists():
            raise AuditorSetupError(
                f"no node home at {node.path}: pass --home DIR of a node, or --coordinator URL "
                "(and optionally --state DIR) to audit as an outsider"
            )
        config = node.config()
        client = CoordinatorClient.for_home(node)
        return Auditor(
            client,
            AuditorState(state if state is not None else node.auditor_state_dir),
            pinned_verifier_key=verifier_key or config.log_verifier_key,
            trust_on_first_use=trust_on_first_use,
            witness_policy=policy(node.path),
            org=config.org,
            consumer=Consumer.for_home(node),
        )
    url = coordinator.rstrip("/")
    if home is not None:  # an enrolled node may sign an outsider-style audit of another URL
        node = open_home(home)
        client = CoordinatorClient(url, node.request_key(), keyid=node.config().request_key_id)
    else:
        client = CoordinatorClient(url)
    if state is None:
        state = DEFAULT_AUDITOR_STATE.expanduser() / hashlib.sha256(url.encode()).hexdigest()[:16]
    return Auditor(
        client, AuditorState(state), pinned_verifier_key=verifier_key, trust_on_first_use=trust_on_first_use,
        witness_policy=policy(None),
    )
