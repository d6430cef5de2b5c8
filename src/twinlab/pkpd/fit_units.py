"""Units of a population fit's data and parameters, for labels and tables (pint).

The pkpd contract fixes time in hours; the dose amount and the observations' units come from
the NONMEM data set's metadata (``meta["units"]``, e.g. ``{"DV1": "mg/L"}``, written by
:func:`twinlab.pkpd.dataset.from_timeline`). Parameter units follow from those with pint:
a rate constant is 1/time, a clearance volume/time, a volume amount/concentration.

Examples
--------
>>> u = FitUnits(dv={1: "mg/L"})
>>> u.parameter("cl"), u.parameter("v"), u.parameter("ka"), u.label("time after dose", "h")
('L/h', 'L', '1/h', 'time after dose (h)')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

__all__ = ["FitUnits", "check_unit"]

#: what a parameter name's prefix says it is
_RATE = ("ka", "ke", "k12", "k21", "k13", "k31", "kin", "kout", "ktr", "k")
_CLEARANCE = ("cl", "q", "vmax_per_v")
_VOLUME = ("v", "vc", "vp", "v1", "v2", "v3")


@cache
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


def check_unit(text: Any, where: str = "unit") -> str:
    """``text`` when pint reads it as a unit (``"mg/dL"``, ``"%"``, ``"1/h"``).

    Raises
    ------
    ValueError
        If it is not text or not a unit pint knows (one line, naming ``where``).

    Examples
    --------
    >>> check_unit("mg/dL")
    'mg/dL'
    """
    import pint

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: give a unit as text (e.g. 'mg/dL'), not {text!r}")
    try:
        _registry().parse_units(text.strip())
    except (pint.errors.PintError, AttributeError, SyntaxError, TypeError, ValueError):
        raise ValueError(f"{where}: {text!r} is not a unit pint knows (e.g. 'mg/dL')") from None
    return text.strip()


def _pretty(quantity_units: Any) -> str:
    text = f"{quantity_units:~}"
    return text.replace(" ", "").replace("**", "^")


@dataclass(frozen=True)
class FitUnits:
    """Units of a fit's time, doses, observations (per ``DVID``) and covariates.

    Parameters
    ----------
    time : str
        Time unit (the pkpd contract: hours).
    amount : str
        Dose unit.
    dv : mapping of int to str
        Observation unit per ``DVID``.
    covariates : mapping of str to str
        Unit per covariate column (``WT``: kg...); a categorical covariate has none.
    """

    time: str = "h"
    amount: str = "mg"
    dv: Mapping[int, str] = field(default_factory=lambda: {1: "mg/L"})
    covariates: Mapping[str, str] = field(
        default_factory=lambda: {"WT": "kg", "CRCL": "mL/min", "AGE": "year"}
    )

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> FitUnits:
        """From a NONMEM data set's metadata (:attr:`NonmemData.meta`; its ``units``)."""
        default = cls()
        units = dict((meta or {}).get("units") or {})
        dv = {int(k[2:]): str(v) for k, v in units.items() if k.startswith("DV") and v}
        covs = {k: str(v) for k, v in units.items() if not k.startswith("DV") and v}
        return cls(dv=dv or dict(default.dv), covariates={**default.covariates, **covs})

    def observation(self, dvid: int = 1) -> str:
        """The unit of endpoint ``dvid`` (empty when unknown)."""
        return str(self.dv.get(int(dvid), ""))

    def parameter(self, name: str, dvid: int = 1) -> str:
        """The unit of a structural parameter (empty when dimensionless or unknown)."""
        ureg = _registry()
        base = name.split("_")[0].lower()
        conc = self.observation(dvid)
        if base in _RATE or (base.startswith("k") and base[1:].isdigit()):
            return _pretty((1 / ureg(self.time)).units)
        if not conc:
            return ""
        litres = (ureg(self.amount) / ureg(conc)).to("L").magnitude
        # dose / concentration in litres when the units agree (mg and mg/L), else as is
        volume = "L" if abs(litres - 1.0) < 1e-12 else f"{self.amount}/({conc})"
        if base in _CLEARANCE:
            return f"{volume}/{self.time}"
        if base in _VOLUME:
            return volume
        if base in ("ic50", "ec50", "c50"):
            return conc
        return ""

    @staticmethod
    def label(what: str, unit: str | None) -> str:
        """``"what (unit)"``, or ``what`` alone without a unit."""
        return f"{what} ({unit})" if unit else what
