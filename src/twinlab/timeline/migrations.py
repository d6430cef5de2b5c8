"""Schema migrations: a registry of steps, each from one schema version to the next."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from twinlab.timeline.schema import CURRENT_VERSION, SCHEMA_VERSIONS, STR

__all__ = ["SchemaVersionError", "migrate", "migration", "migrations"]

logger = logging.getLogger(__name__)

Tables = dict[str, pd.DataFrame]
MigrationFn = Callable[[Tables], Tables]

_REGISTRY: dict[str, tuple[str, MigrationFn]] = {}


class SchemaVersionError(ValueError):
    """A table's schema version is unknown to, or newer than, this version of twinlab."""


def migration(from_version: str, to_version: str) -> Callable[[MigrationFn], MigrationFn]:
    """Register a function as the migration from ``from_version`` to ``to_version``.

    The function takes and returns a dict ``{table name: DataFrame}`` holding any subset of the
    tables (it must leave absent tables absent) and need not touch ``schema_version``: the
    columns are set by :func:`migrate`.

    Parameters
    ----------
    from_version, to_version : str

    Returns
    -------
    callable
        The decorator; the function is returned unchanged.

    Examples
    --------
    >>> @migration("1.1", "1.2")  # doctest: +SKIP
    ... def _add_priority(tables):
    ...     return tables
    """

    def register(fn: MigrationFn) -> MigrationFn:
        if from_version in _REGISTRY:
            raise ValueError(f"a migration from {from_version!r} is already registered")
        _REGISTRY[from_version] = (to_version, fn)
        return fn

    return register


def migrations() -> list[tuple[str, str, str]]:
    """Return the registered migrations as ``(from_version, to_version, function name)``."""
    return [(src, dst, fn.__name__) for src, (dst, fn) in _REGISTRY.items()]


def _vkey(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        raise SchemaVersionError(f"malformed schema version {version!r}") from None


def check_readable(version: str) -> None:
    """Raise :class:`SchemaVersionError` unless this code can read schema ``version``."""
    if _vkey(version) > _vkey(CURRENT_VERSION):
        raise SchemaVersionError(
            f"schema version {version} is newer than this twinlab supports "
            f"({CURRENT_VERSION}); upgrade twinlab to read it"
        )
    if version not in SCHEMA_VERSIONS:
        raise SchemaVersionError(f"unknown schema version {version!r}; known: {SCHEMA_VERSIONS}")


def migrate(tables: Tables, *, from_version: str, to_version: str = CURRENT_VERSION) -> Tables:
    """Apply the registered migrations in sequence, from ``from_version`` to ``to_version``.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Any subset of ``patients``, ``events``, ``links``; not modified.
    from_version, to_version : str

    Returns
    -------
    dict of str to pandas.DataFrame
        New tables, with ``schema_version`` set to ``to_version``.

    Raises
    ------
    SchemaVersionError
        When a version is newer than the code, unknown, or no chain of migrations joins them.
    """
    check_readable(from_version)
    check_readable(to_version)
    if _vkey(to_version) < _vkey(from_version):
        raise SchemaVersionError(f"cannot migrate down from {from_version} to {to_version}")
    out = {name: df.copy() for name, df in tables.items()}
    version = from_version
    while version != to_version:
        if version not in _REGISTRY:
            raise SchemaVersionError(f"no migration registered from schema version {version}")
        target, fn = _REGISTRY[version]
        logger.debug(
            "migrating timeline tables %s from schema %s to %s", sorted(out), version, target
        )
        out = fn(out)
        version = target
        for df in out.values():
            df["schema_version"] = pd.Series(version, index=df.index, dtype=STR)
    return out


@migration("1.0", "1.1")
def _add_event_status(tables: Tables) -> Tables:
    """v1.1 adds ``events.status``; every v1.0 event was final."""
    if "events" in tables:
        events = tables["events"]
        events["status"] = pd.Series("final", index=events.index, dtype=STR)
    return tables
