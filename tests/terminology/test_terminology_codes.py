"""Code mapping through the shipped tables: exact lookups, specimens, flags and reports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from twinlab.terminology import (
    LOINC,
    SNOMED,
    canonical_system,
    canonical_unit,
    code_map,
    lookup_code,
    map_codes,
    unmapped_report,
)


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit (Luhn over the digits before the hyphen)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def test_every_loinc_code_in_the_tables_has_a_valid_check_digit() -> None:
    table = code_map()
    codes = set(table.loc[table["system"] == LOINC, "code"])
    assert len(codes) > 40
    for code in codes:
        number, check = code.split("-")
        assert loinc_check_digit(number) == int(check), code


def test_every_mapped_loinc_code_has_a_canonical_unit() -> None:
    table = code_map()
    missing = {c for c in table.loc[table["system"] == LOINC, "code"] if canonical_unit(c) is None}
    assert missing == set()


@pytest.mark.parametrize(
    ("system", "code", "specimen", "expected"),
    [
        ("sdtm:LBTESTCD", "CREAT", None, "2160-0"),
        ("SDTM LBTESTCD", "CREAT", "SERUM", "2160-0"),
        ("LBTESTCD", "CREAT", "URINE", "2161-8"),  # specimen matters
        ("sdtm:LBTESTCD", "CREAT", "CSF", None),  # a specimen no row covers: unmapped
        ("sdtm:LBTESTCD", "URATE", "serum", "3084-1"),
        ("sdtm:LBTESTCD", "HGB", None, "718-7"),
        ("sdtm:LBTESTCD", "HGB", "URINE", None),
        ("sdtm:LBTESTCD", "PH", "URINE", None),  # left unmapped on purpose
        ("sdtm:VSTESTCD", "SYSBP", None, "8480-6"),
        ("sdtm:VSTESTCD", "DIABP", None, "8462-4"),
        ("sdtm:VSTESTCD", "PULSE", None, "8867-4"),
        ("sdtm:VSTESTCD", "WEIGHT", None, "29463-7"),
        ("sdtm:VSTESTCD", "HEIGHT", None, "8302-2"),
        ("sdtm:VSTESTCD", "TEMP", None, "8310-5"),
        ("sdtm:VSTESTCD", "RESP", None, "9279-1"),
        ("sdtm:VSTESTCD", "BMI", None, "39156-5"),
        (None, "Creatinine, serum", None, "2160-0"),
        ("my-lab", "creatinine, SERUM", None, "2160-0"),  # exact up to case
        (None, "Creatinine serum", None, None),  # no fuzzy matching
        ("sdtm:LBTESTCD", "creat", None, None),  # SDTM codes are case-sensitive
        ("sdtm:VSTESTCD", "CREAT", None, None),  # wrong system
    ],
)
def test_lookup_is_exact(system, code, specimen, expected) -> None:
    hit = lookup_code(system, code, specimen=specimen)
    assert (hit[1] if hit else None) == expected


def test_system_aliases_resolve() -> None:
    assert canonical_system("urn:oid:2.16.840.1.113883.6.1") == LOINC
    assert canonical_system("SNOMED CT") == SNOMED
    assert canonical_system("CDISC SDTM.VSTESTCD") == "sdtm:VSTESTCD"
    assert canonical_system("SDTM", domain="lab") == "sdtm:LBTESTCD"
    assert canonical_system("urn:local:lab") == "urn:local:lab"
    assert canonical_system(None) is None


def _events(qualifiers_as_text: bool) -> pd.DataFrame:
    rows = [
        ("lab", "sdtm:LBTESTCD", "CREAT", "Creatinine", {"matrix": "serum"}),
        ("lab", "sdtm:LBTESTCD", "CREAT", "Creatinine", {"matrix": "urine"}),
        ("lab", "sdtm:LBTESTCD", "ANISO", "Anisocytes", {}),
        ("lab", "sdtm:LBTESTCD", "ANISO", "Anisocytes", None),
        ("vital", "sdtm:VSTESTCD", "SYSBP", "Systolic Blood Pressure", {}),
        ("condition", SNOMED, "44054006", "Diabetes mellitus type 2", {}),
        ("lab", "urn:oid:2.16.840.1.113883.6.1", "2345-7", "Glucose", {}),
        ("concentration", "sdtm:PCTESTCD", "TWINURO", "Twinurostat", {"matrix": "plasma"}),
        ("lab", None, "Creatinine, serum", None, {}),
        ("lab", "urn:local:lab", "XYZ-1", "Mystery", {}),
    ]
    df = pd.DataFrame(rows, columns=["domain", "code_system", "code", "display", "qualifiers"])
    if qualifiers_as_text:
        df["qualifiers"] = [None if q is None else json.dumps(q) for q in df["qualifiers"]]
    return df


@pytest.mark.parametrize("as_text", [False, True])
def test_map_codes_maps_keeps_sources_and_flags_the_rest(as_text: bool) -> None:
    ev = _events(as_text)
    out = map_codes(ev)
    assert len(out) == len(ev)
    q = [json.loads(x) if isinstance(x, str) else x for x in out["qualifiers"]]
    assert all(isinstance(x, str) for x in out["qualifiers"]) == as_text
    assert list(out["code"]) == ["2160-0", "2161-8", "ANISO", "ANISO", "8480-6", "44054006",
                                 "2345-7", "TWINURO", "2160-0", "XYZ-1"]  # fmt: skip
    assert list(out["code_system"].fillna("")) == [LOINC, LOINC, "sdtm:LBTESTCD", "sdtm:LBTESTCD",
                                                   LOINC, SNOMED, LOINC, "sdtm:PCTESTCD", LOINC,
                                                   "urn:local:lab"]  # fmt: skip
    assert out.loc[0, "display"] == "Creatinine [Mass/volume] in Serum or Plasma"
    assert q[0] == {"matrix": "serum", "source_code": "CREAT", "source_system": "sdtm:LBTESTCD",
                    "source_display": "Creatinine"}  # fmt: skip
    assert q[6] == {"source_system": "urn:oid:2.16.840.1.113883.6.1"}  # alias -> URI
    assert q[5] == {} and q[4]["source_code"] == "SYSBP"
    assert q[7] == {"matrix": "plasma", "local_code": True}
    assert [bool(x.get("unmapped")) for x in q] == [False] * 2 + [True] * 2 + [False] * 5 + [True]
    assert out.loc[2, "display"] == "Anisocytes"  # unmapped rows untouched


def test_map_codes_is_idempotent_and_leaves_the_input_alone() -> None:
    ev = _events(False)
    before = ev.copy(deep=True)
    once = map_codes(ev)
    twice = map_codes(once)
    pd.testing.assert_frame_equal(once, twice)
    pd.testing.assert_frame_equal(ev, before)


def test_unmapped_report_counts_source_codes() -> None:
    report = unmapped_report(map_codes(_events(True)))
    assert list(report.columns) == ["system", "code", "display", "count"]
    assert report.to_dict(orient="records") == [
        {"system": "sdtm:LBTESTCD", "code": "ANISO", "display": "Anisocytes", "count": 2},
        {"system": "urn:local:lab", "code": "XYZ-1", "display": "Mystery", "count": 1},
    ]
    assert unmapped_report(map_codes(_events(False).iloc[[0, 4]])).empty


def test_shipped_tables_carry_origin_and_licence() -> None:
    from importlib import resources

    folder = resources.files("twinlab.terminology").joinpath("tables")
    for path in folder.iterdir():
        if path.name.endswith(".csv"):
            head = path.read_text("utf-8").splitlines()[0:12]
            assert head[0].startswith("#") and any("Origin" in line for line in head), path.name
