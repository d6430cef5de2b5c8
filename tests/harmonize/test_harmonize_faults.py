"""Faults that used to pass silently: clinical codes eaten by de-identification, different
people merged by linkage, records counted as accepted and then lost (issue 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study

# FHIR notes are scrubbed (a reviewed source); unreviewed sources drop narrative text.
CONFIG = HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"}, free_text={"fhir": "scrub"})


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


def _add_unlinked_sample(raw: Path, sample: str = "TWL-999-999-9999") -> int:
    """Give the synthetic VCF an extra sample no patient has, and drop its ``##fileDate``."""
    vcf = raw / "vcf" / "genotypes.vcf"
    lines, n = [], 0
    for line in vcf.read_text().splitlines():
        if line.startswith("##fileDate"):
            continue  # undated genotypes are placed at the person's index date
        if line.startswith("#CHROM"):
            line += f"\t{sample}"
        elif not line.startswith("#"):
            line += "\t0/1:30:60"
            n += 1
        lines.append(line)
    vcf.write_text("\n".join(lines) + "\n")
    return n


def test_genotypes_of_a_vcf_sample_linked_to_no_patient_are_quarantined_not_lost(tmp_path):
    raw = _generate(tmp_path)
    n_sites = _add_unlinked_sample(raw)
    result = _run(tmp_path, raw)
    vcf = next(c for c in result.report["files"] if c["format"] == "vcf")
    assert vcf["events_quarantined"] == n_sites > 0
    assert vcf["events"] == vcf["events_in_timeline"] + n_sites
    assert result.report["reconciles"] is True
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert (events["source_file"] == vcf["source_file"]).sum() == vcf["events_in_timeline"]
    q = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    unplaced = q[q["check"] == "harmonize.unplaced"]
    assert len(unplaced) == n_sites and set(unplaced["source_file"]) == {vcf["source_file"]}
    assert unplaced["reason"].str.contains("linked to no patient").all()
    assert not q.astype(str).apply(lambda c: c.str.contains("TWL-999")).any().any()
    assert result.phi_findings == []


