"""ODE models: the fixed-step RK4 against scipy's solve_ivp (rtol 1e-8)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from test_pkpd_models import THETA, make_arrays

from twinlab.pkpd.models import get_model, ode_grid, predict
from twinlab.pkpd.ode import rk4, step_times, time_grid
from twinlab.pkpd.pd import idr_rhs, sigmoid_emax

TIMES = np.array([0.5, 1.0, 2.0, 3.3, 6.0, 11.9, 12.0, 13.0, 18.7, 24.0, 36.0, 48.0])
DOSES = ([0.0, 12.0], [100.0, 150.0])


def reference(rhs_pk_pd, y0, t_eval):
    """solve_ivp through each dosing interval, adding depot doses at the dose times."""
    y = np.array(y0, float)
    out = []
    bounds = [*DOSES[0], 48.0]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        y[0] += DOSES[1][i]
        sel = t_eval[(t_eval > a) & (t_eval <= b)]
        sol = solve_ivp(
            rhs_pk_pd,
            (a, b),
            y,
            t_eval=sel,
            rtol=1e-8,
            atol=1e-10,
            method="LSODA",
            dense_output=True,
        )
        out.append(sol.y.T)
        y = sol.sol(b)
    return np.concatenate(out)


def test_time_grid_keeps_every_time_and_caps_the_step():
    times = np.array([0.0, 0.1, 3.0, 3.05, 10.0])
    grid = time_grid(times, max_step=0.25)
    assert np.isin(times, grid).all()
    assert np.diff(grid).max() <= 0.25 + 1e-12 and np.all(np.diff(grid) > 0)


def test_rk4_is_fourth_order():
    errors = []
    for step in (0.25, 0.125):
        grid = time_grid(np.array([0.0, 4.0]), max_step=step)
        h, *_ = step_times(grid)
        u = np.zeros((h.size, 1))
        y = rk4(np, lambda y, u, k: -k * y + u, np.ones(1), h, u, u, u, params=(1.3,))
        errors.append(abs(y[-1, 0] - np.exp(-1.3 * 4.0)))
    assert 13 < errors[0] / errors[1] < 20


def _mm_problem(vm, km, v=10.0, a0=500.0, t_end=24.0):
    """An IV bolus with Michaelis-Menten elimination: rhs, decay and solve_ivp's answer."""

    def rhs(a, u, vm, km):
        return u - vm * (a / v) / (km + a / v)

    def decay(a, u, vm, km):
        return vm / (v * km + np.maximum(a, 0.0))

    sol = solve_ivp(lambda t, y: rhs(y, 0.0, vm, km), (0, t_end), [a0], rtol=1e-11, atol=1e-12)
    return rhs, decay, float(sol.y[0, -1])


def test_integrating_factor_rk4_is_fourth_order():
    rhs, decay, want = _mm_problem(vm=40.0, km=5.0)
    errors = []
    for n in (24, 48):
        h = np.full(n, 24.0 / n)
        u = np.zeros((n, 1))
        y = rk4(np, rhs, np.array([500.0]), h, u, u, u, params=(40.0, 5.0), decay=decay)
        errors.append(abs(y[-1, 0] - want))
    assert 13 < errors[0] / errors[1] < 20


def test_integrating_factor_rk4_is_stable_where_classic_rk4_diverges():
    """vm/(V km) = 30/h on a 0.5 h grid: k h = 15, far outside classic RK4's stability
    region (2.8). Classic RK4 is off by more than the dose; the integrating-factor step stays
    within 1 % of the dose of solve_ivp (its largest error, at the step where the
    elimination turns from saturated to first order, is 3.1 mg of 500)."""
    rhs, _, _ = _mm_problem(vm=300.0, km=1.0)

    def decay(a, u, vm, km):
        return vm / (10.0 * km + np.maximum(a, 0.0))

    h = np.full(16, 0.5)
    u = np.zeros((16, 1))
    classic = rk4(np, rhs, np.array([500.0]), h, u, u, u, params=(300.0, 1.0))
    lawson = rk4(np, rhs, np.array([500.0]), h, u, u, u, params=(300.0, 1.0), decay=decay)
    t = np.arange(17) * 0.5
    want = [_mm_problem(vm=300.0, km=1.0, t_end=x)[2] if x > 0 else 500.0 for x in t]
    assert np.nanmax(np.abs(classic[:, 0] - want)) > 500.0
    np.testing.assert_allclose(lawson[:, 0], want, atol=5.0)


