"""Envelope encryption at rest with AES-256-GCM.

Each file (or byte string) is encrypted with a fresh random 256-bit *data key*;
the data key is wrapped (AES-256-GCM) by a *master key* from a :class:`Keyring`,
and the wrapped key travels in a small binary header::

    magic "TWLE" | version (1) | key id length (1) | key id | context length (2)
    | context | wrap nonce (12) | wrapped data key (48) | payload nonce (12)
    | SHA-256 of all header bytes above (32) | ciphertext + GCM tag (16)

* The payload's associated data is ``magic | version | context``: the *context*
  (by default the encrypted file's name; any purpose string when given) is bound
  to the ciphertext, so a file swapped for another, or renamed, does not decrypt
  under the expected context.
* The data key's wrapping binds key id and context too. Key rotation
  (:func:`rotate`) re-wraps only the data key – the payload is not re-encrypted,
  and once rotated the old master key is no longer needed. The data key stays the
  same, so the old master key plus any earlier copy of the file (which yields the
  data key) still opens the rotated file; ``rotate(..., reencrypt=True)`` decrypts and
  encrypts again under a fresh data key (see :mod:`twinlab.security.rotation` for
  when to use which).
* Any flipped byte fails with :class:`IntegrityError`: header bytes through the
  header digest, the nonce, ciphertext and tag through GCM authentication.

Master keys come from ``$TWINLAB_MASTER_KEY`` (base64 of 32 bytes, or
``id:base64[,id:base64...]`` for a keyring whose last entry – or
``$TWINLAB_MASTER_KEY_ID`` – is current) or from a key file named by
``$TWINLAB_MASTER_KEY_FILE`` that lies outside the git work tree (one base64
key, or JSON ``{"current": id, "keys": {id: base64}}``).

Limits: payloads are processed in memory (AES-GCM one-shot), so files must fit in
memory (and below 2 GiB).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from twinlab.security.keyfiles import MissingKeyError, check_key_file

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "KEY_ID_ENV",
    "EnvelopeHeader",
    "IntegrityError",
    "Keyring",
    "decrypt_bytes",
    "decrypt_file",
    "encrypt_bytes",
    "encrypt_file",
    "generate_master_key",
    "key_id_for",
    "load_keyring",
    "read_header",
    "reencrypt_bytes",
    "rotate",
    "rotate_bytes",
]

KEY_ENV = "TWINLAB_MASTER_KEY"
KEY_ID_ENV = "TWINLAB_MASTER_KEY_ID"
KEY_FILE_ENV = "TWINLAB_MASTER_KEY_FILE"

MAGIC = b"TWLE"
VERSION = 1
_KEY_BYTES = 32
_NONCE = 12
_WRAPPED = _KEY_BYTES + 16
_DIGEST = 32


class IntegrityError(ValueError):
    """Encrypted data failed authentication: it was altered, truncated or is not ours."""


def generate_master_key() -> bytes:
    """Return a new random 256-bit master key (store it base64-encoded, outside the repo)."""
    return secrets.token_bytes(_KEY_BYTES)


def key_id_for(key: bytes) -> str:
    """Return a stable, non-secret id for ``key``: ``k`` + 16 hex digits of a hash of it."""
    return "k" + hashlib.sha256(b"twinlab-key-id\0" + key).hexdigest()[:16]


def _decode_key(text: str, *, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MissingKeyError(f"{where} is not valid base64") from None
    if len(key) != _KEY_BYTES:
        raise MissingKeyError(f"{where} must hold {_KEY_BYTES} bytes (base64), not {len(key)}")
    return key


@dataclass(frozen=True, eq=False)
class Keyring:
    """Master keys by id, one of them current (used for new encryptions).

    Parameters
    ----------
    keys
        Mapping of key id to 32-byte key.
    current
        Id of the key that wraps new data keys; the last key when omitted.

    Examples
    --------
    >>> ring = Keyring.from_keys(generate_master_key())
    >>> decrypt_bytes(encrypt_bytes(b"x", context="t", keyring=ring), context="t", keyring=ring)
    b'x'
    """

    keys: Mapping[str, bytes] = field(repr=False)
    current: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise MissingKeyError("a keyring needs at least one master key")
        for kid, key in self.keys.items():
            if not kid or len(kid.encode()) > 255 or ":" in kid or "," in kid:
                raise ValueError(f"invalid key id {kid!r}")
            if len(key) != _KEY_BYTES:
                raise ValueError(f"master key {kid!r} must be {_KEY_BYTES} bytes, not {len(key)}")
        object.__setattr__(self, "keys", dict(self.keys))
        if not self.current:
            object.__setattr__(self, "current", list(self.keys)[-1])
        if self.current not in self.keys:
            raise MissingKeyError(f"current master key {self.current!r} is not in the keyring")

    @classmethod
    def from_keys(cls, *keys: bytes, current: str | None = None) -> Keyring:
        """Build a keyring from raw keys, each under :func:`key_id_for` its value."""
        return cls({key_id_for(k): k for k in keys}, current=current or "")

    def get(self, kid: str) -> bytes:
        """Return the master key ``kid``.

        Raises
        ------
        MissingKeyError
            If the keyring lacks it.
        """
        try:
            return self.keys[kid]
        except KeyError:
            known = ", ".join(sorted(self.keys))
            raise MissingKeyError(
                f"master key {kid!r} is not in the keyring (known: {known}); "
                f"add it to ${KEY_ENV} or the key file ${KEY_FILE_ENV}"
            ) from None

    def with_key(self, key: bytes, *, kid: str | None = None, current: bool = True) -> Keyring:
        """Return a new keyring with ``key`` added (and made current by default)."""
        kid = kid or key_id_for(key)
        keys = {**self.keys, kid: key}
        return Keyring(keys, current=kid if current else self.current)

    def without(self, kid: str) -> Keyring:
        """Return a new keyring without ``kid`` (which must not be current)."""
        keys = {k: v for k, v in self.keys.items() if k != kid}
        return Keyring(keys, current=self.current)


def _parse_key_text(text: str, *, where: str, current: str | None) -> Keyring:
    text = text.strip()
    if text.startswith("{"):
        try:
            spec = json.loads(text)
            keys = {
                str(k): _decode_key(v, where=f"{where} key {k!r}") for k, v in spec["keys"].items()
            }
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise MissingKeyError(
                f'{where} must be JSON {{"current": id, "keys": {{id: base64}}}}'
            ) from None
        return Keyring(keys, current=current or spec.get("current") or "")
    keys: dict[str, bytes] = {}
    for item in text.split(","):
        kid, sep, value = item.strip().rpartition(":")
        key = _decode_key(value, where=where)
        keys[kid if sep else key_id_for(key)] = key
    return Keyring(keys, current=current or "")


def load_keyring(*, key_file: str | Path | None = None) -> Keyring:
    """Load the master keyring from ``key_file``, the environment, or a key file it names.

    Parameters
    ----------
    key_file
        A key file to read (must lie outside the git work tree, mode 0600).

    Returns
    -------
    Keyring
        The keyring; its current key is ``$TWINLAB_MASTER_KEY_ID`` when set.

    Raises
    ------
    MissingKeyError
        If no key is configured (naming the variables to set) or a key is malformed.
    KeyLocationError
        If the key file lies inside a git work tree or is readable by others.
    """
    current = os.environ.get(KEY_ID_ENV) or None
    if key_file is None and os.environ.get(KEY_ENV):
        return _parse_key_text(os.environ[KEY_ENV], where=f"${KEY_ENV}", current=current)
    env = None
    if key_file is None and os.environ.get(KEY_FILE_ENV):
        key_file, env = os.environ[KEY_FILE_ENV], KEY_FILE_ENV
    if key_file is None:
        raise MissingKeyError(
            f"no encryption master key: set ${KEY_ENV} (base64 of 32 bytes) or "
            f"${KEY_FILE_ENV} (a key file outside the repository)"
        )
    file = check_key_file(key_file, what="master key file", env=env)
    return _parse_key_text(file.read_text(encoding="utf-8"), where=str(file), current=current)


@dataclass(frozen=True)
class EnvelopeHeader:
    """The parsed header of an encrypted blob (nothing secret in it)."""

    version: int
    key_id: str
    context: str
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce: bytes
    length: int

    def prefix(self) -> bytes:
        """The bytes authenticated as the payload's associated data."""
        ctx = self.context.encode()
        return MAGIC + bytes([self.version]) + struct.pack(">H", len(ctx)) + ctx

    def wrap_aad(self) -> bytes:
        """The associated data of the data-key wrapping."""
        return b"twinlab-wrap\0" + self.key_id.encode() + b"\0" + self.prefix()

    def to_bytes(self) -> bytes:
        """Serialize, header digest included."""
        kid = self.key_id.encode()
        ctx = self.context.encode()
        body = b"".join(
            [
                MAGIC,
                bytes([self.version, len(kid)]),
                kid,
                struct.pack(">H", len(ctx)),
                ctx,
                self.wrap_nonce,
                self.wrapped_key,
                self.nonce,
            ]
        )
        return body + hashlib.sha256(body).digest()


