"""Dose selection on a closed-form exposure: AUC = dose / CL, Cmax = dose / V."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twinlab.trials import recommend_regimen, target_attainment

DOSES = (50, 100, 200, 400)
OMEGA = 0.3  # between-subject SD of log CL


def patients_table(
    cl_effect: float = 1.0, *, n: int = 1000, n_draws: int = 30, theta_sd: float = 0.1, seed=0
) -> pd.DataFrame:
    """Engine-shaped table: the 'fast' genotype clears the drug ``cl_effect`` times faster."""
    rng = np.random.default_rng(seed)
    fast = np.arange(n) % 2 == 1
    eta = rng.normal(0, OMEGA, size=n)
    volume = 50 * np.exp(rng.normal(0, 0.2, size=n))
    wt = rng.uniform(40, 120, size=n)
    frames = []
    for d in range(n_draws):
        theta = 5.0 * np.exp(rng.normal(0, theta_sd))
        cl = theta * np.where(fast, cl_effect, 1.0) * np.exp(eta)
        for dose in DOSES:
            frames.append(
                pd.DataFrame(
                    {
                        "draw": d,
                        "vpid": np.arange(n),
                        "arm": f"{dose} mg",
                        "CYP": np.where(fast, "fast", "normal"),
                        "WT": wt,
                        "auc": dose / cl,
                        "cmax": dose / volume,
                        "theta": theta,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_pta_matches_the_lognormal_closed_form_per_arm():
    table = patients_table(2.0)
    pta = target_attainment(table, metric="auc", target=15, by=["CYP"])
    thetas = table.groupby("draw")["theta"].first().to_numpy()
    for row in pta.itertuples():
        if row.CYP == "all":
            continue
        dose = float(row.arm.split()[0])
        factor = 2.0 if row.CYP == "fast" else 1.0
        per_draw = stats.norm.cdf(np.log(dose / (thetas * factor * 15)) / OMEGA)
        assert row.pta_mean == pytest.approx(per_draw.mean(), abs=0.04), row
        assert row.pta_lo <= row.pta_hi
        assert row.pta_lo == pytest.approx(np.quantile(per_draw, 0.05), abs=0.05)
        assert row.pta_hi == pytest.approx(np.quantile(per_draw, 0.95), abs=0.05)
        assert row.n_patients == 500 and row.n_draws == 30
    overall = pta[pta["CYP"] == "all"].set_index("arm")["pta_mean"]
    by = pta[pta["CYP"] != "all"].groupby("arm")["pta_mean"].mean()
    np.testing.assert_allclose(overall[by.index], by, atol=1e-12)  # equal-sized groups


def test_interval_reflects_parameter_uncertainty_across_draws():
    certain = target_attainment(patients_table(theta_sd=0.0, n_draws=5), metric="auc",
                                target=15)  # fmt: skip
    np.testing.assert_allclose(certain["pta_lo"], certain["pta_hi"])
    uncertain = target_attainment(patients_table(theta_sd=0.2, n_draws=30), metric="auc",
                                  target=15)  # fmt: skip
    width = (uncertain["pta_hi"] - uncertain["pta_lo"]).max()
    assert width > 0.2


def test_subgroups_from_readable_bin_edges():
    table = patients_table(n=400, n_draws=3)
    pta = target_attainment(table, metric="auc", target=15, by=["WT"],
                            bins={"WT": [0, 60, 90, np.inf]}, overall=False)  # fmt: skip
    assert set(pta["WT"]) == {"[0, 60)", "[60, 90)", "[90, inf)"}
    one = table[(table["arm"] == "100 mg") & (table["WT"] >= 60) & (table["WT"] < 90)]
    expect = one.groupby("draw")["auc"].apply(lambda a: (a >= 15).mean()).mean()
    got = pta[(pta["arm"] == "100 mg") & (pta["WT"] == "[60, 90)")]["pta_mean"].iloc[0]
    assert got == pytest.approx(expect)
    with pytest.raises(ValueError, match="outside the bin edges"):
        target_attainment(table, metric="auc", target=15, by=["WT"], bins={"WT": [50, 100]})
    with pytest.raises(ValueError, match="must be increasing"):
        target_attainment(table, metric="auc", target=15, by=["WT"], bins={"WT": [90, 60]})
    with pytest.raises(KeyError, match="subgroup column 'CRCL'"):
        target_attainment(table, metric="auc", target=15, by=["CRCL"])
    with pytest.raises(ValueError, match="direction must be one of"):
        target_attainment(table, metric="auc", target=15, direction="=>")


def _recommended(table: pd.DataFrame, **kw) -> pd.Series:
    rec = recommend_regimen(table, metric="auc", target=15, pta_goal=0.8, by=["CYP"], **kw)
    return rec.set_index("CYP")


def test_faster_clearance_in_a_subgroup_moves_its_recommendation_to_a_higher_dose():
    same = _recommended(patients_table(1.0))
    assert same.loc["normal", "recommended"] == same.loc["fast", "recommended"] == "100 mg"
    faster = _recommended(patients_table(2.0))
    assert faster.loc["normal", "recommended"] == "100 mg"
    assert faster.loc["fast", "recommended"] == "200 mg"
    fastest = _recommended(patients_table(4.0))
    assert fastest.loc["fast", "recommended"] == "400 mg"
    for rec in (same, faster, fastest):
        shares = rec[[c for c in rec.columns if c.startswith("share_")]].sum(axis=1)
        np.testing.assert_allclose(shares, 1.0)
        assert ((rec["probability"] > 0.5) & (rec["probability"] <= 1)).all()
        assert (rec["pta_mean"] >= 0.8).all()


def test_safety_limit_rules_out_regimens_that_are_too_exposed():
    table = patients_table(4.0)
    # Cmax = dose / V with V ~ 50: 400 mg gives Cmax ~ 8, above 6 for nearly everyone
    rec = _recommended(table, safety_metric="cmax", safety_threshold=6.0, safety_limit=0.1)
    assert pd.isna(rec.loc["fast", "recommended"])
    assert rec.loc["fast", "share_none"] > 0.5
    assert rec.loc["normal", "recommended"] == "100 mg"
    assert rec.loc["normal", "p_safety_mean"] < 0.1
    pta = target_attainment(table, metric="auc", target=15, safety_metric="cmax",
                            safety_threshold=6.0)  # fmt: skip
    p400 = pta.set_index("arm").loc["400 mg", "p_safety_mean"]
    expect = stats.norm.cdf(np.log(400 / 6 / 50) / 0.2)  # P(V < 400/6)
    assert p400 == pytest.approx(expect, abs=0.05)


def test_explicit_order_restricts_candidates():
    table = patients_table(1.0, n=400, n_draws=5)
    rec = recommend_regimen(table, metric="auc", target=15, pta_goal=0.8,
                            order=["200 mg", "400 mg"])  # fmt: skip
    assert rec["recommended"].iloc[0] == "200 mg"
    with pytest.raises(KeyError, match="not in the table"):
        recommend_regimen(table, metric="auc", target=15, order=["5 mg"])
