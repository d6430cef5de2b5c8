"""The parameter table: every estimated quantity, BSV as variance and CV%, and its text."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from repo_helpers import prior_fit

from twinlab.pkpd.tables import GROUPS, format_parameter_table, parameter_table


def test_every_estimated_quantity_has_a_row_in_its_group(tiny_fit):
    table = tiny_fit.parameter_table()
    assert list(table.index) == [
        "ka",
        "cl",
        "v",
        "beta_cl_crcl",
        "omega2_ka",
        "cv_ka",
        "omega2_cl",
        "cv_cl",
        "omega2_v",
        "cv_v",
        "sigma_add_conc",
        "sigma_prop_conc",
    ]
    assert list(table.columns) == [
        "group",
        "quantity",
        "mean",
        "sd",
        "hdi_low",
        "hdi_high",
        "r_hat",
        "ess_bulk",
    ]
    assert table.loc["cl", "group"] == "typical value"
    assert table.loc["beta_cl_crcl", "group"] == "covariate effect"
    assert table.loc["sigma_prop_conc", "group"] == "residual error"
    assert (table["hdi_low"] <= table["mean"]).all() and (table["mean"] <= table["hdi_high"]).all()
    assert table.attrs["hdi_prob"] == 0.94
    # the typical values are the summary's (natural units)
    summary = tiny_fit.summary()["parameters"]
    for name in ("ka", "cl", "v"):
        for column in ("mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"):
            assert table.loc[name, column] == pytest.approx(summary[name][column])


def test_bsv_is_the_variance_and_the_cv_of_the_omega_draws(tiny_fit):
    table = parameter_table(tiny_fit, hdi_prob=0.95)
    omega = tiny_fit.idata.posterior["omega_cl"].values
    variance = omega**2
    cv = 100 * np.sqrt(np.exp(variance) - 1)
    assert table.loc["omega2_cl", "mean"] == pytest.approx(variance.mean())
    assert table.loc["cv_cl", "mean"] == pytest.approx(cv.mean())
    assert table.loc["cv_cl", "sd"] == pytest.approx(cv.std(ddof=1))
    assert table.attrs["hdi_prob"] == 0.95
    # about 95 % of the draws lie in the interval (the narrowest one holding 95 %)
    inside = (cv >= table.loc["cv_cl", "hdi_low"]) & (cv <= table.loc["cv_cl", "hdi_high"])
    assert inside.mean() == pytest.approx(0.95, abs=0.01)
    # rank-based bulk ESS does not see a monotone transform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = float(az.ess(omega, method="bulk"))
    assert table.loc["cv_cl", "ess_bulk"] == pytest.approx(ess)
    assert table.loc["omega2_cl", "ess_bulk"] == pytest.approx(ess)


def test_correlated_bsv_reads_the_cholesky_stds_and_lists_the_correlations():
    spec = {
        "model": "pk_1cmt_oral",
        "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0},
        "correlated": True,
    }
    result = prior_fit(spec, draws=50)
    table = result.parameter_table()
    assert set(GROUPS) - {"covariate effect"} == set(table["group"])
    assert {"corr_ka_cl", "corr_ka_v", "corr_cl_v"} <= set(table.index)
    stds = result.idata.posterior["chol_eta_stds"].values
    assert table.loc["omega2_cl", "mean"] == pytest.approx((stds[..., 1] ** 2).mean())
    corr = result.idata.posterior["chol_eta_corr"].values[..., 0, 2]
    assert table.loc["corr_ka_v", "mean"] == pytest.approx(corr.mean())


def test_the_printed_table_is_grouped_with_intervals_rhat_and_ess(tiny_fit):
    text = format_parameter_table(tiny_fit.parameter_table())
    lines = text.splitlines()
    assert lines[0].split() == [
        "parameter", "mean", "sd", "94%", "HDI", "R-hat", "ESS", "bulk", "quantity"
    ]  # fmt: skip
    for group in ("typical value:", "covariate effect:", "between-subject variability:"):
        assert group in lines
    row = next(line for line in lines if line.split()[0] == "cv_cl").split()
    table = tiny_fit.parameter_table()
    assert float(row[1]) == pytest.approx(table.loc["cv_cl", "mean"], rel=1e-3)
    assert row[5] == f"{table.loc['cv_cl', 'r_hat']:.3f}"
    with pytest.raises(ValueError, match="hdi_prob"):
        parameter_table(tiny_fit, hdi_prob=94)
