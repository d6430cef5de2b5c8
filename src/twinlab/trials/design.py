"""Declarative trial designs: arms, size, endpoint, analysis, alpha, dropout, inclusion.

A :class:`Design` is plain data: it round-trips through :meth:`Design.to_dict` /
:meth:`Design.from_dict` (the shape of a ``params.yaml`` section) and validates itself on
construction, so a typo in a parameter file fails with a message that says what is wrong and
what is allowed.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ANALYSES", "ENDPOINT_KINDS", "ArmSpec", "Design", "Endpoint", "evaluate_criteria"]

#: Analyses a design can ask for.
ANALYSES = ("difference", "ancova", "procova")
#: Endpoint kinds.
ENDPOINT_KINDS = ("continuous", "change", "responder", "safety")
_DIRECTIONS = (">=", ">", "<=", "<")
_BETTER = ("higher", "lower")
_MULTIPLICITY = ("none", "bonferroni")


def _bad(what: str, value: Any, allowed: Sequence[Any]) -> ValueError:
    return ValueError(f"{what} must be one of {list(allowed)}, got {value!r}")


def _number(what: str, value: Any) -> float:
    """``value`` as a float, or a ValueError naming the field."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None


def _from_mapping(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping, got {type(data).__name__}")
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; allowed: {allowed}")
    return dict(data)


@dataclass(frozen=True)
class ArmSpec:
    """One arm of a trial: the name of an arm of the simulation, and its allocation weight.

    Parameters
    ----------
    name
        Arm name as in the ``arm`` column of the simulated ``patients`` table
        (e.g. ``"placebo"``, ``"100 mg QD"``).
    ratio
        Allocation weight (``2`` in a 2:1 design), > 0.
    """

    name: str
    ratio: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"arm name must be a non-empty string, got {self.name!r}")
        ratio = _number(f"allocation ratio of arm {self.name!r}", self.ratio)
        if not math.isfinite(ratio) or ratio <= 0:
            raise ValueError(f"allocation ratio of arm {self.name!r} must be > 0, got {self.ratio}")
        object.__setattr__(self, "ratio", ratio)


