"""FHIR R4 transaction bundles: one per screened subject, as a site's EHR would export them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.synth import truth as T

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"

#: (key, SNOMED CT code, display, prevalence or rule)
CONDITIONS: tuple[tuple[str, str, str, float], ...] = (
    ("gout", "90560007", "Gout", 1.0),
    ("hypertension", "59621000", "Essential hypertension", 0.55),
    ("diabetes", "44054006", "Type 2 diabetes mellitus", 0.25),
    ("hyperlipidaemia", "55822004", "Hyperlipidemia", 0.40),
    ("ckd3", "433144002", "Chronic kidney disease stage 3", -1.0),  # CrCL in [30, 60)
    ("obesity", "414916001", "Obesity", -1.0),  # BMI >= 30
)
#: (RxNorm code, display, condition that motivates it or "", probability, sig)
MEDICATIONS: tuple[tuple[str, str, str, float, str], ...] = (
    ("6809", "metformin", "diabetes", 0.85, "500 mg orally twice daily"),
    ("29046", "lisinopril", "hypertension", 0.6, "10 mg orally once daily"),
    ("17767", "amlodipine", "hypertension", 0.4, "5 mg orally once daily"),
    ("83367", "atorvastatin", "hyperlipidaemia", 0.8, "20 mg orally once daily"),
    ("7646", "omeprazole", "", 0.15, "20 mg orally once daily"),
    ("2683", "colchicine", "gout", 0.4, "0.6 mg orally once daily"),
)
_MAX_RESOURCES = 24


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _number(x: float, digits: int) -> float | int:
    value = round(float(x), digits)
    return int(value) if digits == 0 else value


def _observation(
    subject: str, when: str, category: str, code: str, display: str, **value: Any
) -> dict[str, Any]:
    cat_display = {"laboratory": "Laboratory", "vital-signs": "Vital Signs"}[category]
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": OBS_CATEGORY, "code": category, "display": cat_display}]}
        ],
        "code": _coding(LOINC, code, display),
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        **value,
    }


def _draws(subjects: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(subjects)
    draws: dict[str, np.ndarray] = {
        "uuid": rng.integers(0, 256, (n, _MAX_RESOURCES, 16), dtype=np.uint8),
        "hr": np.round(rng.normal(74, 10, n)).clip(45, 130),
        "sbp": np.round(rng.normal(134, 15, n)).clip(95, 200),
        "onset_days": rng.integers(365, 20 * 365, (n, len(CONDITIONS))),
        "lab_delay": rng.integers(5, 45, n),
    }
    draws["dbp"] = np.round(draws["sbp"] * 0.6 + rng.normal(0, 6, n)).clip(50, 120)
    has = {}
    u = rng.random((n, len(CONDITIONS)))
    crcl = subjects["crcl_ml_min"].to_numpy()
    bmi = subjects["bmi"].to_numpy()
    for j, (key, _, _, p) in enumerate(CONDITIONS):
        if key == "ckd3":
            has[key] = (crcl >= 30) & (crcl < 60)
        elif key == "obesity":
            has[key] = bmi >= 30
        else:
            has[key] = u[:, j] < p
    draws["conditions"] = np.stack([has[k] for k, *_ in CONDITIONS], axis=1)
    u = rng.random((n, len(MEDICATIONS)))
    draws["medications"] = np.stack(
        [
            (has[cond] if cond else np.ones(n, bool)) & (u[:, j] < p)
            for j, (_, _, cond, p, _) in enumerate(MEDICATIONS)
        ],
        axis=1,
    )
    return draws


def build_bundles(
    subjects: pd.DataFrame,
    identities: pd.DataFrame,
    screen_urate: np.ndarray,
    study_id: str,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Build one FHIR R4 transaction Bundle per subject.

    Parameters
    ----------
    subjects, identities
        Subject and identity tables in the same order.
    screen_urate
        Reported screening urate (mg/dL) per subject.
    study_id
        Study identifier used in the subject-link identifier system.
    rng
        The ``fhir`` stream (UUIDs, vital signs, conditions, medications).

    Returns
    -------
    list of dict
        JSON-ready bundles, subject order.
    """
    draws = _draws(subjects, rng)
    bundles = []
    for i, (sub, ident) in enumerate(
        zip(subjects.itertuples(index=False), identities.itertuples(index=False), strict=True)
    ):
        ids = [str(uuid.UUID(bytes=draws["uuid"][i, j].tobytes(), version=4)) for j in
               range(_MAX_RESOURCES)]  # fmt: skip
        bundles.append(_bundle(sub, ident, float(screen_urate[i]), study_id, draws, i, ids))
    return bundles


