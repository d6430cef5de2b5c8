"""Unit normalization: values to the canonical UCUM unit of their code, with pint.

Every conversion is affine (``value * scale + offset``; the offset is non-zero only for
temperatures), so :func:`conversion` computes ``(scale, offset)`` once per (from unit, to unit,
analyte) with pint and :func:`normalize_units` applies it to a whole (code, unit) group with NumPy.
Conversions between mass, substance and charge (mg/dL <-> umol/L, mEq/L <-> mmol/L) use the
analyte's molar mass and valence from ``tables/analytes.csv`` and are refused without them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, overload

import numpy as np
import pandas as pd
import pint

from twinlab.terminology import _qualifiers
from twinlab.terminology.catalog import Analyte, analytes, canonical_units
from twinlab.terminology.systems import LOINC, canonical_system
from twinlab.terminology.ucum import UnitError, parse_ucum, registry, to_ucum

__all__ = [
    "analyte_for",
    "canonical_unit",
    "conversion",
    "convert",
    "normalize_units",
    "unit_issue_report",
]


def canonical_unit(code: str, *, system: str = LOINC) -> str | None:
    """The canonical UCUM unit of a code (``tables/canonical_units.csv``), or ``None``.

    Examples
    --------
    >>> canonical_unit("2160-0"), canonical_unit("29463-7")
    ('umol/L', 'kg')
    """
    return _canonical(canonical_system(system), code)[0]


def analyte_for(code: str, *, system: str = LOINC) -> Analyte | None:
    """The analyte (molar mass, valence...) that the units table names for a code, or ``None``."""
    return _canonical(canonical_system(system), code)[1]


@lru_cache(maxsize=4096)
def _canonical(system: str | None, code: Any) -> tuple[str | None, Analyte | None]:
    table = canonical_units()
    if system is None or not isinstance(code, str) or (system, code) not in table.index:
        return None, None
    row = table.loc[(system, code)]
    name = row["analyte"]
    return row["unit"], (analytes()[name] if name else None)


def conversion(
    from_unit: str, to_unit: str, *, code: str | None = None, system: str = LOINC
) -> tuple[float, float]:
    """Return ``(scale, offset)`` with ``to = from * scale + offset``.

    Parameters
    ----------
    from_unit, to_unit : str
        UCUM units or known non-UCUM spellings (see :func:`~twinlab.terminology.to_ucum`).
    code : str, optional
        The code of the measured quantity; its analyte allows mass <-> molar <-> equivalent
        conversions (and IU == U where the analyte says so).
    system : str
        The code's system, LOINC by default.

    Returns
    -------
    tuple of float

    Raises
    ------
    UnitError
        If a unit cannot be parsed or the units cannot be converted (``reason`` says why).
    """
    analyte = analyte_for(code, system=system) if code is not None else None
    return _conversion(to_ucum(from_unit), to_ucum(to_unit), analyte)


@lru_cache(maxsize=4096)
def _conversion(src: str, dst: str, analyte: Analyte | None) -> tuple[float, float]:
    if src == dst:
        return 1.0, 0.0
    ureg = registry()
    a, b = parse_ucum(src), parse_ucum(dst)
    probe = np.array([0.0, 1.0])
    contexts: list[str] = []
    kwargs: dict[str, Any] = {}
    if analyte is not None:
        if analyte.molar_mass is not None:
            contexts.append("molar")
            kwargs["mw"] = ureg.Quantity(analyte.molar_mass, "g/mol")
        if analyte.valence is not None:
            contexts.append("valence")
            kwargs["z"] = analyte.valence
        if analyte.iu_is_u:
            contexts.append("iu_as_u")
    try:
        q = ureg.Quantity(probe * a.magnitude, a.units)
        try:
            out = q.to(b.units).magnitude / b.magnitude
        except pint.DimensionalityError:
            if not contexts:
                raise
            out = q.to(b.units, *contexts, **kwargs).magnitude / b.magnitude
    except pint.DimensionalityError:
        what = (
            f"the chemistry of {analyte.name!r} (molar mass, valence, IU) does not bridge them"
            if analyte
            else ("no analyte known for the code")
        )
        raise UnitError(
            f"cannot convert {src} ({a.dimensionality}) to {dst} ({b.dimensionality}): "
            f"different dimensions and {what}"
        ) from None
    except pint.errors.PintError as err:
        raise UnitError(f"cannot convert {src} to {dst}: {err}") from None
    offset, scale = float(out[0]), float(out[1] - out[0])
    if not (np.isfinite(scale) and np.isfinite(offset)) or scale == 0:
        raise UnitError(f"cannot convert {src} to {dst}: degenerate factor {scale}")
    return scale, offset


@overload
def convert(
    value: float, from_unit: str, to_unit: str, *, code: str | None = ..., system: str = ...
) -> float: ...
@overload
def convert(
    value: np.ndarray | pd.Series | list[float],
    from_unit: str,
    to_unit: str,
    *,
    code: str | None = ...,
    system: str = ...,
) -> np.ndarray: ...
def convert(value, from_unit, to_unit, *, code=None, system=LOINC):
    """Convert a value (or an array of values) between units.

    Parameters
    ----------
    value : float or array-like
    from_unit, to_unit : str
        UCUM units or known non-UCUM spellings (``LB``, ``F``, ``mEq/L``...).
    code : str, optional
        The LOINC code (or a code of ``system``) of the quantity: needed for mass <-> molar and
        equivalent conversions, which depend on the analyte.
    system : str
        System of ``code``.

    Returns
    -------
    float or numpy.ndarray

    Raises
    ------
    UnitError
        If the conversion is impossible (unknown unit, different dimensions, no molar mass).

    Examples
    --------
    >>> round(convert(1.0, "mg/dL", "umol/L", code="2160-0"), 2)
    88.4
    >>> round(convert(98.6, "F", "C"), 2)
    37.0
    """
    scale, offset = conversion(from_unit, to_unit, code=code, system=system)
    if np.ndim(value) == 0:
        return float(value) * scale + offset
    return np.asarray(value, dtype=float) * scale + offset


def _number_text(values: np.ndarray) -> list[str]:
    return [np.format_float_positional(v, trim="-") for v in values]


def normalize_units(events: pd.DataFrame) -> pd.DataFrame:
    """Convert numeric values to the canonical UCUM unit of their (mapped) code.

    For every row with a numeric ``value_num``: ``orig_value``/``orig_unit`` are filled where
    empty (the number as text, the unit as given; columns added when absent); then, per
    (code system, code, unit) group, ``unit`` is spelled in UCUM and, where
    ``tables/canonical_units.csv`` names a unit for the code, ``value_num``/``unit`` are
    converted to it. A unit that cannot be parsed or converted is left as it is and the reason is
    written to ``qualifiers["unit_issue"]``; no row is ever dropped. Rows without a number are
    left untouched. Run :func:`~twinlab.terminology.map_codes` first so that codes are LOINC.

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``code_system``, ``code``, ``value_num``, ``unit`` (optionally ``orig_value``,
        ``orig_unit``, ``qualifiers``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``events``.
    """
    out = events.copy()
    n = len(out)
    for column in ("orig_value", "orig_unit"):
        if column not in out.columns:
            out[column] = pd.Series([None] * n, index=out.index, dtype="str")
    if n == 0:
        return out
    values = pd.to_numeric(out["value_num"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    units = out["unit"].to_numpy(dtype=object, na_value=None)
    numeric = np.isfinite(values)
    orig_value = out["orig_value"].to_numpy(dtype=object, na_value=None, copy=True)
    orig_unit = out["orig_unit"].to_numpy(dtype=object, na_value=None, copy=True)
    fill = numeric & np.array([v is None for v in orig_value], dtype=bool)
    orig_value[fill] = _number_text(values[fill])
    fill_u = numeric & np.array([u is None for u in orig_unit], dtype=bool)
    orig_unit[fill_u] = units[fill_u]

    rows = np.flatnonzero(numeric)
    systems = out["code_system"].to_numpy(dtype=object, na_value=None)[rows]
    codes = out["code"].to_numpy(dtype=object, na_value=None)[rows]
    keys = pd.MultiIndex.from_arrays(
        [
            pd.Series(systems, dtype=object).fillna(""),
            pd.Series(codes, dtype=object).fillna(""),
            pd.Series(units[rows], dtype=object).fillna("\x00"),
        ]
    )
    group, uniques = pd.factorize(keys)
    new_values = values.copy()
    new_units = units.copy()
    issue_pos: list[int] = []
    issue_reason: list[str] = []
    for g, (system, code, unit) in enumerate(uniques):
        members = rows[group == g]
        canon = canonical_unit(code, system=system) if system and code else None
        if unit == "\x00" and (canon is None or parse_ucum(canon).dimensionless):
            continue
        ucum = None
        try:
            if unit == "\x00":
                raise UnitError("no unit given")
            ucum = to_ucum(unit)
            if canon is None:
                new_units[members] = ucum
                continue
            scale, offset = conversion(ucum, canon, code=code, system=system)
        except UnitError as err:
            issue_pos.extend(members.tolist())
            issue_reason.extend([_issue_reason(unit, ucum, canon, err)] * len(members))
            continue
        with np.errstate(over="ignore"):  # an overflow is quarantined by the harmonizer
            new_values[members] = values[members] * scale + offset
        new_units[members] = canon
    out["value_num"] = new_values
    out["unit"] = pd.Series(new_units, index=out.index, dtype=object).astype(_str(out, "unit"))
    out["orig_value"] = pd.Series(orig_value, index=out.index, dtype=object).astype(
        _str(out, "orig_value")
    )
    out["orig_unit"] = pd.Series(orig_unit, index=out.index, dtype=object).astype(
        _str(out, "orig_unit")
    )
    _qualifiers.update(out, issue_pos, [{"!unit_issue": r} for r in issue_reason])
    return out


def _issue_reason(unit: str, ucum: str | None, canon: str | None, err: UnitError) -> str:
    """Why a unit was left as it is, in words and units of the canonical unit table only.

    The unit as the source wrote it can be any text (a name typed in a unit field); it is
    published in ``orig_unit`` under that column's policy (a UCUM expression, else null), never
    quoted in the reason, which the field policy publishes as a coded qualifier.

    Examples
    --------
    >>> _issue_reason("Jane Doe", None, "kg", UnitError("unknown unit 'Jane Doe'"))
    'unknown unit: no UCUM expression and no known spelling of one; kg expected'
    """
    expected = f"; {canon} expected" if canon else ""
    if unit == "\x00" or err.reason == "no unit given":
        return f"no unit given{expected}"
    if ucum is None:
        return f"unknown unit: no UCUM expression and no known spelling of one{expected}"
    why = "different dimensions" if "different dimensions" in err.reason else "no conversion"
    return f"cannot convert the unit to {canon}: {why}"


def _str(df: pd.DataFrame, column: str) -> Any:
    dtype = df[column].dtype
    return dtype if isinstance(dtype, pd.StringDtype) else "str"


def unit_issue_report(events: pd.DataFrame) -> pd.DataFrame:
    """Count the rows that :func:`normalize_units` could not convert, by code, unit and reason.

    Returns
    -------
    pandas.DataFrame
        Columns ``system``, ``code``, ``unit``, ``reason``, ``count``, most frequent first.
    """
    quals = _qualifiers.as_dicts(events)
    reasons = [q.get("unit_issue") for q in quals]
    mask = np.array([r is not None for r in reasons], dtype=bool)
    sub = pd.DataFrame(
        {
            "system": events["code_system"].to_numpy(dtype=object, na_value=None)[mask],
            "code": events["code"].to_numpy(dtype=object, na_value=None)[mask],
            "unit": events["unit"].to_numpy(dtype=object, na_value=None)[mask],
            "reason": np.array(reasons, dtype=object)[mask],
        }
    ).fillna("")
    if sub.empty:
        return sub.assign(count=pd.Series([], dtype="int64"))
    return (
        sub.groupby(["system", "code", "unit", "reason"])
        .size()
        .rename("count")
        .reset_index()
        .sort_values("count", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
