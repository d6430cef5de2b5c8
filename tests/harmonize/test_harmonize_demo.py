"""The harmonizer on the synthetic demo study, checked against its ground truth."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.security.crypto import Keyring, decrypt_bytes
from twinlab.synth import SynthConfig, generate_study
from twinlab.timeline import Cohort

DEID_KEY = b"harmonize-test-deid-key-32-bytes"
MASTER_KEY = b"harmonize-test-master-key-32-byt"
OFFSETS = {"101": "-05:00", "102": "-05:00", "201": "-06:00", "202": "-06:00",
           "301": "-08:00", "302": "-08:00"}  # fmt: skip
CONFIG = HarmonizeConfig(site_utc_offsets=OFFSETS, identifier_aliases={"vcf_sample": "usubjid"})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 12-patient demo study plus three broken files, harmonized."""
    root = tmp_path_factory.mktemp("study")
    raw, truth = root / "raw", root / "truth"
    generate_study(raw, truth, SynthConfig(n_patients=12, seed=7, wearable_fraction=0.5))
    good = sorted((raw / "fhir").glob("*.json"))[0].read_bytes()
    # cut inside the bundle's first entry: nothing in it can be salvaged (a cut after whole
    # entries keeps them: tests/ingest/test_fault_injection.py)
    cut = good.index(b'"entry"') + 200
    (raw / "fhir" / "truncated.json").write_bytes(good[:cut])
    (raw / "sdtm" / "garbage.xpt").write_bytes(b"HEADER RECORD" + bytes(range(200)))
    (raw / "notes.bin").write_bytes(b"\x00\x01 not a clinical format")
    keyring = Keyring({"k1": MASTER_KEY})
    result = harmonize(
        [raw], out_dir=root / "out", raw_zone=root / "zone", config=CONFIG,
        key=DeidKey(DEID_KEY), keyring=keyring,
    )  # fmt: skip
    return {
        "root": root, "raw": raw, "out": root / "out", "zone": root / "zone",
        "result": result, "keyring": keyring,
        "truth": pd.read_csv(truth / "patients.csv", dtype={"SITEID": str}),
    }  # fmt: skip


def test_every_file_reconciles_and_broken_files_are_quarantined(study):
    report = study["result"].report
    assert report["reconciles"]
    files = pd.DataFrame(report["files"])
    assert (files.records_in == files.accepted + files.quarantined).all()
    broken = files[files.accepted == 0]
    assert sorted(broken["format"]) == ["fhir", "sdtm", "unknown"]
    assert (broken.records_in == 1).all()
    quarantine = pd.read_parquet(study["out"] / "quarantine.parquet")
    assert sorted(quarantine["check"]) == ["fhir.parse", "ingest.format", "sdtm.parse"]
    assert quarantine["reason"].str.len().gt(10).all()
    manifest = json.loads((study["raw"] / "manifest.json").read_text())
    assert report["totals"]["accepted"] == sum(f["records"] for f in manifest["files"])


def test_one_patient_per_screened_subject_with_true_covariates(study):
    cohort = Cohort.read(study["out"])
    truth = study["truth"]
    assert len(cohort) == len(truth)
    xw = _crosswalk(study)
    pid = xw.set_index("source_patient")["patient_id"]
    truth = truth.assign(patient_id=("usubjid:" + truth["USUBJID"]).map(pid))
    assert truth["patient_id"].notna().all()
    got = cohort.patients.set_index("patient_id").loc[truth["patient_id"]]
    np.testing.assert_allclose(got["cov_weight_kg"], truth["weight_kg"], atol=0.051)
    np.testing.assert_allclose(got["cov_height_cm"], truth["height_cm"], atol=0.51)
    np.testing.assert_allclose(got["cov_creatinine_umol_l"], truth["scr_mg_dl"] * 88.42, rtol=0.01)
    nocall = _cyp2c9_no_calls(study["raw"] / "vcf" / "genotypes.vcf")
    called = truth["genotyped"].to_numpy() & ~truth["USUBJID"].isin(nocall).to_numpy()
    diplotypes = got["cov_cyp2c9"].to_numpy()
    assert (diplotypes[called] == truth["cyp2c9_diplotype"].to_numpy()[called]).all()
    assert pd.isna(diplotypes[~called]).all()
    randomized = ~truth["screen_fail"].to_numpy()
    assert (got["cov_armcd"].to_numpy()[randomized] == truth["ARMCD"][randomized]).all()
    expected_year = np.where(truth["age"] >= 90, "90+", truth["birth_date"].str[:4])
    assert (got["birth_year"].to_numpy() == expected_year).all()


