"""The plausible ranges of numeric values, shipped as ``tables/plausibility.csv``.

One declaration for every range check: the harmonizer's per-event check
(:func:`twinlab.harmonize.validation.check_values`, by code, canonical unit or domain) and the
wearable reader's per-epoch check (:mod:`twinlab.ingest.wearables`, rows of domain
``wearable_epoch``) read the same table, and so does the data-quality report
(:mod:`twinlab.harmonize.quality`) for its typical ranges (``typical_low``/``typical_high``),
which quarantine nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["GENERIC_LIMIT", "plausibility_table", "unit_bounds"]


@lru_cache(maxsize=1)
def plausibility_table() -> pd.DataFrame:
    """The plausible ranges shipped in ``twinlab/terminology/tables/plausibility.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``domain``, ``system``, ``code``, ``unit``, ``low``, ``high`` (the hard
        limits), ``typical_low``, ``typical_high`` (the quality report's typical range, NaN
        where a row has none) and ``note``; rows with ``code == "*"`` hold the range of a
        whole domain.

    Raises
    ------
    ValueError
        When a row's bounds are not numbers with ``low <= high``, or its typical range is
        half given or not inside its hard limits (a broken table).
    """
    path = resources.files("twinlab.terminology").joinpath("tables/plausibility.csv")
    with resources.as_file(path) as file:
        table = pd.read_csv(file, comment="#", dtype=str, keep_default_na=False)
    low = pd.to_numeric(table["low"], errors="coerce")
    high = pd.to_numeric(table["high"], errors="coerce")
    typical_low = pd.to_numeric(table["typical_low"], errors="coerce")  # "" -> NaN
    typical_high = pd.to_numeric(table["typical_high"], errors="coerce")
    broken = low.isna() | high.isna() | (low > high)
    if broken.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(broken.to_numpy()))
        raise ValueError(f"plausibility.csv: rows {rows} need numeric low <= high")
    typical = typical_low.notna() | typical_high.notna()
    inside = (low <= typical_low) & (typical_low <= typical_high) & (typical_high <= high)
    broken = typical & ~inside
    if broken.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(broken.to_numpy()))
        raise ValueError(
            f"plausibility.csv: rows {rows} need typical_low <= typical_high, both inside "
            "low to high (or both empty)"
        )
    return table.assign(
        low=low.astype(float), high=high.astype(float),
        typical_low=typical_low.astype(float), typical_high=typical_high.astype(float),
    )  # fmt: skip


#: The largest magnitude of any value in any canonical unit for an analyte without a range of
#: its own: beyond it a number overflowed or was mistyped (1e300 mg/L), whatever it measured.
GENERIC_LIMIT = 1e15

# UCUM atoms of quantities that are never negative: mass, amount of substance, volume, enzyme
# activity, counts (10*N, annotations such as {cells}), length, area, time (rates /min, /h).
_PREFIX = r"(?:[YZEPTGMkhdcmunpfazy]|da)?"
_ATOM = re.compile(
    rf"^(?:{_PREFIX}(?:g|mol|eq|Eq|L|l|U|kat|m|m2|m3|s)|\[(?:IU|iU|arb'U|USP'U)\]|"
    r"10[*^][+-]?\d+|\{\}|min|h|d|wk|mo|a|\[ppm\]|\[ppb\]|\[ppth\])$"
)
_NOTE = re.compile(r"\{[^{}]*\}")  # a UCUM annotation: {steps}, {cells}, {1.73_m2}
_SIGNED_NOTE = re.compile(r"\{[^{}]*(?:score|delta|change|diff|ratio|log|SD)[^{}]*\}", re.I)


@lru_cache(maxsize=4096)
def unit_bounds(unit: str | None) -> tuple[float, float, str]:
    """The bounds that hold for any value in the UCUM ``unit``, whatever it measures.

    A concentration, amount, mass, volume, count or rate (``mg/L``, ``mmol``, ``10*9/L``,
    ``{steps}``, ``/min``) is never negative; any value's
    magnitude stays below :data:`GENERIC_LIMIT`. These hold for analytes not listed in
    ``plausibility.csv`` (a listed analyte's own range decides for it: a base excess in
    ``mmol/L`` may be negative).

    Parameters
    ----------
    unit : str or None
        A canonical UCUM unit (after :func:`twinlab.terminology.normalize_units`).

    Returns
    -------
    tuple of (float, float, str)
        Low bound, high bound and the kind of unit they hold for (``"non-negative
        quantity"`` or ``"any unit"``). A percentage is ``"any unit"``: a percent of predicted
        (FEV1 110 %) exceeds 100 and a percent change is negative, so only an analyte's own
        row in ``plausibility.csv`` bounds it.

    Examples
    --------
    >>> unit_bounds("mg/L")[::2], unit_bounds("%")[2], unit_bounds("Cel")[2]
    ((0.0, 'non-negative quantity'), 'any unit', 'any unit')
    """
    text = (unit or "").strip()
    if text == "%" or _SIGNED_NOTE.search(text):  # {z-score}, {delta}: may be < 0
        return -GENERIC_LIMIT, GENERIC_LIMIT, "any unit"
    atoms = [a for a in re.split(r"[./]", _NOTE.sub("{}", text)) if a]
    if atoms and all(_ATOM.match(a) for a in atoms):
        return 0.0, GENERIC_LIMIT, "non-negative quantity"
    return -GENERIC_LIMIT, GENERIC_LIMIT, "any unit"
