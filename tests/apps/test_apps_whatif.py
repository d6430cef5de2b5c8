"""The what-if domain object against closed forms, the library's own ODE model, the known
parameters of the fixture twin and PD spec, and the fixture cohort's real patients."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from apps_fixtures import PD_SPEC, TRUTH

from twinlab.apps.stats import wilson
from twinlab.apps.whatif import CHUNK_SIZE, PD_MAX_STEP, WhatIf
from twinlab.pkpd import expand_doses, predict, regimen
from twinlab.trials import ancova_power, plan_variance_reduction
from twinlab.virtual import chunk_rng


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
    vp = whatif.population()
    p = vp.params
    expected = closed_form_oral(whatif.times(), 150.0, 12.0, 6, p["ka"], p["cl"], p["v"])
    np.testing.assert_allclose(whatif.concentrations(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("route", ["oral", "iv"])
def test_exposure_is_exact_not_read_off_the_plotted_grid(whatif, route):
    whatif.param.update(dose=150.0, interval_h=12.0, duration_days=3, route=route)
    got = whatif._answers()
    p = whatif.population().params
    tau, n = 12.0, 6
    fine = np.linspace((n - 1) * tau, n * tau, 24_001)  # the last interval, 1.8 s steps
    if route == "oral":
        conc = closed_form_oral(fine, 150.0, tau, n, p["ka"], p["cl"], p["v"])
    else:  # IV bolus: the peak is the instant after the dose, which no grid point sees
        k = (p["cl"] / p["v"])[:, None]
        dt = fine[None, :] - np.arange(n)[:, None, None] * tau
        conc = np.where(dt >= 0, 150.0 / p["v"][:, None] * np.exp(-k * np.maximum(dt, 0)), 0)
        conc = conc.sum(axis=0)
    np.testing.assert_allclose(got["ctrough"], conc[:, -1], rtol=1e-9)
    np.testing.assert_allclose(got["auc_tau"], np.trapezoid(conc, fine, axis=1), rtol=1e-6)
    np.testing.assert_allclose(got["cmax"], conc.max(axis=1), rtol=1e-5)
    assert np.all(got["cmax"] >= conc.max(axis=1) * (1 - 1e-12))


def test_population_recovers_the_twin_typical_clearance(project):
    w = WhatIf(root=str(project), n_patients=4000, seed=3, genotypes=["*1/*1"])
    vp = w.population()
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


def test_concentration_bands_need_no_pd_solve_and_power_is_cached_per_settings(whatif):
    """The served page shows the concentration bands before the urate is solved (a dose
    move's first message): they come from the unit-dose profiles alone, equal to those
    read off the full answers; the power is cached per answers and trial settings."""
    whatif.bands("effect")  # population and unit-dose profiles drawn
    whatif.dose = 170.0
    conc = whatif.bands("conc")
    assert not any(k[0] == "answers" and k[-1] == 170.0 for k in whatif._cache)  # no PD yet
    full = whatif.concentrations()
    np.testing.assert_allclose(conc["p95"], np.quantile(full, 0.95, axis=0), rtol=1e-10)
    first = whatif.power()
    assert whatif._last["power"] == "computed"
    assert whatif.power() == first and whatif._last["power"] == "cached"
    whatif.trial_n = 60  # another trial: computed again, for these settings
    assert whatif.power()["n_per_arm"] == 60 and whatif._last["power"] == "computed"
    whatif.dose = 180.0
    assert whatif.power()["effect"] < first["effect"]  # more drug, lower urate


@pytest.mark.parametrize("route", ["oral", "iv"])
def test_pd_integration_agrees_with_the_library_ode_within_its_error_estimate(whatif, route):
    m = 4
    whatif.route = route
    vp = whatif.population()
    pd_ = vp.params
    times = whatif.times()
    conc = whatif.concentrations()[:m]
    one = expand_doses(
        [regimen(whatif.dose, every=whatif.interval_h, n=whatif.n_doses, route=route)]
    )
    arrays = SimpleNamespace(
        n_subjects=m,
        obs_subject=np.repeat(np.arange(m), times.size),
        obs_time=np.tile(times, m),
        **{
            f"dose_{f}": np.repeat(getattr(one, f), m, axis=0)
            for f in ("time", "amt", "rate", "duration", "cmt")
        },
    )
    theta = {k: vp.params[k][:m] for k in ("ka", "cl", "v")}
    theta.update(e0=pd_["e0"][:m], kout=whatif.kout, imax=whatif.imax, ic50=pd_["ic50"][:m])
    ref = predict("pkpd_1cmt_oral_idr1_e0", theta, arrays)  # fine steps (0.05 h)
    np.testing.assert_allclose(ref["conc"].reshape(m, -1), conc, rtol=1e-9, atol=1e-12)
    mine = whatif.responses()[:m]
    err = np.abs(ref["effect"].reshape(m, -1) - mine).max()
    estimate = whatif.provenance()["pd_error"]
    assert err <= estimate
    assert estimate < 0.5  # mg/dL, against a baseline of ~8.5
    assert f"steps ≤ {PD_MAX_STEP:g} h" in whatif.provenance()["pd"]


@pytest.mark.parametrize("route", ["oral", "iv"])
def test_pd_path_is_the_public_engine_with_the_direct_kernels_values(whatif, route):
    """The response comes from twinlab.simulate.run (Scenario.ode_max_step = PD_MAX_STEP):
    equal to the compiled kernel called directly with the same step (tolerance 0: the same
    inputs and arithmetic), and the error estimate's coarse solve too."""
    from twinlab.pkpd.models import get_model
    from twinlab.simulate.ode_kernels import simulate_idr

    whatif.param.update(route=route, dose=150.0, duration_days=5)
    p = whatif.population().params
    model = "pkpd_1cmt_oral_idr1_e0"
    theta = {k: p[k] for k in get_model(model).all_params if k in p}
    n_doses, tau = whatif.n_doses, float(whatif.interval_h)
    times = whatif.times()
    direct = simulate_idr(
        model, theta, times, np.arange(n_doses) * tau, np.full(n_doses, 150.0),
        dose_cmt=np.full(n_doses, 1 if route == "oral" else 2), max_step=PD_MAX_STEP,
    )[1]  # fmt: skip
    np.testing.assert_array_equal(whatif.responses(), direct)
    m = 7
    coarse = simulate_idr(
        model, {k: v[:m] for k, v in theta.items()}, times[::2], np.arange(n_doses) * tau,
        np.full(n_doses, 150.0), dose_cmt=np.full(n_doses, 1 if route == "oral" else 2),
        max_step=2 * PD_MAX_STEP,
    )[1]  # fmt: skip
    np.testing.assert_array_equal(whatif._response(times[::2], m, 2 * PD_MAX_STEP).T, coarse)


def test_response_is_the_turnover_convolution_of_the_closed_form_concentration(whatif):
    """R(t) = e0 - imax e0 kout int_0^t C/(ic50 + C) e^{-kout (t - s)} ds, the integral by a
    dense trapezoid rule on the closed-form concentration (no ODE solver); placebo: R = e0."""
    whatif.param.update(dose=150.0, interval_h=12.0, duration_days=3)
    vp = whatif.population()
    p = vp.params
    m = 3
    s = np.linspace(0.0, whatif.times()[-1], 360_001)
    c = closed_form_oral(s, 150.0, 12.0, 6, p["ka"][:m], p["cl"][:m], p["v"][:m])
    e0, ic50 = p["e0"][:m, None], p["ic50"][:m, None]
    integrand = c / (ic50 + c) * np.exp(whatif.kout * s)  # times e^{-kout t} below
    steps = 0.5 * np.diff(s) * (integrand[:, 1:] + integrand[:, :-1])
    cum = np.concatenate([np.zeros((m, 1)), np.cumsum(steps, axis=1)], axis=1)
    exact = e0 - whatif.imax * e0 * whatif.kout * cum * np.exp(-whatif.kout * s)
    idx = np.searchsorted(s, whatif.times())
    np.testing.assert_allclose(s[idx], whatif.times(), atol=1e-9)
    err = np.abs(whatif.responses()[:m] - exact[:, idx]).max()
    assert err <= whatif.provenance()["pd_error"]
    assert np.abs(exact[:, -1] - e0[:, 0]).min() > 1.0  # the drug moved urate: a real check
    whatif.dose = 0.0
    np.testing.assert_array_equal(
        whatif.responses(), np.broadcast_to(p["e0"][:, None], (vp.n, whatif.times().size))
    )


def test_filters_select_the_population_and_an_empty_one_is_refused(project):
    w = WhatIf(root=str(project), n_patients=300, weight_range=(80.0, 110.0), genotypes=["*1/*3"])
    vp = w.population()
    assert vp.covariates["WT"].min() >= 80 and vp.covariates["WT"].max() <= 110
    assert set(np.unique(vp.covariates["CYP2C9"])) == {2.0}
    w.weight_range = (30.0, 31.0)
    with pytest.raises(ValueError, match="no real patient passes the criteria"):
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
    # adjusting gains over the difference of means (the score, from CRCL and WT, adds about
    # what the declared CRCL covariate explains: the baseline urate depends on CRCL only)
    assert p["power_procova"] > p["power_unadjusted"] and p["power_ancova"] > p["power_unadjusted"]
    assert p["variance_reduction"] == pytest.approx(p["variance_reduction_ancova"], abs=0.05)
    # the trial stage's planning (twinlab.trials.plan_variance_reduction) of the same design
    table = whatif._trial_table(np.arange(200, 400))
    design = whatif.trial_design().replace_with(analysis="procova")
    planned = plan_variance_reduction(design, table, prognostic=whatif._prognostic())
    assert p["variance_reduction"] == pytest.approx(planned["variance_reduction"].iloc[0])
    # one definition (twinlab.trials.procova_saving): adjusted N = N (1 − R²), saved = N R²
    assert p["rho"] ** 2 == pytest.approx(p["variance_reduction"])
    assert p["n_saved"] == pytest.approx(2 * whatif.trial_n * p["variance_reduction"])
    assert p["n_adjusted"] + p["n_saved"] == pytest.approx(2 * whatif.trial_n)
    assert p["n80_procova"] <= p["n80_unadjusted"]
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


def test_pd_settings_default_to_the_spec_and_rescale_the_same_patients(project):
    w = WhatIf(root=str(project), n_patients=2000, seed=4)
    spec = PD_SPEC["parameters"]
    assert (w.e0, w.omega_e0, w.kout, w.imax) == (8.0, 0.15, 0.02, 0.9)
    assert (w.ic50, w.omega_ic50) == (spec["ic50"]["guess"], spec["ic50"]["omega"])
    vp = w.population()
    # the spec's CRCL effect on the baseline, then BSV around the typical value
    typical = vp.params["e0"] / (vp.covariates["CRCL"].to_numpy() / 100) ** -0.25
    assert np.median(typical) == pytest.approx(8.0, rel=0.02)
    assert np.std(np.log(typical)) == pytest.approx(0.15, rel=0.1)
    w.e0 = 6.0  # a typical-value change: the same patients, their baseline scaled
    moved = w.population()
    np.testing.assert_allclose(moved.params["e0"], vp.params["e0"] * 0.75, rtol=1e-12)
    for p in ("ka", "cl", "v", "ic50"):
        np.testing.assert_array_equal(moved.params[p], vp.params[p])
    assert moved.pk_digest == vp.pk_digest  # so the cached PK profiles still apply
    assert w.provenance()["population"]["parameters"]["e0"]["typical"] == 6.0
    w.omega_e0 = 0.0  # no BSV: the baseline is the typical value with its CRCL effect
    crcl = w.population().covariates["CRCL"].to_numpy()
    np.testing.assert_allclose(w.population().params["e0"], 6.0 * (crcl / 100) ** -0.25)


def test_another_pd_spec_gives_other_defaults(project, tmp_path):
    other = {
        **PD_SPEC,
        "parameters": {**PD_SPEC["parameters"], "e0": {"guess": 7.0, "omega": None}},
    }
    path = tmp_path / "pd.yaml"
    path.write_text(yaml.safe_dump(other))
    w = WhatIf(root=str(project), n_patients=200, pd_spec=str(path))
    assert (w.e0, w.omega_e0) == (7.0, 0.0)
    assert w.provenance()["population"]["parameters"]["e0"]["omega"] is None
    w.pd_spec = "specs/pd_assumed.yaml"  # back to the project's: its values come back
    assert (w.e0, w.omega_e0) == (8.0, 0.15)


def test_provenance_says_how_the_population_was_drawn(project):
    w = WhatIf(root=str(project), n_patients=300, weight_range=(80.0, 200.0), genotypes=["*1/*3"])
    prov = w.provenance()
    pop = prov["population"]
    patients = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    by_hand = (patients["cov_weight_kg"] >= 80) & patients["cov_cyp2c9"].eq("*1/*3")
    assert pop["method"] == "resample"
    assert pop["criteria"] == ["WT >= 80", 'CYP2C9 in ["*1/*3"]']  # the upper end: no limit
    assert pop["real"]["patients"] == len(patients)
    assert pop["real"]["eligible"] == int(by_hand.sum()) > 0
    # the patients are spread over n_draws posterior draws (params.yaml: 10 by default)
    assert pop["fit"]["name"] == "twin_test" and len(pop["draws"]) == prov["n_draws"] == 10
    assert pop["parameters"]["cl"]["source"] == "fitted"
    assert pop["parameters"]["ic50"]["source"] == "assumed, not fitted"
    assert prov["cohort"] == "data/harmonized/demo"
    text = json.dumps(prov)  # JSON-ready, and no patient identifier in it
    assert not any(pid in text for pid in patients["patient_id"])


def test_patients_are_the_virtual_cohorts_chunks_and_a_larger_population_keeps_them(project):
    w = WhatIf(root=str(project), n_patients=300, seed=9, crcl_range=(60.0, 250.0))
    vp = w.population()
    vc = w.virtual_cohort()
    assert CHUNK_SIZE == 100
    second = vc.chunk(100, 200, chunk_rng(9, 1))  # chunk k from the stream (seed, k)
    draw = np.arange(100, 200) % w.n_draws  # patient i takes posterior draw i mod n_draws
    for p in vp.params:
        np.testing.assert_array_equal(vp.params[p][100:200], second.params[p][draw, np.arange(100)])
    # every virtual patient carries the covariates of an eligible real patient
    real = {tuple(r) for r in vc.eligible[["WT", "CRCL", "CYP2C9"]].to_numpy()}
    assert {tuple(r) for r in vp.covariates[["WT", "CRCL", "CYP2C9"]].to_numpy()} <= real
    assert vp.covariates["CRCL"].min() >= 60
    w.n_patients = 500
    more = w.population()
    for p in vp.params:
        np.testing.assert_array_equal(more.params[p][:300], vp.params[p])
    np.testing.assert_array_equal(more.noise[..., :300], vp.noise)


def test_copula_draws_new_covariates_within_the_filters(project):
    w = WhatIf(root=str(project), n_patients=400, method="copula", weight_range=(60.0, 100.0))
    vp = w.population()
    wt = vp.covariates["WT"].to_numpy()
    assert wt.min() >= 60 and wt.max() <= 100
    patients = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    assert not np.isin(wt, patients["cov_weight_kg"].to_numpy()).all()  # synthetic rows
    assert w.provenance()["population"]["method"] == "copula"


def test_a_missing_pd_spec_or_cohort_is_a_clear_error(project):
    with pytest.raises(ValueError, match=r"PD spec 'nope\.yaml' not found"):
        WhatIf(root=str(project), pd_spec="nope.yaml")
    with pytest.raises(ValueError, match="no harmonized cohort"):
        WhatIf(root=str(project), cohort="data/harmonized/nowhere").population()


def test_power_follows_the_trial_stages_design_noise_and_dropout(project):
    """Measurement SD and dropout of params.yaml's trial design lower the power exactly as the
    noncentral t says for the completers; the declared ANCOVA covariate is planned too."""
    w = WhatIf(root=str(project), n_patients=400, dose=100.0, trial_n=8)
    assert (w.outcome_sd, w.dropout) == (0.3, 0.1)  # params.yaml's trial design
    design = w.trial_design()
    assert design.analysis == "ancova" and design.covariates == ("CRCL",)
    declared = w.power()
    assert declared["variance_reduction_ancova"] > 0  # CRCL predicts baseline urate
    assert declared["power"] == declared["power_ancova"]
    w.param.update(outcome_sd=0.0, dropout=0.0)
    clean = w.power()
    w.param.update(outcome_sd=1.0, dropout=0.25)
    noisy = w.power()
    assert noisy["sd"] ** 2 == pytest.approx(clean["sd"] ** 2 + 1.0)
    assert noisy["n_completers"] == 12
    expected = ancova_power(noisy["effect"], noisy["sd"], 12, alpha=0.05)
    assert noisy["power_unadjusted"] == pytest.approx(expected)
    assert noisy["power_unadjusted"] < clean["power_unadjusted"]
    assert noisy["n80_unadjusted"] > clean["n80_unadjusted"]


def test_seed_and_draws_come_from_params_yaml_and_bands_carry_uncertainty(project):
    w = WhatIf(root=str(project), n_patients=400)
    assert w.seed == 1  # the fixture project's params.yaml seed, not a constant in the code
    assert w.n_draws == 10
    draws = w.virtual_cohort().chunk(0, 100, chunk_rng(1, 0)).params["cl"]
    assert draws.shape[0] == 10 and np.ptp(draws[:, 0]) > 0  # other draws, other values
    one = WhatIf(root=str(project), n_patients=400, n_draws=1)
    assert not np.array_equal(one.population().params["cl"], w.population().params["cl"])


def test_the_fitted_range_is_known_and_extrapolation_warned_or_refused(project):
    w = WhatIf(root=str(project), n_patients=200)
    fit = w.fitted()
    assert fit.doses == (100.0, 200.0) and fit.routes == ("oral",)
    assert "oral 100–200 mg" in fit.describe()
    w.dose = 150.0
    assert w.outside_fitted_range() == []
    w.param.update(dose=400.0, route="iv")
    outside = w.outside_fitted_range()
    assert len(outside) == 2 and "400 mg" in outside[0] and "iv" in outside[1]
    assert w.bands("conc")["p50"].max() > 0  # modelers: answered (the view warns)
    s = WhatIf(root=str(project), n_patients=200, extrapolation="refuse")
    assert s.param.route.objects == ["oral"]  # IV is not offered: the data are oral only
    s.dose = 400.0
    with pytest.raises(ValueError, match=r"outside the doses the twin was fitted on \(100–200"):
        s.bands("conc")
    s.dose = 0.0  # placebo is always answered
    assert s.bands("conc")["p50"].max() == 0


def test_a_dosing_interval_outside_the_fitted_ones_is_extrapolation(project, monkeypatch):
    # the fixture's twin is fitted on single doses; the demo's on doses every ~24 h (per
    # subject's median 23.9-24.1 h): its fitted range, with the fixture's doses and route
    w = WhatIf(root=str(project), n_patients=200, duration_days=2)
    daily = dataclasses.replace(w.fitted(), intervals_h=(23.9, 24.1))
    s = WhatIf(root=str(project), n_patients=200, duration_days=2, extrapolation="refuse")
    for what_if in (w, s):
        monkeypatch.setattr(what_if, "fitted", lambda: daily)
    assert w.outside_fitted_range() == []  # every 24 h
    w.interval_h = 12.0
    assert w.outside_fitted_range() == [
        "dosing every 12 h is outside the intervals the twin was fitted on (every 24 h)"
    ]
    assert w.bands("conc")["p50"].max() > 0  # modelers: answered (the view warns)
    w.param.update(interval_h=48.0, duration_days=1)
    assert w.outside_fitted_range() == []  # one dose: no interval
    s.scenario = "100 mg BID"
    with pytest.raises(ValueError, match=r"dosing every 12 h is outside .*every 24 h"):
        s.bands("conc")
    s.dose = 0.0  # placebo has no interval to extrapolate
    assert s.bands("conc")["p50"].max() == 0


def test_the_trial_inclusion_criteria_read_as_words():
    from twinlab.apps.views import _plain_criterion

    assert _plain_criterion("effect_baseline >= 7") == "baseline urate (mg/dL) ≥ 7"
    assert _plain_criterion("CRCL > 30") == "creatinine clearance (mL/min) > 30"


def test_a_download_before_a_served_moves_second_message_answers_the_new_settings(whatif):
    # served, a move first sends the concentration bands and answers the rest in a second
    # message; a download or report asked in between must not pair the new settings with the
    # previous tables
    from param.parameterized import discard_events

    from twinlab.apps.context import AppContext
    from twinlab.apps.views import WhatIfView

    view = WhatIfView(whatif, AppContext("mo", "modeler", whatif.root))
    before = view._tables["concentration_bands"].copy()
    with discard_events(whatif):  # the move's first message only: nothing answered yet
        whatif.dose = 2 * whatif.dose
    view._generation += 1
    csv = view._table_csv("concentration_bands").getvalue()
    assert view._answered == view._generation
    after = view._tables["concentration_bands"]
    numeric = after.select_dtypes("number").columns.difference(["time_h", "time"])
    assert (
        not after[numeric].equals(before[numeric])
        and csv == view._table_csv("concentration_bands").getvalue()
    )
