"""Per-event checks of the harmonizer: dates in range, finite values, plausible values.

Readers check each record's syntax; these checks need what only the harmonizer knows – the
canonical unit a value was converted to, the code it was mapped to – or guard every format at
once. Each returns the events that pass and one quarantine row per event that does not, with
the check and the field in the reason, never the value (the raw zone keeps the event):

``harmonize.date``
    ``time`` or ``end_time`` outside the years :data:`~twinlab.ingest.base.FIRST_YEAR` to
    :data:`~twinlab.ingest.base.LAST_YEAR` (placeholders such as 0001-01-01 or 9999-12-31,
    which would otherwise become an index date out of the nanosecond range or a period ending
    in the year 10000).
``harmonize.unit_overflow``
    ``value_num`` that became infinite in unit conversion (a finite 1e308 g/dL is 1e309 g/L).
``harmonize.plausibility``
    ``value_num`` outside the plausible range of its code and canonical unit, or of its domain
    (``terminology/tables/plausibility.csv``: data, not code). With ``implausible="flag"`` such
    an event is kept with the qualifier ``implausible`` (the range it left) instead.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from twinlab.ingest.base import FIRST_YEAR, LAST_YEAR
from twinlab.terminology.plausibility import plausibility_table, unit_bounds

__all__ = ["IMPLAUSIBLE_ACTIONS", "check_dates", "check_values", "plausibility_table"]

#: What to do with an implausible value: quarantine the event, or keep it flagged.
IMPLAUSIBLE_ACTIONS = ("quarantine", "flag")
_QUARANTINE_COLUMNS = ["source_record", "check", "reason", "raw", "format", "source_file"]


def _rows(events: pd.DataFrame, mask: np.ndarray, check: str, reasons: list[str]) -> pd.DataFrame:
    bad = events[mask]
    raw = [
        json.dumps(
            {
                "source_record": r, "domain": d, "code": c, "unit": u, "time": str(t),
                "end_time": str(e), "value_num": None if v != v else repr(float(v)),
            },
            ensure_ascii=False,
        )
        for r, d, c, u, t, e, v in zip(
            bad["source_record"].astype(str), bad["domain"], bad["code"], bad["unit"],
            bad["time"], bad["end_time"], bad["value_num"], strict=True,
        )
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "source_record": bad["source_record"].astype(str).to_numpy(),
            "check": check,
            "reason": reasons,
            "raw": raw,
            "format": bad["format"].to_numpy(),
            "source_file": bad["source_file"].to_numpy(),
        },
        columns=_QUARANTINE_COLUMNS,
    )


def _split(events: pd.DataFrame, parts: list[tuple[np.ndarray, str, list[str]]]):
    quarantined = [_rows(events, m, c, r) for m, c, r in parts if m.any()]
    drop = np.zeros(len(events), dtype=bool)
    for m, _, _ in parts:
        drop |= m
    rows = pd.concat(quarantined, ignore_index=True) if quarantined else _empty()
    return events[~drop].copy(), rows


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=_QUARANTINE_COLUMNS)


def check_dates(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quarantine events dated outside ``FIRST_YEAR .. LAST_YEAR``.

    Parameters
    ----------
    events : pandas.DataFrame
        Collected reader events (``time``, ``end_time`` tz-aware; ``format``, ``source_file``).

    Returns
    -------
    tuple of pandas.DataFrame
        The events that pass, and one quarantine row per event that does not
        (``harmonize.date``, naming ``time`` or ``end_time``).

    Examples
    --------
    >>> kept, rows = check_dates(events)  # doctest: +SKIP
    """
    if events.empty:
        return events, _empty()
    lo = pd.Timestamp(f"{FIRST_YEAR}-01-01", tz="UTC")
    hi = pd.Timestamp(f"{LAST_YEAR + 1}-01-01", tz="UTC")
    parts = []
    taken = np.zeros(len(events), dtype=bool)
    for column in ("time", "end_time"):
        t = pd.to_datetime(events[column], utc=True)
        bad = (t.notna() & ((t < lo) | (t >= hi))).to_numpy() & ~taken
        taken |= bad
        why = f"{column} is outside the years {FIRST_YEAR}-{LAST_YEAR} (a placeholder date)"
        parts.append((bad, "harmonize.date", [why] * int(bad.sum())))
    return _split(events, parts)


