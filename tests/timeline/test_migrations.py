from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from repo_helpers import assert_cohort_equal

from twinlab.timeline import (
    CURRENT_VERSION,
    Cohort,
    SchemaVersionError,
    migrate,
    migration,
    migrations,
    read_table,
    table_version,
    validate,
    write_table,
)


def test_registry_joins_every_known_version() -> None:
    assert ("1.0", "1.1", "_add_event_status") in migrations()


def test_v1_0_events_file_reads_back_as_valid_v1_1(
    cohort: Cohort, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = cohort.events.drop(columns="status")
    path = write_table("events", legacy, tmp_path / "events.parquet", version="1.0")
    assert table_version(path) == ("events", "1.0")
    assert "status" not in pq.read_schema(path).names
    with caplog.at_level(logging.INFO, logger="twinlab.timeline"):
        events = read_table(path)
    assert "from schema 1.0 to 1.1" in caplog.text
    validate("events", events)
    assert (events["status"] == "final").all()
    assert (events["schema_version"] == CURRENT_VERSION).all()
    assert list(events.columns) == list(cohort.events.columns)


def test_v1_0_cohort_folder_reads_as_current_cohort(cohort: Cohort, tmp_path: Path) -> None:
    for name in ("patients", "events", "links"):
        df = getattr(cohort, name)
        df = df.drop(columns="status") if name == "events" else df
        write_table(name, df, tmp_path / f"{name}.parquet", version="1.0")
    assert_cohort_equal(Cohort.read(tmp_path), cohort)


def test_v1_1_columns_are_refused_in_a_v1_0_table(cohort: Cohort, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="status"):
        write_table("events", cohort.events, tmp_path / "e.parquet", version="1.0")


def test_file_from_a_newer_version_is_refused(cohort: Cohort, tmp_path: Path) -> None:
    path = write_table("links", cohort.links, tmp_path / "links.parquet")
    table = pq.read_table(path)
    meta = {**table.schema.metadata, b"twinlab.schema_version": b"2.0"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(SchemaVersionError, match=r"2\.0 is newer .*upgrade twinlab"):
        read_table(path)


def test_migrate_leaves_inputs_alone_and_refuses_downgrades(cohort: Cohort) -> None:
    legacy = {"events": cohort.events.drop(columns="status"), "links": cohort.links}
    out = migrate(legacy, from_version="1.0")
    assert "status" not in legacy["events"].columns
    assert (out["events"]["status"] == "final").all()
    assert set(out) == {"events", "links"}
    with pytest.raises(SchemaVersionError, match="down"):
        migrate(out, from_version="1.1", to_version="1.0")


def test_a_second_migration_from_the_same_version_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        migration("1.0", "1.1")(lambda tables: tables)
