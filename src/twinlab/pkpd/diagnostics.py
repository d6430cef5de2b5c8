"""Diagnostics of a population fit: convergence, predictive checks, VPC, GOF, shrinkage, plots.

Simulations use the NumPy back end of the same structural model and the same population
definition (:func:`twinlab.pkpd.population.individual_params`) as the fit. Posterior
predictive draws of the *observed* subjects use their individual parameters (``<p>_i``);
"new subject" draws (VPC, standardized residuals) draw fresh etas from the posterior omegas
with the observed subjects' covariates and dosing.

Here: convergence (:func:`convergence`, :func:`convergence_table`), goodness of fit
(:func:`gof`: PRED, IPRED, IWRES, CWRES and NPDE, BLQ records left out; :func:`plot_gof`,
:func:`plot_gof_vs_time`), individual fits on a dense grid (:func:`individual_curves`,
:func:`plot_individual`), ETAs and covariates (:func:`eta_table`,
:func:`plot_eta_covariates`), shrinkage and the parameter table with units, RSE% and
shrinkage (:func:`parameter_table`). The VPC and pcVPC are in :mod:`twinlab.pkpd.vpc`,
PSIS-LOO / WAIC and ArviZ's predictive plots in :mod:`twinlab.pkpd.model_comparison`, units
in :mod:`twinlab.pkpd.fit_units`. Plot functions return matplotlib figures that pyplot does
not track (:func:`twinlab.figures.new_figure`): a notebook shows each once.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.fit_units import FitUnits
from twinlab.pkpd.models import predict
from twinlab.pkpd.population import _residual_sd, individual_params
from twinlab.pkpd.vpc import plot_vpc, time_after_dose, vpc

__all__ = [
    "convergence",
    "convergence_table",
    "eta_table",
    "gof",
    "individual_curves",
    "parameter_table",
    "plot_eta_covariates",
    "plot_gof",
    "plot_gof_vs_time",
    "plot_individual",
    "plot_vpc",
    "posterior_predictive",
    "shrinkage",
    "time_after_dose",
    "vpc",
]

_DOSE = ("dose_time", "dose_amt", "dose_rate", "dose_duration", "dose_cmt")


def convergence_table(result: FitResult) -> pd.DataFrame:
    """R-hat and bulk/tail ESS of every element of every free variable (ArviZ).

    Parameters
    ----------
    result : FitResult
        The fit.

    Returns
    -------
    pandas.DataFrame
        One row per scalar element: ``variable``, ``element`` (e.g. ``z_cl[subject=7]``,
        the variable name for a scalar), ``kind`` (``"population"``: typical values,
        omegas, effects, residual errors; ``"individual"``: the per-subject effects, ``z_*``
        or, with centred BSV, ``log_<p>_i``), ``r_hat``, ``ess_bulk`` and ``ess_tail``.
        R-hat is NaN with a single chain.

    Examples
    --------
    >>> table = convergence_table(result)  # doctest: +SKIP
    >>> table.sort_values("r_hat").tail(1)  # doctest: +SKIP
    """
    import arviz as az

    post = result.idata.posterior
    free = [v for v in post.data_vars if _free(str(v))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(post[free])
        bulk = az.ess(post[free], method="bulk")
        tail = az.ess(post[free], method="tail")
    frames = []
    for v in free:
        r = rhat[v]
        labels = [str(v)]
        if r.ndim:
            grid = np.indices(r.shape).reshape(r.ndim, -1).T
            labels = []
            for idx in grid:
                parts = []
                for dim, i in zip(r.dims, idx, strict=True):
                    coord = r[dim].values[i] if dim in r.coords else i
                    parts.append(f"{dim}={_label(coord)}")
                labels.append(f"{v}[{', '.join(parts)}]")
        frames.append(
            pd.DataFrame(
                {
                    "variable": str(v),
                    "element": labels,
                    "kind": "individual"
                    if "subject" in r.dims or str(v).startswith("z")
                    else "population",
                    "r_hat": np.asarray(r.values, dtype=float).ravel(),
                    "ess_bulk": np.asarray(bulk[v].values, dtype=float).ravel(),
                    "ess_tail": np.asarray(tail[v].values, dtype=float).ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _label(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)


def convergence(result: FitResult, *, max_rhat: float = 1.01, min_ess: float = 400) -> dict:
    """R-hat, bulk/tail ESS and divergences over every free variable (ArviZ).

    Returns
    -------
    dict
        ``max_rhat`` (over every free variable), ``max_rhat_population`` (typical values,
        omegas, effects, residual errors), ``max_rhat_individual`` (the standardized
        individual effects), ``min_ess_bulk``, ``min_ess_tail``, ``divergences`` and ``ok``
        (R-hat at most ``max_rhat``, ESS at least ``min_ess``, no divergences). The
        element behind each is in :func:`convergence_table`.
    """
    table = convergence_table(result)
    population = table[table["kind"] == "population"]
    individual = table[table["kind"] == "individual"]
    out = {
        "max_rhat": float(table["r_hat"].max()),
        # typical values, variabilities, effects, residual errors
        "max_rhat_population": float(population["r_hat"].max()),
        # the standardized individual effects: hundreds of them, whose maximum R-hat
        # exceeds a population bound by chance at moderate draws
        "max_rhat_individual": float(individual["r_hat"].max())
        if len(individual)
        else float("nan"),
        "min_ess_bulk": float(table["ess_bulk"].min()),
        "min_ess_tail": float(table["ess_tail"].min()),
        "divergences": int(result.idata.sample_stats["diverging"].sum()),
    }
    out["ok"] = bool(
        out["max_rhat"] <= max_rhat and out["min_ess_bulk"] >= min_ess and out["divergences"] == 0
    )
    return out


def _free(name: str) -> bool:
    return name.startswith(("log_", "omega_", "z", "beta_", "sigma_")) and not name.endswith("__")


def _draws(result: FitResult, n_draws: int | None, rng: np.random.Generator) -> dict:
    """Posterior draws as ``{name: array (S, ...)}`` (a random subset of ``n_draws``)."""
    post = result.idata.posterior
    n_total = post.sizes["chain"] * post.sizes["draw"]
    pick = (
        np.arange(n_total)
        if n_draws is None or n_draws >= n_total
        else np.sort(rng.choice(n_total, n_draws, replace=False))
    )
    out = {}
    for name, da in post.data_vars.items():
        v = np.asarray(da.values)
        out[str(name)] = v.reshape(n_total, *v.shape[2:])[pick]
    return out


def _values(result: FitResult, d: dict) -> dict:
    """Typical values and covariate effects, shaped ``(S, 1)`` to broadcast over subjects."""
    out = {}
    for p in result.spec.parameters:
        if not p.fixed:
            out[p.name] = d[p.name][:, None]
    for k, v in d.items():
        if k.startswith("beta_") and v.ndim == 1:
            out[k] = v[:, None]
    return out


def _new_etas(result: FitResult, d: dict, rng: np.random.Generator) -> dict:
    spec = result.spec
    n_s = next(iter(d.values())).shape[0]
    n = result.arrays.n_subjects
    random = spec.random
    if "chol_eta_stds" in d:
        stds, corr = d["chol_eta_stds"], d["chol_eta_corr"]
        cov = stds[:, :, None] * corr * stds[:, None, :]
        chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(random)))
        e = np.einsum("sij,snj->sni", chol, rng.standard_normal((n_s, n, len(random))))
        return {p: e[:, :, k] for k, p in enumerate(random)}
    return {p: d[f"omega_{p}"][:, None] * rng.standard_normal((n_s, n)) for p in random}


def _replicated(arrays: Any, n_rep: int) -> SimpleNamespace:
    """``n_rep`` copies of the study stacked as ``n_rep * n_subjects`` subjects."""
    n = arrays.n_subjects
    offs = (np.arange(n_rep) * n)[:, None]
    return SimpleNamespace(
        n_subjects=n * n_rep,
        obs_subject=(offs + np.asarray(arrays.obs_subject)[None]).ravel(),
        obs_time=np.tile(np.asarray(arrays.obs_time, dtype=float), n_rep),
        **{f: np.tile(np.asarray(getattr(arrays, f)), (n_rep, 1)) for f in _DOSE},
    )


def _simulate_draws(result: FitResult, theta: dict, n_rep: int) -> dict:
    sim = predict(
        result.spec.structural,
        {k: v.ravel() for k, v in theta.items()},
        _replicated(result.arrays, n_rep),
    )
    return {k: v.reshape(n_rep, -1) for k, v in sim.items()}


def posterior_predictive(
    result: FitResult,
    *,
    n_draws: int = 200,
    new_subjects: bool = False,
    noise: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Simulated observations, shape ``(n_draws, n_obs)``, in the order of the observations.

    Parameters
    ----------
    result : FitResult
        The fit.
    n_draws : int
        Posterior draws used (one simulated data set each).
    new_subjects : bool
        Draw new etas (a new population with the same covariates and doses) instead of using
        the fitted subjects' individual parameters.
    noise : bool
        Add residual error (else return the predictions).
    seed : int
        Seed of the draw selection, the etas and the noise.
    """
    rng = np.random.default_rng(seed)
    d = _draws(result, n_draws, rng)
    spec = result.spec
    if new_subjects:
        theta = individual_params(
            np, spec, _values(result, d), result.arrays.covariates, _new_etas(result, d, rng)
        )
    else:
        theta = {p.name: d[f"{p.name}_i"] for p in spec.parameters}
    n_rep = next(iter(theta.values())).shape[0]
    theta = {k: np.broadcast_to(v, (n_rep, result.arrays.n_subjects)) for k, v in theta.items()}
    pred = _simulate_draws(result, theta, n_rep)
    out = np.full((n_rep, result.arrays.n_obs), np.nan)
    dvid = np.asarray(result.arrays.obs_dvid)
    for err in spec.errors:
        sel = dvid == err.dvid
        mu = pred[err.endpoint][:, sel]
        if noise:
            sig = {t: d[t][:, None] for t in err.terms}
            mu = mu + _residual_sd(np, err, sig, mu) * rng.standard_normal(mu.shape)
        out[:, sel] = mu
    return out


