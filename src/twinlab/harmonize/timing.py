"""Time alignment: site clocks to UTC, index dates, undated events placed or quarantined.

Pure functions on the linked events table (no I/O): :func:`localize_site_times`,
:func:`index_dates`, :func:`place_undated` and :func:`unplaced_quarantine`.
"""

from __future__ import annotations

import pandas as pd

from twinlab.harmonize.facts import json_text

__all__ = [
    "index_dates",
    "localize_site_times",
    "place_undated",
    "unplaced_quarantine",
    "utc_offset_hours",
]


def localize_site_times(
    events: pd.DataFrame, persons: pd.DataFrame, offsets: dict[str, str]
) -> pd.DataFrame:
    """Turn EDC clock times (read as UTC) into true UTC with the site's offset.

    Parameters
    ----------
    events : pandas.DataFrame
        Linked events; those with the qualifier ``tz_assumed: "UTC"`` are EDC clock times.
    persons : pandas.DataFrame
        Linked persons with their ``site``.
    offsets : dict
        ``±HH:MM`` per site.

    Returns
    -------
    pandas.DataFrame
        A copy of ``events``: times of sites with a known offset moved to true UTC (qualifier
        ``tz_assumed`` = the offset), others left and flagged ``UTC (site offset unknown)``.
    """
    quals = events["qualifiers"]
    naive = quals.map(lambda q: isinstance(q, dict) and q.get("tz_assumed") == "UTC")
    if not naive.any():
        return events
    events = events.copy()
    site = persons.dropna(subset=["site"]).drop_duplicates("source_patient")
    site_of = site.set_index("source_patient")["site"].astype(str)
    sites = events.loc[naive, "source_patient"].map(site_of)
    delta = sites.map(
        lambda s: utc_offset_hours(offsets.get(str(s))) if isinstance(s, str) else None
    )
    known = delta.notna()
    idx = delta[known].index
    shift = pd.to_timedelta(delta[known].astype(float), unit="h")
    events.loc[idx, "time"] = events.loc[idx, "time"] - shift
    ends = events.loc[idx, "end_time"].notna()
    events.loc[idx[ends], "end_time"] = events.loc[idx[ends], "end_time"] - shift[ends]
    events.loc[naive.index[naive], "qualifiers"] = [
        {**q, "tz_assumed": offsets[str(s)] if k else "UTC (site offset unknown)"}
        for q, s, k in zip(quals[naive], sites, known, strict=True)
    ]
    return events


def utc_offset_hours(text: str | None) -> float | None:
    """Hours of a ``±HH:MM`` offset."""
    if not text:
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * (int(hours) + int(minutes or 0) / 60)


def index_dates(events: pd.DataFrame) -> pd.Series:
    """First dose per patient, else first dated event."""
    dated = events[events["time"].notna()]
    first_dose = dated[dated["domain"] == "dose"].groupby("source_patient")["time"].min()
    first_any = dated.groupby("source_patient")["time"].min()
    return first_dose.combine_first(first_any)


def place_undated(events: pd.DataFrame, index: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Undated events at their person's index date; ``(placed, unplaced)``.

    An undated event of a person with no dated event (a VCF sample linked to no patient) has
    no place in a timeline: it is returned in ``unplaced``, to be quarantined, never dropped.
    """
    undated = events["time"].isna()
    if undated.any():
        events = events.copy()
        # with no dated event in the run (VCF files alone) ``index`` is empty, and pandas'
        # map by an empty datetime Series raises ('Cannot cast DatetimeArray to float64')
        if len(index):
            events.loc[undated, "time"] = events.loc[undated, "source_patient"].map(index)
        events.loc[undated, "qualifiers"] = [
            {**(q if isinstance(q, dict) else {}), "time_imputed": "index_date"}
            for q in events.loc[undated, "qualifiers"]
        ]
    placed = events["time"].notna()
    return events[placed].copy(), events[~placed].copy()


def unplaced_quarantine(unplaced: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows (one per event) for the events :func:`place_undated` could not place."""
    cols = ["source_record", "check", "reason", "raw", "format", "source_file"]
    if unplaced.empty:
        return pd.DataFrame(columns=cols)
    reason = (
        "undated event of a person with no dated event (e.g. a VCF sample linked to no "
        "patient): it cannot be placed in a timeline"
    )
    raw = [
        json_text({"source_record": r, "domain": d, "code": c, "value_text": v, "patient_key": k})
        for r, d, c, v, k in zip(
            unplaced["source_record"].astype(str), unplaced["domain"], unplaced["code"],
            unplaced["value_text"], unplaced["source_patient"].astype(str), strict=True,
        )
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "source_record": unplaced["source_record"].astype(str).to_numpy(),
            "check": "harmonize.unplaced",
            "reason": reason,
            "raw": raw,
            "format": unplaced["format"].to_numpy(),
            "source_file": unplaced["source_file"].to_numpy(),
        }
    )[cols]
