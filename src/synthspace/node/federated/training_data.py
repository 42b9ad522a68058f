"""What a node trains on: its own synthetic runs plus catalog artifacts it pulled and verified.

A node declares its training sources in NODE_HOME/federation/node.json (written by
`synthspace node join --data PATH`). Each source is one of:

- a generation run directory (has manifest.json): its shard records, private `_` columns dropped;
- an artifact bundle directory (has envelope.json): a dataset this node published or pulled
  from the catalog. It is verified again every time it is read for training (the ClientApp
  passes `audit_verifier(home)`): the DSSE signature against the publisher org's key enrolled
  at the coordinator (from its verified log), the data file's sha256 against the signed subject,
  the log inclusion, retraction and gates. An envelope with no signature, a bad signature, a key
  no org enrolled or a changed data file refuses the whole round with an error naming why;
- this node's own local data, never received from anyone: a Parquet file or a run directory.

Records become training texts (chat-formatted prompt/answer pairs when the columns say which is
which, else `field: value` lines). A stable hash of each record picks the held-out split, so the
same records are held out in every round.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from synthspace.errors import SynthspaceError, VerificationError
from synthspace.lineage import Statement
from synthspace.node.audit import Auditor
from synthspace.node.consumer import PolicyWithdrawn, ensure_agreement
from synthspace.node.coordinator_client import CoordinatorError
from synthspace.node.generate.run_dir import read_records, shard_paths
from synthspace.node.home import NodeHome
from synthspace.policy import enforced_policy, permits

PROMPT_COLUMNS = ("question", "prompt", "instruction", "query", "input")
ANSWER_COLUMNS = ("answer", "response", "output", "completion", "target")
SKIP_COLUMNS = ("record_id", "persona_id")


class TrainingDataError(SynthspaceError):
    """A declared training source is missing, unreadable, tampered with or empty."""


class UnverifiedTrainingData(TrainingDataError, VerificationError):
    """A bundle's envelope is unsigned, does not verify against the publisher's enrolled key, or
    its data does not match the signed digest: the node refuses to train on it."""


class TrainingForbidden(TrainingDataError):
    """A bundle's signed usage policy does not permit this org to train on it in this run
    (not an assignee, prohibited, expired, federated-only, or past its max rounds)."""


@dataclass(frozen=True)
class TrainingUse:
    """Who trains and in which federated round (rounds asked = the round about to be trained)."""

    org: str
    round: int = 1


def check_may_train(statement: Any, where: str, use: TrainingUse) -> None:
    """The bundle's policy permits federated `train` by `use.org` for round `use.round` now;
    raises TrainingForbidden naming the term (the coordinator re-checks the adapter's parents
    with the same `policy.permits`)."""
    pred = statement.predicate
    decision = permits(
        enforced_policy(pred.policy), "train", use.org, publisher=pred.producer.org,
        now=datetime.now(UTC), rounds=use.round, federated=True,
    )
    if not decision.permitted:
        raise TrainingForbidden(
            f"{where}: refusing to train on it, its usage policy ({pred.title!r} of {pred.producer.org!r}) "
            f"does not permit train by {use.org!r} in federated round {use.round}: {decision.reason}"
        )


BundleVerifier = Callable[[Path], None]  # raises UnverifiedTrainingData when the bundle does not verify


def audit_verifier(home: Path | str) -> BundleVerifier:
    """Verify bundles with this node's auditor (keys from the coordinator's verified log)."""
    auditor = Auditor.for_home(NodeHome(Path(home)))

    def verify(bundle: Path) -> None:
        report = auditor.audit_bundle(bundle, lineage=False)
        failure = report.first_failure()
        if failure is not None:
            raise UnverifiedTrainingData(
                f"{bundle}: refusing to train on it, its {failure.name.replace('_', ' ')} check failed: {failure.detail}"
            )
        if report.artifact_id is not None:
            require_train_agreement(auditor, report.artifact_id, bundle)

    return verify


TRAIN_PURPOSE = "train"


def require_train_agreement(auditor: Any, artifact_id: str, where: Path) -> None:
    """Another org's bundle is trained on only under a logged `train` agreement of this org:
    reused from the node's cache or the coordinator's list, else signed now (purpose `train`,
    as the demo's pulls sign) by `consumer.ensure_agreement`, the helper every pull uses. The
    org's own artifacts need none. Raises TrainingForbidden when the coordinator refuses it."""
    if auditor.consumer is None:
        raise TrainingForbidden(f"{where}: refusing to train on it, this node has no key to sign a train agreement with")
    try:
        ensure_agreement(auditor.client, auditor.consumer, artifact_id, TRAIN_PURPOSE, action="train")
    except CoordinatorError as exc:
        raise TrainingForbidden(
            f"{where}: refusing to train on it without a logged train agreement ({exc.code}): {exc.detail}"
        ) from exc
    except PolicyWithdrawn as exc:
        raise TrainingForbidden(f"{where}: refusing to train on it: {exc}") from exc


@dataclass(frozen=True)
class SourceInfo:
    """One declared training source and the digest the node reports for it."""

    path: str
    kind: Literal["run", "bundle", "parquet"]
    sha256: str  # lowercase hex; for bundles the catalog subject digest
    artifact_id: str | None  # catalog id for bundles, else None
    records: int


@dataclass
class Example:
    """One training record as text, plus a prompt/answer pair when the record has one."""

    text: str
    prompt: str | None = None
    answer: str | None = None


@dataclass
class TrainingData:
    """Train and held-out examples of one node, and what they came from."""

    train: list[Example]
    held_out: list[Example]
    sources: list[SourceInfo] = field(default_factory=list)

    @property
    def digests(self) -> list[str]:
        return sorted({s.sha256 for s in self.sources})

    @property
    def artifact_ids(self) -> list[str]:
        return sorted({s.artifact_id for s in self.sources if s.artifact_id})


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_bundle(path: Path, verify: BundleVerifier | None, use: TrainingUse | None = None) -> tuple[Any, SourceInfo]:
    """A published or pulled artifact bundle: verified by `verify`, then re-hashed here."""
    import pandas as pd

    try:
        envelope = json.loads((path / "envelope.json").read_text(encoding="utf-8"))
        payload = base64.b64decode(envelope["payload"], validate=True)
        statement = Statement.from_json_bytes(payload)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingDataError(f"{path}: envelope.json is not a readable DSSE envelope: {exc}") from exc
    if not isinstance(envelope.get("signatures"), list) or not envelope["signatures"]:
        raise UnverifiedTrainingData(f"{path}: refusing to train on it, its envelope carries no signature")
    if verify is None:
        raise UnverifiedTrainingData(f"{path}: refusing to train on it, no verifier for catalog bundles was given")
    verify(path)
    audit = path / "audit.json"
    if audit.is_file():
        try:
            report = json.loads(audit.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TrainingDataError(f"{path}: audit.json is not JSON: {exc}") from exc
        if report.get("ok") is False:
            raise TrainingDataError(
                f"{path}: the recorded audit failed ({report.get('first_failure')}); pull it again"
            )
    if statement.predicate.kind not in ("dataset", "derived-dataset"):
        raise TrainingDataError(f"{path}: a {statement.predicate.kind} is not training data")
    if use is not None:
        check_may_train(statement, str(path), use)
    subject = statement.subject[0]
    data_path = path / subject.name
    if not data_path.is_file():
        raise TrainingDataError(f"{path}: the data file {subject.name} named by the envelope is missing")
    actual = _file_sha256(data_path)
    if actual != subject.digest.sha256:
        raise VerificationError(
            f"{data_path}: sha256 {actual} differs from the signed subject {subject.digest.sha256}; "
            "the file changed after it was pulled - pull the artifact again"
        )
    frame = pd.read_parquet(data_path)
    info = SourceInfo(
        path=str(path),
        kind="bundle",
        sha256=actual,
        artifact_id=hashlib.sha256(payload).hexdigest(),
        records=len(frame),
    )
    return frame, info


def _read_run(path: Path) -> tuple[Any, SourceInfo]:
    frame = read_records(path, include_private=False)
    # A run's digest covers its shard files (what the records were read from).
    h = hashlib.sha256()
    for shard in shard_paths(path):
        h.update(shard.name.encode() + b"\0" + _file_sha256(shard).encode() + b"\n")
    info = SourceInfo(path=str(path), kind="run", sha256=h.hexdigest(), artifact_id=None, records=len(frame))
    return frame, info


def _read_parquet(path: Path) -> tuple[Any, SourceInfo]:
    import pandas as pd

    frame = pd.read_parquet(path)
    info = SourceInfo(path=str(path), kind="parquet", sha256=_file_sha256(path), artifact_id=None, records=len(frame))
    return frame, info


def read_source(
    path: Path | str, verify: BundleVerifier | None = None, use: TrainingUse | None = None
) -> tuple[Any, SourceInfo]:
    """(records DataFrame without private columns, SourceInfo) of one declared source; with
    `use`, a catalog bundle's policy must permit that org's federated training (`check_may_train`)."""
    p = Path(path).expanduser()
    try:
        if p.is_dir() and (p / "envelope.json").is_file():
            frame, info = _read_bundle(p, verify, use)
        elif p.is_dir() and (p / "manifest.json").is_file():
            frame, info = _read_run(p)
        elif p.is_file() and p.suffix == ".parquet":
            frame, info = _read_parquet(p)
        elif not p.exists():
            raise TrainingDataError(f"training source {p} does not exist")
        else:
            raise TrainingDataError(
                f"{p} is neither a run directory (manifest.json), an artifact bundle "
                "(envelope.json) nor a .parquet file"
            )
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"cannot read training source {p}: {exc}") from exc
    frame = frame[[c for c in frame.columns if not str(c).startswith("_")]]
    return frame, info


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def _field_text(value: Any) -> str:
    """A cell as text; list columns (Parquet lists arrive as numpy arrays) one item per line."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def record_examples(frame: Any) -> list[Example]:
    """Texts of a records frame: prompt/answer pairs when the columns name them."""
    columns = [str(c) for c in frame.columns]
    prompt_col = _pick(columns, PROMPT_COLUMNS)
    answer_col = _pick(columns, ANSWER_COLUMNS)
    content = [c for c in columns if c not in SKIP_COLUMNS]
    out: list[Example] = []
    for row in frame.to_dict(orient="records"):
        if prompt_col and answer_col:
            prompt, answer = str(row[prompt_col]).strip(), str(row[answer_col]).strip()
            if prompt and answer:
                out.append(Example(text=f"{prompt}\n{answer}", prompt=prompt, answer=answer))
                continue
        text = "\n".join(f"{c}: {v}" for c in content if (v := _field_text(row.get(c))))
        if text.strip():
            out.append(Example(text=text))
    return out


def _held_out(example: Example, percent: int) -> bool:
    bucket = int.from_bytes(hashlib.sha256(example.text.encode("utf-8")).digest()[:4], "big") % 100
    return bucket < percent


def load_training_data(
    sources: list[str],
    *,
    held_out_percent: int = 20,
    max_examples: int | None = None,
    verify_bundle: BundleVerifier | None = None,
    use: TrainingUse | None = None,
) -> TrainingData:
    """Read every declared source (bundles verified by `verify_bundle`); split off a stable held-out set."""
    if not sources:
        raise TrainingDataError(
            "this node declares no training data: run `synthspace node join --home DIR --data RUN_DIR` "
            "(a run directory, a published/pulled artifact bundle or a .parquet file)"
        )
    if not 0 <= held_out_percent < 100:
        raise TrainingDataError(f"held-out percent must be in [0, 100), got {held_out_percent}")
    infos: list[SourceInfo] = []
    examples: list[Example] = []
    for src in sources:
        frame, info = read_source(src, verify_bundle, use)
        infos.append(info)
        examples.extend(record_examples(frame))
    train = [e for e in examples if not _held_out(e, held_out_percent)]
    held = [e for e in examples if _held_out(e, held_out_percent)]
    if not train:
        raise TrainingDataError(f"the declared sources {sources} hold no usable training records")
    if not held and held_out_percent > 0:
        held = train[-1:]  # tiny sets: evaluate on something rather than nothing
    if max_examples is not None:
        train = train[:max_examples]
        held = held[:max_examples]
    return TrainingData(train=train, held_out=held, sources=infos)
