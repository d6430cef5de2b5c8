"""Compiled superposition of linear PK for many patients that share one dosing schedule.

Every patient of an arm gets the same doses at the same times and is observed on the same
grid, so the sum over doses ``C(t) = sum_i c_i sum_d w_d exp(-lambda_i (t - t_d))`` factors
along the grid: with ``S_i(t) = sum_{t_d < t} w_d exp(-lambda_i (t - t_d))``,

``S_i(t_j) = S_i(t_{j-1}) exp(-lambda_i (t_j - t_{j-1})) + (doses in [t_{j-1}, t_j))``

so a patient costs one exponential per rate and distinct grid step, one per rate and dose, and
a multiply-add per rate and time point, instead of one exponential per rate, dose and time
point. A zero-order infusion adds ``R / lambda_i (exp(-lambda_i (t_j - b)) -
exp(-lambda_i (t_j - a)))`` for the part ``[a, b]`` of the infusion inside the step. The
coefficients ``c_i`` and rates ``lambda_i`` come from :mod:`twinlab.pkpd.models` (the same
definition the fitting back end uses); only the sum over doses is evaluated here.

Numba compiles the loop (``cache=True``: compiled once per machine, not per Dask worker
start). Agreement with :func:`twinlab.pkpd.predict` is checked to 1e-10 relative in
``tests/simulate/test_kernels.py``; why a hand-written loop: neither NumPy nor any
PK library offers this recurrence, and it is what makes the throughput goal reachable (see
``benchmarks/SIMULATE.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from twinlab.pkpd.models import disposition_exponentials, through_first_order

__all__ = ["KERNEL_MODELS", "exponential_terms", "superpose", "superpose_model"]

#: Models whose concentrations the compiled kernel evaluates (linear, 1-3 compartments).
KERNEL_MODELS: dict[str, tuple[int, bool]] = {
    "pk_1cmt_oral": (1, True),
    "pk_2cmt_oral": (2, True),
    "pk_3cmt_oral": (3, True),
    "pk_1cmt_iv": (1, False),
    "pk_2cmt_iv": (2, False),
    "pk_3cmt_iv": (3, False),
    "pkpd_1cmt_oral_emax": (1, True),
}


@numba.njit(cache=True, nogil=True)
def _kernel(
    coefs: np.ndarray,
    rates: np.ndarray,
    weight: np.ndarray,
    lag: np.ndarray,
    times: np.ndarray,
    step_index: np.ndarray,
    steps: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_dur: np.ndarray,
    out: np.ndarray,
    finite: np.ndarray,
) -> None:  # pragma: no cover - compiled
    n, m = coefs.shape
    n_t = times.shape[0]
    n_d = dose_time.shape[0]
    n_u = steps.shape[0]
    decay = np.empty((m, max(n_u, 1)))
    state = np.zeros(m)
    for p in range(n):
        for i in range(m):
            state[i] = 0.0
            for u in range(n_u):
                decay[i, u] = math.exp(-rates[p, i] * steps[u])
        lp = lag[p]
        next_bolus = 0  # first dose not yet added
        first_inf = 0  # first infusion that may still be running
        prev = -math.inf
        ok = True  # every value of the row finite (checked here, where it costs nothing)
        for j in range(n_t):
            t = times[j]
            if j > 0:
                f = step_index[j]
                for i in range(m):
                    state[i] *= decay[i, f]
            # bolus / depot doses with prev <= t_d + lag < t
            while next_bolus < n_d and dose_time[next_bolus] + lp < t:
                d = next_bolus
                if dose_dur[d] <= 0.0:
                    dt = t - (dose_time[d] + lp)
                    for i in range(m):
                        state[i] += dose_amt[d] * math.exp(-rates[p, i] * dt)
                next_bolus += 1
            # infusions overlapping (prev, t]
            d = first_inf
            while d < n_d and dose_time[d] + lp < t:
                if dose_dur[d] > 0.0:
                    a = max(dose_time[d] + lp, prev)
                    end = dose_time[d] + lp + dose_dur[d]
                    b = min(end, t)
                    if b > a:
                        rate = dose_amt[d] / dose_dur[d]
                        for i in range(m):
                            lam = rates[p, i]
                            # R/lam (exp(-lam (t-b)) - exp(-lam (t-a))), without cancellation
                            state[i] += (
                                -rate / lam * math.exp(-lam * (t - b)) * math.expm1(-lam * (b - a))
                            )
                    if end <= t and d == first_inf:
                        first_inf += 1
                elif d == first_inf:
                    first_inf += 1
                d += 1
            acc = 0.0
            for i in range(m):
                acc += coefs[p, i] * state[i]
            value = weight[p] * acc
            out[p, j] = value
            ok = ok and math.isfinite(value)
            prev = t
        finite[p] = ok


def superpose(
    coefs: np.ndarray,
    rates: np.ndarray,
    times: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray | None = None,
    *,
    weight: np.ndarray | None = None,
    lag: np.ndarray | None = None,
    out: np.ndarray | None = None,
    backend: str = "numba",
    finite: np.ndarray | None = None,
) -> np.ndarray:
    """``weight_p * sum_i coefs[p, i] * sum_d amt_d g_i(t - t_d - lag_p)`` for every patient.

    ``g_i`` is ``exp(-rates[p, i] s)`` for a bolus (``s > 0`` only: a dose counts strictly
    after it is given) and the response to a zero-order input of ``amt_d`` over
    ``dose_duration[d]`` hours for an infusion.

    Parameters
    ----------
    coefs, rates : numpy.ndarray
        Shape ``(n, m)``: the exponential terms of each patient (distinct, positive rates).
    times : numpy.ndarray
        Sorted observation times, shape ``(T,)``.
    dose_time, dose_amt : numpy.ndarray
        Doses shared by all patients, sorted by time, shape ``(D,)``.
    dose_duration : numpy.ndarray, optional
        Infusion durations (0 for a bolus), shape ``(D,)``.
    weight, lag : numpy.ndarray, optional
        Per-patient factor on the amounts (bioavailability) and dose delay, shape ``(n,)``.
    out : numpy.ndarray, optional
        Where to write, shape ``(n, T)``.
    backend : str
        ``"numba"`` (the recurrence of this module) or ``"jax"``
        (:func:`twinlab.simulate.jax_kernels.superpose_jax`: the direct sum, jit + vmap).
    finite : numpy.ndarray, optional
        Bool ``(n,)``: set to whether each patient's values are all finite (the numba
        kernel checks each value as it writes it, instead of a second pass over ``out``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, T)``.

    Examples
    --------
    >>> k = np.array([[0.1]])
    >>> c = superpose(np.ones((1, 1)), k, np.array([0.0, 1.0, 25.0]), np.array([0.0, 24.0]),
    ...               np.array([1.0, 1.0]))
    >>> np.allclose(c[0], [0.0, np.exp(-0.1), np.exp(-2.5) + np.exp(-0.1)])
    True
    """
    coefs = np.ascontiguousarray(coefs, dtype=np.float64)
    rates = np.ascontiguousarray(rates, dtype=np.float64)
    n = coefs.shape[0]
    times = np.ascontiguousarray(times, dtype=np.float64)
    dose_time = np.ascontiguousarray(dose_time, dtype=np.float64)
    dose_amt = np.ascontiguousarray(dose_amt, dtype=np.float64)
    if dose_duration is None:
        dose_duration = np.zeros_like(dose_time)
    dose_duration = np.ascontiguousarray(dose_duration, dtype=np.float64)
    if np.any(np.diff(times) < 0) or np.any(np.diff(dose_time) < 0):
        raise ValueError("times and dose times must be sorted")
    weight = np.ones(n) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    lag = np.zeros(n) if lag is None else np.ascontiguousarray(lag, dtype=np.float64)
    steps, step_index = np.unique(np.diff(times), return_inverse=True)
    step_index = np.concatenate([[0], step_index]).astype(np.int64)
    if backend not in ("numba", "jax"):
        raise ValueError(f"backend must be 'numba' or 'jax', not {backend!r}")
    if backend == "jax":
        from twinlab.simulate.jax_kernels import superpose_jax

        w = np.broadcast_to(weight, (n,))
        out = superpose_jax(coefs, rates, times, dose_time, dose_amt, dose_duration, w,
                            np.broadcast_to(lag, (n,)), out)  # fmt: skip
        if finite is not None:
            finite[...] = np.isfinite(out).all(axis=-1)
        return out
    if out is None:
        out = np.empty((n, times.shape[0]))
    if finite is None:
        finite = np.empty(n, dtype=bool)
    _kernel(
        coefs, rates, weight, lag, times, step_index, steps, dose_time, dose_amt, dose_duration,
        out, finite,
    )  # fmt: skip
    return out


def exponential_terms(
    model: str, theta: Mapping[str, np.ndarray], *, depot: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and rates ``(n, m)`` of the unit-dose concentration of a linear model.

    Taken from :mod:`twinlab.pkpd.models` (:func:`~twinlab.pkpd.models.disposition_exponentials`;
    :func:`~twinlab.pkpd.models.through_first_order` for a depot dose),
    so the kernel evaluates the very model the fitting back end uses.
    """
    n_cmt, oral = KERNEL_MODELS[model]
    p = {k: np.asarray(v, dtype=float) for k, v in theta.items()}
    coefs, rates = disposition_exponentials(np, n_cmt, p)
    if depot:
        if not oral:
            raise ValueError(f"model {model!r} has no depot for an oral dose")
        coefs, rates = through_first_order(coefs, rates, p["ka"])
    n = max(np.size(x) for x in (*coefs, *rates))
    as2d = [np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in coefs]
    return np.stack(as2d, axis=1), np.stack(
        [np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in rates], axis=1
    )


