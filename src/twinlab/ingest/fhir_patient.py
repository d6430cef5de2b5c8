"""The Patient resource of the FHIR R4 reader: one ``persons`` row with identifiers and PHI."""

from __future__ import annotations

from typing import Any

from twinlab.ingest.fhir_resources import Context, put
from twinlab.ingest.fhir_values import Reject, as_list, concept_text, first, text

__all__ = ["patient_person"]

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
#: identifier type (v2-0203) -> phi key
_ID_TYPES = {"MR": "mrn", "SS": "ssn", "DL": "drivers_license", "PPN": "passport"}
#: FHIR R4 AdministrativeGender (a required binding) -> sex; other / unknown are "U".
_SEX = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
_JSON = {list: "array", dict: "object", bool: "boolean", int: "number", float: "number"}


def _name(name: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("use", "text", "family"):
        put(out, key, text(name.get(key)))
    for key in ("given", "prefix", "suffix"):
        parts = name.get(key)
        if isinstance(parts, list):
            parts = [p for p in parts if isinstance(p, str)]
            if parts:
                out[key] = parts
    if "text" not in out:
        words = [*out.get("prefix", ()), *out.get("given", ()), out.get("family", ""),
                 *out.get("suffix", ())]  # fmt: skip
        full = " ".join(w for w in words if w)
        if full:
            out["text"] = full
    return out


def _address(addr: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    line = addr.get("line")
    if isinstance(line, list) and any(isinstance(x, str) for x in line):
        out["line"] = [x for x in line if isinstance(x, str)]
    for key, target in (("use", "use"), ("text", "text"), ("city", "city"), ("district",
                        "district"), ("state", "state"), ("postalCode", "zip"),
                        ("country", "country")):  # fmt: skip
        put(out, target, text(addr.get(key)))
    return out


#: Extension value types that describe a patient and name no one: codes, flags, numbers and
#: concepts (us-core-sex "female", genderIdentity, religion, Synthea's quality-adjusted life
#: years). As known identifier values they removed the words "male" or "Catholic" from every
#: text and code display of the run, and a number such as 45.87654 from its lab values. Free
#: text, names, addresses, contact points, identifiers and dates stay PHI.
_DESCRIPTIVE_VALUES = frozenset(
    {"valueCode", "valueCoding", "valueCodeableConcept", "valueBoolean", "valueDecimal",
     "valueInteger", "valueUnsignedInt", "valuePositiveInt", "valueQuantity"}
)  # fmt: skip


#: Nesting depth of complex extensions read (an extension's own extensions, and theirs).
_EXTENSION_DEPTH = 8


def _extensions(res: dict, phi: dict[str, Any], parent: str = "", depth: int = 0) -> None:
    """The PHI of ``res``'s extensions into ``phi``, nested (complex) extensions included: an
    emergency contact, an employer or a caregiver is often a complex extension whose parts
    (``name``, ``telecom``, ``address``) are extensions of their own, with no value of its
    own; each part's value is PHI under ``extensions`` (``<url>/<part url>``)."""
    for ext in as_list(res.get("extension")):
        if not isinstance(ext, dict) or not isinstance(ext.get("url"), str):
            continue
        url = f"{parent}/{ext['url']}" if parent else ext["url"]
        tail = ext["url"].rsplit("/", 1)[-1]
        if tail in ("us-core-race", "us-core-ethnicity") and not parent:
            label = None
            for sub in as_list(ext.get("extension")):
                if isinstance(sub, dict) and sub.get("url") == "text":
                    label = text(sub.get("valueString"))
            put(phi, tail[8:], label)
            continue
        values = [(k, v) for k, v in ext.items() if k.startswith("value")]
        if not values:
            if depth < _EXTENSION_DEPTH:
                _extensions(ext, phi, url, depth + 1)
            continue
        kind, value = values[0]
        if kind == "valueAddress" and isinstance(value, dict):
            value = _address(value)
        elif kind == "valueHumanName" and isinstance(value, dict):
            value = _name(value)  # family, given and the whole name, as a Patient.name
        key = None if parent else {
            "patient-mothersMaidenName": "mothers_maiden_name",
            "patient-birthPlace": "birth_place",
            "us-core-birthsex": "birth_sex",
        }.get(tail)  # fmt: skip
        if key is not None:
            phi[key] = value
        elif kind not in _DESCRIPTIVE_VALUES:
            phi.setdefault("extensions", {})[url] = value


def patient_person(res: dict, key: str, ctx: Context) -> dict[str, Any]:
    """A ``persons`` row (:data:`~twinlab.ingest.base.PERSON_COLUMNS`) from a Patient.

    Raises
    ------
    Reject
        ``fhir.date`` for an invalid birthDate or deceasedDateTime; ``fhir.value`` for a
        gender that is not one of the codes male, female, other, unknown (a list, a number,
        ``"M"``: read as unknown it would pass for a patient who did not say).
    """
    gender = res.get("gender")
    if gender is not None and (not isinstance(gender, str) or gender not in _SEX):
        json_type = _JSON.get(type(gender), type(gender).__name__)
        kind = "an unknown code" if isinstance(gender, str) else f"a JSON {json_type}, not a code"
        raise Reject("fhir.value", f"Patient.gender is {kind}: FHIR R4 allows male, female, "
                                   "other or unknown")  # fmt: skip
    phi: dict[str, Any] = {}
    identifiers: list[tuple[str | None, str]] = []
    for ident in as_list(res.get("identifier")):
        if not isinstance(ident, dict) or not text(ident.get("value")):
            continue
        system, value = text(ident.get("system")), ident["value"]
        identifiers.append((system, value))
        kind = concept_text(ident.get("type"))
        if system == SSN_SYSTEM:
            kind = "SS"
        if kind in _ID_TYPES:
            phi.setdefault(_ID_TYPES[kind], []).append(value)
    birth = res.get("birthDate")
    if birth is not None:
        ctx.times.parse(birth, "Patient.birthDate")
    deceased = None
    if res.get("deceasedDateTime") is not None:
        ctx.times.parse(res["deceasedDateTime"], "Patient.deceasedDateTime")
        deceased = res["deceasedDateTime"]
    elif res.get("deceasedBoolean") is True:
        deceased = "true"
    names = [_name(n) for n in as_list(res.get("name")) if isinstance(n, dict)]
    names = [n for n in names if n]
    if names:
        main = next((n for n in names if n.get("use") == "official"), names[0])
        phi["name"] = main.get("text")
        for part in ("given", "family", "prefix", "suffix"):
            put(phi, part, main.get(part))
        phi["names"] = names
    for point in as_list(res.get("telecom")):
        if isinstance(point, dict) and text(point.get("value")):
            kind = point.get("system") if point.get("system") in ("phone", "email") else "telecom"
            phi.setdefault(kind, []).append(point["value"])
    addresses = [_address(a) for a in as_list(res.get("address")) if isinstance(a, dict)]
    addresses = [a for a in addresses if a]
    if addresses:
        main_addr = next((a for a in addresses if a.get("use") == "home"), addresses[0])
        phi.update({k: v for k, v in main_addr.items() if k not in ("use", "text")})
        phi["addresses"] = addresses
    _extensions(res, phi)
    put(phi, "marital_status", concept_text(res.get("maritalStatus")))
    comm = first(res.get("communication"))
    if isinstance(comm, dict):
        put(phi, "language", concept_text(comm.get("language")))
    if isinstance(res.get("contact"), list) and res["contact"]:
        phi["contact"] = res["contact"]
    org = res.get("managingOrganization")
    site = None
    if isinstance(org, dict):
        site = text(org.get("display")) or text(org.get("reference"))
    return {
        "source_patient": key,
        "identifiers": identifiers,
        "sex": _SEX.get(gender, "U"),
        "birth_date": birth if isinstance(birth, str) else None,
        "deceased": deceased,
        "site": site,
        "phi": phi,
    }