def _parse_header(blob: bytes) -> EnvelopeHeader:
    def fail(why: str) -> IntegrityError:
        return IntegrityError(f"encrypted data is corrupt or not a twinlab envelope: {why}")

    if blob[:4] != MAGIC:
        raise fail("bad magic bytes")
    if len(blob) < 6:
        raise fail("truncated header")
    version, n_kid = blob[4], blob[5]
    if version != VERSION:
        raise fail(f"unsupported version {version}")
    pos = 6 + n_kid
    if len(blob) < pos + 2:
        raise fail("truncated header")
    (n_ctx,) = struct.unpack(">H", blob[pos : pos + 2])
    ctx_at = pos + 2
    end = ctx_at + n_ctx + _NONCE + _WRAPPED + _NONCE
    if len(blob) < end + _DIGEST + 16:
        raise fail("truncated")
    if hashlib.sha256(blob[:end]).digest() != blob[end : end + _DIGEST]:
        raise fail("header digest mismatch (header altered)")
    try:
        kid = blob[6 : 6 + n_kid].decode()
        ctx = blob[ctx_at : ctx_at + n_ctx].decode()
    except UnicodeDecodeError:
        raise fail("undecodable key id or context") from None
    at = ctx_at + n_ctx
    return EnvelopeHeader(
        version=version,
        key_id=kid,
        context=ctx,
        wrap_nonce=blob[at : at + _NONCE],
        wrapped_key=blob[at + _NONCE : at + _NONCE + _WRAPPED],
        nonce=blob[at + _NONCE + _WRAPPED : end],
        length=end + _DIGEST,
    )


