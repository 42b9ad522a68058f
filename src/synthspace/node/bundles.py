"""Sign one file artifact into a bundle, publish it and verify the receipt.

`publish_file(home, path, predicate, ...)` publishes ANY file artifact (a generation run's
packaged data, a derived dataset, a LoRA adapter's safetensors with a `model-adapter`
predicate) with a caller-built predicate: the Statement (subject = the file's sha256) is signed
once into `BUNDLE/envelope.json`, and `publish_bundle` uploads it with RFC 9421 request
signatures and verifies the receipt (the logged entry is ours, included under a signed
checkpoint consistent with what this node saw before), stored as `BUNDLE/receipt.json`.

The kinds of artifact build on this module (`publishing` for generation runs and the
`publish_path` dispatcher, `derive` for derived datasets, `evaluation.publish`); it imports none
of them, nor the gates. `synthspace.node.publishing` re-exports its names.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace import __version__, artifact, dsse
from synthspace.acceptance import statement_problems
from synthspace.atomic_files import atomic_output, atomic_write_bytes
from synthspace.canonical_json import file_sha256
from synthspace.errors import SynthspaceError
from synthspace.lineage import DigestSet, Producer, Statement, Subject
from synthspace.node.audit import Auditor
from synthspace.node.coordinator_client import CoordinatorClient

if TYPE_CHECKING:
    from synthspace.lineage import LineagePredicate
    from synthspace.node.home import NodeHome

ENVELOPE_FILE = "envelope.json"
RECEIPT_FILE = "receipt.json"
GATE_REPORT = "gate-report.json"

Progress = Callable[[str], None]


class PublishError(SynthspaceError):
    """Publishing cannot go ahead (bad run directory, a bundle of another artifact, ...)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _noop(_: str) -> None:
    return None


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


def producer_for(home: NodeHome) -> Producer:
    """The Producer block naming this node's org and artifact key."""
    config = home.config()
    return Producer(org=config.org, artifact_key_id=config.artifact_key_id, software=f"synthspace {__version__}")


def build_statement(data_path: Path, predicate: LineagePredicate, subject_name: str | None = None) -> Statement:
    """The in-toto Statement whose subject is `data_path`'s sha256."""
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
