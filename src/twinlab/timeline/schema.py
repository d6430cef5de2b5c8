"""Versioned schemas of the three timeline tables: ``patients``, ``events`` and ``links``.

Each table is described once, per schema version, by a list of :class:`ColumnSpec`; the pandera
schema, the Arrow schema used for Parquet and the empty conforming tables are all built from it,
so they can never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

__all__ = [
    "CURRENT_VERSION",
    "DOMAINS",
    "EVENT_STATUSES",
    "QUALIFIER_KEYS",
    "RELATIONS",
    "SCHEMA_VERSIONS",
    "SEXES",
    "TABLES",
    "ColumnSpec",
    "arrow_schema",
    "coerce_table",
    "column_specs",
    "empty_table",
    "table_schema",
]

#: Schema versions this code can read, oldest first; the last one is written.
SCHEMA_VERSIONS: tuple[str, ...] = ("1.0", "1.1")
CURRENT_VERSION: str = SCHEMA_VERSIONS[-1]
#: The tables of a cohort, in dependency order (links need events need patients).
TABLES: tuple[str, ...] = ("patients", "events", "links")

SEXES: tuple[str, ...] = ("F", "M", "U")
DOMAINS: tuple[str, ...] = (
    "lab",
    "vital",
    "dose",
    "concentration",
    "pd",
    "condition",
    "procedure",
    "medication",
    "encounter",
    "allergy",
    "immunization",
    "genomic_variant",
    "wearable_summary",
    "adverse_event",
    "demographic",
    "other",
)
RELATIONS: tuple[str, ...] = (
    "dose_to_observation",
    "in_encounter",
    "same_fact",
    "derived_from",
    "follows",
)
#: ``events.status`` values (schema >= 1.1), after FHIR ``ObservationStatus``.
EVENT_STATUSES: tuple[str, ...] = (
    "final",
    "preliminary",
    "amended",
    "corrected",
    "entered-in-error",
    "unknown",
)

#: Known keys of ``events.qualifiers`` (a JSON object stored as text): key -> (JSON type, meaning).
#: Unknown keys are allowed; known keys must have the listed JSON type.
QUALIFIER_KEYS: dict[str, tuple[str, str]] = {
    "route": ("string", "dose route, e.g. 'oral', 'iv', 'sc' (dose, medication)"),
    "route_text": ("string", "a route given as text only (FHIR), scrubbed as free text"),
    "infusion_duration_h": ("number", "infusion duration in hours; 0 or absent = bolus (dose)"),
    "rate": ("number", "infusion rate in `unit` per hour (dose)"),
    "dose_number": ("integer", "1-based dose index within the regimen (dose)"),
    "regimen": ("string", "regimen label, e.g. '100 mg QD' (dose)"),
    "analyte": ("string", "measured analyte, e.g. parent drug or metabolite (concentration)"),
    "matrix": ("string", "sample matrix, e.g. 'plasma', 'serum' (concentration, lab)"),
    "lloq": ("number", "lower limit of quantification, in `unit` (concentration, lab)"),
    "blq": ("boolean", "true when the sample is below the LLOQ (concentration, lab)"),
    "fasting": ("boolean", "fasting state at sampling (lab)"),
    "ref_low": ("number", "reference range low, in `unit` (lab, vital)"),
    "ref_high": ("number", "reference range high, in `unit` (lab, vital)"),
    "interpretation": ("string", "e.g. 'H', 'L', 'N' (lab)"),
    "position": ("string", "body position, e.g. 'sitting' (vital)"),
    "severity": ("string", "e.g. 'mild', 'moderate', 'severe' (adverse_event, condition)"),
    "serious": ("boolean", "serious adverse event flag (adverse_event)"),
    "gene": ("string", "HGNC gene symbol (genomic_variant)"),
    "hgvs": ("string", "HGVS expression (genomic_variant)"),
    "zygosity": ("string", "'heterozygous', 'homozygous', 'hemizygous' (genomic_variant)"),
    "device": ("string", "device or wearable model (wearable_summary, vital)"),
    "window_h": ("number", "aggregation window in hours (wearable_summary)"),
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}

#: The string dtype of every text column: pandas' default ``str`` (NaN as missing value).
STR = pd.StringDtype(na_value=np.nan)
#: The dtype of every datetime column: tz-aware UTC, microseconds.
UTC = pd.DatetimeTZDtype("us", "UTC")
FLOAT = np.dtype("float64")

_HEX64 = r"^[0-9a-f]{64}$"
_BIRTH_YEAR = r"^(\d{4}|90\+)$"
COVARIATE_PATTERN = r"^cov_.+$"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a timeline table.

    Parameters
    ----------
    name : str
        Column name (a regex when ``regex`` is true).
    dtype : Any
        The pandas dtype; ``None`` for the float-or-string covariate columns.
    nullable : bool
        Whether missing values are allowed.
    unique : bool
        Whether values must be unique.
    checks : tuple
        Extra pandera checks.
    regex : bool
        Whether ``name`` is a regular expression over column names.
    default : Any
        Value used to fill the column when it is missing from an input table.
    """

    name: str
    dtype: Any
    nullable: bool = True
    unique: bool = False
    checks: tuple[pa.Check, ...] = ()
    regex: bool = False
    default: Any = None


