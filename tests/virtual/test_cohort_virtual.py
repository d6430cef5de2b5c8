"""VirtualCohort: eligible covariates, lineage, copula, parameter recovery, determinism, scale."""

from __future__ import annotations

import json
import pickle
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from repo_helpers import make_cohort
from scipy import stats

from twinlab.pkpd.population import PopulationSpec
from twinlab.virtual import Population, VirtualCohort, chunk_rng, from_cohort

from .conftest import RHO_CL_V, fake_fit, flat, real_table

#: The demo's PD part (not fitted): assumed values, declared as a spec.
PD_EXTRA = PopulationSpec.from_dict(
    {
        "name": "twinurostat_pd_assumed",
        "model": "pkpd_1cmt_oral_idr1_e0",
        "parameters": {
            "ka": 1.0,
            "cl": 4.0,
            "v": 40.0,
            "e0": {"guess": 8.5, "omega": 0.15},
            "kout": {"guess": 0.02, "omega": None},
            "imax": {"guess": 0.9, "omega": None},
            "ic50": {"guess": 1.0, "omega": 0.3},
        },
        "covariates": [
            {"parameter": "e0", "covariate": "CRCL", "reference": 100, "exponent": -0.25}
        ],
    }
)


def make(real, n=1000, **kw):
    """A VirtualCohort, ignoring the unseen-level warning (tested on its own)."""
    with pytest.warns(UserWarning, match="never seen"):
        return VirtualCohort(real, n, **kw)


def ols(y, *columns):
    """Least-squares coefficients of y on [1, columns...] and the residual SD."""
    x = np.column_stack([np.ones_like(y), *columns])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    return coef, resid.std(ddof=x.shape[1])


# ------------------------------------------------------------------ covariates and criteria


def test_resampled_covariates_are_eligible_real_rows_named_by_source(real, fit):
    vc = make(real, 4000, model=fit, criteria="WT >= 70 and CYP2C9 != '*1/*3'")
    eligible = vc.eligible
    expected = real[(real["cov_weight_kg"] >= 70) & (real["cov_cyp2c9"].fillna("") != "*1/*3")]
    assert sorted(eligible.index) == sorted(expected["patient_id"])
    chunk = vc.chunk(0, 4000, chunk_rng(3, 0))
    assert set(chunk.source) <= set(eligible.index)
    # every virtual patient carries exactly the covariates of the real patient it names
    pd.testing.assert_frame_equal(
        chunk.covariates, eligible.loc[chunk.source].reset_index(drop=True)
    )
    assert (chunk.covariates["WT"] >= 70).all()
    # with replacement, from all of them: ~4000 / n_eligible draws each
    assert set(chunk.source) == set(eligible.index)
    assert list(chunk.covariates.columns) == ["WT", "CRCL", "CYP2C9", "AGE", "SEX"]


def test_text_covariates_are_coded_like_the_dataset_command(real, fit):
    vc = make(real, 10, model=fit)
    codes = vc.describe()["covariates"]["codes"]
    assert codes["CYP2C9"] == {"*1/*1": 0, "*1/*2": 1, "*1/*3": 2, "*3/*3": 3, "unknown": 4}
    assert codes["SEX"] == {"M": 0, "F": 1}
    by_id = real.set_index("patient_id")
    coded = by_id["cov_cyp2c9"].fillna("unknown").map(codes["CYP2C9"])
    assert (vc.eligible["CYP2C9"] == coded.loc[vc.eligible.index]).all()


def test_given_codes_are_used_and_new_levels_get_new_codes(real, fit):
    codes = {"CYP2C9": {"*1/*2": 0, "*1/*1": 1, "*1/*3": 2, "unknown": 5}}
    vc = make(real, 10, model=fit, codes=codes)
    used = vc.describe()["covariates"]["codes"]["CYP2C9"]
    assert used == {"*1/*2": 0, "*1/*1": 1, "*1/*3": 2, "unknown": 5, "*3/*3": 6}
    assert vc.describe()["covariates"]["codes_from"] == "given"


