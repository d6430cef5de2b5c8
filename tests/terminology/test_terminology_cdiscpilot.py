"""Ground truth from real data: the CDISC SDTM pilot reports every lab and vital sign result in
its original unit (--ORRES/--ORRESU) and in standard units (--STRESN/--STRESU) side by side, and
the twinlab demo study does the same. Converting the original with twinlab must give the
standard value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinlab.terminology import (
    UnitError,
    canonical_unit,
    convert,
    lookup_code,
    map_codes,
    normalize_units,
    to_ucum,
    unmapped_report,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PILOT = DATA / "sdtm" / "cdiscpilot_update2"


def read_xpt(path: Path) -> pd.DataFrame:
    """An XPT file as a DataFrame (latin-1 text in old files: cp1252 fallback)."""
    pyreadstat = pytest.importorskip("pyreadstat")
    if not path.exists():
        pytest.skip(f"{path} not available")
    try:
        df, _ = pyreadstat.read_xport(str(path))
    except UnicodeDecodeError:
        df, _ = pyreadstat.read_xport(str(path), encoding="cp1252")
    return df


def _unit(u: str) -> str:
    """The pilot writes no unit for fractions (HCT, HBA1C in LBSTRESU) and unitless results."""
    return u.strip() or "1"


def ground_truth(df: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Convert every numeric --ORRES with twinlab and compare with --STRESN, per unit pair."""
    num = pd.to_numeric(df[f"{prefix}ORRES"], errors="coerce")
    rows = df[num.notna() & df[f"{prefix}STRESN"].notna()].copy()
    rows["orres"] = num[rows.index]
    out = []
    for (testcd, ou, su), g in rows.groupby(
        [f"{prefix}TESTCD", f"{prefix}ORRESU", f"{prefix}STRESU"], dropna=False
    ):
        system = "sdtm:LBTESTCD" if prefix == "LB" else "sdtm:VSTESTCD"
        target = lookup_code(system, testcd)
        code = target[1] if target else None
        expected = g[f"{prefix}STRESN"].to_numpy(float)
        try:
            got = convert(g["orres"].to_numpy(), _unit(ou), _unit(su), code=code)
            ok = np.isclose(got, expected, rtol=0.01, atol=0.0)
            # or within the precision the standard value was reported with
            decimals = g[f"{prefix}STRESC"].str.partition(".")[2].str.len().to_numpy()
            ok |= np.abs(got - expected) <= 0.5 * 10.0 ** (-decimals.astype(float)) + 1e-12
            error = ""
        except UnitError as err:
            ok, error = np.zeros(len(g), dtype=bool), err.reason
        out.append(
            {"test": testcd, "from": ou, "to": su, "code": code, "rows": len(g),
             "ok": int(ok.sum()), "error": error}
        )  # fmt: skip
    report = pd.DataFrame(out)
    report["share"] = report["ok"] / report["rows"]
    return report


@pytest.mark.parametrize("name", ["lbch.xpt", "lbhe.xpt", "lbur.xpt", "vs.xpt"])
def test_pilot_original_units_convert_to_the_reported_standard_values(name: str) -> None:
    df = read_xpt(PILOT / name)
    prefix = "VS" if name == "vs.xpt" else "LB"
    report = ground_truth(df, prefix)
    # the pilot has these pairs; the test must not pass vacuously
    assert (
        report["rows"].sum()
        > 0.9 * pd.to_numeric(df[f"{prefix}ORRES"], errors="coerce").notna().sum()
    )
    failing = report[report["share"] < 0.99]
    assert failing.empty, f"unit pairs below 99% agreement:\n{failing.to_string()}"


def test_pilot_ground_truth_covers_the_mass_to_molar_conversions() -> None:
    report = ground_truth(read_xpt(PILOT / "lbch.xpt"), "LB")
    pairs = set(zip(report["test"], report["from"], report["to"], strict=True))
    for pair in [("CREAT", "mg/dL", "umol/L"), ("URATE", "mg/dL", "umol/L"),
                 ("GLUC", "mg/dL", "mmol/L"), ("UREAN", "mg/dL", "mmol/L"),
                 ("CA", "mg/dL", "mmol/L"), ("BILI", "mg/dL", "umol/L"),
                 ("CHOL", "mg/dL", "mmol/L"), ("PHOS", "mg/dL", "mmol/L")]:  # fmt: skip
        assert pair in pairs
    vs = ground_truth(read_xpt(PILOT / "vs.xpt"), "VS")
    for pair, n in [(("HEIGHT", "in", "cm"), 245), (("WEIGHT", "LB", "kg"), 2049),
                    (("TEMP", "F", "C"), 2713)]:  # fmt: skip
        row = vs[(vs["test"] == pair[0]) & (vs["from"] == pair[1]) & (vs["to"] == pair[2])]
        assert row["rows"].item() == n and row["share"].item() >= 0.99


def sdtm_events(df: pd.DataFrame, prefix: str, system: str) -> pd.DataFrame:
    """Events as an SDTM reader would emit them (source vocabulary, numeric --ORRES)."""
    value = pd.to_numeric(df[f"{prefix}ORRES"], errors="coerce")
    unit = df[f"{prefix}ORRESU"].replace("", None)
    spec = df[f"{prefix}SPEC"] if f"{prefix}SPEC" in df.columns else None
    quals = [{} if spec is None or not s else {"matrix": s.lower()} for s in
             (spec if spec is not None else [None] * len(df))]  # fmt: skip
    return pd.DataFrame(
        {
            "domain": "lab" if prefix in {"LB", "PC"} else "vital",
            "code_system": system,
            "code": df[f"{prefix}TESTCD"],
            "display": df[f"{prefix}TEST"],
            "value_num": value.where(value.notna(), np.nan),
            "value_text": df[f"{prefix}ORRES"],
            "unit": unit.where(value.notna(), None),
            "qualifiers": quals,
            "stresn": df[f"{prefix}STRESN"],
            "stresu": df[f"{prefix}STRESU"],
        }
    )


