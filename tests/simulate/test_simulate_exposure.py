"""Exposure metrics are exact and do not depend on the output grid (issue 17, item 2)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from twinlab.simulate import Arm, Regimen, Scenario, run, superpose
from twinlab.simulate.exposure import exponential_exposure, ode_exposure
from twinlab.simulate.kernels import exponential_terms
from twinlab.virtual import KnownPopulation

KA, K, V = 1.1, 0.1, 25.0
METRICS = ["auc", "auc_tau", "cmax", "tmax", "ctrough", "t_above"]
COARSE = np.arange(0.0, 169.0, 4.0)  # the demo's 4-hour grid
FINE = np.linspace(0.0, 168.0, 1345)  # 0.125 h, not a multiple of the coarse one's points


def _metrics(model, theta, regimen, times, threshold=1.0):
    pop = KnownPopulation(model, theta)
    res = run(Scenario("x", pop, [Arm("a", regimen)], times, seed=0, threshold=threshold))
    return res.patients[METRICS].iloc[0].to_numpy(dtype=float)


CASES = [
    ("pk_1cmt_oral", {"ka": KA, "cl": K * V, "v": V}, Regimen(100.0, n_doses=7)),
    ("pk_1cmt_iv", {"cl": K * V, "v": V}, Regimen(100.0, n_doses=7, route="iv")),
    (
        "pk_2cmt_iv",
        {"cl": 2.5, "v": 20.0, "q": 4.0, "v2": 40.0},
        Regimen(100.0, interval_h=12.0, n_doses=13, route="infusion", infusion_h=1.5),
    ),
    (
        "pk_2cmt_oral",
        {"ka": 0.8, "cl": 2.5, "v": 20.0, "q": 4.0, "v2": 40.0, "tlag": 0.7, "f": 0.8},
        Regimen(100.0, interval_h=12.0, n_doses=13, loading_dose=200.0),
    ),
    (
        "pk_3cmt_oral",
        {"ka": 1.5, "cl": 3.0, "v": 15.0, "q": 6.0, "v2": 30.0, "q3": 0.5, "v3": 80.0},
        Regimen(100.0, interval_h=24.0, n_doses=7),
    ),
]


@pytest.mark.parametrize(("model", "theta", "regimen"), CASES, ids=[c[0] for c in CASES])
def test_metrics_are_the_same_on_a_coarse_and_a_fine_grid(model, theta, regimen):
    coarse = _metrics(model, theta, regimen, COARSE)
    fine = _metrics(model, theta, regimen, FINE)
    np.testing.assert_allclose(coarse, fine, rtol=1e-9)


def _reference(model, theta, regimen, span, threshold):
    """Metrics by brute force: quad for AUC, a bounded optimizer per dose interval for Cmax."""
    depot = regimen.route == "oral"
    p = {k: np.atleast_1d(v) for k, v in theta.items()}
    coefs, rates = exponential_terms(model, p, depot=depot)
    doses = regimen.doses()
    dt = np.array([d.time for d in doses])
    amt = np.array([d.amt for d in doses])
    dur = np.array([d.duration for d in doses])
    lag = float(theta.get("tlag", 0.0)) if depot else 0.0
    w = float(theta.get("f", 1.0)) if depot else 1.0

    def conc(t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return superpose(coefs, rates, t, dt, amt, dur, weight=np.array([w]),
                         lag=np.array([lag]))[0]  # fmt: skip

    kinks = np.unique(np.concatenate([dt + lag, dt + lag + dur, span]))
    kinks = kinks[(kinks >= span[0]) & (kinks <= span[1])]
    auc = sum(
        quad(lambda t: conc(t)[0], a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
        for a, b in itertools.pairwise(kinks)
    )
    eps = 1e-9
    best, tbest = -1.0, 0.0
    for a, b in itertools.pairwise(kinks):
        r = minimize_scalar(lambda t: -conc(t)[0], bounds=(a + eps, b), method="bounded",
                            options={"xatol": 1e-10})  # fmt: skip
        for t, c in ((r.x, -r.fun), (a + eps, conc(a + eps)[0]), (b, conc(b)[0])):
            if c > best:
                best, tbest = c, t
    lo = regimen.last_dose_h
    hi = lo + regimen.interval_h
    auc_tau = quad(lambda t: conc(t)[0], lo, hi, points=list(kinks[(kinks > lo) & (kinks < hi)]),
                   epsabs=0, epsrel=1e-12, limit=200)[0]  # fmt: skip
    above = 0.0
    for a, b in itertools.pairwise(kinks):  # each smooth piece on its own grid
        grid = np.linspace(a + 1e-12, b, 20001)
        c = conc(grid) - threshold
        da, db, h = c[:-1], c[1:], np.diff(grid)
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where((da > 0) & (db > 0), h, np.where(
                da > 0, h * da / (da - db), np.where(db > 0, h * db / (db - da), 0)))  # fmt: skip
        above += part.sum()
    return {"auc": auc, "auc_tau": auc_tau, "cmax": best, "tmax": tbest,
            "ctrough": conc(hi - 1e-12)[0], "t_above": above}  # fmt: skip


@pytest.mark.parametrize(("model", "theta", "regimen"), CASES, ids=[c[0] for c in CASES])
def test_metrics_equal_a_brute_force_reference(model, theta, regimen):
    got = dict(zip(METRICS, _metrics(model, theta, regimen, COARSE, threshold=1.0), strict=True))
    ref = _reference(model, theta, regimen, (0.0, 168.0), 1.0)
    for name in ("auc", "auc_tau", "cmax", "ctrough"):
        assert got[name] == pytest.approx(ref[name], rel=1e-6), name
    assert got["tmax"] == pytest.approx(ref["tmax"], abs=1e-4)
    assert got["t_above"] == pytest.approx(ref["t_above"], abs=1e-5)  # the reference's grid


def test_single_dose_closed_forms():
    times = np.array([0.0, 6.0, 48.0])
    # oral: tmax = ln(ka/k)/(ka-k), cmax = D/V ka/(ka-k) (e^-k tmax - e^-ka tmax)
    oral = dict(zip(METRICS, _metrics("pk_1cmt_oral", {"ka": KA, "cl": K * V, "v": V},
                                      Regimen(100.0), times), strict=True))  # fmt: skip
    tmax = math.log(KA / K) / (KA - K)
    cmax = 100.0 / V * KA / (KA - K) * (math.exp(-K * tmax) - math.exp(-KA * tmax))
    assert oral["tmax"] == pytest.approx(tmax, rel=1e-12)
    assert oral["cmax"] == pytest.approx(cmax, rel=1e-12)
    # IV bolus: the peak is C(0+) = D/V, which no grid sees
    iv = dict(zip(METRICS, _metrics("pk_1cmt_iv", {"cl": K * V, "v": V},
                                    Regimen(100.0, route="iv"), times), strict=True))  # fmt: skip
    assert (iv["cmax"], iv["tmax"]) == (pytest.approx(100.0 / V, rel=1e-14), 0.0)
    assert iv["auc"] == pytest.approx(100.0 / (K * V) * (1 - math.exp(-K * 48.0)), rel=1e-12)
    assert iv["ctrough"] == pytest.approx(100.0 / V * math.exp(-K * 24.0), rel=1e-12)
    # infusion: the peak at the end of the infusion, R/(k V) (1 - e^-k T)
    inf = dict(zip(METRICS, _metrics("pk_1cmt_iv", {"cl": K * V, "v": V},
                                     Regimen(100.0, route="infusion", infusion_h=2.5), times),
                   strict=True))  # fmt: skip
    assert inf["tmax"] == pytest.approx(2.5, abs=1e-12)
    assert inf["cmax"] == pytest.approx(40.0 / (K * V) * (1 - math.exp(-K * 2.5)), rel=1e-12)


def test_two_peaks_in_one_interval_are_both_found():
    a = np.array([[1.0, -6.0, 6.0]])
    lam = np.array([[0.5, 1.0, 1.5]])
    # C(s) = e^{-s/2} - 6 e^{-s} + 6 e^{-3s/2}: with x = e^{-s/2}, x - 6x^2 + 6x^3
    m = exponential_exposure(a, lam, np.array([0.0]), np.array([1.0]), None, (0.0, 20.0))
    s = np.linspace(1e-6, 20.0, 2_000_001)
    c = a[0] @ np.exp(-lam[0][:, None] * s[None, :])
    assert m["cmax"][0] == pytest.approx(max(c.max(), 1.0), rel=1e-9)
    tail = (a[0] / lam[0] * np.exp(-lam[0] * 20)).sum()
    assert m["auc"][0] == pytest.approx(2.0 - 6.0 + 4.0 - tail, rel=1e-12)


def test_michaelis_menten_metrics_meet_the_stated_tolerance():
    times = np.arange(0.0, 97.0, 4.0)
    reg = Regimen(200.0, interval_h=12.0, n_doses=7)
    theta = {"ka": 1.2, "v": 30.0, "vm": 8.0, "km": 2.0}
    got = dict(zip(METRICS, _metrics("pk_1cmt_oral_mm", theta, reg, times, 3.0), strict=True))
    # reference: a tighter integration on a much finer dense grid
    ref = ode_exposure(theta, np.array([d.time for d in reg.doses()]),
                       np.array([d.amt for d in reg.doses()]), (0.0, 96.0), window=(72.0, 84.0),
                       threshold=3.0, rtol=1e-13, dense_step=0.001)  # fmt: skip
    for name in ("auc", "auc_tau", "cmax", "ctrough"):
        assert got[name] == pytest.approx(ref[name][0], rel=1e-6), name
    assert got["tmax"] == pytest.approx(ref["tmax"][0], abs=1e-3)
    assert got["t_above"] == pytest.approx(ref["t_above"][0], abs=1e-3)
    # km >> C: linear elimination with CL = vm/km, whose metrics are in closed form
    lin = {"ka": 1.2, "v": 30.0, "vm": 8.0 * 1e9, "km": 1e9}
    mm = dict(zip(METRICS, _metrics("pk_1cmt_oral_mm", lin, reg, times, 3.0), strict=True))
    exact = dict(zip(METRICS, _metrics("pk_1cmt_oral", {"ka": 1.2, "v": 30.0, "cl": 8.0}, reg,
                                       times, 3.0), strict=True))  # fmt: skip
    for name in ("auc", "auc_tau", "cmax", "ctrough"):
        assert mm[name] == pytest.approx(exact[name], rel=1e-6), name


def test_pd_models_report_the_exposure_of_their_pk():
    pk = {"ka": KA, "cl": K * V, "v": V}
    pd_par = {**pk, "e0": 8.5, "kout": 0.02, "imax": 0.9, "ic50": 1.0}
    reg = Regimen(100.0, n_doses=7)
    np.testing.assert_allclose(
        _metrics("pkpd_1cmt_oral_idr1_e0", pd_par, reg, COARSE),
        _metrics("pk_1cmt_oral", pk, reg, COARSE),
        rtol=1e-12,
    )


def test_ode_dense_output_in_blocks_gives_the_same_metrics(monkeypatch):
    import twinlab.simulate.exposure as exposure

    theta = {"ka": np.array([0.8, 1.2, 2.0]), "v": 30.0, "vm": 8.0, "km": np.array([1, 2, 4.0])}
    args = (theta, np.array([0.0, 12.0, 24.0]), np.full(3, 200.0), (0.0, 48.0))
    kw = {"window": (24.0, 36.0), "threshold": 3.0, "rtol": 1e-8}
    whole = ode_exposure(*args, **kw)
    monkeypatch.setattr(exposure, "_DENSE_ELEMENTS", 64)  # blocks of 10 grid points
    blocked = ode_exposure(*args, **kw)
    for name in METRICS:
        np.testing.assert_allclose(blocked[name], whole[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_crossing_solver_matches_brent_to_machine_precision(m):
    """The safeguarded Halley solver finds the one root of ``k0 + sum b exp(-mu s)`` in its
    bracket as closely as Brent's method does, whatever its start (inside, outside, NaN),
    including a root next to a stationary point (where Newton-type steps stall)."""
    from scipy.optimize import brentq

    from twinlab.simulate.exposure import _solve

    rng = np.random.default_rng(m)
    checked = 0
    for _ in range(400):
        mu = np.sort(rng.uniform(0.02, 5.0, m))
        b = rng.normal(0.0, 1.0, m)
        k0 = rng.normal(0.0, 0.3)
        lo, hi = 0.0, float(rng.uniform(0.5, 30.0))

        def f(s, b=b, mu=mu, k0=k0):
            return k0 + float(np.sum(b * np.exp(-mu * s)))

        grid = np.linspace(lo, hi, 4001)
        vals = k0 + np.exp(-np.outer(grid, mu)) @ b
        sign = np.flatnonzero(np.diff(np.sign(vals)) != 0)
        if sign.size != 1:  # keep brackets with exactly one crossing
            continue
        a, c = float(grid[sign[0]]), float(grid[sign[0] + 1])
        ref = brentq(f, a, c, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        for start in (0.5 * (a + c), a - 1.0, math.nan, c - 1e-9 * (c - a)):
            got = _solve(b, mu, m, k0, a, c, f(a), start)
            assert got == pytest.approx(ref, rel=1e-13, abs=1e-13)
        checked += 1
    assert checked > 100
    # a root 1e-6 h from the peak of a 1-cmt oral profile (f' ~ 0 there)
    b = np.array([1.0, -1.0])
    mu = np.array([0.1, 1.1])
    peak = math.log(1.1 / 0.1) / 1.0
    level = float(np.sum(b * np.exp(-mu * (peak - 1e-6))))
    got = _solve(b, mu, 2, -level, 0.0, peak, float(np.sum(b)) - level, math.nan)
    assert got == pytest.approx(peak - 1e-6, abs=1e-9)


def _two_term_case(model, n, seed):
    rng = np.random.default_rng(seed)
    theta = {
        "ka": 1.2 * rng.lognormal(0, 0.5, n),
        "cl": 4.0 * rng.lognormal(0, 0.5, n),
        "v": 40.0 * rng.lognormal(0, 0.4, n),
        "q": 3.0 * rng.lognormal(0, 0.3, n),
        "v2": 60.0 * rng.lognormal(0, 0.3, n),
    }
    coefs, rates = exponential_terms(model, theta, depot=model == "pk_1cmt_oral")
    assert coefs.shape[1] == 2
    return rng, coefs, rates


def _value_at(coefs, rates, weight, lag, dose_time, amt, dur, t):
    """C(t) by superposition of every dose given by ``t`` (bolus or infusion), per patient."""
    total = np.zeros(coefs.shape[0])
    for d, (td, a) in enumerate(zip(dose_time, amt, strict=True)):
        s = t - (td + lag)
        tau = 0.0 if dur is None else dur[d]
        for i in range(coefs.shape[1]):
            c, lam = weight * coefs[:, i], rates[:, i]
            if tau > 0.0:
                inside = np.clip(s, 0.0, tau)
                g = a / tau * (1.0 - np.exp(-lam * inside)) / lam * np.exp(-lam * (s - inside))
                total += np.where(s > 0.0, c * g, 0.0)
            else:
                total += np.where(s >= 0.0, c * a * np.exp(-lam * np.maximum(s, 0.0)), 0.0)
    return total


@pytest.mark.parametrize("model", ["pk_1cmt_oral", "pk_2cmt_iv"])
def test_lanes_give_the_general_paths_metrics(model):
    """Two-term sums (1-cmt oral, 2-cmt IV) go through the lanes (many patients at once,
    vector exp/log, the crossings from their own starts); against the general path: AUC,
    AUCtau and Ctrough the same bits, Cmax within a few ULP, Tmax the same time or another
    time where the profile is at Cmax too (a tie between dosing intervals at steady state),
    ``t_above`` within 1e-12 h; for bolus, infusion, lagged and bioavailability-weighted
    doses and thresholds that the profile crosses, tops out at, or never reaches."""
    rng, coefs, rates = _two_term_case(model, 300, 20)
    depot = model == "pk_1cmt_oral"
    n = coefs.shape[0]
    checked = 0
    ties = 0
    for tau, n_doses, threshold in itertools.product((8.0, 24.0), (1, 6), (0.3, 1.0, 4.0)):
        dose_time = np.arange(n_doses) * tau
        amt = np.full(n_doses, 100.0)
        t_end = n_doses * tau
        weight, lag = np.ones(n), np.zeros(n)
        kwargs = {}
        if depot:
            weight, lag = rng.uniform(0.5, 1.0, n), rng.choice([0.0, 0.75], n)
            kwargs = {"weight": weight, "lag": lag}
        for dur in (None,) if depot else (None, np.full(n_doses, 1.5)):
            args = (coefs, rates, dose_time, amt, dur, (0.0, t_end))
            window = (t_end - tau, t_end)
            both = [
                exponential_exposure(*args, window=window, threshold=threshold, lanes=p, **kwargs)
                for p in (True, False)
            ]
            for name in ("auc", "auc_tau", "ctrough"):
                np.testing.assert_array_equal(both[0][name], both[1][name], err_msg=name)
            np.testing.assert_allclose(both[0]["cmax"], both[1]["cmax"], rtol=1e-14)
            moved = both[0]["tmax"] != both[1]["tmax"]
            at = _value_at(coefs, rates, weight, lag, dose_time, amt, dur, both[0]["tmax"])
            np.testing.assert_allclose(at[moved], both[1]["cmax"][moved], rtol=1e-12)
            ties += int(np.sum(np.abs(both[0]["tmax"] - both[1]["tmax"]) > 1e-6))
            np.testing.assert_allclose(both[0]["t_above"], both[1]["t_above"], rtol=0, atol=1e-12)
            above = both[0]["t_above"]
            checked += int(np.sum((above > 0) & (above < t_end)))
    assert checked > 1000  # most profiles cross the threshold somewhere
    assert ties < checked / 100


def test_lanes_give_each_patient_the_same_bits_whatever_the_others():
    """A patient's metrics come from its own lane: alone, in a block with others, in
    another order, with patients of another lag (their own group of lanes) or more than a
    block of them, the same bits, so the chunking of a run cannot change them."""
    rng, coefs, rates = _two_term_case("pk_1cmt_oral", 700, 21)
    n = coefs.shape[0]
    weight = rng.uniform(0.5, 1.0, n)
    lag = rng.choice([0.0, 0.5, 1.25], n)
    dose_time = np.arange(4) * 12.0
    amt = np.full(4, 50.0)

    def metrics(idx):
        m = exponential_exposure(
            coefs[idx], rates[idx], dose_time, amt, None, (0.0, 60.0), window=(36.0, 48.0),
            threshold=0.8, weight=weight[idx], lag=lag[idx],
        )  # fmt: skip
        return np.stack([m[k] for k in METRICS])

    every = metrics(np.arange(n))
    assert np.mean(every[-1] > 0) > 0.7  # most profiles cross
    order = rng.permutation(n)
    np.testing.assert_array_equal(metrics(order), every[:, order])
    for i in rng.choice(n, 25, replace=False):
        np.testing.assert_array_equal(metrics(np.array([i])), every[:, [i]])
    same_lag = np.flatnonzero(lag == 0.5)
    np.testing.assert_array_equal(metrics(same_lag), every[:, same_lag])
