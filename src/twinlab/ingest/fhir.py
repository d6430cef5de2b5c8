"""FHIR R4 reader: Bundles (transaction, collection, batch, searchset, document) and NDJSON.

A *record* is one resource: a Bundle entry, an NDJSON line (or each entry of a Bundle on an
NDJSON line, as EHR dumps write them), or the whole file when it holds a single resource.
Every record is either accepted or quarantined, so per file
``records_in == records_accepted + len(quarantine)``:

* **Clinical resources** (:data:`~twinlab.ingest.fhir_resources.CLINICAL`: Observation,
  Condition, MedicationRequest, MedicationStatement, MedicationAdministration, Procedure,
  Encounter, AllergyIntolerance, Immunization) become events; an Observation with components
  (e.g. blood pressure 85354-9) gives one event per component, each with the panel code in the
  ``panel`` qualifier. A clinical resource without a code (``fhir.code``), a usable time
  (``fhir.time``), a valid date (``fhir.date``), a coherent period (``fhir.period``), a readable
  value (``fhir.value``) or a resolvable patient (``fhir.subject``) is quarantined whole.
* **Patient** becomes a ``persons`` row (identifiers, sex, birth date, death, PHI incl.
  extension-carried mother's maiden name and birthplace) and **no event**: birth and death are
  person attributes, kept once in ``persons`` rather than duplicated as 'demographic' events.
* **Every other type** (Claim, ExplanationOfBenefit, Organization, Practitioner, DiagnosticReport,
  CarePlan, Medication, ...) is *accepted with zero events*: it is counted, not lost, and the
  per-type tally ``ReadResult.series["fhir.resource_counts"]`` (a DataFrame indexed by
  resourceType with ``records``, ``accepted``, ``quarantined`` and ``events``) shows where each
  record went. Its rows sum to the file's counts.

References: a clinical resource's subject (``patient`` for AllergyIntolerance and Immunization)
is resolved against the file's Patients by ``urn:uuid:`` fullUrl, relative ``Patient/123``,
absolute URL, conditional reference ``Patient?identifier=system|value`` or a logical
``identifier``; the event's ``source_patient`` is then that Patient's key (its ``id``, else its
fullUrl without ``urn:uuid:``). A ``Patient/123`` reference to a patient not in the file is kept,
keyed ``123`` (so that it joins a ``Patient.ndjson`` read separately), with the reference in the
``subject_ref`` qualifier; any other unresolved subject is quarantined (``fhir.subject``). When
no file of the run holds that Patient either, the harmonizer counts the patient in
``report.json``'s ``patients_without_person`` and warns (no sex, birth date or site).
Each event also carries ``fhir_ref`` (its resource's fullUrl or ``Type/id``) and ``encounter``
(the raw Encounter reference) so that the harmonizer can build ``in_encounter`` links.

Times: dateTimes with offsets are converted to UTC; partial dates (``2019``, ``2019-03``,
``2019-03-01``) give the start of the period with ``date_precision`` ``'year'``, ``'month'`` or
``'day'``; a dateTime without offset is read as UTC with ``offset_missing: true``; a fallback
time field (e.g. Condition.recordedDate without onset) is named in ``time_source``.

Why plain JSON and not ``fhir.resources`` models: validating every resource with pydantic costs
about 2 ms each here (0.5 s for one 209-resource Synthea bundle), some 50x the whole budget of
the project's goal of >= 20,000 resources/s per core, and it rejects a whole resource (or
bundle) on any schema deviation where we want to keep what is usable and quarantine precisely.
The reader therefore parses plain JSON – ``orjson`` when installed (parsing about 1.8x faster
than :mod:`json`, some 20 % of a whole read), else the standard :mod:`json` – walks only the
fields it uses, builds columns as lists of tuples and one DataFrame per table at the end, caches
parsed timestamps, and pauses the cyclic garbage collector during a read (the parsed JSON is
acyclic; collections triggered by its many small objects otherwise double the read time).
``fhir.resources`` (R4B) serves as an oracle in the tests.

Duplicate keys in a JSON object (``{"id": "a", "id": "b"}``, which RFC 8259 leaves
undefined) are a parser differential: orjson and :mod:`json` keep the last value, other systems
the first. A resource holding one is quarantined alone (``fhir.duplicate_key``, naming the
member); one outside every resource (a Bundle with two ``entry`` lists) costs the file (or
NDJSON line). The check: the parsed text is serialized again by
orjson and its ``:`` counted against the source's (numpy counts bytes at memory speed); each
member name gives one ``:`` outside strings, the ``:`` inside strings are the same in both,
and a ``\\u003a`` escape (a ``:`` the source spells otherwise) is counted on the source's side.
Fewer ``:`` after the round trip means a member was lost, and only then is the text parsed
again with an ``object_pairs_hook`` to find the resources that hold one. The check costs some
15-18 ms of CPU per 31 MB of Synthea bundles (a read: ~270 ms); the scan for ``\\u`` escapes
it needs (:func:`_escapes`) replaced the two regular-expression scans for surrogate and NUL
escapes (~17 ms), so a read costs what it did (within 1-2 %, CPU time, min of runs).

Id conflicts: a resource with the type and id (or fullUrl) of an earlier resource of the file
but other content is quarantined (``fhir.patient_conflict`` for a Patient, ``fhir.id_conflict``
for any other type), naming the fields that differ: which is right cannot be told, the first is
kept. Two versions of one resource (both with a ``meta.versionId``, and they differ: a history
Bundle) are no conflict and are both read. An exact copy is read once and counted in
``duplicates``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd

from twinlab.ingest.base import (
    BAD_BYTE,
    EVENT_COLUMNS,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadResult,
    decode_marked,
    register,
)
from twinlab.ingest.fhir_patient import patient_person
from twinlab.ingest.fhir_resources import EXTRACTORS, Context
from twinlab.ingest.fhir_values import Reject, TimeParser, as_list, dumps, loads, text

try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - orjson is optional

    def _orjson_dumps(obj: Any) -> bytes:
        raise TypeError("orjson is not installed")


__all__ = ["FhirBatch", "read_fhir", "read_fhir_batch", "sniff_fhir"]

FORMAT = "fhir"
_SUFFIXES = (".json", ".ndjson", ".jsonl")
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")
#: ``[base/]Type/id[/_history/v]`` – the FHIR literal reference grammar, loosely.
_LITERAL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_UNPARSED = "(unparsed)"
#: Resource types a reason may name when a subject reference points to one of them (a
#: reference's type is the sender's text: "Wetherell/4471" was quoted into the quarantine).
_SUBJECT_TYPES = frozenset(
    "Group Device Location Organization Practitioner PractitionerRole RelatedPerson Person "
    "Specimen Substance Medication Encounter Observation Condition Procedure".split()
)
#: A ``\\uD800``-``\\uDFFF`` escape: half of a UTF-16 surrogate pair, not a character when alone.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_REASON = "the resource holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF)"
#: A ``\\u0000`` escape: valid JSON for a NUL character, which is never text.
_NUL_ESCAPE = re.compile(rb"\\u0000")
_NUL_REASON = "the resource holds a NUL character (a \\u0000 escape): not text"
#: The persons columns typed as text (an unpaired surrogate there cannot be stored); the PHI in
#: the others (names, addresses, identifiers) is stored as ASCII-escaped JSON, encrypted.
_PERSON_TEXT = ("source_patient", "sex", "birth_date", "deceased", "site")


def sniff_fhir(path: Path) -> bool:
    """True for a ``.json``/``.ndjson``/``.jsonl`` file whose first 4 KiB name a resourceType."""
    if not path.name.lower().endswith(_SUFFIXES) or not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b'"resourceType"' in head


class _Records:
    """The records of one file: ``(pointer, resource, fullUrl, raw)`` items plus quarantine rows.

    ``marked`` says that the file held bytes that are not UTF-8 (decoded as
    :data:`~twinlab.ingest.base.BAD_BYTE`): each resource holding one is quarantined alone
    (``fhir.encoding``). ``escapes`` says that the file's JSON holds ``\\uD800``-``\\uDFFF``
    escapes: each resource holding one unpaired (not half of a surrogate pair, so not a
    character: no UTF-8 text or Parquet column can hold it) is quarantined alone
    (``fhir.encoding``, by :func:`_collect`; a Patient only when its id or fullUrl, or a field
    of its ``persons`` row typed as text, holds one). A resource that repeats an earlier one of
    the file exactly (same type, id or fullUrl, and content) is counted in ``duplicates`` and
    read once. ``nuls`` says that the file's JSON holds ``\\u0000`` escapes: each resource
    holding a NUL character is quarantined alone (``fhir.encoding``), as a NUL byte is.
    """

    def __init__(self, marked: bool = False, escapes: bool = False, nuls: bool = False) -> None:
        self.items: list[tuple[str, dict, str | None, Any]] = []
        self.quarantine: list[tuple[str, str, str, str]] = []
        self.bad_types: Counter[str] = Counter()
        self.marked = marked
        self.escapes = escapes
        self.nuls = nuls
        self.duplicates: Counter[str] = Counter()
        self._seen: dict[tuple[str, str], Any] = {}
        #: pointers of the records holding a member name twice, and the names
        self.repeats: dict[str, list[str]] = {}
        #: references (fullUrl, ``Patient/id``) of the Patients quarantined here
        self.dropped: set[str] = set()
        self._patient: tuple[dict, Any] | None = None  # the Patient that add() is checking

    def reject(self, ptr: str, check: str, reason: str, raw: Any, rtype: str = _UNPARSED) -> None:
        # ASCII-escaped JSON where a string may hold an unpaired surrogate (no UTF-8 for it)
        self.quarantine.append((ptr, check, reason, _raw_text(raw, self.escapes)))
        self.bad_types[rtype] += 1
        self._note_dropped(rtype)
        self._patient = None

    def add(self, ptr: str, res: Any, full_url: Any, raw: Any) -> None:
        if not isinstance(res, dict):
            kind = type(res).__name__
            self.reject(ptr, "fhir.structure", f"resource is a JSON {kind}, not an object", raw)
            return
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            self.reject(ptr, "fhir.structure", "resource has no resourceType", raw)
            return
        if rtype == "Bundle":  # its entries would be counted as one record and read as none
            why = "a Bundle inside a Bundle: its entries are not read"
            self.reject(ptr, "fhir.structure", why, raw, rtype)
            return
        if _holds_entries(res):  # a Bundle whose resourceType was mangled: the same loss
            why = "resource holds Bundle entries but its resourceType is not Bundle: not read"
            self.reject(ptr, "fhir.structure", why, raw, rtype)
            return
        if rtype == "Patient":
            self._patient = (res, full_url)
        if self.repeats and ptr in self.repeats:
            self.reject(ptr, "fhir.duplicate_key", _repeat_reason(self.repeats[ptr]), raw, rtype)
            return
        if self.marked and BAD_BYTE in _raw_text(raw):
            why = "the resource holds bytes that are not text (not UTF-8, or NUL)"
            self.reject(ptr, "fhir.encoding", why, raw, rtype)
            return
        if self.nuls and _holds_nul([res, full_url]):
            self.reject(ptr, "fhir.encoding", _NUL_REASON, raw, rtype)
            return
        if self.escapes and rtype == "Patient" and _unpaired_surrogate([res.get("id"), full_url]):
            # not a reference target: its key would be no text
            self.reject(ptr, "fhir.encoding", f"Patient key: {_SURROGATE_REASON}", raw, rtype)
            return
        ident = text(res.get("id")) or text(full_url)
        if ident is not None:
            seen = self._seen.setdefault((rtype, ident), res)
            if seen is not res and _same(seen, res):
                self.duplicates[rtype] += 1
                return
            if seen is not res and rtype == "Patient":
                self.reject(ptr, "fhir.patient_conflict", _patient_conflict(seen, res), raw, rtype)
                return
            if seen is not res and not _versions(seen, res):
                why = _patient_conflict(seen, res).replace("Patient", rtype, 1)
                self.reject(ptr, "fhir.id_conflict", why, raw, rtype)
                return
        self._patient = None
        self.items.append((ptr, res, text(full_url), raw))

    def _note_dropped(self, rtype: str) -> None:
        """Remember the references of the Patient just quarantined by :meth:`add`."""
        if rtype != "Patient" or self._patient is None:
            return
        res, full_url = self._patient
        rid = text(res.get("id"))
        self.dropped.update(r for r in (text(full_url), f"Patient/{rid}" if rid else None) if r)


def _patient_conflict(first: dict, later: dict) -> str:
    """Why a Patient with the id (or fullUrl) of an earlier Patient of the file, but other
    content, is quarantined: the top-level fields that differ, never their values.

    One patient cannot have two birth dates or genders and which resource is right cannot be
    told: the first is kept, the later one quarantined (``fhir.patient_conflict``).
    """
    keys = sorted(set(first) | set(later), key=str)
    differ = [str(k) for k in keys if not _same(first.get(k), later.get(k))]
    named = [k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", k) else "a field" for k in differ]
    return (
        f"another Patient with the same id came first and differs in {', '.join(named)}: "
        "the first is kept"
    )


def _versions(first: dict, later: dict) -> bool:
    """Whether two resources with one id are two versions of it (both name a ``meta.versionId``
    and the names differ): a history Bundle holds such pairs."""
    a, b = first.get("meta"), later.get("meta")
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    va, vb = a.get("versionId"), b.get("versionId")
    return va is not None and vb is not None and va != vb


_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _repeat_reason(names: list[str]) -> str:
    said = sorted({n if _SAFE_NAME.fullmatch(n) else "a member" for n in names})
    return (
        f"a JSON object names {', '.join(said)} more than once: parsers disagree on which "
        "value counts (RFC 8259 leaves it undefined), so none is trusted"
    )


class _Repeats(dict):
    """A JSON object that named a member more than once (its names in ``repeated``)."""

    repeated: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        obj = _Repeats(obj)
        obj.repeated = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return obj


def _repeated_in(value: Any) -> list[str]:
    """The member names repeated in any object of ``value`` (parsed with :func:`_pairs`)."""
    names: list[str] = []
    stack = [value]
    while stack:  # no recursion: JSON may be nested as deep as its parser allows
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item, _Repeats):
                names.extend(item.repeated)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _colons(data: bytes) -> int:
    if len(data) < 1 << 16:
        return data.count(b":")
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 58))


def _escapes(data: bytes) -> tuple[bool, bool, int]:
    """What ``\\u`` escapes ``data`` may hold, in one scan: ``(surrogates, nuls, colons)``.

    ``surrogates``: a ``\\uD800``-``\\uDFFF`` escape; ``nuls``: a ``\\u0000`` escape (each
    as :data:`_SURROGATE_ESCAPE` and :data:`_NUL_ESCAPE` find them); ``colons``: at least the
    number of ``\\u003a`` escapes (``\\u0030``-``\\u003f`` counted too: an over-count only
    sends a file to the exact check of :func:`_may_repeat_members`). The backslashes are found
    by numpy at memory speed and each is looked at (few in most files); a file full of them
    is searched by the regular expressions instead.

    Examples
    --------
    >>> _escapes(b'{"a": "x\\u003ay\\ud800\\u0000"}')
    (True, True, 1)
    """
    if len(data) < 1 << 16:
        if b"\\" not in data:
            return False, False, 0
    else:
        n = int(np.count_nonzero(np.frombuffer(data, np.uint8) == 92))
        if n == 0:
            return False, False, 0
        if n > 4096:
            return (
                _SURROGATE_ESCAPE.search(data) is not None,
                _NUL_ESCAPE.search(data) is not None,
                data.count(b"\\u003"),
            )
    surrogates = nuls = False
    colons = 0
    at = data.find(b"\\")
    while at >= 0:  # memchr from one backslash to the next
        if data.startswith(b"u", at + 1):
            code = data[at + 2 : at + 6]
            if code == b"0000":
                nuls = True
            elif code.startswith(b"003"):
                colons += 1
            elif _SURROGATE_ESCAPE.match(data, at):
                surrogates = True
        at = data.find(b"\\", at + 1)
    return surrogates, nuls, colons


def _may_repeat_members(
    data: bytes, parsed: Any, unparsed_colons: int = 0, colon_escapes: int | None = None
) -> bool:
    """Whether the JSON text ``data``, parsed as ``parsed``, may name a member twice in one
    object (a cheap test: ``False`` is sure, ``True`` asks for the exact check).

    Examples
    --------
    >>> _may_repeat_members(b'{"a": "1:2", "b": 1}', {"a": "1:2", "b": 1})
    False
    >>> _may_repeat_members(b'{"a": 1, "a": 2}', {"a": 2})
    True
    """
    try:
        out = _orjson_dumps(parsed)
    except (TypeError, ValueError):  # beyond orjson (a huge integer, 255 levels deep)
        out = dumps(parsed).encode("utf-8", errors="surrogatepass")
    if colon_escapes is None:
        colon_escapes = _escapes(data)[2]
    return _colons(data) - unparsed_colons + colon_escapes > _colons(out)


def _holds_entries(res: dict) -> bool:
    """Whether ``res`` has Bundle entries (``entry`` objects with a ``resource`` object).

    No resource type but Bundle has them (List and Composition entries are references).
    """
    entries = res.get("entry")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and isinstance(e.get("resource"), dict) for e in entries
    )


def _same(a: Any, b: Any) -> bool:
    """``a == b`` for two parsed resources, also when nested too deeply to compare.

    orjson reads 1,024 levels, deeper than ``==`` can recurse from here: such values are
    compared as their JSON text (:func:`~twinlab.ingest.fhir_values.dumps`, no recursion).

    Parameters
    ----------
    a, b : Any
        Parsed JSON values.

    Returns
    -------
    bool
        Whether they are equal.
    """
    try:
        return a == b
    except RecursionError:
        return dumps(a) == dumps(b)


def _unpaired_surrogate(res: dict) -> bool:
    """True when a string of ``res`` (a key or a value) holds an unpaired UTF-16 surrogate."""
    try:
        json.dumps(res, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _holds_nul(value: Any) -> bool:
    """True when a string of ``value`` (a key or a value, at any depth) holds a NUL character.

    Examples
    --------
    >>> _holds_nul({"code": {"text": "Body\\x00Height"}}), _holds_nul([{"a": ["b"]}])
    (True, False)
    """
    stack = [value]
    while stack:  # no recursion: JSON may be nested as deep as its parser allows
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _raw_text(raw: Any, ascii: bool = False) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, default=str) if ascii else dumps(raw)


def _parse_file(data: bytes, ndjson: bool) -> _Records:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if ndjson:
        return _parse_ndjson(data)
    source, marked = decode_marked(data)
    surrogates, nuls, colon_escapes = _escapes(data)
    recs = _Records(marked, surrogates, nuls)
    try:
        top = loads(source if marked else data)
    except ValueError as exc:
        lines = [ln for ln in data.split(b"\n") if ln.strip()]
        if len(lines) > 1 and _looks_like_resource(lines[0]):
            return _parse_ndjson(data)
        if not _salvage_bundle(source, recs):
            recs.reject("file", "fhir.parse", f"not valid JSON (truncated?): {exc}", data)
        return recs
    is_bundle = isinstance(top, dict) and top.get("resourceType") == "Bundle"
    if _may_repeat_members(data, top, 0, colon_escapes) and _find_repeats(
        recs, source, "file", is_bundle
    ):
        why = _repeat_reason(recs.repeats["file"]) + " (outside every resource: not read)"
        recs.reject("file", "fhir.duplicate_key", why, data, "Bundle" if is_bundle else _UNPARSED)
        return recs
    if is_bundle:
        _add_bundle(recs, "file", top, data)
    else:
        recs.add("resource", top, None, data)
    return recs


def _find_repeats(recs: _Records, source: str | bytes, ptr: str, bundle: bool) -> bool:
    """Parse ``source`` (a file or NDJSON line at ``ptr``) again, member pairs kept, and name
    in ``recs.repeats`` each record that names a member twice. ``True`` when one is named
    outside every resource (the file or line is then one record)."""
    try:
        top = json.loads(source, object_pairs_hook=_pairs)
    except RecursionError:  # a member was lost somewhere too deep to find: the whole is one
        recs.repeats[ptr] = ["a member"]
        return True
    except ValueError:  # read by orjson, not by json: leave it as read
        return False
    if not bundle or not isinstance(top, dict):
        names = _repeated_in(top)
        if names:
            recs.repeats["resource" if ptr == "file" else ptr] = names
        return False
    entries = top.get("entry")
    outside = _repeated_in({k: v for k, v in top.items() if k != "entry"})
    if isinstance(top, _Repeats):
        outside += top.repeated
    if outside or not isinstance(entries, list):
        recs.repeats[ptr] = outside or _repeated_in(top)
        return bool(recs.repeats[ptr])
    prefix = "" if ptr == "file" else f"{ptr}/"
    for i, entry in enumerate(entries):
        names = _repeated_in(entry)
        if names:
            recs.repeats[f"{prefix}entry[{i}]"] = names
    return False


def _parse_ndjson(data: bytes) -> _Records:
    """One record per line, split on ``\\n`` only (a 0x1E or 0x85 byte stays in its line).

    A line that holds a Bundle (EHR dumps write one per line; FHIR bulk exports never do) is
    read as a Bundle: each of its entries is a record (``line[i]/entry[j]``), with the checks of
    a Bundle file's entries (a Bundle inside one of them is quarantined, not read).
    """
    surrogates, nuls, colon_escapes = _escapes(data)
    recs = _Records(escapes=surrogates, nuls=nuls)
    lines: list[tuple[str, bytes, Any]] = []  # (pointer, line, parsed or _BROKEN)
    colons = 0  # the ':' of the lines that do not parse (not in the round trip)
    for i, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            res = loads(line)
        except ValueError:
            res = _BROKEN
            colons += line.count(b":")
        lines.append((f"line[{i}]", line, res))
    # the check for repeated member names, over the whole file at once (one round trip)
    parsed = [res for _, _, res in lines if res is not _BROKEN]
    suspect = _may_repeat_members(data, parsed, colons, colon_escapes)
    for ptr, line, res in lines:
        if res is _BROKEN:
            text_, marked = decode_marked(line)
            if _salvage_line(recs, ptr, text_, marked):
                continue
            why = "bytes that are not text (not UTF-8, or NUL)" if marked else "not valid JSON"
            recs.reject(ptr, "fhir.encoding" if marked else "fhir.parse", f"line: {why}", text_)
            continue
        is_bundle = isinstance(res, dict) and res.get("resourceType") == "Bundle"
        if suspect and _may_repeat_members(line, res) and _find_repeats(recs, line, ptr, is_bundle):
            why = _repeat_reason(recs.repeats[ptr]) + " (outside every resource: not read)"
            recs.reject(ptr, "fhir.duplicate_key", why, line, "Bundle")
            continue
        if is_bundle:
            _add_bundle(recs, ptr, res, line)
            continue
        recs.add(ptr, res, None, line)
    return recs


_BROKEN = object()


#: A Bundle's resourceType (before its entry list, where FHIR servers write it).
_BUNDLE_TYPE = re.compile(r'"resourceType"\s*:\s*"Bundle"')


def _salvage_line(recs: _Records, ptr: str, text: str, marked: bool) -> bool:
    """Read a Bundle on an NDJSON line that is not valid JSON (or not UTF-8) entry by entry.

    As in a Bundle file, a bad byte or a broken entry costs that entry alone
    (``line[i]/entry[j]``), not the line's every entry. Returns ``False`` when the line is no
    Bundle, or not one whose entries can be told apart: the line is then one record.
    """
    head = _ENTRY_LIST.search(text)
    if head is None or _BUNDLE_TYPE.search(text, 0, head.start()) is None:
        return False
    recs.marked = recs.marked or marked  # entries holding a bad byte: fhir.encoding
    if marked:
        try:
            bundle = loads(text)  # a bad byte alone: the JSON holds
        except ValueError:
            bundle = None
        if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
            _add_bundle(recs, ptr, bundle, text)
            return True
    return _salvage_bundle(text, recs, f"{ptr}/")


def _add_bundle(recs: _Records, ptr: str, bundle: dict, raw: Any) -> None:
    """Each entry of ``bundle`` (a whole file or an NDJSON line, at ``ptr``) as a record."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        recs.reject(ptr, "fhir.structure", "Bundle.entry is not a list", raw, "Bundle")
        return
    if not entries and any(_holds_entries({"entry": v}) for v in bundle.values()):
        # a corrupted "entry" key: its resources would be lost without a record
        why = "Bundle has no entry list but holds entries under another key: not read"
        recs.reject(ptr, "fhir.structure", why, raw, "Bundle")
        return
    prefix = "" if ptr == "file" else f"{ptr}/"
    for i, entry in enumerate(entries):
        _add_entry(recs, f"{prefix}entry[{i}]", entry)


