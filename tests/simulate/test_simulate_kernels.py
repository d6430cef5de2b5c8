"""The compiled superposition against twinlab.pkpd.predict and against closed forms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from twinlab.pkpd import expand_doses, get_model, predict
from twinlab.simulate import Regimen, superpose, superpose_model
from twinlab.simulate.kernels import KERNEL_MODELS


def _theta(model: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    values = {
        "ka": rng.lognormal(0.0, 0.4, n),
        "cl": rng.lognormal(1.0, 0.3, n),
        "v": rng.lognormal(3.0, 0.3, n),
        "q": rng.lognormal(1.0, 0.3, n),
        "v2": rng.lognormal(4.0, 0.3, n),
        "q3": rng.lognormal(0.0, 0.3, n),
        "v3": rng.lognormal(4.0, 0.3, n),
        "f": rng.uniform(0.4, 1.0, n),
        "tlag": rng.uniform(0.0, 1.5, n),
        "e0": rng.uniform(5, 10, n),
        "emax": rng.uniform(-5, -1, n),
        "ec50": rng.uniform(0.5, 2, n),
    }
    return {k: v for k, v in values.items() if k in get_model(model).all_params}


def _reference(model: str, theta: dict, times: np.ndarray, regimen: Regimen) -> np.ndarray:
    """twinlab.pkpd.predict with every patient's doses and observations spelled out."""
    m = get_model(model)
    n = next(iter(theta.values())).size
    doses = expand_doses([regimen.doses()] * n, central_cmt=2 if "ka" in m.params else 1)
    arrays = SimpleNamespace(
        n_subjects=n,
        obs_subject=np.repeat(np.arange(n), times.size),
        obs_time=np.tile(times, n),
        **{f"dose_{f}": getattr(doses, f) for f in ("time", "amt", "rate", "duration", "cmt")},
    )
    return predict(m, theta, arrays)["conc"].reshape(n, times.size)


def _assert_rel(actual: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    scale = np.abs(expected).max()
    assert scale > 0
    err = np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-6 * scale)
    assert err.max() < rtol, err.max()


CASES = [
    (model, route)
    for model, (_, oral) in KERNEL_MODELS.items()
    if model != "pkpd_1cmt_oral_emax"
    for route in (("oral", "iv", "infusion") if oral else ("iv", "infusion"))
]


@pytest.mark.parametrize(("model", "route"), CASES)
def test_kernel_agrees_with_pkpd_simulate_to_1e10(model, route):
    rng = np.random.default_rng(7)
    theta = _theta(model, 60, rng)
    # an irregular grid, a time before the first dose, times on and between doses
    times = np.unique(np.concatenate([[-2.0], np.linspace(0, 168, 97), rng.uniform(0, 180, 40)]))
    regimen = Regimen(
        100.0,
        interval_h=24.0,
        n_doses=6,
        route=route,
        infusion_h=2.5 if route == "infusion" else 0.0,
        loading_dose=250.0,
        start_h=1.0,
    )
    doses = expand_doses([regimen.doses()], central_cmt=2 if "ka" in theta else 1)
    got = superpose_model(
        model, theta, times, doses.time[0], doses.amt[0], doses.duration[0], depot=route == "oral"
    )
    _assert_rel(got, _reference(model, theta, times, regimen), 1e-10)


def test_bateman_single_and_multiple_dose_closed_forms():
    ka, k, v, dose = 1.3, 0.15, 20.0, 100.0
    times = np.linspace(0, 96, 385)

    def bateman(t):
        t = np.maximum(t, 0.0)
        return dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))

    theta = {"ka": np.array([ka]), "cl": np.array([k * v]), "v": np.array([v])}
    single = superpose_model("pk_1cmt_oral", theta, times, [0.0], [dose], [0.0], depot=True)
    np.testing.assert_allclose(single[0], bateman(times), rtol=1e-12, atol=1e-14)
    t_doses = np.arange(4) * 12.0
    multi = superpose_model(
        "pk_1cmt_oral", theta, times, t_doses, np.full(4, dose), np.zeros(4), depot=True
    )
    expected = sum(bateman(times - td) for td in t_doses)
    np.testing.assert_allclose(multi[0], expected, rtol=1e-12, atol=1e-14)


def test_iv_infusion_closed_form():
    k, v, amt, dur = 0.2, 10.0, 50.0, 3.0
    rate = amt / dur
    times = np.linspace(0, 24, 97)
    during = rate / (k * v) * (1 - np.exp(-k * times))
    after = rate / (k * v) * (1 - np.exp(-k * dur)) * np.exp(-k * (times - dur))
    expected = np.where(times <= dur, during, after)
    theta = {"cl": np.array([k * v]), "v": np.array([v])}
    got = superpose_model("pk_1cmt_iv", theta, times, [0.0], [amt], [dur], depot=False)
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)


def test_dose_counts_strictly_after_it_is_given():
    got = superpose(np.ones((1, 1)), np.array([[0.5]]), [0.0, 2.0, 4.0], [2.0], [1.0])
    np.testing.assert_allclose(got[0], [0.0, 0.0, np.exp(-1.0)])


def test_unsorted_input_is_refused():
    with pytest.raises(ValueError, match="sorted"):
        superpose(np.ones((1, 1)), np.ones((1, 1)), [2.0, 1.0], [0.0], [1.0])


def test_the_kernel_flags_the_rows_with_a_non_finite_value():
    """``finite`` (written as the values are) is ``isfinite(out).all(axis=-1)``: a singular
    patient (ka == cl / v), missing and degenerate parameters, and ordinary ones (an
    infinite clearance only empties the compartment: finite)."""
    theta = {
        "ka": np.array([1.0, 0.1, 1.0, 1.0, np.nan, 2.0]),
        "cl": np.array([2.0, 2.0, np.inf, 2.0, 2.0, 3.0]),
        "v": np.array([20.0, 20.0, 20.0, 0.0, 20.0, 30.0]),
    }
    times = np.linspace(0.0, 48.0, 17)
    doses = np.array([0.0, 24.0])
    finite = np.zeros(6, dtype=bool)
    with np.errstate(all="ignore"):
        out = superpose_model("pk_1cmt_oral", theta, times, doses, np.full(2, 100.0),
                              np.zeros(2), depot=True, finite=finite)  # fmt: skip
    assert finite.tolist() == np.isfinite(out).all(axis=-1).tolist()
    assert finite.tolist() == [True, False, True, False, False, True]
