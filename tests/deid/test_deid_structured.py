"""Red team of PHI in structured fields: identifier items, ages without a time unit, codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from twinlab.deid import DeidKey, IdentifierSet
from twinlab.deid.tables import deidentify
from twinlab.deid.text import TextScrubber
from twinlab.ingest.fhir import read_fhir
from twinlab.ingest.odm import read_odm
from twinlab.ingest.wearables import read_wearables

KEY = DeidKey(bytes(range(32)))

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="F.9"
 CreationDateTime="2023-01-01T00:00:00" ODMVersion="1.3.2">
<Study OID="ST.Q"><GlobalVariables><StudyName>Q</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>P</ProtocolName></GlobalVariables><MetaDataVersion OID="MDV.1" Name="v1">
<ItemDef OID="IT.VISDAT" Name="VISDAT" DataType="date"/>
<ItemDef OID="IT.ZIP" Name="ZIP" DataType="integer"/>
<ItemDef OID="IT.HPHONE" Name="HOME_PHONE" DataType="integer"/>
<ItemDef OID="IT.SSN" Name="SSN" DataType="integer"/>
<ItemDef OID="IT.BRTHYR" Name="BRTHYR" DataType="integer"/>
<ItemDef OID="IT.AGE" Name="AGE" DataType="integer"/>
<ItemDef OID="IT.WEIGHT" Name="WEIGHT" DataType="float"/>
<ItemDef OID="IT.NOK" Name="NEXT_OF_KIN" DataType="text"/>
</MetaDataVersion></Study>
<ClinicalData StudyOID="ST.Q" MetaDataVersionOID="MDV.1"><SubjectData SubjectKey="0042">
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.C"><ItemGroupData ItemGroupOID="IG.C">
<ItemData ItemOID="IT.VISDAT" Value="2021-07-19"/>
<ItemData ItemOID="IT.ZIP" Value="57301"/>
<ItemData ItemOID="IT.HPHONE" Value="6055550178"/>
<ItemData ItemOID="IT.SSN" Value="478201936"/>
<ItemData ItemOID="IT.BRTHYR" Value="1927"/>
<ItemData ItemOID="IT.AGE" Value="94"><MeasurementUnitRef MeasurementUnitOID="MU.YRS"/></ItemData>
<ItemData ItemOID="IT.WEIGHT" Value="63.4"/>
<ItemData ItemOID="IT.NOK" Value="Hildebrand"/>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>
"""

PLANTED = ("57301", "6055550178", "478201936", "1927", "94", "Hildebrand")


def _persons(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"source_patient": keys, "identifiers": [[] for _ in keys], "sex": "F",
                         "birth_date": None, "deceased": None, "site": None,
                         "phi": [{} for _ in keys]})  # fmt: skip


def test_edc_integer_items_holding_identifiers_lose_their_value(tmp_path: Path) -> None:
    # an EDC form's integer items: ZIP code, phone, SSN, year of birth; numbers are clinical
    # data, but these numbers are the identifiers themselves (so is a next of kin's name)
    path = tmp_path / "contact.xml"
    path.write_text(ODM, encoding="utf-8")
    res = read_odm(path)
    keys = sorted(set(res.events["source_patient"]))
    _, ev, _ = deidentify(_persons(keys), res.events.assign(source_file="c.xml"), key=KEY)
    by = ev.set_axis(res.events["display"].tolist())  # the item names, before scrubbing
    for name in ("ZIP", "HOME_PHONE", "SSN", "BRTHYR", "NEXT_OF_KIN"):
        assert np.isnan(by.loc[name, "value_num"])
        assert pd.isna(by.loc[name, "orig_value"]) and pd.isna(by.loc[name, "value_text"])
    assert ev.attrs["identifier_values_dropped"] == 5
    # clinical numbers stay; the age (unit OID left unresolved) is capped at 90 years
    assert by.loc["WEIGHT", "value_num"] == 63.4
    assert (by.loc["AGE", "value_num"], by.loc["AGE", "orig_value"]) == (90.0, "90+")
    cols = ["display", "value_num", "orig_value", "value_text", "qualifiers"]
    published = " ".join(str(v).removesuffix(".0") for v in ev[cols].to_numpy().ravel())
    for value in PLANTED:
        assert value not in published


