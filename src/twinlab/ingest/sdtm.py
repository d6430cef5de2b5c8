"""CDISC SDTM reader: SAS XPORT (``.xpt``) and SDTM-shaped CSV files → :class:`ReadResult`.

A *record* is one row of one domain file. Rows become events in the source vocabulary:

=========  ===================  ======================================================
domain     twinlab domain       value / code
=========  ===================  ======================================================
DM         persons + demographic  ``persons`` row per subject; one ``demographic`` event
                                (code ``ARM``) dated RFSTDTC, else DMDTC, else RFICDTC,
                                carrying arm / actual arm / race / ethnicity / country and
                                ``screen_failure`` (ARMCD ``SCRNFAIL`` / ``NOTASSGN``) in
                                its qualifiers; without any date the person is kept and the
                                arm goes to ``persons.phi`` instead
EX         dose                 EXDOSE / EXDOSU, EXSTDTC .. EXENDTC
PC         concentration        PCSTRESN / PCSTRESU (PCORRES / PCORRESU as ``orig_*``),
                                ``blq`` (value NaN) and ``lloq`` qualifiers
PP         other                PK parameters (PPSTRESN / PPSTRESU) – not ``pd``: they are
                                exposure metrics, not drug effects
LB         lab                  LBSTRESN / LBSTRESU (LBORRES / LBORRESU as ``orig_*``)
VS         vital                VSSTRESN / VSSTRESU
AE         adverse_event        AEDECOD (text), AESTDTC .. AEENDTC
CM         medication           CMDECOD / CMTRT, CMDOSE / CMDOSU
MH         condition            MHDECOD / MHTERM
=========  ===================  ======================================================

Every other domain (DS, SV, SE, SC, TA, TE, TI, TS, TV, RELREC, SUPP--, and any domain not
listed) is read, checked and counted as accepted records that produce no events.

Dates: SDTM ``--DTC`` values are ISO 8601, possibly partial (``YYYY``, ``YYYY-MM``,
``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm[:ss]``). An event's ``time`` is the start of the period,
with the qualifier ``date_precision`` (``year`` .. ``second``). SDTM datetimes carry no time zone:
they are read in the zone given by ``tz`` (default ``"UTC"``), recorded in the qualifier
``tz_assumed``, and converted to UTC.

Why pyreadstat: XPT v5/v8 decoding (IBM floats, labels, missing values) is exactly what
ReadStat implements and is tested against SAS; we only add the encoding fallback (the CDISC
pilot files hold cp1252 bytes such as the right single quote in "Alzheimer’s") and the check
for truncated files that ReadStat silently reads in part. A v5 file cut inside its
observations (fixed-length records) keeps its complete rows; the lost tail is one quarantined
record (``sdtm.truncated``, "file truncated after N complete rows"). A file cut inside its
headers is one quarantined record (``sdtm.parse``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from twinlab.ingest.base import (
    BAD_BYTE,
    EVENT_COLUMNS,
    FIRST_YEAR,
    LAST_YEAR,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadResult,
    decode_marked,
    frame,
    quarantine_row,
    register,
)

__all__ = [
    "events_frame",
    "merge_supp_results",
    "parse_partial_datetime",
    "read_sdtm",
    "read_sdtm_folder",
    "read_sdtm_frame",
    "read_sdtm_table",
]

FORMAT = "sdtm"
#: Encodings tried, in order, when an XPT file does not decode with ReadStat's default.
XPT_ENCODINGS: tuple[str | None, ...] = (None, "cp1252", "latin1")
#: ARMCD values that mark a subject who never entered a treatment arm.
SCREEN_FAILURE_ARMCD = frozenset({"SCRNFAIL", "NOTASSGN"})
#: Domains with no subject (trial design, relationships): no USUBJID check.
_NO_SUBJECT = frozenset({"TA", "TE", "TI", "TS", "TV", "TD", "TM", "RELREC", "DI", "OI"})
_BLQ_RE = re.compile(
    r"^\s*(<\s*(BLQ|LLOQ|LOQ|BQL|LLQ)?\s*[\d.eE+-]*|BLQ|BQL|NQ|BLOQ|BELOW\s+LLOQ|<\s*LOD|ND)\s*$",
    re.IGNORECASE,
)
_NUM_AFTER_LT = re.compile(r"^\s*<\s*([+-]?\d+(\.\d*)?([eE][+-]?\d+)?)\s*$")
_ISO_RE = re.compile(
    r"^(?P<Y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_HAS_OFFSET = re.compile(r"T.*(Z|[+-]\d{2}:?\d{2})$")
_PRECISIONS = ("year", "month", "day", "hour", "minute", "second")


# --- dates ----------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def parse_partial_datetime(
    text: str, *, tz: str = "UTC"
) -> tuple[pd.Timestamp, str] | tuple[None, str]:
    """Parse an ISO 8601 (possibly partial) date/datetime to the UTC start of its period.

    Parameters
    ----------
    text : str
        ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DDThh``, ``...Thh:mm``,
        ``...Thh:mm:ss[.fff]``, optionally followed by ``Z`` or an offset.
    tz : str
        IANA zone used for values without an offset (SDTM values never have one).

    Returns
    -------
    tuple
        ``(timestamp, precision)`` with a tz-aware UTC timestamp and one of ``year``, ``month``,
        ``day``, ``hour``, ``minute``, ``second``; or ``(None, reason)`` when unparseable or
        outside the years :data:`~twinlab.ingest.base.FIRST_YEAR` to
        :data:`~twinlab.ingest.base.LAST_YEAR` (the reason never quotes the value).

    Examples
    --------
    >>> parse_partial_datetime("2014-07")
    (Timestamp('2014-07-01 00:00:00+0000', tz='UTC'), 'month')
    >>> parse_partial_datetime("2014-07-02T11:45", tz="America/New_York")[0]
    Timestamp('2014-07-02 15:45:00+0000', tz='UTC')
    """
    s = text.strip()
    m = _ISO_RE.match(s)
    if m is None:
        return None, "is not an ISO 8601 date (YYYY[-MM[-DD[Thh[:mm[:ss]]]]])"
    parts = [m.group(k) for k in "YmdHMS"]
    n = sum(p is not None for p in parts)
    precision = _PRECISIONS[n - 1]
    vals = [int(p) if p is not None else d for p, d in zip(parts, (0, 1, 1, 0, 0, 0), strict=True)]
    micro = round(float(m.group("f")) * 1e6) if m.group("f") else 0
    if not FIRST_YEAR <= vals[0] <= LAST_YEAR:
        return None, f"is outside the years {FIRST_YEAR}-{LAST_YEAR} (a placeholder, not a date)"
    try:
        naive = datetime(*vals, min(micro, 999_999))
    except ValueError:
        return None, "is not a valid calendar date or time"
    offset = m.group("tz")
    try:
        if offset:
            ts = pd.Timestamp(naive).tz_localize("UTC" if offset == "Z" else _offset_zone(offset))
        else:
            ts = pd.Timestamp(naive.replace(tzinfo=ZoneInfo(tz)))
        return ts.tz_convert("UTC"), precision
    except (ValueError, ZoneInfoNotFoundError, OverflowError):
        return None, f"cannot be placed in time zone {tz!r}"


def _offset_zone(offset: str) -> Any:
    from datetime import timedelta, timezone

    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


# --- small value helpers ----------------------------------------------------------------------


def _text(v: Any) -> str | None:
    """Missing-aware text: None for NaN / empty / blank."""
    if v is None:
        return None
    if type(v) is str:
        return v.strip() or None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return _fmt_num(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, np.floating):
        return None if np.isnan(v) else _fmt_num(float(v))
    s = str(v).strip()
    return s or None


def _fmt_num(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and v == int(v) and abs(v) < 1e15 else repr(v)


class _NotNumber(ValueError):
    pass


def _num(v: Any) -> float:
    """Float or NaN for missing; raises :class:`_NotNumber` for non-numeric text."""
    if v is None:
        return math.nan
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        f = float(v)
        if math.isinf(f):
            raise _NotNumber("is not a finite number")
        return f
    s = str(v).strip()
    if not s:
        return math.nan
    try:
        f = float(s)
    except ValueError:
        raise _NotNumber("is not a number") from None
    if not math.isfinite(f):
        raise _NotNumber("is not a finite number")
    return f


def _num_or_none(v: Any) -> float | None:
    try:
        f = _num(v)
    except _NotNumber:
        return None
    return None if math.isnan(f) else f


def _raw_json(row: dict[str, Any]) -> str:
    return json.dumps({k: _text(v) for k, v in row.items()}, ensure_ascii=False)


class _Reject(Exception):
    """A row that must be quarantined: ``check`` and readable ``reason``."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


# --- per-domain event builders --------------------------------------------------------------