def test_no_eligible_patient_raises(real, fit):
    with pytest.raises(ValueError, match=r"no real patient passes the criteria 'WT > 1000'"):
        VirtualCohort(real, 10, model=fit, criteria="WT > 1000")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"criteria": "HEIGHT > 1"}, ValueError, "unknown covariate 'HEIGHT'"),
        ({"criteria": "WT = 70"}, ValueError, "use == to test equality"),
        ({"method": "bootstrap"}, ValueError, r"method must be one of \('resample', 'copula'\)"),
        ({"n_draws": 2, "uncertainty": False}, ValueError, "use n_draws=1"),
        ({"n_draws": 51}, ValueError, "exceeds the 50 posterior draws"),
        ({"n_draws": 2, "draws": [0, 50]}, ValueError, r"2 indices in 0\.\.49"),
        (
            {"covariate_map": {"WT": "cov_weight_kg"}},
            ValueError,
            r"covariate CRCL \(needed by the model\) is not in the covariate map",
        ),
        ({"structural": "pkpd_1cmt_oral_idr1_e0"}, ValueError, r"needs \['e0', 'kout'"),
        ({"structural": "pk_1cmt_iv"}, ValueError, r"parameters \['ka'\] are not parameters"),
    ],
)
def test_user_mistakes_raise_clear_errors(real, fit, kwargs, error, match):
    with pytest.raises(error, match=match):
        VirtualCohort(real, 10, model=fit, **kwargs)


def test_patients_missing_a_needed_covariate_are_left_out_and_counted(fit):
    real = real_table(60)
    real.loc[:4, "cov_crcl_ml_min"] = np.nan
    real.loc[5:6, "cov_weight_kg"] = 0.0
    vc = make(real, 10, model=fit)
    assert vc.describe()["real"]["dropped"] == {"CRCL missing": 5, "WT not positive": 2}
    assert len(vc.eligible) == 53
    assert vc.describe()["real"]["with_model_covariates"] == 53


def test_unseen_categorical_levels_get_the_reference_effect_with_a_warning(real, fit):
    with pytest.warns(UserWarning, match=r"CYP2C9: levels \[3.0, 4.0\] were never seen"):
        vc = VirtualCohort(real, 10, model=fit, uncertainty=False)
    unseen = vc.describe()["unseen_levels"]["CYP2C9"]
    assert unseen["levels"] == [3.0, 4.0]
    share = vc.eligible["CYP2C9"].isin([3.0, 4.0]).mean()
    assert unseen["eligible_share"] == pytest.approx(share)
    # same parameters as the reference level 0
    pm = vc.parameters
    z = np.zeros((3, pm.n_random))
    cov = {"WT": np.full(3, 70.0), "CRCL": np.full(3, 100.0), "CYP2C9": np.array([0.0, 3, 4])}
    cl = pm.individual(cov, z)["cl"][0]
    assert cl[1] == cl[0] == cl[2] == pytest.approx(flat(fit, "cl").mean())


# -------------------------------------------------------------------------- copula


def test_copula_keeps_marginals_rank_correlation_and_levels(fit):
    real = real_table(500, seed=11)
    vc = make(real, 20_000, model=fit, method="copula")
    chunk = vc.chunk(0, 20_000, chunk_rng(0, 0))
    eligible = vc.eligible.dropna()
    cov = chunk.covariates
    for name in ("WT", "CRCL", "AGE"):
        ks = stats.ks_2samp(cov[name], eligible[name])
        assert ks.pvalue > 0.01, name
        assert cov[name].between(eligible[name].min(), eligible[name].max()).all()
    real_rho = stats.spearmanr(eligible["WT"], eligible["CRCL"]).statistic
    virtual_rho = stats.spearmanr(cov["WT"], cov["CRCL"]).statistic
    assert real_rho > 0.5  # the planted correlation is there to be kept
    assert virtual_rho == pytest.approx(real_rho, abs=0.03)
    # discrete columns: only observed levels, in their observed proportions
    for name in ("CYP2C9", "SEX"):
        want = eligible[name].value_counts(normalize=True)
        got = cov[name].value_counts(normalize=True).reindex(want.index, fill_value=0)
        assert set(cov[name].unique()) <= set(want.index)
        assert np.abs(got - want).max() < 0.015, name
    assert (chunk.source == "").all()  # synthetic covariates have no real source


