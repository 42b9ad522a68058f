"""Witness cosignatures, the witness request format and witness policies.

A witness keeps, per log, the last checkpoint it cosigned; it cosigns a new checkpoint only
after verifying the log's signature and a consistency proof from that one, so a log that shows
two parties two different trees cannot get both cosigned by the same witness.

- Cosignatures follow C2SP tlog-cosignature (cosignature/v1): a signed-note signature line whose
  key hash is SHA-256(name || "\\n" || 0x04 || public key)[:4] and whose signature bytes are an
  8-byte big-endian UNIX timestamp followed by the Ed25519 signature over
  "cosignature/v1\\ntime <timestamp>\\n" + the checkpoint text.
- Requests follow C2SP tlog-witness `add-checkpoint`: "old <size>", one base64 consistency
  proof hash per line, a blank line, then the signed checkpoint note.
- Policies follow C2SP tlog-policy: `log`, `witness`, `group` and `quorum` lines.

See https://c2sp.org/tlog-cosignature, https://c2sp.org/tlog-witness and
https://c2sp.org/tlog-policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synthspace.api_models import is_org_name
from synthspace.checkpoint import (
    SIG_PREFIX,
    Checkpoint,
    CheckpointError,
    Verifier,
    split_note,
    verify_note,
)
from synthspace.keys import raw_public_key

ALG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_REQUEST_BYTES = 64 * 1024
MAX_PROOF_LINES = 63  # a consistency proof of a tree below 2^63 leaves has at most 2*63 hashes;
# tlog-witness caps it at 63 lines, which every tree a synthspace log can reach satisfies.
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_NAME = re.compile(r"[^\s+]+")


class WitnessError(CheckpointError):
    """A cosignature, witness key, request or policy is malformed or does not verify."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = None
    if raw is None or _b64(raw) != text:
        raise WitnessError(f"{what} is not valid (canonical, padded) base64")
    return raw


def _key_hash(name: str, raw_public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + raw_public).digest()[:4]


@dataclass(frozen=True)
class WitnessKey:
    """A witness's public cosigning key: `<name>+<hex keyhash>+<base64(0x04 || key)>`."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def for_key(cls, name: str, key: Ed25519PublicKey | Ed25519PrivateKey) -> WitnessKey:
        if not _NAME.fullmatch(name):
            raise WitnessError(f"witness name {name!r} must be non-empty with no spaces or '+'")
        pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
        return cls(name=name, key_hash=_key_hash(name, raw_public_key(pub)), public_key=pub)

    def to_string(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + raw_public_key(self.public_key)
        return f"{self.name}+{self.key_hash.hex()}+{_b64(raw)}"

    @classmethod
    def from_string(cls, text: str) -> WitnessKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise WitnessError("witness key must look like <name>+<8 hex digits>+<base64 key>")
        name, hash_hex, key_b64 = parts
        if not _NAME.fullmatch(name) or not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise WitnessError(f"witness key {text.strip()[:60]!r} has a bad name or key hash")
        raw = _unb64(key_b64, "witness public key")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise WitnessError("witness key is not a cosignature/v1 (algorithm 0x04) Ed25519 key")
        if _key_hash(name, raw[1:]) != bytes.fromhex(hash_hex):
            raise WitnessError(f"witness key hash {hash_hex} does not match its name and key")
        return cls(name=name, key_hash=bytes.fromhex(hash_hex), public_key=Ed25519PublicKey.from_public_bytes(raw[1:]))


WITNESS_NAME_SUFFIX = "/witness"


def witness_name_for(org: str) -> str:
    """The one name an org's enrolled witness cosigns as: `<org>/witness` (org per is_org_name)."""
    return f"{org}{WITNESS_NAME_SUFFIX}"


def check_witness_url(url: str) -> str:
    """An http(s) base URL without spaces, trailing '/' removed; raises WitnessError."""
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url) or len(url) > 2000:
        raise WitnessError("witness URL must be an http(s) URL without spaces")
    return url.rstrip("/")


