"""The mapping tables shipped with the package (``tables/*.csv``), loaded once and cached.

Each CSV starts with ``#`` comment lines (origin, licence, columns) followed by a header row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

from twinlab.terminology.systems import canonical_system

__all__ = [
    "Analyte",
    "analytes",
    "canonical_units",
    "code_map",
    "read_table",
    "unit_synonyms",
]

ANY_SPECIMEN = "*"
NO_SPECIMEN = "(none)"


def read_table(name: str) -> pd.DataFrame:
    """Read ``tables/<name>`` as text columns (comments skipped, blanks as empty strings).

    Parameters
    ----------
    name : str
        File name inside ``twinlab/terminology/tables``.

    Returns
    -------
    pandas.DataFrame
    """
    text = resources.files("twinlab.terminology").joinpath("tables", name).read_text("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    return df.apply(lambda s: s.str.strip())


@cache
def code_map() -> pd.DataFrame:
    """All code-mapping rows, one per (source_system, source_code, specimen value).

    Returns
    -------
    pandas.DataFrame
        Columns ``source_system``, ``source_code``, ``specimen`` (lower case; ``*`` = any,
        ``(none)`` = no specimen given), ``system``, ``code``, ``display``, ``note``, ``table``.

    Raises
    ------
    ValueError
        If two rows claim the same (source_system, source_code, specimen).
    """
    names = sorted(
        p.name
        for p in resources.files("twinlab.terminology").joinpath("tables").iterdir()
        if p.name.startswith("code_map") and p.name.endswith(".csv")
    )
    parts = []
    for name in names:
        df = read_table(name)
        df["table"] = name
        df["source_system"] = [canonical_system(s) or s for s in df["source_system"]]
        df["specimen"] = df["specimen"].replace("", ANY_SPECIMEN).str.lower().str.split("|")
        parts.append(df.explode("specimen"))
    out = pd.concat(parts, ignore_index=True)
    out["specimen"] = out["specimen"].str.strip()
    local = out["source_system"] == "local"
    out.loc[local, "source_code"] = out.loc[local, "source_code"].str.casefold()
    dup = out.duplicated(["source_system", "source_code", "specimen"], keep=False)
    if dup.any():
        rows = out.loc[dup, ["table", "source_system", "source_code", "specimen"]]
        raise ValueError(f"ambiguous code-mapping rows:\n{rows.to_string()}")
    return out


@dataclass(frozen=True)
class Analyte:
    """Chemistry of one analyte for unit conversions.

    Attributes
    ----------
    name : str
    molar_mass : float or None
        g/mol; ``None`` refuses mass <-> substance conversions.
    valence : int or None
        charge per particle; ``None`` refuses eq <-> mol conversions.
    iu_is_u : bool
        Whether IU and U denote the same unit for this analyte.
    """

    name: str
    molar_mass: float | None = None
    valence: int | None = None
    iu_is_u: bool = False


@cache
def analytes() -> dict[str, Analyte]:
    """The analytes of ``tables/analytes.csv`` by name."""
    df = read_table("analytes.csv")
    return {
        r.analyte: Analyte(
            r.analyte,
            float(r.molar_mass) if r.molar_mass else None,
            int(r.valence) if r.valence else None,
            r.iu_is_u == "1",
        )
        for r in df.itertuples()
    }


@cache
def canonical_units() -> pd.DataFrame:
    """Canonical UCUM unit and analyte per (system, code), indexed by (system, code)."""
    df = read_table("canonical_units.csv")
    unknown = set(df["analyte"]) - set(analytes()) - {""}
    if unknown:
        raise ValueError(f"canonical_units.csv names unknown analytes: {sorted(unknown)}")
    out = df.set_index(["system", "code"])
    if not out.index.is_unique:
        raise ValueError("canonical_units.csv lists a code twice")
    return out


@cache
def unit_synonyms() -> tuple[dict[str, str], dict[str, str]]:
    """Non-UCUM spellings -> UCUM: (exact dict, case-insensitive dict)."""
    df = read_table("unit_synonyms.csv")
    exact = dict(zip(df["spelling"], df["ucum"], strict=True))
    folded: dict[str, str] = {}
    for spelling, ucum in exact.items():
        key = spelling.casefold()
        if folded.setdefault(key, ucum) != ucum:
            raise ValueError(f"unit_synonyms.csv: {spelling!r} is ambiguous without case")
    return exact, folded
