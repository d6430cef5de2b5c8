"""Warfarin PK/PD turnover: the loop-free turnover solver, the coarse fit grid, and a NUTS fit.

The data are nlmixr2's ``warfarin`` (32 subjects, concentrations ``cp`` = DVID 1 and
prothrombin complex activity ``pca`` = DVID 2). The model is ``pkpd_1cmt_oral_idr1_e0``:
1-cmt oral PK with a lag, driving PCA turnover with Emax-type inhibition of its synthesis
(Imax fixed at 1), ``kin = E0 * kout``. The fit is checked against nlmixr2's SAEM estimates
(CL 0.134-0.14 L/h, V 7.4-8 L, EC50 0.9-1.2 mg/L, kout 0.053 1/h, E0 96.6 %) with ranges
that allow for the different absorption model (lag here, transit compartments in nlmixr2)
and for posterior means versus SAEM modes. The slow test (one nutpie compile, 4 chains x
300 tune + 300 draws) runs in about one to two minutes on 2 cores.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytensor
import pytest
import yaml
from repo_helpers import shared_data

from twinlab.pkpd.dataset import PopulationArrays, read_nonmem
from twinlab.pkpd.fit import fit
from twinlab.pkpd.models import get_model, ode_grid, predict
from twinlab.pkpd.ode import decay_convolution, linear_recurrence, step_times
from twinlab.pkpd.population import PopulationSpec, build_model

WARFARIN = shared_data() / "pk" / "nlmixr2data" / "warfarin.csv"
needs_warfarin = pytest.mark.skipif(not WARFARIN.is_file(), reason="warfarin.csv is missing")
#: the spec shared with the benchmark
SPEC = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "pipelines" / "specs" / "warfarin_pkpd.yaml").read_text()
)
#: (low, high) for the posterior means: nlmixr2 SAEM estimates widened by about 15-25 %
RANGES = {
    "cl": (0.115, 0.16),
    "v": (7.0, 9.0),
    "ic50": (0.75, 1.5),
    "kout": (0.042, 0.066),
    "e0": (93.0, 100.0),
}


@pytest.fixture(scope="module")
def arrays() -> PopulationArrays:
    if not WARFARIN.is_file():
        pytest.skip("warfarin.csv is missing")
    return read_nonmem(WARFARIN).to_arrays()


def _namespace(arrays: PopulationArrays) -> SimpleNamespace:
    return SimpleNamespace(
        **{k: getattr(arrays, k) for k in arrays.__dataclass_fields__ if k != "covariates"}
    )


def _typical_population(n: int, seed: int = 0, tlag: float = 0.7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "ka": 1.5 * rng.lognormal(0.0, 0.5, n),
        "cl": 0.135 * rng.lognormal(0.0, 0.3, n),
        "v": 8.0 * rng.lognormal(0.0, 0.2, n),
        "tlag": np.full(n, tlag),
        "e0": 96.0 * rng.lognormal(0.0, 0.05, n),
        "kout": 0.053 * rng.lognormal(0.0, 0.3, n),
        "imax": np.ones(n),
        "ic50": 1.0 * rng.lognormal(0.0, 0.4, n),
    }


def _as_kin(theta: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {k: v for k, v in theta.items() if k != "e0"}
    out["kin"] = theta["e0"] * theta["kout"]
    return out


# ------------------------------------------------------------------ loop-free solver


@pytest.mark.parametrize("k", [0.0, 0.05, 0.7, 5.0])
def test_decay_convolution_matches_the_closed_form(k):
    # g(t) = sin(t) + 1: int_0^t g(s) exp(-k (t-s)) ds in closed form
    grid = np.sort(np.concatenate([np.linspace(0.0, 10.0, 2001), [0.37, 3.3]]))
    _, t0, tm, t1 = step_times(grid)
    g = [(np.sin(t) + 1.0)[:, None] for t in (t0, tm, t1)]
    targets = np.searchsorted(grid, [0.37, 3.3, 5.0, 10.0])
    got = decay_convolution(np, np.array([k]), grid, *g, targets)[:, 0]
    t = grid[targets]
    if k == 0.0:
        want = t - np.cos(t) + 1.0
    else:
        want = (1 - np.exp(-k * t)) / k
        want = want + (k * np.sin(t) - np.cos(t) + np.exp(-k * t)) / (1 + k * k)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert np.all(np.isfinite(got))


def test_decay_convolution_rejects_unsorted_targets():
    grid = np.linspace(0.0, 1.0, 5)
    g = [np.ones((4, 1))] * 3
    with pytest.raises(ValueError, match="sorted"):
        decay_convolution(np, 1.0, grid, *g, np.array([3, 1]))


def _dense_decay_convolution(k, grid, g_start, g_mid, g_end, targets):
    """The superposition the recursion replaced: every step's integral decayed to each target."""
    h = np.diff(grid)
    n_used = int(targets[-1])
    step = (h[:n_used, None] / 6.0) * (
        g_start[:n_used] * np.exp(-k * h[:n_used, None])
        + 4.0 * g_mid[:n_used] * np.exp(-k * 0.5 * h[:n_used, None])
        + g_end[:n_used]
    )
    ends = grid[1 : n_used + 1]
    out = np.zeros((targets.size, step.shape[1]))
    for i, t in enumerate(grid[targets]):
        before = ends <= t
        out[i] = (step[before] * np.exp(-k * (t - ends[before])[:, None])).sum(axis=0)
    return out


