"""Dosing regimens and the arms of a simulated study.

A :class:`Regimen` is what a protocol writes ("200 mg orally once daily for 28 days, 400 mg
loading dose"); :meth:`Regimen.doses` turns it into the :class:`twinlab.pkpd.Dose` records the
structural models superpose, through :func:`twinlab.pkpd.regimen`, so simulation and fitting
read doses the same way. An :class:`Arm` names a regimen (``None``: placebo, no drug).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from twinlab.pkpd.dosing import Dose
from twinlab.pkpd.dosing import regimen as _pkpd_regimen

__all__ = ["ROUTES", "Arm", "Regimen", "Titration"]

#: Routes of a regimen: first-order absorption, IV bolus, zero-order IV infusion.
ROUTES: tuple[str, ...] = ("oral", "iv", "infusion")


def _finite(name: str, value: Any, *, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Regimen.{name} must be a number, not {value!r}") from None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"Regimen.{name} must be finite and {bound}, not {value!r}")
    return x


@dataclass(frozen=True)
class Titration:
    """Multiply the dose from ``at_h`` on by ``factor`` where the trough at ``at_h`` is low.

    The trough is the concentration at ``at_h``, just before the dose given then (a dose
    counts strictly after it is given). Until ``at_h`` every patient has the same doses, so
    the engine simulates the regimen, reads each patient's trough, and simulates the titrated
    doses for the patients below ``trough_below`` only: exact for every model, linear or not.

    Parameters
    ----------
    at_h : float
        A dose time of the regimen after the first dose (hours); a point of the time grid.
    trough_below : float
        Titrate patients whose trough at ``at_h`` is below this (mg/L).
    factor : float
        Dose multiplier from ``at_h`` on (2: double the dose).

    Examples
    --------
    >>> r = Regimen(100.0, n_doses=10, titration=Titration(at_h=168.0, trough_below=0.5))
    >>> [d.amt for d in r.doses(titrated=True)][6:8]
    [100.0, 200.0]
    """

    at_h: float
    trough_below: float
    factor: float = 2.0

    def __post_init__(self) -> None:
        for name, positive in (("at_h", False), ("trough_below", False), ("factor", True)):
            try:
                x = float(getattr(self, name))
            except (TypeError, ValueError):
                raise ValueError(f"Titration.{name} must be a number") from None
            if not math.isfinite(x) or x < 0 or (positive and x == 0):
                raise ValueError(
                    f"Titration.{name} must be finite and {'> 0' if positive else '>= 0'}, not {x}"
                )
            object.__setattr__(self, name, x)


@dataclass(frozen=True)
class Regimen:
    """A repeated dose: amount, interval, route, count (or duration) and loading dose.

    Parameters
    ----------
    dose : float
        Maintenance dose (mg).
    interval_h : float
        Dosing interval in hours (24 for QD, 12 for BID).
    n_doses : int
        Number of doses, the loading dose included. Give ``n_doses`` or ``duration_h``.
    route : str
        ``"oral"`` (first-order absorption from the depot), ``"iv"`` (bolus) or
        ``"infusion"`` (zero-order IV over ``infusion_h`` hours).
    infusion_h : float
        Infusion duration (hours); required (> 0) for ``route="infusion"``, else 0.
    loading_dose : float, optional
        Amount of the first dose when it differs from ``dose``.
    start_h : float
        Time of the first dose (hours).
    duration_h : float, optional
        Treatment duration instead of ``n_doses``: doses at ``start_h + k * interval_h`` for
        every ``k * interval_h < duration_h`` (28 days QD is ``duration_h=672``: 28 doses).
    titration : Titration, optional
        A dose change from a dose time on for the patients whose trough is low.

    Raises
    ------
    ValueError
        For a negative or non-finite amount or time, a non-positive interval, a dose count
        below 1, an unknown route, an infusion without a duration (or one longer than the
        interval), or both ``n_doses`` and ``duration_h``.

    Examples
    --------
    >>> r = Regimen(100.0, interval_h=24.0, n_doses=3, loading_dose=200.0)
    >>> [(d.time, d.amt) for d in r.doses()]
    [(0.0, 200.0), (24.0, 100.0), (48.0, 100.0)]
    >>> Regimen(100.0, duration_h=72.0).n_doses
    3
    """

    dose: float
    interval_h: float = 24.0
    n_doses: int | None = None
    route: str = "oral"
    infusion_h: float = 0.0
    loading_dose: float | None = None
    start_h: float = 0.0
    duration_h: float | None = None
    titration: Titration | None = None

    def __post_init__(self) -> None:
        route = str(self.route).lower()
        if route not in ROUTES:
            raise ValueError(f"Regimen.route must be one of {ROUTES}, not {self.route!r}")
        object.__setattr__(self, "route", route)
        object.__setattr__(self, "dose", _finite("dose", self.dose))
        object.__setattr__(
            self, "interval_h", _finite("interval_h", self.interval_h, positive=True)
        )
        object.__setattr__(self, "start_h", _finite("start_h", self.start_h))
        object.__setattr__(self, "infusion_h", _finite("infusion_h", self.infusion_h))
        if self.loading_dose is not None:
            object.__setattr__(self, "loading_dose", _finite("loading_dose", self.loading_dose))
        if self.n_doses is not None and self.duration_h is not None:
            raise ValueError("give Regimen n_doses or duration_h, not both")
        if self.duration_h is not None:
            duration = _finite("duration_h", self.duration_h, positive=True)
            object.__setattr__(self, "duration_h", duration)
            n = math.ceil(duration / self.interval_h - 1e-9)
        else:
            n = 1 if self.n_doses is None else self.n_doses
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"Regimen.n_doses must be an integer >= 1, not {n!r}")
        object.__setattr__(self, "n_doses", int(n))
        if route == "infusion":
            if self.infusion_h <= 0:
                raise ValueError("an infusion regimen needs infusion_h > 0 (hours)")
            if self.n_doses > 1 and self.infusion_h > self.interval_h:
                raise ValueError(
                    f"infusion_h={self.infusion_h} is longer than interval_h={self.interval_h}: "
                    "infusions would overlap"
                )
        elif self.infusion_h:
            raise ValueError(f"infusion_h is for route='infusion', not {route!r}")
        if self.titration is not None:
            if not isinstance(self.titration, Titration):
                raise ValueError(f"Regimen.titration must be a Titration, not {self.titration!r}")
            later = self.dose_times[1:]
            if not any(abs(t - self.titration.at_h) <= 1e-9 * max(1.0, t) for t in later):
                raise ValueError(
                    f"Titration.at_h={self.titration.at_h} must be a dose time after the first "
                    f"dose; this regimen doses at {later[:5]}{' ...' if len(later) > 5 else ''}"
                )

    @property
    def last_dose_h(self) -> float:
        """Time of the last dose (hours)."""
        return self.start_h + (self.n_doses - 1) * self.interval_h

    @property
    def dose_times(self) -> list[float]:
        """Times of all doses (hours)."""
        return [self.start_h + k * self.interval_h for k in range(self.n_doses)]

    def doses(self, *, titrated: bool = False) -> list[Dose]:
        """The dose records, through :func:`twinlab.pkpd.regimen` (one record per dose).

        With ``titrated``, the doses from ``titration.at_h`` on are multiplied by its factor.
        """
        doses = _pkpd_regimen(
            self.dose,
            every=self.interval_h,
            n=self.n_doses,
            start=self.start_h,
            route="oral" if self.route == "oral" else "iv",
            duration=self.infusion_h if self.route == "infusion" else None,
            loading=self.loading_dose,
        )
        if titrated and self.titration is not None:
            t = self.titration
            doses = [
                replace(d, amt=d.amt * t.factor)
                if d.time >= t.at_h - 1e-9 * max(1.0, t.at_h)
                else d
                for d in doses
            ]
        return doses

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``duration_h`` resolved into ``n_doses``)."""
        return asdict(self)


