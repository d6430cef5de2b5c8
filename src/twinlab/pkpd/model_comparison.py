"""Model comparison (PSIS-LOO, WAIC) and posterior predictive checks through ArviZ.

The fit stores the posterior only; the pointwise log-likelihood is recomputed here with the
NumPy back end of the same model and the same likelihood as the fit (normal residual error,
Beal's M3 for BLQ samples: ``log P(y < LLOQ)``), over the subjects' individual parameters.
:func:`inference_data` returns an :class:`arviz.InferenceData` with the groups ArviZ's
``loo``, ``waic``, ``compare``, ``plot_ppc`` and ``plot_loo_pit`` need; every variable
carries a ``units`` attribute.

Examples
--------
>>> table = compare({"1-cmt": fit_a, "2-cmt": fit_b})  # doctest: +SKIP
>>> table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.fit_units import FitUnits

__all__ = ["compare", "inference_data", "loo", "plot_ppc", "waic"]

#: the ``units`` attribute of log-likelihoods (a log density, or log P(y < LLOQ) when BLQ)
LOG_DENSITY = "log density (nat)"
#: what :func:`loo`, :func:`waic` and :func:`compare` leave out: one sample or one subject
_BY = {"obs": "y", "subject": "y_subject"}


def inference_data(
    result: FitResult,
    *,
    n_draws: int | None = 1000,
    units: FitUnits | None = None,
    seed: int = 0,
) -> Any:
    """Posterior (population parameters), pointwise log-likelihood, posterior predictive
    (the observed subjects, with residual error) and observed data, dims ``(chain=1, draw,
    obs)``.

    Parameters
    ----------
    result : FitResult
        The fit.
    n_draws : int or None
        Posterior draws used (a random subset; ``None``: all).
    units : FitUnits, optional
        Units of the observations.
    seed : int
        Seed of the draw subset and the predictive noise.

    Returns
    -------
    arviz.InferenceData
    """
    import arviz as az
    import xarray as xr
    from scipy.special import log_ndtr

    from twinlab.pkpd.diagnostics import _draws, _simulate_draws
    from twinlab.pkpd.population import _residual_sd

    units = units or FitUnits()
    rng = np.random.default_rng(seed)
    spec = result.spec
    a = result.arrays
    d = _draws(result, n_draws, rng)
    theta = {p.name: d[f"{p.name}_i"] for p in spec.parameters}
    n_s = next(iter(theta.values())).shape[0]
    pred = _simulate_draws(result, theta, n_s)
    dvid = np.asarray(a.obs_dvid)
    cens = np.asarray(a.obs_cens, dtype=bool)
    dv = np.asarray(a.obs_dv, dtype=float)
    loglik = np.full((n_s, a.n_obs), np.nan)
    ppc = np.full((n_s, a.n_obs), np.nan)
    unit = np.empty(a.n_obs, dtype=object)
    for err in spec.errors:
        sel = dvid == err.dvid
        mu = pred[err.endpoint][:, sel]
        sd = _residual_sd(np, err, {t: d[t][:, None] for t in err.terms}, mu)
        z = (dv[sel] - mu) / sd
        ll = -0.5 * z * z - np.log(sd) - 0.5 * np.log(2 * np.pi)
        c = cens[sel]
        ll[:, c] = log_ndtr(z[:, c])
        loglik[:, sel] = ll
        ppc[:, sel] = mu + sd * rng.standard_normal(mu.shape)
        unit[sel] = units.observation(err.dvid)
    obs_unit = next(iter(dict.fromkeys(unit)), "")
    subject = np.asarray(a.obs_subject)
    per_subject = np.zeros((n_s, a.n_subjects))
    np.add.at(per_subject.T, subject, loglik.T)
    coords = {"obs": np.arange(a.n_obs), "subject": np.asarray(a.subject_ids)}

    def group(values: dict[str, tuple[np.ndarray, str]], dims: tuple[str, ...]) -> xr.Dataset:
        return xr.Dataset(
            {
                k: xr.DataArray(v[None] if dims[0] == "chain" else v, dims=dims, attrs={"units": u})
                for k, (v, u) in values.items()
            },
            coords={k: v for k, v in coords.items() if k in dims} or None,
        )

    population = {
        p.name: (d[p.name], units.parameter(p.name, spec.errors[0].dvid))
        for p in spec.parameters
        if p.name in d and d[p.name].ndim == 1
    }
    population.update(
        {k: (v, "") for k, v in d.items() if k.startswith(("omega_", "beta_")) and v.ndim == 1}
    )
    population.update(
        {
            k: (d[k], obs_unit if "add" in k else "")
            for k in d
            if k.startswith("sigma_") and d[k].ndim == 1 and not k.endswith("__")
        }
    )
    observed = {
        "y": (dv, obs_unit),
        "censored": (cens.astype(int), ""),
        "time": (np.asarray(a.obs_time, dtype=float), units.time),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.InferenceData(
            posterior=group(population, ("chain", "draw")),
            log_likelihood=xr.merge(
                [
                    group({"y": (loglik, LOG_DENSITY)}, ("chain", "draw", "obs")),
                    group({"y_subject": (per_subject, LOG_DENSITY)}, ("chain", "draw", "subject")),
                ]
            ),
            posterior_predictive=group({"y": (ppc, obs_unit)}, ("chain", "draw", "obs")),
            observed_data=group(observed, ("obs",)),
        )


def loo(result: FitResult | Any, *, by: str = "obs", **kwargs: Any) -> Any:
    """PSIS-LOO (:func:`arviz.loo`) of a fit or of its :func:`inference_data`, leaving out
    one sample (``by="obs"``) or one subject's samples (``by="subject"``); the Pareto k
    diagnostic is in the result (``pareto_k``, ``warning``). In a hierarchical model a
    sample's own subject parameters make single samples influential (high k); leaving out a
    subject asks how well the model predicts a new one."""
    import arviz as az

    idata = inference_data(result, **kwargs) if isinstance(result, FitResult) else result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.loo(idata, pointwise=True, var_name=_BY[by])


def waic(result: FitResult | Any, *, by: str = "obs", **kwargs: Any) -> Any:
    """WAIC (:func:`arviz.waic`) of a fit or of its :func:`inference_data` (``by`` as in
    :func:`loo`)."""
    import arviz as az

    idata = inference_data(result, **kwargs) if isinstance(result, FitResult) else result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.waic(idata, pointwise=True, var_name=_BY[by])


def compare(
    fits: Mapping[str, FitResult | Any],
    *,
    ic: str = "loo",
    by: str = "obs",
    n_draws: int | None = 1000,
) -> Any:
    """Rank fits of the same data by expected log predictive density (:func:`arviz.compare`:
    ``elpd_<ic>``, ``p_<ic>``, ``elpd_diff`` and its SE ``dse``, stacking ``weight``).

    Raises
    ------
    ValueError
        If the fits were not made on the same observations.
    """
    import arviz as az

    datas = {
        k: inference_data(v, n_draws=n_draws) if isinstance(v, FitResult) else v
        for k, v in fits.items()
    }
    sizes = {k: v.observed_data.sizes["obs"] for k, v in datas.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"fits of different data cannot be compared: observations {sizes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.compare(datas, ic=ic, var_name=_BY[by])


def plot_ppc(
    idata: Any, *, kind: str = "loo_pit", units: FitUnits | None = None, seed: int = 0
) -> Any:
    """ArviZ's posterior predictive plots of :func:`inference_data`: ``"loo_pit"`` (the
    LOO probability integral transform: uniform for a calibrated model;
    :func:`arviz.plot_loo_pit`) or ``"kde"`` / ``"cumulative"`` (observed against
    replicated distributions of the quantified samples; :func:`arviz.plot_ppc`).

    ArviZ draws the uniform reference curves and the replicates shown from NumPy's global
    random state: it is seeded with ``seed`` for the call (and restored after), so the
    figure reproduces."""
    with _global_seed(seed):
        return _plot_ppc(idata, kind)


@contextlib.contextmanager
def _global_seed(seed: int) -> Any:
    # ArviZ reads the legacy global state, so that is the one to seed
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _plot_ppc(idata: Any, kind: str) -> Any:
    import arviz as az

    from twinlab.figures import new_figure

    fig = new_figure((6, 3.6))
    ax = fig.subplots()
    unit = idata.observed_data["y"].attrs.get("units", "")
    quantified = np.flatnonzero(idata.observed_data["censored"].values == 0)
    if kind == "loo_pit":
        # a BLQ sample's value is the LLOQ, not a measurement: its PIT would pile up at 1
        groups = ["posterior_predictive", "observed_data", "log_likelihood"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            az.plot_loo_pit(idata.isel(obs=quantified, groups=groups), y="y", ax=ax)
        ax.set_xlabel("LOO-PIT")
        ax.set_title(
            "LOO probability integral transform of the quantified samples (uniform if calibrated)",
            fontsize=9,
        )
    else:
        sub = idata.isel(obs=quantified, groups=["posterior_predictive", "observed_data"])
        pp = sub.posterior_predictive
        n_shown = min(100, pp.sizes["chain"] * pp.sizes["draw"])
        az.plot_ppc(sub, var_names=["y"], kind=kind, num_pp_samples=n_shown, ax=ax, legend=True)
        ax.set_xlabel(FitUnits.label("concentration (quantified samples)", unit))
        ax.set_title("posterior predictive check", fontsize=9)
    return fig
