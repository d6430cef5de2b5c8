"""Planned variance reduction of an adjusted analysis (ANCOVA, PROCOVA) when effects vary.

A covariate-adjusted analysis shrinks the variance of the treatment estimate by a factor
``1 − R²``. Taking ``R²`` from the control arm alone (ρ² of the prognostic score and the
control outcome) overstates it when the treatment effect varies between patients and that
variation is correlated with the score: the score then explains less of the outcome under
drug. On the demo, ρ² is 0.20 under placebo and 0.05 under drug, and a PROCOVA trial sized
with the control-arm ρ² misses its power.

:func:`variance_reduction` plans the reduction the way Schuler et al. (2021, Int J Biostat
18:329, prospective power) do, with arm-wise variances and correlations estimated on data
the prognostic model never saw (historical or separately simulated patients with outcomes
under each arm):

``"ancova"`` (default)
    The asymptotic variance of the ANCOVA estimate with one common slope ``β*`` over all
    arms (what the trial fits): per participant, ``V_j / π_j + V_0 / π_0`` with
    ``V_a = Var_a(Y − β*ᵀX)`` the arm's residual variance at the pooled slope
    ``β* = Σ⁻¹ Σ_a π_a Cov_a(X, Y)`` – the pooled residual variance of the ANCOVA with the
    score. For two arms, one score and 1:1 allocation this is Schuler et al.'s
    ``σ₀²/π₀ + σ₁²/π₁ − π₀π₁(ρ₀σ₀/π₀ + ρ₁σ₁/π₁)²``; with unequal allocation the least-squares
    slope is not the variance-minimising one that formula assumes, and the variance here is
    the one ANCOVA realises. The reduction is against the unadjusted difference of means
    (``σ_j²/π_j + σ₀²/π₀``).
``"min_rho"``
    The conservative bound: ``max(min(ρ₀, ρ_j), 0)²``, the smaller arm-wise correlation
    of the outcome with the control arm's linear predictor (the score). With 1:1 allocation
    and similar arm SDs it does not exceed the ANCOVA's reduction, at the price of a larger
    trial.

One definition of the derived sizes is used throughout twinlab
(:func:`twinlab.trials.procova_saving`): the adjusted trial as precise as an unadjusted one
of ``N`` patients has ``N (1 − R²)`` patients, and saves ``N − N (1 − R²) = N R²``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from twinlab.trials.design import Design, evaluate_criteria

__all__ = ["PLAN_METHODS", "expected_outcome", "plan_variance_reduction", "variance_reduction"]

#: Ways to plan the variance reduction (see the module docstring).
PLAN_METHODS = ("ancova", "min_rho")


def variance_reduction(
    outcomes: Mapping[str, ArrayLike],
    covariates: Mapping[str, ArrayLike],
    *,
    control: str,
    ratios: Mapping[str, float] | None = None,
    noise_var: Mapping[str, float] | float = 0.0,
    method: str = "ancova",
) -> pd.DataFrame:
    """Variance reduction of an adjusted analysis against the difference of means, per arm.

    Parameters
    ----------
    outcomes
        Per arm (all arms of the trial, the control included): the outcome of each patient.
    covariates
        Per arm: the adjustment covariates of the same patients, ``(n_a, k)`` (a 1-D array
        is one covariate; ``k = 0`` plans no reduction).
    control
        The control arm.
    ratios
        Allocation weights per arm (equal when omitted).
    noise_var
        Variance of measurement noise added to each outcome (independent of everything), per
        arm or one for all.
    method
        ``"ancova"`` or ``"min_rho"`` (module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per treated arm: ``comparison``, ``n_control``, ``n_treated``,
        ``rho_control``, ``rho_treated`` (each arm's correlation of the outcome with the
        control arm's linear predictor), ``r2_control``, ``r2_treated`` (arm-wise squared
        multiple correlations), ``variance_reduction`` (by ``method``) and ``method``.

    Examples
    --------
    Effects that shrink with the score: ρ² is 0.5 under control but the trial realises less.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=20_000)
    >>> y0 = np.sqrt(0.5) * x + np.sqrt(0.5) * rng.normal(size=x.size)
    >>> plan = variance_reduction({"pbo": y0, "drug": y0 + 1 - 0.5 * x}, {"pbo": x, "drug": x},
    ...                           control="pbo")
    >>> float(plan["r2_control"].round(2)[0]), float(plan["variance_reduction"].round(2)[0])
    (0.5, 0.27)
    """
    if method not in PLAN_METHODS:
        raise ValueError(f"method must be one of {list(PLAN_METHODS)}, got {method!r}")
    arms = list(outcomes)
    if control not in arms:
        raise ValueError(f"control arm {control!r} not among the outcomes' arms {arms}")
    if len(arms) < 2:
        raise ValueError("variance reduction needs a control and at least one treated arm")
    missing = [a for a in arms if a not in covariates]
    if missing:
        raise ValueError(f"covariates missing for arm(s) {missing}")
    weights = {a: float((ratios or {}).get(a, 1.0)) for a in arms}
    share = {a: w / sum(weights.values()) for a, w in weights.items()}
    noise = {a: float(noise_var[a] if isinstance(noise_var, Mapping) else noise_var) for a in arms}
    y = {a: np.asarray(outcomes[a], dtype=float).ravel() for a in arms}
    X = {}
    for a in arms:
        x = np.asarray(covariates[a], dtype=float)
        X[a] = x.reshape(len(x), -1)
        if len(X[a]) != len(y[a]):
            raise ValueError(f"arm {a!r}: {len(y[a])} outcomes but {len(X[a])} rows of covariates")
        if len(y[a]) < 3 or not (np.isfinite(y[a]).all() and np.isfinite(X[a]).all()):
            raise ValueError(f"arm {a!r} needs at least 3 patients with finite values")
    k = X[control].shape[1]
    var = {a: float(np.var(y[a], ddof=1)) + noise[a] for a in arms}
    if k:
        centred = {a: X[a] - X[a].mean(axis=0) for a in arms}
        dof = sum(len(y[a]) - 1 for a in arms)
        sigma = sum(centred[a].T @ centred[a] for a in arms) / dof  # pooled within arms
        cov = {a: centred[a].T @ (y[a] - y[a].mean()) / (len(y[a]) - 1) for a in arms}
        inv = np.linalg.pinv(sigma)
        beta = inv @ sum(share[a] * cov[a] for a in arms)
        resid = {a: var[a] - 2 * beta @ cov[a] + beta @ sigma @ beta for a in arms}
        b0 = inv @ cov[control]
        scale = math.sqrt(max(float(b0 @ sigma @ b0), 0.0))
        r2 = {a: float(cov[a] @ inv @ cov[a]) / var[a] for a in arms}
        rho = {a: float(cov[a] @ b0) / (math.sqrt(var[a]) * scale) if scale else 0.0 for a in arms}
    else:
        resid, r2, rho = dict(var), dict.fromkeys(arms, 0.0), dict.fromkeys(arms, 0.0)
    rows = []
    pc = share[control]
    for a in arms:
        if a == control:
            continue
        if method == "ancova":
            adjusted = resid[a] / share[a] + resid[control] / pc
            reduction = 1.0 - adjusted / (var[a] / share[a] + var[control] / pc)
        else:
            reduction = max(min(rho[control], rho[a]), 0.0) ** 2
        rows.append(
            {
                "comparison": a,
                "n_control": len(y[control]),
                "n_treated": len(y[a]),
                "rho_control": rho[control],
                "rho_treated": rho[a],
                "r2_control": r2[control],
                "r2_treated": r2[a],
                "variance_reduction": float(reduction),
                "method": method,
            }
        )
    return pd.DataFrame(rows)


def expected_outcome(design: Design, latent: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each patient's observed endpoint given its latent value, and the variance the
    measurement adds: ``(latent, outcome_sd²)`` for continuous endpoints; for binary ones the
    event probability after noise ``p`` and ``p (1 − p)``."""
    value = np.asarray(latent, dtype=float)
    ep = design.endpoint
    if not ep.binary:
        return value, np.full(value.shape, design.outcome_sd**2)
    if design.outcome_sd > 0:
        above = stats.norm.cdf((value - ep.threshold) / design.outcome_sd)
        p = above if ep.direction in (">=", ">") else 1.0 - above
    else:
        p = ep.event(value)
    return p, p * (1 - p)


