"""Round 3 of identifiers planted in structured exports: the FHIR content real EHR exports
carry (Synthea's bundles among them), end to end through ``harmonize``.

Each place plants its own values in a copy of a generated study's FHIR bundle, shaped as the
shared Synthea bundles write them: the Patient's identifiers (SSN, driver's licence, passport),
mothersMaidenName and birthPlace extensions, contacts (relatives), photo and communication;
RelatedPerson, Coverage (subscriber, policy holder, member and group numbers), Claim and
ExplanationOfBenefit (providers, payees, claim numbers, supporting information, accident
addresses), Provenance agents; base64 attachments that hold notes (DocumentReference,
DiagnosticReport.presentedForm, Media, Binary) with their URLs and titles; an Encounter's
hospitalization origin and destination; AllergyIntolerance notes and reactions; meta.source
and tags. Where a value is a person a note may name, a reviewed note names it in the lower
case the clinical engine keeps (only the known values of the patient's record can find it).
The check reads every published file independently of twinlab's detectors.

What leaked before the fixes of this round (a reviewed note naming them, the scrub run): the
people that only a Coverage's subscriber and policy holder, a Claim's enterer and payee, a
Provenance's agent, a MedicationRequest's requester, a Condition's asserter and recorder, a
MedicationDispense's receiver, a Communication's recipient or a DiagnosticReport's
interpreter name (the reader gathered the displays of repeating References only, and of none
of these elements), in words the clinical engine keeps. Every other place held: the attachments, the
Claim's and EOB's other fields, the hospitalization and the meta are read into no published
column, and the Patient's identifiers, extensions and contacts are known values.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from harmonize_redteam import (
    fhir_entry,
    observation_like,
    published_text,
    run_both,
    small_study,
    where_found,
)

#: place -> the planted values that must not be published (case-insensitive).
PLANTED: dict[str, list[str]] = {}
#: The places where planted values were published before this round's fixes (scrub run).
LEAKED_ON_MAIN = ("coverage", "claims", "provenance", "single_references", "more_people")


def _plant(place: str, *values: str) -> None:
    PLANTED.setdefault(place, []).extend(values)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _note(template: dict, rid: str, text: str) -> dict:
    """A free-text Observation (LOINC 34109-9, a note) of the template's patient and time."""
    code = {"coding": [{"system": "http://loinc.org", "code": "34109-9"}], "text": "Note"}
    return observation_like(template, rid, code=code, valueString=text)


def _ids(patient: dict) -> None:
    # Synthea's Patient.identifier: v2-0203 types SS, DL, PPN with Synthea's systems
    _plant("synthea_ids", "999-61-4423", "S99957321", "X71350913X")
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    for code, system, value in (
        ("SS", "http://hl7.org/fhir/sid/us-ssn", "999-61-4423"),
        ("DL", "urn:oid:2.16.840.1.113883.4.3.25", "S99957321"),
        ("PPN", "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
         "X71350913X"),
    ):  # fmt: skip
        patient["identifier"].append(
            {"type": {"coding": [{"system": v2, "code": code}]}, "system": system, "value": value}
        )


def _extensions(patient: dict) -> None:
    _plant("birth_extensions", "Thistlewood", "Araminta", "Fall River")
    patient.setdefault("extension", []).extend([
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
         "valueString": "Araminta Thistlewood"},
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
         "valueAddress": {"city": "Fall River", "state": "Massachusetts", "country": "US"}},
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
            {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238",
                                                   "code": "2106-3", "display": "White"}},
            {"url": "text", "valueString": "White"}]},
    ])  # fmt: skip


def _contact(patient: dict) -> None:
    _plant("contact", "Mark Stone", "412-555-0193", "Heronsgate", "Pellingford", "Dunlin Mills",
           "Brightwater")  # fmt: skip
    patient["contact"] = [{
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                      "code": "N"}], "text": "Next-of-Kin"}],
        "name": {"family": "Stone", "given": ["Mark"]},
        "telecom": [{"system": "phone", "value": "412-555-0193"}],
        "address": {"line": ["41 Heronsgate Walk"], "city": "Pellingford"},
        "organization": {"display": "Dunlin Mills"},
    }]  # fmt: skip
    patient["photo"] = [{"contentType": "image/jpeg", "title": "brightwater_marisol.jpg",
                         "data": _b64("Marisol Brightwater")}]  # fmt: skip


