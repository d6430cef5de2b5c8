"""From raw sources to one de-identified, versioned patient timeline.

:func:`harmonize` runs the steps of DESIGN.md's data flow in order: it reads the files
(:func:`twinlab.ingest.read_sources`), computes the timeline with :func:`build_timeline` (pure
table functions, each in the module named by what it does, each tested on small frames), and
hands the result to the one writer, :func:`twinlab.harmonize.writer.publish`. The steps:

1. **read** every file with its registered reader (files as Dask partitions); a file whose
   bytes repeat an earlier file's is a declared copy (:mod:`.sources`);
2. **link** persons across sources by exact identifiers (:mod:`.linkage`);
3. **align time**: SDTM clock times are localized with the site's UTC offset;
   events dated outside the plausible years are quarantined (:mod:`.validation`);
   genotypes (undated) are placed at the index date; the index date is the
   first dose (else the first event) (:mod:`.timing`);
4. **harmonize vocabulary**: codes to LOINC/SNOMED/RxNorm and units to
   canonical UCUM (:mod:`twinlab.terminology`); a value that overflows in conversion is
   quarantined, one outside its plausible range quarantined or flagged (:mod:`.validation`);
5. **de-identify** by Safe Harbor (:func:`twinlab.deid.deidentify`), with the display
   vocabulary of the configuration and of the define.xml files of the SDTM folders read
   (:mod:`twinlab.ingest.define`; lineage under ``field_policy.define_xml`` of the report);
6. **link events**: the same fact from two files (``same_fact``, the copy
   flagged ``duplicate_of`` so it is not counted twice) and each observation to
   the dose before it (``dose_to_observation``) (:mod:`.facts`);
7. **derive** baseline covariates (``cov_*``) and validate the timeline (:mod:`.covariates`);
8. **report**: per-file counts (in = accepted + quarantined + exact duplicates; a file whose
   bytes repeat an earlier file's is all duplicates, ``copy_of`` that file; ``events_same_fact``
   counts the events flagged ``duplicate_of``), Kahn data-quality checks, and a PHI scan of every
   output file (:mod:`.accounting`, :mod:`.quality`, :mod:`.writer`);
9. **reconcile**: every event a reader accepted is in the written timeline or in the
   written quarantine with a reason (undated events of a person with no dated event, such
   as the genotypes of a VCF sample linked to no patient, are quarantined as
   ``harmonize.unplaced``); a run that does not reconcile raises
   :class:`ReconciliationError` and publishes nothing (:mod:`.writer`).

Outputs in ``out_dir``: ``patients/events/links.parquet`` (the timeline),
``quarantine.parquet`` (check and reason, no raw record), ``report.json``,
``quality.json``. The raw zone (``raw_zone``) receives, encrypted with
AES-GCM, what still holds PHI: the crosswalk to pseudonyms, the source-file
names, the persons table and the raw quarantined records.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from twinlab.harmonize.accounting import (
    ReconciliationError,
    file_counts,
    patients_without_person,
    unmapped_codes,
)
from twinlab.harmonize.covariates import (
    arms,
    genotype_covariates,
    with_baseline_covariates,
    with_source_covariates,
)
from twinlab.harmonize.facts import LOINC, event_links, flag_duplicates, json_text, same_facts
from twinlab.harmonize.linkage import linkage_report, patient_keys, rekey
from twinlab.harmonize.series import deidentified_series
from twinlab.harmonize.sources import collect, declare_copies, file_ids
from twinlab.harmonize.timing import (
    index_dates,
    localize_site_times,
    place_undated,
    unplaced_quarantine,
)
from twinlab.harmonize.validation import check_dates, check_values
from twinlab.harmonize.writer import Harmonized, HarmonizeResult, publish
from twinlab.ingest.base import ReadResult
from twinlab.ingest.run import read_sources

if TYPE_CHECKING:
    from twinlab.deid.vocabulary import CodedVocabulary

log = logging.getLogger(__name__)

__all__ = [
    "HarmonizeConfig",
    "HarmonizeResult",
    "Harmonized",
    "ReconciliationError",
    "build_timeline",
    "harmonize",
]

#: Baseline covariates taken from events: column suffix -> "system|code".
DEFAULT_BASELINE: dict[str, str] = {
    "weight_kg": f"{LOINC}|29463-7",
    "height_cm": f"{LOINC}|8302-2",
    "creatinine_umol_l": f"{LOINC}|2160-0",
    "alt_u_l": f"{LOINC}|1742-6",
    "urate_umol_l": f"{LOINC}|3084-1",
}


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
        not listed). Code names (``display``) and one-word values are always scrubbed,
        except the names of declared concepts (``vocabulary``, ``products``).
    vocabulary
        The study's own coded-concept names, ``{system, code, display}`` each: a display of
        that coding is published verbatim (:mod:`twinlab.deid.vocabulary`; the terminology
        tables shipped with twinlab count too).
    products
        Names of the study drugs and products (``Twinurostat``): a display equal to one is
        published verbatim. Each entry and name is checked for identifiers when declared.
    age_reference
        The release date (ISO ``YYYY-MM-DD``) at which every patient's age is also taken for
        the Safe Harbor age rule: a birth year is published only for a patient at most 89 on
        it (and at their latest data). Default: the day of the run (UTC); a pipeline pins it
        so its outputs do not change with the calendar. Recorded in the report
        (``field_policy.age_reference``).
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
    vocabulary: tuple[Mapping[str, str], ...] = ()
    products: tuple[str, ...] = ()
    age_reference: str | None = None

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.free_text.items() if v not in ("scrub", "drop")}
        if bad:
            raise ValueError(f"free_text: each format is 'scrub' or 'drop', not {bad}")
        check_age_reference(self.age_reference)
        self.coded_vocabulary()  # an entry that looks like an identifier stops here

    def coded_vocabulary(self) -> CodedVocabulary:
        """The display vocabulary: shipped tables, ``vocabulary`` and ``products``."""
        from twinlab.deid.vocabulary import CodedVocabulary, shipped_vocabulary

        declared = CodedVocabulary(
            self.vocabulary, products=self.products, where="harmonize.vocabulary"
        )
        return shipped_vocabulary() | declared


def check_age_reference(value: str | None) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is None or an ISO date
    (:attr:`HarmonizeConfig.age_reference`, ``harmonize.age_reference`` of ``params.yaml``)."""
    if value is None:
        return
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"age_reference {value!r} is not a date; write e.g. age_reference: '2026-12-01'"
        ) from None