def _typical_subjects(result: FitResult) -> dict[str, np.ndarray]:
    """Each subject's typical parameters (etas 0, covariates applied) at the posterior mean."""
    post = result.idata.posterior
    spec = result.spec
    vals = {
        k: float(post[k].mean())
        for k in post.data_vars
        if k in {p.name for p in spec.parameters}
        or (str(k).startswith("beta_") and post[k].ndim == 2)
    }
    theta = individual_params(np, spec, vals, result.arrays.covariates)
    return {k: np.broadcast_to(v, (result.arrays.n_subjects,)) for k, v in theta.items()}


def _point(result: FitResult, individual: bool) -> np.ndarray:
    """PRED (typical subject at the posterior mean) or IPRED (posterior mean parameters)."""
    post = result.idata.posterior
    spec = result.spec
    if individual:
        theta = {
            p.name: post[f"{p.name}_i"].mean(("chain", "draw")).values for p in spec.parameters
        }
    else:
        theta = _typical_subjects(result)
    pred = predict(spec.structural, theta, result.arrays)
    out = np.full(result.arrays.n_obs, np.nan)
    dvid = np.asarray(result.arrays.obs_dvid)
    for err in spec.errors:
        sel = dvid == err.dvid
        out[sel] = pred[err.endpoint][sel]
    return out


