"""CDISC ODM 1.3.x clinical data reader (EDC exports such as Medidata Rave, Dataset-XML).

A *record* is one ``ItemGroupData``; each of its ``ItemData`` (or typed ``ItemDataInteger``,
``ItemDataString``...) becomes one event:

* ``code`` = ItemOID, ``code_system`` = ``"ODM:<StudyOID>"``, ``display`` = the ItemDef Name;
* the value is typed by the ItemDef ``DataType`` (integer / float / double → ``value_num``, with
  the unit of its ``MeasurementUnitRef``; anything else → ``value_text``); a CodeList decode
  goes to the qualifier ``decode``; the raw text is kept in ``orig_value``;
* ``domain`` from the SDTM-like names of the ItemGroup, Form or Item OIDs (``LB`` → lab,
  ``VS`` / ``VITAL`` → vital, ``AE`` → adverse_event, ...), else ``other``;
* the time is the item group's own date item (``--STDTC``, ``--DTC``, ``--DAT``, ``--DATE``,
  birth / death dates excluded) or, failing that, the ``AuditRecord/DateTimeStamp`` of the item
  group or its form, study event or subject; qualifiers ``date_precision`` and ``date_source``.
  Zone-less datetimes are read in ``tz`` (qualifier ``tz_assumed``).

An item group that repeats an earlier accepted one exactly (the same study, subject, study
event, form, ItemGroupOID and repeat key, the same items and values, the same audit time) is read
once and counted in ``duplicates``; one that differs in anything (an update in a transactional
export) is a record of its own.

Subjects become ``persons`` (SubjectKey; for Dataset-XML, which has no SubjectData, the USUBJID
item), with sex / birth date when an item says so.

Quarantined, with the item group's XML as raw text: a value that fails its DataType
(``odm.datatype``), an item without an ItemOID or with its value as element text or an ODM 2.0
``Value`` element instead of the ODM 1.3 ``Value`` attribute (``odm.item``), an undated item group
(``odm.date``, unless ``undated="keep"``), an item group without a subject (``odm.subject``),
an item group that is not well-formed XML (an
unclosed element, a bad byte, also in its own opening tag: ``odm.parse``; the file is parsed
again without it, up to
:data:`MAX_BROKEN_GROUPS` times), the cut item group of a truncated file (``odm.parse``) or the
open elements after the last complete group (``odm.truncated``). A file whose XML breaks
outside any item group, or whose study ``GlobalVariables`` break the ODM structure, is one
quarantined record (``odm.parse`` / ``odm.structure``); so is an ODM 2.x file (``odm.version``:
"ODM 2.0 is not supported", by its root's namespace or ODMVersion) and a file the safe parser
refuses (``odm.unsafe_xml``: entity declarations such as a "billion laughs" bomb, external
entities).

Parsing uses :func:`defusedxml.ElementTree.iterparse` (the standard library's parser with entity
expansion and external references refused, whatever the system's expat version; lxml is not a
project dependency); the bytes of the file are held once (broken item groups are cut out of them
and the file parsed again), and each ItemGroupData is cleared once read.
"""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse as _safe_iterparse

from twinlab.ingest.base import (
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadResult,
    frame,
    quarantine_row,
    register,
)
from twinlab.ingest.sdtm import events_frame, parse_partial_datetime

__all__ = ["read_odm"]

FORMAT = "odm"
ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
#: What a malformed item group is replaced by before the file is parsed again: an empty item
#: group (its own namespace declared, whatever prefix the file uses) that
#: :meth:`_Parser.item_group` counts but does not read, so that the ordinal ``@n`` of every
#: later group's pointer stays the one it has in the file (the group itself is quarantined).
_BROKEN_ATTR = "twinlabMalformed"
_PLACEHOLDER = f'<ItemGroupData xmlns="{ODM_NS}" {_BROKEN_ATTR}="1"/>'.encode()
#: Numeric ODM DataTypes (→ ``value_num``).
NUMERIC_TYPES = frozenset({"integer", "float", "double"})
_TYPED_ITEM = re.compile(r"^ItemData(?P<type>[A-Z]\w*)$")
_INT = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_BOOLEAN = frozenset({"true", "false", "1", "0"})
_GLOBAL_VARIABLES = ("StudyName", "StudyDescription", "ProtocolName")
#: SDTM domain codes / words in OIDs → twinlab domain.
_DOMAIN_TOKENS: dict[str, str] = {
    "LB": "lab",
    "LAB": "lab",
    "LABDATA": "lab",
    "VS": "vital",
    "VIT": "vital",
    "VITAL": "vital",
    "VITALS": "vital",
    "EX": "dose",
    "EC": "dose",
    "DOSE": "dose",
    "PC": "concentration",
    "PK": "concentration",
    "AE": "adverse_event",
    "AENONSER": "adverse_event",
    "CM": "medication",
    "CONMED": "medication",
    "MH": "condition",
    "PR": "procedure",
    "DM": "demographic",
    "DEMOG": "demographic",
}
_DATE_NAME = re.compile(r"(STDTC|DTC|DAT|DATE|DTM)$", re.IGNORECASE)
_NOT_EVENT_DATE = re.compile(r"(BRTH|BIRTH|DTH|DEATH|DDDTC|RFENDTC|ENDTC|ENDAT|ENDATE)", re.I)


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _is_odm(tag: str) -> bool:
    return _local(tag)[0] in ("", ODM_NS)


