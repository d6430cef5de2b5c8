"""Latent (normal) correlations that reproduce Spearman's rank correlation, for mixed margins.

A Gaussian copula draws a latent normal vector ``Z`` with correlation ``R`` and maps each
coordinate through a margin: a continuous column through its quantile function, a discrete
one through thresholds on ``Z`` (level ``k`` where ``t_{k-1} < Z <= t_k``, ``t_k`` the normal
quantile of the cumulative share). The output's Spearman correlation (average ranks for ties)
is a known, increasing function of ``R_ij`` and of the two margins only – a *bridge* function.
:func:`latent_correlation` inverts it pairwise: the moment estimator of the latent
correlation from the observed rank correlation (the bridge-function approach of Fan, Liu,
Ning & Zou 2017, JRSS-B 79:405, for mixed binary/continuous data, and the NORTA construction
of Cario & Nelson 1997 for matching rank correlations with discrete margins).

The bridge is exact. With ``G`` the mid-distribution function of a margin (``F(x-)/2 + F(x)/2``,
what average ranks estimate), the population Spearman correlation is
``Cov(G_i(X_i), G_j(X_j)) / sqrt(Var G_i Var G_j)``. A discrete margin's ``G(X)`` is a step
function of ``Z`` (step ``(p_k + p_{k+1}) / 2`` at ``t_k``); a continuous margin's is
``Phi(Z) = P(W < Z)`` for an independent normal ``W``, a step at 0 of ``(Z - W) / sqrt 2``.
Each pair of steps contributes ``P(A > s, B > t) - P(A > s) P(B > t)
= integral_0^rho phi_2(s, t; u) du`` (Plackett's identity), integrated exactly enough by
Gauss-Legendre in ``u = sin(theta)``, where the integrand is smooth and bounded.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

__all__ = ["Margin", "latent_correlation", "spearman_bridge"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)
#: Largest latent correlation the inversion returns (the copula's matrix stays invertible).
MAX_ABS = 0.999


class Margin:
    """How a column's mid-distribution function depends on its latent normal.

    Parameters
    ----------
    values
        The column's real values.
    discrete
        Map back with thresholds (observed levels, observed shares); else the margin is
        continuous.
    """

    def __init__(self, values: np.ndarray, *, discrete: bool) -> None:
        x = np.asarray(values, dtype=float)
        self.discrete = bool(discrete)
        if not self.discrete:
            self.thresholds = np.zeros(1)
            self.steps = np.ones(1)
            self.scale = 1 / math.sqrt(2)
            self.variance = 1 / 12
            return
        _, counts = np.unique(x, return_counts=True)
        p = counts / counts.sum()
        cum = np.cumsum(p)[:-1]
        mid = np.concatenate([[0.0], cum]) + p / 2
        self.thresholds = special.ndtri(cum)
        self.steps = (p[:-1] + p[1:]) / 2
        self.scale = 1.0
        self.variance = float(p @ mid**2 - (p @ mid) ** 2)

    @property
    def constant(self) -> bool:
        """A single level: independent of everything."""
        return self.variance <= 0


def _step_covariance(s: np.ndarray, t: np.ndarray, rho: float) -> np.ndarray:
    """``integral_0^rho phi_2(s, t; u) du`` for every pair of thresholds, ``(len(s), len(t))``."""
    if rho == 0:
        return np.zeros((s.size, t.size))
    top = math.asin(rho)
    theta = top * (_NODES + 1) / 2
    sin, cos2 = np.sin(theta), np.cos(theta) ** 2
    ss, tt = s[:, None, None], t[None, :, None]
    dens = np.exp(-(ss**2 - 2 * ss * tt * sin + tt**2) / (2 * cos2))
    return (dens @ _WEIGHTS) * (top / 2) / (2 * math.pi)


def spearman_bridge(a: Margin, b: Margin, rho: float) -> float:
    """Spearman correlation of two margins joined by a Gaussian copula with correlation ``rho``.

    Examples
    --------
    >>> cont = Margin(np.arange(10.0), discrete=False)
    >>> bool(abs(spearman_bridge(cont, cont, 0.5) - 6 / np.pi * np.arcsin(0.25)) < 1e-12)
    True
    """
    if a.constant or b.constant:
        return 0.0
    cov = _step_covariance(a.thresholds, b.thresholds, rho * a.scale * b.scale)
    return float(a.steps @ cov @ b.steps / math.sqrt(a.variance * b.variance))


def latent_correlation(a: Margin, b: Margin, spearman: float) -> float:
    """The latent correlation whose copula gives the Spearman correlation ``spearman``.

    Continuous pairs use the closed form ``2 sin(pi rho_S / 6)``; pairs with a discrete margin
    solve the exact bridge by Brent's method. A rank correlation beyond what the margins allow
    returns the bound (``±0.999``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sex = Margin(rng.integers(0, 2, 500), discrete=True)
    >>> wt = Margin(rng.normal(size=500), discrete=False)
    >>> r = latent_correlation(sex, wt, -0.25)
    >>> r < -0.25, round(spearman_bridge(sex, wt, r), 6)
    (True, -0.25)
    """
    if a.constant or b.constant or not math.isfinite(spearman):
        return 0.0
    if not (a.discrete or b.discrete):
        return float(np.clip(2 * math.sin(math.pi * spearman / 6), -MAX_ABS, MAX_ABS))
    low, high = spearman_bridge(a, b, -MAX_ABS), spearman_bridge(a, b, MAX_ABS)
    if spearman <= low:
        return -MAX_ABS
    if spearman >= high:
        return MAX_ABS
    return float(
        optimize.brentq(lambda r: spearman_bridge(a, b, r) - spearman, -MAX_ABS, MAX_ABS,
                        xtol=1e-10)
    )  # fmt: skip
