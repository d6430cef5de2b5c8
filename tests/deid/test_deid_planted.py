"""Planted identifiers: de-identify persons + events full of PHI, then scan the outputs.

The scanner must find nothing in the de-identified outputs (Parquet, CSV, JSON) and must find
every planted value in the raw inputs, so both the de-identification and the scanner are
tested against each other.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from twinlab.deid import (
    PSEUDONYM_PATTERN,
    DeidKey,
    deidentify,
    identifiers_from,
    scan_for_phi,
)
from twinlab.deid.scanner import scan_text

KEY = DeidKey(bytes(range(7, 39)))
UTC = "datetime64[us, UTC]"

PERSONS = [
    {
        "source_patient": "pt-renee-0001",
        "identifiers": [
            ("urn:site:01:mrn", "MRN20481234"),
            ("http://hl7.org/fhir/sid/us-ssn", "900-12-3456"),
            ("urn:device:serial", "SN-ZX81-77341"),
            ("urn:health-plan", "HPB-7788-2231"),
        ],
        "sex": "female",
        "birth_date": "1950-03-07",
        "deceased": None,
        "site": "S01",
        "phi": {
            "name": [{"family": "O'Brien-Nuñez", "given": ["Renée"]}],
            "address": [
                {
                    "line": ["1742 Evergreen Terrace", "Apt 12"],
                    "city": "Springfield",
                    "state": "MA",
                    "postalCode": "02139-4307",
                }
            ],
            "telecom": [
                {"system": "phone", "value": "(617) 555-0142"},
                {"system": "email", "value": "renee.obrien@example.org"},
            ],
        },
    },
    {
        "source_patient": "pt-jose-0002",
        "identifiers": [
            ("urn:site:02:mrn", "MRN33330001"),
            ("http://hl7.org/fhir/sid/us-ssn", "901-55-0007"),
        ],
        "sex": "M",
        "birth_date": "1931-11-30",
        "deceased": "2024-02-01",
        "site": "S02",
        "phi": {
            "name": "José D'Angelo",
            "address": "9 Rue de l'Église",
            "city": "Coeur d'Alene",
            "state": "ID",
            "zip": "83814",
            "phone": "212.555.0188",
            "email": "jd.angelo@example.net",
        },
    },
    {  # 89 at the last event: birth year kept
        "source_patient": "pt-zoe-0003",
        "identifiers": [("urn:site:01:mrn", "MRN55550003")],
        "sex": "F",
        "birth_date": "1934-06-15",
        "deceased": None,
        "site": "S01",
        "phi": {"name": "Zoë Lefèvre", "zip": "03601", "phone": "603-555-0123"},
    },
    {  # exactly 90 at the last event: 90+
        "source_patient": "pt-aoife-0004",
        "identifiers": [("urn:site:01:mrn", "MRN55550004")],
        "sex": "F",
        "birth_date": "1934-06-14",
        "deceased": None,
        "site": "S01",
        "phi": {"name": "Aoife Ó Súilleabháin", "zip": "59601", "email": "aoife@example.com"},
    },
]

#: Every planted value with its kind, as it appears somewhere in the raw inputs.
PLANTED = [
    ("name", "Renée"),
    ("name", "O'Brien-Nuñez"),
    ("name", "José"),
    ("name", "D'Angelo"),
    ("name", "Zoë"),
    ("name", "Lefèvre"),
    ("name", "Súilleabháin"),
    ("ssn", "900-12-3456"),
    ("ssn", "901-55-0007"),
    ("mrn", "MRN20481234"),
    ("mrn", "MRN33330001"),
    ("identifier", "SN-ZX81-77341"),
    ("identifier", "HPB-7788-2231"),
    ("phone", "(617) 555-0142"),
    ("phone", "212.555.0188"),
    ("email", "renee.obrien@example.org"),
    ("email", "jd.angelo@example.net"),
    ("address", "1742 Evergreen Terrace"),
    ("address", "9 Rue de l'Église"),
    ("city", "Springfield"),
    ("city", "Coeur d'Alene"),
    ("zip", "02139-4307"),
    ("zip", "83814"),
    ("birth_date", "1950-03-07"),
    ("birth_date", "03/07/1950"),
    ("patient_key", "pt-renee-0001"),
]

NOTE_1 = (
    "Pt RENEE O’BRIEN-NUNEZ (SSN 900-12-3456, MRN20481234) called from (617) 555-0142; "
    "e-mail renee.obrien@example.org; lives at 1742 Evergreen Terrace, Apt 12, Springfield "
    "MA 02139-4307; DOB 03/07/1950; pump SN-ZX81-77341; plan HPB-7788-2231; "
    "portal https://portal.example.org/p/77 from 192.168.10.42 and 2001:db8::8a2e:370:7334"
)
NOTE_2 = (
    "José D'Angelo, 9 Rue de l'Église, Coeur d’Alene 83814, tel 212 555 0188, ssn 901550007, "
    "mail jd.angelo@example.net, seen 2023-12-01 (acct #A-99812)"
)


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def _events() -> pd.DataFrame:
    rows = [
        ("pt-renee-0001", "2024-01-05T08:30:00.123456+01:00", None, "other", "NOTE", "Note",
         NOTE_1, {"device": "Fitbit Charge 5", "serial": "SN-ZX81-77341"},
         "Renée_O'Brien-Nuñez_pt-renee-0001.json", "Patient/pt-renee-0001/entry[3]"),
        ("pt-renee-0001", "2024-01-07T10:00:00Z", "2024-01-07T11:30:00Z", "dose", "DRUGX",
         "Infusion for Renée", None, {"route": "iv", "note": "given at 1742 Evergreen Terrace"},
         "Renée_O'Brien-Nuñez_pt-renee-0001.json", "Patient/pt-renee-0001/entry[4]"),
        ("pt-jose-0002", "2023-12-01T09:00:00-05:00", None, "lab", "2160-0",
         "Creatinine [Mass/volume] in Serum or Plasma", NOTE_2, {"matrix": "serum"},
         "site02/MRN33330001.csv", "MRN33330001#row=1"),
        ("pt-zoe-0003", "2024-06-14T12:00:00Z", None, "vital", "8867-4", "Heart rate",
         "Zoë Lefèvre, 03601, phone 603-555-0123", {}, "zoe.csv", "row=2"),
        ("pt-aoife-0004", "2024-06-14T12:00:00Z", None, "other", "NOTE",
         "Note from aoife@example.com",
         "Aoife Ó Súilleabháin (b. 14 June 1934) www.aoife.example.com",
         "{}", "aoife.csv", "row=1"),
    ]  # fmt: skip
    cols = ["source_patient", "time", "end_time", "domain", "code", "display", "value_text",
            "qualifiers", "source_file", "source_record"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["time"] = df["time"].map(_t).astype(UTC)
    df["end_time"] = pd.to_datetime(df["end_time"], utc=True).astype(UTC)
    df["code_system"] = "urn:local"
    df["value_num"] = [float("nan"), 100.0, 1.1, 72.0, float("nan")]
    df["unit"] = [None, "mg", "mg/dL", "/min", None]
    df["status"] = "final"
    return df


@pytest.fixture(scope="module")
def raw():
    return pd.DataFrame(PERSONS), _events()


@pytest.fixture(scope="module")
def deid(raw):
    persons, events = raw
    # released the day of the last event, so the ages at the data decide (Zoë 89, Aoife 90)
    return deidentify(persons, events, key=KEY, age_at="2024-06-14")


def _write_all(folder, stem, df):
    folder.mkdir(parents=True, exist_ok=True)
    flat = df.copy()
    for c in flat.columns:
        if flat[c].dtype == object:
            flat[c] = [
                json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict | list)
                else v
                for v in flat[c]
            ]  # fmt: skip
    table = pa.Table.from_pandas(flat, preserve_index=False)
    pq.write_table(table, folder / f"{stem}.parquet")
    flat.to_csv(folder / f"{stem}.csv", index=False)
    (folder / f"{stem}.json").write_text(
        flat.to_json(orient="records", date_format="iso", force_ascii=False), encoding="utf-8"
    )


def test_outputs_hold_no_planted_identifier(deid, raw, tmp_path):
    patients, events, _ = deid
    out = tmp_path / "harmonized"
    _write_all(out, "patients", patients)
    _write_all(out, "events", events)
    findings = scan_for_phi(out, identifiers_from(raw[0]))
    assert findings == [], [(f.file.rsplit("/", 1)[-1], f.location, f.kind) for f in findings]


def test_scanner_finds_every_planted_value_in_the_raw_inputs(raw, tmp_path):
    persons, events = raw
    ids = identifiers_from(persons)
    folder = tmp_path / "raw"
    _write_all(folder, "persons", persons)
    _write_all(folder, "events", events)
    findings = scan_for_phi(folder, ids)
    for suffix in (".parquet", ".csv", ".json"):
        assert any(f.file.endswith("events" + suffix) for f in findings), suffix
        assert any(f.file.endswith("persons" + suffix) for f in findings), suffix
    # each planted value, on its own, is found with the right kind and never shown in clear
    for kind, value in PLANTED:
        hits = scan_text(f"... {value} ...", ids)
        assert kind in [k for k, _ in hits], (kind, value)
        assert all(value not in masked for _, masked in hits)
    for f in findings:
        assert not any(v in f.masked or v in f.location for _, v in PLANTED)
    # the free-text notes are found in every format
    for suffix in (".parquet", ".csv", ".json"):
        kinds = {f.kind for f in findings if f.file.endswith("events" + suffix)}
        assert {"name", "ssn", "mrn", "phone", "email", "address", "pattern:ssn"} <= kinds


def test_patients_table_follows_safe_harbor(deid, raw):
    patients, _, crosswalk = deid
    assert len(patients) == 4
    assert patients["patient_id"].str.fullmatch(PSEUDONYM_PATTERN).all()
    by_src = dict(zip(crosswalk["source_patient"], crosswalk["patient_id"], strict=True))
    p = patients.set_index("patient_id")
    renee, jose = p.loc[by_src["pt-renee-0001"]], p.loc[by_src["pt-jose-0002"]]
    zoe, aoife = p.loc[by_src["pt-zoe-0003"]], p.loc[by_src["pt-aoife-0004"]]
    assert (renee["birth_year"], renee["cov_zip3"], renee["sex"]) == ("1950", "021", "F")
    assert (jose["birth_year"], jose["cov_zip3"], jose["sex"]) == ("90+", "838", "M")
    assert jose["cov_deceased"] == "true"
    assert (zoe["birth_year"], zoe["cov_zip3"]) == ("1934", "000")  # 89 at the last event
    assert (aoife["birth_year"], aoife["cov_zip3"]) == ("90+", "596")  # 90 that very day
    assert set(patients.columns) == {
        "patient_id", "sex", "birth_year", "site", "index_date", "sources",
        "cov_zip3", "cov_state", "cov_deceased",
    }  # fmt: skip
    # "Renée_O'Brien-Nuñez_pt-renee-0001.json": names out, the patient key -> pseudonym
    assert renee["sources"].endswith(f"]_{by_src['pt-renee-0001']}.json")
    assert not any(n in renee["sources"] for n in ("Ren", "Brien", "Nu", "pt-"))


def test_zip3_and_state_are_the_patients_not_a_relatives(raw):
    """A FHIR contact's (a daughter's) postalCode came first in the PHI walk: her ZIP3 and
    state were published as the patient's covariates."""
    persons, events = raw
    persons = persons.copy()
    persons.at[1, "phi"] = {
        "contact": [{"name": {"family": "Kowalczyk"},
                     "address": {"postalCode": "16066", "state": "PA"}}],
        "birth_place": {"city": "Braddock", "state": "PA"},
        "related": [{"address": [{"postalCode": "30301", "state": "GA"}]}],
        **persons.at[1, "phi"],
    }  # fmt: skip
    patients, _, crosswalk = deidentify(persons, events, key=KEY)
    by_src = dict(zip(crosswalk["source_patient"], crosswalk["patient_id"], strict=True))
    jose = patients.set_index("patient_id").loc[by_src["pt-jose-0002"]]
    assert (jose["cov_zip3"], jose["cov_state"]) == ("838", "ID")


