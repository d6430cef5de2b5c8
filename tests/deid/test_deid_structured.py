"""Red team of PHI in structured fields: identifier items, ages without a time unit, codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from twinlab.deid import DeidKey
from twinlab.deid.tables import deidentify
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