def check_values(
    events: pd.DataFrame, implausible: str = "quarantine", table: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quarantine infinite values, and quarantine or flag implausible ones.

    Parameters
    ----------
    events : pandas.DataFrame
        Events after :func:`~twinlab.terminology.normalize_units` (canonical units).
    implausible : {"quarantine", "flag"}
        What happens to a value outside its plausible range: quarantined
        (``harmonize.plausibility``), or kept with the qualifier ``implausible``.
    table : pandas.DataFrame, optional
        Plausible ranges (default :func:`plausibility_table`).

    Returns
    -------
    tuple of pandas.DataFrame
        The events kept (flagged ones included), and one quarantine row per event removed.

    Raises
    ------
    ValueError
        For an ``implausible`` action other than ``"quarantine"`` or ``"flag"``.
    """
    if implausible not in IMPLAUSIBLE_ACTIONS:
        raise ValueError(f"implausible must be 'quarantine' or 'flag', not {implausible!r}")
    if events.empty:
        return events, _empty()
    table = plausibility_table() if table is None else table
    values = pd.to_numeric(events["value_num"], errors="coerce").to_numpy(dtype=float)
    overflow = np.isinf(values)
    units = events["unit"].astype(object).where(events["unit"].notna(), "")
    overflow_why = [f"value_num is not finite after conversion to {u or 'its unit'}"
                    for u in units[overflow]]  # fmt: skip
    low, high, listed = _bounds(events, table)
    outside = np.isfinite(values) & ((values < low) | (values > high))
    reasons = [
        f"value_num is outside the plausible range {lo:g} to {hi:g} {u} of {d} {c}".replace(
            "  ", " "
        )
        for lo, hi, u, d, c in zip(
            low[outside], high[outside], units[outside], events["domain"][outside],
            events["code"][outside], strict=True,
        )
    ]  # fmt: skip
    generic, generic_why = _beyond_unit_bounds(values, units.to_numpy(), ~listed & ~outside)
    parts = [(overflow, "harmonize.unit_overflow", overflow_why)]
    if implausible == "quarantine":
        parts.append((outside, "harmonize.plausibility", reasons))
        parts.append((generic, "harmonize.unit_bound", generic_why))
        return _split(events, parts)
    kept, rows = _split(events, parts)
    why_at = dict(zip(np.flatnonzero(outside), reasons, strict=True))
    why_at |= dict(zip(np.flatnonzero(generic), generic_why, strict=True))
    flag = (outside | generic)[~overflow]
    if flag.any():
        quals = kept["qualifiers"].tolist()
        positions = np.flatnonzero(~overflow)  # kept row -> event position
        for i in np.flatnonzero(flag):
            why = why_at[int(positions[i])]
            q = quals[i] if isinstance(quals[i], dict) else {}
            quals[i] = {**q, "implausible": why.removeprefix("value_num is ")}
        kept["qualifiers"] = pd.Series(quals, index=kept.index, dtype=object)
    return kept, rows


def _beyond_unit_bounds(
    values: np.ndarray, units: np.ndarray, unlisted: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """The events of no listed range whose value leaves the bounds of its unit's kind
    (:func:`twinlab.terminology.plausibility.unit_bounds`: a negative concentration, amount
    or count, a magnitude beyond any measurement), and why.

    Parameters
    ----------
    values : numpy.ndarray
        ``value_num`` per event (float).
    units : numpy.ndarray
        Canonical unit per event (``""`` when none).
    unlisted : numpy.ndarray
        Whether each event has no range of its code in ``plausibility.csv``.

    Returns
    -------
    (numpy.ndarray, list of str)
        The mask of such events and one reason per event of the mask (the bounds, the kind
        of unit and the unit: never the value).
    """
    bounds = [unit_bounds(u or None) for u in units]
    low = np.array([b[0] for b in bounds], dtype=float).reshape(len(units))
    high = np.array([b[1] for b in bounds], dtype=float).reshape(len(units))
    bad = unlisted & np.isfinite(values) & ((values < low) | (values > high))
    reasons = [
        f"value_num is outside {bounds[i][0]:g} to {bounds[i][1]:g}, the bounds of any "
        f"{bounds[i][2]} ({units[i] or 'no unit'})"
        for i in np.flatnonzero(bad)
    ]
    return bad, reasons


def _bounds(events: pd.DataFrame, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Low and high bound per event (-inf/inf where no range applies), and whether the
    event's code has a range of its own (not only its domain's)."""
    n = len(events)
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    specific = table[table["code"] != "*"]
    keys = pd.MultiIndex.from_arrays([specific["system"], specific["code"], specific["unit"]])
    ev_keys = pd.MultiIndex.from_arrays(
        [events[c].astype(object).where(events[c].notna(), "").to_numpy() for c in
         ("code_system", "code", "unit")]
    )  # fmt: skip
    at = keys.get_indexer(ev_keys) if keys.is_unique else _first_indexer(keys, ev_keys)
    hit = at >= 0
    low[hit] = specific["low"].to_numpy()[at[hit]]
    high[hit] = specific["high"].to_numpy()[at[hit]]
    any_unit = specific[specific["unit"] == "*"]
    if len(any_unit) and (~hit).any():  # a code's range in any unit
        codes = pd.MultiIndex.from_arrays([any_unit["system"], any_unit["code"]])
        at2 = _first_indexer(codes, ev_keys.droplevel(2))
        more = ~hit & (at2 >= 0)
        low[more] = any_unit["low"].to_numpy()[at2[more]]
        high[more] = any_unit["high"].to_numpy()[at2[more]]
        hit |= more
    by_domain = table[table["code"] == "*"].drop_duplicates("domain").set_index("domain")
    rest = ~hit
    if len(by_domain) and rest.any():
        domains = events["domain"].astype(object).to_numpy()[rest]
        low[rest] = pd.Series(domains).map(by_domain["low"]).fillna(-np.inf).to_numpy()
        high[rest] = pd.Series(domains).map(by_domain["high"]).fillna(np.inf).to_numpy()
    return low, high, hit


def _first_indexer(keys: pd.MultiIndex, wanted: pd.MultiIndex) -> Any:
    first = pd.Series(np.arange(len(keys)), index=keys)
    first = first[~first.index.duplicated()]
    return first.reindex(wanted).fillna(-1).astype(int).to_numpy()