def _npde(dv: np.ndarray, sims: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """Normalized prediction distribution errors (Brendel et al. 2006; Comets et al. 2008).

    Per subject, observations and simulations are decorrelated with the inverse Cholesky
    factor of the simulations' covariance, the prediction discrepancy is the share of
    decorrelated simulations below the decorrelated observation, and NPDE its normal
    quantile (a share of 0 or 1 is moved half a simulation inside).
    """
    from scipy.stats import norm

    n_sim = sims.shape[0]
    out = np.full(dv.shape, np.nan)
    for i in np.unique(subject):
        m = subject == i
        y, s = dv[m], sims[:, m]
        mean = s.mean(axis=0)
        cov = np.atleast_2d(np.cov(s, rowvar=False))
        try:
            chol = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) * np.eye(len(y)))
        except np.linalg.LinAlgError:
            chol = np.diag(np.sqrt(np.diag(cov)))
        y_dec = np.linalg.solve(chol, y - mean)
        s_dec = np.linalg.solve(chol, (s - mean).T).T
        pde = (s_dec < y_dec).mean(axis=0)
        pde = np.clip(pde, 0.5 / n_sim, 1 - 0.5 / n_sim)
        out[m] = norm.ppf(pde)
    return out


def gof(result: FitResult, *, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """Goodness-of-fit table, one row per observation.

    Columns ``ID TIME TAD DVID DV CENS PRED IPRED IWRES CWRES NPDE``: ``PRED`` is the
    typical subject's prediction (etas 0) at the posterior mean, ``IPRED`` the prediction
    at the posterior mean individual parameters, ``IWRES = (DV - IPRED) / sd(IPRED)``,
    ``CWRES`` a CWRES-like standardized population residual ``(DV - E[y]) / SD[y]`` over
    new-subject posterior predictive simulations and ``NPDE`` the normalized prediction
    distribution errors over the same simulations (:func:`_npde`). BLQ records (``CENS``)
    carry the LLOQ, not a measurement: their residuals are NaN, and NPDE is computed over
    the quantified records only. ``table.attrs["units"]`` holds the units by column.
    """
    a = result.arrays
    post = result.idata.posterior
    ipred = _point(result, True)
    sims = posterior_predictive(result, n_draws=n_draws, new_subjects=True, seed=seed)
    iwres = np.full(a.n_obs, np.nan)
    dvid = np.asarray(a.obs_dvid)
    cens = np.asarray(a.obs_cens, dtype=bool)
    for err in result.spec.errors:
        sel = dvid == err.dvid
        sig = {t: float(post[t].mean()) for t in err.terms}
        iwres[sel] = (a.obs_dv[sel] - ipred[sel]) / _residual_sd(np, err, sig, ipred[sel])
    cwres = (a.obs_dv - sims.mean(0)) / sims.std(0, ddof=1)
    npde = np.full(a.n_obs, np.nan)
    subject = np.asarray(a.obs_subject)
    for err in result.spec.errors:
        q = (dvid == err.dvid) & ~cens
        npde[q] = _npde(np.asarray(a.obs_dv, dtype=float)[q], sims[:, q], subject[q])
    table = pd.DataFrame(
        {
            "ID": np.asarray(a.subject_ids)[a.obs_subject],
            "TIME": a.obs_time,
            "TAD": time_after_dose(a),
            "DVID": dvid,
            "DV": a.obs_dv,
            "CENS": cens,
            "PRED": _point(result, False),
            "IPRED": ipred,
            "IWRES": np.where(cens, np.nan, iwres),
            "CWRES": np.where(cens, np.nan, cwres),
            "NPDE": npde,
        }
    )
    return table


def shrinkage(result: FitResult) -> dict[str, float]:
    """Eta shrinkage per parameter with BSV: ``1 - sd_i(E[eta_i]) / E[omega]``."""
    post = result.idata.posterior
    d = _draws(result, None, np.random.default_rng(0))
    spec = result.spec
    typical = individual_params(np, spec, _values(result, d), result.arrays.covariates)
    out = {}
    for k, name in enumerate(spec.random):
        eta = np.log(d[f"{name}_i"]) - np.log(typical[name])
        if f"omega_{name}" in post:
            omega = float(post[f"omega_{name}"].mean())
        else:
            omega = float(post["chol_eta_stds"].values[..., k].mean())
        out[name] = float(1.0 - eta.mean(0).std(ddof=1) / omega)
    return out


# ----------------------------------------------------------------------------- plots


def _figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Any, np.ndarray]:
    """A matplotlib figure not registered with pyplot: returned, never shown twice."""
    from twinlab.figures import new_figure

    fig = new_figure(size)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _residual_panel(ax: Any, x: pd.Series, y: pd.Series, xlabel: str, ylabel: str) -> None:
    ax.scatter(x, y, s=6, alpha=0.5)
    for level, style in ((0, "-"), (-1.96, ":"), (1.96, ":")):
        ax.axhline(level, color="k", lw=1, ls=style)
    ax.set(xlabel=xlabel, ylabel=ylabel)