@dataclass
class _ItemDef:
    name: str
    data_type: str
    unit: str | None = None
    codelist: str | None = None


@dataclass
class _Metadata:
    items: dict[str, _ItemDef] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    codelists: dict[str, dict[str, str]] = field(default_factory=dict)


class _Reject(Exception):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


def _check_type(value: str, data_type: str) -> str | None:
    """None when ``value`` is a valid ``data_type`` literal, else the reason."""
    v = value.strip()
    t = data_type
    ok = True
    if t == "integer":
        ok = bool(_INT.match(v))
    elif t in ("float", "double"):
        try:
            ok = math.isfinite(float(v))
        except ValueError:
            ok = False
    elif t == "date":
        ok = bool(_DATE.match(v)) and parse_partial_datetime(v)[0] is not None
    elif t == "datetime":
        ok = bool(_DATETIME.match(v)) and parse_partial_datetime(v)[0] is not None
    elif t == "time":
        ok = bool(_TIME.match(v))
    elif t in ("partialDate", "partialDatetime", "incompleteDate", "incompleteDatetime"):
        ok = parse_partial_datetime(v)[0] is not None
    elif t == "boolean":
        ok = v.lower() in _BOOLEAN
    if ok:
        return None
    return f"value is not a valid {t}"


def _misplaced_value(item: ET.Element) -> str | None:
    """Why a plain ``ItemData`` holds a value where ODM 1.3 has none, else None.

    ODM 1.3 gives an ItemData's value in its ``Value`` attribute only (its content is
    AuditRecord, Signature, MeasurementUnitRef, Annotation); the typed ``ItemDataString``...
    hold theirs as text. Text in a plain ItemData (some hand-made exports) or a ``Value``
    child (ODM 2.0's layout) is not valid ODM 1.3, and read as a null it would lose the
    value without a word; read as the value it would guess (and may contradict ``Value=``).
    """
    if (item.text or "").strip() or any((c.tail or "").strip() for c in item):
        return "holds text: ODM 1.3 gives an ItemData's value in its Value attribute only"
    if any(_local(c.tag)[1] == "Value" for c in item):
        return ("holds a Value element (ODM 2.0 layout): ODM 1.3 gives an ItemData's value "
                "in its Value attribute only")  # fmt: skip
    return None


def _own_audit(elem: ET.Element) -> str | None:
    """The first AuditRecord/DateTimeStamp of an item group or of one of its items."""
    for audit in elem.iter():
        if _local(audit.tag)[1] == "AuditRecord":
            for child in audit:
                if _local(child.tag)[1] == "DateTimeStamp" and (child.text or "").strip():
                    return child.text.strip()
    return None


def _infer_domain(*oids: str | None) -> str:
    for oid in oids:
        if not oid:
            continue
        for token in re.split(r"[^A-Za-z0-9]+", oid.upper()):
            if token in _DOMAIN_TOKENS:
                return _DOMAIN_TOKENS[token]
    return "other"


def _shallow_xml(elem: ET.Element) -> str:
    """``elem`` as XML with its children's attributes but nothing below them.

    Parameters
    ----------
    elem : xml.etree.ElementTree.Element
        An element too deeply nested for :func:`xml.etree.ElementTree.tostring`.

    Returns
    -------
    str
        The element, its attributes and its direct children, each child empty.
    """
    top = ET.Element(elem.tag, elem.attrib)
    for child in elem:
        ET.SubElement(top, child.tag, child.attrib)
    return ET.tostring(top, encoding="unicode")


