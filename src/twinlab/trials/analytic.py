"""Closed-form power and sample size for ANCOVA and PROCOVA designs.

Two arms, allocation ``ratio`` = treated : control. With outcome SD ``sd`` and a correlation
``rho`` between the outcome and the adjustment covariate(s) (the multiple correlation when
there are several), the ANCOVA treatment estimate has variance

    sd² (1 − ρ²) (1/n_control + 1/n_treated),

and power is computed from the **noncentral t** distribution with ``n − 2 − n_covariates``
degrees of freedom and noncentrality ``delta / sqrt(variance)`` (``method="t"``), or from the
normal approximation (``method="normal"``). PROCOVA (Schuler et al., 2021, qualified by the
EMA in 2022) is ANCOVA on a prognostic score. When the score's correlation ρ with the outcome
is the same in every arm the variance shrinks by ``1 − ρ²``; when the treatment effect varies
with the score it does not: plan with :func:`twinlab.trials.variance_reduction` (arm-wise,
out of sample) and pass ``rho = sqrt(planned reduction)``.
"""

from __future__ import annotations

import math

from scipy import stats

__all__ = [
    "ancova_power",
    "ancova_sample_size",
    "multiple_r2",
    "procova_power",
    "procova_sample_size",
    "procova_saving",
]


def _check(delta: float, sd: float, rho: float, alpha: float, sided: int, ratio: float) -> None:
    if not sd > 0:
        raise ValueError(f"sd must be > 0, got {sd}")
    if not 0 <= abs(rho) < 1:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided!r}")
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta}")


def ancova_power(
    delta: float,
    sd: float,
    n_total: float,
    *,
    rho: float = 0.0,
    alpha: float = 0.05,
    sided: int = 2,
    ratio: float = 1.0,
    n_covariates: int | None = None,
    method: str = "t",
) -> float:
    """Power of a two-arm ANCOVA (or t-test when ``rho=0``).

    Parameters
    ----------
    delta
        True treatment effect (treated − control). For ``sided=1`` a positive ``delta`` is in
        the direction of the alternative.
    sd
        Outcome SD (within arm, unadjusted).
    n_total
        Participants analysed, both arms.
    rho
        Correlation between the outcome and the covariate (multiple correlation for several).
    alpha, sided
        Significance level, 1- or 2-sided.
    ratio
        Allocation treated : control.
    n_covariates
        Covariates in the model, for the degrees of freedom (default 1 when ``rho != 0``).
    method
        ``"t"`` (noncentral t) or ``"normal"``.

    Returns
    -------
    float

    Examples
    --------
    >>> round(ancova_power(0.5, 1.0, 128), 3)
    0.801
    >>> ancova_power(0.5, 1.0, 128, rho=0.6) > 0.9
    True
    """
    _check(delta, sd, rho, alpha, sided, ratio)
    k = (1 if rho else 0) if n_covariates is None else int(n_covariates)
    n0 = n_total / (1.0 + ratio)
    n1 = n_total - n0
    se = sd * math.sqrt((1.0 - rho**2) * (1.0 / n0 + 1.0 / n1))
    ncp = delta / se
    a = alpha / sided
    if method == "normal":
        z = stats.norm.isf(a)
        power = stats.norm.sf(z - ncp)
        if sided == 2:
            power += stats.norm.cdf(-z - ncp)
        return float(power)
    if method != "t":
        raise ValueError(f"method must be 't' or 'normal', got {method!r}")
    df = n_total - 2 - k
    if df < 1:
        raise ValueError(f"n_total={n_total} leaves no residual degrees of freedom")
    crit = stats.t.isf(a, df)
    power = stats.nct.sf(crit, df, ncp)
    if sided == 2:
        power += stats.nct.cdf(-crit, df, ncp)
    return float(power)


def ancova_sample_size(
    delta: float,
    sd: float,
    *,
    rho: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    sided: int = 2,
    ratio: float = 1.0,
    n_covariates: int | None = None,
    method: str = "t",
) -> int:
    """Smallest total sample size whose :func:`ancova_power` reaches ``power``.

    Starts from the normal formula ``(1+r)²/r · (z_a + z_b)² sd² (1−ρ²) / delta²`` and steps
    up until the noncentral-t power is reached.

    Examples
    --------
    >>> ancova_sample_size(0.5, 1.0)
    128
    >>> ancova_sample_size(0.5, 1.0, rho=0.5) < 0.8 * 128
    True
    """
    _check(delta, sd, rho, alpha, sided, ratio)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if delta == 0:
        raise ValueError("delta must be non-zero to size a trial")
    z = stats.norm.isf(alpha / sided) + stats.norm.isf(1.0 - power)
    n = (1 + ratio) ** 2 / ratio * z**2 * sd**2 * (1 - rho**2) / delta**2
    k = (1 if rho else 0) if n_covariates is None else int(n_covariates)
    n = max(math.floor(n), 4 + k)

    def pw(m: int) -> float:
        return ancova_power(
            delta, sd, m, rho=rho, alpha=alpha, sided=sided, ratio=ratio,
            n_covariates=n_covariates, method=method,
        )  # fmt: skip

    while n > 4 + k and pw(n - 1) >= power:
        n -= 1
    while pw(n) < power:
        n += 1
    return n


