"""Tests of the PHI scanner on each file type, and on real Synthea FHIR bundles."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from twinlab.deid import DeidKey, IdentifierSet, deidentify, identifiers_from, scan_for_phi
from twinlab.deid.scanner import mask

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SYNTHEA = DATA / "fhir" / "synthea_smart"
#: Identifiers as :func:`identifiers_from` makes them (date kinds are searched in many spellings).
IDS = IdentifierSet(
    [
        ("name", "Renée O'Brien"),
        ("name", "Renée"),
        ("ssn", "900-12-3456"),
        ("birth_date", "1950-03-07"),
    ]
)


def _kinds(findings):
    return sorted({f.kind for f in findings})


def test_mask_never_shows_more_than_the_first_character():
    assert mask("Renée O'Brien") == "R**** *'*****"
    assert mask("900-12-3456") == "9**-**-****"


def test_parquet_strings_nested_values_dates_and_metadata(tmp_path):
    table = pa.table(
        {
            "clean": ["P-ABC", "lab"],
            "nested": pa.array([[{"who": "x"}], [{"who": "renee o’brien"}]]),
            "born": pa.array([dt.date(1950, 3, 7), None], type=pa.date32()),
            "seen": pa.array([pd.Timestamp("1950-03-07T10:00"), None], type=pa.timestamp("us")),
            "n": [1, 2],
        }
    )
    table = table.replace_schema_metadata({"note": "made by Renée"})
    pq.write_table(table, tmp_path / "t.parquet")
    findings = scan_for_phi(tmp_path / "t.parquet", IDS)
    where = {(f.location, f.kind) for f in findings}
    assert ("column 'nested[].who', row 1", "name") in where
    assert ("column 'born', row 0", "birth_date") in where
    assert any(loc.startswith("file metadata") and kind == "name" for loc, kind in where)
    # a timestamp (event time) that falls on a birth date is a coincidence unless asked for
    assert not any(loc.startswith("column 'seen'") for loc, _ in where)
    strict = scan_for_phi(tmp_path / "t.parquet", IDS, dates_in_timestamps=True)
    assert ("column 'seen', row 0", "birth_date") in {(f.location, f.kind) for f in strict}
    assert all("Ren" not in f.masked for f in findings)


def test_keyed_id_columns_skip_keyed_ids_only(tmp_path):
    """Values of the keyed-id form are skipped (speed); anything else there is scanned."""
    ids = IdentifierSet([("ssn", "900-12-3456"), ("mrn", "3456123")])
    table = pa.table(
        {
            "event_id": ["ev-00003456123aaaaaaaaaaa", "ev-900-12-3456"],
            "row_hash": ["3456123" + "a" * 57, "b" * 64],
            "patient_id": ["P-ABCDEFGHIJKLMNOP", "P-900-12-3456"],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    where = {f.location for f in scan_for_phi(tmp_path / "t.parquet", ids)}
    assert where == {"column 'event_id', row 1", "column 'patient_id', row 1"}


def test_record_pointers_are_scanned_as_the_scrubber_clears_them(tmp_path):
    """A row number is a position (not the 4-digit subject 1015); a labelled short id and a
    date are findings: a date in a pointer would undo the shift of the event's time."""
    ids = IdentifierSet([("identifier", "1015")])
    pointers = [
        "lbch.xpt#row=1015",
        "Patient/1015",
        "day 2025-05-10/steps_total",
        "entry[3]",
        "ClinicalData[S1]/SubjectData[1015]/ItemGroupData[IG.AE]@2/item[1015]=IT.AETERM",
    ]
    pq.write_table(pa.table({"source_record": pointers}), tmp_path / "e.parquet")
    found = {(f.location, f.kind) for f in scan_for_phi(tmp_path / "e.parquet", ids)}
    assert found == {
        ("column 'source_record', row 1", "identifier"),
        ("column 'source_record', row 2", "pattern:date"),
        ("column 'source_record', row 4", "identifier"),
    }


