"""Derived datasets: filter, sample, deduplicate and merge verified artifacts into a new one.

`derive_dataset` takes parent artifacts (catalog ids, pulled on the fly, or bundle
directories from `pull`), re-verifies each one, applies the operations and writes a
*derivation directory*:

    OUT/data.parquet      the derived records, with a `source_artifact_id` column
    OUT/derivation.json   Derivation: parents (id + data digest), operations, metadata
    OUT/parents/<id>/     parents pulled for this derivation

`publish_derived(home, OUT)` signs and publishes it through `bundles.publish_file` with a
`derived-dataset` predicate whose `parents` name every input, so `audit` walks the chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from synthspace.atomic_files import atomic_output
from synthspace.config_model import StrictModel
from synthspace.errors import SynthspaceError
from synthspace.licences import incompatibility, most_restrictive
from synthspace.lineage import AgreementRef, GateResult, LineagePredicate, Parent, Statement, Times
from synthspace.node.audit import PULL_CHECKS, AuditFailed
from synthspace.node.bundles import ENVELOPE_FILE, producer_for, publish_bundle, publish_file
from synthspace.node.catalog import pull
from synthspace.node.consumer import ensure_agreement, policy_in_force
from synthspace.policy import enforced_policy, permits

if TYPE_CHECKING:
    from synthspace.node.audit import Auditor
    from synthspace.node.bundles import PublishResult
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.home import NodeHome

DERIVATION_FILE = "derivation.json"
DATA_FILE = "data.parquet"
SOURCE_COLUMN = "source_artifact_id"
# The purpose a derivation's `derive` agreements declare.
DERIVE_PURPOSE = "derive"


class DeriveError(SynthspaceError):
    """A derivation cannot be built (no parents, a bad filter, incompatible columns, ...)."""


class Operations(StrictModel):
    """What was done to the parents' records, in this order."""

    where: str | None = Field(default=None, description="pandas query expression rows must satisfy.")
    columns: list[str] | None = Field(default=None, description="Columns kept (None: all).")
    dedupe: bool = Field(default=False, description="Drop rows whose content columns repeat exactly.")
    sample: int | None = Field(default=None, ge=1, description="Keep a random sample of this many rows.")
    seed: int = Field(default=0, description="Random seed of the sample.")


