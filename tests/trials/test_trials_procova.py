"""PROCOVA: a prognostic score trained on separate controls, its variance reduction (1 − ρ²),
the sample size it saves, a preserved type I error, and planning that holds when the
treatment effect varies with the score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import BETA, prognostic_outcomes

from twinlab.trials import (
    Design,
    PrognosticModel,
    multiple_r2,
    plan_variance_reduction,
    power_curve,
    procova_power,
    procova_sample_size,
    procova_saving,
    simulate_trials,
    variance_reduction,
)

TRUE_RHO = math.sqrt(BETA[0] ** 2 + BETA[1] ** 2)


@pytest.fixture(scope="module")
def history():
    """A historical control cohort, simulated apart from the trials' population."""
    table = prognostic_outcomes(3000, seed=100)
    return table[table["arm"] == "control"].reset_index(drop=True)


@pytest.fixture(scope="module")
def linear_model(history):
    return PrognosticModel.train(history, ["x1", "x2"], "y", kind="linear", seed=1)


def _design(n_total: int, analysis: str = "procova") -> Design:
    return Design.from_dict(
        {
            "arms": ["control", "drug"],
            "n_total": n_total,
            "endpoint": {"kind": "continuous", "column": "y"},
            "analysis": analysis,
        }
    )


def test_prognostic_model_reports_heldout_correlation_and_provenance(history, linear_model):
    assert linear_model.heldout_rho == pytest.approx(TRUE_RHO, abs=0.04)
    np.testing.assert_allclose(linear_model.estimator.coef_, BETA, atol=0.05)
    prov = linear_model.provenance()
    assert prov["kind"] == "linear" and prov["features"] == ["x1", "x2"]
    assert prov["n_train"] == len(history) and prov["target"] == "y"
    again = PrognosticModel.train(history, ["x1", "x2"], "y", kind="linear", seed=1)
    assert again.data_hash == prov["data_hash"]
    other = PrognosticModel.train(history.iloc[1:], ["x1", "x2"], "y", kind="linear", seed=1)
    assert other.data_hash != prov["data_hash"]
    gbm = PrognosticModel.train(history, ["x1", "x2"], "y", kind="gbm", seed=1)
    assert gbm.heldout_rho > 0.7
    assert gbm.provenance()["estimator"] == "HistGradientBoostingRegressor"


def test_training_errors_are_clear(history):
    with pytest.raises(ValueError, match="kind must be one of"):
        PrognosticModel.train(history, ["x1"], "y", kind="forest")
    with pytest.raises(KeyError, match="not in the table"):
        PrognosticModel.train(history, ["x9"], "y")
    with pytest.raises(ValueError, match="must be numeric"):
        PrognosticModel.train(history.assign(g="a"), ["g"], "y")


def test_a_model_trained_on_the_trial_controls_is_refused(linear_model):
    trial = prognostic_outcomes(1000, seed=7)
    leaky = PrognosticModel.train(
        trial[trial["arm"] == "control"], ["x1", "x2"], "y", kind="linear"
    )
    with pytest.raises(ValueError, match="disjoint from the trial"):
        simulate_trials(_design(60), trial, n_replicates=10, seed=1, prognostic=leaky)
    ok = simulate_trials(_design(60), trial, n_replicates=10, seed=1, prognostic=leaky,
                         allow_overlap=True)  # fmt: skip
    assert ok.prognostic["data_hash"] == leaky.data_hash
    # the separately trained model is accepted
    simulate_trials(_design(60), trial, n_replicates=10, seed=1, prognostic=linear_model)


def test_type_one_error_is_preserved_with_procova(linear_model):
    trial = prognostic_outcomes(4000, effect=0.0, seed=201)
    R = 4000
    res = simulate_trials(_design(80), trial, n_replicates=R, seed=9, prognostic=linear_model)
    size = res.power["drug"]
    assert abs(size - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / R), size


def test_variance_of_the_estimate_shrinks_by_one_minus_rho_squared(linear_model):
    trial = prognostic_outcomes(4000, effect=0.3, seed=202)
    R = 2000
    res = simulate_trials(_design(200), trial, n_replicates=R, seed=4, prognostic=linear_model)
    rho = res.diagnostics["rho_score"]
    assert rho == pytest.approx(TRUE_RHO, abs=0.03)
    reps = res.replicates
    ratio = reps["estimate"].var() / reps["ref_estimate"].var()
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(200):
        i = rng.integers(R, size=R)
        boot.append(reps["estimate"].iloc[i].var() / reps["ref_estimate"].iloc[i].var())
    se = float(np.std(boot))
    assert abs(ratio - (1 - rho**2)) < 3 * se + 0.01, (ratio, 1 - rho**2, se)
    assert res.summary()["variance_ratio"].iloc[0] == pytest.approx(ratio)