def _qualifiers_ok(value: str) -> bool:
    try:
        obj = json.loads(value)
    except (TypeError, ValueError):
        return False
    if not isinstance(obj, dict):
        return False
    for key, (kind, _) in QUALIFIER_KEYS.items():
        if key in obj and obj[key] is not None:
            v = obj[key]
            if kind != "boolean" and isinstance(v, bool):
                return False
            if not isinstance(v, _JSON_TYPES[kind]):
                return False
    return True


def _covariate_dtype_ok(series: pd.Series) -> bool:
    return series.dtype == FLOAT or isinstance(series.dtype, pd.StringDtype)


def _version_check(version: str) -> pa.Check:
    return pa.Check.isin([version], name="schema_version", error=f"schema_version == {version!r}")


def _patients(version: str) -> list[ColumnSpec]:
    return [
        ColumnSpec("schema_version", STR, nullable=False, checks=(_version_check(version),)),
        ColumnSpec("patient_id", STR, nullable=False, unique=True),
        ColumnSpec(
            "sex",
            STR,
            nullable=False,
            checks=(pa.Check.isin(SEXES, name="sex", error=f"one of {SEXES}"),),
        ),
        ColumnSpec(
            "birth_year",
            STR,
            checks=(pa.Check.str_matches(_BIRTH_YEAR, name="birth_year", error="YYYY or 90+"),),
        ),
        ColumnSpec("site", STR),
        ColumnSpec("index_date", UTC),
        ColumnSpec("sources", STR, nullable=False),
        ColumnSpec(
            COVARIATE_PATTERN,
            None,
            regex=True,
            checks=(
                pa.Check(
                    _covariate_dtype_ok,
                    element_wise=False,
                    name="covariate_dtype",
                    error="covariate columns are float64 or str",
                ),
            ),
        ),
    ]


def _events(version: str) -> list[ColumnSpec]:
    cols = [
        ColumnSpec("schema_version", STR, nullable=False, checks=(_version_check(version),)),
        ColumnSpec("event_id", STR, nullable=False, unique=True),
        ColumnSpec("patient_id", STR, nullable=False),
        ColumnSpec("time", UTC, nullable=False),
        ColumnSpec("end_time", UTC),
        ColumnSpec("hours_from_index", FLOAT),
        ColumnSpec(
            "domain",
            STR,
            nullable=False,
            checks=(pa.Check.isin(DOMAINS, name="domain", error="one of DOMAINS"),),
        ),
        ColumnSpec("code_system", STR),
        ColumnSpec("code", STR, nullable=False),
        ColumnSpec("display", STR),
        ColumnSpec(
            "value_num",
            FLOAT,
            checks=(
                pa.Check(lambda s: np.isfinite(s), name="finite", error="value_num must be finite"),
            ),
        ),
        ColumnSpec("value_text", STR),
        ColumnSpec("unit", STR),
        ColumnSpec("orig_value", STR),
        ColumnSpec("orig_unit", STR),
        ColumnSpec(
            "qualifiers",
            STR,
            checks=(
                pa.Check(
                    _qualifiers_ok,
                    element_wise=True,
                    name="qualifiers_json",
                    error="JSON object with typed known keys (see QUALIFIER_KEYS)",
                ),
            ),
        ),
        ColumnSpec("source_file", STR, nullable=False),
        ColumnSpec("source_record", STR, nullable=False),
        ColumnSpec(
            "row_hash",
            STR,
            nullable=False,
            checks=(pa.Check.str_matches(_HEX64, name="row_hash", error="64 hex sha256"),),
        ),
    ]
    if _vkey(version) >= (1, 1):
        cols.append(
            ColumnSpec(
                "status",
                STR,
                nullable=False,
                checks=(
                    pa.Check.isin(EVENT_STATUSES, name="status", error=f"one of {EVENT_STATUSES}"),
                ),
                default="final",
            )
        )
    return cols


