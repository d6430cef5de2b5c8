"""Non-compartmental analysis against analytic values and a hand-worked real profile."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from twinlab.pkpd import nca, nca_table

THEO = "/work/shared/data/pk/nlmixr2data/theo_sd.csv"


def test_one_compartment_oral_profile_gives_its_analytic_parameters():
    ka, k, v, f, dose = 1.5, 0.1, 30.0, 0.8, 300.0
    t = np.array([0, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 24, 36, 48, 72.0])  # a usual design
    c = f * dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    r = nca(t, c, dose=dose)
    assert (r.cmax, r.tmax) == (c.max(), 2.0)
    # the rule takes every point from 3 h on: they lie on the terminal line (exp(-ka t)
    # adds < 1% at 3 h), within 1e-4 of the best adjusted R^2, and the most of them
    assert (r.lambda_z_start, r.lambda_z_end, r.lambda_z_n) == (3.0, 72.0, 9)
    assert r.lambda_z == pytest.approx(k, rel=1e-3)
    assert r.half_life == pytest.approx(math.log(2) / k, rel=1e-3)
    # AUCinf = F Dose / CL, CL/F = CL / F, Vz/F = V / F (the 1-cmt terminal volume); the
    # error is the linear trapezoid's over the absorption phase (0.4% with this design)
    assert r.aucinf_obs == pytest.approx(f * dose / (k * v), rel=0.01)
    assert r.cl_f == pytest.approx(k * v / f, rel=0.01)
    assert r.vz_f == pytest.approx(v / f, rel=0.01)
    # denser sampling of the rise: the error shrinks as the trapezoid's (h^2)
    fine = np.concatenate([np.arange(0.0, 3.0, 0.01), t[t >= 3.0]])
    cf = f * dose * ka / (v * (ka - k)) * (np.exp(-k * fine) - np.exp(-ka * fine))
    rf = nca(fine, cf, dose=dose)
    assert rf.aucinf_obs == pytest.approx(f * dose / (k * v), rel=1e-3)


def test_log_down_is_exact_for_a_bolus_decline_and_linear_up_for_a_rise():
    t = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0])
    c = 20.0 * np.exp(-0.15 * t)
    r = nca(t, c, dose=200.0)
    assert r.auclast == pytest.approx(20.0 / 0.15 * (1 - math.exp(-0.15 * 24)), rel=1e-12)
    assert r.aucinf_obs == pytest.approx(20.0 / 0.15, rel=1e-12)
    # a rise is integrated linearly: 0 -> 4 over 2 h is 4
    up = nca(np.array([0.0, 2.0, 3.0, 4.0, 5.0]), np.array([0.0, 4.0, 2.0, 1.0, 0.5]))
    logs = sum((a - b) / math.log(a / b) for a, b in ((4.0, 2.0), (2.0, 1.0), (1.0, 0.5)))
    assert up.auclast == pytest.approx(4.0 + logs, rel=1e-12)
    assert math.isnan(up.cl_f)  # no dose


def test_theophylline_subject_1_worked_by_hand():
    df = pd.read_csv(THEO)
    s1 = df[(df.ID == 1) & (df.EVID == 0)]
    t, c = s1.TIME.to_numpy(), s1.DV.to_numpy()
    dose = float(df[(df.ID == 1) & (df.EVID != 0)].AMT.sum())
    r = nca(t, c, dose=dose)
    assert (r.cmax, r.tmax, r.tlast, r.clast) == (10.5, 1.12, 24.37, 3.28)
    # selection by hand: adjusted R^2 of the last 3..9 points after Cmax, best one taken
    best = None
    for n in range(3, 10):
        x, y = t[-n:], np.log(c[-n:])
        slope, icpt = np.polyfit(x, y, 1)
        r2 = 1 - np.sum((y - icpt - slope * x) ** 2) / np.sum((y - y.mean()) ** 2)
        adj = 1 - (1 - r2) * (n - 1) / (n - 2)
        if best is None or adj > best[0] + 1e-4 or (abs(adj - best[0]) <= 1e-4 and n > best[1]):
            best = (adj, n, -slope)
    assert r.lambda_z_n == best[1] == 3  # 9.05, 12.12, 24.37 h
    assert r.lambda_z == pytest.approx(best[2], rel=1e-12)
    assert r.half_life == pytest.approx(14.30, abs=0.005)
    # AUC by hand: linear up to Cmax, log-trapezoid on the way down
    auc = 0.0
    for i in range(len(t) - 1):
        (t1, t2), (c1, c2) = t[i : i + 2], c[i : i + 2]
        auc += (c1 - c2) * (t2 - t1) / math.log(c1 / c2) if c2 < c1 else (c1 + c2) * (t2 - t1) / 2
    assert r.auclast == pytest.approx(auc, rel=1e-12)
    assert r.aucinf_obs == pytest.approx(auc + 3.28 / best[2], rel=1e-12)
    assert r.aucinf_obs == pytest.approx(214.9, abs=0.05)
    assert r.cl_f == pytest.approx(dose / r.aucinf_obs, rel=1e-12)


# Published NCA of the same theophylline profiles (R's datasets::Theoph, 320 mg): the output
# of NonCompart::tblNCA(Theoph, "Subject", "Time", "conc", dose = 320) as printed in the
# NonCompart tutorial (linear trapezoid, WinNonlin's automatic slope selection), whose
# subjects 1-3 also equal Phoenix WinNonlin's "Final Parameters Pivoted" (Theoph, linear):
# Lambda_z 0.048457 / 0.104086 / 0.102444, AUClast 148.92305 / 91.52680 / 99.28650.
# Columns: LAMZ, LAMZNPT, LAMZLL, CLSTP, AUCLST, AUCIFO, AUCPEO, VZFO, CLFO.
PUBLISHED = {
    1: (0.0484569969657749, 3, 9.05, 3.28014647414312, 148.92305, 216.611933038226,
        31.2489169404534, 30.4867482345887, 1.47729626669981),
    2: (0.104086443688432, 4, 7.03, 0.888639849106919, 91.5268, 100.173459143183,
        8.63168669340252, 30.6904415765423, 3.19445891892989),
    3: (0.102444314109434, 3, 9.0, 1.05509670837553, 99.2865, 109.535970740547,
        9.3571734209797, 28.5170999496524, 2.92141474473231),
    4: (0.0992870205306231, 3, 9.02, 1.15642160174997, 106.7963, 118.378881427603,
        9.7843308603032, 27.2259641330176, 2.70318485984093),
    5: (0.0866188839818201, 4, 7.02, 1.55569511595616, 121.2944, 139.419777837118,
        13.0005786254328, 26.4979946505636, 2.29522672438806),
    6: (0.0877957400561702, 7, 2.03, 0.941271173708175, 73.77555, 84.2544183301878,
        12.4371736674055, 43.2597344953234, 3.79802040465035),
}  # fmt: skip


def test_theophylline_matches_published_noncompart_and_winnonlin_values():
    df = pd.read_csv(THEO)
    df.loc[df.EVID == 101, "EVID"] = 1
    tab = nca_table(df, auc_method="linear", dose=320.0).set_index("ID")
    cols = ["lambda_z", "lambda_z_n", "lambda_z_start", "clast_pred", "auclast", "aucinf_obs",
            "auc_pct_extrap", "vz_f", "cl_f"]  # fmt: skip
    for sid, values in PUBLISHED.items():
        got = tab.loc[sid, cols].to_numpy(dtype=float)
        np.testing.assert_allclose(got, values, rtol=1e-9, err_msg=f"subject {sid}")


def test_nca_table_runs_every_subject_of_a_nonmem_frame():
    df = pd.read_csv(THEO)
    df.loc[df.EVID == 101, "EVID"] = 1  # nlmixr2's dose code to NONMEM's
    tab = nca_table(df)
    assert len(tab) == 12 and tab["cmax"].max() == 11.4
    assert (tab["lambda_z_n"] >= 3).all() and tab["cl_f"].between(1.0, 5.0).all()


def test_bad_profiles_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="sorted"):
        nca([0, 2, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=">= 0"):
        nca([0, 1, 2], [1, -2, 3])
    r = nca([0.0, 1.0, 2.0, 3.0], [0.0, 5.0, 4.0, 3.0])
    assert math.isnan(r.lambda_z) and "fewer than 3" in r.lambda_z_note
    with pytest.raises(ValueError, match="subject 7"):
        nca_table(pd.DataFrame({"ID": [7], "TIME": [0.0], "DV": [1.0]}))
