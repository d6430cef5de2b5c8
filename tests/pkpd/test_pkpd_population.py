"""Tests of the population layer: spec, PyMC model (priors, non-centred BSV, M3), simulations."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

from twinlab.pkpd.population import (
    Covariate,
    Parameter,
    PopulationSpec,
    ResidualError,
    allometric,
    build_model,
    individual_params,
    simulated_study,
    subset,
)

TRUE = {
    "ka": 1.2,
    "cl": 3.0,
    "v": 30.0,
    "omega_ka": 0.3,
    "omega_cl": 0.25,
    "omega_v": 0.15,
    "sigma_add_conc": 0.1,
    "sigma_prop_conc": 0.1,
}


def _spec(**kw) -> PopulationSpec:
    base = {"model": "pk_1cmt_oral", "parameters": {"ka": 1.0, "cl": 2.0, "v": 20.0}}
    return PopulationSpec.from_dict({**base, **kw})


def test_spec_yaml_round_trip_keeps_every_field(tmp_path):
    spec = PopulationSpec(
        "pk_1cmt_oral",
        (Parameter("ka", 1.0, omega=None), Parameter("cl", 3.0, 0.5), Parameter("v", 30.0)),
        covariates=(
            *allometric(["cl", "v"], estimate=True),
            Covariate("cl", "cyp2c9", "categorical", reference=0, levels=(1, 2)),
        ),
        errors=(ResidualError("conc", "proportional"),),
        correlated=True,
        name="demo",
    )
    spec.to_yaml(tmp_path / "spec.yaml")
    assert PopulationSpec.from_yaml(tmp_path / "spec.yaml") == spec
    assert spec.covariates[-1].covariate == "CYP2C9"


def test_spec_rejects_missing_or_unknown_parameters():
    with pytest.raises(ValueError, match="missing parameters"):
        PopulationSpec.from_dict({"model": "pk_1cmt_oral", "parameters": {"cl": 1, "v": 1}})
    with pytest.raises(ValueError, match="unknown"):
        _spec(parameters={"ka": 1, "cl": 1, "v": 1, "vmax": 2})
    with pytest.raises(KeyError, match="unknown model"):
        PopulationSpec.from_dict({"model": "nope", "parameters": {}})
    with pytest.raises(ValueError, match="unknown spec entries"):
        _spec(priors={})


def test_allometric_uses_three_quarters_on_clearances_and_one_on_volumes():
    covs = {c.parameter: c.exponent for c in allometric(["ka", "cl", "v", "q", "v2"])}
    assert covs == {"cl": 0.75, "v": 1.0, "q": 0.75, "v2": 1.0}


def test_allometric_shorthand_in_yaml_expands():
    spec = _spec(covariates=[{"allometric": "WT"}])
    assert [(c.parameter, c.covariate, c.exponent) for c in spec.covariates] == [
        ("cl", "WT", 0.75),
        ("v", "WT", 1.0),
    ]


def test_individual_params_agree_between_numpy_and_pytensor():
    spec = _spec(
        covariates=[
            {"parameter": "cl", "covariate": "WT", "exponent": 0.75},
            {
                "parameter": "cl",
                "covariate": "CRCL",
                "reference": 90,
                "exponent": 0.4,
                "estimate": True,
            },
            {"parameter": "v", "covariate": "CYP", "kind": "categorical", "reference": 0},
        ]
    )
    cov = {
        "WT": np.array([50.0, 70, 100]),
        "CRCL": np.array([60.0, 90, 120]),
        "CYP": np.array([0.0, 1, 2]),
    }
    vals = {
        "ka": 1.0,
        "cl": 3.0,
        "v": 30.0,
        "beta_cl_crcl": 0.4,
        "beta_v_cyp_1": 0.2,
        "beta_v_cyp_2": -0.3,
    }
    eta = {"cl": np.array([0.1, 0.0, -0.1])}
    ref = individual_params(np, spec, vals, cov, eta)
    sym = individual_params(
        pt, spec, {k: pt.as_tensor_variable(v) for k, v in vals.items()}, cov, eta
    )
    for k in ref:
        np.testing.assert_allclose(
            np.broadcast_to(sym[k].eval(), (3,)), np.broadcast_to(ref[k], (3,))
        )
    np.testing.assert_allclose(
        ref["cl"], 3.0 * (cov["WT"] / 70) ** 0.75 * (cov["CRCL"] / 90) ** 0.4 * np.exp(eta["cl"])
    )
    np.testing.assert_allclose(ref["v"], 30.0 * np.exp([0.0, 0.2, -0.3]))


def test_build_model_is_non_centred_with_natural_unit_deterministics():
    spec = _spec()
    arrays, _ = simulated_study(spec, TRUE, n_subjects=5, seed=1)
    model, info = build_model(spec, arrays)
    free = {v.name for v in model.free_RVs}
    assert {
        "log_ka",
        "log_cl",
        "log_v",
        "omega_cl",
        "z_cl",
        "sigma_add_conc",
        "sigma_prop_conc",
    } <= free
    assert {"ka", "cl", "v", "cl_i"} <= {v.name for v in model.deterministics}
    assert model["z_cl"].owner.op.__class__.__name__.startswith("Normal")
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    assert info["censored"] == {"conc": 0}


def test_correlated_bsv_uses_an_lkj_cholesky():
    spec = _spec(correlated=True)
    arrays, _ = simulated_study(spec, TRUE, n_subjects=5, seed=1)
    model, _ = build_model(spec, arrays)
    names = {v.name for v in model.free_RVs}
    assert "chol_eta" in names and "z" in names and "omega_cl" not in names


def test_m3_likelihood_adds_the_normal_log_cdf_of_censored_rows():
    spec = _spec(errors="additive")
    arrays, _ = simulated_study(spec, TRUE, n_subjects=6, seed=2, lloq=0.5)
    assert arrays.obs_cens.sum() > 0
    model, info = build_model(spec, arrays)
    assert info["censored"]["conc"] == int(arrays.obs_cens.sum())
    point = model.initial_point()
    point.update({"sigma_add_conc_log__": np.log(0.4)})
    # the likelihood term equals sum(log pdf) over observed rows + sum(log cdf) over BLQ rows
    from twinlab.pkpd.models import predict

    theta = {p: np.exp(point[f"log_{p}"]) * np.exp(0 * point[f"z_{p}"]) for p in ("ka", "cl", "v")}
    theta = {k: np.full(6, v) for k, v in theta.items()}
    pred = predict("pk_1cmt_oral", theta, arrays)["conc"]
    sd = np.sqrt(0.4**2 + 1e-3**2)
    cens = arrays.obs_cens
    expected = (
        stats.norm.logpdf(arrays.obs_dv[~cens], pred[~cens], sd).sum()
        + stats.norm.logcdf(arrays.obs_lloq[cens], pred[cens], sd).sum()
    )
    got = model.compile_logp(vars=[model["y_conc"]])(point)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_simulated_study_is_seeded_and_censors_below_lloq():
    spec = _spec(covariates=[{"allometric": "WT"}])
    a1, t1 = simulated_study(spec, TRUE, n_subjects=8, seed=3, lloq=0.3)
    a2, _ = simulated_study(spec, TRUE, n_subjects=8, seed=3, lloq=0.3)
    a3, _ = simulated_study(spec, TRUE, n_subjects=8, seed=4, lloq=0.3)
    np.testing.assert_array_equal(a1.obs_dv, a2.obs_dv)
    assert not np.array_equal(a1.obs_dv, a3.obs_dv)
    assert a1.n_obs == 80 and a1.covariates["WT"].shape == (8,)
    assert np.all(a1.obs_dv[a1.obs_cens] == 0.3) and np.all(a1.obs_dv[~a1.obs_cens] >= 0.3)
    assert t1["individual"]["cl"].shape == (8,) and t1["cl"] == 3.0
    kept = subset(a1, ~a1.obs_cens)
    assert kept.n_obs == int((~a1.obs_cens).sum())


def test_simulated_study_gives_dose_levels_in_turn():
    spec = _spec()
    arrays, _ = simulated_study(spec, TRUE, n_subjects=5, seed=3, dose=(10, 100))
    assert arrays.dose_amt[:, 0].tolist() == [10, 100, 10, 100, 10]
    single, _ = simulated_study(spec, TRUE, n_subjects=5, seed=3, dose=100)
    assert np.all(single.dose_amt == 100)
    np.testing.assert_array_equal(arrays.obs_time, single.obs_time)
    with pytest.raises(ValueError, match="doses must be positive"):
        simulated_study(spec, TRUE, n_subjects=5, dose=(10, -1))


def test_two_endpoints_get_their_own_residual_errors():
    spec = PopulationSpec.from_dict(
        {
            "model": "pkpd_1cmt_oral_emax",
            "parameters": {"ka": 1, "cl": 3, "v": 30, "e0": 10, "emax": 50, "ec50": 2},
            "errors": [
                {"endpoint": "conc", "kind": "proportional"},
                {"endpoint": "effect", "kind": "additive", "add_scale": 5},
            ],
        }
    )
    assert [e.dvid for e in spec.errors] == [1, 2]
    arrays, truth = simulated_study(spec, {**TRUE, "sigma_add_effect": 2.0}, n_subjects=4, seed=5)
    assert set(np.unique(arrays.obs_dvid)) == {1, 2}
    model, info = build_model(spec, arrays)
    assert {"y_conc", "y_effect", "sigma_prop_conc", "sigma_add_effect"} <= {
        v.name for v in model.observed_RVs + model.free_RVs
    }
    assert len(info["endpoints"]["effect"]) == 40
    assert truth["sigma_add_effect"] == 2.0


def test_importing_pkpd_silences_pytensors_missing_blas_warning():
    """A pip-installed NumPy gives PyTensor's C back end no BLAS to link; its five-line
    warning would otherwise open every fit's log (the fits run in Numba and do not use it)."""
    import subprocess
    import sys

    code = (
        "import twinlab.pkpd, pytensor, pytensor.tensor as pt, numpy as np\n"
        "a = pt.dmatrix(); f = pytensor.function([a], pt.dot(a, a))\n"
        "print(f(np.ones((3, 3))).sum())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "27.0"
    assert "BLAS" not in out.stderr


@pytest.mark.parametrize("centered", [True, ["cl"], ["v", "ka"]])
def test_centred_bsv_is_the_same_model_as_non_centred(centered):
    # log p_i = log p + omega z: the densities differ only by the Jacobian, -sum log(omega),
    # of the centred parameters
    covs = [{"allometric": "WT"}]
    spec = _spec(covariates=covs)
    centred = _spec(covariates=covs, centered=centered)
    names = centred.centered_parameters
    assert PopulationSpec.from_yaml(centred.to_yaml()) == centred
    arrays, _ = simulated_study(spec, TRUE, n_subjects=5, seed=1, lloq=1.5)
    assert arrays.obs_cens.any()
    nc, _ = build_model(spec, arrays)
    c, _ = build_model(centred, arrays)
    rng = np.random.default_rng(5)
    point = nc.initial_point()
    for p in ("ka", "cl", "v"):
        point[f"log_{p}"] = np.log(TRUE[p])
        point[f"omega_{p}_log__"] = np.log(TRUE[f"omega_{p}"])
        point[f"z_{p}"] = rng.normal(size=5)
    typical = individual_params(
        np, spec, {p: TRUE[p] for p in ("ka", "cl", "v")}, arrays.covariates
    )
    cpoint = {k: v for k, v in point.items() if k.removeprefix("z_") not in names}
    jacobian = 0.0
    for p in names:
        omega = TRUE[f"omega_{p}"]
        cpoint[f"log_{p}_i"] = np.log(typical[p]) + omega * point[f"z_{p}"]
        jacobian -= 5 * np.log(omega)
    np.testing.assert_allclose(
        c.compile_logp()(cpoint), nc.compile_logp()(point) + jacobian, rtol=1e-10
    )
    # the standardized effects are still there, as deterministics, for diagnostics
    (z_cl,) = c.replace_rvs_by_values([c["z_cl"]])
    fn = c.compile_fn(z_cl, inputs=c.value_vars, on_unused_input="ignore", point_fn=False)
    z = fn(*[cpoint[v.name] for v in c.value_vars])
    np.testing.assert_allclose(z, point["z_cl"], rtol=1e-10)
    with pytest.raises(ValueError, match="uncorrelated"):
        _spec(centered=centered, correlated=True)


def test_centred_names_choose_log_individual_values_or_standardized_effects():
    spec = _spec(
        parameters={"ka": 1.0, "cl": 2.0, "v": {"guess": 20.0, "omega": None}}, centered=["cl"]
    )
    arrays, _ = simulated_study(spec, TRUE, n_subjects=5, seed=1)
    model, _ = build_model(spec, arrays)
    free = {v.name for v in model.free_RVs}
    assert {"log_cl_i", "z_ka", "omega_cl", "omega_ka"} <= free
    assert not {"z_cl", "log_ka_i", "z_v", "log_v_i", "omega_v"} & free
    assert "z_cl" in {v.name for v in model.deterministics}
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_centred_names_are_validated_and_round_trip(tmp_path):
    spec = _spec(centered=["v", "cl"])
    assert spec.centered == ("cl", "v")  # the spec's parameter order
    assert spec.to_dict()["centered"] == ["cl", "v"]
    spec.to_yaml(tmp_path / "spec.yaml")
    assert PopulationSpec.from_yaml(tmp_path / "spec.yaml") == spec
    # a bool is written as before (existing specs keep their text and hash); naming every
    # parameter with BSV is True, naming none is False
    assert _spec(centered=True).to_dict()["centered"] is True
    assert "centered" not in _spec().to_dict()
    assert _spec(centered=["ka", "cl", "v"]) == _spec(centered=True)
    assert _spec(centered=[]) == _spec()
    assert _spec(centered=True).centered_parameters == ("ka", "cl", "v")
    assert _spec().centered_parameters == ()
    no_bsv = {"ka": {"guess": 1.0, "omega": None}, "cl": 2.0, "v": 20.0}
    for bad, match in [
        (["q"], r"centered names \['q'\], which are not parameters with BSV"),
        (["cl", "cl"], "names a parameter twice"),
        ("cl", "a list of parameter names"),
        (2.5, "a list of parameter names"),
    ]:
        with pytest.raises(ValueError, match=match):
            _spec(centered=bad)
    with pytest.raises(ValueError, match=r"\['ka'\], which are not parameters with BSV"):
        _spec(parameters=no_bsv, centered=["ka"])
    with pytest.raises(ValueError, match="not parameters with BSV"):
        PopulationSpec("pk_1cmt_oral", spec.parameters, centered=("cl", "ka2"))