@dataclass(frozen=True)
class Arm:
    """One arm of a simulated study: a name and a regimen (``None`` for placebo).

    Examples
    --------
    >>> Arm("placebo", None).is_placebo
    True
    """

    name: str
    regimen: Regimen | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Arm.name must be a non-empty string, not {self.name!r}")
        if self.regimen is not None and not isinstance(self.regimen, Regimen):
            raise ValueError(
                f"Arm {self.name!r}: regimen must be a Regimen or None (placebo), "
                f"not {type(self.regimen).__name__}"
            )

    @property
    def is_placebo(self) -> bool:
        """True when the arm gives no drug."""
        return self.regimen is None or (
            self.regimen.dose == 0
            and self.regimen.loading_dose
            in (
                None,
                0.0,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name,
            "regimen": None if self.regimen is None else asdict(self.regimen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arm:
        """The arm of a :meth:`to_dict` description.

        Examples
        --------
        >>> arm = Arm("qd", Regimen(100.0, duration_h=72.0))
        >>> Arm.from_dict(arm.to_dict()) == arm
        True
        """
        if not isinstance(data, Mapping) or "name" not in data:
            raise ValueError(f"an arm description needs a name, got {data!r}")
        reg = data.get("regimen")
        if reg is None:
            return cls(data["name"], None)
        reg = dict(reg)
        if reg.get("duration_h") is not None:
            reg.pop("n_doses", None)  # resolved from duration_h
        try:
            if reg.get("titration") is not None:
                reg["titration"] = Titration(**reg["titration"])
            return cls(data["name"], Regimen(**reg))
        except TypeError as exc:  # an unknown or missing field
            raise ValueError(f"arm {data['name']!r}: {exc}") from None