def test_copula_rejects_rows_that_fail_the_criteria(real, fit):
    vc = make(real, 5000, model=fit, method="copula", criteria="WT / CRCL < 0.85")
    acceptance = vc.describe()["copula"]["acceptance"]
    assert 0.1 < acceptance < 0.95  # the joint criterion does bite on synthetic rows
    chunk = vc.chunk(0, 5000, chunk_rng(2, 4))
    assert chunk.n == 5000
    assert (chunk.covariates["WT"] / chunk.covariates["CRCL"] < 0.85).all()


# ------------------------------------------------------------------ individual parameters


def test_parameters_recover_typical_values_covariate_effects_and_omega(real, fit):
    draws = [3, 31]  # one draw from each chain
    n = 40_000
    vc = make(real, n, model=fit, n_draws=2, draws=draws)
    chunk = vc.chunk(0, n, chunk_rng(1, 0))
    cov = chunk.covariates
    assert chunk.draw.tolist() == draws
    lwt, lcrcl = np.log(cov["WT"] / 70), np.log(cov["CRCL"] / 100)
    levels = [(cov["CYP2C9"] == lev).astype(float) for lev in (1, 2, 3, 4)]
    for d, draw in enumerate(draws):
        se = 4 / np.sqrt(n)
        # CL: allometric 0.75, estimated CRCL power, categorical CYP2C9 (3, 4 unseen: none)
        coef, sd = ols(np.log(chunk.params["cl"][d]), lwt, lcrcl, *levels)
        omega = flat(fit, "omega_cl")[draw]
        assert coef[0] == pytest.approx(np.log(flat(fit, "cl")[draw]), abs=se * omega * 5)
        assert coef[1] == pytest.approx(0.75, abs=0.05)
        assert coef[2] == pytest.approx(flat(fit, "beta_cl_crcl")[draw], abs=0.05)
        assert coef[3] == pytest.approx(flat(fit, "beta_cl_cyp2c9_1")[draw], abs=0.03)
        assert coef[4] == pytest.approx(flat(fit, "beta_cl_cyp2c9_2")[draw], abs=0.03)
        assert coef[5:] == pytest.approx([0, 0], abs=0.05)
        assert sd == pytest.approx(omega, rel=0.03)
        # V: allometric exponent 1
        coef, sd = ols(np.log(chunk.params["v"][d]), lwt)
        assert coef[1] == pytest.approx(1.0, abs=0.03)
        assert sd == pytest.approx(flat(fit, "omega_v")[draw], rel=0.03)
        # ka: no covariates
        lka = np.log(chunk.params["ka"][d])
        assert np.median(lka) == pytest.approx(np.log(flat(fit, "ka")[draw]), abs=0.01)
        assert lka.std() == pytest.approx(flat(fit, "omega_ka")[draw], rel=0.03)
        for term in ("add_conc", "prop_conc"):
            assert chunk.sigma[term][d] == flat(fit, f"sigma_{term}")[draw]