def _links(version: str) -> list[ColumnSpec]:
    return [
        ColumnSpec("schema_version", STR, nullable=False, checks=(_version_check(version),)),
        ColumnSpec("from_event_id", STR, nullable=False),
        ColumnSpec("to_event_id", STR, nullable=False),
        ColumnSpec(
            "relation",
            STR,
            nullable=False,
            checks=(pa.Check.isin(RELATIONS, name="relation", error=f"one of {RELATIONS}"),),
        ),
        ColumnSpec("lag_hours", FLOAT),
    ]


_BUILDERS = {"patients": _patients, "events": _events, "links": _links}


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _check_table(table: str) -> None:
    if table not in _BUILDERS:
        raise ValueError(f"unknown timeline table {table!r}; expected one of {TABLES}")


def _check_version(version: str) -> None:
    if version not in SCHEMA_VERSIONS:
        raise ValueError(f"unknown schema version {version!r}; known: {SCHEMA_VERSIONS}")


def column_specs(table: str, *, version: str = CURRENT_VERSION) -> list[ColumnSpec]:
    """Return the column specifications of ``table`` at schema ``version``.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    version : str
        Schema version, default the current one.

    Returns
    -------
    list of ColumnSpec
    """
    _check_table(table)
    _check_version(version)
    return _BUILDERS[table](version)


# --- row rules: cross-column checks, each reported against one column ---------------------------


def _end_after_start(df: pd.DataFrame) -> pd.Series:
    try:
        bad = df["end_time"].notna() & (df["end_time"] < df["time"])
    except (KeyError, TypeError):  # wrong dtypes are reported by the dtype checks
        return pd.Series(True, index=df.index)
    return ~bad


def _unit_needs_value(df: pd.DataFrame) -> pd.Series:
    try:
        bad = df["unit"].notna() & df["value_num"].isna()
    except KeyError:
        return pd.Series(True, index=df.index)
    return ~bad


#: table -> [(column, check name, function(df) -> boolean Series, True = row passes)]
ROW_RULES: dict[str, list[tuple[str, str, Any]]] = {
    "patients": [],
    "events": [
        ("end_time", "end_time >= time", _end_after_start),
        ("unit", "unit only with value_num", _unit_needs_value),
    ],
    "links": [],
}


def table_schema(table: str, *, version: str = CURRENT_VERSION) -> pa.DataFrameSchema:
    """Return the pandera schema of ``table`` at schema ``version``.

    Covers dtypes, nullability, uniqueness, allowed values, formats and row rules (e.g.
    ``end_time >= time``); cross-table keys are checked by
    :func:`~twinlab.timeline.validate_cohort`.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    version : str
        Schema version, default the current one.

    Returns
    -------
    pandera.pandas.DataFrameSchema

    Examples
    --------
    >>> table_schema("links").columns["relation"].nullable
    False
    """
    columns = {
        spec.name: pa.Column(
            spec.dtype,
            checks=list(spec.checks),
            nullable=spec.nullable,
            unique=spec.unique,
            regex=spec.regex,
            required=not spec.regex,
            name=spec.name,
        )
        for spec in column_specs(table, version=version)
    }
    checks = [pa.Check(fn, name=name, error=name) for _, name, fn in ROW_RULES[table]]
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        strict=True,
        name=f"{table} (schema {version})",
        metadata={"table": table, "schema_version": version},
    )


def empty_table(table: str, *, version: str = CURRENT_VERSION) -> pd.DataFrame:
    """Return an empty table with the columns and dtypes of ``table`` at ``version``.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    version : str
        Schema version, default the current one.

    Returns
    -------
    pandas.DataFrame
        Zero rows, every fixed column with its schema dtype (no covariate columns).
    """
    return pd.DataFrame(
        {
            spec.name: pd.Series([], dtype=spec.dtype)
            for spec in column_specs(table, version=version)
            if not spec.regex
        }
    )