#: Columns of an empty persons table (no file described a person).
_PERSON_COLUMNS = ["source_patient", "identifiers", "sex", "birth_date", "deceased", "site",
                   "phi", "format"]  # fmt: skip


def _nothing_usable(
    read: Sequence[ReadResult],
    quarantine: pd.DataFrame,
    ids: dict[str, str],
    sources: Sequence[str | Path],
) -> str:
    """Why a run has no event: what was read and quarantined, by check, with one example.

    The example names its file by the keyed file id (``twinlab lineage`` traces it through
    the raw zone), not by its name, and its reason scrubbed: an error message ends up in
    unencrypted logs, and a raw file's name (``Ingleby_Rosamund_MRN77120459.csv``) or a
    reader's reason can carry patient names, as the ingest's own log lines never do
    (:func:`twinlab.ingest.run._failed`)."""
    from twinlab.deid.text import TextScrubber

    where = ", ".join(map(str, sources)) or "the sources"
    records = sum(r.records_in for r in read)
    msg = f"no usable events in {where}: {len(read)} file(s), {records} record(s) read"
    if quarantine.empty or "check" not in quarantine:
        return msg
    checks = quarantine["check"].astype(str).value_counts()
    by_check = ", ".join(f"{c} {n}" for c, n in checks.items())
    first = quarantine.iloc[0]
    label = first.get("source_file")
    label = ids.get(label, label) if isinstance(label, str) and label else "a file"
    # PHI patterns and runs of person names; no engine, which takes a reader's words for names
    reason = TextScrubber(engine=False, names=True).scrub(str(first["reason"]))
    return f"{msg}, {len(quarantine)} quarantined ({by_check}); first: {label}: {reason}"


