"""Visual predictive checks: VPC and pcVPC by time after dose, stratified, BLQ-aware.

Observations are binned by time after the most recent dose (TAD), not time since the first
dose, so every dosing interval of a multiple-dose study lands on the same axis. The check
compares observed percentiles per bin with the distribution of the same percentiles over
simulated studies (new subjects drawn from the posterior, one draw per study, the observed
subjects' covariates and doses; :func:`twinlab.pkpd.diagnostics.posterior_predictive`).

Samples below the LLOQ (BLQ) are handled as censored, in the observations and in every
simulated study alike (Bergstrand et al. 2009): a percentile is shown only where fewer than
that share of the bin's samples are BLQ, and the fraction BLQ per bin is compared in a panel
of its own. Prediction correction (pcVPC, Bergstrand et al. 2011) scales observations and
simulations by ``median(PRED in bin) / PRED``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.fit_units import FitUnits

__all__ = ["plot_vpc", "strata", "time_after_dose", "vpc"]


def time_after_dose(arrays: Any) -> np.ndarray:
    """Hours since each observation's most recent dose (NaN before the first dose).

    A dose at the very time of a sample is taken as given after it (a trough drawn before
    the dose), so such a sample's TAD is counted from the previous dose.

    Parameters
    ----------
    arrays : PopulationArrays
        Observations and padded doses (padding has ``dose_amt == 0``).

    Returns
    -------
    numpy.ndarray
        One value per observation.
    """
    subject = np.asarray(arrays.obs_subject)
    t = np.asarray(arrays.obs_time, dtype=float)
    times = np.asarray(arrays.dose_time, dtype=float)[subject]
    given = (np.asarray(arrays.dose_amt, dtype=float)[subject] > 0) & (times < t[:, None])
    last = np.where(given, times, -np.inf).max(axis=1)
    return np.where(np.isfinite(last), t - last, np.nan)


def _last_dose(arrays: Any) -> np.ndarray:
    subject = np.asarray(arrays.obs_subject)
    t = np.asarray(arrays.obs_time, dtype=float)
    times = np.asarray(arrays.dose_time, dtype=float)[subject]
    amt = np.asarray(arrays.dose_amt, dtype=float)[subject]
    given = (amt > 0) & (times < t[:, None])  # as time_after_dose: a trough precedes its dose
    idx = np.where(given, times, -np.inf).argmax(axis=1)
    out = amt[np.arange(len(t)), idx]
    return np.where(given.any(axis=1), out, np.nan)


def strata(result: FitResult, by: str | None, units: FitUnits | None = None) -> np.ndarray:
    """A stratum label per observation: ``"dose"`` (the most recent dose), a covariate
    (its levels, or below/above the median when it has more than six values) or none."""
    a = result.arrays
    n = a.n_obs
    if by is None:
        return np.full(n, "all", dtype=object)
    units = units or FitUnits()
    if by.lower() == "dose":
        amt = _last_dose(a)
        return np.array([f"{v:g} {units.amount}" if np.isfinite(v) else "pre-dose" for v in amt])
    if by not in a.covariates:
        raise ValueError(
            f"cannot stratify by {by!r}: not 'dose' nor a covariate {sorted(a.covariates)}"
        )
    per_obs = np.asarray(a.covariates[by], dtype=float)[np.asarray(a.obs_subject)]
    levels = np.unique(per_obs[np.isfinite(per_obs)])
    unit = units.covariates.get(by, "")
    if len(levels) <= 6:
        return np.array([f"{by} {v:g}" for v in per_obs], dtype=object)
    cut = float(np.median(np.asarray(a.covariates[by], dtype=float)))
    return np.where(
        per_obs <= cut, f"{by} ≤ {cut:.3g} {unit}".strip(), f"{by} > {cut:.3g} {unit}".strip()
    ).astype(object)


def _edges(x: np.ndarray, bins: int | np.ndarray) -> np.ndarray:
    if np.ndim(bins) == 0:
        return np.unique(np.quantile(x, np.linspace(0, 1, int(bins) + 1)))
    return np.asarray(bins, dtype=float)


def vpc(
    result: FitResult,
    *,
    dvid: int | None = None,
    x: str = "tad",
    stratify: str | None = None,
    bins: int | np.ndarray = 8,
    n_sim: int = 200,
    probs: tuple[float, float, float] = (0.05, 0.5, 0.95),
    ci: float = 0.95,
    pred_corrected: bool = False,
    units: FitUnits | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Visual predictive check: binned observed percentiles against simulated ones.

    Parameters
    ----------
    result : FitResult
        The fit.
    dvid : int, optional
        Endpoint (default: the first residual error's).
    x : {"tad", "time"}
        Bin by time after dose (default) or time since the first dose.
    stratify : str, optional
        ``"dose"`` or a covariate name (see :func:`strata`).
    bins : int or array
        Number of bins (quantiles of ``x`` per stratum) or the bin edges.
    n_sim : int
        Simulated studies (new subjects, one posterior draw each).
    probs : tuple of float
        The percentiles compared.
    ci : float
        Width of the interval of each simulated percentile across studies.
    pred_corrected : bool
        Prediction-corrected VPC.
    units : FitUnits, optional
        Units of the labels (default: :class:`FitUnits`'s).
    seed : int
        Seed.

    Returns
    -------
    dict
        ``table`` (DataFrame, one row per stratum and bin: ``stratum bin x_low x_high x_mid
        n n_blq``, per percentile ``obs_pXX sim_pXX_lo sim_pXX_med sim_pXX_hi`` – NaN where
        the percentile is below the LLOQ – and ``blq_obs blq_sim_lo blq_sim_med
        blq_sim_hi``), ``coverage`` (share of the shown observed percentiles inside their
        simulated interval, nominal ``ci``), ``pi_coverage`` (share of the quantified
        observations inside the simulated ``probs[0]``–``probs[-1]`` interval of their own
        sample, nominal ``probs[-1] - probs[0]``), ``lloq``, ``x``, ``stratify``,
        ``pred_corrected``, ``x_label`` and ``y_label`` (with units) and ``n_undosed``
        (samples before any dose, e.g. placebo subjects': left out when binning by TAD).
    """
    from twinlab.pkpd.diagnostics import _point, posterior_predictive

    if x not in ("tad", "time"):
        raise ValueError(f"x must be 'tad' or 'time', not {x!r}")
    a = result.arrays
    units = units or FitUnits()
    dvid = result.spec.errors[0].dvid if dvid is None else dvid
    sel = np.asarray(a.obs_dvid) == dvid
    cens = np.asarray(a.obs_cens, dtype=bool)[sel]
    lloq_all = np.asarray(a.obs_lloq, dtype=float)[sel]
    # one LLOQ per endpoint applies to every simulated sample too
    lloq = float(np.nanmin(lloq_all[cens])) if cens.any() else -np.inf
    xs = (time_after_dose(a) if x == "tad" else np.asarray(a.obs_time, dtype=float))[sel]
    group = strata(result, stratify, units)[sel]
    dv = np.asarray(a.obs_dv, dtype=float)[sel].copy()
    sims = posterior_predictive(result, n_draws=n_sim, new_subjects=True, seed=seed)[:, sel]
    # the gate's coverage: quantified observations in the simulated interval of their sample
    lo_pi, hi_pi = np.quantile(sims[:, ~cens], [probs[0], probs[-1]], axis=0)
    quantified = dv[~cens]
    pi_coverage = float(np.mean((quantified >= lo_pi) & (quantified <= hi_pi)))
    sim_blq = sims < lloq
    dv[cens] = lloq
    sims = np.where(sim_blq, lloq, sims)
    pred = _point(result, False)[sel] if pred_corrected else None
    keep = np.isfinite(xs)
    rows = []
    inside = []
    half = (1 - ci) / 2
    for stratum in dict.fromkeys(group[keep]):
        in_s = keep & (group == stratum)
        edges = _edges(xs[in_s], bins)
        which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, len(edges) - 2)
        for b in np.unique(which[in_s]):
            m = in_s & (which == b)
            y, s = dv[m], sims[:, m]
            if pred is not None:
                p = pred[m]
                scale = np.median(p) / np.where(p > 0, p, np.nan)
                y, s = y * scale, s * scale
            blq_obs = float(cens[m].mean())
            blq_sim = sim_blq[:, m].mean(axis=1)
            row: dict[str, Any] = {
                "stratum": stratum,
                "bin": int(b),
                "x_low": float(edges[b]),
                "x_high": float(edges[b + 1]),
                "x_mid": float(np.median(xs[m])),
                "n": int(m.sum()),
                "n_blq": int(cens[m].sum()),
            }
            for q in probs:
                tag = f"p{round(q * 100):02d}"
                obs_q = float(np.nanquantile(y, q)) if blq_obs < q else np.nan
                sim_q = np.where(blq_sim < q, np.nanquantile(s, q, axis=1), np.nan)
                lo, med, hi = (
                    np.nanquantile(sim_q, [half, 0.5, 1 - half])
                    if np.isfinite(sim_q).mean() > 0.5
                    else (np.nan,) * 3
                )
                row.update(
                    {f"obs_{tag}": obs_q, f"sim_{tag}_lo": lo, f"sim_{tag}_med": med,
                     f"sim_{tag}_hi": hi}
                )  # fmt: skip
                if np.isfinite(obs_q) and np.isfinite(lo):
                    inside.append(lo <= obs_q <= hi)
            lo, med, hi = np.quantile(blq_sim, [half, 0.5, 1 - half])
            row.update({"blq_obs": blq_obs, "blq_sim_lo": lo, "blq_sim_med": med, "blq_sim_hi": hi})
            rows.append(row)
    y_unit = units.observation(dvid)
    what = "concentration" if result.spec.errors[0].dvid == dvid else f"DV{dvid}"
    return {
        "table": pd.DataFrame(rows),
        "coverage": float(np.mean(inside)) if inside else float("nan"),
        "pi_coverage": pi_coverage,
        "lloq": lloq if np.isfinite(lloq) else None,
        # samples before any dose (baselines, placebo subjects): no time after dose
        "n_undosed": int((~keep).sum()),
        "x": x,
        "stratify": stratify,
        "pred_corrected": pred_corrected,
        "probs": tuple(probs),
        "ci": ci,
        "x_label": FitUnits.label(
            "time after dose" if x == "tad" else "time since first dose", units.time
        ),
        "y_label": FitUnits.label(
            f"prediction-corrected {what}" if pred_corrected else what, y_unit
        ),
    }