def _coerce_datetime(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype(UTC)
    if s.dtype.kind == "M":  # naive: left alone so that validation reports it
        return s
    converted = pd.to_datetime(s, utc=False, format="ISO8601")
    if isinstance(converted.dtype, pd.DatetimeTZDtype):
        return converted.dt.tz_convert("UTC").astype(UTC)
    if converted.isna().all():
        return converted.dt.tz_localize("UTC").astype(UTC)
    return converted


def coerce_table(table: str, df: pd.DataFrame, *, version: str = CURRENT_VERSION) -> pd.DataFrame:
    """Return a copy of ``df`` with the columns, order and dtypes of ``table`` at ``version``.

    Adds ``schema_version`` and any missing nullable (or defaulted) column, casts text columns to
    ``str``, numbers to ``float64`` and tz-aware datetimes (or ISO strings with an offset) to UTC.
    Naive datetimes are *not* localized: validation reports them. Covariate (``cov_*``) columns
    are kept after the fixed columns: numeric ones as ``float64``, others as ``str``. The index
    is reset.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    df : pandas.DataFrame
    version : str
        Schema version, default the current one.

    Returns
    -------
    pandas.DataFrame
    """
    specs = column_specs(table, version=version)
    df = df.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for spec in specs:
        if spec.regex:
            continue
        if spec.name == "schema_version":
            s = pd.Series(version, index=df.index, dtype=STR)
        elif spec.name in df.columns:
            s = df[spec.name]
        elif spec.default is not None:
            s = pd.Series(spec.default, index=df.index, dtype=spec.dtype)
        elif spec.nullable:
            s = pd.Series(None, index=df.index, dtype=spec.dtype)
        else:
            continue  # required column missing: reported by validation
        out[spec.name] = _coerce_series(s, spec.dtype)
    fixed = {spec.name for spec in specs if not spec.regex}
    extras = [c for c in df.columns if c not in fixed]
    for c in extras:
        s = df[c]
        if table == "patients" and str(c).startswith("cov_"):
            if s.dtype.kind in "biuf":
                s = s.astype(FLOAT)
            elif s.dtype.kind in "OU" or isinstance(s.dtype, pd.StringDtype):
                s = _to_str(s)
        out[c] = s
    return pd.DataFrame(out, index=df.index)


def _to_str(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.StringDtype) and s.dtype == STR:
        return s
    return s.astype(STR)


def _coerce_series(s: pd.Series, dtype: Any) -> pd.Series:
    try:
        if dtype == UTC:
            return _coerce_datetime(s)
        if dtype is STR:
            return _to_str(s)
        if dtype == FLOAT:
            return s.astype(FLOAT)
    except (TypeError, ValueError):  # left as is: validation reports the dtype
        return s
    return s


def arrow_schema(
    table: str, df: pd.DataFrame | None = None, *, version: str = CURRENT_VERSION
) -> pyarrow.Schema:
    """Return the Arrow schema used to store ``table`` as Parquet.

    Parameters
    ----------
    table : {"patients", "events", "links"}
    df : pandas.DataFrame, optional
        The table, to type its covariate columns (``float64`` -> double, ``str`` -> string).
    version : str
        Schema version, default the current one.

    Returns
    -------
    pyarrow.Schema
    """
    fields = []
    for spec in column_specs(table, version=version):
        if spec.regex:
            continue
        fields.append(pyarrow.field(spec.name, _arrow_type(spec.dtype), nullable=spec.nullable))
    if df is not None:
        fixed = {f.name for f in fields}
        for c in df.columns:
            if c not in fixed:
                dtype = df[c].dtype
                fields.append(pyarrow.field(c, _arrow_type(dtype)))
    return pyarrow.schema(fields)


def _arrow_type(dtype: Any) -> pyarrow.DataType:
    if dtype == UTC:
        return pyarrow.timestamp("us", tz="UTC")
    if dtype == FLOAT:
        return pyarrow.float64()
    if isinstance(dtype, pd.StringDtype):
        return pyarrow.string()
    return pyarrow.from_numpy_dtype(dtype)
