"""Deterministic identifiers: ``events.event_id`` and ``events.row_hash``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any, overload

import pandas as pd

__all__ = ["HASH_COLUMNS", "add_row_hash", "event_id", "row_hash"]

#: The event columns a row hash covers, in order. ``event_id`` (derived from the source pointer),
#: ``hours_from_index`` (derived from the index date), ``schema_version`` and ``status`` are
#: left out, so a hash survives re-indexing and schema migrations.
HASH_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "time",
    "end_time",
    "domain",
    "code_system",
    "code",
    "display",
    "value_num",
    "value_text",
    "unit",
    "orig_value",
    "orig_unit",
    "qualifiers",
    "source_file",
    "source_record",
)

_SEP = "\x1f"


def _one_event_id(source_file: str, source_record: str) -> str:
    digest = hashlib.sha256(f"{source_file}{_SEP}{source_record}".encode()).hexdigest()
    return f"ev-{digest[:24]}"


@overload
def event_id(source_file: str, source_record: str) -> str: ...
@overload
def event_id(source_file: Iterable[str], source_record: Iterable[str]) -> pd.Series: ...
def event_id(source_file: Any, source_record: Any) -> str | pd.Series:
    """Derive a stable event id from the source file and the record pointer in it.

    The same source record always gets the same id (``"ev-"`` + 24 hex digits of a sha256), so
    re-ingesting a file is idempotent.

    Parameters
    ----------
    source_file : str or sequence of str
    source_record : str or sequence of str
        Pointer into the source (e.g. a FHIR ``Bundle.entry[3]`` path or an SDTM ``--SEQ``).

    Returns
    -------
    str or pandas.Series
        One id, or a ``str`` Series when given sequences.

    Examples
    --------
    >>> event_id("labs.csv", "row=7")
    'ev-1e3fa330a34e8c85f7135ace'
    """
    if isinstance(source_file, str) and isinstance(source_record, str):
        return _one_event_id(source_file, source_record)
    files = list(source_file)
    records = list(source_record)
    if len(files) != len(records):
        raise ValueError("source_file and source_record must have the same length")
    ids = [_one_event_id(str(f), str(r)) for f, r in zip(files, records, strict=True)]
    index = source_file.index if isinstance(source_file, pd.Series) else None
    return pd.Series(ids, index=index, dtype="str", name="event_id")


def _canon(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC").isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, float):
        return None if math.isnan(value) else value.hex()
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return None
    return str(value)


def row_hash(events: pd.DataFrame) -> pd.Series:
    """Return the sha256 (64 lower-case hex digits) of each event's content.

    Hashes the canonical JSON of :data:`HASH_COLUMNS` (missing columns count as null; times as
    ISO 8601 UTC; floats by their exact hex form), so equal content gives equal hashes on every
    machine and any change of content changes the hash.

    Parameters
    ----------
    events : pandas.DataFrame

    Returns
    -------
    pandas.Series
        ``str`` Series named ``row_hash``, aligned on ``events.index``.
    """
    cols = [
        events[c] if c in events.columns else pd.Series(None, index=events.index, dtype=object)
        for c in HASH_COLUMNS
    ]
    hashes = [
        hashlib.sha256(
            json.dumps([_canon(v) for v in row], separators=(",", ":")).encode()
        ).hexdigest()
        for row in zip(*cols, strict=True)
    ]
    return pd.Series(hashes, index=events.index, dtype="str", name="row_hash")


def add_row_hash(events: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``events`` with ``row_hash`` (re)computed by :func:`row_hash`.

    Parameters
    ----------
    events : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    out = events.copy()
    out["row_hash"] = row_hash(events)
    return out
