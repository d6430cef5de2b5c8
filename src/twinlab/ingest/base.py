"""The reader contract: what every format reader returns, and the registry by format.

A reader turns one source file into a :class:`ReadResult` holding three tables in
the *source* vocabulary – before code mapping, unit normalization, patient
linking and de-identification, which happen later in the harmonizer:

``events``
    One row per dated fact (:data:`EVENT_COLUMNS`), keyed to the source's own
    patient key. ``source_record`` is a pointer unique per event within the file
    (e.g. ``entry[3]/component[1]``, ``PC#row=17``, ``L66:chr10:94942290:C>T/column 10``,
    ``day 2/steps_total``): positions, never a date or a sample's name (it is published
    beside the shifted time; :func:`twinlab.deid.text.pointer_phi` clears what slips in).
``persons``
    One row per person described by the file (:data:`PERSON_COLUMNS`), with the
    identifying fields (PHI) the harmonizer needs to link people across sources
    and then removes.
``quarantine``
    One row per source record that could not be used (:data:`QUARANTINE_COLUMNS`):
    the raw record as text, the check that failed, a readable reason.

Conservation: ``records_in == records_accepted + len(quarantine) + duplicates`` for
every file, where a *record* is the format's natural unit (a FHIR resource, an XPT
row, an ODM ItemGroupData, a VCF data line, a wearable CSV row) and ``duplicates``
counts exact copies of an earlier record of the same file (a FHIR resource or NDJSON
line repeated verbatim, an SDTM row repeated in every column), read once and declared.
A reader never raises for bad content: one bad record (a bad byte, an extra field, an
unclosed element) is quarantined alone and the rest of the file is read; only a file
it cannot parse at all becomes a single quarantined record with ``records_in = 1``.
Quarantine reasons name the failed check and the field, never the value (values can
be identifying; the raw record keeps them, encrypted, in the raw zone).

Readers register themselves by format with :func:`register`; :func:`reader_for`
picks the reader for a path by its ``sniff`` function.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "BAD_BYTE",
    "EVENT_COLUMNS",
    "FIRST_YEAR",
    "LAST_YEAR",
    "OPTIONAL_EVENT_COLUMNS",
    "PERSON_COLUMNS",
    "QUARANTINE_COLUMNS",
    "ReadResult",
    "Reader",
    "decode_marked",
    "frame",
    "holds_bad_bytes",
    "quarantine_row",
    "reader_for",
    "readers",
    "register",
]

#: Columns of ``ReadResult.events`` (source vocabulary, identified).
EVENT_COLUMNS: dict[str, str] = {
    "source_patient": "the source's own patient key (FHIR Patient id, USUBJID, VCF sample...)",
    "time": "tz-aware UTC timestamp of the fact (start of the period for partial dates)",
    "end_time": "tz-aware UTC end (periods, infusions), or NaT",
    "domain": "a twinlab.timeline.DOMAINS value",
    "code_system": "code system URI as given (http://loinc.org, ...) or a local system name",
    "code": "the code as given (LOINC, SNOMED CT, RxNorm, SDTM TESTCD, rsID, ...)",
    "display": "human-readable name as given, or None",
    "value_num": "numeric value in `unit`, or NaN",
    "value_text": "text value (categorical results, genotypes...), or None",
    "unit": "the unit as given in the source (UCUM or not), or None",
    "qualifiers": "dict of domain-specific extras (see twinlab.timeline.QUALIFIER_KEYS)",
    "status": "an EVENT_STATUSES value ('final' unless the source says otherwise)",
    "source_record": "pointer to the record inside the file, unique per event in the file",
}
#: Optional columns of ``ReadResult.events``, present when the source reports them.
OPTIONAL_EVENT_COLUMNS: dict[str, str] = {
    "orig_value": "the result exactly as reported (text) when the source gives both an original "
    "and a standardized result (SDTM --ORRES), else None",
    "orig_unit": "the unit of orig_value, or None",
}
#: Columns of ``ReadResult.persons`` (PHI; never written outside the raw zone).
PERSON_COLUMNS: dict[str, str] = {
    "source_patient": "the key used by this file's events",
    "identifiers": "list of (system, value) pairs: MRN, SSN, study subject id, device serial...",
    "sex": "'F', 'M' or 'U'",
    "birth_date": "ISO date text as given (may be partial, e.g. '1950' or '1950-03'), or None",
    "deceased": "ISO date/datetime of death, 'true' when only known as deceased, or None",
    "site": "study site or organization, or None",
    "phi": "dict of other identifying fields: name, address, city, state, zip, phone, email...",
}
#: Columns of ``ReadResult.quarantine``.
QUARANTINE_COLUMNS: dict[str, str] = {
    "source_record": "pointer to the record inside the file",
    "check": "short machine name of the failed check, e.g. 'fhir.parse', 'sdtm.date'",
    "reason": "a readable reason",
    "raw": "the raw record as text (JSON for structured records)",
}


#: Event dates outside ``FIRST_YEAR-01-01 .. LAST_YEAR-12-31`` are quarantined (``*.date``):
#: placeholders such as 0001-01-01 or 9999-12-31 are not dates of care, and they leave the
#: range of nanosecond timestamps (1677-2262) or, one period later, of the calendar itself.
FIRST_YEAR = 1800
LAST_YEAR = 2199

#: Stand-in for each byte sequence that is not valid UTF-8 (:func:`decode_marked`): U+FFFE is
#: a Unicode noncharacter, never found in real text, so a record holding it had a bad byte.
BAD_BYTE = "\ufffe"


def _mark(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return BAD_BYTE, err.end


codecs.register_error("twinlab.mark", _mark)


def decode_marked(data: bytes, encoding: str = "utf-8") -> tuple[str, bool]:
    """Decode ``data``, each undecodable byte sequence (and each NUL) becoming :data:`BAD_BYTE`.

    A reader then quarantines the records that hold :data:`BAD_BYTE` and keeps the rest,
    instead of rejecting the whole file for one bad byte. A NUL byte decodes in every codec
    but is never text (a block of a file zeroed by a failed copy, binary data pasted into a
    field): left as it is, it would be published inside a value.

    Parameters
    ----------
    data : bytes
        The file's content.
    encoding : str
        The codec (default UTF-8).

    Returns
    -------
    tuple of (str, bool)
        The text and whether any byte was undecodable (or NUL).

    Examples
    --------
    >>> decode_marked(b"a,1\\nb\\xff,2\\n")
    ('a,1\\nb\\ufffe,2\\n', True)
    >>> decode_marked(b"a,1\\nb\\x00,2\\n")[1]
    True
    """
    try:
        text, marked = data.decode(encoding), False
    except UnicodeDecodeError:
        text, marked = data.decode(encoding, errors="twinlab.mark"), True
    if "\x00" in text:  # NUL is never text: a zeroed or binary span, marked as a bad byte
        text, marked = text.replace("\x00", BAD_BYTE), True
    return text, marked


def holds_bad_bytes(text: str) -> bool:
    """Whether ``text`` holds bytes that are not text: :data:`BAD_BYTE` or NUL.

    For text decoded with the ``twinlab.mark`` error handler but not through
    :func:`decode_marked` (a stream read line by line), where NUL is left as it is.

    Examples
    --------
    >>> holds_bad_bytes("PA\\x00SS"), holds_bad_bytes("PASS")
    (True, False)
    """
    return BAD_BYTE in text or "\x00" in text


def frame(columns: dict[str, str], rows: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (in order), empty or from ``rows``."""
    df = pd.DataFrame(rows or [], columns=list(columns))
    return df[list(columns)]