class _Row:
    """One SDTM row with prefixed-variable access (``r["STDTC"]`` → ``AESTDTC``)."""

    __slots__ = ("_tz", "d", "prefix")

    def __init__(self, d: dict[str, Any], prefix: str, tz: str) -> None:
        self.d = d
        self.prefix = prefix
        self._tz = tz

    def __getitem__(self, suffix: str) -> str | None:
        return _text(self.d.get(self.prefix + suffix))

    def get(self, name: str) -> str | None:
        return _text(self.d.get(name))

    def num(self, suffix: str, *, full: bool = False) -> float:
        name = suffix if full else self.prefix + suffix
        try:
            return _num(self.d.get(name))
        except _NotNumber as exc:
            raise _Reject("sdtm.numeric", f"{name} {exc}") from None

    def date(self, *names: str, required: bool = True) -> tuple[pd.Timestamp | None, dict]:
        """The first non-empty of ``names`` (full variable names), parsed."""
        for name in names:
            text = _text(self.d.get(name))
            if text is None:
                continue
            ts, info = parse_partial_datetime(text, tz=self._tz)
            if ts is None:
                raise _Reject("sdtm.date", f"{name} {info}")
            q: dict[str, Any] = {"date_precision": info, "date_source": name}
            if not _HAS_OFFSET.search(text):
                q["tz_assumed"] = self._tz
            return ts, q
        if required:
            raise _Reject("sdtm.date_missing", f"no date: {', '.join(names)} all empty")
        return None, {}

    def end(self, name: str, start: pd.Timestamp) -> tuple[pd.Timestamp | None, dict]:
        text = _text(self.d.get(name))
        if text is None:
            return None, {}
        ts, info = parse_partial_datetime(text, tz=self._tz)
        if ts is None:
            raise _Reject("sdtm.date", f"{name} {info}")
        if ts < start:
            if _period_end(ts, info) < start:
                raise _Reject("sdtm.end_before_start", f"{name} is before the start")
            ts = start  # a partial end date whose period contains the start
        return ts, {"end_date_precision": info}


def _period_end(ts: pd.Timestamp, precision: str) -> pd.Timestamp:
    step = {
        "year": pd.DateOffset(years=1),
        "month": pd.DateOffset(months=1),
        "day": pd.Timedelta(days=1),
        "hour": pd.Timedelta(hours=1),
        "minute": pd.Timedelta(minutes=1),
        "second": pd.Timedelta(seconds=1),
    }[precision]
    return ts + step


def _event(r: _Row, **kw: Any) -> dict[str, Any]:
    ev = {
        "source_patient": r.get("USUBJID"),
        "time": None,
        "end_time": None,
        "domain": "other",
        "code_system": None,
        "code": None,
        "display": None,
        "value_num": math.nan,
        "value_text": None,
        "unit": None,
        "qualifiers": {},
        "status": "final",
        "source_record": None,
    }
    ev.update(kw)
    if math.isnan(ev["value_num"]):
        ev["unit"] = None  # a unit only goes with a number (orig_unit keeps it)
    ev["qualifiers"] = {k: v for k, v in ev["qualifiers"].items() if v is not None}
    return ev


def _findings(r: _Row, domain: str, dom: str, *, date: str = "DTC") -> dict[str, Any]:
    """LB / VS / generic findings: STRESN/STRESU as value, ORRES/ORRESU as orig."""
    ts, q = r.date(dom + date)
    value = r.num("STRESN")
    stresc, orres = r["STRESC"], r["ORRES"]
    value_text = None
    status = "final"
    if r["STAT"] is not None:  # e.g. NOT DONE
        q.update(not_done=True, reason_not_done=r["REASND"])
        status = "unknown"
    if math.isnan(value):
        text = stresc or orres
        lt = _NUM_AFTER_LT.match(text) if text else None
        if lt:
            q.update(blq=True, lloq=float(lt.group(1)))
        if text is not None:
            value_text = text
    q.update(
        ref_low=_num_or_none(r.get(dom + "STNRLO")),
        ref_high=_num_or_none(r.get(dom + "STNRHI")),
        ref_low_orig=r["ORNRLO"],
        ref_high_orig=r["ORNRHI"],
        interpretation=r["NRIND"],
        category=r["CAT"],
        matrix=r["SPEC"],
        loinc=r["LOINC"],
        fasting={"Y": True, "N": False}.get(r["FAST"] or ""),
        position=r["POS"],
        location=r["LOC"],
        timepoint=r["TPT"],
        visit=r.get("VISIT"),
        baseline=True if r["BLFL"] == "Y" else None,
    )
    return _event(
        r,
        time=ts,
        domain=domain,
        code_system=f"CDISC SDTM {dom}TESTCD",
        code=r["TESTCD"],
        display=r["TEST"],
        value_num=value,
        value_text=value_text,
        unit=r["STRESU"],
        orig_value=orres,
        orig_unit=r["ORRESU"],
        qualifiers=q,
        status=status,
    )


def _lb(r: _Row) -> dict[str, Any]:
    return _findings(r, "lab", "LB")


def _vs(r: _Row) -> dict[str, Any]:
    return _findings(r, "vital", "VS")


def _pc(r: _Row) -> dict[str, Any]:
    ts, q = r.date("PCDTC")
    orres, stresc = r["ORRES"], r["STRESC"]
    reported = r.num("STRESN")
    lloq = r.num("LLOQ")
    blq = any(t is not None and _BLQ_RE.match(t) for t in (orres, stresc))
    value, value_text, status = reported, None, "final"
    if blq:
        value = math.nan
        value_text = orres or stresc
        if not math.isnan(reported):
            q["reported_value"] = reported  # e.g. "<BLQ" coded with PCSTRESN = 0
    elif math.isnan(reported):
        if r["STAT"] is not None or (orres is None and stresc is None):
            q.update(not_done=True, reason_not_done=r["REASND"])
            status = "unknown"
        else:
            raise _Reject("sdtm.numeric", "PCORRES/PCSTRESC is neither a number nor BLQ")
    q.update(
        blq=blq,
        lloq=None if math.isnan(lloq) else lloq,
        analyte=r["TEST"],
        matrix=r["SPEC"],
        timepoint=r["TPT"],
        timepoint_num=_num_or_none(r["TPTNUM"]),
        elapsed=r["ELTM"],
        lab=r["NAM"],
        visit=r.get("VISIT"),
    )
    return _event(
        r,
        time=ts,
        domain="concentration",
        code_system="CDISC SDTM PCTESTCD",
        code=r["TESTCD"],
        display=r["TEST"],
        value_num=value,
        value_text=value_text,
        unit=r["STRESU"],
        orig_value=orres,
        orig_unit=r["ORRESU"],
        qualifiers=q,
        status=status,
    )


def _pp(r: _Row) -> dict[str, Any]:
    ts, q = r.date("PPDTC", "PPSTDTC", "PPRFDTC")
    value = r.num("STRESN")
    q.update(category=r["CAT"], matrix=r["SPEC"], kind="pk_parameter")
    return _event(
        r,
        time=ts,
        domain="other",
        code_system="CDISC SDTM PPTESTCD",
        code=r["TESTCD"],
        display=r["TEST"],
        value_num=value,
        value_text=None if not math.isnan(value) else (r["STRESC"] or r["ORRES"]),
        unit=r["STRESU"],
        orig_value=r["ORRES"],
        orig_unit=r["ORRESU"],
        qualifiers=q,
    )


def _ex(r: _Row) -> dict[str, Any]:
    ts, q = r.date("EXSTDTC")
    end, qe = r.end("EXENDTC", ts)
    dose = r.num("DOSE")
    q.update(qe)
    q.update(
        route=r["ROUTE"],
        form=r["DOSFRM"],
        frequency=r["DOSFRQ"],
        regimen=" ".join(t for t in (r["DOSE"], r["DOSU"], r["DOSFRQ"]) if t) or None,
        visit=r.get("VISIT"),
    )
    return _event(
        r,
        time=ts,
        end_time=end,
        domain="dose",
        code_system="CDISC SDTM EXTRT",
        code=r["TRT"],
        display=r["TRT"],
        value_num=dose,
        unit=r["DOSU"],
        orig_value=r["DOSE"] or r["DOSTXT"],
        orig_unit=r["DOSU"],
        qualifiers=q,
    )


def _ae(r: _Row) -> dict[str, Any]:
    ts, q = r.date("AESTDTC", "AEDTC")
    end, qe = r.end("AEENDTC", ts)
    q.update(qe)
    q.update(
        severity=(r["SEV"] or "").lower() or None,
        serious={"Y": True, "N": False}.get(r["SER"] or ""),
        toxicity_grade=r["TOXGR"],
        body_system=r["BODSYS"],
        relationship=r["REL"],
        action=r["ACN"],
        outcome=r["OUT"],
        meddra_pt_code=r["PTCD"],
    )
    return _event(
        r,
        time=ts,
        end_time=end,
        domain="adverse_event",
        code_system=_dictionary_system(r, "AE", "TERM"),
        code=r["DECOD"] or r["TERM"],
        display=r["DECOD"] or r["TERM"],
        value_text=r["TERM"],
        qualifiers=q,
    )


def _dictionary_system(r: _Row, domain: str, verbatim: str) -> str:
    """The code system of a dictionary-coded event: ``--DECOD`` (MedDRA, WHODrug), or the
    verbatim ``--TERM`` / ``--TRT`` it falls back to when the term was not coded. The
    investigator's verbatim text is free text ("Fall at the Smith farm"), never to be
    published as a dictionary code (the field policy publishes ``--DECOD`` codes verbatim)."""
    return f"CDISC SDTM {domain}{'DECOD' if r['DECOD'] else verbatim}"


