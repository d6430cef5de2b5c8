"""A scenario's virtual patients with their parameters, as the engine drew them."""

from __future__ import annotations

import numpy as np
import pytest
from simulate_helpers import LogNormalPopulation

from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.simulate.patients import scenario_patients
from twinlab.virtual import KnownPopulation

ARMS = [Arm("qd", Regimen(100.0, n_doses=3))]
TIMES = np.arange(0.0, 73.0, 2.0)


def _scenario(seed: int = 11) -> Scenario:
    return Scenario("s", LogNormalPopulation(23), ARMS, TIMES, seed=seed, chunk_size=5)


def test_the_parameters_are_those_the_engine_simulated(tmp_path):
    scenario = _scenario()
    result = run(scenario, out=tmp_path)
    table = scenario_patients(scenario, 12, draw=1, result=tmp_path)  # across three chunks
    assert table["vpid"].tolist() == list(range(12))
    assert (table["posterior_draw"] == 13).all() and "WT" in table
    assert table.attrs["parameters"] == ["ka", "cl", "v"]
    # the same patients as a known population through the engine: the same exposures
    known = KnownPopulation("pk_1cmt_oral", {k: table[k].to_numpy() for k in ("ka", "cl", "v")})
    again = run(Scenario("again", known, ARMS, TIMES, seed=0)).patients
    ran = result.patients.query("draw == 1 and vpid < 12").sort_values("vpid")
    np.testing.assert_allclose(again["auc"].to_numpy(), ran["auc"].to_numpy(), rtol=1e-12)


def test_a_result_of_another_scenario_is_refused(tmp_path):
    run(_scenario(seed=12), out=tmp_path)
    with pytest.raises(ValueError, match="was not simulated from this scenario"):
        scenario_patients(_scenario(), 5, result=tmp_path)
    with pytest.raises(ValueError, match=r"n_patients must be within 1\.\.23"):
        scenario_patients(_scenario(), 24)


def test_surrogate_training_runs_are_the_simulated_patients_under_every_regimen(tmp_path):
    from twinlab.surrogate import training_table

    scenario = _scenario()
    run(scenario, out=tmp_path)
    table = training_table(
        scenario, n_patients=6, inputs=["cl", "v"], outputs=["auc", "cmax"], doses=[50, 100],
        intervals_h=[12, 24], duration_h=48, times=TIMES, result=tmp_path,
    )  # fmt: skip
    patients = scenario_patients(scenario, 6)
    assert len(table) == 6 * 4 and list(table.columns) == [
        "dose", "interval_h", "cl", "v", "auc", "cmax"
    ]  # fmt: skip
    assert table["cl"].tolist() == patients["cl"].tolist() * 4  # the simulated patients
    assert table.attrs["fixed"] == {"ka": float(np.median(patients["ka"]))}
    # linear kinetics: twice the dose, twice the exposure; the AUC observed up to 72 h is
    # below the AUC to infinity, dose x doses given / CL
    by = table.set_index(["interval_h", "dose"])
    for out in ("auc", "cmax"):
        np.testing.assert_allclose(by.loc[(12.0, 100.0), out], 2 * by.loc[(12.0, 50.0), out])
    total = table["dose"] * 48 / table["interval_h"] / table["cl"]
    assert (table["auc"] < total).all() and (table["auc"] > 0.5 * total).all()
    with pytest.raises(ValueError, match="not parameters of the population"):
        training_table(
            scenario, n_patients=2, inputs=["e0"], outputs=["auc"], doses=[1], intervals_h=[24],
            duration_h=24, times=TIMES,
        )  # fmt: skip
