"""Validation of timeline tables, with one error that lists every failure."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.errors

from twinlab.timeline.schema import CURRENT_VERSION, ROW_RULES, TABLES, table_schema

__all__ = ["FAILURE_COLUMNS", "TimelineValidationError", "validate", "validate_cohort"]

#: Columns of :attr:`TimelineValidationError.failures`.
FAILURE_COLUMNS: tuple[str, ...] = ("table", "column", "check", "index", "key", "failure_case")

#: The column that names a row in messages, per table.
_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "events": ("event_id",),
    "links": ("from_event_id", "to_event_id"),
}
_MAX_ROWS = 10


class TimelineValidationError(ValueError):
    """One or more timeline tables break their schema.

    The message lists, per table, column and check, the offending rows (index and key, at most
    10, with a count of the rest).

    Attributes
    ----------
    failures : pandas.DataFrame
        One row per failure with columns ``table``, ``column``, ``check``, ``index`` (row index,
        or missing for a table-level failure such as a wrong dtype), ``key`` (e.g. the
        ``event_id``) and ``failure_case`` (the offending value, as text).
    """

    def __init__(self, failures: pd.DataFrame) -> None:
        self.failures = failures.reset_index(drop=True)
        super().__init__(_format(self.failures))


def _format(failures: pd.DataFrame) -> str:
    n = len(failures)
    lines = [f"{n} timeline validation failure{'s' if n != 1 else ''}:"]
    for (table, column, check), group in failures.groupby(
        ["table", "column", "check"], sort=False, dropna=False
    ):
        rows = group[group["index"].notna()]
        head = f"- {table}.{column}: {check}"
        if rows.empty:
            cases = ", ".join(str(c) for c in group["failure_case"].unique()[:_MAX_ROWS])
            lines.append(f"{head}: got {cases}")
            continue
        keys = _KEYS.get(str(table), ())
        shown = [
            f"row {idx} ({'→'.join(keys)}={key}): {case!r}"
            if pd.notna(key) and column not in keys
            else f"row {idx}: {case!r}"
            for idx, key, case in rows[["index", "key", "failure_case"]]
            .head(_MAX_ROWS)
            .itertuples(index=False)
        ]
        more = f" … and {len(rows) - _MAX_ROWS} more" if len(rows) > _MAX_ROWS else ""
        lines.append(
            f"{head}: {len(rows)} row{'s' if len(rows) != 1 else ''}: " + ", ".join(shown) + more
        )
    return "\n".join(lines)


def _keys(table: str, df: pd.DataFrame) -> pd.Series | None:
    """The key of every row as text (``from→to`` for links), or None when not available."""
    cols = [c for c in _KEYS[table] if c in df.columns]
    if not cols or not df.index.is_unique:
        return None
    parts = [df[c].astype(object).where(df[c].notna(), "<NA>").astype(str) for c in cols]
    key = parts[0]
    for part in parts[1:]:
        key = key + "→" + part
    return key


def _key_of(keys: pd.Series | None, index: Any) -> Any:
    if keys is None or index is None or index not in keys.index:
        return None
    return keys.at[index]


def _failure_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS)).astype(
        {"table": "str", "column": "str", "check": "str", "key": "str", "failure_case": "str"}
    )


def _schema_failures(table: str, df: pd.DataFrame, version: str) -> list[dict[str, Any]]:
    schema = table_schema(table, version=version)
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return []
    rule_columns = {name: column for column, name, _ in ROW_RULES[table]}
    keys = _keys(table, df)
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for rec in cases.to_dict("records"):
        check = str(rec["check"])
        index = rec["index"]
        index = None if index is None or pd.isna(index) else index
        if rec["schema_context"] == "DataFrameSchema" and check in rule_columns:
            # a row rule is reported once per column of the row by pandera: keep one, on its column
            column = rule_columns[check]
            if (check, index) in seen:
                continue
            seen.add((check, index))
            case = df.at[index, column] if index is not None and column in df.columns else None
        elif rec["schema_context"] == "DataFrameSchema" and check == "column_in_schema":
            column, case = str(rec["failure_case"]), "unexpected column"
        elif rec["schema_context"] == "DataFrameSchema" and check == "column_in_dataframe":
            column, case = str(rec["failure_case"]), "missing column"
        else:
            column = rec["column"] if isinstance(rec["column"], str) else None
            case = rec["failure_case"]
            if check.startswith("dtype(") and column in df.columns:
                check = f"dtype {check[7:-2]}"
                if df[column].dtype.kind == "M" and "UTC" in check:
                    case = f"{case} (naive datetime: localize or convert to UTC)"
        out.append(
            {
                "table": table,
                "column": column,
                "check": check,
                "index": index,
                "key": _key_of(keys, index),
                "failure_case": None if case is None or _isna(case) else str(case),
            }
        )
    return out


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def validate(table: str, df: pd.DataFrame, *, version: str = CURRENT_VERSION) -> pd.DataFrame:
    """Validate one timeline table against its schema, collecting every failure.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    df : pandas.DataFrame
        The table, with schema dtypes (see :func:`~twinlab.timeline.coerce_table`).
    version : str
        Schema version, default the current one.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself, when valid.

    Raises
    ------
    TimelineValidationError
        Naming table, column, check and offending rows of every failure.

    Examples
    --------
    >>> from twinlab.timeline import empty_table
    >>> validate("events", empty_table("events")).shape[0]
    0
    """
    failures = _schema_failures(table, df, version)
    if failures:
        raise TimelineValidationError(_failure_frame(failures))
    return df


def _dangling(
    table: str, df: pd.DataFrame, column: str, allowed: pd.Series, target: str
) -> list[dict[str, Any]]:
    if column not in df.columns:
        return []
    values = df[column]
    bad = values.notna() & ~values.isin(allowed.dropna())
    keys = _keys(table, df)
    return [
        {
            "table": table,
            "column": column,
            "check": f"foreign key {target}",
            "index": index,
            "key": _key_of(keys, index),
            "failure_case": str(values.at[index]),
        }
        for index in df.index[bad.to_numpy()]
    ]


def validate_cohort(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    links: pd.DataFrame | None = None,
    *,
    version: str = CURRENT_VERSION,
) -> None:
    """Validate the three tables together: each schema plus the keys between tables.

    Checks ``events.patient_id`` → ``patients.patient_id`` and ``links.from_event_id`` /
    ``links.to_event_id`` → ``events.event_id``, and reports the failures of all tables at once.

    Parameters
    ----------
    patients, events : pandas.DataFrame
    links : pandas.DataFrame, optional
    version : str
        Schema version, default the current one.

    Raises
    ------
    TimelineValidationError
    """
    tables = {"patients": patients, "events": events, "links": links}
    failures: list[dict[str, Any]] = []
    for name in TABLES:
        if tables[name] is not None:
            failures += _schema_failures(name, tables[name], version)
    if "patient_id" in patients.columns:
        failures += _dangling(
            "events", events, "patient_id", patients["patient_id"], "patients.patient_id"
        )
    if links is not None and "event_id" in events.columns:
        for col in ("from_event_id", "to_event_id"):
            failures += _dangling("links", links, col, events["event_id"], "events.event_id")
    if failures:
        raise TimelineValidationError(_failure_frame(failures))
