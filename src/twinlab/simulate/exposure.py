"""Exposure metrics computed exactly, independent of the output time grid.

For a model whose concentration is a sum of exponentials (every linear model, and the
1-compartment oral PK that drives the PK/PD models), between two events (a dose, the start or
end of an infusion, a window mark) the concentration is

``C(s) = K + sum_i a_i exp(-lambda_i s)``, ``s`` the time since the segment started,

with ``K`` the infusion's asymptote (0 without one). So, per segment:

- AUC is ``K h + sum_i a_i (1 - exp(-lambda_i h)) / lambda_i`` (the integral of the
  superposition, no quadrature);
- Cmax/Tmax are taken over the segment ends and the roots of ``C'(s)`` inside it. ``C'`` is
  again an exponential sum; its roots are isolated by Rolle's theorem (``exp(mu s) f(s)`` has
  the derivative with one term fewer, so the roots of that one cut ``(0, h)`` into pieces
  where ``f`` has at most one root), solved in closed form for two terms and by safeguarded
  Halley iteration (bracketed, bisection fallback) otherwise;
- ``t_above`` (hours above a threshold) adds the parts of the monotone pieces above it, with
  the crossings solved the same way, started from the tangent at the dose for a rise and
  from the log-linear interpolation (exact for one exponential) otherwise: two to three
  evaluations a crossing;
- Ctrough is ``C`` at the end of the last dosing interval (the left limit: the pre-dose
  value), AUCtau the integral over that interval.

Cmax is the supremum over ``[t_first, t_last]`` of the output grid: for an IV bolus it is the
value just after the dose (``Tmax`` the dose time), which no grid sees. A dose counts strictly
after it is given, as everywhere in :mod:`twinlab.pkpd`.

For ODE models whose concentration has no closed form (Michaelis-Menten elimination),
:func:`ode_exposure` integrates the model with ``scipy.integrate.solve_ivp`` (DOP853,
``rtol=1e-10``) with the AUC as an extra state, restarted at every dose, and reads Cmax from
the dense output on a 0.01 h grid refined by a parabola through the largest point and its
neighbours; AUC, AUCtau, Cmax and Ctrough are within 1e-6 relative of the exact values
(checked against a 1e-12 reference in the tests), ``t_above`` within about 1e-4 h.

The compiled kernel is one pass per patient and costs a few exponentials per segment and
term (the closed-form root for two terms, two or three Halley steps otherwise). Two-term
sums (1-compartment oral, 2-compartment IV: every PK/PD model's PK) go through
:mod:`twinlab.simulate.exposure_lanes` instead, which computes the same metrics for a
block of patients at once in vectorised loops, the crossings from closer starts (the rise
from Halley's step at the segment start, the fall from where the slower term alone is at
the level): AUC, AUCtau and Ctrough are this kernel's bits, Cmax within a few ULP, Tmax the
same but for ties, ``t_above`` within 1e-12 h (``tests/simulate/test_simulate_exposure.py``).
See ``benchmarks/simulate_analytic.py`` for their share of a run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from twinlab.simulate.exposure_lanes import lanes_exposure

__all__ = ["ODE_TOLERANCE", "arm_exposure", "exponential_exposure", "ode_exposure"]

#: Stated relative tolerance of the ODE path's AUC, Cmax and Ctrough.
ODE_TOLERANCE = 1e-6
_MAX_TERMS = 8
_DENSE_ELEMENTS = 1 << 22  # dense-output values held at once by ode_exposure (32 MB)


@numba.njit(cache=True, nogil=True, inline="always")
def _value(b: np.ndarray, mu: np.ndarray, m: int, k0: float, s: float) -> float:  # pragma: no cover
    acc = k0
    for i in range(m):
        acc += b[i] * math.exp(-mu[i] * s)
    return acc


@numba.njit(cache=True, nogil=True, inline="always")
def _derivatives(
    b: np.ndarray, mu: np.ndarray, m: int, k0: float, x: float
) -> tuple[float, float, float, float]:  # pragma: no cover - compiled
    """``f(x) = k0 + sum b exp(-mu x)`` and its first three derivatives, one exponential a
    term."""
    f = k0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    for i in range(m):
        t = b[i] * math.exp(-mu[i] * x)
        f += t
        t *= mu[i]
        d1 -= t
        t *= mu[i]
        d2 += t
        d3 -= t * mu[i]
    return f, d1, d2, d3


@numba.njit(cache=True, nogil=True, inline="always")
def _halley(
    f: float,
    d1: float,
    d2: float,
    d3: float,
    flo: float,
    x: float,
    a: float,
    c: float,
    dx_old: float,
    dx: float,
) -> tuple[bool, float, float, float, float, float]:  # pragma: no cover - compiled
    """One iteration of :func:`_solve` from ``x`` where ``f`` and its first three derivatives
    are ``f, d1, d2, d3``, in the bracket ``[a, c]``: ``(done, x, a, c, dx_old, dx)``."""
    if f == 0.0:
        return True, x, a, c, dx_old, dx
    if (f < 0.0) == (flo < 0.0):
        a = x
    else:
        c = x
    tol = 1e-15 * max(1.0, abs(x))
    den = 2.0 * d1 * d1 - f * d2
    step = 2.0 * f * d1 / den if den != 0.0 else math.inf
    xn = x - step
    if not a < xn < c or abs(step) > 0.5 * abs(dx_old):
        dx_old, dx = dx, 0.5 * (c - a)
        xn = a + dx
    else:
        dx_old, dx = dx, step
        if d1 != 0.0:  # error of xn ~ |f2^2 / (4 f1^2) - f3 / (6 f1)| step^3
            k = abs(d2 * d2 / (4.0 * d1 * d1) - d3 / (6.0 * d1))
            if k * abs(step) ** 3 <= tol:
                return True, xn, a, c, dx_old, dx
    return abs(xn - x) <= tol or c - a <= tol, xn, a, c, dx_old, dx


@numba.njit(cache=True, nogil=True)
def _solve(
    b: np.ndarray,
    mu: np.ndarray,
    m: int,
    k0: float,
    lo: float,
    hi: float,
    flo: float,
    x: float,
) -> float:  # pragma: no cover - compiled
    """The root of ``f(s) = k0 + sum b exp(-mu s)`` in ``[lo, hi]``, where it changes sign once.

    ``flo`` is ``f(lo)`` and ``x`` the start (the midpoint where it is not inside the
    bracket). Safeguarded Halley: the derivatives come with the value at no extra
    exponential, and a step that leaves the bracket or does not halve the one before last
    is replaced by bisection. Iteration stops once the predicted error of the new point
    (Halley's cubic term) is below 1e-15 of it, or the bracket is that narrow.
    """
    a, c = lo, hi
    if not lo < x < hi:
        x = 0.5 * (a + c)
    dx_old = c - a
    dx = dx_old
    for _ in range(200):
        f, d1, d2, d3 = _derivatives(b, mu, m, k0, x)
        done, x, a, c, dx_old, dx = _halley(f, d1, d2, d3, flo, x, a, c, dx_old, dx)
        if done:
            break
    return x


@numba.njit(cache=True, nogil=True, inline="always")
def _log_secant(
    lo: float, hi: float, c_lo: float, c_hi: float, level: float
) -> float:  # pragma: no cover - compiled
    """Where ``C`` reaches ``level`` in ``[lo, hi]`` if ``log C`` were linear there.

    Exact for one decaying exponential, so a Halley step or two from the crossing of a
    concentration dominated by its slowest term (the secant start took about five);
    NaN (the caller's midpoint) where a value is not positive.
    """
    if c_lo <= 0.0 or c_hi <= 0.0 or level <= 0.0 or c_lo == c_hi:
        return math.nan
    return lo + (hi - lo) * math.log(c_lo / level) / math.log(c_lo / c_hi)


@numba.njit(cache=True, nogil=True, inline="always")
def _roots(
    b: np.ndarray,
    mu: np.ndarray,
    m: int,
    h: float,
    out: np.ndarray,
    lb: np.ndarray,
    lm: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Sorted roots of ``f(s) = sum_i b_i exp(-mu_i s)`` in ``(0, h)``; returns their count.

    ``lb``, ``lm`` (``m x m``) and ``out`` (``m x m``) are work space. Level ``L + 1`` is the
    derivative of ``exp(mu_last s) f_L(s)`` (one term fewer); the roots of ``f_L`` lie one per
    piece between consecutive roots of ``f_{L+1}``.
    """
    if m <= 1:
        return 0
    if m == 2:  # the closed form below on the terms themselves, no work space
        b0, b1, mu0, mu1 = b[0], b[1], mu[0], mu[1]
    else:
        for i in range(m):
            lb[0, i] = b[i]
            lm[0, i] = mu[i]
        for lev in range(1, m - 1):
            terms = m - lev  # of this level
            last = lm[lev - 1, terms]
            for i in range(terms):
                d = lm[lev - 1, i] - last
                lb[lev, i] = -d * lb[lev - 1, i]
                lm[lev, i] = d
        b0, b1, mu0, mu1 = lb[m - 2, 0], lb[m - 2, 1], lm[m - 2, 0], lm[m - 2, 1]
    # deepest level with two terms: closed form
    count = 0
    if b0 != 0.0 and b1 != 0.0 and (b0 > 0.0) != (b1 > 0.0) and mu0 != mu1:
        s = math.log(-b1 / b0) / (mu1 - mu0)
        if 0.0 < s < h:
            out[m - 2, 0] = s
            count = 1
    for lev in range(m - 3, -1, -1):
        terms = m - lev
        n_new = 0
        a = 0.0
        fa = _value(lb[lev], lm[lev], terms, 0.0, a)
        for j in range(count + 1):
            c = out[lev + 1, j] if j < count else h
            fc = _value(lb[lev], lm[lev], terms, 0.0, c)
            if fa != 0.0 and fc != 0.0 and (fa > 0.0) != (fc > 0.0):
                x0 = a + (c - a) * fa / (fa - fc)  # secant start
                out[lev, n_new] = _solve(lb[lev], lm[lev], terms, 0.0, a, c, fa, x0)
                n_new += 1
            a, fa = c, fc
        count = n_new
    return count


@numba.njit(cache=True, nogil=True)
def _kernel(
    coefs: np.ndarray,
    rates: np.ndarray,
    weight: np.ndarray,
    lag: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_dur: np.ndarray,
    end_order: np.ndarray,
    marks: np.ndarray,
    t_start: float,
    t_end: float,
    win_lo: float,
    win_hi: float,
    threshold: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    n, m = coefs.shape
    n_d = dose_time.shape[0]
    n_k = marks.shape[0]
    state = np.zeros(m)
    a = np.zeros(m)
    beta = np.zeros(m)
    lb = np.zeros((m, m))
    lm = np.zeros((m, m))
    work = np.zeros((m, m))
    cuts = np.zeros(m + 1)
    cut_val = np.zeros(m + 1)
    decay = np.zeros(m)  # exp(-rate h) of the last step size h (dosing intervals repeat)
    gain = np.zeros(m)  # -expm1(-rate h)
    window = win_lo <= win_hi
    for p in range(n):
        h_last = math.nan
        lp = lag[p]
        w = weight[p]
        for i in range(m):
            state[i] = 0.0
        rate = 0.0
        i_s = 0  # next dose start
        i_e = 0  # next infusion end (in end_order)
        while i_e < n_d and dose_dur[end_order[i_e]] <= 0.0:
            i_e += 1
        i_k = 0
        auc = 0.0
        auc_tau = 0.0
        cmax = -math.inf
        tmax = t_start
        ctrough = math.nan
        above = 0.0
        # first breakpoint
        x = marks[0]
        if n_d > 0:
            x = min(x, dose_time[0] + lp)
        while True:
            # events at x (right limit)
            while i_s < n_d and dose_time[i_s] + lp == x:
                if dose_dur[i_s] > 0.0:
                    rate += dose_amt[i_s] / dose_dur[i_s]
                else:
                    for i in range(m):
                        state[i] += dose_amt[i_s]
                i_s += 1
            while i_e < n_d and dose_time[end_order[i_e]] + dose_dur[end_order[i_e]] + lp == x:
                d = end_order[i_e]
                rate -= dose_amt[d] / dose_dur[d]
                i_e += 1
                while i_e < n_d and dose_dur[end_order[i_e]] <= 0.0:
                    i_e += 1
            while i_k < n_k and marks[i_k] == x:
                i_k += 1
            if x >= t_end:
                break
            nxt = math.inf
            if i_s < n_d:
                nxt = dose_time[i_s] + lp
            if i_e < n_d:
                nxt = min(nxt, dose_time[end_order[i_e]] + dose_dur[end_order[i_e]] + lp)
            if i_k < n_k:
                nxt = min(nxt, marks[i_k])
            h = nxt - x
            if h != h_last:
                for i in range(m):
                    decay[i] = math.exp(-rates[p, i] * h)
                    gain[i] = -math.expm1(-rates[p, i] * h)
                h_last = h
            k0 = 0.0
            for i in range(m):
                lam = rates[p, i]
                asym = rate / lam
                k0 += w * coefs[p, i] * asym
                a[i] = w * coefs[p, i] * (state[i] - asym)
            if x >= t_start and h > 0.0:
                v0 = k0
                for i in range(m):
                    v0 += a[i]
                if v0 > cmax:
                    cmax, tmax = v0, x
                seg = k0 * h
                for i in range(m):
                    seg += a[i] * gain[i] / rates[p, i]
                auc += seg
                if window and x >= win_lo and nxt <= win_hi:
                    auc_tau += seg
                for i in range(m):
                    beta[i] = -rates[p, i] * a[i]
                n_r = _roots(beta, rates[p], m, h, work, lb, lm)
                cuts[0] = 0.0
                for j in range(n_r):
                    cuts[j + 1] = work[0, j]
                    vj = _value(a, rates[p], m, k0, work[0, j])
                    cut_val[j + 1] = vj
                    if vj > cmax:
                        cmax, tmax = vj, x + work[0, j]
                v1 = k0
                for i in range(m):
                    v1 += a[i] * decay[i]
                if v1 > cmax:
                    cmax, tmax = v1, nxt
                if window and nxt == win_hi:
                    ctrough = v1
                flo = v0 - threshold
                if threshold < math.inf:
                    lo = 0.0
                    for j in range(n_r + 1):
                        hi = cuts[j + 1] if j < n_r else h
                        fhi = (cut_val[j + 1] if j < n_r else v1) - threshold
                        if flo > 0.0 and fhi > 0.0:
                            above += hi - lo
                        elif flo > 0.0 or fhi > 0.0:
                            if j == 0 and flo < 0.0:  # a rise from the segment start:
                                slope = 0.0  # the tangent there, C'(0) = sum(beta)
                                for i in range(m):
                                    slope += beta[i]
                                x0 = -flo / slope if slope > 0.0 else math.nan
                            else:
                                x0 = _log_secant(lo, hi, flo + threshold, fhi + threshold,
                                                 threshold)  # fmt: skip
                            r = _solve(a, rates[p], m, k0 - threshold, lo, hi, flo, x0)
                            above += (r - lo) if flo > 0.0 else (hi - r)
                        lo, flo = hi, fhi
            # propagate to nxt
            for i in range(m):
                asym = rate / rates[p, i]
                state[i] = (state[i] - asym) * decay[i] + asym
            x = nxt
        if cmax == -math.inf:  # a single time point
            v = 0.0
            for i in range(m):
                v += w * coefs[p, i] * state[i]
            cmax = v
        out[0, p] = auc
        out[1, p] = auc_tau if window else math.nan
        out[2, p] = cmax
        out[3, p] = tmax
        out[4, p] = ctrough
        out[5, p] = above


def exponential_exposure(
    coefs: np.ndarray,
    rates: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray | None,
    span: tuple[float, float],
    *,
    window: tuple[float, float] | None = None,
    threshold: float | None = None,
    weight: np.ndarray | None = None,
    lag: np.ndarray | None = None,
    lanes: bool = True,
) -> dict[str, np.ndarray]:
    """Exact exposure metrics of ``weight_p sum_i coefs[p, i] sum_d amt_d g_i(t - t_d - lag_p)``.

    The concentration is the one :func:`twinlab.simulate.superpose` evaluates on a grid.

    Parameters
    ----------
    coefs, rates : numpy.ndarray
        Shape ``(n, m)``: the exponential terms of each patient (distinct, positive rates;
        at most 8 terms).
    dose_time, dose_amt : numpy.ndarray
        Doses shared by all patients, sorted by time, shape ``(D,)``.
    dose_duration : numpy.ndarray, optional
        Infusion durations (0 for a bolus), shape ``(D,)``.
    span : tuple of float
        ``(t_first, t_last)``: the observed span; ``auc``, ``cmax``, ``tmax`` and ``t_above``
        are over it.
    window : tuple of float, optional
        ``(t0, t1)``: the dosing interval of ``auc_tau`` and ``ctrough`` (``C(t1-)``), inside
        ``span``; both are NaN without one.
    threshold : float, optional
        Concentration of ``t_above`` (0 hours without one).
    weight, lag : numpy.ndarray, optional
        Per-patient factor on the amounts (bioavailability) and dose delay, shape ``(n,)``.
    lanes : bool
        Two-term sums go through :mod:`twinlab.simulate.exposure_lanes` (many patients at
        once, see the module docstring); False sends them through the general path, for
        tests.

    Returns
    -------
    dict of str to numpy.ndarray
        ``auc``, ``auc_tau``, ``cmax``, ``tmax``, ``ctrough``, ``t_above``, each ``(n,)``.

    Examples
    --------
    IV bolus of 100 into V = 10 with k = 0.1, observed over 0-24 h: Cmax is C(0+) = 10.

    >>> m = exponential_exposure(np.array([[0.1]]), np.array([[0.1]]), np.array([0.0]),
    ...                          np.array([100.0]), None, (0.0, 24.0))
    >>> float(m["cmax"][0]), float(m["tmax"][0]), round(float(m["auc"][0]), 6)
    (10.0, 0.0, 90.928205)
    """
    coefs = np.ascontiguousarray(coefs, dtype=np.float64)
    rates = np.ascontiguousarray(rates, dtype=np.float64)
    n, m = coefs.shape
    if m > _MAX_TERMS:
        raise ValueError(f"at most {_MAX_TERMS} exponential terms, not {m}")
    dose_time = np.ascontiguousarray(dose_time, dtype=np.float64).reshape(-1)
    dose_amt = np.ascontiguousarray(dose_amt, dtype=np.float64).reshape(-1)
    dur = (
        np.zeros_like(dose_time)
        if dose_duration is None
        else np.ascontiguousarray(dose_duration, dtype=np.float64).reshape(-1)
    )
    if np.any(np.diff(dose_time) < 0):
        raise ValueError("dose times must be sorted")
    t0, t1 = float(span[0]), float(span[1])
    if not (math.isfinite(t0) and math.isfinite(t1) and t0 <= t1):
        raise ValueError(f"span must be finite with t_first <= t_last, not {span}")
    marks = [t0, t1]
    lo, hi = math.inf, -math.inf  # no window: lo > hi
    if window is not None:
        lo, hi = float(window[0]), float(window[1])
        if not (t0 <= lo < hi <= t1):
            raise ValueError(f"window {window} must lie inside the span {span}")
        marks += [lo, hi]
    weight = np.ones(n) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    lag = np.zeros(n) if lag is None else np.ascontiguousarray(lag, dtype=np.float64)
    end_order = np.argsort(dose_time + dur, kind="stable").astype(np.int64)
    thr = math.inf if threshold is None else float(threshold)
    if lanes and m == 2 and t0 < t1:
        out = lanes_exposure(
            coefs, rates, np.broadcast_to(weight, (n,)), np.broadcast_to(lag, (n,)), dose_time,
            dose_amt, dur, end_order, np.unique(np.array(marks)), (t0, t1), (lo, hi), thr,
        )  # fmt: skip
        names = ("auc", "auc_tau", "cmax", "tmax", "ctrough", "t_above")
        res = dict(zip(names, out, strict=True))
        if threshold is None:
            res["t_above"] = np.full(n, np.nan)
        return res
    out = np.empty((6, n))
    _kernel(
        coefs, rates, np.broadcast_to(weight, (n,)).copy(), np.broadcast_to(lag, (n,)).copy(),
        dose_time, dose_amt, dur, end_order, np.unique(np.array(marks)), t0, t1, lo, hi,
        thr, out,
    )  # fmt: skip
    names = ("auc", "auc_tau", "cmax", "tmax", "ctrough", "t_above")
    res = dict(zip(names, out, strict=True))
    if threshold is None:
        res["t_above"] = np.full(n, np.nan)
    return res


def ode_exposure(
    theta: Mapping[str, Any],
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    span: tuple[float, float],
    *,
    window: tuple[float, float] | None = None,
    threshold: float | None = None,
    rtol: float = 1e-10,
    dense_step: float = 0.01,
) -> dict[str, np.ndarray]:
    """Exposure metrics of the 1-compartment oral Michaelis-Menten model from its ODE.

    ``dA/dt = ka f sum_d amt_d exp(-ka (t - t_d - tlag)) - vm C / (km + C)``, ``C = A / v``,
    integrated for all patients at once by ``solve_ivp`` (DOP853) with ``dAUC/dt = C`` as a
    second state, restarted at every dose (and lagged dose) time. See the module docstring for
    the tolerance (:data:`ODE_TOLERANCE`).

    Parameters
    ----------
    theta : mapping of str to array
        ``ka, v, vm, km`` and optional ``f`` (1), ``tlag`` (0), scalars or ``(n,)``.
    dose_time, dose_amt : numpy.ndarray
        Depot doses shared by all patients, sorted.
    span, window, threshold
        As :func:`exponential_exposure`.
    rtol : float
        Relative tolerance of the integrator.
    dense_step : float
        Step in hours of the dense-output grid Cmax and ``t_above`` are read from.

    Returns
    -------
    dict of str to numpy.ndarray
        As :func:`exponential_exposure`.
    """
    from scipy.integrate import solve_ivp

    sizes = [np.size(v) for v in theta.values()]
    n = max(sizes, default=1)

    def per(name: str, default: float | None = None) -> np.ndarray:
        v = theta.get(name, default)
        if v is None:
            raise KeyError(f"parameter {name!r} missing from theta (have {sorted(theta)})")
        return np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (n,)).copy()

    ka, v, vm, km = per("ka"), per("v"), per("vm"), per("km")
    f, tlag = per("f", 1.0), per("tlag", 0.0)
    dose_time = np.asarray(dose_time, dtype=float).reshape(-1)
    dose_amt = np.asarray(dose_amt, dtype=float).reshape(-1)
    t0, t1 = float(span[0]), float(span[1])
    lags = np.unique(tlag)
    breaks = [t0, t1]
    if window is not None:
        breaks += [float(window[0]), float(window[1])]
    if lags.size <= 8:  # kinks of the input: integrate up to each, not across
        breaks += [t for lag in lags for t in (dose_time + lag)]
    breaks = np.unique([b for b in breaks if t0 <= b <= t1])

    def inflow(t: float) -> np.ndarray:
        s = t - dose_time[None, :] - tlag[:, None]
        return ka * f * np.where(s > 0, dose_amt[None, :] * np.exp(-ka[:, None] * np.maximum(s, 0)),
                                 0.0).sum(axis=1)  # fmt: skip

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        a = y[:n]
        c = a / v
        return np.concatenate([inflow(t) - vm * c / (km + c), c])

    # amount at t0: integrate from the first dose (or t0) up to t0 without metrics
    y = np.zeros(2 * n)
    first = min(t0, float(dose_time.min()) if dose_time.size else t0)
    if first < t0:
        sol = solve_ivp(rhs, (first, t0), y, method="DOP853", rtol=rtol, atol=1e-12)
        y = sol.y[:, -1]
    y[n:] = 0.0
    cmax = y[:n] / v
    tmax = np.full(n, t0)
    auc_at: dict[float, np.ndarray] = {t0: np.zeros(n)}
    conc_at: dict[float, np.ndarray] = {}
    above = np.zeros(n)
    thr = math.inf if threshold is None else float(threshold)
    for a, b in itertools.pairwise(breaks):
        sol = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=rtol, atol=1e-12, dense_output=True)
        if not sol.success:  # pragma: no cover - DOP853 on a smooth, bounded system
            raise ValueError(f"the ODE integration failed on [{a}, {b}]: {sol.message}")
        y = sol.y[:, -1]
        auc_at[float(b)] = y[n:].copy()
        conc_at[float(b)] = y[:n] / v
        k = max(2, math.ceil((b - a) / dense_step) + 1)
        grid = np.linspace(a, b, k)
        dt = grid[1] - grid[0]
        rows = np.arange(n)
        best = np.full(n, -np.inf)
        j_best = np.zeros(n, dtype=np.int64)
        y_m = np.full(n, np.nan)
        y_p = np.full(n, np.nan)
        block = max(8, _DENSE_ELEMENTS // max(2 * n, 1))  # bounded memory: n x block values
        for s0 in range(0, k, block):
            lo_i, hi_i = max(s0 - 1, 0), min(s0 + block + 1, k)
            c = sol.sol(grid[lo_i:hi_i])[:n] / v[:, None]  # (n, w), one point either side
            off, cnt = s0 - lo_i, min(s0 + block, k) - s0
            jj = np.argmax(c[:, off : off + cnt], axis=1)
            local = off + jj
            val = c[rows, local]
            upd = val > best
            best[upd], j_best[upd] = val[upd], s0 + jj[upd]
            w = c.shape[1]
            y_m[upd] = np.where(local > 0, c[rows, np.maximum(local - 1, 0)], np.nan)[upd]
            y_p[upd] = np.where(local < w - 1, c[rows, np.minimum(local + 1, w - 1)], np.nan)[upd]
            if math.isfinite(thr):
                r0 = max(s0, 1) - lo_i
                da, db = c[:, r0 - 1 : off + cnt - 1] - thr, c[:, r0 : off + cnt] - thr
                with np.errstate(divide="ignore", invalid="ignore"):
                    cross = np.where(
                        da > 0, dt * da / (da - db), np.where(db > 0, dt * db / (db - da), 0.0)
                    )
                    part = np.where((da > 0) & (db > 0), dt, cross)
                above += part.sum(axis=1)
        # a parabola through the largest point and its neighbours
        cm, tm = best.copy(), grid[j_best]
        inner = np.isfinite(y_m) & np.isfinite(y_p)
        den = y_m - 2.0 * best + y_p
        ok = inner & (den < 0)
        shift = np.where(ok, 0.5 * (y_m - y_p) / np.where(ok, den, 1.0), 0.0)
        cm = np.where(ok, best - 0.25 * (y_m - y_p) * shift, cm)
        tm = np.where(ok, tm + shift * dt, tm)
        better = cm > cmax
        cmax = np.where(better, cm, cmax)
        tmax = np.where(better, tm, tmax)
    auc = auc_at[float(breaks[-1])]
    nan = np.full(n, np.nan)
    res = {"auc": auc, "auc_tau": nan, "cmax": cmax, "tmax": tmax, "ctrough": nan,
           "t_above": above if threshold is not None else nan.copy()}  # fmt: skip
    if window is not None:
        lo, hi = float(window[0]), float(window[1])
        res["auc_tau"] = auc_at[hi] - auc_at[lo]
        res["ctrough"] = conc_at[hi]
    return res


def arm_exposure(
    model: Any,
    theta: Mapping[str, np.ndarray],
    times: np.ndarray,
    regimen: Any,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray,
    threshold: float | None,
    terms: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray] | None:
    """Exact exposure metrics of an arm's patients (``theta`` rows), or None for placebo.

    The linear models use their own exponential terms; every other model except
    Michaelis-Menten elimination has the 1-compartment oral PK of
    :mod:`twinlab.pkpd.models` in closed form; Michaelis-Menten goes through
    :func:`ode_exposure`. ``auc_tau`` and ``ctrough`` are over the regimen's last dosing
    interval when it lies inside ``times`` (else NaN). ``terms``: the exponential terms
    (:func:`twinlab.simulate.kernels.exponential_terms`) where the caller has them already.
    """
    from twinlab.simulate.kernels import KERNEL_MODELS, exponential_terms

    if regimen is None:
        return None
    t0, t_end = float(times[0]), float(times[-1])
    window = None
    lo = regimen.last_dose_h
    hi = lo + regimen.interval_h
    if t0 <= lo and hi <= t_end + 1e-9 * max(1.0, abs(t_end)):
        window = (lo, min(hi, t_end))
    if "vm" in model.params:
        return ode_exposure(
            {**model.defaults, **theta}, dose_time, dose_amt, (t0, t_end), window=window,
            threshold=threshold,
        )  # fmt: skip
    depot = regimen.route == "oral" and "ka" in model.params
    pk = model.name if model.name in KERNEL_MODELS else "pk_1cmt_oral"
    coefs, rates = exponential_terms(pk, theta, depot=depot) if terms is None else terms
    n = coefs.shape[0]
    weight = lag = None
    if depot:
        weight = np.broadcast_to(np.asarray(theta.get("f", 1.0), dtype=float), (n,))
        lag = np.broadcast_to(np.asarray(theta.get("tlag", 0.0), dtype=float), (n,))
    return exponential_exposure(
        coefs, rates, dose_time, dose_amt, dose_duration, (t0, t_end), window=window,
        threshold=threshold, weight=weight, lag=lag,
    )  # fmt: skip
