"""Log checkpoints in the C2SP signed-note format, and verifier keys.

Note text: "<origin>\n<size>\n<base64(root)>\n"; then a blank line; then signature lines
"\u2014 <name> <base64(keyhash4 || ed25519 signature over the text)>\n".
keyhash4 = first 4 bytes of SHA-256(name || "\n" || 0x01 || raw public key).
Verifier key string: "<name>+<hex(keyhash4)>+<base64(0x01 || raw public key)>".
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        """The note text that is signed."""
        raise NotImplementedError


@dataclass(frozen=True)
class Verifier:
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    def to_string(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_string(cls, text: str) -> Verifier:
        """Raises CheckpointError on a malformed verifier key."""
        raise NotImplementedError


def verifier_for(name: str, key: Ed25519PublicKey | Ed25519PrivateKey) -> Verifier:
    raise NotImplementedError


def sign_checkpoint(checkpoint: Checkpoint, name: str, key: Ed25519PrivateKey) -> str:
    """The full signed note text."""
    raise NotImplementedError


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """Parse and verify a signed note; the named verifier's signature must be present and valid.

    Raises CheckpointError (a VerificationError) otherwise.
    """
    raise NotImplementedError
