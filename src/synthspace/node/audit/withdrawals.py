"""Withdrawal propagation on the node side: which of this org's artifacts a new withdrawal hits.

An artifact is withdrawn by a `retract` entry (the publisher or operator retracts it) or by a
`policy` entry with `withdrawn` set (its publisher withdrew its usage policy: nothing may be
used, trained on or built on it any more). When the verified log grows by either, the node
looks at its own artifacts -- those it pulled (its `agreement` entries in the log: another
org's artifact is pulled under a logged agreement) and those it published (derived data,
trained adapters: its `publish` entries) -- and walks each one's signed lineage parents up to
MAX_WALK links. An artifact that is, or is built on, the withdrawn one is reported as
"affected: <local> is built on <withdrawn> (retracted ...: reason | policy withdrawn ...)".
The node keeps no other record of its pulls, so the log is the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthspace.errors import SynthspaceError
from synthspace.log_entries import AgreementEntry, PolicyEntry, PublishEntry, RetractEntry

if TYPE_CHECKING:
    from synthspace.node.audit.log_monitor import LogView

MAX_WALK = 64  # lineage links followed up from one local artifact

ParentsOf = Callable[[str], list[str]]


@dataclass(frozen=True)
class WithdrawalNotice:
    local_id: str  # this org's artifact (pulled or published)
    how: str  # "pulled" or "published"
    withdrawn_id: str  # the retracted artifact, or the one whose policy was withdrawn
    entry: RetractEntry | PolicyEntry  # the log entry that withdrew it

    @property
    def retracted_id(self) -> str:  # the name before policy withdrawals counted too
        return self.withdrawn_id

    @property
    def what(self) -> str:
        """'retracted <time>: <reason>' or 'policy withdrawn <time>'."""
        e = self.entry
        if isinstance(e, RetractEntry):
            return f"retracted {e.time.isoformat()}: {e.reason}"
        return f"policy withdrawn {e.time.isoformat()}"

    def __str__(self) -> str:
        if self.local_id == self.withdrawn_id:
            itself = "retracted" if isinstance(self.entry, RetractEntry) else "withdrawn"
            return f"affected: {self.how} {self.local_id} is itself {itself} ({self.what})"
        return f"affected: {self.how} {self.local_id} is built on {self.withdrawn_id} ({self.what})"


def local_artifacts(view: LogView, org: str) -> dict[str, str]:
    """artifact id -> "pulled" | "published", for `org`, from the verified log."""
    found: dict[str, str] = {}
    for _, entry in view.iter_entries():
        if isinstance(entry, PublishEntry) and entry.org == org:
            found[entry.artifact_id] = "published"
        elif isinstance(entry, AgreementEntry) and entry.org == org:
            found.setdefault(entry.artifact_id, "pulled")
    return found


def new_withdrawals(view: LogView, since: int) -> list[tuple[int, RetractEntry | PolicyEntry]]:
    """`retract` entries and policy withdrawals (`policy` entries with `withdrawn`) at log index >= `since`."""
    found: list[tuple[int, RetractEntry | PolicyEntry]] = []
    for i, e in view.iter_entries():
        if i >= since and (isinstance(e, RetractEntry) or (isinstance(e, PolicyEntry) and e.withdrawn)):
            found.append((i, e))
    return found


def new_retractions(view: LogView, since: int) -> list[tuple[int, RetractEntry]]:
    return [(i, e) for i, e in new_withdrawals(view, since) if isinstance(e, RetractEntry)]


def withdrawal_notices(
    view: LogView, org: str, parents_of: ParentsOf, *, since: int
) -> list[WithdrawalNotice]:
    """Notices for every withdrawal (retraction or withdrawn policy) at log index >= `since`
    that hits one of `org`'s artifacts.

    `parents_of(id)` gives an artifact's lineage parent ids (from its signed Statement); it may
    raise SynthspaceError for an artifact this node cannot read, whose branch is then not walked.
    """
    withdrawn: dict[str, RetractEntry | PolicyEntry] = {}
    for _, e in new_withdrawals(view, since):
        withdrawn.setdefault(e.artifact_id, e)  # the first withdrawal of an artifact says it
    if not withdrawn:
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
        hits: list[str] = [local] if local in withdrawn else []
        for _ in range(MAX_WALK):
            nxt = []
            for aid in frontier:
                for p in parents(aid):
                    if p in seen:
                        continue
                    seen.add(p)
                    if p in withdrawn:
                        hits.append(p)
                    nxt.append(p)
            frontier = nxt
            if not frontier:
                break
        notices.extend(WithdrawalNotice(local, how, h, withdrawn[h]) for h in hits)
    return notices
