"""Small helpers shared by the de-identification modules."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas.NA (never for containers)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False
    except (TypeError, ValueError):
        return False


def to_utc(values: Any, *, what: str) -> pd.Series:
    """Return ``values`` as a tz-aware UTC (microsecond) datetime Series.

    Tz-aware input is converted, ISO text with an offset is parsed, whole dates
    (``YYYY-MM-DD``, ``datetime.date``) are read as midnight UTC; naive datetimes are refused
    (their time zone is unknown, so a shift could not keep intervals exact).
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC")
    elif len(s) == 0 or s.isna().all():
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    elif s.dtype.kind == "M":
        raise ValueError(f"{what} holds naive datetimes; the contract needs tz-aware UTC")
    else:
        present = s[s.notna()]
        if not all(_has_offset(v) for v in present):
            raise ValueError(f"{what} holds datetimes without a UTC offset (naive)")
        strings = all(isinstance(v, str) for v in present)
        if not strings:
            s = s.map(lambda v: v.isoformat() if type(v) is dt.date else v)
        out = pd.to_datetime(s, format="ISO8601" if strings else None, utc=True)
    return out.astype("datetime64[us, UTC]")


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _has_offset(value: Any) -> bool:
    """True for tz-aware datetimes, ISO text with an offset, and whole dates (read as UTC)."""
    if isinstance(value, dt.datetime):  # includes pandas.Timestamp
        return value.tzinfo is not None
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return True
        return bool(re.search(r"\d:\d\d", text)) and bool(_OFFSET.search(text))
    return False
