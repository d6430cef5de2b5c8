"""Counting: per-file counts, the reconciliation check and the ingestion report.

Pure functions (no I/O): :func:`file_counts`, :func:`reconcile` (of counts against the
``source_file`` columns read back from the written files), :func:`ingest_report` and
:func:`unmapped_codes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from twinlab.ingest.base import ReadResult

__all__ = ["ReconciliationError", "file_counts", "ingest_report", "reconcile", "unmapped_codes"]


class ReconciliationError(ValueError):
    """The written timeline and quarantine do not account for every record read.

    A ``ValueError`` so that the command line reports it as one ``Error:`` line with a
    non-zero exit; it is raised before anything is published.
    """


def file_counts(
    results: Sequence[ReadResult],
    ids: Mapping[str, str],
    events_quarantined: pd.Series,
    events_same_fact: pd.Series,
    copy_of: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The reader's counts of each file (by keyed id) with what harmonize did to its events.

    Parameters
    ----------
    results : sequence of ReadResult
        The files read (copies emptied: :func:`twinlab.harmonize.sources.declare_copies`).
    ids : mapping
        Keyed file id by file name.
    events_quarantined, events_same_fact : pandas.Series
        Per keyed file id: events quarantined at harmonize, events flagged ``duplicate_of``.
    copy_of : mapping
        The first file's keyed id by the keyed id of a file delivered twice.

    Returns
    -------
    list of dict
        :attr:`ReadResult.counts` plus ``events_quarantined``, ``events_same_fact`` and, for a
        copy, ``copy_of``; ``events_in_timeline`` is added once the timeline is written.
    """
    out = [{**r.counts, "source_file": ids[r.source_file]} for r in results]
    for c in out:
        c["events_quarantined"] = int(events_quarantined.get(c["source_file"], 0))
        c["events_same_fact"] = int(events_same_fact.get(c["source_file"], 0))
        if c["source_file"] in copy_of:
            c["copy_of"] = copy_of[c["source_file"]]
    return out


def reconcile(
    file_counts: list[dict[str, Any]], written_events: pd.Series, written_quarantine: pd.Series
) -> list[str]:
    """Check every file's counts against what was written; the failures, one line each.

    Per source file (by its keyed id): ``records_in = accepted + quarantined + duplicates``
    (the reader's promise; exact copies of a record are read once and declared, and every
    record of a file whose bytes repeat an earlier file's is a declared duplicate),
    ``events = in the timeline + quarantined at harmonize`` (every accepted event is
    written or quarantined with a reason; the same fact from two files stays in the timeline,
    the second copy flagged ``duplicate_of`` and counted in ``events_same_fact``), and the
    written quarantine holds a row for each quarantined record and event. Timeline events of
    no known file are a failure too.

    Parameters
    ----------
    file_counts : list of dict
        Per-file counts with ``source_file``, ``records_in``, ``accepted``, ``quarantined``,
        ``events``, ``events_quarantined`` and ``events_in_timeline``.
    written_events, written_quarantine : pandas.Series
        The ``source_file`` column of the written ``events.parquet`` and
        ``quarantine.parquet``.

    Returns
    -------
    list of str
        Empty when everything reconciles.
    """
    in_timeline = written_events.astype(str).value_counts()
    in_quarantine = written_quarantine.astype(str).value_counts()
    problems: list[str] = []
    for c in file_counts:
        f = str(c["source_file"])
        n_time, n_q = int(in_timeline.get(f, 0)), int(in_quarantine.get(f, 0))
        dups = int(c.get("duplicates", 0))
        if c["records_in"] != c["accepted"] + c["quarantined"] + dups:
            problems.append(
                f"{f}: {c['records_in']} records in != {c['accepted']} accepted + "
                f"{c['quarantined']} quarantined + {dups} duplicates"
            )
        if c["events"] != n_time + c["events_quarantined"]:
            problems.append(
                f"{f}: {c['events']} events accepted != {n_time} in the written timeline + "
                f"{c['events_quarantined']} quarantined"
            )
        if n_q != c["quarantined"] + c["events_quarantined"]:
            problems.append(
                f"{f}: {n_q} quarantine rows written != {c['quarantined']} records + "
                f"{c['events_quarantined']} events quarantined"
            )
    stray = len(written_events) - sum(
        int(in_timeline.get(str(c["source_file"]), 0)) for c in file_counts
    )
    if stray:
        problems.append(f"{stray} timeline events belong to no source file read")
    return problems


