"""Python API of the coordinator's federation: SuperLink, SuperNode key registry, runs.

    link = start_superlink(home, port=9092)          # TLS + SuperNode auth, keys synced
    run_id = start_run(home, RunOptions(rounds=2))    # submits the Flower App via `flwr run`
    for event in watch_run(home, run_id): ...         # progress from the run records
    federation_status(home)                           # runs and their metrics

The CLI (`synthspace federate ...`) only parses options and calls these.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from synthspace.coordinator.database import make_engine, make_sessionmaker
from synthspace.coordinator.federated.run_store import RunStore
from synthspace.coordinator.federated.server_config import (
    STRATEGIES,
    FederationAborted,
    ServerConfig,
)
from synthspace.coordinator.federated.superlink import (
    DEFAULT_PORT,
    FlowerControl,
    SuperLinkError,
    SuperLinkProcess,
    federation_dir,
)
from synthspace.coordinator.federated.superlink import start_superlink as _start_superlink
from synthspace.coordinator.models import OrgKey
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.errors import SynthspaceError
from synthspace.federated_run_config import NodeTrainingOptions, ServerRunOptions
from synthspace.flower_apps import CLIENT_APP, SECAGG_CLIENT_APP, SERVER_APP

APP_NAME = "synthspace-lora"
APP_VERSION = "1.0.0"
REGISTRY_FILE = "registered.json"
TERMINAL = ("completed", "failed", "stopped")
SUPERLINK_GONE_S = 60.0


class FederationRunError(SynthspaceError):
    """A federated run failed, was stopped, or did not finish in time."""


# ---- SuperNode key registry ---------------------------------------------------------------


def openssh_public_key(text: str) -> str:
    """A SuperNode public key (OpenSSH or PEM SPKI, ECDSA on a NIST curve) as OpenSSH text."""
    raw = text.strip().encode()
    try:
        key = (
            serialization.load_pem_public_key(raw)
            if raw.startswith(b"-----BEGIN")
            else serialization.load_ssh_public_key(raw)
        )
    except (ValueError, TypeError) as exc:
        raise SuperLinkError(f"not a PEM or OpenSSH public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SuperLinkError("a SuperNode key must be an ECDSA key (Flower node authentication uses NIST EC curves)")
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _registry_path(home: Path | str) -> Path:
    return federation_dir(home) / REGISTRY_FILE


def load_registry(home: Path | str) -> dict[str, dict[str, Any]]:
    path = _registry_path(home)
    if not path.is_file():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _save_registry(home: Path | str, registry: dict[str, dict[str, Any]]) -> None:
    path = _registry_path(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class KeySync:
    registered: list[str] = field(default_factory=list)  # orgs newly registered
    unchanged: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)  # orgs whose revoked key was removed
    errors: list[str] = field(default_factory=list)


def enrolled_supernode_keys(home: Path | str) -> list[tuple[str, str, str, bool]]:
    """(key_id, org, public key text, active) of every SuperNode key enrolled with the coordinator."""
    settings = CoordinatorSettings.load(home)
    engine = make_engine(settings.resolved_database_url())
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(OrgKey).where(OrgKey.purpose == "supernode").order_by(OrgKey.added_log_index)
            ).scalars()
            return [(k.key_id, k.org_name, k.public_key_pem, k.revoked_at is None) for k in rows]
    finally:
        engine.dispose()


def sync_supernode_keys(home: Path | str, control: FlowerControl | None = None) -> KeySync:
    """Make the SuperLink's registered keys equal the coordinator's active SuperNode keys."""
    control = control or FlowerControl(home)
    registry = load_registry(home)
    report = KeySync()
    for key_id, org, text, active in enrolled_supernode_keys(home):
        known = registry.get(key_id)
        if active and known is None:
            try:
                node_id = control.register_supernode(openssh_public_key(text), org)
            except SuperLinkError as exc:
                report.errors.append(f"{org}: {exc}")
                continue
            registry[key_id] = {"org": org, "node_id": str(node_id)}
            report.registered.append(org)
        elif active:
            report.unchanged.append(org)
        elif known is not None:
            try:
                control.unregister_supernode(int(known["node_id"]))
            except SuperLinkError as exc:
                report.errors.append(f"{org}: {exc}")
                continue
            registry.pop(key_id)
            report.unregistered.append(org)
    _save_registry(home, registry)
    return report


def start_superlink(
    home: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    server_names: tuple[str, ...] = (),
    sync_keys: bool = True,
) -> SuperLinkProcess:
    """Start the SuperLink (TLS, SuperNode auth) and register the enrolled SuperNode keys."""
    CoordinatorSettings.load(home)  # a clear error if this is not a coordinator home
    link = _start_superlink(home, host=host, port=port, server_names=server_names)
    if sync_keys:
        try:
            sync_supernode_keys(home)
        except BaseException:
            link.stop()
            raise
    return link


# ---- runs ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RunOptions(ServerRunOptions, NodeTrainingOptions):
    """Options of one federated run (become [tool.flwr.app.config] of the Flower App): the
    server half and the node half, with their defaults from `synthspace.federated_run_config`."""

    # A benchmark JSONL (local path) the published adapter is evaluated on after the run; the
    # evaluation itself runs at a node (`federate run --eval-home`), the run config records only
    # the benchmark's file name and digest.
    benchmark: str = ""

    def validate(self) -> None:
        if self.rounds < 1:
            raise FederationRunError(f"--rounds must be >= 1, got {self.rounds}")
        if self.min_nodes < 1:
            raise FederationRunError(f"--min-nodes must be >= 1, got {self.min_nodes}")
        if self.strategy.lower() not in STRATEGIES:
            raise FederationRunError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.evaluate not in ("final", "every", "none"):
            raise FederationRunError(f"--evaluate must be final, every or none, got {self.evaluate!r}")
        if self.local_steps < 1 or self.batch_size < 1 or self.max_seq_len < 8:
            raise FederationRunError("--local-steps and --batch-size must be >= 1 and --max-seq-len >= 8")
        if self.round_timeout <= 0 or self.start_timeout <= 0:
            raise FederationRunError("timeouts must be positive")
        if self.lora_rank < 1:
            raise FederationRunError(f"--lora-rank must be >= 1, got {self.lora_rank}")
        if self.benchmark and not self.publish:
            raise FederationRunError(
                "--benchmark needs --publish: the evaluation's parent is the published adapter"
            )
        if self.benchmark and not Path(self.benchmark).is_file():
            raise FederationRunError(f"benchmark {self.benchmark} does not exist")
        try:  # the ServerApp's own rules (DP, secure aggregation), checked before anything starts
            ServerConfig.from_run_config(self.run_config(Path(".")))
        except FederationAborted as exc:
            raise FederationRunError(str(exc)) from None

    def run_config(self, home: Path) -> dict[str, Any]:
        cfg = {k.replace("_", "-"): v for k, v in asdict(self).items()}
        cfg["strategy"] = self.strategy.lower()
        if self.benchmark:  # what the adapter will be scored on, not where the file lies
            data = Path(self.benchmark).read_bytes()
            cfg["benchmark"] = f"{Path(self.benchmark).name} sha256:{hashlib.sha256(data).hexdigest()}"
        else:
            cfg.pop("benchmark")
        cfg["coord-home"] = str(home)
        return cfg


def write_app(home: Path | str, options: RunOptions) -> Path:
    """The Flower App directory `flwr run` packages into a FAB.

    Its components point at synthspace's installed modules: each org runs the ClientApp code it
    installed itself, never code shipped by the coordinator.
    """
    home = Path(home).expanduser().resolve()
    app_dir = federation_dir(home) / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    pyproject = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": APP_NAME,
            "version": APP_VERSION,
            "description": "synthspace federated LoRA fine-tuning on synthetic data",
            "dependencies": ["flwr>=1.41,<1.42", "synthspace"],
        },
        "tool": {
            "flwr": {
                "app": {
                    "publisher": "synthspace",
                    "components": {
                        "serverapp": SERVER_APP,
                        "clientapp": SECAGG_CLIENT_APP if options.secure_aggregation else CLIENT_APP,
                    },
                    "config": options.run_config(home),
                }
            }
        },
    }
    (app_dir / "pyproject.toml").write_text(tomli_w.dumps(pyproject), encoding="utf-8")
    (app_dir / "README.md").write_text(
        "# synthspace-lora\n\nGenerated by `synthspace federate run`; see docs/federation.md.\n", encoding="utf-8"
    )
    return app_dir


def start_run(home: Path | str, options: RunOptions, *, sync_keys: bool = True) -> int:
    """Submit a run to the SuperLink; returns Flower's run id."""
    options.validate()
    home = Path(home).expanduser().resolve()
    RunStore.open(home).close()  # migrate before the ServerApp writes
    control = FlowerControl(home)
    if sync_keys:
        sync_supernode_keys(home, control)
    return control.start_run(write_app(home, options))


