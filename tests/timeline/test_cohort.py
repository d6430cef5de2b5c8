from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from repo_helpers import assert_cohort_equal, make_cohort

from twinlab.timeline import Cohort, UnknownPatientError

T0 = pd.Timestamp("2024-01-01T00:00", tz="UTC")  # index date of patient A (conftest.py)


def test_len_ids_and_repr(hand_cohort: Cohort) -> None:
    assert len(hand_cohort) == 3
    assert list(hand_cohort.patient_ids) == ["A", "B", "C"]
    text = repr(hand_cohort)
    assert "3 patients, 11 events, 3 links" in text
    assert "concentration 4" in text and "lab 5" in text


def test_filter_by_sql_over_patient_columns(hand_cohort: Cohort) -> None:
    sub = hand_cohort.filter("cov_weight_kg > 70 AND sex = 'F'")
    assert list(sub.patient_ids) == ["A"]
    assert set(sub.events["patient_id"]) == {"A"}
    assert len(sub.events) == 8
    assert len(sub.links) == 3


def test_filter_by_event_keeps_all_events_of_matching_patients(hand_cohort: Cohort) -> None:
    sub = hand_cohort.filter(has_event={"domain": "condition", "code": "90560007"})
    assert list(sub.patient_ids) == ["A"]
    assert len(sub.events) == 8
    both = hand_cohort.filter("sex = 'M'", has_event={"code": ["C1", "nothing"]})
    assert list(both.patient_ids) == ["B"]
    assert both.links.empty
    assert len(hand_cohort.filter(has_event={"code": "C1", "patient_id": "C"})) == 0


def test_filter_rejects_unknown_event_column(hand_cohort: Cohort) -> None:
    with pytest.raises(ValueError, match="no column 'colour'"):
        hand_cohort.filter(has_event={"colour": "red"})


def test_timeline_is_sorted_and_unknown_ids_are_a_key_error(hand_cohort: Cohort) -> None:
    tl = hand_cohort.timeline("A")
    assert len(tl) == 8
    assert tl["time"].is_monotonic_increasing
    assert tl.loc[0, "code"] == "90560007"
    assert list(tl.index) == list(range(8))
    with pytest.raises(KeyError, match="unknown patient_id 'Z'"):
        hand_cohort.timeline("Z")
    with pytest.raises(UnknownPatientError):
        hand_cohort.timeline("Z")


def test_covariates_take_last_before_index_else_first_after(hand_cohort: Cohort) -> None:
    cov = hand_cohort.covariates({"creatinine": "2160-0"})
    assert list(cov.index) == ["A", "B", "C"]
    assert list(cov.columns) == ["cov_weight_kg", "cov_smoker", "creatinine"]
    assert cov.loc["A", "creatinine"] == 1.2  # last before the index date
    assert cov.loc["B", "creatinine"] == 0.8  # none before: first after
    assert np.isnan(cov.loc["C", "creatinine"])  # no index date
    assert cov.attrs["units"] == {"creatinine": "mg/dL"}
    later = hand_cohort.covariates({"creatinine": "http://loinc.org|2160-0"}, at="12h")
    assert later.loc["A", "creatinine"] == 2.0
    assert hand_cohort.covariates().columns.tolist() == ["cov_weight_kg", "cov_smoker"]


def test_covariates_refuse_name_clashes(hand_cohort: Cohort) -> None:
    with pytest.raises(ValueError, match="clashes"):
        hand_cohort.covariates({"cov_weight_kg": "2160-0"})


def test_timeseries_on_a_grid_of_time_since_index(hand_cohort: Cohort) -> None:
    da = hand_cohort.timeseries("C1", freq="1h")
    assert da.dims == ("patient", "time")
    assert list(da["patient"].values) == ["A", "B", "C"]
    assert list(da["hours"].values) == [0.0, 1.0, 2.0]
    assert da["time"].dtype == np.dtype("timedelta64[ns]")
    np.testing.assert_array_equal(da.sel(patient="A").values, [2.0, np.nan, 5.0])
    np.testing.assert_array_equal(da.sel(patient="B").values, [np.nan, 7.0, np.nan])
    assert np.isnan(da.sel(patient="C").values).all()
    assert da.attrs["units"] == "ng/mL"
    assert da.attrs["code"] == "C1"


def test_timeseries_range_freq_and_aggregation(hand_cohort: Cohort) -> None:
    da = hand_cohort.timeseries("C1", freq="30min", start=-1, end="3h", agg="count")
    assert da.sizes["time"] == 9
    assert da["hours"].values[0] == -1.0
    np.testing.assert_array_equal(da.sel(patient="A").values, [0, 0, 0, 2, 0, 0, 0, 1, 0])
    last = hand_cohort.timeseries("C1", agg="last")
    assert last.sel(patient="A").values[0] == 3.0
    with pytest.raises(ValueError, match="agg"):
        hand_cohort.timeseries("C1", agg="mode")


def test_timeseries_of_an_absent_code_is_empty(hand_cohort: Cohort) -> None:
    da = hand_cohort.timeseries("nothing")
    assert da.shape == (3, 0)


def test_query_sees_the_three_tables(hand_cohort: Cohort) -> None:
    counts = hand_cohort.query(
        "SELECT patient_id, count(*) AS n FROM events GROUP BY patient_id ORDER BY patient_id"
    )
    assert counts["patient_id"].tolist() == ["A", "B", "C"]
    assert counts["n"].tolist() == [8, 2, 1]
    joined = hand_cohort.query(
        """
        SELECT e.value_num, l.lag_hours, p.index_date
        FROM links l
        JOIN events e ON e.event_id = l.to_event_id
        JOIN patients p USING (patient_id)
        ORDER BY l.lag_hours
        """
    )
    assert joined["value_num"].tolist() == [1.0, 3.0, 5.0]
    assert (joined["index_date"] == T0).all()
    assert str(joined["index_date"].dtype) == "datetime64[us, UTC]"


def test_make_cohort_is_seeded(cohort: Cohort) -> None:
    assert_cohort_equal(make_cohort(n_patients=5, seed=0), cohort)
    other = make_cohort(n_patients=5, seed=1)
    with pytest.raises(AssertionError, match="cohort table 'patients' differs"):
        assert_cohort_equal(other, cohort)
    assert set(cohort.events["domain"]) == {"lab", "dose", "concentration", "condition"}
    assert (cohort.links["relation"] == "dose_to_observation").all()


def test_assert_cohort_equal_can_ignore_row_order(cohort: Cohort) -> None:
    shuffled = Cohort(cohort.patients[::-1], cohort.events.sample(frac=1, random_state=1))
    with pytest.raises(AssertionError):
        assert_cohort_equal(shuffled, cohort.filter(has_event=None))
    same_links = Cohort(shuffled.patients, shuffled.events, cohort.links)
    assert_cohort_equal(same_links, cohort, check_row_order=False)


def test_covariates_use_text_when_a_code_has_no_numbers(hand_cohort: Cohort) -> None:
    events = hand_cohort.events.copy()
    extra = events.iloc[[0]].copy()
    extra["event_id"] = "ev-text"
    extra["code"] = "SMOKING"
    extra["value_num"] = np.nan
    extra["unit"] = pd.NA
    extra["value_text"] = "former"
    c = Cohort(hand_cohort.patients, pd.concat([events, extra]), hand_cohort.links)
    assert c.covariates({"smoking": "SMOKING"}).loc["A", "smoking"] == "former"
