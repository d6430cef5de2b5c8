"""Identifiers are matched with context: codes and numbers are clinical data, not PHI text."""

from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from twinlab.deid import DeidKey, IdentifierSet, TextScrubber, deidentify, scan_for_phi

ZIPS = IdentifierSet([("zip", "83022"), ("zip", "30841"), ("zip", "84624"), ("zip", "10000")])


@pytest.mark.parametrize(
    "text", ["LOINC 8302-2", "urate 3084-1", "dia 8462-4", "[0.0, 10000.0]", "10000.5 U/L",
             "1.10000", "a8302-2"],
)  # fmt: skip
def test_zip_codes_do_not_match_codes_or_decimal_numbers(text):
    assert list(ZIPS.finditer(text)) == []
    assert TextScrubber(ZIPS).scrub(text) == text


@pytest.mark.parametrize("text", ["ZIP 83022", "lives in 84624.", "30841-1234", "zip:10000"])
def test_a_zip_code_in_free_text_is_still_found(text):
    assert [k for k, _, _ in ZIPS.finditer(text)] == ["zip"]
    assert "[ZIP]" in TextScrubber(ZIPS).scrub(text)


def test_numbers_match_in_their_own_groupings_only():
    ids = IdentifierSet([("ssn", "900-12-3456"), ("phone", "(617) 555-0142"),
                         ("birth_date", "1950-03-07")])  # fmt: skip
    found = lambda t: [k for k, _, _ in ids.finditer(t)]  # noqa: E731
    assert found("900 12 3456 / 900123456 / 617 555 0142 / 617-5550142 / 03/07/1950") == [
        "ssn", "ssn", "phone", "phone", "birth_date"]  # fmt: skip
    assert found("9001-23456 61755-50142 1950030-7") == []


def _persons(zips):
    return pd.DataFrame(
        {
            "source_patient": [f"pt-{i:04d}" for i in range(len(zips))],
            "identifiers": [[] for _ in zips],
            "sex": "F",
            "birth_date": "1960-01-01",
            "deceased": None,
            "site": "S01",
            "phi": [{"address": [{"postalCode": z}]} for z in zips],
        }
    )


def test_deidentify_keeps_codes_units_and_numbers_and_scrubs_free_text():
    zips = ["83022", "30841", "84624"]
    persons = _persons(zips)
    codes = ["8302-2", "3084-1", "8462-4"]
    events = pd.DataFrame(
        {
            "source_patient": [p for p in persons["source_patient"] for _ in codes],
            "time": pd.Timestamp("2024-01-02T03:04:05Z"),
            "domain": "lab",
            "code_system": "http://loinc.org",
            "code": codes * 3,
            "display": [f"code {c} for ZIP {z}" for z in zips for c in codes],
            "value_num": 84624.0,
            "orig_value": "84624",
            "unit": "cm",
            "source_file": "a.json",
            "source_record": [f"entry[{i}]" for i in range(9)],
        }
    )
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    assert ev["code"].tolist() == codes * 3
    assert (ev["orig_value"] == "84624").all() and (ev["value_num"] == 84624.0).all()
    assert ev["display"].tolist() == [f"code {c} for ZIP [ZIP]" for _ in zips for c in codes]