def plot_vpc(check: dict[str, Any], *, log_y: bool = False) -> Any:
    """Plot a :func:`vpc` result: one column per stratum; observed percentiles (lines,
    points) over the simulated intervals of the same percentiles (bands), and below, when
    any sample is BLQ, the observed fraction BLQ over its simulated interval.

    The figure is returned, not shown (a notebook displays it once, as the cell's value).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from twinlab.figures import new_figure

    tab = check["table"]
    groups = list(dict.fromkeys(tab["stratum"])) if len(tab) else ["all"]
    blq = bool(len(tab) and (tab["blq_obs"].max() > 0 or tab["blq_sim_hi"].max() > 0))
    rows = 2 if blq else 1
    fig = new_figure((max(4.4 * len(groups), 7.0), 4.2 + 1.6 * blq))
    axes = fig.subplots(
        rows, len(groups), squeeze=False, sharex="col",
        gridspec_kw={"height_ratios": [3, 1] if blq else [1]},
    )  # fmt: skip
    tags = [f"p{round(q * 100):02d}" for q in check.get("probs", (0.05, 0.5, 0.95))]
    ci = check.get("ci", 0.95)
    for k, stratum in enumerate(groups):
        d = tab[tab["stratum"] == stratum]
        ax = axes[0, k]
        for tag in tags:
            color = "tab:red" if tag == "p50" else "tab:blue"
            ax.fill_between(d["x_mid"], d[f"sim_{tag}_lo"], d[f"sim_{tag}_hi"], alpha=0.25,
                            color=color, lw=0)  # fmt: skip
            ax.plot(d["x_mid"], d[f"obs_{tag}"], color=color, marker="o", ms=3,
                    ls="-" if tag == "p50" else "--")  # fmt: skip
        if check.get("lloq") is not None and not check.get("pred_corrected"):
            ax.axhline(check["lloq"], color="grey", ls=":", lw=1)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(str(stratum) if len(groups) > 1 else "")
        if k == 0:
            ax.set_ylabel(check["y_label"])
        if blq:
            bx = axes[1, k]
            bx.fill_between(d["x_mid"], d["blq_sim_lo"], d["blq_sim_hi"], color="grey",
                            alpha=0.3, lw=0)  # fmt: skip
            bx.plot(d["x_mid"], d["blq_obs"], color="k", marker="o", ms=3)
            bx.set_ylim(0, 1)
            if k == 0:
                bx.set_ylabel("fraction BLQ")
        axes[-1, k].set_xlabel(check["x_label"])
    handles = [
        Line2D([], [], color="tab:red", marker="o", ms=3, label="observed median"),
        Line2D([], [], color="tab:blue", ls="--", marker="o", ms=3,
               label=f"observed {int(tags[0][1:])}th / {int(tags[-1][1:])}th percentiles"),
        Patch(color="tab:red", alpha=0.25, label=f"simulated median, {ci:.0%} interval"),
        Patch(color="tab:blue", alpha=0.25, label=f"simulated percentiles, {ci:.0%} interval"),
    ]  # fmt: skip
    if check.get("lloq") is not None:
        handles.append(Line2D([], [], color="grey", ls=":", label=f"LLOQ {check['lloq']:g}"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    kind = "pcVPC" if check.get("pred_corrected") else "VPC"
    fig.suptitle(
        f"{kind}: {check['coverage']:.0%} of observed percentiles inside their simulated "
        f"{ci:.0%} interval",
        fontsize=9,
    )
    return fig