def _cyp2c9_no_calls(vcf: Path) -> set[str]:
    """Samples with a missing call at a CYP2C9 *2/*3 site, read straight from the VCF."""
    lines = [
        line.split("\t") for line in vcf.read_text().splitlines() if line.startswith(("#C", "chr"))
    ]
    samples = lines[0][9:]
    missing = set()
    for row in lines[1:]:
        if row[2] in ("rs1799853", "rs1057910"):
            missing |= {s for s, gt in zip(samples, row[9:], strict=True) if gt.startswith(".")}
    return missing


def test_dates_are_shifted_per_patient_and_intervals_are_exact(study):
    cohort = Cohort.read(study["out"])
    truth = study["truth"]
    xw = _crosswalk(study).set_index("source_patient")
    randomized = truth[~truth["screen_fail"]]
    first_dose = pd.to_datetime(randomized["first_dose_local"] + randomized["utc_offset"], utc=True)
    keys = "usubjid:" + randomized["USUBJID"]
    shifted = cohort.patients.set_index("patient_id").loc[xw.loc[keys, "patient_id"], "index_date"]
    delta = pd.Series(shifted.to_numpy() - first_dose.to_numpy())
    days = (delta / pd.Timedelta(days=1)).to_numpy(dtype=float)
    assert np.all(days == np.round(days)) and np.all(days != 0)
    assert np.array_equal(days.astype(int), xw.loc[keys, "shift_days"].to_numpy())
    # the PK samples keep their exact hours after the first dose
    pc = pd.read_sas(study["raw"] / "sdtm" / "pc.xpt", format="xport", encoding="utf-8")
    ex = pd.read_sas(study["raw"] / "sdtm" / "ex.xpt", format="xport", encoding="utf-8")
    start = pd.to_datetime(ex.groupby("USUBJID")["EXSTDTC"].min())
    pc = pc[pc["USUBJID"].isin(start.index)]
    true_hours = (pd.to_datetime(pc["PCDTC"]) - pc["USUBJID"].map(start)).dt.total_seconds() / 3600
    conc = cohort.events[cohort.events["domain"] == "concentration"]
    assert len(conc) == len(pc)
    assert np.allclose(np.sort(conc["hours_from_index"]), np.sort(true_hours), atol=1e-9)


def test_same_fact_from_ehr_and_edc_is_linked_and_counted_once(study):
    cohort = Cohort.read(study["out"])
    same = cohort.links[cohort.links["relation"] == "same_fact"]
    events = cohort.events.set_index("event_id")
    weights = events[events["code"] == "29463-7"]
    copies = weights["qualifiers"].str.contains("duplicate_of")
    # each screened subject's weight comes from the EHR and the EDC: one copy is flagged
    assert copies.sum() == len(study["truth"]) == (~copies).sum()
    linked = same[same["from_event_id"].isin(weights.index[copies])]
    assert len(linked) == len(study["truth"])
    assert linked["lag_hours"].abs().max() < 1 / 60  # site offsets align EDC and EHR clocks


def test_dose_links_point_to_the_last_dose_before_each_sample(study):
    cohort = Cohort.read(study["out"])
    links = cohort.links[cohort.links["relation"] == "dose_to_observation"]
    events = cohort.events.set_index("event_id")
    assert (events.loc[links["from_event_id"], "domain"] == "dose").all()
    assert links["lag_hours"].between(0, 26).all()