def _coverage(subject: dict) -> list[dict]:
    _plant("coverage", "Faith Hill", "WXH88213390", "GRP-4471902", "Plan 7730215",
           "Corbridge")  # fmt: skip
    return [{
        "resourceType": "Coverage", "id": "cov3", "status": "active",
        "identifier": [{"system": "urn:plan:member", "value": "WXH88213390"}],
        "subscriberId": "WXH88213390", "beneficiary": subject,
        "subscriber": {"reference": "RelatedPerson/rp-sub", "display": "Faith Hill"},
        "policyHolder": {"display": "Faith Hill"},
        "relationship": {"coding": [{"code": "spouse"}]},
        "payor": [{"display": "Corbridge Mutual"}],
        "class": [{"type": {"coding": [{"code": "group"}]}, "value": "GRP-4471902",
                   "name": "Corbridge Mutual Gold"},
                  {"type": {"coding": [{"code": "plan"}]}, "value": "Plan 7730215"}],
    }]  # fmt: skip


def _claims(subject: dict) -> list[dict]:
    _plant("claims", "Will Power", "Patience Gate", "CLM-55203317", "Tannery Close", "Quillsby",
           "EOB-99120457", "Hawthorne-Vale")  # fmt: skip
    claim = {
        "resourceType": "Claim", "id": "claim3", "status": "active", "use": "claim",
        "identifier": [{"system": "urn:claims", "value": "CLM-55203317"}],
        "patient": subject, "created": "2025-02-01",
        "enterer": {"display": "Will Power"},
        "provider": {"display": "Dr. Osric Pendleford"},
        "careTeam": [{"sequence": 1, "provider": {"display": "Will Power"}}],
        "payee": {"party": {"display": "Patience Gate"}},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Corbridge"},
                       "identifier": {"value": "CLM-55203317"}}],
        "supportingInfo": [{"sequence": 1, "category": {"text": "info"},
                            "valueString": "Referred by Will Power"}],
        "accident": {"date": "2025-01-30",
                     "locationAddress": {"line": ["3 Tannery Close"], "city": "Quillsby"}},
    }  # fmt: skip
    eob = {
        "resourceType": "ExplanationOfBenefit", "id": "eob3", "status": "active",
        "identifier": [{"system": "https://bluebutton.cms.gov/resources/variables/clm_id",
                        "value": "EOB-99120457"}],
        "patient": subject, "insurer": {"display": "Corbridge"},
        "provider": {"display": "Osric Pendleford"},
        "payee": {"party": {"display": "Hawthorne-Vale"}},
        "billing": {"address": {"line": ["3 Tannery Close"]}},
    }  # fmt: skip
    return [claim, eob]


def _documents(subject: dict) -> list[dict]:
    _plant("documents", "Ashgrove", "Leopold", "88213304", "ashgrove_discharge",
           "Kittering", "Rich Field")  # fmt: skip
    note = "Discharge summary. Leopold Ashgrove (MRN 88213304), 12 Kittering Lane."
    att = {"contentType": "text/plain", "data": _b64(note), "title": "ashgrove_discharge.txt",
           "url": "http://ehr.example.org/docs/ashgrove_discharge.txt"}  # fmt: skip
    code = {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]}
    return [
        {"resourceType": "DocumentReference", "id": "doc3", "status": "current",
         "subject": subject, "type": code, "author": [{"display": "Rich Field"}],
         "description": "Note for Leopold Ashgrove", "content": [{"attachment": att}]},
        {"resourceType": "DiagnosticReport", "id": "dr3", "status": "final", "subject": subject,
         "code": code, "effectiveDateTime": "2025-02-01", "presentedForm": [att],
         "conclusion": "Seen with Rich Field", "performer": [{"display": "Leopold Ashgrove"}]},
        {"resourceType": "Media", "id": "media3", "status": "completed", "subject": subject,
         "content": att},
        {"resourceType": "Binary", "id": "bin3", "contentType": "text/plain", "data": _b64(note)},
    ]  # fmt: skip


def _encounter(subject: dict, when: str) -> dict:
    _plant("hospitalization", "Harrowgate", "Quintus", "Wrenhaven")
    return {
        "resourceType": "Encounter", "id": "enc3", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "183452005"}]}],
        "subject": subject, "period": {"start": when, "end": when},
        "hospitalization": {
            "origin": {"display": "Home of Quintus Harrowgate"},
            "destination": {"reference": "Location/wh", "display": "Wrenhaven Nursing Home"},
            "dischargeDisposition": {"text": "to Quintus Harrowgate"},
        },
    }  # fmt: skip


def _provenance(pref: str) -> dict:
    _plant("provenance", "Crystal Ball")
    return {"resourceType": "Provenance", "id": "prov3", "target": [{"reference": pref}],
            "recorded": "2025-02-01T00:00:00Z",
            "agent": [{"who": {"display": "Crystal Ball"},
                       "onBehalfOf": {"display": "Crystal Ball"}}]}  # fmt: skip