def read_header(source: bytes | str | Path) -> EnvelopeHeader:
    """Parse the header of an encrypted blob or file (key id, context, version).

    Raises
    ------
    IntegrityError
        If the header is malformed or altered.
    """
    blob = source if isinstance(source, bytes) else Path(source).read_bytes()
    return _parse_header(blob)


def _keyring(keyring: Keyring | None) -> Keyring:
    return keyring if keyring is not None else load_keyring()


def encrypt_bytes(data: bytes, *, context: str, keyring: Keyring | None = None) -> bytes:
    """Encrypt ``data`` under a fresh data key wrapped by the current master key.

    Parameters
    ----------
    data
        The plaintext.
    context
        What the data is (a file name, a purpose); must be given again to decrypt.
    keyring
        Master keys; :func:`load_keyring` by default.

    Returns
    -------
    bytes
        Header + ciphertext + tag.
    """
    ring = _keyring(keyring)
    data_key = AESGCM.generate_key(bit_length=256)
    header = EnvelopeHeader(
        version=VERSION,
        key_id=ring.current,
        context=context,
        wrap_nonce=os.urandom(_NONCE),
        wrapped_key=b"",
        nonce=os.urandom(_NONCE),
        length=0,
    )
    if len(context.encode()) > 0xFFFF:
        raise ValueError("context is too long")
    wrapped = AESGCM(ring.get(ring.current)).encrypt(header.wrap_nonce, data_key, header.wrap_aad())
    header = replace(header, wrapped_key=wrapped)
    payload = AESGCM(data_key).encrypt(header.nonce, data, header.prefix())
    return header.to_bytes() + payload


def _unwrap(header: EnvelopeHeader, ring: Keyring) -> bytes:
    master = ring.get(header.key_id)
    try:
        return AESGCM(master).decrypt(header.wrap_nonce, header.wrapped_key, header.wrap_aad())
    except InvalidTag:
        raise IntegrityError(
            f"the data key does not authenticate under master key {header.key_id!r} "
            "(wrong key of that id, or the header was altered)"
        ) from None


def decrypt_bytes(blob: bytes, *, context: str | None, keyring: Keyring | None = None) -> bytes:
    """Decrypt and authenticate a blob from :func:`encrypt_bytes`.

    Parameters
    ----------
    blob
        Header + ciphertext + tag.
    context
        The context given at encryption; ``None`` accepts the stored one
        (authenticity is still checked, but not that this is the expected data).
    keyring
        Master keys; :func:`load_keyring` by default.

    Returns
    -------
    bytes
        The plaintext.

    Raises
    ------
    IntegrityError
        If any byte was altered, or the context differs.
    MissingKeyError
        If the master key that wrapped the data key is not in the keyring.
    """
    header = _parse_header(blob)
    if context is not None and header.context != context:
        raise IntegrityError(
            f"encrypted for context {header.context!r}, expected {context!r} "
            "(swapped or renamed file? pass context= explicitly)"
        )
    data_key = _unwrap(header, _keyring(keyring))
    try:
        return AESGCM(data_key).decrypt(header.nonce, blob[header.length :], header.prefix())
    except InvalidTag:
        raise IntegrityError("ciphertext failed authentication (altered or truncated)") from None