@dataclass(frozen=True)
class Endpoint:
    """What is measured on each participant, from the simulated ``patients`` table.

    Parameters
    ----------
    kind
        ``"continuous"`` – the value of ``column``; ``"change"`` – ``column - baseline``
        (change from baseline); ``"responder"`` – 1 when the value (or change, when
        ``baseline`` is given) compared with ``threshold`` by ``direction`` holds, else 0;
        ``"safety"`` – 1 when an exposure metric (``cmax``, ``auc``) crosses ``threshold``.
    column
        Column of the ``patients`` table (``effect_end``, ``effect_cfb``, ``cmax`` …).
    baseline
        Baseline column for ``"change"`` (required) and optionally ``"responder"``.
    threshold, direction
        Binary endpoints: event when ``value <direction> threshold``
        (direction one of ``>=``, ``>``, ``<=``, ``<``).
    better
        Which way a treatment effect is a benefit: ``"higher"`` or ``"lower"``; used by
        one-sided tests and the probability of success. Default ``"lower"`` for safety
        events, else ``"higher"``.
    fill
        Value used where ``column`` is missing – the engine leaves interval metrics
        (``auc_tau``, ``ctrough``) NaN for placebo arms, where ``0`` is meant. Without it a
        missing endpoint is an error, never silently dropped.

    Notes
    -----
    Measurement noise (:attr:`Design.outcome_sd`) is added to the continuous value *before*
    a binary endpoint is thresholded, so responder status is measured with error too.
    """

    kind: str = "change"
    column: str = "effect_end"
    baseline: str | None = None
    threshold: float | None = None
    direction: str = ">="
    better: str | None = None
    fill: float | None = None

    def __post_init__(self) -> None:
        if self.fill is not None:
            try:
                fill = float(self.fill)
            except (TypeError, ValueError):
                fill = math.nan
            if not math.isfinite(fill):
                raise ValueError(f"endpoint fill must be a finite number, got {self.fill!r}")
            object.__setattr__(self, "fill", fill)
        if self.kind not in ENDPOINT_KINDS:
            raise _bad("endpoint kind", self.kind, ENDPOINT_KINDS)
        if not isinstance(self.column, str) or not self.column:
            raise ValueError(f"endpoint column must be a column name, got {self.column!r}")
        if self.kind == "continuous" and self.baseline:
            raise ValueError("a 'continuous' endpoint takes no baseline; use kind 'change'")
        if self.kind == "change" and not self.baseline:
            raise ValueError("a 'change' endpoint needs baseline=<baseline column>")
        if self.kind == "safety" and self.baseline:
            raise ValueError("a 'safety' endpoint is an exposure threshold: no baseline")
        if self.kind in ("responder", "safety"):
            try:
                threshold = float(self.threshold)
            except (TypeError, ValueError):
                threshold = math.nan
            if not math.isfinite(threshold):
                raise ValueError(
                    f"a {self.kind!r} endpoint needs a finite threshold, got {self.threshold!r}"
                )
            object.__setattr__(self, "threshold", threshold)
        elif self.threshold is not None:
            raise ValueError(f"threshold is only for responder/safety endpoints, not {self.kind!r}")
        if self.direction not in _DIRECTIONS:
            raise _bad("endpoint direction", self.direction, _DIRECTIONS)
        if self.better is None:
            object.__setattr__(self, "better", "lower" if self.kind == "safety" else "higher")
        elif self.better not in _BETTER:
            raise _bad("endpoint better", self.better, _BETTER)

    @property
    def binary(self) -> bool:
        """Whether the endpoint is an event (0/1)."""
        return self.kind in ("responder", "safety")

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better."""
        return 1 if self.better == "higher" else -1

    def columns(self) -> list[str]:
        """Columns of the ``patients`` table the endpoint reads."""
        return [self.column] + ([self.baseline] if self.baseline else [])

    def latent(self, table: pd.DataFrame) -> np.ndarray:
        """The continuous value (before noise and thresholding) of each row of ``table``."""
        value = table[self.column].to_numpy(dtype=float)
        if self.fill is not None:
            value = np.where(np.isnan(value), self.fill, value)
        if self.baseline:
            value = value - table[self.baseline].to_numpy(dtype=float)
        return value

    def event(self, value: np.ndarray) -> np.ndarray:
        """Apply the threshold of a binary endpoint (0.0/1.0)."""
        thr = self.threshold
        out = {
            ">=": value >= thr,
            ">": value > thr,
            "<=": value <= thr,
            "<": value < thr,
        }[self.direction]
        return out.astype(float)


_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
)


def _criterion_names(expr: str) -> list[str]:
    """Parse an inclusion criterion; return the column names it uses."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"an inclusion criterion must be a non-empty string, got {expr!r}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        msg = f"inclusion criterion {expr!r} is not a valid expression: {exc.msg}"
        raise ValueError(msg) from None
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(
                f"inclusion criterion {expr!r} uses {type(node).__name__}; allowed: column "
                "names, numbers, strings, lists, comparisons, and/or/not, + - * /"
            )
        if isinstance(node, ast.Name):
            names.append(node.id)
    return names


