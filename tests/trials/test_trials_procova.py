"""PROCOVA: a prognostic score trained on separate controls, its variance reduction (1 − ρ²),
the sample size it saves, and a preserved type I error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import BETA, prognostic_outcomes

from twinlab.trials import (
    Design,
    PrognosticModel,
    multiple_r2,
    power_curve,
    procova_power,
    procova_sample_size,
    simulate_trials,
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
    assert adjusted.diagnostics["n_saved_vs_unadjusted"] > 0.5 * n


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
    assert curve["r2"].iloc[0] == pytest.approx(TRUE_RHO**2, abs=0.04)
    # the analytic PROCOVA size for 80 % power reaches 80 % in simulation
    n = procova_sample_size(0.35, 1.0, rho=linear_model.heldout_rho, power=0.8)
    res = simulate_trials(_design(n), trial, n_replicates=R, seed=9, prognostic=linear_model)
    assert abs(res.power["drug"] - 0.8) < 3 * math.sqrt(0.8 * 0.2 / R), (n, res.power)
    assert res.diagnostics["rho_score"] == pytest.approx(TRUE_RHO, abs=0.04)
