"""Signing keys for audit checkpoints: Ed25519 (default) or HMAC-SHA256.

The private key comes from ``$TWINLAB_AUDIT_KEY`` (PEM text, or base64 of the
32-byte Ed25519 seed) or from a key file named by ``$TWINLAB_AUDIT_KEY_FILE``
(or passed explicitly) that lies outside the git work tree with mode 0600.
Verification needs only the public key (``audit keygen`` writes both).
An HMAC key (shared secret, ``$TWINLAB_AUDIT_HMAC_KEY``, base64) is the
alternative where public-key signatures are not wanted; it then verifies too,
so whoever can verify can also forge – prefer Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from twinlab.security.filemodes import make_dirs
from twinlab.security.keyfiles import (
    KeyLocationError,
    MissingKeyError,
    check_key_file,
    git_work_tree,
    write_private_file,
    write_public_file,
)

__all__ = [
    "HMAC_KEY_ENV",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "PUBLIC_KEY_FILE_ENV",
    "Ed25519Signer",
    "HmacSigner",
    "Signer",
    "generate_keypair",
    "load_public_key",
    "load_signer",
    "public_key_id",
    "verification_key",
    "verify_signature",
]

KEY_ENV = "TWINLAB_AUDIT_KEY"
KEY_FILE_ENV = "TWINLAB_AUDIT_KEY_FILE"
HMAC_KEY_ENV = "TWINLAB_AUDIT_HMAC_KEY"
PUBLIC_KEY_FILE_ENV = "TWINLAB_AUDIT_PUBLIC_KEY_FILE"

PRIVATE_NAME = "audit_ed25519.pem"
PUBLIC_NAME = "audit_ed25519.pub.pem"


class Signer(Protocol):
    """What :class:`~twinlab.audit.AuditLog` needs to sign checkpoints."""

    algorithm: str
    key_id: str

    def sign(self, data: bytes) -> bytes:
        """Return the signature of ``data``."""
        ...


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_id(key: Ed25519PublicKey | bytes) -> str:
    """A short non-secret id of a verification key (16 hex digits of its SHA-256).

    For HMAC keys the id is derived from the key with a domain separator, so it
    reveals nothing about the key.
    """
    if isinstance(key, Ed25519PublicKey):
        return hashlib.sha256(_raw_public(key)).hexdigest()[:16]
    return hashlib.sha256(b"twinlab-audit-hmac\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Ed25519Signer:
    """Signs with an Ed25519 private key."""

    private_key: Ed25519PrivateKey
    algorithm: str = "ed25519"

    @property
    def key_id(self) -> str:
        """Id of the matching public key."""
        return public_key_id(self.private_key.public_key())

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public key that verifies this signer's signatures."""
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Return the Ed25519 signature of ``data``."""
        return self.private_key.sign(data)


@dataclass(frozen=True)
class HmacSigner:
    """Signs with HMAC-SHA256 under a shared secret key (at least 32 bytes)."""

    key: bytes = field(repr=False)
    algorithm: str = "hmac-sha256"

    def __post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("an HMAC audit key needs at least 32 bytes")

    @property
    def key_id(self) -> str:
        """Non-secret id of the key."""
        return public_key_id(self.key)

    def sign(self, data: bytes) -> bytes:
        """Return the HMAC-SHA256 of ``data``."""
        return hmac.new(self.key, data, hashlib.sha256).digest()


def _private_from_text(text: str, *, where: str) -> Ed25519PrivateKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise MissingKeyError(
            f"{where} does not hold an Ed25519 private key (PEM, or base64 of 32 bytes)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise MissingKeyError(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_signer(*, key_file: str | Path | None = None) -> Ed25519Signer | HmacSigner:
    """Load the checkpoint signing key.

    Looked up in order: ``key_file``; ``$TWINLAB_AUDIT_KEY``;
    ``$TWINLAB_AUDIT_KEY_FILE``; ``$TWINLAB_AUDIT_HMAC_KEY``.

    Parameters
    ----------
    key_file
        A PEM private key file outside the git work tree (mode 0600).

    Returns
    -------
    Ed25519Signer or HmacSigner
        The signer.

    Raises
    ------
    MissingKeyError
        If none is configured; the message names the variables to set.
    KeyLocationError
        If the key file lies inside a git work tree or is readable by others.
    """
    env = None
    if key_file is None and os.environ.get(KEY_ENV):
        return Ed25519Signer(_private_from_text(os.environ[KEY_ENV], where=f"${KEY_ENV}"))
    if key_file is None and os.environ.get(KEY_FILE_ENV):
        key_file, env = os.environ[KEY_FILE_ENV], KEY_FILE_ENV
    if key_file is not None:
        file = check_key_file(key_file, what="audit signing key file", env=env)
        return Ed25519Signer(_private_from_text(file.read_text(encoding="utf-8"), where=str(file)))
    if os.environ.get(HMAC_KEY_ENV):
        try:
            key = base64.b64decode(os.environ[HMAC_KEY_ENV], validate=True)
        except (ValueError, binascii.Error):
            raise MissingKeyError(f"${HMAC_KEY_ENV} is not valid base64") from None
        return HmacSigner(key)
    raise MissingKeyError(
        f"no audit signing key: set ${KEY_ENV} (Ed25519 PEM or base64 seed) or "
        f"${KEY_FILE_ENV} (a private key file outside the repository; "
        "'twinlab keys init' creates one and prints the line to export)"
    )


def load_public_key(source: str | Path | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a PEM file, PEM bytes or raw 32 bytes.

    Raises
    ------
    FileNotFoundError
        If a path is given and missing.
    ValueError
        If it is not an Ed25519 public key.
    """
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, str | Path):
        file = Path(source)
        if not file.is_file():
            raise FileNotFoundError(f"public key file not found: {file}")
        source = file.read_bytes()
    if len(source) == 32:
        return Ed25519PublicKey.from_public_bytes(source)
    key = serialization.load_pem_public_key(source)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def verify_signature(
    algorithm: str, key: Ed25519PublicKey | bytes, data: bytes, signature: bytes
) -> bool:
    """Return whether ``signature`` over ``data`` verifies under ``key`` for ``algorithm``."""
    if algorithm == "ed25519" and isinstance(key, Ed25519PublicKey):
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
    if algorithm == "hmac-sha256" and isinstance(key, bytes):
        expected = hmac.new(key, data, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)
    return False