def multiple_r2(rho_1: float, rho_2: float, rho_12: float) -> float:
    """Squared multiple correlation of an outcome on two covariates.

    Parameters
    ----------
    rho_1, rho_2
        Correlations of the outcome with covariate 1 (e.g. baseline) and 2 (e.g. prognostic
        score).
    rho_12
        Correlation between the two covariates.

    Examples
    --------
    >>> multiple_r2(0.5, 0.5, 0.0)
    0.5
    >>> multiple_r2(0.5, 0.5, 1.0 - 1e-12) < 0.2501
    True
    """
    if not abs(rho_12) < 1:
        raise ValueError("the covariates must not be perfectly correlated")
    return float((rho_1**2 + rho_2**2 - 2 * rho_1 * rho_2 * rho_12) / (1 - rho_12**2))


def procova_power(
    delta: float,
    sd: float,
    n_total: float,
    *,
    rho: float,
    alpha: float = 0.05,
    sided: int = 2,
    ratio: float = 1.0,
    n_covariates: int = 1,
    method: str = "t",
) -> float:
    """Power of a PROCOVA analysis: :func:`ancova_power` with ``rho = sqrt(R²)``, ``R²`` the
    variance reduction. Only when the effect does not vary with the score is that the
    control arm's correlation of score and outcome (the multiple correlation,
    :func:`multiple_r2`, with baseline and score both in the model); otherwise use the
    planned reduction of :func:`twinlab.trials.variance_reduction`."""
    return ancova_power(
        delta, sd, n_total, rho=rho, alpha=alpha, sided=sided, ratio=ratio,
        n_covariates=n_covariates, method=method,
    )  # fmt: skip


def procova_sample_size(
    delta: float,
    sd: float,
    *,
    rho: float,
    alpha: float = 0.05,
    power: float = 0.8,
    sided: int = 2,
    ratio: float = 1.0,
    n_covariates: int = 1,
    method: str = "t",
) -> int:
    """Total sample size of a PROCOVA design (Schuler et al. 2021): the ANCOVA size with
    variance ``sd² (1 − ρ²)``, ``ρ² = R²`` the variance reduction (as in
    :func:`procova_power`; the control arm's ρ² overstates it when effects vary with the
    score).

    Examples
    --------
    >>> n, n_adj = ancova_sample_size(0.4, 1.0), procova_sample_size(0.4, 1.0, rho=0.6)
    >>> abs(n_adj - n * (1 - 0.6**2)) <= 3
    True
    """
    return ancova_sample_size(
        delta, sd, rho=rho, alpha=alpha, power=power, sided=sided, ratio=ratio,
        n_covariates=n_covariates, method=method,
    )  # fmt: skip


def procova_saving(
    n_total: float, rho: float | None = None, *, variance_reduction: float | None = None
) -> dict[str, float]:
    """The one definition of PROCOVA's sample-size figures, used by the API, the trial stage,
    its report and the dashboard.

    With a variance reduction ``R²`` (ρ² for a single covariate whose correlation is the
    same in every arm; otherwise the planned reduction of
    :func:`twinlab.trials.variance_reduction`, or the one realised in simulation), the
    adjusted trial as precise as an unadjusted one of ``N`` participants has the
    **adjusted N** ``N (1 − R²)``, and the **patients saved** are ``N − N (1 − R²) = N R²``.

    Parameters
    ----------
    n_total
        ``N``, participants of the unadjusted trial.
    rho
        Correlation of score and outcome (``R² = ρ²``); or give ``variance_reduction``.
    variance_reduction
        ``R²`` directly.

    Returns
    -------
    dict
        ``rho`` (``√R²``), ``variance_reduction`` (``R²``), ``n_unadjusted``,
        ``n_adjusted`` (``N (1 − R²)``, not rounded) and ``n_saved`` (``N R²``).

    Examples
    --------
    >>> procova_saving(200, 0.5)["n_adjusted"]
    150.0
    >>> procova_saving(60, variance_reduction=0.1)["n_saved"]
    6.0
    """
    if (rho is None) == (variance_reduction is None):
        raise ValueError("give exactly one of rho and variance_reduction")
    if rho is not None:
        if not 0 <= abs(rho) < 1:
            raise ValueError(f"rho must be in (-1, 1), got {rho}")
        r2 = float(rho) ** 2
    else:
        r2 = float(variance_reduction)
        if not r2 < 1:
            raise ValueError(f"variance_reduction must be < 1, got {variance_reduction}")
    n_adjusted = float(n_total) * (1.0 - r2)
    return {
        "rho": math.sqrt(max(r2, 0.0)),
        "variance_reduction": r2,
        "n_unadjusted": float(n_total),
        "n_adjusted": n_adjusted,
        "n_saved": float(n_total) - n_adjusted,
    }
