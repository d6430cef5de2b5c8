"""Compiled indirect-response (turnover) PK/PD for many patients that share one dosing schedule.

The models are those of :mod:`twinlab.pkpd.models` (``pkpd_1cmt_oral_idr1`` … ``idr4`` and the
baseline-parametrized ``pkpd_1cmt_oral_idr1_e0`` / ``idr3_e0``), solved on the same time grid
(:func:`twinlab.pkpd.models.ode_grid`: every observation, dose and infusion-end time, refined to
steps of at most :data:`twinlab.pkpd.ode.MAX_STEP` hours) with the same scheme, so the results
agree with :func:`twinlab.pkpd.predict` to rounding:

- the PK state ``(A_depot, A_central)`` of the 1-compartment oral model is propagated exactly
  between grid points, ``A_d e^{-ka h}`` and ``A_c e^{-k h} + A_d ka/(ka - k) (e^{-k h} -
  e^{-ka h}) + R_inf (1 - e^{-k h}) / k`` (``k = cl / v``, ``R_inf`` the zero-order infusion
  rate), so the concentration at every stage time (step start, midpoint, end) is the analytic
  one; a lagged depot dose inside a step is added exactly at its time;
- ``idr1`` … ``idr4``: classic RK4 on ``dR/dt``, ``R(0) = kin / kout``; the right-hand side
  is affine in ``R``, so each RK4 step is evaluated as the affine map ``R <- P R + Q`` it
  equals (the same arithmetic up to rounding, but only one multiply-add per step depends on
  the previous one, which makes the loop ~2x faster);
- ``idr1_e0`` / ``idr3_e0``: ``R = e0 -/+ imax|emax * e0 * kout * int_0^t D(C(s)) e^{-kout (t -
  s)} ds`` with the integral over each step by Simpson's rule and the decay between steps
  exact (the ``decay_convolution`` of :mod:`twinlab.pkpd.ode`, as a recurrence).

Dose semantics are those of :mod:`twinlab.pkpd`: ``cmt == 1`` is the depot (bioavailability
``f``, lag ``tlag``), any other compartment the central one (bolus, or zero-order infusion when
``duration > 0``); a dose counts for observations strictly after it (an observation at a dose
time sees the pre-dose value). A patient costs a few exponentials per distinct step size and a
few dozen flops per grid step, instead of one exponential per dose and stage time (NumPy back
end); see ``benchmarks/SIMULATE.md``. Why a hand-written loop: the models are fixed-step RK4 /
Simpson recurrences on a shared grid with an analytic forcing, which no ODE library offers for
a whole population at once; a general solver (scipy, numbalsoda) would not reproduce the
fitting back end's grid and scheme.

Numba compiles the loop once per machine (``cache=True``); patients are independent, so the
result of a patient does not depend on which other patients share the call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np

from twinlab.pkpd.models import get_model, ode_grid

__all__ = ["ODE_KERNEL_MODELS", "idr_inputs", "simulate_idr", "step_groups"]

#: Models the compiled ODE kernel evaluates: name -> (indirect-response kind, baseline-e0 form).
ODE_KERNEL_MODELS: dict[str, tuple[int, bool]] = {
    "pkpd_1cmt_oral_idr1": (1, False),
    "pkpd_1cmt_oral_idr2": (2, False),
    "pkpd_1cmt_oral_idr3": (3, False),
    "pkpd_1cmt_oral_idr4": (4, False),
    "pkpd_1cmt_oral_idr1_e0": (1, True),
    "pkpd_1cmt_oral_idr3_e0": (3, True),
}


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _occupancy(c: float, c50: float, c50g: float, gamma: float) -> float:  # pragma: no cover
    """``c**gamma / (c50**gamma + c**gamma)`` as :func:`twinlab.pkpd.pd.hill` (0 for c <= 0)."""
    if c <= 0.0:
        return 0.0
    if gamma == 1.0:
        return c / (c50 + c)
    cg = math.exp(gamma * math.log(c))
    return cg / (c50g + cg)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _kernel(
    ka: np.ndarray,
    k: np.ndarray,
    coef: np.ndarray,
    v: np.ndarray,
    f: np.ndarray,
    tlag: np.ndarray,
    kin: np.ndarray,
    kout: np.ndarray,
    s_in: np.ndarray,
    s_out: np.ndarray,
    c50: np.ndarray,
    gamma: np.ndarray,
    r0: np.ndarray,
    scale: np.ndarray,
    turnover: bool,
    grid: np.ndarray,
    h: np.ndarray,
    step_index: np.ndarray,
    reps: np.ndarray,
    inf_rate: np.ndarray,
    bolus_at: np.ndarray,
    depot_time: np.ndarray,
    depot_amt: np.ndarray,
    obs_grid: np.ndarray,
    out_conc: np.ndarray,
    out_effect: np.ndarray,
) -> None:  # pragma: no cover - compiled
    n = ka.shape[0]
    n_g = grid.shape[0]
    n_u = reps.shape[0]
    n_d = depot_time.shape[0]
    n_t = obs_grid.shape[0]
    # per-patient factors of each distinct step size: full step, half step
    eka = np.empty((2, max(n_u, 1)))
    ek = np.empty((2, max(n_u, 1)))
    ik = np.empty((2, max(n_u, 1)))  # (1 - e^{-k h}) / k
    eko = np.empty((2, max(n_u, 1)))
    for p in range(n):
        kap, kp, cp, vp = ka[p], k[p], coef[p], v[p]
        vinv = 1.0 / vp
        c50p, gp = c50[p], gamma[p]
        c50g = math.exp(gp * math.log(c50p))
        kinp, koutp, sip, sop = kin[p], kout[p], s_in[p], s_out[p]
        for u in range(n_u):
            for half in range(2):
                hu = reps[u] * (0.5 if half else 1.0)
                eka[half, u] = math.exp(-kap * hu)
                ek[half, u] = math.exp(-kp * hu)
                ik[half, u] = -math.expm1(-kp * hu) / kp
                eko[half, u] = math.exp(-koutp * hu)
        ad = 0.0
        ac = 0.0
        r = r0[p]
        integral = 0.0
        nd = 0
        o = 0
        lag = tlag[p]
        fp = f[p]
        f0 = 0.0
        have_f0 = False
        for j in range(n_g):
            t = grid[j]
            while o < n_t and obs_grid[o] == j:  # pre-dose (left-limit) values
                out_conc[p, o] = ac / vp
                out_effect[p, o] = scale[p] * integral + r0[p] if turnover else r
                o += 1
            if j == n_g - 1:
                break
            # doses at t (right limit); depot doses given earlier are decayed to t
            if bolus_at[j] != 0.0:
                ac += bolus_at[j]
                have_f0 = False
            while nd < n_d and depot_time[nd] + lag <= t:
                s = t - (depot_time[nd] + lag)
                dose = fp * depot_amt[nd]
                xa = math.exp(-kap * s)
                ad += dose * xa
                ac += dose * cp * (math.exp(-kp * s) - xa)
                have_f0 = False
                nd += 1
            hj = h[j]
            u = step_index[j]
            rin = inf_rate[j]
            t1 = grid[j + 1]
            tm = t + 0.5 * hj
            ac_m = ac * ek[1, u] + ad * cp * (ek[1, u] - eka[1, u]) + rin * ik[1, u]
            ac_1 = ac * ek[0, u] + ad * cp * (ek[0, u] - eka[0, u]) + rin * ik[0, u]
            ad_1 = ad * eka[0, u]
            while nd < n_d and depot_time[nd] + lag < t1:  # a lagged dose inside the step
                tau = depot_time[nd] + lag
                dose = fp * depot_amt[nd]
                if tau < tm:
                    xa = math.exp(-kap * (tm - tau))
                    ac_m += dose * cp * (math.exp(-kp * (tm - tau)) - xa)
                xa = math.exp(-kap * (t1 - tau))
                ad_1 += dose * xa
                ac_1 += dose * cp * (math.exp(-kp * (t1 - tau)) - xa)
                nd += 1
            if not have_f0:
                f0 = _occupancy(ac * vinv, c50p, c50g, gp)
            fm = _occupancy(ac_m * vinv, c50p, c50g, gp)
            f1 = _occupancy(ac_1 * vinv, c50p, c50g, gp)
            if turnover:
                integral = integral * eko[0, u] + (hj / 6.0) * (
                    f0 * eko[0, u] + 4.0 * fm * eko[1, u] + f1
                )
            else:
                # dR/dt = a - b R (pkpd.pd.idr_rhs) is affine in R, and so is one RK4 step:
                # with stage slopes k_i = p_i + q_i R the step is R <- P R + Q, where P and Q
                # do not depend on R; only one multiply-add per step waits on the last R
                a0 = kinp * (1.0 + sip * f0)
                b0 = koutp * (1.0 + sop * f0)
                am = kinp * (1.0 + sip * fm)
                bm = koutp * (1.0 + sop * fm)
                a1 = kinp * (1.0 + sip * f1)
                b1 = koutp * (1.0 + sop * f1)
                half = 0.5 * hj
                p2 = am - bm * (half * a0)
                q2 = -bm * (1.0 - half * b0)
                p3 = am - bm * (half * p2)
                q3 = -bm * (1.0 + half * q2)
                p4 = a1 - b1 * (hj * p3)
                q4 = -b1 * (1.0 + hj * q3)
                w = hj / 6.0
                r = (1.0 + w * (-b0 + 2.0 * q2 + 2.0 * q3 + q4)) * r + w * (
                    a0 + 2.0 * p2 + 2.0 * p3 + p4
                )
            ad, ac = ad_1, ac_1
            f0 = f1
            have_f0 = True


def step_groups(h: np.ndarray, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Distinct step sizes of a grid (within ``rtol``) and the group of every step.

    The grid of :func:`twinlab.pkpd.ode.time_grid` splits each gap into equal steps whose
    floating-point differences vary in the last bits; grouping them lets a patient compute its
    decay factors once per distinct step. Each group's size is the mean of its steps, so the
    propagated clock keeps the grid's time (no drift).

    Parameters
    ----------
    h : numpy.ndarray
        Positive step sizes.
    rtol : float
        Steps within this relative distance of the previous one (sorted) share a group.

    Returns
    -------
    reps : numpy.ndarray
        The size of each group.
    index : numpy.ndarray
        The group of each step (int64).

    Examples
    --------
    >>> reps, idx = step_groups(np.array([0.05, 0.1, 0.05 + 1e-17, 0.1]))
    >>> reps.tolist(), idx.tolist()
    ([0.05, 0.1], [0, 1, 0, 1])
    """
    h = np.asarray(h, dtype=float)
    if h.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    new = np.ones(hs.size, dtype=bool)
    new[1:] = hs[1:] - hs[:-1] > rtol * hs[1:]
    gid = np.cumsum(new) - 1
    reps = np.bincount(gid, weights=hs) / np.bincount(gid)
    index = np.empty(h.size, dtype=np.int64)
    index[order] = gid
    return reps, index


