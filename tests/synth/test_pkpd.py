"""PK closed form and RK4 turnover against independent references."""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from twinlab.synth import simulate_turnover
from twinlab.synth.config import rng_streams
from twinlab.synth.observations import simulate_observations
from twinlab.synth.population import simulate_subjects
from twinlab.synth.schedule import simulate_schedule

from .conftest import SMALL


def _conc_reference(t: float, doses: list[tuple[float, float]], ka, cl, v) -> float:
    """Textbook multiple-dose 1-cmt oral concentration, written independently (scalar)."""
    ke = cl / v
    total = 0.0
    for td, amount in doses:
        if t > td:
            dt = t - td
            total += amount * ka / (v * (ka - ke)) * (math.exp(-ke * dt) - math.exp(-ka * dt))
    return total


def test_study_concentrations_equal_independent_closed_form() -> None:
    streams = rng_streams(SMALL.seed)
    subjects = simulate_subjects(SMALL, streams)
    schedule = simulate_schedule(subjects, streams["schedule"])
    obs = simulate_observations(subjects, schedule, streams["pk_error"], streams["pd_error"])
    active = 0
    for row, i in enumerate(schedule.rows):
        s = subjects.iloc[i]
        doses = [(m / 60.0, s.dose_mg) for m in schedule.dose_min[row]]
        for j, m in enumerate(schedule.pk_min[row]):
            ref = _conc_reference(m / 60.0, doses, s.ka, s.cl, s.v)
            assert math.isclose(obs.conc_true[row, j], ref, rel_tol=1e-10, abs_tol=1e-12)
        active += s.dose_mg > 0
    assert active > 0


def test_rk4_turnover_matches_solve_ivp() -> None:
    rng = np.random.default_rng(7)
    n, n_dose = 3, 15
    dose_times = np.arange(n_dose)[None, :] * 24.0 + rng.integers(-60, 60, (n, n_dose)) / 60.0
    dose_times[:, 0] = 0.0
    doses = np.full((n, n_dose), 200.0)
    ka, cl, v = rng.uniform(0.6, 2, n), rng.uniform(3, 8, n), rng.uniform(30, 70, n)
    r0, ic50 = rng.uniform(6, 10, n), rng.uniform(0.5, 2, n)
    obs = np.tile([-0.5, 0.7, 143.75, 239.9, 335.9, 340.6], (n, 1))
    got = simulate_turnover(obs, dose_times, doses, ka, cl, v, r0, 0.02, 0.9, ic50, dt=0.1)
    assert np.all(got[:, 0] == r0)
    for i in range(n):
        schedule = list(zip(dose_times[i].tolist(), doses[i].tolist(), strict=True))

        def rhs(t, y, i=i, schedule=schedule):
            c = _conc_reference(t, schedule, ka[i], cl[i], v[i])
            return [r0[i] * 0.02 * (1 - 0.9 * c / (ic50[i] + c)) - 0.02 * y[0]]

        sol = solve_ivp(rhs, (0, obs[i, -1]), [r0[i]], t_eval=obs[i, 1:], method="DOP853",
                        rtol=1e-10, atol=1e-10, max_step=1.0)  # fmt: skip
        np.testing.assert_allclose(got[i, 1:], sol.y[0], rtol=2e-4)
    assert np.all(got[:, -1] < 0.8 * r0)  # the drug lowers urate