def test_a_patient_keeps_its_deviations_across_posterior_draws(real, fit):
    vc = make(real, 500, model=fit, n_draws=5)
    chunk = vc.chunk(0, 500, chunk_rng(4, 0))
    cov = chunk.covariates
    z = []
    for d, draw in enumerate(chunk.draw):
        typical = (
            np.log(flat(fit, "cl")[draw])
            + 0.75 * np.log(cov["WT"] / 70)
            + flat(fit, "beta_cl_crcl")[draw] * np.log(cov["CRCL"] / 100)
            + np.select(
                [cov["CYP2C9"] == 1, cov["CYP2C9"] == 2],
                [flat(fit, "beta_cl_cyp2c9_1")[draw], flat(fit, "beta_cl_cyp2c9_2")[draw]],
                0.0,
            )
        )
        z.append((np.log(chunk.params["cl"][d]) - typical) / flat(fit, "omega_cl")[draw])
    np.testing.assert_allclose(z[1:], np.broadcast_to(z[0], (4, 500)), atol=1e-9)
    assert np.std(z[0]) == pytest.approx(1.0, abs=0.15)
    # and the draws differ: parameter uncertainty is there
    assert not np.allclose(chunk.params["cl"][0], chunk.params["cl"][1])


def test_draws_are_spread_over_the_posterior_and_shared_by_all_chunks(real, fit):
    vc = make(real, 100, model=fit, n_draws=4)
    assert vc.chunk(0, 50, chunk_rng(0, 0)).draw.tolist() == [6, 18, 31, 43]
    assert vc.chunk(50, 100, chunk_rng(0, 1)).draw.tolist() == [6, 18, 31, 43]


def test_correlated_bsv_is_drawn_with_the_posterior_correlation(real):
    fit = fake_fit(correlated=True)
    n = 30_000
    vc = make(real, n, model=fit, n_draws=1, draws=[7])
    chunk = vc.chunk(0, n, chunk_rng(5, 0))
    cov = chunk.covariates
    lwt, lcrcl = np.log(cov["WT"] / 70), np.log(cov["CRCL"] / 100)
    levels = [(cov["CYP2C9"] == lev).astype(float) for lev in (1, 2)]
    x = np.column_stack([np.ones(n), lwt, lcrcl, *levels])
    resid = {}
    for p in ("cl", "v", "ka"):
        y = np.log(chunk.params[p][0])
        resid[p] = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    stds = flat(fit, "chol_eta_stds")[7]
    assert np.corrcoef(resid["cl"], resid["v"])[0, 1] == pytest.approx(RHO_CL_V, abs=0.02)
    assert np.corrcoef(resid["ka"], resid["cl"])[0, 1] == pytest.approx(0.0, abs=0.02)
    for k, p in enumerate(("ka", "cl", "v")):
        assert resid[p].std() == pytest.approx(stds[k], rel=0.03)
    assert vc.describe()["correlated_bsv"] is True


def test_uncertainty_false_uses_posterior_means(real, fit):
    vc = make(real, 100, model=fit, uncertainty=False)
    chunk = vc.chunk(0, 100, chunk_rng(0, 0))
    assert chunk.draw.tolist() == [-1]
    assert chunk.sigma["prop_conc"][0] == pytest.approx(flat(fit, "sigma_prop_conc").mean())
    pm = vc.parameters
    ref = {"WT": np.array([70.0]), "CRCL": np.array([100.0]), "CYP2C9": np.array([2.0])}
    theta = pm.individual(ref, np.zeros((1, pm.n_random)))
    expected = flat(fit, "cl").mean() * np.exp(flat(fit, "beta_cl_cyp2c9_2").mean())
    assert theta["cl"][0, 0] == pytest.approx(expected)
    assert theta["v"][0, 0] == pytest.approx(flat(fit, "v").mean())