def test_events_are_shifted_pseudonymized_and_scrubbed(deid, raw):
    _, events_in = raw
    _, events, crosswalk = deid
    assert "source_patient" not in events
    assert len(events) == len(events_in)
    xw = crosswalk.set_index("source_patient")
    for i, src in enumerate(events_in["source_patient"]):
        shift = pd.Timedelta(days=int(xw.loc[src, "shift_days"]))
        assert xw.loc[src, "shift_days"] != 0
        assert events.loc[i, "patient_id"] == xw.loc[src, "patient_id"]
        assert events.loc[i, "time"] == events_in.loc[i, "time"] + shift
    # the infusion keeps its exact 90 minutes
    assert events.loc[1, "end_time"] - events.loc[1, "time"] == pd.Timedelta(minutes=90)
    assert events.loc[0, "time"].microsecond == 123456
    note = events.loc[0, "value_text"]
    for token in ("[NAME]", "[SSN]", "[MRN]", "[PHONE]", "[EMAIL]", "[ADDRESS]", "[URL]", "[IP]"):
        assert token in note
    assert events.loc[0, "qualifiers"] == {"device": "Fitbit Charge 5", "serial": "[IDENTIFIER]"}
    assert events.loc[1, "qualifiers"]["note"] == "given at [ADDRESS]"
    assert events.loc[1, "display"] == "Infusion for [NAME]"
    assert events.loc[2, "display"] == "Creatinine [Mass/volume] in Serum or Plasma"
    # the patient key inside record pointers becomes the pseudonym; pointers stay unique
    pid = xw.loc["pt-renee-0001", "patient_id"]
    assert events.loc[0, "source_record"] == f"Patient/{pid}/entry[3]"
    # a file name that is no SDTM domain's (an MRN here) leaves the pointer for a keyed id
    assert re.fullmatch(r"src-[A-Z2-7]{16}#row=1", events.loc[2, "source_record"])
    assert events["source_record"].is_unique
    assert events.loc[2, "value_num"] == 1.1 and events.loc[2, "unit"] == "mg/dL"