def plot_gof(table: pd.DataFrame, units: FitUnits | None = None) -> Any:
    """Goodness-of-fit panels over the quantified records (BLQ records left out):
    observed against population and individual predictions, |IWRES| against the
    individual prediction, the NPDE distribution, and CWRES and NPDE against time after dose
    and against the population prediction."""
    units = units or FitUnits()
    dvid = int(table["DVID"].iloc[0]) if len(table) else 1
    conc = units.observation(dvid)
    q = table[~table["CENS"].astype(bool)]
    n_blq = int(table["CENS"].sum())
    fig, axes = _figure(2, 4, (14, 6.5))
    for ax, x, what in zip(
        axes[0, :2],
        ("PRED", "IPRED"),
        ("population prediction", "individual prediction"),
        strict=True,
    ):
        ax.scatter(q[x], q["DV"], s=6, alpha=0.5)
        lim = [0, float(np.nanmax([q[x].max(), q["DV"].max()]))]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set(xlabel=FitUnits.label(what, conc), ylabel=FitUnits.label("observed", conc))
    ax = axes[0, 2]
    ax.scatter(q["IPRED"], q["IWRES"].abs(), s=6, alpha=0.5)
    ax.set(xlabel=FitUnits.label("individual prediction", conc), ylabel="|IWRES|")
    ax = axes[0, 3]
    ax.hist(q["NPDE"].dropna(), bins=30, density=True, alpha=0.6)
    grid = np.linspace(-4, 4, 200)
    ax.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k-", lw=1, label="N(0, 1)")
    ax.set(xlabel="NPDE", ylabel="density")
    ax.legend(fontsize=7, frameon=False)
    tad = FitUnits.label("time after dose", units.time)
    pred = FitUnits.label("population prediction", conc)
    for ax, (y, x, xlabel) in zip(
        axes[1],
        (("CWRES", "TAD", tad), ("CWRES", "PRED", pred), ("NPDE", "TAD", tad),
         ("NPDE", "PRED", pred)),
        strict=True,
    ):  # fmt: skip
        _residual_panel(ax, q[x], q[y], xlabel, y)
    fig.suptitle(
        f"Goodness of fit: {len(q)} quantified records ({n_blq} BLQ records left out)",
        fontsize=9,
    )
    return fig