def _events(system: str, **columns: list) -> pd.DataFrame:
    """Events of patient ``p1`` with the given columns, one per list element."""
    rows = [f"entry[{i}]" for i in range(len(columns["code"]))]
    return pd.DataFrame({"source_patient": "p1", "time": pd.Timestamp("2024-01-02T03:04:05Z"),
                         "domain": "other", "code_system": system, "source_file": "a.json",
                         "source_record": rows, **columns})  # fmt: skip


def test_identifier_items_by_standard_code_and_by_question() -> None:
    events = _events(
        "http://loinc.org",
        code=["45401-7", "29463-7", "2951-2", "8302-2"],
        display=[None, "Year of birth", "Telephone consultation", "Body height"],
        value_num=[57301.0, 1927.0, 140.0, 172.0],
        orig_value=["57301", "1927", "140", "172"],
    )
    _, ev, _ = deidentify(_persons(["p1"]), events, key=KEY)
    assert ev["value_num"].isna().tolist() == [True, True, False, False]
    assert ev["orig_value"].tolist()[2:] == ["140", "172"]
    assert ev["orig_value"].isna().tolist()[:2] == [True, True]


def test_an_age_in_no_time_unit_is_read_in_years_and_capped() -> None:
    events = _events(
        "ODM:ST.Q",
        code=["IT.AGE", "IT.AGE2", "IT.AGE3"],
        display=["Age at consent"] * 3,
        value_num=[97.0, 97.0, 18.0],
        orig_value=["97", "97", "18"],
        unit=["MU.YRS", None, "MU.YRS"],
    )
    _, ev, _ = deidentify(_persons(["p1"]), events, key=KEY)
    assert ev["value_num"].tolist() == [90.0, 90.0, 18.0]
    assert ev["orig_value"].tolist() == ["90+", "90+", "18"]
    assert ev.attrs["ages_capped"] == 2


def _fhir(tmp_path: Path, resources: list[dict]) -> Path:
    path = tmp_path / "bundle.json"
    entries = [{"resource": r} for r in resources]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": entries}))  # fmt: skip
    return path


