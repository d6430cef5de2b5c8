from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from repo_helpers import assert_cohort_equal, events_strategy

from twinlab.timeline import (
    CURRENT_VERSION,
    TABLES,
    Cohort,
    TimelineValidationError,
    read_table,
    table_version,
    write_table,
)


@pytest.mark.parametrize("table", TABLES)
def test_round_trip_is_exact(cohort: Cohort, tmp_path: Path, table: str) -> None:
    df = getattr(cohort, table)
    path = write_table(table, df, tmp_path / f"{table}.parquet")
    back = read_table(path)
    pd.testing.assert_frame_equal(back, df)


def test_round_trip_keeps_nulls_tz_and_odd_text(hand_cohort: Cohort, tmp_path: Path) -> None:
    events = hand_cohort.events.copy()
    events.loc[0, "display"] = "µg/L – naïve \x00 ✓"
    events.loc[1, "display"] = ""
    events.loc[0, "end_time"] = events.loc[0, "time"] + pd.Timedelta(microseconds=1)
    write_table("events", events, tmp_path / "e.parquet")
    back = read_table(tmp_path / "e.parquet")
    pd.testing.assert_frame_equal(back, events)
    assert back.loc[1, "display"] == ""
    assert pd.isna(back.loc[2, "display"])
    assert str(back["time"].dtype) == "datetime64[us, UTC]"


def test_file_carries_version_and_a_stable_arrow_schema(cohort: Cohort, tmp_path: Path) -> None:
    path = write_table("events", cohort.events, tmp_path / "events.parquet")
    schema = pq.read_schema(path)
    assert schema.metadata[b"twinlab.schema_version"] == CURRENT_VERSION.encode()
    assert schema.metadata[b"twinlab.table"] == b"events"
    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("event_id").type == pa.string()
    assert schema.field("value_num").type == pa.float64()
    assert not schema.field("event_id").nullable
    assert table_version(path) == ("events", CURRENT_VERSION)


def test_write_refuses_an_invalid_table(cohort: Cohort, tmp_path: Path) -> None:
    events = cohort.events.copy()
    events.loc[0, "domain"] = "nope"
    with pytest.raises(TimelineValidationError):
        write_table("events", events, tmp_path / "e.parquet")
    assert not (tmp_path / "e.parquet").exists()


def test_read_refuses_the_wrong_table(cohort: Cohort, tmp_path: Path) -> None:
    path = write_table("links", cohort.links, tmp_path / "l.parquet")
    with pytest.raises(ValueError, match="holds table 'links'"):
        read_table(path, table="events")


def test_cohort_folder_round_trip(cohort: Cohort, tmp_path: Path) -> None:
    folder = cohort.write(tmp_path / "cohort")
    assert sorted(p.name for p in folder.iterdir()) == [
        "events.parquet",
        "links.parquet",
        "patients.parquet",
    ]
    assert_cohort_equal(Cohort.read(folder), cohort)


def test_cohort_folder_without_links_reads_with_no_links(cohort: Cohort, tmp_path: Path) -> None:
    folder = cohort.write(tmp_path / "c")
    (folder / "links.parquet").unlink()
    back = Cohort.read(folder)
    assert back.links.empty
    assert list(back.links.columns) == list(cohort.links.columns)


def test_writing_an_unvalidated_bad_cohort_fails(cohort: Cohort, tmp_path: Path) -> None:
    events = cohort.events.copy()
    events.loc[0, "patient_id"] = "GHOST"
    bad = Cohort(cohort.patients, events, cohort.links, validate=False)
    with pytest.raises(TimelineValidationError):
        bad.write(tmp_path / "c")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events_strategy(("P001", "P002"), max_size=15))
def test_round_trip_of_random_valid_events(events: pd.DataFrame, tmp_path: Path) -> None:
    path = write_table("events", events, tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(read_table(path), events)
