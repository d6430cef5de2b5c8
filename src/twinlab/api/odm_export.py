"""Per-subject results for an EDC: a CDISC ODM 1.3.2 ``ClinicalData`` transaction file.

The file (``FileType="Transactional"``, ``TransactionType="Upsert"`` per subject and item
group) carries one item group per subject in one unscheduled study event and form, keyed by
the EDC's subject keys; values are written in plain decimal notation that reads back to the
same float (:func:`numpy.format_float_positional`, never an exponent). With
``include_metadata`` the file also declares its items (``Study/MetaDataVersion``: data
types, units), for an EDC that imports the form definition as well, and for readers that type
values by their ``ItemDef``. Every file is validated against the ODM 1.3.2 XML schema (the
CDISC XSD shipped with ``odmlib``, checked with ``lxml``) before it is written: an invalid
one is never written.

Subject keys: results carry pseudonyms; the EDC knows its own subject keys. The mapping
uses the raw zone's crosswalk (:func:`twinlab.harmonize.lineage.crosswalk`: the master key,
and a role allowed to export data), happens in this process only, and is audited; only the
file, whose recipient is the EDC, holds the identified keys.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

__all__ = [
    "ODM_NS",
    "ExportItem",
    "OdmSchemaError",
    "build_odm",
    "edc_subject_keys",
    "export_odm",
    "validate_odm",
]

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
_TYPES = ("float", "integer", "text", "datetime")


class OdmSchemaError(ValueError):
    """A document the ODM 1.3.2 schema refuses (the first error, with its line)."""


@dataclass(frozen=True)
class ExportItem:
    """One item of the export: its OID, name, ODM data type and unit."""

    oid: str
    name: str
    data_type: str = "float"
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.data_type not in _TYPES:
            raise ValueError(f"item {self.oid}: data type must be one of {_TYPES}")


@functools.lru_cache(maxsize=1)
def _schema() -> Any:
    from lxml import etree

    xsd = files("odmlib") / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    with open(str(xsd), "rb") as fh:
        doc = etree.parse(fh, base_url=str(xsd))
    return etree.XMLSchema(doc)


def validate_odm(data: bytes) -> None:
    """Validate an ODM document against the ODM 1.3.2 XML schema.

    Raises
    ------
    OdmSchemaError
        With the first error and its line.
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        doc = etree.parse(io.BytesIO(data), parser)
    except etree.XMLSyntaxError as exc:
        raise OdmSchemaError(f"not well-formed XML: {exc}") from None
    schema = _schema()
    if not schema.validate(doc):
        err = schema.error_log[0]
        raise OdmSchemaError(f"ODM 1.3.2 schema: line {err.line}: {err.message}")


def _value(v: Any, data_type: str) -> str | None:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if data_type == "float":
        return np.format_float_positional(float(v), unique=True, trim="-")
    if data_type == "integer":
        return str(int(v))
    return str(v)


def _oid(text: str, what: str) -> str:
    if not text or any(c.isspace() for c in text) or len(text) > 100:
        raise ValueError(f"invalid {what} OID {text!r}")
    return text