class _Parser:
    def __init__(self, path: Path, tz: str, undated: str, data: bytes | None = None) -> None:
        self.path = path
        self.data = data
        self.name = path.name
        self.tz = tz
        self.undated = undated
        self.meta: dict[tuple[str, str], _Metadata] = {}
        self.meta_by_mdv: dict[str, _Metadata] = {}
        self.events: list[dict[str, Any]] = []
        self.persons: dict[str, dict[str, Any]] = {}
        self.quarantine: list[dict[str, str]] = []
        self.records = 0
        #: item groups equal to an earlier accepted one (same place, items and audit time)
        self.duplicates = 0
        self.seen: set[tuple[Any, ...]] = set()
        self.study_oid = ""
        self.stack: list[dict[str, Any]] = []  # context frames of clinical elements
        #: item groups of the open StudyEventData, with their context: processed together
        #: so that a group without its own date can take the study event's date
        self.pending: list[tuple[ET.Element, list[dict[str, Any]]]] = []
        self.units: dict[str, str] = {}

    # -- metadata --------------------------------------------------------------------------
    def metadata_version(self, elem: ET.Element, study: str) -> None:
        md = _Metadata()
        for child in elem.iter():
            ns, tag = _local(child.tag)
            if ns not in ("", ODM_NS):
                continue
            if tag == "ItemDef":
                unit_ref = next(
                    (c for c in child if _local(c.tag)[1] == "MeasurementUnitRef"), None
                )
                cl_ref = next((c for c in child if _local(c.tag)[1] == "CodeListRef"), None)
                md.items[child.get("OID", "")] = _ItemDef(
                    name=child.get("Name", ""),
                    data_type=child.get("DataType", "text"),
                    unit=unit_ref.get("MeasurementUnitOID") if unit_ref is not None else None,
                    codelist=cl_ref.get("CodeListOID") if cl_ref is not None else None,
                )
            elif tag == "CodeList":
                decodes: dict[str, str] = {}
                for item in child:
                    if _local(item.tag)[1] in ("CodeListItem", "EnumeratedItem"):
                        text = " ".join(t.strip() for t in item.itertext() if t.strip())
                        decodes[item.get("CodedValue", "")] = text or item.get("CodedValue", "")
                md.codelists[child.get("OID", "")] = decodes
        self.meta[(study, elem.get("OID", ""))] = md
        self.meta_by_mdv.setdefault(elem.get("OID", ""), md)

    def read_units(self, elem: ET.Element) -> dict[str, str]:
        out = {}
        for mu in elem.iter():
            if _local(mu.tag)[1] == "MeasurementUnit":
                symbol = " ".join(t.strip() for t in mu.itertext() if t.strip())
                out[mu.get("OID", "")] = symbol or mu.get("Name", "")
        return out

    # -- clinical data ---------------------------------------------------------------------
    def context(self, key: str) -> Any:
        for frame_ in reversed(self.stack):
            if key in frame_:
                return frame_[key]
        return None

    def audit_time(self) -> tuple[str, str] | None:
        for frame_ in reversed(self.stack):
            if frame_.get("audit"):
                return frame_["audit"], f"AuditRecord of {frame_['tag']}"
        return None

    def flush(self) -> None:
        """Process the buffered item groups (end of a StudyEventData, or one at a time)."""
        pending, self.pending = self.pending, []
        outer = self.stack
        event_date = None
        for elem, stack in pending:
            self.stack = stack
            if elem.get(_BROKEN_ATTR) is not None:
                continue
            found = self.event_date_candidate(elem)
            if found and (event_date is None or (found[0] and not event_date[0])):
                event_date = found
        for elem, stack in pending:
            self.stack = stack
            self.item_group(elem, self.units, event_date[1:] if event_date else None)
            elem.clear()
        self.stack = outer

    def event_date_candidate(self, elem: ET.Element) -> tuple[bool, str, str] | None:
        """(is a visit date, item OID, value) of the first usable date item of a group."""
        try:
            items = self.items(elem, self.metadata())
        except _Reject:
            return None
        best = None
        for oid, value, is_null, data_type in items:
            name = oid.rsplit(".", 1)[-1]
            if is_null or not value or _NOT_EVENT_DATE.search(name):
                continue
            is_date = data_type in ("date", "datetime", "partialDate", "partialDatetime")
            if not (is_date or _DATE_NAME.search(name)) or data_type in NUMERIC_TYPES:
                continue
            if parse_partial_datetime(value, tz=self.tz)[0] is None:
                continue
            visit = "VISIT" in name.upper()
            if best is None or (visit and not best[0]):
                best = (visit, oid, value)
        return best

    def metadata(self) -> _Metadata:
        study = self.context("StudyOID") or self.study_oid
        mdv = self.context("MetaDataVersionOID") or ""
        return self.meta.get((study, mdv)) or self.meta_by_mdv.get(mdv) or _Metadata()

    def item_group(
        self, elem: ET.Element, units: dict[str, str], event_date: tuple[str, str] | None = None
    ) -> None:
        self.records += 1
        if elem.get(_BROKEN_ATTR) is not None:
            return  # a malformed group cut out of the file: counted here, quarantined by read_odm
        n = self.records
        study = self.context("StudyOID") or self.study_oid
        mdv = self.context("MetaDataVersionOID") or ""
        md = self.metadata()
        igoid = elem.get("ItemGroupOID", "")
        pointer = self.pointer(elem, n)
        try:
            items = self.items(elem, md)
            subject = self.context("SubjectKey") or next(
                (v for oid, v, _, _ in items if oid.upper().rsplit(".", 1)[-1] == "USUBJID"), None
            )
            if not subject:
                raise _Reject("odm.subject", "no SubjectKey and no USUBJID item")
            own_audit = _own_audit(elem)
            # an exact copy: the same place (pointer without its ordinal), items and audit time
            signature = (study, mdv, pointer.rsplit("@", 1)[0], tuple(items), own_audit)
            if signature in self.seen:
                self.duplicates += 1
                return
            self.person(subject, items, md)
            ts, q = self.date(items, md, own_audit, event_date)
        except _Reject as rej:
            self.quarantine.append(
                quarantine_row(pointer, rej.check, rej.reason, self.raw(elem, study, mdv))
            )
            return
        self.seen.add(signature)
        domain = _infer_domain(igoid, self.context("FormOID"), *(i[0] for i in items))
        for k, (oid, value, is_null, data_type) in enumerate(items, start=1):
            idef = md.items.get(oid)
            quals = dict(q)
            quals.update(
                item_group=igoid,
                form=self.context("FormOID"),
                study_event=self.context("StudyEventOID"),
                repeat_key=elem.get("ItemGroupRepeatKey"),
            )
            value_num, value_text, unit = math.nan, None, None
            if idef is None:
                quals["itemdef_missing"] = True
            if is_null:
                quals["is_null"] = True
            elif data_type in NUMERIC_TYPES:
                value_num = float(value)
                if idef is not None and idef.unit:
                    unit = units.get(idef.unit, idef.unit)
            else:
                value_text = value
            if idef is not None and idef.codelist and value:
                decode = md.codelists.get(idef.codelist, {}).get(value)
                if decode is not None:
                    quals["decode"] = decode
            self.events.append(
                {
                    "source_patient": subject,
                    "time": ts,
                    "end_time": None,
                    "domain": domain,
                    "code_system": f"ODM:{study}",
                    "code": oid,
                    "display": idef.name if idef is not None else None,
                    "value_num": value_num,
                    "value_text": value_text,
                    "unit": unit,
                    "qualifiers": {k_: v for k_, v in quals.items() if v is not None},
                    "status": "final",
                    "source_record": f"{pointer}/item[{k}]={oid}",
                    "orig_value": value,
                    "orig_unit": unit,
                }
            )

    def items(self, elem: ET.Element, md: _Metadata) -> list[tuple[str, str, bool, str]]:
        """(ItemOID, value, is_null, data type) per item; rejects the group on a bad value."""
        out = []
        problems = []
        given: dict[str, tuple[str, bool]] = {}
        for child in elem:
            ns, tag = _local(child.tag)
            if ns not in ("", ODM_NS):
                continue
            if tag == "ItemData":
                value = child.get("Value")
                declared = None
                misplaced = _misplaced_value(child)
                if misplaced:  # ODM 1.3 holds the value only in Value=: which one is meant?
                    oid = child.get("ItemOID", "").strip() or "without an ItemOID"
                    raise _Reject("odm.item", f"ItemData {oid} {misplaced}")
            else:
                m = _TYPED_ITEM.match(tag)
                if m is None:
                    continue  # AuditRecord, Signature, Annotation...
                value = child.text or ""
                declared = m.group("type")
                declared = declared[0].lower() + declared[1:]
            oid = child.get("ItemOID", "").strip()
            if not oid:  # the item's event would have no code
                raise _Reject("odm.item", f"{tag} without an ItemOID: the item has no name")
            is_null = child.get("IsNull") == "Yes" or value is None
            value = (value or "").strip()
            if given.setdefault(oid, (value, is_null)) != (value, is_null):  # which is true?
                raise _Reject("odm.item", f"ItemData {oid} is given twice in the item group, "
                                          "with different values")  # fmt: skip
            idef = md.items.get(oid)
            if not is_null:
                for t in filter(None, {declared, idef.data_type if idef else None}):
                    why = _check_type(value, t)
                    if why:
                        source = "element" if t == declared else f"ItemDef {oid}"
                        problems.append(f"ItemData {oid}: {why} (DataType from {source})")
            out.append((oid, value, is_null, idef.data_type if idef else declared or "text"))
        if problems:
            raise _Reject("odm.datatype", "; ".join(problems))
        return out

    def date(
        self,
        items: list[tuple[str, str, bool, str]],
        md: _Metadata,
        own_audit: str | None,
        event_date: tuple[str, str] | None,
    ) -> tuple[pd.Timestamp | None, dict[str, Any]]:
        candidates = []
        for oid, value, is_null, data_type in items:
            if is_null or not value:
                continue
            name = oid.rsplit(".", 1)[-1]
            is_date = data_type in ("date", "datetime", "partialDate", "partialDatetime")
            if not (is_date or _DATE_NAME.search(name)) or _NOT_EVENT_DATE.search(name):
                continue
            if data_type in NUMERIC_TYPES:
                continue
            rank = 0 if name.upper().endswith("STDTC") else 1
            candidates.append((rank, oid, value))
        for _, oid, value in sorted(candidates, key=lambda c: c[0]):
            ts, info = parse_partial_datetime(value, tz=self.tz)
            if ts is None:
                raise _Reject("odm.date", f"date item {oid}: not an ISO 8601 date/datetime")
            return ts, self.date_quals(value, info, f"item:{oid}")
        if event_date is not None:
            ts, info = parse_partial_datetime(event_date[1], tz=self.tz)
            if ts is not None:
                return ts, self.date_quals(event_date[1], info, f"study_event:{event_date[0]}")
        audit = (own_audit, "AuditRecord of ItemGroupData") if own_audit else self.audit_time()
        if audit is not None:
            ts, info = parse_partial_datetime(audit[0], tz=self.tz)
            if ts is not None:
                return ts, self.date_quals(audit[0], info, audit[1])
        if self.undated == "keep":
            return None, {"date_precision": "none"}
        raise _Reject(
            "odm.date",
            "no date: no date item in the item group or its study event, and no AuditRecord "
            "DateTimeStamp on it or on its form, study event or subject",
        )

    def date_quals(self, text: str, precision: str, source: str) -> dict[str, Any]:
        q: dict[str, Any] = {"date_precision": precision, "date_source": source}
        if not re.search(r"T.*(Z|[+-]\d{2}:?\d{2})$", text):
            q["tz_assumed"] = self.tz
        return q

    def person(self, subject: str, items: list, md: _Metadata) -> None:
        p = self.persons.setdefault(
            subject,
            {
                "source_patient": subject,
                "identifiers": [("subject_key", subject)],
                "sex": "U",
                "birth_date": None,
                "deceased": None,
                "site": self.context("SiteOID"),
                "phi": {},
            },
        )
        for oid, value, is_null, _ in items:
            if is_null or not value:
                continue
            name = (md.items[oid].name if oid in md.items else "").upper()
            short = oid.upper().rsplit(".", 1)[-1]
            if short == "SEX" or name == "SEX":
                idef = md.items.get(oid)
                decoded = md.codelists.get(idef.codelist or "", {}) if idef else {}
                sex = decoded.get(value, value).strip().upper()[:1]
                p["sex"] = sex if sex in ("F", "M") else p["sex"]
            elif short in ("BRTHDTC", "BRTHDAT") or "BIRTH" in name:
                p["birth_date"] = value
            elif short in ("AGE",):
                p["phi"]["age"] = value
            elif short in ("USUBJID", "SUBJID") and (short.lower(), value) not in p["identifiers"]:
                p["identifiers"].append((short.lower(), value))

    def pointer(self, elem: ET.Element, n: int) -> str:
        parts = [
            f"{f['tag']}[{f['key']}]" for f in self.stack if f["tag"] != "ODM" and f.get("key")
        ]
        rk = elem.get("ItemGroupRepeatKey") or elem.get(
            "{http://www.cdisc.org/ns/Dataset-XML/v1.0}ItemGroupDataSeq"
        )
        own = f"ItemGroupData[{elem.get('ItemGroupOID', '')}" + (f"#{rk}" if rk else "") + "]"
        return "/".join([*parts, own]) + f"@{n}"

    def raw(self, elem: ET.Element, study: str, mdv: str) -> str:
        ctx = {
            k: self.context(k)
            for k in ("StudyOID", "MetaDataVersionOID", "SubjectKey", "StudyEventOID", "FormOID")
        }
        try:
            xml = ET.tostring(elem, encoding="unicode")
        except RecursionError:  # nested deeper than the serializer goes: the group's top only
            xml = _shallow_xml(elem)
        return json.dumps({"context": ctx, "xml": xml}, ensure_ascii=False)

    # -- driver ----------------------------------------------------------------------------
    _KEYS: ClassVar[dict[str, str]] = {
        "ClinicalData": "StudyOID",
        "SubjectData": "SubjectKey",
        "StudyEventData": "StudyEventOID",
        "FormData": "FormOID",
    }
    _REPEAT: ClassVar[dict[str, str]] = {
        "StudyEventData": "StudyEventRepeatKey",
        "FormData": "FormRepeatKey",
    }

    def run(self) -> None:
        units = self.units
        study = ""
        in_item_group = 0
        in_audit_records = 0  # ClinicalData/AuditRecords: referenced by ID, not positional
        # defusedxml: entity declarations (billion laughs, quadratic blow-up) and external
        # entities / DTDs are refused whatever the system's expat version.
        source = io.BytesIO(self.data) if self.data is not None else str(self.path)
        events = _safe_iterparse(
            source, events=("start", "end"), forbid_dtd=False, forbid_entities=True,
            forbid_external=True,
        )  # fmt: skip
        for event, elem in events:
            ns, tag = _local(elem.tag)
            if tag == "ODM" and event == "start":
                _check_version(ns, elem.get("ODMVersion") or "")
            if ns not in ("", ODM_NS):
                _check_foreign(ns, tag)
                continue
            if event == "start":
                if tag == "ItemGroupData":
                    in_item_group += 1
                elif tag in ("AuditRecords", "Signatures", "Annotations"):
                    in_audit_records += 1
                elif tag == "Study":
                    study = elem.get("OID", "")
                    self.study_oid = self.study_oid or study
                elif tag in self._KEYS and not in_item_group:
                    f = {"tag": tag, self._KEYS[tag]: elem.get(self._KEYS[tag])}
                    key = elem.get(self._KEYS[tag], "")
                    rk = elem.get(self._REPEAT.get(tag, ""), None)
                    f["key"] = key + (f"#{rk}" if rk else "")
                    if tag == "ClinicalData":
                        f["MetaDataVersionOID"] = elem.get("MetaDataVersionOID")
                    self.stack.append(f)
                continue
            # end events
            if tag == "ItemGroupData":
                in_item_group -= 1
                if not in_item_group:
                    self.pending.append((elem, list(self.stack)))
                    if not any(f["tag"] == "StudyEventData" for f in self.stack):
                        self.flush()
            elif in_item_group:
                continue
            elif tag in ("AuditRecords", "Signatures", "Annotations"):
                in_audit_records -= 1
            elif in_audit_records:
                continue
            elif tag == "DateTimeStamp" and self.stack:
                self.stack[-1].setdefault("audit", (elem.text or "").strip() or None)
            elif tag == "SiteRef" and self.stack:
                self.stack[-1].setdefault("SiteOID", elem.get("LocationOID"))
            elif tag in self._KEYS:
                if tag == "StudyEventData":
                    self.flush()
                if self.stack and self.stack[-1]["tag"] == tag:
                    self.stack.pop()
                if tag != "FormData":  # its item groups may still wait in self.pending
                    elem.clear()
            elif tag == "GlobalVariables":
                self.check_global_variables(elem, study)
            elif tag == "BasicDefinitions":
                units.update(self.read_units(elem))
            elif tag == "MetaDataVersion":
                self.metadata_version(elem, study)
                elem.clear()

    def check_global_variables(self, elem: ET.Element, study: str) -> None:
        names = [_local(c.tag)[1] for c in elem if _is_odm(c.tag)]
        if tuple(names) != _GLOBAL_VARIABLES:
            unexpected = [n for n in names if n not in _GLOBAL_VARIABLES]
            missing = [n for n in _GLOBAL_VARIABLES if n not in names]
            bits = []
            if unexpected:
                bits.append("unexpected element(s) " + ", ".join(f"<{n}>" for n in unexpected))
            if missing:
                bits.append("missing " + ", ".join(f"<{n}>" for n in missing))
            if not bits:
                bits.append(f"children out of order: {names}")
            raise _FileReject(
                "odm.structure",
                f"Study {study!r} GlobalVariables: {'; '.join(bits)} (ODM 1.3 requires "
                f"{', '.join(_GLOBAL_VARIABLES)}, in this order)",
                ET.tostring(elem, encoding="unicode"),
            )