def _random_convolution(rng, n_subjects=3):
    grid = np.sort(np.concatenate([[0.0], rng.uniform(0.0, 96.0, 40)]))
    g = [rng.uniform(0.0, 1.0, (grid.size - 1, n_subjects)) for _ in range(3)]
    targets = np.unique(rng.choice(grid.size, 15))
    return grid, g, targets


def test_linear_recurrence_is_the_first_order_recursion():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.0, 1.0, (7, 3)), rng.normal(size=(7, 3))
    y = [b[0]]
    for i in range(1, 7):
        y.append(a[i] * y[-1] + b[i])
    np.testing.assert_array_equal(linear_recurrence(np, a, b), np.array(y))
    with pytest.raises(ValueError, match="one shape"):
        linear_recurrence(np, a[:, :2], b)


def test_decay_convolution_equals_the_dense_superposition():
    rng = np.random.default_rng(3)
    grid, g, targets = _random_convolution(rng)
    for k in (np.array([0.01, 0.3, 4.0]), 0.2):
        want = _dense_decay_convolution(k, grid, *g, targets)
        got = decay_convolution(np, k, grid, *g, targets)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_decay_convolution_gradient_under_pytensor(mode):
    # PyTensor's numba back end once gave wrong gradients through scan: check both back ends
    import pytensor.tensor as pt

    rng = np.random.default_rng(4)
    grid, g0, targets = _random_convolution(rng)
    k0 = np.array([0.02, 0.3, 2.0])
    w = rng.normal(size=(targets.size, 3))
    k = pt.dvector("k")
    g = [pt.dmatrix(f"g{i}") for i in range(3)]
    total = (decay_convolution(pt, k, grid, *g, targets) * w).sum()
    fn = pytensor.function([k, *g], [total, *pytensor.grad(total, [k, *g])], mode=mode)
    value, g_k, *g_g = fn(k0, *g0)

    def f(k_, *g_):
        return float((_dense_decay_convolution(k_, grid, *g_, targets) * w).sum())

    assert value == pytest.approx(f(k0, *g0), rel=1e-10)
    h = 1e-6
    for j in range(3):
        up, dn = k0.copy(), k0.copy()
        up[j] += h
        dn[j] -= h
        assert g_k[j] == pytest.approx((f(up, *g0) - f(dn, *g0)) / (2 * h), rel=1e-6)
    for which, (i, j) in [(0, (0, 0)), (1, (5, 1)), (2, (17, 2)), (0, (int(targets[-1]) - 1, 1))]:
        up = [x.copy() for x in g0]
        dn = [x.copy() for x in g0]
        up[which][i, j] += h
        dn[which][i, j] -= h
        fd = (f(k0, *up) - f(k0, *dn)) / (2 * h)
        assert g_g[which][i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_the_recurrence_op_can_be_cached_by_pytensors_numba_back_end():
    import pytensor.tensor as pt
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    a, b = pt.dmatrix(), pt.dmatrix()
    y = linear_recurrence(pt, a, b)
    _, key = numba_funcify_and_cache_key(y.owner.op, node=y.owner)
    assert key is not None
    ga = pytensor.grad(y.sum(), a).owner
    _, key = numba_funcify_and_cache_key(ga.op, node=ga)
    assert key is not None


@pytest.mark.parametrize("kind", [1, 3])
def test_e0_turnover_equals_the_rk4_indirect_response(kind):
    n = 4
    times = np.array([0.0, 0.5, 1.0, 2.0, 6.0, 12.0, 24.0, 36.0, 48.0, 72.0, 96.0])
    arrays = SimpleNamespace(
        n_subjects=n,
        obs_subject=np.repeat(np.arange(n), times.size),
        obs_time=np.tile(times, n),
        dose_time=np.tile([0.0, 24.0], (n, 1)),
        dose_amt=np.tile([100.0, 50.0], (n, 1)),
        dose_rate=np.zeros((n, 2)),
        dose_duration=np.zeros((n, 2)),
        dose_cmt=np.ones((n, 2), dtype=np.int64),
    )
    th = _typical_population(n, seed=kind, tlag=0.5)
    th["gamma"] = np.full(n, 1.7 if kind == 3 else 1.0)
    if kind == 3:
        th["emax"], th["ec50"] = th.pop("imax") * 2.0, th.pop("ic50")
    new = predict(f"pkpd_1cmt_oral_idr{kind}_e0", th, arrays)
    old = predict(f"pkpd_1cmt_oral_idr{kind}", _as_kin(th), arrays)
    np.testing.assert_allclose(new["conc"], old["conc"], rtol=1e-12)
    np.testing.assert_allclose(new["effect"], old["effect"], rtol=2e-5)


@pytest.mark.parametrize("duration", [0.0, 3.0])
def test_a_continuous_forcing_is_evaluated_once_per_grid_point_with_the_same_values(
    monkeypatch, duration
):
    # depot doses (and infusions) leave the concentration continuous: its value at a step's
    # end is the next step's start; a lag of 0.5 h puts the second dose's start on the grid
    from twinlab.pkpd import models

    n = 3
    times = np.array([0.5, 1.0, 2.0, 12.5, 13.0, 24.0])
    arrays = SimpleNamespace(
        n_subjects=n,
        obs_subject=np.repeat(np.arange(n), times.size),
        obs_time=np.tile(times, n),
        dose_time=np.tile([0.0, 12.0], (n, 1)),
        dose_amt=np.tile([100.0, 50.0], (n, 1)),
        dose_rate=np.zeros((n, 2)),
        dose_duration=np.tile([0.0, duration], (n, 1)),
        dose_cmt=np.tile([1, 2 if duration else 1], (n, 1)),
    )
    th = _typical_population(n, tlag=0.5)
    queries = []
    forcing = models._forcing

    def counted(xp, groups_at, stages, continuous=False):
        def spy(times, inclusive):
            queries.append(len(times))
            return groups_at(times, inclusive)

        return forcing(xp, spy, stages, continuous=continuous)

    monkeypatch.setattr(models, "_forcing", counted)
    got = predict("pkpd_1cmt_oral_idr1_e0", th, arrays)
    n_steps = queries[0] - 1
    assert queries == [n_steps + 1, n_steps]  # two queries per step, not three
    monkeypatch.setattr(models, "_forcing", lambda xp, g, st, continuous=False: forcing(xp, g, st))
    want = predict("pkpd_1cmt_oral_idr1_e0", th, arrays)
    np.testing.assert_allclose(got["effect"], want["effect"], rtol=1e-12)


def test_only_effects_on_kin_have_the_loop_free_form():
    from twinlab.pkpd.models import _make_turnover

    with pytest.raises(ValueError, match="kin"):
        _make_turnover(2)


@needs_warfarin
def test_the_two_hour_fit_grid_is_accurate_on_warfarin(arrays):
    """The fit's grid (2 h + observation times) against fine RK4 (0.05 h): far below the PCA
    residual SD (about 3-4 %)."""
    th = _typical_population(arrays.n_subjects)
    ns = _namespace(arrays)
    coarse = get_model("pkpd_1cmt_oral_idr1_e0").predict(
        np, th, ns, grid=ode_grid(arrays, max_step=2.0)
    )
    fine = get_model("pkpd_1cmt_oral_idr1").predict(
        np, _as_kin(th), ns, grid=ode_grid(arrays, max_step=0.05)
    )
    pd = arrays.obs_dvid == 2
    assert ode_grid(arrays, max_step=2.0).size < 100
    assert np.abs(coarse["effect"] - fine["effect"])[pd].max() < 0.15
    np.testing.assert_allclose(coarse["conc"], fine["conc"], rtol=1e-12)


# ---------------------------------------------------------------------- spec / model


def test_ode_max_step_round_trips_and_is_validated():
    spec = PopulationSpec.from_dict(SPEC)
    assert spec.ode_max_step == 2.0
    again = PopulationSpec.from_yaml(spec.to_yaml())
    assert again == spec
    assert "ode_max_step" not in PopulationSpec.from_dict({**SPEC, "ode_max_step": None}).to_dict()
    with pytest.raises(ValueError, match="ode_max_step"):
        PopulationSpec.from_dict({**SPEC, "ode_max_step": 0.0})


@needs_warfarin
def test_warfarin_model_builds_with_scalar_parameters(arrays):
    """tlag (no BSV) and the fixed imax are scalars; their ``_i`` values span the subjects."""
    model, info = build_model(PopulationSpec.from_dict(SPEC), arrays)
    assert {v.name for v in model.free_RVs} >= {"log_tlag", "log_e0", "z_e0", "sigma_add_effect"}
    assert "log_imax" not in {v.name for v in model.free_RVs}
    point = model.initial_point()
    fn = pytensor.function(
        model.value_vars, [model["tlag_i"], model["imax_i"]], on_unused_input="ignore"
    )
    values = fn(*[point[v.name] for v in model.value_vars])
    assert [v.shape for v in values] == [(32,), (32,)]
    assert np.all(values[1] == 1.0)
    assert info["endpoints"]["conc"].size == 251 and info["endpoints"]["effect"].size == 232
    assert np.isfinite(model.compile_logp()(point))


# ---------------------------------------------------------------------------- the fit


@pytest.fixture(scope="module")
def warfarin_fit(arrays):
    spec = PopulationSpec.from_dict(SPEC)
    return fit(spec, arrays, draws=300, tune=300, chains=4, seed=7)


@pytest.mark.slow
@needs_warfarin
def test_warfarin_turnover_fit_agrees_with_nlmixr2(warfarin_fit):
    s = warfarin_fit.summary()
    means = {k: s["parameters"][k]["mean"] for k in RANGES}
    for k, (lo, hi) in RANGES.items():
        assert lo <= means[k] <= hi, (k, means[k])
    assert 0.3 <= s["parameters"]["tlag"]["mean"] <= 1.5
    assert s["max_rhat"] <= 1.05
    assert s["min_ess_bulk"] >= 100
    assert s["divergences"] <= 5
    # residual errors of the right size: a few % on PCA, ~10 % on concentrations
    assert 1.0 <= s["sigma"]["sigma_add_effect"]["mean"] <= 8.0
    assert 0.03 <= s["sigma"]["sigma_prop_conc"]["mean"] <= 0.25
