"""Vectorized PK (closed form) and PD (fixed-step RK4 turnover) simulation.

All functions take one row per patient: times in hours from the patient's first dose, doses in
mg, and per-patient parameter vectors. Nothing loops over patients.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def bateman(ka: ArrayLike, k: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
    """Central amount at ``tau`` after a unit oral dose at 0 (first-order in, first-order out).

    ``ka / (ka - k) * (exp(-k tau) - exp(-ka tau))``, with its limit ``ka tau exp(-k tau)``
    when ``ka`` and ``k`` (nearly) coincide.

    Parameters
    ----------
    ka, k
        Absorption and elimination rate constants (1/h), broadcastable with ``tau``.
    tau
        Time since the dose (h), ``>= 0``.

    Returns
    -------
    numpy.ndarray
        The central amount per unit dose.
    """
    ka, k, tau = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (ka, k, tau)))
    diff = ka - k
    close = np.abs(diff) < 1e-9 * np.abs(ka)
    safe = np.where(close, 1.0, diff)
    general = ka / safe * (np.exp(-k * tau) - np.exp(-ka * tau))
    return np.where(close, ka * tau * np.exp(-k * tau), general)


def concentrations(
    times: ArrayLike,
    dose_times: ArrayLike,
    doses: ArrayLike,
    ka: ArrayLike,
    cl: ArrayLike,
    v: ArrayLike,
) -> NDArray[np.float64]:
    """Plasma concentrations of a 1-compartment oral model by superposition of doses.

    Parameters
    ----------
    times
        Sampling times, shape ``(n, m)`` (h from the first dose).
    dose_times, doses
        Dose times (h) and amounts (mg), shape ``(n, d)``.
    ka, cl, v
        Individual parameters, shape ``(n,)``: 1/h, L/h, L.

    Returns
    -------
    numpy.ndarray
        Concentrations (mg/L), shape ``(n, m)``; a dose at the sampling time does not count yet.
    """
    times = np.asarray(times, dtype=float)
    dose_times = np.asarray(dose_times, dtype=float)
    doses = np.asarray(doses, dtype=float)
    ka = np.asarray(ka, dtype=float)[:, None]
    v = np.asarray(v, dtype=float)[:, None]
    k = np.asarray(cl, dtype=float)[:, None] / v
    amount = np.zeros(times.shape)
    for j in range(dose_times.shape[1]):
        tau = times - dose_times[:, j : j + 1]
        after = tau > 0
        amount += np.where(after, doses[:, j : j + 1] * bateman(ka, k, np.where(after, tau, 0)), 0)
    return amount / v


def _turnover_rate(r, c, kin, kout, imax, ic50):
    return kin * (1.0 - imax * c / (ic50 + c)) - kout * r


def simulate_turnover(
    obs_times: ArrayLike,
    dose_times: ArrayLike,
    doses: ArrayLike,
    ka: ArrayLike,
    cl: ArrayLike,
    v: ArrayLike,
    r0: ArrayLike,
    kout: ArrayLike,
    imax: ArrayLike,
    ic50: ArrayLike,
    *,
    dt: float = 0.1,
) -> NDArray[np.float64]:
    """Response of an indirect-response model with inhibition of production, all patients at once.

    ``dR/dt = kin (1 - Imax C / (IC50 + C)) - kout R`` with ``R(t <= 0) = R0`` and
    ``kin = R0 kout``, integrated by classical RK4 on a fixed grid of step ``dt``. The
    concentration at every RK4 stage is exact: the drug amounts are propagated between half-steps
    by the analytic 1-compartment solution and each dose is added at the first half-step after it
    with its exact contribution. Observations between grid points get one final RK4 step of the
    remaining length.

    Parameters
    ----------
    obs_times
        Observation times, shape ``(n, m)`` (h from the first dose; ``<= 0`` gives ``R0``).
    dose_times, doses
        Dose times (h, ``>= 0``) and amounts (mg), shape ``(n, d)``.
    ka, cl, v
        PK parameters, shape ``(n,)``.
    r0, kout, imax, ic50
        PD parameters, shape ``(n,)`` or scalars.
    dt
        RK4 step (h).

    Returns
    -------
    numpy.ndarray
        The response at ``obs_times``, shape ``(n, m)``.
    """
    obs_times = np.asarray(obs_times, dtype=float)
    dose_times = np.asarray(dose_times, dtype=float)
    doses = np.asarray(doses, dtype=float)
    n, m = obs_times.shape
    ka, cl, v = (np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in (ka, cl, v))
    r0, kout, imax, ic50 = (
        np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in (r0, kout, imax, ic50)
    )
    kin = r0 * kout
    k = cl / v
    half = dt / 2.0

    def rate(r, c):
        return _turnover_rate(r, c, kin, kout, imax, ic50)

    # dose injections on the half-step grid
    inj = np.maximum(np.ceil(dose_times / half - 1e-9), 0).astype(np.int64)
    lag = np.maximum(inj * half - dose_times, 0.0)
    add_gut = (doses * np.exp(-ka[:, None] * lag)).ravel()
    add_central = (doses * bateman(ka[:, None], k[:, None], lag)).ravel()
    inj_patient = np.repeat(np.arange(n), dose_times.shape[1])
    order = np.argsort(inj.ravel(), kind="stable")
    inj_j, inj_patient = inj.ravel()[order], inj_patient[order]
    add_gut, add_central = add_gut[order], add_central[order]

    # observation captures on the full-step grid
    flat_t = obs_times.ravel()
    grid_idx = np.where(flat_t > 0, np.floor(flat_t / dt + 1e-9), -1).astype(np.int64)
    obs_order = np.argsort(grid_idx, kind="stable")
    obs_j = grid_idx[obs_order]
    obs_patient = np.repeat(np.arange(n), m)[obs_order]
    r_grid = np.repeat(r0, m)[obs_order].copy()  # t <= 0 keeps R0

    n_steps = int(max(obs_j.max(initial=0), 0))  # full steps up to the last capture point
    inj_bounds = np.searchsorted(inj_j, np.arange(2 * n_steps + 2), side="left")
    obs_bounds = np.searchsorted(obs_j, np.arange(n_steps + 1), side="left")
    obs_end = np.searchsorted(obs_j, np.arange(n_steps + 1), side="right")

    e_gut = np.exp(-ka * half)
    e_central = np.exp(-k * half)
    transfer = bateman(ka, k, half)
    gut = np.zeros(n)
    central = np.zeros(n)

    def inject(j: int) -> None:
        lo, hi = inj_bounds[j], inj_bounds[j + 1]
        if hi > lo:
            np.add.at(gut, inj_patient[lo:hi], add_gut[lo:hi])
            np.add.at(central, inj_patient[lo:hi], add_central[lo:hi])

    def advance(j: int) -> NDArray[np.float64]:
        nonlocal gut, central
        central = central * e_central + gut * transfer
        gut = gut * e_gut
        inject(j)
        return central / v

    def capture(s: int, r: NDArray[np.float64]) -> None:
        lo, hi = obs_bounds[s], obs_end[s]
        if hi > lo:
            r_grid[lo:hi] = r[obs_patient[lo:hi]]

    r = r0.copy()
    inject(0)
    c0 = central / v
    for s in range(n_steps):
        capture(s, r)
        c_half = advance(2 * s + 1)
        c1 = advance(2 * s + 2)
        k1 = rate(r, c0)
        k2 = rate(r + half * k1, c_half)
        k3 = rate(r + half * k2, c_half)
        k4 = rate(r + dt * k3, c1)
        r = r + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        c0 = c1
    capture(n_steps, r)

    # final partial RK4 step from the grid point to each observation time
    sorted_t = flat_t[obs_order]
    t_grid = np.maximum(obs_j, 0) * dt
    h = np.where(obs_j >= 0, np.maximum(sorted_t - t_grid, 0.0), 0.0)
    p = obs_patient
    times3 = np.stack([t_grid, t_grid + h / 2.0, t_grid + h])  # (3, n_obs)
    c3 = np.empty_like(times3)
    for row in range(3):
        c3[row] = concentrations(times3[row][:, None], dose_times[p], doses[p], ka[p], cl[p], v[p])[
            :, 0
        ]

    def prate(rr, c):
        return _turnover_rate(rr, c, kin[p], kout[p], imax[p], ic50[p])

    k1 = prate(r_grid, c3[0])
    k2 = prate(r_grid + h / 2.0 * k1, c3[1])
    k3 = prate(r_grid + h / 2.0 * k2, c3[1])
    k4 = prate(r_grid + h * k3, c3[2])
    r_obs = r_grid + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    out = np.empty(n * m)
    out[obs_order] = r_obs
    return out.reshape(n, m)