def _allergy(subject: dict, when: str) -> dict:
    _plant("allergy", "Ashdown", "Peregrine", "Tamsin", "Chance Meeting")
    return {
        "resourceType": "AllergyIntolerance", "id": "alg3",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "232347008"}]},
        "patient": subject, "recordedDate": when,
        "note": [{"authorString": "Chance Meeting", "text": "Reported by Peregrine Ashdown"}],
        "reaction": [{"manifestation": [{"text": "hives after peregrine ashdown's cat"}],
                      "description": "at Peregrine Ashdown's house",
                      "note": [{"text": "per tamsin ashdown"}]}],
    }  # fmt: skip


def _meta(obs: dict) -> dict:
    _plant("meta", "MRN71200488", "71200488", "Lindqvist")
    tagged = observation_like(obs, "planted-meta3", valueQuantity=obs.get("valueQuantity"))
    tagged["valueQuantity"] = obs["valueQuantity"]
    tagged["meta"] = {"source": "#ehr-MRN71200488",
                      "tag": [{"code": "x", "display": "Entered by Lindqvist"}]}  # fmt: skip
    return tagged


def _single_references(entries: list[dict]) -> None:
    # References of elements that do not repeat (MedicationRequest.requester,
    # Condition.asserter and recorder), where the repeating ones (performer) are lists
    _plant("single_references", "Ginger Snap", "Frank Talk", "Art Work")
    first = {}
    for e in entries:
        first.setdefault(e["resource"]["resourceType"], e["resource"])
    first["MedicationRequest"]["requester"] = {"display": "Dr. Ginger Snap"}
    first["Condition"]["asserter"] = {"reference": "Practitioner/p9", "display": "Frank Talk"}
    first["Condition"]["recorder"] = {"display": "Art Work"}


def _more_people(subject: dict, when: str) -> list[dict]:
    # people of resources round 2 did not plant: the relative who picks up a dispense, the
    # recipient of a message, a report's interpreter
    _plant("more_people", "Major Key", "Drew Card", "Ray Light")
    code = {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]}
    return [
        {"resourceType": "MedicationDispense", "id": "md3", "status": "completed",
         "subject": subject, "medicationCodeableConcept": {"text": "x"},
         "receiver": [{"reference": "RelatedPerson/r8", "display": "Major Key"}]},
        {"resourceType": "Communication", "id": "com3", "status": "completed",
         "subject": subject, "recipient": [{"display": "Drew Card"}],
         "sender": {"reference": "Organization/o1", "display": "Ward 3"}},
        {"resourceType": "DiagnosticReport", "id": "dr4", "status": "final", "code": code,
         "subject": subject, "effectiveDateTime": when,
         "resultsInterpreter": [{"display": "Dr. Ray Light"}]},
    ]  # fmt: skip


def _related(subject: dict) -> dict:
    # a RelatedPerson of the Bundle (round 2 planted one contained in an Observation)
    _plant("related_person", "Sandy Beach", "412-555-0177")
    return {"resourceType": "RelatedPerson", "id": "rp3", "patient": subject,
            "relationship": [{"coding": [{"code": "FRND"}]}],
            "name": [{"text": "Sandy Beach"}],
            "telecom": [{"system": "phone", "value": "412-555-0177"}]}  # fmt: skip


#: The reviewed note that names each place's people and numbers, in the lower case the
#: clinical engine keeps: only the known values of the patient's record find the names.
NOTE = (
    "ssn 999-61-4423, licence s99957321, passport x71350913x. mother araminta thistlewood, "
    "birthplace fall river. next of kin mark stone, 412-555-0193, 41 heronsgate walk, "
    "pellingford; works at dunlin mills. subscriber faith hill, member wxh88213390, group "
    "grp-4471902, plan 7730215, corbridge mutual. claim clm-55203317 and eob-99120457 "
    "entered by will power; paid to patience gate. fall at 3 tannery close, quillsby. going "
    "to wrenhaven nursing home. note by crystal ball. discharge note by rich field for "
    "leopold ashgrove. allergy per chance meeting. tamsin ashdown and peregrine ashdown "
    "visit. ordered by ginger snap; asserted by frank talk; recorded by art work. carer: "
    "sandy beach, 412-555-0177. picked up by major key. message to drew card. interpreted by "
    "ray light."
)