#: Reasons for XML the safe parser refuses, by defusedxml exception name (never the content).
_UNSAFE_REASONS = {
    "EntitiesForbidden": "the file declares XML entities (refused: entity expansion such as a "
    "'billion laughs' bomb, or external entities that could read local files)",
    "ExternalReferenceForbidden": "the file refers to an external entity or DTD (refused: it "
    "could read local files or the network)",
    "DTDForbidden": "the file has a DTD (refused)",
    "NotSupportedError": "the file uses an XML feature the safe parser does not support",
}


class _FileReject(Exception):
    def __init__(self, check: str, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.check, self.reason, self.raw = check, reason, raw


#: Namespaces of ODM 2.x (``http://www.cdisc.org/ns/odm/v2.0``, ...).
_ODM2_NS = re.compile(r"^https?://www\.cdisc\.org/ns/odm/v2(\.\d+)*/?$")


def _check_version(ns: str, version: str) -> None:
    """Refuse an ODM 2.x file, by the namespace or the ``ODMVersion`` of its root element.

    ODM 2.0 renames and restructures what this reader relies on (item values are ``Value``
    elements, ``ItemGroupData`` nests, metadata moved), so its clinical data cannot be read as
    ODM 1.3; skipped element by element, a metadata-only 2.0 file gave zero records and one
    with data a reason about namespaces.

    Parameters
    ----------
    ns : str
        Namespace of the root ``ODM`` element.
    version : str
        Its ``ODMVersion`` attribute, or ``""``.

    Raises
    ------
    _FileReject
        ``odm.version`` for an ODM 2.x file.
    """
    if _ODM2_NS.match(ns) or re.match(r"^\s*2(\.|$)", version):
        raise _FileReject(
            "odm.version",
            "ODM 2.0 is not supported: export the data as ODM 1.3.x (the file's root element "
            + (f"is in the ODM 2 namespace {ns}" if _ODM2_NS.match(ns) else
               f"declares ODMVersion {version.strip()[:10]}")
            + ")",
        )  # fmt: skip


def _check_foreign(ns: str, tag: str) -> None:
    """Refuse item groups outside the ODM 1.3 namespace, which the reader skips.

    Skipped, they would be lost without a word: the clinical data of an ODM 1.2 or 2.0 file,
    or of one whose ``xmlns`` is mangled, would give zero records. (Metadata in another
    namespace, such as a define.xml on ODM 1.2, holds no records and is skipped.)

    Parameters
    ----------
    ns, tag : str
        Namespace and local name of an element outside the ODM 1.3 namespace.

    Raises
    ------
    _FileReject
        ``odm.structure`` for an ``ItemGroupData``, naming the namespace found.
    """
    if tag == "ItemGroupData":
        raise _FileReject(
            "odm.structure",
            f"item groups in the namespace {ns!r}, not ODM 1.3's ({ODM_NS}): they cannot be read",
        )


#: Most item groups that are not well-formed XML quarantined one by one before the file is.
MAX_BROKEN_GROUPS = 100
_GROUP_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?ItemGroupData[\s>/]")
_GROUP_CLOSE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?ItemGroupData\s*>")


def _byte_offset(data: bytes, position: tuple[int, int]) -> int:
    """Offset in ``data`` of expat's (line, column) error position."""
    line, column = position
    offset = 0
    for _ in range(line - 1):
        nl = data.find(b"\n", offset)
        if nl < 0:
            break
        offset = nl + 1
    return min(len(data), offset + column)


def _broken_group(data: bytes, at: int) -> tuple[int, int, bool] | None:
    """Byte span of the ItemGroupData that holds a parse error, and whether the file ends in it.

    ``at`` is the error's byte offset. The group is the last ``<ItemGroupData`` opened at or
    before the error, up to the first ``</ItemGroupData>`` after it (or the next group's
    opening, when that comes first); ``None`` when the error lies outside any item group
    (metadata, the ODM root, a cut between groups).
    """
    opens = [m.start() for m in _GROUP_OPEN.finditer(data, 0, at + 32) if m.start() <= at]
    if not opens:
        return _unnamed_group(data, at, 0)
    if data.startswith(_PLACEHOLDER, opens[-1]):  # a group already cut out: closed there
        return _unnamed_group(data, at, opens[-1] + len(_PLACEHOLDER))
    start = opens[-1]
    closed = _GROUP_CLOSE.search(data, start, at)
    if closed is not None and closed.end() <= at:
        # the group closed before the error: a group whose own opening tag is broken?
        return _unnamed_group(data, at, closed.end())
    end = _GROUP_CLOSE.search(data, at)
    if end is None:
        return start, len(data), True
    nxt = _GROUP_OPEN.search(data, start + 1, end.start())
    if nxt is not None:  # the next group opens before a close: the broken group ends there
        return start, nxt.start(), False
    return start, end.end(), False


_TAG = re.compile(rb"<(/?)([^\s/>!?]*)[^>]*?(/?)>|<!--.*?-->|<\?.*?\?>", re.S)
#: Elements whose children are item groups: a form, or the data of a Dataset-XML file.
_GROUP_PARENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:FormData|ClinicalData|ReferenceData)[\s>]")


