"""Monte Carlo trials on potential-outcome tables with a known truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import potential_outcomes
from scipy import stats

from twinlab.trials import Design, Endpoint, ancova_power, power_curve, simulate_trials


def _design(**kw) -> Design:
    base = {
        "arms": ["placebo", "active"],
        "n_total": 100,
        "endpoint": {"kind": "change", "column": "end", "baseline": "baseline"},
    }
    return Design.from_dict({**base, **kw})


def _within(observed: float, expected: float, n: int, k: float = 3.0) -> bool:
    se = math.sqrt(expected * (1 - expected) / n)
    return abs(observed - expected) <= k * se


@pytest.mark.parametrize(
    ("analysis", "sided", "alpha"),
    [("difference", 2, 0.05), ("ancova", 2, 0.05), ("ancova", 1, 0.025)],
)
def test_type_one_error_under_the_null_is_alpha(null_table, analysis, sided, alpha):
    design = _design(analysis=analysis, sided=sided, alpha=alpha, outcome_sd=0.3, dropout=0.1)
    R = 4000
    result = simulate_trials(design, null_table, n_replicates=R, seed=21)
    size = result.power["active"]
    assert _within(size, alpha, R), (size, alpha)
    assert result.truth["active"] == 0.0


def test_sharp_null_of_a_population_with_an_effect_gives_alpha(effect_table):
    R = 4000
    res = simulate_trials(_design(), effect_table, n_replicates=R, seed=31, null=True)
    assert res.truth["active"] == 0.0
    assert _within(res.power["active"], 0.05, R), res.power
    assert simulate_trials(_design(), effect_table, n_replicates=200, seed=31).truth[
        "active"
    ] == pytest.approx(0.4)


@pytest.mark.parametrize(("analysis", "rho"), [("difference", 0.0), ("ancova", 0.5)])
def test_simulated_power_matches_the_analytic_formula(effect_table, analysis, rho):
    design = _design(analysis=analysis)
    R = 3000
    result = simulate_trials(design, effect_table, n_replicates=R, seed=5)
    expected = ancova_power(0.4, 1.0, 100, rho=rho)
    assert _within(result.power["active"], expected, R), (result.power, expected)
    s = result.summary().iloc[0]
    # the estimate is unbiased and its SD is what the analysis' SE says
    assert abs(s["estimate_mean"] - 0.4) < 3 * s["estimate_sd"] / math.sqrt(R)
    assert s["estimate_sd"] == pytest.approx(s["se_mean"], rel=0.06)


def test_power_with_dropout_unequal_allocation_and_one_sided_test(effect_table):
    design = _design(arms={"placebo": 1, "active": 2}, n_total=150, dropout=0.2, sided=1,
                     alpha=0.025)  # fmt: skip
    R = 3000
    result = simulate_trials(design, effect_table, n_replicates=R, seed=8)
    mean_n = result.replicates["n_analysed"].mean()
    assert mean_n == pytest.approx(120, abs=3 * math.sqrt(150 * 0.2 * 0.8 / R))
    expected = ancova_power(0.4, 1.0, 120, rho=0.5, ratio=2.0, sided=1, alpha=0.025)
    assert _within(result.power["active"], expected, R), (result.power, expected)


def test_lower_is_better_one_sided_tests_look_the_right_way():
    table = potential_outcomes(3000, effects={"placebo": 0.0, "active": -0.4}, seed=4)
    lower = _design(sided=1, alpha=0.025, endpoint={"kind": "continuous", "column": "y",
                                                    "better": "lower"})  # fmt: skip
    higher = lower.replace_with(endpoint={"kind": "continuous", "column": "y"})
    assert simulate_trials(lower, table, n_replicates=1000, seed=1).power["active"] > 0.4
    assert simulate_trials(higher, table, n_replicates=1000, seed=1).power["active"] < 0.01


def test_inclusion_criteria_decide_who_is_randomized():
    # the drug works only in patients under 70 kg; a trial enrolling >= 70 kg sees no effect
    table = potential_outcomes(4000, effects={"placebo": 0.0, "active": 0.0}, seed=6)
    light = table["WT"] < 70
    table.loc[light & (table["arm"] == "active"), "y"] += 1.0
    design = _design(endpoint={"kind": "continuous", "column": "y"}, analysis="difference")
    heavy_only = design.replace_with(inclusion=["WT >= 70"])
    R = 2000
    res = simulate_trials(heavy_only, table, n_replicates=R, seed=2)
    assert _within(res.power["active"], 0.05, R)
    share = float((table.loc[table["arm"] == "placebo", "WT"] >= 70).mean())
    assert res.diagnostics["eligible_share"] == pytest.approx(share)
    light_only = design.replace_with(inclusion=["WT < 70"])
    assert simulate_trials(light_only, table, n_replicates=200, seed=2).power["active"] > 0.95


def test_responder_endpoint_estimates_the_difference_in_response_rates():
    table = potential_outcomes(4000, effects={"placebo": 0.0, "active": 0.5}, rho=0.0, seed=9)
    design = _design(endpoint={"kind": "responder", "column": "y", "threshold": 0.5},
                     analysis="difference", outcome_sd=0.5, n_total=200)  # fmt: skip
    R = 2000
    res = simulate_trials(design, table, n_replicates=R, seed=3)
    # y ~ N(effect, 1) plus noise N(0, 0.5²): P(respond) = Phi((effect - 0.5) / sqrt(1.25))
    p0, p1 = (stats.norm.sf((0.5 - e) / math.sqrt(1.25)) for e in (0.0, 0.5))
    assert res.truth["active"] == pytest.approx(p1 - p0, abs=0.02)  # finite pool
    s = res.summary().iloc[0]
    assert abs(s["estimate_mean"] - res.truth["active"]) < 3 * s["estimate_sd"] / math.sqrt(R)


def test_multiple_arms_each_compared_with_control_and_bonferroni_halves_alpha():
    table = potential_outcomes(4000, effects={"p": 0.0, "low": 0.0, "high": 0.0}, seed=13)
    design = Design(arms=["p", "low", "high"], n_total=90, endpoint=Endpoint("continuous", "y"),
                    analysis="difference", multiplicity="bonferroni")  # fmt: skip
    R = 4000
    res = simulate_trials(design, table, n_replicates=R, seed=4)
    for arm in ("low", "high"):
        assert _within(res.power[arm], 0.025, R), res.power


def test_probability_of_success_requires_a_clinically_relevant_estimate(effect_table):
    design = _design(success_delta=0.4)
    res = simulate_trials(design, effect_table, n_replicates=2000, seed=7)
    reps = res.replicates
    assert (reps["success"] == (reps["significant"] & (reps["estimate"] >= 0.4))).all()
    s = res.summary().iloc[0]
    assert 0.2 < s["pos"] < s["power"]  # about half the significant trials clear 0.4


def test_posterior_draws_are_sampled_per_replicate():
    table = potential_outcomes(600, n_draws=3, seed=3)
    table.loc[table["arm"] == "active", "y"] += table["draw"] * 0.5  # effect 0.4, 0.9, 1.4
    design = _design(endpoint={"kind": "continuous", "column": "y"}, analysis="difference")
    res = simulate_trials(design, table, n_replicates=300, seed=1)
    draws = res.replicates["draw"]
    assert set(draws) == {0, 1, 2}
    by_draw = res.replicates.groupby("draw")["estimate"].mean()
    np.testing.assert_allclose(by_draw.to_numpy(), [0.4, 0.9, 1.4], atol=0.1)
    fixed = simulate_trials(design.replace_with(draw=2), table, n_replicates=50, seed=1)
    assert set(fixed.replicates["draw"]) == {2}


def test_same_seed_same_result_and_metrics_are_json(effect_table):
    design = _design(enrolment_per_month=20)
    a = simulate_trials(design, effect_table, n_replicates=300, seed=1, batch_size=64)
    b = simulate_trials(design, effect_table, n_replicates=300, seed=1, batch_size=64)
    c = simulate_trials(design, effect_table, n_replicates=300, seed=2, batch_size=64)
    assert a.replicates.equals(b.replicates)
    assert not a.replicates["estimate"].equals(c.replicates["estimate"])
    metrics = json.loads(json.dumps(a.to_metrics(), allow_nan=False))
    assert metrics["comparisons"]["active"]["power"] == a.power["active"]
    assert metrics["duration_months"] == pytest.approx(5.0)


def test_results_are_written_for_dvc(effect_table, tmp_path):
    res = simulate_trials(_design(), effect_table, n_replicates=100, seed=1)
    paths = res.write(tmp_path / "trial")
    assert json.loads(paths["metrics"].read_text()) == json.loads(json.dumps(res.to_metrics()))
    pd.testing.assert_frame_equal(pd.read_parquet(paths["replicates"]), res.replicates)
    assert pd.read_csv(paths["summary"])["power"].iloc[0] == res.power["active"]


def test_power_curve_follows_the_analytic_curve(effect_table):
    design = _design()
    R = 1500
    curve = power_curve(design, effect_table, [40, 80, 160], n_replicates=R, seed=3)
    assert curve["power"].is_monotonic_increasing
    for row in curve.itertuples():
        assert _within(row.power, row.analytic_power, R), row
    assert curve["delta"].iloc[0] == pytest.approx(0.4)
    assert curve["variance_reduction"].iloc[0] == pytest.approx(0.25, abs=0.04)
