"""A local, verified mirror of the coordinator's transparency log, kept by every auditor.

The auditor state directory holds:

    verifier-key.txt   the coordinator's checkpoint verifier key, pinned on first use (or at
                       enrolment); a different key later is an error, never silently accepted
    checkpoint.txt     the last signed checkpoint this auditor verified
    leaves.jsonl       every log leaf up to that checkpoint, each checked to hash to its root
    evidence/          pairs of signed checkpoints that contradict each other (proof of a fork)

`sync_log` moves the mirror forward: the new checkpoint must carry a valid signature, be
consistent with the last one seen (RFC 9162 consistency proof), and the served entries must
hash to its root. Whatever fails is raised as `LogCheckFailed` naming the check, so callers
(audit, pull, publish) can report it by name.

New entries are read as C2SP tlog-tiles (`/v1/log/tile/entries/N`, immutable and cacheable)
when the coordinator serves them: the hash tiles must recompute the signed root, and every
entry bundle must hash to the subtree hash the tiles give for its range, else the named check
`log_tiles` fails. A coordinator without tiles (404) is read through the JSON entries API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.checkpoint import Verifier, open_checkpoint
from synthspace.errors import ProofError, SynthspaceError, VerificationError
from synthspace.log_entries import KeyEntry, PublishEntry, RetractEntry, parse_entry
from synthspace.node.audit.auditor_state import (
    AuditorState,
    AuditorStateError,
)
from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError
from synthspace.tlog_tiles import (
    TILE_WIDTH,
    TileReader,
    decode_entry_bundle,
    tile_path,
    tile_width_at,
)
from synthspace.transparency_log import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
)

if TYPE_CHECKING:
    from synthspace.checkpoint import Checkpoint
    from synthspace.log_entries import AgreementEntry, PolicyEntry

    LogEntry = PublishEntry | RetractEntry | KeyEntry | PolicyEntry | AgreementEntry

class LogCheckFailed(VerificationError):
    """A transparency-log check failed; `check` names it (checkpoint, checkpoint_consistency, log_root)."""

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(f"{check}: {message}")
        self.detail = message
        self.current: Checkpoint | None = None  # the verified current checkpoint, when there is one


class TileMismatch(LogCheckFailed):
    """A tile the coordinator served does not agree with its signed checkpoint (check `log_tiles`)."""

    def __init__(self, message: str) -> None:
        super().__init__("log_tiles", message)


def resolve_verifier(
    client: CoordinatorClient,
    state: AuditorState,
    pinned: str | None = None,
    *,
    trust_on_first_use: bool = True,
) -> tuple[Verifier, bool]:
    """The verifier key to check checkpoints with, and whether it was just pinned (first use).

    Precedence: `pinned` (a node pins at enrolment), then the state's pin, then, only if
    `trust_on_first_use`, the key the coordinator presents now.
    """
    first_use = False
    text = pinned or state.pinned_verifier_key()
    if text is None:
        if not trust_on_first_use:
            raise AuditorStateError(
                "no pinned log verifier key: pass --verifier-key, or allow trust on first use"
            )
        text = client.verifier_key()
        first_use = True
    if pinned is not None and state.pinned_verifier_key() not in (None, pinned.strip()):
        raise AuditorStateError(
            f"auditor state {state.path} is pinned to a different verifier key than the node's; "
            "use a separate --state"
        )
    try:
        verifier = Verifier.from_string(text)
    except SynthspaceError as exc:
        raise AuditorStateError(f"the log verifier key {text!r} is malformed: {exc}") from exc
    state.pin_verifier_key(text)
    return verifier, first_use


@dataclass
class LogView:
    """The log as verified by one sync: the signed checkpoint and every leaf up to its size."""

    note: str
    checkpoint: Checkpoint
    leaves: list[bytes]
    previous_size: int
    first_use: bool = False
    _entries: dict[int, LogEntry] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.checkpoint.size

    def entry(self, index: int) -> LogEntry:
        if index not in self._entries:
            self._entries[index] = parse_entry(self.leaves[index])
        return self._entries[index]

    def iter_entries(self) -> list[tuple[int, LogEntry | Exception]]:
        out: list[tuple[int, LogEntry | Exception]] = []
        for i in range(len(self.leaves)):
            try:
                out.append((i, self.entry(i)))
            except Exception as exc:  # a malformed leaf is a finding, not a crash
                out.append((i, exc))
        return out

    def publish_entries(self, artifact_id: str) -> list[tuple[int, PublishEntry]]:
        found = []
        for i, e in self.iter_entries():
            if isinstance(e, PublishEntry) and e.artifact_id == artifact_id:
                found.append((i, e))
        return found

    def retractions(self, artifact_id: str) -> list[tuple[int, RetractEntry]]:
        return [(i, e) for i, e in self.iter_entries() if isinstance(e, RetractEntry) and e.artifact_id == artifact_id]

    def key_entries(self) -> list[tuple[int, KeyEntry]]:
        return [(i, e) for i, e in self.iter_entries() if isinstance(e, KeyEntry)]


def open_note(note: str, verifier: Verifier, check: str = "checkpoint") -> Checkpoint:
    try:
        return open_checkpoint(note, verifier)
    except SynthspaceError as exc:
        raise LogCheckFailed(check, f"signed checkpoint does not verify with the pinned key: {exc}") from exc


def check_consistency(
    client: CoordinatorClient, earlier: Checkpoint, later: Checkpoint
) -> None:
    """Raise LogCheckFailed('checkpoint_consistency') unless `earlier` is a prefix of `later`."""
    if later.size < earlier.size:
        raise LogCheckFailed(
            "checkpoint_consistency",
            f"the log shrank: size {later.size} now, {earlier.size} in a checkpoint seen earlier",
        )
    if later.size == earlier.size:
        if later.root != earlier.root:
            raise LogCheckFailed(
                "checkpoint_consistency",
                f"two signed checkpoints of size {later.size} have different roots (a forked log)",
            )
        return
    if earlier.size == 0:
        return
    try:
        proof = client.consistency_proof(earlier.size, later.size)
    except CoordinatorError as exc:
        if exc.status >= 500:
            raise
        # The coordinator refuses to prove a size it once signed: its log was rolled back.
        raise LogCheckFailed(
            "checkpoint_consistency",
            f"the coordinator cannot prove that its checkpoint of size {later.size} extends the one of "
            f"size {earlier.size} (it answered {exc.status} {exc.code}): a rolled-back or forked log",
        ) from exc
    try:
        verify_consistency(earlier.size, later.size, earlier.root, later.root, proof)
    except VerificationError as exc:
        raise LogCheckFailed(
            "checkpoint_consistency",
            f"checkpoint of size {later.size} is not consistent with the one of size {earlier.size} "
            f"seen earlier: {exc}",
        ) from exc


def _check_against_previous(
    client: CoordinatorClient, state: AuditorState, verifier: Verifier, note: str, current: Checkpoint
) -> Checkpoint | None:
    """Check `current` against the last checkpoint this auditor saw; returns that one (or None)."""
    previous_note = state.last_checkpoint_note()
    if previous_note is None:
        return None
    try:
        previous = open_note(previous_note, verifier)
    except LogCheckFailed as exc:
        raise AuditorStateError(f"{state.checkpoint_path} does not verify with the pinned key: {exc}") from exc
    try:
        if previous.origin != current.origin:
            raise LogCheckFailed(
                "checkpoint_consistency", f"log origin changed from {previous.origin!r} to {current.origin!r}"
            )
        if current.size >= previous.size:
            check_consistency(client, previous, current)
        else:
            # An older checkpoint (e.g. in a receipt) must be a prefix of the newer one we saw.
            check_consistency(client, current, previous)
    except LogCheckFailed as exc:
        exc.current = current
        state.record_evidence(previous_note, note, exc.detail)
        raise
    return previous


def advance_checkpoint(
    client: CoordinatorClient, state: AuditorState, verifier: Verifier, note: str
) -> Checkpoint:
    """Verify `note` and its consistency with the last checkpoint seen; remember it if newer.

    Cheap (one consistency proof, no entries); the leaf mirror catches up at the next sync.
    """
    current = open_note(note, verifier)
    previous = _check_against_previous(client, state, verifier, note, current)
    if previous is None or current.size > previous.size:
        state.save(note, [], len(state.leaves()))
    return current


def sync_log(
    client: CoordinatorClient,
    state: AuditorState,
    verifier: Verifier,
    *,
    first_use: bool = False,
) -> LogView:
    """Fetch and verify the current checkpoint and every entry up to it; move the state forward.

    Cached leaves are only a cache: all leaves together must hash to the signed root, so a
    wrong cached or served leaf cannot pass. The state is written only when every check
    passed; a contradicting checkpoint is kept under evidence/ instead.
    """
    note = client.checkpoint()
    current = open_note(note, verifier)
    previous = _check_against_previous(client, state, verifier, note, current)
    prev_size = previous.size if previous is not None else 0

    cached = state.leaves()[: current.size]
    stored = len(cached)
    leaves = list(cached)
    try:
        if current.size > len(leaves):
            leaves.extend(fetch_leaves(client, len(leaves), current))
        root = root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])
        if root != current.root and stored:
            stored = 0
            leaves = fetch_leaves(client, 0, current)
            root = root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])
    except TileMismatch as mismatch:
        mismatch.current = current
        raise
    if root != current.root:
        exc = LogCheckFailed(
            "log_root", f"the {current.size} entries the coordinator serves do not hash to its signed root"
        )
        exc.current = current
        raise exc
    if previous is None or current.size >= prev_size:
        state.save(note, leaves, stored)
    return LogView(note=note, checkpoint=current, leaves=leaves, previous_size=prev_size, first_use=first_use)


def fetch_leaves(client: CoordinatorClient, start: int, checkpoint: Checkpoint, *, tiles: bool | None = None) -> list[bytes]:
    """Leaves [start, checkpoint.size): from tiles, verified against the checkpoint's root, when
    the client reads tiles (`tiles`, default `client.reads_tiles`) and the coordinator serves
    them; else from the JSON entries API (then only sync_log's whole-log root check vouches for them)."""
    if tiles if tiles is not None else getattr(client, "reads_tiles", False):
        try:
            return leaves_from_tiles(client, start, checkpoint)
        except CoordinatorError as exc:
            if exc.status != 404 or exc.code == "tile_not_found":
                raise
            # no tile endpoint at all (an older coordinator): fall back to the JSON entries API
    return [leaf for _, leaf in client.entries(start, checkpoint.size)]


def leaves_from_tiles(client: CoordinatorClient, start: int, checkpoint: Checkpoint) -> list[bytes]:
    """Leaves [start, size) read from entry bundles, each checked against the hash tiles, and
    the hash tiles checked to recompute the checkpoint's root. Raises TileMismatch naming the tile."""
    size = checkpoint.size
    if start >= size:
        return []
    reader = TileReader(size, client.tile)
    try:
        root = reader.root()
    except ProofError as exc:
        raise TileMismatch(f"hash tiles of the tree of size {size} are malformed: {exc}") from exc
    if root != checkpoint.root:
        raise TileMismatch(
            f"the hash tiles recompute root {root.hex()[:16]}…, not the signed root {checkpoint.root.hex()[:16]}… of size {size}"
        )
    out: list[bytes] = []
    for t in range(start // TILE_WIDTH, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = tile_width_at(size, 0, t)
        path = tile_path("entries", t, width)
        try:
            bundle = decode_entry_bundle(client.tile("entries", t, width), width)
            expected = reader.subtree(t * TILE_WIDTH, t * TILE_WIDTH + width)
        except ProofError as exc:
            raise TileMismatch(f"{path}: {exc}") from exc
        if root_from_leaf_hashes([leaf_hash(leaf) for leaf in bundle]) != expected:
            raise TileMismatch(f"{path} does not hash to the subtree hash its hash tiles give (a tampered tile)")
        out.extend(bundle[max(0, start - t * TILE_WIDTH) :])
    return out


class OfflineError(SynthspaceError):
    """An offline audit needed something only the coordinator has."""


def offline_client(state: AuditorState) -> CoordinatorClient:
    """A stand-in for the coordinator answering log reads from the auditor's own state.

    The checkpoint is the last one this auditor verified online and the entries are its
    mirror, so an offline audit checks signatures, digests, inclusion and key history against
    what was verified before, without any network access. Catalog reads raise OfflineError.
    """
    note = state.last_checkpoint_note()
    key = state.pinned_verifier_key()
    if note is None or key is None:
        raise OfflineError(
            f"auditor state {state.path} has not seen this coordinator's log yet; audit once online"
        )
    leaves = state.leaves()
    hashes = [leaf_hash(leaf) for leaf in leaves]
    note_text: str = note
    key_text: str = key

    class _Offline(CoordinatorClient):
        reads_tiles = False  # the mirror is the source; it answers entries() below

        def _send(self, method: str, path: str, *, public: bool = False, **kwargs: Any) -> Any:
            raise OfflineError(f"offline audit: {method} {path} needs the coordinator")

        def download_data(self, artifact_id: str, dest: Path, chunk: int = 1 << 20) -> str:
            raise OfflineError(f"offline audit: the data of {artifact_id} needs the coordinator")

        def checkpoint(self) -> str:
            return note_text

        def verifier_key(self) -> str:
            return key_text

        def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
            if end > len(leaves):
                raise OfflineError(
                    f"the local log mirror holds {len(leaves)} entries, {end} needed; "
                    "run `synthspace audit log` online to catch up"
                )
            return [(i, leaves[i]) for i in range(start, end)]

        def inclusion_proof(self, index: int, size: int) -> list[bytes]:
            return inclusion_proof(index, size, hashes[:size])

        def consistency_proof(self, first: int, second: int) -> list[bytes]:
            return consistency_proof(first, second, hashes[:second])

    return _Offline("http://offline.invalid")
