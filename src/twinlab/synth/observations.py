"""Simulated measurements: PK concentrations (with BLQ) and serum urate, with residual error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from twinlab.synth import truth as T
from twinlab.synth.pkpd import concentrations, simulate_turnover
from twinlab.synth.schedule import Schedule


@dataclass(frozen=True)
class Observations:
    """Measured values of the randomized subjects (rows as in the schedule) and at screening.

    Attributes
    ----------
    conc_true, conc
        True and reported (0.001 mg/L) concentrations, shape ``(n, len(PK_SCHEDULE))``.
    blq
        Reported concentration below ``LLOQ``.
    urate_true, urate
        True and reported (0.1 mg/dL) urate, shape ``(n, len(URATE_DAYS))``.
    screen_urate
        Reported urate at screening (0.1 mg/dL) for every subject, subject-table order.
    """

    conc_true: NDArray[np.float64]
    conc: NDArray[np.float64]
    blq: NDArray[np.bool_]
    urate_true: NDArray[np.float64]
    urate: NDArray[np.float64]
    screen_urate: NDArray[np.float64]


def simulate_observations(
    subjects: pd.DataFrame,
    schedule: Schedule,
    pk_rng: np.random.Generator,
    pd_rng: np.random.Generator,
) -> Observations:
    """Simulate concentrations and urate from the true individual parameters.

    Parameters
    ----------
    subjects
        The subject table with individual parameters.
    schedule
        Dosing and sampling times.
    pk_rng, pd_rng
        The ``pk_error`` and ``pd_error`` streams.

    Returns
    -------
    Observations
        True and reported values.
    """
    s = subjects.iloc[schedule.rows]
    dose_h = Schedule.hours(schedule.dose_min)
    amounts = np.repeat(s["dose_mg"].to_numpy()[:, None], dose_h.shape[1], axis=1)
    ka, cl, v = (s[c].to_numpy() for c in ("ka", "cl", "v"))
    conc_true = concentrations(Schedule.hours(schedule.pk_min), dose_h, amounts, ka, cl, v)
    e = pk_rng.standard_normal((2, *conc_true.shape))
    conc = np.round(conc_true * (1.0 + T.PK_PROP_SD * e[0]) + T.PK_ADD_SD * e[1], 3)
    conc = np.where(conc_true > 0, conc, 0.0)  # no drug, no signal: placebo and pre-dose
    blq = conc < T.LLOQ
    urate_true = simulate_turnover(
        Schedule.hours(schedule.urate_min),
        dose_h,
        amounts,
        ka,
        cl,
        v,
        s["r0"].to_numpy(),
        s["kout"].to_numpy(),
        s["imax"].to_numpy(),
        s["ic50"].to_numpy(),
        dt=T.RK4_DT,
    )
    r0_all = subjects["r0"].to_numpy()
    e0 = pd_rng.standard_normal((2, len(subjects)))
    screen = _urate_error(r0_all, e0)
    e = pd_rng.standard_normal((2, *urate_true.shape))
    urate = _urate_error(urate_true, e)
    return Observations(conc_true, np.where(blq, np.nan, conc), blq, urate_true, urate, screen)


def _urate_error(true: NDArray[np.float64], e: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(np.round(true * (1.0 + T.PD_PROP_SD * e[0]) + T.PD_ADD_SD * e[1], 1), 0.1)