def test_published_quarantine_reasons_stay_readable(tmp_path):
    # the clinical engine took 'JSON', 'ends' and 'effectiveDateTime' for names: reasons were
    # published as 'Bundle entry is not valid [PHI] (the file [PHI] inside it: truncated?)'
    raw = _generate(tmp_path, n=1)
    path, bundle = _bundles(raw)[0]
    obs = next(e["resource"] for e in bundle["entry"] if "effectiveDateTime" in e["resource"])
    obs["effectiveDateTime"] = "2023-02-30"
    text = json.dumps(bundle)
    path.write_text(text)
    (raw / "fhir" / "cut.json").write_text(text[: len(text) // 2])
    result = _run(tmp_path, raw)
    q = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    reasons = set(q["reason"])
    assert "effectiveDateTime not a valid FHIR date/dateTime" in reasons
    assert "Bundle entry is not valid JSON (the file ends inside it: truncated?)" in reasons
    assert not q["reason"].str.contains("[", regex=False).any()
    assert result.phi_findings == []


def test_a_rerun_does_not_read_its_own_outputs_inside_the_source_folder(tmp_path):
    # 'twinlab ingest --out raw/out raw' read raw/out and raw/out.rawzone back on the second
    # run: every Parquet, zarr chunk and encrypted file quarantined as a source of its own
    raw = _generate(tmp_path, n=1)
    keys = {"key": DeidKey(b"k" * 32), "keyring": Keyring({"k1": b"m" * 32})}
    inside = {"out_dir": raw / "out", "raw_zone": raw / "out.rawzone", "config": CONFIG}
    runs = [harmonize([raw], **inside, **keys) for _ in range(2)]
    first, second = (r.report["totals"] for r in runs)
    assert second == first and second["quarantined"] == 0
    assert len(runs[1].report["files"]) == len(runs[0].report["files"])


def test_a_run_that_loses_events_refuses_to_publish(tmp_path, monkeypatch):
    import twinlab.harmonize.pipeline as pipeline

    raw = _generate(tmp_path)
    good = _run(tmp_path, raw)
    assert good.report["reconciles"] is True
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    place = pipeline.place_undated

    def leaky(events, index):  # the old fault: events dropped with no quarantine row
        placed, unplaced = place(events, index)
        return placed.iloc[2:].copy(), unplaced

    monkeypatch.setattr(pipeline, "place_undated", leaky)
    with pytest.raises(pipeline.ReconciliationError, match="does not reconcile") as err:
        _run(tmp_path, raw)
    assert "in the written timeline" in str(err.value)
    assert "nothing was published" in str(err.value)
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert after == before
    assert not list(tmp_path.glob(".out*staging*"))
    assert isinstance(err.value, ValueError)  # the CLI prints it as one Error: line, exit 1


def test_reconcile_names_each_broken_count():
    from twinlab.harmonize.accounting import reconcile

    counts = [{"source_file": "src-a", "records_in": 3, "accepted": 2, "quarantined": 1,
               "events": 2, "events_quarantined": 0}]  # fmt: skip
    ok = reconcile(counts, pd.Series(["src-a", "src-a"]), pd.Series(["src-a"]))
    assert ok == []
    bad = reconcile(counts, pd.Series(["src-a", "src-x"]), pd.Series([], dtype=str))
    assert any("1 in the written timeline" in p for p in bad)
    assert any("0 quarantine rows written" in p for p in bad)
    assert any("belong to no source file" in p for p in bad)
    counts[0]["accepted"] = 3
    assert any("records in" in p for p in reconcile(counts, pd.Series(["src-a"] * 2),
                                                     pd.Series(["src-a"])))  # fmt: skip


def test_the_ingest_command_refuses_a_run_that_does_not_reconcile(tmp_path, monkeypatch):
    import base64

    from click.testing import CliRunner

    import twinlab.harmonize.pipeline as pipeline
    from twinlab.cli import cli

    raw = _generate(tmp_path)
    monkeypatch.setenv("TWINLAB_DEID_KEY", base64.b64encode(b"d" * 32).decode())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    place = pipeline.place_undated
    monkeypatch.setattr(
        pipeline, "place_undated", lambda ev, ix: (place(ev, ix)[0].iloc[1:], place(ev, ix)[1])
    )
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(cli, ["ingest", str(raw), "--out", str(out)])
    assert result.exit_code in (1, 2), result.output  # the CLI's error policy: 2 (issue 18)
    assert "Error: " in result.output and "does not reconcile" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists() and not list(tmp_path.glob(".cli-out*"))


def test_a_file_delivered_twice_is_declared_a_copy_and_counted_once(tmp_path):
    raw = _generate(tmp_path)
    clean = _run(tmp_path, raw, "clean")
    (raw / "again").mkdir()
    first = sorted((raw / "fhir").glob("*.json"))[0]
    (raw / "again" / "resent.json").write_bytes(first.read_bytes())  # another name, same bytes
    result = _run(tmp_path, raw)
    copies = [c for c in result.report["files"] if "copy_of" in c]
    assert len(copies) == 1
    copy = copies[0]
    original = next(c for c in result.report["files"] if c["source_file"] == copy["copy_of"])
    assert copy["records_in"] == copy["duplicates"] == original["records_in"] > 0
    assert copy["accepted"] == copy["events"] == copy["events_in_timeline"] == 0
    totals, before = result.report["totals"], clean.report["totals"]
    assert totals["records_in"] == before["records_in"] + copy["records_in"]
    assert totals["duplicates"] == before["duplicates"] + copy["records_in"]
    assert totals["events_in_timeline"] == before["events_in_timeline"]  # not double-counted
    assert totals["files_copied"] == 1 and result.report["reconciles"] is True
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert not (events["source_file"] == copy["source_file"]).any()


def test_the_same_lab_in_two_files_is_linked_once_not_doubled(tmp_path):
    raw = _generate(tmp_path)
    clean = _run(tmp_path, raw, "clean")
    _, bundle = _bundles(raw)[0]
    obs = next(
        e for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"]
    )  # fmt: skip
    # a second delivery holding the patient and one of the same observations (new ids)
    extra = json.loads(json.dumps({"resourceType": "Bundle", "type": "collection",
                                   "entry": [bundle["entry"][0], obs]}))  # fmt: skip
    extra["entry"][1]["resource"]["id"] = "resent-1"
    extra["entry"][1]["fullUrl"] = "urn:uuid:resent-1"
    (raw / "fhir" / "zz_resent.json").write_text(json.dumps(extra))
    result = _run(tmp_path, raw)
    totals, before = result.report["totals"], clean.report["totals"]
    assert totals["events_in_timeline"] == before["events_in_timeline"] + 1
    assert totals["events_same_fact"] == before["events_same_fact"] + 1  # declared
    assert result.report["timeline"]["duplicates_linked"] == (
        clean.report["timeline"]["duplicates_linked"] + 1
    )
    assert result.report["reconciles"] is True
    from twinlab.timeline import Cohort

    code = obs["resource"]["code"]["coding"][0]["code"]
    ev = Cohort.read(tmp_path / "out").events
    same = ev[ev["code"] == code]
    copies = same["qualifiers"].str.contains("duplicate_of")
    assert copies.sum() == (ev["code"] == code).sum() - (~copies).sum()
    n_clean = pd.read_parquet(tmp_path / "clean" / "events.parquet")
    n_clean = n_clean[n_clean["code"] == code]
    kept = n_clean[~n_clean["qualifiers"].str.contains("duplicate_of")]
    assert (~copies).sum() == len(kept)  # the fact counted once, as before the second file


def test_a_run_with_no_usable_event_says_what_was_quarantined_and_why(tmp_path):
    """Nothing to publish: the error counts what was read and quarantined, by check, and gives
    the first reason, instead of leaving the per-file reasons unseen."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.json").write_text("")
    (raw / "b.json").write_text('{"resourceType": "Bundle", "entry": [{"resource": 3}]}')
    with pytest.raises(ValueError) as err:
        _run(tmp_path, raw)
    msg = str(err.value)
    assert "no usable events" in msg and "2 file(s)" in msg
    # the first file by its keyed id, not its name (which can name the patient: logs are
    # unencrypted); twinlab lineage traces it
    assert "quarantined (" in msg and re.search(r"first: src-[A-Z2-7]{16}: \S", msg)
    assert "a.json" not in msg and "b.json" not in msg
    assert not (tmp_path / "out").exists()


def test_events_of_a_patient_no_file_holds_are_kept_and_warned_about(tmp_path, monkeypatch):
    # a split NDJSON export read without its Patient file: patients with no demographics,
    # and nothing said so
    import base64

    from click.testing import CliRunner

    from twinlab.cli import cli

    raw = _generate(tmp_path)
    obs = [
        {"resourceType": "Observation", "id": f"o{i}", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
         "subject": {"reference": "Patient/ext-1"}, "effectiveDateTime": f"2024-02-0{i}T08:00Z",
         "valueQuantity": {"value": 80 + i, "unit": "umol/L", "code": "umol/L",
                           "system": "http://unitsofmeasure.org"}}
        for i in (1, 2)
    ]  # fmt: skip
    (raw / "fhir" / "Observation.ndjson").write_text("\n".join(json.dumps(o) for o in obs))
    monkeypatch.setenv("TWINLAB_DEID_KEY", base64.b64encode(b"d" * 32).decode())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    out = tmp_path / "cli-out"
    run = CliRunner().invoke(cli, ["ingest", str(raw), "--out", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads((out / "report.json").read_text())
    lacking = report["patients_without_person"]
    assert (lacking["patients"], lacking["events"]) == (1, 2)  # the synthetic study has none
    assert lacking["events_by_format"] == {"fhir": 2}
    assert "warning: 1 patients with 2 events have no person record" in run.output
    patients = pd.read_parquet(out / "patients.parquet").set_index("patient_id")
    assert lacking["patient_ids"][0] in patients.index  # kept, not quarantined
    events = pd.read_parquet(out / "events.parquet")
    assert (events["patient_id"] == lacking["patient_ids"][0]).sum() == 2
    assert "ext-1" not in (out / "report.json").read_text()  # a public id, not the key
