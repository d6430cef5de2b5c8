"""The copula's latent correlations: an exact rank-correlation bridge for discrete margins,
recovery of a known latent correlation, and the demo cohort's Spearman correlations kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from twinlab.synth import SynthConfig, generate_study
from twinlab.virtual import GaussianCopula
from twinlab.virtual.covariates import model_covariates
from twinlab.virtual.latent import Margin, latent_correlation, spearman_bridge

#: Spearman correlations of the virtual cohort must be this close to the real cohort's.
TOLERANCE = 0.03


def _bridge_by_cdf(p: np.ndarray, q: np.ndarray, rho: float) -> float:
    """Spearman correlation of two discrete margins (level shares ``p``, ``q``) from the
    bivariate normal cell probabilities (scipy's CDF): an independent check of the bridge."""
    s = np.concatenate([[-np.inf], special.ndtri(np.cumsum(p)[:-1]), [np.inf]])
    t = np.concatenate([[-np.inf], special.ndtri(np.cumsum(q)[:-1]), [np.inf]])
    mvn = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])

    def cdf(a: float, b: float) -> float:
        a, b = np.clip(a, -40, 40), np.clip(b, -40, 40)
        return float(mvn.cdf([a, b], lower_limit=[-40, -40]))

    cells = np.array(
        [[cdf(s[i + 1], t[j + 1]) - cdf(s[i], t[j + 1]) - cdf(s[i + 1], t[j]) + cdf(s[i], t[j])
          for j in range(len(q))] for i in range(len(p))]
    )  # fmt: skip
    gp = np.cumsum(p) - p / 2
    gq = np.cumsum(q) - q / 2
    cov = gp @ cells @ gq - (p @ gp) * (q @ gq)
    return float(cov / math.sqrt((p @ gp**2 - (p @ gp) ** 2) * (q @ gq**2 - (q @ gq) ** 2)))


def _levels(shares: list[float]) -> np.ndarray:
    counts = np.round(np.array(shares) * 1000).astype(int)
    return np.repeat(np.arange(len(shares)), counts)


@pytest.mark.parametrize("rho", [-0.8, -0.3, 0.2, 0.6, 0.95])
def test_bridge_matches_closed_forms_and_bivariate_normal_probabilities(rho):
    cont = Margin(np.arange(100.0), discrete=False)
    half = Margin(_levels([0.5, 0.5]), discrete=True)
    # continuous pair: Spearman = 6/pi asin(rho/2); two median splits: 2/pi asin(rho)
    assert spearman_bridge(cont, cont, rho) == pytest.approx(6 / np.pi * np.arcsin(rho / 2))
    assert spearman_bridge(half, half, rho) == pytest.approx(2 / np.pi * np.arcsin(rho))
    # median split vs continuous: Cov = (1/2) asin(rho / sqrt 2) / (2 pi), Var G = 1/16
    want = 0.5 * np.arcsin(rho / np.sqrt(2)) / (2 * np.pi) / np.sqrt(1 / 16 / 12)
    assert spearman_bridge(half, cont, rho) == pytest.approx(want)
    # unequal shares: against scipy's bivariate normal CDF
    p, q = np.array([0.3, 0.7]), np.array([0.55, 0.25, 0.15, 0.05])
    got = spearman_bridge(Margin(_levels(p), discrete=True), Margin(_levels(q), discrete=True), rho)
    assert got == pytest.approx(_bridge_by_cdf(p, q, rho), abs=2e-5)


def test_inversion_returns_the_latent_correlation_and_bounds():
    sex = Margin(_levels([0.6, 0.4]), discrete=True)
    wt = Margin(np.arange(50.0), discrete=False)
    for r in (-0.7, 0.0, 0.4):
        assert latent_correlation(sex, wt, spearman_bridge(sex, wt, r)) == pytest.approx(r)
    assert latent_correlation(sex, wt, 0.99) == 0.999  # beyond what a binary column allows
    constant = Margin(np.ones(10), discrete=True)
    assert latent_correlation(constant, wt, 0.5) == 0.0