def test_json_ipynb_csv_html_and_text(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n"], "outputs": [
        {"output_type": "stream", "text": ["SSN 900123456\n"]}]}]}  # fmt: skip
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    (tmp_path / "b.json").write_text(json.dumps({"renee o'brien": 1, "ok": [1, "fine"]}))
    (tmp_path / "c.csv").write_text("id,note\n1,fine\n2,born 03/07/1950\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.html").write_text("<p>Ren&eacute;e O&#39;Brien</p>")
    (tmp_path / "e.txt").write_text("ok\nmail x.y@example.org, call 617-555-0142\n")
    findings = scan_for_phi(tmp_path, IDS)
    by_file = {}
    for f in findings:
        by_file.setdefault(Path(f.file).name, set()).add((f.location, f.kind))
    assert ("$.cells[0].outputs[0].text[0]", "ssn") in by_file["a.ipynb"]
    assert ("$ (key)", "name") in by_file["b.json"]
    assert by_file["c.csv"] == {("row 2, column 'note'", "birth_date")}
    assert ("line 1", "name") in by_file["d.html"]
    assert by_file["e.txt"] == {("line 2", "pattern:email"), ("line 2", "pattern:phone")}


def test_clean_files_give_no_findings_and_bad_paths_are_reported(tmp_path):
    (tmp_path / "clean.csv").write_text("patient_id,v\nP-ABCDEFGHIJKLMNOP,1.5\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    findings = scan_for_phi(tmp_path, IDS)
    assert [(Path(f.file).name, f.kind) for f in findings] == [("broken.parquet", "unreadable")]
    with pytest.raises(FileNotFoundError):
        scan_for_phi(tmp_path / "missing", IDS)


def _synthea_patients(folder: Path = SYNTHEA) -> list[tuple[Path, dict, list[dict]]]:
    out = []
    for file in sorted(folder.glob("*.json")):
        bundle = json.loads(file.read_text(encoding="utf-8"))
        resources = [e["resource"] for e in bundle.get("entry", [])]
        patients = [r for r in resources if r.get("resourceType") == "Patient"]
        if len(patients) == 1:
            out.append((file, patients[0], resources))
    return out


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared Synthea data not available")
def test_real_synthea_bundles_scan_and_deidentify(tmp_path):
    bundles = _synthea_patients()
    assert len(bundles) == 26  # 28 bundles, 2 of them shared Organization/Practitioner
    persons, events = [], []
    for file, pat, resources in bundles:
        persons.append(
            {
                "source_patient": pat["id"],
                "identifiers": [(i.get("system", ""), i["value"]) for i in pat["identifier"]],
                "sex": pat.get("gender"),
                "birth_date": pat.get("birthDate"),
                "deceased": pat.get("deceasedDateTime"),
                "site": None,
                "phi": {k: pat[k] for k in ("name", "telecom", "address") if k in pat},
            }
        )
        for i, r in enumerate(resources):
            if r.get("resourceType") == "Observation" and "effectiveDateTime" in r:
                events.append(
                    {
                        "source_patient": pat["id"],
                        "time": pd.Timestamp(r["effectiveDateTime"]).tz_convert("UTC"),
                        "domain": "lab",
                        "code": r["code"]["coding"][0]["code"],
                        "display": r["code"].get("text"),
                        "value_text": r.get("valueString"),
                        "source_file": file.name,
                        "source_record": f"entry[{i}]",
                    }
                )
    persons_df, events_df = pd.DataFrame(persons), pd.DataFrame(events)
    ids = identifiers_from(persons_df)
    # every raw bundle holds its own patient's family name (counted here from the JSON)
    raw = scan_for_phi([f for f, _, _ in bundles], ids)
    named = {Path(f.file).name for f in raw if f.kind == "name"}
    assert named == {f.name for f, _, _ in bundles}
    assert {f.kind for f in raw} >= {"name", "ssn", "phone", "address", "birth_date"}
    patients, ev, _ = deidentify(persons_df, events_df, key=DeidKey(b"s" * 32))
    assert len(patients) == 26 and len(ev) == len(events_df) > 1000
    ev = ev.assign(time=ev["time"].astype(str))
    ev.to_csv(tmp_path / "events.csv", index=False)
    pq.write_table(pa.Table.from_pandas(patients), tmp_path / "patients.parquet")
    assert scan_for_phi(tmp_path, ids) == []
    # no Synthea name survives in the de-identified file names
    assert not ev["source_file"].str.contains("Pulido|Montañez|O'Hara").any()


def test_synthetic_study_identities_are_found_raw_and_gone_after_deid(tmp_path):
    synth = pytest.importorskip("twinlab.synth")
    try:
        synth.generate_study(tmp_path / "raw", tmp_path / "truth", synth.SynthConfig(n_patients=5))
    except Exception as exc:  # the generator is being written in parallel
        pytest.skip(f"twinlab.synth.generate_study failed: {type(exc).__name__}: {exc}")
    bundles = _synthea_patients(tmp_path / "raw" / "fhir")
    if not bundles:
        pytest.skip("the synthetic study wrote no FHIR Patient bundles")
    persons = pd.DataFrame(
        [
            {
                "source_patient": file.stem,
                "identifiers": [(i.get("system", ""), i["value"]) for i in pat["identifier"]],
                "sex": pat.get("gender"),
                "birth_date": pat.get("birthDate"),
                "deceased": None,
                "site": None,
                "phi": {k: pat[k] for k in ("name", "telecom", "address") if k in pat},
            }
            for file, pat, _ in bundles
        ]
    )
    ids = identifiers_from(persons)
    raw = scan_for_phi(tmp_path / "raw" / "fhir", ids)
    for file, _, _ in bundles:
        kinds = {f.kind for f in raw if f.file == str(file)}
        assert {"name", "ssn", "mrn", "phone", "email", "address", "birth_date"} <= kinds
    events = pd.DataFrame(
        [
            {
                "source_patient": file.stem,
                "time": pd.Timestamp(r["effectiveDateTime"]).tz_convert("UTC"),
                "domain": "vital",
                "code": r["code"]["coding"][0]["code"],
                "display": r["code"]["coding"][0].get("display"),
                "source_file": file.name,
                "source_record": f"entry[{i}]",
            }
            for file, pat, resources in bundles
            for i, r in enumerate(resources)
            if r.get("resourceType") == "Observation" and "effectiveDateTime" in r
        ]
    )
    patients, ev, _ = deidentify(persons, events, key=DeidKey(b"y" * 32))
    out = tmp_path / "deid"
    out.mkdir()
    ev.to_csv(out / "events.csv", index=False)
    pq.write_table(pa.Table.from_pandas(patients), out / "patients.parquet")
    assert scan_for_phi(out, ids) == []
    assert set(patients["birth_year"]) <= {str(y) for y in range(1900, 2030)} | {"90+"}


def test_free_text_qualifiers_are_scanned_with_every_detector(tmp_path):
    """The publish gate checks qualifier free text (SUPPQUAL values...) as the scrubber
    treats it: a name no source listed is found there; coded qualifiers are not
    run through the engine's catch-all (brand names stay clean)."""
    quals = [
        json.dumps({"supp": {"COMVAL": "husband Dmitri Volkov refused"}, "route": "Oral"}),
        json.dumps({"device": "Medtronic Azure XT", "fhir_status": "final"}),
    ]
    codes = {"code_system": ["http://loinc.org"] * 2, "code": ["8302-2", "29463-7"]}
    pq.write_table(pa.table({**codes, "qualifiers": quals}), tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, IdentifierSet())
    assert found and all("$.supp.COMVAL" in f.location for f in found)
    assert any(f.masked.startswith("D") for f in found)
    # the scrubbed qualifiers of de-identification pass the same gate
    persons = pd.DataFrame({"source_patient": ["p1"], "identifiers": [[]], "sex": ["F"],
                            "birth_date": ["1960-01-01"], "deceased": [None], "site": ["S01"],
                            "phi": [{"name": "Zoe Ann"}]})  # fmt: skip
    when = pd.Timestamp("2024-01-02 00:00Z")
    events = pd.DataFrame({"source_patient": ["p1", "p1"], "time": when,
                           "domain": "other", "code": ["X", "Y"], "source_file": "a.json",
                           "source_record": ["e0", "e1"], "qualifiers": quals})  # fmt: skip
    _, ev, _ = deidentify(persons, events, key=DeidKey(bytes(32)))
    (tmp_path / "e.parquet").unlink()
    pq.write_table(pa.table({"qualifiers": ev["qualifiers"].tolist()}), tmp_path / "d.parquet")
    assert scan_for_phi(tmp_path, IdentifierSet()) == []


REASONS = [
    "effectiveDateTime not a valid FHIR date/dateTime",
    "Bundle entry is not valid JSON (the file ends inside it: truncated?)",
    "value outside the plausible range for the unit",
    "seen 2/14 by Frank Bush, 93, MRN A77812",
    "record of Renée O'Brien dated 03/07/1950",
    "sample linked on the 14th, call 617-555-0142",
]


def test_pattern_columns_scan_reasons_as_the_scrubber_cleans_them(tmp_path):
    """A reason is scrubbed with every pattern and no engine; scanned so, what the scrubber
    would remove is found, and what it leaves passes (the write-time scrub and the gate agree)."""
    from twinlab.deid import TextScrubber

    raw, clean = tmp_path / "raw.parquet", tmp_path / "clean.parquet"
    pd.DataFrame({"reason": REASONS}).to_parquet(raw, index=False)
    scrubbed = TextScrubber(IDS, engine=False).scrub_series(pd.Series(REASONS))
    pd.DataFrame({"reason": scrubbed}).to_parquet(clean, index=False)
    assert scan_for_phi(clean, IDS, pattern_columns=("reason",)) == []
    found = scan_for_phi(raw, IDS, pattern_columns=("reason",))
    rows = {int(f.location.split("row ")[1]) for f in found}
    assert rows == {3, 4, 5}
    kinds = {f.kind for f in found if f.location.endswith("row 3")}
    assert {"detector:date", "detector:age", "detector:mrn"} <= kinds
    # without the column named, only known values and SSN, e-mail and phone patterns
    assert {int(f.location.split("row ")[1]) for f in scan_for_phi(raw, IDS)} == {4, 5}


def test_terms_of_a_closed_vocabulary_are_no_findings(tmp_path):
    """A patient named Final Vital made the domain "vital" and the status "final" findings:
    the run refused to publish. Terms of a closed vocabulary name no one; the same word in
    another column, or a value outside the vocabulary, is still found."""
    ids = IdentifierSet([("name", "Final Vital"), ("name", "Final"), ("name", "Vital"),
                         ("name", "Georgia")])  # fmt: skip
    pd.DataFrame({"domain": ["vital"], "status": ["final"], "display": ["Vital signs"]}).to_parquet(
        tmp_path / "events.parquet"
    )
    pd.DataFrame({"cov_state": ["Georgia"], "site": ["Vital"]}).to_parquet(
        tmp_path / "patients.parquet"
    )
    found = {
        (f.file.rsplit("/", 1)[-1], f.location.split(",")[0]) for f in scan_for_phi(tmp_path, ids)
    }
    assert found == {("events.parquet", "column 'display'"), ("patients.parquet", "column 'site'")}


def test_shifted_date_qualifiers_and_reference_pseudonyms_are_read_as_written(tmp_path):
    """A wearable summary's local_date is shifted like the event times: that it falls on
    someone's real date (an SDTM subject's reference start date, known as PHI) is chance, as for
    a shifted time, and blocked the publication of the shared corpus; so did a reference
    pseudonym spelling 'SSN2...'. A real date or SSN elsewhere in the cell is still found."""
    ids = IdentifierSet([("phi", "2014-07-01"), ("birth_date", "1950-03-07")])
    quals = [
        json.dumps({"local_date": "2014-07-01", "encounter": "ref-SSN2UFVTC6DDSYZ5"}),
        json.dumps({"local_date": "2014-07-02", "supp": {"COVAL": "since 2014-07-01"}}),
        json.dumps({"local_date": "1950-03-07"}),
        json.dumps({"visit": "2014-07-01", "encounter": "ref-SSN 900-12-3456"}),
    ]
    pq.write_table(pa.table({"qualifiers": quals}), tmp_path / "e.parquet")
    found = {(f.location.split(" (")[0], f.kind) for f in scan_for_phi(tmp_path, ids)}
    rows = {loc.split("row ")[1].split(" ")[0] for loc, _ in found}
    assert rows == {"1", "3"}
    assert any(k == "phi" for loc, k in found if "row 3" in loc)
    assert any(k == "pattern:ssn" for loc, k in found if "row 3" in loc)
    strict = scan_for_phi(tmp_path, ids, dates_in_timestamps=True)
    assert any("row 2" in f.location and f.kind == "birth_date" for f in strict)