def build_timeline(
    read: Sequence[ReadResult],
    config: HarmonizeConfig,
    *,
    key: Any,
    sources: Sequence[str | Path] = (),
) -> Harmonized:
    """Compute the de-identified timeline of the files read, with its counts; write nothing.

    Parameters
    ----------
    read : sequence of ReadResult
        Every file read (:func:`twinlab.ingest.read_sources`).
    config : HarmonizeConfig
        Study settings.
    key : twinlab.deid.DeidKey
        The de-identification key (pseudonyms, date shifts, keyed ids).
    sources : sequence of path
        The paths read, named in the error when no file yields an event.

    Returns
    -------
    Harmonized
        For :func:`twinlab.harmonize.writer.publish`.

    Raises
    ------
    ValueError
        When no source yields a usable event, or none is left once undated events with no
        index date and misdated or implausible ones are quarantined.
    """
    from twinlab.deid import TextScrubber, deidentify, identifiers_from, pseudonym
    from twinlab.deid.engine import ENGINE
    from twinlab.deid.policy import apply_policy, field_policy
    from twinlab.terminology import map_codes, normalize_units
    from twinlab.timeline import Cohort, add_row_hash, coerce_table, event_id

    cfg = config
    ids = file_ids(read, key)
    results, copy_of = declare_copies(read, ids)
    events, persons, quarantine = collect(results, ids)
    if events.empty:
        raise ValueError(_nothing_usable(read, quarantine, ids, sources))
    if persons.empty:
        persons = pd.DataFrame(columns=_PERSON_COLUMNS)
    keys, review = patient_keys(events, persons, cfg.identifier_aliases)
    events, persons = rekey(events, keys), rekey(persons, keys)
    events = localize_site_times(events, persons, cfg.site_utc_offsets)
    events, rejected = check_dates(events)  # before the index dates: no year 1 or 10000
    index = index_dates(events)
    events, unplaced = place_undated(events, index)
    if not unplaced.empty:
        quarantine = pd.concat([quarantine, unplaced_quarantine(unplaced)], ignore_index=True)
    if events.empty:  # every event undated with no index date (VCF files alone), or misdated
        quarantine = pd.concat([quarantine, rejected], ignore_index=True)
        raise ValueError(_nothing_usable(read, quarantine, ids, sources))
    unplaced_per_file = unplaced["source_file"].value_counts()
    genotypes = genotype_covariates(events, cfg.genes)
    planned_arms = arms(events)
    events, bad_values = check_values(normalize_units(map_codes(events)), cfg.implausible)
    rejected = pd.concat([rejected, bad_values], ignore_index=True)
    if not rejected.empty:  # quarantined per event, counted with the file's events
        quarantine = pd.concat([quarantine, rejected], ignore_index=True)
        unplaced_per_file = unplaced_per_file.add(
            rejected["source_file"].value_counts(), fill_value=0
        )
    if events.empty:  # every event's value implausible
        raise ValueError(_nothing_usable(read, quarantine, ids, sources))

    # Event ids come from the keyed file id and the raw record pointer, before scrubbing
    # collapses pointers that embed identifiers (a VCF sample id, say).
    eids = event_id(events["source_file"], events["source_record"]).to_numpy()
    drop_text = events["format"].map(lambda f: cfg.free_text.get(str(f), "drop") != "scrub")
    vocabulary, defines, kept_by_define = _study_vocabulary(cfg, read, events, ids)
    age_reference = cfg.age_reference or dt.datetime.now(dt.UTC).date().isoformat()
    patients, events_d, crosswalk = deidentify(
        persons, events, key=key, reference_dates=index, drop_free_text=drop_text.to_numpy(),
        vocabulary=vocabulary, age_at=age_reference,
    )  # fmt: skip
    free_text_dropped = int(events_d.attrs.get("free_text_dropped", 0))
    identifier_values_dropped = int(events_d.attrs.get("identifier_values_dropped", 0))
    displays_kept = int(events_d.attrs.get("displays_kept", 0))
    reader_columns_dropped = sorted(set(events_d.attrs.get("dropped_columns", [])) - {"format"})
    if len(events_d) != len(eids):
        raise AssertionError("de-identification changed the number of events")
    fmt = events["format"].to_numpy()
    pseudo = crosswalk.set_index("source_patient")["patient_id"]
    events_d["qualifiers"] = events_d["qualifiers"].map(json_text)
    events_d = events_d.drop(columns=["format"], errors="ignore")
    events_d = coerce_table("events", events_d.assign(event_id="", row_hash=""))
    events_d, policy_events = apply_policy("events", events_d)
    events_d["event_id"] = eids
    events_d["format"] = fmt
    index_d = patients.set_index("patient_id")["index_date"]
    events_d["hours_from_index"] = (
        events_d["time"] - events_d["patient_id"].map(index_d)
    ).dt.total_seconds() / 3600
    dupes = same_facts(events_d, cfg.same_fact_hours, cfg.same_fact_rel_tol)
    events_d = flag_duplicates(events_d, dupes)
    links = event_links(events_d, dupes)
    same_fact_per_file = events_d.loc[
        events_d["event_id"].isin(dupes["event_id"]), "source_file"
    ].value_counts()
    events_d = add_row_hash(events_d.drop(columns=["format"]))

    patients = with_source_covariates(patients, (genotypes, planned_arms), pseudo)
    patients = with_baseline_covariates(patients, events_d, links, cfg.baseline)
    patients, policy_patients = apply_policy("patients", patients)
    cohort = Cohort(patients, events_d, links)

    # A quarantined record is published as an opaque keyed id: its pointer (which may embed
    # a patient key or sample name) and the raw record stay in the raw zone, by that id.
    identifiers = identifiers_from(persons)
    # Reasons are the readers' and checks' own words, naming fields, never values: known
    # identifiers and PHI patterns only; the clinical engine read 'JSON', 'effectiveDateTime',
    # 'SAS XPORT' or 'fhir reader' as names and left reasons such as '[PHI] is not a date'.
    # The names check too (runs of dictionary person names), as the first reason of a failed
    # run has: a reader that quoted a sender's text (a SUPP-- row's RDOMAIN "Loveday
    # Pennycuick", a reference's type "Wetherell/4471") put a person into the reason.
    scrub = TextScrubber(identifiers, engine=False, names=True)
    # The series' text attributes (a device name) are coded values, scrubbed as the events'
    # device qualifier is (twinlab.deid.tables): runs of person names too, and a first name
    # before a known surname ("Actiwatch 2 lent by Perpetua <surname>"); without the names
    # check the first name of a relative was published where the qualifier lost it.
    coded = TextScrubber(identifiers, engine=False, names=True)
    empty = pd.Series(dtype=str)
    quarantine = quarantine.reset_index(drop=True)
    quarantine["record_id"] = [
        pseudonym("quarantine_record", f"{f}|{r}|{i}", key=key, prefix="rec-")
        for i, (f, r) in enumerate(zip(quarantine.get("source_file", empty),
                                       quarantine.get("source_record", empty), strict=True))
    ]  # fmt: skip
    reasons = quarantine.get("reason", empty)
    public_q = pd.DataFrame(
        {
            "source_file": quarantine.get("source_file", empty),
            "format": quarantine.get("format", empty),
            "source_record": quarantine["record_id"],
            "check": quarantine.get("check", empty),
            "reason": scrub.scrub_series(reasons.astype("str")) if len(reasons) else reasons,
        }
    ).astype("str")

    labels = {v: k for k, v in ids.items()}
    raw_zone = {
        "crosswalk.parquet": crosswalk,
        "files.json": {
            ids[r.source_file]: {"path": r.source_file, "format": r.format} for r in read
        },
        "lineage.parquet": pd.DataFrame(
            {
                "event_id": eids,
                "source_file": events["source_file"].map(labels),
                "source_record": events["source_record"].astype(str),
                "patient_key": events["source_patient"].astype(str),
            }
        ),
        "persons.parquet": persons.astype({"identifiers": str, "phi": str}),
        "quarantine_raw.parquet": quarantine.astype(str),
    }
    report = {
        "linkage": linkage_report(review, lambda node: pseudo.get(keys.get(node))),
        "unmapped_codes": unmapped_codes(cohort.events),
        "patients_without_person": patients_without_person(events, persons, pseudo.get),
        "field_policy": {
            "events": policy_events,
            "patients": policy_patients,
            "free_text_dropped": free_text_dropped,
            "identifier_values_dropped": identifier_values_dropped,
            "displays_kept_by_vocabulary": displays_kept,
            "displays_kept_by_define_xml": kept_by_define,
            "define_xml": defines,
            "reader_columns_dropped": reader_columns_dropped,
            "qualifiers_dropped": sorted(field_policy().get("drop_qualifiers", [])),
            "free_text": {f: cfg.free_text.get(f, "drop") for f in sorted(set(events["format"]))},
            "engine": ENGINE,
            "age_reference": age_reference,
        },
    }
    return Harmonized(
        cohort=cohort,
        public_quarantine=public_q,
        file_counts=file_counts(results, ids, unplaced_per_file, same_fact_per_file, copy_of),
        report=report,
        raw_zone=raw_zone,
        series=deidentified_series(results, keys, crosswalk, coded.scrub),
        identifiers=identifiers,
        vocabulary=vocabulary,
    )