def _known_latent(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Weight (lognormal), SEX (40 % F), a 4-level genotype and age from a Gaussian copula
    with a known latent correlation."""
    latent = np.array(
        [
            [1.0, -0.6, 0.3, 0.2],
            [-0.6, 1.0, -0.4, 0.1],
            [0.3, -0.4, 1.0, -0.5],
            [0.2, 0.1, -0.5, 1.0],
        ]
    )
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(4), latent, size=n)
    frame = pd.DataFrame(
        {
            "WT": np.round(75 * np.exp(0.2 * z[:, 0]), 1),
            "SEX": (z[:, 1] > special.ndtri(0.6)).astype(float),
            "GENO": np.searchsorted(special.ndtri([0.55, 0.8, 0.95]), z[:, 2]).astype(float),
            "AGE": np.round(50 + 15 * z[:, 3]),
        }
    )
    return frame, latent


def _spearman_gap(real: pd.DataFrame, virtual: pd.DataFrame) -> pd.DataFrame:
    return (virtual.corr("spearman") - real.corr("spearman")).abs()


def test_copula_recovers_a_known_latent_correlation_and_keeps_rank_correlations():
    real, latent = _known_latent(4000, seed=3)
    cop = GaussianCopula.fit(real, discrete=["SEX", "GENO"])
    # 4000 rows: the latent estimates are within a few hundredths of the truth
    np.testing.assert_allclose(cop.corr, latent, atol=0.05)
    virtual = cop.sample(np.random.default_rng(4), 100_000)
    gap = _spearman_gap(real, virtual)
    assert gap.to_numpy().max() < TOLERANCE, gap
    # the correlation of tied normal scores, which the copula used to take, is attenuated:
    # here by more than the tolerance for the binary column
    scores = special.ndtri(stats.rankdata(real.to_numpy(), axis=0) / (len(real) + 1))
    tied = np.corrcoef(scores, rowvar=False)
    assert abs(tied[0, 1]) < abs(cop.corr[0, 1]) - TOLERANCE


@pytest.fixture(scope="module")
def demo_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, list[str]]:
    """The demo study's patients (twinlab.synth's default configuration, as ``twinlab
    generate`` makes them) as model covariates: WT, CRCL, CYP2C9 (missing: 'unknown'), AGE,
    SEX."""
    root = tmp_path_factory.mktemp("demo")
    generate_study(root / "raw", root / "truth", SynthConfig())
    truth = pd.read_csv(root / "truth" / "patients.csv")
    table = pd.DataFrame(
        {
            "patient_id": truth["USUBJID"],
            "sex": truth["sex"],
            "cov_weight_kg": truth["weight_kg"],
            "cov_crcl_ml_min": truth["crcl_ml_min"],
            "cov_cyp2c9": truth["cyp2c9_diplotype"].where(truth["genotyped"]),
            "cov_age": truth["age"].astype(float),
        }
    )
    covmap = {"WT": "cov_weight_kg", "CRCL": "cov_crcl_ml_min", "CYP2C9": "cov_cyp2c9",
              "AGE": "cov_age", "SEX": "sex"}  # fmt: skip
    real, codes = model_covariates(table, covmap)
    return real, sorted(codes)


def test_copula_keeps_every_spearman_correlation_of_the_demo_cohort(demo_cohort):
    real, discrete = demo_cohort
    assert discrete == ["CYP2C9", "SEX"]
    spearman = real.corr("spearman")
    assert spearman.loc["WT", "SEX"] < -0.2  # the discrete pair the old copula lost
    virtual = GaussianCopula.fit(real, discrete=discrete).sample(np.random.default_rng(5), 100_000)
    gap = _spearman_gap(real, virtual)
    assert gap.to_numpy().max() < TOLERANCE, gap