def _unnamed_group(data: bytes, at: int, after: int) -> tuple[int, int, bool] | None:
    """The span of an ItemGroupData whose opening tag is broken (a bad byte in its name:
    ``<ItemGroup\\x9aata``), holding the error at ``at``; ``None`` when there is none.

    ``after`` is where the previous item group closed (0: none). The broken element is the
    one open at ``at`` among the elements that begin after that close (or after the opening
    tag of the form, or of a Dataset-XML file's ClinicalData, for its first group); it is
    taken for an item group only when an ``</ItemGroupData>`` follows with no other group
    opening before it, so the span holds nothing but that group. A broken form, study event
    or subject is no item group: ``None``.
    """
    forms = [m for m in _GROUP_PARENT.finditer(data, after, at) if m.start() < at]
    if forms:
        after = max(after, data.find(b">", forms[-1].start()) + 1)
    if after <= 0:
        return None
    tag = data.rfind(b"<", after, at + 1)  # expat places a mismatched tag after its "</"
    end = _GROUP_CLOSE.search(data, tag if tag >= 0 else at)
    if end is None or _GROUP_OPEN.search(data, after, end.start()) is not None:
        return None
    stack: list[int] = []
    for m in _TAG.finditer(data, after, at):
        if m.group(1) is None or m.group(3):  # a comment, a processing instruction, <x/>
            continue
        if m.group(1):
            if not stack:
                return None  # an element closes that opened before the span: not a group
            stack.pop()
        else:
            stack.append(m.start())
    start = stack[0] if stack else data.rfind(b"<", after, at + 1)
    if start < 0 or data.startswith(b"</", start):
        return None
    return start, end.end(), False