def test_crosswalk_and_determinism(deid, raw):
    persons, events = raw
    _, _, crosswalk = deid
    assert list(crosswalk.columns) == ["source_patient", "patient_id", "shift_days"]
    assert crosswalk.attrs["key_fingerprint"] == KEY.fingerprint
    again = deidentify(persons, events, key=KEY)
    pd.testing.assert_frame_equal(again[2], crosswalk)
    other = deidentify(persons, events, key=DeidKey(b"z" * 32))[2]
    assert not set(other["patient_id"]) & set(crosswalk["patient_id"])


def test_reference_dates_set_the_shifted_index_date(raw):
    persons, events = raw
    refs = {"pt-renee-0001": "2024-01-05", "pt-zoe-0003": pd.Timestamp("2024-06-20", tz="UTC")}
    patients, _, xw = deidentify(persons, events, key=KEY, reference_dates=refs)
    shift = dict(zip(xw["patient_id"], xw["shift_days"], strict=True))
    p = patients.set_index("patient_id")
    renee = xw.loc[xw["source_patient"] == "pt-renee-0001", "patient_id"].item()
    zoe = xw.loc[xw["source_patient"] == "pt-zoe-0003", "patient_id"].item()
    expected = pd.Timestamp("2024-01-05", tz="UTC") + pd.Timedelta(days=int(shift[renee]))
    assert p.loc[renee, "index_date"] == expected
    # Zoë's reference date is after her 90th birthday: the later date wins -> 90+
    assert p.loc[zoe, "birth_year"] == "90+"
    assert p["index_date"].isna().sum() == 2


