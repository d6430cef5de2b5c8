"""Links between events: the same fact from two files, and each observation to its dose.

Pure functions on the de-identified events table (no I/O): :func:`same_facts`,
:func:`flag_duplicates`, :func:`dose_links` and :func:`event_links`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LOINC",
    "SOURCE_PRIORITY",
    "dose_links",
    "event_links",
    "flag_duplicates",
    "json_text",
    "same_facts",
]

LOINC = "http://loinc.org"
#: Source formats in order of authority for the same fact (EDC before EHR before devices).
SOURCE_PRIORITY: tuple[str, ...] = ("sdtm", "odm", "fhir", "vcf", "wearables")


def json_text(value: Any) -> str:
    """A qualifiers value as JSON text (text passes unchanged; ``None`` is ``{}``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value or {}, sort_keys=True, default=str, ensure_ascii=False)


def same_facts(events: pd.DataFrame, hours: float, rel_tol: float) -> pd.DataFrame:
    """Pairs (duplicate, primary) of one fact reported by two files.

    The two files may be of two formats (the same lab in an SDTM LB and a FHIR Observation:
    the primary from the more authoritative format, :data:`SOURCE_PRIORITY`) or of one (two
    bundles that both hold it: the primary from the file with the smaller keyed id). Two
    events of one file are never one fact (a repeated measurement is a measurement).
    """
    numeric = events[events["value_num"].notna() & events["code_system"].eq(LOINC)]
    cols = ["event_id", "patient_id", "code", "unit", "time", "value_num", "format", "source_file"]
    pairs = numeric[cols].merge(
        numeric[cols], on=["patient_id", "code", "unit"], suffixes=("", "_p")
    )
    rank = {f: i for i, f in enumerate(SOURCE_PRIORITY)}
    r, r_p = pairs["format"].map(rank), pairs["format_p"].map(rank)
    # two files: the primary is the more authoritative format, then the first file (by id)
    later = (r > r_p) | ((r == r_p) & (pairs["source_file"] > pairs["source_file_p"]))
    pairs = pairs[later]
    close = (pairs["time"] - pairs["time_p"]).abs() <= pd.Timedelta(hours=hours)
    scale = np.maximum(pairs["value_num"].abs(), pairs["value_num_p"].abs()).replace(0, 1)
    same = (pairs["value_num"] - pairs["value_num_p"]).abs() <= rel_tol * scale
    pairs = pairs[close & same].sort_values(["event_id", "time_p"])
    return pairs.drop_duplicates("event_id")[["event_id", "event_id_p", "time", "time_p"]]


def dose_links(events: pd.DataFrame) -> pd.DataFrame:
    """Each concentration / PD observation linked to the last dose of its patient before it."""
    doses = events[events["domain"] == "dose"][["patient_id", "time", "event_id"]]
    obs = events[events["domain"].isin(["concentration", "pd"])][["patient_id", "time", "event_id"]]
    if doses.empty or obs.empty:
        return pd.DataFrame(columns=["from_event_id", "to_event_id", "relation", "lag_hours"])
    merged = pd.merge_asof(
        obs.sort_values("time"), doses.sort_values("time"), on="time", by="patient_id",
        direction="backward", suffixes=("", "_dose"),
    )  # fmt: skip
    merged = merged.dropna(subset=["event_id_dose"])
    dose_time = merged["event_id_dose"].map(doses.set_index("event_id")["time"])
    return pd.DataFrame(
        {
            "from_event_id": merged["event_id_dose"].astype(str),
            "to_event_id": merged["event_id"].astype(str),
            "relation": "dose_to_observation",
            "lag_hours": (merged["time"] - dose_time).dt.total_seconds() / 3600,
        }
    )


def flag_duplicates(events: pd.DataFrame, dupes: pd.DataFrame) -> pd.DataFrame:
    """``events`` with the qualifier ``duplicate_of`` (the primary's event id) on each copy.

    Parameters
    ----------
    events : pandas.DataFrame
        De-identified events, ``qualifiers`` as JSON text.
    dupes : pandas.DataFrame
        :func:`same_facts`' pairs.

    Returns
    -------
    pandas.DataFrame
        A copy; rows not in ``dupes`` unchanged.
    """
    out = events.copy()
    dup_of = dupes.set_index("event_id")["event_id_p"]
    flagged = out["event_id"].isin(dup_of.index)
    out.loc[flagged, "qualifiers"] = [
        json_text({**json.loads(q), "duplicate_of": dup_of[e]})
        for q, e in zip(out.loc[flagged, "qualifiers"], out.loc[flagged, "event_id"], strict=True)
    ]
    return out


def event_links(events: pd.DataFrame, dupes: pd.DataFrame) -> pd.DataFrame:
    """The links table: ``dose_to_observation`` links, then one ``same_fact`` link per copy."""
    return pd.concat(
        [
            dose_links(events),
            pd.DataFrame({
                "from_event_id": dupes["event_id"], "to_event_id": dupes["event_id_p"],
                "relation": "same_fact",
                "lag_hours": (dupes["time"] - dupes["time_p"]).dt.total_seconds() / 3600,
            }),
        ],
        ignore_index=True,
    )  # fmt: skip