def org_witness_key(org: str, text: str) -> WitnessKey:
    """Parse the vkey an org registers for its witness; its name must be `<org>/witness`.

    Raises WitnessError when the vkey is malformed, the org name breaks the org-name rule, or
    the vkey names another witness.
    """
    if not is_org_name(org):
        raise WitnessError(f"{org!r} is not a valid org name")
    key = WitnessKey.from_string(text)
    if key.name != witness_name_for(org):
        raise WitnessError(
            f"witness key is named {key.name!r}; an org's witness must be named {witness_name_for(org)!r} "
            "(run `synthspace node witness` without --name)"
        )
    return key


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a witness signs: the cosignature/v1 header, the time, then the checkpoint."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, name: str, key: Ed25519PrivateKey, timestamp: int | None = None) -> str:
    """One signature line (ending in a newline) cosigning `checkpoint_text`."""
    ts = int(time.time()) if timestamp is None else timestamp
    if not 0 <= ts < 2**63:
        raise WitnessError("cosignature timestamp out of range")
    wk = WitnessKey.for_key(name, key)
    sig = key.sign(cosignature_message(checkpoint_text, ts))
    return f"{SIG_PREFIX}{name} {_b64(wk.key_hash + struct.pack('>Q', ts) + sig)}\n"


def add_cosignatures(note: str, lines: Iterable[str]) -> str:
    """The note with extra signature lines appended (duplicates by the same key dropped)."""
    _, present = split_note(note)
    seen = {(n, raw[:4]) for n, raw in present}
    out = note
    for line in lines:
        if not line.startswith(SIG_PREFIX) or not line.endswith("\n") or line.count("\n") != 1:
            raise WitnessError("a cosignature must be one signature line")
        name, b64 = line[len(SIG_PREFIX) : -1].split(" ", 1)
        raw = _unb64(b64, f"cosignature by {name!r}")
        if (name, raw[:4]) not in seen:
            seen.add((name, raw[:4]))
            out += line
    split_note(out)  # re-check the bounds (signature count, size)
    return out


def verify_cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> dict[str, int]:
    """{witness name: timestamp} for every witness in `witnesses` with a valid cosignature.

    A line that claims a known witness's key hash but does not verify is an error (a forged
    cosignature is evidence, not noise); unknown signers are ignored.
    """
    text, signatures = split_note(note)
    valid: dict[str, int] = {}
    for wk in witnesses:
        for name, raw in signatures:
            if name != wk.name or raw[:4] != wk.key_hash:
                continue
            if len(raw) != 4 + 8 + 64:
                raise WitnessError(f"cosignature by {name} has {len(raw)} bytes, expected 76")
            (ts,) = struct.unpack(">Q", raw[4:12])
            try:
                wk.public_key.verify(raw[12:], cosignature_message(text, ts))
            except InvalidSignature:
                raise WitnessError(f"cosignature by witness {name} does not verify") from None
            valid[name] = ts
    return valid


