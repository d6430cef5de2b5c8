"""The JAX back end (jit + vmap, float64, on CPU here) against the numba kernels to 1e-10."""

from __future__ import annotations

import numpy as np
import pytest
from simulate_helpers import LogNormalPopulation
from test_simulate_kernels import CASES, _assert_rel
from test_simulate_kernels import _theta as _linear_theta
from test_simulate_ode_kernels import _theta as _idr_theta

from twinlab.pkpd import expand_doses
from twinlab.simulate import Arm, Regimen, Scenario, run, superpose_model
from twinlab.simulate.ode_kernels import ODE_KERNEL_MODELS, simulate_idr
from twinlab.virtual import KnownPopulation

jax = pytest.importorskip("jax")  # in the dev extras; the package itself runs without it


def test_jax_computes_in_float64_on_the_cpu():
    from twinlab.simulate.jax_kernels import device_kind

    assert jax.config.jax_enable_x64
    assert device_kind() == "cpu"  # nothing in the tests needs a GPU


@pytest.mark.parametrize(("model", "route"), CASES)
def test_analytic_kernel_matches_numba_to_1e10(model, route):
    rng = np.random.default_rng(11)
    theta = _linear_theta(model, 40, rng)
    times = np.unique(np.concatenate([[-2.0], np.linspace(0, 168, 49), rng.uniform(0, 180, 20)]))
    regimen = Regimen(100.0, interval_h=24.0, n_doses=6, route=route, loading_dose=250.0,
                      infusion_h=2.5 if route == "infusion" else 0.0, start_h=1.0)  # fmt: skip
    doses = expand_doses([regimen.doses()], central_cmt=2 if "ka" in theta else 1)
    args = (model, theta, times, doses.time[0], doses.amt[0], doses.duration[0])
    want = superpose_model(*args, depot=route == "oral")
    got = superpose_model(*args, depot=route == "oral", backend="jax")
    assert got.dtype == np.float64
    _assert_rel(got, want, 1e-10)


@pytest.mark.parametrize("model", list(ODE_KERNEL_MODELS))
@pytest.mark.parametrize("lag", [False, True])
def test_turnover_kernel_matches_numba_to_1e10(model, lag):
    th = _idr_theta(model, np.random.default_rng(len(model) + lag), lag=lag)
    times = np.arange(0.0, 337.0, 6.0)
    doses, amt = np.arange(14) * 24.0, np.full(14, 100.0)
    want = simulate_idr(model, th, times, doses, amt)
    got = simulate_idr(model, th, times, doses, amt, backend="jax")
    for g, w in zip(got, want, strict=True):
        _assert_rel(g, w, 1e-10)
    assert np.ptp(got[1]) > 0.05 * np.abs(got[1]).max()  # the drug moves the response


def test_turnover_kernel_with_bolus_infusion_and_lagged_depot_doses():
    model = "pkpd_1cmt_oral_idr2"
    th = _idr_theta(model, np.random.default_rng(5), lag=True)
    times = np.arange(0.0, 49.0, 1.5)
    dt, amt = np.array([0.0, 6.0, 12.0, 24.0]), np.array([50.0, 80.0, 100.0, 60.0])
    dur, cmt = np.array([0.0, 0.0, 3.0, 0.0]), np.array([2, 1, 2, 2])
    want = simulate_idr(model, th, times, dt, amt, dur, cmt)
    got = simulate_idr(model, th, times, dt, amt, dur, cmt, backend="jax")
    for g, w in zip(got, want, strict=True):
        _assert_rel(g, w, 1e-10)


@pytest.mark.parametrize(
    ("population", "pd_endpoint"),
    [
        (LogNormalPopulation(n=30), None),
        (
            KnownPopulation(
                "pkpd_1cmt_oral_idr1_e0",
                {
                    "ka": 1.0,
                    "cl": [3.0, 4.0, 5.0],
                    "v": 30.0,
                    "e0": 8.0,
                    "kout": 0.1,
                    "imax": 0.8,
                    "ic50": 1.0,
                },
            ),
            "effect",
        ),
    ],
)
def test_engine_backend_jax_matches_the_numba_back_end(population, pd_endpoint):
    arms = [Arm("placebo"), Arm("qd", Regimen(100.0, n_doses=5))]
    sc = Scenario("jax", population, arms, np.arange(0.0, 121.0, 4.0), seed=3, chunk_size=16)
    a, b = run(sc, backend="numba"), run(sc, backend="jax")
    assert b.run["backend"] == "jax"
    for e in ["conc"] + ([pd_endpoint] if pd_endpoint else []):
        _assert_rel(b.dataset[e].values, a.dataset[e].values, 1e-10)
    np.testing.assert_allclose(b.patients["auc"], a.patients["auc"], rtol=1e-10)


def test_backend_jax_refuses_models_without_a_kernel():
    pop = KnownPopulation("pk_1cmt_oral_mm", {"ka": 1.0, "v": 30.0, "vm": 10.0, "km": 2.0})
    sc = Scenario("mm", pop, [Arm("qd", Regimen(100.0, n_doses=2))], [0.0, 24.0, 48.0], seed=1)
    with pytest.raises(ValueError, match="compiled back end covers"):
        run(sc, backend="jax")
