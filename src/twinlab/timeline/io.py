"""Parquet I/O of timeline tables, with the schema version in the file's metadata."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from twinlab.security.filemodes import file_mode
from twinlab.timeline import validation as _validation
from twinlab.timeline.migrations import check_readable, migrate
from twinlab.timeline.schema import CURRENT_VERSION, TABLES, arrow_schema, coerce_table

__all__ = ["METADATA_TABLE", "METADATA_VERSION", "read_table", "table_version", "write_table"]

logger = logging.getLogger(__name__)

#: Parquet key-value metadata keys.
METADATA_VERSION = b"twinlab.schema_version"
METADATA_TABLE = b"twinlab.table"


def write_table(
    table: str,
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    version: str = CURRENT_VERSION,
    validate: bool = True,
) -> Path:
    """Write one timeline table to Parquet with a stable Arrow schema, private to its owner
    (:func:`twinlab.security.filemodes.file_mode`: ``0600`` or ``$TWINLAB_FILE_MODE``).

    The file's key-value metadata holds ``twinlab.schema_version`` and ``twinlab.table``. The
    index is not stored (tables are long and keyed by their id columns).

    Parameters
    ----------
    table : {"patients", "events", "links"}
    df : pandas.DataFrame
    path : path-like
    version : str
        Schema version to write, default the current one (older ones are for tests and tools
        that must produce legacy files).
    validate : bool
        Validate ``df`` against the schema before writing (default true).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TimelineValidationError
        When ``validate`` and ``df`` breaks the schema.
    """
    df = coerce_table(table, df, version=version)
    if validate:
        _validation.validate(table, df, version=version)
    schema = arrow_schema(table, df, version=version)
    arrow = pyarrow.Table.from_pandas(df, schema=schema, preserve_index=False)
    metadata = {METADATA_VERSION: version.encode(), METADATA_TABLE: table.encode()}
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **metadata})
    path = Path(path)
    mode = file_mode()  # patient-level rows: private whatever the umask (or the old file's)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        pq.write_table(arrow, fh)
    return path


def table_version(path: str | os.PathLike[str]) -> tuple[str | None, str]:
    """Return ``(table name, schema version)`` of a timeline Parquet file.

    Reads the key-value metadata, falling back to the ``schema_version`` column.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    tuple of (str or None, str)
    """
    schema = pq.read_schema(path)
    meta = schema.metadata or {}
    table = meta[METADATA_TABLE].decode() if METADATA_TABLE in meta else None
    if METADATA_VERSION in meta:
        return table, meta[METADATA_VERSION].decode()
    if "schema_version" in schema.names:
        versions = pq.read_table(path, columns=["schema_version"]).column(0).unique().to_pylist()
        versions = [v for v in versions if v is not None]
        if len(versions) == 1:
            return table, versions[0]
    raise ValueError(f"{path}: not a twinlab timeline table (no schema version found)")


def read_table(
    path: str | os.PathLike[str],
    *,
    table: str | None = None,
    validate: bool = True,
) -> pd.DataFrame:
    """Read one timeline table from Parquet, migrated to the current schema version.

    Parameters
    ----------
    path : path-like
    table : {"patients", "events", "links"}, optional
        Expected table; default the one named in the file's metadata.
    validate : bool
        Validate the (migrated) table (default true).

    Returns
    -------
    pandas.DataFrame
        With schema dtypes (``str``, ``float64``, ``datetime64[us, UTC]``) and a RangeIndex.

    Raises
    ------
    SchemaVersionError
        When the file was written by a newer schema version than this code knows.
    ValueError
        When the file is not a timeline table or not the ``table`` asked for.
    """
    stored_table, version = table_version(path)
    check_readable(version)
    if table is None:
        if stored_table is None:
            raise ValueError(f"{path}: the file does not name its table; pass table=")
        table = stored_table
    elif stored_table is not None and stored_table != table:
        raise ValueError(f"{path}: holds table {stored_table!r}, not {table!r}")
    if table not in TABLES:
        raise ValueError(f"{path}: unknown timeline table {table!r}")
    df = pq.read_table(path).to_pandas(ignore_metadata=True)
    df = coerce_table(table, df, version=version)
    if version != CURRENT_VERSION:
        logger.info("%s: migrating %s from schema %s to %s", path, table, version, CURRENT_VERSION)
        df = migrate({table: df}, from_version=version)[table]
        df = coerce_table(table, df)
    if validate:
        _validation.validate(table, df)
    return df
