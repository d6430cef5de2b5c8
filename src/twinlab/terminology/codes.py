"""Code mapping: source codes -> standard codes (LOINC, ...) through the shipped tables.

Lookups are exact: a (system, code, specimen) either has a row in a ``tables/code_map*.csv`` or
stays as given and is flagged ``qualifiers["unmapped"] = True``. No fuzzy matching, ever.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from twinlab.terminology import _qualifiers
from twinlab.terminology.catalog import ANY_SPECIMEN, NO_SPECIMEN, code_map
from twinlab.terminology.systems import canonical_system, is_standard

__all__ = ["lookup_code", "map_codes", "unmapped_report"]

_SEP = "\x1f"


def lookup_code(
    system: str | None, code: str, *, specimen: str | None = None, domain: str | None = None
) -> tuple[str, str, str] | None:
    """Return the target ``(system, code, display)`` for one source code, or ``None``.

    Parameters
    ----------
    system : str or None
        Source code system as given (aliases are resolved by
        :func:`~twinlab.terminology.canonical_system`).
    code : str
        Source code, matched exactly (local test names: case-insensitively).
    specimen : str, optional
        Specimen / matrix (e.g. SDTM ``LBSPEC``), where the table distinguishes specimens.
    domain : str, optional
        Event domain, used only to resolve a bare ``SDTM`` system.

    Returns
    -------
    tuple of str or None
        ``None`` when no table row applies; for a deliberately local code the source system and
        code are returned unchanged.

    Examples
    --------
    >>> lookup_code("sdtm:VSTESTCD", "SYSBP")
    ('http://loinc.org', '8480-6', 'Systolic blood pressure')
    """
    row = _resolve(canonical_system(system, domain=domain), code, _specimen_key(specimen))
    if row is None:
        return None
    if not row["code"]:
        return (system or "", code, "")
    return row["system"], row["code"], row["display"]


def _specimen_key(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return NO_SPECIMEN


@cache
def _index() -> dict[tuple[str, str, str], dict[str, str]]:
    table = code_map()
    return {
        (r["source_system"], r["source_code"], r["specimen"]): r
        for r in table.to_dict(orient="records")
    }


def _resolve(system: str | None, code: Any, specimen: str) -> dict[str, str] | None:
    if not isinstance(code, str) or not code.strip():
        return None
    code = code.strip()
    index = _index()
    if system is None or (not is_standard(system) and not system.startswith("sdtm:")):
        keys = [("local", code.casefold(), specimen), ("local", code.casefold(), ANY_SPECIMEN)]
        if system is not None:
            keys = [(system, code, specimen), (system, code, ANY_SPECIMEN), *keys]
    else:
        keys = [(system, code, specimen), (system, code, ANY_SPECIMEN)]
    for key in keys:
        if key in index:
            return index[key]
    return None


def map_codes(events: pd.DataFrame) -> pd.DataFrame:
    """Map the codes of an events table to standard codes where a shipped table says so.

    For a mapped row, ``code_system``/``code``/``display`` become the target coding and the
    source is kept in ``qualifiers["source_system"]``, ``["source_code"]`` (and
    ``["source_display"]``). Standard codes (LOINC, SNOMED CT, RxNorm, CVX) are kept; an alias of
    their system (an OID, ``LOINC``) is replaced by the URI. A deliberately local code (a table
    row without target) is kept and marked ``qualifiers["local_code"] = True``. Every other row is
    left untouched and flagged ``qualifiers["unmapped"] = True``. Running it twice changes nothing
    more.

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``code_system``, ``code``, ``display`` and optionally ``qualifiers`` (dicts or JSON
        text; ``qualifiers["matrix"]`` is the specimen) and ``domain``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``events``.
    """
    out = events.copy()
    n = len(out)
    if n == 0:
        return out
    quals = _qualifiers.as_dicts(out)
    systems = out["code_system"].to_numpy(dtype=object, na_value=None)
    # blanks around a code are never part of it: " 2345-7 " is LOINC 2345-7, its unit
    # converted as every other 2345-7's (not left in the source's unit beside them)
    codes = np.array(
        [c.strip() if isinstance(c, str) else c for c in out["code"].to_numpy(dtype=object)],
        dtype=object,
    )
    codes[pd.isna(codes)] = None
    domains = (
        out["domain"].to_numpy(dtype=object, na_value=None)
        if "domain" in out.columns
        else np.full(n, None, dtype=object)
    )
    specimens = [_specimen_key(q.get("matrix")) for q in quals]
    keys = pd.Series(
        [
            f"{s}{_SEP}{c}{_SEP}{d}{_SEP}{p}"
            for s, c, d, p in zip(systems, codes, domains, specimens, strict=True)
        ]
    )
    group, _ = pd.factorize(keys)
    first = pd.Series(np.arange(n)).groupby(group).first().to_numpy()
    # resolve each distinct (system, code, domain, specimen) once
    results: list[tuple[str, Any]] = []
    for pos in first:
        system, code, domain, specimen = systems[pos], codes[pos], domains[pos], specimens[pos]
        canon = canonical_system(system, domain=domain)
        if is_standard(canon):
            results.append(("standard", canon))
            continue
        row = _resolve(canon, code, specimen)
        if row is None:
            results.append(("unmapped", None))
        elif not row["code"]:
            results.append(("local", None))
        else:
            results.append(("mapped", row))
    kind = np.array([k for k, _ in results], dtype=object)[group]
    target = {
        f: np.array([w[f] if k == "mapped" else None for k, w in results], dtype=object)[group]
        for f in ("system", "code", "display")
    }
    std_uri = np.array([w if k == "standard" else None for k, w in results], dtype=object)[group]
    display = (
        out["display"].to_numpy(dtype=object, na_value=None)
        if "display" in out.columns
        else np.full(n, None, dtype=object)
    )
    mapped = kind == "mapped"
    realias = (kind == "standard") & (std_uri != systems)
    new_system = np.where(mapped, target["system"], np.where(realias, std_uri, systems))
    new_code = np.where(mapped, target["code"], codes)
    new_display = np.where(mapped, target["display"], display)
    positions: list[int] = []
    updates: list[dict[str, Any]] = []
    for pos in np.flatnonzero(mapped | realias | (kind == "local") | (kind == "unmapped")):
        k = kind[pos]
        if k == "mapped":
            upd: dict[str, Any] = {"source_system": systems[pos], "source_code": codes[pos]}
            if display[pos] is not None:
                upd["source_display"] = display[pos]
        elif k == "standard":
            upd = {"source_system": systems[pos]}
        elif k == "local":
            upd = {"local_code": True}
        else:
            upd = {"!unmapped": True}
        positions.append(int(pos))
        updates.append(upd)
    for column, values in (
        ("code_system", new_system),
        ("code", new_code),
        ("display", new_display),
    ):
        out[column] = pd.Series(values, index=out.index, dtype=object).astype(
            _text_dtype(out, column)
        )
    _qualifiers.update(out, positions, updates)
    return out


def _text_dtype(df: pd.DataFrame, column: str) -> Any:
    if column in df.columns and isinstance(df[column].dtype, pd.StringDtype):
        return df[column].dtype
    return "str"


def unmapped_report(events: pd.DataFrame) -> pd.DataFrame:
    """Count the rows that :func:`map_codes` flagged unmapped, by source coding.

    Parameters
    ----------
    events : pandas.DataFrame
        The output of :func:`map_codes`.

    Returns
    -------
    pandas.DataFrame
        Columns ``system``, ``code``, ``display``, ``count``, most frequent first.
    """
    quals = _qualifiers.as_dicts(events)
    flagged = np.fromiter((q.get("unmapped") is True for q in quals), dtype=bool, count=len(quals))
    cols = {"code_system": "system", "code": "code", "display": "display"}
    sub = events.loc[flagged, [c for c in cols if c in events.columns]].rename(columns=cols)
    if "display" not in sub.columns:
        sub["display"] = None
    if sub.empty:
        return pd.DataFrame({"system": [], "code": [], "display": [], "count": []}).astype(
            {"count": "int64"}
        )
    report = (
        sub.fillna({"system": "", "display": ""})
        .groupby(["system", "code", "display"], dropna=False)
        .size()
        .rename("count")
        .reset_index()
        .sort_values(["count", "system", "code"], ascending=[False, True, True], kind="stable")
        .reset_index(drop=True)
    )
    return report