def quarantine_row(source_record: str, check: str, reason: str, raw: Any) -> dict[str, str]:
    """One quarantine row; ``raw`` is kept as text."""
    import json

    text = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
    return {"source_record": source_record, "check": check, "reason": reason, "raw": text}


@dataclass
class ReadResult:
    """What a reader returns for one source file."""

    source_file: str
    format: str
    records_in: int
    records_accepted: int
    events: pd.DataFrame = field(default_factory=lambda: frame(EVENT_COLUMNS))
    persons: pd.DataFrame = field(default_factory=lambda: frame(PERSON_COLUMNS))
    quarantine: pd.DataFrame = field(default_factory=lambda: frame(QUARANTINE_COLUMNS))
    #: Side outputs by name: raw regular series as xarray objects (per-minute wearable data),
    #: tallies as DataFrames (FHIR resources per type).
    series: dict[str, Any] = field(default_factory=dict)
    #: Records that repeat an earlier record of the file exactly: read once, counted here.
    duplicates: int = 0
    #: SHA-256 of the file's bytes (set by :func:`twinlab.ingest.run.read_file`): a file
    #: delivered twice, under any name, is recognised by it.
    digest: str = ""
    #: The file read, as the ingest found it (:func:`twinlab.ingest.run.discover`; set by
    #: :func:`twinlab.ingest.run.read_files`); ``""`` for a result made without one. The
    #: stages above take the run's files from here instead of walking the sources again.
    path: str = ""

    def __post_init__(self) -> None:
        self._reconcile()

    def _reconcile(self) -> None:
        quarantined = self.n_rows("quarantine")
        if self.records_in != self.records_accepted + quarantined + self.duplicates:
            raise AssertionError(
                f"{self.source_file}: {self.records_in} records in != "
                f"{self.records_accepted} accepted + {quarantined} quarantined + "
                f"{self.duplicates} duplicates"
            )

    def rows(self, kind: str) -> tuple[pd.DataFrame, int, int]:
        """Where the file's ``kind`` table lies: ``(table, start, stop)``, its rows being
        ``table.iloc[start:stop]``.

        A result of its own gives ``(frame, 0, len(frame))``; a result cut from a batch's
        tables (:class:`twinlab.ingest.fhir.FhirBatch`) gives the batch table and its row
        range without cutting it, so that consumers of many files slice each batch table
        once (:func:`twinlab.harmonize.sources.collect`).

        Parameters
        ----------
        kind : {"events", "persons", "quarantine"}
            The table.
        """
        frame_ = getattr(self, kind)
        return frame_, 0, len(frame_)

    def n_rows(self, kind: str) -> int:
        """Number of rows of the ``kind`` table (see :meth:`rows`), without building it."""
        _, start, stop = self.rows(kind)
        return stop - start

    def series_of(self, kind: type) -> dict[str, Any]:
        """The side outputs (:attr:`series`) that are instances of ``kind``, by name."""
        return {name: s for name, s in self.series.items() if isinstance(s, kind)}

    @property
    def counts(self) -> dict[str, int | str]:
        """Per-file counts for the ingestion report."""
        return {
            "source_file": self.source_file,
            "format": self.format,
            "records_in": self.records_in,
            "accepted": self.records_accepted,
            "quarantined": self.n_rows("quarantine"),
            "duplicates": self.duplicates,
            "events": self.n_rows("events"),
        }


ReadFunction = Callable[[Path], ReadResult]


@dataclass(frozen=True)
class Reader:
    """A registered format reader."""

    format: str
    read: ReadFunction
    sniff: Callable[[Path], bool]
    description: str = ""


_READERS: dict[str, Reader] = {}


def register(
    format: str, *, sniff: Callable[[Path], bool], description: str = ""
) -> Callable[[ReadFunction], ReadFunction]:
    """Register ``read(path) -> ReadResult`` as the reader of ``format``."""

    def decorate(read: ReadFunction) -> ReadFunction:
        _READERS[format] = Reader(format, read, sniff, description)
        return read

    return decorate


def readers() -> dict[str, Reader]:
    """The registered readers by format."""
    return dict(_READERS)


def reader_for(path: str | Path) -> Reader | None:
    """The first registered reader whose ``sniff`` accepts ``path``, or ``None``."""
    p = Path(path)
    for reader in _READERS.values():
        try:
            if reader.sniff(p):
                return reader
        except OSError:
            continue
    return None
