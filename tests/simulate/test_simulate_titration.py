"""Titration: double the dose from a dose time on where the trough there is low."""

from __future__ import annotations

import numpy as np
import pytest

from twinlab.simulate import Arm, Regimen, Scenario, Titration, run
from twinlab.virtual import KnownPopulation

KA, V = 1.1, 25.0


def _bateman(t, dose, k):
    t = np.maximum(t, 0.0)
    return dose * KA / (V * (KA - k[:, None])) * (np.exp(-k[:, None] * t) - np.exp(-KA * t))


@pytest.mark.parametrize("model", ["pk_1cmt_oral", "pkpd_1cmt_oral_idr1_e0"])
def test_low_trough_patients_get_the_doubled_dose_from_day_8(model):
    cl = np.linspace(1.0, 8.0, 8)
    k = cl / V
    par = {"ka": KA, "cl": cl, "v": V}
    if model != "pk_1cmt_oral":
        par.update(e0=8.5, kout=0.02, imax=0.9, ic50=1.0)
    times = np.arange(0, 24 * 12 + 1, 6.0)
    tit = Titration(at_h=168.0, trough_below=1.0, factor=2.0)
    arms = [
        Arm("plain", Regimen(100.0, n_doses=12)),
        Arm("titrated", Regimen(100.0, n_doses=12, titration=tit)),
    ]
    res = run(Scenario("tit", KnownPopulation(model, par), arms, times, seed=0))
    conc = res.dataset["conc"].values[0]  # (patient, arm, time)
    base = sum(_bateman(times - 24.0 * j, 100.0, k) for j in range(12))
    np.testing.assert_allclose(conc[:, 0], base, rtol=1e-6)
    low = base[:, times == 168.0][:, 0] < 1.0
    assert 0 < low.sum() < len(cl)  # some but not all patients are titrated
    extra = sum(_bateman(times - 24.0 * j, 100.0, k) for j in range(7, 12))
    np.testing.assert_allclose(conc[:, 1], base + low[:, None] * extra, rtol=1e-6)
    p = res.patients
    assert p.loc[p["arm"] == "titrated", "titrated"].tolist() == low.tolist()
    assert not p.loc[p["arm"] == "plain", "titrated"].any()
    assert res.arms.set_index("arm").loc["titrated", "titrated_frac"] == pytest.approx(low.mean())
    # the exact metrics follow each patient's own doses: the trough at 288 h (a grid point)
    # and the AUC of the last interval with the doubled doses where titrated
    tit_rows = p[p["arm"] == "titrated"]
    np.testing.assert_allclose(tit_rows["ctrough"], conc[:, 1, -1], rtol=1e-6)
    plain_rows = p[p["arm"] == "plain"]
    ratio = tit_rows["auc_tau"].to_numpy() / plain_rows["auc_tau"].to_numpy()
    assert np.all(ratio[low] > 1.9) and np.allclose(ratio[~low], 1.0, rtol=1e-12)


def test_titration_needs_a_dose_time_on_the_grid():
    with pytest.raises(ValueError, match="must be a dose time after the first dose"):
        Regimen(100.0, n_doses=3, titration=Titration(at_h=30.0, trough_below=1.0))
    with pytest.raises(ValueError, match="factor must be finite and > 0"):
        Titration(at_h=24.0, trough_below=1.0, factor=0.0)
    reg = Regimen(100.0, n_doses=3, titration=Titration(at_h=24.0, trough_below=1.0))
    with pytest.raises(ValueError, match=r"must be a point of Scenario\.times"):
        Scenario("t", KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": 1.0, "v": 1.0}),
                 [Arm("a", reg)], [0.0, 12.0, 36.0], seed=0)  # fmt: skip
