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
        # all quantiles from one partition (the same values as one call each)
        qs = np.percentile(ok, [q for _, q in _QUANTILES], overwrite_input=own) if ok.size else None
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
