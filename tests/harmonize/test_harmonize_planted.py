"""Identifiers planted where real EHR exports carry them reach no published file (issue 14).

One FHIR bundle of a generated study gets what the issue's review planted: a 4-digit Patient.id
and a 5-digit MRN, a relative in Patient.contact, a RelatedPerson and a Practitioner (named in
lower case in the note; "rose hope" is made of clinical-whitelist words, so only the known
names from the RelatedPerson can find it), a note (valueString) naming
the patient, the relative, a clinician and a city, with a local phone, a plate, a URL without
scheme, a host name, dates without a year and an age over 89, and an observation whose unit
and code system are a name. An SDTM AE CSV carries a verbatim term and an ODM file a free-text
comment naming the relative (and a unit that is a name); the VCF header gets a contact line; a
broken SDTM file is named after the patient. The check reads every output independently of
twinlab's detectors: the planted strings themselves must not be there.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from harmonize_redteam import KEY, KEYRING, published_text, run_both, small_study

from twinlab.harmonize.lineage import trace_quarantine
from twinlab.security import PermissionDenied
from twinlab.synth import SynthConfig, generate_study

RELATIVE = ("Marisol", "Thistlewood")
CLINICIAN = ("Hallie", "Brightwater")
PLANTED_TEXT = [
    "Thistlewood", "Brightwater", "Hallie", "555-0142", "7ABC123", "carlosclinic.org",
    "ws-12.radiology.local", "Millbrook", "Mar 3rd", "94-year-old", "14 Feb",
    "records.example.org", "617-555-0199", "rose hope", "Urquhart", "Radomir",
]  # fmt: skip


ODM = """<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
<Study OID="S1"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<BasicDefinitions><MeasurementUnit OID="MU.X" Name="x"><Symbol><TranslatedText>{relative}
</TranslatedText></Symbol></MeasurementUnit></BasicDefinitions>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.WT" Name="Weight" DataType="float"><MeasurementUnitRef MeasurementUnitOID="MU.X"/>
</ItemDef>
<ItemDef OID="IT.CO" Name="Comment" DataType="text"/>
<ItemDef OID="IT.VSDAT" Name="Date" DataType="date"/>
</MetaDataVersion></Study>
<ClinicalData StudyOID="S1" MetaDataVersionOID="V1"><SubjectData SubjectKey="8812">
<StudyEventData StudyEventOID="SE.BASE"><FormData FormOID="VS">
<ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="IT.VSDAT" Value="2021-06-01"/>
<ItemData ItemOID="IT.WT" Value="71.5"/>
<ItemData ItemOID="IT.CO" Value="Subject 8812 came with {relative}, phone 555-0142, 14 Feb"/>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>"""


def _plant(raw: Path) -> list[str]:
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    given, family = patient["name"][0]["given"][0], patient["name"][0]["family"]
    patient["id"] = "5521"
    patient["identifier"].append({"system": "urn:site:07:mrn", "value": "55213"})
    patient["contact"] = [{
        "relationship": [{"text": "daughter"}],
        "name": {"family": RELATIVE[1], "given": [RELATIVE[0]]},
        "telecom": [{"system": "phone", "value": "(617) 555-0199"}],
    }]  # fmt: skip
    obs = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    note = json.loads(json.dumps(obs))
    note["fullUrl"] = "urn:uuid:planted-note"
    res = note["resource"]
    res["id"] = "planted-note"
    res.pop("valueQuantity", None)
    res["code"] = {
        "coding": [{"system": "http://loinc.org", "code": "34109-9"}],
        "text": f"Note by Dr. {CLINICIAN[0]} {CLINICIAN[1]}",
    }
    res["valueString"] = (
        f"{given} {family} (MRN 55213, Patient/5521) seen Mar 3rd and 14 Feb with daughter "
        f"{RELATIVE[0]} {RELATIVE[1]}; call 555-0142. Patient is a 94-year-old. Plate 7ABC123. "
        "Portal carlosclinic.org/p, host ws-12.radiology.local. Lives in Millbrook Falls. "
        "neighbour rose hope helps; seen with dr radomir urquhart."
    )
    odd = json.loads(json.dumps(obs))
    odd["fullUrl"] = "urn:uuid:planted-unit"
    odd["resource"]["id"] = "planted-unit"
    odd["resource"]["code"] = {
        "coding": [{"system": f"http://records.example.org/{family.lower()}", "code": "X1"}]
    }
    odd["resource"]["valueQuantity"] = {"value": 3, "unit": f"{RELATIVE[0]} {RELATIVE[1]}"}
    pfull = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is patient)
    bundle["entry"] += [note, odd, {
        "fullUrl": "urn:uuid:planted-related",
        "resource": {"resourceType": "RelatedPerson", "id": "rp1", "patient": {"reference": pfull},
                     "name": [{"family": "Hope", "given": ["Rose"]}]},
    }, {
        "fullUrl": "urn:uuid:planted-practitioner",
        "resource": {"resourceType": "Practitioner", "id": "pr1",
                     "name": [{"family": "Urquhart", "given": ["Radomir"]}]},
    }]  # fmt: skip
    file.write_text(json.dumps(bundle))
    (raw / "sdtm" / "ae.csv").write_text(
        "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AEDECOD,AESTDTC\n"
        f"TWL-001,AE,TWL-001-999-0001,1,Headache after {RELATIVE[0]} {RELATIVE[1]} called "
        "555-0142 on 14 Feb,Headache,2024-02-14\n"
    )
    (raw / "odm").mkdir()
    (raw / "odm" / "visit.xml").write_text(ODM.format(relative=" ".join(RELATIVE)))
    vcf = raw / "vcf" / "genotypes.vcf"
    lines = vcf.read_text().splitlines()
    lines.insert(1, f"##contact=<Name={RELATIVE[0]} {RELATIVE[1]},Phone=617-555-0199>")
    vcf.write_text("\n".join(lines) + "\n")
    return [given, family]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    raw = small_study(root)
    names = _plant(raw)
    # a broken file named after the patient (as Synthea names its files): quarantined
    (raw / "sdtm" / f"{names[0]}_{names[1]}_1950-03-07.xpt").write_bytes(b"HEADER" + bytes(99))
    out = run_both(raw, root, identifier_aliases={"vcf_sample": "usubjid"})
    return root, out, names


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_no_planted_identifier_reaches_a_published_file(runs, label):
    root, results, names = runs
    assert results[label].phi_findings == []
    text = published_text(root / label)
    for value in [*PLANTED_TEXT, *names]:
        assert value.lower() not in text.lower(), value
    for file in sorted((root / "raw" / "wearables").glob("*.csv")):  # the export's own header
        for line in file.read_text(errors="replace").splitlines()[:12]:
            key, _, value = line.lstrip("# ").partition(": ")
            if key in {"serial_number", "account_holder", "account_email"} and value:
                assert value.strip().lower() not in text.lower(), key
    for number in ("5521", "55213", "8812"):
        assert re.search(rf"(?<![\w.]){number}(?![\w.])", text) is None, number


def test_reviewed_free_text_is_scrubbed_and_unreviewed_is_dropped(runs):
    root, results, _ = runs
    notes = {}
    for label in ("scrub", "default"):
        ev = pd.read_parquet(root / label / "events.parquet")
        notes[label] = ev.loc[ev["code"] == "34109-9", "value_text"].tolist()
    assert len(notes["scrub"]) == 1 and "[" in notes["scrub"][0]
    assert "seen" in notes["scrub"][0] and "Lives in" in notes["scrub"][0]  # plain words stay
    assert notes["default"] == [None] or pd.isna(notes["default"][0])
    ev = pd.read_parquet(root / "scrub" / "events.parquet")
    # ODM comment (a study's ItemOID: a local code, published as its keyed pseudonym), SDTM AE
    # verbatim term: read and scrubbed
    from twinlab.deid.codes import transform_codes

    (item,) = transform_codes(["ODM:S1"], ["IT.CO"], key=KEY)
    for code in (item, "Headache"):
        texts = ev.loc[ev["code"] == code, "value_text"].tolist()
        assert len(texts) == 1 and "[" in texts[0], (code, texts)
    policy = results["default"].report["field_policy"]
    assert policy["free_text"]["fhir"] == "drop" and policy["free_text_dropped"] >= 1


def test_the_report_records_the_date_ages_were_taken_at(runs):
    _, results, _ = runs
    assert results["scrub"].report["field_policy"]["age_reference"] == "2026-12-01"
    today = dt.datetime.now(dt.UTC).date()  # the run's day by default (or the day before it)
    taken = dt.date.fromisoformat(results["default"].report["field_policy"]["age_reference"])
    assert taken in (today, today - dt.timedelta(days=1))


def test_vocabulary_columns_never_pass_a_name_verbatim(runs):
    root, results, _ = runs
    policy = results["scrub"].report["field_policy"]["events"]
    assert policy["invalid_values"]["unit"] >= 1
    assert policy["invalid_values"]["code_system"] >= 1
    ev = pd.read_parquet(root / "scrub" / "events.parquet")
    assert ev.loc[ev["code"] == "X1", ["unit", "code_system"]].isna().all(axis=None)


def test_quarantine_holds_opaque_ids_traced_through_the_raw_zone(runs):
    root, _, names = runs
    q = pd.read_parquet(root / "scrub" / "quarantine.parquet")
    assert len(q) >= 1 and q["source_record"].str.fullmatch(r"rec-[A-Z2-7]{16}").all()
    kw = {"timeline_dir": root / "scrub", "raw_zone": root / "scrub-zone", "keyring": KEYRING}
    traced = [trace_quarantine(r, **kw) for r in q["source_record"]]
    paths = [t["source_path"] for t in traced]
    assert any(names[0] in str(p) for p in paths)  # the name lives only in the raw zone
    with pytest.raises(PermissionDenied):
        trace_quarantine(q["source_record"].iloc[0], role="stakeholder", **kw)


def test_a_dirty_scan_exits_non_zero_naming_file_column_and_class_not_the_value(
    tmp_path, monkeypatch
):
    """A name in a kept column (a code system is never scrubbed; a local code is now a keyed
    pseudonym, twinlab.deid.codes): the scan stops the publish."""
    from click.testing import CliRunner

    from twinlab.cli import cli

    raw = tmp_path / "raw"
    generate_study(raw, tmp_path / "truth", SynthConfig(n_patients=2, seed=9))
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    family = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )["name"][0]["family"]
    obs = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["resource"]["code"]["coding"][0]["system"] = f"twinlab:{family.lower()}-panel"
    obs["resource"]["code"]["coding"][0]["code"] = f"{family}-panel"
    file.write_text(json.dumps(bundle))
    monkeypatch.setenv("TWINLAB_DEID_KEY", base64.b64encode(b"d" * 32).decode())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("the previous version")
    result = CliRunner().invoke(cli, ["ingest", str(raw), "--out", str(out)])
    assert result.exit_code != 0
    assert "events.parquet column 'code_system'" in result.output and "(name)" in result.output
    assert "events.parquet column 'code'," not in result.output  # the code: a pseudonym
    assert family not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
