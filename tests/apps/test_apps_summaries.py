"""Cohort aggregates with small-cell suppression, the quality report and the audit trail."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from twinlab.apps.stats import suppress_small_cells
from twinlab.apps.summaries import (
    audit_entries,
    cohort_counts,
    conservation,
    gate_records,
    gate_status,
    quality_checks,
    readable_patients,
    run_lineage,
    run_parameters,
    studies,
)
from twinlab.audit import AuditLog


def test_small_cells_are_suppressed_with_a_complementary_cell():
    df = pd.DataFrame({"g": list("abcd"), "n": [40, 3, 12, 7]})
    out = suppress_small_cells(df, k=5)
    # 3 is hidden; alone it could be recovered from the total, so 7 goes too; the counts
    # shown are rounded to a multiple of 5
    assert out["n"].tolist() == ["40", "<5", "10", "<5"]
    assert suppress_small_cells(df, k=5, total=False)["n"].tolist() == ["40", "<5", "10", "5"]
    assert suppress_small_cells(df, k=5, round_to=1)["n"].tolist() == ["40", "<5", "12", "<5"]
    assert suppress_small_cells(df, k=1)["n"].tolist() == ["40", "3", "12", "7"]


def test_cohort_counts_hide_small_groups_only_when_asked(project):
    patients = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    raw = cohort_counts(patients, "sex", suppress=False)
    assert raw["n"].iloc[-1] == len(patients) == raw["n"].iloc[:-1].sum()
    hidden = cohort_counts(patients, "age band", min_cell=5)
    counts = patients.shape[0]
    assert hidden["n"].iloc[-1] == str(5 * round(counts / 5))  # the total is rounded too
    shown = [int(v) for v in hidden["n"] if not v.startswith("<")]
    assert all(v >= 5 and v % 5 == 0 for v in shown)
    assert not any(str(pid) in hidden.to_string() for pid in patients["patient_id"])
    with pytest.raises(ValueError, match="unknown grouping"):
        cohort_counts(patients, "zip")


def test_quality_and_conservation_tables(project):
    folder = project / "data" / "harmonized" / "demo"
    assert studies(project) == ["demo"]
    q = quality_checks(json.loads((folder / "quality.json").read_text()))
    assert q.loc[0, "status"] == "pass"
    c = conservation(json.loads((folder / "report.json").read_text())).set_index("format")
    assert c.loc["fhir", "records_in"] == c.loc["fhir", "accepted"] + 1
    assert c["reconciles"].all()


def test_audit_entries_and_run_lineage_read_a_real_log(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", actor="rita")
    log.append(
        "stage.run",
        "fit",
        params={"draws": 10},
        new={
            "run_record": "r.json",
            "run_record_sha256": "ab",
            "outputs": {"models/x": {"md5": "123"}},
        },
    )
    log.append("dashboard.query", "whatif", params={"user": "sam", "dose": 100})
    entries = audit_entries(log.path)
    assert entries["action"].tolist() == ["stage.run", "dashboard.query"]
    assert json.loads(entries.loc[1, "params"]) == {"user": "sam", "dose": 100}
    runs = run_lineage(entries)
    assert runs.loc[0, "stage"] == "fit" and "models/x (123)" in runs.loc[0, "outputs"]
    assert audit_entries(tmp_path / "missing.jsonl").empty


def test_patients_for_people_and_parameters_and_gate_as_tables(project):
    patients = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    shown = readable_patients(patients)
    assert "schema_version" not in shown and "sources" not in shown
    assert not any(c.startswith("cov_") for c in shown.columns)
    age = "Age (years; 90 = 90 or over)"  # the Safe Harbor category says what 90 means
    assert {"Patient (pseudonym)", "Weight (kg)", "Creatinine (µmol/L)", age} <= set(shown.columns)
    assert str(shown[age].dtype) == "Int64"  # whole years, not 73.0
    assert shown[age].max() <= 90
    crcl = shown["Creatinine clearance (mL/min, Cockcroft–Gault)"]
    assert crcl.between(10, 250).all()  # derived (Cockcroft–Gault), rounded to 0.1
    entries = pd.DataFrame(
        [
            {"action": "stage.run", "target": "fit", "seq": 1, "params": '{"draws": 1}'},
            {"action": "stage.run", "target": "fit", "seq": 5,
             "params": json.dumps({"draws": 1000, "nuts": {"target_accept": 0.8}})},
        ]
    )  # fmt: skip
    table = run_parameters(entries)  # the latest run, one row per (dotted) parameter
    assert table.to_dict("records") == [
        {"stage": "fit", "run": 5, "parameter": "draws", "value": "1000"},
        {"stage": "fit", "run": 5, "parameter": "nuts.target_accept", "value": "0.8"},
    ]
    # the gate as the validate stage recorded it for the registered version, with its bounds
    # (reports/validate.json, a DVC metric, has none)
    [(label, gate)] = gate_records(project)
    assert label == "twin_test/1"
    passed, checks = gate_status(gate)
    assert passed is True and checks["passed"].eq("yes").all()
    rows = checks.set_index("check")
    ess = next(c["value"] for c in gate["checks"] if c["name"] == "min_ess_bulk")
    assert rows.loc["bulk effective sample size (smallest)", ["value", "bound"]].tolist() == [
        f"{ess:.4g}",
        "≥ 20",
    ]
    assert rows.loc["R-hat of the population parameters (largest)", "bound"] == "≤ 1.1"
    assert (
        rows.loc["VPC: observations inside the prediction interval (share)", "bound"]
        == "in [0.8, 0.99]"
    )
    failed = {**gate, "passed": False, "checks": [{**gate["checks"][0], "passed": False}]}
    assert gate_status(failed)[0] is False and gate_status(failed)[1]["passed"].tolist() == ["NO"]
    assert gate_status(None)[0] is None and gate_status(None)[1].empty