def _cm(r: _Row) -> dict[str, Any]:
    ts, q = r.date("CMSTDTC", "CMDTC")
    end, qe = r.end("CMENDTC", ts)
    q.update(qe)
    dose = r.num("DOSE")
    q.update(
        route=r["ROUTE"],
        frequency=r["DOSFRQ"],
        indication=r["INDC"],
        drug_class=r["CLAS"],
        ongoing=True if r["ENRF"] in ("ONGOING", "AFTER") else None,
    )
    return _event(
        r,
        time=ts,
        end_time=end,
        domain="medication",
        code_system=_dictionary_system(r, "CM", "TRT"),
        code=r["DECOD"] or r["TRT"],
        display=r["DECOD"] or r["TRT"],
        value_num=dose,
        value_text=r["TRT"],
        unit=r["DOSU"],
        orig_value=r["DOSE"] or r["DOSTXT"],
        orig_unit=r["DOSU"],
        qualifiers=q,
    )


def _mh(r: _Row) -> dict[str, Any]:
    ts, q = r.date("MHSTDTC", "MHDTC")
    end, qe = r.end("MHENDTC", ts)
    q.update(qe)
    q.update(severity=(r["SEV"] or "").lower() or None, category=r["CAT"])
    return _event(
        r,
        time=ts,
        end_time=end,
        domain="condition",
        code_system=_dictionary_system(r, "MH", "TERM"),
        code=r["DECOD"] or r["TERM"],
        display=r["DECOD"] or r["TERM"],
        value_text=r["TERM"],
        qualifiers=q,
    )


_BUILDERS = {
    "LB": _lb,
    "VS": _vs,
    "PC": _pc,
    "PP": _pp,
    "EX": _ex,
    "AE": _ae,
    "CM": _cm,
    "MH": _mh,
}


