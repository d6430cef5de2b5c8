"""Exposure metrics and PD endpoints of simulated profiles, and their per-arm summaries.

The engine computes the exposure metrics of dosed arms exactly, independent of the output
grid (:mod:`twinlab.simulate.exposure`: closed form for every model with a linear PK, the
integrator's dense output for Michaelis-Menten). :func:`exposure_metrics` here reads them off
a grid instead, with linear interpolation between grid points; the engine uses it only for
placebo arms (no drug: all zero), and it serves profiles that have nothing but a grid:

- ``auc``: trapezoid AUC over the whole grid;
- ``auc_tau``: AUC over the last dosing interval ``[t_last, t_last + interval]``;
- ``cmax``, ``tmax``: largest concentration on the grid and its (first) time;
- ``ctrough``: concentration at the end of the last dosing interval (``t_last + interval``,
  where the next dose would be given; at steady state, the pre-dose trough);
- ``t_above``: hours above ``threshold`` (crossings interpolated);
- PD: ``effect_baseline`` (first grid time), ``effect_end`` (last), ``effect_cfb``
  (end − baseline), ``effect_pcfb`` (100 · cfb / baseline).

Interval metrics are NaN for placebo arms and where the interval leaves the grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numba
import numpy as np
import pandas as pd

from twinlab.simulate.regimens import Regimen

__all__ = ["EXPOSURE", "PD", "arm_summary", "exposure_metrics", "pd_endpoints", "summary_row"]

#: Exposure metric columns, in order.
EXPOSURE: tuple[str, ...] = ("auc", "auc_tau", "cmax", "tmax", "ctrough", "t_above")
#: PD endpoint columns, in order.
PD: tuple[str, ...] = ("effect_baseline", "effect_end", "effect_cfb", "effect_pcfb")
_QUANTILES = (("p05", 5.0), ("p50", 50.0), ("p95", 95.0))
#: Fewer values than this: ``numpy.percentile`` as it is (its partition costs little there).
_SELECT_MIN = 4096


def _at(y: np.ndarray, times: np.ndarray, t: float) -> np.ndarray:
    """``y`` (..., T) linearly interpolated at time ``t`` inside the grid."""
    j = int(np.searchsorted(times, t, side="right")) - 1
    if times[j] == t or j == len(times) - 1:
        return y[..., j]
    w = (t - times[j]) / (times[j + 1] - times[j])
    return (1.0 - w) * y[..., j] + w * y[..., j + 1]


def _auc_between(y: np.ndarray, times: np.ndarray, t0: float, t1: float) -> np.ndarray:
    inside = (times > t0) & (times < t1)
    grid = np.concatenate([[t0], times[inside], [t1]])
    vals = np.concatenate(
        [_at(y, times, t0)[..., None], y[..., inside], _at(y, times, t1)[..., None]], axis=-1
    )
    return np.trapezoid(vals, grid, axis=-1)


@numba.njit(cache=True, nogil=True)
def _profile_metrics(
    y: np.ndarray, times: np.ndarray, threshold: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """One pass per row: trapezoid AUC, max, index of the (first) max, hours above threshold.

    Fused into one compiled loop because four NumPy passes (with their temporaries) cost
    more than the superposition itself.
    """
    n, m = y.shape
    for p in range(n):
        auc = 0.0
        best = y[p, 0]
        arg = 0
        above = 0.0
        for j in range(1, m):
            h = times[j] - times[j - 1]
            a, b = y[p, j - 1], y[p, j]
            auc += 0.5 * h * (a + b)
            if b > best:
                best = b
                arg = j
            da, db = a - threshold, b - threshold
            if da > 0.0 and db > 0.0:
                above += h
            elif da > 0.0:
                above += h * da / (da - db)
            elif db > 0.0:
                above += h * db / (db - da)
        out[0, p] = auc
        out[1, p] = best
        out[2, p] = arg
        out[3, p] = above


@numba.njit(cache=True, nogil=True)
def _order_statistics(
    x: np.ndarray, r0: int, r1: int, buf: np.ndarray, out: np.ndarray
) -> bool:  # pragma: no cover - compiled
    """``out[i]``: the ``(r0 + i)``-th smallest value of ``x`` (no NaN), ``r0 <= r0 + i <= r1``.

    Narrows ``x`` to the values between two order statistics of a sample of 512 that
    bracket the ranks (a pass without branches: each value counted below, or copied to
    ``buf`` and kept if inside), until 2,048 are left, then sorts them. An order statistic
    is one value whatever finds it, so this is exact; it returns False where a bracket
    missed the ranks or hardly narrowed (the caller falls back to a partition).
    """
    src = x
    count = x.size
    while count > 2048:
        ns = 512
        sample = np.empty(ns)
        for i in range(ns):
            sample[i] = src[(i * count) // ns]
        sample.sort()
        margin = 40  # sample ranks: a rank's own is within ~2.5 standard deviations of it
        lo = sample[max((r0 * ns) // count - margin, 0)]
        hi = sample[min((r1 * ns) // count + margin + 1, ns - 1)]
        below = 0
        kept = 0
        for i in range(count):
            v = src[i]
            below += v < lo
            buf[kept] = v
            kept += (v >= lo) & (v <= hi)
        r0 -= below
        r1 -= below
        if r0 < 0 or r1 >= kept:
            return False
        if lo == hi:  # the ranks fall on a run of equal values
            for i in range(r1 - r0 + 1):
                out[i] = lo
            return True
        if kept > count - count // 4:
            return False
        src = buf
        count = kept
    s = np.sort(src[:count])
    for i in range(r1 - r0 + 1):
        out[i] = s[r0 + i]
    return True


@numba.njit(cache=True, nogil=True)
def _has_negative_zero(x: np.ndarray) -> bool:  # pragma: no cover - compiled
    for v in x:
        if v == 0.0 and math.copysign(1.0, v) < 0.0:
            return True
    return False


def _percentiles(x: np.ndarray, q: Sequence[float], overwrite_input: bool = False) -> np.ndarray:
    """``numpy.percentile(x, q)`` (the default linear method) of float64 values without NaN,
    the same bits, without partitioning all of ``x``.

    NumPy's result is a function of the order statistics at the two ranks around each
    quantile, and of ``n`` and ``q``: the ranks and the interpolation below are NumPy's
    (``numpy.lib._function_base_impl._quantile``: ``_get_indexes``, ``_lerp``), the order
    statistics come from :func:`_order_statistics`. Falls back to ``numpy.percentile``
    for small arrays, a failed bracket, and a zero statistic where ``x`` holds ``-0.0``
    (which of two equal zeros a partition leaves at a rank is its own affair); only those
    may reorder ``x`` (``overwrite_input``). ``tests/simulate/test_simulate_summary.py``
    checks the bits against NumPy.
    """
    n = x.size
    if n < _SELECT_MIN or x.ndim != 1 or x.dtype != np.float64:
        return np.percentile(x, q, overwrite_input=overwrite_input)
    x = np.ascontiguousarray(x)
    qs = np.true_divide(q, 100)
    virtual = (n - 1) * qs
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    prev, nxt = prev.astype(np.intp), nxt.astype(np.intp)
    below_ranks, above_ranks = prev % n, nxt % n  # -1: the largest
    a, b = np.empty(len(qs)), np.empty(len(qs))
    buf = np.empty(n)
    found = np.empty(2)
    for j in range(len(qs)):
        r0 = min(below_ranks[j], above_ranks[j])
        r1 = max(below_ranks[j], above_ranks[j])
        if r1 - r0 > 1 or not _order_statistics(x, int(r0), int(r1), buf, found):
            return np.percentile(x, q, overwrite_input=overwrite_input)
        a[j], b[j] = found[below_ranks[j] - r0], found[above_ranks[j] - r0]
    if ((a == 0.0) | (b == 0.0)).any() and _has_negative_zero(x):
        return np.percentile(x, q, overwrite_input=overwrite_input)
    gamma = virtual - prev
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def exposure_metrics(
    conc: np.ndarray, times: np.ndarray, regimen: Regimen | None, threshold: float | None
) -> dict[str, np.ndarray]:
    """Exposure metrics of profiles ``conc`` (..., T) under ``regimen`` (None: placebo).

    Examples
    --------
    >>> t = np.array([0.0, 1.0, 2.0])
    >>> m = exposure_metrics(np.array([[0.0, 2.0, 0.0]]), t, None, threshold=1.0)
    >>> float(m["auc"][0]), float(m["cmax"][0]), float(m["t_above"][0])
    (2.0, 2.0, 1.0)
    """
    times = np.ascontiguousarray(times, dtype=float)
    shape = conc.shape[:-1]
    nan = np.full(shape, np.nan)
    flat = np.ascontiguousarray(conc, dtype=float).reshape(-1, times.size)
    fused = np.empty((4, flat.shape[0]))
    _profile_metrics(flat, times, np.inf if threshold is None else float(threshold), fused)
    out = {
        "auc": fused[0].reshape(shape),
        "auc_tau": nan,
        "cmax": fused[1].reshape(shape),
        "tmax": times[fused[2].astype(np.int64)].reshape(shape),
        "ctrough": nan,
        "t_above": nan if threshold is None else fused[3].reshape(shape),
    }
    if regimen is not None:
        t0 = regimen.last_dose_h
        t1 = t0 + regimen.interval_h
        inside = times[0] <= t0 and t1 <= times[-1] + 1e-9 * max(1.0, abs(times[-1]))
        if inside:
            t1 = min(t1, times[-1])
            out["auc_tau"] = _auc_between(conc, times, t0, t1)
            out["ctrough"] = _at(conc, times, t1)
    return out


def pd_endpoints(effect: np.ndarray) -> dict[str, np.ndarray]:
    """Baseline (first time), end (last time), change and percent change from baseline."""
    base, end = effect[..., 0], effect[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pcfb = np.where(base != 0, 100.0 * (end - base) / base, np.nan)
    return {
        "effect_baseline": base,
        "effect_end": end,
        "effect_cfb": end - base,
        "effect_pcfb": pcfb,
    }


def summary_row(
    draw: int, arm: str, values: Mapping[str, np.ndarray], scratch: bool = False
) -> dict[str, object]:
    """One row of :func:`arm_summary`: ``n`` and mean / p05 / p50 / p95 of each metric's
    values (one array per metric, the group's rows in order; NaNs skipped).

    ``scratch=True`` lets the quantiles reorder the given arrays in place (the caller's own
    copies) instead of copying them: the same numbers, one copy less per metric.
    """
    n = len(next(iter(values.values()))) if values else 0
    row: dict[str, object] = {"draw": int(draw), "arm": arm, "n": n}
    for m, x in values.items():
        nan = np.isnan(x)
        ok, own = (x[~nan], True) if nan.any() else (x, scratch)
        row[f"{m}_mean"] = float(ok.mean()) if ok.size else np.nan  # before any reordering
        # all quantiles at once: numpy.percentile's numbers, from the order statistics they
        # need (_percentiles; one partition for a small array)
        qs = _percentiles(ok, [q for _, q in _QUANTILES], own) if ok.size else None
        for i, (label, _) in enumerate(_QUANTILES):
            row[f"{m}_{label}"] = float(qs[i]) if qs is not None else np.nan
    return row


def arm_summary(
    patients: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str]
) -> pd.DataFrame:
    """Per (draw, arm): ``n`` and mean / p05 / p50 / p95 of each metric (NaNs skipped).

    Rows are ordered by draw, then by arm in ``arms`` order.
    """
    rows = []
    for (draw, arm), group in patients.groupby(["draw", "arm"], sort=False, observed=True):
        values = {m: group[m].to_numpy(dtype=float) for m in metrics}
        row = summary_row(draw, arm, values)
        row["n"] = len(group)
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {a: i for i, a in enumerate(arms)}
    out = out.sort_values(["draw", "arm"], key=lambda s: s.map(order) if s.name == "arm" else s)
    return out.reset_index(drop=True)
