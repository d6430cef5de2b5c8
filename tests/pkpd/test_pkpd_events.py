"""Event-driven sums (twinlab.pkpd.events) against brute-force superposition; gradients."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from twinlab.pkpd.events import decayed_sums, decayed_sums_op, event_table


def _random_table(rng, *, n_rows=5, n_events=9, n_queries=40, inclusive=False):
    ev_time = np.round(rng.uniform(0, 60, (n_rows, n_events)), 1)
    weight = rng.uniform(-50, 200, (n_rows, n_events))
    weight[:, -2:] = 0.0  # padding
    decays = rng.random((n_rows, n_events)) < 0.7
    q_subject = rng.integers(0, n_rows, n_queries)
    q_time = np.round(rng.uniform(0, 80, n_queries), 1)
    q_time[:8] = ev_time[q_subject[:8], 0]  # queries exactly at an event
    tab = event_table(ev_time, weight, decays, q_subject, q_time, inclusive=inclusive)
    return tab, (ev_time, weight, decays, q_subject, q_time)


def _brute_force(lam, lag, raw, inclusive):
    """Every event for every query, summed directly (the superposition principle)."""
    ev_time, weight, decays, q_subject, q_time = raw
    out = np.zeros((len(q_time), lam.shape[1]))
    for q, (r, t) in enumerate(zip(q_subject, q_time, strict=True)):
        rel = (t - ev_time[r]) - lag[r]
        on = (rel >= 0) if inclusive else (rel > 0)
        for m in range(lam.shape[1]):
            g = np.where(decays[r], np.exp(-lam[r, m] * np.maximum(rel, 0)), 1.0)
            out[q, m] = np.sum(np.where(on, weight[r] * g, 0.0))
    return out


@pytest.mark.parametrize("inclusive", [False, True])
def test_event_driven_sums_equal_brute_force_superposition(inclusive):
    rng = np.random.default_rng(7)
    tab, raw = _random_table(rng, inclusive=inclusive)
    lam = rng.uniform(0.01, 2.0, (5, 3))
    lag = rng.uniform(0.0, 1.0, 5)
    got, _, _ = decayed_sums(lam, lag, tab)
    want = _brute_force(lam, lag, raw, inclusive)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)


def test_a_query_at_a_dose_time_sees_the_dose_only_when_inclusive():
    strict = event_table([[2.0]], [[100.0]], True, [0], [2.0])
    inclusive = event_table([[2.0]], [[100.0]], True, [0], [2.0], inclusive=True)
    lam = np.array([[0.5]])
    assert decayed_sums(lam, None, strict)[0][0, 0] == 0.0
    assert decayed_sums(lam, None, inclusive)[0][0, 0] == 100.0


def test_derivatives_match_finite_differences():
    rng = np.random.default_rng(3)
    tab, _ = _random_table(rng)
    lam = rng.uniform(0.05, 1.5, (5, 2))
    lag = rng.uniform(0.0, 0.5, 5)
    _, d_lam, decaying = decayed_sums(lam, lag, tab)
    h = 1e-6
    up, dn = lam * (1 + h), lam * (1 - h)
    diff = decayed_sums(up, lag, tab)[0] - decayed_sums(dn, lag, tab)[0]
    fd = diff / (2 * h * lam[tab.q_subject])
    np.testing.assert_allclose(d_lam, fd, rtol=1e-5, atol=1e-7)
    # dS/dlag = lambda * (decaying part), away from the events' switch-on times
    fd_lag = (decayed_sums(lam, lag + h, tab)[0] - decayed_sums(lam, lag - h, tab)[0]) / (2 * h)
    smooth = np.abs(fd_lag) < 1e3
    np.testing.assert_allclose(
        (lam[tab.q_subject] * decaying)[smooth], fd_lag[smooth], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_pytensor_op_value_and_gradient(mode):
    import pytensor
    import pytensor.tensor as pt

    rng = np.random.default_rng(11)
    tab, _ = _random_table(rng)
    lam0 = rng.uniform(0.05, 1.5, (5, 2))
    lag0 = rng.uniform(0.0, 0.5, 5)
    w = rng.normal(size=(tab.n_queries, 2))
    lam, lag = pt.dmatrix("lam"), pt.dvector("lag")
    total = (decayed_sums_op(lam, lag, tab)[0] * w).sum()
    fn = pytensor.function([lam, lag], [total, *pytensor.grad(total, [lam, lag])], mode=mode)
    value, g_lam, g_lag = fn(lam0, lag0)

    def f(lam_, lag_):
        return float((decayed_sums(lam_, lag_, tab)[0] * w).sum())

    assert value == pytest.approx(f(lam0, lag0), rel=1e-12)
    h = 1e-6
    for r, m in [(0, 0), (2, 1), (4, 0)]:
        up, dn = lam0.copy(), lam0.copy()
        up[r, m] += h
        dn[r, m] -= h
        assert g_lam[r, m] == pytest.approx((f(up, lag0) - f(dn, lag0)) / (2 * h), rel=1e-5)
    for r in range(5):
        up, dn = lag0.copy(), lag0.copy()
        up[r] += h
        dn[r] -= h
        fd = (f(lam0, up) - f(lam0, dn)) / (2 * h)
        assert g_lag[r] == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_the_op_can_be_cached_by_pytensors_numba_back_end():
    # a graph with an uncacheable Op is recompiled by every fit (20+ s for the demo)
    import pytensor.tensor as pt
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    rng = np.random.default_rng(1)
    tab, _ = _random_table(rng)
    outs = decayed_sums_op(pt.dmatrix(), pt.dvector(), tab)
    node = outs[0].owner
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    assert key is not None
    grad_node = pt.grad(outs[0].sum(), node.inputs[0]).owner
    while type(grad_node.op).__name__ != "DecayedSumsGrad":
        grad_node = grad_node.inputs[0].owner
    _, key = numba_funcify_and_cache_key(grad_node.op, node=grad_node)
    assert key is not None


def test_log_ndtr_is_accurate_into_the_far_tail():
    import pytensor
    import pytensor.tensor as pt

    from twinlab.pkpd.population import log_ndtr

    z = np.array([6.0, 1.0, 0.0, -3.0, -20.0, -34.99, -35.0, -35.01, -50.0, -1e3])
    zt = pt.dvector()
    fn = pytensor.function([zt], [log_ndtr(zt), pytensor.grad(log_ndtr(zt).sum(), zt)])
    value, grad = fn(z)
    np.testing.assert_allclose(value, special.log_ndtr(z), rtol=1e-8)
    # d/dz log Phi = phi / Phi (the inverse Mills ratio), from scipy where it is finite
    mills = np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(z))
    np.testing.assert_allclose(grad, mills, rtol=1e-7)
