"""Monte Carlo trials drawn from a virtual population's potential outcomes, on Dask.

The simulation engine gives every virtual patient an outcome under *every* arm (the
``patients`` table of :class:`twinlab.simulate.SimulationResult`: one row per
``(draw, vpid, arm)``). One trial replicate

1. picks a posterior draw (at random, or the design's fixed ``draw``),
2. samples ``n_total`` eligible virtual patients of that draw (inclusion criteria evaluated
   on their baseline – the control arm's row),
3. randomizes them to arms with fixed arm sizes from the allocation ratio (a random
   permutation of the arm labels),
4. takes each participant's simulated endpoint under the assigned arm, adds measurement
   noise (``outcome_sd``; binary endpoints are thresholded after the noise),
5. drops outcomes missing completely at random with probability ``dropout`` (the analysis
   uses completers), and
6. fits the design's analysis (difference of means, ANCOVA or PROCOVA) by batched OLS,
   testing each arm against the control with a t-test on its coefficient.

Replicates run in batches; batch ``b`` draws from the stream ``(seed, b)`` only
(:func:`twinlab.virtual.base.chunk_rng`), so 1 or N Dask workers give identical results.

PROCOVA's prognostic score must come from a model trained on data disjoint from the trial's
control outcomes (historical controls, or a separately simulated virtual control cohort);
:func:`simulate_trials` refuses a :class:`~twinlab.trials.PrognosticModel` whose training
rows include the pool's control rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.trials.analytic import ancova_power
from twinlab.trials.design import Design, allocation, evaluate_criteria
from twinlab.trials.ols import batched_ols, t_test
from twinlab.trials.planning import expected_outcome, variance_reduction
from twinlab.trials.prognostic import PrognosticModel
from twinlab.virtual.base import chunk_rng

__all__ = ["TrialPool", "TrialResult", "power_curve", "prepare_pool", "simulate_trials"]

SCORE = "prognostic_score"
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class TrialPool:
    """Eligible virtual patients as arrays, ready for fast sampling.

    Attributes
    ----------
    arms : list of str
        Design arms, in declaration order (columns of ``latent``).
    latent : numpy.ndarray
        Continuous endpoint value (before noise/threshold) per unit and arm, ``(U, A)``;
        a unit is one ``(draw, vpid)``.
    covariates : numpy.ndarray
        ANCOVA covariates per unit, ``(U, c)``.
    score : numpy.ndarray or None
        Prognostic score per unit (PROCOVA).
    draws, starts, counts : numpy.ndarray
        Posterior draws, and where each draw's units start in the (draw-sorted) arrays and
        how many there are.
    """

    arms: list[str]
    latent: np.ndarray
    covariates: np.ndarray
    score: np.ndarray | None
    draws: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    n_candidates: int


def _prognostic_column(
    prognostic: PrognosticModel | str | None,
    control_rows: pd.DataFrame,
    allow_overlap: bool,
) -> np.ndarray | None:
    if prognostic is None:
        return None
    if isinstance(prognostic, str):
        if prognostic not in control_rows.columns:
            raise KeyError(f"prognostic score column {prognostic!r} not in the outcomes table")
        return control_rows[prognostic].to_numpy(dtype=float)
    if not isinstance(prognostic, PrognosticModel):
        raise ValueError("prognostic must be a PrognosticModel, a column name or None")
    shared = prognostic.overlap(control_rows)
    if shared and not allow_overlap:
        raise ValueError(
            f"{shared} control row(s) of the trial pool were training rows of the prognostic "
            "model: train it on data disjoint from the trial (historical controls or a "
            "separately simulated virtual control cohort), or the type I error guarantee of "
            "PROCOVA is lost (allow_overlap=True overrides)"
        )
    return prognostic.predict(control_rows)


def prepare_pool(
    design: Design,
    outcomes: pd.DataFrame,
    *,
    prognostic: PrognosticModel | str | None = None,
    allow_overlap: bool = False,
) -> TrialPool:
    """Turn a ``patients`` table into the arrays a trial replicate samples from.

    Parameters
    ----------
    design
        The design (arms, endpoint, covariates, inclusion).
    outcomes
        One row per ``(draw, vpid, arm)`` (``draw`` optional: one draw when absent), with
        the endpoint, covariate and criteria columns.
    prognostic
        For PROCOVA: a trained :class:`PrognosticModel` (applied to each unit's baseline) or
        the name of a column holding a pre-computed score.
    allow_overlap
        Skip the check that the prognostic model did not see the pool's control outcomes.
    """
    if not isinstance(design, Design):
        raise ValueError("design must be a twinlab.trials.Design")
    for col in ("arm", "vpid"):
        if col not in outcomes.columns:
            raise KeyError(f"outcomes table needs a {col!r} column (the engine's patients table)")
    table = outcomes if "draw" in outcomes.columns else outcomes.assign(draw=0)
    present = set(table["arm"].astype(str).unique())
    missing = [a for a in design.arm_names if a not in present]
    if missing:
        raise KeyError(f"arm(s) {missing} not in the outcomes table; available: {sorted(present)}")
    needed = design.endpoint.columns() + list(design.covariates)
    absent = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if absent:
        raise KeyError(
            f"column(s) {absent} not in the outcomes table; available: "
            f"{sorted(map(str, table.columns))}"
        )
    if design.analysis == "procova" and prognostic is None:
        raise ValueError("analysis 'procova' needs prognostic= (a PrognosticModel or a column)")

    keys = ["draw", "vpid"]
    control = table[table["arm"] == design.control]
    if control.duplicated(keys).any():
        raise ValueError("outcomes table has duplicate (draw, vpid) rows within an arm")
    control = control.sort_values(keys, kind="stable").reset_index(drop=True)
    if design.draw is not None:
        control = control[control["draw"] == design.draw].reset_index(drop=True)
        if control.empty:
            raise ValueError(f"posterior draw {design.draw} is not in the outcomes table")
    n_candidates = len(control)
    control = control[evaluate_criteria(control, design.inclusion)].reset_index(drop=True)
    if control.empty:
        raise ValueError("no virtual patient meets the inclusion criteria")
    index = pd.MultiIndex.from_frame(control[keys])
    latent = np.empty((len(control), len(design.arms)))
    for j, arm in enumerate(design.arm_names):
        rows = table[table["arm"] == arm]
        if rows.duplicated(keys).any():
            raise ValueError(f"outcomes table has duplicate (draw, vpid) rows in arm {arm!r}")
        value = pd.Series(design.endpoint.latent(rows), index=pd.MultiIndex.from_frame(rows[keys]))
        absent_rows = (~index.isin(value.index)).sum()
        if absent_rows:
            raise ValueError(
                f"arm {arm!r} lacks the endpoint for {int(absent_rows)} virtual "
                "patient(s) of the control arm: every patient needs an outcome under every arm"
            )
        latent[:, j] = value.reindex(index).to_numpy()
        missing_values = int(np.isnan(latent[:, j]).sum())
        if missing_values:
            raise ValueError(
                f"the endpoint ({design.endpoint.columns()}) is missing for {missing_values} "
                f"virtual patient(s) in arm {arm!r}; interval metrics are NaN for placebo "
                "arms: set the endpoint's fill (e.g. fill=0) or choose another column"
            )
    covs = control[list(design.covariates)]
    for c in covs.columns:
        if not pd.api.types.is_numeric_dtype(covs[c]) or pd.api.types.is_bool_dtype(covs[c]):
            raise ValueError(f"ANCOVA covariate {c!r} must be numeric (dtype {covs[c].dtype})")
    covariates = covs.to_numpy(dtype=float).reshape(len(control), -1)
    bad = ~np.isfinite(covariates).all(axis=1)
    if bad.any():
        raise ValueError(
            f"ANCOVA covariates {list(design.covariates)} are missing for {int(bad.sum())} "
            "eligible virtual patient(s); exclude them with an inclusion criterion or impute"
        )
    score = None
    if design.analysis == "procova":
        score = _prognostic_column(prognostic, control, allow_overlap)
        if not np.isfinite(score).all():
            raise ValueError("the prognostic score is missing for some virtual patients")
    draws, starts, counts = np.unique(
        control["draw"].to_numpy(), return_index=True, return_counts=True
    )
    return TrialPool(
        arms=design.arm_names,
        latent=latent,
        covariates=covariates,
        score=score,
        draws=draws,
        starts=starts,
        counts=counts,
        n_candidates=n_candidates,
    )


def _sharp_null(pool: TrialPool, design: Design) -> TrialPool:
    """The pool with every arm's outcome replaced by the control outcome."""
    ci = design.arm_names.index(design.control)
    latent = np.repeat(pool.latent[:, ci : ci + 1], len(design.arms), axis=1)
    return dataclasses.replace(pool, latent=latent)


def _design_matrix(
    n_arms: int, control: int, assign: np.ndarray, extra: list[np.ndarray]
) -> np.ndarray:
    R, N = assign.shape
    cols = [np.ones((R, N))]
    cols += [(assign == a).astype(float) for a in range(n_arms) if a != control]
    cols += extra
    return np.stack(cols, axis=2)


def run_batch(
    pool: TrialPool, design: Mapping[str, Any], seed: int, batch: int, n_replicates: int
) -> dict[str, np.ndarray]:
    """Simulate and analyse ``n_replicates`` trials from the stream ``(seed, batch)``.

    Returns per-replicate arrays: ``estimate``/``se`` ``(R, C)`` and ``df`` of the design's
    analysis, the same for the unadjusted difference of means (``ref_*``), ``n_analysed``,
    ``draw``, and for adjusted analyses ``r2_control`` (R² of the control outcome on the
    adjustment covariates) and, for PROCOVA, ``rho_score`` (correlation of score and control
    outcome).
    """
    d = Design.from_dict(design)
    rng = chunk_rng(seed, batch)
    R, N, A = n_replicates, d.n_total, len(d.arms)
    ci = d.arm_names.index(d.control)
    labels = np.repeat(np.arange(A), allocation(N, [a.ratio for a in d.arms]))
    if d.draw is None:
        pick = rng.integers(pool.draws.size, size=R)
    else:
        pick = np.zeros(R, dtype=int)
    units = np.empty((R, N), dtype=np.int64)
    for r in range(R):
        units[r] = pool.starts[pick[r]] + rng.choice(pool.counts[pick[r]], N, replace=d.replace)
    assign = rng.permuted(np.broadcast_to(labels, (R, N)), axis=1)
    value = pool.latent[units, assign]
    if d.outcome_sd > 0:
        value = value + rng.normal(0.0, d.outcome_sd, size=(R, N))
    y = d.endpoint.event(value) if d.endpoint.binary else value
    observed = (rng.random((R, N)) >= d.dropout).astype(float)

    extra = [pool.covariates[units, j] for j in range(pool.covariates.shape[1])]
    if d.analysis == "procova":
        extra.append(pool.score[units])
    fit = batched_ols(_design_matrix(A, ci, assign, extra), y, observed)
    out = {
        "estimate": fit.coef[:, 1:A],
        "se": fit.se[:, 1:A],
        "df": fit.df,
        "n_analysed": observed.sum(axis=1).astype(np.int64),
        "draw": pool.draws[pick],
    }
    if d.analysis == "difference":
        out.update(ref_estimate=out["estimate"], ref_se=out["se"], ref_df=fit.df)
    else:
        ref = batched_ols(_design_matrix(A, ci, assign, []), y, observed)
        out.update(ref_estimate=ref.coef[:, 1:A], ref_se=ref.se[:, 1:A], ref_df=ref.df)
        # R² of the control outcome on the adjustment covariates, control completers only.
        wc = observed * (assign == ci)
        cov = batched_ols(np.stack([np.ones((R, N)), *extra], axis=2), y, wc)
        mean = (wc * y).sum(axis=1) / wc.sum(axis=1)
        sst = (wc * (y - mean[:, None]) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["r2_control"] = 1.0 - cov.sigma2 * cov.df / sst
            if d.analysis == "procova":
                s = extra[-1]
                sm = (wc * s).sum(axis=1) / wc.sum(axis=1)
                sxy = (wc * (s - sm[:, None]) * (y - mean[:, None])).sum(axis=1)
                sxx = (wc * (s - sm[:, None]) ** 2).sum(axis=1)
                out["rho_score"] = sxy / np.sqrt(sxx * sst)
    return out


@dataclass
class TrialResult:
    """Monte Carlo operating characteristics of a design.

    Attributes
    ----------
    design : Design
    n_replicates, seed : int
    replicates : pandas.DataFrame
        One row per (replicate, comparison): ``estimate``, ``se``, ``t``, ``df``, ``p``,
        ``significant``, ``success``, and the unadjusted difference-of-means analysis of the
        same trial (``ref_estimate``, ``ref_se``, ``ref_significant``), ``n_analysed``,
        ``draw``, and the variance reduction this trial realised, ``variance_reduction``
        (``1 − se² / ref_se²``: its adjusted against its unadjusted analysis; 0 for the
        difference of means) beside the planned one, ``planned_variance_reduction`` (when
        a ``plan`` was given).
    diagnostics : dict
        Pool size, eligible share, and for adjusted analyses ``r2_control``, the R² of the
        control outcome on the adjustment covariates (in-sample within each replicate's
        control arm, so biased up by about ``k (1 − R²) / n_control``, then averaged); for
        PROCOVA also ``rho_score`` (correlation of score and control outcome). Both describe
        the control arm only: they are *not* the variance reduction when the effect varies
        with the covariates – :meth:`summary` reports the realised one.
    plan : dict
        Per comparison the planned variance reduction
        (:func:`twinlab.trials.plan_variance_reduction`), if given.
    truth : dict
        Per comparison the population's true effect (mean over the eligible pool).
    prognostic : dict or None
        :meth:`PrognosticModel.provenance` of the model used, if any.
    """

    design: Design
    n_replicates: int
    seed: int
    replicates: pd.DataFrame
    diagnostics: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)
    prognostic: dict[str, Any] | None = None
    plan: dict[str, float] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per comparison: power and probability of success with their Monte Carlo SE,
        the distribution of the effect estimate, and the variance reduction against the
        unadjusted analysis of the same trials: realised (``variance_reduction``,
        ``1 − variance_ratio``, with its Monte Carlo SE by the delta method for the ratio
        of two correlated sample variances), averaged over trials
        (``trial_variance_reduction``, the mean of the per-trial ``1 − se² / ref_se²``) and
        planned (``planned_variance_reduction``, NaN without a plan)."""
        rows = []
        for comp, g in self.replicates.groupby("comparison", sort=False):
            n = len(g)
            power = float(g["significant"].mean())
            pos = float(g["success"].mean())
            est = g["estimate"].dropna()
            row = {
                "comparison": comp,
                "n_replicates": n,
                "power": power,
                "power_mc_se": math.sqrt(power * (1 - power) / n),
                "pos": pos,
                "pos_mc_se": math.sqrt(pos * (1 - pos) / n),
                "true_effect": self.truth.get(comp, float("nan")),
                "estimate_mean": float(est.mean()),
                "estimate_sd": float(est.std(ddof=1)),
                "se_mean": float(g["se"].mean()),
                "n_failed_fits": int(g["estimate"].isna().sum()),
                "unadjusted_power": float(g["ref_significant"].mean()),
                **_reduction(g),
                "planned_variance_reduction": self.plan.get(comp, float("nan")),
            }
            for q in _QUANTILES:
                row[f"estimate_q{int(q * 100):02d}"] = float(est.quantile(q))
            rows.append(row)
        return pd.DataFrame(rows)

    def with_plan(self, plan: Mapping[str, float] | pd.DataFrame) -> TrialResult:
        """This result with the planned variance reduction per comparison beside the
        realised one (in :meth:`summary` and as a ``replicates`` column)."""
        if isinstance(plan, pd.DataFrame):
            plan = dict(zip(plan["comparison"], plan["variance_reduction"], strict=True))
        planned = {str(k): float(v) for k, v in plan.items()}
        unknown = sorted(set(planned) - set(self.design.comparisons))
        if unknown:
            raise ValueError(
                f"plan names comparison(s) {unknown}; the design's are {self.design.comparisons}"
            )
        reps = self.replicates.assign(
            planned_variance_reduction=self.replicates["comparison"].map(planned).astype(float)
        )
        return dataclasses.replace(self, plan=planned, replicates=reps)

    @property
    def power(self) -> dict[str, float]:
        """Power (share of significant replicates) per comparison."""
        s = self.summary()
        return dict(zip(s["comparison"], s["power"], strict=True))

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``metrics.json`` (:meth:`to_metrics`), ``summary.csv`` and
        ``replicates.parquet`` to ``folder`` (created); return their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "metrics": folder / "metrics.json",
            "summary": folder / "summary.csv",
            "replicates": folder / "replicates.parquet",
        }
        paths["metrics"].write_text(
            json.dumps(self.to_metrics(), indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
        self.summary().to_csv(paths["summary"], index=False)
        self.replicates.to_parquet(paths["replicates"], index=False)
        return paths

    def to_metrics(self) -> dict[str, Any]:
        """JSON-ready metrics (for DVC): design name, replicates, seed, per-comparison
        summary, diagnostics and the prognostic model's provenance."""
        summary = self.summary()
        comparisons = {
            row.pop("comparison"): {k: _json(v) for k, v in row.items()}
            for row in summary.to_dict("records")
        }
        return {
            "design": self.design.name,
            "analysis": self.design.analysis,
            "n_total": self.design.n_total,
            "alpha": self.design.alpha,
            "sided": self.design.sided,
            "n_replicates": self.n_replicates,
            "seed": self.seed,
            "duration_months": self.design.duration_months,
            "comparisons": comparisons,
            "diagnostics": {k: _json(v) for k, v in self.diagnostics.items()},
            "prognostic": self.prognostic,
            "plan": dict(self.plan),
        }


def _reduction(g: pd.DataFrame) -> dict[str, float]:
    """Realised variance ratio and reduction of one comparison's replicates, with MC SE."""
    ok = g[["estimate", "ref_estimate"]].dropna()
    n = len(ok)
    ratio = float(ok["estimate"].var(ddof=1) / ok["ref_estimate"].var(ddof=1))
    r = float(np.corrcoef(ok["estimate"], ok["ref_estimate"])[0, 1]) if n > 2 else float("nan")
    # Var(log s_a² − log s_b²) ≈ 4 (1 − r²) / (n − 1) for paired normal estimates
    se = ratio * math.sqrt(max(4 * (1 - r**2), 0.0) / max(n - 1, 1))
    return {
        "variance_ratio": ratio,
        "variance_reduction": 1.0 - ratio,
        "variance_reduction_mc_se": se,
        "trial_variance_reduction": float(g["variance_reduction"].mean()),
    }


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _truth(pool: TrialPool, design: Design) -> dict[str, float]:
    mean = expected_outcome(design, pool.latent)[0].mean(axis=0)
    ci = design.arm_names.index(design.control)
    return {a: float(mean[j] - mean[ci]) for j, a in enumerate(design.arm_names) if j != ci}


def simulate_trials(
    design: Design,
    outcomes: pd.DataFrame,
    *,
    n_replicates: int,
    seed: int,
    client: Any = None,
    prognostic: PrognosticModel | str | None = None,
    batch_size: int = 250,
    allow_overlap: bool = False,
    null: bool = False,
    plan: Mapping[str, float] | pd.DataFrame | None = None,
) -> TrialResult:
    """Simulate ``n_replicates`` trials of ``design`` from a potential-outcome table.

    Parameters
    ----------
    design
        The :class:`Design`.
    outcomes
        The engine's ``patients`` table (one row per ``(draw, vpid, arm)``) or any table of
        that shape.
    n_replicates
        Trial replicates.
    seed
        Seed; batch ``b`` uses the stream ``(seed, b)``.
    client
        A :class:`distributed.Client`: batches run as Dask tasks. ``None``: in-process.
        Results are identical either way and for any number of workers.
    prognostic
        For PROCOVA: a :class:`PrognosticModel` trained on data disjoint from ``outcomes``'
        control rows (checked), or a column with a pre-computed score.
    batch_size
        Replicates per task (part of the random stream layout: keep it fixed to reproduce).
    allow_overlap
        Skip the disjointness check of the prognostic model.
    null
        Simulate under the sharp null: every arm's outcome is the control outcome of the
        same virtual patient, so the reported power is the type I error of the design on this
        population.
    plan
        The planned variance reduction per comparison (a mapping, or the table of
        :func:`twinlab.trials.plan_variance_reduction`), reported beside the realised one.

    Returns
    -------
    TrialResult
    """
    pool = prepare_pool(design, outcomes, prognostic=prognostic, allow_overlap=allow_overlap)
    if null:
        pool = _sharp_null(pool, design)
    result = _simulate_pool(design, pool, n_replicates, seed, client, batch_size, prognostic)
    return result.with_plan(plan) if plan is not None else result


def _simulate_pool(
    design: Design,
    pool: TrialPool | Any,
    n_replicates: int,
    seed: int,
    client: Any,
    batch_size: int,
    prognostic: Any,
    pool_future: Any = None,
) -> TrialResult:
    if isinstance(n_replicates, bool) or int(n_replicates) != n_replicates or n_replicates < 2:
        raise ValueError(f"n_replicates must be an integer >= 2, got {n_replicates!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    n_replicates, batch_size = int(n_replicates), int(batch_size)
    if not design.replace and pool.counts.min() < design.n_total:
        raise ValueError(
            f"only {int(pool.counts.min())} eligible virtual patients in a posterior draw for "
            f"n_total={design.n_total}; simulate a larger population or set replace=True"
        )
    spec = design.to_dict()
    sizes = [min(batch_size, n_replicates - s) for s in range(0, n_replicates, batch_size)]
    if client is None:
        parts = [run_batch(pool, spec, seed, b, n) for b, n in enumerate(sizes)]
    else:
        if pool_future is None:
            pool_future = client.scatter(pool, broadcast=False, hash=False)
        futures = [
            client.submit(run_batch, pool_future, spec, seed, b, n, pure=False)
            for b, n in enumerate(sizes)
        ]
        parts = client.gather(futures)
    res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _result(design, pool, res, n_replicates, seed, prognostic)


def _result(
    design: Design,
    pool: TrialPool,
    res: dict[str, np.ndarray],
    n_replicates: int,
    seed: int,
    prognostic: Any,
) -> TrialResult:
    sign = design.endpoint.sign
    frames = []
    for j, comp in enumerate(design.comparisons):
        est, se = res["estimate"][:, j], res["se"][:, j]
        t, p = t_test(est, se, res["df"], sided=design.sided, sign=sign)
        sig = p < design.test_alpha
        if design.sided == 2:
            sig_benefit = sig & (sign * est > 0)
        else:
            sig_benefit = sig
        _, ref_p = t_test(
            res["ref_estimate"][:, j], res["ref_se"][:, j], res["ref_df"],
            sided=design.sided, sign=sign,
        )  # fmt: skip
        frames.append(
            pd.DataFrame(
                {
                    "replicate": np.arange(n_replicates),
                    "comparison": comp,
                    "estimate": est,
                    "se": se,
                    "t": t,
                    "df": res["df"],
                    "p": p,
                    "significant": sig,
                    "success": sig_benefit & (sign * est >= design.success_delta),
                    "ref_estimate": res["ref_estimate"][:, j],
                    "ref_se": res["ref_se"][:, j],
                    "ref_significant": ref_p < design.test_alpha,
                    "n_analysed": res["n_analysed"],
                    "draw": res["draw"],
                    "variance_reduction": 1.0 - (se / res["ref_se"][:, j]) ** 2,
                }
            )
        )
    diagnostics: dict[str, Any] = {
        "n_candidates": pool.n_candidates,
        "n_eligible": int(pool.counts.sum()),
        "eligible_share": float(pool.counts.sum() / max(pool.n_candidates, 1)),
        "n_draws": int(pool.draws.size),
        "mean_n_analysed": float(res["n_analysed"].mean()),
    }
    if "r2_control" in res:
        diagnostics["r2_control"] = float(np.nanmean(res["r2_control"]))
    if "rho_score" in res:
        diagnostics["rho_score"] = float(np.nanmean(res["rho_score"]))
    prov = prognostic.provenance() if isinstance(prognostic, PrognosticModel) else None
    if isinstance(prognostic, str):
        prov = {"column": prognostic}
    return TrialResult(
        design=design,
        n_replicates=n_replicates,
        seed=seed,
        replicates=pd.concat(frames, ignore_index=True),
        diagnostics=diagnostics,
        truth=_truth(pool, design),
        prognostic=prov,
    )


def _moments(pool: TrialPool, design: Design) -> dict[str, dict[str, float]]:
    """Effect, SD and variance reduction of the adjusted analysis in the eligible pool (for
    the analytic curve): the reduction from every arm's outcomes, so effects that vary with
    the covariates count (:func:`twinlab.trials.variance_reduction`); binary endpoints with
    Bernoulli variances and no reduction."""
    ci = design.arm_names.index(design.control)
    truth = _truth(pool, design)
    extra = [pool.covariates]
    if pool.score is not None:
        extra.append(pool.score[:, None])
    Z = np.concatenate(extra, axis=1)
    reduction: dict[str, float] = {}
    if not design.endpoint.binary and Z.shape[1]:
        plan = variance_reduction(
            {a: pool.latent[:, j] for j, a in enumerate(design.arm_names)},
            dict.fromkeys(design.arm_names, Z),
            control=design.control,
            ratios={a.name: a.ratio for a in design.arms},
            noise_var=design.outcome_sd**2,
        )
        reduction = dict(zip(plan["comparison"], plan["variance_reduction"], strict=True))
    out = {}
    for j, comp in enumerate(design.arm_names):
        if j == ci:
            continue
        if design.endpoint.binary:
            p0 = _truth_level(pool, design, ci)
            p1 = p0 + truth[comp]
            sd = math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / 2)
        else:
            var0 = pool.latent[:, ci].var() + design.outcome_sd**2
            var1 = pool.latent[:, j].var() + design.outcome_sd**2
            sd = math.sqrt((var0 + var1) / 2)
        out[comp] = {"delta": truth[comp], "sd": sd, "variance_reduction": reduction.get(comp, 0.0)}
    return out


def _truth_level(pool: TrialPool, design: Design, arm: int) -> float:
    return float(expected_outcome(design, pool.latent[:, arm])[0].mean())


def power_curve(
    design: Design,
    outcomes: pd.DataFrame,
    n_values: Sequence[int],
    *,
    n_replicates: int,
    seed: int,
    client: Any = None,
    prognostic: PrognosticModel | str | None = None,
    batch_size: int = 250,
    allow_overlap: bool = False,
    null: bool = False,
) -> pd.DataFrame:
    """Simulated power against sample size, with the analytic curve alongside.

    The analytic power (:func:`twinlab.trials.ancova_power`, noncentral t) uses the pool's
    effect, outcome SD and the variance reduction of the adjusted analysis computed from
    every arm's outcomes (:func:`twinlab.trials.variance_reduction`), with
    the expected completers ``n (1 − dropout)`` of the two arms compared. It assumes one
    posterior draw (a mixture of draws widens the simulated distribution) and, for binary
    endpoints, ignores covariates (Bernoulli variances, R² = 0). ``null=True`` gives the
    type I error curve (see :func:`simulate_trials`).

    Returns
    -------
    pandas.DataFrame
        One row per (n_total, comparison): ``power``, ``power_mc_se``, ``pos``,
        ``analytic_power``, ``delta``, ``sd``, ``variance_reduction``.
    """
    n_values = [int(n) for n in n_values]
    if not n_values:
        raise ValueError("n_values must name at least one sample size")
    # the pool does not depend on n: prepare (and ship to the cluster) once
    pool = prepare_pool(
        design.replace_with(n_total=max(n_values), covariates=list(design.covariates)),
        outcomes, prognostic=prognostic, allow_overlap=allow_overlap,
    )  # fmt: skip
    if null:
        pool = _sharp_null(pool, design)
    pool_future = None
    if client is not None:
        pool_future = client.scatter(pool, broadcast=False, hash=False)
    rows = []
    for n in n_values:
        d = design.replace_with(n_total=n, covariates=list(design.covariates))
        result = _simulate_pool(
            d, pool, n_replicates, seed, client, batch_size, prognostic, pool_future
        )
        moments = _moments(pool, d)
        sizes = d.arm_sizes
        k = pool.covariates.shape[1] + (pool.score is not None)
        for row in result.summary().to_dict("records"):
            comp = row["comparison"]
            m = moments[comp]
            n_pair = (sizes[comp] + sizes[d.control]) * (1 - d.dropout)
            effect = m["delta"] if d.sided == 2 else d.endpoint.sign * m["delta"]
            analytic = ancova_power(
                effect, m["sd"], n_pair, rho=math.sqrt(max(m["variance_reduction"], 0.0)),
                alpha=d.test_alpha, sided=d.sided, ratio=sizes[comp] / sizes[d.control],
                n_covariates=0 if d.endpoint.binary else k,
            )  # fmt: skip
            rows.append(
                {
                    "n_total": int(n),
                    "comparison": comp,
                    "power": row["power"],
                    "power_mc_se": row["power_mc_se"],
                    "pos": row["pos"],
                    "analytic_power": analytic,
                    **m,
                }
            )
    return pd.DataFrame(rows)
