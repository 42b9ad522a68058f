"""Package, sign and publish artifacts to the coordinator, and check the receipt.

Two entry points, one path:

- `publish_run(home, run_dir, ...)`: a generation run. Runs the gates if they have not run
  (or ran before the newest shard), refuses when a blocking gate failed, concatenates the
  shards into one `data.parquet` without the node-private `_` columns, and builds the lineage
  predicate from the run manifest and the gate report.
- `publish_file(home, path, predicate, ...)`: ANY file artifact (a derived dataset, a LoRA
  adapter's safetensors with a `model-adapter` predicate) with a caller-built predicate.

Both end in `publish_bundle`: the Statement (subject = the file's sha256) is signed once into
`BUNDLE/envelope.json`, uploaded with RFC 9421 request signatures, and the receipt is verified
(the logged entry is ours, included under a signed checkpoint consistent with what this node
saw before) and stored as `BUNDLE/receipt.json`. Signing happens once: an interrupted publish
re-uploads the same envelope, which the coordinator answers with the same receipt.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.acceptance import statement_problems
from synthspace.atomic_files import atomic_output, atomic_write_bytes
from synthspace.node.run_packaging import (
    GATE_REPORT,
    PublishError,
    ensure_gate_report,
    package_run_data,
    require_complete,
)

if TYPE_CHECKING:
    from synthspace.lineage import GateResult, LineagePredicate, Producer, Statement
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.home import NodeHome
    from synthspace.policy import UsagePolicy

PUBLISH_DIR = "publish"
DATA_FILE = "data.parquet"
ENVELOPE_FILE = "envelope.json"
RECEIPT_FILE = "receipt.json"

Progress = Callable[[str], None]


class GatesFailedError(PublishError):
    """A blocking gate failed: the run must not leave the node."""

    def __init__(self, run_dir: Path, failed: Sequence[str]) -> None:
        self.failed = list(failed)
        super().__init__(
            f"refusing to publish {run_dir}: blocking gate(s) failed: {', '.join(self.failed)} "
            f"(see {run_dir / GATE_REPORT}; fix the run or its recipe and generate again)"
        )


@dataclass
class PublishResult:
    """What a publish produced; everything here is also on disk under `bundle_dir`."""

    artifact_id: str
    log_index: int
    checkpoint_size: int
    bundle_dir: Path
    data_path: Path
    statement: Statement
    receipt: dict[str, Any]
    already_published: bool = False


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _noop(_: str) -> None:
    return None


def producer_for(home: NodeHome) -> Producer:
    """The Producer block naming this node's org and artifact key."""
    from synthspace import __version__
    from synthspace.lineage import Producer

    config = home.config()
    return Producer(org=config.org, artifact_key_id=config.artifact_key_id, software=f"synthspace {__version__}")


# ---- the lineage of a run -------------------------------------------------------------------
def predicate_for_run(
    home: NodeHome,
    run_dir: Path,
    gates: list[GateResult],
    record_count: int,
    *,
    title: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    license: str | None = None,
) -> LineagePredicate:
    """The lineage predicate of a generation run (manifest + gate results), not yet signed."""

    from synthspace.lineage import LineagePredicate, Times

    manifest = require_complete(run_dir)
    recipe = manifest.recipe
    org = home.config().org
    return LineagePredicate(
        kind="dataset",
        title=title or f"{recipe.task} ({org})",
        description=recipe.description if description is None else description,
        license=license or recipe.license,
        tags=list(dict.fromkeys([*recipe.tags, *tags])),
        task=recipe.task,
        locale=recipe.locale,
        record_count=record_count,
        producer=producer_for(home),
        generator=manifest.generator,
        persona_source=manifest.persona_source,
        seed_commitment=manifest.seed_commitment,
        recipe_digest=manifest.recipe_digest,
        gates=gates,
        parents=[],
        times=Times(started=manifest.started, finished=manifest.finished or manifest.updated, signed=_now()),
    )


