"""The plausible ranges of numeric values, shipped as ``tables/plausibility.csv``.

One declaration for every range check: the harmonizer's per-event check
(:func:`twinlab.harmonize.validation.check_values`, by code, canonical unit or domain) and the
wearable reader's per-epoch check (:mod:`twinlab.ingest.wearables`, rows of domain
``wearable_epoch``) read the same table, and so does the data-quality report
(:mod:`twinlab.harmonize.quality`) for its typical ranges (``typical_low``/``typical_high``),
which quarantine nothing.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["plausibility_table"]


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
