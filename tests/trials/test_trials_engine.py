"""The trial and dose tools on the real simulation engine's ``patients`` table.

1-compartment oral PK with known individual clearances: at steady state the AUC over a
dosing interval is ``dose / CL``, so target attainment has a closed form per patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.trials import Design, recommend_regimen, simulate_trials, target_attainment
from twinlab.virtual import KnownPopulation

DOSES = (50.0, 100.0, 200.0, 400.0)


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(3)
    n = 400
    fast = np.arange(n) % 2 == 1
    cl = 5.0 * np.where(fast, 2.0, 1.0) * np.exp(rng.normal(0, 0.3, n))
    covariates = pd.DataFrame({"CYP": np.where(fast, "fast", "normal"), "WT": 70.0 + 0 * cl})
    pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": cl, "v": 50.0}, covariates=covariates)
    arms = [Arm("placebo", None)] + [
        Arm(f"{d:g} mg QD", Regimen(d, interval_h=24.0, n_doses=7)) for d in DOSES
    ]
    result = run(Scenario("trials-check", pop, arms, times=np.arange(0.0, 169.0, 0.5), seed=1))
    return result.patients, cl


def test_engine_auc_tau_is_dose_over_clearance(engine):
    patients, cl = engine
    rows = patients[patients["arm"] == "100 mg QD"].sort_values("vpid")
    np.testing.assert_allclose(rows["auc_tau"], 100.0 / cl[rows["vpid"]], rtol=0.02)


def test_pta_and_recommendation_on_engine_output_follow_the_clearance_covariate(engine):
    patients, cl = engine
    pta = target_attainment(patients, metric="auc_tau", target=15.0, by=["CYP"])
    vp = np.arange(len(cl))
    for row in pta.itertuples():
        if row.arm == "placebo":
            assert row.pta_mean == 0.0 and row.n_missing == row.n_patients
            continue
        dose = float(row.arm.split()[0])
        group = vp if row.CYP == "all" else vp[(vp % 2 == 1) == (row.CYP == "fast")]
        expected = np.mean(dose / cl[group] >= 15.0)
        assert row.pta_mean == pytest.approx(expected, abs=0.03), row
    rec = recommend_regimen(patients, metric="auc_tau", target=15.0, pta_goal=0.75, by=["CYP"])
    rec = rec.set_index("CYP")["recommended"]
    assert rec["normal"] == "100 mg QD"
    assert rec["fast"] == "200 mg QD"


def test_trial_on_an_exposure_endpoint_needs_a_fill_for_placebo(engine):
    patients, _ = engine
    design = Design.from_dict(
        {
            "arms": ["placebo", "100 mg QD"],
            "n_total": 60,
            "endpoint": {"kind": "continuous", "column": "auc_tau"},
            "analysis": "difference",
        }
    )
    with pytest.raises(ValueError, match="fill"):
        simulate_trials(design, patients, n_replicates=10, seed=1)
    filled = design.replace_with(endpoint={"kind": "continuous", "column": "auc_tau", "fill": 0})
    res = simulate_trials(filled, patients, n_replicates=200, seed=1)
    truth = patients.loc[patients["arm"] == "100 mg QD", "auc_tau"].mean()
    assert res.truth["100 mg QD"] == pytest.approx(truth)
    safety = design.replace_with(
        arms=["placebo", "400 mg QD"],
        endpoint={"kind": "safety", "column": "cmax", "threshold": 7.0},
    )
    res = simulate_trials(safety, patients, n_replicates=200, seed=2)
    rate = (patients.loc[patients["arm"] == "400 mg QD", "cmax"] > 7.0).mean()
    assert res.truth["400 mg QD"] == pytest.approx(rate)  # placebo has no events
    s = res.summary().iloc[0]
    assert abs(s["estimate_mean"] - rate) < 4 * s["estimate_sd"] / np.sqrt(200)