def _identifiers(raw: Path) -> dict[str, set[str]]:
    """Identifiers planted in the raw sources, read independently of twinlab's readers."""
    found: dict[str, set[str]] = {"exact": set(), "folded": set()}
    for file in (raw / "fhir").glob("*-*.json"):
        bundle = json.loads(file.read_text())
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] != "Patient":
                continue
            for name in res.get("name", []):
                found["exact"].update([name["family"], *name.get("given", [])])
            for ident in res.get("identifier", []):
                found["exact"].add(ident["value"])
            for tel in res.get("telecom", []):
                found["folded"].add(tel["value"].lower())
            for addr in res.get("address", []):
                found["exact"].update(addr.get("line", []))
                found["exact"].update([addr.get("city", ""), addr.get("postalCode", "")])
            found["exact"].add(res["birthDate"])
    for file in (raw / "wearables").glob("*.csv"):
        for line in file.read_text().splitlines()[:8]:
            if line.startswith("# serial_number") or line.startswith("# account_"):
                found["folded"].add(line.split(":", 1)[1].strip().lower())
    found["exact"] = {v for v in found["exact"] if len(v) >= 4}
    return found


def _text_of(file: Path) -> str:
    if file.suffix == ".parquet":
        table = pq.read_table(file)
        return json.dumps(table.to_pylist(), default=str) + json.dumps(
            {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        )
    return file.read_text(errors="replace")


def test_no_planted_identifier_reaches_any_output_file(study):
    planted = _identifiers(study["raw"])
    assert len(planted["exact"]) > 50 and len(planted["folded"]) > 10
    outputs = [p for p in study["out"].rglob("*") if p.is_file()]
    assert {p.name for p in outputs} >= {"patients.parquet", "events.parquet", "report.json"}
    for file in outputs:
        text = _text_of(file)
        leaked = [v for v in planted["exact"] if re.search(rf"\b{re.escape(v)}\b", text)]
        leaked += [v for v in planted["folded"] if v in text.lower()]
        assert leaked == [], f"{file.name} holds identifiers from the input"
    assert study["result"].phi_findings == []
    # the subjects' trial ids are pseudonymized too
    for file in outputs:
        assert not re.search(r"TWL-001-\d{3}-\d{4}", _text_of(file)), file.name


def test_raw_zone_is_encrypted_and_decrypts_to_the_crosswalk_and_lineage(study):
    planted = _identifiers(study["raw"])
    for file in study["zone"].iterdir():
        data = file.read_bytes()
        assert data[:4] == b"TWLE"
        assert not any(v.encode() in data for v in planted["exact"])
    cohort = Cohort.read(study["out"])
    assert set(_crosswalk(study)["patient_id"]) == set(cohort.patients["patient_id"])
    lineage = _decrypt_parquet(study, "lineage.parquet")
    assert set(cohort.events["event_id"]) == set(lineage["event_id"])
    raw_q = _decrypt_parquet(study, "quarantine_raw.parquet")
    assert len(raw_q) == 3 and raw_q["raw"].str.len().gt(0).all()


def _decrypt_parquet(study, name: str) -> pd.DataFrame:
    blob = (study["zone"] / f"{name}.enc").read_bytes()
    data = decrypt_bytes(blob, context=name, keyring=study["keyring"])
    return pd.read_parquet(io.BytesIO(data))


def _crosswalk(study) -> pd.DataFrame:
    return _decrypt_parquet(study, "crosswalk.parquet")


def test_cli_ingest_reports_counts_and_refuses_to_run_without_a_key(study, tmp_path):
    twinlab = str(Path(sys.executable).parent / "twinlab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINLAB_")}
    env["HOME"] = str(tmp_path)
    cmd = [twinlab, "ingest", str(study["raw"] / "sdtm"), "--out", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    # a user error: one readable line, exit 2 (the CLI package's policy, issue 18; 1 before it)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    assert "TWINLAB_DEID_KEY" in proc.stderr
    env["TWINLAB_DEID_KEY"] = base64.b64encode(DEID_KEY).decode()
    env["TWINLAB_MASTER_KEY"] = base64.b64encode(MASTER_KEY).decode()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "1 quarantined" in proc.stdout and "12 patients" in proc.stdout
    assert (tmp_path / "out.rawzone" / "crosswalk.parquet.enc").is_file()


def test_lineage_traces_events_back_to_the_right_source_records(study):
    from twinlab.harmonize.lineage import source_record, trace_event, trace_patient
    from twinlab.security import PermissionDenied

    cohort = Cohort.read(study["out"])
    events = cohort.events
    shifts = _crosswalk(study).set_index("patient_id")["shift_days"]
    kw = {"timeline_dir": study["out"], "raw_zone": study["zone"], "keyring": study["keyring"]}
    checked = set()
    for domain in ("concentration", "vital", "lab", "genomic_variant", "wearable_summary"):
        for event in events[events["domain"] == domain].head(3).itertuples():
            trace = trace_event(event.event_id, **kw)
            raw = source_record(trace, study["raw"])
            checked.add(trace["format"])
            assert trace["patient_key"].endswith(str(raw["source_patient"])) or trace["format"] in (
                "fhir",
                "wearables",
            )
            if trace["format"] == "sdtm":
                assert float(raw["orig_value"]) == float(event.orig_value)
            elif pd.notna(raw["time"]):
                # EHR and device times carry their offset: only the patient's date shift remains
                moved = (event.time - raw["time"]) / pd.Timedelta(days=1)
                assert moved == shifts[event.patient_id]
    assert checked == {"sdtm", "fhir", "vcf", "wearables"}
    sources = trace_patient(events["patient_id"].iloc[0], **kw)
    assert set(sources["format"]) >= {"sdtm", "fhir"}
    with pytest.raises(PermissionDenied):
        trace_event(events["event_id"].iloc[0], role="stakeholder", **kw)


def test_wearable_minutes_are_kept_as_xarray_shifted_and_without_the_device_serial(study):
    import xarray as xr

    tree = xr.open_datatree(study["out"] / "series.zarr", engine="zarr", consolidated=False)
    xw = _crosswalk(study).set_index("patient_id")
    truth = study["truth"].dropna(subset=["wearable_serial"]).set_index("wearable_serial")
    assert len(tree.children) == len(truth)
    for pid, node in tree.children.items():
        ds = node.to_dataset()
        assert ds.sizes["time"] == 1440 and "source_patient" not in ds.attrs
        key = xw.loc[pid, "source_patient"]
        serial = truth.index[("usubjid:" + truth["USUBJID"]) == key][0]
        raw = pd.read_csv(study["raw"] / "wearables" / f"{serial}.csv", comment="#")
        first = pd.Timestamp(raw["timestamp"].iloc[0]).tz_convert("UTC").tz_localize(None)
        moved = pd.Timestamp(ds["time"].values[0]) - first
        assert moved == pd.Timedelta(days=int(xw.loc[pid, "shift_days"]))
        assert np.array_equal(ds["steps"].to_numpy(), raw["steps"].to_numpy())


@pytest.mark.slow
def test_reading_on_dask_workers_gives_the_in_process_result(study):
    from twinlab.cluster import dask_client
    from twinlab.ingest import read_sources

    def digest(results):
        counts = [r.counts for r in results]
        events = pd.concat([r.events.assign(f=r.source_file) for r in results if len(r.events)])
        return counts, pd.util.hash_pandas_object(events.astype(str), index=False).sum()

    here = digest(read_sources([study["raw"]]))
    for workers in (1, 2):
        with dask_client(n_workers=workers) as client:
            assert digest(read_sources([study["raw"]], client=client)) == here


def test_age_and_creatinine_clearance_are_the_generators_own(study):
    # the exact age at the true first dose (cov_age), not the birth year against the shifted
    # index date: Cockcroft-Gault then gives the simulated subject's own CrCl, whatever the key
    from twinlab.pkpd.covariates import add_derived_covariates

    cohort = Cohort.read(study["out"])
    truth = study["truth"]
    truth = truth[~truth["screen_fail"] & (truth["age"] < 90)]
    pid = _crosswalk(study).set_index("source_patient")["patient_id"]
    got = add_derived_covariates(cohort.patients).set_index("patient_id")
    got = got.loc[("usubjid:" + truth["USUBJID"]).map(pid)]
    assert (got["cov_age"].to_numpy() == truth["age"].to_numpy()).all()
    np.testing.assert_allclose(got["cov_crcl_ml_min"], truth["crcl_ml_min"], rtol=2e-3)