def test_extra_spec_gives_the_assumed_pd_parameters(real, fit):
    n = 30_000
    vc = make(real, n, model=fit, extra=PD_EXTRA, n_draws=2)
    assert vc.model == "pkpd_1cmt_oral_idr1_e0"
    chunk = vc.chunk(0, n, chunk_rng(8, 0))
    assert set(chunk.params) == {"ka", "cl", "v", "e0", "kout", "imax", "ic50"}
    lcrcl = np.log(chunk.covariates["CRCL"] / 100)
    coef, sd = ols(np.log(chunk.params["e0"][0]), lcrcl)
    assert coef[0] == pytest.approx(np.log(8.5), abs=0.005)
    assert coef[1] == pytest.approx(-0.25, abs=0.02)
    assert sd == pytest.approx(0.15, rel=0.03)
    assert np.log(chunk.params["ic50"][0]).std() == pytest.approx(0.3, rel=0.03)
    assert (chunk.params["kout"] == 0.02).all() and (chunk.params["imax"] == 0.9).all()
    # assumed values carry no posterior uncertainty; fitted ones do
    np.testing.assert_array_equal(chunk.params["e0"][0], chunk.params["e0"][1])
    assert not np.allclose(chunk.params["cl"][0], chunk.params["cl"][1])
    described = vc.describe()["parameters"]
    assert described["e0"]["source"] == "assumed, not fitted"
    assert described["e0"]["covariates"] == [
        {"covariate": "CRCL", "reference": 100, "exponent": -0.25}
    ]
    assert described["cl"]["source"] == "fitted"


def test_extra_spec_alone_makes_a_population_without_a_fit(real):
    vc = VirtualCohort(real, 50, extra=PD_EXTRA)
    chunk = vc.chunk(0, 50, chunk_rng(0, 0))
    assert chunk.draw.tolist() == [-1] and chunk.sigma == {}
    assert vc.describe()["fit"] is None
    assert all(p["source"] == "assumed, not fitted" for p in vc.describe()["parameters"].values())


# ------------------------------------------------------------------ determinism and scale


def test_a_chunk_depends_only_on_its_stream_and_range(real, fit):
    a = make(real, 1000, model=fit, n_draws=3)
    b = pickle.loads(pickle.dumps(a))  # as a Dask worker gets it
    b.chunk(0, 300, chunk_rng(9, 0))  # other work first does not matter
    for method_cohort in (a, b):
        assert isinstance(method_cohort, Population)
    one, two = a.chunk(300, 600, chunk_rng(9, 1)), b.chunk(300, 600, chunk_rng(9, 1))
    np.testing.assert_array_equal(one.vpid, np.arange(300, 600))
    for p in one.params:
        np.testing.assert_array_equal(one.params[p], two.params[p])
    pd.testing.assert_frame_equal(one.covariates, two.covariates)
    np.testing.assert_array_equal(one.source, two.source)
    other = a.chunk(300, 600, chunk_rng(9, 2))
    assert not np.array_equal(one.params["cl"], other.params["cl"])
    assert not np.array_equal(one.source, other.source)


def test_copula_chunks_are_deterministic_too(real, fit):
    a = make(real, 1000, model=fit, method="copula", criteria="WT / CRCL < 0.9")
    b = pickle.loads(pickle.dumps(a))
    one, two = a.chunk(0, 400, chunk_rng(1, 3)), b.chunk(0, 400, chunk_rng(1, 3))
    pd.testing.assert_frame_equal(one.covariates, two.covariates)
    np.testing.assert_array_equal(one.params["v"], two.params["v"])


def test_chunk_range_is_checked(real, fit):
    vc = make(real, 100, model=fit)
    with pytest.raises(ValueError, match=r"chunk range 90\.\.120 is not within 0\.\.100"):
        vc.chunk(90, 120, chunk_rng(0, 0))
    empty = vc.chunk(100, 100, chunk_rng(0, 0))
    assert empty.n == 0 and empty.params["cl"].shape == (1, 0)


