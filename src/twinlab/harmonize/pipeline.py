"""From raw sources to one de-identified, versioned patient timeline.

:func:`harmonize` runs the steps of DESIGN.md's data flow in order:

1. **read** every file with its registered reader (files as Dask partitions);
2. **link** persons across sources by exact identifiers (:mod:`.linkage`);
3. **align time**: SDTM clock times are localized with the site's UTC offset;
   events dated outside the plausible years are quarantined (:mod:`.validation`);
   genotypes (undated) are placed at the index date; the index date is the
   first dose (else the first event);
4. **harmonize vocabulary**: codes to LOINC/SNOMED/RxNorm and units to
   canonical UCUM (:mod:`twinlab.terminology`); a value that overflows in conversion is
   quarantined, one outside its plausible range quarantined or flagged (:mod:`.validation`);
5. **de-identify** by Safe Harbor (:func:`twinlab.deid.deidentify`);
6. **link events**: the same fact from two sources (``same_fact``, the copy
   flagged ``duplicate_of`` so it is not counted twice) and each observation to
   the dose before it (``dose_to_observation``);
7. **derive** baseline covariates (``cov_*``) and validate the timeline;
8. **report**: per-file counts (in = accepted + quarantined + exact duplicates; a file whose
   bytes repeat an earlier file's is all duplicates, ``copy_of`` that file; ``events_same_fact``
   counts the events flagged ``duplicate_of``), Kahn data-quality checks, and a PHI scan of every
   output file;
9. **reconcile**: every event a reader accepted is in the written timeline or in the
   written quarantine with a reason (undated events of a person with no dated event, such
   as the genotypes of a VCF sample linked to no patient, are quarantined as
   ``harmonize.unplaced``); a run that does not reconcile raises
   :class:`ReconciliationError` and publishes nothing.

Outputs in ``out_dir``: ``patients/events/links.parquet`` (the timeline),
``quarantine.parquet`` (check and reason, no raw record), ``report.json``,
``quality.json``. The raw zone (``raw_zone``) receives, encrypted with
AES-GCM, what still holds PHI: the crosswalk to pseudonyms, the source-file
names, the persons table and the raw quarantined records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.harmonize.linkage import link_persons, linkage_report
from twinlab.harmonize.quality import quality_report
from twinlab.harmonize.validation import check_dates, check_values
from twinlab.ingest.base import ReadResult
from twinlab.ingest.run import read_sources

__all__ = ["HarmonizeConfig", "HarmonizeResult", "ReconciliationError", "harmonize"]

log = logging.getLogger(__name__)

LOINC = "http://loinc.org"
#: Baseline covariates taken from events: column suffix -> "system|code".
DEFAULT_BASELINE: dict[str, str] = {
    "weight_kg": f"{LOINC}|29463-7",
    "height_cm": f"{LOINC}|8302-2",
    "creatinine_umol_l": f"{LOINC}|2160-0",
    "alt_u_l": f"{LOINC}|1742-6",
    "urate_umol_l": f"{LOINC}|3084-1",
}
#: Source formats in order of authority for the same fact (EDC before EHR before devices).
SOURCE_PRIORITY: tuple[str, ...] = ("sdtm", "odm", "fhir", "vcf", "wearables")


@dataclass(frozen=True)
class HarmonizeConfig:
    """Study-level settings of the harmonizer.

    Parameters
    ----------
    site_utc_offsets
        SDTM/ODM clock times carry no zone: the UTC offset of each site
        (``{"101": "-05:00"}``); sites not listed are taken as UTC and flagged.
    baseline
        Baseline covariates to derive (``cov_<name>``) from events.
    genes
        Pharmacogenes whose diplotype becomes a ``cov_<gene>`` covariate.
    same_fact_hours
        Two sources' events of the same patient and code within this many
        hours, with values within ``same_fact_rel_tol``, are one fact.
    same_fact_rel_tol
        Relative tolerance on values for the same fact (after unit conversion).
    identifier_aliases
        Identifier systems whose values live in another system's namespace, e.g.
        ``{"vcf_sample": "usubjid"}`` when a study's VCF names samples by USUBJID.
    scan_phi
        Scan every output file for identifiers from the inputs.
    implausible
        What happens to a value outside the plausible range of its code and unit
        (``terminology/tables/plausibility.csv``): ``"quarantine"`` (the default) or ``"flag"``
        (kept, with the qualifier ``implausible``).
    free_text
        Per source format (``fhir``, ``sdtm``...), what happens to narrative free text
        (``value_text``, textual ``orig_value`` of two words or more): ``"scrub"`` for a
        source whose free text was reviewed, else ``"drop"`` (the default for every format
        not listed). Code names (``display``) and one-word values are always scrubbed.
    """

    site_utc_offsets: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BASELINE))
    genes: tuple[str, ...] = ("CYP2C9",)
    same_fact_hours: float = 24.0
    same_fact_rel_tol: float = 0.01
    identifier_aliases: dict[str, str] = field(default_factory=dict)
    scan_phi: bool = True
    implausible: str = "quarantine"
    free_text: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.free_text.items() if v not in ("scrub", "drop")}
        if bad:
            raise ValueError(f"free_text: each format is 'scrub' or 'drop', not {bad}")


class ReconciliationError(ValueError):
    """The written timeline and quarantine do not account for every record read.

    A ``ValueError`` so that the command line reports it as one ``Error:`` line with a
    non-zero exit; it is raised before anything is published.
    """


@dataclass
class HarmonizeResult:
    """What :func:`harmonize` wrote and found."""

    out_dir: Path
    report: dict[str, Any]
    quality: dict[str, Any]
    phi_findings: list[Any]


def _file_ids(results: Sequence[ReadResult], key: Any) -> dict[str, str]:
    """A keyed id per source file: file names can hold PHI (Synthea names files after people)."""
    from twinlab.deid import pseudonym

    return {r.source_file: pseudonym("source_file", r.source_file, key=key, prefix="src-")
            for r in results}  # fmt: skip


def _declare_copies(
    results: Sequence[ReadResult], ids: dict[str, str]
) -> tuple[list[ReadResult], dict[str, str]]:
    """A file whose bytes equal an earlier file's: every record of it declared a duplicate.

    The same file delivered twice (under another name, in another folder) is read once: the
    copy keeps its ``records_in``, all of them counted in ``duplicates``, and no events,
    persons, quarantine rows or series of its own. Files with no accepted record are never
    called copies (two empty files each keep their own reason).

    Returns
    -------
    tuple of (list of ReadResult, dict)
        The results with each copy emptied, and the keyed id of each copy's first file by the
        copy's keyed id.
    """
    first: dict[str, str] = {}
    copy_of: dict[str, str] = {}
    out: list[ReadResult] = []
    for r in results:
        original = first.get(r.digest) if r.digest else None
        if original is None:
            if r.digest and r.records_accepted:
                first[r.digest] = ids[r.source_file]
            out.append(r)
            continue
        copy_of[ids[r.source_file]] = original
        out.append(
            ReadResult(r.source_file, r.format, records_in=r.records_in, records_accepted=0,
                       duplicates=r.records_in, digest=r.digest)
        )  # fmt: skip
    return out, copy_of


def _collect(results: Sequence[ReadResult], ids: dict[str, str]) -> tuple[pd.DataFrame, ...]:
    events, persons, quarantine = [], [], []
    for r in results:  # the columns added once, after one concatenation (no copy per file)
        if len(r.events):
            events.append((r.events, r.format, ids[r.source_file]))
        if len(r.persons):
            persons.append((r.persons, r.format, None))
        if len(r.quarantine):
            quarantine.append((r.quarantine, r.format, ids[r.source_file]))
    return _cat(events), _cat(persons, with_file=False), _cat(quarantine)


def _cat(parts: list[tuple[pd.DataFrame, str, str | None]], with_file: bool = True) -> pd.DataFrame:
    """Concatenate reader tables, adding ``format`` (and ``source_file``) per row."""
    if not parts:
        return pd.DataFrame()
    out = pd.concat([p[0] for p in parts], ignore_index=True)
    sizes = [len(p[0]) for p in parts]
    out["format"] = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
    if with_file:
        out["source_file"] = np.repeat(np.array([p[2] for p in parts], dtype=object), sizes)
    return out


def _identifiers(
    persons: pd.DataFrame, aliases: dict[str, str]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Identifiers per (format, source_patient), e-mail addresses included for linkage."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in persons.itertuples(index=False):
        node = (row.format, str(row.source_patient))
        pairs = [(aliases.get(str(s), str(s)), str(v)) for s, v in (row.identifiers or [])]
        phi = row.phi if isinstance(row.phi, dict) else {}
        emails = phi.get("email") or []
        for email in [emails] if isinstance(emails, str) else emails:
            pairs.append(("email", str(email).strip().lower()))
        found.setdefault(node, []).extend(pairs)
    return found


def _link(
    events: pd.DataFrame, persons: pd.DataFrame, aliases: dict[str, str]
) -> tuple[pd.Series, pd.DataFrame]:
    """Patient key per (format, source_patient), and the pairs left for review."""
    keys = set(zip(events["format"], events["source_patient"].astype(str), strict=True))
    keys |= set(zip(persons["format"], persons["source_patient"].astype(str), strict=True))
    table = link_persons(keys, _identifiers(persons, aliases))
    return table.set_index(["format", "source_patient"])["patient_key"], table.attrs["review"]


def _rekey(frame: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([frame["format"], frame["source_patient"].astype(str)])
    out = frame.copy()
    out["source_patient"] = keys.reindex(index).to_numpy()
    return out


def _localize_site_times(
    events: pd.DataFrame, persons: pd.DataFrame, offsets: dict[str, str]
) -> pd.DataFrame:
    """Turn EDC clock times (read as UTC) into true UTC with the site's offset."""
    quals = events["qualifiers"]
    naive = quals.map(lambda q: isinstance(q, dict) and q.get("tz_assumed") == "UTC")
    if not naive.any():
        return events
    site = persons.dropna(subset=["site"]).drop_duplicates("source_patient")
    site_of = site.set_index("source_patient")["site"].astype(str)
    sites = events.loc[naive, "source_patient"].map(site_of)
    delta = sites.map(lambda s: _offset(offsets.get(str(s))) if isinstance(s, str) else None)
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