def _plant_fhir(raw: Path) -> None:
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    entries = bundle["entry"]
    patient = entries[0]["resource"]
    pref = entries[0]["fullUrl"]
    subject = {"reference": pref}
    obs = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation")
    when = obs["effectiveDateTime"]
    _ids(patient)
    _extensions(patient)
    _contact(patient)
    _single_references(entries)
    resources = [
        *_coverage(subject),
        *_claims(subject),
        *_documents(subject),
        _encounter(subject, when),
        _provenance(pref),
        _allergy(subject, when),
        _meta(obs),
        _related(subject),
        *_more_people(subject, when),
        # a reviewed note naming each place's people and numbers
        _note(obs, "planted-note3", NOTE),
    ]
    entries += [fhir_entry(r) for r in resources]
    file.write_text(json.dumps(bundle))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted3")
    raw = small_study(root)
    _plant_fhir(raw)
    return root, run_both(raw, root)


PLACES = ["synthea_ids", "birth_extensions", "contact", "coverage", "claims", "documents",
          "hospitalization", "provenance", "allergy", "meta", "single_references",
          "related_person", "more_people"]  # fmt: skip


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_run_publishes_with_a_clean_scan(runs, label):
    root, results = runs
    assert results[label].phi_findings == []
    assert (root / label / "events.parquet").exists()


@pytest.mark.parametrize("label", ["scrub", "default"])
@pytest.mark.parametrize("place", PLACES)
def test_planted_identifiers_reach_no_published_file(runs, place, label):
    root, _ = runs
    text = published_text(root / label).lower()
    leaks = [v for v in PLANTED[place] if v.lower() in text]
    assert not leaks, {v: where_found(root, label, v) for v in leaks}


def test_an_organization_display_found_through_its_urn_is_no_name(tmp_path):
    """A Claim's provider written as a Bundle's ``urn:uuid:`` reference to an Organization of
    the file is no person: its name is no known value (it would remove "Health" from every
    note); a provider that is a Practitioner, or no resource of the file, is a name."""
    from twinlab.ingest.fhir import read_fhir

    pid, org = "urn:uuid:p-1", "urn:uuid:o-1"
    claim = {"resourceType": "Claim", "id": "c1", "patient": {"reference": pid},
             "provider": {"reference": org, "display": "Hallmark Health"},
             "careTeam": [{"sequence": 1, "provider": {"reference": "urn:uuid:x-9",
                                                       "display": "Dr. Ray Light"}}]}  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": pid, "resource": {"resourceType": "Patient", "id": "p-1"}},
        {"fullUrl": org, "resource": {"resourceType": "Organization", "id": "o-1",
                                      "name": "Hallmark Health"}},
        {"fullUrl": "urn:uuid:c-1", "resource": claim},
    ]}  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    (phi,) = read_fhir(tmp_path / "b.json").persons["phi"]
    assert phi["related"] == [{"name": [{"text": "Ray Light"}]}]


def _synthea_bundle() -> Path:
    """The smallest Synthea bundle of the shared data (skips when it is absent)."""
    from repo_helpers import shared_data

    files = sorted((shared_data() / "fhir" / "synthea_smart").glob("*_*-*.json"))
    if not files:
        pytest.skip("the shared Synthea bundles are not present")
    return min(files, key=lambda f: (f.stat().st_size, f.name))


def test_a_real_synthea_bundle_names_no_payer_or_relative(tmp_path):
    """A copy of a real Synthea bundle, its ExplanationOfBenefit's contained Coverage given a
    subscriber, its care team and payee named, its Claim an enterer, its Patient a contact,
    and a reviewed note naming them all: harmonized, none of them is published."""
    bundle = json.loads(_synthea_bundle().read_text())
    res = [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"]: r for r in reversed(res)}  # the first of each type
    kinds["Patient"]["contact"] = [{"name": {"text": "Mark Stone"}}]
    eob, claim = kinds["ExplanationOfBenefit"], kinds["Claim"]
    coverage = next(c for c in eob["contained"] if c["resourceType"] == "Coverage")
    coverage["subscriber"] = {"display": "Faith Hill"}
    eob["careTeam"][0]["provider"]["display"] = "Will Power"
    eob["payee"] = {"party": {"display": "Patience Gate"}}
    claim["enterer"] = {"display": "Crystal Ball"}
    note = _note(
        kinds["Observation"],
        "planted-synthea-note",
        "seen with mark stone; subscriber faith hill; care team will power; paid to patience "
        "gate; entered by crystal ball.",
    )
    bundle["entry"].append(fhir_entry(note))
    (tmp_path / "raw" / "fhir").mkdir(parents=True)
    (tmp_path / "raw" / "fhir" / "synthea.json").write_text(json.dumps(bundle))
    results = run_both(tmp_path / "raw", tmp_path)
    for label in ("scrub", "default"):
        assert results[label].phi_findings == []
        text = published_text(tmp_path / label).lower()
        assert "seen with" in text or label == "default"  # the note is published, scrubbed
        names = ("Mark Stone", "Faith Hill", "Will Power", "Patience Gate", "Crystal Ball")
        assert not [n for n in names if n.lower() in text], label
