"""The plausible ranges of numeric values, shipped as ``tables/plausibility.csv``.

One declaration for every range check: the harmonizer's per-event check
(:func:`twinlab.harmonize.validation.check_values`, by code, canonical unit or domain) and the
wearable reader's per-epoch check (:mod:`twinlab.ingest.wearables`, rows of domain
``wearable_epoch``) read the same table.
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
        Columns ``domain``, ``system``, ``code``, ``unit``, ``low``, ``high``, ``note``; rows
        with ``code == "*"`` hold the range of a whole domain.

    Raises
    ------
    ValueError
        When a row's bounds are not numbers with ``low <= high`` (a broken table).
    """
    path = resources.files("twinlab.terminology").joinpath("tables/plausibility.csv")
    with resources.as_file(path) as file:
        table = pd.read_csv(file, comment="#", dtype=str, keep_default_na=False)
    low = pd.to_numeric(table["low"], errors="coerce")
    high = pd.to_numeric(table["high"], errors="coerce")
    broken = low.isna() | high.isna() | (low > high)
    if broken.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(broken.to_numpy()))
        raise ValueError(f"plausibility.csv: rows {rows} need numeric low <= high")
    return table.assign(low=low.astype(float), high=high.astype(float))
