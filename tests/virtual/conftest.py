"""Fixtures: a hand-made posterior with known values (no NUTS) and a real-like cohort table."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.population import PopulationSpec, simulated_study

CHAINS, DRAWS = 2, 25
#: CYP2C9 text levels as the data set codes them (sorted): *1/*1 0, *1/*2 1, *1/*3 2, *3/*3 3.
GENOTYPES = ["*1/*1", "*1/*2", "*1/*3", "*3/*3"]
#: Known population values of the hand-made posterior (per-draw values vary around them).
TRUTH = {
    "cl": 4.0,
    "v": 40.0,
    "ka": 1.2,
    "omega_ka": 0.2,
    "omega_cl": 0.3,
    "omega_v": 0.15,
    "beta_cl_crcl": 0.5,
    "beta_cl_cyp2c9_1": float(np.log(0.6)),
    "beta_cl_cyp2c9_2": float(np.log(0.3)),
    "sigma_add_conc": 0.05,
    "sigma_prop_conc": 0.15,
}
RHO_CL_V = 0.6


def pk_spec(correlated: bool = False) -> PopulationSpec:
    """The demo's PK spec: allometric WT, estimated CRCL power, categorical CYP2C9."""
    return PopulationSpec.from_dict(
        {
            "name": "fake_pk",
            "model": "pk_1cmt_oral",
            "parameters": {"ka": 1.0, "cl": 4.0, "v": 40.0},
            "covariates": [
                {"allometric": "WT"},
                {"parameter": "cl", "covariate": "CRCL", "kind": "power", "reference": 100,
                 "exponent": 0.5, "estimate": True},
                {"parameter": "cl", "covariate": "CYP2C9", "kind": "categorical", "reference": 0},
            ],
            "errors": ["combined"],
            "correlated": correlated,
        }
    )  # fmt: skip


def fake_fit(*, correlated: bool = False, seed: int = 31) -> FitResult:
    """A FitResult whose posterior is written by hand: each draw's values are known.

    Level 3 of CYP2C9 (``*3/*3``) has no ``beta``: the fit never saw it.
    """
    rng = np.random.default_rng(seed)
    spec = pk_spec(correlated)
    arrays, _ = simulated_study(
        spec, {}, n_subjects=6, seed=seed, covariates={"CYP2C9": np.array([0.0, 1.0, 2.0] * 2)}
    )
    shape = (CHAINS, DRAWS)

    def around(value: float, sd: float = 0.05) -> np.ndarray:
        return value * np.exp(rng.normal(0.0, sd, shape))

    post = {
        "ka": around(TRUTH["ka"]),
        "cl": around(TRUTH["cl"]),
        "v": around(TRUTH["v"]),
        "beta_cl_crcl": TRUTH["beta_cl_crcl"] + rng.normal(0, 0.05, shape),
        "beta_cl_cyp2c9_1": TRUTH["beta_cl_cyp2c9_1"] + rng.normal(0, 0.05, shape),
        "beta_cl_cyp2c9_2": TRUTH["beta_cl_cyp2c9_2"] + rng.normal(0, 0.05, shape),
        "sigma_add_conc": around(TRUTH["sigma_add_conc"]),
        "sigma_prop_conc": around(TRUTH["sigma_prop_conc"]),
        "cl_i": np.ones((*shape, 6)),  # per-subject values, as a real fit has them
    }
    omegas = np.stack(
        [around(TRUTH[f"omega_{p}"], 0.1) for p in ("ka", "cl", "v")], axis=-1
    )  # (chain, draw, 3) in spec.random order
    if correlated:
        corr = np.eye(3)
        corr[1, 2] = corr[2, 1] = RHO_CL_V
        post["chol_eta_stds"] = omegas
        post["chol_eta_corr"] = np.broadcast_to(corr, (*shape, 3, 3)).copy()
    else:
        for k, p in enumerate(("ka", "cl", "v")):
            post[f"omega_{p}"] = omegas[..., k]
    idata = az.from_dict(
        posterior=post,
        sample_stats={"diverging": np.zeros(shape, dtype=bool)},
        dims={"cl_i": ["subject"]},
    )
    return FitResult(spec=spec, arrays=arrays, idata=idata, sampler="hand-made")


def flat(fit: FitResult, name: str) -> np.ndarray:
    """A posterior variable, chain × draw flattened chain-major."""
    values = fit.idata.posterior[name].transpose("chain", "draw", ...).values
    return values.reshape((-1, *values.shape[2:]))


def real_table(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """A harmonized-like patients table with a planted weight-CrCL rank correlation.

    Weight and log CrCL come from a Gaussian copula with normal-score correlation 0.7;
    genotypes are text (with missing values), sex is M/F.
    """
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.7], [0.7, 1.0]], size=n)
    genotype = rng.choice(GENOTYPES, size=n, p=[0.55, 0.25, 0.15, 0.05]).astype(object)
    genotype[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "patient_id": [f"P-{i:05d}" for i in range(n)],
            "sex": rng.choice(["M", "F"], size=n),
            "cov_weight_kg": np.round(75 * np.exp(0.2 * z[:, 0]), 1),
            "cov_crcl_ml_min": 90 * np.exp(0.3 * z[:, 1]),
            "cov_cyp2c9": genotype,
            "cov_age": rng.integers(20, 85, size=n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def fit() -> FitResult:
    return fake_fit()


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return real_table()
