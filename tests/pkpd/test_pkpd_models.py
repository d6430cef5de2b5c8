"""Structural PK/PD models: closed forms, ODE references and the two back ends agree."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from twinlab.pkpd.models import MODELS, get_model, predict

TIMES = np.linspace(0.0, 48.0, 97)
THETA = {
    "ka": 1.2, "cl": 3.0, "v": 30.0, "q": 4.0, "v2": 50.0, "q3": 1.5, "v3": 120.0,
    "vm": 20.0, "km": 2.0, "e0": 10.0, "emax": 5.0, "ec50": 1.5, "gamma": 1.7, "ke0": 0.4,
    "kin": 5.0, "kout": 0.5, "imax": 0.8, "ic50": 1.0,
}  # fmt: skip


def make_arrays(times, dose_times, amts, *, cmt=1, duration=0.0, n_subjects=1):
    """PopulationArrays-like inputs: every subject has the same doses and sampling times."""
    nd = len(dose_times)
    dur = np.broadcast_to(np.asarray(duration, float), (nd,))
    amt = np.asarray(amts, float)
    rate = np.where(dur > 0, amt / np.where(dur > 0, dur, 1.0), 0.0)
    tile = lambda x: np.tile(np.asarray(x), (n_subjects, 1))  # noqa: E731
    return SimpleNamespace(
        n_subjects=n_subjects,
        subject_ids=np.arange(1, n_subjects + 1),
        obs_subject=np.repeat(np.arange(n_subjects), len(times)),
        obs_time=np.tile(np.asarray(times, float), n_subjects),
        dose_time=tile(np.asarray(dose_times, float)),
        dose_amt=tile(amt),
        dose_rate=tile(rate),
        dose_duration=tile(dur),
        dose_cmt=tile(np.broadcast_to(cmt, (nd,)).astype(int)),
        dose_ss=tile(np.zeros(nd, bool)),
    )


def theta_for(model, n_subjects=1, **over):
    names = model.all_params
    th = {k: np.full(n_subjects, float(over.get(k, THETA.get(k, np.nan)))) for k in names}
    return {k: v for k, v in th.items() if not np.isnan(v).any()}


def bateman(t, dose, ka, cl, v, f=1.0):
    k = cl / v
    tt = np.maximum(t, 0.0)
    return np.where(t > 0, f * dose * ka / (v * (ka - k)) * (np.exp(-k * tt) - np.exp(-ka * tt)), 0)


def conc(name, arrays, **over):
    model = get_model(name)
    return predict(model, theta_for(model, arrays.n_subjects, **over), arrays)["conc"]


def test_1cmt_oral_single_dose_equals_bateman():
    got = conc("pk_1cmt_oral", make_arrays(TIMES, [0.0], [100.0]))
    np.testing.assert_allclose(got, bateman(TIMES, 100.0, 1.2, 3.0, 30.0), rtol=1e-12, atol=1e-14)


def test_bioavailability_and_lag_default_to_one_and_zero():
    arrays = make_arrays(TIMES, [0.0], [100.0])
    base = conc("pk_1cmt_oral", arrays)
    np.testing.assert_allclose(conc("pk_1cmt_oral", arrays, f=1.0, tlag=0.0), base, rtol=1e-14)
    got = conc("pk_1cmt_oral", arrays, f=0.6, tlag=0.75)
    want = bateman(TIMES - 0.75, 100.0, 1.2, 3.0, 30.0, f=0.6)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_multiple_doses_equal_the_sum_of_single_doses():
    doses, amts = [0.0, 8.0, 20.0, 30.5], [100.0, 50.0, 80.0, 120.0]
    got = conc("pk_1cmt_oral", make_arrays(TIMES, [*doses, 0.0], [*amts, 0.0]))
    pairs = zip(doses, amts, strict=True)
    want = sum(conc("pk_1cmt_oral", make_arrays(TIMES, [d], [a])) for d, a in pairs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_observation_at_dose_time_excludes_that_dose():
    got = conc("pk_1cmt_iv", make_arrays([0.0, 12.0], [0.0, 12.0], [100.0, 100.0]))
    k = 3.0 / 30.0
    np.testing.assert_allclose(got, [0.0, 100.0 / 30.0 * np.exp(-k * 12.0)], rtol=1e-12)


def test_many_doses_reach_the_analytic_steady_state():
    tau, n, dose, ka, cl, v = 12.0, 40, 100.0, 1.2, 3.0, 30.0
    t_in = np.linspace(0.1, tau, 25)
    arrays = make_arrays(n * tau + t_in, np.arange(n + 1) * tau, np.full(n + 1, dose))
    k = cl / v
    css = (
        dose
        * ka
        / (v * (ka - k))
        * (
            np.exp(-k * t_in) / (1 - np.exp(-k * tau))
            - np.exp(-ka * t_in) / (1 - np.exp(-ka * tau))
        )
    )
    np.testing.assert_allclose(conc("pk_1cmt_oral", arrays), css, rtol=1e-9)


def test_iv_bolus_and_infusion_equal_their_closed_forms():
    k, v = 3.0 / 30.0, 30.0
    bolus = conc("pk_1cmt_iv", make_arrays(TIMES, [0.0], [100.0]))
    want = np.where(TIMES > 0, 100.0 / v * np.exp(-k * TIMES), 0.0)
    np.testing.assert_allclose(bolus, want, rtol=1e-12)
    t_inf, rate = 2.0, 50.0
    got = conc("pk_1cmt_iv", make_arrays(TIMES, [0.0], [100.0], duration=t_inf))
    during = rate / (k * v) * (1 - np.exp(-k * TIMES))
    after = rate / (k * v) * (1 - np.exp(-k * t_inf)) * np.exp(-k * (TIMES - t_inf))
    want = np.where(TIMES <= t_inf, during, after)
    assert (TIMES < t_inf).sum() >= 3
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def linear_ode(n_cmt, oral, t_end, doses, theta):
    """Reference: the linear compartment ODEs with scipy (amounts; central is index 1)."""
    ka, cl, v = theta["ka"], theta["cl"], theta["v"]
    periph = [(theta["q"], theta["v2"]), (theta["q3"], theta["v3"])][: n_cmt - 1]

    def rhs(t, y, infusions):
        c = y[1] / v
        dy = np.zeros_like(y)
        dy[0] = -ka * y[0]
        dy[1] = ka * y[0] - cl * c + sum(r for (t0, t1, r) in infusions if t0 <= t < t1)
        for j, (q, vp) in enumerate(periph):
            flow = q * (c - y[2 + j] / vp)
            dy[1] -= flow
            dy[2 + j] += flow
        return dy

    return rhs


@pytest.mark.parametrize("n_cmt", [2, 3])
@pytest.mark.parametrize("route", ["oral", "iv_bolus", "iv_infusion"])
def test_multi_compartment_analytic_equals_solve_ivp(n_cmt, route):
    doses = [(0.0, 100.0), (12.0, 150.0)]
    duration = 1.5 if route == "iv_infusion" else 0.0
    name = f"pk_{n_cmt}cmt_{'oral' if route == 'oral' else 'iv'}"
    arrays = make_arrays(TIMES, [d for d, _ in doses], [a for _, a in doses], duration=duration)
    got = conc(name, arrays)
    infusions = [(d, d + duration, a / duration) for d, a in doses] if duration else []
    rhs = linear_ode(n_cmt, route == "oral", 48.0, doses, THETA)
    y = np.zeros(2 + n_cmt - 1)
    want = []
    bounds = sorted({0.0, 48.0, *[d for d, _ in doses], *[e for _, e, _ in infusions]})
    dense = []
    for a, b in itertools.pairwise(bounds):
        for d, amt in doses:
            if d == a and not duration:
                y[0 if route == "oral" else 1] += amt
        sol = solve_ivp(
            rhs,
            (a, b),
            y,
            args=(infusions,),
            rtol=1e-10,
            atol=1e-12,
            dense_output=True,
            method="LSODA",
        )
        dense.append((a, b, sol.sol))
        y = sol.y[:, -1].copy()
    for t in TIMES:
        seg = next(s for (a, b, s) in dense if a < t <= b) if t > 0 else None
        want.append(0.0 if seg is None else seg(t)[1] / THETA["v"])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["pk_1cmt_oral", "pk_2cmt_oral", "pk_3cmt_oral"])
def test_auc_to_infinity_equals_f_dose_over_cl(name):
    fine = np.linspace(0.0, 1500.0, 150_001)
    got = np.trapezoid(conc(name, make_arrays(fine, [0.0], [100.0]), f=0.7), fine)
    assert got == pytest.approx(0.7 * 100.0 / THETA["cl"], rel=0.01)


def test_central_dose_in_an_oral_model_acts_like_iv():
    oral = conc(
        "pk_2cmt_oral", make_arrays(TIMES, [0.0, 6.0], [100.0, 80.0], cmt=2, duration=[0.0, 2.0])
    )
    iv = conc("pk_2cmt_iv", make_arrays(TIMES, [0.0, 6.0], [100.0, 80.0], duration=[0.0, 2.0]))
    np.testing.assert_allclose(oral, iv, rtol=1e-12)


def test_simulate_chunks_and_unsorted_observations_give_the_same_answer():
    rng = np.random.default_rng(31)
    arrays = make_arrays(TIMES, [0.0, 12.0], [100.0, 50.0], n_subjects=7)
    model = get_model("pkpd_1cmt_oral_idr2")
    th = {k: v * rng.lognormal(0, 0.2, 7) for k, v in theta_for(model, 7).items()}
    whole = predict(model, th, arrays, chunk_obs=10**9)
    perm = rng.permutation(arrays.obs_time.size)
    shuffled = SimpleNamespace(
        **{
            **vars(arrays),
            "obs_subject": arrays.obs_subject[perm],
            "obs_time": arrays.obs_time[perm],
        }
    )
    parts = predict(model, th, shuffled, chunk_obs=50)
    for e in model.endpoints:
        np.testing.assert_allclose(parts[e], whole[e][perm], rtol=1e-13)


def test_unknown_model_and_missing_parameter_raise_clear_errors():
    with pytest.raises(KeyError, match="unknown model"):
        get_model("pk_9cmt")
    with pytest.raises(KeyError, match="'ka'"):
        predict("pk_1cmt_oral", {"cl": 1.0, "v": 2.0}, make_arrays(TIMES, [0.0], [1.0]))


def test_registry_holds_the_contract_names():
    names = {
        "pk_1cmt_oral",
        "pk_1cmt_iv",
        "pk_2cmt_oral",
        "pk_2cmt_iv",
        "pk_3cmt_oral",
        "pk_3cmt_iv",
        "pk_1cmt_oral_mm",
        "pkpd_1cmt_oral_emax",
        "pkpd_1cmt_oral_effect_cmt",
        *(f"pkpd_1cmt_oral_idr{k}" for k in range(1, 5)),
    }
    assert names <= set(MODELS)
    for m in MODELS.values():
        assert m.kind in ("analytic", "ode") and m.endpoints[0] == "conc"


LINEAR = [n for n, m in MODELS.items() if n.startswith("pk_") and m.kind == "analytic"]


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(LINEAR),
    scale=st.floats(0.01, 100.0),
    amts=st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=4),
    gaps=st.lists(st.floats(0.0, 30.0), min_size=4, max_size=4),
    cl=st.floats(0.1, 20.0),
    ka=st.floats(0.1, 5.0),
    duration=st.sampled_from([0.0, 1.0]),
)
def test_linear_models_are_nonnegative_and_linear_in_dose(
    name, scale, amts, gaps, cl, ka, duration
):
    dose_times = np.cumsum(gaps[: len(amts)])
    arrays = make_arrays(TIMES, dose_times, amts, duration=duration)
    base = conc(name, arrays, cl=cl, ka=ka)
    scaled = conc(
        name,
        make_arrays(TIMES, dose_times, np.array(amts) * scale, duration=duration),
        cl=cl,
        ka=ka,
    )
    assert np.all(base >= -1e-12 * max(1.0, base.max()))
    np.testing.assert_allclose(scaled, scale * base, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------- PyTensor back end


def pytensor_eval(model, th, arrays, *, grad=False):
    import pytensor
    import pytensor.tensor as pt

    names = sorted(th)
    syms = {n: pt.dvector(n) for n in names}
    const = SimpleNamespace(
        **{k: (pt.constant(v) if isinstance(v, np.ndarray) else v) for k, v in vars(arrays).items()}
    )
    out = model.predict(pt, syms, const)
    outputs = [out[e] for e in model.endpoints]
    if grad:
        total = sum(o.sum() for o in outputs)
        outputs = pytensor.gradient.grad(total, [syms[n] for n in names])
    fn = pytensor.function([syms[n] for n in names], outputs, mode="FAST_COMPILE")
    keys = names if grad else model.endpoints
    return dict(zip(keys, fn(*[th[n] for n in names]), strict=True))


def population(model, n=3):
    rng = np.random.default_rng(31)
    arrays = make_arrays(np.linspace(0.0, 30.0, 31), [0.0, 12.0], [100.0, 60.0], n_subjects=n)
    th = {k: v * rng.lognormal(0.0, 0.15, n) for k, v in theta_for(model, n).items()}
    if "tlag" in model.all_params:
        th["tlag"] = np.full(n, 0.3)
        th["f"] = np.full(n, 0.8)
    return arrays, th


@pytest.mark.parametrize("name", list(MODELS))
def test_pytensor_equals_numpy(name):
    model = get_model(name)
    arrays, th = population(model)
    want = model.predict(np, th, arrays)
    got = pytensor_eval(model, th, arrays)
    for e in model.endpoints:
        np.testing.assert_allclose(got[e], want[e], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m.kind == "analytic"])
def test_pytensor_gradient_matches_finite_differences(name):
    model = get_model(name)
    arrays, th = population(model, n=2)
    got = pytensor_eval(model, th, arrays, grad=True)

    def total(t):
        return sum(model.predict(np, t, arrays)[e].sum() for e in model.endpoints)

    for p, g in got.items():
        for s in range(2):
            h = 1e-5 * th[p][s]
            up = {**th, p: th[p].copy()}
            dn = {**th, p: th[p].copy()}
            up[p][s] += h
            dn[p][s] -= h
            fd = (total(up) - total(dn)) / (2 * h)
            assert g[s] == pytest.approx(fd, rel=1e-5, abs=1e-8), (p, s)