def generate_keypair(out: str | Path, *, allow_in_repo: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 keypair: ``audit_ed25519.pem`` (0600) and ``audit_ed25519.pub.pem``.

    Parameters
    ----------
    out
        Folder to write to (created if needed); must lie outside any git work tree.
    allow_in_repo
        Skip the work-tree check (for throwaway keys only).

    Returns
    -------
    tuple of Path
        Private key file, public key file.

    Raises
    ------
    KeyLocationError
        If ``out`` lies inside a git work tree.
    FileExistsError
        If a key file is already there (never overwritten).
    """
    folder = make_dirs(Path(out).expanduser(), 0o700)
    folder = folder.resolve()
    tree = git_work_tree(folder)
    if tree is not None and not allow_in_repo:
        raise KeyLocationError(
            f"{folder} lies inside the git work tree {tree}; write private keys outside it"
        )
    private, public = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for file in (private, public):
        if file.exists():
            raise FileExistsError(f"{file} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(private, pem)
    write_public_file(
        public,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return private, public


def verification_key() -> Ed25519PublicKey | bytes | None:
    """The key that checks this environment's checkpoint signatures, or ``None``.

    ``$TWINLAB_AUDIT_PUBLIC_KEY_FILE`` (a reviewer's copy of the public key)
    first; else the public half of the configured signing key
    (:func:`load_signer`), or the HMAC key itself.

    Raises
    ------
    KeyLocationError
        If a configured signing key file is misplaced or readable by others.
    """
    if os.environ.get(PUBLIC_KEY_FILE_ENV):
        return load_public_key(os.environ[PUBLIC_KEY_FILE_ENV])
    if not any(os.environ.get(name) for name in (KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV)):
        return None
    signer = load_signer()
    if isinstance(signer, Ed25519Signer):
        return signer.public_key
    return signer.key
