"""The what-if domain object against closed forms, the library's own ODE model and the
known parameters of the fixture twin."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from apps_fixtures import TRUTH

from twinlab.apps.stats import wilson
from twinlab.apps.whatif import WhatIf, integrate_idr1
from twinlab.pkpd import expand_doses, regimen, simulate


@pytest.fixture
def whatif(project) -> WhatIf:
    return WhatIf(root=str(project), n_patients=400, seed=11)


def closed_form_oral(t, dose, tau, n_doses, ka, cl, v):
    """1-compartment oral superposition, by hand."""
    k = cl / v
    out = np.zeros((ka.size, t.size))
    for j in range(n_doses):
        dt = t - j * tau
        on = dt >= 0
        dt = np.where(on, dt, 0.0)
        term = (np.exp(-k[:, None] * dt) - np.exp(-ka[:, None] * dt)) * on
        out += dose * ka[:, None] / (v[:, None] * (ka - k)[:, None]) * term
    return out


def test_concentrations_equal_the_closed_form_superposition(whatif):
    whatif.param.update(dose=150.0, interval_h=12.0, duration_days=3)
    vp, _ = whatif.population()
    p = vp.params
    expected = closed_form_oral(whatif.times(), 150.0, 12.0, 6, p["ka"], p["cl"], p["v"])
    np.testing.assert_allclose(whatif.concentrations(), expected, rtol=1e-9, atol=1e-12)


def test_population_recovers_the_twin_typical_clearance(project):
    w = WhatIf(root=str(project), n_patients=4000, seed=3, genotypes=["*1/*1"])
    vp, _ = w.population()
    cov = vp.covariates
    assert set(np.unique(cov["CYP2C9"])) == {0.0}
    typical = vp.params["cl"] / ((cov["WT"] / 70) ** 0.75 * (cov["CRCL"] / 100) ** 0.5)
    # median of exp(eta) is 1: the typical value comes back within sampling error
    assert np.median(typical) == pytest.approx(TRUTH["cl"], rel=0.03)
    assert np.std(np.log(typical)) == pytest.approx(TRUTH["omega_cl"], rel=0.1)


def test_a_dose_change_rescales_the_cache_exactly_as_a_full_resimulation(whatif):
    whatif.dose = 100.0
    low = whatif.concentrations().copy()
    whatif.dose = 250.0
    high = whatif.concentrations()
    assert whatif.provenance()["pk_cache"] == "cached"
    np.testing.assert_allclose(high, 2.5 * low, rtol=1e-12)
    full = whatif._simulate_pk(250.0)  # no cache, no scaling
    np.testing.assert_allclose(high, full, rtol=1e-10, atol=1e-14)
    bands = whatif.bands("conc")
    np.testing.assert_allclose(bands["p50"], np.quantile(full, 0.5, axis=0), rtol=1e-10)


def test_pd_integration_agrees_with_the_library_ode_within_its_error_estimate(whatif):
    m = 4
    vp, pd_ = whatif.population()
    times = whatif.times()
    conc = whatif.concentrations()[:m]
    one = expand_doses([regimen(whatif.dose, every=whatif.interval_h, n=whatif.n_doses)])
    arrays = SimpleNamespace(
        n_subjects=m,
        obs_subject=np.repeat(np.arange(m), times.size),
        obs_time=np.tile(times, m),
        **{
            f"dose_{f}": np.repeat(getattr(one, f), m, axis=0)
            for f in ("time", "amt", "rate", "duration", "cmt")
        },
    )
    theta = {k: v[:m] for k, v in vp.params.items()}
    theta.update(e0=pd_["e0"][:m], kout=whatif.kout, imax=whatif.imax, ic50=pd_["ic50"][:m])
    ref = simulate("pkpd_1cmt_oral_idr1_e0", theta, arrays)
    np.testing.assert_allclose(ref["conc"].reshape(m, -1), conc, rtol=1e-9, atol=1e-12)
    mine = integrate_idr1(
        times, conc, e0=pd_["e0"][:m], kout=whatif.kout, imax=whatif.imax, ic50=pd_["ic50"][:m]
    )
    err = np.abs(ref["effect"].reshape(m, -1) - mine).max()
    estimate = whatif.provenance()["pd_error"]
    assert err <= estimate
    assert estimate < 0.5  # mg/dL, against a baseline of ~8.5


def test_idr_reaches_its_closed_form_steady_state():
    t = np.linspace(0, 2000, 20001)
    r = integrate_idr1(
        t, np.full((2, t.size), [[0.5], [3.0]]), e0=8.0, kout=0.02, imax=0.9, ic50=1.0
    )
    np.testing.assert_allclose(
        r[:, -1], 8.0 * (1 - 0.9 * np.array([0.5 / 1.5, 3.0 / 4.0])), rtol=1e-6
    )  # the scheme's O((kout dt)^2 / 12) bias


def test_filters_select_the_population_and_an_empty_one_is_refused(project):
    w = WhatIf(root=str(project), n_patients=300, weight_range=(80.0, 110.0), genotypes=["*1/*3"])
    vp, _ = w.population()
    assert vp.covariates["WT"].min() >= 80 and vp.covariates["WT"].max() <= 110
    assert set(np.unique(vp.covariates["CYP2C9"])) == {2.0}
    w.weight_range = (30.0, 31.0)
    with pytest.raises(ValueError, match="no fitted subject matches"):
        w.bands("conc")


def test_same_seed_same_answer_other_seed_other_patients(project):
    a = WhatIf(root=str(project), n_patients=300, seed=5).bands("effect")
    b = WhatIf(root=str(project), n_patients=300, seed=5).bands("effect")
    c = WhatIf(root=str(project), n_patients=300, seed=6).bands("effect")
    assert a.equals(b)
    assert not np.allclose(a["p50"], c["p50"])


def test_attainment_moves_the_right_way_with_dose_and_thresholds(whatif):
    whatif.param.update(dose=50.0, target_trough=0.0, safety_cmax=1e6)
    t = whatif.attainment().set_index("criterion")["fraction"]
    assert t.iloc[0] == 1.0 and t.iloc[2] == 0.0
    whatif.param.update(target_trough=0.5, safety_cmax=2.0)
    low = whatif.attainment()["fraction"].to_numpy()
    whatif.dose = 300.0
    high = whatif.attainment()
    assert (high["fraction"].to_numpy() >= low).all()  # every criterion rises with dose
    assert ((high["ci_low"] <= high["fraction"]) & (high["fraction"] <= high["ci_high"])).all()
    by = whatif.attainment(by="CYP2C9")
    assert set(by["group"]) <= {"*1/*1", "*1/*2", "*1/*3"}
    assert by.groupby("criterion")["n"].sum().eq(whatif.n_patients).all()


def test_wilson_interval_known_values():
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    lo, hi = wilson(5, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.237, 0.763)


def test_twin_adjustment_raises_power_and_placebo_has_no_effect(whatif):
    whatif.param.update(dose=10.0, trial_n=10)
    p = whatif.power()
    assert p["effect"] < 0  # urate falls on drug
    assert 0.0 < p["rho"] < 1.0
    assert p["power_procova"] > p["power"]
    assert p["n80_procova"] <= p["n80"]
    whatif.dose = 0.0
    p0 = whatif.power()
    se = p0["sd"] * np.sqrt(2 / whatif.n_patients)
    assert abs(p0["effect"]) < 4 * se


def test_scenario_presets_and_provenance(whatif):
    whatif.scenario = "100 mg BID"
    assert (whatif.dose, whatif.interval_h) == (100.0, 12.0)
    prov = whatif.provenance()
    assert prov["model"] == "twin_test/1"
    assert len(prov["data_hash"]) == 64
    assert prov["seed"] == 11
    assert prov["method"] == "engine"
    params = whatif.query_params()
    assert params["dose"] == 100.0 and params["model"] == "twin_test/1"


def test_no_registered_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no registered twin model"):
        WhatIf(root=str(tmp_path))