def _offset(text: str | None) -> float | None:
    """Hours of a ``±HH:MM`` offset."""
    if not text:
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * (int(hours) + int(minutes or 0) / 60)


def _index_dates(events: pd.DataFrame) -> pd.Series:
    """First dose per patient, else first dated event."""
    dated = events[events["time"].notna()]
    first_dose = dated[dated["domain"] == "dose"].groupby("source_patient")["time"].min()
    first_any = dated.groupby("source_patient")["time"].min()
    return first_dose.combine_first(first_any)


def _place_undated(events: pd.DataFrame, index: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Undated events at their person's index date; ``(placed, unplaced)``.

    An undated event of a person with no dated event (a VCF sample linked to no patient) has
    no place in a timeline: it is returned in ``unplaced``, to be quarantined, never dropped.
    """
    undated = events["time"].isna()
    if undated.any():
        events.loc[undated, "time"] = events.loc[undated, "source_patient"].map(index)
        events.loc[undated, "qualifiers"] = [
            {**(q if isinstance(q, dict) else {}), "time_imputed": "index_date"}
            for q in events.loc[undated, "qualifiers"]
        ]
    placed = events["time"].notna()
    return events[placed].copy(), events[~placed].copy()


def _unplaced_quarantine(unplaced: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows (one per event) for the events :func:`_place_undated` could not place."""
    cols = ["source_record", "check", "reason", "raw", "format", "source_file"]
    if unplaced.empty:
        return pd.DataFrame(columns=cols)
    reason = (
        "undated event of a person with no dated event (e.g. a VCF sample linked to no "
        "patient): it cannot be placed in a timeline"
    )
    raw = [
        _json({"source_record": r, "domain": d, "code": c, "value_text": v, "patient_key": k})
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


def _reconcile(
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


def _same_facts(events: pd.DataFrame, hours: float, rel_tol: float) -> pd.DataFrame:
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


def _dose_links(events: pd.DataFrame) -> pd.DataFrame:
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


def _genotype_covariates(events: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    from twinlab.ingest.vcf import diplotype

    calls = events[events["domain"] == "genomic_variant"]
    out: dict[str, dict[str, Any]] = {}
    for gene in genes:
        for patient, group in calls.groupby("source_patient"):
            out.setdefault(patient, {})[f"cov_{gene.lower()}"] = diplotype(group, gene)
    return pd.DataFrame.from_dict(out, orient="index")


def harmonize(
    paths: Sequence[str | Path],
    *,
    out_dir: str | Path,
    raw_zone: str | Path,
    config: HarmonizeConfig | None = None,
    client: Any = None,
    key: Any = None,
    keyring: Any = None,
) -> HarmonizeResult:
    """Read, link, normalize, de-identify and write a patient timeline.

    Parameters
    ----------
    paths
        Source files and folders, any mix of supported formats.
    out_dir
        Folder for the de-identified outputs.
    raw_zone
        Folder for the encrypted identified material (crosswalk, file names,
        persons, raw quarantined records); never the same as ``out_dir``.
    config
        Study settings (:class:`HarmonizeConfig`).
    client
        A Dask client to read files in parallel.
    key
        The de-identification key (default: :func:`twinlab.deid.load_key`).
    keyring
        The master keyring for the raw zone (default:
        :func:`twinlab.security.crypto.load_keyring`).

    Returns
    -------
    HarmonizeResult
        With ``phi_findings`` non-empty, nothing was published: the outputs were written to a
        private staging folder beside ``out_dir``, scanned there and removed, and ``out_dir``
        and ``raw_zone`` are as they were. A clean run replaces both folders whole and
        atomically (no file of a previous run survives; a kill leaves the previous version),
        with files ``0600`` and folders ``0700`` unless ``TWINLAB_FILE_MODE`` says otherwise.

    Raises
    ------
    ReconciliationError
        When the written timeline and quarantine do not account for every record and event
        the readers accepted (:func:`_reconcile`); nothing is published.
    ValueError
        When the raw zone lies inside ``out_dir`` or no source yields a usable event.
    """
    from twinlab.deid import deidentify, identifiers_from, load_key, pseudonym, scan_for_phi
    from twinlab.deid.engine import ENGINE
    from twinlab.deid.policy import apply_policy, field_policy
    from twinlab.security.crypto import encrypt_bytes, load_keyring
    from twinlab.terminology import map_codes, normalize_units
    from twinlab.timeline import Cohort, coerce_table

    cfg = config or HarmonizeConfig()
    out, zone = Path(out_dir), Path(raw_zone)
    if out.resolve() == zone.resolve() or zone.resolve().is_relative_to(out.resolve()):
        raise ValueError("the raw zone must not lie inside the de-identified output folder")
    key = key if key is not None else load_key()
    keyring = keyring if keyring is not None else load_keyring()

    read = read_sources(paths, client=client)
    ids = _file_ids(read, key)
    results, copy_of = _declare_copies(read, ids)
    events, persons, quarantine = _collect(results, ids)
    if events.empty:
        raise ValueError(f"no usable events in {', '.join(map(str, paths))}")
    if persons.empty:
        persons = pd.DataFrame(columns=["source_patient", "identifiers", "sex", "birth_date",
                                        "deceased", "site", "phi", "format"])  # fmt: skip
    keys, review = _link(events, persons, cfg.identifier_aliases)
    events, persons = _rekey(events, keys), _rekey(persons, keys)
    events = _localize_site_times(events, persons, cfg.site_utc_offsets)
    events, rejected = check_dates(events)  # before the index dates: no year 1 or 10000
    index = _index_dates(events)
    events, unplaced = _place_undated(events, index)
    if not unplaced.empty:
        quarantine = pd.concat([quarantine, _unplaced_quarantine(unplaced)], ignore_index=True)
    unplaced_per_file = unplaced["source_file"].value_counts()
    genotypes = _genotype_covariates(events, cfg.genes)
    arms = _arms(events)
    events, bad_values = check_values(normalize_units(map_codes(events)), cfg.implausible)
    rejected = pd.concat([rejected, bad_values], ignore_index=True)
    if not rejected.empty:  # quarantined per event, counted with the file's events
        quarantine = pd.concat([quarantine, rejected], ignore_index=True)
        unplaced_per_file = unplaced_per_file.add(
            rejected["source_file"].value_counts(), fill_value=0
        )

    # Event ids come from the keyed file id and the raw record pointer, before scrubbing
    # collapses pointers that embed identifiers (a VCF sample id, say).
    from twinlab.timeline import add_row_hash, event_id

    eids = event_id(events["source_file"], events["source_record"]).to_numpy()
    drop_text = events["format"].map(lambda f: cfg.free_text.get(str(f), "drop") != "scrub")
    patients, events_d, crosswalk = deidentify(
        persons, events, key=key, reference_dates=index, drop_free_text=drop_text.to_numpy()
    )
    free_text_dropped = int(events_d.attrs.get("free_text_dropped", 0))
    reader_columns_dropped = sorted(set(events_d.attrs.get("dropped_columns", [])) - {"format"})
    if len(events_d) != len(eids):
        raise AssertionError("de-identification changed the number of events")
    fmt = events["format"].to_numpy()
    events_d["format"] = fmt
    pseudo = crosswalk.set_index("source_patient")["patient_id"]
    events_d["qualifiers"] = events_d["qualifiers"].map(_json)
    events_d = coerce_table("events", events_d.drop(columns=["format"]).assign(
        event_id="", row_hash=""))  # fmt: skip
    events_d, policy_events = apply_policy("events", events_d)
    events_d["event_id"] = eids
    events_d["format"] = fmt
    index_d = patients.set_index("patient_id")["index_date"]
    events_d["hours_from_index"] = (
        events_d["time"] - events_d["patient_id"].map(index_d)
    ).dt.total_seconds() / 3600
    dupes = _same_facts(events_d, cfg.same_fact_hours, cfg.same_fact_rel_tol)
    dup_of = dupes.set_index("event_id")["event_id_p"]
    flagged = events_d["event_id"].isin(dup_of.index)
    events_d.loc[flagged, "qualifiers"] = [
        _json({**json.loads(q), "duplicate_of": dup_of[e]})
        for q, e in zip(events_d.loc[flagged, "qualifiers"], events_d.loc[flagged, "event_id"],
                        strict=True)
    ]  # fmt: skip
    links = pd.concat(
        [
            _dose_links(events_d),
            pd.DataFrame({
                "from_event_id": dupes["event_id"], "to_event_id": dupes["event_id_p"],
                "relation": "same_fact",
                "lag_hours": (dupes["time"] - dupes["time_p"]).dt.total_seconds() / 3600,
            }),
        ],
        ignore_index=True,
    )  # fmt: skip
    events_d = add_row_hash(events_d.drop(columns=["format"]))

    for frame, prefix in ((genotypes, ""), (arms, "")):
        if not frame.empty:
            frame.index = frame.index.map(pseudo)
            for col in frame.columns:
                patients[prefix + col] = patients["patient_id"].map(frame[col]).astype("str")
    cohort = Cohort(patients, events_d, links, validate=False)
    base = (
        cohort.covariates({f"cov_{k}": v for k, v in cfg.baseline.items()}) if len(cohort) else None
    )
    if base is not None:
        for col in base.columns:
            if col.startswith("cov_") and col not in patients:
                values = patients["patient_id"].map(base[col])
                patients[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    patients, policy_patients = apply_policy("patients", patients)
    cohort = Cohort(patients, events_d, links)

    # Publish only when clean (issues 14 and 15): write to private staging folders beside
    # --out and the raw zone, scan there, and swap both into place only after a clean scan.
    from twinlab.security.filemodes import publish_dir, restrict_tree

    final_out, final_zone = out, zone
    out, zone = _staging(final_out), _staging(final_zone)
    cohort.write(out)
    n_series = _write_series(results, keys, crosswalk, out)

    scrubber = _scrubber(persons)
    # A quarantined record is published as an opaque keyed id: its pointer (which may embed
    # a patient key or sample name) and the raw record stay in the raw zone, by that id.
    quarantine = quarantine.reset_index(drop=True)
    quarantine["record_id"] = [
        pseudonym("quarantine_record", f"{f}|{r}|{i}", key=key, prefix="rec-")
        for i, (f, r) in enumerate(zip(quarantine.get("source_file", pd.Series(dtype=str)),
                                       quarantine.get("source_record", pd.Series(dtype=str)),
                                       strict=True))
    ]  # fmt: skip
    public_q = pd.DataFrame(
        {
            "source_file": quarantine.get("source_file", pd.Series(dtype=str)),
            "format": quarantine.get("format", pd.Series(dtype=str)),
            "source_record": quarantine["record_id"],
            "check": quarantine.get("check", pd.Series(dtype=str)),
            "reason": scrubber(quarantine.get("reason", pd.Series(dtype=str))),
        }
    ).astype("str")
    public_q.to_parquet(out / "quarantine.parquet", index=False)

    file_counts = [{**r.counts, "source_file": ids[r.source_file]} for r in results]
    same_fact_per_file = events_d.loc[flagged, "source_file"].value_counts()
    for c in file_counts:
        c["events_quarantined"] = int(unplaced_per_file.get(c["source_file"], 0))
        c["events_same_fact"] = int(same_fact_per_file.get(c["source_file"], 0))
        if c["source_file"] in copy_of:
            c["copy_of"] = copy_of[c["source_file"]]
    written = pd.read_parquet(out / "events.parquet", columns=["source_file"])["source_file"]
    problems = _reconcile(
        file_counts, written, pd.read_parquet(out / "quarantine.parquet")["source_file"]
    )
    if problems:  # nothing is published; --out and the raw zone stay as they were
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(zone, ignore_errors=True)
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        raise ReconciliationError(
            f"ingest does not reconcile (records in = timeline + quarantined + duplicates): "
            f"{shown}; nothing was published ({final_out} and {final_zone} are as they were)"
        )
    per_file = written.astype(str).value_counts()
    for c in file_counts:
        c["events_in_timeline"] = int(per_file.get(c["source_file"], 0))
    report = _report(file_counts, cohort, links)
    report["linkage"] = linkage_report(review, lambda node: pseudo.get(keys.get(node)))
    report["timeline"]["raw_series"] = n_series
    report["unmapped_codes"] = _unmapped(cohort.events)
    report["field_policy"] = {
        "events": policy_events,
        "patients": policy_patients,
        "free_text_dropped": free_text_dropped,
        "reader_columns_dropped": reader_columns_dropped,
        "qualifiers_dropped": sorted(field_policy().get("drop_qualifiers", [])),
        "free_text": {f: cfg.free_text.get(f, "drop") for f in sorted(set(events["format"]))},
        "engine": ENGINE,
    }
    quality = quality_report(cohort.patients, cohort.events, public_q, file_counts)
    _write_json(out / "report.json", report)
    _write_json(out / "quality.json", quality)

    labels = {v: k for k, v in ids.items()}
    raw_files = {
        "crosswalk.parquet": _parquet_bytes(crosswalk),
        "files.json": json.dumps(
            {ids[r.source_file]: {"path": r.source_file, "format": r.format} for r in read},
            indent=2,
            sort_keys=True,
        ).encode(),
        "lineage.parquet": _parquet_bytes(
            pd.DataFrame(
                {
                    "event_id": eids,
                    "source_file": events["source_file"].map(labels),
                    "source_record": events["source_record"].astype(str),
                    "patient_key": events["source_patient"].astype(str),
                }
            )
        ),
        "persons.parquet": _parquet_bytes(persons.astype({"identifiers": str, "phi": str})),
        "quarantine_raw.parquet": _parquet_bytes(quarantine.astype(str)),
    }
    for name, data in raw_files.items():
        (zone / f"{name}.enc").write_bytes(encrypt_bytes(data, context=name, keyring=keyring))

    findings: list[Any] = []
    if cfg.scan_phi:
        findings = scan_for_phi(
            sorted(out.rglob("*")),
            identifiers_from(persons),
            text_columns=("display", "value_text", "orig_value"),
        )
        report["phi_scan"] = {"files": len(list(out.rglob("*.*"))), "findings": len(findings)}
        _write_json(out / "report.json", report)
    if findings:  # nothing is published; --out and the raw zone stay as they were
        findings = [
            dataclasses.replace(f, file=str(f.file).replace(str(out), str(final_out), 1))
            for f in findings
        ]
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(zone, ignore_errors=True)
        return HarmonizeResult(final_out, report, quality, findings)
    for staged, final in ((zone, final_zone), (out, final_out)):
        restrict_tree(staged)
        publish_dir(staged, final)
    out, zone = final_out, final_zone
    from twinlab.audit import audit_stage

    audit_stage(
        "harmonize",
        params={k: v for k, v in vars(cfg).items() if k != "scan_phi"},
        inputs=paths,
        outputs=[out, zone],
        summary={"totals": report["totals"], "reconciles": report["reconciles"],
                 "phi_findings": len(findings), "quality": quality["summary"]["overall"]},
    )  # fmt: skip
    return HarmonizeResult(out, report, quality, findings)


#: Attributes of a raw series that identify no one and are kept.
SERIES_ATTRS = ("format", "device", "epoch", "epoch_s", "tz_offset", "tz_offset_assumed")


def _write_series(
    results: Sequence[ReadResult], keys: pd.Series, crosswalk: pd.DataFrame, out: Path
) -> int:
    """Raw regular series (per-minute wearables) as one zarr DataTree, de-identified.

    Each series becomes the group ``/<pseudonym>`` (``/<pseudonym>_2``... for more
    devices), its time axis shifted by the patient's date shift, its device serial
    and any other identifying attribute dropped.
    """
    import xarray as xr

    shift = crosswalk.set_index("source_patient")
    groups: dict[str, xr.Dataset] = {}
    for r in results:
        for name, ds in sorted(r.series.items()):
            if not isinstance(ds, xr.Dataset) or "time" not in ds.coords:
                continue
            key = keys.get((r.format, str(ds.attrs.get("source_patient", name))))
            if key is None or key not in shift.index:
                continue
            pid, days = shift.loc[key, "patient_id"], int(shift.loc[key, "shift_days"])
            moved = ds.assign_coords(time=ds["time"] + np.timedelta64(days, "D"))
            moved.attrs = {k: ds.attrs[k] for k in SERIES_ATTRS if k in ds.attrs}
            label, n = pid, 1
            while label in groups:
                n += 1
                label = f"{pid}_{n}"
            groups[label] = moved
    target = out / "series.zarr"
    if groups:
        xr.DataTree.from_dict(groups).to_zarr(target, mode="w", consolidated=False)
    return len(groups)


def _arms(events: pd.DataFrame) -> pd.DataFrame:
    """Planned arm per patient from SDTM DM (``cov_armcd``), where present."""
    dm = events[(events["domain"] == "demographic") & (events["code"] == "ARM")]
    if dm.empty:
        return pd.DataFrame()
    armcd = dm.set_index("source_patient")["qualifiers"].map(lambda q: q.get("armcd"))
    return pd.DataFrame({"cov_armcd": armcd[~armcd.index.duplicated()]})


def _unmapped(events: pd.DataFrame, top: int = 25) -> list[dict[str, Any]]:
    """The most frequent codes left unmapped (kept as given, never guessed)."""
    flagged = events[events["qualifiers"].str.contains('"unmapped": true', regex=False, na=False)]
    counts = flagged.groupby(["domain", "code_system", "code"]).size().rename("events")
    counts = counts.sort_values(ascending=False, kind="stable").head(top).reset_index()
    return counts.to_dict("records")


def _scrubber(persons: pd.DataFrame):
    from twinlab.deid import TextScrubber, identifiers_from

    scrub = TextScrubber(identifiers_from(persons))
    return lambda s: scrub.scrub_series(s.astype("str")) if len(s) else s


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value or {}, sort_keys=True, default=str, ensure_ascii=False)


def _report(file_counts: list[dict[str, Any]], cohort: Any, links: pd.DataFrame) -> dict[str, Any]:
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


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _staging(target: Path) -> Path:
    """A new private folder beside ``target`` (same file system, so it can be renamed over it).

    Staging folders left by a killed run are removed first, and a publish cut off between its
    two renames is undone (:func:`twinlab.security.filemodes.recover`).
    """
    from twinlab.security.filemodes import dir_mode, recover

    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    for stale in target.parent.glob(f".{target.name}.staging-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if not (pid.isdigit() and _alive(int(pid))):  # a concurrent run keeps its own
            shutil.rmtree(stale, ignore_errors=True)
    path = target.parent / f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=dir_mode())
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
