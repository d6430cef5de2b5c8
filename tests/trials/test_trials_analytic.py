"""Closed-form power and sample size against textbook values."""

from __future__ import annotations

import pytest

from twinlab.trials import (
    ancova_power,
    ancova_sample_size,
    multiple_r2,
    procova_sample_size,
    procova_saving,
)


def test_two_sample_t_test_matches_textbook_values():
    # Cohen (1988) / G*Power: d = 0.5, 64 per group -> power 0.8015; d = 0.3 needs 176/group.
    assert ancova_power(0.5, 1.0, 128) == pytest.approx(0.8015, abs=5e-4)
    assert ancova_sample_size(0.5, 1.0) == 128
    # (continuous arm sizes: 351 in total, i.e. 176 per group once rounded to whole arms)
    assert ancova_sample_size(0.3, 1.0) == 351
    # one-sided alpha 0.025 equals two-sided 0.05 up to the negligible lower tail
    assert ancova_power(0.5, 1.0, 128, alpha=0.025, sided=1) == pytest.approx(
        ancova_power(0.5, 1.0, 128), abs=1e-4
    )


def test_normal_and_t_approximations_agree_for_large_trials_and_t_is_lower():
    t = ancova_power(0.2, 1.0, 1000, rho=0.4)
    z = ancova_power(0.2, 1.0, 1000, rho=0.4, method="normal")
    assert t == pytest.approx(z, abs=2e-3)
    assert ancova_power(0.8, 1.0, 20, method="t") < ancova_power(0.8, 1.0, 20, method="normal")


def test_unequal_allocation_costs_power_and_sample_size_reaches_its_target():
    assert ancova_power(0.5, 1.0, 120, ratio=2.0) < ancova_power(0.5, 1.0, 120)
    for ratio in (1.0, 2.0):
        n = ancova_sample_size(0.4, 1.3, rho=0.5, power=0.9, ratio=ratio)
        assert ancova_power(0.4, 1.3, n, rho=0.5, ratio=ratio) >= 0.9
        assert ancova_power(0.4, 1.3, n - 1, rho=0.5, ratio=ratio) < 0.9


def test_procova_sample_size_shrinks_by_one_minus_rho_squared():
    for rho in (0.3, 0.5, 0.7):
        n = ancova_sample_size(0.3, 1.0, n_covariates=1)
        n_adj = procova_sample_size(0.3, 1.0, rho=rho)
        assert n_adj == pytest.approx(n * (1 - rho**2), abs=3)
    saving = procova_saving(300, 0.6)
    assert saving["n_adjusted"] == pytest.approx(192.0)
    assert saving["n_saved"] == pytest.approx(108.0)


def test_multiple_correlation_of_two_covariates():
    assert multiple_r2(0.6, 0.5, 0.0) == pytest.approx(0.61)
    # a second covariate identical in information adds nothing
    assert multiple_r2(0.5, 0.5 * 0.8, 0.8) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sd": 0}, "sd must be > 0"),
        ({"rho": 1.0}, "rho must be in"),
        ({"alpha": 0}, "alpha must be in"),
        ({"sided": 3}, "sided must be 1 or 2"),
        ({"method": "exact"}, "method must be"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    args = {"delta": 0.5, "sd": 1.0, "n_total": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        ancova_power(**args)