@dataclass
class RunEvent:
    """One progress event of a run: a finished round, or the run's end."""

    kind: str  # "status" | "round" | "end"
    run_id: str
    status: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


def _flower_status(control: FlowerControl, run_id: int) -> str | None:
    """Flower's status of the run, or None when the SuperLink cannot be asked."""
    try:
        return str(control.run_info(run_id).get("status", ""))
    except SuperLinkError:
        return None


def _round_message(r: dict[str, Any], total: int) -> str:
    m = r["metrics"]
    orgs = ", ".join(sorted(r["per_org"]))
    if r["kind"] == "init":
        return f"initial adapter: {int(m.get('adapter-tensors', 0))} tensors, {int(m.get('adapter-bytes', 0))} bytes"
    if r["kind"] == "evaluate":
        return f"evaluation after round {r['round']}: eval-loss {m.get('eval-loss', float('nan')):.4f} ({orgs})"
    if r["errors"] and not m:
        return f"round {r['round']}/{total} failed: {'; '.join(r['errors'])}"
    return (
        f"round {r['round']}/{total}: train-loss {m.get('train-loss', float('nan')):.4f} "
        f"(before {m.get('loss-before', float('nan')):.4f}), {r['replies']} updates from {orgs}, "
        f"{(r['wall_seconds'] or 0):.1f} s wall, {(r['train_seconds'] or 0):.1f} s training"
    )


