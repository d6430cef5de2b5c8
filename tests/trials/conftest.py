"""Synthetic potential-outcome tables with a known truth, shaped like the engine's
``SimulationResult.patients`` (one row per ``(draw, vpid, arm)``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest


def potential_outcomes(
    n: int = 4000,
    *,
    effects: dict[str, float] | None = None,
    rho: float = 0.5,
    n_draws: int = 1,
    seed: int = 0,
    vpid_start: int = 0,
) -> pd.DataFrame:
    """Normal outcomes with unit SD under control, correlation ``rho`` with ``baseline``.

    ``y = rho * baseline + sqrt(1 - rho²) e`` under control and ``y + effect`` under each
    treated arm (a constant effect); ``end = y + baseline`` so that the change from baseline
    ``end - baseline`` is ``y``. ``WT`` is an unrelated covariate for inclusion criteria.
    """
    effects = {"placebo": 0.0, "active": 0.4} if effects is None else effects
    rng = np.random.default_rng(seed)
    frames = []
    baseline = rng.normal(size=n)
    wt = rng.normal(75, 15, size=n).clip(35, 150)
    for draw in range(n_draws):
        y0 = rho * baseline + np.sqrt(1 - rho**2) * rng.normal(size=n)
        for arm, effect in effects.items():
            frames.append(
                pd.DataFrame(
                    {
                        "draw": draw,
                        "vpid": np.arange(vpid_start, vpid_start + n),
                        "arm": arm,
                        "WT": wt,
                        "baseline": baseline,
                        "y": y0 + effect,
                        "end": y0 + effect + baseline,  # so end - baseline = y
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


#: Coefficients of the prognostic signal in :func:`prognostic_outcomes`.
BETA = (0.6, 0.5)


def prognostic_outcomes(
    n: int = 4000,
    *,
    effect: float = 0.3,
    seed: int = 0,
    arms: Sequence[str] = ("control", "drug"),
    effect_slope: float = 0.0,
) -> pd.DataFrame:
    """Outcomes driven by two baseline covariates: ``y0 = 0.6 x1 + 0.5 x2 + u`` with
    ``var(u) = 1 - 0.61``, so ``var(y0) = 1`` and the best score has ρ² = 0.61.

    Treated arms add ``effect + effect_slope * (0.6 x1 + 0.5 x2)``: a negative slope makes the
    individual effect fall as the prognosis rises (heterogeneous effects correlated with the
    score), so the score explains less of the outcome under drug than under control."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    signal = BETA[0] * x1 + BETA[1] * x2
    y0 = signal + np.sqrt(1 - BETA[0] ** 2 - BETA[1] ** 2) * rng.normal(size=n)
    frames = [
        pd.DataFrame(
            {
                "draw": 0,
                "vpid": np.arange(n),
                "arm": arm,
                "x1": x1,
                "x2": x2,
                "y": y0 + ((effect + effect_slope * signal) if i else 0.0),
            }
        )
        for i, arm in enumerate(arms)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def null_table() -> pd.DataFrame:
    return potential_outcomes(4000, effects={"placebo": 0.0, "active": 0.0}, rho=0.5, seed=11)


@pytest.fixture(scope="session")
def effect_table() -> pd.DataFrame:
    return potential_outcomes(4000, effects={"placebo": 0.0, "active": 0.4}, rho=0.5, seed=12)
