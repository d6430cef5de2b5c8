"""The unified patient data model: versioned ``patients`` / ``events`` / ``links`` tables.

Tables are long, typed pandas DataFrames stored as Parquet; :class:`Cohort` holds the three
together and answers a modeler's questions (filter, timeline, covariates, time series, SQL).
"""

from __future__ import annotations

from twinlab.timeline.cohort import AGGREGATIONS, Cohort, UnknownPatientError
from twinlab.timeline.ids import HASH_COLUMNS, add_row_hash, event_id, row_hash
from twinlab.timeline.io import read_table, table_version, write_table
from twinlab.timeline.migrations import SchemaVersionError, migrate, migration, migrations
from twinlab.timeline.schema import (
    CURRENT_VERSION,
    DOMAINS,
    EVENT_STATUSES,
    QUALIFIER_KEYS,
    RELATIONS,
    SCHEMA_VERSIONS,
    SEXES,
    TABLES,
    arrow_schema,
    coerce_table,
    column_specs,
    empty_table,
    table_schema,
)
from twinlab.timeline.validation import TimelineValidationError, validate, validate_cohort

__all__ = [
    "AGGREGATIONS",
    "CURRENT_VERSION",
    "DOMAINS",
    "EVENT_STATUSES",
    "HASH_COLUMNS",
    "QUALIFIER_KEYS",
    "RELATIONS",
    "SCHEMA_VERSIONS",
    "SEXES",
    "TABLES",
    "Cohort",
    "SchemaVersionError",
    "TimelineValidationError",
    "UnknownPatientError",
    "add_row_hash",
    "arrow_schema",
    "coerce_table",
    "column_specs",
    "empty_table",
    "event_id",
    "migrate",
    "migration",
    "migrations",
    "read_table",
    "row_hash",
    "table_schema",
    "table_version",
    "validate",
    "validate_cohort",
    "write_table",
]
