"""Verify artifacts end to end, the way an auditor who trusts nobody would.

`Auditor` runs the named checks, in this order, on an artifact fetched by id or on a local
bundle directory (envelope.json, the data file, receipt.json as written by publish or pull):

    envelope_signature      the DSSE signature verifies, with a key some org enrolled
    publisher_key           that key is the producer org's artifact key, valid at publication
    data_digest             the data file's sha256 equals the Statement's subject
    log_inclusion           the log holds this exact publish entry (recomputed leaf), included
                            under the current signed checkpoint (RFC 9162 inclusion proof)
    checkpoint_consistency  the current checkpoint extends the last one this auditor saw
    retraction              no retract entry for the artifact in the (verified) log
    gates                   the Statement's gates meet `synthspace.acceptance` (the coordinator's
                            rule): required blocking gates present and passed, known names,
                            metrics consistent with `passed`; the detail names each problem code
    lineage                 every parent audits clean and has the digest the child names

The report names the first failing check; `AuditReport.ok` is True only if none failed.
Key history comes from the verified log (key-add/key-revoke entries) and is cross-checked
with `GET /v1/orgs/{org}` when the auditor may read it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthspace.acceptance import statement_problems
from synthspace.errors import SynthspaceError, VerificationError
from synthspace.node.key_directory import KeyDirectory, KeyRecord
from synthspace.node.log_monitor import (
    AuditorState,
    LogCheckFailed,
    LogView,
    advance_checkpoint,
    resolve_verifier,
    sync_log,
)

if TYPE_CHECKING:
    from synthspace.checkpoint import Checkpoint, Verifier
    from synthspace.dsse import Envelope
    from synthspace.lineage import Statement
    from synthspace.log_entries import PublishEntry
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.home import NodeHome

CHECKS = (
    "envelope_signature",
    "publisher_key",
    "data_digest",
    "log_inclusion",
    "checkpoint_consistency",
    "retraction",
    "gates",
    "lineage",
)
PULL_CHECKS = CHECKS[:-1]  # pull checks everything but walks no parents
MAX_LINEAGE_DEPTH = 32

ENVELOPE_FILE = "envelope.json"
RECEIPT_FILE = "receipt.json"
STATEMENT_FILE = "statement.json"
AUDIT_FILE = "audit.json"

Status = Literal["pass", "fail", "skip"]


class AuditFailed(VerificationError):
    """An artifact did not verify; carries the report, names the first failing check."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report
        first = report.first_failure()
        what = f"{first.name}: {first.detail}" if first else "unknown failure"
        super().__init__(f"artifact {report.artifact_id or report.target} failed check {what}")


class BundleError(SynthspaceError):
    """A local artifact directory lacks a file or holds a malformed one."""


@dataclass
class CheckResult:
    name: str
    status: Status
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class AuditReport:
    """Result of auditing one artifact (and, through `parents`, its lineage)."""

    target: str
    artifact_id: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    statement: Statement | None = None
    log_index: int | None = None
    checkpoint_size: int | None = None
    parents: list[AuditReport] = field(default_factory=list)
    receipt: dict[str, Any] | None = None

    def add(self, name: str, status: Status, detail: str) -> CheckResult:
        result = CheckResult(name, status, detail)
        self.checks = [c for c in self.checks if c.name != name] + [result]
        return result

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def ordered(self) -> list[CheckResult]:
        order = {n: i for i, n in enumerate(CHECKS)}
        return sorted(self.checks, key=lambda c: order.get(c.name, len(order)))

    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.ordered() if c.failed), None)

    @property
    def ok(self) -> bool:
        return self.first_failure() is None and bool(self.checks)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_failure()
        return {
            "target": self.target,
            "artifact_id": self.artifact_id,
            "ok": self.ok,
            "first_failure": first.name if first else None,
            "log_index": self.log_index,
            "checkpoint_size": self.checkpoint_size,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.ordered()],
            "parents": [p.to_dict() for p in self.parents],
        }


@dataclass
class _Context:
    """What one audit run fetched once and shares across the artifact and its parents."""

    view: LogView | None = None
    checkpoint: Checkpoint | None = None
    log_failure: LogCheckFailed | None = None
    keys: KeyDirectory | None = None
    key_source: str = ""
    org_records: dict[str, Any] = field(default_factory=dict)  # org -> OrgRecord | None (unreadable)


