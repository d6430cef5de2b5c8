"""The harmonizer's per-event checks (issue 15): placeholder dates, values that overflow in unit
conversion, implausible values quarantined or flagged per event, and a run that goes on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize, quality_report, typical_ranges
from twinlab.harmonize.validation import check_dates, check_values, plausibility_table
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study

LOINC = "http://loinc.org"


def _events(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "source_patient": ["p"] * n, "time": pd.to_datetime(["2020-01-01"] * n, utc=True),
        "end_time": pd.Series([pd.NaT] * n, dtype="datetime64[us, UTC]"), "domain": ["lab"] * n,
        "code_system": [LOINC] * n, "code": ["718-7"] * n, "value_num": [140.0] * n,
        "unit": ["g/L"] * n, "qualifiers": [{} for _ in range(n)],
        "source_record": [f"r{i}" for i in range(n)], "format": ["fhir"] * n,
        "source_file": ["src-1"] * n,
    }  # fmt: skip
    base.update(columns)
    return pd.DataFrame(base)


def test_placeholder_dates_are_quarantined_per_event_by_field() -> None:
    stamps = np.array(["0001-01-01", "2020-05-01", "9999-12-31", "2020-05-02"], "datetime64[us]")
    times = pd.Series(stamps).dt.tz_localize("UTC")
    ends = pd.Series([pd.NaT, pd.NaT, pd.NaT, pd.Timestamp("9999-12-31", tz="UTC")]).astype(
        "datetime64[us, UTC]"
    )
    kept, rows = check_dates(_events(time=times, end_time=ends))
    assert kept["source_record"].tolist() == ["r1"]
    assert rows["check"].tolist() == ["harmonize.date"] * 3
    assert rows.set_index("source_record")["reason"].str.split().str[0].to_dict() == {
        "r0": "time", "r2": "time", "r3": "end_time"}  # fmt: skip
    assert not rows["reason"].str.contains("9999|0001").any()


@pytest.mark.parametrize(
    ("code", "unit", "value", "domain"),
    [("29463-7", "kg", -72.5, "vital"), ("8302-2", "cm", 99_999_999.0, "vital"),
     ("718-7", "g/L", 1e301, "lab"), ("C1", "ng/mL", -3.2, "concentration"),
     ("C1", "ng/mL", 1e308, "concentration"), ("steps_total", "{steps}", -500.0,
                                               "wearable_summary")],
)  # fmt: skip
def test_implausible_values_are_quarantined_or_flagged(code, unit, value, domain) -> None:
    system = LOINC if code[0].isdigit() else "local"
    ev = _events(code=[code, code], unit=[unit, unit], value_num=[value, np.nan],
                 domain=[domain, domain], code_system=[system, system])  # fmt: skip
    kept, rows = check_values(ev, "quarantine")
    assert kept["source_record"].tolist() == ["r1"]  # the missing value is not judged
    assert rows["check"].tolist() == ["harmonize.plausibility"]
    assert repr(value) not in rows["reason"].iloc[0] and f"{value:g}" not in rows["reason"].iloc[0]
    kept, rows = check_values(ev, "flag")
    assert rows.empty and kept["qualifiers"].iloc[0]["implausible"].startswith("outside")


def test_plausible_values_pass_and_infinity_is_an_overflow() -> None:
    ev = _events(value_num=[140.0, np.inf, 80.0], code=["718-7", "718-7", "29463-7"],
                 unit=["g/L", "g/L", "kg"])  # fmt: skip
    kept, rows = check_values(ev, "flag")
    assert kept["source_record"].tolist() == ["r0", "r2"]
    assert rows["check"].tolist() == ["harmonize.unit_overflow"]
    with pytest.raises(ValueError, match="quarantine' or 'flag"):
        check_values(ev, "drop")


def test_the_shipped_table_has_sane_rows() -> None:
    table = plausibility_table()
    assert (table["low"] <= table["high"]).all()
    assert {"29463-7", "8302-2", "718-7"} <= set(table["code"])
    assert {"concentration", "dose"} <= set(table.loc[table["code"] == "*", "domain"])


def test_the_quality_reports_typical_ranges_come_from_the_same_table() -> None:
    """One table holds both tiers: the hard limits that quarantine and, inside them, the
    typical range the quality report checks (more than 1 % outside fails the code's check)."""
    table = plausibility_table().set_index("code")
    ranges = typical_ranges()
    assert {"29463-7", "8867-4", "3084-1", "14933-6"} <= set(ranges)
    for code, (low, high, unit) in ranges.items():
        row = table.loc[code]
        assert row["unit"] == unit and row["low"] <= low <= high <= row["high"], code
    # a weight of 450 kg is under the hard limit (kept by check_values) but not typical
    weights = [75.0] * 90 + [450.0] * 10
    ev = _events(
        code=["29463-7"] * 100, unit=["kg"] * 100, value_num=weights, domain=["vital"] * 100
    )
    kept, rows = check_values(ev, "quarantine")
    assert len(kept) == 100 and rows.empty
    ev = ev.assign(patient_id="P-1", value_text=None)
    patients = pd.DataFrame({"patient_id": ["P-1"], "birth_year": [1970]})
    report = quality_report(patients, ev, pd.DataFrame({"check": []}), [{"records_in": 100}])
    check = next(c for c in report["checks"] if c["check"] == "range.29463-7")
    assert (check["checked"], check["failed"], check["status"]) == (100, 10, "fail")
    ok = quality_report(patients, ev.assign(value_num=75.0), pd.DataFrame({"check": []}),
                        [{"records_in": 100}])  # fmt: skip
    assert next(c for c in ok["checks"] if c["check"] == "range.29463-7")["status"] == "pass"


def _obs(code: str, display: str, value: float, unit: str, patient_ref: str, i: int) -> dict:
    return {
        "fullUrl": f"urn:uuid:fault-{i}",
        "resource": {
            "resourceType": "Observation", "id": f"fault-{i}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": {"reference": patient_ref}, "effectiveDateTime": "2024-02-01T08:00:00Z",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit},
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def faulty_study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    raw = root / "raw"
    generate_study(raw, root / "truth", SynthConfig(n_patients=3, seed=5, wearable_fraction=0.0))
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    ref = patient["fullUrl"]
    bundle["entry"] += [
        _obs("29463-7", "Body weight", -72.5, "kg", ref, 1),
        _obs("8302-2", "Body height", 99_999_999, "cm", ref, 2),
        _obs("718-7", "Hemoglobin", 1e300, "g/dL", ref, 3),
        _obs("718-7", "Hemoglobin", 1e308, "g/dL", ref, 4),  # finite, infinite in g/L
    ]
    file.write_text(json.dumps(bundle))
    return raw


@pytest.mark.parametrize("action", ["quarantine", "flag"])
def test_a_study_with_implausible_values_runs_and_accounts_for_each(faulty_study, tmp_path,
                                                                    action) -> None:  # fmt: skip
    result = harmonize(
        [faulty_study], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone",
        config=HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"}, implausible=action),
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip
    assert result.report["reconciles"]
    q = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    checks = q.loc[q["check"].str.startswith("harmonize."), "check"].value_counts().to_dict()
    expected = {"harmonize.unit_overflow": 1}
    if action == "quarantine":
        expected["harmonize.plausibility"] = 3
    assert checks == expected  # the clean synthetic values pass: no other event is touched
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert np.isfinite(events["value_num"].dropna()).all()
    flagged = events["qualifiers"].str.contains('"implausible"').sum()
    assert flagged == (3 if action == "flag" else 0)


@pytest.mark.parametrize(
    ("unit", "value", "kind"),
    [("mg/L", -0.4, "non-negative quantity"), ("mmol/L", 1e300, "non-negative quantity"),
     ("%", -1e300, "any unit"), ("10*9/L", -1.0, "non-negative quantity"),
     ("{cells}/uL", -3.0, "non-negative quantity"), ("Cel", 1e300, "any unit")],
)  # fmt: skip
def test_unlisted_analytes_are_held_to_the_bounds_of_their_unit(unit, value, kind) -> None:
    """An analyte without a row in plausibility.csv was published unchecked: a negative
    concentration, a 1e300 (a percentage may exceed 100 or be negative: FEV1 % predicted, a
    percent change)."""
    ev = _events(code=["XYZ", "XYZ"], code_system=["local", "local"], unit=[unit, unit],
                 value_num=[value, 1.0])  # fmt: skip
    kept, rows = check_values(ev, "quarantine")
    assert kept["source_record"].tolist() == ["r1"]
    assert rows["check"].tolist() == ["harmonize.unit_bound"]
    reason = rows["reason"].iloc[0]
    assert kind in reason and repr(value) not in reason and f"{value:g}" not in reason
    kept, rows = check_values(ev, "flag")
    assert rows.empty and "implausible" in kept["qualifiers"].iloc[0]
    assert "implausible" not in kept["qualifiers"].iloc[1]


def test_signed_units_and_listed_ranges_keep_their_own_rules() -> None:
    # a temperature, a z-score and a dimensionless value may be negative; a listed analyte's
    # range decides for it (not the generic bounds of its unit)
    ev = _events(
        code=["T", "Z", "R", "4544-3", "FEV1PP", "PCHG"],
        code_system=["local", "local", "local", LOINC, "local", "local"],
        unit=["Cel", "{z-score}", "1", "%", "%", "%"],
        value_num=[-20.0, -2.5, -0.3, 45.0, 112.0, -35.0],  # FEV1 % predicted, % change
    )
    kept, rows = check_values(ev, "quarantine")
    assert rows.empty and len(kept) == 6
