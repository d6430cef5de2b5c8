"""UCUM parsing, single conversions, properties of conversions and normalize_units."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinlab.terminology import (
    UnitError,
    canonical_unit,
    canonical_units,
    conversion,
    convert,
    normalize_units,
    parse_ucum,
    to_ucum,
    unit_issue_report,
)


@pytest.mark.parametrize(
    ("value", "src", "dst", "code", "expected"),
    [
        (1.0, "mg/dL", "umol/L", "2160-0", 88.40),  # creatinine 113.12 g/mol
        (1.0, "mg/dL", "umol/L", "3084-1", 59.48),  # urate 168.11 g/mol
        (100.0, "mg/dL", "mmol/L", "2345-7", 5.551),  # glucose 180.16 g/mol
        (1.0, "mg/dL", "mmol/L", "3094-0", 0.357),  # urea nitrogen as N2
        (10.0, "mg/dL", "mmol/L", "17861-6", 2.495),  # calcium
        (5.0, "mEq/L", "mmol/L", "17861-6", 2.5),  # calcium is divalent
        (140.0, "mEq/L", "mmol/L", "2951-2", 140.0),  # sodium is monovalent
        (200.0, "mg/dL", "mmol/L", "2093-3", 5.172),  # cholesterol 386.65
        (150.0, "mg/dL", "mmol/L", "2571-8", 1.694),  # triglycerides 885.7
        (1.0, "mg/dL", "umol/L", "1975-2", 17.10),  # bilirubin
        (98.6, "[degF]", "Cel", None, 37.0),
        (212.0, "F", "C", None, 100.0),
        (-40.0, "[degF]", "Cel", None, -40.0),
        (1.0, "[lb_av]", "kg", None, 0.45359237),
        (1.0, "LBS", "kg", None, 0.45359237),
        (1.0, "[in_i]", "cm", None, 2.54),
        (5.0, "10*3/uL", "10*9/L", None, 5.0),
        (5.0, "x10^9/L", "10*9/L", None, 5.0),
        (1.0, "g/dL", "g/L", None, 10.0),
        (1.0, "ug/mL", "ng/mL", None, 1000.0),
        (1.0, "ug/mL", "mg/L", None, 1.0),
        (120.0, "mmHg", "mm[Hg]", None, 120.0),
        (60.0, "BEATS/MIN", "/min", None, 60.0),
        (60.0, "/min", "{beats}/min", None, 60.0),
        (42.0, "%", "1", None, 0.42),
        (40.0, "IU/L", "U/L", "1742-6", 40.0),
        (2.0, "mIU/L", "mU/L", "3016-3", 2.0),
        (70.0, "kg/m2", "kg/m2", "39156-5", 70.0),
    ],
)
def test_convert_gives_known_answers(value, src, dst, code, expected) -> None:
    assert convert(value, src, dst, code=code) == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize(
    ("src", "dst", "code", "reason"),
    [
        ("mg/dL", "mmol/L", None, "no analyte"),  # needs a molar mass
        ("mg/dL", "mmol/L", "1742-6", "does not bridge"),  # ALT has no molar mass
        ("mg/dL", "mmol", "2160-0", "does not bridge"),  # concentration vs amount
        ("kg", "cm", None, "different dimensions"),
        ("mIU/L", "mU/L", None, "different dimensions"),  # IU == U only for some analytes
        ("mEq/L", "mmol/L", None, "different dimensions"),  # needs a valence
        ("furlongs", "kg", None, "unknown unit"),
        ("yard", "cm", None, "unknown unit"),  # pint knows it, UCUM does not,
        ("[foo]", "kg", None, "unknown UCUM symbol"),
        ("mg/", "kg", None, "incomplete"),
        ("", "kg", None, "no unit given"),
    ],
)
def test_impossible_conversions_raise_with_a_reason(src, dst, code, reason) -> None:
    with pytest.raises(UnitError, match=reason):
        convert(1.0, src, dst, code=code)


def test_non_ucum_spellings_become_ucum() -> None:
    cases = {"LB": "[lb_av]", "lbs": "[lb_av]", "IN": "[in_i]", "F": "[degF]", "C": "Cel",
             "BEATS/MIN": "/min", "beats/min": "/min", "mmHg": "mm[Hg]", "x10^9/L": "10*9/L",
             "10^12/L": "10*12/L", "IU/L": "[IU]/L", "mEq/L": "meq/L", "MG/DL": "mg/dL",
             "Mg/Dl": "mg/dL", "g/L": "g/L", "umol/L": "umol/L", "{steps}": "{steps}"}  # fmt: skip
    assert {k: to_ucum(k) for k in cases} == cases


def test_ucum_annotations_and_powers_of_ten_parse() -> None:
    assert parse_ucum("{steps}").dimensionless
    assert parse_ucum("{steps}/d").to("1/s").magnitude == pytest.approx(1 / 86400)
    assert parse_ucum("10*9/L").to("1/L").magnitude == pytest.approx(1e9)
    assert parse_ucum("kg.m-2") == parse_ucum("kg/m2")


def test_every_canonical_unit_parses() -> None:
    units = canonical_units()["unit"]
    parsed = [parse_ucum(unit) for unit in units]  # raises UnitError on an unknown unit
    assert len(parsed) == len(units) and all(p is not None for p in parsed)


# --- properties -----------------------------------------------------------------------------

LINEAR = [
    ("mg/dL", "umol/L", "2160-0"), ("mg/dL", "mmol/L", "2345-7"), ("meq/L", "mmol/L", "17861-6"),
    ("[lb_av]", "kg", None), ("[in_i]", "cm", None), ("10*3/uL", "10*9/L", None),
    ("g/dL", "g/L", None), ("ng/mL", "ug/mL", None), ("mm[Hg]", "kPa", None), ("/min", "/h", None),
    ("pg", "fmol", "785-6"), ("m[IU]/L", "mU/L", "3016-3"), ("%", "1", None),
]  # fmt: skip
AFFINE = [("[degF]", "Cel", None), ("Cel", "K", None), ("[degF]", "K", None)]
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(LINEAR + AFFINE), x=values)
def test_round_trip_is_identity(pair, x) -> None:
    src, dst, code = pair
    back = convert(convert(x, src, dst, code=code), dst, src, code=code)
    assert back == pytest.approx(x, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(LINEAR), x=values, y=values, k=st.floats(-1e3, 1e3))
def test_conversions_are_linear(pair, x, y, k) -> None:
    src, dst, code = pair
    f = lambda v: convert(v, src, dst, code=code)  # noqa: E731
    assert f(x + y) == pytest.approx(f(x) + f(y), rel=1e-9, abs=1e-6)
    assert f(k * x) == pytest.approx(k * f(x), rel=1e-9, abs=1e-6)
    assert f(0.0) == 0.0


@settings(max_examples=40, deadline=None)
@given(pair=st.sampled_from(AFFINE), x=values, y=values)
def test_temperature_conversions_are_affine(pair, x, y) -> None:
    src, dst, code = pair
    f = lambda v: convert(v, src, dst, code=code)  # noqa: E731
    # differences convert linearly, the zero point does not
    assert f(x) - f(y) == pytest.approx(f(x - y) - f(0.0), rel=1e-9, abs=1e-6)
    assert conversion(src, dst)[1] != 0.0


def test_array_conversion_matches_scalar() -> None:
    xs = np.array([0.5, 1.0, 2.25])
    got = convert(xs, "mg/dL", "umol/L", code="3084-1")
    assert np.allclose(got, [convert(float(x), "mg/dL", "umol/L", code="3084-1") for x in xs])


# --- normalize_units ------------------------------------------------------------------------


def _events(rows: list[tuple], *, qualifiers_as_text: bool = False) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["code_system", "code", "value_num", "unit", "value_text"])
    q = [{"matrix": "serum"} for _ in rows]
    df["qualifiers"] = [json.dumps(x) for x in q] if qualifiers_as_text else q
    return df


L = "http://loinc.org"


def test_normalize_units_converts_to_canonical_units_and_keeps_originals() -> None:
    ev = _events([
        (L, "29463-7", 150.0, "LB", None),
        (L, "29463-7", 70.0, "kg", None),
        (L, "2160-0", 1.0, "mg/dL", None),
        (L, "2160-0", 88.4, "umol/L", None),  # same code, two units
        (L, "14682-9", 70.0, "umol/L", None),
        (L, "8310-5", 98.6, "F", None),
        (L, "8867-4", 60.0, "beats/min", None),
        (L, "8480-6", 120.0, "mmHg", None),
    ])  # fmt: skip
    out = normalize_units(ev)
    assert list(out["unit"]) == ["kg", "kg", "umol/L", "umol/L", "umol/L", "Cel", "/min", "mm[Hg]"]
    assert np.allclose(out["value_num"], [68.04, 70, 88.40, 88.4, 70, 37.0, 60, 120], rtol=1e-3)
    assert list(out["orig_unit"]) == ["LB", "kg", "mg/dL", "umol/L", "umol/L", "F", "beats/min",
                                      "mmHg"]  # fmt: skip
    assert list(out["orig_value"]) == ["150", "70", "1", "88.4", "70", "98.6", "60", "120"]
    assert not any("unit_issue" in q for q in out["qualifiers"])
    assert unit_issue_report(out).empty


def test_units_that_cannot_be_converted_are_kept_and_reported() -> None:
    ev = _events([
        (L, "2160-0", 1.0, "furlongs", None),  # unknown unit
        (L, "1742-6", 30.0, "mg/dL", None),  # dimension mismatch, no molar mass
        (L, "29463-7", 70.0, None, None),  # no unit at all
        (L, "29463-7", 70.0, "kg", None),
    ], qualifiers_as_text=True)  # fmt: skip
    out = normalize_units(ev)
    assert len(out) == 4
    assert list(out["value_num"]) == [1.0, 30.0, 70.0, 70.0]
    assert list(out["unit"].fillna("-")) == ["furlongs", "mg/dL", "-", "kg"]
    quals = [json.loads(q) for q in out["qualifiers"]]  # still JSON text
    assert "unknown unit" in quals[0]["unit_issue"]
    assert "different dimensions" in quals[1]["unit_issue"]
    assert "no unit given" in quals[2]["unit_issue"]
    assert "unit_issue" not in quals[3] and quals[3]["matrix"] == "serum"
    report = unit_issue_report(out)
    assert report["count"].sum() == 3 and set(report["code"]) == {"2160-0", "1742-6", "29463-7"}


def test_codes_without_canonical_unit_get_ucum_spelling_only() -> None:
    ev = _events([("local", "X", 2.0, "LB", None), ("local", "X", None, None, "positive")])
    out = normalize_units(ev)
    assert out.loc[0, "unit"] == "[lb_av]" and out.loc[0, "value_num"] == 2.0
    assert out.loc[0, "orig_unit"] == "LB"
    # a row without a number is left alone, orig columns empty
    assert pd.isna(out.loc[1, "unit"]) and pd.isna(out.loc[1, "orig_value"])
    assert out.loc[1, "value_text"] == "positive"


def test_existing_original_values_are_not_overwritten() -> None:
    ev = _events([(L, "8310-5", 98.4, "F", None)])
    ev["orig_value"] = ["098.4"]
    ev["orig_unit"] = ["F"]
    out = normalize_units(normalize_units(ev))  # twice: idempotent
    assert out.loc[0, "orig_value"] == "098.4" and out.loc[0, "unit"] == "Cel"
    assert out.loc[0, "value_num"] == pytest.approx((98.4 - 32) / 1.8)


def test_normalize_units_is_vectorized_over_groups() -> None:
    n = 200_000
    rng = np.random.default_rng(31)
    ev = pd.DataFrame(
        {
            "code_system": L,
            "code": rng.choice(["2160-0", "29463-7", "8310-5"], n),
            "value_num": rng.uniform(1, 100, n),
            "unit": None,
            "qualifiers": None,
        }
    )
    ev["unit"] = ev["code"].map({"2160-0": "mg/dL", "29463-7": "[lb_av]", "8310-5": "[degF]"})
    out = normalize_units(ev)
    creat = (ev["code"] == "2160-0").to_numpy()
    assert np.allclose(out["value_num"][creat], ev["value_num"][creat] * 88.4017, rtol=1e-5)
    assert set(out["unit"]) == {"umol/L", "kg", "Cel"}


def test_canonical_units_are_si() -> None:
    assert canonical_unit("2160-0") == "umol/L"
    assert canonical_unit("3084-1") == "umol/L"
    assert canonical_unit("29463-7") == "kg"
    assert canonical_unit("8302-2") == "cm"
    assert canonical_unit("no-such-code") is None


def test_a_unit_issue_keeps_its_words_through_the_scrubber() -> None:
    # qualifiers.unit_issue is free text: the engine read "atom" as a name and published
    # "unknown UCUM [PHI] 'TABLET'" some 5,000 times on the CDISC pilot
    from twinlab.deid.identifiers import IdentifierSet
    from twinlab.deid.text import TextScrubber

    with pytest.raises(UnitError) as err:
        convert(1.0, "TABLET", "kg")
    assert "[" not in TextScrubber(IdentifierSet([])).scrub(str(err.value))


def test_a_unit_issue_never_quotes_the_unit_as_the_source_wrote_it() -> None:
    # the reason quoted the unit ("unknown unit 'Jane Doe': ..."), and the qualifier published
    # it: a name typed in a unit field went out with it (602 reasons of the shared corpus were
    # scrubbed to "unknown unit '[PHI]'"); the unit as written stays in orig_unit, under its policy
    ev = _events([
        (L, "2160-0", 1.0, "Jane Doe", None),
        ("local", "X", 2.0, "TABLET", None),
        (L, "1742-6", 30.0, "mg{Jane Doe}/dL", None),
    ], qualifiers_as_text=True)  # fmt: skip
    out = normalize_units(ev)
    reasons = [json.loads(q)["unit_issue"] for q in out["qualifiers"]]
    assert not any("Jane" in r or "TABLET" in r for r in reasons)
    assert reasons[0] == (
        "unknown unit: no UCUM expression and no known spelling of one; umol/L expected"
    )
    assert reasons[1].startswith("unknown unit")
    assert reasons[2] == "cannot convert the unit to U/L: different dimensions"
    assert list(out["orig_unit"]) == ["Jane Doe", "TABLET", "mg{Jane Doe}/dL"]