def _sha256_bytes(data: bytes) -> str:
    from synthspace.canonical_json import sha256_hex

    return sha256_hex(data)


def _safe_name(name: str) -> str:
    """A subject name usable as a file name inside a bundle (no paths, no hidden files)."""
    from synthspace.lineage import check_subject_name

    try:
        return check_subject_name(name)  # the same rule publishing applies
    except ValueError:
        raise BundleError(f"artifact subject name {name!r} is not a plain file name") from None


def _to_utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


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
    ) -> None:
        self.client = client
        self.offline = offline
        self.state = state
        self._pinned = pinned_verifier_key
        self._tofu = trust_on_first_use
        self._use_org_api = use_org_api and not offline
        self._verifier: Verifier | None = None
        self.first_use = False
        self._ctx: _Context | None = None

    @classmethod
    def for_home(cls, home: NodeHome, client: CoordinatorClient | None = None) -> Auditor:
        from synthspace.node.coordinator_client import CoordinatorClient

        config = home.config()
        return cls(
            client or CoordinatorClient.for_home(home),
            AuditorState(home.auditor_state_dir),
            pinned_verifier_key=config.log_verifier_key,
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

    def _context(self) -> _Context:
        if self._ctx is not None:
            return self._ctx
        ctx = _Context()
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
        from synthspace.node.coordinator_client import CoordinatorError

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
    ) -> AuditReport:
        """Fetch envelope and data of `artifact_id` from the catalog and audit them.

        With `keep_dir`, the verified files are moved there as a bundle (what `pull` does);
        nothing is written there unless every pull check passed.
        """
        return self._audit_id(artifact_id, lineage=lineage, workdir=workdir, keep_dir=keep_dir, seen=())

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
        from synthspace.node.log_audit import audit_entries

        ctx = self._context()
        return audit_entries(self, ctx.view, ctx.log_failure)

    # ---- core -----------------------------------------------------------------------------
    def _audit_id(
        self,
        artifact_id: str,
        *,
        lineage: bool,
        workdir: Path | None,
        keep_dir: Path | None,
        seen: tuple[str, ...],
    ) -> AuditReport:
        record = self.client.artifact(artifact_id)
        envelope_bytes = self.client.envelope(artifact_id)
        if keep_dir is not None:
            # Stage beside the target (same file system): verified files are then renamed in,
            # never copied, and nothing lands in the target before every check passed.
            keep_dir.parent.mkdir(parents=True, exist_ok=True)
            workdir = keep_dir.parent
        tmp = Path(tempfile.mkdtemp(prefix=".synthspace-pull-", dir=workdir))
        try:
            name = _safe_name(record.subject_name)
            downloaded_sha256 = self.client.download_data(artifact_id, tmp / name)
            report = self._audit(
                artifact_id,
                envelope_bytes,
                data_dir=tmp,
                expected_id=artifact_id,
                log_index_hint=record.log_index,
                lineage=lineage,
                seen=seen,
                downloaded_name=name,
                downloaded_sha256=downloaded_sha256,
            )
            if keep_dir is not None and report.ok:
                self._write_bundle(report, envelope_bytes, tmp / name, keep_dir)
            return report
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _write_bundle(self, report: AuditReport, envelope_bytes: bytes, data: Path, out: Path) -> None:
        assert report.statement is not None
        out.mkdir(parents=True, exist_ok=True)
        name = _safe_name(report.statement.subject[0].name)
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
    ) -> AuditReport:
        from synthspace import artifact, dsse

        report = AuditReport(target=target)
        ctx = self._context()
        keys = ctx.keys or KeyDirectory()

        def skip_rest(after: str, why: str) -> AuditReport:
            names = CHECKS if lineage else PULL_CHECKS
            for name in names[names.index(after) + 1 :]:
                if report.check(name) is None:
                    if name == "checkpoint_consistency":  # about the log, not this artifact
                        report.add(name, *self._consistency(ctx))
                    else:
                        report.add(name, "skip", why)
            return report

        # -- envelope_signature ------------------------------------------------------------
        try:
            envelope = dsse.Envelope.from_json(envelope_bytes)
        except SynthspaceError as exc:
            report.add("envelope_signature", "fail", f"the envelope is malformed: {exc}")
            return skip_rest("envelope_signature", "envelope unusable")
        if envelope.payloadType != dsse.INTOTO_PAYLOAD_TYPE:
            report.add("envelope_signature", "fail", f"payloadType {envelope.payloadType!r} is not in-toto")
            return skip_rest("envelope_signature", "envelope unusable")
        aid = artifact.artifact_id(envelope)
        report.artifact_id = aid
        if expected_id is not None and aid != expected_id:
            report.add(
                "envelope_signature", "fail", f"the catalog served an envelope for {aid}, not for {expected_id}"
            )
            return skip_rest("envelope_signature", "envelope unusable")
        signer, payload, why = self._verify_signature(envelope, keys)
        if signer is None or payload is None:
            report.add("envelope_signature", "fail", why)
            return skip_rest("envelope_signature", "signature not verified")
        try:
            statement = artifact.parse_statement(payload)
        except SynthspaceError as exc:
            report.add("envelope_signature", "fail", f"the signed payload is not a lineage Statement: {exc}")
            return skip_rest("envelope_signature", "statement unusable")
        report.statement = statement
        record = keys.get(signer)
        assert record is not None
        report.add("envelope_signature", "pass", f"signed by {record.describe()} (key history from {ctx.key_source})")

        # -- publisher_key -----------------------------------------------------------------
        entry_index, entry, entry_problem = self._find_publish_entry(ctx, aid, log_index_hint)
        producer = statement.predicate.producer
        published_at = _to_utc(entry.time) if entry is not None else _to_utc(statement.predicate.times.signed)
        when = "publication" if entry is not None else "signing (no log entry found)"
        key_problem = None
        if record.purpose != "artifact":
            key_problem = f"key {signer[:16]}… is a {record.purpose} key of {record.org!r}, not an artifact key"
        elif record.org != producer.org:
            key_problem = (
                f"signed with a key of org {record.org!r}, but the Statement names producer {producer.org!r}"
            )
        elif producer.artifact_key_id != signer:
            key_problem = f"the Statement names key {producer.artifact_key_id[:16]}…, but {signer[:16]}… signed it"
        elif entry is not None and entry.org != producer.org:
            key_problem = f"the log entry was published by {entry.org!r}, not the producer {producer.org!r}"
        elif not record.active_at(published_at):
            if record.revoked_at is not None and published_at >= _to_utc(record.revoked_at):
                key_problem = (
                    f"key {signer[:16]}… of {record.org!r} was revoked at {record.revoked_at.isoformat()}, "
                    f"before {when} at {published_at.isoformat()}"
                )
            else:
                key_problem = (
                    f"key {signer[:16]}… of {record.org!r} was not yet enrolled at {when} "
                    f"({published_at.isoformat()}; valid from {record.valid_from.isoformat()})"
                )
        api_note = ""
        if not key_problem and ctx.key_source == "log":
            key_problem, api_note = self._org_directory_agrees(ctx, producer.org, record)
        if key_problem:
            report.add("publisher_key", "fail", key_problem)
        else:
            later = (
                f"; revoked later, at {record.revoked_at.isoformat()}" if record.revoked_at is not None else ""
            )
            report.add(
                "publisher_key",
                "pass",
                f"artifact key of {producer.org!r}, valid at {when} ({published_at.isoformat()}){later}{api_note}",
            )

        # -- data_digest -------------------------------------------------------------------
        subject = statement.subject[0]
        data_path: Path | None = None
        if data_dir is not None:
            try:
                name = _safe_name(subject.name)
            except BundleError as exc:
                name = None
                report.add("data_digest", "fail", str(exc))
            if name is not None:
                data_path = data_dir / (downloaded_name or name)
                if not data_path.is_file():
                    report.add("data_digest", "fail", f"the data file {name} is missing from {data_dir}")
                    data_path = None
        if report.check("data_digest") is None:
            if data_path is None:
                report.add("data_digest", "skip", "no data file to check")
            else:
                from synthspace.canonical_json import file_sha256

                # Hashed while downloading, into a private staging directory; else read back.
                actual = downloaded_sha256 or file_sha256(data_path)
                if actual != subject.digest.sha256:
                    report.add(
                        "data_digest",
                        "fail",
                        f"{subject.name} has sha256 {actual[:16]}…, the signed Statement says "
                        f"{subject.digest.sha256[:16]}…: the data was modified",
                    )
                else:
                    report.add("data_digest", "pass", f"{subject.name} sha256 {actual} matches the Statement")

        # -- log_inclusion -----------------------------------------------------------------
        self._check_inclusion(report, ctx, envelope_bytes, statement, signer, entry_index, entry, entry_problem)

        # -- checkpoint_consistency --------------------------------------------------------
        report.add("checkpoint_consistency", *self._consistency(ctx))

        # -- retraction --------------------------------------------------------------------
        if ctx.view is None:
            report.add("retraction", "skip", "the log could not be read in full")
        else:
            retractions = ctx.view.retractions(aid)
            if retractions:
                index, r = retractions[0]
                report.add(
                    "retraction",
                    "fail",
                    f"retracted at {r.time.isoformat()} by the {r.by} ({r.org}): {r.reason} (log index {index})",
                )
            else:
                report.add("retraction", "pass", f"no retract entry among {ctx.view.size} log entries")

        # -- gates -------------------------------------------------------------------------
        gates = statement.predicate.gates
        problems = statement_problems(statement)
        if problems:
            report.add("gates", "fail", "; ".join(str(p) for p in problems))
        else:
            names = ", ".join(f"{g.name}{'' if g.passed else ' (failed, non-blocking)'}" for g in gates)
            report.add("gates", "pass", f"{len(gates)} gate(s) recorded: {names}" if gates else "no gates recorded")

        # -- lineage -----------------------------------------------------------------------
        if lineage:
            self._check_lineage(report, statement, aid, seen)
        return report

    def _org_directory_agrees(self, ctx: _Context, org: str, record: KeyRecord) -> tuple[str | None, str]:
        """Cross-check the log's key history with GET /v1/orgs/{org} (validity periods).

        Returns (problem or None, a note for the report). Unsigned auditors cannot read the
        directory; the log alone then decides."""
        from datetime import timedelta

        from synthspace.node.coordinator_client import CoordinatorError

        if not self._use_org_api:
            return None, ""
        if org not in ctx.org_records:
            try:
                ctx.org_records[org] = self.client.org(org)
            except CoordinatorError:
                ctx.org_records[org] = None
        api = ctx.org_records[org]
        if api is None:
            return None, "; org directory not readable, key history from the log alone"
        key = next((k for k in api.keys if k.key_id == record.key_id), None)
        slack = timedelta(seconds=1)
        if key is None:
            return f"GET /v1/orgs/{org} does not list key {record.key_id[:16]}…, which the log enrolled for it", ""
        if key.purpose != record.purpose or abs(_to_utc(key.valid_from) - record.valid_from) > slack:
            return f"GET /v1/orgs/{org} and the log disagree on when key {record.key_id[:16]}… became valid", ""
        if (key.revoked_at is None) != (record.revoked_at is None) or (
            key.revoked_at is not None
            and record.revoked_at is not None
            and abs(_to_utc(key.revoked_at) - record.revoked_at) > slack
        ):
            return f"GET /v1/orgs/{org} and the log disagree on the revocation of key {record.key_id[:16]}…", ""
        return None, f"; GET /v1/orgs/{org} agrees"

    def _consistency(self, ctx: _Context) -> tuple[Status, str]:
        if ctx.log_failure is not None and ctx.log_failure.check == "checkpoint_consistency":
            return "fail", ctx.log_failure.detail
        if ctx.log_failure is not None:
            return "skip", f"log unusable: {ctx.log_failure.detail}"
        assert ctx.view is not None
        if ctx.view.previous_size == 0:
            return "pass", f"first checkpoint this auditor has seen (size {ctx.view.size}); kept for next time"
        if ctx.view.previous_size == ctx.view.size:
            return "pass", f"same signed checkpoint (size {ctx.view.size}) as this auditor saw before"
        return "pass", (
            f"checkpoint of size {ctx.view.size} extends the one of size {ctx.view.previous_size} "
            "seen before; all entries hash to its root"
        )

    def _verify_signature(
        self, envelope: Envelope, keys: KeyDirectory
    ) -> tuple[str | None, bytes | None, str]:
        from synthspace import dsse

        keyids = [s.keyid for s in envelope.signatures]
        if not keyids:
            return None, None, "the envelope carries no signature"
        known = [k for k in keyids if keys.get(k) is not None]
        if not known:
            return (
                None,
                None,
                f"signed by key {keyids[0][:16]}…, which no org has enrolled with this coordinator",
            )
        last_error = ""
        for kid in known:
            record = keys.get(kid)
            assert record is not None
            try:
                payload = dsse.verify(envelope, {kid: record.public_key()})
                return kid, payload, ""
            except SynthspaceError as exc:
                last_error = str(exc)
        return None, None, f"the signature does not verify over the payload (modified payload?): {last_error}"

    def _find_publish_entry(
        self, ctx: _Context, aid: str, hint: int | None
    ) -> tuple[int | None, PublishEntry | None, str]:
        """The publish entry of `aid`: at the hinted index, else found by scanning the log."""
        from synthspace.log_entries import PublishEntry, parse_entry

        if hint is not None and ctx.checkpoint is not None and 0 <= hint < ctx.checkpoint.size:
            try:
                leaf = ctx.view.leaves[hint] if ctx.view is not None else self.client.entry(hint)
                entry = parse_entry(leaf)
                if isinstance(entry, PublishEntry) and entry.artifact_id == aid:
                    return hint, entry, ""
            except (SynthspaceError, ValueError):
                pass
        if ctx.view is not None:
            found = ctx.view.publish_entries(aid)
            if found:
                return found[0][0], found[0][1], ""
        size = ctx.checkpoint.size if ctx.checkpoint is not None else "?"
        return None, None, f"no publish entry for artifact {aid} in the log (size {size})"

    def _check_inclusion(
        self,
        report: AuditReport,
        ctx: _Context,
        envelope_bytes: bytes,
        statement: Statement,
        signer: str,
        index: int | None,
        entry: PublishEntry | None,
        problem: str,
    ) -> None:
        from synthspace.log_entries import parse_entry
        from synthspace.transparency_log import leaf_hash, verify_inclusion

        if ctx.checkpoint is None:
            why = ctx.log_failure.detail if ctx.log_failure else "no checkpoint"
            report.add("log_inclusion", "fail", f"no verified checkpoint: {why}")
            return
        if ctx.log_failure is not None and ctx.log_failure.check == "log_root":
            report.add("log_inclusion", "fail", ctx.log_failure.detail)
            return
        if entry is None or index is None:
            report.add("log_inclusion", "fail", problem)
            return
        mismatches = []
        if entry.envelope_sha256 != _sha256_bytes(envelope_bytes):
            mismatches.append("the envelope differs from the one logged")
        if entry.subject_sha256 != statement.subject[0].digest.sha256:
            mismatches.append("the logged data digest differs from the Statement's")
        if entry.key_id != signer:
            mismatches.append(f"the log records key {entry.key_id[:16]}…, not the signer {signer[:16]}…")
        if mismatches:
            report.add("log_inclusion", "fail", f"log entry {index}: " + "; ".join(mismatches))
            return
        cp = ctx.checkpoint
        try:
            # Fetch the entry again and recompute its leaf hash from the bytes served now.
            fetched = self.client.entry(index)
            if ctx.view is not None and ctx.view.leaves[index] != fetched:
                raise VerificationError(f"the coordinator now serves different bytes for entry {index}")
            if parse_entry(fetched) != entry:
                raise VerificationError(f"entry {index} as served is not the publish entry checked")
            proof = self.client.inclusion_proof(index, cp.size)
            verify_inclusion(leaf_hash(fetched), index, cp.size, proof, cp.root)
        except SynthspaceError as exc:
            report.add("log_inclusion", "fail", f"entry {index} is not provably in the log: {exc}")
            return
        import base64

        report.log_index = index
        report.checkpoint_size = cp.size
        report.receipt = {
            "artifact_id": entry.artifact_id,
            "log_index": index,
            "entry_leaf": base64.b64encode(fetched).decode(),
            "inclusion_proof": {"index": index, "size": cp.size, "hashes": [h.hex() for h in proof]},
            "checkpoint": ctx.view.note if ctx.view is not None else "",
        }
        report.add(
            "log_inclusion",
            "pass",
            f"publish entry {index} (by {entry.org!r} at {entry.time.isoformat()}) is included in the "
            f"signed checkpoint of size {cp.size}",
        )

    def _check_lineage(self, report: AuditReport, statement: Statement, aid: str, seen: tuple[str, ...]) -> None:
        parents = statement.predicate.parents
        if not parents:
            report.add("lineage", "pass", "no parents: an original artifact")
            return
        if self.offline:
            report.add("lineage", "skip", f"offline: {len(parents)} parent(s) not checked; audit online to walk them")
            return
        chain = (*seen, aid)
        if len(chain) > MAX_LINEAGE_DEPTH:
            report.add("lineage", "fail", f"lineage deeper than {MAX_LINEAGE_DEPTH} levels")
            return
        problems: list[str] = []
        for parent in parents:
            if parent.artifact_id in chain:
                problems.append(f"parent {parent.artifact_id[:16]}… forms a cycle")
                continue
            try:
                sub = self._audit_id(parent.artifact_id, lineage=True, workdir=None, keep_dir=None, seen=chain)
            except SynthspaceError as exc:
                problems.append(f"parent {parent.artifact_id[:16]}… cannot be fetched: {exc}")
                continue
            report.parents.append(sub)
            if sub.statement is not None and sub.statement.subject[0].digest.sha256 != parent.digest.sha256:
                problems.append(
                    f"parent {parent.artifact_id[:16]}… has data digest "
                    f"{sub.statement.subject[0].digest.sha256[:16]}…, the child names {parent.digest.sha256[:16]}…"
                )
            first = sub.first_failure()
            if first is not None:
                problems.append(f"parent {parent.artifact_id[:16]}… failed {first.name}: {first.detail}")
        if problems:
            report.add("lineage", "fail", "; ".join(problems))
        else:
            depth = 1 + max((_depth(p) for p in report.parents), default=0)
            report.add("lineage", "pass", f"{len(parents)} parent(s) verified, chain depth {depth}")

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
        """Check a publish receipt: the logged entry is ours, included under a signed checkpoint
        that is consistent with what this auditor saw before. Raises ReceiptError."""
        import base64

        from synthspace import artifact, dsse
        from synthspace.log_entries import PublishEntry, parse_entry
        from synthspace.transparency_log import leaf_hash, verify_inclusion

        try:
            aid = artifact.artifact_id(dsse.Envelope.from_json(envelope_bytes))
            if receipt.get("artifact_id") != aid:
                raise ReceiptError(f"the receipt is for {receipt.get('artifact_id')}, not {aid}")
            leaf = base64.b64decode(str(receipt["entry_leaf"]), validate=True)
            entry = parse_entry(leaf)
            if not isinstance(entry, PublishEntry):
                raise ReceiptError(f"the receipt's entry is a {entry.type!r} entry, not a publish entry")
            expected = {
                "artifact_id": aid,
                "envelope_sha256": _sha256_bytes(envelope_bytes),
                "subject_sha256": subject_sha256,
                "key_id": key_id,
                "org": org,
            }
            for name, value in expected.items():
                if getattr(entry, name) != value:
                    raise ReceiptError(f"the logged entry's {name} is {getattr(entry, name)!r}, expected {value!r}")
            proof = receipt["inclusion_proof"]
            index = int(receipt["log_index"])
            if int(proof["index"]) != index:
                raise ReceiptError("the inclusion proof is for another index than the receipt's")
            checkpoint = advance_checkpoint(self.client, self.state, self.verifier(), str(receipt["checkpoint"]))
            if int(proof["size"]) != checkpoint.size:
                raise ReceiptError("the inclusion proof is for another tree size than the checkpoint's")
            hashes = [bytes.fromhex(h) for h in proof["hashes"]]
            verify_inclusion(leaf_hash(leaf), index, checkpoint.size, hashes, checkpoint.root)
            return checkpoint
        except ReceiptError:
            raise
        except LogCheckFailed as exc:
            raise ReceiptError(str(exc)) from exc
        except (SynthspaceError, KeyError, TypeError, ValueError) as exc:
            raise ReceiptError(f"the receipt does not verify: {exc}") from exc


class ReceiptError(VerificationError):
    """A publish receipt did not verify against the log (the coordinator's answer is wrong)."""


def _depth(report: AuditReport) -> int:
    return 1 + max((_depth(p) for p in report.parents), default=0)


@dataclass
class LogAuditReport:
    """Result of `audit log`: the log as a whole, checked like a monitor."""

    size: int = 0
    root_hex: str = ""
    previous_size: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.checks if c.failed), None)

    @property
    def ok(self) -> bool:
        return self.first_failure() is None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_failure()
        return {
            "ok": self.ok,
            "first_failure": first.name if first else None,
            "size": self.size,
            "root": self.root_hex,
            "previous_size": self.previous_size,
            "counts": self.counts,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
            "findings": self.findings,
        }