def _dm(r: _Row) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A DM row → (persons row, demographic event or None)."""
    armcd = r.get("ARMCD")
    screen_failure = (armcd or "").upper() in SCREEN_FAILURE_ARMCD
    sex = (r.get("SEX") or "U").upper()[:1]
    age = r.num("AGE", full=True)
    arm = {
        "armcd": armcd,
        "arm": r.get("ARM"),
        "actarmcd": r.get("ACTARMCD"),
        "actarm": r.get("ACTARM"),
        "screen_failure": screen_failure,
    }
    for name in ("BRTHDTC", "DTHDTC", "RFSTDTC"):
        if r.get(name) is not None:
            r.date(name)  # validates: an unparseable date quarantines the row
    phi = {
        "age": None if math.isnan(age) else age,
        "age_unit": r.get("AGEU"),
        "rfstdtc": r.get("RFSTDTC"),
        "dmdtc": r.get("DMDTC"),
        "race": r.get("RACE"),
        "ethnic": r.get("ETHNIC"),
        "country": r.get("COUNTRY"),
    }
    usubjid = r.get("USUBJID")
    ids = [("usubjid", usubjid)]
    if r.get("SUBJID"):
        ids.append(("subjid", r.get("SUBJID")))
    # SITEID names the trial site, shared by its patients: no identifier of one (searched as one,
    # a site "1001" became [IDENTIFIER] wherever it was written); the site column has its own
    # policy (twinlab.deid.tables: kept, or a keyed pseudonym when it holds PHI)
    deceased = r.get("DTHDTC") or ("true" if r.get("DTHFL") == "Y" else None)
    ts, q = r.date("RFSTDTC", "DMDTC", "RFICDTC", required=False)
    person = {
        "source_patient": usubjid,
        "identifiers": ids,
        "sex": sex if sex in ("F", "M") else "U",
        "birth_date": r.get("BRTHDTC"),
        "deceased": deceased,
        "site": r.get("SITEID"),
        "phi": {k: v for k, v in phi.items() if v is not None},
    }
    if ts is None:
        person["phi"].update({k: v for k, v in arm.items() if v is not None})
        return person, None
    q.update(arm)
    q.update(race=r.get("RACE"), ethnic=r.get("ETHNIC"), country=r.get("COUNTRY"))
    event = _event(
        r,
        time=ts,
        domain="demographic",
        code_system="CDISC SDTM DM",
        code="ARM",
        display="Planned arm",
        value_text=r.get("ARM"),
        qualifiers=q,
    )
    return person, event


# --- frames → ReadResult --------------------------------------------------------------------

_EVENT_EXTRA = ("orig_value", "orig_unit")


def read_sdtm_frame(
    df: pd.DataFrame,
    *,
    source_file: str,
    domain: str | None = None,
    tz: str = "UTC",
) -> ReadResult:
    """Turn one SDTM domain table into a :class:`ReadResult` (one record per row).

    Parameters
    ----------
    df : pandas.DataFrame
        The domain's rows with their SDTM column names (values as read: text or numbers).
    source_file : str
        Name used in ``source_record`` pointers and in the result.
    domain : str, optional
        The two-letter domain (``"LB"``, ``"SUPPAE"``...); default from the DOMAIN / RDOMAIN
        column, else the file name.
    tz : str
        IANA time zone in which the (zone-less) SDTM datetimes are read.

    Returns
    -------
    ReadResult
        A row equal in every column to an earlier row is read once and counted in
        ``duplicates``; rows listed in ``df.attrs["rejects"]`` (position -> check, reason,
        raw line: set by the CSV loader for an undecodable byte or a wrong field count) are
        quarantined alone.
    """
    dom = (domain or _domain_of(df, source_file)).upper()
    name = Path(source_file).name
    events: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    quarantine: list[dict[str, str]] = []
    build = _BUILDERS.get(dom)
    prefix = dom if len(dom) == 2 else ""
    needs_subject = dom not in _NO_SUBJECT
    columns = [str(c) for c in df.columns]
    rejects: dict[int, tuple[str, str, str]] = df.attrs.get("rejects", {})
    dups = np.zeros(len(df), dtype=bool)
    if len(df):  # rejected rows are blank placeholders: never a row's duplicate
        kept = np.setdiff1d(np.arange(len(df)), np.fromiter(rejects, dtype=np.int64))
        dups[kept] = df.iloc[kept].duplicated(keep="first").to_numpy()
    n_dup = 0
    subjects: dict[str | None, dict[str, Any]] = {}  # DM: the row kept for each USUBJID
    for i, values in enumerate(_row_tuples(df), start=1):
        pointer = f"{name}#row={i}"
        if i - 1 in rejects:
            quarantine.append(quarantine_row(pointer, *rejects[i - 1]))
            continue
        if dups[i - 1]:
            n_dup += 1
            continue
        d = dict(zip(columns, values, strict=True))
        r = _Row(d, prefix, tz)
        try:
            if needs_subject and r.get("USUBJID") is None:
                raise _Reject("sdtm.usubjid", "USUBJID is missing or empty")
            if dom == "DM":
                if _dm_repeat(subjects, r.get("USUBJID"), d):
                    n_dup += 1  # equal once blank space is stripped: a copy all the same
                    continue
                person, ev = _dm(r)
                subjects[r.get("USUBJID")] = d
                persons.append(person)
                new = [ev] if ev is not None else []
            elif build is not None:
                new = [build(r)]
            else:
                new = []
            for ev in new:  # a finding without its test code is no fact (timeline: code required)
                if ev["code"] is None:
                    field = str(ev["code_system"]).rsplit(" ", 1)[-1]
                    raise _Reject("sdtm.code", f"no code: {field} is missing or empty")
        except _Reject as rej:
            quarantine.append(quarantine_row(pointer, rej.check, rej.reason, _raw_json(d)))
            continue
        except Exception as exc:  # a reader never raises on content; no message: values
            why = f"unexpected content ({type(exc).__name__})"
            quarantine.append(quarantine_row(pointer, "sdtm.row", why, _raw_json(d)))
            continue
        for ev in new:
            ev["source_record"] = pointer
            events.append(ev)
    return ReadResult(
        source_file=str(source_file),
        format=FORMAT,
        records_in=len(df),
        records_accepted=len(df) - len(quarantine) - n_dup,
        duplicates=n_dup,
        events=events_frame(events),
        persons=frame(PERSON_COLUMNS, persons),
        quarantine=frame(QUARANTINE_COLUMNS, quarantine),
    )


def _dm_repeat(kept: dict[str | None, dict[str, Any]], usubjid: str | None, row: dict) -> bool:
    """Whether a DM ``row`` repeats the row already kept for its subject (a copy that
    differs in blank space only); ``False`` for a subject's first row.

    Raises
    ------
    _Reject
        ``sdtm.dm_conflict`` when the subject already has a DM row that differs in any
        column: one subject cannot have two sexes or birth dates, and which row is right
        cannot be told, so the later row is quarantined (the first kept). The reason names
        the differing columns, never their values.
    """
    first = kept.get(usubjid)
    if first is None:
        return False
    differ = [_column_name(c) for c in row if not _same_value(first.get(c), row[c])]
    if not differ:
        return True
    why = (
        f"another DM row of the same USUBJID came first and differs in {', '.join(differ)}: "
        "the first row is kept"
    )
    raise _Reject("sdtm.dm_conflict", why)


def _column_name(name: str) -> str:
    """``name`` when it is a variable name, else a stand-in (a header cell may be a value)."""
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name) else "an unnamed column"


def _same_value(a: Any, b: Any) -> bool:
    """``a == b`` for two cell values, two missing values (None, NaN) being equal."""
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b)


def _row_tuples(df: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    """Rows as tuples of plain Python values (text stripped, empty text → None); fast."""
    cols = []
    for c in df.columns:
        s = df[c]
        if s.dtype.kind in "biuf":
            cols.append(s.tolist())
        else:
            vals = s.to_numpy(dtype=object, na_value=None)
            cols.append([(v.strip() or None) if type(v) is str else v for v in vals])
    return zip(*cols, strict=True) if cols else iter([()] * len(df))


def events_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """An events table from event dicts: the reader columns plus ``orig_value``/``orig_unit``.

    Times become tz-aware UTC (``datetime64[us, UTC]``, NaT for ``None``) and ``value_num``
    float64; the ODM reader builds its events with it too.
    """
    cols = list(EVENT_COLUMNS) + [c for c in _EVENT_EXTRA if c not in EVENT_COLUMNS]
    out = pd.DataFrame(events, columns=cols)
    for c in ("time", "end_time"):
        col = pd.Series([pd.NaT if v is None else v for v in out[c]], index=out.index, dtype=object)
        out[c] = pd.to_datetime(col, utc=True).astype("datetime64[us, UTC]")
    out["value_num"] = out["value_num"].astype("float64")
    return out


def _domain_of(df: pd.DataFrame, source_file: str) -> str:
    for col in ("DOMAIN", "RDOMAIN"):
        if col in df.columns and (col == "DOMAIN" or "QNAM" in df.columns):
            vals = [v for v in (_text(x) for x in df[col].head(1000)) if v]
            if vals:
                top = max(set(vals), key=vals.count)
                return f"SUPP{top}" if col == "RDOMAIN" and "QNAM" in df.columns else top
    stem = Path(source_file).stem.upper()
    if stem.startswith("SUPP") or "QNAM" in df.columns:
        return stem if stem.startswith("SUPP") else f"SUPP{stem}"
    return stem[:2] if stem[:2] in _BUILDERS or stem[:2] == "DM" else stem


# --- files ----------------------------------------------------------------------------------


def _file_failure(path: Path, check: str, reason: str) -> ReadResult:
    try:
        head = path.read_bytes()[:240]
        raw = json.dumps(
            {"path": str(path), "size": path.stat().st_size, "head_latin1": head.decode("latin-1")},
            ensure_ascii=False,
        )
    except OSError as exc:
        raw = json.dumps({"path": str(path), "error": str(exc)})
    q = frame(QUARANTINE_COLUMNS, [quarantine_row(path.name, check, reason, raw)])
    return ReadResult(str(path), FORMAT, records_in=1, records_accepted=0, quarantine=q)


_XPT_LIBRARY = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_XPT_MEMBER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
_XPT_NAMESTR = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
_XPT_OBS = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"


def _xpt_obs_length(namestrs: bytes, ns_len: int, max_char: int = 200) -> tuple[int, str]:
    """Length of one observation from a member's NAMESTR records, checked.

    Each variable must be numeric (type 1, 2 to 8 bytes) or character (type 2, 1 to
    ``max_char`` bytes), and the variables must lie end to end from byte 0 of the observation,
    as every XPORT writer lays them out: a corrupted length or position would otherwise make
    ReadStat read the rows with a wrong layout (garbage values, or rows taken for a cut tail).

    Parameters
    ----------
    namestrs : bytes
        The NAMESTR records, ``ns_len`` (136 or 140) bytes each.
    ns_len : int
        The size of one NAMESTR record.
    max_char : int
        The longest character variable: 200 bytes in v5, 32,767 in v8.

    Returns
    -------
    tuple of (int, str)
        The observation length in bytes and ``""``, or 0 and the reason naming the first bad
        variable.
    """
    import struct

    spans = []
    for i in range(len(namestrs) // ns_len):
        ns = namestrs[i * ns_len : (i + 1) * ns_len]
        ntype, _, nlng = struct.unpack(">hhh", ns[0:6])
        npos = struct.unpack(">i", ns[84:88])[0]
        most = {1: 8, 2: max_char}.get(ntype, 0)
        if not (2 if ntype == 1 else 1) <= nlng <= most or npos < 0:
            return 0, f"variable {i + 1} has an invalid type, length or position"
        spans.append((npos, nlng, i))
    end = 0
    for npos, nlng, i in sorted(spans):
        if npos != end:
            return 0, f"variable {i + 1} does not start where the one before it ends"
        end += nlng
    return end, ""


#: Start of the reason that refuses a file whose header names a column twice (``sdtm.columns``).
_REPEATED = "the header names "


def _xpt_repeated_name(namestrs: bytes, ns_len: int, long_names: bool) -> str:
    """Why a member's variables cannot be told apart (two NAMESTRs with one name), or ``""``.

    ReadStat reads such a file and renames the second column (``X_duplicated1``) with only a
    warning: the renamed column would be published under a name the file does not have.
    SAS names are compared without case, as SAS does. The names are those ReadStat gives: the
    8-byte name in a v5 file (bytes 88-119 of a v5 NAMESTR are unused, maybe not blank), the
    long name of a v8 NAMESTR (bytes 88-119) when set, else the 8-byte name.

    Parameters
    ----------
    namestrs : bytes
        The NAMESTR records, ``ns_len`` (136 or 140) bytes each.
    ns_len : int
        The size of one NAMESTR record.
    long_names : bool
        Whether the file is v8 (long names).

    Returns
    -------
    str
        The reason naming the variable (a variable name, never a value), or ``""``.
    """
    seen: set[str] = set()
    for i in range(len(namestrs) // ns_len):
        ns = namestrs[i * ns_len : (i + 1) * ns_len]
        long = ns[88:120].strip(b" \0") if long_names else b""
        name = (long or ns[8:16].strip(b" \0")).decode("latin-1")
        if name.upper() in seen:
            shown = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name) else "a variable"
            return (f"{_REPEATED}{shown} more than once (variable {i + 1} repeats the name of an "
                    "earlier one): which column is which cannot be told")  # fmt: skip
        seen.add(name.upper())
    return ""


def _xpt_v5_layout(data: bytes) -> tuple[list[tuple[int, int]], str, bool]:
    """Check the structure of a SAS XPORT v5 file and count its complete observations.

    The v5 layout is a sequence of 80-byte records: a library header, then per member (data
    set) a member header (giving the NAMESTR size, 140 or 136 bytes), a descriptor, a NAMESTR
    header giving the number of variables, one NAMESTR per variable (its length ``nlng`` and
    position ``npos`` in the observation), padded to 80 bytes, an OBS header, and the
    observations, all of the same length, the last 80-byte record padded with spaces. The v5
    header holds no row count, so a file is complete when its observation area is a whole
    number of observations followed by fewer than 80 bytes of space padding.

    Parameters
    ----------
    data : bytes
        The whole file, starting with the library header record.

    Returns
    -------
    tuple of (list of (int, int), str, bool)
        Per member ``(observation length in bytes, most observations the area holds)`` (for a
        member cut inside its observations: the complete ones before the cut), ``""`` when
        the structure is complete, else the reason naming the failed check, and whether the
        cut falls inside the first member's observations (its complete rows can be read).
        A file cut exactly where a whole observation ends on an 80-byte boundary cannot be
        told from a complete file by its structure alone.
    """
    size = len(data)
    cut = size % 80  # bytes of a partial 80-byte record: only ever at the end of a cut file
    whole = size - cut
    if whole < 80:
        return (
            [],
            (f"file truncated: {size} bytes is not a whole number of 80-byte SAS XPORT records"),
            False,
        )
    members: list[tuple[int, int]] = []
    pos = 80
    while pos < whole and data[pos : pos + 48] != _XPT_MEMBER:
        pos += 80
    if pos >= whole:
        return [], "file truncated: no member header after the SAS XPORT library header", False
    while pos < whole:
        if data[pos : pos + 48] != _XPT_MEMBER:
            return members, f"not a SAS XPORT v5 member header at byte {pos}", False
        try:
            ns_len = int(data[pos + 74 : pos + 78])
        except ValueError:
            return members, f"unreadable NAMESTR size in the member header at byte {pos}", False
        if ns_len not in (136, 140):
            why = f"NAMESTR size {ns_len} in the member header is not 136 or 140"
            return members, why, False
        hdr = pos
        while hdr < whole and data[hdr : hdr + 48] != _XPT_NAMESTR:
            hdr += 80
        if hdr >= whole:
            why = "file truncated: the variable descriptions (NAMESTR) are missing"
            return members, why, False
        try:
            nvars = int(data[hdr + 54 : hdr + 58])
        except ValueError:
            why = f"unreadable variable count in the NAMESTR header at byte {hdr}"
            return members, why, False
        start = hdr + 80
        block = nvars * ns_len
        obs_hdr = start + -(-block // 80) * 80
        if obs_hdr + 80 > whole:
            return (
                members,
                (
                    f"file truncated: {nvars} variable descriptions and the OBS header need "
                    f"{obs_hdr + 80} bytes, the file has {size}"
                ),
                False,
            )
        if data[obs_hdr : obs_hdr + 48] != _XPT_OBS:
            return members, f"no OBS header after the {nvars} variable descriptions", False
        obs_len, why = _xpt_obs_length(data[start : start + block], ns_len)
        if not members:  # the member read (ReadStat reads the first)
            why = why or _xpt_repeated_name(data[start : start + block], ns_len, False)
        if why:
            return members, why, False
        first = obs_hdr + 80
        end = first
        while end < whole and data[end : end + 48] != _XPT_MEMBER:
            end += 80
        last = end >= whole
        end = size if last else end  # the partial 80-byte record of a cut file is data
        area = end - first
        n = area // obs_len if obs_len else 0
        tail = area - n * obs_len if obs_len else area
        if (last and cut) or (tail and (tail >= 80 or data[end - tail : end].strip(b" "))):
            while (
                n
                and area - (n - 1) * obs_len < 80
                and not data[first + (n - 1) * obs_len : first + n * obs_len].strip(b" ")
            ):  # blank "rows" inside the last 80 bytes: the padding, cut
                n -= 1
            tail = area - n * obs_len
            members.append((obs_len, n))
            return members, (
                f"file truncated after {n} complete rows: "
                + (f"{tail} bytes of a {obs_len}-byte row follow"
                   if data[end - tail : end].strip(b" ") else
                   "the file ends inside an 80-byte SAS XPORT record")
            ), len(members) == 1  # fmt: skip
        members.append((obs_len, n))
        pos = end
    return members, "", False


def _xpt_v5_nul_rows(data: bytes, n_rows: int) -> list[int]:
    """The rows of the first member of a v5 XPORT file whose text value holds a NUL byte.

    ReadStat reads a character value as a C string: a NUL inside it silently cuts the value
    there (a USUBJID ``01-701-1015`` with one byte zeroed is read as ``01-``, another subject).
    A NUL followed, within its variable, by anything but NULs and blanks (the padding) marks
    such a row; the structure is the one :func:`_xpt_v5_layout` checked.

    Parameters
    ----------
    data : bytes
        The whole file.
    n_rows : int
        The rows read from the first member.

    Returns
    -------
    list of int
        The positions of those rows (empty when the layout cannot be found).

    Examples
    --------
    >>> _xpt_v5_nul_rows(b"", 0)
    []
    """
    pos = data.find(_XPT_MEMBER)
    hdr = data.find(_XPT_NAMESTR, max(pos, 0))
    if pos < 0 or hdr < 0 or not n_rows:
        return []
    try:
        ns_len = int(data[pos + 74 : pos + 78])
        nvars = int(data[hdr + 54 : hdr + 58])
    except ValueError:
        return []
    start = hdr + 80
    namestrs = data[start : start + nvars * ns_len]
    obs_len, why = _xpt_obs_length(namestrs, ns_len)
    first = start + -(-nvars * ns_len // 80) * 80 + 80
    return _nul_rows_in(data, namestrs, ns_len, nvars, obs_len, why, first, n_rows)


def _xpt_v8_nul_rows(data: bytes, n_rows: int) -> list[int]:
    """:func:`_xpt_v5_nul_rows` for a SAS XPORT v8 file (140-byte NAMESTRs, text values up
    to 32,767 bytes, label records between the NAMESTRs and the observations).

    Examples
    --------
    >>> _xpt_v8_nul_rows(b"", 0)
    []
    """
    member, names = data.find(_XPT_MEMBER_V8), data.find(_XPT_NAMESTR_V8)
    if member < 0 or names < 0 or not n_rows:
        return []
    try:
        ns_len = int(data[member + 74 : member + 78])
        nvars = int(data[names + 54 : names + 58])
    except ValueError:
        return []
    start = names + 80
    namestrs = data[start : start + nvars * ns_len]
    obs_len, why = _xpt_obs_length(namestrs, ns_len, max_char=32767)
    obs = data.find(_XPT_OBS_V8, start + len(namestrs))
    if obs < 0:
        return []
    return _nul_rows_in(data, namestrs, ns_len, nvars, obs_len, why, obs + 80, n_rows)


def _nul_rows_in(
    data: bytes,
    namestrs: bytes,
    ns_len: int,
    nvars: int,
    obs_len: int,
    why: str,
    first: int,
    n_rows: int,
) -> list[int]:
    """The rows (observations from byte ``first``) whose text value holds a NUL before its
    last byte of content (see :func:`_xpt_v5_nul_rows`), or a control byte other than tab, LF
    and CR (ESC, BEL, DEL...: never text in a SAS value, a sign of a damaged or binary span)."""
    import struct

    if why or not obs_len or first + n_rows * obs_len > len(data):
        return []
    rows = np.frombuffer(data, dtype=np.uint8, count=n_rows * obs_len, offset=first)
    rows = rows.reshape(n_rows, obs_len)
    bad = np.zeros(n_rows, dtype=bool)
    for i in range(nvars):
        ns = namestrs[i * ns_len : (i + 1) * ns_len]
        ntype, _, nlng = struct.unpack(">hhh", ns[0:6])
        npos = struct.unpack(">i", ns[84:88])[0]
        if ntype != 2:
            continue
        field = rows[:, npos : npos + nlng]
        nul = field == 0
        if not nul.any():
            continue
        content = ~nul & (field != 0x20)
        first_nul = np.where(nul.any(axis=1), nul.argmax(axis=1), nlng)
        last_content = np.where(content.any(axis=1), nlng - 1 - content[:, ::-1].argmax(axis=1), -1)
        bad |= first_nul < last_content
    for i in range(nvars):  # a control byte (not tab, line end or NUL padding) is no text
        ns = namestrs[i * ns_len : (i + 1) * ns_len]
        ntype, _, nlng = struct.unpack(">hhh", ns[0:6])
        npos = struct.unpack(">i", ns[84:88])[0]
        if ntype != 2:
            continue
        field = rows[:, npos : npos + nlng]
        ctl = ((field < 0x20) & (field != 0) & (field != 9) & (field != 10) & (field != 13)) | (
            field == 0x7F
        )
        bad |= ctl.any(axis=1)
    return np.flatnonzero(bad).tolist()


_XPT_OBS_V8 = b"HEADER RECORD*******OBSV8   HEADER RECORD!!!!!!!"


_XPT_LIBRARY_V8 = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
_XPT_MEMBER_V8 = b"HEADER RECORD*******MEMBV8  HEADER RECORD!!!!!!!"
_XPT_NAMESTR_V8 = b"HEADER RECORD*******NAMSTV8 HEADER RECORD!!!!!!!"


def _xpt_v8_namestrs(data: bytes) -> str:
    """Why the first member's variable descriptions of a SAS XPORT v8 file are unusable, or
    ``""`` (:func:`_xpt_obs_length`'s checks; headers it cannot find are left to ReadStat).

    Parameters
    ----------
    data : bytes
        The whole file, starting with the v8 library header record.

    Returns
    -------
    str
        The reason naming the failed check, or ``""``.
    """
    member, names = data.find(_XPT_MEMBER_V8), data.find(_XPT_NAMESTR_V8)
    if member < 0 or names < 0:
        return ""
    ns_len, nvars = data[member + 74 : member + 78], data[names + 54 : names + 58]
    if not (ns_len.isdigit() and nvars.isdigit()) or int(ns_len) not in (136, 140):
        return ""
    block = data[names + 80 : names + 80 + int(nvars) * int(ns_len)]
    if len(block) < int(nvars) * int(ns_len):
        return "file truncated: the variable descriptions (NAMESTR) are cut"
    why = _xpt_obs_length(block, int(ns_len), max_char=32767)[1]
    return why or _xpt_repeated_name(block, int(ns_len), True)


def _xpt_v8_rows(data: bytes) -> int | None:
    """Rows of the first member of a SAS XPORT v8 file, as its OBS header declares them.

    Unlike v5, the v8 OBS header record holds the number of observations; ReadStat does not
    check it, and reads the complete rows of a truncated file without a word.

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    int or None
        The declared row count; None for a v5 file or a header that gives none.
    """
    at = data.find(_XPT_OBS_V8)
    if at < 0:
        return None
    text = data[at + 48 : at + 80].strip()
    return int(text) if text.isdigit() else None


def _load_xpt(path: Path) -> tuple[pd.DataFrame | None, str | None, str]:
    """Read an XPT file trying :data:`XPT_ENCODINGS`; ``(df, encoding, error)``.

    A SAS XPORT v5 file is first checked by :func:`_xpt_v5_layout` (ReadStat silently reads
    the complete rows of a truncated file), and the rows read are compared with the count
    its layout allows: a file that fails either is refused as a whole with the reason, except
    a file cut inside its observations: its complete rows are read, and one blank row after
    them stands for the lost tail, named in ``df.attrs["rejects"]`` (check
    ``sdtm.truncated``, reason ``file truncated after N complete rows``) for
    :func:`read_sdtm_frame`.
    """
    import pyreadstat

    data = path.read_bytes()
    members: list[tuple[int, int]] = []
    salvage = False
    err = ""
    if data.startswith(_XPT_LIBRARY):
        members, err, salvage = _xpt_v5_layout(data)
        if err and not salvage:
            return None, None, err
    elif data.startswith(_XPT_LIBRARY_V8) and (err := _xpt_v8_namestrs(data)):
        return None, None, err
    last = ""
    for enc in XPT_ENCODINGS:
        try:
            kw: dict[str, Any] = {"encoding": enc} if enc else {}
            if salvage:
                kw["row_limit"] = max(members[0][1], 1)  # 0 would mean "no limit"
            df, _ = pyreadstat.read_xport(str(path), **kw)
            if enc == XPT_ENCODINGS[-1]:  # reads any bytes: a UTF-8 file with a bad byte?
                df = _utf8_rows(df)
            if members:
                df = _nul_rows_rejected(df, _xpt_v5_nul_rows(data, len(df)))
            elif data.startswith(_XPT_LIBRARY_V8):
                df = _nul_rows_rejected(df, _xpt_v8_nul_rows(data, len(df)))
            if salvage:
                return _with_lost_tail(df, members[0][1], err, data), enc, ""
            declared = _xpt_v8_rows(data)
            if declared is not None and len(df) > declared:
                why = f"file damaged: {len(df)} rows read, its OBS header declares {declared}"
                return None, None, why
            if declared is not None and len(df) < declared:  # ReadStat stops at the cut
                why = (f"file truncated after {len(df)} complete rows: its OBS header "
                       f"declares {declared}")  # fmt: skip
                return _with_lost_tail(df, len(df), why, data), enc, ""
            if declared is not None and len(data) % 80:
                # every row read, yet bytes lost or added (a byte deleted mid-file): the rows
                # after the damage are read shifted, garbage that the padding hides
                why = (f"file damaged: {len(data)} bytes, not a whole number of 80-byte "
                       "records (bytes lost or added: later rows would be misread)")  # fmt: skip
                return None, None, why
            if members:
                obs_len, most = members[0]
                # up to 79 bytes of padding may look like whole all-blank observations
                least = max(0, most - 79 // obs_len)
                if not least <= len(df) <= most:
                    return (
                        None,
                        None,
                        (
                            f"file truncated or misread: {len(df)} rows read, the observation "
                            f"area holds {most} {obs_len}-byte records"
                        ),
                    )
            return df, enc, ""
        except UnicodeDecodeError as exc:
            last = f"cannot decode text as {enc or 'the default encoding'}: {exc}"
        except Exception as exc:  # ReadstatError and friends
            msg = str(exc)
            if "encod" in msg.lower() or "convert" in msg.lower():
                last = msg
                continue
            return None, None, err or f"not a readable SAS XPORT file: {msg}"
    return None, None, last


def _nul_rows_rejected(df: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    """``df`` with ``rows`` blanked and named in ``df.attrs["rejects"]`` (``sdtm.encoding``):
    their text values held a NUL byte, where ReadStat cut them (:func:`_xpt_v5_nul_rows`)."""
    if not rows:
        return df
    out = df.copy()
    rejects = dict(df.attrs.get("rejects", {}))
    why = (
        "row holds a NUL or control byte inside a text value: not text (a NUL would cut the "
        "value there)"
    )
    for i in rows:
        raw = json.dumps({str(k): v for k, v in df.iloc[i].items()}, default=str)
        rejects.setdefault(i, ("sdtm.encoding", why, raw))
        out.iloc[i] = None
    out.attrs["rejects"] = rejects
    return out


def _with_lost_tail(df: pd.DataFrame, n: int, reason: str, data: bytes) -> pd.DataFrame:
    """The ``n`` complete rows of a cut XPT file and a blank row standing for the lost tail."""
    if len(df) < n:  # ReadStat stopped early: say so rather than claim rows it did not give
        reason = f"{reason}; ReadStat read {len(df)} of them"
        n = len(df)
    out = df.iloc[:n].reindex(range(n + 1))
    last = data[-2000:].decode("latin-1")
    raw = json.dumps({"size": len(data), "complete_rows": n, "last_bytes_latin1": last})
    kept = {i: r for i, r in df.attrs.get("rejects", {}).items() if i < n}
    out.attrs["rejects"] = {**kept, n: ("sdtm.truncated", reason, raw)}
    return out


def _utf8_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A table read as Latin-1 (the last of :data:`XPT_ENCODINGS`), as the file meant it.

    Latin-1 decodes any byte, so a UTF-8 file with one corrupted byte in one value, which the
    other encodings refuse as a whole, is read as Latin-1. When the values with non-ASCII text
    are mostly valid UTF-8 (or there are fewer than two that are not), the file is UTF-8: its
    values are decoded as such, and each row holding bytes that are not UTF-8 is blanked and
    named in ``df.attrs["rejects"]`` (``sdtm.encoding``) to be quarantined alone. Otherwise
    the file is a legacy Latin-1 file and is returned as read.
    """
    good: dict[tuple[int, Any], str] = {}
    bad: dict[int, dict[str, Any]] = {}
    for col in df.columns:
        values = df[col]
        if values.dtype != object and not pd.api.types.is_string_dtype(values):
            continue
        high = values.map(lambda v: isinstance(v, str) and not v.isascii())
        for i in np.flatnonzero(high.to_numpy(dtype=bool)):
            text = values.iat[i]
            try:
                good[(int(i), col)] = text.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                bad.setdefault(int(i), {})[str(col)] = text
    if len(bad) >= 2 and len(bad) > len(good):
        return df
    out = df.copy()
    for (i, col), text in good.items():
        out.iat[i, out.columns.get_loc(col)] = text
    why = "row holds bytes that are not UTF-8 (a corrupted byte)"
    rejects = {}
    for i in sorted(bad):
        raw = json.dumps({str(k): v for k, v in df.iloc[i].items()}, default=str)
        rejects[i] = ("sdtm.encoding", why, raw)
        out.iloc[i] = None
    out.attrs["rejects"] = rejects
    return out


_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _decode_csv(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and its encoding: UTF-8, else cp1252 for a legacy file.

    The encoding is decided by the lines that hold non-ASCII bytes, each judged alone: a file
    is legacy cp1252 when at least two of them are not valid UTF-8 and they outnumber those
    that are (pharmaversesdtm's ts.csv); otherwise it is UTF-8. A line that does not fit the
    file's encoding (bytes that are not UTF-8 in a UTF-8 file; a valid UTF-8 sequence in a
    cp1252 file, which cp1252 would turn into mojibake such as ``Ã©``) holds
    :data:`~twinlab.ingest.base.BAD_BYTE`, so that its row alone is quarantined and one stray
    line cannot decide how every other row is decoded.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    text, marked = decode_marked(data)
    if not marked:
        return text, "utf-8"
    lines = data.split(b"\n")
    high = [i for i, ln in enumerate(lines) if _HIGH_BYTE.search(ln)]
    utf8 = {i for i in high if not decode_marked(lines[i])[1]}
    legacy = len(high) - len(utf8)
    if legacy < 2 or legacy <= len(utf8):
        return text, "utf-8"
    parts = [
        BAD_BYTE + lines[i].decode("utf-8") if i in utf8 else decode_marked(ln, "cp1252")[0]
        for i, ln in enumerate(lines)
    ]
    return "\n".join(parts), "cp1252"


#: Most physical lines one CSV row may span (quoted line breaks); an unclosed quote that would
#: swallow more is quarantined with its own line alone, and reading resumes at the next line.
MAX_LINES_PER_ROW = 50


def _spans_one_row(text: str, width: int | None) -> bool:
    """Whether ``text``, several physical lines, is one well-formed CSV row of ``width`` fields.

    Strict parsing refuses a closing quote followed by anything but a separator (``"a"b``):
    two stray quotes on different lines would otherwise make one row of everything between.
    """
    try:
        row = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return False
    return width is None or len(row) == width


def _csv_records(lines: list[str]) -> Iterable[tuple[str | None, str]]:
    """``(text, None)`` per CSV record, or ``(None, raw line)`` for a line whose quote never closes.

    A record spans physical lines while its count of ``"`` is odd (a quoted line break), up to
    :data:`MAX_LINES_PER_ROW` lines and the end of the file, and only when the span is one
    well-formed row with as many fields as the header (:func:`_spans_one_row`); otherwise the
    opening line alone is given back as broken and reading resumes at the next line, so that a
    stray quote costs its own row, not the rows up to the next stray quote.
    """
    i, n = 0, len(lines)
    width: int | None = None
    while i < n:
        j, text = i, lines[i]
        quotes = text.count('"')
        while quotes % 2 and j + 1 < n and j - i + 1 < MAX_LINES_PER_ROW:
            j += 1
            text += lines[j]
            quotes += lines[j].count('"')
        if quotes % 2 or (j > i and not _spans_one_row(text, width)):
            yield None, lines[i].rstrip("\r\n")
            i += 1
            continue
        if width is None and text.strip():  # the header
            try:
                width = len(next(csv.reader([text])))
            except (csv.Error, StopIteration):
                pass
        yield text, text.rstrip("\r\n")
        i = j + 1


def _load_csv(path: Path) -> tuple[pd.DataFrame | None, str | None, str]:
    """An SDTM CSV as a table of text; rows that cannot be used are kept as rejects.

    Rows are read one by one (:func:`_csv_records`, then :mod:`csv` on each), so that one bad
    row does not cost the file: a row with more or fewer fields than the header
    (``sdtm.columns``), bytes that are not text (``sdtm.encoding``) or a quote that never
    closes (``sdtm.csv``) stays in the table, blank, at its position (``#row=`` pointers and
    SUPP-- links keep counting data rows), and ``df.attrs["rejects"]`` names its check, reason
    and raw line for :func:`read_sdtm_frame`. Blank lines are skipped; ``NA`` and empty cells
    are missing.
    """
    text, enc = _decode_csv(path.read_bytes())
    records = _csv_records(io.StringIO(text, newline="").readlines())
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    rejects: dict[int, tuple[str, str, str]] = {}
    for record, raw in records:
        if record is not None and not record.strip():
            continue  # a blank line
        why = "a quote that does not close within the row"
        try:
            row = next(csv.reader([record])) if record is not None else None
        except csv.Error:  # a field over csv.field_size_limit(), a line break in an unquoted field
            row, why = None, f"a field over {csv.field_size_limit():,} characters, or a stray break"
        except StopIteration:
            row = None
        if header is None:
            if not row or BAD_BYTE in "".join(row):
                return None, None, "not a readable CSV file: the header line is malformed"
            header, width = row, len(row)
            continue
        bad = None
        if row is None:
            bad = ("sdtm.csv", f"row is not valid CSV ({why})")
        elif len(row) != width:
            bad = ("sdtm.columns", f"row has {len(row)} fields, the header has {width}")
        elif any(BAD_BYTE in c for c in row):
            why = "row holds bytes that are not text in the file's encoding"
            if enc == "cp1252":
                why += " (cp1252; the row's bytes are UTF-8, or bytes cp1252 lacks)"
            bad = ("sdtm.encoding", why)
        if bad is not None:
            rejects[len(rows)] = (*bad, raw)
            rows.append([None] * width)
            continue
        rows.append([None if c in ("", "NA") else c for c in row])
    if header is None:
        return None, None, "not a readable CSV file: empty"
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df.attrs["rejects"] = rejects
    return df, enc, ""


def _sniff(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".xpt":
        return True
    if suffix != ".csv":
        return False
    with path.open("rb") as fh:
        head = fh.readline(8192).decode("utf-8", "replace").upper()
    names = {t.strip().strip('"').strip("'") for t in re.split(r"[,;\t]", head)}
    return bool(names & {"DOMAIN", "USUBJID", "RDOMAIN"})


def read_sdtm_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Load one SDTM file as a table of text and numbers, with the encoding that decoded it.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.xpt`` (tried with ReadStat's default encoding, then :data:`XPT_ENCODINGS`) or ``.csv``
        (UTF-8, then cp1252; ``NA`` and empty cells are missing).

    Returns
    -------
    tuple of (pandas.DataFrame, str)
        The table and the encoding used (``"default"`` for ReadStat's own). CSV rows that
        cannot be read (wrong field count, bytes that are not text, an unclosed quote) are left
        out; :func:`read_sdtm` quarantines them with a reason.

    Raises
    ------
    ValueError
        When the file cannot be read (truncated, not XPT/CSV, undecodable); a truncated XPT
        file too, though :func:`read_sdtm` reads its complete rows.
    """
    p = Path(path)
    df, enc, err = _load_csv(p) if p.suffix.lower() == ".csv" else _load_xpt(p)
    if df is None:
        raise ValueError(f"{p.name}: {err}")
    rejects = df.attrs.pop("rejects", {})
    cut = [why for check, why, _ in rejects.values() if check == "sdtm.truncated"]
    if cut:  # a table without its tail would pass for the whole file
        raise ValueError(f"{p.name}: {cut[0]}")
    if rejects:
        df = df.drop(index=list(rejects)).reset_index(drop=True)
    return df, enc or "default"


def _read(p: Path, tz: str) -> tuple[ReadResult, pd.DataFrame | None]:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    try:
        df, _, err = _load_csv(p) if p.suffix.lower() == ".csv" else _load_xpt(p)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__  # not str(exc): it quotes the path
        return _file_failure(p, "sdtm.io", f"cannot read file: {why}"), None
    if df is None:
        check = "sdtm.columns" if err.startswith(_REPEATED) else "sdtm.parse"
        return _file_failure(p, check, err), None
    repeated = df.columns[df.columns.duplicated()]
    if len(repeated):  # which of the two a row's value is cannot be told
        name = str(repeated[0])  # a variable name, else unnamed: a header cell may be a value
        name = name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name) else "a column"
        why = f"{_REPEATED}{name} more than once"
        return _file_failure(p, "sdtm.columns", why), None
    if len(df) and "USUBJID" not in df.columns and _domain_of(df, p.name) not in _NO_SUBJECT:
        # every row would be 'USUBJID missing', and rows of different subjects look alike
        why = "no USUBJID column: not an SDTM domain, or not comma-separated"
        return _file_failure(p, "sdtm.columns", why), None
    result = read_sdtm_frame(df, source_file=str(p), tz=tz)
    sink = _TABLE_SINK.get()
    if sink is not None:  # kept for the SUPP-- merge of the same task (merge_supp_results)
        sink[str(p)] = df
    return result, df


#: Where :func:`_read` leaves each table it loaded, by path, while :func:`kept_tables` is open.
_TABLE_SINK: ContextVar[dict[str, pd.DataFrame] | None] = ContextVar("sdtm_tables", default=None)


@contextlib.contextmanager
def kept_tables() -> Iterator[dict[str, pd.DataFrame]]:
    """Keep the table of each SDTM file read inside the block, by the path it was read as.

    The reader task of a folder passes them to :func:`merge_supp_results`, which then merges
    SUPP-- qualifiers without loading any file a second time.

    Yields
    ------
    dict of str to pandas.DataFrame
        Filled as files are read; emptied when the block ends.
    """
    tables: dict[str, pd.DataFrame] = {}
    token = _TABLE_SINK.set(tables)
    try:
        yield tables
    finally:
        _TABLE_SINK.reset(token)
        tables.clear()


@register(FORMAT, sniff=_sniff, description="CDISC SDTM domain file (SAS XPT or CSV)")
def read_sdtm(path: str | Path, *, tz: str = "UTC") -> ReadResult:
    """Read one SDTM domain file (``.xpt`` SAS transport or SDTM-shaped ``.csv``).

    Parameters
    ----------
    path : str or pathlib.Path
        The domain file.
    tz : str
        IANA time zone in which the zone-less SDTM datetimes are interpreted (e.g. the site's
        zone); recorded per event as the qualifier ``tz_assumed``. Default ``"UTC"``.

    Returns
    -------
    ReadResult
        One record per row; a file that cannot be read at all is one quarantined record.
        ``events`` carries two extra columns, ``orig_value`` and ``orig_unit`` (the result as
        collected, e.g. LBORRES / LBORRESU).

    Raises
    ------
    ValueError
        Only for an unknown ``tz`` (a usage error, not bad content).

    Examples
    --------
    >>> res = read_sdtm("dm.xpt")  # doctest: +SKIP
    >>> c = res.counts  # doctest: +SKIP
    >>> c["records_in"] == c["accepted"] + c["quarantined"]  # doctest: +SKIP
    True
    """
    return _read(Path(path), tz)[0]


# --- folders and SUPP-- merge -----------------------------------------------------------------


def _key(v: Any) -> str:
    t = _text(v)
    if t is None:
        return ""
    f = _num_or_none(t)
    return _fmt_num(f) if f is not None else t


def read_sdtm_folder(folder: str | Path, *, tz: str = "UTC") -> dict[str, ReadResult]:
    """Read every SDTM file of a study folder and merge SUPP-- qualifiers into their parents.

    Each SUPP-- row (USUBJID + IDVAR / IDVARVAL, or subject level when IDVAR is empty) is put
    into ``qualifiers["supp"][QNAM] = QVAL`` of the matching events of its parent domain (RDOMAIN,
    across split files such as LBCH / LBHE / LBUR). A SUPP-- row that matches no parent event is
    quarantined in the SUPP-- file's result (check ``sdtm.supp_orphan``; the reason says when
    the parent domain's file was truncated or could not be read); a matched one is
    accepted with no event of its own. Read alone with :func:`read_sdtm`, a SUPP-- file's rows
    are all accepted with no events.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding ``*.xpt`` and/or SDTM ``*.csv`` files.
    tz : str
        As for :func:`read_sdtm`.

    Returns
    -------
    dict of str to ReadResult
        By file name, in sorted order.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and _safe_sniff(p))
    loaded: dict[str, tuple[ReadResult, pd.DataFrame | None, str]] = {}
    for p in files:
        res, df = _read(p, tz)
        # an unreadable file has no DOMAIN column: its name says which parent it was
        dom = (_domain_of(df, p.name) if df is not None else p.stem).upper()
        loaded[p.name] = (res, df, dom)
    out: dict[str, ReadResult] = {}
    for fname, (res, df, dom) in loaded.items():
        if dom.startswith("SUPP") and df is not None:
            family = [(r, d) for r, d, pdom in loaded.values() if pdom == dom[4:]]
            parents = [(r, d) for r, d in family if d is not None]
            out[fname] = _merge_supp(res, df, parents, _parent_loss(dom[4:], family))
        else:
            out[fname] = res
    return out


def merge_supp_results(
    results: list[ReadResult], tables: dict[str, pd.DataFrame] | None = None
) -> list[ReadResult]:
    """``results`` of a run with each SUPP-- file's qualifiers merged into its parent domain.

    :func:`read_sdtm` reads one file alone, so a SUPP-- file read by the run
    (:func:`twinlab.ingest.read_sources`) had all its rows accepted with no event: its
    qualifiers (AETRTEM...) reached no event and a row whose parent was missing was never
    quarantined. Here the SDTM files of each folder are merged as :func:`read_sdtm_folder`
    merges them (``qualifiers["supp"]``; ``sdtm.supp_orphan`` / ``sdtm.supp_parent`` for a row
    with no usable parent). Only files whose result has a ``path`` take part; the tables are
    loaded again only in a folder holding a SUPP-- file. A SUPP-- result keeps its
    ``source_file``, ``digest`` and ``path``; parent results get their events' qualifiers
    updated in place. ``tables`` holds the tables already loaded, by path
    (:func:`kept_tables`): a file found there is not loaded again.
    """
    folders: dict[Path, list[int]] = {}
    for i, res in enumerate(results):
        if res.format == FORMAT and res.path:
            folders.setdefault(Path(res.path).parent, []).append(i)
    out = list(results)
    for members in folders.values():
        known = tables or {}
        loaded = {i: _table_of(results[i], known) for i in members if _may_be_supp(results[i])}
        supps = [i for i, (df, dom) in loaded.items() if df is not None and dom.startswith("SUPP")]
        if not supps:  # a trial design file (TS...) has no events either: loaded, left alone
            continue
        loaded |= {i: _table_of(results[i], known) for i in members if i not in loaded}
        for i in supps:
            df, dom = loaded[i]
            family = [(results[j], loaded[j][0]) for j in members if loaded[j][1] == dom[4:]]
            parents = [(r, d) for r, d in family if d is not None]
            supp = results[i]
            merged = _merge_supp(supp, df, parents, _parent_loss(dom[4:], family))
            merged.source_file, merged.digest = supp.source_file, supp.digest
            merged.path, merged.series = supp.path, supp.series
            out[i] = merged
    return out


def _may_be_supp(res: ReadResult) -> bool:
    """Whether ``res`` can be a SUPP-- file's: rows accepted, yet no event and no person."""
    return res.records_accepted > 0 and res.n_rows("events") == 0 and res.n_rows("persons") == 0


def _table_of(
    res: ReadResult, known: dict[str, pd.DataFrame] | None = None
) -> tuple[pd.DataFrame | None, str]:
    """The table :func:`read_sdtm` read for ``res`` and its domain; ``None`` when the file
    was refused whole (its one quarantined record names the file, not a row) or is gone.
    Taken from ``known`` (by path) when there, else loaded again."""
    p = Path(res.path)
    whole = any("#row=" not in str(s) for s in res.quarantine["source_record"])
    df = None
    if not whole and known and res.path in known:
        df = known[res.path]
    elif not whole:
        try:
            df = (_load_csv(p) if p.suffix.lower() == ".csv" else _load_xpt(p))[0]
        except OSError:
            df = None
    return df, (_domain_of(df, p.name) if df is not None else p.stem).upper()


def _safe_sniff(p: Path) -> bool:
    try:
        return _sniff(p)
    except OSError:
        return False


def _parent_loss(domain: str, family: list[tuple[ReadResult, pd.DataFrame | None]]) -> str:
    """What a SUPP-- orphan's reason adds when the rows of its parent domain were cut or lost.

    Parameters
    ----------
    domain : str
        The parent domain (RDOMAIN), e.g. ``AE``.
    family : list of (ReadResult, DataFrame or None)
        The files of that domain; ``None`` for a file that could not be read at all.

    Returns
    -------
    str
        ``""`` when every file of the domain was read whole, else a clause naming the domain
        and what happened to its file (never a file name: they can hold patient names).
    """
    said = _said_domain(domain)  # a domain code, never a file's name
    if any(d is None for _, d in family):
        return f"; the {said}file could not be read, so its parent row may be lost with it"
    if any(r.quarantine["check"].eq("sdtm.truncated").any() for r, _ in family):
        return f"; the {said}file was truncated: its parent row may be in the lost tail"
    return ""


def _parent_index(
    parents: list[tuple[ReadResult, pd.DataFrame]], idvars: set[str]
) -> dict[tuple[str, str, str], list[tuple[int, int]]]:
    """(USUBJID, IDVAR, value) → [(parent number, row)]; IDVAR '' = all rows of the subject."""
    index: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for k, (_, df) in enumerate(parents):
        if "USUBJID" not in df.columns:
            continue
        subjects = [_key(v) for v in df["USUBJID"].to_numpy()]
        for row, usubjid in enumerate(subjects):
            index.setdefault((usubjid, "", ""), []).append((k, row))
        for idvar in idvars:
            if idvar and idvar in df.columns:
                vals = [_key(v) for v in df[idvar].to_numpy()]
                for row, (usubjid, val) in enumerate(zip(subjects, vals, strict=True)):
                    index.setdefault((usubjid, idvar, val), []).append((k, row))
    return index


def _row_states(res: ReadResult) -> tuple[dict[int, list[int]], set[int]]:
    """Per parent file: row → event positions, and the set of quarantined rows (0-based)."""
    pattern = r"#row=(\d+)$"
    rows = res.events["source_record"].str.extract(pattern)[0].astype(int) - 1
    events: dict[int, list[int]] = {}
    for pos, row in enumerate(rows.to_numpy()):
        events.setdefault(int(row), []).append(pos)
    bad = res.quarantine["source_record"].str.extract(pattern)[0].dropna().astype(int) - 1
    return events, set(bad.to_numpy().tolist())


#: An SDTM domain code (``AE``, ``MH``; a split domain ``APMH``) a SUPP-- reason may quote.
_DOMAIN_CODE = re.compile(r"[A-Z]{2}(?:[A-Z]{2})?")
#: An IDVAR a SUPP-- reason may quote: a record key of the parent domain (``AESEQ``,
#: ``CMGRPID``, ``LBSPID``, ``--REFID``, ``--LNKID``, ``--LNKGRP``).
_IDVAR_NAME = re.compile(r"[A-Z]{2,4}(?:SEQ|GRPID|REFID|SPID|LNKID|LNKGRP)")


def _said_domain(value: Any) -> str:
    """RDOMAIN as a SUPP-- reason quotes it: a domain code and a space (``"AE "``), else
    nothing (the cell is the sponsor's text: "Loveday Pennycuick" was quoted into the
    published quarantine)."""
    code = _text(value) or ""
    return f"{code} " if _DOMAIN_CODE.fullmatch(code) else ""


def _said_idvar(idvar: str) -> str:
    """IDVAR as a SUPP-- reason quotes it: a record key's variable name, else ``its IDVAR``."""
    return idvar if _IDVAR_NAME.fullmatch(idvar) else "its IDVAR"


def _merge_supp(
    supp: ReadResult,
    df: pd.DataFrame,
    parents: list[tuple[ReadResult, pd.DataFrame]],
    lost: str = "",
) -> ReadResult:
    cols = [str(c) for c in df.columns]
    rows = [dict(zip(cols, v, strict=True)) for v in _row_tuples(df)]
    idvars = {_text(d.get("IDVAR")) or "" for d in rows}
    index = _parent_index(parents, idvars)
    states = [_row_states(res) for res, _ in parents]
    quarantined = set(supp.quarantine["source_record"])
    orphans: list[dict[str, str]] = []
    updates: dict[tuple[int, int], dict[str, Any]] = {}
    name = Path(supp.source_file).name
    for i, d in enumerate(rows, start=1):
        pointer = f"{name}#row={i}"
        if pointer in quarantined:
            continue
        idvar = _text(d.get("IDVAR")) or ""
        key = (_key(d.get("USUBJID")), idvar, _key(d.get("IDVARVAL")) if idvar else "")
        hits = index.get(key, [])
        qnam, qval = _text(d.get("QNAM")), _text(d.get("QVAL"))
        where = "its USUBJID" + (f" and {_said_idvar(idvar)}" if idvar else "")  # never values
        if qnam is None:
            orphans.append(quarantine_row(pointer, "sdtm.supp", "QNAM is empty", _raw_json(d)))
            continue
        if not hits:
            why = f"no {_said_domain(d.get('RDOMAIN'))}row with {where}{lost}"
            orphans.append(quarantine_row(pointer, "sdtm.supp_orphan", why, _raw_json(d)))
            continue
        if all(row in states[k][1] for k, row in hits):
            parent = _said_domain(d.get("RDOMAIN"))
            why = f"its parent {parent}row (with {where}) is quarantined"
            orphans.append(quarantine_row(pointer, "sdtm.supp_parent", why, _raw_json(d)))
            continue
        for k, row in hits:
            for pos in states[k][0].get(row, ()):
                updates.setdefault((k, pos), {})[qnam] = qval
    by_parent: dict[int, dict[int, dict[str, Any]]] = {}
    for (k, pos), supp_q in updates.items():
        by_parent.setdefault(k, {})[pos] = supp_q
    for k, changes in by_parent.items():
        ev = parents[k][0].events
        quals = ev["qualifiers"].tolist()
        for pos, supp_q in changes.items():
            quals[pos] = {**quals[pos], "supp": {**quals[pos].get("supp", {}), **supp_q}}
        ev["qualifiers"] = pd.Series(quals, index=ev.index, dtype=object)
    q = pd.concat([supp.quarantine, frame(QUARANTINE_COLUMNS, orphans)], ignore_index=True)
    return ReadResult(
        source_file=supp.source_file,
        format=FORMAT,
        records_in=supp.records_in,
        records_accepted=supp.records_in - len(q) - supp.duplicates,
        duplicates=supp.duplicates,
        events=supp.events,
        persons=supp.persons,
        quarantine=q[list(QUARANTINE_COLUMNS)],
    )