def _sniff(path: Path) -> bool:
    if path.suffix.lower() != ".xml":
        return False
    with path.open("rb") as fh:
        head = fh.read(8192)
    return b"<ODM" in head or b":ODM" in head


def _file_failure(path: Path, check: str, reason: str, raw: str | None = None) -> ReadResult:
    if raw is None:
        try:
            raw = path.read_bytes()[:4096].decode("utf-8", "replace")
        except OSError as exc:
            raw = f"<unreadable: {exc}>"
    # "file", not the file name: names of source files can be made of patient names
    q = frame(QUARANTINE_COLUMNS, [quarantine_row("file", check, reason, raw)])
    return ReadResult(str(path), FORMAT, records_in=1, records_accepted=0, quarantine=q)


@register(FORMAT, sniff=_sniff, description="CDISC ODM 1.3 XML clinical data (EDC export)")
def read_odm(path: str | Path, *, tz: str = "UTC", undated: str = "quarantine") -> ReadResult:
    """Read the clinical data of one CDISC ODM 1.3.x XML file.

    Parameters
    ----------
    path : str or pathlib.Path
        The ODM file (EDC snapshot or transactional export, Dataset-XML, ...).
    tz : str
        IANA time zone for datetimes without an offset (qualifier ``tz_assumed``).
    undated : {"quarantine", "keep"}
        What to do with an item group that has no date item and no audit timestamp:
        quarantine it (``odm.date``, default) or keep its events with ``time`` NaT and
        ``date_precision = "none"``.

    Returns
    -------
    ReadResult
        One record per ItemGroupData; ``events`` carries the extra columns ``orig_value`` and
        ``orig_unit``. A metadata-only file (define.xml, CRF metadata) has zero records.

    Raises
    ------
    ValueError
        Only for a bad ``tz`` or ``undated`` option (usage errors, not content).
    """
    p = Path(path)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    if undated not in ("quarantine", "keep"):
        raise ValueError(f"undated must be 'quarantine' or 'keep', not {undated!r}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        return _file_failure(p, "odm.io", f"cannot read file: {exc.strerror or type(exc).__name__}")
    broken: list[dict[str, str]] = []
    shift = 0  # bytes of broken item groups already cut out before the current text
    placeholders = 0  # broken groups replaced by _PLACEHOLDER (the parser counts those)
    while True:
        parser = _Parser(p, tz, undated, data)
        try:
            parser.run()
            break
        except DefusedXmlException as exc:
            return _file_failure(p, "odm.unsafe_xml", _UNSAFE_REASONS.get(
                type(exc).__name__, "XML construct refused by the safe parser"))  # fmt: skip
        except ET.ParseError as exc:
            at = _byte_offset(data, exc.position)
            cut = _broken_group(data, at) if len(broken) < MAX_BROKEN_GROUPS else None
            if cut is None:
                if not data[at:].strip() and (parser.records or broken):
                    # cut between item groups: what came before was read, the rest is lost
                    why = "the file ends inside an open element (truncated?)"
                    broken.append(quarantine_row("end of file", "odm.truncated", why, ""))
                    break
                return _file_failure(p, "odm.parse", f"not well-formed XML: {exc}")
            start, end, truncated = cut
            why = "ItemGroupData is not well-formed XML" + (
                " (the file ends inside it: truncated?)" if truncated else ""
            )
            raw = data[start:end].decode("utf-8", "replace")
            broken.append(quarantine_row(f"ItemGroupData@byte={start + shift}", "odm.parse",
                                         why, raw))  # fmt: skip
            if truncated:  # the groups before the cut were read by this parser; stop here
                break
            # the group becomes an empty stand-in: later groups keep their ordinals
            data = data[:start] + _PLACEHOLDER + data[end:]
            shift += end - start - len(_PLACEHOLDER)
            placeholders += 1
        except _FileReject as rej:
            return _file_failure(p, rej.check, rej.reason, rej.raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # never raise on content
            return _file_failure(p, "odm.content", f"unexpected content ({type(exc).__name__})")
        except LookupError:  # expat: the XML declaration names an encoding Python lacks
            why = "the XML declaration names an unknown character encoding"
            return _file_failure(p, "odm.encoding", why)
    if broken:
        parser.flush()
        parser.records += len(broken) - placeholders
        parser.quarantine.extend(broken)
    return ReadResult(
        source_file=str(p),
        format=FORMAT,
        records_in=parser.records,
        records_accepted=parser.records - len(parser.quarantine) - parser.duplicates,
        duplicates=parser.duplicates,
        events=events_frame(parser.events),
        persons=frame(PERSON_COLUMNS, list(parser.persons.values())),
        quarantine=frame(QUARANTINE_COLUMNS, parser.quarantine),
    )