def build_odm(
    rows: Sequence[Mapping[str, Any]],
    items: Sequence[ExportItem],
    *,
    study_oid: str,
    metadata_version_oid: str = "MDV.TWINLAB",
    event_oid: str = "SE.TWINLAB",
    form_oid: str = "F.TWINLAB",
    item_group_oid: str = "IG.TWINLAB",
    file_oid: str | None = None,
    created: dt.datetime | None = None,
    include_metadata: bool = False,
    source_version: str = "",
) -> bytes:
    """An ODM 1.3.2 transaction file of ``rows`` (each a ``subject_key`` and item values
    by item OID; ``None``/NaN values are left out).

    Returns
    -------
    bytes
        UTF-8 XML (not yet validated: see :func:`export_odm`).
    """
    created = created or dt.datetime.now(dt.UTC)
    stamp = created.isoformat(timespec="seconds")
    file_oid = file_oid or f"TWINLAB.{created.strftime('%Y%m%dT%H%M%S')}"
    for oid, what in ((study_oid, "study"), (metadata_version_oid, "metadata version"),
                      (event_oid, "study event"), (form_oid, "form"),
                      (item_group_oid, "item group"), (file_oid, "file")):  # fmt: skip
        _oid(oid, what)
    for item in items:
        _oid(item.oid, "item")
    q = quoteattr
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Transactional" '
        f'FileOID={q(file_oid)} CreationDateTime={q(stamp)} Originator="twinlab" '
        f'SourceSystem="twinlab" SourceSystemVersion={q(source_version or "unknown")}>',
    ]
    if include_metadata:
        units = sorted({i.unit for i in items if i.unit})
        unit_oid = {u: f"MU.{n + 1}" for n, u in enumerate(units)}
        out += [
            f"<Study OID={q(study_oid)}>",
            "<GlobalVariables><StudyName>twinlab predictions</StudyName>"
            "<StudyDescription>Per-subject predictions of a digital twin</StudyDescription>"
            f"<ProtocolName>{study_oid}</ProtocolName></GlobalVariables>",
        ]
        if units:
            out.append("<BasicDefinitions>")
            for u in units:
                out.append(
                    f"<MeasurementUnit OID={q(unit_oid[u])} Name={q(u)}><Symbol>"
                    f"<TranslatedText>{_text(u)}</TranslatedText></Symbol></MeasurementUnit>"
                )
            out.append("</BasicDefinitions>")
        out += [
            f'<MetaDataVersion OID={q(metadata_version_oid)} Name="twinlab predictions">',
            f'<Protocol><StudyEventRef StudyEventOID={q(event_oid)} Mandatory="No"/></Protocol>',
            f'<StudyEventDef OID={q(event_oid)} Name="Twin predictions" Repeating="No" '
            f'Type="Unscheduled"><FormRef FormOID={q(form_oid)} Mandatory="No"/></StudyEventDef>',
            f'<FormDef OID={q(form_oid)} Name="Twin predictions" Repeating="No">'
            f'<ItemGroupRef ItemGroupOID={q(item_group_oid)} Mandatory="No"/></FormDef>',
            f'<ItemGroupDef OID={q(item_group_oid)} Name="Twin predictions" Repeating="No">',
            *(f'<ItemRef ItemOID={q(i.oid)} Mandatory="No"/>' for i in items),
            "</ItemGroupDef>",
        ]
        for i in items:
            unit = (
                f"<MeasurementUnitRef MeasurementUnitOID={q(unit_oid[i.unit])}/>" if i.unit else ""
            )
            out.append(
                f"<ItemDef OID={q(i.oid)} Name={q(i.name)} DataType={q(i.data_type)}>"
                f"{unit}</ItemDef>"
            )
        out += ["</MetaDataVersion>", "</Study>"]
    out.append(
        f"<ClinicalData StudyOID={q(study_oid)} MetaDataVersionOID={q(metadata_version_oid)}>"
    )
    for row in rows:
        key = str(row["subject_key"])
        if not key or len(key) > 100:
            raise ValueError("every row needs a subject_key (at most 100 characters)")
        values = [(i, _value(row.get(i.oid), i.data_type)) for i in items]
        out += [
            f'<SubjectData SubjectKey={q(key)} TransactionType="Upsert">',
            f"<StudyEventData StudyEventOID={q(event_oid)}>",
            f"<FormData FormOID={q(form_oid)}>",
            f'<ItemGroupData ItemGroupOID={q(item_group_oid)} TransactionType="Upsert">',
            *(f"<ItemData ItemOID={q(i.oid)} Value={q(v)}/>" for i, v in values if v is not None),
            "</ItemGroupData></FormData></StudyEventData></SubjectData>",
        ]
    out += ["</ClinicalData>", "</ODM>"]
    return ("\n".join(out) + "\n").encode("utf-8")


def _text(s: str) -> str:
    from xml.sax.saxutils import escape

    return escape(s)


def edc_subject_keys(
    pseudonyms: Sequence[str],
    *,
    raw_zone: str | os.PathLike[str],
    keyring: Any = None,
    role: str,
) -> dict[str, str]:
    """Each pseudonym's EDC subject key, from the raw zone's crosswalk.

    The crosswalk's ``source_patient`` is ``"<identifier kind>:<key>"`` (``usubjid:...``,
    ``subject_key:...``); the key is what the EDC knows the subject by.

    Raises
    ------
    PermissionDenied
        Unless ``role`` may export data (and read patient-level data).
    KeyError
        If a pseudonym is not in the crosswalk (how many, not which).
    """
    from twinlab.harmonize.lineage import crosswalk
    from twinlab.security.access import require

    require(role, "export_data")
    table = crosswalk(raw_zone, keyring=keyring, role=role, purpose="EDC export")
    mapping = dict(zip(table["patient_id"], table["source_patient"], strict=True))
    missing = [p for p in pseudonyms if p not in mapping]
    if missing:
        raise KeyError(f"{len(missing)} subjects are not in the raw zone's crosswalk")
    return {p: mapping[p].split(":", 1)[-1] for p in pseudonyms}


def export_odm(
    rows: Sequence[Mapping[str, Any]],
    items: Sequence[ExportItem],
    *,
    out: str | os.PathLike[str],
    raw_zone: str | os.PathLike[str],
    study_oid: str,
    role: str,
    keyring: Any = None,
    include_metadata: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """Map pseudonyms (each row's ``subject``) to EDC keys, build, validate, write, audit.

    Returns
    -------
    dict
        ``path``, ``subjects``, ``sha256`` of the file written.

    Raises
    ------
    OdmSchemaError
        If the document does not validate (nothing is written).
    """
    import hashlib

    from twinlab.audit import audit_event
    from twinlab.security.filemodes import make_dirs
    from twinlab.security.keyfiles import write_private_file

    keys = edc_subject_keys(
        [str(r["subject"]) for r in rows], raw_zone=raw_zone, keyring=keyring, role=role
    )
    mapped = [
        {**{k: v for k, v in r.items() if k != "subject"}, "subject_key": keys[str(r["subject"])]}
        for r in rows
    ]
    data = build_odm(mapped, items, study_oid=study_oid, include_metadata=include_metadata)
    validate_odm(data)
    path = Path(out)
    make_dirs(path.parent, 0o700)
    write_private_file(path, data, overwrite=True)
    digest = hashlib.sha256(data).hexdigest()
    audit_event(
        "api.edc_export",
        path.name,
        params={"role": role, "study": study_oid, "items": [i.oid for i in items]},
        new={"subjects": len(rows), "sha256": digest},
        actor=actor,
    )
    return {"path": str(path), "subjects": len(rows), "sha256": digest}
