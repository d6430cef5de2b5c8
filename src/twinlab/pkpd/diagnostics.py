"""Diagnostics of a population fit: convergence, predictive checks, VPC, GOF, shrinkage, plots.

Simulations use the NumPy back end of the same structural model and the same population
definition (:func:`twinlab.pkpd.population.individual_params`) as the fit. Posterior
predictive draws of the *observed* subjects use their individual parameters (``<p>_i``);
"new subject" draws (VPC, standardized residuals) draw fresh etas from the posterior omegas
with the observed subjects' covariates and dosing. Plot functions return matplotlib figures.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.models import simulate
from twinlab.pkpd.population import _residual_sd, individual_params

__all__ = [
    "convergence",
    "convergence_table",
    "gof",
    "plot_gof",
    "plot_individual",
    "plot_vpc",
    "posterior_predictive",
    "shrinkage",
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
    sim = simulate(
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


def _point(result: FitResult, individual: bool) -> np.ndarray:
    """PRED (typical subject at the posterior mean) or IPRED (posterior mean parameters)."""
    post = result.idata.posterior
    spec = result.spec
    if individual:
        theta = {
            p.name: post[f"{p.name}_i"].mean(("chain", "draw")).values for p in spec.parameters
        }
    else:
        vals = {
            k: float(post[k].mean())
            for k in post.data_vars
            if k in {p.name for p in spec.parameters}
            or (str(k).startswith("beta_") and post[k].ndim == 2)
        }
        theta = individual_params(np, spec, vals, result.arrays.covariates)
        theta = {k: np.broadcast_to(v, (result.arrays.n_subjects,)) for k, v in theta.items()}
    pred = simulate(spec.structural, theta, result.arrays)
    out = np.full(result.arrays.n_obs, np.nan)
    dvid = np.asarray(result.arrays.obs_dvid)
    for err in spec.errors:
        sel = dvid == err.dvid
        out[sel] = pred[err.endpoint][sel]
    return out


def gof(result: FitResult, *, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """Goodness-of-fit table, one row per observation.

    Columns ``ID TIME DVID DV CENS PRED IPRED IWRES CWRES``: ``PRED`` is the typical subject's
    prediction (etas 0) at the posterior mean, ``IPRED`` the prediction at the posterior mean
    individual parameters, ``IWRES = (DV - IPRED) / sd(IPRED)`` and ``CWRES`` a CWRES-like
    standardized population residual ``(DV - E[y]) / SD[y]`` over new-subject posterior
    predictive simulations.
    """
    a = result.arrays
    post = result.idata.posterior
    ipred = _point(result, True)
    sims = posterior_predictive(result, n_draws=n_draws, new_subjects=True, seed=seed)
    iwres = np.full(a.n_obs, np.nan)
    dvid = np.asarray(a.obs_dvid)
    for err in result.spec.errors:
        sel = dvid == err.dvid
        sig = {t: float(post[t].mean()) for t in err.terms}
        iwres[sel] = (a.obs_dv[sel] - ipred[sel]) / _residual_sd(np, err, sig, ipred[sel])
    return pd.DataFrame(
        {
            "ID": np.asarray(a.subject_ids)[a.obs_subject],
            "TIME": a.obs_time,
            "DVID": dvid,
            "DV": a.obs_dv,
            "CENS": np.asarray(a.obs_cens, dtype=bool),
            "PRED": _point(result, False),
            "IPRED": ipred,
            "IWRES": iwres,
            "CWRES": (a.obs_dv - sims.mean(0)) / sims.std(0, ddof=1),
        }
    )


def vpc(
    result: FitResult,
    *,
    dvid: int | None = None,
    bins: int | np.ndarray = 8,
    n_sim: int = 200,
    probs: tuple[float, float, float] = (0.05, 0.5, 0.95),
    ci: float = 0.95,
    pred_corrected: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Visual predictive check: binned observed percentiles against simulated ones.

    Parameters
    ----------
    result : FitResult
        The fit.
    dvid : int, optional
        Endpoint (default: the first residual error's).
    bins : int or array
        Number of time bins (quantiles of the observation times) or the bin edges.
    n_sim : int
        Simulated studies (new subjects, one posterior draw each).
    probs : tuple of float
        The percentiles compared.
    ci : float
        Width of the interval of each simulated percentile across studies.
    pred_corrected : bool
        Prediction-corrected VPC: DV and simulations scaled by ``median(PRED in bin) / PRED``.
    seed : int
        Seed.

    Returns
    -------
    dict
        ``table`` (DataFrame, one row per bin: ``bin t_low t_high t_mid n``, and per
        percentile ``obs_pXX sim_pXX_lo sim_pXX_med sim_pXX_hi``), ``coverage`` (fraction of
        the observed bin percentiles inside their simulated interval) and ``pi_coverage``
        (fraction of observations inside the simulated ``probs[0]``–``probs[-1]`` interval of
        their own time point, expected ``probs[-1] - probs[0]``).
    """
    a = result.arrays
    dvid = result.spec.errors[0].dvid if dvid is None else dvid
    # censored (BLQ) samples carry the LLOQ, not a measurement: they are left out of the
    # percentiles and the coverage (their share is the fit's M3 likelihood's business)
    sel = (np.asarray(a.obs_dvid) == dvid) & ~np.asarray(a.obs_cens, dtype=bool)
    t = np.asarray(a.obs_time)[sel]
    dv = np.asarray(a.obs_dv, dtype=float)[sel].copy()
    sims = posterior_predictive(result, n_draws=n_sim, new_subjects=True, seed=seed)[:, sel]
    edges = (
        np.unique(np.quantile(t, np.linspace(0, 1, int(bins) + 1)))
        if np.ndim(bins) == 0
        else np.asarray(bins, dtype=float)
    )
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    lo_pi, hi_pi = np.quantile(sims, [probs[0], probs[-1]], axis=0)
    pi_coverage = float(np.mean((dv >= lo_pi) & (dv <= hi_pi)))
    if pred_corrected:
        pred = _point(result, False)[sel]
        for b in np.unique(which):
            m = which == b
            scale = np.median(pred[m]) / np.where(pred[m] > 0, pred[m], np.nan)
            dv[m] = dv[m] * scale
            sims[:, m] = sims[:, m] * scale
    rows = []
    inside = []
    half = (1 - ci) / 2
    for b in np.unique(which):
        m = which == b
        row = {
            "bin": int(b),
            "t_low": float(edges[b]),
            "t_high": float(edges[b + 1]),
            "t_mid": float(np.median(t[m])),
            "n": int(m.sum()),
        }
        for p in probs:
            tag = f"p{round(p * 100):02d}"
            obs_p = float(np.nanquantile(dv[m], p))
            sim_p = np.nanquantile(sims[:, m], p, axis=1)
            lo, med, hi = np.nanquantile(sim_p, [half, 0.5, 1 - half])
            row.update(
                {
                    f"obs_{tag}": obs_p,
                    f"sim_{tag}_lo": lo,
                    f"sim_{tag}_med": med,
                    f"sim_{tag}_hi": hi,
                }
            )
            inside.append(lo <= obs_p <= hi)
        rows.append(row)
    return {
        "table": pd.DataFrame(rows),
        "coverage": float(np.mean(inside)),
        "pi_coverage": pi_coverage,
        "pred_corrected": pred_corrected,
    }


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