def _bundle(sub, ident, urate: float, study_id: str, draws, i: int, ids: list[str]) -> dict:
    site = T.SITES[sub.SITEID]
    offset = site["utc_offset"]
    screen = pd.Timestamp(sub.screen_dt).strftime("%Y-%m-%dT%H:%M")
    when = f"{screen}:00{offset}"
    screen_date = np.datetime64(screen[:10], "D")
    lab_time = np.datetime64(screen, "m") + np.timedelta64(int(draws["lab_delay"][i]), "m")
    lab_when = f"{str(lab_time)[:16]}:00{offset}"
    patient_ref = f"urn:uuid:{ids[1]}"
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {
                "use": "usual",
                "type": _coding(V2_0203, "MR", "Medical record number"),
                "system": f"urn:twinlab:site:{sub.SITEID}:mrn",
                "value": ident.mrn,
            },
            {
                "use": "official",
                "type": _coding(V2_0203, "SS", "Social Security number"),
                "system": SSN_SYSTEM,
                "value": ident.ssn,
            },
            {
                "use": "secondary",
                "system": f"urn:twinlab:study:{study_id}:subject",
                "value": sub.USUBJID,
            },
        ],
        "name": [{"use": "official", "family": ident.family, "given": [ident.given]}],
        "telecom": [
            {"system": "phone", "value": ident.phone, "use": "home"},
            {"system": "email", "value": ident.email, "use": "home"},
        ],
        "gender": "male" if sub.sex == "M" else "female",
        "birthDate": pd.Timestamp(sub.birth_date).strftime("%Y-%m-%d"),
        "address": [
            {
                "use": "home",
                "line": [ident.line1, *([ident.line2] if ident.line2 else [])],
                "city": ident.city,
                "state": ident.state,
                "postalCode": ident.zip,
                "country": "US",
            }
        ],
    }
    resources: list[dict[str, Any]] = [patient]
    vital = "vital-signs"
    if site["units"] == "metric":
        weight = _quantity(_number(sub.weight_kg, 1), "kg", "kg")
        height = _quantity(int(sub.height_cm), "cm", "cm")
    else:
        weight = _quantity(_number(sub.weight_kg * T.LB_PER_KG, 1), "lb", "[lb_av]")
        height = _quantity(_number(sub.height_cm / T.CM_PER_IN, 1), "in", "[in_i]")
    resources.append(_observation(patient_ref, when, vital, "29463-7", "Body weight",
                                  valueQuantity=weight))  # fmt: skip
    resources.append(_observation(patient_ref, when, vital, "8302-2", "Body height",
                                  valueQuantity=height))  # fmt: skip
    resources.append(
        _observation(patient_ref, when, vital, "8867-4", "Heart rate",
                     valueQuantity=_quantity(int(draws["hr"][i]), "beats/minute", "/min"))
    )  # fmt: skip
    resources.append(
        _observation(
            patient_ref, when, vital, "85354-9", "Blood pressure panel with all children optional",
            component=[
                {"code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": _quantity(int(draws["sbp"][i]), "mmHg", "mm[Hg]")},
                {"code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": _quantity(int(draws["dbp"][i]), "mmHg", "mm[Hg]")},
            ],
        )
    )  # fmt: skip
    lab = "laboratory"
    code, unit = site["creatinine"].split("|")
    if unit == "mg/dL":
        scr = _quantity(_number(sub.scr_mg_dl, 2), "mg/dL", "mg/dL")
    else:
        scr = _quantity(_number(sub.scr_mg_dl * T.CREATININE_MGDL_TO_UMOLL, 1), "µmol/L",
                        "umol/L")  # fmt: skip
    scr_display = {
        "2160-0": "Creatinine [Mass/volume] in Serum or Plasma",
        "14682-9": "Creatinine [Moles/volume] in Serum or Plasma",
    }[code]
    resources.append(_observation(patient_ref, lab_when, lab, code, scr_display,
                                  valueQuantity=scr))  # fmt: skip
    resources.append(
        _observation(
            patient_ref, lab_when, lab, "1742-6",
            "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            valueQuantity=_quantity(int(sub.alt_u_l), "U/L", "U/L"),
        )
    )  # fmt: skip
    resources.append(
        _observation(patient_ref, lab_when, lab, "3084-1", "Urate [Mass/volume] in Serum or Plasma",
                     valueQuantity=_quantity(_number(urate, 1), "mg/dL", "mg/dL"))
    )  # fmt: skip
    for j, (_key, code, display, _p) in enumerate(CONDITIONS):
        if not draws["conditions"][i, j]:
            continue
        onset = screen_date - np.timedelta64(int(draws["onset_days"][i, j]), "D")
        resources.append(
            {
                "resourceType": "Condition",
                "clinicalStatus": _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                ),
                "verificationStatus": _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "confirmed",
                    "Confirmed",
                ),
                "category": [
                    _coding(
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                        "problem-list-item",
                        "Problem List Item",
                    )
                ],
                "code": _coding(SNOMED, code, display),
                "subject": {"reference": patient_ref},
                "onsetDateTime": str(onset),
                "recordedDate": when,
            }
        )
    for j, (code, display, _cond, _p, sig) in enumerate(MEDICATIONS):
        if not draws["medications"][i, j]:
            continue
        resources.append(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": _coding(RXNORM, code, display),
                "subject": {"reference": patient_ref},
                "authoredOn": when,
                "dosageInstruction": [{"text": sig}],
            }
        )
    entries = [
        {
            "fullUrl": f"urn:uuid:{ids[k + 1]}",
            "resource": res,
            "request": {"method": "POST", "url": res["resourceType"]},
        }
        for k, res in enumerate(resources)
    ]
    return {"resourceType": "Bundle", "id": ids[0], "type": "transaction", "entry": entries}


def write_bundles(bundles: list[dict[str, Any]], folder: Path) -> list[tuple[Path, int]]:
    """Write each bundle to ``folder/<bundle id>.json`` (UTF-8, compact, key order as built).

    Parameters
    ----------
    bundles
        Bundles from :func:`build_bundles`.
    folder
        Target folder, created if missing.

    Returns
    -------
    list of (path, number of resources)
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for bundle in bundles:
        path = folder / f"{bundle['id']}.json"
        text = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n"
        path.write_bytes(text.encode("utf-8"))
        written.append((path, len(bundle["entry"])))
    return written