def rotate_bytes(blob: bytes, new_key_id: str, *, keyring: Keyring | None = None) -> bytes:
    """Re-wrap a blob's data key under master key ``new_key_id``; the payload is untouched.

    Parameters
    ----------
    blob
        An encrypted blob.
    new_key_id
        Id of the master key to wrap the data key with (must be in the keyring).
    keyring
        A keyring holding both the old and the new master key.

    Returns
    -------
    bytes
        The re-wrapped blob, decryptable without the old master key.
    """
    ring = _keyring(keyring)
    header = _parse_header(blob)
    data_key = _unwrap(header, ring)
    new = replace(header, key_id=new_key_id, wrap_nonce=os.urandom(_NONCE))
    wrapped = AESGCM(ring.get(new_key_id)).encrypt(new.wrap_nonce, data_key, new.wrap_aad())
    new = replace(new, wrapped_key=wrapped)
    return new.to_bytes() + blob[header.length :]


def reencrypt_bytes(
    blob: bytes, new_key_id: str | None = None, *, keyring: Keyring | None = None
) -> bytes:
    """Decrypt a blob and encrypt it again under a fresh data key (same context).

    Unlike :func:`rotate_bytes`, nothing of the old encryption survives: the old master
    key together with an earlier copy of the blob does not open the result.

    Parameters
    ----------
    blob
        An encrypted blob.
    new_key_id
        Id of the master key to wrap the new data key with; the keyring's current key
        by default.
    keyring
        A keyring holding the blob's master key and ``new_key_id``.

    Returns
    -------
    bytes
        The new blob.

    Raises
    ------
    IntegrityError
        If the blob does not authenticate (nothing is re-encrypted then).
    """
    ring = _keyring(keyring)
    header = _parse_header(blob)
    plain = decrypt_bytes(blob, context=header.context, keyring=ring)
    target = Keyring(ring.keys, current=new_key_id or ring.current)
    return encrypt_bytes(plain, context=header.context, keyring=target)


def _atomic_write(path: Path, data: bytes) -> None:
    from twinlab.security.filemodes import write_atomic

    write_atomic(path, data, mode=0o600)


def encrypt_file(
    src: str | Path,
    dst: str | Path,
    *,
    context: str | None = None,
    keyring: Keyring | None = None,
) -> Path:
    """Encrypt file ``src`` to ``dst`` (written atomically, mode 0600).

    Parameters
    ----------
    src, dst
        Plaintext file and encrypted file.
    context
        Bound to the ciphertext; the name of ``dst`` by default, so
        :func:`decrypt_file` finds it again from the file's name.
    keyring
        Master keys; :func:`load_keyring` by default.

    Returns
    -------
    Path
        ``dst``.
    """
    dst = Path(dst)
    blob = encrypt_bytes(Path(src).read_bytes(), context=context or dst.name, keyring=keyring)
    _atomic_write(dst, blob)
    return dst


def decrypt_file(
    src: str | Path, *, context: str | None = None, keyring: Keyring | None = None
) -> bytes:
    """Decrypt an encrypted file and return its plaintext.

    Parameters
    ----------
    src
        The encrypted file.
    context
        The context used at encryption; the file's own name by default.
    keyring
        Master keys; :func:`load_keyring` by default.

    Returns
    -------
    bytes
        The plaintext.

    Raises
    ------
    IntegrityError
        If the file was altered, truncated, renamed or swapped.
    """
    src = Path(src)
    return decrypt_bytes(src.read_bytes(), context=context or src.name, keyring=keyring)


def rotate(
    path: str | Path,
    new_key_id: str,
    *,
    keyring: Keyring | None = None,
    reencrypt: bool = False,
) -> Path:
    """Rotate an encrypted file to master key ``new_key_id``, in place and atomically.

    Parameters
    ----------
    path
        The encrypted file.
    new_key_id
        The master key to wrap with from now on.
    keyring
        Holds the file's current master key and ``new_key_id``.
    reencrypt
        Re-encrypt the payload under a fresh data key (:func:`reencrypt_bytes`) instead of
        re-wrapping the existing data key (:func:`rotate_bytes`).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    how = reencrypt_bytes if reencrypt else rotate_bytes
    _atomic_write(path, how(path.read_bytes(), new_key_id, keyring=keyring))
    return path