def plan_variance_reduction(
    design: Design,
    table: pd.DataFrame,
    *,
    prognostic: Any = None,
    method: str = "ancova",
) -> pd.DataFrame:
    """Plan a design's variance reduction from planning data with outcomes under each arm.

    Parameters
    ----------
    design
        The design: its arms, allocation, endpoint, measurement noise, ``covariates`` and,
        for ``analysis="procova"``, the prognostic score as one more covariate.
    table
        Patients the prognostic model never saw, one row per ``(patient, arm)`` with an
        ``arm`` column (historical patients under each arm, or a separately simulated
        virtual cohort under every arm), with the endpoint and covariate columns. The
        design's inclusion criteria select the patients, as in the trials: on the control
        arm's row of each ``(draw, vpid)`` when the table has a ``vpid`` column (a virtual
        patient is eligible under every arm or none), else row by row.
    prognostic
        A :class:`~twinlab.trials.PrognosticModel` (applied to each row) or the name of a
        score column; needed for PROCOVA.
    method
        ``"ancova"`` or ``"min_rho"`` (:func:`variance_reduction`).

    Returns
    -------
    pandas.DataFrame
        :func:`variance_reduction`'s rows.
    """
    if "arm" not in table.columns:
        raise KeyError("planning table needs an 'arm' column")
    if design.analysis == "procova" and prognostic is None:
        raise ValueError("planning a PROCOVA design needs prognostic= (a model or a column)")
    table = _eligible(design, table)
    outcomes, covs, noise = {}, {}, {}
    for arm in design.arm_names:
        rows = table[table["arm"] == arm]
        if rows.empty:
            raise ValueError(f"planning table has no rows for arm {arm!r}")
        mean, added = expected_outcome(design, design.endpoint.latent(rows))
        cols = [rows[c].to_numpy(dtype=float) for c in design.covariates]
        if design.analysis == "procova":
            if isinstance(prognostic, str):
                cols.append(rows[prognostic].to_numpy(dtype=float))
            else:
                cols.append(np.asarray(prognostic.predict(rows), dtype=float))
        outcomes[arm], noise[arm] = mean, float(np.mean(added))
        covs[arm] = np.column_stack(cols) if cols else np.empty((len(rows), 0))
    return variance_reduction(
        outcomes,
        covs,
        control=design.control,
        ratios={a.name: a.ratio for a in design.arms},
        noise_var=noise,
        method=method,
    )


def _eligible(design: Design, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of patients who meet the design's inclusion criteria."""
    if not design.inclusion:
        return table
    if "vpid" not in table.columns:
        return table[evaluate_criteria(table, design.inclusion)]
    keys = [k for k in ("draw", "vpid") if k in table.columns]
    control = table[table["arm"] == design.control]
    chosen = control.loc[evaluate_criteria(control, design.inclusion), keys]
    index = pd.MultiIndex.from_frame(table[keys])
    kept = table[index.isin(pd.MultiIndex.from_frame(chosen))]
    if kept.empty:
        raise ValueError("no patient of the planning table meets the inclusion criteria")
    return kept
