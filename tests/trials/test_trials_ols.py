"""Batched OLS against per-replicate references (NumPy lstsq, SciPy's t-test).

statsmodels is not installed in the twinlab environment, so the reference is
``numpy.linalg.lstsq`` per replicate and ``scipy.stats.ttest_ind`` for the two-group case.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twinlab.trials import batched_ols, t_test


def _stack(rng, R=40, n=60, p=4):
    X = np.concatenate([np.ones((R, n, 1)), rng.normal(size=(R, n, p - 1))], axis=2)
    beta = rng.normal(size=(R, p))
    y = np.einsum("rnp,rp->rn", X, beta) + rng.normal(scale=0.7, size=(R, n))
    w = (rng.random((R, n)) > 0.2).astype(float)
    return X, y, w


def test_batched_ols_equals_lstsq_on_each_replicate_with_dropped_rows():
    X, y, w = _stack(np.random.default_rng(5))
    fit = batched_ols(X, y, w)
    for r in range(X.shape[0]):
        keep = w[r] > 0
        Xr, yr = X[r][keep], y[r][keep]
        coef, rss, *_ = np.linalg.lstsq(Xr, yr, rcond=None)
        df = keep.sum() - X.shape[2]
        sigma2 = rss[0] / df
        se = np.sqrt(np.diag(sigma2 * np.linalg.inv(Xr.T @ Xr)))
        np.testing.assert_allclose(fit.coef[r], coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.se[r], se, rtol=1e-9)
        assert fit.df[r] == df
        assert fit.sigma2[r] == pytest.approx(sigma2, rel=1e-9)


def test_treatment_dummy_regression_reproduces_the_pooled_two_sample_t_test():
    rng = np.random.default_rng(8)
    R, n = 25, 50
    group = rng.permuted(np.tile(np.repeat([0.0, 1.0], n // 2), (R, 1)), axis=1)
    y = rng.normal(size=(R, n)) + 0.3 * group
    X = np.stack([np.ones((R, n)), group], axis=2)
    fit = batched_ols(X, y)
    t, p = t_test(fit.coef[:, 1], fit.se[:, 1], fit.df)
    ref = stats.ttest_ind(
        np.where(group == 1, y, np.nan), np.where(group == 0, y, np.nan),
        axis=1, nan_policy="omit",
    )  # fmt: skip
    np.testing.assert_allclose(t, ref.statistic, rtol=1e-9)
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-7)
    # one-sided p is half the two-sided one in the observed direction
    _, p1 = t_test(fit.coef[:, 1], fit.se[:, 1], fit.df, sided=1, sign=1)
    half = np.where(t > 0, p / 2, 1 - p / 2)
    np.testing.assert_allclose(p1, half, rtol=1e-9)


def test_rank_deficient_replicates_are_nan_and_do_not_spoil_the_others():
    X, y, _ = _stack(np.random.default_rng(2), R=3, n=20, p=3)
    X[1, :, 2] = X[1, :, 1] * 2.0  # collinear
    fit = batched_ols(X, y)
    assert np.isnan(fit.coef[1]).all() and np.isnan(fit.se[1]).all()
    ref, *_ = np.linalg.lstsq(X[0], y[0], rcond=None)
    np.testing.assert_allclose(fit.coef[0], ref, rtol=1e-9)


def test_shape_errors_are_explained():
    with pytest.raises(ValueError, match="X must be"):
        batched_ols(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="sided must be 1 or 2"):
        t_test(np.ones(1), np.ones(1), np.ones(1), sided=3)