def publish_run(
    home: NodeHome,
    run_dir: Path | str,
    *,
    title: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    license: str | None = None,
    gates_config: Path | None = None,
    policy: UsagePolicy | None = None,
    client: CoordinatorClient | None = None,
    progress: Progress = _noop,
) -> PublishResult:
    """Gate, package, sign and publish a generation run; the bundle lands in RUN_DIR/publish/.

    `policy` is the usage policy signed into the lineage (None: no policy is signed and the
    space's default terms apply, see synthspace.policy)."""
    run_dir = Path(run_dir)
    if not (run_dir / "manifest.json").is_file():
        raise PublishError(f"{run_dir} is not a generation run directory (no manifest.json)")
    home.require_enrolled()
    bundle = run_dir / PUBLISH_DIR
    if (bundle / ENVELOPE_FILE).is_file():
        progress(f"resuming: {bundle / ENVELOPE_FILE} is already signed")
        _refuse_policy_change(bundle, policy)
        return publish_bundle(home, bundle, client=client, progress=progress)

    require_complete(run_dir)
    report = ensure_gate_report(run_dir, gates_config, progress, home=home)
    gates = list(report.gates)
    failed = report.failed_blocking
    if failed:
        raise GatesFailedError(run_dir, failed)
    progress("packaging the shards into data.parquet (dropping node-private columns and duplicates)")
    data_path = bundle / DATA_FILE
    redacted = None
    if report.redaction is not None:
        from synthspace.node.gates.redaction import load_redactions

        progress(f"replacing the PII of {report.redaction.records} redacted record(s)")
        redacted = load_redactions(run_dir, report.redactions_sha256 or "", report.redaction.records)
    count = package_run_data(
        run_dir, data_path, exclude_record_ids=report.exclude_record_ids, redacted=redacted
    )
    predicate = predicate_for_run(
        home, run_dir, gates, count, title=title, description=description, tags=tags, license=license
    )
    if report.redaction is not None:
        predicate = predicate.model_copy(update={"redaction": report.redaction})
    if policy is not None:
        predicate = predicate.model_copy(update={"policy": policy})
    _refuse_local_paths(run_dir, predicate)
    return publish_file(home, data_path, predicate, bundle_dir=bundle, client=client, progress=progress)


def _refuse_policy_change(bundle: Path, policy: UsagePolicy | None) -> None:
    """A signed bundle's policy is part of its signature: asking for another one is an error,
    not something to ignore silently."""
    if policy is None:
        return
    from synthspace import dsse
    from synthspace.lineage import Statement

    envelope = dsse.Envelope.from_json((bundle / ENVELOPE_FILE).read_bytes())
    signed = Statement.model_validate_json(envelope.payload_bytes())
    if signed.predicate.policy != policy:
        raise PublishError(
            f"{bundle / ENVELOPE_FILE} is already signed with "
            f"{'another usage policy' if signed.predicate.policy else 'no usage policy'}; a signed "
            "artifact's policy cannot change (publish a new run, or a restricting policy version)"
        )


def _refuse_local_paths(run_dir: Path, predicate: LineagePredicate) -> None:
    """The manifest's node-only paths (seeds, personas, recipe) must never reach the lineage."""
    from synthspace.node.generate.manifest import load_manifest

    manifest = load_manifest(run_dir)
    text = predicate.model_dump_json()
    for path in (manifest.seeds_path, manifest.personas_path, manifest.recipe.path):
        if path and path in text:
            raise PublishError(f"the lineage would reveal the node-local path {path!r}; refusing to publish")


# ---- publishing any file --------------------------------------------------------------------
def build_statement(data_path: Path, predicate: LineagePredicate, subject_name: str | None = None) -> Statement:
    """The in-toto Statement whose subject is `data_path`'s sha256."""
    from synthspace.canonical_json import file_sha256
    from synthspace.lineage import DigestSet, Statement, Subject

    name = subject_name or data_path.name
    return Statement(subject=[Subject(name=name, digest=DigestSet(sha256=file_sha256(data_path)))], predicate=predicate)


def publish_file(
    home: NodeHome,
    path: Path | str,
    predicate: LineagePredicate,
    *,
    bundle_dir: Path | str | None = None,
    subject_name: str | None = None,
    client: CoordinatorClient | None = None,
    progress: Progress = _noop,
) -> PublishResult:
    """Sign `path` with `predicate` and publish it: the Python API for any artifact.

    The predicate's `producer` and `times.signed` are set here (from `home` and the clock);
    everything else is the caller's. The bundle (envelope.json, the file, receipt.json) goes to
    `bundle_dir` (default: `<path's folder>/publish-<file name>/`). Raises GatesFailedError if the
    predicate records a failed blocking gate.
    """
    from synthspace import artifact

    path = Path(path)
    if not path.is_file():
        raise PublishError(f"{path} is not a file")
    config = home.require_enrolled()
    name = subject_name or path.name
    if Path(name).name != name or name.startswith(".") or name in (ENVELOPE_FILE, RECEIPT_FILE):
        raise PublishError(f"{name!r} cannot be an artifact file name")
    bundle = Path(bundle_dir) if bundle_dir is not None else path.parent / f"publish-{path.name}"
    if (bundle / ENVELOPE_FILE).is_file():
        raise PublishError(
            f"{bundle} already holds a signed artifact; publish it with publish_bundle, or choose another bundle_dir"
        )
    failed = [g.name for g in predicate.gates if g.blocking and not g.passed]
    if failed:
        raise GatesFailedError(path.parent, failed)

    bundle.mkdir(parents=True, exist_ok=True)
    target = bundle / name
    if path.resolve() != target.resolve():
        with atomic_output(target) as fh, open(path, "rb") as src:
            shutil.copyfileobj(src, fh)
    times = predicate.times.model_copy(update={"signed": _now()})
    predicate = predicate.model_copy(update={"producer": producer_for(home), "times": times})
    statement = build_statement(target, predicate, name)
    problems = statement_problems(statement)
    if problems:  # the coordinator's and the auditor's rule: refuse before signing, not after
        raise PublishError(f"refusing to sign {path}: " + "; ".join(str(p) for p in problems))
    progress(f"signing the lineage Statement with artifact key {config.artifact_key_id[:16]}…")
    envelope = artifact.sign_statement(statement, home.artifact_key())
    atomic_write_bytes(bundle / ENVELOPE_FILE, envelope.to_json())
    return publish_bundle(home, bundle, client=client, progress=progress)