def test_procova_at_n_times_one_minus_rho_squared_has_the_power_of_the_unadjusted_trial(
    linear_model,
):
    trial = prognostic_outcomes(4000, effect=0.35, seed=203)
    R = 3000
    n = 200
    rho = linear_model.heldout_rho  # known before the trial, from held-out history
    n_adj = round(n * (1 - rho**2))
    unadjusted = simulate_trials(_design(n, "difference"), trial, n_replicates=R, seed=5)
    adjusted = simulate_trials(_design(n_adj), trial, n_replicates=R, seed=6,
                               prognostic=linear_model)  # fmt: skip
    p_u, p_a = unadjusted.power["drug"], adjusted.power["drug"]
    se = math.sqrt(p_u * (1 - p_u) / R + p_a * (1 - p_a) / R)
    assert abs(p_u - p_a) < 3 * se, (n_adj, p_u, p_a)
    assert 0.5 < p_u < 0.85  # a comparison with power to spare either way
    expected = procova_power(0.35, 1.0, n_adj, rho=rho)
    assert abs(p_a - expected) < 3 * math.sqrt(expected * (1 - expected) / R)
    saving = procova_saving(n, rho)  # the one definition: N (1 − ρ²) and N − N (1 − ρ²)
    assert round(saving["n_adjusted"]) == n_adj
    assert saving["n_saved"] == pytest.approx(n - saving["n_adjusted"])


def test_baseline_and_score_together_reach_the_multiple_correlation(history):
    # the score knows x2 only; x1 enters the ANCOVA as a baseline covariate
    score_x2 = PrognosticModel.train(history, ["x2"], "y", kind="linear", seed=2)
    trial = prognostic_outcomes(4000, effect=0.0, seed=204)
    design = _design(200).replace_with(covariates=["x1"])
    res = simulate_trials(design, trial, n_replicates=500, seed=3, prognostic=score_x2)
    expected = multiple_r2(BETA[0], BETA[1], 0.0)
    assert res.diagnostics["r2_control"] == pytest.approx(expected, abs=0.04)


def test_procova_power_curve_and_sample_size_formula_agree_with_simulation(linear_model):
    trial = prognostic_outcomes(4000, effect=0.35, seed=205)
    R = 1500
    curve = power_curve(_design(60), trial, [40, 80], n_replicates=R, seed=8,
                        prognostic=linear_model)  # fmt: skip
    for row in curve.itertuples():
        se = math.sqrt(row.analytic_power * (1 - row.analytic_power) / R)
        assert abs(row.power - row.analytic_power) < 3 * se, row
    assert curve["variance_reduction"].iloc[0] == pytest.approx(TRUE_RHO**2, abs=0.04)
    # the analytic PROCOVA size for 80 % power reaches 80 % in simulation
    n = procova_sample_size(0.35, 1.0, rho=linear_model.heldout_rho, power=0.8)
    res = simulate_trials(_design(n), trial, n_replicates=R, seed=9, prognostic=linear_model)
    assert abs(res.power["drug"] - 0.8) < 3 * math.sqrt(0.8 * 0.2 / R), (n, res.power)
    assert res.diagnostics["rho_score"] == pytest.approx(TRUE_RHO, abs=0.04)


# ------------------------------------------------------- heterogeneous treatment effects

#: individual effect 0.35 − 0.8 × prognosis: the score explains ρ² = 0.61 of the control
#: outcome but only 0.09 of the outcome under drug
SLOPE, DELTA = -0.8, 0.35


def _schuler(sd0: float, sd1: float, rho0: float, rho1: float, pi1: float = 0.5) -> float:
    """Schuler et al. (2021): variance reduction of the ANCOVA estimate with one score,
    arm-wise SDs and correlations, treated share ``pi1`` (the variance-minimising slope)."""
    pi0 = 1 - pi1
    adjusted = sd0**2 / pi0 + sd1**2 / pi1 - pi0 * pi1 * (rho0 * sd0 / pi0 + rho1 * sd1 / pi1) ** 2
    return 1 - adjusted / (sd0**2 / pi0 + sd1**2 / pi1)


def test_planned_reduction_matches_the_closed_form_with_arm_wise_correlations():
    rng = np.random.default_rng(7)
    s = rng.normal(size=50_000)
    y0 = 0.8 * s + 0.6 * rng.normal(size=s.size)
    y1 = 0.3 * s + 1.1 * rng.normal(size=s.size)
    for ratio in (1.0, 2.0):
        plan = variance_reduction({"c": y0, "t": y1}, {"c": s, "t": s}, control="c",
                                  ratios={"c": 1.0, "t": ratio}, noise_var=0.25)  # fmt: skip
        row = plan.iloc[0]
        sd0, sd1 = np.sqrt(y0.var(ddof=1) + 0.25), np.sqrt(y1.var(ddof=1) + 0.25)
        rho0 = np.cov(s, y0)[0, 1] / (s.std(ddof=1) * sd0)
        rho1 = np.cov(s, y1)[0, 1] / (s.std(ddof=1) * sd1)
        assert row["rho_control"] == pytest.approx(rho0)
        assert row["rho_treated"] == pytest.approx(rho1)
        pi1 = ratio / (1 + ratio)
        if ratio == 1:
            want = _schuler(sd0, sd1, rho0, rho1)
        else:  # least squares: one slope, the arms' covariances pooled by allocation
            slope = ((1 - pi1) * np.cov(s, y0)[0, 1] + pi1 * np.cov(s, y1)[0, 1]) / s.var(ddof=1)
            v0, v1 = np.var(y0 - slope * s, ddof=1) + 0.25, np.var(y1 - slope * s, ddof=1) + 0.25
            want = 1 - (v0 / (1 - pi1) + v1 / pi1) / (sd0**2 / (1 - pi1) + sd1**2 / pi1)
        assert row["variance_reduction"] == pytest.approx(want, rel=1e-9)
        assert row["variance_reduction"] < rho0**2 - 0.1  # the control arm alone overstates it
        conservative = variance_reduction({"c": y0, "t": y1}, {"c": s, "t": s}, control="c",
                                          noise_var=0.25, method="min_rho")  # fmt: skip
        assert conservative["variance_reduction"].iloc[0] == pytest.approx(rho1**2)
    with pytest.raises(ValueError, match="method must be one of"):
        variance_reduction({"c": y0, "t": y1}, {"c": s, "t": s}, control="c", method="max")


