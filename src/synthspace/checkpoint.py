"""Log checkpoints in the C2SP signed-note format, and verifier keys.

Note text: "<origin>\n<size>\n<base64(root)>\n"; then a blank line; then signature lines
"\u2014 <name> <base64(keyhash4 || ed25519 signature over the text)>\n".
keyhash4 = first 4 bytes of SHA-256(name || "\n" || 0x01 || raw public key).
Verifier key string: "<name>+<hex(keyhash4)>+<base64(0x01 || raw public key)>".

See https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synthspace.errors import CheckpointError
from synthspace.keys import raw_public_key

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # signed-note: verifiers may reject notes with more
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")


def _has_control(text: str, allow: str = "") -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in allow for c in text)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name or _has_control(name):
        raise CheckpointError(f"key name {name!r} must be non-empty, with no spaces, control characters or '+'")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    # Only the canonical padded encoding is accepted, so each value has one spelling.
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError(f"{what} is not valid (canonical, padded) base64")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        """The note text that is signed."""
        if not self.origin or _has_control(self.origin):
            raise CheckpointError(f"checkpoint origin {self.origin!r} must be one non-empty printable line")
        if self.size < 0:
            raise CheckpointError(f"checkpoint size {self.size} is negative")
        if len(self.root) != 32:
            raise CheckpointError(f"checkpoint root is {len(self.root)} bytes, expected 32")
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n".encode()

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse (not verify) the note text: origin, size and root lines, nothing else."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) != 3:
            raise CheckpointError(
                f"checkpoint text has {len(lines)} lines; expected origin, size and root hash"
                " (extension lines are not used by synthspace)"
            )
        origin, size, root_b64 = lines
        if not origin:
            raise CheckpointError("checkpoint origin line is empty")
        if not _SIZE_RE.fullmatch(size):
            raise CheckpointError(f"checkpoint size {size!r} is not a decimal number without leading zeros")
        root = _unb64(root_b64, "checkpoint root hash")
        if len(root) != 32:
            raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, expected 32")
        return cls(origin=origin, size=int(size), root=root)


def _key_hash(name: str, raw_public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + raw_public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    def to_string(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}+{_b64(bytes([ALG_ED25519]) + raw_public_key(self.public_key))}"

    @classmethod
    def from_string(cls, text: str) -> Verifier:
        """Raises CheckpointError on a malformed verifier key."""
        text = text.strip()
        parts = text.split("+", 2)  # base64 key material may itself contain '+'
        if len(parts) != 3:
            raise CheckpointError("verifier key must look like <name>+<8 hex digits>+<base64 key>")
        name, hash_hex, key_b64 = parts
        _check_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise CheckpointError(f"verifier key hash {hash_hex!r} is not 8 lowercase hex digits")
        key = _unb64(key_b64, "verifier public key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise CheckpointError("verifier key is not an Ed25519 (algorithm 0x01, 32-byte) key")
        if _key_hash(name, key[1:]) != bytes.fromhex(hash_hex):
            raise CheckpointError(f"verifier key hash {hash_hex} does not match its name and key")
        return cls(name=name, key_hash=bytes.fromhex(hash_hex), public_key=Ed25519PublicKey.from_public_bytes(key[1:]))


def verifier_for(name: str, key: Ed25519PublicKey | Ed25519PrivateKey) -> Verifier:
    _check_name(name)
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return Verifier(name=name, key_hash=_key_hash(name, raw_public_key(pub)), public_key=pub)


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign note text (ending in a newline, no blank lines) as a C2SP signed note."""
    if not text.endswith("\n") or "\n\n" in text or _has_control(text, allow="\n"):
        raise CheckpointError("note text must end in a newline and hold no blank lines or control characters")
    verifier = verifier_for(name, key)
    sig = key.sign(text.encode())
    return text + "\n" + f"{SIG_PREFIX}{name} {_b64(verifier.key_hash + sig)}\n"


def sign_checkpoint(checkpoint: Checkpoint, name: str, key: Ed25519PrivateKey) -> str:
    """The full signed note text."""
    return sign_note(checkpoint.body().decode(), name, key)


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and (name, keyhash4 || signature) pairs, unverified."""
    if len(note) > 1 << 20:
        raise CheckpointError("signed note is larger than 1 MiB")
    if _has_control(note, allow="\n"):
        raise CheckpointError("signed note contains control characters")
    sep = note.rfind("\n\n")
    if sep < 0 or not note.endswith("\n"):
        raise CheckpointError("signed note has no blank line before its signatures, or no final newline")
    text, sig_block = note[: sep + 1], note[sep + 2 : -1]
    signatures: list[tuple[str, bytes]] = []
    for line in sig_block.split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError(f"signed note line {line[:40]!r} is not a signature line")
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2 or not fields[0]:
            raise CheckpointError("a signature line must be '\u2014 <name> <base64 signature>'")
        raw = _unb64(fields[1], f"signature by {fields[0]!r}")
        if len(raw) < 5:
            raise CheckpointError(f"signature by {fields[0]!r} is too short")
        signatures.append((fields[0], raw))
    if len(signatures) > MAX_SIGNATURES:
        raise CheckpointError(f"signed note carries more than {MAX_SIGNATURES} signatures")
    return text, signatures


def verify_note(note: str, verifier: Verifier) -> str:
    """Verify a signed note's signature by `verifier`; returns the note text.

    Signatures by other keys are ignored (they may be witnesses'), but a signature line that
    claims to be by `verifier` and does not verify is an error.
    """
    text, signatures = split_note(note)
    ours = [raw for name, raw in signatures if name == verifier.name and raw[:4] == verifier.key_hash]
    if not ours:
        present = ", ".join(sorted({name for name, _ in signatures})) or "none"
        raise CheckpointError(
            f"note is not signed by {verifier.name} (key hash {verifier.key_hash.hex()}); signers present: {present}"
        )
    for raw in ours:
        try:
            verifier.public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError(f"note signature by {verifier.name} does not verify") from None
    return text


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """Parse and verify a signed note; the named verifier's signature must be present and valid.

    Raises CheckpointError (a VerificationError) otherwise.
    """
    return Checkpoint.from_body(verify_note(note, verifier))