def ingest_report(
    file_counts: list[dict[str, Any]], cohort: Any, links: pd.DataFrame
) -> dict[str, Any]:
    """``report.json``'s files, totals, reconciliation flag and timeline sizes."""
    keys = ("records_in", "accepted", "quarantined", "duplicates", "events",
            "events_in_timeline", "events_quarantined", "events_same_fact")  # fmt: skip
    totals = {k: sum(int(c[k]) for c in file_counts) for k in keys}
    totals["files_copied"] = sum("copy_of" in c for c in file_counts)
    return {
        "files": sorted(file_counts, key=lambda c: c["source_file"]),
        "totals": totals,
        "reconciles": all(
            c["records_in"] == c["accepted"] + c["quarantined"] + c["duplicates"]
            and c["events"] == c["events_in_timeline"] + c["events_quarantined"]
            for c in file_counts
        ),
        "timeline": {
            "patients": len(cohort.patients),
            "events": len(cohort.events),
            "links": {k: int(v) for k, v in links["relation"].value_counts().sort_index().items()},
            "duplicates_linked": int((links["relation"] == "same_fact").sum()),
        },
    }


def patients_without_person(
    events: pd.DataFrame, persons: pd.DataFrame, patient_of: Any, top: int = 50
) -> dict[str, Any]:
    """Patients with events whose person record (FHIR Patient, SDTM DM, ODM subject...) no
    file read holds, for ``report.json`` (a warning: their demographics are unknown).

    The FHIR reader keeps a ``Patient/123`` reference to a patient not in its file (a split
    NDJSON export holds Patients in a file of their own); when no file holds that Patient
    either, the patient has events and no sex, birth date or site. Not quarantined: the
    events are real, the missing file is what to look for.

    Parameters
    ----------
    events, persons : pandas.DataFrame
        The linked reader tables (``source_patient`` = patient key; ``format``).
    patient_of
        Patient key -> the patient's public (pseudonymous) id.
    top : int
        Most patient ids listed.

    Returns
    -------
    dict
        ``patients`` (count), ``events`` (their events), ``events_by_format``,
        ``patient_ids`` (the first ``top``, public ids) and ``note`` (what to check).
    """
    held = set(persons["source_patient"].astype(str))
    keys = events["source_patient"].astype(str)
    lacking = events[~keys.isin(held)]
    ids = sorted({str(patient_of(k)) for k in set(lacking["source_patient"].astype(str))})
    by_format = lacking["format"].astype(str).value_counts().sort_index()
    return {
        "patients": len(ids),
        "events": len(lacking),
        "events_by_format": {str(k): int(v) for k, v in by_format.items()},
        "patient_ids": ids[:top],
        "note": (
            "events refer to patients that no file read holds (a FHIR Patient/<id> reference "
            "without the Patient resource, e.g. a split NDJSON export read without its "
            "Patient file; lab rows without a DM row): these patients have no sex, birth "
            "date or site"
        ),
    }


def unmapped_codes(events: pd.DataFrame, top: int = 25) -> list[dict[str, Any]]:
    """The most frequent codes left unmapped (kept as given, never guessed)."""
    flagged = events[events["qualifiers"].str.contains('"unmapped": true', regex=False, na=False)]
    counts = flagged.groupby(["domain", "code_system", "code"]).size().rename("events")
    counts = counts.sort_values(ascending=False, kind="stable").head(top).reset_index()
    return counts.to_dict("records")
