"""Publish the final federated adapter to the catalog as a signed `model-adapter` artifact.

Signed with the coordinator's operator org artifact key and published through the catalog's one
publish path (`synthspace.coordinator.services.publishing.publish_artifact`), so the adapter
gets the same checks, blob store entry, log entry and receipt as any node's dataset. Its
lineage names the base model and digest, the rounds, the participating orgs, every org's
declared training artifact digests and the final metrics; the training artifacts that are in
the catalog become its parents, so `synthspace audit` walks from the model to its data.

The run folder COORD_HOME/federation/runs/<run_id>/ ends up an artifact bundle
(adapter.safetensors, envelope.json, receipt.json, statement.json) that `audit DIR` accepts.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from synthspace import __version__, keys
from synthspace.artifact import sign_statement
from synthspace.canonical_json import file_sha256
from synthspace.coordinator.models import Agreement, Artifact
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.errors import SynthspaceError
from synthspace.lineage import (
    AgreementRef,
    DigestSet,
    LineagePredicate,
    Parent,
    Producer,
    Statement,
    Subject,
    Times,
)

ADAPTER_FILE = "adapter.safetensors"


class AdapterPublishError(SynthspaceError):
    """The adapter could not be signed or published (operator key or catalog problem)."""


def training_agreements(
    session: Any, parents: list[Any], training_artifacts: dict[str, list[str]]
) -> list[Any] | None:
    """The `train` agreements the adapter relied on: for each training-data parent and each
    participant that declared its digest and is not its publisher, that participant's latest
    logged `train` agreement (the coordinator logs one only naming the policy in force when it was
    signed: the signed policy or a later version; how it obtained the bytes). None
    when one is missing (a participant trained on data obtained otherwise): a partial list would
    fail the auditor's `parent_agreements` check, an absent one is skipped by it."""
    refs: list[AgreementRef] = []
    for parent in parents:
        row = session.get(Artifact, parent.artifact_id)
        if row is None:
            return None
        users = sorted(o for o, ds in training_artifacts.items() if parent.digest.sha256 in ds)
        for org in users:
            if org == row.org_name:
                continue
            found = session.scalars(
                select(Agreement)
                .where(
                    Agreement.artifact_id == parent.artifact_id,
                    Agreement.org_name == org,
                    Agreement.action == "train",
                )
                .order_by(Agreement.log_index.desc())
                .limit(1)
            ).first()
            if found is None:
                return None
            refs.append(
                AgreementRef(
                    artifact_id=parent.artifact_id,
                    agreement_id=found.envelope_sha256,
                    log_index=found.log_index,
                    org=org,
                    action="train",
                    purpose=found.purpose,
                    policy_sha256=found.policy_sha256,
                )
            )
    return refs


def training_parents(session: Any, digests: list[str]) -> list[Any]:
    """Catalog artifacts (not retracted) whose subject is one of `digests`, as training-data parents."""
    if not digests:
        return []
    rows = session.execute(
        select(Artifact.artifact_id, Artifact.subject_sha256)
        .where(Artifact.subject_sha256.in_(sorted(set(digests))))
        .where(Artifact.retracted_at.is_(None))
        .where(Artifact.kind.in_(("dataset", "derived-dataset")))
        .order_by(Artifact.log_index)
    ).all()
    seen: set[str] = set()
    out = []
    for aid, sha in rows:
        if aid in seen:
            continue
        seen.add(aid)
        out.append(Parent(artifact_id=aid, digest=DigestSet(sha256=sha), role="training-data"))
    return out


def publish_adapter(
    home: Path | str,
    run_dir: Path,
    *,
    training: Any,
    title: str,
    description: str,
    license: str,
    started: datetime,
    finished: datetime,
) -> dict[str, Any]:
    """Sign and publish run_dir/adapter.safetensors; returns the receipt as a dict."""
    from flwr.supercore.version import package_version as flwr_version

    settings = CoordinatorSettings.load(home)
    key_path = settings.operator_key_path("artifact")
    if not key_path.is_file():
        raise AdapterPublishError(
            f"the operator org's artifact key {key_path} is missing: run `synthspace coordinator init --home {home}`"
        )
    signing_key = keys.load_private_key(key_path)
    data_path = run_dir / ADAPTER_FILE
    data = data_path.read_bytes()
    digests = sorted({d for ds in training.training_artifacts.values() for d in ds})
    coord = Coordinator.open(settings, migrate=False, verify=False)
    try:
        with coord.session() as session:
            parents = training_parents(session, digests)
            agreements = training_agreements(session, parents, training.training_artifacts)
        statement = Statement(
            subject=[Subject(name=ADAPTER_FILE, digest=DigestSet(sha256=file_sha256(data_path)))],
            predicate=LineagePredicate(
                kind="model-adapter",
                title=title,
                description=description,
                license=license,
                tags=["federated", "lora", "flower"],
                producer=Producer(
                    org=settings.operator_org,
                    artifact_key_id=keys.key_id(signing_key),
                    software=f"synthspace {__version__} (flwr {flwr_version})",
                ),
                parents=parents,
                agreements=agreements,
                training=training,
                times=Times(started=started, finished=finished, signed=datetime.now(started.tzinfo)),
            ),
        )
        envelope_bytes = sign_statement(statement, signing_key).to_json()
        # The catalog's one publish path (the same function POST /v1/artifacts runs).
        receipt = coord.publish(settings.operator_org, envelope_bytes, data)
    finally:
        coord.close()
    receipt_dict = receipt.model_dump(mode="json")
    (run_dir / "envelope.json").write_bytes(envelope_bytes)
    (run_dir / "receipt.json").write_text(json.dumps(receipt_dict, indent=2) + "\n", encoding="utf-8")
    (run_dir / "statement.json").write_text(
        json.dumps(statement.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return receipt_dict
