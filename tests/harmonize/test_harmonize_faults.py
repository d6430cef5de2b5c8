"""Faults that used to pass silently: clinical codes eaten by de-identification, different
people merged by linkage, records counted as accepted and then lost (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study

CONFIG = HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"})


def _bundles(raw: Path) -> list[tuple[Path, dict]]:
    return [(f, json.loads(f.read_text())) for f in sorted((raw / "fhir").glob("*.json"))]


def _patient(bundle: dict) -> dict:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def _generate(root: Path, n: int = 4) -> Path:
    raw = root / "raw"
    generate_study(raw, root / "truth", SynthConfig(n_patients=n, seed=3, wearable_fraction=0.0))
    return raw


def _run(root: Path, raw: Path | list[Path], out: str = "out"):
    return harmonize(
        raw if isinstance(raw, list) else [raw], out_dir=root / out, raw_zone=root / f"{out}-zone",
        config=CONFIG, key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip


def test_patient_zips_that_spell_loinc_codes_keep_every_clinical_event(tmp_path):
    raw = _generate(tmp_path)
    _run(tmp_path, raw, "before")
    before = pd.read_parquet(tmp_path / "before" / "events.parquet")["code"].value_counts()
    zips = ["83022", "30841", "84624", "10000"]  # LOINC 8302-2, 3084-1, 8462-4; a range bound
    for (file, bundle), z in zip(_bundles(raw), zips, strict=True):
        _patient(bundle)["address"][0]["postalCode"] = z
        obs = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
        note = json.loads(json.dumps(obs))
        note["resource"]["id"] = "note-1"
        note["fullUrl"] = "urn:uuid:note-1"
        note["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "34109-9",
                                                 "display": "Note"}]}  # fmt: skip
        note["resource"].pop("valueQuantity", None)
        note["resource"]["valueString"] = f"moved, new ZIP {z} per patient"
        bundle["entry"].append(note)
        file.write_text(json.dumps(bundle))
    result = _run(tmp_path, raw)
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    counts = events["code"].value_counts()
    for code in ("8302-2", "3084-1", "1742-6"):
        assert counts.get(code) == before.get(code) > 0, code
    assert not events["code"].str.contains("[", regex=False).any()
    notes = events.loc[events["code"] == "34109-9", "value_text"].tolist()
    assert len(notes) == 4 and all("[ZIP]" in n for n in notes), notes
    assert not any(z in n for n in notes for z in zips)
    # quality.json holds "[0.0, 10000.0]" (a range bound), which is no ZIP 10000
    assert "10000.0" in (tmp_path / "out" / "quality.json").read_text()
    assert result.phi_findings == [] and result.report["phi_scan"]["findings"] == 0


def test_two_people_sharing_an_email_stay_two_patients_and_are_reported(tmp_path):
    raw = _generate(tmp_path)
    (fa, a), (fb, b) = _bundles(raw)[:2]
    mail = "household@example.org"
    for file, bundle in ((fa, a), (fb, b)):
        for tel in _patient(bundle)["telecom"]:
            if tel["system"] == "email":
                tel["value"] = mail
        file.write_text(json.dumps(bundle))
    result = _run(tmp_path, raw)
    truth = pd.read_csv(tmp_path / "truth" / "patients.csv")
    assert result.report["timeline"]["patients"] == len(truth)
    linkage = result.report["linkage"]
    assert linkage["ambiguous"] >= 1
    pair = next(p for p in linkage["pairs"] if p["agree"] == "email")
    assert pair["reason"] == "strong identifier conflict"
    assert pair["left"]["patient_id"] != pair["right"]["patient_id"]
    text = (tmp_path / "out" / "report.json").read_text()
    assert mail not in text and "household" not in text
    # every event of each person stays with that person: two distinct index dates
    patients = pd.read_parquet(tmp_path / "out" / "patients.parquet")
    assert {pair["left"]["patient_id"], pair["right"]["patient_id"]} <= set(patients["patient_id"])