@pytest.mark.parametrize(("index", "age"), [("2024-03-06", 73.0), ("2024-03-07", 74.0)])
def test_age_at_index_is_exact_and_the_same_under_any_key(raw, index, age):
    # born 1950-03-07: the published birth year and the shifted index date tell the age only
    # to a year, and which year depends on the key's shift; cov_age is taken before the shift
    persons, events = raw
    refs = {"pt-renee-0001": index, "pt-zoe-0003": "2024-06-20"}
    ages = []
    for key in (KEY, DeidKey(b"z" * 32), DeidKey(b"q" * 32)):
        patients, _, xw = deidentify(persons, events, key=key, reference_dates=refs)
        by_src = xw.set_index("source_patient")["patient_id"]
        p = patients.set_index("patient_id")["cov_age"]
        ages.append(p.loc[by_src[["pt-renee-0001", "pt-zoe-0003", "pt-jose-0002"]]].tolist())
    assert ages[0][0] == age and ages[0][1] == 90.0  # Zoë is 90+: the category, not 90 exactly
    assert pd.isna(ages[0][2])  # no index date, no age at index
    assert all(a[:2] == ages[0][:2] and pd.isna(a[2]) for a in ages)


@pytest.mark.parametrize(
    ("age_at", "expected"),
    [("2024-06-14", "1934"), ("2024-06-15", "90+"), (None, "90+")],  # None: today
)
def test_birth_year_is_also_aged_at_the_release_date(raw, age_at, expected):
    # Zoë is 89 at her last event (2024-06-14); a year of birth that tells an age over 89 on
    # the day the data are published is withheld too, today's date by default
    persons, events = raw
    patients, _, xw = deidentify(persons, events, key=KEY, age_at=age_at)
    zoe = xw.loc[xw["source_patient"] == "pt-zoe-0003", "patient_id"].item()
    assert patients.set_index("patient_id").loc[zoe, "birth_year"] == expected
    renee = xw.loc[xw["source_patient"] == "pt-renee-0001", "patient_id"].item()
    assert patients.set_index("patient_id").loc[renee, "birth_year"] == "1950"


def test_events_without_patient_are_refused(raw):
    persons, events = raw
    bad = events.copy()
    bad.loc[0, "source_patient"] = None
    with pytest.raises(ValueError, match="quarantine"):
        deidentify(persons, bad, key=KEY)