def plot_gof_vs_time(table: pd.DataFrame, units: FitUnits | None = None) -> Any:
    """CWRES and NPDE against time since the first dose (quantified records)."""
    units = units or FitUnits()
    q = table[~table["CENS"].astype(bool)]
    fig, axes = _figure(1, 2, (9, 3.2))
    label = FitUnits.label("time since first dose", units.time)
    for ax, y in zip(axes[0], ("CWRES", "NPDE"), strict=True):
        _residual_panel(ax, q["TIME"], q[y], label, y)
    return fig


def _dense_grid(result: FitResult, subjects: np.ndarray, n_points: int) -> SimpleNamespace:
    """Per chosen subject, ``n_points`` times from 0 to the last sample or dose, plus every
    sample and dose time (so peaks and troughs are resolved)."""
    a = result.arrays
    obs_subject, obs_time = [], []
    for i in subjects:
        t_obs = np.asarray(a.obs_time, dtype=float)[np.asarray(a.obs_subject) == i]
        doses = np.asarray(a.dose_time, dtype=float)[i][np.asarray(a.dose_amt)[i] > 0]
        end = max(t_obs.max(initial=0.0), doses.max(initial=0.0) + 24.0)
        start = min(0.0, doses.min(initial=0.0))
        grid = np.unique(np.concatenate([np.linspace(start, end, n_points), t_obs, doses]))
        obs_subject.append(np.full(len(grid), i))
        obs_time.append(grid)
    return SimpleNamespace(
        n_subjects=a.n_subjects,
        obs_subject=np.concatenate(obs_subject),
        obs_time=np.concatenate(obs_time),
        **{f: np.asarray(getattr(a, f)) for f in _DOSE},
    )


