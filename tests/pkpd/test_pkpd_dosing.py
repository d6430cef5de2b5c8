"""Dosing events: constructors, ADDL/II expansion, steady state against the closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinlab.pkpd.dosing import (
    Dose,
    expand_doses,
    infusion,
    iv_bolus,
    oral,
    regimen,
    ss_doses_needed,
)


def _conc_1cmt_oral(t, dose_time, amt, *, ka, k, v, f=1.0):
    """Superposed one-compartment oral concentration, written independently of the package."""
    dt = t[:, None] - dose_time[None, :]
    on = dt >= 0
    dt = np.where(on, dt, 0.0)
    unit = f * ka / (v * (ka - k)) * (np.exp(-k * dt) - np.exp(-ka * dt))
    return (np.where(on, unit, 0.0) * amt[None, :]).sum(axis=1)


def test_infusion_rate_and_duration_are_derived_from_each_other():
    assert infusion(500.0, duration=0.5).rate == 1000.0
    assert infusion(500.0, rate=250.0).duration == 2.0
    assert iv_bolus(10.0).rate == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time": 0, "amt": -1}, "amt must be >= 0"),
        ({"time": 0, "amt": 1, "route": "nasal"}, "route must be one of"),
        ({"time": 0, "amt": 1, "addl": 2}, "ii must be > 0"),
        ({"time": 0, "amt": 1, "ss": True}, "ii must be > 0"),
        ({"time": 0, "amt": 1, "duration": 2.0}, "cannot have a rate"),
        ({"time": 0, "amt": 10, "route": "iv", "rate": 5, "duration": 1}, "disagree"),
        ({"time": 0, "amt": 1, "addl": 1.5, "ii": 12}, "non-negative integer"),
    ],
)
def test_invalid_dose_is_rejected_with_a_clear_message(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dose(**kwargs)


def test_regimen_gives_loading_then_maintenance_doses_at_the_interval():
    doses = regimen(100.0, every=12, n=4, start=2.0, loading=300.0)
    assert [d.time for d in doses] == [2.0, 14.0, 26.0, 38.0]
    assert [d.amt for d in doses] == [300.0, 100.0, 100.0, 100.0]
    infused = regimen(600.0, every=8, n=2, route="iv", duration=0.5)
    assert all(d.rate == 1200.0 and d.duration == 0.5 for d in infused)
    with pytest.raises(ValueError, match="n >= 1"):
        regimen(100.0, every=12, n=0)


def test_addl_expansion_equals_explicit_doses():
    by_addl = expand_doses(
        [[oral(100.0, time=1.0, addl=5, ii=12.0)], [infusion(50.0, duration=2.0, addl=2, ii=24)]]
    )
    explicit = expand_doses(
        [regimen(100.0, every=12.0, n=6, start=1.0), regimen(50.0, every=24, n=3, route="iv",
                                                             duration=2.0)]
    )  # fmt: skip
    for name in ("time", "amt", "rate", "duration", "cmt", "ss", "count"):
        np.testing.assert_array_equal(getattr(by_addl, name), getattr(explicit, name), name)
    assert by_addl.count.tolist() == [6, 3]
    assert by_addl.cmt[1, :3].tolist() == [2, 2, 2]  # IV into the central compartment
    assert by_addl.amt[1, 3:].tolist() == [0.0, 0.0, 0.0]  # padding
    assert by_addl.mask.sum() == 9


def test_doses_are_sorted_in_time_and_iv_cmt_follows_central_cmt():
    arrays = expand_doses([[iv_bolus(5.0, time=10.0), iv_bolus(7.0, time=0.0)]], central_cmt=1)
    assert arrays.time.tolist() == [[0.0, 10.0]]
    assert arrays.amt.tolist() == [[7.0, 5.0]]
    assert arrays.cmt.tolist() == [[1, 1]]


def test_ss_history_length_follows_the_half_life():
    # 20 half-lives (log2(1e6) = 19.93) of history: 200 h / 12 h -> 17 doses before
    assert ss_doses_needed(ii=12.0, half_life=10.0, tol=1e-6) == math.ceil(19.9316 * 10 / 12) - 1
    # default: 30 half-lives (log2(1e9) = 29.9)
    assert ss_doses_needed(ii=12.0, half_life=10.0) == math.ceil(29.8974 * 10 / 12) - 1
    with pytest.raises(ValueError, match="ss_half_life"):
        expand_doses([[oral(100.0, ii=12.0, ss=True)]])


@pytest.mark.parametrize(("ka", "k", "tau"), [(1.5, 0.1, 12.0), (0.8, 0.05, 24.0), (2.0, 0.3, 8)])
def test_ss_superposition_equals_the_analytic_steady_state(ka, k, tau):
    f, dose, v = 0.9, 250.0, 30.0
    half_life = math.log(2) / min(ka, k)
    arrays = expand_doses([[oral(dose, time=0.0, ii=tau, ss=True)]], ss_half_life=half_life)
    assert arrays.ss[0, : arrays.count[0]].all()
    assert arrays.time[0, 0] < 0 and arrays.time[0, arrays.count[0] - 1] == 0.0
    t = np.linspace(0.0, tau, 49)
    conc = _conc_1cmt_oral(t, arrays.time[0], arrays.amt[0], ka=ka, k=k, v=v, f=f)
    # closed form of the steady state of a 1-cmt oral model, dosing every tau
    css = (
        f * dose * ka / (v * (ka - k))
        * (np.exp(-k * t) / (1 - np.exp(-k * tau)) - np.exp(-ka * t) / (1 - np.exp(-ka * tau)))
    )  # fmt: skip
    np.testing.assert_allclose(conc, css, rtol=1e-6, atol=0)
    assert arrays.count[0] == ss_doses_needed(ii=tau, half_life=half_life) + 1
    # the history is needed: one dose alone is far from steady state
    single = _conc_1cmt_oral(t, arrays.time[0, -1:], arrays.amt[0, -1:], ka=ka, k=k, v=v, f=f)
    assert np.max(np.abs(single / css - 1)) > 0.1


def test_ss_with_addl_keeps_the_following_doses():
    arrays = expand_doses([[oral(100.0, time=48.0, ii=24.0, ss=True, addl=2)]], ss_half_life=12)
    n_past = ss_doses_needed(ii=24.0, half_life=12)
    assert arrays.count[0] == n_past + 3
    real = arrays.time[0, : arrays.count[0]]
    assert real[-3:].tolist() == [48.0, 72.0, 96.0]
    np.testing.assert_allclose(np.diff(real), 24.0)
