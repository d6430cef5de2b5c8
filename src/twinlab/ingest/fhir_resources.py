"""Per-resource extractors of the FHIR R4 reader: one function per clinical resource type.

Each extractor takes the resource JSON (a dict), its pointer in the file and a :class:`Context`,
and returns event rows – tuples in the order of :data:`twinlab.ingest.base.EVENT_COLUMNS` – or
raises :class:`~twinlab.ingest.fhir_values.Reject`. A resource yields all its events or none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twinlab.ingest.fhir_values import (
    NAT,
    Reject,
    TimeParser,
    as_list,
    codeable,
    concept_text,
    dumps,
    first,
    number,
    text,
)

__all__ = ["CLINICAL", "EXTRACTORS", "Context"]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"

#: FHIR ObservationStatus -> twinlab event status.
_OBS_STATUS = {
    "final": "final",
    "amended": "amended",
    "corrected": "corrected",
    "preliminary": "preliminary",
    "registered": "preliminary",
    "entered-in-error": "entered-in-error",
    "cancelled": "unknown",
    "unknown": "unknown",
}
#: Observation.category code -> domain (anything else is 'other', with the category kept).
_OBS_DOMAIN = {"laboratory": "lab", "vital-signs": "vital", "vital-sign": "vital"}

Row = tuple


@dataclass
class Context:
    """What an extractor needs beyond the resource itself.

    Attributes
    ----------
    times
        The file's :class:`TimeParser` (shared cache).
    subject
        ``subject(reference_json, field) -> (patient key, unresolved reference or None)``;
        raises ``Reject('fhir.subject', ...)``.
    resolve
        ``resolve(reference_text) -> resource dict or None`` over the file's resources.
    """

    times: TimeParser
    subject: Callable[[Any, str], tuple[str, str | None]]
    resolve: Callable[[str], dict | None]


def _start(res: dict, ctx: Context, fields: tuple[str, ...], what: str) -> tuple[int, int, dict]:
    timing = ctx.times.first_of(res, fields)
    if timing is None:
        raise Reject("fhir.time", f"{what} has no usable time (none of {', '.join(fields)})")
    return timing


def _common(res: dict, field: str, ctx: Context) -> tuple[str, dict[str, Any]]:
    """Patient key and the qualifiers every event of ``res`` carries."""
    key, unresolved = ctx.subject(res.get(field), field)
    quals: dict[str, Any] = {}
    if unresolved is not None:
        quals["subject_ref"] = unresolved
    enc = res.get("encounter")
    if isinstance(enc, dict) and text(enc.get("reference")):
        quals["encounter"] = enc["reference"]
    return key, quals


def _status(res: dict, quals: dict[str, Any]) -> str:
    status = res.get("status")
    if not isinstance(status, str):
        return "final"
    quals["fhir_status"] = status
    return "entered-in-error" if status == "entered-in-error" else "final"


def _code(cc: Any, prefer: str | None, where: str) -> tuple[str | None, str, str | None]:
    picked = codeable(cc, prefer)
    if picked is None:
        has_text = isinstance(cc, dict) and text(cc.get("text"))
        detail = " (text only)" if has_text else ""
        raise Reject("fhir.code", f"{where} has no coding with a code{detail}")
    return picked


def put(quals: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        quals[key] = value


#: The values of FHIR elements of type code with a required binding that fill a key the field
#: policy scrubs as a coded value (known values and patterns only, no engine) and that other
#: sources fill freely (SDTM's --CAT, --SEV): Quantity.comparator, AllergyIntolerance.category
#: and reaction.severity. The keys only FHIR fills (fhir_status, intent, criticality...) are
#: checked against their value sets by the field policy (vocabulary_qualifiers).
_COMPARATORS = frozenset({"<", "<=", ">=", ">"})
_ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
_REACTION_SEVERITIES = frozenset({"mild", "moderate", "severe"})


def put_code(quals: dict[str, Any], key: str, value: str | None, allowed: frozenset[str]) -> None:
    """Put the value of a FHIR element of type ``code`` (a required binding) in ``quals``.

    A value of the binding goes under ``key``, a coded qualifier; any other value is text a
    sender typed ("severe at <a relative's farm>") and goes under ``key + "_text"``, a key the
    field policy scrubs like free text (and drops for a source nobody reviewed).

    Parameters
    ----------
    quals : dict
        The event's qualifiers, updated in place.
    key : str
        The coded qualifier key.
    value : str or None
        The element's value (None: nothing is put).
    allowed : frozenset of str
        The codes of the binding.
    """
    if value is not None:
        quals[key if value in allowed else f"{key}_text"] = value


def put_concept(quals: dict[str, Any], key: str, cc: Any, *, first_only: bool = False) -> None:
    """Put a CodeableConcept in ``quals``: its code under ``key``, its text under ``key_text``.

    ``key`` is a coded qualifier of the field policy (published after known identifiers and
    patterns only); a concept with no coded coding carries only ``text``, which is free text
    ("refused; ask neighbour ...") and goes under ``key + "_text"``, a key the field policy
    scrubs like free text. With ``first_only``, a key already set is left as it is.

    Parameters
    ----------
    quals : dict
        The event's qualifiers, updated in place.
    key : str
        The coded qualifier key (``"route"``, ``"category"``...).
    cc : Any
        The CodeableConcept JSON (anything is tolerated).
    first_only : bool
        Keep an existing value of the key (the first of several concepts wins).
    """
    picked = codeable(cc)
    name, value = (key, picked[1]) if picked is not None else (f"{key}_text", None)
    if value is None:
        value = text(cc.get("text")) if isinstance(cc, dict) else None
    if value is not None and not (first_only and name in quals):
        quals[name] = value


# --- Observation -------------------------------------------------------------------------------


def _quantity(q: Any, where: str, quals: dict[str, Any]) -> tuple[float, str | None]:
    if not isinstance(q, dict):
        raise Reject("fhir.value", f"{where} is not an object")
    raw = q.get("value")
    value = number(raw)
    if raw is not None and value is None:
        raise Reject("fhir.value", f"{where}.value is not a finite number")
    if value is None:
        return float("nan"), None
    unit = text(q.get("unit")) or text(q.get("code"))
    code = text(q.get("code"))
    if code is not None and code != unit:
        quals["unit_code"] = code
    put_code(quals, "comparator", text(q.get("comparator")), _COMPARATORS)
    return value, unit


def _value(obj: dict, where: str, quals: dict[str, Any]) -> tuple[float, str | None, str | None]:
    """``(value_num, value_text, unit)`` of an Observation or component ``value[x]``."""
    nan = float("nan")
    if "valueQuantity" in obj:
        value, unit = _quantity(obj["valueQuantity"], f"{where}.valueQuantity", quals)
        return value, None, unit
    if "valueCodeableConcept" in obj:
        cc = obj["valueCodeableConcept"]
        picked = codeable(cc)
        if picked is not None:
            quals["value_code"] = picked[1]
            put(quals, "value_system", picked[0])
            return nan, picked[2] or picked[1], None
        label = text(cc.get("text")) if isinstance(cc, dict) else None
        if label is None:
            raise Reject("fhir.value", f"{where}.valueCodeableConcept has neither code nor text")
        return nan, label, None
    if "valueString" in obj:
        label = obj["valueString"]
        if not isinstance(label, str):
            raise Reject("fhir.value", f"{where}.valueString is not a string")
        return nan, label, None
    if "valueBoolean" in obj:
        flag = obj["valueBoolean"]
        if not isinstance(flag, bool):
            raise Reject("fhir.value", f"{where}.valueBoolean is not true/false")
        return nan, "true" if flag else "false", None
    if "valueInteger" in obj:
        raw = obj["valueInteger"]
        if isinstance(raw, bool) or not isinstance(raw, int) or number(raw) is None:
            raise Reject("fhir.value", f"{where}.valueInteger is not an integer")
        return float(raw), None, None
    for key in ("valueDateTime", "valueTime", "valueRange", "valueRatio", "valuePeriod",
                "valueSampledData"):  # fmt: skip
        if key in obj:
            quals["value_type"] = key[5:]
            raw = obj[key]
            return nan, raw if isinstance(raw, str) else dumps(raw), None
    if "dataAbsentReason" in obj:
        put_concept(quals, "data_absent_reason", obj["dataAbsentReason"])
    return nan, None, None


def _obs_extras(obj: dict, quals: dict[str, Any]) -> None:
    interp = first(obj.get("interpretation"))
    if interp is not None:
        put_concept(quals, "interpretation", interp)
    rng = first(obj.get("referenceRange"))
    if isinstance(rng, dict):
        for bound, key in (("low", "ref_low"), ("high", "ref_high")):
            q = rng.get(bound)
            if isinstance(q, dict):
                put(quals, key, number(q.get("value")))


def _obs_domain(categories: Any, quals: dict[str, Any]) -> str:
    if not isinstance(categories, list):
        categories = [categories]
    domain = None
    for cat in categories:
        code = concept_text(cat)
        if code is None:
            continue
        put_concept(quals, "category", cat, first_only=True)
        domain = domain or _OBS_DOMAIN.get(code)
    return domain or "other"


def observation(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """Observation: one event, or one per ``component`` (linked by ``panel``)."""
    patient, quals = _common(res, "subject", ctx)
    system, code, display = _code(res.get("code"), LOINC, "Observation.code")
    fields = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
    t, end, tq = _start(res, ctx, fields, "Observation")
    quals.update(tq)
    domain = _obs_domain(res.get("category"), quals)
    raw_status = res.get("status")
    status = _OBS_STATUS.get(raw_status, "unknown") if isinstance(raw_status, str) else "unknown"
    if raw_status != status:
        put(quals, "fhir_status", text(raw_status))
    comps = res.get("component")
    if comps is not None and not isinstance(comps, list):
        raise Reject("fhir.structure", "Observation.component is not a list")
    rows: list[Row] = []
    if not comps or any(key.startswith("value") for key in res):
        own = dict(quals)
        _obs_extras(res, own)
        value, label, unit = _value(res, "Observation", own)
        rows.append((patient, t, end, domain, system, code, display, value, label, unit, own,
                     status, ptr))  # fmt: skip
    for j, comp in enumerate(comps or ()):
        where = f"component[{j}]"
        if not isinstance(comp, dict):
            raise Reject("fhir.structure", f"Observation.{where} is not an object")
        csys, ccode, cdisplay = _code(comp.get("code"), LOINC, f"Observation.{where}.code")
        own = dict(quals)
        own["panel"] = code
        _obs_extras(comp, own)
        value, label, unit = _value(comp, where, own)
        rows.append((patient, t, end, domain, csys, ccode, cdisplay, value, label, unit, own,
                     status, f"{ptr}/{where}"))  # fmt: skip
    return rows


# --- Condition, AllergyIntolerance, Procedure, Encounter, Immunization ------------------------


def _end_of(res: dict, ctx: Context, t: int, fields: tuple[str, ...], what: str) -> int:
    for name in fields:
        value = res.get(name)
        if value is None:
            continue
        if name == "period" or name.endswith("Period"):
            if not isinstance(value, dict):
                raise Reject("fhir.structure", f"{name} is not an object")
            value = value.get("end", value.get("start"))
            if value is None:
                continue
        end, _, _ = ctx.times.parse(value, name)
        if end < t:
            raise Reject("fhir.period", f"{what} ends ({name}) before it starts")
        return end
    return NAT


def condition(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """Condition: onset (or recordedDate) -> time, abatement -> end_time."""
    patient, quals = _common(res, "subject", ctx)
    system, code, display = _code(res.get("code"), SNOMED, "Condition.code")
    t, _, tq = _start(res, ctx, ("onsetDateTime", "onsetPeriod", "recordedDate"), "Condition")
    quals.update(tq)
    end = _end_of(res, ctx, t, ("abatementDateTime", "abatementPeriod"), "Condition")
    for key in ("abatementBoolean", "abatementString"):
        if key in res:
            quals["abatement"] = str(res[key])
    verification = concept_text(res.get("verificationStatus"))
    put_concept(quals, "clinical_status", res.get("clinicalStatus"))
    put_concept(quals, "verification_status", res.get("verificationStatus"))
    severity = codeable(res.get("severity"))
    if severity is not None:
        quals["severity"] = severity[2] or severity[1]
    put_concept(quals, "category", first(res.get("category")))
    status = "entered-in-error" if verification == "entered-in-error" else "final"
    return [(patient, t, end, "condition", system, code, display, float("nan"), None, None,
             quals, status, ptr)]  # fmt: skip


def allergy(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """AllergyIntolerance: onset (or recordedDate) -> time."""
    patient, quals = _common(res, "patient", ctx)
    system, code, display = _code(res.get("code"), SNOMED, "AllergyIntolerance.code")
    fields = ("onsetDateTime", "onsetPeriod", "recordedDate")
    t, end, tq = _start(res, ctx, fields, "AllergyIntolerance")
    quals.update(tq)
    verification = concept_text(res.get("verificationStatus"))
    put_concept(quals, "clinical_status", res.get("clinicalStatus"))
    put_concept(quals, "verification_status", res.get("verificationStatus"))
    put(quals, "type", text(res.get("type")))
    put_code(quals, "category", text(first(res.get("category"))), _ALLERGY_CATEGORIES)
    put(quals, "criticality", text(res.get("criticality")))
    reaction = first(res.get("reaction"))
    if isinstance(reaction, dict):
        put_code(quals, "severity", text(reaction.get("severity")), _REACTION_SEVERITIES)
        put(quals, "reaction", concept_text(first(reaction.get("manifestation"))))
    status = "entered-in-error" if verification == "entered-in-error" else "final"
    return [(patient, t, end, "allergy", system, code, display, float("nan"), None, None,
             quals, status, ptr)]  # fmt: skip


def procedure(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """Procedure: performedDateTime or performedPeriod."""
    patient, quals = _common(res, "subject", ctx)
    system, code, display = _code(res.get("code"), SNOMED, "Procedure.code")
    t, end, tq = _start(res, ctx, ("performedDateTime", "performedPeriod"), "Procedure")
    quals.update(tq)
    status = _status(res, quals)
    put(quals, "reason", concept_text(first(res.get("reasonCode"))))
    return [(patient, t, end, "procedure", system, code, display, float("nan"), None, None,
             quals, status, ptr)]  # fmt: skip


def encounter(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """Encounter: code from ``type`` (else ``class``), time and end from ``period``."""
    patient, quals = _common(res, "subject", ctx)
    quals.pop("encounter", None)  # Encounter.encounter does not exist; keep the shape honest
    klass = res.get("class")
    klass_code = concept_text(klass)
    put(quals, "class", klass_code)
    picked = codeable(first(res.get("type")), SNOMED) or codeable(klass)
    if picked is None:
        raise Reject("fhir.code", "Encounter has neither a coded type nor a class")
    t, end, tq = _start(res, ctx, ("period",), "Encounter")
    quals.update(tq)
    status = _status(res, quals)
    put(quals, "reason", concept_text(first(res.get("reasonCode"))))
    return [(patient, t, end, "encounter", *picked, float("nan"), None, None, quals, status,
             ptr)]  # fmt: skip


def immunization(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """Immunization: CVX ``vaccineCode`` at ``occurrenceDateTime`` (else ``recorded``)."""
    patient, quals = _common(res, "patient", ctx)
    system, code, display = _code(res.get("vaccineCode"), CVX, "Immunization.vaccineCode")
    t, end, tq = _start(res, ctx, ("occurrenceDateTime", "recorded"), "Immunization")
    quals.update(tq)
    status = _status(res, quals)
    value, unit = float("nan"), None
    if res.get("doseQuantity") is not None:
        value, unit = _quantity(res["doseQuantity"], "doseQuantity", quals)
    put_concept(quals, "route", res.get("route"))
    put(quals, "lot_number", text(res.get("lotNumber")))
    applied = first(res.get("protocolApplied"))
    if isinstance(applied, dict):
        dose_number = applied.get("doseNumberPositiveInt")
        if isinstance(dose_number, int) and not isinstance(dose_number, bool):
            quals["dose_number"] = dose_number
    return [(patient, t, end, "immunization", system, code, display, value, None, unit, quals,
             status, ptr)]  # fmt: skip


# --- medications ---------------------------------------------------------------------------------


def _medication(res: dict, ctx: Context) -> tuple[str | None, str, str | None]:
    what = res.get("resourceType")
    if "medicationCodeableConcept" in res:
        return _code(res["medicationCodeableConcept"], RXNORM, f"{what}.medicationCodeableConcept")
    ref = res.get("medicationReference")
    if ref is None:
        raise Reject("fhir.code", f"{what} has no medicationCodeableConcept or medicationReference")
    target = text(ref.get("reference")) if isinstance(ref, dict) else None
    med = None
    if target is not None and target.startswith("#"):
        for inner in as_list(res.get("contained")):
            if isinstance(inner, dict) and inner.get("id") == target[1:]:
                med = inner
                break
    elif target is not None:
        med = ctx.resolve(target)
    if not isinstance(med, dict) or med.get("resourceType") != "Medication":
        raise Reject("fhir.code", f"{what}.medicationReference is not a Medication in the file")
    system, code, display = _code(
        med.get("code"), RXNORM, f"{what}.medicationReference Medication code"
    )
    return system, code, display or text(ref.get("display"))


def _dosage(dosage: Any, quals: dict[str, Any]) -> tuple[float, str | None]:
    """Qualifiers of a Dosage (MedicationRequest/Statement); returns the dose quantity."""
    value, unit = float("nan"), None
    if not isinstance(dosage, dict):
        return value, unit
    put(quals, "regimen", text(dosage.get("text")))
    put_concept(quals, "route", dosage.get("route"))
    if isinstance(dosage.get("asNeededBoolean"), bool):
        quals["as_needed"] = dosage["asNeededBoolean"]
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if isinstance(repeat, dict):
        put(quals, "frequency", number(repeat.get("frequency")))
        put(quals, "period", number(repeat.get("period")))
        put(quals, "period_unit", text(repeat.get("periodUnit")))
    dose_rate = first(dosage.get("doseAndRate"))
    if isinstance(dose_rate, dict) and dose_rate.get("doseQuantity") is not None:
        value, unit = _quantity(dose_rate["doseQuantity"], "doseAndRate.doseQuantity", quals)
    return value, unit


def _bounds(dosage: Any) -> dict | None:
    timing = dosage.get("timing") if isinstance(dosage, dict) else None
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    return repeat.get("boundsPeriod") if isinstance(repeat, dict) else None


def medication_request(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """MedicationRequest / MedicationStatement: domain ``medication``, RxNorm code."""
    what = res.get("resourceType")
    patient, quals = _common(res, "subject", ctx)
    system, code, display = _medication(res, ctx)
    status = _status(res, quals)
    put(quals, "intent", text(res.get("intent")))
    dosage = first(res.get("dosageInstruction", res.get("dosage")))
    value, unit = _dosage(dosage, quals)
    fields = ("authoredOn",) if what == "MedicationRequest" else (
        "effectiveDateTime", "effectivePeriod", "dateAsserted")  # fmt: skip
    timing = ctx.times.first_of(res, fields)
    bounds = _bounds(dosage)
    if timing is None and bounds is not None:
        timing = ctx.times.first_of({"boundsPeriod": bounds}, ("boundsPeriod",))
        if timing is not None:
            timing[2]["time_source"] = "dosage.timing.repeat.boundsPeriod.start"
    if timing is None:
        raise Reject("fhir.time", f"{what} has no usable time (none of {', '.join(fields)})")
    t, end, tq = timing
    quals.update(tq)
    if end == NAT and isinstance(bounds, dict) and bounds.get("end") is not None:
        end = _end_of({"boundsPeriod": bounds}, ctx, t, ("boundsPeriod",), what)
    return [(patient, t, end, "medication", system, code, display, value, None, unit, quals,
             status, ptr)]  # fmt: skip


def medication_administration(res: dict, ptr: str, ctx: Context) -> list[Row]:
    """MedicationAdministration: domain ``dose``, with dose, route, rate and infusion time."""
    patient, quals = _common(res, "subject", ctx)
    system, code, display = _medication(res, ctx)
    status = _status(res, quals)
    fields = ("effectiveDateTime", "effectivePeriod")
    t, end, tq = _start(res, ctx, fields, "MedicationAdministration")
    quals.update(tq)
    if end != NAT:
        quals["infusion_duration_h"] = (end - t) / 3.6e9
    value, unit = float("nan"), None
    dosage = res.get("dosage")
    if isinstance(dosage, dict):
        put(quals, "regimen", text(dosage.get("text")))
        put_concept(quals, "route", dosage.get("route"))
        if dosage.get("dose") is not None:
            value, unit = _quantity(dosage["dose"], "dosage.dose", quals)
        rate = dosage.get("rateQuantity")
        if isinstance(rate, dict):
            put(quals, "rate_value", number(rate.get("value")))
            put(quals, "rate_unit", text(rate.get("unit")) or text(rate.get("code")))
    return [(patient, t, end, "dose", system, code, display, value, None, unit, quals, status,
             ptr)]  # fmt: skip


#: resourceType -> extractor, for the resources that become events.
EXTRACTORS: dict[str, Callable[[dict, str, Context], list[Row]]] = {
    "Observation": observation,
    "Condition": condition,
    "MedicationRequest": medication_request,
    "MedicationStatement": medication_request,
    "MedicationAdministration": medication_administration,
    "Procedure": procedure,
    "Encounter": encounter,
    "AllergyIntolerance": allergy,
    "Immunization": immunization,
}
#: The resource types read as clinical facts (events); every other type is accepted with none.
CLINICAL: frozenset[str] = frozenset(EXTRACTORS)