def individual_curves(
    result: FitResult,
    subjects: np.ndarray | list[int],
    *,
    n_points: int = 400,
    n_draws: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Individual predictions on a dense time grid: median and 90 % band over posterior
    draws of each subject's parameters, and the population prediction (typical subject
    with the subject's covariates, etas 0, posterior mean).

    Returns
    -------
    pandas.DataFrame
        ``ID TIME IPRED_lo IPRED IPRED_hi PRED`` for the first endpoint.
    """
    rng = np.random.default_rng(seed)
    subjects = np.asarray(subjects, dtype=int)
    grid = _dense_grid(result, subjects, n_points)
    spec = result.spec
    endpoint = spec.errors[0].endpoint
    d = _draws(result, n_draws, rng)
    theta = {p.name: d[f"{p.name}_i"] for p in spec.parameters}
    n_rep = next(iter(theta.values())).shape[0]
    reps = SimpleNamespace(
        n_subjects=grid.n_subjects * n_rep,
        obs_subject=((np.arange(n_rep) * grid.n_subjects)[:, None] + grid.obs_subject).ravel(),
        obs_time=np.tile(grid.obs_time, n_rep),
        **{f: np.tile(getattr(grid, f), (n_rep, 1)) for f in _DOSE},
    )
    pred = predict(spec.structural, {k: v.ravel() for k, v in theta.items()}, reps)[endpoint]
    pred = pred.reshape(n_rep, -1)
    lo, med, hi = np.nanquantile(pred, [0.05, 0.5, 0.95], axis=0)
    ppred = predict(spec.structural, _typical_subjects(result), grid)[endpoint]
    return pd.DataFrame(
        {
            "ID": np.asarray(result.arrays.subject_ids)[grid.obs_subject],
            "TIME": grid.obs_time,
            "IPRED_lo": lo,
            "IPRED": med,
            "IPRED_hi": hi,
            "PRED": ppred,
        }
    )


def plot_individual(
    result: FitResult,
    *,
    subjects: int | list[int] = 12,
    n_draws: int = 100,
    n_points: int = 400,
    units: FitUnits | None = None,
    log_y: bool = False,
    seed: int = 0,
) -> Any:
    """Individual fits on a dense time grid: the individual prediction (median and 90 %
    band over posterior draws), the population prediction, the observations (points) and
    BLQ samples (open triangles at the LLOQ, dotted line: never drawn as measurements).

    ``subjects``: how many (the first ones) or which (0-based indices).
    """
    from matplotlib.lines import Line2D

    units = units or FitUnits()
    a = result.arrays
    chosen = (
        np.arange(min(int(subjects), a.n_subjects))
        if np.ndim(subjects) == 0
        else np.asarray(subjects, dtype=int)
    )
    curves = individual_curves(result, chosen, n_points=n_points, n_draws=n_draws, seed=seed)
    n = len(chosen)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = _figure(rows, cols, (3.2 * cols + 1.8, 2.6 * rows))
    dvid = result.spec.errors[0].dvid
    conc = units.observation(dvid)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        i = chosen[k]
        sid = a.subject_ids[i]
        c = curves[curves["ID"] == sid]
        ax.fill_between(c["TIME"], c["IPRED_lo"], c["IPRED_hi"], alpha=0.3, lw=0)
        ax.plot(c["TIME"], c["IPRED"], lw=1)
        ax.plot(c["TIME"], c["PRED"], lw=1, ls="--", color="grey")
        m = (np.asarray(a.obs_subject) == i) & (np.asarray(a.obs_dvid) == dvid)
        cens = np.asarray(a.obs_cens, dtype=bool)
        t, dv = np.asarray(a.obs_time)[m], np.asarray(a.obs_dv)[m]
        ax.scatter(t[~cens[m]], dv[~cens[m]], s=10, color="k", zorder=3)
        if cens[m].any():
            lloq = np.asarray(a.obs_lloq, dtype=float)[m][cens[m]]
            ax.scatter(t[cens[m]], lloq, s=18, marker="v", facecolors="none",
                       edgecolors="tab:red", zorder=3)  # fmt: skip
            ax.axhline(float(np.nanmin(lloq)), color="tab:red", ls=":", lw=0.8)
        title = f"ID {sid}" + (" (all samples BLQ)" if m.any() and cens[m].all() else "")
        ax.set_title(title, fontsize=8)
        if log_y:
            ax.set_yscale("log")
        if k % cols == 0:
            ax.set_ylabel(FitUnits.label("concentration", conc))
        ax.set_xlabel(FitUnits.label("time since first dose", units.time))
    handles = [
        Line2D([], [], color="tab:blue", label="individual prediction (median, 90 % band)"),
        Line2D([], [], color="grey", ls="--", label="population prediction"),
        Line2D([], [], color="k", marker="o", ls="", ms=3, label="observed"),
        Line2D([], [], color="tab:red", marker="v", ls="", mfc="none", label="BLQ (< LLOQ)"),
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False)
    return fig


def eta_table(result: FitResult) -> pd.DataFrame:
    """Posterior mean individual effects ``ETA_<p> = log(<p>_i) - log(typical <p>_i)``
    with each subject's covariates, one row per subject."""
    d = _draws(result, None, np.random.default_rng(0))
    spec = result.spec
    typical = individual_params(np, spec, _values(result, d), result.arrays.covariates)
    out = {"ID": np.asarray(result.arrays.subject_ids)}
    for name in spec.random:
        out[f"ETA_{name}"] = (np.log(d[f"{name}_i"]) - np.log(typical[name])).mean(axis=0)
    for k, v in result.arrays.covariates.items():
        out[k] = np.asarray(v, dtype=float)
    return pd.DataFrame(out)


def plot_eta_covariates(table: pd.DataFrame, units: FitUnits | None = None) -> Any:
    """ETA against every covariate: scatter for continuous covariates, boxes by level for
    coded categorical ones (whole numbers, at most ten levels). A trend left here is a
    covariate effect the model misses."""
    units = units or FitUnits()
    etas = [c for c in table.columns if c.startswith("ETA_")]
    covs = [c for c in table.columns if c != "ID" and c not in etas]
    fig, axes = _figure(
        max(len(etas), 1), max(len(covs), 1), (3 * max(len(covs), 1), 2.4 * max(len(etas), 1))
    )
    for r, eta in enumerate(etas):
        for c, cov in enumerate(covs):
            ax = axes[r, c]
            x = table[cov].to_numpy(dtype=float)
            levels = np.unique(x[np.isfinite(x)])
            if len(levels) <= 10 and np.all(levels == np.round(levels)):  # coded categories
                ax.boxplot([table.loc[x == v, eta] for v in levels])
                ax.set_xticks(np.arange(1, len(levels) + 1), [f"{v:g}" for v in levels])
            else:
                ax.scatter(x, table[eta], s=8, alpha=0.6)
            ax.axhline(0, color="k", lw=0.8)
            if r == len(etas) - 1:
                ax.set_xlabel(FitUnits.label(cov, units.covariates.get(cov)))
            if c == 0:
                ax.set_ylabel(eta)
    return fig


def parameter_table(result: FitResult, units: FitUnits | None = None) -> pd.DataFrame:
    """Every estimated quantity with its unit, relative standard error (RSE% = 100 SD /
    |mean|) and, for parameters with between-subject variability, its CV% and eta
    shrinkage (:func:`shrinkage`), beside :meth:`FitResult.parameter_table`'s mean, SD,
    94 % HDI, R-hat and bulk ESS."""
    units = units or FitUnits()
    table = result.parameter_table().copy()
    dvid = result.spec.errors[0].dvid
    structural = {p.name for p in result.spec.parameters}
    unit = []
    for name in table.index:
        if name in structural:
            unit.append(units.parameter(str(name), dvid))
        elif str(name).startswith("cv_"):
            unit.append("%")
        elif str(name).startswith("sigma_add"):
            unit.append(units.observation(dvid))
        else:
            unit.append("")
    table.insert(2, "unit", unit)
    table.insert(
        table.columns.get_loc("sd") + 1, "rse_pct", 100 * table["sd"] / table["mean"].abs()
    )
    shrink = shrinkage(result)
    table["shrinkage_pct"] = [
        100 * shrink[str(n)[3:]] if str(n).startswith("cv_") and str(n)[3:] in shrink else np.nan
        for n in table.index
    ]
    return table
