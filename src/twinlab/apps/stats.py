"""Small statistics the apps show: proportions' confidence intervals and small-cell
suppression of counts shown to stakeholders (trial power comes from :mod:`twinlab.trials`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twinlab.apps.disclosure import ROUND_TO, rounded

__all__ = ["SUPPRESSED", "suppress_small_cells", "wilson"]

SUPPRESSED = "<{k}"


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default).

    Examples
    --------
    >>> [round(x, 3) for x in wilson(5, 10)]
    [0.237, 0.763]
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    den = 1 + z**2 / n
    center = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    lo = 0.0 if successes == 0 else max(0.0, float(center - half))
    hi = 1.0 if successes == n else min(1.0, float(center + half))
    return (lo, hi)


def suppress_small_cells(
    counts: pd.DataFrame,
    column: str = "n",
    *,
    k: int = 5,
    total: bool = True,
    round_to: int = ROUND_TO,
) -> pd.DataFrame:
    """Hide counts below ``k`` (shown as ``"<k"``) and round the others to a multiple of
    ``round_to``, so no small group can be singled out, nor found by differencing.

    With ``total`` (a total row is or will be shown), a lone suppressed cell could be
    recovered by subtraction, so the next smallest cell is suppressed too (complementary
    suppression).

    Parameters
    ----------
    counts : pandas.DataFrame
        One row per group with a count column.
    column : str
        The count column.
    k : int
        The smallest count shown (1 turns suppression off).
    total : bool
        Whether a total is shown alongside.
    round_to : int
        Counts shown are rounded to a multiple of it (1: exact).

    Returns
    -------
    pandas.DataFrame
        A copy whose ``column`` is text: the count or ``"<k"``.

    Examples
    --------
    >>> df = pd.DataFrame({"site": ["a", "b", "c", "d"], "n": [40, 3, 12, 23]})
    >>> suppress_small_cells(df)["n"].tolist()
    ['40', '<5', '<5', '25']
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    out = counts.copy()
    values = out[column].to_numpy()
    hide = values < k
    if total and hide.sum() == 1 and len(values) > 1:
        rest = np.where(hide, np.inf, values)
        hide[int(np.argmin(rest))] = True
    shown = SUPPRESSED.format(k=k)
    out[column] = [
        shown if h else str(rounded(int(v), k, round_to) if k > 1 else int(v))
        for v, h in zip(values, hide, strict=True)
    ]
    return out
