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

`publish_file`, `publish_bundle` and what they share live in `synthspace.node.bundles` (which
`derive` builds on, while `publish_path` here dispatches to `derive`); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace import dsse
from synthspace.lineage import LineagePredicate, Statement, Times
from synthspace.node.bundles import (
    ENVELOPE_FILE,
    RECEIPT_FILE,
    GatesFailedError,
    Progress,
    PublishError,
    PublishResult,
    build_statement,
    producer_for,
    publish_bundle,
    publish_file,
)
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.node.derive import DERIVATION_FILE, publish_derived
from synthspace.node.gates.redaction import load_redactions
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.run_packaging import (
    ensure_gate_report,
    package_run_data,
    require_complete,
)

if TYPE_CHECKING:
    from synthspace.lineage import GateResult
    from synthspace.node.home import NodeHome
    from synthspace.policy import UsagePolicy

__all__ = [
    "DATA_FILE",
    "ENVELOPE_FILE",
    "PUBLISH_DIR",
    "RECEIPT_FILE",
    "GatesFailedError",
    "Progress",
    "PublishError",
    "PublishResult",
    "build_statement",
    "predicate_for_run",
    "producer_for",
    "publish_bundle",
    "publish_file",
    "publish_path",
    "publish_run",
    "retract",
]

PUBLISH_DIR = "publish"
DATA_FILE = "data.parquet"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _noop(_: str) -> None:
    return None


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
    manifest = load_manifest(run_dir)
    text = predicate.model_dump_json()
    for path in (manifest.seeds_path, manifest.personas_path, manifest.recipe.path):
        if path and path in text:
            raise PublishError(f"the lineage would reveal the node-local path {path!r}; refusing to publish")


def retract(home: NodeHome, artifact_id: str, reason: str, client: CoordinatorClient | None = None) -> dict[str, Any]:
    """Withdraw one of this org's artifacts (a new `retract` log entry; nothing is deleted)."""
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
