"""The de-identification secret and the per-purpose sub-keys derived from it.

The secret comes from the environment, never from code or configuration files in the
repository:

* ``TWINLAB_DEID_KEY`` – the key itself, as hex (an even number of hex digits) or base64
  (standard or URL-safe alphabet), at least 32 bytes once decoded; or
* ``TWINLAB_DEID_KEY_FILE`` – the path of a file holding the key in the same text form. The
  file must lie outside the git work tree and be private to its owner (checked by
  :func:`twinlab.security.keyfiles.check_key_file`).

Each use of the secret gets its own sub-key, derived with HKDF-SHA256 (RFC 5869, from the
``cryptography`` package) with ``info = b"twinlab.deid/<purpose>"``, so the pseudonym key and
the date-shift key are independent: knowing the shifts reveals nothing about the pseudonyms.
A :class:`DeidKey` never shows its secret in ``repr``/``str``, in pickles or in logs; it shows a
short *fingerprint* (a keyed hash, safe to record) so runs can tell which key they used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twinlab.config import ConfigError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MIN_KEY_BYTES",
    "DeidKey",
    "DeidKeyError",
    "load_key",
    "parse_key_text",
]

#: Environment variable holding the key (hex or base64).
KEY_ENV = "TWINLAB_DEID_KEY"
#: Environment variable holding the path of a key file (hex or base64 text).
KEY_FILE_ENV = "TWINLAB_DEID_KEY_FILE"
#: Minimum key length in bytes (256 bits).
MIN_KEY_BYTES = 32

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HOW = (
    f"set ${KEY_ENV} to a random key of at least {MIN_KEY_BYTES} bytes as hex or base64 "
    f'(e.g. python -c "import secrets; print(secrets.token_hex(32))"), or set ${KEY_FILE_ENV} '
    "to the path of a private file (chmod 600) outside the repository holding such a key"
)


class DeidKeyError(ConfigError):
    """The de-identification key is missing, malformed, too short or stored in a bad place.

    A :class:`ValueError` (through :class:`twinlab.config.ConfigError`); the message names both
    ways to provide a key and never contains the key itself.
    """


class DeidKey:
    """A de-identification secret (at least :data:`MIN_KEY_BYTES` bytes).

    Parameters
    ----------
    secret : bytes
        The raw key bytes.

    Raises
    ------
    DeidKeyError
        If ``secret`` is not bytes or is shorter than :data:`MIN_KEY_BYTES`.

    Examples
    --------
    >>> key = DeidKey(bytes(range(32)))
    >>> "00010203" in repr(key)
    False
    >>> len(key.derive("pseudonym"))
    32
    """

    __slots__ = ("__secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray):
            raise DeidKeyError(f"a de-identification key must be bytes, not {type(secret)}")
        if len(secret) < MIN_KEY_BYTES:
            raise DeidKeyError(
                f"the de-identification key has {len(secret)} bytes; at least {MIN_KEY_BYTES} "
                f"are needed: {_HOW}"
            )
        self.__secret = bytes(secret)

    @classmethod
    def generate(cls) -> DeidKey:
        """A fresh random 32-byte key (for tests and for creating a key file)."""
        return cls(os.urandom(MIN_KEY_BYTES))

    def derive(self, purpose: str, *, length: int = 32) -> bytes:
        """Return the sub-key for ``purpose`` (HKDF-SHA256, ``info = twinlab.deid/<purpose>``).

        Parameters
        ----------
        purpose : str
            What the sub-key is for, e.g. ``"pseudonym"`` or ``"date-shift"``.
        length : int
            Sub-key length in bytes.

        Returns
        -------
        bytes
        """
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=b"twinlab.deid.v1",
            info=f"twinlab.deid/{purpose}".encode(),
        )
        return hkdf.derive(self.__secret)

    @property
    def fingerprint(self) -> str:
        """A 16-hex-digit keyed fingerprint of the key, safe to log and record."""
        return hmac.new(self.derive("fingerprint"), b"", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"DeidKey(<secret redacted>, fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeidKey):
            return NotImplemented
        return hmac.compare_digest(self.__secret, other.__secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> object:
        raise TypeError("a DeidKey cannot be pickled: pass the key through the environment")


def parse_key_text(text: str, *, source: str = "key") -> bytes:
    """Decode a key written as hex or base64 text.

    Text made only of hex digits, of even length, is read as hex; anything else as base64
    (standard or URL-safe alphabet, padding optional). Surrounding whitespace is ignored.

    Parameters
    ----------
    text : str
        The key text.
    source : str
        Where the text came from, for error messages.

    Returns
    -------
    bytes

    Raises
    ------
    DeidKeyError
        If the text is neither valid hex nor valid base64, or decodes to fewer than
        :data:`MIN_KEY_BYTES` bytes. The message never contains the text.
    """
    t = "".join(text.split())
    if not t:
        raise DeidKeyError(f"the de-identification {source} is empty: {_HOW}")
    if _HEX.match(t) and len(t) % 2 == 0:
        raw = bytes.fromhex(t)
    else:
        try:
            alt = t.replace("-", "+").replace("_", "/")
            raw = base64.b64decode(alt + "=" * (-len(alt) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise DeidKeyError(
                f"the de-identification {source} is neither hex nor base64: {_HOW}"
            ) from None
    if len(raw) < MIN_KEY_BYTES:
        raise DeidKeyError(
            f"the de-identification {source} decodes to {len(raw)} bytes; at least "
            f"{MIN_KEY_BYTES} are needed: {_HOW}"
        )
    return raw


def load_key(*, environ: Mapping[str, str] | None = None) -> DeidKey:
    """Load the de-identification key from ``$TWINLAB_DEID_KEY`` or ``$TWINLAB_DEID_KEY_FILE``.

    The variable wins over the file when both are set.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (``os.environ`` by default).

    Returns
    -------
    DeidKey

    Raises
    ------
    DeidKeyError
        If neither is set, the key is malformed or short, or the key file is missing, lies
        inside the current git work tree or is readable by others.
    """
    from twinlab.security.keyfiles import check_key_file

    env = os.environ if environ is None else environ
    text = env.get(KEY_ENV, "")
    if text.strip():
        return DeidKey(parse_key_text(text, source=f"key in ${KEY_ENV}"))
    path = env.get(KEY_FILE_ENV, "")
    if path.strip():
        try:
            file = check_key_file(path, what="de-identification key file", env=KEY_FILE_ENV)
        except ConfigError as exc:
            raise DeidKeyError(f"{exc}. To provide the key: {_HOW}") from None
        try:
            content = file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise DeidKeyError(
                f"cannot read the de-identification key file {file} (${KEY_FILE_ENV}): "
                f"{type(exc).__name__}; it must hold the key as hex or base64 text"
            ) from None
        return DeidKey(parse_key_text(content, source=f"key file {file} (${KEY_FILE_ENV})"))
    raise DeidKeyError(f"no de-identification key is configured: {_HOW}")


def as_key(key: DeidKey | bytes) -> DeidKey:
    """Accept a :class:`DeidKey` or raw key bytes."""
    if isinstance(key, DeidKey):
        return key
    return DeidKey(key)