def test_text_only_concepts_in_coded_qualifiers_are_scrubbed_as_free_text(tmp_path: Path) -> None:
    # a CodeableConcept with no coding carries free text; in a coded qualifier (known values
    # and patterns only) a neighbour's name went through
    patient = {"resourceType": "Patient", "id": "pq", "gender": "male", "birthDate": "1970-02-03",
               "name": [{"family": "Ostrander", "given": ["Leofric"]}]}  # fmt: skip
    loinc = {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}
    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "code": loinc,
           "subject": {"reference": "Patient/pq"}, "effectiveDateTime": "2023-06-01T08:00:00Z",
           "dataAbsentReason": {"text": "refused; ask neighbour Wendeline Athelstan"},
           "category": [{"text": "drawn at home by neighbour Wendeline Athelstan"}]}  # fmt: skip
    coded = {"resourceType": "Observation", "id": "o2", "status": "final", "code": loinc,
             "subject": {"reference": "Patient/pq"}, "effectiveDateTime": "2023-06-02T08:00:00Z",
             "valueQuantity": {"value": 99, "unit": "mg/dL"},
             "interpretation": [{"coding": [{"code": "N"}], "text": "normal"}]}  # fmt: skip
    med = {"resourceType": "MedicationStatement", "id": "m1", "status": "active",
           "subject": {"reference": "Patient/pq"}, "effectiveDateTime": "2023-06-02",
           "medicationCodeableConcept": {"coding": [
               {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]},
           "dosage": [{"route": {"text": "given by neighbour Wendeline Athelstan"}}]}  # fmt: skip
    res = read_fhir(_fhir(tmp_path, [patient, obs, coded, med]))
    quals = res.events["qualifiers"].tolist()
    assert "data_absent_reason" not in quals[0] and "category" not in quals[0]
    assert quals[0]["category_text"].startswith("drawn at home")
    assert quals[1]["interpretation"] == "N" and "interpretation_text" not in quals[1]
    assert quals[2]["route_text"].startswith("given by")
    events = res.events.assign(source_file="bundle.json")
    _, ev, _ = deidentify(res.persons, events, key=KEY)
    published = json.dumps(ev["qualifiers"].tolist())
    assert "Wendeline" not in published and "Athelstan" not in published
    assert json.loads(published)[1]["interpretation"] == "N"


def test_a_device_named_by_its_owner_publishes_the_model_only(tmp_path: Path) -> None:
    # phones and watches name themselves after their owner ("Ann's Apple Watch"); the device
    # field is published as a model (events' device qualifier, series attributes)
    stamps = pd.date_range("2025-04-01", periods=1500, freq="min").strftime("%Y-%m-%dT%H:%M:%S")
    header = ["# Kestrel Health data export", "# device: Gwendolyn Ashworth-Pike's Kestrel Band",
              "# serial_number: KQ-7F00D1E5", "# timezone: UTC+01:00",
              "timestamp,heart_rate,steps"]  # fmt: skip
    rows = [f"{t}+01:00,{60 + i % 30},{i % 9}" for i, t in enumerate(stamps)]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    res = read_wearables(path)
    assert res.series["KQ-7F00D1E5"].attrs["device"] == "Kestrel Band"
    assert res.persons["phi"].iloc[0]["device_owner"] == "Gwendolyn Ashworth-Pike"
    _, ev, _ = deidentify(res.persons, res.events.assign(source_file="export.csv"), key=KEY)
    assert {q["device"] for q in ev["qualifiers"]} == {"Kestrel Band"}
    assert "Gwendolyn" not in json.dumps(ev["qualifiers"].tolist())


def _quals(events: pd.DataFrame) -> list[dict]:
    return [json.loads(q) if isinstance(q, str) else q for q in events["qualifiers"]]


def test_sponsor_terms_lose_planted_names_and_keep_real_terms() -> None:
    # VISIT, --TPT, --LOC, --POS are sponsor-defined text; the reader publishes them as coded
    # qualifiers, which ran without the engine: a name nobody knew passed ("WEEK 4 JOHN SMITH")
    from twinlab.ingest.sdtm import read_sdtm_frame

    vs = pd.DataFrame({
        "STUDYID": "S1", "DOMAIN": "VS", "USUBJID": "S1-001", "VSSEQ": [1, 2, 3],
        "VSTESTCD": "SYSBP", "VSTEST": "Systolic Blood Pressure", "VSORRES": ["120", "118", "121"],
        "VSORRESU": "mmHg", "VSSTRESN": [120.0, 118.0, 121.0], "VSSTRESU": "mmHg",
        "VSDTC": ["2021-01-04", "2021-01-18", "2021-02-01"],
        "VISIT": ["WEEK 2", "WEEK 4 JOHN SMITH", "UNSCHEDULED 3.1"],
        "VSTPT": ["AFTER STANDING FOR 1 MINUTE", "5 MIN POST DOSE Margaret Thatcher", "Pre-dose"],
        "VSLOC": ["LEFT ARM", "ORAL CAVITY", "arm of Linda Garcia"],
        "VSPOS": ["SUPINE", "STANDING", "SITTING"],
    })  # fmt: skip
    res = read_sdtm_frame(vs, source_file="vs.csv")
    _, ev, _ = deidentify(_persons(["S1-001"]), res.events.assign(source_file="vs.csv"), key=KEY)
    quals = _quals(ev)
    published = json.dumps(quals)
    for name in ("JOHN", "SMITH", "Margaret", "Thatcher", "Linda", "Garcia"):
        assert name not in published
    assert [q["visit"] for q in quals] == ["WEEK 2", "WEEK 4 [NAME]", "UNSCHEDULED 3.1"]
    assert quals[0]["timepoint"] == "AFTER STANDING FOR 1 MINUTE"
    assert quals[2]["timepoint"] == "Pre-dose"
    assert [q["location"] for q in quals[:2]] == ["LEFT ARM", "ORAL CAVITY"]
    assert [q["position"] for q in quals] == ["SUPINE", "STANDING", "SITTING"]


def test_coded_terms_keep_real_words_that_the_engine_would_remove() -> None:
    # the engine's catch-all read 'LATINO' and 'LB' as PHI; a single name word ('EMER', an
    # encounter class) is no name either
    events = _events(
        "http://loinc.org",
        code=["8302-2"] * 3,
        qualifiers=[{"ethnic": "NOT HISPANIC OR LATINO", "class": "EMER"},
                    {"item_group": "IG.LB", "form": "LABDATA", "study_event": "SE.VISIT 1"},
                    {"item_group": "IG.JOHN_SMITH", "class": "seen by Margaret Thatcher"}],
    )  # fmt: skip
    _, ev, _ = deidentify(_persons(["p1"]), events, key=KEY)
    quals = _quals(ev)
    assert quals[0] == {"ethnic": "NOT HISPANIC OR LATINO", "class": "EMER"}
    assert quals[1] == {"item_group": "IG.LB", "form": "LABDATA", "study_event": "SE.VISIT 1"}
    # an Encounter.class is a vocabulary qualifier (v3 ActEncounterCode): text there is null
    assert quals[2] == {"item_group": "IG.[NAME]", "class": None}


def _deid_odm(tmp_path: Path, item_group: str) -> pd.DataFrame:
    """The de-identified events of :data:`ODM` with its item group OID set to ``item_group``."""
    path = tmp_path / "study.xml"
    path.write_text(ODM.replace('"IG.C"', f'"{item_group}"'), encoding="utf-8")
    res = read_odm(path)
    keys = sorted(set(res.events["source_patient"]))
    return deidentify(_persons(keys), res.events.assign(source_file="study.xml"), key=KEY)[1]


def test_odm_item_group_oids_are_kept_as_study_metadata(tmp_path: Path) -> None:
    # 2,037 item-group OIDs of the shared corpus were published as 'IG.[PHI]'
    quals = _quals(_deid_odm(tmp_path, "IG.LB"))
    assert {q["item_group"] for q in quals} == {"IG.LB"}
    assert {q["study_event"] for q in quals} == {"SE.V1"}


def test_a_name_in_an_odm_oid_leaves_the_qualifiers_and_the_record_pointer(tmp_path: Path) -> None:
    # the pointer holds the sponsor's OIDs too (ItemGroupData[IG.JOHN_SMITH]): it lost known
    # values and dates only
    ev = _deid_odm(tmp_path, "IG.JOHN_SMITH")
    assert {q["item_group"] for q in _quals(ev)} == {"IG.[NAME]"}
    pointers = ev["source_record"].tolist()
    assert all("ItemGroupData[IG.[NAME]]" in p and "JOHN" not in p for p in pointers)
    assert len(set(pointers)) == len(pointers)
    # only there: a keyed file id spells names by chance ("EU5TOK"), and must stay as it is
    assert set(ev["source_file"]) == {"study.xml"}
    scrub = TextScrubber(IdentifierSet())
    assert scrub.scrub_pointer("src-KXQKTRXEW5EU5TOK") == "src-KXQKTRXEW5EU5TOK"


def _immunization_bundle(tmp_path: Path, lots: list[str]) -> Path:
    patient = {"resourceType": "Patient", "id": "pq", "gender": "male", "birthDate": "1970-02-03",
               "name": [{"family": "Ostrander", "given": ["Leofric"]}]}  # fmt: skip
    shots = [
        {"resourceType": "Immunization", "id": f"i{i}", "status": "completed",
         "patient": {"reference": "Patient/pq"}, "occurrenceDateTime": "2023-06-01T08:00:00Z",
         "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
         "lotNumber": lot}
        for i, lot in enumerate(lots)
    ]  # fmt: skip
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "subject": {"reference": "Patient/pq"},
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB Leofric Ostrander"},
                 "period": {"start": "2023-06-01T08:00:00Z"}}  # fmt: skip
    return _fhir(tmp_path, [patient, *shots, encounter])


