"""Actual dosing and sampling times of the randomized subjects, whole minutes, local clock."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from twinlab.synth import truth as T

_PREDOSE_DAYS = tuple(sorted({1, 2, *T.URATE_DAYS, *(d for d, _, r, *_ in T.PK_SCHEDULE
                                                   if r == "pre")}))  # fmt: skip


@dataclass(frozen=True)
class Schedule:
    """Times of the randomized subjects; times are minutes from each subject's first dose.

    Attributes
    ----------
    rows
        Positions of the randomized subjects in the subject table.
    first_dose
        Local datetime of the first dose, ``datetime64[m]``, shape ``(n,)``.
    dose_min
        Dose times, shape ``(n, N_DOSE_DAYS)``.
    pk_min
        PK sample times, shape ``(n, len(PK_SCHEDULE))``.
    urate_min
        Urate sample times, shape ``(n, len(URATE_DAYS))``; day 1 is pre-dose (negative).
    """

    rows: NDArray[np.int64]
    first_dose: NDArray[np.datetime64]
    dose_min: NDArray[np.int64]
    pk_min: NDArray[np.int64]
    urate_min: NDArray[np.int64]

    def local(self, minutes: NDArray[np.int64]) -> NDArray[np.datetime64]:
        """Local datetimes of ``minutes`` (shape ``(n, k)``) from each first dose."""
        return self.first_dose[:, None] + minutes.astype("timedelta64[m]")

    @staticmethod
    def hours(minutes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Minutes as hours."""
        return minutes / 60.0


def simulate_schedule(subjects: pd.DataFrame, rng: np.random.Generator) -> Schedule:
    """Draw dosing clock times and sample times around the nominal design.

    Parameters
    ----------
    subjects
        The subject table (``screen_fail``, ``day1_date``).
    rng
        The ``schedule`` stream.

    Returns
    -------
    Schedule
        Times of the randomized subjects, in subject-table order.
    """
    rows = np.flatnonzero(~subjects["screen_fail"].to_numpy())
    n = len(rows)
    day1 = subjects["day1_date"].to_numpy()[rows].astype("datetime64[m]")
    lo, hi = T.DOSE_CLOCK_RANGE_MIN
    clock = np.clip(
        np.round(rng.normal(T.DOSE_CLOCK_MEAN_MIN, T.DOSE_CLOCK_SD_MIN, (n, T.N_DOSE_DAYS))),
        lo,
        hi,
    ).astype(np.int64)
    dose_abs = np.arange(T.N_DOSE_DAYS, dtype=np.int64)[None, :] * 1440 + clock
    dose_min = dose_abs - dose_abs[:, :1]
    first_dose = day1 + clock[:, 0].astype("timedelta64[m]")
    p_lo, p_hi = T.PREDOSE_DRAW_RANGE_MIN
    predose = {d: rng.integers(p_lo, p_hi + 1, n) for d in _PREDOSE_DAYS}
    pk = np.empty((n, len(T.PK_SCHEDULE)), dtype=np.int64)
    for j, (day, nominal_h, relative, *_rest) in enumerate(T.PK_SCHEDULE):
        dose_at = dose_min[:, day - 1]
        if relative == "pre":
            pk[:, j] = dose_at - predose[day]
        else:
            nominal = round(nominal_h * 60)
            jitter = np.round(rng.normal(0.0, max(2.0, 0.05 * nominal), n)).astype(np.int64)
            pk[:, j] = dose_at + np.maximum(nominal + jitter, 1)
    urate = np.stack([dose_min[:, d - 1] - predose[d] for d in T.URATE_DAYS], axis=1)
    return Schedule(rows=rows, first_dose=first_dose, dose_min=dose_min, pk_min=pk,
                    urate_min=urate)  # fmt: skip