def _study_vocabulary(
    cfg: HarmonizeConfig,
    read: Sequence[ReadResult],
    events: pd.DataFrame,
    ids: Mapping[str, str],
) -> tuple[CodedVocabulary, list[dict[str, Any]], int]:
    """The display vocabulary of a run: the configured one and the terms of the define.xml
    files of its SDTM folders (:mod:`twinlab.ingest.define`), found among the files the
    ingest read (``ReadResult.path``), not by walking the sources again.

    A result that records no path (made by hand, not by :func:`twinlab.ingest.read_sources`)
    and whose label names a define.xml gives no terms: its lineage record says why.

    Returns
    -------
    (CodedVocabulary, list of dict, int)
        The vocabulary; per define.xml, its lineage record for the report (keyed file id,
        variables and the codelists they take terms from, terms refused and why, codelists
        not used, or why the file was skipped); the number of events whose display only the
        define.xml terms keep.
    """
    from twinlab.ingest.define import study_vocabulary

    vocabulary = cfg.coded_vocabulary()
    defined, found = study_vocabulary((r.path, r.source_file) for r in read if r.path)
    records = [d.summary(ids.get(d.label, "unknown")) for d in found]
    for label in _unrecorded(read):
        records.append({"file": ids.get(label, "unknown"), "error": UNRECORDED})
    if not len(defined):
        return vocabulary, records, 0
    extended = vocabulary | defined
    kept = extended.mask(events) & ~vocabulary.mask(events)
    return extended, records, int(kept.sum())