def test_lot_numbers_are_kept_unless_they_hold_phi(tmp_path: Path) -> None:
    # a lot number identifies a manufactured batch, not a patient: kept (the 'LOT' label and
    # the serial shape made 'LOT [MRN]' of it), but not a patient's name or a phone number in it
    # (a serial's letters spell names by chance, "EU5TOK": a token with digits has no words)
    lots = ["LOT 12345X", "EW0182", "X7Y8Z9", "OSTRANDER-7", "call 617-555-0100",
            "JOHN SMITH 44", "KXQKTRXEW5EU5TOK"]  # fmt: skip
    res = read_fhir(_immunization_bundle(tmp_path, lots))
    _, ev, _ = deidentify(res.persons, res.events.assign(source_file="b.json"), key=KEY)
    quals = _quals(ev)
    published = [q["lot_number"] for q in quals if "lot_number" in q]
    assert published == ["LOT 12345X", "EW0182", "X7Y8Z9", "[NAME]-7", "call [PHONE]",
                         "[NAME] 44", "KXQKTRXEW5EU5TOK"]  # fmt: skip
    # the encounter class is a code of v3 ActEncounterCode (a vocabulary qualifier): text in
    # it, the patient's name here, makes it null (it was "AMB [NAME]...")
    (klass,) = [q["class"] for q in quals if "class" in q]
    assert klass is None