class Derivation(StrictModel):
    """OUT/derivation.json: everything publish needs besides the data file."""

    title: str = Field(min_length=1, max_length=200, description="Title of the derived set.")
    description: str = Field(default="", description="Description.")
    license: str = Field(description="SPDX license id of the derived set.")
    tags: list[str] = Field(default_factory=list, description="Tags.")
    task: str | None = Field(default=None, description="Task, when every parent shares it.")
    locale: str | None = Field(default=None, description="Locale, when every parent shares it.")
    parents: list[Parent] = Field(min_length=1, description="The verified parents.")
    operations: Operations = Field(description="What was applied.")
    input_rows: int = Field(ge=0, description="Rows across all parents.")
    record_count: int = Field(ge=0, description="Rows in data.parquet.")
    started: datetime = Field(description="When the derivation started (UTC).")
    finished: datetime = Field(description="When data.parquet was written (UTC).")
    agreements: list[AgreementRef] | None = Field(
        default=None,
        description="The logged `derive` agreements for the other orgs' parents (None: a derivation "
        "made before agreements were listed).",
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _shared(values: Sequence[str | None]) -> str | None:
    distinct = {v for v in values if v is not None}
    return distinct.pop() if len(distinct) == 1 and None not in values else None


def derive_dataset(
    auditor: Auditor,
    parents: Sequence[str | Path],
    out_dir: Path | str,
    *,
    title: str,
    description: str = "",
    tags: Sequence[str] = (),
    license: str | None = None,
    operations: Operations | None = None,
    progress: Callable[[str], None] = lambda _: None,
    org: str | None = None,
) -> Derivation:
    """Build OUT/data.parquet and OUT/derivation.json from verified parents.

    Each parent's signed usage policy must permit `derive` for `org` (default: the auditor's
    node org) and `license` must be no more permissive than any parent's; otherwise
    `DerivationForbidden` names the policy term or licence, before any output is written."""
    import pandas as pd

    if not parents:
        raise DeriveError("name at least one parent (an artifact id or a pulled directory)")
    org = org or auditor.org
    if org is None:
        raise DeriveError("derive runs on a node: its org's rights under the parents' policies are checked")
    ops = operations or Operations()
    out = Path(out_dir)
    if (out / DERIVATION_FILE).exists() or (out / "publish").exists():
        raise DeriveError(f"{out} already holds a derivation; choose a new --out directory")
    out.mkdir(parents=True, exist_ok=True)
    started = _now()

    frames = []
    links: list[Parent] = []
    licenses: list[str] = []
    tasks: list[str | None] = []
    locales: list[str | None] = []
    consumer = auditor.consumer if auditor.consumer is not None and auditor.consumer.org == org else None
    agreements: list[AgreementRef] = []

    def agree(artifact_id: str, record: Any = None) -> None:
        # Another org's parent: a logged `derive` agreement (reused when one is cached or
        # logged), listed in the child's signed lineage; the pull is served under it too.
        if consumer is None:
            return
        receipt = ensure_agreement(
            auditor.client, consumer, artifact_id, DERIVE_PURPOSE, action="derive", record=record
        )
        if receipt is not None:
            agreements.append(
                AgreementRef(
                    artifact_id=artifact_id,
                    agreement_id=receipt["agreement_id"],
                    log_index=receipt["log_index"],
                    org=receipt["org"],
                    action=receipt["action"],
                    purpose=receipt["purpose"],
                    policy_sha256=receipt["policy_sha256"],
                )
            )

    for ref in parents:
        path = Path(ref)
        in_force = None  # the parent's policy in force when a logged version replaced the signed one
        if path.is_dir():
            progress(f"verifying pulled artifact in {path}")
            report = auditor.audit_bundle(path, lineage=False)
            if not report.ok:
                raise AuditFailed(report)
            bundle = path
            assert report.statement is not None and report.artifact_id is not None
            if report.statement.predicate.producer.org != org and not auditor.offline:
                in_force = policy_in_force(auditor.client.artifact(report.artifact_id))
                _check_may_derive(report.statement, report.artifact_id, org, license, in_force)
                agree(report.artifact_id)
        else:
            progress(f"pulling and verifying {ref}")
            bundle = out / "parents" / str(ref)
            record = auditor.client.artifact(str(ref))
            in_force = policy_in_force(record)
            if record.org != org and record.retraction is None:
                # Refuse before signing: an agreement the policy does not permit is never made.
                _check_may_derive(Statement.model_validate(record.statement), str(ref), org, license, in_force)
                agree(str(ref), record)
            report = pull(auditor, str(ref), bundle, purpose=DERIVE_PURPOSE, action="derive", consumer=consumer)
        assert report.statement is not None and report.artifact_id is not None
        failing = [c.name for c in report.checks if c.name in PULL_CHECKS and c.status != "pass"]
        if failing:
            raise DeriveError(f"parent {report.artifact_id} was not fully verified ({', '.join(failing)})")
        statement = report.statement
        subject = statement.subject[0]
        if statement.predicate.kind not in ("dataset", "derived-dataset"):
            raise DeriveError(f"parent {report.artifact_id} is a {statement.predicate.kind}, not a dataset")
        _check_may_derive(statement, report.artifact_id, org, license, in_force)
        frame = pd.read_parquet(bundle / subject.name)
        frame[SOURCE_COLUMN] = report.artifact_id
        frames.append(frame)
        links.append(Parent(artifact_id=report.artifact_id, digest=subject.digest, role="source"))
        licenses.append(statement.predicate.license)
        tasks.append(statement.predicate.task)
        locales.append(statement.predicate.locale)

    data = pd.concat(frames, ignore_index=True, sort=False)
    input_rows = len(data)
    if ops.where:
        try:
            data = data.query(ops.where, engine="python")
        except Exception as exc:  # pandas raises many types for a bad expression
            raise DeriveError(f"--where {ops.where!r} is not a valid filter: {exc}") from exc
    if ops.columns:
        missing = [c for c in ops.columns if c not in data.columns]
        if missing:
            raise DeriveError(f"unknown column(s) {missing}; the parents have {list(data.columns)}")
        keep = list(dict.fromkeys([*(["record_id"] if "record_id" in data.columns else []), *ops.columns, SOURCE_COLUMN]))
        data = data[keep]
    if ops.dedupe:
        content = [c for c in data.columns if c not in ("record_id", SOURCE_COLUMN, "persona_id")]
        keys = data[content or list(data.columns)].apply(lambda r: _row_key(r.tolist()), axis=1)
        data = data[~keys.duplicated()]
    if ops.sample is not None and ops.sample < len(data):
        data = data.sample(n=ops.sample, random_state=ops.seed)
    data = data.reset_index(drop=True)
    if data.empty:
        raise DeriveError("the derivation keeps no rows; loosen --where or --sample")

    distinct_licenses = sorted(set(licenses))
    if license is None:
        if len(distinct_licenses) > 1:
            hint = most_restrictive(distinct_licenses)
            raise DeriveError(
                f"the parents carry different licenses {distinct_licenses}; choose one with --license"
                + (f" (e.g. {hint}, the most restrictive)" if hint else " (no licence in the table satisfies all)")
            )
        license = distinct_licenses[0]
    with atomic_output(out / DATA_FILE) as fh:
        data.to_parquet(fh, index=False, compression="zstd")
    derivation = Derivation(
        title=title,
        description=description,
        license=license,
        tags=list(tags),
        task=_shared(tasks),
        locale=_shared(locales),
        parents=links,
        operations=ops,
        input_rows=input_rows,
        record_count=len(data),
        started=started,
        finished=_now(),
        agreements=agreements if consumer is not None else None,
    )
    (out / DERIVATION_FILE).write_text(derivation.model_dump_json(indent=2) + "\n")
    return derivation


class DerivationForbidden(DeriveError):
    """A parent's usage policy does not permit this org to derive from it, or the chosen
    licence is more permissive than a parent's."""


def _check_may_derive(
    statement: Any, artifact_id: str, org: str, license: str | None, in_force: Any = None
) -> None:
    """The node's side of `acceptance_lineage.parent_problems` for one `source` parent; `in_force` is
    the parent's policy in force when a logged version restricted the signed one."""
    pred = statement.predicate
    policy = in_force if in_force is not None else enforced_policy(pred.policy)
    decision = permits(policy, "derive", org, publisher=pred.producer.org, now=datetime.now(UTC))
    if not decision.permitted:
        raise DerivationForbidden(
            f"parent {artifact_id} ({pred.title!r} of {pred.producer.org!r}): its usage policy does not "
            f"permit derive by {org!r}: {decision.reason}"
        )
    why = incompatibility(license, pred.license) if license is not None else None
    if why is not None:
        raise DerivationForbidden(f"--license {license} is not allowed by parent {artifact_id}: {why}")


def _plain(value: Any) -> Any:
    """JSON-able form of a cell (list columns come back from Parquet as numpy arrays)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _row_key(values: list[Any]) -> str:
    return json.dumps([_plain(v) for v in values], sort_keys=True, default=str, ensure_ascii=False)


def load_derivation(out_dir: Path | str) -> Derivation:
    path = Path(out_dir) / DERIVATION_FILE
    try:
        return Derivation.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise DeriveError(f"{out_dir} is not a derivation directory (no {DERIVATION_FILE})") from None
    except ValueError as exc:
        raise DeriveError(f"{path} is invalid: {exc}") from exc


def derived_predicate(home: NodeHome, derivation: Derivation) -> Any:
    """The `derived-dataset` lineage predicate of a derivation (producer/signing time set at publish)."""
    ops = derivation.operations
    gates = [
        GateResult(
            name="parents_verified",
            blocking=True,
            passed=True,
            metrics={"parents": len(derivation.parents), "input_rows": derivation.input_rows},
            thresholds={"checks": ["envelope_signature", "publisher_key", "data_digest", "log_inclusion",
                                   "checkpoint_consistency", "retraction", "gates"]},
        )
    ]
    if ops.dedupe:
        gates.append(
            GateResult(name="exact_duplicates", blocking=False, passed=True, metrics={"removed": True}, thresholds={})
        )
    return LineagePredicate(
        kind="derived-dataset",
        title=derivation.title,
        description=derivation.description,
        license=derivation.license,
        tags=derivation.tags,
        task=derivation.task,
        locale=derivation.locale,
        record_count=derivation.record_count,
        producer=producer_for(home),
        gates=gates,
        parents=derivation.parents,
        agreements=derivation.agreements,
        times=Times(started=derivation.started, finished=derivation.finished, signed=_now()),
    )


def publish_derived(
    home: NodeHome,
    out_dir: Path | str,
    *,
    client: CoordinatorClient | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> PublishResult:
    """Sign and publish a derivation directory; the bundle lands in OUT/publish/."""
    out = Path(out_dir)
    bundle = out / "publish"
    if (bundle / ENVELOPE_FILE).is_file():
        return publish_bundle(home, bundle, client=client, progress=progress)
    derivation = load_derivation(out)
    predicate = derived_predicate(home, derivation)
    return publish_file(
        home, out / DATA_FILE, predicate, bundle_dir=bundle, subject_name=DATA_FILE, client=client, progress=progress
    )