#: why a define.xml read without a recorded path gives no terms
UNRECORDED = (
    "define.xml skipped: the ingest recorded no path for it (read the sources with "
    "twinlab.ingest.read_sources)"
)


def _unrecorded(read: Sequence[ReadResult]) -> list[str]:
    """The labels of the define.xml files read without a recorded path (logged)."""
    from twinlab.ingest.define import is_define_name

    labels = [r.source_file for r in read if not r.path and is_define_name(r.source_file)]
    if labels:
        log.warning(
            "%d define.xml file(s) without a recorded path: their terms are not used", len(labels)
        )
    return labels


def _check_replaceable(folder: Path, what: str, sources: Sequence[str | Path]) -> None:
    """Refuse a ``folder`` that is, or lies above, one of the run's ``sources``.

    A run replaces its output folder and raw zone whole: given a source folder (or one above
    a source), a mistyped ``--out`` or ``--raw-zone`` deleted the study's own data without a
    word and the run reported success.

    Raises
    ------
    ValueError
        When ``folder`` is or holds a source.
    """
    target = folder.resolve()
    for source in sources:
        given = Path(source).resolve()
        if given == target or given.is_relative_to(target):
            raise ValueError(
                f"the {what} {folder} holds the source {source}: it is replaced whole by "
                "each run, so the source would be deleted; choose another folder"
            )


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
        the readers accepted (:func:`twinlab.harmonize.accounting.reconcile`); nothing is
        published.
    ValueError
        When the raw zone lies inside ``out_dir`` or no source yields a usable event.
    """
    from twinlab.deid import load_key
    from twinlab.security.crypto import load_keyring

    cfg = config or HarmonizeConfig()
    out, zone = Path(out_dir), Path(raw_zone)
    if out.resolve() == zone.resolve() or zone.resolve().is_relative_to(out.resolve()):
        raise ValueError("the raw zone must not lie inside the de-identified output folder")
    _check_replaceable(out, "output folder", paths)
    _check_replaceable(zone, "raw zone", paths)
    key = key if key is not None else load_key()
    keyring = keyring if keyring is not None else load_keyring()
    read = read_sources(paths, client=client, exclude=(out, zone))  # not a rerun's own outputs
    tables = build_timeline(read, cfg, key=key, sources=paths)
    return publish(
        tables, out_dir=out, raw_zone=zone, keyring=keyring, scan_phi=cfg.scan_phi,
        params={k: v for k, v in vars(cfg).items() if k != "scan_phi"}, inputs=paths,
    )  # fmt: skip