def test_a_wearable_local_date_is_shifted_with_its_patient(tmp_path: Path) -> None:
    # the local day of a daily summary was published as '[DATE]': useless, and unlike every
    # other date of the patient, which is shifted
    stamps = pd.date_range("2025-04-01", periods=3 * 1440, freq="min")
    header = ["# Kestrel Health data export", "# serial_number: KQ-7F00D1E5",
              "# timezone: UTC+01:00", "timestamp,heart_rate,steps"]  # fmt: skip
    rows = [f"{t:%Y-%m-%dT%H:%M:%S}+01:00,{60 + i % 30},{i % 9}" for i, t in enumerate(stamps)]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    res = read_wearables(path)
    daily = [q.get("local_date") for q in res.events["qualifiers"]]
    _, ev, xw = deidentify(res.persons, res.events.assign(source_file="export.csv"), key=KEY)
    shift = pd.Timedelta(days=int(xw["shift_days"].iloc[0]))
    for before, after in zip(daily, _quals(ev), strict=True):
        if before is None:
            continue
        expected = (pd.Timestamp(before) + shift).date().isoformat()
        assert after["local_date"] == expected != before


def test_site_ids_are_kept_and_a_site_holding_phi_is_pseudonymised() -> None:
    # a trial site is no patient identifier: SITEID '1001' became '[IDENTIFIER]' (and so did
    # every '1001' in the text of its patients); a site that holds PHI must not pass either
    from twinlab.ingest.sdtm import read_sdtm_frame

    sites = ["1001", "SITE-07", "617-555-0100", "Dr John Smith Clinic", "701"]
    dm = pd.DataFrame({
        "STUDYID": "S1", "DOMAIN": "DM", "USUBJID": [f"S1-{i:03d}" for i in range(5)],
        "SUBJID": [f"{i:03d}" for i in range(5)], "SITEID": sites, "SEX": "F",
        "RFSTDTC": "2021-01-04", "ARMCD": "A", "ARM": "Drug A",
    })  # fmt: skip
    res = read_sdtm_frame(dm, source_file="dm.csv")
    patients, _, _ = deidentify(res.persons, res.events.assign(source_file="dm.csv"), key=KEY)
    published = patients["site"].tolist()
    assert published[0] == "1001" and published[1] == "SITE-07" and published[4] == "701"
    assert all(p.startswith("site-") and len(p) == 21 for p in published[2:4])
    # the same site, the same pseudonym
    again, _, _ = deidentify(res.persons, res.events.assign(source_file="dm.csv"), key=KEY)
    assert again["site"].tolist() == published
