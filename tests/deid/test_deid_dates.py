"""Property tests of per-patient date shifting (twinlab.deid.dates)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinlab.deid import DeidKey, date_shift_days, shift_dates

KEY = DeidKey(b"k" * 32)
OTHER = DeidKey(b"o" * 32)

patients = st.lists(
    st.text(alphabet="ABCDEFGHJKLMNP234567", min_size=4, max_size=12), min_size=1, max_size=6
)
moments = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@st.composite
def event_tables(draw):
    ids = draw(patients)
    n = draw(st.integers(1, 30))
    rows = []
    for _ in range(n):
        start = draw(moments)
        rows.append(
            {
                "patient_id": draw(st.sampled_from(ids)),
                "time": start,
                "end_time": draw(
                    st.none()
                    | st.timedeltas(dt.timedelta(0), dt.timedelta(days=40)).map(
                        lambda d, s=start: s + d
                    )
                ),
            }
        )
    df = pd.DataFrame(rows)
    df["time"] = pd.to_datetime(df["time"], utc=True).astype("datetime64[us, UTC]")
    df["end_time"] = pd.to_datetime(df["end_time"], utc=True).astype("datetime64[us, UTC]")
    return df


@settings(max_examples=100, deadline=None)
@given(events=event_tables())
def test_shift_keeps_every_interval_within_a_patient_exact(events):
    shifts = date_shift_days(events["patient_id"], key=KEY)
    out = shift_dates(events, shifts)
    assert str(out["time"].dtype) == "datetime64[us, UTC]"
    for pid, g in events.groupby("patient_id"):
        o = out.loc[g.index]
        delta = pd.Timedelta(days=int(shifts[pid]))
        # every date of a patient moves by the same whole number of days...
        assert ((o["time"] - g["time"]) == delta).all()
        ends = g["end_time"].notna()
        assert ((o.loc[ends, "end_time"] - g.loc[ends, "end_time"]) == delta).all()
        assert o.loc[~ends, "end_time"].isna().all()
        # ... so all pairwise intervals are kept to the microsecond
        t0, t1 = g["time"].to_numpy(), o["time"].to_numpy()
        assert ((t1[:, None] - t1[None, :]) == (t0[:, None] - t0[None, :])).all()
        assert (o["time"].dt.time == g["time"].dt.time).all()


@settings(max_examples=200, deadline=None)
@given(ids=patients, max_days=st.integers(1, 400))
def test_same_patient_same_shift_never_zero_and_in_range(ids, max_days):
    shifts = date_shift_days(ids, key=KEY, max_days=max_days)
    again = date_shift_days(list(reversed(ids)), key=KEY, max_days=max_days)
    assert set(shifts.index) == set(ids)
    for p in ids:
        assert shifts[p] == again[p]
        assert shifts[p] != 0
        assert 1 <= abs(shifts[p]) <= max_days


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.uuids().map(str), min_size=8, max_size=20, unique=True))
def test_different_key_gives_different_shifts(ids):
    a = date_shift_days(ids, key=KEY)
    b = date_shift_days(ids, key=OTHER)
    assert (a != b).any()  # all 8+ equal by chance: probability < 730**-8


def test_shifts_cover_both_signs_and_the_full_range():
    ids = [f"P-{i:05d}" for i in range(5000)]
    s = date_shift_days(ids, key=KEY)
    assert s.min() < -350 and s.max() > 350
    assert 0.45 < (s > 0).mean() < 0.55
    assert not (s == 0).any()
    assert s.nunique() > 700  # 730 possible values


def test_min_days_widens_the_gap_around_zero():
    s = date_shift_days([f"x{i}" for i in range(500)], key=KEY, min_days=30, max_days=60)
    assert ((s.abs() >= 30) & (s.abs() <= 60)).all()
    with pytest.raises(ValueError):
        date_shift_days(["x"], key=KEY, min_days=0)


def test_iso_text_with_offset_is_shifted_in_utc():
    events = pd.DataFrame(
        {
            "patient_id": ["A", "A"],
            "time": ["2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00"],
        }
    )
    out = shift_dates(events, {"A": 1})
    # across a DST change: one real hour apart before and after the shift
    assert out["time"].iloc[1] - out["time"].iloc[0] == pd.Timedelta(hours=1)
    assert out["time"].iloc[0] == pd.Timestamp("2024-03-11T06:30:00Z")


def test_naive_datetimes_and_unknown_patients_are_refused():
    naive = pd.DataFrame({"patient_id": ["A"], "time": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(ValueError, match="naive"):
        shift_dates(naive, {"A": 3})
    aware = pd.DataFrame({"patient_id": ["B"], "time": [pd.Timestamp("2024-01-01", tz="UTC")]})
    with pytest.raises(ValueError, match="without a date shift"):
        shift_dates(aware, {"A": 3})
    with pytest.raises(ValueError, match="0 or not whole"):
        shift_dates(aware, {"B": 0})
