"""Offline proof bundles (C2SP tlog-proof): an entry's inclusion in a checkpoint, self-contained.

    c2sp.org/tlog-proof@v1
    index <N>
    <base64 inclusion proof hash>        (one per line)
    <blank line>
    <signed checkpoint note, with witness cosignatures>

With the entry's bytes, the log's verifier key and (optionally) a witness policy, anyone can
check it with no network: the note's signatures and the inclusion proof against its root.

See https://c2sp.org/tlog-proof.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from synthspace import transparency_log as tlog
from synthspace.checkpoint import Checkpoint, Verifier, open_checkpoint
from synthspace.errors import ProofError
from synthspace.witness import WitnessPolicy, verify_witnessed

HEADER = "c2sp.org/tlog-proof@v1"
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class ProofBundle:
    index: int
    proof: tuple[bytes, ...]
    note: str

    def to_text(self) -> str:
        lines = [HEADER, f"index {self.index}"] + [base64.b64encode(h).decode() for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.note

    @classmethod
    def from_text(cls, text: str) -> ProofBundle:
        if len(text) > MAX_BYTES:
            raise ProofError("proof bundle is larger than 1 MiB")
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or lines[0] != HEADER:
            raise ProofError(f"not a proof bundle: it must start with {HEADER!r} and hold a blank line")
        m = re.fullmatch(r"index (0|[1-9][0-9]{0,18})", lines[1] if len(lines) > 1 else "")
        if not m:
            raise ProofError("proof bundle's second line must be 'index <N>'")
        hashes = []
        for line in lines[2:]:
            try:
                h = base64.b64decode(line, validate=True)
            except ValueError:
                raise ProofError("proof bundle hash line is not base64") from None
            if len(h) != 32 or base64.b64encode(h).decode() != line:
                raise ProofError("proof bundle hashes must be canonical base64 of 32 bytes")
            hashes.append(h)
        if len(hashes) > 64:
            raise ProofError("inclusion proof is longer than any tree allows")
        return cls(index=int(m.group(1)), proof=tuple(hashes), note=note)


def verify_bundle(
    bundle: ProofBundle, entry: bytes, log: Verifier, policy: WitnessPolicy | None = None
) -> tuple[Checkpoint, dict[str, int]]:
    """Check `entry` is at `bundle.index` in the bundled checkpoint, signed by `log` and, with a
    policy, cosigned by its quorum. Returns (checkpoint, cosigners). Raises ProofError,
    CheckpointError or WitnessError (all VerificationErrors)."""
    if policy is not None:
        # The log key given here is the one trusted, whatever log lines the policy holds.
        pinned = WitnessPolicy(logs={log.name: log}, witnesses=policy.witnesses, groups=policy.groups, quorum=policy.quorum)
        checkpoint, cosigners = verify_witnessed(bundle.note, pinned)
    else:
        checkpoint, cosigners = open_checkpoint(bundle.note, log), {}
    tlog.verify_inclusion(tlog.leaf_hash(entry), bundle.index, checkpoint.size, list(bundle.proof), checkpoint.root)
    return checkpoint, cosigners
