"""Withdrawal propagation on the node side: which of this org's artifacts a new retraction hits.

When the verified log grows by a `retract` entry, the node looks at its own artifacts -- those it
pulled (its `agreement` entries in the log: another org's artifact is pulled under a logged
agreement) and those it published (derived data, trained adapters: its `publish` entries) --
and walks each one's signed lineage parents up to MAX_WALK links. An artifact that is, or is
built on, the retracted one is reported as "affected: <local> is built on <retracted>".
The node keeps no other record of its pulls, so the log is the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthspace.errors import SynthspaceError

if TYPE_CHECKING:
    from synthspace.log_entries import RetractEntry
    from synthspace.node.audit.log_monitor import LogView

MAX_WALK = 64  # lineage links followed up from one local artifact

ParentsOf = Callable[[str], list[str]]


@dataclass(frozen=True)
class WithdrawalNotice:
    local_id: str  # this org's artifact (pulled or published)
    how: str  # "pulled" or "published"
    retracted_id: str
    retraction: RetractEntry

    def __str__(self) -> str:
        r = self.retraction
        if self.local_id == self.retracted_id:
            return (
                f"affected: {self.how} {self.local_id} is itself retracted "
                f"({r.time.isoformat()}: {r.reason})"
            )
        return (
            f"affected: {self.how} {self.local_id} is built on {self.retracted_id} "
            f"(retracted {r.time.isoformat()}: {r.reason})"
        )


def local_artifacts(view: LogView, org: str) -> dict[str, str]:
    """artifact id -> "pulled" | "published", for `org`, from the verified log."""
    from synthspace.log_entries import AgreementEntry, PublishEntry

    found: dict[str, str] = {}
    for _, entry in view.iter_entries():
        if isinstance(entry, PublishEntry) and entry.org == org:
            found[entry.artifact_id] = "published"
        elif isinstance(entry, AgreementEntry) and entry.org == org:
            found.setdefault(entry.artifact_id, "pulled")
    return found


def new_retractions(view: LogView, since: int) -> list[tuple[int, RetractEntry]]:
    from synthspace.log_entries import RetractEntry

    return [(i, e) for i, e in view.iter_entries() if i >= since and isinstance(e, RetractEntry)]


def withdrawal_notices(
    view: LogView, org: str, parents_of: ParentsOf, *, since: int
) -> list[WithdrawalNotice]:
    """Notices for every retract entry at log index >= `since` that hits one of `org`'s artifacts.

    `parents_of(id)` gives an artifact's lineage parent ids (from its signed Statement); it may
    raise SynthspaceError for an artifact this node cannot read, whose branch is then not walked.
    """
    retracted = {e.artifact_id: e for _, e in new_retractions(view, since)}
    if not retracted:
        return []
    memo: dict[str, list[str]] = {}

    def parents(aid: str) -> list[str]:
        if aid not in memo:
            try:
                memo[aid] = parents_of(aid)
            except SynthspaceError:
                memo[aid] = []
        return memo[aid]

    notices: list[WithdrawalNotice] = []
    for local, how in local_artifacts(view, org).items():
        seen = {local}
        frontier = [local]
        hits: list[str] = [local] if local in retracted else []
        for _ in range(MAX_WALK):
            nxt = []
            for aid in frontier:
                for p in parents(aid):
                    if p in seen:
                        continue
                    seen.add(p)
                    if p in retracted:
                        hits.append(p)
                    nxt.append(p)
            frontier = nxt
            if not frontier:
                break
        notices.extend(WithdrawalNotice(local, how, h, retracted[h]) for h in hits)
    return notices
