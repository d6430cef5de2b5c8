from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from twinlab.timeline import (
    SCHEMA_VERSIONS,
    TABLES,
    Cohort,
    TimelineValidationError,
    coerce_table,
    empty_table,
    validate,
    validate_cohort,
)

Tables = dict[str, pd.DataFrame]


def _set(table: str, row: int, column: str, value: object) -> Callable[[Tables], None]:
    def mutate(tables: Tables) -> None:
        tables[table].loc[row, column] = value

    return mutate


def _duplicate_patient(tables: Tables) -> None:
    tables["patients"].loc[1, "patient_id"] = tables["patients"].loc[0, "patient_id"]


def _naive_time(tables: Tables) -> None:
    tables["events"]["time"] = tables["events"]["time"].dt.tz_localize(None)


def _end_before_start(tables: Tables) -> None:
    ev = tables["events"]
    ev.loc[4, "end_time"] = ev.loc[4, "time"] - pd.Timedelta(hours=1)


# kind, mutation, table, column, words in the check, offending row (None: whole column)
CASES = [
    ("null id", _set("events", 3, "event_id", None), "events", "event_id", "not_nullable", 3),
    ("duplicate id", _duplicate_patient, "patients", "patient_id", "uniqueness", 1),
    ("bad domain", _set("events", 2, "domain", "nope"), "events", "domain", "DOMAINS", 2),
    ("bad sex", _set("patients", 0, "sex", "X"), "patients", "sex", "one of", 0),
    ("bad birth_year", _set("patients", 2, "birth_year", "85"), "patients", "birth_year", "90+", 2),
    ("naive datetime", _naive_time, "events", "time", "UTC", None),
    ("end before start", _end_before_start, "events", "end_time", "end_time >= time", 4),
    ("unit without value", _set("events", 5, "value_num", np.nan), "events", "unit", "unit", 5),
    (
        "non-finite value",
        _set("events", 6, "value_num", np.inf),
        "events",
        "value_num",
        "finite",
        6,
    ),
    ("bad row_hash", _set("events", 7, "row_hash", "abc"), "events", "row_hash", "sha256", 7),
    ("bad qualifiers", _set("events", 8, "qualifiers", "[1]"), "events", "qualifiers", "JSON", 8),
    ("bad status", _set("events", 9, "status", "done"), "events", "status", "one of", 9),
    (
        "dangling patient_id",
        _set("events", 1, "patient_id", "GHOST"),
        "events",
        "patient_id",
        "foreign key",
        1,
    ),
    (
        "dangling link",
        _set("links", 0, "to_event_id", "ev-missing"),
        "links",
        "to_event_id",
        "foreign key",
        0,
    ),
]


@pytest.mark.parametrize(
    ("mutate", "table", "column", "check", "row"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_validate_cohort_reports_table_column_check_and_row(
    cohort: Cohort,
    mutate: Callable[[Tables], None],
    table: str,
    column: str,
    check: str,
    row: int | None,
) -> None:
    tables = {name: getattr(cohort, name).copy() for name in TABLES}
    mutate(tables)
    with pytest.raises(TimelineValidationError) as info:
        validate_cohort(tables["patients"], tables["events"], tables["links"])
    message = str(info.value)
    assert f"{table}.{column}:" in message
    assert check in message
    failures = info.value.failures
    mine = failures[(failures["table"] == table) & (failures["column"] == column)]
    assert not mine.empty
    assert mine["check"].str.contains(check, regex=False).any() or check in message
    if row is not None:
        assert f"row {row}" in message
        assert row in set(mine["index"])


def test_message_names_the_key_of_the_offending_row(cohort: Cohort) -> None:
    events = cohort.events.copy()
    events.loc[2, "domain"] = "nope"
    with pytest.raises(TimelineValidationError, match="event_id=") as info:
        validate("events", events)
    assert events.loc[2, "event_id"] in str(info.value)
    assert info.value.failures.loc[0, "key"] == events.loc[2, "event_id"]


def test_all_failures_are_collected_not_just_the_first(cohort: Cohort) -> None:
    events = cohort.events.copy()
    events.loc[0, "domain"] = "nope"
    events.loc[1, "row_hash"] = "x"
    events.loc[2, "value_num"] = np.inf
    with pytest.raises(TimelineValidationError) as info:
        validate("events", events)
    assert set(info.value.failures["column"]) == {"domain", "row_hash", "value_num"}
    assert str(info.value).startswith("3 timeline validation failures")


def test_long_lists_of_rows_are_capped_with_a_count_of_the_rest(cohort: Cohort) -> None:
    events = cohort.events.copy()
    events["domain"] = "nope"
    with pytest.raises(TimelineValidationError) as info:
        validate("events", events)
    message = str(info.value)
    assert message.count("row ") == 10
    assert f"and {len(events) - 10} more" in message
    assert len(info.value.failures) == len(events)


def test_failures_frame_has_documented_columns(cohort: Cohort) -> None:
    patients = cohort.patients.copy()
    patients.loc[0, "sex"] = "X"
    with pytest.raises(TimelineValidationError) as info:
        validate("patients", patients)
    assert list(info.value.failures.columns) == [
        "table",
        "column",
        "check",
        "index",
        "key",
        "failure_case",
    ]
    assert isinstance(info.value, ValueError)


def test_unexpected_and_missing_columns_are_reported(cohort: Cohort) -> None:
    events = cohort.events.drop(columns="code").assign(extra=1)
    with pytest.raises(TimelineValidationError) as info:
        validate("events", events)
    columns = set(info.value.failures["column"])
    assert {"code", "extra"} <= columns


def test_covariate_columns_are_free_but_typed(cohort: Cohort) -> None:
    patients = cohort.patients.assign(cov_new_marker=np.arange(len(cohort), dtype=float))
    validate("patients", patients)
    with pytest.raises(TimelineValidationError, match="cov_flag"):
        validate("patients", patients.assign(cov_flag=True))


def test_valid_cohort_and_empty_tables_pass(cohort: Cohort) -> None:
    validate_cohort(cohort.patients, cohort.events, cohort.links)
    for version in SCHEMA_VERSIONS:
        for table in TABLES:
            assert validate(table, empty_table(table, version=version), version=version).empty


def test_coerce_table_converts_offsets_to_utc_and_fills_optional_columns() -> None:
    raw = pd.DataFrame(
        {
            "patient_id": ["A"],
            "sex": ["F"],
            "index_date": [pd.Timestamp("2024-01-01T01:00", tz="Europe/Berlin")],
            "sources": ["x"],
            "cov_age": [40],
        }
    )
    patients = validate("patients", coerce_table("patients", raw))
    assert str(patients["index_date"].dtype) == "datetime64[us, UTC]"
    assert patients.loc[0, "index_date"] == pd.Timestamp("2024-01-01T00:00", tz="UTC")
    assert patients["cov_age"].dtype == np.float64
    assert patients["site"].isna().all()
    assert patients.loc[0, "schema_version"] == "1.1"


def test_cohort_constructor_validates(cohort: Cohort) -> None:
    events = cohort.events.copy()
    events.loc[0, "patient_id"] = "GHOST"
    with pytest.raises(TimelineValidationError, match="GHOST"):
        Cohort(cohort.patients, events, cohort.links)
    unchecked = Cohort(cohort.patients, events, cohort.links, validate=False)
    assert len(unchecked.events) == len(cohort.events)
