"""Keyed pseudonyms: HMAC-SHA256 of a ``(system, value)`` identifier.

A pseudonym is ``prefix`` + the first 16 characters of the base32 encoding of
``HMAC-SHA256(k_pseudonym, system + US + value)`` (80 bits), where ``k_pseudonym`` is the
``"pseudonym"`` sub-key of the :class:`~twinlab.deid.keys.DeidKey` and ``US`` is the ASCII unit
separator. The same identifier always gets the same pseudonym under one key; without the key
a pseudonym cannot be recomputed from the identifier (unlike a plain hash, which anyone can
compute for every possible MRN). The system is part of the message, so MRN ``123`` and study
subject ``123`` never collide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

import pandas as pd

from twinlab.deid.keys import DeidKey, as_key

__all__ = ["PSEUDONYM_PATTERN", "PSEUDONYM_PURPOSE", "pseudonym", "pseudonymize"]

#: The HKDF purpose of the pseudonym sub-key.
PSEUDONYM_PURPOSE = "pseudonym"
#: Regular expression a pseudonym made with the default prefix matches.
PSEUDONYM_PATTERN = r"^P-[A-Z2-7]{16}$"

_SEP = "\x1f"


def _one(subkey: bytes, system: str, value: str, prefix: str) -> str:
    digest = hmac.new(subkey, f"{system}{_SEP}{value}".encode(), hashlib.sha256).digest()
    return prefix + base64.b32encode(digest).decode("ascii")[:16]


def pseudonym(system: str, value: str, *, key: DeidKey | bytes, prefix: str = "P-") -> str:
    """Return the pseudonym of one identifier.

    Parameters
    ----------
    system : str
        The identifier's system (e.g. an MRN system URI, ``"twinlab:source_patient"``).
    value : str
        The identifier's value.
    key : DeidKey or bytes
        The de-identification key.
    prefix : str
        Text put in front of the 16 base32 characters.

    Returns
    -------
    str

    Examples
    --------
    >>> k = DeidKey(bytes(32))
    >>> p = pseudonym("urn:mrn", "12345", key=k)
    >>> p == pseudonym("urn:mrn", "12345", key=k), len(p)
    (True, 18)
    """
    return _one(as_key(key).derive(PSEUDONYM_PURPOSE), str(system), str(value), prefix)


def pseudonymize(
    values: Iterable[Any],
    *,
    key: DeidKey | bytes,
    system: str | None = None,
    prefix: str = "P-",
) -> pd.Series:
    """Return the pseudonyms of many identifiers (vectorized over unique values).

    Parameters
    ----------
    values : iterable
        Identifier values (with ``system`` given), or ``(system, value)`` pairs (without).
        Missing values (None, NaN) stay missing.
    key : DeidKey or bytes
        The de-identification key.
    system : str, optional
        The system shared by all ``values``; required unless the values are pairs.
    prefix : str
        Text put in front of the 16 base32 characters.

    Returns
    -------
    pandas.Series
        ``str`` Series (index of ``values`` when it is a Series), named ``patient_id``.

    Raises
    ------
    ValueError
        If ``system`` is None and a value is not a ``(system, value)`` pair.
    """
    subkey = as_key(key).derive(PSEUDONYM_PURPOSE)
    index = values.index if isinstance(values, pd.Series) else None
    items = list(values)
    cache: dict[Any, str] = {}
    out: list[Any] = []
    for item in items:
        if system is None:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise ValueError(
                    "pseudonymize needs system=... or (system, value) pairs; "
                    f"got an item of type {type(item).__name__}"
                )
            sys_, val = item
        else:
            sys_, val = system, item
        if val is None or (not isinstance(val, str) and pd.isna(val)):
            out.append(None)
            continue
        k = (str(sys_), str(val))
        if k not in cache:
            cache[k] = _one(subkey, k[0], k[1], prefix)
        out.append(cache[k])
    return pd.Series(out, index=index, dtype="str", name="patient_id")