def evaluate_criteria(table: pd.DataFrame, criteria: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows of ``table`` meeting every criterion.

    Parameters
    ----------
    table
        One row per candidate participant, with the columns the criteria name.
    criteria
        Readable expressions such as ``"WT >= 50"``, ``"CRCL > 30 and SEX == 'F'"``,
        ``"CYP2C9 in ['*1/*1', '*1/*2']"``.

    Examples
    --------
    >>> t = pd.DataFrame({"WT": [40.0, 70.0, 90.0], "SEX": ["F", "M", "F"]})
    >>> evaluate_criteria(t, ["WT >= 50", "SEX == 'F'"]).tolist()
    [False, False, True]
    """
    mask = np.ones(len(table), dtype=bool)
    for expr in criteria:
        missing = sorted(set(_criterion_names(expr)) - set(map(str, table.columns)))
        if missing:
            raise KeyError(
                f"inclusion criterion {expr!r} names unknown column(s) {missing}; "
                f"available: {sorted(map(str, table.columns))}"
            )
        result = pd.eval(expr.strip(), engine="python", local_dict={c: table[c] for c in table})
        mask &= np.asarray(result, dtype=bool)
    return mask


@dataclass(frozen=True)
class Design:
    """A parallel-group trial design, analysed arm-by-arm against a control.

    Parameters
    ----------
    arms
        The arms (:class:`ArmSpec`, or ``{name: ratio}`` / list of names when built from a
        dict); at least two.
    n_total
        Randomized participants per trial.
    endpoint
        The :class:`Endpoint` (default: change from baseline of the engine's PD endpoint,
        ``effect_end - effect_baseline``).
    control
        Name of the control arm (default: the first arm).
    analysis
        ``"difference"`` (t-test of means, no covariates), ``"ancova"`` (OLS on treatment
        plus ``covariates``) or ``"procova"`` (ANCOVA plus a prognostic score; Schuler et
        al. 2021).
    covariates
        Baseline covariates of the ANCOVA (columns of the ``patients`` table). For a
        ``"change"`` endpoint analysed by ANCOVA/PROCOVA and no covariates given, the
        endpoint's baseline is used.
    alpha, sided
        Significance level and 1- or 2-sided test. One-sided tests look for a benefit in the
        direction of :attr:`Endpoint.better`.
    multiplicity
        ``"none"`` or ``"bonferroni"`` (alpha divided by the number of comparisons).
    outcome_sd
        SD of the measurement noise added to each observed endpoint (>= 0).
    dropout
        Probability that a participant's outcome is missing (completely at random); the
        analysis uses completers.
    inclusion
        Inclusion criteria, readable expressions on baseline columns
        (see :func:`evaluate_criteria`); evaluated on the control arm's rows.
    success_delta
        Clinically relevant effect (>= 0, in the direction of benefit): a trial succeeds when
        significant and its estimate is at least this large.
    replace
        Sample virtual patients with replacement (needed when fewer eligible patients than
        ``n_total`` exist per posterior draw).
    draw
        Use one posterior draw for every replicate; ``None`` (default) picks a draw at random
        per replicate, so power averages over parameter uncertainty (assurance).
    enrolment_per_month, followup_months
        Optional recruitment rate and follow-up, giving the expected study duration.
    name
        Label for reports.

    Examples
    --------
    >>> d = Design.from_dict({
    ...     "arms": {"placebo": 1, "100 mg": 1},
    ...     "n_total": 120,
    ...     "endpoint": {"kind": "change", "column": "effect_end",
    ...                  "baseline": "effect_baseline", "better": "lower"},
    ... })
    >>> d.covariates, d.comparisons
    (('effect_baseline',), ['100 mg'])
    >>> Design.from_dict(d.to_dict()) == d
    True
    """

    arms: tuple[ArmSpec, ...]
    n_total: int
    endpoint: Endpoint = field(
        default_factory=lambda: Endpoint("change", "effect_end", "effect_baseline")
    )
    control: str | None = None
    analysis: str = "ancova"
    covariates: tuple[str, ...] | None = None
    alpha: float = 0.05
    sided: int = 2
    multiplicity: str = "none"
    outcome_sd: float = 0.0
    dropout: float = 0.0
    inclusion: tuple[str, ...] = ()
    success_delta: float = 0.0
    replace: bool = False
    draw: int | None = None
    enrolment_per_month: float | None = None
    followup_months: float = 0.0
    name: str = "design"

    def __post_init__(self) -> None:
        arms = _coerce_arms(self.arms)
        object.__setattr__(self, "arms", arms)
        names = [a.name for a in arms]
        if len(arms) < 2:
            raise ValueError(f"a design needs at least two arms, got {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        if isinstance(self.endpoint, Mapping):
            object.__setattr__(
                self, "endpoint", Endpoint(**_from_mapping(Endpoint, self.endpoint, "endpoint"))
            )
        elif not isinstance(self.endpoint, Endpoint):
            raise ValueError("endpoint must be an Endpoint or a mapping")
        control = names[0] if self.control is None else self.control
        if control not in names:
            raise ValueError(f"control arm {control!r} is not one of the arms {names}")
        object.__setattr__(self, "control", control)
        n_total = _number("n_total", self.n_total)
        if not n_total.is_integer():
            raise ValueError(f"n_total must be an integer, got {self.n_total!r}")
        object.__setattr__(self, "n_total", int(n_total))
        counts = allocation(self.n_total, [a.ratio for a in arms])
        if min(counts) < 2:
            raise ValueError(
                f"n_total={self.n_total} gives arm sizes {dict(zip(names, counts, strict=True))}"
                "; every arm needs at least 2 participants"
            )
        if self.analysis not in ANALYSES:
            raise _bad("analysis", self.analysis, ANALYSES)
        if self.covariates is None:
            default = (
                (self.endpoint.baseline,)
                if self.analysis != "difference" and self.endpoint.kind == "change"
                else ()
            )
            object.__setattr__(self, "covariates", default)
        else:
            covs = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
            object.__setattr__(self, "covariates", tuple(str(c) for c in covs))
        if self.analysis == "difference" and self.covariates:
            raise ValueError(
                "analysis 'difference' takes no covariates; use 'ancova' for "
                f"{list(self.covariates)}"
            )
        if not 0 < _number("alpha", self.alpha) < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        object.__setattr__(self, "alpha", float(self.alpha))
        if self.sided not in (1, 2) or isinstance(self.sided, bool):
            raise _bad("sided", self.sided, (1, 2))
        if self.multiplicity not in _MULTIPLICITY:
            raise _bad("multiplicity", self.multiplicity, _MULTIPLICITY)
        if not _number("outcome_sd", self.outcome_sd) >= 0:
            raise ValueError(f"outcome_sd must be >= 0, got {self.outcome_sd}")
        object.__setattr__(self, "outcome_sd", float(self.outcome_sd))
        if not 0 <= _number("dropout", self.dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "dropout", float(self.dropout))
        inclusion = (self.inclusion,) if isinstance(self.inclusion, str) else self.inclusion
        object.__setattr__(self, "inclusion", tuple(inclusion))
        for expr in self.inclusion:
            _criterion_names(expr)
        if not _number("success_delta", self.success_delta) >= 0:
            raise ValueError(
                f"success_delta must be >= 0 (an effect in the direction of benefit), "
                f"got {self.success_delta}"
            )
        object.__setattr__(self, "success_delta", float(self.success_delta))
        if self.enrolment_per_month is not None and not (
            _number("enrolment_per_month", self.enrolment_per_month) > 0
        ):
            raise ValueError(f"enrolment_per_month must be > 0, got {self.enrolment_per_month}")
        if not _number("followup_months", self.followup_months) >= 0:
            raise ValueError(f"followup_months must be >= 0, got {self.followup_months}")
        object.__setattr__(self, "followup_months", float(self.followup_months))
        if self.enrolment_per_month is not None:
            object.__setattr__(self, "enrolment_per_month", float(self.enrolment_per_month))
        if self.draw is not None:
            if isinstance(self.draw, bool) or not _number("draw", self.draw).is_integer():
                raise ValueError(f"draw must be an integer (a posterior draw), got {self.draw!r}")
            object.__setattr__(self, "draw", int(self.draw))
        if not isinstance(self.replace, bool):
            raise ValueError(f"replace must be true or false, got {self.replace!r}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")

    # -- derived -----------------------------------------------------------------------
    @property
    def arm_names(self) -> list[str]:
        """Arm names, in declaration order."""
        return [a.name for a in self.arms]

    @property
    def comparisons(self) -> list[str]:
        """The arms compared with the control, in declaration order."""
        return [a.name for a in self.arms if a.name != self.control]

    @property
    def arm_sizes(self) -> dict[str, int]:
        """Randomized participants per arm (largest-remainder rounding of the ratios)."""
        counts = allocation(self.n_total, [a.ratio for a in self.arms])
        return dict(zip(self.arm_names, counts, strict=True))

    @property
    def test_alpha(self) -> float:
        """Per-comparison alpha after any multiplicity adjustment."""
        if self.multiplicity == "bonferroni":
            return self.alpha / len(self.comparisons)
        return self.alpha

    @property
    def duration_months(self) -> float | None:
        """Expected study duration: recruitment (``n_total / rate``) plus follow-up."""
        if self.enrolment_per_month is None:
            return None
        return self.n_total / float(self.enrolment_per_month) + float(self.followup_months)

    def replace_with(self, **changes: Any) -> Design:
        """A copy with some fields changed (validated again).

        Switching ``analysis`` to ``"difference"`` drops the covariates; switching to an
        adjusted analysis from one without covariates takes the default covariates.
        """
        data = self.to_dict()
        data.update(changes)
        if "analysis" in changes and "covariates" not in changes:
            # 'difference' takes no covariates; an adjusted analysis without any gets the
            # default (the baseline of a change endpoint)
            if changes["analysis"] == "difference":
                data["covariates"] = []
            elif not self.covariates:
                data["covariates"] = None
        return Design.from_dict(data)

    # -- dict round trip ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready mapping; :meth:`from_dict` rebuilds an equal design."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "arms":
                value = [{"name": a.name, "ratio": a.ratio} for a in value]
            elif f.name == "endpoint":
                value = {g.name: getattr(value, g.name) for g in fields(Endpoint)}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Build (and validate) a design from a mapping such as a ``params.yaml`` section.

        ``arms`` may be a list of names, a list of ``{name, ratio}`` mappings, or a
        ``{name: ratio}`` mapping; ``endpoint`` a mapping of :class:`Endpoint` fields.
        """
        kwargs = _from_mapping(cls, data, "design")
        for required in ("arms", "n_total"):
            if required not in kwargs:
                raise ValueError(f"design needs {required!r}")
        if isinstance(kwargs.get("covariates"), list):
            kwargs["covariates"] = tuple(kwargs["covariates"])
        if isinstance(kwargs.get("inclusion"), list):
            kwargs["inclusion"] = tuple(kwargs["inclusion"])
        return cls(**kwargs)


def _coerce_arms(arms: Any) -> tuple[ArmSpec, ...]:
    if isinstance(arms, Mapping):
        return tuple(ArmSpec(str(k), v) for k, v in arms.items())
    if isinstance(arms, str) or not isinstance(arms, Sequence):
        raise ValueError(
            "arms must be a list of names, of {name, ratio} mappings, or a {name: ratio} mapping"
        )
    out = []
    for arm in arms:
        if isinstance(arm, ArmSpec):
            out.append(arm)
        elif isinstance(arm, str):
            out.append(ArmSpec(arm))
        elif isinstance(arm, Mapping):
            out.append(ArmSpec(**_from_mapping(ArmSpec, arm, "arm")))
        else:
            raise ValueError(f"cannot read arm {arm!r}: give a name or a {{name, ratio}} mapping")
    return tuple(out)


def allocation(n_total: int, ratios: Sequence[float]) -> list[int]:
    """Split ``n_total`` over arms by ``ratios`` (largest remainder, ties to earlier arms).

    Examples
    --------
    >>> allocation(100, [1, 1]), allocation(10, [2, 1]), allocation(7, [1, 1, 1])
    ([50, 50], [7, 3], [3, 2, 2])
    """
    r = np.asarray(ratios, dtype=float)
    exact = n_total * r / r.sum()
    counts = np.floor(exact).astype(int)
    short = n_total - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts.tolist()