def test_planned_n_reaches_target_power_when_effects_vary_with_the_score(linear_model):
    design = _design(100)
    # planning data: patients under both arms that neither the model nor the trials saw
    planning = prognostic_outcomes(20_000, effect=DELTA, effect_slope=SLOPE, seed=301)
    plan = plan_variance_reduction(design, planning, prognostic=linear_model)
    planned = float(plan["variance_reduction"].iloc[0])
    naive = linear_model.heldout_rho**2  # the control arm's held-out ρ²: what was reported
    assert naive > planned + 0.2
    y = planning["y"].to_numpy().reshape(2, -1)
    sd = float(np.sqrt((y[0].var() + y[1].var()) / 2))  # unadjusted, pooled over the arms
    trial = prognostic_outcomes(4000, effect=DELTA, effect_slope=SLOPE, seed=302)
    # the effect to detect: the trial population's (the sizing assumption, not under test)
    t = trial["y"].to_numpy().reshape(2, -1)
    delta = float(t[1].mean() - t[0].mean())
    n = procova_sample_size(delta, sd, rho=math.sqrt(planned), power=0.8)
    n_naive = procova_sample_size(delta, 1.0, rho=linear_model.heldout_rho, power=0.8)
    assert n_naive < 0.85 * n
    R = 1500
    res = simulate_trials(_design(n), trial, n_replicates=R, seed=11, prognostic=linear_model,
                          plan=plan)  # fmt: skip
    se = math.sqrt(0.8 * 0.2 / R)
    assert res.power["drug"] >= 0.8 - 2.5 * se, (n, res.power)
    row = res.summary().iloc[0]
    # the realised reduction (across trials, and trial by trial) is the planned one
    assert row["planned_variance_reduction"] == pytest.approx(planned)
    tol = 3 * math.sqrt(row["variance_reduction_mc_se"] ** 2 + 0.01**2)
    assert abs(row["variance_reduction"] - planned) < tol, (row["variance_reduction"], planned)
    assert abs(row["trial_variance_reduction"] - planned) < 0.03
    reps = res.replicates
    assert {"variance_reduction", "planned_variance_reduction"} <= set(reps.columns)
    assert res.to_metrics()["plan"] == {"drug": pytest.approx(planned)}
    # the analytic power curve of the same population uses the same reduction
    curve = power_curve(_design(n), trial, [n], n_replicates=200, seed=3,
                        prognostic=linear_model)  # fmt: skip
    assert curve["variance_reduction"].iloc[0] == pytest.approx(planned, abs=0.03)
    # sized with the control arm's ρ² (and SD) the trial falls short of its power
    short = simulate_trials(_design(n_naive), trial, n_replicates=R, seed=12,
                            prognostic=linear_model)  # fmt: skip
    assert short.power["drug"] < 0.8 - 3 * se, (n_naive, short.power)


def test_planning_selects_the_patients_the_trial_would_include(linear_model):
    planning = prognostic_outcomes(6000, effect=DELTA, effect_slope=SLOPE, seed=303)
    design = _design(100).replace_with(inclusion=["x1 > 0"])
    plan = plan_variance_reduction(design, planning, prognostic=linear_model)
    eligible = planning[planning["vpid"].isin(planning.loc[planning["x1"] > 0, "vpid"])]
    by_hand = plan_variance_reduction(_design(100), eligible, prognostic=linear_model)
    assert plan["n_control"].iloc[0] == (planning["x1"] > 0).sum() // 2
    assert plan["variance_reduction"].iloc[0] == pytest.approx(
        by_hand["variance_reduction"].iloc[0]
    )
    everyone = plan_variance_reduction(_design(100), planning, prognostic=linear_model)
    assert plan["variance_reduction"].iloc[0] < everyone["variance_reduction"].iloc[0] - 0.05
    with pytest.raises(ValueError, match="needs prognostic="):
        plan_variance_reduction(_design(100), planning)
