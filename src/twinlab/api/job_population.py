"""The dashboards' disclosure rule for the populations of simulation jobs.

A job's ``criteria`` choose the real patients its virtual ones are drawn from. A caller
without patient-level access may choose them only as the dashboards' filters do
(:func:`twinlab.apps.disclosure.band_filters`: weight and CrCL band ranges, a genotype set
of levels at least k real patients have), and only a population the rule answers
(:meth:`twinlab.apps.disclosure.CellCounts.answerable`: at least k real patients, and no
wider choice of the same filters with 1..k-1 more). The rule is checked at submit time over
the job's twin and cohort, so no two answered jobs, one's population inside the other's,
differ by a small group however the criteria are searched, across jobs and dashboards alike.
The criteria queued are the canonical ones of the bands checked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from twinlab.apps.disclosure import (
    CRCL_BANDS,
    REFUSAL,
    WEIGHT_BANDS,
    CellCounts,
    band_criteria,
    band_filters,
    genotype_criteria,
    offered_levels,
)

__all__ = ["PopulationRefused", "PopulationRule"]

#: seconds a twin's real-cohort cell counts are reused (a newly registered version is seen)
CACHE_S = 300.0
_NOT_COHORT = ("scenario", "arms", "regimen", "times", "out", "criteria", "n_patients", "n_draws")


class PopulationRefused(ValueError):
    """A job's population the disclosure rule does not allow this caller (``status``)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class PopulationRule:
    """Checks (and makes canonical) the criteria of aggregate-only callers' jobs.

    Parameters
    ----------
    k : int
        The smallest population answered (the API's ``min_cell``).
    cohort : callable
        ``cohort(section)``: the virtual cohort of a ``simulate`` section with every real
        patient eligible (its ``eligible`` table and ``describe()``).
    """

    def __init__(self, k: int, cohort: Callable[[dict[str, Any]], Any]) -> None:
        self.k = int(k)
        self._cohort = cohort
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, CellCounts, dict[str, float]]] = {}

    def check(self, criteria: list[str], section: dict[str, Any]) -> list[str]:
        """The canonical criteria of an allowed population (``[]``: the whole cohort).

        Raises
        ------
        PopulationRefused
            ``403``: criteria that are not bands, or a population the rule refuses (the
            message says no count); ``400``: the job's twin or cohort cannot be loaded.
        """
        try:
            w, c, names = band_filters(criteria)
        except ValueError as exc:
            raise PopulationRefused(str(exc)) from None
        out = band_criteria("WT", WEIGHT_BANDS, *w) + band_criteria("CRCL", CRCL_BANDS, *c)
        out += genotype_criteria(names)
        if not out:
            return []  # the whole cohort: each cell of its results is checked when read
        cells, codes = self._cells(section)
        if any(n not in codes for n in names):  # unknown or rare: refused alike
            raise PopulationRefused(REFUSAL.format(k=self.k))
        mask = cells.mask([codes[n] for n in names])
        if not cells.answerable(w, c, mask, self.k):
            raise PopulationRefused(REFUSAL.format(k=self.k))
        return out

    def _cells(self, section: dict[str, Any]) -> tuple[CellCounts, dict[str, float]]:
        """Real patients per band and genotype, and the genotypes offered (name -> code)."""
        cohort = {k: v for k, v in section.items() if k not in _NOT_COHORT}
        key = json.dumps(cohort, sort_keys=True, default=str)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < CACHE_S:
                return hit[1], hit[2]
        try:
            vc = self._cohort({**cohort, "criteria": [], "n_patients": 1, "n_draws": 1})
        except Exception:
            raise PopulationRefused(
                "this job's twin or cohort cannot be loaded", status=400
            ) from None
        e = vc.eligible
        cells = CellCounts.of(e)
        named = vc.describe()["covariates"]["codes"].get("CYP2C9", {})
        geno = e["CYP2C9"].dropna().to_numpy(float) if "CYP2C9" in e else np.array([])
        offered = {float(c) for c in offered_levels(geno, self.k)}
        codes = {str(name): float(code) for name, code in named.items() if float(code) in offered}
        with self._lock:
            self._cache[key] = (now, cells, codes)
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
        return cells, codes