def test_michaelis_menten_equals_solve_ivp():
    ka, v, vm, km = THETA["ka"], THETA["v"], THETA["vm"], THETA["km"]

    def rhs(t, y):
        c = y[1] / v
        return [-ka * y[0], ka * y[0] - vm * c / (km + c)]

    want = reference(rhs, [0.0, 0.0], TIMES)[:, 1] / v
    model = get_model("pk_1cmt_oral_mm")
    got = predict(model, {k: THETA[k] for k in model.params}, make_arrays(TIMES, *DOSES))
    np.testing.assert_allclose(got["conc"], want, rtol=1e-6)


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_indirect_response_equals_solve_ivp_and_moves_the_right_way(kind):
    name = f"pkpd_1cmt_oral_idr{kind}"
    model = get_model(name)
    th = {k: THETA[k] for k in model.all_params if k in THETA}
    ka, cl, v = th["ka"], th["cl"], th["v"]
    drug = (th["imax"], th["ic50"]) if kind <= 2 else (th["emax"], th["ec50"])
    f = idr_rhs(np, kind)

    def rhs(t, y):
        c = y[1] / v
        return [
            -ka * y[0],
            ka * y[0] - cl * c,
            f(y[2], c, th["kin"], th["kout"], *drug, th["gamma"]),
        ]

    r0 = th["kin"] / th["kout"]
    want = reference(rhs, [0.0, 0.0, r0], TIMES)[:, 2]
    got = predict(model, th, make_arrays(TIMES, *DOSES))["effect"]
    # Hill with gamma = 1.7 is not smooth at C = 0 (each dose start): RK4 loses order there
    np.testing.assert_allclose(got, want, rtol=1e-5)
    direction = -1 if kind in (1, 4) else 1
    assert np.all(direction * (got - r0) > 0)


def test_effect_compartment_equals_solve_ivp():
    model = get_model("pkpd_1cmt_oral_effect_cmt")
    th = {k: THETA[k] for k in model.all_params if k in THETA}
    ka, cl, v, ke0 = th["ka"], th["cl"], th["v"], th["ke0"]

    def rhs(t, y):
        c = y[1] / v
        return [-ka * y[0], ka * y[0] - cl * c, ke0 * (c - y[2])]

    ce = reference(rhs, [0.0, 0.0, 0.0], TIMES)[:, 2]
    want = sigmoid_emax(np, ce, th["e0"], th["emax"], th["ec50"], th["gamma"])
    got = predict(model, th, make_arrays(TIMES, *DOSES))["effect"]
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_ode_grid_holds_observations_doses_and_infusion_ends():
    arrays = make_arrays([1.0, 7.3], [0.0, 5.0], [10.0, 10.0], cmt=2, duration=1.1)
    grid = ode_grid(arrays)
    assert np.isin([0.0, 1.0, 7.3, 5.0, 1.1, 6.1], grid).all()


def test_numba_gradient_through_the_ode_matches_finite_differences():
    """nutpie samples the Numba-compiled gradient: it must match a central finite difference
    of the log density. (With the RK4 inputs as three scan sequences, PyTensor 2.38's Numba
    back end got ka's gradient wrong by orders of magnitude once the graph was rewritten,
    while its log density was right; the C back end was right throughout.)"""
    from pymc.blocking import DictToArrayBijection

    from twinlab.pkpd.population import PopulationSpec, build_model, simulated_study

    spec = PopulationSpec.from_dict(
        {
            "model": "pk_1cmt_oral_mm",
            "parameters": {"ka": 1.0, "v": 25.0, "vm": 30.0, "km": {"guess": 3.0, "omega": None}},
            "ode_max_step": 2.0,
        }
    )
    truth = {"ka": 1.2, "v": 30.0, "vm": 20.0, "km": 2.0}
    arrays, _ = simulated_study(spec, truth, n_subjects=4, seed=3, times=(1, 2, 4, 8, 12))
    model, _ = build_model(spec, arrays)
    point = model.initial_point(random_seed=1)
    x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    fn.set_extra_values({})
    grad = fn(x)[1]
    eps = 1e-6
    fd = np.array([(fn(x + e)[0] - fn(x - e)[0]) / (2 * eps) for e in np.eye(x.size) * eps])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)
