"""The compiled indirect-response kernel against the NumPy back end and closed forms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from twinlab.pkpd.models import predict as pkpd_predict
from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.simulate.ode_kernels import ODE_KERNEL_MODELS, simulate_idr, step_groups
from twinlab.virtual import KnownPopulation

N = 3


def _theta(model: str, rng: np.random.Generator, *, lag: bool) -> dict[str, np.ndarray]:
    kind, e0 = ODE_KERNEL_MODELS[model]
    th = {
        "ka": rng.uniform(0.6, 2.0, N),
        "cl": rng.uniform(2.0, 5.0, N),
        "v": rng.uniform(20.0, 40.0, N),
        "kout": rng.uniform(0.05, 0.3, N),
        "gamma": np.array([1.0, 1.7, 0.8]),
    }
    th["e0" if e0 else "kin"] = rng.uniform(5.0, 10.0, N)
    if kind in (1, 2):
        th.update(imax=rng.uniform(0.3, 0.9, N), ic50=rng.uniform(0.5, 2.0, N))
    else:
        th.update(emax=rng.uniform(0.5, 3.0, N), ec50=rng.uniform(0.5, 2.0, N))
    if lag:  # lags that put the depot input inside RK4 steps, and bioavailability
        th.update(tlag=np.array([0.013, 0.5, 1.027]), f=rng.uniform(0.5, 1.0, N))
    return th


def _numpy(model, theta, times, dose_time, dose_amt, dose_dur=None, dose_cmt=None):
    """The NumPy back end (twinlab.pkpd.predict) on the same doses for every patient."""
    n, d = N, len(dose_time)
    dose_dur = np.zeros(d) if dose_dur is None else dose_dur
    dose_cmt = np.ones(d, dtype=np.int64) if dose_cmt is None else dose_cmt
    arrays = SimpleNamespace(
        n_subjects=n,
        obs_subject=np.repeat(np.arange(n), times.size),
        obs_time=np.tile(times, n),
        **{
            f"dose_{k}": np.tile(np.asarray(v, dtype=float), (n, 1))
            for k, v in {"time": dose_time, "amt": dose_amt, "duration": dose_dur}.items()
        },
        dose_rate=np.zeros((n, d)),
        dose_cmt=np.tile(np.asarray(dose_cmt, dtype=np.int64), (n, 1)),
    )
    res = pkpd_predict(model, theta, arrays)
    return res["conc"].reshape(n, -1), res["effect"].reshape(n, -1)


def _assert_close(got, want, rtol=1e-8):
    conc, effect = got
    ref_conc, ref_effect = want
    np.testing.assert_allclose(conc, ref_conc, rtol=rtol, atol=rtol * np.abs(ref_conc).max())
    np.testing.assert_allclose(effect, ref_effect, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("model", list(ODE_KERNEL_MODELS))
@pytest.mark.parametrize("lag", [False, True])
def test_kernel_matches_the_numpy_back_end_single_dose_and_28_daily_doses(model, lag):
    th = _theta(model, np.random.default_rng(len(model) + 7 * lag), lag=lag)
    times = np.linspace(0.0, 48.0, 97)
    one = simulate_idr(model, th, times, [0.0], [100.0])
    _assert_close(one, _numpy(model, th, times, [0.0], [100.0]))
    assert np.ptp(one[1]) > 0.05 * np.abs(one[1]).max()  # the drug moves the response
    times = np.arange(0.0, 673.0, 12.0)
    doses = np.arange(28) * 24.0
    multi = simulate_idr(model, th, times, doses, np.full(28, 100.0))
    _assert_close(multi, _numpy(model, th, times, doses, np.full(28, 100.0)))


@pytest.mark.parametrize("model", ["pkpd_1cmt_oral_idr2", "pkpd_1cmt_oral_idr3_e0"])
def test_iv_bolus_infusion_and_depot_doses_mixed(model):
    th = _theta(model, np.random.default_rng(5), lag=True)
    times = np.arange(0.0, 49.0, 1.5)
    dt, amt = np.array([0.0, 6.0, 12.0, 24.0]), np.array([50.0, 80.0, 100.0, 60.0])
    dur, cmt = np.array([0.0, 0.0, 3.0, 0.0]), np.array([2, 1, 2, 2])
    got = simulate_idr(model, th, times, dt, amt, dur, cmt)
    _assert_close(got, _numpy(model, th, times, dt, amt, dur, cmt))
    # a dose counts strictly after it: at t = 24 h the bolus given then is not yet seen
    j = int(np.flatnonzero(times == 24.0)[0])
    before = simulate_idr(model, th, times, dt[:3], amt[:3], dur[:3], cmt[:3])
    np.testing.assert_array_equal(got[0][:, : j + 1], before[0][:, : j + 1])
    assert np.all(got[0][:, j + 1] > before[0][:, j + 1])


def test_concentration_is_the_analytic_bateman_function():
    th = {"ka": 1.3, "cl": 4.0, "v": 32.0, "kin": 2.0, "kout": 0.2, "imax": 0.5, "ic50": 1.0,
          "f": 0.7, "tlag": 0.73}  # fmt: skip
    times = np.linspace(0.0, 96.0, 193)
    conc, _ = simulate_idr("pkpd_1cmt_oral_idr1", th, times, [0.0, 24.0], [100.0, 100.0])
    k = 4.0 / 32.0
    want = sum(
        0.7 * 100.0 * 1.3 / (32.0 * (1.3 - k)) * (np.exp(-k * s) - np.exp(-1.3 * s)) * (s > 0)
        for s in (times - 0.73, times - 24.73)
    )
    np.testing.assert_allclose(conc[0], want, rtol=1e-12, atol=1e-14)


def test_idr1_reaches_the_closed_form_steady_state_under_constant_infusion():
    rate, cl, v = 10.0, 5.0, 25.0  # C_ss = rate / cl = 2
    th = {"ka": 1.0, "cl": cl, "v": v, "kin": 3.0, "kout": 0.4, "imax": 0.8, "ic50": 1.5}
    times = np.array([0.0, 50.0, 300.0, 400.0])
    conc, effect = simulate_idr(
        "pkpd_1cmt_oral_idr1", th, times, [0.0], [rate * 1000.0], [1000.0], [2]
    )
    np.testing.assert_allclose(conc[0], rate / cl * -np.expm1(-cl / v * times), rtol=1e-12)
    c = rate / cl
    r_ss = 3.0 * (1.0 - 0.8 * c / (1.5 + c)) / 0.4
    np.testing.assert_allclose(effect[0, 2:], r_ss, rtol=1e-10)
    assert effect[0, 0] == 3.0 / 0.4


@pytest.mark.parametrize("model", list(ODE_KERNEL_MODELS))
def test_placebo_stays_exactly_at_baseline(model):
    th = _theta(model, np.random.default_rng(1), lag=True)
    base = th["e0"] if model.endswith("_e0") else th["kin"] / th["kout"]
    conc, effect = simulate_idr(model, th, np.arange(0.0, 169.0, 4.0), [0.0], [0.0])
    assert np.all(conc == 0.0)
    np.testing.assert_array_equal(effect, np.broadcast_to(base[:, None], effect.shape))


def test_a_patient_does_not_depend_on_the_others_in_the_call():
    model = "pkpd_1cmt_oral_idr4"
    th = _theta(model, np.random.default_rng(2), lag=True)
    times, doses = np.arange(0.0, 97.0, 4.0), np.array([0.0, 24.0, 48.0])
    conc, effect = simulate_idr(model, th, times, doses, np.full(3, 100.0))
    one = {k: v[1:2] for k, v in th.items()}
    c1, e1 = simulate_idr(model, one, times, doses, np.full(3, 100.0))
    np.testing.assert_array_equal(c1[0], conc[1])
    np.testing.assert_array_equal(e1[0], effect[1])


def test_step_groups_keep_the_grid_time():
    grid = np.unique(np.concatenate([np.linspace(0, 4, 81), np.linspace(4, 672, 13361)]))
    h = np.diff(grid)
    reps, idx = step_groups(h)
    assert reps.size < 5
    assert abs(reps[idx].sum() - 672.0) < 1e-9
    assert np.max(np.abs(reps[idx] - h) / h) < 1e-9


def test_clear_errors_for_user_mistakes():
    th = {"ka": 1.0, "cl": 2.0, "v": 10.0, "kin": 1.0, "kout": 0.1, "imax": 0.5, "ic50": 1.0}
    with pytest.raises(KeyError, match="covers"):
        simulate_idr("pk_1cmt_oral", th, [0.0, 1.0], [0.0], [1.0])
    with pytest.raises(KeyError, match="'ic50' missing"):
        no_ic50 = {k: v for k, v in th.items() if k != "ic50"}
        simulate_idr("pkpd_1cmt_oral_idr1", no_ic50, [0.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="sorted"):
        simulate_idr("pkpd_1cmt_oral_idr1", th, [2.0, 1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="same length"):
        simulate_idr("pkpd_1cmt_oral_idr1", th, [0.0, 1.0], [0.0, 1.0], [1.0])


# ------------------------------------------------------------------------ through the engine

PK = {"ka": [0.9, 1.4, 1.1], "cl": [2.5, 4.0, 3.0], "v": [30.0, 25.0, 40.0]}


def _engine_scenario(model: str, pd_par: dict) -> Scenario:
    arms = [
        Arm("placebo", None),
        Arm("qd", Regimen(100.0, duration_h=168.0)),
        Arm("inf", Regimen(200.0, n_doses=2, interval_h=48.0, route="infusion", infusion_h=2.0)),
    ]
    pop = KnownPopulation(model, {**PK, **pd_par, "tlag": 0.3, "f": 0.8})
    return Scenario("idr", pop, arms, np.arange(0.0, 193.0, 4.0), seed=3, chunk_size=2)


@pytest.mark.parametrize(
    ("model", "pd_par"),
    [
        ("pkpd_1cmt_oral_idr1_e0", {"e0": 8.5, "kout": 0.05, "imax": 0.9, "ic50": 1.0}),
        ("pkpd_1cmt_oral_idr4", {"kin": 0.4, "kout": 0.05, "emax": 2.0, "ec50": 1.5,
                                 "gamma": 1.4}),
    ],
)  # fmt: skip
def test_engine_auto_uses_the_kernel_and_matches_numpy(model, pd_par):
    sc = _engine_scenario(model, pd_par)
    fast = run(sc)
    assert fast.run["backend"] == "numba"
    slow = run(sc, backend="numpy")
    assert slow.run["backend"] == "numpy"
    for e in ("conc", "effect"):
        a, b = fast.dataset[e].values, slow.dataset[e].values
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())
    base = 8.5 if model.endswith("_e0") else 0.4 / 0.05
    placebo = fast.dataset["effect"].sel(arm="placebo").values
    np.testing.assert_array_equal(placebo, np.full_like(placebo, base))
    again = run(sc)
    for e in ("conc", "effect"):
        np.testing.assert_array_equal(again.dataset[e].values, fast.dataset[e].values)


def test_scenario_ode_max_step_sets_the_engines_grid_on_every_back_end():
    """Scenario.ode_max_step is the kernel's max_step, exactly (same inputs, same arithmetic),
    and the NumPy back end's RK4 grid (agreeing with the kernel to rounding); the default
    stays the fine step."""
    model = "pkpd_1cmt_oral_idr1_e0"
    sc = _engine_scenario(model, {"e0": 8.5, "kout": 0.05, "imax": 0.9, "ic50": 1.0})
    coarse = Scenario.from_dict({**sc.to_dict(), "ode_max_step": 2.0}, sc.population)
    arm = sc.arms[1]
    doses = arm.regimen.doses()
    theta = {k: np.asarray(v, dtype=float) for k, v in sc.population.params.items()}
    args = (model, theta, sc.times, [d.time for d in doses], [d.amt for d in doses])
    for scenario, step in ((sc, None), (coarse, 2.0)):
        got = run(scenario).dataset.sel(arm="qd").isel(draw=0)
        conc, effect = simulate_idr(*args, max_step=step)
        np.testing.assert_array_equal(got["conc"].values, conc)
        np.testing.assert_array_equal(got["effect"].values, effect)
        slow = run(scenario, backend="numpy").dataset.sel(arm="qd").isel(draw=0)
        np.testing.assert_allclose(slow["effect"].values, effect, rtol=1e-10)
    fine = simulate_idr(*args)[1]
    assert 1e-6 < np.abs(simulate_idr(*args, max_step=2.0)[1] - fine).max() < 0.05


def test_engine_reports_singular_parameters():
    pop = KnownPopulation(
        "pkpd_1cmt_oral_idr1",
        {"ka": [1.0, 0.1], "cl": 2.0, "v": 20.0, "kin": 1.0, "kout": 0.1, "imax": 0.5,
         "ic50": 1.0},
    )  # fmt: skip
    sc = Scenario("s", pop, [Arm("qd", Regimen(10.0, n_doses=2))], [0.0, 12.0, 24.0], seed=0)
    with pytest.raises(ValueError, match=r"non-finite concentrations .* virtual patient 1"):
        run(sc)


def test_numba_backend_still_refuses_models_without_a_kernel():
    pop = KnownPopulation("pk_1cmt_oral_mm", {"ka": 1.0, "v": 20.0, "vm": 10.0, "km": 2.0})
    sc = Scenario("mm", pop, [Arm("qd", Regimen(10.0, n_doses=2))], [0.0, 12.0, 24.0], seed=0)
    with pytest.raises(ValueError, match=r"compiled back end covers .*pkpd_1cmt_oral_idr1_e0"):
        run(sc, backend="numba")
    assert run(sc).run["backend"] == "numpy"