def superpose_model(
    model: str,
    theta: Mapping[str, Any],
    times: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray,
    *,
    depot: bool,
    out: np.ndarray | None = None,
    backend: str = "numba",
    finite: np.ndarray | None = None,
    terms: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Concentrations ``(n, T)`` of a :data:`KERNEL_MODELS` model for doses shared by all.

    Parameters
    ----------
    model : str
        A key of :data:`KERNEL_MODELS`.
    theta : mapping of str to numpy.ndarray
        Individual parameters, shape ``(n,)``; ``f`` and ``tlag`` are optional for depot doses.
    times : numpy.ndarray
        Sorted observation times.
    dose_time, dose_amt, dose_duration : numpy.ndarray
        The doses (all into the depot when ``depot``, else all into the central compartment).
    depot : bool
        Whether the doses go into the depot (oral) or the central compartment.
    out : numpy.ndarray, optional
        Where to write, shape ``(n, T)`` (may be a strided view).
    backend : str
        ``"numba"`` or ``"jax"`` (see :func:`superpose`).
    finite : numpy.ndarray, optional
        Bool ``(n,)``: whether each patient's values are all finite (see :func:`superpose`).
    terms : tuple of numpy.ndarray, optional
        ``exponential_terms(model, theta, depot=depot)`` where the caller has them already.
    """
    coefs, rates = exponential_terms(model, theta, depot=depot) if terms is None else terms
    n = coefs.shape[0]
    weight = lag = None
    if depot:
        if "f" in theta:
            weight = np.broadcast_to(np.asarray(theta["f"], dtype=float), (n,))
        if "tlag" in theta:
            lag = np.broadcast_to(np.asarray(theta["tlag"], dtype=float), (n,))
    return superpose(
        coefs, rates, times, dose_time, dose_amt, dose_duration, weight=weight, lag=lag, out=out,
        backend=backend, finite=finite,
    )  # fmt: skip
