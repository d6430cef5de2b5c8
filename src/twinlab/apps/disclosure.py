"""Small-cell disclosure control for viewers without patient-level access.

The rule (stated in the README, enforced by :class:`twinlab.apps.whatif.WhatIf` when built
with ``min_cell=k`` and by the cohort dashboard):

1. Population filters move in coarse fixed bands (:data:`WEIGHT_BANDS`, :data:`CRCL_BANDS`;
   a value between edges widens to the band around it), so a boundary cannot be walked
   in small steps to find one patient's value.
2. A population of fewer than ``k`` real patients is refused, with a message that does not
   depend on how many it has (:data:`REFUSAL`).
3. A population is refused too when a *wider* choice of the same filters (any band range
   around it, any genotype set containing it) has between 1 and ``k - 1`` more real
   patients: then no two answered populations, one inside the other, differ by a small
   group, however the filters are searched (differencing).
4. Every count shown is suppressed below ``k`` (``"<k"``) and otherwise rounded to a
   multiple of :data:`ROUND_TO`; counts that would give a suppressed one back (a total, a
   failure count beside a suppressed cell, a rate) are suppressed or rounded alike.

This is a rule-based control (as in statistical disclosure control practice), not a formal
privacy guarantee: answers computed from a permitted population (percentile bands,
attainment fractions) still depend on every patient in it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "BANDS_ONLY",
    "CRCL_BANDS",
    "REFUSAL",
    "ROUND_TO",
    "WEIGHT_BANDS",
    "CellCounts",
    "band_criteria",
    "band_filters",
    "band_span",
    "genotype_criteria",
    "offered_levels",
    "rounded",
    "shown",
    "suppress_counts",
]

#: body-weight band edges (kg); the first and last bands are open-ended
WEIGHT_BANDS: tuple[float, ...] = (30.0, 60.0, 80.0, 100.0, 120.0, 200.0)
#: creatinine-clearance band edges (mL/min, near the CKD stages); ends open as above
CRCL_BANDS: tuple[float, ...] = (10.0, 30.0, 60.0, 90.0, 120.0, 250.0)
#: counts shown are rounded to a multiple of this
ROUND_TO = 5
REFUSAL = (
    "these filters select too few real patients, or too few besides a wider choice, to "
    "answer without singling anyone out (fewer than {k}): widen them"
)

BANDS_ONLY = (
    "without patient-level access, a population is chosen by bands only: at most one "
    "'WT >= a and WT < b' and one 'CRCL >= a and CRCL < b' (a, b: band edges, either side "
    "may be left out; weight {w}, CrCL {c}) and one 'CYP2C9 in [\"name\", ...]'"
)
_GENOTYPES = re.compile(r"^CYP2C9 in (\[.*\])$")


def rounded(n: int, k: int, base: int = ROUND_TO) -> int:
    """A count ``n >= k`` rounded to the nearest multiple of ``base`` (never below ``k``).

    Examples
    --------
    >>> rounded(12, 5), rounded(13, 5), rounded(6, 5), rounded(7, 7)
    (10, 15, 5, 10)
    """
    out = base * int(np.floor(n / base + 0.5))
    return max(out, base * int(np.ceil(k / base)))


def shown(n: int, k: int, base: int = ROUND_TO) -> str:
    """A count as shown to an aggregate-only viewer: ``"0"``, ``"<k"`` or rounded.

    Examples
    --------
    >>> shown(0, 5), shown(1, 5), shown(4, 5), shown(23, 5)
    ('0', '<5', '<5', '25')
    """
    if n == 0:
        return "0"
    return f"<{k}" if n < k else str(rounded(n, k, base))


def band_span(edges: Sequence[float], lo: float, hi: float) -> tuple[int, int]:
    """The bands ``i..j`` (indices) that cover ``[lo, hi]``: the range widened to band edges.

    Examples
    --------
    >>> band_span(WEIGHT_BANDS, 30.0, 48.3), band_span(WEIGHT_BANDS, 61.0, 80.0)
    ((0, 0), (1, 1))
    """
    inner = np.asarray(edges[1:-1], dtype=float)
    i = int(np.searchsorted(inner, lo, side="right"))
    j = int(np.searchsorted(inner, hi, side="left"))
    return i, max(i, j)


def band_criteria(covariate: str, edges: Sequence[float], i: int, j: int) -> list[str]:
    """Criteria of bands ``i..j`` (half-open ``[edge, next edge)``, outer ends open).

    Examples
    --------
    >>> band_criteria("WT", WEIGHT_BANDS, 1, 2), band_criteria("WT", WEIGHT_BANDS, 0, 4)
    (['WT >= 60 and WT < 100'], [])
    """
    last = len(edges) - 2
    limits = ([f"{covariate} >= {edges[i]:g}"] if i > 0 else []) + (
        [f"{covariate} < {edges[j + 1]:g}"] if j < last else []
    )
    return [" and ".join(limits)] if limits else []


def genotype_criteria(names: Sequence[str]) -> list[str]:
    """The criterion of a genotype choice as the dashboards write it (none: every genotype).

    >>> genotype_criteria(["*1/*3", "*1/*1"]), genotype_criteria([])
    (['CYP2C9 in ["*1/*1", "*1/*3"]'], [])
    """
    if not names:
        return []
    return ["CYP2C9 in [" + ", ".join(f'"{n}"' for n in sorted(names)) + "]"]


def offered_levels(values: np.ndarray, k: int | None) -> np.ndarray:
    """The levels of a coded covariate a filter offers: those at least ``k`` real patients
    have (every level when ``k`` is None).

    >>> offered_levels(np.array([0.0, 0.0, 1.0, 2.0, 2.0]), 2).tolist()
    [0.0, 2.0]
    """
    levels, counts = np.unique(values, return_counts=True)
    return levels if k is None else levels[counts >= k]


def band_filters(
    criteria: Sequence[str],
) -> tuple[tuple[int, int], tuple[int, int], list[str]]:
    """The weight bands, CrCL bands and genotype names of criteria written as the dashboards
    write them (:func:`band_criteria`, ``CYP2C9 in ["name", ...]``): the inverse of
    :meth:`twinlab.apps.whatif.WhatIf.criteria` with ``min_cell`` set.

    A covariate left out is its full band range; no genotype: every genotype (``[]``).

    Raises
    ------
    ValueError
        For any other criterion, or a covariate filtered twice (:data:`BANDS_ONLY`).

    Examples
    --------
    >>> band_filters(["WT >= 60 and WT < 100", 'CYP2C9 in ["*1/*1"]'])
    ((1, 2), (0, 4), ['*1/*1'])
    >>> band_filters(["WT > 100.5"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: without patient-level access, ...
    """
    refuse = ValueError(
        BANDS_ONLY.format(
            w="/".join(f"{e:g}" for e in WEIGHT_BANDS[1:-1]),
            c="/".join(f"{e:g}" for e in CRCL_BANDS[1:-1]),
        )
    )
    spans: dict[str, tuple[int, int]] = {}
    genotypes: list[str] | None = None
    for raw in criteria:
        text = " ".join(str(raw).split())
        found = _GENOTYPES.match(text)
        if found:
            try:
                names = json.loads(found.group(1))
            except ValueError:
                raise refuse from None
            ok = (
                isinstance(names, list)
                and names
                and all(isinstance(n, str) and n and not set('"\\') & set(n) for n in names)
            )
            if genotypes is not None or not ok:
                raise refuse
            genotypes = sorted(set(names))
            continue
        for cov, edges in (("WT", WEIGHT_BANDS), ("CRCL", CRCL_BANDS)):
            n = len(edges) - 1
            match = [
                (i, j)
                for i in range(n)
                for j in range(i, n)
                if band_criteria(cov, edges, i, j) == [text]
            ]
            if match:
                if cov in spans:
                    raise refuse
                spans[cov] = match[0]
                break
        else:
            raise refuse
    return (
        spans.get("WT", (0, len(WEIGHT_BANDS) - 2)),
        spans.get("CRCL", (0, len(CRCL_BANDS) - 2)),
        genotypes or [],
    )


class CellCounts:
    """Real patients per (weight band, CrCL band, genotype level): what the rule checks.

    Parameters
    ----------
    weight, crcl : array-like or None
        Each real patient's value (``None``: the cohort lacks it; one band).
    genotype : array-like or None
        Each real patient's genotype code.
    levels : sequence of float
        The genotype codes (the filter's levels).
    """

    def __init__(
        self,
        weight: np.ndarray | None,
        crcl: np.ndarray | None,
        genotype: np.ndarray | None,
        levels: Sequence[float],
    ) -> None:
        n = next((len(a) for a in (weight, crcl, genotype) if a is not None), 0)
        wb = self._band(weight, WEIGHT_BANDS, n)
        cb = self._band(crcl, CRCL_BANDS, n)
        self.levels = [float(x) for x in levels] or [0.0]
        if genotype is None or not len(levels):
            gb = np.zeros(n, dtype=int)
        else:
            gb = np.searchsorted(self.levels, np.asarray(genotype, dtype=float))
        shape = (
            len(WEIGHT_BANDS) - 1 if weight is not None else 1,
            len(CRCL_BANDS) - 1 if crcl is not None else 1,
            len(self.levels),
        )
        self.cells = np.zeros(shape, dtype=np.int64)
        np.add.at(self.cells, (wb, cb, gb), 1)

    @classmethod
    def of(cls, eligible: pd.DataFrame) -> CellCounts:
        """The cells of a cohort's real patients (columns ``WT``, ``CRCL``, ``CYP2C9``; a
        column the cohort lacks is one band)."""
        e = eligible
        levels = np.unique(e["CYP2C9"].dropna()) if "CYP2C9" in e else []
        cols = [e[c].to_numpy(float) if c in e else None for c in ("WT", "CRCL", "CYP2C9")]
        return cls(*cols, levels=levels)

    @staticmethod
    def _band(x: np.ndarray | None, edges: Sequence[float], n: int) -> np.ndarray:
        if x is None:
            return np.zeros(n, dtype=int)
        return np.searchsorted(np.asarray(edges[1:-1]), np.asarray(x, dtype=float), side="right")

    def count(self, w: tuple[int, int], c: tuple[int, int], genotypes: np.ndarray) -> int:
        """Real patients in weight bands ``w``, CrCL bands ``c`` and the genotype mask."""
        sub = self.cells[w[0] : w[1] + 1, c[0] : c[1] + 1][:, :, genotypes]
        return int(sub.sum())

    def mask(self, codes: Sequence[float]) -> np.ndarray:
        """The genotype mask of chosen codes (none chosen: every level)."""
        if not len(codes):
            return np.ones(len(self.levels), dtype=bool)
        return np.isin(self.levels, [float(c) for c in codes])

    def answerable(
        self, w: tuple[int, int], c: tuple[int, int], genotypes: np.ndarray, k: int
    ) -> bool:
        """Whether the rule lets this population be answered (see the module docstring)."""
        w = (min(w[0], self.cells.shape[0] - 1), min(w[1], self.cells.shape[0] - 1))
        c = (min(c[0], self.cells.shape[1] - 1), min(c[1], self.cells.shape[1] - 1))
        n = self.count(w, c, genotypes)
        if n < k:
            return False
        free = np.flatnonzero(~genotypes)
        supersets = [genotypes]
        for r in range(1, free.size + 1):
            for extra in itertools.combinations(free, r):
                g = genotypes.copy()
                g[list(extra)] = True
                supersets.append(g)
        for wa in range(w[0] + 1):
            for wb in range(w[1], self.cells.shape[0]):
                for ca in range(c[0] + 1):
                    for cb in range(c[1], self.cells.shape[1]):
                        for g in supersets:
                            more = self.count((wa, wb), (ca, cb), g) - n
                            if 0 < more < k:
                                return False
        return True


def suppress_counts(
    df: pd.DataFrame, counts: Sequence[str], k: int, rates: dict[str, str] | None = None
) -> pd.DataFrame:
    """Counts of a table as shown to an aggregate-only viewer (:func:`shown`); each rate
    column of ``rates`` (rate -> its count) is recomputed from the rounded count, or
    suppressed with it.

    Examples
    --------
    >>> df = pd.DataFrame({"checked": [40, 40], "failed": [1, 12], "rate": [0.025, 0.3]})
    >>> suppress_counts(df, ["checked", "failed"], 5, {"rate": "failed"}).values.tolist()
    [['40', '<5', '<5'], ['40', '10', '0.25']]
    """
    out = df.copy()
    raw = {c: pd.to_numeric(df[c], errors="coerce") for c in counts if c in df}
    for col, values in raw.items():
        out[col] = [
            v if pd.isna(x) else shown(int(x), k) for v, x in zip(df[col], values, strict=True)
        ]
    for rate, count in (rates or {}).items():
        if rate not in df or count not in raw:
            continue
        checked = pd.to_numeric(df.get("checked"), errors="coerce") if "checked" in df else None
        vals = []
        for i, x in enumerate(raw[count]):
            s = out[count].iloc[i]
            if pd.isna(x):
                vals.append(df[rate].iloc[i])
            elif s.startswith("<"):
                vals.append(f"<{k}")
            elif checked is not None and checked.iloc[i] > 0:
                vals.append(f"{int(s) / checked.iloc[i]:.2g}")
            else:
                vals.append(s if s == "0" else "")
        out[rate] = vals
    return out
