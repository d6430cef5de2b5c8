"""Tests of the Safe Harbor rules: ZIP3, restricted areas, 90+, birth year only."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twinlab.deid import RESTRICTED_ZIP3, SAFE_HARBOR_CLASSES, age_in_years, birth_year, zip3

#: HHS guidance (2012), 2000 Census: the 17 three-digit ZIP codes with <= 20,000 people.
HHS_LIST = "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split()

zips = st.text(alphabet="0123456789", min_size=5, max_size=5)
birthdays = st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2020, 12, 31))


def test_all_18_classes_are_documented():
    assert len(SAFE_HARBOR_CLASSES) == 18
    assert all(SAFE_HARBOR_CLASSES.values())


def test_restricted_prefixes_are_exactly_the_hhs_list():
    assert sorted(RESTRICTED_ZIP3) == HHS_LIST
    for z3 in HHS_LIST:
        assert zip3(z3 + "42") == "000"
        assert zip3(z3 + "42-1234") == "000"


@settings(max_examples=300)
@given(z=zips, plus4=st.none() | st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_zip3_keeps_first_three_digits_unless_restricted(z, plus4):
    text = z if plus4 is None else f"{z}-{plus4}"
    expected = "000" if z[:3] in HHS_LIST else z[:3]
    assert zip3(text) == expected


def test_zip3_vectorized_and_bad_values():
    out = zip3(pd.Series(["02139", "03601", None, "1234", "ABCDE", " 94110 "]))
    assert out.tolist()[:2] == ["021", "000"]
    assert out.iloc[2:5].isna().all()
    assert out.iloc[5] == "941"


def _birthday_at(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year: the birthday is reached on 1 March
        return dt.date(d.year + years, 3, 1)


@settings(max_examples=300)
@given(born=birthdays)
def test_90_plus_boundary_is_exactly_the_90th_birthday(born):
    assume(born.year + 91 <= 9999)
    ninetieth = _birthday_at(born, 90)
    day_before = ninetieth - dt.timedelta(days=1)
    assert age_in_years(born.isoformat(), day_before.isoformat()) == 89
    assert age_in_years(born.isoformat(), ninetieth.isoformat()) == 90
    assert birth_year(born.isoformat(), day_before.isoformat()) == f"{born.year:04d}"
    assert birth_year(born.isoformat(), ninetieth.isoformat()) == "90+"


@settings(max_examples=300)
@given(born=birthdays, age_days=st.integers(0, 120 * 366))
def test_birth_year_is_year_only_or_90_plus(born, age_days):
    ref = born + dt.timedelta(days=age_days)
    out = birth_year(born.isoformat(), pd.Timestamp(ref, tz="UTC"))
    age = age_in_years(born, ref)
    if age > 89:
        assert out == "90+"
    else:
        assert out == str(born.year)
        assert len(out) == 4 and out.isdigit()


def test_partial_birth_dates_err_on_the_safe_side():
    # born some time in 1934: could be 90 on 2024-06-01 (if born in January) -> 90+
    assert birth_year("1934", "2024-06-01") == "90+"
    assert birth_year("1934-07", "2024-06-01") == "1934"
    assert birth_year("1934-06", "2024-06-01") == "90+"
    assert birth_year(None, "2024-06-01") is None
    assert birth_year("not a date", "2024-06-01") is None