def _add_entry(recs: _Records, ptr: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        recs.reject(ptr, "fhir.structure", "Bundle entry is not an object", entry)
    elif "resource" not in entry:
        recs.reject(ptr, "fhir.structure", "Bundle entry has no resource", entry)
    else:
        recs.add(ptr, entry["resource"], entry.get("fullUrl"), entry)


_ENTRY_LIST = re.compile(r'"entry"\s*:\s*\[')
_SPACE = re.compile(r"\s*")


#: Characters a salvage may decode, as a multiple of its text's size (plus 1 MiB): each broken
#: entry is decoded from a 4 KiB window at least, so that ordinary damage costs a few times the
#: text, while entries nested a thousand deep and never closed cost ~4,000 times it.
SALVAGE_WORK = 64


class _TooDamaged(Exception):
    """The salvage's decoding budget is spent (:data:`SALVAGE_WORK`)."""


class _Work:
    """What a salvage may still decode, in characters; :class:`_TooDamaged` when spent."""

    def __init__(self, text_size: int) -> None:
        self.left = SALVAGE_WORK * text_size + (1 << 20)

    def spend(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            raise _TooDamaged


_TOO_DAMAGED = (
    "the rest of the Bundle, from here on, is too damaged to be read entry by entry in "
    "bounded time (entries nested ever deeper and never closed?): not read"
)


def _salvage_bundle(source: str, recs: _Records, prefix: str = "") -> bool:
    """Read the entries of a Bundle that is not valid JSON as a whole, one by one.

    Each entry is decoded on its own (:meth:`json.JSONDecoder.raw_decode`); an entry that is
    not valid JSON (a stray or missing byte, an unclosed string, the cut of a truncated file)
    is quarantined alone, and reading resumes at the next entry that opens like the first one
    (``{"fullUrl":``, say). Entries after the end of the entry list (a stray ``]``, a second
    Bundle appended to the file) are quarantined one by one (:func:`_salvage_tail`). Returns
    ``False`` when the text has no ``"entry": [`` list or its first entry does not open like an
    object with a key, so that the file is quarantined whole.
    """
    found = _ENTRY_LIST.search(source)
    if found is None:
        return False
    decoder = json.JSONDecoder()
    pos = _SPACE.match(source, found.end()).end()
    opening = re.match(r'\{\s*("[A-Za-z]+"\s*:)', source[pos : pos + 200])
    if opening is None:
        return False
    start = re.compile(r"\{\s*" + re.escape(opening.group(1)))
    i, n = 0, len(source)
    work = _Work(n)
    while pos < n and source[pos] != "]":
        try:
            entry, end = _decode_at(decoder, source, pos, work)
        except _TooDamaged:
            recs.reject(f"{prefix}entry[{i}]", "fhir.parse", _TOO_DAMAGED, source[pos:])
            return True
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            nxt = start.search(source, pos + 1)
            stop = nxt.start() if nxt is not None else n
            why = "Bundle entry is not valid JSON"
            if nxt is None:
                why += f" (the {'line' if prefix else 'file'} ends inside it: truncated?)"
            recs.reject(f"{prefix}entry[{i}]", "fhir.parse", why, source[pos:stop])
            i += 1
            if nxt is None:
                break
            pos = nxt.start()
            continue
        _add_entry(recs, f"{prefix}entry[{i}]", entry)
        i += 1
        pos = _SPACE.match(source, end).end()
        if source.startswith(",", pos):
            pos = _SPACE.match(source, pos + 1).end()
    if source.startswith("]", pos) and '"resourceType"' in source[pos:]:
        _salvage_tail(source, pos, start, recs, prefix, work)
    return i > 0


#: First text window decoded by :func:`_decode_at` (then four times larger, and so on).
_WINDOW = 1 << 12


def _decode_at(
    decoder: json.JSONDecoder, source: str, pos: int, work: _Work | None = None
) -> tuple[Any, int]:
    """``decoder.raw_decode(source, pos)``, at a cost bounded by the text up to the value's end.

    An error's line and column are counted from the start of the text it was raised on, so
    that decoding each of many broken entries in the whole file would cost the square of its
    size. The value is decoded from growing windows of the text instead: a value that ends in
    a window (before its last character) is the one the whole text gives, and so is an error
    in a window, unless near its end or in a string the window cuts.

    Parameters
    ----------
    decoder : json.JSONDecoder
        The decoder.
    source : str
        The whole text.
    pos : int
        Where the value starts.
    work : _Work, optional
        The budget each window's characters are taken from.

    Returns
    -------
    tuple of (Any, int)
        The value and where it ends in ``source``.

    Raises
    ------
    ValueError, RecursionError
        As :meth:`json.JSONDecoder.raw_decode` on ``source``.
    _TooDamaged
        When ``work`` is spent.
    """
    size = _WINDOW
    while True:
        whole = pos + size >= len(source)
        if work is not None:
            work.spend(min(size, len(source) - pos))
        try:
            value, end = decoder.raw_decode(source[pos : pos + size])
        except json.JSONDecodeError as exc:
            cut = exc.pos >= size - 16 or exc.msg.startswith("Unterminated string")
            if whole or not cut:
                raise
        else:
            if whole or end <= size - 16:  # a number near the end may go on after it
                return value, pos + end
        size *= 4


#: A resourceType other than Bundle (the header of a Bundle appended to the file is no record).
_RESOURCE_TYPE = re.compile(r'"resourceType"\s*:\s*"(?!Bundle")')


def _salvage_tail(
    source: str,
    pos: int,
    start: re.Pattern[str],
    recs: _Records,
    prefix: str = "",
    work: _Work | None = None,
) -> None:
    """Quarantine what follows a Bundle's entry list, one record per entry found in it.

    The text after the ``]`` that closes the entry list is not part of the Bundle: the list
    closed early (a stray ``]``), or a second Bundle was appended. Each entry there (an object
    between the separators, or each entry of an appended Bundle that is valid JSON) is one
    quarantined record (``tail[k]``, ``fhir.parse``), so that the count of lost records is
    right; the members of the Bundle written after its entry list (``"resourceType": "Bundle"``
    when keys are sorted) are not entries. Text that is not valid JSON is skipped to the next
    object that opens like the Bundle's entries (``start``); when it holds resources, it is one
    record too, whose reason says how many.

    Parameters
    ----------
    source : str
        The whole file.
    pos : int
        Where the ``]`` closing the entry list lies.
    start : re.Pattern
        How the Bundle's entries open (``{"fullUrl":``, say).
    recs : _Records
        Where the quarantined records go.
    prefix : str
        Start of the records' pointers (``line[i]/`` for a Bundle on an NDJSON line).
    work : _Work, optional
        The salvage's decoding budget: when spent, the rest is one record.
    """
    decoder = json.JSONDecoder()
    k, n = 0, len(source)
    after = ("Bundle entry after the end of the entry list (a stray ']', or Bundles "
             "concatenated?): not read")  # fmt: skip
    pos += 1
    while True:
        pos = _TAIL_GAP.match(source, pos).end()
        if pos >= n:
            return
        key = _KEY.match(source, pos)
        try:
            obj, end = _decode_at(decoder, source, key.end() if key else pos, work)
        except _TooDamaged:
            recs.reject(f"{prefix}tail[{k}]", "fhir.parse", _TOO_DAMAGED, source[pos:])
            return
        except (ValueError, RecursionError):
            nxt = start.search(source, pos + 1)
            end = nxt.start() if nxt is not None else n
            held = len(_RESOURCE_TYPE.findall(source, pos, end))
            if held:  # not the header of an appended Bundle: resources that cannot be read
                why = (f"text after the end of the entry list, not valid JSON, holds {held} "
                       "resource(s)")  # fmt: skip
                recs.reject(f"{prefix}tail[{k}]", "fhir.parse", why, source[pos:end])
                k += 1
            pos = end
            continue
        if key is not None:  # a member of the Bundle after its entries ("resourceType": ...)
            pos = end
            continue
        bundle = isinstance(obj, dict) and obj.get("resourceType") == "Bundle"
        if bundle and isinstance(entries := obj.get("entry"), list):
            for entry in entries:  # an appended Bundle read whole
                recs.reject(f"{prefix}tail[{k}]", "fhir.parse", after, entry, _entry_type(entry))
                k += 1
        else:
            recs.reject(
                f"{prefix}tail[{k}]", "fhir.parse", after, source[pos:end], _entry_type(obj)
            )
            k += 1
        pos = end


#: Separators between the entries of a tail (and the ends of the Bundle before it).
_TAIL_GAP = re.compile(r"[\s,\]}]*")
#: A member name (``"resourceType":``): what follows it is a member of the Bundle, no entry.
_KEY = re.compile(r'"(?:[^"\\]|\\.)*"\s*:\s*')


def _entry_type(entry: Any) -> str:
    """The resourceType of a Bundle entry's resource, for the per-type tally."""
    res = entry.get("resource") if isinstance(entry, dict) else None
    rtype = res.get("resourceType") if isinstance(res, dict) else None
    return rtype if isinstance(rtype, str) and rtype else _UNPARSED


def _looks_like_resource(line: bytes) -> bool:
    try:
        obj = loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and "resourceType" in obj


class _Index:
    """Where references lead inside one file: Patients (to their key) and any resource."""

    def __init__(self, items: list[tuple[str, dict, str | None, Any]]) -> None:
        self.resources: dict[str, dict] = {}
        self.patients: dict[str, str] = {}
        self.identifiers: dict[tuple[str | None, str], str] = {}
        self.key_of: dict[str, str] = {}  # pointer -> patient key
        #: references of the file's Patients that were quarantined (:attr:`_Records.dropped`)
        self.dropped: set[str] = set()
        for ptr, res, full_url, _ in items:
            rtype, rid = res["resourceType"], text(res.get("id"))
            refs = [r for r in (full_url, f"{rtype}/{rid}" if rid else None) if r]
            for ref in refs:
                self.resources.setdefault(ref, res)
            if rtype != "Patient":
                continue
            if rid is not None:
                key = rid
            elif full_url is not None:
                key = full_url.removeprefix("urn:uuid:")
            else:
                key = ptr
            self.key_of[ptr] = key
            for ref in refs:
                self.patients.setdefault(ref, key)
            for ident in as_list(res.get("identifier")):
                if isinstance(ident, dict) and text(ident.get("value")):
                    system = text(ident.get("system"))
                    self.identifiers.setdefault((system, ident["value"]), key)
                    self.identifiers.setdefault((None, ident["value"]), key)

    def subject(self, ref: Any, field: str) -> tuple[str, str | None]:
        """Patient key of a subject reference, and the reference when kept unresolved."""
        if not isinstance(ref, dict):
            raise Reject("fhir.subject", f"{field} is missing or not a Reference")
        target = ref.get("reference")
        if not isinstance(target, str) or not target:
            ident = ref.get("identifier")
            if isinstance(ident, dict) and text(ident.get("value")):
                key = self.identifiers.get((text(ident.get("system")), ident["value"]))
                if key is not None:
                    return key, None
                raise Reject("fhir.subject", f"{field}.identifier matches no Patient in the file")
            raise Reject("fhir.subject", f"{field} has no reference")
        key = self.patients.get(target)
        if key is not None:
            return key, None
        if "?" in target:
            return self._conditional(target, field), None
        m = _LITERAL.search(target)
        if target in self.dropped:
            raise Reject("fhir.subject", f"{field} is a Patient of the file that is quarantined")
        if target.startswith(("urn:", "#")) or m is None:
            raise Reject("fhir.subject", f"{field} is not a Patient in the file")
        if m.group(1) != "Patient":
            kind = m.group(1) if m.group(1) in _SUBJECT_TYPES else "resource of another type"
            raise Reject("fhir.subject", f"{field} refers to a {kind}, not a Patient")
        key = self.patients.get(f"Patient/{m.group(2)}")
        return (key, None) if key is not None else (m.group(2), target)

    def _conditional(self, target: str, field: str) -> str:
        rtype, _, query = target.partition("?")
        if rtype.rsplit("/", 1)[-1] != "Patient":
            raise Reject("fhir.subject", f"{field} is not a Patient search")
        for name, value in parse_qsl(query):
            if name == "identifier":
                system, bar, code = value.rpartition("|")
                key = self.identifiers.get((system or None, code) if bar else (None, value))
                if key is not None:
                    return key
        raise Reject("fhir.subject", f"{field} matches no Patient in the file")


def _columns(names: list[str], rows: list[tuple]) -> dict[str, Any]:
    """Columns of ``rows`` (tuples in ``names`` order), typed: UTC times, floats, objects, str."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    data: dict[str, Any] = {}
    for name, values in zip(names, cols, strict=True):
        if name in ("time", "end_time"):
            stamps = np.array(values, dtype=np.int64).view("datetime64[us]")
            data[name] = pd.DatetimeIndex(stamps).tz_localize("UTC")
        elif name == "value_num":
            data[name] = np.array(values, dtype=np.float64)
        elif name in ("qualifiers", "identifiers", "phi"):
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            data[name] = arr
        else:
            data[name] = pd.array(values, dtype="str")
    return data


@register(
    FORMAT,
    sniff=sniff_fhir,
    description="FHIR R4 JSON Bundles and NDJSON (Patient, Observation, Condition, medications, "
    "Procedure, Encounter, AllergyIntolerance, Immunization)",
)
def read_fhir(path: Path) -> ReadResult:
    """Read a FHIR R4 JSON Bundle, single-resource JSON file or NDJSON file.

    Parameters
    ----------
    path : pathlib.Path
        The file; ``.ndjson``/``.jsonl`` (or a ``.json`` file with one resource per line) is read
        line by line, anything else as one JSON document.

    Returns
    -------
    ReadResult
        Events, persons and quarantine in the source vocabulary; the per-resource-type tally in
        ``series["fhir.resource_counts"]``. Never raises on bad content.

    Examples
    --------
    A bulk export with one line that is no JSON: that line is quarantined alone.

    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Patient.ndjson"
    >>> _ = path.write_text(json.dumps({"resourceType": "Patient", "id": "p1"}) + "\\n{cut\\n")
    >>> result = read_fhir(path)
    >>> [result.counts[k] for k in ("records_in", "accepted", "quarantined")]
    [2, 1, 1]
    >>> result.quarantine["reason"].tolist()
    ['line: not valid JSON']
    """
    # The cyclic GC would otherwise walk the freshly parsed JSON trees again and again (they are
    # acyclic): pausing it while reading roughly halves the time of a read.
    with _gc_paused():
        return _read(Path(path))


#: Resources naming people around a patient: their names and contacts join the patient's PHI
#: (``phi["related"]``) so that de-identification removes them from free text (issue 14),
#: whether they are entries of the file or contained in another resource (a RelatedPerson or
#: Practitioner inside the Observation that names them).
_RELATED = {"RelatedPerson": "patient", "FamilyMemberHistory": "patient", "Practitioner": None,
            "Person": None}  # fmt: skip


def _with_contained(res: dict) -> Iterator[dict]:
    """``res`` and the resources it contains (``contained``, one level: FHIR forbids more)."""
    yield res
    for inner in as_list(res.get("contained")):
        if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
            yield inner


#: Elements whose References name the people around a patient (a general practitioner, a
#: performer, an informant, an author, a linked record; a Coverage's subscriber and policy
#: holder, a Claim's or ExplanationOfBenefit's enterer, provider, care team and payee, a
#: Provenance's or AuditEvent's agents, a DocumentReference's authenticator, a Composition's
#: attesters, a DiagnosticReport's interpreters, a MedicationDispense's receiver, a
#: Communication's sender and recipients, a Goal's expresser, a QuestionnaireResponse's
#: source, a CarePlan's contributors), with the keys inside an element where its Reference
#: stands (``participant.individual``, ``participant.member``, ``link.other``,
#: ``careTeam.provider``, ``payee.party``, ``agent.who``, ``agent.onBehalfOf``,
#: ``attester.party``).
_PERSON_ELEMENTS = ("generalPractitioner", "performer", "informationSource", "asserter",
                    "recorder", "requester", "author", "participant", "link", "note",
                    "subscriber", "policyHolder", "enterer", "provider", "careTeam", "payee",
                    "agent", "authenticator", "attester", "resultsInterpreter", "receiver",
                    "sender", "recipient", "expressedBy", "source", "contributor")  # fmt: skip
_PERSON_INNER = ("individual", "actor", "other", "authorReference", "provider", "party", "who",
                 "onBehalfOf", "member")  # fmt: skip
#: Resource types that are no person (an organization, a place, a device...).
_NOT_PEOPLE = ("Organization", "Location", "Device", "CareTeam", "HealthcareService", "Group",
               "Endpoint", "InsurancePlan")  # fmt: skip
#: Reference targets that name no person.
_NOT_A_PERSON = re.compile(rf"(?:^|/)(?:{'|'.join(_NOT_PEOPLE)})/")
#: A title before a name and a credential after it ("Dr. Joy Field, MD"): no name words.
_TITLES = re.compile(
    r"^\s*(?:(?:dr|mr|mrs|ms|miss|prof)\.?\s+)+|(?:,?\s+(?:md|do|rn|np|pa|phd|jr|sr)\.?)+\s*$",
    re.IGNORECASE,
)


def _person_displays(
    res: dict, resolve: Callable[[str], dict | None] | None = None
) -> Iterator[str]:
    """The names that ``res``'s References to people display (``Patient.generalPractitioner``,
    ``Observation.performer``, ``Encounter.participant.individual``, ``Patient.link.other``,
    ``Coverage.subscriber``, ``Claim.careTeam.provider``, ``Provenance.agent.who``...) and its
    annotations' ``authorString``: names the file holds, whose people may be no resource of
    it, whether the element repeats (``performer``) or not (``requester``, ``enterer``). A
    reference to an organization, a place or a device is no person, whether its type is
    written in it (``Organization/7``) or found by ``resolve`` (a Bundle's ``urn:uuid:``).

    Parameters
    ----------
    res : dict
        A resource.
    resolve : callable, optional
        ``resolve(reference_text) -> resource dict or None`` over the file's resources.

    Yields
    ------
    str
        Each display (and ``authorString``) as written.
    """
    for element in _PERSON_ELEMENTS:
        value = res.get(element)
        # a repeating element (performer) is a list, a single one (requester, enterer,
        # Coverage.subscriber, Claim.payee) the Reference or backbone element itself
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("authorString"), str):
                yield item["authorString"]
            for ref in (item, *(item.get(k) for k in _PERSON_INNER)):
                if not isinstance(ref, dict) or not isinstance(ref.get("display"), str):
                    continue
                if not _names_no_person(ref.get("reference"), resolve):
                    yield ref["display"]


def _names_no_person(target: Any, resolve: Callable[[str], dict | None] | None) -> bool:
    """Whether a Reference's ``reference`` leads to no person (its type written in it, or the
    resource of the file that ``resolve`` finds)."""
    if not isinstance(target, str):
        return False
    if _NOT_A_PERSON.search(target):
        return True
    found = resolve(target) if resolve is not None else None
    return isinstance(found, dict) and found.get("resourceType") in _NOT_PEOPLE


def _subject_key(ctx: Context, ref: Any, field: str) -> str | None:
    """:meth:`Context.subject`'s patient key of ``ref``, None where it names no patient."""
    try:
        return ctx.subject(ref, field)[0]
    except Reject:
        return None


def _owner(res: dict, ctx: Context) -> str | None:
    """The patient key ``res`` belongs to (itself for a Patient), else None."""
    if res["resourceType"] == "Patient":
        ref = {"reference": f"Patient/{res['id']}"} if isinstance(res.get("id"), str) else None
        return _subject_key(ctx, ref, "subject")
    field = next((f for f in ("subject", "patient", "beneficiary") if f in res), "subject")
    return _subject_key(ctx, res.get(field), field)


def _attach_relatives(persons: list[tuple], items: list, ctx: Context) -> None:
    phi_at = list(PERSON_COLUMNS).index("phi")
    found: dict[str | None, list[dict]] = {}
    for res in (r for _, top, _, _ in items for r in _with_contained(top)):
        shown = [_TITLES.sub("", d).strip() for d in _person_displays(res, ctx.resolve)]
        if any(shown):
            names = [{"text": d} for d in dict.fromkeys(shown) if d]
            found.setdefault(_owner(res, ctx), []).append({"name": names})
        field = _RELATED.get(res["resourceType"], "")
        if field == "":
            continue
        people = {k: res[k] for k in ("name", "telecom", "address") if k in res}
        if not people:
            continue
        key = _subject_key(ctx, res.get(field), field) if field else None
        found.setdefault(key, []).append(people)
    for row in persons:
        related = found.get(row[0], []) + found.get(None, [])
        if related and isinstance(row[phi_at], dict):
            row[phi_at]["related"] = related


def read_fhir_batch(paths: Sequence[Path]) -> list[ReadResult | Exception]:
    """Read many FHIR files at once: each file's records alone, one table build per batch.

    The same result, file by file, as :func:`read_fhir` on each path (the tests check that the
    tables, quarantine and tallies are equal), at a fraction of the cost when files are small:
    building a DataFrame costs some 0.2 ms whatever its length, three times per file, which is
    more than reading a 12-resource bundle. Here the rows of all files become one table each;
    each file's result knows its row ranges and cuts its frames only when they are read
    (:meth:`ReadResult.rows <twinlab.ingest.base.ReadResult.rows>` gives the ranges uncut, so
    that :func:`twinlab.harmonize.sources.collect` slices each batch table once).

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The files, each read on its own (a file's references resolve within that file only).

    Returns
    -------
    list of ReadResult or Exception
        One per path, in order: its result (``digest`` set to the SHA-256 of the bytes read),
        or the exception the reader raised on that file alone (a reader bug; the other files
        are unaffected), for the caller to report as it would from :func:`read_fhir`.
    """
    with _gc_paused():  # once for both steps: each re-enabling may cost a full collection
        return FhirBatch(paths).results()


class FhirBatch:
    """A batch of FHIR files read into one table per kind, with per-file results on demand.

    Cheap to pickle (a few DataFrames, not four per file), so that Dask workers return it whole
    and the client makes the per-file results (:meth:`results`), whose frames are cut from the
    batch tables only when read.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The files, each read on its own.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        with _gc_paused():
            times = TimeParser()  # a pure cache of parsed timestamps: safe to share across files
            parts: list[_FileRows | Exception] = []
            for path in paths:
                try:
                    parts.append(_collect(Path(path), times))
                except Exception as exc:  # one file's reader bug stays that file's
                    parts.append(exc)
            good = [p for p in parts if isinstance(p, _FileRows)]
            try:
                tables: list[_Tables | Exception] = [_Tables(good)] * len(good)
            except Exception:  # a value that breaks the batch's table: find its file alone
                tables = [_tables_or_error(p) for p in good]
        built = iter(tables)
        #: per path: an exception, or the tables holding the file and its position there
        self.outcomes: list[Exception | tuple[_Tables, int]] = []
        position: dict[int, int] = {}
        for part in parts:
            where = part if isinstance(part, Exception) else next(built)
            if isinstance(where, Exception):
                self.outcomes.append(where)
            else:
                at = position.get(id(where), 0)
                position[id(where)] = at + 1
                self.outcomes.append((where, at))

    def results(self) -> list[ReadResult | Exception]:
        """One :class:`ReadResult` (or the reader's exception) per path, in order; each cuts
        its frames from the batch tables when they are first read."""
        cut: dict[int, list[ReadResult]] = {}
        out: list[ReadResult | Exception] = []
        with _gc_paused():
            for outcome in self.outcomes:
                if isinstance(outcome, Exception):
                    out.append(outcome)
                    continue
                tables, at = outcome
                if id(tables) not in cut:
                    cut[id(tables)] = tables.results()
                out.append(cut[id(tables)][at])
        return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (the reader's objects are acyclic), then restore it."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class _FileRows:
    """One file read up to its rows: what :class:`_Tables` turns into a :class:`ReadResult`."""

    __slots__ = ("accepted", "digest", "events", "path", "persons", "recs", "rows")

    def __init__(self, path: Path, recs: _Records, digest: str) -> None:
        self.path, self.recs, self.digest = path, recs, digest
        self.rows: list[tuple] = []
        self.persons: list[tuple] = []
        self.accepted: Counter[str] = Counter()
        self.events: Counter[str] = Counter()


def _tables_or_error(part: _FileRows) -> _Tables | Exception:
    try:
        return _Tables([part])
    except Exception as exc:
        return exc


def _read(path: Path) -> ReadResult:
    return _Tables([_collect(path, TimeParser(), digest=False)]).results()[0]


def _collect(path: Path, times: TimeParser, *, digest: bool = True) -> _FileRows:
    """Read, parse and extract one file; ``digest``: hash its bytes (``read_sources`` needs the
    hash; computing it here saves reading the file a second time)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        recs = _Records()
        recs.reject("file", "fhir.io", f"cannot read the file: {exc.strerror}", "")
        data = None
    else:
        recs = _parse_file(data, path.name.lower().endswith(_NDJSON_SUFFIXES))
    out = _FileRows(
        path, recs, hashlib.sha256(data).hexdigest() if digest and data is not None else ""
    )
    index = _Index(recs.items)
    index.dropped = recs.dropped
    ctx = Context(times=times, subject=index.subject, resolve=index.resources.get)
    rows, persons, accepted, events = out.rows, out.persons, out.accepted, out.events
    for ptr, res, full_url, raw in recs.items:
        rtype = res["resourceType"]
        try:
            if rtype == "Patient":
                person = patient_person(res, index.key_of[ptr], ctx)
                if recs.escapes and _unpaired_surrogate([person[c] for c in _PERSON_TEXT]):
                    raise Reject("fhir.encoding", _SURROGATE_REASON)
                persons.append(tuple(person.values()))
            elif recs.escapes and _unpaired_surrogate([res, full_url]):
                raise Reject("fhir.encoding", _SURROGATE_REASON)
            else:
                extract = EXTRACTORS.get(rtype)
                if extract is not None:
                    new = extract(res, ptr, ctx)
                    rid = text(res.get("id"))
                    ref = full_url or (f"{rtype}/{rid}" if rid else None)
                    if ref is not None:
                        for row in new:
                            row[10]["fhir_ref"] = ref
                    rows.extend(new)
                    events[rtype] += len(new)
        except Reject as exc:
            recs.reject(ptr, exc.check, exc.reason, raw, rtype)
            continue
        except Exception as exc:  # the reader must never raise on content
            reason = f"unexpected content in {rtype} ({type(exc).__name__})"  # no message: values
            recs.reject(ptr, "fhir.internal", reason, raw, rtype)
            continue
        accepted[rtype] += 1
    _attach_relatives(persons, recs.items, ctx)
    recs.items = []  # the parsed JSON is no longer needed: free it before the batch is built
    return out


_TALLY_COLUMNS = ("records", "accepted", "quarantined", "duplicates", "events")


class _Tables:
    """Events, persons, quarantine and tally of several files, one table each, and where each
    file's rows lie in them."""

    def __init__(self, parts: list[_FileRows]) -> None:
        self.events, ev = _whole(EVENT_COLUMNS, [p.rows for p in parts])
        self.persons, pe = _whole(PERSON_COLUMNS, [p.persons for p in parts])
        self.quarantine, qu = _whole(QUARANTINE_COLUMNS, [p.recs.quarantine for p in parts])
        self.tally, ta = _tally_table(parts)
        self.files: list[tuple] = []
        for p, *bounds in zip(parts, ev, pe, qu, ta, strict=True):
            n_accepted = sum(p.accepted.values())
            n_dup = sum(p.recs.duplicates.values())
            n_in = n_accepted + len(p.recs.quarantine) + n_dup
            self.files.append((str(p.path), n_in, n_accepted, n_dup, p.digest, *bounds))

    def results(self) -> list[ReadResult]:
        """One :class:`ReadResult` per file, its frames cut from the tables when first read."""
        return [_BatchFile(self, i) for i in range(len(self.files))]

    def rows(self, kind: str, i: int) -> tuple[pd.DataFrame, int, int]:
        """File ``i``'s rows of the ``kind`` table: ``(table, start, stop)``."""
        a, b = self.files[i][5 + _KINDS.index(kind)]
        return getattr(self, kind), a, b

    def frame(self, kind: str, i: int) -> pd.DataFrame:
        """File ``i``'s ``kind`` table as a frame of its own (index from 0)."""
        whole, a, b = self.rows(kind, i)
        if len(self.files) == 1:
            return whole
        if a == b:  # copy-on-write: each file its own frame
            return whole.iloc[:0].copy(deep=False)
        part = whole.iloc[a:b]
        part.index = pd.RangeIndex(b - a)
        return part

    def tally_of(self, i: int) -> pd.DataFrame:
        """File ``i``'s per-resource-type tally."""
        a, b = self.files[i][-1]
        if a == b:  # a file without records: as a DataFrame of empty lists has always been
            index = pd.Index([], name="resource_type", dtype="str")
            return pd.DataFrame({c: [] for c in _TALLY_COLUMNS}, index=index)
        return self.tally if len(self.files) == 1 else self.tally.iloc[a:b]


_KINDS = ("events", "persons", "quarantine")
_TALLY = "fhir.resource_counts"


class _BatchFile(ReadResult):
    """One file's :class:`ReadResult` whose frames are rows of its batch's tables.

    ``events``, ``persons``, ``quarantine`` and ``series`` (the tally) are cut from the batch
    tables when first read, then cached (and may be reassigned like any field); the counts,
    the reconciliation and :meth:`rows` use the known row ranges and cut nothing. Pickled, it
    becomes a plain :class:`ReadResult` holding its own frames (never the whole batch).
    """

    def __init__(self, tables: _Tables, i: int) -> None:
        name, n_in, n_accepted, n_dup, digest = tables.files[i][:5]
        self.source_file, self.format, self.digest = name, FORMAT, digest
        self.records_in, self.records_accepted, self.duplicates = n_in, n_accepted, n_dup
        self._tables, self._at = tables, i
        self._reconcile()

    @cached_property
    def events(self) -> pd.DataFrame:  # type: ignore[override]
        return self._tables.frame("events", self._at)

    @cached_property
    def persons(self) -> pd.DataFrame:  # type: ignore[override]
        return self._tables.frame("persons", self._at)

    @cached_property
    def quarantine(self) -> pd.DataFrame:  # type: ignore[override]
        return self._tables.frame("quarantine", self._at)

    @cached_property
    def series(self) -> dict[str, Any]:  # type: ignore[override]
        return {_TALLY: self._tables.tally_of(self._at)}

    def rows(self, kind: str) -> tuple[pd.DataFrame, int, int]:
        """The batch table and this file's row range in it, unless the frame was read or set
        (then the frame itself: it may have been changed)."""
        if kind in self.__dict__:
            return super().rows(kind)
        return self._tables.rows(kind, self._at)

    def series_of(self, kind: type) -> dict[str, Any]:
        """The tally only (a DataFrame), without cutting it when ``kind`` excludes it."""
        if "series" not in self.__dict__ and not issubclass(pd.DataFrame, kind):
            return {}
        return super().series_of(kind)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return _plain, ({f.name: getattr(self, f.name) for f in fields(ReadResult)},)


def _plain(values: dict[str, Any]) -> ReadResult:
    return ReadResult(**values)


def _whole(
    columns: dict[str, str], groups: list[list[tuple]]
) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """One DataFrame of all ``groups``' rows, and each group's row range in it."""
    whole = pd.DataFrame(_columns(list(columns), [row for rows in groups for row in rows]))
    return whole, _ranges(len(rows) for rows in groups)


def _ranges(sizes: Any) -> list[tuple[int, int]]:
    out, start = [], 0
    for n in sizes:
        out.append((start, start + n))
        start += n
    return out


def _tally_table(parts: list[_FileRows]) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """Each file's per-resource-type tally (records, accepted, quarantined, duplicates, events)
    in one table, and each file's row range in it."""
    names, rows, sizes = [], [], []
    for p in parts:
        rejected, dups, accepted, events = p.recs.bad_types, p.recs.duplicates, p.accepted, p.events
        types = sorted(set(accepted) | set(rejected) | set(dups))
        for t in types:
            a, r, d = accepted[t], rejected[t], dups[t]
            rows.append((a + r + d, a, r, d, events[t]))
        names.extend(types)
        sizes.append(len(types))
    values = np.array(rows, dtype=np.int64).reshape(len(rows), len(_TALLY_COLUMNS))
    whole = pd.DataFrame(
        values,
        columns=pd.Index(_TALLY_COLUMNS, dtype="str"),
        index=pd.Index(names, name="resource_type", dtype="str"),
    )
    return whole, _ranges(sizes)
