"""Per-patient date shifting.

Every patient gets one whole-number shift of days, drawn from
``[-max_days, -min_days] ∪ [min_days, max_days]`` (default ``[-365, -1] ∪ [1, 365]``, never 0)
by ``HMAC-SHA256(k_shift, patient pseudonym)``, where ``k_shift`` is the ``"date-shift"``
sub-key of the :class:`~twinlab.deid.keys.DeidKey`. The same patient therefore always gets the
same shift under a key, different keys give unrelated shifts, and the shift cannot be
recomputed without the key. All of a patient's dates move by the same exact
:class:`~pandas.Timedelta`, so every interval within a patient is kept to the microsecond, and
so are times of day and days of the week modulo the shift. Shifting happens in UTC, so no
daylight-saving rule can bend an interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from twinlab.deid._util import is_missing, to_utc
from twinlab.deid.keys import DeidKey, as_key

__all__ = ["DATE_SHIFT_PURPOSE", "date_shift_days", "shift_dates", "shift_iso_date"]

#: The HKDF purpose of the date-shift sub-key.
DATE_SHIFT_PURPOSE = "date-shift"


def date_shift_days(
    patients: Iterable[str],
    *,
    key: DeidKey | bytes,
    max_days: int = 365,
    min_days: int = 1,
) -> pd.Series:
    """Return each patient's date shift in whole days (never 0).

    Parameters
    ----------
    patients : iterable of str
        Patient pseudonyms (or any stable patient key).
    key : DeidKey or bytes
        The de-identification key.
    max_days, min_days : int
        The shift magnitude lies in ``[min_days, max_days]``; its sign is drawn too.

    Returns
    -------
    pandas.Series
        ``int64`` shifts in days, indexed by patient (duplicates collapsed).

    Raises
    ------
    ValueError
        If ``not 1 <= min_days <= max_days``.

    Examples
    --------
    >>> s = date_shift_days(["P-A", "P-B"], key=DeidKey(bytes(32)))
    >>> bool(((s.abs() >= 1) & (s.abs() <= 365)).all())
    True
    """
    if not 1 <= min_days <= max_days:
        raise ValueError(f"need 1 <= min_days <= max_days, got {min_days}, {max_days}")
    subkey = as_key(key).derive(DATE_SHIFT_PURPOSE)
    span = max_days - min_days + 1
    ids = list(dict.fromkeys(str(p) for p in patients if not is_missing(p)))
    shifts = []
    for p in ids:
        digest = hmac.new(subkey, p.encode(), hashlib.sha256).digest()
        r = int.from_bytes(digest[:8], "big") % (2 * span)  # bias < 2**-50
        magnitude = min_days + r % span
        shifts.append(-magnitude if r < span else magnitude)
    return pd.Series(shifts, index=pd.Index(ids, dtype="str", name="patient_id"), dtype="int64")


def shift_dates(
    events: pd.DataFrame,
    shift_by_patient: Mapping[str, int] | pd.Series,
    *,
    patient_column: str = "patient_id",
    columns: Sequence[str] = ("time", "end_time"),
) -> pd.DataFrame:
    """Return a copy of ``events`` with each patient's dates moved by that patient's shift.

    Parameters
    ----------
    events : pandas.DataFrame
        Events with ``patient_column`` and tz-aware datetime (or ISO-with-offset text)
        ``columns``; columns that are absent are skipped.
    shift_by_patient : mapping or pandas.Series
        Patient -> shift in whole days.
    patient_column : str
        The column naming the patient.
    columns : sequence of str
        The datetime columns to shift.

    Returns
    -------
    pandas.DataFrame
        Same rows and columns; shifted columns are ``datetime64[us, UTC]``.

    Raises
    ------
    ValueError
        If a patient has no shift, a shift is not a whole number of days or is 0, or a column
        holds naive datetimes.
    """
    shifts = pd.Series(shift_by_patient, dtype="float64")
    bad = shifts[(shifts == 0) | (shifts != shifts.round()) | shifts.isna()]
    if len(bad):
        raise ValueError(f"{len(bad)} date shifts are 0 or not whole days")
    patients = events[patient_column].astype("str")
    days = patients.map(shifts)
    missing = days.isna()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} events have no patient or belong to "
            f"{patients[missing].nunique()} patients without a date shift; "
            "their dates cannot be shifted"
        )
    delta = pd.to_timedelta(days.astype("int64"), unit="D")
    out = events.copy()
    for col in columns:
        if col in out.columns:
            out[col] = to_utc(out[col], what=f"events[{col!r}]") + delta
    return out


def shift_timestamp(value: Any, days: int) -> pd.Timestamp | None:
    """Shift one timestamp (tz-aware, or ISO text with an offset) by ``days``; None if missing."""
    if is_missing(value):
        return None
    s = to_utc(pd.Series([value]), what="timestamp")
    return s.iloc[0] + pd.Timedelta(days=int(days))


#: A calendar date as readers write one (``2025-04-01``), nothing before or after it.
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})\s*")


def shift_iso_date(value: Any, days: int) -> str | None:
    """Shift a calendar date written ``YYYY-MM-DD`` by ``days``; None if it is no such date.

    A date without a time of day (a wearable summary's local day) moves by whole days, like
    the patient's timestamps, so that it stays the same day of the patient's shifted time line.

    Parameters
    ----------
    value : str
    days : int
        The patient's date shift (:func:`date_shift_days`).

    Returns
    -------
    str or None

    Examples
    --------
    >>> shift_iso_date("2025-04-01", -3), shift_iso_date("April 1st", 10)
    ('2025-03-29', None)
    """
    m = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return None
    try:
        day = dt.date(*(int(g) for g in m.groups())) + dt.timedelta(days=int(days))
    except (ValueError, OverflowError):
        return None
    return day.isoformat()
