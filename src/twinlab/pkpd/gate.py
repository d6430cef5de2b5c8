"""The validation gate of a population fit: what decides whether a twin may be served.

:func:`validate` checks a fit against :class:`GateBounds` – R-hat of the population
parameters and of the individual effects, bulk ESS, divergences and the coverage of the
VPC's 90% prediction interval – and returns a :class:`GateResult`: one :class:`GateCheck`
per bound with its value, the bound, and for a failure the parameter behind it (e.g.
``beta_cl_crcl`` for an R-hat of 1.017) and what usually fixes it. ``twinlab validate-fit``
is a thin wrapper of it; :func:`twinlab.pkpd.registry.record_validation` stores the result
with a registered version, and :func:`twinlab.pkpd.registry.load` refuses to serve a version
whose gate has not passed.

Examples
--------
>>> from twinlab.pkpd.gate import GateBounds, validate
>>> gate = validate(result, bounds=GateBounds(max_rhat=1.01))  # doctest: +SKIP
>>> gate.passed, gate.failures  # doctest: +SKIP
(False, (GateCheck(name='max_rhat_population', ..., parameter='beta_cl_crcl', ...),))
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twinlab.pkpd.fit import FitResult, open_fit

__all__ = ["HINTS", "GateBounds", "GateCheck", "GateResult", "validate"]

#: What usually fixes a failed check, by check name.
HINTS: dict[str, str] = {
    "max_rhat_population": (
        "chains disagree: run longer (more tune and draws), look for a second mode (e.g. the "
        "flip-flop ka < CL/V: a tighter ka prior), keep the chains' start near the prior "
        "medians (fit(jitter=0.1)), centre the BSV (spec 'centered: true') when every subject "
        "is richly sampled, or use nutpie's low-rank mass matrix (--low-rank) when two "
        "typical values are strongly correlated"
    ),
    "max_rhat_individual": (
        "individual effects mix slowly: more tune and draws; effects shrunk towards 0 (high "
        "eta shrinkage) mix worst: consider dropping that parameter's BSV"
    ),
    "min_ess_bulk": (
        "too few independent draws: more draws, nutpie's low-rank mass matrix "
        "(--low-rank) for correlated parameters, or reparameterise (e.g. centre covariates)"
    ),
    "divergences": (
        "the sampler met curvature it cannot integrate (often the funnel between an omega "
        "and its individual effects): inspect where they occur "
        "(arviz.plot_pair(idata, divergences=True)), reparameterise (tighter omega priors; "
        "non-centred effects when subjects are sparsely sampled, centred when richly, or "
        "per parameter: spec 'centered: [cl, v]' keeps the others non-centred), or raise "
        "target_accept"
    ),
    "vpc_pi_coverage_low": (
        "observations fall outside the model's 90% prediction interval too often: residual "
        "error or BSV underestimated, or a structural misfit (absorption lag, a second "
        "compartment): inspect the VPC plot"
    ),
    "vpc_pi_coverage_high": (
        "the 90% prediction interval is too wide: residual error or BSV overestimated "
        "(a prior that dominates sparse data?): inspect the VPC plot"
    ),
    "single_chain": "R-hat needs at least 2 chains: fit with --chains 2 or more",
    "stuck": (
        "R-hat is undefined: the draws of this parameter never move (a stuck chain or a "
        "parameter the model does not use): inspect its trace"
    ),
}


@dataclass(frozen=True)
class GateBounds:
    """The gate's bounds (``params.yaml``'s ``validate`` section).

    Attributes
    ----------
    max_rhat : float
        R-hat bound of the population parameters (typical values, omegas, effects,
        residual errors).
    max_rhat_individual : float
        R-hat bound of the standardized individual effects.
    min_ess : float
        Bulk ESS floor over every free variable.
    max_divergences : int
        Divergent transitions allowed after warm-up.
    pi_coverage : tuple of float
        Bounds on the share of observations inside the VPC's 90% prediction interval.
    """

    max_rhat: float = 1.01
    max_rhat_individual: float = 1.05
    min_ess: float = 100.0
    max_divergences: int = 0
    pi_coverage: tuple[float, float] = (0.80, 0.99)

    def __post_init__(self) -> None:
        low, high = self.pi_coverage
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"pi_coverage must be 0 <= low <= high <= 1, not {self.pi_coverage}")
        if self.min_ess < 0 or self.max_divergences < 0:
            raise ValueError("min_ess and max_divergences must not be negative")

    @classmethod
    def from_params(cls, section: Mapping[str, Any]) -> GateBounds:
        """Bounds from a ``validate`` section (``max_rhat``, ``max_rhat_individual``,
        ``min_ess``, ``max_divergences``, ``pi_coverage_low``, ``pi_coverage_high``)."""
        default = cls()
        return cls(
            max_rhat=float(section.get("max_rhat", default.max_rhat)),
            max_rhat_individual=float(
                section.get("max_rhat_individual", default.max_rhat_individual)
            ),
            min_ess=float(section.get("min_ess", default.min_ess)),
            max_divergences=int(section.get("max_divergences", default.max_divergences)),
            pi_coverage=(
                float(section.get("pi_coverage_low", default.pi_coverage[0])),
                float(section.get("pi_coverage_high", default.pi_coverage[1])),
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the keys of ``reports/validate.json``'s ``bounds``."""
        return {
            "max_rhat_population": self.max_rhat,
            "max_rhat_individual": self.max_rhat_individual,
            "min_ess_bulk": self.min_ess,
            "max_divergences": self.max_divergences,
            "vpc_pi_coverage": list(self.pi_coverage),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateBounds:
        """Inverse of :meth:`to_dict`."""
        low, high = (float(x) for x in data["vpc_pi_coverage"])
        return cls(
            max_rhat=float(data["max_rhat_population"]),
            max_rhat_individual=float(data["max_rhat_individual"]),
            min_ess=float(data["min_ess_bulk"]),
            max_divergences=int(data["max_divergences"]),
            pi_coverage=(low, high),
        )


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate.

    Attributes
    ----------
    name : str
        ``max_rhat_population``, ``max_rhat_individual``, ``min_ess_bulk``, ``divergences``
        or ``vpc_pi_coverage``.
    passed : bool
        Whether the value is within the bound.
    value : float or None
        The fit's value (None: not applicable, e.g. no individual effects).
    bound : str
        The bound as a condition, e.g. ``"<= 1.01"`` or ``"in [0.8, 0.99]"``.
    parameter : str or None
        The element behind the value (e.g. ``beta_cl_crcl``, ``z_cl[subject=17]``).
    hint : str or None
        What usually fixes a failure (None when passed).
    """

    name: str
    passed: bool
    value: float | None
    bound: str
    parameter: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        at = f" at {self.parameter}" if self.parameter else ""
        line = f"{'pass' if self.passed else 'FAIL'}  {self.name}: {value} ({self.bound}){at}"
        return line if self.passed or not self.hint else f"{line}\n      fix: {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "bound": self.bound,
            "parameter": self.parameter,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class GateResult:
    """What the gate found.

    Attributes
    ----------
    checks : tuple of GateCheck
        One per bound, in a fixed order.
    bounds : GateBounds
        The bounds applied.
    metrics : dict
        The rounded values (``reports/validate.json``'s keys, plus
        ``vpc_percentile_coverage``).
    """

    checks: tuple[GateCheck, ...]
    bounds: GateBounds
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.passed)

    def describe(self) -> str:
        """One line: ``passed`` or what failed, naming the parameters (for error messages)."""
        if self.passed:
            return "passed"
        parts = []
        for c in self.failures:
            value = "n/a" if c.value is None else f"{c.value:.4g}"
            at = f" at {c.parameter}" if c.parameter else ""
            parts.append(f"{c.name} {value} ({c.bound}){at}")
        return "failed: " + "; ".join(parts)

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.checks)

    def to_metrics(self) -> dict[str, Any]:
        """The JSON metric the pipeline's ``validate`` stage writes (``reports/validate.json``):
        the values, ``bounds``, ``gates`` (pass/fail by check), ``passed`` and ``failures``
        (by check: the parameter behind it and the hint)."""
        return {
            **self.metrics,
            "bounds": self.bounds.to_dict(),
            "gates": {c.name: c.passed for c in self.checks},
            "passed": self.passed,
            "failures": {c.name: {"parameter": c.parameter, "hint": c.hint} for c in self.failures},
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what a model card's ``validation["gate"]`` holds)."""
        return {
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "bounds": self.bounds.to_dict(),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` is not a gate result.
        """
        try:
            checks = tuple(GateCheck(**dict(c)) for c in data["checks"])
            bounds = GateBounds.from_dict(data["bounds"])
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a gate result: {err}") from None
        return cls(checks, bounds, dict(data.get("metrics") or {}))


def _number(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _worst(table: Any, column: str, largest: bool) -> tuple[float | None, str | None]:
    """The extreme of ``column`` and its element; a NaN anywhere wins (R-hat of one chain)."""
    if table.empty:
        return None, None
    nan = table[column].isna()
    if nan.any():
        return float("nan"), str(table.loc[nan.idxmax(), "element"])
    i = table[column].idxmax() if largest else table[column].idxmin()
    return float(table.loc[i, column]), str(table.loc[i, "element"])


def _rhat_check(name: str, table: Any, bound: float, chains: int) -> GateCheck:
    value, element = _worst(table, "r_hat", largest=True)
    if value is None:  # no such parameters (e.g. no between-subject variability)
        return GateCheck(name, True, None, f"<= {bound:g}", None, None)
    if math.isnan(value):  # one chain, or draws that never move
        hint = HINTS["single_chain"] if chains < 2 else HINTS["stuck"]
        return GateCheck(name, False, None, f"<= {bound:g}", element, hint)
    ok = value <= bound
    return GateCheck(name, ok, value, f"<= {bound:g}", element, None if ok else HINTS[name])


def validate(
    fit: FitResult | str | os.PathLike[str],
    *,
    bounds: GateBounds | None = None,
    n_sim: int = 200,
    seed: int = 0,
) -> GateResult:
    """Run the validation gate on a fit.

    Parameters
    ----------
    fit : FitResult or path
        The fit, or a folder holding ``posterior.zarr`` (as ``twinlab fit --out`` writes),
        or the zarr store itself.
    bounds : GateBounds, optional
        Default: :class:`GateBounds` ``()`` (the defaults of ``params.yaml``).
    n_sim : int
        Simulated studies of the VPC.
    seed : int
        Seed of the VPC simulation (the result is deterministic for a fit and a seed).

    Returns
    -------
    GateResult

    Raises
    ------
    FileNotFoundError
        If the path holds no fit.

    Examples
    --------
    >>> gate = validate("models/twinurostat_pk/fit")  # doctest: +SKIP
    >>> print(gate)  # doctest: +SKIP
    pass  max_rhat_population: 1.004 (<= 1.01) at beta_cl_crcl
    ...
    """
    from twinlab.pkpd.diagnostics import convergence_table, vpc

    bounds = bounds or GateBounds()
    if not isinstance(fit, FitResult):
        fit = open_fit(fit)
    table = convergence_table(fit)
    population = table[table["kind"] == "population"]
    individual = table[table["kind"] == "individual"]
    ess, ess_at = _worst(table, "ess_bulk", largest=False)
    divergences = int(fit.idata.sample_stats["diverging"].sum())
    check = vpc(fit, n_sim=n_sim, seed=seed)
    low, high = bounds.pi_coverage
    pi = float(check["pi_coverage"])
    pi_hint = (
        None
        if low <= pi <= high
        else HINTS["vpc_pi_coverage_low" if pi < low else "vpc_pi_coverage_high"]
    )
    ess_ok = ess is not None and not math.isnan(ess) and ess >= bounds.min_ess
    chains = int(fit.idata.posterior.sizes["chain"])
    checks = (
        _rhat_check("max_rhat_population", population, bounds.max_rhat, chains),
        _rhat_check("max_rhat_individual", individual, bounds.max_rhat_individual, chains),
        GateCheck(
            "min_ess_bulk",
            ess_ok,
            _number(ess),
            f">= {bounds.min_ess:g}",
            ess_at,
            None if ess_ok else HINTS["min_ess_bulk"],
        ),
        GateCheck(
            "divergences",
            divergences <= bounds.max_divergences,
            float(divergences),
            f"<= {bounds.max_divergences}",
            None,
            None if divergences <= bounds.max_divergences else HINTS["divergences"],
        ),
        GateCheck(
            "vpc_pi_coverage",
            pi_hint is None,
            pi,
            f"in [{low:g}, {high:g}]",
            None,
            pi_hint,
        ),
    )
    values = {c.name: c.value for c in checks}
    metrics = {
        "max_rhat_population": _round(values["max_rhat_population"], 4),
        "max_rhat_individual": _round(values["max_rhat_individual"], 4),
        "min_ess_bulk": _round(values["min_ess_bulk"], 1),
        "divergences": divergences,
        "vpc_pi_coverage": round(pi, 4),
        "vpc_percentile_coverage": round(float(check["coverage"]), 4),
    }
    return GateResult(checks, bounds, metrics)


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
