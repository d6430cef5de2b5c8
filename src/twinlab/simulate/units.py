"""Units and names of a simulation result's variables (``units``/``long_name`` attributes).

The pkpd contract fixes time in hours, doses in mg and volumes in L, so concentrations are
in mg/L; the unit of another endpoint (``effect``: serum urate in mg/dL, PCA in %...) is
the model's to say: the population's ``units`` (:attr:`twinlab.pkpd.PopulationSpec.units`
of the fitted spec and of the assumed PD spec, through
:class:`twinlab.virtual.VirtualCohort`). Units are pint strings; the attributes survive the
Zarr round trip.

Examples
--------
>>> result_units(None, ("conc", "effect"))
{'time': 'h', 'conc': 'mg/L', 'conc_obs': 'mg/L'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import xarray as xr

__all__ = ["CONTRACT_UNITS", "LONG_NAMES", "annotate", "result_units"]

#: units the pkpd contract fixes
CONTRACT_UNITS: dict[str, str] = {"time": "h", "conc": "mg/L"}

#: what each variable of a result is, for people
LONG_NAMES: dict[str, str] = {
    "time": "time since first dose",
    "conc": "concentration",
    "effect": "effect",
    "conc_obs": "observed concentration (with residual error)",
    "effect_obs": "observed effect (with residual error)",
    "posterior_draw": "posterior draw of the twin (-1: posterior means)",
    "draw": "posterior draw slot",
    "patient": "virtual patient",
    "arm": "arm",
}


def result_units(population: Any, endpoints: Iterable[str]) -> dict[str, str]:
    """Units of time and of each endpoint (and its ``_obs`` twin) that are known.

    Parameters
    ----------
    population : Population or None
        Its ``units`` mapping (endpoint -> unit), when it has one, overrides the contract.
    endpoints : iterable of str
        The structural model's endpoints.
    """
    declared: Mapping[str, str] = getattr(population, "units", None) or {}
    known = {**CONTRACT_UNITS, **{str(k): str(v) for k, v in dict(declared).items()}}
    out = {"time": known["time"]}
    for e in endpoints:
        if e in known:
            out[e] = out[f"{e}_obs"] = known[e]
    return out


def annotate(ds: xr.Dataset, units: Mapping[str, str]) -> xr.Dataset:
    """Set ``long_name`` on the variables of ``ds`` it names and ``units`` where known
    (in place; returns ``ds``)."""
    for name in (*ds.data_vars, *ds.coords):
        attrs = {"long_name": LONG_NAMES[name]} if name in LONG_NAMES else {}
        if name in units:
            attrs["units"] = units[name]
        ds[name].attrs.update(attrs)
    return ds
