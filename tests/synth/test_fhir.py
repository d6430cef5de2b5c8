"""FHIR bundles validate against R4 and carry the planted PHI."""

from __future__ import annotations

import json

import pandas as pd
from fhir.resources.R4B.bundle import Bundle

from twinlab.synth.identities import RESTRICTED_ZIP3

from .conftest import Study


def _bundles(study: Study) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted((study.raw / "fhir").glob("*.json"))]


def _patient(bundle: dict) -> dict:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def test_every_bundle_validates_as_r4_transaction(study: Study) -> None:
    bundles = _bundles(study)
    assert len(bundles) == study.config.n_patients
    for raw in bundles:
        bundle = Bundle.model_validate(raw)
        assert bundle.type == "transaction"
        for entry in bundle.entry:
            assert entry.fullUrl.startswith("urn:uuid:")
            assert entry.request.method == "POST"


def test_phi_is_planted(study: Study) -> None:
    patients = [_patient(b) for b in _bundles(study)]
    names = [p["name"][0]["family"] + p["name"][0]["given"][0] for p in patients]
    assert any(not n.isascii() for n in names) and any("'" in n for n in names)
    zips = [p["address"][0]["postalCode"] for p in patients]
    assert any(z[:3] in RESTRICTED_ZIP3 for z in zips)
    assert any(int(p["birthDate"][:4]) <= 1935 for p in patients)  # >= 90 in 2025
    systems = {i["system"] for p in patients for i in p["identifier"]}
    assert "http://hl7.org/fhir/sid/us-ssn" in systems
    assert f"urn:twinlab:study:{study.config.study_id}:subject" in systems


def test_screening_weight_matches_edc(study: Study) -> None:
    import pyreadstat

    vs, _ = pyreadstat.read_xport(str(study.raw / "sdtm" / "vs.xpt"))
    weight = vs[vs.VSTESTCD == "WEIGHT"].set_index("USUBJID")
    kinds = set()
    for bundle in _bundles(study):
        patient = _patient(bundle)
        usubjid = next(i["value"] for i in patient["identifier"] if ":subject" in i["system"])
        obs = next(
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"]["code"]["coding"][0]["code"] == "29463-7"
        )
        q = obs["valueQuantity"]
        kinds.add(q["code"])
        kg = q["value"] / 2.20462262 if q["code"] == "[lb_av]" else q["value"]
        row = weight.loc[usubjid]
        assert abs(kg - row.VSSTRESN) < 0.06
        assert obs["effectiveDateTime"][:10] == row.VSDTC[:10]
        assert obs["effectiveDateTime"][-6:] in {"-05:00", "-06:00", "-08:00"}
    assert kinds == {"kg", "[lb_av]"}


def test_codes_and_units_cover_the_messy_variants(study: Study) -> None:
    seen = set()
    for bundle in _bundles(study):
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Observation" and "valueQuantity" in r:
                seen.add((r["code"]["coding"][0]["code"], r["valueQuantity"]["code"]))
            elif r["resourceType"] in {"Condition", "MedicationRequest"}:
                key = "code" if r["resourceType"] == "Condition" else "medicationCodeableConcept"
                seen.add((r[key]["coding"][0]["system"], r[key]["coding"][0]["code"]))
    assert {("2160-0", "mg/dL"), ("2160-0", "umol/L"), ("14682-9", "umol/L")} <= seen
    assert {("8302-2", "cm"), ("8302-2", "[in_i]"), ("3084-1", "mg/dL")} <= seen
    assert ("http://snomed.info/sct", "90560007") in seen
    assert any(s == "http://www.nlm.nih.gov/research/umls/rxnorm" for s, _ in seen)
    assert isinstance(study.patients, pd.DataFrame)