def publish_bundle(
    home: NodeHome,
    bundle_dir: Path | str,
    *,
    client: CoordinatorClient | None = None,
    progress: Progress = _noop,
) -> PublishResult:
    """Upload an already-signed bundle and verify + store the receipt (idempotent)."""
    from synthspace import artifact, dsse
    from synthspace.canonical_json import file_sha256
    from synthspace.node.audit import Auditor
    from synthspace.node.coordinator_client import CoordinatorClient

    bundle = Path(bundle_dir)
    config = home.require_enrolled()
    envelope_bytes = (bundle / ENVELOPE_FILE).read_bytes()
    envelope = dsse.Envelope.from_json(envelope_bytes)
    # Our own signature, checked with our own key: catches a bundle someone else swapped in.
    statement = artifact.open_statement(envelope, {config.artifact_key_id: home.artifact_public_key()})
    subject = statement.subject[0]
    data_path = bundle / subject.name
    if not data_path.is_file():
        raise PublishError(f"{bundle} lacks the signed data file {subject.name}")
    if file_sha256(data_path) != subject.digest.sha256:
        raise PublishError(
            f"{data_path} changed after it was signed (sha256 differs from the envelope); "
            f"remove {bundle} and publish again"
        )
    aid = artifact.artifact_id(envelope)

    own_client = client is None
    client = client or CoordinatorClient.for_home(home)
    try:
        auditor = Auditor.for_home(home, client)
        receipt_path = bundle / RECEIPT_FILE
        if receipt_path.is_file():
            receipt = json.loads(receipt_path.read_text())
            already = True
        else:
            size = data_path.stat().st_size
            progress(f"uploading {subject.name} ({size:,} bytes) and the envelope to {config.coordinator_url}")
            receipt = client.publish(envelope_bytes, data_path, subject.name).model_dump(mode="json")
            already = False
        progress("verifying the receipt: log entry, inclusion proof, signed checkpoint")
        checkpoint = auditor.verify_receipt(
            receipt,
            envelope_bytes=envelope_bytes,
            subject_sha256=subject.digest.sha256,
            org=config.org,
            key_id=config.artifact_key_id,
        )
    finally:
        if own_client:
            client.close()
    if not already:
        atomic_write_bytes(bundle / RECEIPT_FILE, (json.dumps(receipt, indent=2) + "\n").encode())
    return PublishResult(
        artifact_id=aid,
        log_index=int(receipt["log_index"]),
        checkpoint_size=checkpoint.size,
        bundle_dir=bundle,
        data_path=data_path,
        statement=statement,
        receipt=receipt,
        already_published=already,
    )


def retract(home: NodeHome, artifact_id: str, reason: str, client: CoordinatorClient | None = None) -> dict[str, Any]:
    """Withdraw one of this org's artifacts (a new `retract` log entry; nothing is deleted)."""
    from synthspace.node.coordinator_client import CoordinatorClient

    if not reason.strip():
        raise PublishError("a retraction needs a reason (--reason)")
    home.require_enrolled()
    if client is not None:
        return client.retract(artifact_id, reason)
    with CoordinatorClient.for_home(home) as c:
        return c.retract(artifact_id, reason)


def publish_path(
    home: NodeHome,
    path: Path | str,
    *,
    title: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    license: str | None = None,
    gates_config: Path | None = None,
    policy: UsagePolicy | None = None,
    client: CoordinatorClient | None = None,
    progress: Progress = _noop,
) -> PublishResult:
    """Publish whatever `path` is: a run directory, a derivation directory or a signed bundle.
    `policy` (the usage policy to sign) applies to a run; a derivation or a bundle that is
    already signed cannot take one here."""
    from synthspace.node.derive import DERIVATION_FILE, publish_derived

    path = Path(path)
    if (path / "manifest.json").is_file():
        return publish_run(
            home,
            path,
            title=title,
            description=description,
            tags=tags,
            license=license,
            gates_config=gates_config,
            policy=policy,
            client=client,
            progress=progress,
        )
    if (path / DERIVATION_FILE).is_file():
        if title or description or tags or license or gates_config or policy:
            raise PublishError("a derivation's title, tags, license and terms are set by `catalog derive`, not here")
        return publish_derived(home, path, client=client, progress=progress)
    if (path / ENVELOPE_FILE).is_file():
        _refuse_policy_change(path, policy)
        return publish_bundle(home, path, client=client, progress=progress)
    raise PublishError(
        f"{path} is neither a run directory (manifest.json), a derivation (derivation.json) "
        "nor a signed bundle (envelope.json)"
    )
