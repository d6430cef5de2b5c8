"""De-identify a reader's ``persons`` and ``events`` tables (HIPAA Safe Harbor).

:func:`deidentify` is the one step between the raw zone and everything downstream. It returns

``patients``
    One row per patient with the timeline ``patients`` columns only: keyed pseudonym, sex,
    birth year (``"YYYY"`` or ``"90+"``), site (kept, or a keyed pseudonym when it holds PHI),
    shifted index date, sources
    (scrubbed file names), plus ``cov_age`` (completed years at the true index date, 90 for
    ``"90+"``; it does not depend on the key's date shift), ``cov_zip3`` (ZIP3 or ``"000"``),
    ``cov_state`` and ``cov_deceased`` when known. Every other person field is dropped (allow-list).
``events``
    The events with ``patient_id`` (pseudonym) instead of ``source_patient``, ``time`` and
    ``end_time`` shifted by the patient's date shift, free text (``display``, ``value_text``,
    ``orig_value`` unless it is the number behind ``value_num``, string values and keys of
    ``qualifiers``) scrubbed by :class:`~twinlab.deid.text.TextScrubber`, and ``source_file``
    and ``source_record`` cleared of known identifier values and dates
    (:meth:`~twinlab.deid.text.TextScrubber.scrub_pointer`: the patient key becomes the
    pseudonym, so pointers stay unique; a row number is never taken for a short identifier).
    ``event_id`` and ``row_hash`` are recomputed when present. Columns outside the reader
    contract and the timeline schema are dropped (named in ``events.attrs["dropped_columns"]``).
    The value of an age event (an age code such as LOINC 30525-0, or a display naming an age, in
    a time unit) over 89 years is capped at 90 years, its original value ``"90+"`` (counted in
    ``events.attrs["ages_capped"]``). A ``code`` is kept when it is a recognised standard
    system's code in that system's syntax or a declared coding of ``vocabulary``; any other code
    (a local system's, which can be any text) becomes a keyed pseudonym
    (:mod:`twinlab.deid.codes`; counted in ``events.attrs["codes_pseudonymized"]``).
``crosswalk``
    ``source_patient -> patient_id, shift_days``: the only link back to the identities. It
    must stay in the (encrypted) raw zone with the key.

Age rule (Safe Harbor "ages over 89"): a patient's age is taken at the **latest** of their
reference date (``reference_dates``, e.g. the index date) and their last event in the input
(the data cut-off for that patient); for a patient with neither, at ``cutoff`` (default: the
latest event in the whole input, or today when there are no events), and at the **release
date** ``age_at`` (default today): a year of birth that tells an age over 89 on the day the
data are published is as identifying as one that told it on the day they were recorded. Taking
the latest date errs on the safe side: a birth year is published only if the patient was at
most 89 at every date the output describes and on the day it is released. Partial birth dates
count from their earliest possible day.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from twinlab.deid._util import is_missing, to_utc
from twinlab.deid.dates import date_shift_days, shift_dates, shift_iso_date
from twinlab.deid.identifiers import IdentifierSet, _alnum_chunks, _leaves, fold, person_identifiers
from twinlab.deid.keys import DeidKey, as_key
from twinlab.deid.pseudonyms import pseudonym, pseudonymize
from twinlab.deid.safe_harbor import AGE_CEILING, age_in_years, zip3
from twinlab.deid.text import TextScrubber
from twinlab.deid.vocabulary import CodedVocabulary, shipped_vocabulary

__all__ = ["PATIENT_SYSTEM", "deidentify"]

#: The identifier system under which source patient keys are pseudonymized.
PATIENT_SYSTEM = "twinlab:source_patient"

#: Field policy. Free text goes through the text scrubber; record pointers (which may embed a
#: patient key or sample id) lose known identifier values only; standard codes, code systems,
#: units and numbers are clinical data, never text to scrub (LOINC ``8302-2`` is no ZIP
#: ``83022``; local codes become keyed pseudonyms): the PHI scan of the outputs checks them.
_FREE_TEXT = ("display", "value_text", "orig_value")
_KNOWN_ONLY = ("source_file", "source_record")
_KEEP = (
    "domain",
    "code",
    "code_system",
    "value_num",
    "unit",
    "orig_unit",
    "status",
    "hours_from_index",
    "schema_version",
)
_SEX = {"f": "F", "female": "F", "m": "M", "male": "M"}


def _norm(value: str) -> str:
    return "".join(_alnum_chunks(fold(value)[0]))


_NUMBER = re.compile(r"\s*[<>]?=?\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*")


def _scrub_free_text(
    values: pd.Series, scrubber: TextScrubber, measured: pd.Series | None = None
) -> pd.Series:
    """Scrub a free-text column; where ``measured``, values that are one number pass.

    ``orig_value`` of a measurement (``value_num`` set) is a number, not text; the
    original value of anything else (a subject id kept as an EDC item, say) is text.
    """
    text = values.astype("str")
    if measured is None:
        return scrubber.scrub_series(text)
    keep = measured.to_numpy(dtype=bool) & text.map(
        lambda v: isinstance(v, str) and _NUMBER.fullmatch(v) is not None
    ).to_numpy(dtype=bool)
    out = text.copy()
    if (~keep).any():
        out[~keep] = scrubber.scrub_series(text[~keep])
    return out


def _kept_by_vocabulary(
    column: str, events: pd.DataFrame, vocabulary: CodedVocabulary | None
) -> np.ndarray:
    """Rows whose ``column`` the field policy keeps verbatim (``keep: coded_display``)."""
    from twinlab.deid.policy import column_policy

    entry = column_policy("events", column) or {}
    if entry.get("keep") != "coded_display" or column != "display":
        return np.zeros(len(events), dtype=bool)
    vocab = shipped_vocabulary() if vocabulary is None else vocabulary
    return vocab.mask(events)


def _hashable(value: Any) -> Any:
    """A qualifier value as a cache key: text and numbers as they are, anything else as text."""
    return value if value is None or isinstance(value, str | int | float) else str(value)


def _first(values: pd.Series) -> Any:
    for v in values:
        if not is_missing(v) and not (isinstance(v, str) and not v.strip()):
            return v
    return None


def _age_at_index(birth: Any, index: Any) -> float | None:
    """Completed years at the patient's true (unshifted) index date: the exact age the
    covariate models need, which neither the published birth year nor the shifted index date
    give (their difference moves by a year with the key's date shift). None without an index
    date."""
    age = None if is_missing(index) else age_in_years(birth, index)
    return None if age is None else float(age)


#: PHI subtrees of other people or other places than the patient's residence: a contact's or
#: relative's address (FHIR Patient.contact, RelatedPerson, FamilyMemberHistory) and the
#: birthplace. Their ZIP code or state is no covariate of the patient.
_NOT_RESIDENCE = frozenset({"contact", "related", "birth_place"})


def _phi_field(phi: Any, field: str) -> str | None:
    """The first ``field`` (or ``<field>code``) leaf of the patient's own PHI, else None."""
    if not isinstance(phi, dict):
        return None
    for path, value in _leaves(phi):
        if path and path[0] in _NOT_RESIDENCE:
            continue
        if path and path[-1].lower() in {field, f"{field}code"}:
            return value
    return None


#: A keyed pseudonym in place of a sender's key (``sponsor_key_qualifiers``): no PHI.
_KEYED_KEY = re.compile(r"ref-[A-Z2-7]{16}")


def _scrub_qualifier_obj(
    obj: Any,
    plain: TextScrubber,
    full: TextScrubber,
    coded: Mapping[str, Any],
    narrative: bool = False,
) -> Any:
    """Keys (at any depth) lose known values and patterns; the values of a coded key go through
    its scrubber (``coded[key].scrub_obj``: known values, patterns, person names); any other
    key's string values (free text: SUPPQUAL comments under ``supp``, dosage text, undeclared
    keys) go through the full scrubber, or, with ``narrative`` (a source nobody reviewed), are
    dropped (``None``) when narrative (two words or more), as its ``value_text`` is."""
    if isinstance(obj, dict):
        return {
            (k if _KEYED_KEY.fullmatch(str(k)) else plain.scrub(str(k))): (
                coded[k].scrub_obj(v)
                if k in coded
                else _scrub_qualifier_obj(v, plain, full, coded, narrative)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_scrub_qualifier_obj(v, plain, full, coded, narrative) for v in obj]
    if narrative and isinstance(obj, str) and len(_WORDS.findall(obj)) >= 2:
        return None
    return full.scrub_obj(obj)


def _scrub_qualifiers(
    value: Any,
    plain: TextScrubber,
    drop: frozenset[str],
    full: TextScrubber | None = None,
    coded: frozenset[str] | Mapping[str, Any] | None = None,
    codes: Callable[[Any, Any], Any] | None = None,
    refs: Mapping[str, Callable[[str], str]] | None = None,
    kept: Callable[[dict[str, Any]], bool] | None = None,
    narrative: bool = False,
    renamed: Mapping[str, Callable[[str], str]] | None = None,
) -> Any:
    """Scrub a qualifiers object (dict or JSON text), dropping the keys in ``drop``.

    With ``full`` and ``coded`` (the field policy's ``coded_qualifiers``), the string values of
    keys outside ``coded`` are free text and go through ``full`` (the clinical engine
    included); otherwise every value goes through ``plain``. ``coded`` may map a key to its
    own scrubber (an object with ``scrub_obj``: a product lot number's). With ``codes``
    (``codes(system, code)`` -> the code as published), a top-level ``value_code`` (the code
    of a coded value) follows the policy of ``events.code`` instead, and its ``value_system``
    is kept when it is a declared code system. With ``refs`` (key -> transform), the string
    value of a top-level key in ``refs`` is published as ``refs[key](value)``, not scrubbed: a
    reference to another record (the field policy's ``reference_qualifiers``: a FHIR fullUrl, an
    encounter) as its keyed pseudonym, a date of the patient's (``date_qualifiers``) shifted.
    With ``kept`` (``kept(obj)``: whether the top-level ``source_display``, the name of the
    source coding ``source_system`` / ``source_code`` that a code map replaced, is a declared
    concept name), such a ``source_display`` goes through ``plain`` like a coded qualifier.
    With ``narrative`` (the event's source is one nobody reviewed), the free-text values (of
    keys outside ``coded``) of two words or more are dropped (``None``) instead of scrubbed,
    like the event's ``value_text``: a SUPPQUAL comment naming a relative is a sentence.
    With ``renamed`` (key -> transform), the keys of an object under a top-level key in
    ``renamed`` (the sender's names: a SUPPQUAL QNAM under ``supp``) are published as
    ``renamed[key](name)`` before any scrubbing (field policy ``sponsor_key_qualifiers``).
    """
    full = plain if full is None else full
    if not isinstance(coded, Mapping):
        coded = dict.fromkeys(coded or (), plain)

    def scrub(obj: Any) -> Any:
        if isinstance(obj, dict) and kept is not None and kept(obj):
            rest = scrub({k: v for k, v in obj.items() if k != "source_display"})
            return {**rest, "source_display": plain.scrub(obj["source_display"])}
        if isinstance(obj, dict) and refs is not None:
            held = {k: refs[k](v) for k, v in obj.items() if k in refs and isinstance(v, str)}
            if held:
                return {**scrub({k: v for k, v in obj.items() if k not in held}), **held}
        if not isinstance(obj, dict) or codes is None or is_missing(obj.get("value_code")):
            return _scrub_qualifier_obj(obj, plain, full, coded, narrative)
        # the code of a coded value: the field policy of events.code, not the patterns (a
        # SNOMED CT code is no 9-digit [NUMBER]); its system kept when a declared one
        system, code = obj.get("value_system"), obj["value_code"]
        rest = {k: v for k, v in obj.items() if k not in ("value_code", "value_system")}
        out = _scrub_qualifier_obj(rest, plain, full, coded, narrative)
        out["value_code"] = codes(system, code)
        if system is not None:
            from twinlab.deid.policy import in_vocabulary

            declared = in_vocabulary("code_system", system)
            out["value_system"] = system if declared else plain.scrub(str(system))
        return out

    def top(obj: dict[str, Any]) -> dict[str, Any]:
        obj = {k: v for k, v in obj.items() if k not in drop}
        for k, rename in (renamed or {}).items():
            if isinstance(obj.get(k), dict):
                obj[k] = {rename(str(name)): v for name, v in obj[k].items()}
        return obj

    if isinstance(value, dict):
        return scrub(top(value))
    if isinstance(value, list):
        return scrub(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return full.scrub(value)
        if isinstance(parsed, dict):
            parsed = top(parsed)
        return json.dumps(scrub(parsed), ensure_ascii=False, sort_keys=True)
    return value


#: A sponsor's variable name (SDTM: a letter, then at most 7 letters or digits).
_SDTM_NAME = re.compile(r"[A-Z][A-Z0-9]{0,7}")


def _sponsor_key(name: str, scrubber: TextScrubber, key: DeidKey) -> str:
    """A key the sender named (a SUPPQUAL QNAM; field policy ``sponsor_key_qualifiers``) as
    published: kept when an SDTM variable name that holds no known identifier, no PHI pattern
    and is no person name of the dictionaries (clinical words aside), else a keyed pseudonym
    (``ref-`` and 16 base32 characters: the same name, the same pseudonym).

    Examples
    --------
    >>> k = DeidKey(bytes(32))
    >>> s = TextScrubber(engine=False)
    >>> _sponsor_key("AETRTCOM", s, k), _sponsor_key("CARROWAY", s, k)[:4]
    ('AETRTCOM', 'ref-')
    """
    from twinlab.deid.vocabulary import _name_words

    names, clinical = _name_words()
    word = name.lower()
    if (
        _SDTM_NAME.fullmatch(name)
        and not (word in names and word not in clinical)
        and scrubber.scrub(name) == name
    ):
        return name
    return pseudonym("twinlab:sponsor_key", name, key=key, prefix="ref-")


#: Pattern kinds of serial-number shapes, which a product lot number is by nature.
_SERIAL_KINDS = frozenset({"id", "number"})
#: A lot label before a lot number ("LOT 12345X", "Lot #: A-77", "LOT12345"): the value's own
#: name, no label of a record number.
_LOT_LABEL = re.compile(r"\s*lot(?![a-z])\s*(?:no\.?|number|#)?\s*[:#.-]?\s*", re.IGNORECASE)


class _LotScrubber:
    """The scrubber of a product lot number (field policy ``lot_qualifiers``): kept, less known
    identifiers, person names and the PHI patterns but serial-number shapes, after its label."""

    def __init__(self, scrubber: TextScrubber) -> None:
        self._scrubber = scrubber

    def scrub_obj(self, obj: Any) -> Any:
        if not isinstance(obj, str):
            return self._scrubber.scrub_obj(obj)
        label = _LOT_LABEL.match(obj)
        cut = label.end() if label else 0
        return obj[:cut] + self._scrubber.scrub(obj[cut:])


_VOCABULARY_WORD = re.compile(r"[^\W\d_]+")
_COUNTRY_CODE = re.compile(r"[A-Z]{2,3}")


class _VocabularyQualifier:
    """The check of a vocabulary qualifier (field policy ``vocabulary_qualifiers``): a text
    value is kept verbatim when in the vocabulary, else replaced by None; a list is checked
    item by item; any other value (a number, an object) is no vocabulary term: None. The
    vocabularies: ``countries``, ``ucum`` (a UCUM unit whose annotations hold no PHI, or a known
    spelling of one, as events.unit) or a list of words."""

    def __init__(self, vocabulary: Any) -> None:
        self._countries = vocabulary == "countries"
        self._ucum = vocabulary == "ucum"
        named = self._countries or self._ucum
        self._words = frozenset() if named else frozenset(map(str.lower, vocabulary))

    def allowed(self, value: str) -> bool:
        from twinlab.deid.text import _countries, _fold

        text = value.strip()
        if not text:
            return True
        if self._ucum:
            from twinlab.deid.policy import _ucum_spelling, in_vocabulary

            spelled = _ucum_spelling(text)
            return in_vocabulary("ucum", text) or (
                spelled is not None and in_vocabulary("ucum", spelled)
            )
        if self._countries:
            return bool(_COUNTRY_CODE.fullmatch(text)) or _fold(text) in _countries()
        words = _VOCABULARY_WORD.findall(text.lower())
        return bool(words) and all(w in self._words for w in words)

    def scrub_obj(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, bool):
            return obj
        if isinstance(obj, list | tuple):
            return [self.scrub_obj(v) for v in obj]
        return obj if isinstance(obj, str) and self.allowed(obj) else None


def _shifted_date(value: str, days: int, scrubber: TextScrubber) -> str:
    """A date qualifier (field policy ``date_qualifiers``): the ISO date shifted by the
    patient's ``days``; anything else scrubbed."""
    return shift_iso_date(value, days) or scrubber.scrub(value)


#: A site id as a trial numbers its sites ("701", "SITE-01", "US.004"): letters, digits and
#: separators, no blank, at most 32 characters.
_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}")
#: A word of five letters or more in a site id: a name (a town, "SITE.MARLOWBRIDGE"; a person,
#: "MABERLY"), not a code, unless one of the words sites are numbered with.
_SITE_NAME_WORD = re.compile(r"[^\W\d_]{5,}")
_SITE_WORDS = frozenset({"sites", "center", "centre", "study", "trial"})


def _publish_sites(values: pd.Series, scrubber: TextScrubber, key: DeidKey) -> pd.Series:
    """The ``site`` column by the field policy: a site id in which ``scrubber`` finds nothing
    (known identifiers of the patients, PHI patterns, person names) and no word of five
    letters or more (:data:`_SITE_NAME_WORD`: a town's or a person's name, which the scrubber
    without the engine does not know) is kept; any other value (a site named after a town or a
    person, a telephone number) is published as its keyed pseudonym (``site-`` and 16 base32
    characters; the same site, the same pseudonym)."""

    def publish(value: Any) -> Any:
        if is_missing(value) or not str(value).strip():
            return None
        text = str(value).strip()
        named = any(w.lower() not in _SITE_WORDS for w in _SITE_NAME_WORD.findall(text))
        if _SITE_ID.fullmatch(text) and not named and not scrubber.find(text):
            return text
        return pseudonym("twinlab:site", text, key=key, prefix="site-")

    mapping = {v: publish(v) for v in pd.unique(values[values.notna()])}
    return values.map(lambda v: None if is_missing(v) else mapping[v])


#: An EDC's repeat key that is an ordinal ("1", "12"), published as it is: any other repeat key
#: (a visit date, a record number, a name: ODM lets the EDC write any text) is published as a
#: keyed pseudonym (field policy ``repeat_key_qualifiers`` and ``events.source_record``).
_ORDINAL = re.compile(r"\s*\d{1,6}\s*")
#: The repeat keys of an ODM record pointer: ``StudyEventData[SE.V1#<key>]``,
#: ``FormData[F.VS#<key>]``, ``ItemGroupData[IG.LB#<key>]``.
_POINTER_REPEAT_KEY = re.compile(r"(?<=#)[^\[\]#]+(?=\])")
#: The file name that begins an SDTM record pointer (``dm.xpt#row=3``), and the form of a
#: domain file's name, published as it is (``dm.xpt``, ``suppae.csv``): any other name (a
#: subject's export ``vs_MRN30117752.csv``) becomes the event's keyed file id.
_POINTER_FILE = re.compile(r"^[^#/\[\]]+(?=#row=\d+$)")
_DOMAIN_FILE = re.compile(r"[A-Za-z]{2,8}\.(?:xpt|csv)", re.IGNORECASE)
#: A keyed file id (``src-`` and 16 base32 characters), as a harmonized run's ``source_file``.
_FILE_ID = re.compile(r"src-[A-Z2-7]{16}")


def _repeat_key(value: str, key: DeidKey) -> str:
    """A repeat key as published: an ordinal as it is, anything else its keyed pseudonym
    (``ref-`` and 16 base32 characters, the same key the same pseudonym)."""
    if _ORDINAL.fullmatch(value):
        return value
    return pseudonym("twinlab:repeat_key", value, key=key, prefix="ref-")


def _pointers_without_names(
    pointers: pd.Series, files: pd.Series | None, key: DeidKey
) -> pd.Series:
    """Record pointers before the known-value scrub (field policy ``events.source_record``):
    the repeat keys of an ODM pointer by :func:`_repeat_key`, and the file name that begins an
    SDTM pointer, unless a domain file's (``dm.xpt``), by the event's ``source_file`` when
    that is a keyed file id (a harmonized run: the name lives in the raw zone), else by the
    name's own keyed id."""

    def one(pointer: Any, file: Any) -> Any:
        if not isinstance(pointer, str):
            return pointer
        out = _POINTER_REPEAT_KEY.sub(lambda m: _repeat_key(m.group(), key), pointer)
        name = _POINTER_FILE.match(out)
        if name and not _DOMAIN_FILE.fullmatch(name.group()):
            keyed = not is_missing(file) and _FILE_ID.fullmatch(str(file))
            label = str(file) if keyed else pseudonym("twinlab:file", name.group(), key=key,
                                                      prefix="src-")  # fmt: skip
            out = label + out[name.end() :]
        return out

    if files is None:
        files = pd.Series([None] * len(pointers), index=pointers.index, dtype=object)
    pairs = list(zip(pointers, files, strict=True))
    mapping = {pair: one(*pair) for pair in set(pairs)}
    return pd.Series([mapping[p] for p in pairs], index=pointers.index, dtype=object)


_WORDS = re.compile(r"[^\W\d_]{2,}")

#: Codes of a person's age (LOINC: age, reported, calculated, estimated, at death, current or
#: at death; SNOMED CT: age, current chronological age; SDTM DM.AGE).
_AGE_CODES = frozenset(
    "30525-0 21612-7 29553-5 21611-9 39016-1 63900-5 397659008 424144002 AGE".split()
)
_AGE_DISPLAY = re.compile(r"\bage\b", re.IGNORECASE)
#: Time units an age is written in -> years per unit (no unit: years).
_YEARS_PER = {"a": 1.0, "yr": 1.0, "yrs": 1.0, "y": 1.0, "year": 1.0, "years": 1.0,
              "a_j": 1.0, "mo": 1 / 12, "month": 1 / 12, "months": 1 / 12,
              "wk": 7 / 365.25, "week": 7 / 365.25, "weeks": 7 / 365.25,
              "d": 1 / 365.25, "day": 1 / 365.25, "days": 1 / 365.25}  # fmt: skip


#: An age item's name as EDCs abbreviate it, on its letters only, lower case, with the unit
#: it is given in ("AGEMO", "AGE_MONTHS", "PTAGEYRS", "Age (days)", "AGEDY"): the display
#: check (``\bage\b``) misses the run-together names, and their unit is in the name.
_AGE_NAME = re.compile(
    r"(?:pt|pat|patient|subj|subject|current|reported)?age(?:in|at\w{0,12})?"
    r"(?P<unit>years?|yrs?|y|months?|mons?|mths?|mos?|m|weeks?|wks?|w|days?|dys?|d)?"
)
_AGE_NAME_UNIT = {"y": "a", "m": "mo", "w": "wk", "d": "d"}


def _age_names(events: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """Rows whose item name says it is an age, and the years per unit the name gives.

    Read before the display is scrubbed (an EDC's item name "AGEMO" is no word of the
    dictionaries: the scrubber may replace it). An age is named by a display holding the word
    "age" ("Age at diagnosis") or by an EDC's run-together name of an age and its unit
    ("AGEMO": months); SDTM's ``source_display`` / ``source_code`` are read too.

    Returns
    -------
    named : numpy.ndarray of bool
    per : pandas.Series
        Years per unit of the unit word of the name ("AGEMO": 1/12), NaN where the name gives
        none.
    """
    named = np.zeros(len(events), dtype=bool)
    per = pd.Series(np.nan, index=events.index, dtype="float64")
    names = [events["display"].astype("str")] if "display" in events else []
    if "qualifiers" in events:
        for key in ("source_display", "source_code"):
            names.append(events["qualifiers"].map(
                lambda q, k=key: str(q.get(k, "")) if isinstance(q, dict) else ""))  # fmt: skip
    for name in names:
        named |= name.str.contains(_AGE_DISPLAY, na=False).to_numpy(dtype=bool)
        squeezed = name.str.lower().str.replace(r"[^a-z]+", "", regex=True)
        unit = squeezed.str.extract(f"^(?:{_AGE_NAME.pattern})$")["unit"]
        hit = squeezed.str.fullmatch(_AGE_NAME, na=False)
        named |= hit.to_numpy(dtype=bool)
        word = unit.where(hit).dropna().astype(object).str[0].map(_AGE_NAME_UNIT)
        years = pd.to_numeric(word.map(_YEARS_PER), errors="coerce").astype("float64")
        per = per.fillna(years.reindex(per.index))
    return named, per


def _cap_ages(out: pd.DataFrame, names: tuple[np.ndarray, pd.Series] | None = None) -> int:
    """Cap the value of age events at 90 years (Safe Harbor: "all ages over 89"), in place.

    An age event has an age code (:data:`_AGE_CODES`) or a name that says it is an age
    (:func:`_age_names`, ``names`` when read before the display was scrubbed) in a time unit:
    the event's unit, else the unit its name gives ("AGEMO": months), else years (no unit, or
    one that is no time unit). ``value_num`` becomes 90 years in that unit,
    ``orig_value`` and ``value_text`` ``"90+"``. Returns the number of events capped.
    """
    if "value_num" not in out or not len(out):
        return 0
    named, name_per = _age_names(out) if names is None else names
    unit = (
        out["unit"].astype("str").str.strip().str.strip("{}").str.lower() if "unit" in out else None
    )
    # no unit, or one that is no time unit (an EDC's unit OID "MU.Y" left unresolved): the unit
    # the item's name gives, else years, the unit ages are given in, so that an age over 89 is
    # never published for want of a unit
    per = pd.Series(np.nan, index=out.index, dtype="float64")
    if unit is not None:
        per = pd.to_numeric(unit.astype(object).map(_YEARS_PER), errors="coerce")
    per = per.astype("float64").fillna(name_per).fillna(1.0)
    coded = out["code"].astype("str").isin(_AGE_CODES) if "code" in out else False
    value = pd.to_numeric(out["value_num"], errors="coerce")
    over = (coded | named) & per.notna() & (value * per > AGE_CEILING)
    if not over.any():
        return 0
    out.loc[over, "value_num"] = (AGE_CEILING + 1) / per[over]
    for col in ("orig_value", "value_text"):
        if col in out:
            out.loc[over & out[col].notna(), col] = "90+"
    return int(over.sum())


#: Standard codes of items whose value is an identifier or a date of birth, not a measurement:
#: LOINC 45401-7 postal code, 56799-0 address, 21112-8 birth date.
_IDENTIFIER_CODES = frozenset({"45401-7", "56799-0", "21112-8"})
#: An item's whole name or question naming a Safe Harbor identifier class (names of the patient,
#: their initials ("INITIALS", an EDC's "SUBJINIT" or "PTINIT"), relatives and employers, contact
#: details, record, account, licence and device numbers, full
#: or partial dates of birth), as EDC and SDTM name their variables ("ZIP", "PHONE", "SSN",
#: "BRTHYR", "NEXT_OF_KIN") or ask ("Home ZIP code", "Year of birth", "Caregiver name",
#: "Postal code [Location]"); a name that only mentions one ("Telephone consultation", "Drug
#: name", "code for ZIP 83022") is no identifier item.
_IDENTIFIER_ITEM = re.compile(
    r"(?:(?:home|work|(?:patient|subject|participant|mother|father|spouse|partner|caregiver"
    r"|guardian|relative)(?:'?s)?|emergency|contact|current|primary|mailing|residential|cell"
    r"|mobile|your|of|the)\s+)*"
    r"(?:zip|zip ?code|(?:tele)?phone|homephone|cell ?phone|mobile|fax|e ?mail(?: address)?|ssn"
    r"|social security|mrn|medical record|postal ?code|post ?code|street(?: address)?|address"
    r"|url|ip address|passport|(?:driver'?s?\s+)?licen[cs]e|member|subscriber|beneficiary"
    r"|account|(?:device\s+)?serial|dob|yob|brth(?:yr|mo|dy|dat|dtc?)|birth ?year|year of birth"
    r"|date of birth|birth ?date|(?:(?:full|first|last|given|family|middle|maiden|legal|sur)"
    r"\s*)?name|(?:next of kin|nok)(?:\s+name)?|employer|initials"
    r"|(?:subj(?:ect)?|pt|pat(?:ient)?)\s*init(?:ials?|s)?|caregiver|guardian|contact)"
    r"(?:\s+(?:number|no|num|nr|code|id|identifier|\[[^]]*\]|\([^)]*\)))*\s*",
    re.IGNORECASE,
)


#: The same, as EDCs abbreviate item names without separators ("ZIPCD", "HOMEPHN", "MRNNUM",
#: "NOKNAME", "PTNAME", "FNAME", "ADDR1", "CITY"), matched on the name's letters and digits
#: only, lower case: a name word ("name", "nm") only after a person's prefix (so "DRUGNAME",
#: "AENAME", "SITENAME" and "INVNAM" are none), and "ph" only after a place ("PH" is a lab's
#: pH); a town, city or county is an identifier (geographic subdivision smaller than a state).
_EDC_IDENTIFIER_ITEM = re.compile(
    r"(?:(?:pt|pat|patient|subj|subject|nok|emc|emerg|emergency|cg|caregiver|sp|spouse|rel"
    r"|relative|guardian|contact|mother|father|parent|empl|employer|f|l|m|first|last|given"
    r"|family|middle|maiden|sur|full)(?:name|nm|nam)"
    r"|(?:home|work|cell|mobile|mob|emc|nok|cg|pt|pat|contact)(?:ph|phn|phone|tel|telno|fax)"
    r"|(?:pt|pat|patient|subj|home|res|resid|mail|mailing|nok|emc|cg|contact)?"
    r"(?:zip|zipcd|zipcode|postcd|postcode|phone|phn|telno|fax|email|emailadr|emailaddr"
    r"|addr|address|street|streetaddr|city|town|county|mrn|ssn|dob)"
    r")(?:num|no|nbr|nr|cd|code|id)?\d?",
)


def _identifier_items(events: pd.DataFrame) -> np.ndarray:
    """Rows whose value is an identifier: an item named or coded as one (field policy).

    A number is clinical data, but the value of an item that asks for a ZIP code, a phone
    number, a social security or record number or a year of birth is the identifier itself
    (an EDC integer item ``PHONE`` holds the phone number as ``value_num``). Decided on the
    item's name (``display``, before scrubbing; SDTM's ``source_display`` and ``source_code``
    qualifiers) and on standard codes (:data:`_IDENTIFIER_CODES`).
    """
    names = [events[c].astype("str") for c in ("display",) if c in events]
    if "qualifiers" in events:
        for key in ("source_display", "source_code"):
            names.append(
                events["qualifiers"].map(
                    lambda q, k=key: str(q.get(k, "")) if isinstance(q, dict) else ""
                )
            )
    hit = np.zeros(len(events), dtype=bool)
    for name in names:
        spaced = name.str.replace(r"[_\-./]+", " ", regex=True)
        hit |= spaced.str.fullmatch(_IDENTIFIER_ITEM, na=False).to_numpy(dtype=bool)
        squeezed = name.str.lower().str.replace(r"[^a-z0-9]+", "", regex=True)
        hit |= squeezed.str.fullmatch(_EDC_IDENTIFIER_ITEM, na=False).to_numpy(dtype=bool)
    if "code" in events:
        hit |= events["code"].astype("str").isin(_IDENTIFIER_CODES).to_numpy(dtype=bool)
    return hit


def _drop_narrative(values: pd.Series, rows: Any) -> pd.Series:
    """Null the free text of ``rows`` that is narrative (two words or more), count them.

    A single token (a categorical result ``NEGATIVE``, a genotype ``A/G``) stays, to be
    scrubbed like any text; a sentence of a source nobody reviewed goes.
    """
    rows = pd.Series(rows, index=values.index, dtype=bool)
    narrative = values.map(lambda v: isinstance(v, str) and len(_WORDS.findall(v)) >= 2)
    return values.mask(rows & narrative.astype(bool))


def deidentify(
    persons: pd.DataFrame,
    events: pd.DataFrame,
    *,
    key: DeidKey | bytes,
    reference_dates: Mapping[str, Any] | pd.Series | None = None,
    cutoff: Any = None,
    max_shift_days: int = 365,
    patient_system: str = PATIENT_SYSTEM,
    drop_free_text: bool | Any = False,
    vocabulary: CodedVocabulary | None = None,
    age_at: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """De-identify persons and events by HIPAA Safe Harbor (see the module docstring).

    Parameters
    ----------
    persons : pandas.DataFrame
        :data:`twinlab.ingest.base.PERSON_COLUMNS` (several rows per patient are merged).
    events : pandas.DataFrame
        :data:`twinlab.ingest.base.EVENT_COLUMNS`, keyed by ``source_patient``.
    key : DeidKey or bytes
        The de-identification key (:func:`twinlab.deid.load_key`).
    reference_dates : mapping or Series, optional
        ``source_patient`` -> reference (index) date, tz-aware or ISO with offset. It becomes
        the (shifted) ``index_date`` and counts for the age rule.
    cutoff : datetime-like, optional
        The date ages are taken at for patients without reference date or events.
    max_shift_days : int
        Date shifts lie in ``[-max_shift_days, -1] ∪ [1, max_shift_days]``.
    patient_system : str
        The system under which patient keys are pseudonymized.
    drop_free_text : bool or array of bool
        Per event (or for all), drop narrative free text (``value_text``, non-numeric
        ``orig_value`` of two words or more) instead of scrubbing it: the default for
        sources nobody has reviewed (``HarmonizeConfig.free_text``). Counted in
        ``events.attrs["free_text_dropped"]``.
    vocabulary : CodedVocabulary, optional
        Coded-concept names whose ``display`` is kept verbatim (known identifier values of
        the patient still removed) instead of scrubbed as free text, by the field policy
        (:mod:`twinlab.deid.vocabulary`); default the vocabulary shipped with twinlab. Counted
        in ``events.attrs["displays_kept"]``.
    age_at : datetime-like, optional
        The release date: every patient's age is also taken at this date, so a birth year
        is published only when the patient is at most 89 on it too (default: today, UTC;
        a pipeline pins it for reproducible outputs, ``HarmonizeConfig.age_reference``).

    Returns
    -------
    patients_deid, events_deid, crosswalk : pandas.DataFrame

    Raises
    ------
    ValueError
        If an event has no ``source_patient`` or naive datetimes (it could not be shifted).

    Examples
    --------
    >>> persons = pd.DataFrame({"source_patient": ["a1b2"], "identifiers": [[]], "sex": ["F"],
    ...     "birth_date": ["1930-05-01"], "deceased": [None], "site": ["S01"],
    ...     "phi": [{"name": "Zoë O'Brien", "zip": "03601"}]})
    >>> events = pd.DataFrame({"source_patient": ["a1b2"],
    ...     "time": [pd.Timestamp("2024-01-02T03:04:05.123456Z")], "end_time": [pd.NaT],
    ...     "domain": ["other"], "code": ["NOTE"], "display": ["Note"],
    ...     "value_text": ["seen by zoe obrien, call 617-555-0100"], "source_file": ["a.json"],
    ...     "source_record": ["entry[0]"]})
    >>> patients, ev, xw = deidentify(persons, events, key=DeidKey(bytes(32)))
    >>> patients.loc[0, ["birth_year", "cov_zip3"]].tolist(), ev.loc[0, "value_text"]
    (['90+', '000'], 'seen by [NAME], call [PHONE]')
    """
    k = as_key(key)
    if events["source_patient"].isna().any():
        n = int(events["source_patient"].isna().sum())
        raise ValueError(
            f"{n} events have no source_patient, so their dates cannot be shifted; "
            "quarantine them before de-identification"
        )
    ev_keys = events["source_patient"].astype("str")
    keys = list(
        dict.fromkeys(
            [str(p) for p in persons["source_patient"] if not is_missing(p)] + list(ev_keys)
        )
    )
    pseudo = pseudonymize(keys, key=k, system=patient_system)
    pseudo.index = pd.Index(keys, dtype="str")
    shifts = date_shift_days(pseudo.tolist(), key=k, max_days=max_shift_days)
    shift_by_key = pseudo.map(shifts)

    # --- the age reference of each patient -------------------------------------------------
    times = to_utc(events["time"], what="events['time']") if len(events) else None
    last = pd.Series(dtype="datetime64[us, UTC]")
    if times is not None:
        ends = (
            to_utc(events["end_time"], what="events['end_time']") if "end_time" in events else times
        )
        latest = pd.concat([times, ends], axis=1).max(axis=1)
        last = latest.groupby(ev_keys.to_numpy()).max()
    refs = pd.Series(reference_dates if reference_dates is not None else {}, dtype=object)
    refs = to_utc(refs, what="reference_dates") if len(refs) else pd.Series(dtype=object)
    if cutoff is not None:
        default_ref = to_utc(pd.Series([cutoff]), what="cutoff").iloc[0]
    elif len(last) and last.notna().any():
        default_ref = last.max()
    else:
        default_ref = pd.Timestamp.now(tz="UTC")
    release = to_utc(
        pd.Series([pd.Timestamp.now(tz="UTC") if age_at is None else age_at]), what="age_at"
    ).iloc[0]

    # --- persons -> patients ------------------------------------------------------------------
    groups = {
        str(p): g for p, g in persons.groupby(persons["source_patient"].astype("str"), sort=False)
    }
    pairs: list[tuple[str, str]] = []
    for row in persons.to_dict("records"):
        pairs.extend(person_identifiers(row))
    pairs.extend(("patient_key", p) for p in keys)
    rows: list[dict[str, Any]] = []
    for p in keys:
        g = groups.get(p)
        ref = refs.get(p) if len(refs) else None
        candidates = [t for t in (ref, last.get(p)) if not is_missing(t)]
        age_ref = max(*(candidates or [default_ref]), release)
        row: dict[str, Any] = {"patient_id": pseudo[p]}
        sex = _first(g["sex"]) if g is not None and "sex" in g else None
        row["sex"] = _SEX.get(str(sex).strip().lower(), "U") if sex is not None else "U"
        birth = _first(g["birth_date"]) if g is not None and "birth_date" in g else None
        row["birth_year"] = None
        row["cov_age"] = None
        if birth is not None:
            age = age_in_years(birth, age_ref)
            year = re.match(r"^\s*(\d{4})", str(birth))
            if age is None or age > AGE_CEILING or year is None:
                row["birth_year"] = "90+"
                row["cov_age"] = None if is_missing(ref) else float(AGE_CEILING + 1)
                if year is not None:
                    pairs.append(("birth_year", year.group(1)))
            else:
                row["birth_year"] = year.group(1)
                row["cov_age"] = _age_at_index(birth, ref)
        row["site"] = _first(g["site"]) if g is not None and "site" in g else None
        row["index_date"] = (
            None if is_missing(ref) else ref + pd.Timedelta(days=int(shift_by_key[p]))
        )
        phis = g["phi"].tolist() if g is not None and "phi" in g else []
        row["cov_zip3"] = _first(
            pd.Series(
                [zip3(_phi_field(x, "postal") or _phi_field(x, "zip")) for x in phis], dtype=object
            )
        )
        row["cov_state"] = _first(pd.Series([_phi_field(x, "state") for x in phis], dtype=object))
        dead = _first(g["deceased"]) if g is not None and "deceased" in g else None
        row["cov_deceased"] = None if dead is None or str(dead).lower() == "false" else "true"
        rows.append(row)

    ids = IdentifierSet(pairs)
    by_norm = {_norm(p): pseudo[p] for p in keys}

    def replace(kind: str, matched: str) -> str:
        if kind == "patient_key":
            return by_norm.get(_norm(matched), "[ID]")
        return f"[{kind.upper()}]"

    scrubber = TextScrubber(ids, replace=replace)

    # --- events ------------------------------------------------------------------------------
    out = events.copy()
    out.insert(0, "patient_id", ev_keys.map(pseudo).astype("str"))
    out = shift_dates(
        out, pseudo.map(shifts).set_axis(pseudo.to_numpy()), patient_column="patient_id"
    )
    identifier_items = _identifier_items(out)
    age_names = _age_names(out)  # before the display is scrubbed
    for col in ("value_num", "value_text", "orig_value"):
        if col in out and identifier_items.any():
            out.loc[identifier_items, col] = np.nan if col == "value_num" else None
    n_dropped = n_kept = 0
    for col in _FREE_TEXT:
        if col in out:
            measured = (
                out["value_num"].notna() if col == "orig_value" and "value_num" in out else None
            )
            if col != "display" and drop_free_text is not False:
                which = np.broadcast_to(np.asarray(drop_free_text, dtype=bool), len(out))
                if measured is not None:
                    which = ~measured.to_numpy(dtype=bool) & which
                before = out[col].notna().sum()
                out[col] = _drop_narrative(out[col], which)
                n_dropped += int(before - out[col].notna().sum())
            kept = _kept_by_vocabulary(col, out, vocabulary)
            if kept.any():  # a declared concept name: known identifier values only
                text = out[col].astype("str")
                kept_at, others = np.flatnonzero(kept), np.flatnonzero(~kept)
                text.iloc[others] = _scrub_free_text(text.iloc[others], scrubber).to_numpy()
                known = scrubber.scrub_series(text.iloc[kept_at], patterns=False)
                text.iloc[kept_at] = known.to_numpy()
                out[col] = text
                n_kept += int(kept.sum())
            else:
                out[col] = _scrub_free_text(out[col], scrubber, measured)
    n_ages = _cap_ages(out, age_names)
    n_codes = 0
    if "code" in out:  # a local or unknown system's code can be any text: keyed pseudonym
        from twinlab.deid.codes import transform_codes

        systems = out["code_system"] if "code_system" in out else pd.Series([None] * len(out))
        vocab = shipped_vocabulary() if vocabulary is None else vocabulary
        codes = transform_codes(systems, out["code"], key=k, identifiers=ids, vocabulary=vocab)
        n_codes = sum(c != o for c, o in zip(codes, out["code"], strict=True) if not is_missing(o))
        out["code"] = pd.Series(codes, index=out.index, dtype=out["code"].dtype)
    for col in _KNOWN_ONLY:
        if col in out:
            out[col] = scrubber.scrub_series(out[col].astype("str"), pointers=True)
            if col == "source_file" and "source_record" in out:
                out["source_record"] = _pointers_without_names(
                    out["source_record"], out["source_file"], k
                )
    if "qualifiers" in out:
        from twinlab.deid.policy import field_policy

        policy = field_policy()
        drop_keys = frozenset(policy.get("drop_qualifiers", ()))
        plain = TextScrubber(ids, replace=replace, engine=False, names=True)
        lot = _LotScrubber(
            TextScrubber(ids, replace=replace, engine=False, names=True, skip=_SERIAL_KINDS)
        )
        coded = {
            **dict.fromkeys(policy.get("coded_qualifiers", ()), plain),
            **dict.fromkeys(policy.get("lot_qualifiers", ()), lot),
            **{
                name: _VocabularyQualifier(vocabulary)
                for name, vocabulary in (policy.get("vocabulary_qualifiers") or {}).items()
            },
        }
        from twinlab.deid.codes import transform_codes

        vocab = shipped_vocabulary() if vocabulary is None else vocabulary
        published: dict[tuple[Any, Any], Any] = {}

        def codes(system: Any, code: Any) -> Any:
            if (system, code) not in published:
                published[(system, code)] = transform_codes(
                    [system], [code], key=k, identifiers=ids, vocabulary=vocab
                )[0]
            return published[(system, code)]

        @functools.cache
        def reference(value: str) -> str:
            return pseudonym("twinlab:reference", value, key=k, prefix="ref-")

        @functools.cache
        def declared(system: Any, code: Any, display: str) -> bool:
            return vocab.keeps(system, code, display)

        def kept_source(obj: dict[str, Any]) -> bool:
            shown = obj.get("source_display")
            return isinstance(shown, str) and declared(
                _hashable(obj.get("source_system")), _hashable(obj.get("source_code")), shown
            )

        refs = {
            **dict.fromkeys(policy.get("reference_qualifiers", ()), reference),
            **dict.fromkeys(
                policy.get("repeat_key_qualifiers", ()), functools.partial(_repeat_key, key=k)
            ),
        }
        dated = policy.get("date_qualifiers", ())
        days = out["patient_id"].map(shifts).astype("int64")

        @functools.cache  # one per date shift, not one per event
        def held(d: int) -> dict[str, Callable[[str], str]]:
            return {**refs, **dict.fromkeys(dated, functools.partial(_shifted_date, days=d,
                                                                     scrubber=plain))}  # fmt: skip

        narrative = np.broadcast_to(np.asarray(drop_free_text, dtype=bool), len(out))
        sponsor_key = functools.cache(functools.partial(_sponsor_key, scrubber=plain, key=k))
        renamed = dict.fromkeys(policy.get("sponsor_key_qualifiers", ()), sponsor_key)
        out["qualifiers"] = [
            _scrub_qualifiers(
                q,
                plain,
                drop_keys,
                scrubber,
                coded,
                codes,
                held(d),
                kept_source,
                bool(n),
                renamed,
            )
            for q, d, n in zip(out["qualifiers"], days, narrative, strict=True)
        ]
    allowed = {"patient_id", "time", "end_time", "qualifiers", "event_id", "row_hash"}
    allowed |= set(_FREE_TEXT) | set(_KNOWN_ONLY) | set(_KEEP)
    dropped = [c for c in out.columns if c not in allowed]
    out = out.drop(columns=dropped)
    if "event_id" in out:
        from twinlab.timeline.ids import event_id

        out["event_id"] = event_id(out["source_file"], out["source_record"]).to_numpy()
    if "row_hash" in out:
        from twinlab.timeline.ids import row_hash

        out["row_hash"] = row_hash(out).to_numpy()
    out.attrs = {
        "dropped_columns": dropped,
        "free_text_dropped": n_dropped,
        "displays_kept": n_kept,
        "ages_capped": n_ages,
        "codes_pseudonymized": n_codes,
        "identifier_values_dropped": int(identifier_items.sum()),
    }

    # --- patients ----------------------------------------------------------------------------
    patients = pd.DataFrame(rows)
    site_scrubber = TextScrubber(ids, replace=replace, engine=False, names=True)
    patients["site"] = _publish_sites(patients["site"], site_scrubber, k)
    src = out.groupby("patient_id")["source_file"].agg(lambda s: "; ".join(sorted(set(s))))
    patients["sources"] = patients["patient_id"].map(src).fillna("unknown").astype("str")
    patients["index_date"] = pd.to_datetime(patients["index_date"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    order = ["patient_id", "sex", "birth_year", "site", "index_date", "sources"]
    covs = [
        c for c in ("cov_age", "cov_zip3", "cov_state", "cov_deceased") if patients[c].notna().any()
    ]
    patients = patients[order + covs]
    for c in ["patient_id", "sex", "birth_year", "site", "sources", *covs]:
        patients[c] = patients[c].astype("float64" if c == "cov_age" else "str")

    crosswalk = pd.DataFrame(
        {
            "source_patient": pd.Series(keys, dtype="str"),
            "patient_id": pseudo.to_numpy(),
            "shift_days": shift_by_key.to_numpy().astype("int64"),
        }
    )
    crosswalk.attrs = {"key_fingerprint": k.fingerprint, "patient_system": patient_system}
    return patients, out.reset_index(drop=True), crosswalk