def plot_vpc(check: dict[str, Any], *, ax: Any = None, log_y: bool = False) -> Any:
    """Plot a :func:`vpc` result: observed percentiles over simulated intervals."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    fig = ax.figure
    tab = check["table"]
    tags = sorted({c[4:7] for c in tab.columns if c.startswith("obs_p")})
    for tag in tags:
        color = "tab:red" if tag == "p50" else "tab:blue"
        ax.fill_between(
            tab["t_mid"], tab[f"sim_{tag}_lo"], tab[f"sim_{tag}_hi"], alpha=0.25, color=color, lw=0
        )
        ax.plot(
            tab["t_mid"],
            tab[f"obs_{tag}"],
            color=color,
            marker="o",
            ms=3,
            ls="-" if tag == "p50" else "--",
        )
    ax.set_xlabel("time (h)")
    ax.set_ylabel("prediction-corrected DV" if check.get("pred_corrected") else "DV")
    ax.set_title(f"VPC (coverage {check['coverage']:.0%})")
    if log_y:
        ax.set_yscale("log")
    return fig


def plot_gof(table: pd.DataFrame) -> Any:
    """Four GOF panels: DV vs PRED, DV vs IPRED, CWRES vs time and vs PRED."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(8, 7))
    for ax, x in zip(axes[0], ("PRED", "IPRED"), strict=True):
        ax.scatter(table[x], table["DV"], s=8, alpha=0.6)
        lim = [0, float(np.nanmax([table[x].max(), table["DV"].max()]))]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set(xlabel=x, ylabel="DV")
    for ax, x in zip(axes[1], ("TIME", "PRED"), strict=True):
        ax.scatter(table[x], table["CWRES"], s=8, alpha=0.6)
        ax.axhline(0, color="k", lw=1)
        ax.set(xlabel=x, ylabel="CWRES")
    fig.tight_layout()
    return fig


def plot_individual(
    result: FitResult, *, subjects: int = 12, n_draws: int = 100, seed: int = 0
) -> Any:
    """Observed DV with the individual posterior predictions (median and 90 % band)."""
    import matplotlib.pyplot as plt

    a = result.arrays
    preds = posterior_predictive(result, n_draws=n_draws, noise=False, seed=seed)
    lo, med, hi = np.nanquantile(preds, [0.05, 0.5, 0.95], axis=0)
    n = min(subjects, a.n_subjects)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.set_visible(False)
            continue
        m = np.asarray(a.obs_subject) == i
        order = np.argsort(a.obs_time[m])
        t = a.obs_time[m][order]
        ax.fill_between(t, lo[m][order], hi[m][order], alpha=0.3, lw=0)
        ax.plot(t, med[m][order], lw=1)
        ax.scatter(t, a.obs_dv[m][order], s=8, color="k")
        ax.set_title(f"ID {a.subject_ids[i]}", fontsize=8)
    fig.tight_layout()
    return fig
