"""Lineage: from a number in the de-identified timeline back to its source record.

The timeline itself holds only keyed pointers (``source_file`` is an HMAC id,
``source_record`` is scrubbed). The link back to the source – file path,
record pointer, identified patient key – lives encrypted in the raw zone
(``lineage.parquet.enc``, ``files.json.enc``), so tracing needs the master key
and, through :func:`twinlab.security.require`, a role allowed to read
patient-level data. Every trace is written to the audit log.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "crosswalk",
    "source_file",
    "source_record",
    "trace_event",
    "trace_patient",
    "trace_quarantine",
]

#: an escape of a recorded file name: a doubled backslash, or a byte that is not UTF-8
#: (``\\xNN``), as the ingest writes them (:func:`twinlab.ingest.run.printable_name`)
_ESCAPE = re.compile(r"\\(\\|x[89a-f][0-9a-f])")


def _raw_zone_table(raw_zone: Path, name: str, keyring: Any) -> bytes:
    from twinlab.security.crypto import decrypt_bytes, load_keyring

    blob = (raw_zone / f"{name}.enc").read_bytes()
    return decrypt_bytes(blob, context=name, keyring=keyring or load_keyring())


def _lineage(raw_zone: Path, keyring: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    lineage = pd.read_parquet(io.BytesIO(_raw_zone_table(raw_zone, "lineage.parquet", keyring)))
    files = json.loads(_raw_zone_table(raw_zone, "files.json", keyring))
    return lineage, files


def crosswalk(
    raw_zone: str | Path, *, keyring: Any = None, role: str = "reviewer", purpose: str = ""
) -> pd.DataFrame:
    """The raw zone's crosswalk: each identified source patient key and its pseudonym.

    Parameters
    ----------
    raw_zone
        The harmonized study's raw zone.
    keyring
        Master keys for the raw zone (default: from the environment).
    role
        The caller's role; must be allowed ``read_patient_level``.
    purpose
        Why it is read (recorded in the audit log with the role).

    Returns
    -------
    pandas.DataFrame
        ``source_patient`` (``"<identifier kind>:<value>"``, e.g. ``usubjid:...``) and
        ``patient_id`` (the pseudonym).
    """
    from twinlab.audit import audit_event
    from twinlab.security import require

    require(role, "read_patient_level")
    table = pd.read_parquet(
        io.BytesIO(_raw_zone_table(Path(raw_zone), "crosswalk.parquet", keyring))
    )
    audit_event("lineage.crosswalk", str(raw_zone), params={"role": role, "purpose": purpose})
    return table[["source_patient", "patient_id"]].copy()


def trace_event(
    event_id: str,
    *,
    timeline_dir: str | Path,
    raw_zone: str | Path,
    keyring: Any = None,
    role: str = "reviewer",
) -> dict[str, Any]:
    """Where one timeline event came from.

    Parameters
    ----------
    event_id
        The event's id in ``events.parquet``.
    timeline_dir, raw_zone
        The harmonized folder and its raw zone.
    keyring
        Master keys for the raw zone (default: from the environment).
    role
        The caller's role; must be allowed ``read_patient_level``.

    Returns
    -------
    dict
        The de-identified event (``patient_id``, ``time``, ``code``, ``value_num``,
        ``unit``) and its source: ``format``, ``source_path`` (relative to the
        ingested folder), ``source_record`` and the identified ``patient_key``.

    Raises
    ------
    KeyError
        If no event has this id.
    """
    from twinlab.audit import audit_event
    from twinlab.security import require

    require(role, "read_patient_level")
    events = pd.read_parquet(Path(timeline_dir) / "events.parquet")
    match = events[events["event_id"] == event_id]
    if match.empty:
        raise KeyError(f"no event {event_id!r} in {timeline_dir}")
    lineage, files = _lineage(Path(raw_zone), keyring)
    source = lineage[lineage["event_id"] == event_id].iloc[0]
    event = match.iloc[0]
    file_id = event["source_file"]
    audit_event("lineage.trace", event_id, params={"role": role, "timeline": str(timeline_dir)})
    return {
        "event_id": event_id,
        "patient_id": event["patient_id"],
        "time": event["time"],
        "domain": event["domain"],
        "code_system": event["code_system"],
        "code": event["code"],
        "value_num": event["value_num"],
        "unit": event["unit"],
        "source_file": file_id,
        "format": files[file_id]["format"],
        "source_path": files[file_id]["path"],
        "source_record": source["source_record"],
        "patient_key": source["patient_key"],
    }


def trace_patient(
    patient_id: str,
    *,
    timeline_dir: str | Path,
    raw_zone: str | Path,
    keyring: Any = None,
    role: str = "reviewer",
) -> pd.DataFrame:
    """Which source files and how many of their records made one patient's timeline.

    Returns
    -------
    pandas.DataFrame
        One row per source file: ``format``, ``source_path``, ``events``.
    """
    from twinlab.audit import audit_event
    from twinlab.security import require

    require(role, "read_patient_level")
    events = pd.read_parquet(
        Path(timeline_dir) / "events.parquet", columns=["patient_id", "source_file"]
    )
    mine = events[events["patient_id"] == patient_id]
    if mine.empty:
        raise KeyError(f"no patient {patient_id!r} in {timeline_dir}")
    _, files = _lineage(Path(raw_zone), keyring)
    audit_event("lineage.trace", patient_id, params={"role": role, "timeline": str(timeline_dir)})
    counts = mine.groupby("source_file").size()
    return pd.DataFrame(
        {
            "format": [files[f]["format"] for f in counts.index],
            "source_path": [files[f]["path"] for f in counts.index],
            "events": counts.to_numpy(),
        }
    ).sort_values("source_path", ignore_index=True)


def trace_quarantine(
    record_id: str,
    *,
    timeline_dir: str | Path,
    raw_zone: str | Path,
    keyring: Any = None,
    role: str = "reviewer",
) -> dict[str, Any]:
    """What one quarantined record (``rec-...`` in ``quarantine.parquet``) was, from the raw zone.

    The published quarantine holds only an opaque keyed id per record, the check and a reason
    without values; the pointer, the source file and the raw record stay encrypted in the raw
    zone (``quarantine_raw.parquet.enc``, ``files.json.enc``).

    Returns
    -------
    dict
        ``record_id``, ``check``, ``format``, ``source_path``, ``source_record``, ``reason``
        and ``raw`` (the record as the reader kept it).

    Raises
    ------
    KeyError
        If no quarantined record has this id.
    """
    from twinlab.audit import audit_event
    from twinlab.security import require

    require(role, "read_patient_level")
    public = pd.read_parquet(Path(timeline_dir) / "quarantine.parquet")
    if not (public["source_record"] == record_id).any():
        raise KeyError(f"no quarantined record {record_id!r} in {timeline_dir}")
    raw = pd.read_parquet(
        io.BytesIO(_raw_zone_table(Path(raw_zone), "quarantine_raw.parquet", keyring))
    )
    row = raw[raw["record_id"] == record_id].iloc[0]
    files = json.loads(_raw_zone_table(Path(raw_zone), "files.json", keyring))
    info = files.get(str(row.get("source_file")), {})
    audit_event("lineage.trace", record_id, params={"role": role, "timeline": str(timeline_dir)})
    return {
        "record_id": record_id,
        "check": row.get("check"),
        "format": row.get("format"),
        "source_path": info.get("path"),
        "source_record": row.get("source_record"),
        "reason": row.get("reason"),
        "raw": row.get("raw"),
    }


def source_record(trace: dict[str, Any], sources_root: str | Path) -> pd.Series:
    """Re-read the traced record from its source file, as its reader parses it.

    Parameters
    ----------
    trace
        A result of :func:`trace_event`.
    sources_root
        The folder that was ingested (``source_path`` is relative to it).

    Returns
    -------
    pandas.Series
        The reader's event for that record, in source units and source time.
    """
    from twinlab.ingest import read_file

    recorded = trace["source_path"]
    result = read_file(source_file(sources_root, recorded), label=recorded)
    rows = result.events[result.events["source_record"] == trace["source_record"]]
    if rows.empty:
        raise KeyError(f"{recorded} has no record {trace['source_record']!r}")
    return rows.iloc[0]


def source_file(sources_root: str | Path, recorded: str) -> Path:
    """The file under ``sources_root`` that the ingest recorded as ``recorded``.

    The ingest records a file name with each byte that is not UTF-8 as ``\\xNN`` and each
    backslash doubled (:func:`twinlab.ingest.run.printable_name`): one file per label, read
    back here. A label that does not read back so (a single backslash: recorded before
    backslashes were doubled) is the name as written.

    Parameters
    ----------
    sources_root : str or Path
        The folder that was ingested.
    recorded : str
        A ``source_path`` of a trace (relative to ``sources_root``).

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        When it does not exist (moved or renamed since the ingest).
    """
    from twinlab.ingest.run import printable_name

    root = Path(sources_root)
    name = _ESCAPE.sub(_unescape, recorded)
    path = root / (name if printable_name(name) == recorded else recorded)
    if not os.path.lexists(path):
        raise FileNotFoundError(
            f"source file {recorded!r} is not in {root} (moved or renamed since the ingest?)"
        )
    return path


def _unescape(match: re.Match[str]) -> str:
    """A backslash for ``\\\\``, the byte (a lone surrogate, PEP 383) for ``\\xNN``."""
    escape = match.group(1)
    return "\\" if escape == "\\" else chr(0xDC00 + int(escape[1:], 16))