def test_a_million_patients_in_chunks_with_memory_bounded_by_the_chunk(real, fit):
    n, size = 1_000_000, 100_000
    vc = make(real, n, model=fit, n_draws=2)

    def peak(chunks):
        tracemalloc.start()
        try:
            seen = 0
            for k in chunks:
                chunk = vc.chunk(k * size, (k + 1) * size, chunk_rng(0, k))
                assert chunk.params["cl"].shape == (2, size)
                assert chunk.vpid[0] == k * size and chunk.vpid[-1] == (k + 1) * size - 1
                seen += chunk.n
                del chunk
            return seen, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    seen, peak_all = peak(range(10))
    _, peak_one = peak([0])
    assert seen == n
    # ten chunks need no more memory than one: nothing accumulates
    assert peak_all < 1.5 * peak_one
    # and one chunk is far below what a million patients would take
    assert peak_one < 0.5 * (n * 2 * 3 * 8)


def test_describe_is_json_and_names_no_patient(real, fit):
    vc = make(real, 100, model=fit, n_draws=2, method="copula", criteria=["WT >= 50"])
    d = vc.describe()
    text = json.dumps(d)
    assert "P-0" not in text
    assert d["kind"] == "virtual" and d["model"] == "pk_1cmt_oral" and d["n"] == 100
    assert d["criteria"] == ["WT >= 50"] and d["method"] == "copula"
    assert d["fit"]["name"] == "fake_pk" and len(d["fit"]["data_hash"]) == 64
    assert d["residual"] == ["add_conc", "prop_conc"]
    assert d["real"]["eligible"] == (real["cov_weight_kg"] >= 50).sum()


# ---------------------------------------------------------------- cohorts and the registry


def test_from_cohort_uses_the_harmonized_patients_and_derived_covariates(tmp_path):
    cohort = make_cohort(n_patients=12, seed=3)
    extra = PopulationSpec.from_dict(
        {
            "model": "pk_1cmt_oral",
            "parameters": {"ka": 1.0, "cl": 4.0, "v": 40.0},
            "covariates": [{"allometric": "WT"}],
        }
    )
    folder = cohort.write(tmp_path / "harmonized")
    vc = from_cohort(folder, 200, extra=extra, criteria="AGE >= 30 and SEX == 'F'")
    patients = cohort.patients.set_index("patient_id")
    chunk = vc.chunk(0, 200, chunk_rng(0, 0))
    assert set(chunk.source) <= set(patients.index[patients["sex"] == "F"])
    np.testing.assert_array_equal(
        chunk.covariates["WT"], patients.loc[chunk.source, "cov_weight_kg"]
    )
    assert (chunk.covariates["AGE"] >= 30).all()
    assert "CRCL" not in chunk.covariates  # no creatinine in these patients: left out
    with pytest.raises(TypeError, match="Cohort or a folder"):
        from_cohort(42, 10, extra=extra)


def test_a_registered_model_brings_its_card_and_the_data_set_codes(tmp_path, real):
    from twinlab.pkpd.registry import load, register

    data = tmp_path / "data.csv"
    data.write_text("ID,TIME\n1,0\n")
    codes = {"CYP2C9": {"*1/*1": 0, "*1/*2": 2, "*1/*3": 1, "*3/*3": 3, "unknown": 4}}
    (tmp_path / "data.csv.meta.json").write_text(json.dumps({"codes": codes}))
    register(fake_fit(), "fake", root=tmp_path / "models", data=data, diagnostics={})
    model = load("fake", root=tmp_path / "models", require_validated=False)  # card and codes
    vc = VirtualCohort(real, 100, model=model, criteria="CYP2C9 == '*1/*2'")  # all levels seen
    d = vc.describe()
    assert d["fit"]["name"] == "fake" and d["fit"]["version"] == 1
    assert d["fit"]["data_hash"] == model.card["data_hash"]
    assert d["fit"]["validation"] == "not validated"  # opened by a modeler, and labelled
    assert d["covariates"]["codes_from"] == "fitted data set metadata"
    assert (vc.eligible["CYP2C9"] == 2).all()
    assert sorted(vc.eligible.index) == sorted(real["patient_id"][real["cov_cyp2c9"] == "*1/*2"])