def test_scan_reports_zip_in_text_but_not_in_codes_or_report_numbers(tmp_path):
    ids = IdentifierSet([("zip", "83022"), ("zip", "10000")])
    quality = {"checks": [{"name": "range.1742-6", "description": "within [0.0, 10000.0] U/L",
                           "bounds": [0.0, 10000.0], "n": 10000}]}  # fmt: skip
    (tmp_path / "quality.json").write_text(json.dumps(quality))
    table = pa.table(
        {
            "code_system": ["http://loinc.org"],
            "code": ["8302-2"],
            "unit": ["cm"],
            "value_text": ["ok"],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    assert scan_for_phi(tmp_path, ids) == []
    pq.write_table(
        pa.table({"code_system": ["LOINC"], "code": ["8302-2"], "value_text": ["new ZIP 83022"]}),
        tmp_path / "leak.parquet",
    )
    (tmp_path / "note.json").write_text(json.dumps({"note": "lives at 10000"}))
    found = {(f.file.rsplit("/", 1)[-1], f.kind) for f in scan_for_phi(tmp_path, ids)}
    assert found == {("leak.parquet", "zip"), ("note.json", "zip")}


@pytest.mark.parametrize(
    "text",
    [
        "BLQ",
        "<LLOQ",
        "Creatinine [Moles/volume] in Serum or Plasma",
        "VKORC1 c.-1639G>A (reduced expression; warfarin sensitivity)",
    ],
)
def test_result_words_code_names_and_hgvs_positions_are_not_phi(text):
    """Found in the demo's outputs as ``[PHI]``: 409 BLQ concentrations, two code names."""
    from twinlab.deid.engine import philter_spans

    assert philter_spans(text) == []


def test_a_position_without_its_hgvs_prefix_and_a_name_are_still_phi():
    from twinlab.deid.engine import philter_spans

    text = "MRN 1639G seen by Hallie Brightwater"
    assert [text[s:e] for _, s, e in philter_spans(text)] == ["1639G", "Hallie Brightwater"]


def _with_qualifiers(qualifiers: list) -> pd.DataFrame:
    """Events of one patient, one per qualifiers object."""
    n = len(qualifiers)
    return pd.DataFrame(
        {
            "source_patient": ["pt-0000"] * n,
            "time": pd.Timestamp("2024-01-02T03:04:05Z"),
            "domain": "dose",
            "code": "X",
            "source_file": "a.json",
            "source_record": [f"entry[{i}]" for i in range(n)],
            "qualifiers": qualifiers,
        }
    )


def test_free_text_qualifiers_get_the_clinical_engine_coded_ones_do_not():
    """SUPPQUAL comments, dosage text and undeclared qualifier keys are free text: a name no
    source listed (a relative, a clinician) must go; coded qualifiers keep brand names."""
    persons = _persons(["02139"])
    events = _with_qualifiers([
        {"supp": {"COMVAL": "husband Dmitri Volkov refused the draw"},
         "regimen": "as told by Dr. Hallie Brightwater", "route": "Oral",
         "device": "Medtronic Azure XT", "arm": "Xanomeline High Dose",
         "ethnic": "NOT HISPANIC OR LATINO", "country": "USA", "chrom": "chr22"},
        json.dumps({"abatement": "per daughter Keiko Tanaka", "note_x": "Keiko Tanaka",
                    "fhir_status": "final"}),
    ])  # fmt: skip
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    text = json.dumps(ev["qualifiers"].tolist())
    for name in ("Dmitri", "Volkov", "Hallie", "Brightwater", "Keiko", "Tanaka"):
        assert name not in text
    q0 = ev["qualifiers"].iloc[0]
    assert q0["route"] == "Oral" and q0["device"] == "Medtronic Azure XT"
    assert (q0["arm"], q0["ethnic"], q0["country"], q0["chrom"]) == (
        "Xanomeline High Dose", "NOT HISPANIC OR LATINO", "USA", "chr22")  # fmt: skip
    assert q0["supp"]["COMVAL"].startswith("husband [")
    assert json.loads(ev["qualifiers"].iloc[1])["fhir_status"] == "final"


def test_the_source_coding_of_a_mapped_code_is_coded_not_free_text():
    """An SDTM test code mapped to LOINC kept its source system as '[PHI]': the engine read
    "CDISC SDTM LBTESTCD" as a name. The source display stays free text."""
    persons = _persons(["02139"])
    events = _with_qualifiers([
        {"source_system": "CDISC SDTM LBTESTCD", "source_code": "GLUC",
         "source_display": "Glucose, ask Dr. Hallie Brightwater"},
        {"source_system": "http://hospital.example.org/p/dmitri-volkov", "source_code": "GLU"},
    ])  # fmt: skip
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    q0, q1 = ev["qualifiers"].iloc[0], ev["qualifiers"].iloc[1]
    assert (q0["source_system"], q0["source_code"]) == ("CDISC SDTM LBTESTCD", "GLUC")
    assert "Brightwater" not in q0["source_display"]
    assert "volkov" not in q1["source_system"].lower()


def test_contact_relationship_language_and_marital_status_are_no_known_identifiers():
    """Known values are removed everywhere: 'daughter' or 'English' as one would blank every
    family history; the contact's name stays an identifier."""
    from twinlab.deid.identifiers import person_identifiers

    row = {"source_patient": "p1", "identifiers": [], "phi": {
        "name": "Zoe Ann", "marital_status": "Married", "language": "English",
        "contact": [{"relationship": [{"coding": [{"code": "N", "display": "Next-of-Kin"}],
                                       "text": "daughter"}],
                     "name": {"family": "Okonkwo", "given": ["Chidinma"]}}]}}  # fmt: skip
    ids = IdentifierSet(person_identifiers(row))
    scrub = TextScrubber(ids, engine=False).scrub
    # one placeholder for the whole name: a relative's given name and surname are also one
    # pattern span (round 5: "brother Sonny Day"), merged with the two known values
    assert scrub("daughter Chidinma Okonkwo (Next-of-Kin), married, speaks English") == (
        "daughter [NAME] (Next-of-Kin), married, speaks English"
    )


def test_ages_over_89_in_age_events_are_capped_at_90():
    """An Observation 'Age' (LOINC 30525-0) of 93 a, an 'Age at diagnosis' of 1140 months:
    ages over 89 in structured values too; other values and young ages are left alone."""
    persons = _persons(["02139"])
    events = pd.DataFrame(
        {
            "source_patient": ["pt-0000"] * 5,
            "time": pd.Timestamp("2024-01-02T03:04:05Z"),
            "domain": "other",
            "code_system": "http://loinc.org",
            "code": ["30525-0", "X1", "X2", "30525-0", "2160-0"],
            "display": ["Age", "Age at diagnosis", "Gestational age", "Age", "Creatinine"],
            "value_num": [93.0, 1140.0, 39.0, 45.0, 93.0],
            "unit": ["a", "mo", "wk", "a", "umol/L"],
            "orig_value": ["93", "1140", "39", "45", "93"],
            "source_file": "a.json",
            "source_record": [f"entry[{i}]" for i in range(5)],
        }
    )
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    assert ev["value_num"].tolist() == [90.0, 1080.0, 39.0, 45.0, 93.0]
    assert ev["orig_value"].tolist() == ["90+", "90+", "39", "45", "93"]
    assert ev.attrs["ages_capped"] == 2


def test_references_to_other_records_become_keyed_pseudonyms():
    """An encounter's and a resource's own id (FHIR fullUrl, Type/id) are the EHR's record ids:
    published as keyed pseudonyms, the same for the same reference. Scrubbed as free text they
    came out half-removed ('urn:uuid:[DATE]-19c5-4263-a9f8-[PHI]') or whole."""
    persons = _persons(["02139"])
    enc = "urn:uuid:ca73b1a1-5b52-41f9-9b61-2a0dd0e175a1"
    events = _with_qualifiers(
        [
            {"encounter": enc, "fhir_ref": "urn:uuid:2019-03-07-19c5-4263-a9f8-1f2e3d4c5b6a"},
            json.dumps({"encounter": enc, "fhir_ref": "Observation/8812"}),
            {"fhir_status": "final"},
        ]
    )
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    q = [x if isinstance(x, dict) else json.loads(x) for x in ev["qualifiers"]]
    assert q[0]["encounter"] == q[1]["encounter"] != enc
    assert all(
        re.fullmatch(r"ref-[A-Z2-7]{16}", x[k]) for x in q[:2] for k in ("encounter", "fhir_ref")
    )
    assert q[0]["fhir_ref"] != q[1]["fhir_ref"]
    assert "8812" not in json.dumps(q) and "ca73b1a1" not in json.dumps(q)
    _, again, _ = deidentify(persons, events, key=DeidKey(bytes(31) + b"\x01"))
    assert json.loads(again["qualifiers"].iloc[1])["encounter"] != q[1]["encounter"]  # keyed
