"""Ed25519 keys: generate, save, load, and key ids.

A key id is the lowercase hex sha256 of the raw 32-byte public key (DESIGN.md, wire formats).
Private keys are stored as PEM PKCS#8 with file mode 0600; public keys travel as PEM
SubjectPublicKeyInfo.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def generate_private_key() -> Ed25519PrivateKey:
    raise NotImplementedError


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write PEM PKCS#8 (unencrypted) with mode 0600, creating parent folders; never world-readable, even briefly."""
    raise NotImplementedError


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Raises KeyFileError (a SynthspaceError) naming the file when missing, unreadable or not Ed25519."""
    raise NotImplementedError


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """PEM SubjectPublicKeyInfo text of the public half."""
    raise NotImplementedError


def load_public_key_pem(pem: str | bytes) -> Ed25519PublicKey:
    """Raises KeyFileError when not a PEM Ed25519 public key."""
    raise NotImplementedError


def raw_public_key(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key."""
    raise NotImplementedError


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Lowercase hex sha256 of the raw 32-byte public key."""
    raise NotImplementedError
