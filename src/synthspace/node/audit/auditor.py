"""The auditor's orchestration: fetch once, run the named checks (node/audit/checks.py) in
order, skip what cannot be checked after a failure, walk the lineage, write pulled bundles."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.node.audit import checks, witnessing
from synthspace.node.audit.agreements import (
    AGREEMENT_FILE,
    check_agreement,
    check_logged_agreements,
    check_parent_agreements,
)
from synthspace.node.audit.context import AuditContext, safe_name, to_utc
from synthspace.node.audit.key_directory import KeyDirectory
from synthspace.node.audit.log_audit import audit_entries
from synthspace.node.audit.log_monitor import (
    AuditorState,
    LogCheckFailed,
    LogView,
    resolve_verifier,
    sync_log,
)
from synthspace.node.audit.policy_versions import check_policy_versions
from synthspace.node.audit.receipts import verify_receipt
from synthspace.node.audit.report import (
    AUDIT_FILE,
    CHECKS,
    ENVELOPE_FILE,
    PULL_CHECKS,
    RECEIPT_FILE,
    STATEMENT_FILE,
    AuditReport,
    BundleError,
    LogAuditReport,
)
from synthspace.node.audit.withdrawals import WithdrawalNotice, withdrawal_notices
from synthspace.node.consumer import Consumer, PolicyWithdrawn, ensure_agreement
from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError

if TYPE_CHECKING:
    from synthspace.checkpoint import Checkpoint, Verifier
    from synthspace.node.home import NodeHome
    from synthspace.policy import Action
    from synthspace.witness import WitnessPolicy

# The agreement an auditor signs before downloading another org's data it audits -- an
# artifact audited by id and every parent of a lineage walk: obtain and read the bytes (`use`)
# for purpose `audit`. Any valid agreement of the org that obtains the data (use, train,
# evaluate, derive) is reused instead. A policy whose `use` permission restricts purposes must list
# `audit` for other orgs to audit it by id.
AUDIT_AGREEMENT: tuple[Action, str] = ("use", "audit")


class Auditor:
    """Audits artifacts against one coordinator, remembering its log in `state`.

    `pinned_verifier_key` is the coordinator's log verifier key if known (a node pins it at
    enrolment); otherwise the state's pin is used, and on first use the key the coordinator
    presents is pinned (trust on first use; `trust_on_first_use=False` refuses instead).
    """

    def __init__(
        self,
        client: CoordinatorClient,
        state: AuditorState,
        *,
        pinned_verifier_key: str | None = None,
        trust_on_first_use: bool = True,
        use_org_api: bool = True,
        offline: bool = False,
        witness_policy: WitnessPolicy | None = None,
        org: str | None = None,
        consumer: Consumer | None = None,
    ) -> None:
        self.client = client
        self.org = org  # the org whose node runs this auditor (None: an outsider)
        # Signs (or reuses) the agreement another org's data is served under (AUDIT_AGREEMENT
        # for what the auditor downloads itself); None: an outsider, who cannot sign one.
        self.consumer = consumer
        self.witness_policy = witness_policy
        self.offline = offline
        self.state = state
        self._pinned = pinned_verifier_key
        self._tofu = trust_on_first_use
        self._use_org_api = use_org_api and not offline
        self._verifier: Verifier | None = None
        self.first_use = False
        self._ctx: AuditContext | None = None

    @classmethod
    def for_home(cls, home: NodeHome, client: CoordinatorClient | None = None) -> Auditor:
        config = home.config()
        return cls(
            client or CoordinatorClient.for_home(home),
            AuditorState(home.auditor_state_dir),
            pinned_verifier_key=config.log_verifier_key,
            witness_policy=witnessing.load_policy(home.path),
            org=config.org,
            consumer=Consumer.for_home(home),
        )

    # ---- the log --------------------------------------------------------------------------
    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier, self.first_use = resolve_verifier(
                self.client, self.state, self._pinned, trust_on_first_use=self._tofu
            )
        return self._verifier

    def refresh(self) -> None:
        """Forget what this run fetched (the next audit syncs the log again)."""
        self._ctx = None

    def _context(self) -> AuditContext:
        if self._ctx is not None:
            return self._ctx
        ctx = AuditContext()
        try:
            ctx.view = sync_log(self.client, self.state, self.verifier(), first_use=self.first_use)
            ctx.checkpoint = ctx.view.checkpoint
        except LogCheckFailed as exc:
            ctx.log_failure = exc
            ctx.checkpoint = exc.current
        ctx.keys, ctx.key_source = self._key_directory(ctx.view)
        self._ctx = ctx
        return ctx

    def _key_directory(self, view: LogView | None) -> tuple[KeyDirectory, str]:
        """Key history from the verified log; the org API only when the log is unusable."""
        log_keys = KeyDirectory.from_log(view.key_entries()) if view is not None else None
        if log_keys is not None and len(log_keys):
            return log_keys, "log"
        if self._use_org_api:
            try:
                return KeyDirectory.from_org_records(self.client.orgs()), "api"
            except CoordinatorError:
                pass  # unsigned auditors may not read the org directory
        return KeyDirectory(), "none"

    def key_disagreements(self) -> list[str]:
        """Where GET /v1/orgs disagrees with the key history in the verified log."""
        ctx = self._context()
        if ctx.view is None or not self._use_org_api:
            return []
        log_keys = KeyDirectory.from_log(ctx.view.key_entries())
        return log_keys.disagreements(KeyDirectory.from_org_records(self.client.orgs()))

    # ---- entry points ---------------------------------------------------------------------
    def audit_artifact(
        self,
        artifact_id: str,
        *,
        lineage: bool = True,
        workdir: Path | None = None,
        keep_dir: Path | None = None,
        agree: tuple[Action, str] | None = AUDIT_AGREEMENT,
    ) -> AuditReport:
        """Fetch envelope and data of `artifact_id` from the catalog and audit them.

        With `keep_dir`, the verified files are moved there as a bundle (what `pull` does);
        nothing is written there unless every pull check passed. Another org's data is served
        only under a logged agreement: with a `consumer`, one for `agree` (action, purpose) is
        reused or signed first (`pull` signs its own and passes None); the lineage walk's
        parents always use AUDIT_AGREEMENT.
        """
        return self._audit_id(
            artifact_id, lineage=lineage, workdir=workdir, keep_dir=keep_dir, seen=(), agree=agree
        )

    def audit_bundle(self, bundle: Path, *, lineage: bool = True) -> AuditReport:
        """Audit a local bundle directory (from publish's RUN_DIR/publish or from pull)."""
        bundle = Path(bundle)
        env_path = bundle / ENVELOPE_FILE
        if not env_path.is_file():
            raise BundleError(f"{bundle} holds no {ENVELOPE_FILE}: pass a directory written by publish or pull")
        receipt: dict[str, Any] | None = None
        if (bundle / RECEIPT_FILE).is_file():
            try:
                receipt = json.loads((bundle / RECEIPT_FILE).read_text())
            except ValueError as exc:
                raise BundleError(f"{bundle / RECEIPT_FILE} is not JSON: {exc}") from exc
        hint = receipt.get("log_index") if isinstance(receipt, dict) else None
        return self._audit(
            str(bundle),
            env_path.read_bytes(),
            data_dir=bundle,
            expected_id=None,
            log_index_hint=hint if isinstance(hint, int) else None,
            lineage=lineage,
            seen=(),
        )

    def audit_log(self) -> LogAuditReport:
        """The log audit; for a node's own auditor also the withdrawal notices of the entries
        new since the checkpoint it saw last (`LogAuditReport.affected`)."""
        ctx = self._context()
        report = audit_entries(ctx.view, ctx.log_failure, self.key_disagreements)
        if ctx.view is not None and self.org is not None and not self.offline:
            report.affected = [str(n) for n in self.withdrawal_notices(ctx.view.previous_size)]
        return report

    def withdrawal_notices(self, since: int) -> list[WithdrawalNotice]:
        """Withdrawals (retractions, withdrawn policies) at log index >= `since` that hit an
        artifact this org pulled or published."""
        ctx = self._context()
        if ctx.view is None or self.org is None:
            return []

        def parents_of(artifact_id: str) -> list[str]:
            predicate = self.client.artifact(artifact_id).statement.get("predicate") or {}
            return [str(p["artifact_id"]) for p in predicate.get("parents") or [] if "artifact_id" in p]

        return withdrawal_notices(ctx.view, self.org, parents_of, since=since)

    # ---- core -----------------------------------------------------------------------------
    def _audit_id(
        self,
        artifact_id: str,
        *,
        lineage: bool,
        workdir: Path | None,
        keep_dir: Path | None,
        seen: tuple[str, ...],
        agree: tuple[Action, str] | None = AUDIT_AGREEMENT,
    ) -> AuditReport:
        record = self.client.artifact(artifact_id)
        envelope_bytes = self.client.envelope(artifact_id)
        if self.consumer is not None and agree is not None:
            try:
                ensure_agreement(
                    self.client, self.consumer, artifact_id, agree[1], action=agree[0], record=record,
                    any_action=True,
                )
            except (CoordinatorError, PolicyWithdrawn):
                pass  # refused (e.g. the policy's purpose terms, a withdrawal): the download says why (403)
        if keep_dir is not None:
            # Stage beside the target (same file system): verified files are then renamed in,
            # never copied, and nothing lands in the target before every check passed.
            keep_dir.parent.mkdir(parents=True, exist_ok=True)
            workdir = keep_dir.parent
        tmp = Path(tempfile.mkdtemp(prefix=".synthspace-pull-", dir=workdir))
        try:
            name = safe_name(record.subject_name)
            data_dir: Path | None = tmp
            downloaded_sha256: str | None
            try:
                downloaded_sha256 = self.client.download_data(artifact_id, tmp / name)
            except CoordinatorError as exc:
                # A retracted artifact of another org cannot be agreed to, so its data is not
                # served: audit it without the data (its `retraction` check says why it fails).
                # Nor is one whose policy was withdrawn: its audit (not a pull) verifies the rest,
                # and the lineage of what is built on it says "built on withdrawn data".
                retracted = exc.code == "agreement_required" and record.retraction is not None
                withdrawn = (
                    exc.code == "policy_withdrawn" and record.policy_withdrawn_at is not None and keep_dir is None
                )
                if not (retracted or withdrawn):
                    raise
                data_dir, downloaded_sha256 = None, None
            report = self._audit(
                artifact_id,
                envelope_bytes,
                data_dir=data_dir,
                expected_id=artifact_id,
                log_index_hint=record.log_index,
                lineage=lineage,
                seen=seen,
                downloaded_name=name if data_dir is not None else None,
                downloaded_sha256=downloaded_sha256,
                served_versions=record.policy_version,
            )
            if keep_dir is not None and report.ok:
                self._write_bundle(report, envelope_bytes, tmp / name, keep_dir)
            return report
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _write_bundle(self, report: AuditReport, envelope_bytes: bytes, data: Path, out: Path) -> None:
        assert report.statement is not None
        out.mkdir(parents=True, exist_ok=True)
        name = safe_name(report.statement.subject[0].name)
        staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=out))
        try:
            try:
                os.replace(data, staging / name)
            except OSError:  # another file system
                shutil.copyfile(data, staging / name)
            (staging / ENVELOPE_FILE).write_bytes(envelope_bytes)
            (staging / RECEIPT_FILE).write_text(json.dumps(report.receipt, indent=2) + "\n")
            (staging / STATEMENT_FILE).write_text(
                json.dumps(report.statement.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False)
                + "\n"
            )
            (staging / AUDIT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
            if report.proof_bundle is not None:
                (staging / witnessing.PROOF_FILE).write_text(report.proof_bundle)
            for item in staging.iterdir():
                item.replace(out / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _audit(
        self,
        target: str,
        envelope_bytes: bytes,
        *,
        data_dir: Path | None,
        expected_id: str | None,
        log_index_hint: int | None,
        lineage: bool,
        seen: tuple[str, ...],
        downloaded_name: str | None = None,
        downloaded_sha256: str | None = None,
        served_versions: int = 0,
    ) -> AuditReport:
        report = AuditReport(target=target)
        ctx = self._context()

        signed = checks.check_envelope_signature(report, ctx, envelope_bytes, expected_id)
        if isinstance(signed, str):  # nothing after the signature can be checked
            names = CHECKS if lineage else PULL_CHECKS
            for name in names[1:]:
                if name == "checkpoint_consistency":  # about the log, not this artifact
                    checks.check_checkpoint_consistency(report, ctx)
                else:
                    report.add(name, "skip", signed)
            return report
        signer, statement, record = signed
        aid = report.artifact_id
        assert aid is not None
        index, entry, entry_problem = checks.find_publish_entry(self.client, ctx, aid, log_index_hint)
        org_api = self.client if self._use_org_api else None
        checks.check_publisher_key(report, ctx, statement, signer, record, entry, org_api)
        checks.check_data_digest(report, statement, data_dir, downloaded_name, downloaded_sha256)
        checks.check_log_inclusion(
            report, ctx, self.client, envelope_bytes, statement, signer, index, entry, entry_problem
        )
        if self.offline:
            if data_dir is not None:
                witnessing.check_proof_bundle_offline(
                    report, data_dir, self.witness_policy, self.verifier(), _receipt_leaf(report, data_dir)
                )
        elif (included := report.check("log_inclusion")) is not None and not included.failed:
            witnessing.check_witnessed(report, ctx, self.client, self.witness_policy, self.verifier())
        checks.check_checkpoint_consistency(report, ctx)
        checks.check_retraction(report, ctx, aid)
        check_policy_versions(
            report, ctx, None if self.offline else self.client, statement, aid, served_versions=served_versions
        )
        checks.check_gates(report, statement)
        data_name = downloaded_name or statement.subject[0].name
        checks.check_evaluation_results(report, statement, data_dir / data_name if data_dir is not None else None)
        if data_dir is not None and (data_dir / AGREEMENT_FILE).is_file():
            check_agreement(report, ctx, self.verifier(), data_dir, statement, aid)
        elif not self.offline:
            check_logged_agreements(report, ctx, self.client, statement, aid)
        if lineage:
            checks.check_lineage(report, statement, aid, seen, None if self.offline else self._audit_parent)
            published = to_utc(entry.time) if entry is not None else to_utc(statement.predicate.times.signed)
            checks.check_parent_policy(report, statement, published, walked=not self.offline, index=index)
            walked = None if self.offline else {
                p.artifact_id: p.statement for p in report.parents if p.artifact_id and p.statement is not None
            }
            check_parent_agreements(report, ctx, None if self.offline else self.client, statement, walked)
        return report

    def _audit_parent(self, artifact_id: str, chain: tuple[str, ...]) -> AuditReport:
        return self._audit_id(
            artifact_id, lineage=True, workdir=None, keep_dir=None, seen=chain, agree=AUDIT_AGREEMENT
        )

    # ---- receipts (publishing) ------------------------------------------------------------
    def verify_receipt(
        self,
        receipt: dict[str, Any],
        *,
        envelope_bytes: bytes,
        subject_sha256: str,
        org: str,
        key_id: str,
    ) -> Checkpoint:
        """Check a publish receipt (node/audit/receipts.py). Raises ReceiptError."""
        return verify_receipt(
            self.client,
            self.state,
            self.verifier(),
            receipt,
            envelope_bytes=envelope_bytes,
            subject_sha256=subject_sha256,
            org=org,
            key_id=key_id,
        )


def _receipt_leaf(report: AuditReport, bundle: Path) -> bytes | None:
    """The publish entry's leaf bytes: from this audit, or from the bundle's receipt.json."""
    receipt = report.receipt
    if receipt is None and (bundle / RECEIPT_FILE).is_file():
        try:
            receipt = json.loads((bundle / RECEIPT_FILE).read_text())
        except ValueError:
            return None
    try:
        return base64.b64decode(receipt["entry_leaf"], validate=True) if isinstance(receipt, dict) else None
    except (KeyError, ValueError, TypeError):
        return None