# ---- add-checkpoint requests (tlog-witness) ----------------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the sender believes the witness has, a consistency
    proof from that size, and the new signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}"] + [_b64(h) for h in self.proof]
        return ("\n".join(lines) + "\n\n" + self.note).encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpoint:
        if len(body) > MAX_REQUEST_BYTES:
            raise WitnessError(f"add-checkpoint body is larger than {MAX_REQUEST_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WitnessError("add-checkpoint body is not UTF-8") from None
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise WitnessError("add-checkpoint body has no blank line before the checkpoint")
        lines = head.split("\n")
        m = re.fullmatch(r"old (\S+)", lines[0])
        if not m or not _SIZE.fullmatch(m.group(1)):
            raise WitnessError("add-checkpoint body must start with 'old <size>'")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise WitnessError(f"consistency proof has more than {MAX_PROOF_LINES} hashes")
        proof = tuple(_unb64(line, "consistency proof hash") for line in lines[1:])
        if any(len(h) != 32 for h in proof):
            raise WitnessError("consistency proof hashes must be 32 bytes")
        return cls(old_size=int(m.group(1)), proof=proof, note=note)


# ---- policies (tlog-policy) --------------------------------------------------------------


@dataclass
class WitnessPolicy:
    """Which logs are trusted and which witnesses must have cosigned their checkpoints.

    `quorum` names a witness or a group; a group is satisfied when at least `threshold` of its
    members (witnesses or groups) are. `none` as quorum means no witness is required.
    """

    logs: dict[str, Verifier] = field(default_factory=dict)
    witnesses: dict[str, WitnessKey] = field(default_factory=dict)
    groups: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    quorum: str = "none"
    urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        """Parse a policy file; raises WitnessError naming the line on any problem."""
        policy = cls()
        quorum_seen = False
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            try:
                if words[0] == "log" and len(words) in (2, 3):
                    v = Verifier.from_string(words[1])
                    policy.logs[v.name] = v
                elif words[0] == "witness" and len(words) in (3, 4):
                    wk = WitnessKey.from_string(words[2])
                    if words[1] in policy.witnesses or words[1] in policy.groups:
                        raise WitnessError(f"name {words[1]!r} is defined twice")
                    policy.witnesses[words[1]] = wk
                    if len(words) == 4:
                        policy.urls[words[1]] = words[3]
                elif words[0] == "group" and len(words) >= 4:
                    name, members = words[1], tuple(words[3:])
                    threshold = len(members) if words[2] == "all" else (1 if words[2] == "any" else int(words[2]))
                    if name in policy.witnesses or name in policy.groups:
                        raise WitnessError(f"name {name!r} is defined twice")
                    unknown = [m for m in members if m not in policy.witnesses and m not in policy.groups]
                    if unknown:
                        raise WitnessError(f"group {name} names undefined members {unknown}")
                    if not 1 <= threshold <= len(members):
                        raise WitnessError(f"group {name} threshold {threshold} is not between 1 and {len(members)}")
                    policy.groups[name] = (threshold, members)
                elif words[0] == "quorum" and len(words) == 2 and not quorum_seen:
                    if words[1] != "none" and words[1] not in policy.witnesses and words[1] not in policy.groups:
                        raise WitnessError(f"quorum names undefined {words[1]!r}")
                    policy.quorum, quorum_seen = words[1], True
                else:
                    raise WitnessError(f"unknown or malformed line {line[:60]!r}")
            except (WitnessError, CheckpointError, ValueError) as exc:
                raise WitnessError(f"witness policy line {n}: {exc}") from None
        if not quorum_seen:
            raise WitnessError("witness policy has no quorum line")
        return policy

    def satisfied_by(self, cosigners: Iterable[str]) -> bool:
        """Whether witnesses named by their policy names satisfy the quorum."""
        have = set(cosigners)

        def ok(name: str) -> bool:
            if name in self.witnesses:
                return name in have
            threshold, members = self.groups[name]
            return sum(ok(m) for m in members) >= threshold

        return self.quorum == "none" or ok(self.quorum)


def verify_witnessed(note: str, policy: WitnessPolicy) -> tuple[Checkpoint, dict[str, int]]:
    """Verify a checkpoint note under `policy`: a trusted log signed it and the quorum cosigned.

    Returns the checkpoint and {policy witness name: cosignature time}. Raises WitnessError
    when the log is unknown, its signature fails, or the cosigners do not reach the quorum.
    """
    text, _ = split_note(note)
    origin = text.split("\n", 1)[0]
    verifier = policy.logs.get(origin)
    if verifier is None:
        raise WitnessError(f"log {origin!r} is not in the witness policy")
    checkpoint = Checkpoint.from_body(verify_note(note, verifier))
    by_key = verify_cosignatures(note, list(policy.witnesses.values()))
    cosigners = {pname: by_key[wk.name] for pname, wk in policy.witnesses.items() if wk.name in by_key}
    if not policy.satisfied_by(cosigners):
        raise WitnessError(
            f"checkpoint of {origin} at size {checkpoint.size} is cosigned by {sorted(cosigners) or 'no witness'}; "
            f"the policy's quorum {policy.quorum!r} is not met"
        )
    return checkpoint, cosigners