def _per_patient(theta: Mapping[str, Any], name: str, defaults: Mapping[str, float], n: int):
    if name in theta:
        value = theta[name]
    elif name in defaults:
        value = defaults[name]
    else:
        raise KeyError(f"parameter {name!r} missing from theta (have {sorted(theta)})")
    value = np.asarray(value, dtype=float)
    if value.ndim > 1 or (value.ndim == 1 and value.size not in (1, n)):
        raise ValueError(f"parameter {name!r} must be a scalar or have shape ({n},)")
    # a writable contiguous copy: one compiled signature whatever the input
    return np.array(np.broadcast_to(value.reshape(-1) if value.ndim else value, (n,)), order="C")


def _baseline(turnover: bool, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """The response without drug, ``e0`` or ``kin / kout``."""
    return p["e0"] if turnover else p["kin"] / p["kout"]


def idr_inputs(
    model: str,
    p: Mapping[str, np.ndarray],
    n: int,
    times: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dur: np.ndarray,
    cmt: np.ndarray,
    max_step: float | None = None,
) -> SimpleNamespace | None:
    """What the compiled kernels need: per-patient factors, the grid and the doses on it.

    Shared by the numba kernel and :mod:`twinlab.simulate.jax_kernels`. ``p`` holds every
    parameter of ``model`` as a contiguous ``(n,)`` array; None when no dose is given
    (placebo) or there are no times.
    """
    kind, turnover = ODE_KERNEL_MODELS[model]
    drug = ("imax", "ic50") if kind in (1, 2) else ("emax", "ec50")
    dmax, c50, kout = p[drug[0]], p[drug[1]], p["kout"]
    if turnover:
        e0 = p["e0"]
        kin = e0 * kout
        r0 = e0
        scale = (-1.0 if kind == 1 else 1.0) * dmax * e0 * kout
    else:
        kin = p["kin"]
        r0 = kin / kout
        scale = np.zeros(n)
    given = dose_amt != 0
    if not given.any() or times.size == 0:
        return None
    zeros = np.zeros(n)
    s_in = -dmax if kind == 1 else (dmax if kind == 3 else zeros)
    s_out = -dmax if kind == 2 else (dmax if kind == 4 else zeros)
    k = p["cl"] / p["v"]
    coef = p["ka"] / (p["ka"] - k)

    arrays = SimpleNamespace(obs_time=times, dose_time=dose_time, dose_amt=dose_amt,
                             dose_duration=dur)  # fmt: skip
    grid = ode_grid(arrays) if max_step is None else ode_grid(arrays, max_step=max_step)
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    h = np.diff(grid)
    reps, step_index = step_groups(h)
    obs_grid = np.clip(np.searchsorted(grid, times), 0, grid.size - 1).astype(np.int64)
    if not np.allclose(grid[obs_grid], times, rtol=0, atol=1e-9):  # pragma: no cover - by ode_grid
        raise ValueError("every observation time must be a point of the ODE grid")

    depot = given & (cmt == 1)
    order = np.argsort(dose_time[depot], kind="stable")
    depot_time = np.ascontiguousarray(dose_time[depot][order])
    depot_amt = np.ascontiguousarray(dose_amt[depot][order])
    central = given & ~depot
    bolus_at = np.zeros(grid.size)
    inf_rate = np.zeros(max(h.size, 0))
    for td, amt, d in zip(dose_time[central], dose_amt[central], dur[central], strict=True):
        j0 = int(np.searchsorted(grid, td))
        if d > 0.0:
            j1 = int(np.searchsorted(grid, td + d))
            inf_rate[j0:j1] += amt / d
        else:
            bolus_at[j0] += amt
    c = np.ascontiguousarray
    params = {
        "ka": p["ka"], "k": c(k), "coef": c(coef), "v": p["v"], "f": p["f"], "tlag": p["tlag"],
        "kin": c(kin), "kout": kout, "s_in": c(s_in), "s_out": c(s_out), "c50": c50,
        "gamma": p["gamma"], "r0": c(r0), "scale": c(scale),
    }  # fmt: skip
    return SimpleNamespace(
        params=params, turnover=turnover, grid=grid, h=h, step_index=step_index, reps=reps,
        inf_rate=inf_rate, bolus_at=bolus_at, depot_time=depot_time, depot_amt=depot_amt,
        obs_grid=obs_grid,
    )  # fmt: skip


def simulate_idr(
    model: str,
    theta: Mapping[str, Any],
    times: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray | None = None,
    dose_cmt: np.ndarray | None = None,
    *,
    out_conc: np.ndarray | None = None,
    out_effect: np.ndarray | None = None,
    max_step: float | None = None,
    backend: str = "numba",
) -> tuple[np.ndarray, np.ndarray]:
    """Concentration and response ``(n, T)`` of an indirect-response model, doses shared by all.

    Parameters
    ----------
    model : str
        A key of :data:`ODE_KERNEL_MODELS`.
    theta : mapping of str to array
        Individual parameters, scalars or shape ``(n,)``: ``ka, cl, v``, ``kin`` (or ``e0`` for
        the ``_e0`` models), ``kout``, ``imax, ic50`` (kinds 1, 2) or ``emax, ec50`` (3, 4),
        optional ``gamma`` (1), ``f`` (1), ``tlag`` (0).
    times : numpy.ndarray
        Sorted observation times, shape ``(T,)``.
    dose_time, dose_amt : numpy.ndarray
        The doses every patient gets, shape ``(D,)`` (``amt == 0`` is no dose: placebo).
    dose_duration : numpy.ndarray, optional
        Infusion durations (0: bolus), shape ``(D,)``; used for central doses only.
    dose_cmt : numpy.ndarray, optional
        Compartment of each dose: 1 the depot (default), anything else the central one.
    out_conc, out_effect : numpy.ndarray, optional
        Where to write, shape ``(n, T)`` (may be strided views).
    max_step : float, optional
        Largest grid step in hours (default :data:`twinlab.pkpd.ode.MAX_STEP`).
    backend : str
        ``"numba"`` (the compiled loop of this module) or ``"jax"``
        (:mod:`twinlab.simulate.jax_kernels`: same grid and scheme, jit + vmap).

    Returns
    -------
    conc, effect : numpy.ndarray
        Shape ``(n, T)``.

    Raises
    ------
    KeyError
        For an unknown model or a missing parameter.
    ValueError
        For unsorted times or dose arrays of different shapes.

    Examples
    --------
    >>> theta = {"ka": 1.0, "cl": 3.0, "v": 30.0, "e0": 8.0, "kout": 0.1, "imax": 0.9,
    ...          "ic50": 1.0}
    >>> conc, effect = simulate_idr("pkpd_1cmt_oral_idr1_e0", theta, np.array([0.0, 12.0]),
    ...                             np.array([0.0]), np.array([100.0]))
    >>> float(effect[0, 0]), bool(effect[0, 1] < 8.0)
    (8.0, True)
    """
    if model not in ODE_KERNEL_MODELS:
        raise KeyError(f"the compiled ODE kernel covers {sorted(ODE_KERNEL_MODELS)}, not {model!r}")
    if backend not in ("numba", "jax"):
        raise ValueError(f"backend must be 'numba' or 'jax', not {backend!r}")
    turnover = ODE_KERNEL_MODELS[model][1]
    spec = get_model(model)
    defaults = spec.defaults
    sizes = [np.size(theta[p]) for p in spec.all_params if p in theta]
    n = max(sizes, default=1)
    p = {name: _per_patient(theta, name, defaults, n) for name in spec.all_params}
    times = np.ascontiguousarray(times, dtype=np.float64).reshape(-1)
    if np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
        raise ValueError("observation times must be finite and sorted")
    dose_time = np.asarray(dose_time, dtype=np.float64).reshape(-1)
    dose_amt = np.asarray(dose_amt, dtype=np.float64).reshape(-1)
    n_dose = dose_time.size
    dur = np.zeros(n_dose) if dose_duration is None else np.asarray(dose_duration, dtype=float)
    cmt = np.ones(n_dose, np.int64) if dose_cmt is None else np.asarray(dose_cmt, np.int64)
    dur, cmt = dur.reshape(-1), cmt.reshape(-1)
    if not (dose_amt.size == dur.size == cmt.size == n_dose):
        raise ValueError("dose_time, dose_amt, dose_duration and dose_cmt need the same length")
    if not np.all(np.isfinite(dose_time)):
        raise ValueError("dose times must be finite")

    conc = np.empty((n, times.size)) if out_conc is None else out_conc
    effect = np.empty((n, times.size)) if out_effect is None else out_effect
    for name, arr in (("out_conc", conc), ("out_effect", effect)):
        if arr.shape != (n, times.size):
            raise ValueError(f"{name} must have shape {(n, times.size)}, not {arr.shape}")

    inputs = idr_inputs(model, p, n, times, dose_time, dose_amt, dur, cmt, max_step)
    if inputs is None:  # placebo: no drug, the baseline is exact
        conc[...] = 0.0
        effect[...] = _baseline(turnover, p)[:, None]
        return conc, effect
    if backend == "jax":
        from twinlab.simulate.jax_kernels import simulate_idr_jax

        simulate_idr_jax(inputs, conc, effect)
        return conc, effect
    q = inputs.params
    _kernel(
        q["ka"], q["k"], q["coef"], q["v"], q["f"], q["tlag"], q["kin"], q["kout"], q["s_in"],
        q["s_out"], q["c50"], q["gamma"], q["r0"], q["scale"], inputs.turnover, inputs.grid,
        inputs.h, inputs.step_index, inputs.reps, inputs.inf_rate, inputs.bolus_at,
        inputs.depot_time, inputs.depot_amt, inputs.obs_grid, conc, effect,
    )  # fmt: skip
    return conc, effect
