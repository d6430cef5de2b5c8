"""The vectorisable ``exp`` and ``log`` of the exposure lanes (:mod:`twinlab.simulate.vmath`):
within 1 and 2 ULP of the C library's, its special values, and the same bits whether a loop
runs them on vectors or one value at a time."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from twinlab.simulate.vmath import vexp, vlog


@numba.njit(error_model="numpy")
def _vexp_loop(x, out):  # a loop LLVM vectorises
    for i in range(x.size):
        out[i] = vexp(x[i])


@numba.njit(error_model="numpy")
def _vlog_loop(x, out):
    for i in range(x.size):
        out[i] = vlog(x[i])


@numba.njit(error_model="numpy")
def _vexp_one(x):  # one value: scalar code
    return vexp(x)


@numba.njit(error_model="numpy")
def _vlog_one(x):
    return vlog(x)


def _ulps(got, want):
    ok = np.isfinite(want) & (want != 0)
    return np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]))


def test_vexp_is_within_one_ulp_of_exp_down_to_subnormal_results():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            -rng.uniform(0.0, 760.0, 200_000),  # every scale the kernels use, and underflow
            rng.uniform(-1.0, 1.0, 100_000),
            rng.uniform(-709.0, 709.0, 50_000),
            [0.0, -0.0, -1e-300, -0.34657359027997264, 0.34657359027997264, -708.4, -745.1],
        ]
    )
    got = np.empty_like(x)
    _vexp_loop(x, got)
    want = np.exp(x)
    assert _ulps(got, want).max() <= 1.0
    assert np.mean(got == want) > 0.85  # most are the correctly rounded value itself
    np.testing.assert_array_equal(got == 0.0, want == 0.0)  # underflow at the same place
    sub = (want > 0) & (want < 2.2250738585072014e-308)
    assert sub.sum() > 100
    assert np.max(np.abs(got[sub] - want[sub])) <= 5e-324  # gradual underflow, one rounding


def test_vlog_is_within_two_ulp_of_log_over_every_binade():
    rng = np.random.default_rng(1)
    y = np.concatenate(
        [
            np.exp(rng.uniform(-744.0, 709.0, 200_000)),
            rng.uniform(0.5, 2.0, 100_000),  # near 1, where log is small
            [5e-324, 1e-310, 2.2250738585072014e-308, 1.0, 2.0, 0.5, math.sqrt(2.0)],
        ]
    )
    got = np.empty_like(y)
    _vlog_loop(y, got)
    want = np.log(y)
    assert _ulps(got, want).max() <= 2.0
    assert np.mean(got == want) > 0.8
    assert got[-4] == 0.0  # log(1)


@pytest.mark.parametrize(
    ("fn", "x", "want"),
    [
        (_vexp_one, math.nan, math.nan),
        (_vexp_one, -math.inf, 0.0),
        (_vexp_one, -800.0, 0.0),
        (_vexp_one, 0.0, 1.0),
        (_vexp_one, 710.0, math.inf),
        (_vlog_one, 0.0, -math.inf),
        (_vlog_one, -0.0, -math.inf),
        (_vlog_one, -1.0, math.nan),
        (_vlog_one, math.nan, math.nan),
        (_vlog_one, math.inf, math.inf),
        (_vlog_one, -math.inf, math.nan),
    ],
)
def test_special_values(fn, x, want):
    got = fn(x)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want


def test_vectorised_loops_give_the_bits_of_one_value_at_a_time():
    """IEEE operations without fast-math: the vector code (4 or 8 values an instruction) and
    the scalar code compute the same bits, so results do not depend on the machine's vector
    width or on where a value falls in a block."""
    rng = np.random.default_rng(2)
    x = -rng.uniform(0.0, 750.0, 3001)
    y = np.exp(rng.uniform(-744.0, 709.0, 3001))
    ex, lg = np.empty_like(x), np.empty_like(y)
    _vexp_loop(x, ex)
    _vlog_loop(y, lg)
    np.testing.assert_array_equal(ex, [_vexp_one(v) for v in x])
    np.testing.assert_array_equal(lg, [_vlog_one(v) for v in y])