def test_pilot_harmonized_lab_values_agree_with_the_standard_values() -> None:
    lb = pd.concat([read_xpt(PILOT / f) for f in ("lbch.xpt", "lbhe.xpt", "lbur.xpt")])
    events = sdtm_events(lb.reset_index(drop=True), "LB", "SDTM LBTESTCD")
    out = normalize_units(map_codes(events))
    assert len(out) == len(events)
    # independently: every pilot test with a LOINC row in the table, and only those, is mapped
    mapped = out["code_system"] == "http://loinc.org"
    unmapped_tests = set(events.loc[~mapped, "code"])
    assert unmapped_tests == {"ANISO", "MACROCY", "MICROCY", "POIKILO", "POLYCHR", "COLOR",
                              "KETONES", "UROBIL", "PH", "SPGRAV"}  # fmt: skip
    report = unmapped_report(out)
    expected = events.loc[~mapped].groupby("code").size()
    assert dict(zip(report["code"], report["count"], strict=True)) == expected.to_dict()
    # where the canonical unit is the pilot's standard unit, the value must be LBSTRESN
    same = [
        to_ucum(su) == unit if su else False
        for su, unit in zip(out["stresu"], out["unit"].fillna(""), strict=True)
    ]
    same = np.array(same) & out["value_num"].notna().to_numpy() & out["stresn"].notna().to_numpy()
    assert same.sum() > 20_000
    close = np.isclose(out.loc[same, "value_num"], out.loc[same, "stresn"], rtol=0.01)
    assert close.mean() >= 0.99, out.loc[same][~close].groupby("code").size()
    # CREAT is in umol/L now, the original kept
    creat = out[out["code"] == "2160-0"]
    assert set(creat["unit"]) == {"umol/L"} and set(creat["orig_unit"]) == {"mg/dL"}
    assert all(q.get("source_code") == "CREAT" for q in creat["qualifiers"])


def test_pilot_vital_signs_are_harmonized_to_kg_cm_and_celsius() -> None:
    vs = read_xpt(PILOT / "vs.xpt")
    out = normalize_units(map_codes(sdtm_events(vs, "VS", "sdtm:VSTESTCD")))
    assert (out["code_system"] == "http://loinc.org").all()
    numeric = out["value_num"].notna()
    for code, unit in [("29463-7", "kg"), ("8302-2", "cm"), ("8310-5", "Cel"),
                       ("8480-6", "mm[Hg]"), ("8867-4", "/min")]:  # fmt: skip
        rows = out[numeric & (out["code"] == code)]
        assert len(rows) > 100 and set(rows["unit"]) == {unit} == {canonical_unit(code)}
        assert np.isclose(rows["value_num"], rows["stresn"], rtol=0.01, atol=0.06).mean() >= 0.99
    issues = [q for q in out["qualifiers"] if "unit_issue" in q]
    assert issues == []


SYNTH_N = 12


@pytest.fixture(scope="module")
def synth_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = pytest.importorskip("twinlab.synth")
    root = tmp_path_factory.mktemp("synth")
    synth.generate_study(root / "out", root / "truth", synth.SynthConfig(n_patients=SYNTH_N))
    return root / "out" / "sdtm"


def test_synthetic_study_lab_and_vitals_harmonize_to_its_standard_values(synth_study: Path) -> None:
    lb = read_xpt(synth_study / "lb.xpt")
    vs = read_xpt(synth_study / "vs.xpt")
    events = pd.concat(
        [sdtm_events(lb, "LB", "sdtm:LBTESTCD"), sdtm_events(vs, "VS", "sdtm:VSTESTCD")],
        ignore_index=True,
    )
    out = normalize_units(map_codes(events))
    assert set(out["code"]) == {"2160-0", "1742-6", "3084-1", "29463-7", "8302-2"}
    assert not any("unit_issue" in q or "unmapped" in q for q in out["qualifiers"])
    expected_unit = {"2160-0": "umol/L", "1742-6": "U/L", "3084-1": "umol/L", "29463-7": "kg",
                     "8302-2": "cm"}  # fmt: skip
    assert (out["unit"] == out["code"].map(expected_unit)).all()
    # the generator rounds the standard value to 0.1; conversions of 0.1 mg/dL or 0.1 LB add up
    assert np.allclose(out["value_num"], out["stresn"], rtol=0.01, atol=0.1)


def test_synthetic_pk_analyte_stays_local_and_unflagged(synth_study: Path) -> None:
    pc = read_xpt(synth_study / "pc.xpt")
    events = sdtm_events(pc, "PC", "sdtm:PCTESTCD").assign(domain="concentration")
    out = normalize_units(map_codes(events))
    assert (out["code"] == "TWINURO").all() and (out["code_system"] == "sdtm:PCTESTCD").all()
    assert all(q.get("local_code") is True and "unmapped" not in q for q in out["qualifiers"])
    numeric = out["value_num"].notna()
    assert numeric.sum() > 0 and set(out.loc[numeric, "unit"]) == {"mg/L"}
    assert unmapped_report(out).empty
