"""Diagnostics against known answers: a posterior placed at the truth of simulated data.

Data simulated from the model itself, checked against that model, must give nominal VPC
coverage and N(0, 1) NPDE; the same data against a wrong model (clearance doubled) must
not. Time after dose is checked on a hand-written regimen.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import arviz as az
import matplotlib
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from twinlab.pkpd import diagnostics as dg
from twinlab.pkpd import model_comparison as mc
from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.fit_units import FitUnits
from twinlab.pkpd.population import PopulationSpec, simulated_study
from twinlab.pkpd.vpc import strata

matplotlib.use("Agg")

DRAWS = 300
LLOQ = 0.8  # mg/L: the late samples of the low dose are partly BLQ
#: one compartment, oral; clearance with creatinine clearance; combined residual error
SPEC = {
    "name": "known",
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0},
    "covariates": [
        {"parameter": "cl", "covariate": "CRCL", "kind": "power", "reference": 100,
         "exponent": 0.75, "estimate": True},
    ],
    "errors": ["combined"],
}  # fmt: skip
TRUTH = {"ka": 1.2, "cl": 3.0, "v": 30.0, "beta_cl_crcl": 0.75, "omega_ka": 0.3,
         "omega_cl": 0.3, "omega_v": 0.2, "sigma_add_conc": 0.05,
         "sigma_prop_conc": 0.1}  # fmt: skip


def _at(spec: PopulationSpec, arrays, truth: dict, *, cl_factor: float = 1.0) -> FitResult:
    """A fit whose posterior is ``truth`` in every draw (``cl`` scaled by ``cl_factor``)."""
    shape = (1, DRAWS)
    post = {}
    for k, v in truth.items():
        if k == "individual":
            for p, values in v.items():
                scale = cl_factor if p == "cl" else 1.0
                per_draw = np.broadcast_to(values * scale, (*shape, len(values))).copy()
                post[f"{p}_i"] = (("chain", "draw", "subject"), per_draw)
        else:
            post[k] = (("chain", "draw"), np.full(shape, v * (cl_factor if k == "cl" else 1.0)))
    idata = az.InferenceData(
        posterior=xr.Dataset(post),
        sample_stats=xr.Dataset({"diverging": (("chain", "draw"), np.zeros(shape, bool))}),
    )
    return FitResult(spec, arrays, idata, "nutpie", {}, {"draws": DRAWS, "chains": 1})


@pytest.fixture(scope="module")
def study():
    spec = PopulationSpec.from_dict(SPEC)
    arrays, truth = simulated_study(
        spec, TRUTH, n_subjects=60, seed=11, dose=[100.0, 320.0], lloq=LLOQ
    )
    return spec, arrays, truth


@pytest.fixture(scope="module")
def right(study):
    return _at(*study)


@pytest.fixture(scope="module")
def wrong(study):
    return _at(*study, cl_factor=2.0)


def test_time_after_dose_of_a_known_regimen():
    # subject 0: 100 mg at 0 h, then 200 mg at 24 and 48 h (and a padded slot);
    # subject 1 never dosed
    arrays = SimpleNamespace(
        n_obs=6,
        covariates={},
        obs_subject=np.array([0, 0, 0, 0, 0, 1]),
        obs_time=np.array([0.0, 1.0, 24.0, 25.5, 50.0, 3.0]),
        dose_time=np.array([[0.0, 24.0, 48.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
        dose_amt=np.array([[100.0, 200.0, 200.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
    )
    tad = dg.time_after_dose(arrays)
    # a sample at a dose time is its trough: counted from the previous dose
    np.testing.assert_allclose(tad, [np.nan, 1.0, 24.0, 1.5, 2.0, np.nan])
    # stratified by the dose the sample follows, the trough with the dose before it
    assert list(strata(SimpleNamespace(arrays=arrays), "dose")) == [
        "pre-dose", "100 mg", "100 mg", "200 mg", "200 mg", "pre-dose",
    ]  # fmt: skip


def test_vpc_of_data_simulated_from_the_model_has_nominal_coverage(right, wrong):
    check = dg.vpc(right, n_sim=DRAWS, seed=1)
    assert 0.86 <= check["pi_coverage"] <= 0.94  # nominal 0.90
    assert check["coverage"] >= 0.8  # nominal 0.95 per percentile
    pc = dg.vpc(right, n_sim=DRAWS, pred_corrected=True, seed=2)
    assert pc["coverage"] >= 0.8 and pc["pi_coverage"] == pytest.approx(
        check["pi_coverage"], abs=0.03
    )
    table = check["table"]
    assert table["n_blq"].sum() == right.arrays.obs_cens.sum() > 0
    # the simulated fraction BLQ brackets the observed one where samples are BLQ
    late = table[table["blq_obs"] > 0]
    assert (
        (late["blq_obs"] >= late["blq_sim_lo"]) & (late["blq_obs"] <= late["blq_sim_hi"])
    ).mean() >= 0.75
    assert check["x_label"] == "time after dose (h)" and check["y_label"] == "concentration (mg/L)"
    bad = dg.vpc(wrong, n_sim=DRAWS, seed=1)
    assert bad["pi_coverage"] < 0.75 and bad["coverage"] < 0.6


def test_vpc_stratified_by_dose_bins_each_dose_alone(right):
    check = dg.vpc(right, n_sim=50, stratify="dose", bins=4, seed=0)
    table = check["table"]
    assert list(dict.fromkeys(table["stratum"])) == ["100 mg", "320 mg"]
    assert table.groupby("stratum")["n"].sum().tolist() == [300, 300]
    cut = np.median(right.arrays.covariates["CRCL"])
    labels = strata(right, "CRCL")
    assert set(labels) == {f"CRCL ≤ {cut:.3g} mL/min", f"CRCL > {cut:.3g} mL/min"}
    per_obs = right.arrays.covariates["CRCL"][right.arrays.obs_subject]
    assert (labels == np.where(per_obs <= cut, f"CRCL ≤ {cut:.3g} mL/min", "x")).sum() == (
        per_obs <= cut
    ).sum()
    with pytest.raises(ValueError, match="cannot stratify by 'AGE'"):
        dg.vpc(right, stratify="AGE")


def test_npde_of_data_simulated_from_the_model_are_standard_normal(right, wrong):
    table = dg.gof(right, n_draws=DRAWS, seed=3)
    blq = table["CENS"]
    assert table.loc[blq, ["CWRES", "NPDE", "IWRES"]].isna().all().all()
    npde = table.loc[~blq, "NPDE"]
    assert abs(npde.mean()) < 0.15 and 0.85 < npde.std() < 1.15
    assert stats.kstest(npde, "norm").pvalue > 0.001
    bad = dg.gof(wrong, n_draws=DRAWS, seed=3).query("not CENS")["NPDE"]
    assert stats.kstest(bad, "norm").pvalue < 1e-6


def test_loo_and_waic_prefer_the_true_model(right, wrong):
    for by in ("obs", "subject"):
        table = mc.compare({"truth": right, "cl x2": wrong}, by=by, n_draws=100)
        assert table.index[0] == "truth" and table.loc["cl x2", "elpd_diff"] > 0
    idata = mc.inference_data(right, n_draws=50)
    for group in ("posterior", "log_likelihood", "posterior_predictive", "observed_data"):
        for name, var in idata[group].data_vars.items():
            assert "units" in var.attrs, (group, name)
    assert idata.observed_data["y"].attrs["units"] == "mg/L"
    assert idata.posterior["cl"].attrs["units"] == "L/h"
    assert np.isfinite(mc.waic(idata).elpd_waic)


def test_posterior_predictive_plots_reproduce_and_leave_numpys_global_state_alone(right):
    """ArviZ draws the LOO-PIT's uniform reference curves and the replicates it shows from
    NumPy's global random state: unseeded, the fit report's figure changed on every run."""
    import io

    idata = mc.inference_data(right, n_draws=50)

    def png(kind: str) -> bytes:
        buf = io.BytesIO()
        mc.plot_ppc(idata, kind=kind).savefig(buf, format="png")
        return buf.getvalue()

    for kind in ("loo_pit", "kde"):
        np.random.seed(1)  # noqa: NPY002
        first = png(kind)
        after = np.random.random()  # noqa: NPY002
        np.random.seed(2)  # noqa: NPY002
        assert png(kind) == first, kind
        np.random.seed(1)  # noqa: NPY002
        assert np.random.random() == after  # noqa: NPY002


def test_plots_are_labelled_returned_once_and_mark_blq(right):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = dg.plot_vpc(dg.vpc(right, n_sim=50, stratify="dose", seed=0))
    assert plt.get_fignums() == before  # not registered with pyplot: a notebook shows it once
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert {"time after dose (h)", "concentration (mg/L)", "fraction BLQ"} <= labels
    assert fig.legends and "LLOQ 0.8" in [t.get_text() for t in fig.legends[0].get_texts()]
    # an all-BLQ subject: BLQ markers only, no observed points at the LLOQ
    arrays = right.arrays
    cens = arrays.obs_cens.copy()
    cens[arrays.obs_subject == 0] = True
    lloq = np.where(cens, LLOQ, np.nan)
    blq_fit = replace(
        right, arrays=replace(arrays, obs_cens=cens, obs_lloq=lloq,
                              obs_dv=np.where(cens, LLOQ, arrays.obs_dv))
    )  # fmt: skip
    fig = dg.plot_individual(blq_fit, subjects=[0, 1], n_draws=20, n_points=100)
    ax = fig.axes[0]
    assert ax.get_title() == "ID 1 (all samples BLQ)"
    assert ax.get_ylabel() == "concentration (mg/L)"
    assert ax.get_xlabel() == "time since first dose (h)"
    points, blq = ax.collections[-2], ax.collections[-1]
    assert len(points.get_offsets()) == 0 and len(blq.get_offsets()) == 10
    # predictions on a dense grid, not only at the sample times
    curves = dg.individual_curves(right, [0], n_points=100, n_draws=20)
    assert len(curves) >= 100 and curves["IPRED"].max() > 0
    assert plt.get_fignums() == before


def test_eta_table_and_gof_plot_over_quantified_records(right):
    etas = dg.eta_table(right)
    assert {"ETA_ka", "ETA_cl", "ETA_v", "CRCL"} <= set(etas.columns)
    # the posterior holds the true individual values: the etas are the simulated ones
    assert abs(np.corrcoef(etas["ETA_cl"], etas["CRCL"])[0, 1]) < 0.4
    fig = dg.plot_eta_covariates(etas)
    assert {ax.get_xlabel() for ax in fig.axes} >= {"CRCL (mL/min)"}
    table = dg.gof(right, n_draws=50)
    fig = dg.plot_gof(table, FitUnits())
    assert f"({int(table['CENS'].sum())} BLQ records left out)" in fig._suptitle.get_text()
    panels = {(ax.get_xlabel(), ax.get_ylabel()): ax for ax in fig.axes}
    for x, y in (("population prediction (mg/L)", "CWRES"), ("time after dose (h)", "CWRES"),
                 ("time after dose (h)", "NPDE"), ("population prediction (mg/L)", "NPDE"),
                 ("population prediction (mg/L)", "observed (mg/L)")):  # fmt: skip
        # every residual panel shows the quantified records only
        points = panels[(x, y)].collections[0].get_offsets()
        assert len(points) == (~table["CENS"]).sum(), (x, y)


def test_parameter_table_has_units_rse_and_shrinkage(tiny_fit):
    table = dg.parameter_table(tiny_fit)
    assert table.loc["cl", "unit"] == "L/h" and table.loc["v", "unit"] == "L"
    assert table.loc["ka", "unit"] == "1/h" and table.loc["sigma_add_conc", "unit"] == "mg/L"
    assert table.loc["cl", "rse_pct"] == pytest.approx(
        100 * table.loc["cl", "sd"] / table.loc["cl", "mean"]
    )
    shrink = dg.shrinkage(tiny_fit)
    assert table.loc["cv_cl", "shrinkage_pct"] == pytest.approx(100 * shrink["cl"])