def watch_run(
    home: Path | str, run_id: int, *, poll: float = 1.0, timeout: float | None = None
) -> Iterator[RunEvent]:
    """Yield progress events until the run ends (or `timeout` passes: the run is then stopped)."""
    control = FlowerControl(home)
    store = RunStore.open(home, migrate=False)
    rid = str(run_id)
    seen: set[tuple[int, str]] = set()
    last_status = ""
    deadline = None if timeout is None else time.monotonic() + timeout
    last_flower_check = 0.0
    unreachable_since: float | None = None
    try:
        while True:
            run = store.find_run(rid)
            if run is not None:
                if run["status"] != last_status:
                    last_status = run["status"]
                    yield RunEvent("status", rid, last_status, f"run {rid}: {last_status} {run['status_detail']}".strip(), run)
                for r in run["rounds"]:
                    key = (r["round"], r["kind"])
                    if key not in seen and r["finished_at"]:
                        seen.add(key)
                        yield RunEvent("round", rid, run["status"], _round_message(r, run["rounds_requested"]), r)
                if run["status"] in TERMINAL:
                    yield RunEvent("end", rid, run["status"], run["status_detail"], run)
                    return
            now = time.monotonic()
            if now - last_flower_check > 5.0:
                last_flower_check = now
                fstatus = _flower_status(control, run_id)
                if fstatus is None:
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since > SUPERLINK_GONE_S:
                        detail = f"the SuperLink did not answer for {SUPERLINK_GONE_S:.0f} s; is it still running?"
                        if store.find_run(rid) is not None:
                            store.update_run(rid, status="failed", status_detail=detail)
                        yield RunEvent("end", rid, "failed", detail)
                        return
                    fstatus = ""
                else:
                    unreachable_since = None
                if fstatus.startswith("finished"):
                    time.sleep(poll)  # let the ServerApp's last write land
                    run = store.find_run(rid)
                    if run is not None and run["status"] in TERMINAL:
                        continue
                    status = "completed" if fstatus.endswith("completed") else "failed"
                    if fstatus.endswith("stopped"):
                        status = "stopped"
                    detail = f"Flower reports {fstatus}"
                    if run is not None:
                        store.update_run(rid, status=status, status_detail=detail)
                    yield RunEvent("end", rid, status, detail, run or {})
                    return
            if deadline is not None and now > deadline:
                try:
                    control.stop_run(run_id)
                finally:
                    if store.find_run(rid) is not None:
                        store.update_run(rid, status="stopped", status_detail=f"stopped after {timeout:.0f} s")
                yield RunEvent("end", rid, "stopped", f"stopped after {timeout:.0f} s without finishing")
                return
            time.sleep(poll)
    finally:
        store.close()


def run_federation(
    home: Path | str,
    options: RunOptions,
    *,
    on_event: Callable[[RunEvent], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Start a run, stream its events to `on_event`, return the final run record.

    Raises FederationRunError when the run ends failed or stopped (the record says why).
    """
    run_id = start_run(home, options)
    end: RunEvent | None = None
    for event in watch_run(home, run_id, timeout=timeout):
        if on_event is not None:
            on_event(event)
        if event.kind == "end":
            end = event
    store = RunStore.open(home, migrate=False)
    try:
        record = store.find_run(str(run_id)) or {"run_id": str(run_id), "status": end.status if end else "failed"}
    finally:
        store.close()
    if record.get("status") != "completed":
        detail = record.get("status_detail") or (end.message if end else "no status")
        raise FederationRunError(f"federated run {run_id} {record.get('status')}: {detail}")
    return record


def federation_status(home: Path | str, run_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Recorded runs (newest first) with their metrics; one run with its rounds when `run_id` is given."""
    store = RunStore.open(home)
    try:
        if run_id is not None:
            return [store.get_run(str(run_id))]
        return store.list_runs(limit=limit)
    finally:
        store.close()
