"""Population models: a declarative spec, its PyMC model, and simulated studies from it.

A :class:`PopulationSpec` names a structural model (:func:`twinlab.pkpd.models.get_model`) and
says, for each of its parameters, the typical-value prior and the between-subject variability
(BSV), which covariates act on which parameter, and the residual error of each endpoint.
:func:`build_model` turns it into a :class:`pymc.Model` (so a modeler can drop down to PyMC);
:func:`simulated_study` draws a data set from known parameters with the NumPy back end of the
same structural model, for recovery tests.

Priors (weakly informative, on the log scale; all documented defaults can be overridden):

- typical value: ``log(p) ~ Normal(log(guess), prior_sd)`` with ``prior_sd = 1`` (a factor of
  e either way is one standard deviation);
- BSV: ``omega_p ~ HalfNormal(omega)`` with ``omega = 0.5``; individual values are
  ``p_i = p * exp(covariate effects + omega_p * z_i)``, ``z_i ~ Normal(0, 1)`` (non-centred);
  with ``correlated=True`` the etas share an LKJ(``lkj_eta``) correlation; with
  ``centered=True`` the free variables are the log individual values themselves,
  ``log_<p>_i ~ Normal(log p + covariate effects, omega_p)`` (better when every subject's data
  pin down their own parameters: rich sampling, as in the demo study); ``centered`` may also
  name the parameters to centre (``("cl", "v")``), the others' BSV stays non-centred (a
  parameter the data pin down poorly per subject, or with a small ``omega_p``, makes a funnel
  when centred);
- covariates: power ``(X / reference) ** exponent`` (allometric weight: ``exponent = 0.75`` on
  clearances, ``1`` on volumes, fixed, or estimated with ``Normal(exponent, prior_sd)``), and
  categorical ``exp(beta_level)`` per non-reference level, ``beta ~ Normal(0, prior_sd)``;
- residual error per endpoint: additive ``sd = a``, proportional ``sd = b * pred`` or combined
  ``sd = sqrt(a**2 + (b * pred)**2)``, with ``a ~ HalfNormal(add_scale)`` and
  ``b ~ HalfNormal(prop_scale)``;
- observations below the LLOQ (``obs_cens``) enter with the M3 likelihood
  ``log P(y < LLOQ) = log Phi((LLOQ - pred) / sd)`` (:func:`log_ndtr`), in one observed
  variable with the other rows of their endpoint.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import yaml

from twinlab.pkpd.dataset import PopulationArrays
from twinlab.pkpd.models import StructuralModel, get_model, ode_grid, predict

__all__ = [
    "DEFAULT_GUESSES",
    "Covariate",
    "Parameter",
    "PopulationSpec",
    "ResidualError",
    "allometric",
    "build_model",
    "individual_params",
    "simulated_study",
    "subset",
]

#: Floor added (in quadrature) to every residual SD so that a zero prediction (an observation
#: at the dose time) under a proportional error model keeps a finite likelihood.
SD_FLOOR = 1e-3
_CLEARANCES = frozenset({"cl", "q", "q3", "vm"})
_VOLUMES = frozenset({"v", "v2", "v3"})
_ERROR_KINDS = ("additive", "proportional", "combined")

#: Generic typical-value guesses used when a spec names only the structural model (with a wider
#: prior, ``prior_sd = 2``); drug-specific specs should give their own.
DEFAULT_GUESSES: dict[str, float] = {
    "ka": 1.0,
    "cl": 5.0,
    "v": 50.0,
    "q": 5.0,
    "v2": 50.0,
    "q3": 2.0,
    "v3": 100.0,
    "vm": 10.0,
    "km": 5.0,
    "f": 1.0,
    "tlag": 0.5,
    "ke0": 0.5,
    "e0": 1.0,
    "emax": 1.0,
    "ec50": 1.0,
    "gamma": 1.0,
    "kin": 1.0,
    "kout": 0.1,
    "imax": 0.5,
    "ic50": 1.0,
}


def _number(where: str, field: str, value: Any, *, positive: bool = True) -> None:
    """Refuse a ``value`` that is not a finite number (> 0 unless ``positive`` is false), with
    a message naming ``where`` and ``field`` and what to write instead."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok and math.isfinite(value) and (value > 0 or not positive):
        return
    need = "a finite number > 0" if positive else "a finite number"
    example = _EXAMPLES.get(field, "1.0")
    raise ValueError(f"{where}: {field} must be {need} (e.g. {field}: {example}), got {value!r}")


#: What to write instead, in the messages of :func:`_number`.
_EXAMPLES = {"reference": "70 (the covariate's typical value)", "exponent": "0.75"}


def _fields(cls: type, where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` as keyword arguments of the dataclass ``cls``, unknown keys refused."""
    if not isinstance(given, Mapping):
        raise ValueError(f"{where}: give a mapping of {cls.__name__} fields, not {given!r}")
    known = [f for f in cls.__dataclass_fields__ if f != "name"]
    unknown = sorted(str(k) for k in set(given) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {known}")
    return {str(k): v for k, v in given.items()}


@dataclass(frozen=True)
class Parameter:
    """A population parameter of the structural model.

    Parameters
    ----------
    name : str
        The structural model's name for it (``"cl"``).
    guess : float
        Typical value guess in natural units; the prior median.
    prior_sd : float
        SD of the log typical value prior.
    omega : float or None
        HalfNormal scale of the BSV SD (log scale); ``None`` for no BSV.
    fixed : bool
        Fix the typical value at ``guess`` (no prior, not estimated).
    """

    name: str
    guess: float
    prior_sd: float = 1.0
    omega: float | None = 0.5
    fixed: bool = False

    def __post_init__(self) -> None:
        where = f"parameter {self.name}"
        _number(where, "guess", self.guess)
        _number(where, "prior_sd", self.prior_sd)
        if self.omega is not None:
            _number(where, "omega", self.omega)


@dataclass(frozen=True)
class Covariate:
    """A covariate effect on the log of one parameter.

    Parameters
    ----------
    parameter : str
        The parameter it acts on.
    covariate : str
        The covariate column (upper-case, e.g. ``"WT"``).
    kind : str
        ``"power"`` (``(X / reference) ** exponent``) or ``"categorical"`` (a factor per level).
    reference : float
        Power: the reference value (70 kg). Categorical: the reference level (factor 1).
    exponent : float
        Power: the exponent, or the prior mean when ``estimate`` is true.
    estimate : bool
        Power: estimate the exponent (prior ``Normal(exponent, prior_sd)``).
    prior_sd : float
        SD of the estimated exponent or of each categorical log-factor.
    levels : tuple of float, optional
        Categorical: the non-reference levels (default: those in the data).
    """

    parameter: str
    covariate: str
    kind: str = "power"
    reference: float = 70.0
    exponent: float = 1.0
    estimate: bool = False
    prior_sd: float = 0.5
    levels: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariate", self.covariate.upper())
        where = f"covariate {self.covariate} on {self.parameter}"
        if self.kind not in ("power", "categorical"):
            raise ValueError(f"{where}: kind must be power or categorical, got {self.kind!r}")
        if self.kind == "power":  # (X / reference) ** exponent: a zero reference divides by 0
            _number(where, "reference", self.reference)
        _number(where, "exponent", self.exponent, positive=False)
        _number(where, "prior_sd", self.prior_sd)
        if self.levels is not None:
            object.__setattr__(self, "levels", tuple(float(x) for x in self.levels))

    @property
    def label(self) -> str:
        """Variable-name stem, e.g. ``"cl_wt"``."""
        return f"{self.parameter}_{self.covariate.lower()}"


@dataclass(frozen=True)
class ResidualError:
    """The residual error of one endpoint.

    Parameters
    ----------
    endpoint : str
        The structural model's endpoint (``"conc"``, ``"effect"``).
    kind : str
        ``"additive"``, ``"proportional"`` or ``"combined"``.
    dvid : int or None
        The ``DVID`` of its observations (default: position of the endpoint + 1).
    add_scale, prop_scale : float
        HalfNormal scales of the additive SD (DV units) and proportional SD (fraction).
    """

    endpoint: str = "conc"
    kind: str = "combined"
    dvid: int | None = None
    add_scale: float = 1.0
    prop_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in _ERROR_KINDS:
            raise ValueError(
                f"residual error kind must be one of {_ERROR_KINDS}, not {self.kind!r}"
            )
        where = f"residual error of {self.endpoint}"
        _number(where, "add_scale", self.add_scale)
        _number(where, "prop_scale", self.prop_scale)

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the SD parameters, e.g. ``("sigma_add_conc", "sigma_prop_conc")``."""
        add = (f"sigma_add_{self.endpoint}",) if self.kind != "proportional" else ()
        prop = (f"sigma_prop_{self.endpoint}",) if self.kind != "additive" else ()
        return add + prop


def allometric(
    parameters: Iterable[str],
    *,
    covariate: str = "WT",
    reference: float = 70.0,
    estimate: bool = False,
) -> tuple[Covariate, ...]:
    """Allometric weight effects: exponent 0.75 on clearances, 1 on volumes.

    Examples
    --------
    >>> [c.exponent for c in allometric(["ka", "cl", "v"])]
    [0.75, 1.0]
    """
    out = []
    for p in parameters:
        if p in _CLEARANCES or p in _VOLUMES:
            exponent = 0.75 if p in _CLEARANCES else 1.0
            out.append(Covariate(p, covariate, "power", reference, exponent, estimate, 0.25))
    return tuple(out)


@dataclass(frozen=True)
class PopulationSpec:
    """A population PK/PD model: structural model, priors, BSV, covariates, residual errors.

    Parameters
    ----------
    model : str
        Structural model name (:func:`twinlab.pkpd.models.get_model`).
    parameters : tuple of Parameter
        One per estimated structural parameter (optional ones such as ``f`` may be added).
    covariates : tuple of Covariate
        Covariate effects.
    errors : tuple of ResidualError
        One per fitted endpoint (default: combined error on the first endpoint).
    correlated : bool
        Correlated BSV (LKJ prior on the eta correlation).
    lkj_eta : float
        LKJ shape (2 favours weak correlation).
    centered : bool or tuple of str
        Centred BSV: sample the log individual values ``log_<p>_i`` instead of the standardized
        effects (``z_<p>`` then follows as a deterministic). NUTS needs far fewer steps when
        the data inform each subject's parameters well, and more when they do not. ``True``
        centres every BSV, ``False`` none; a tuple (or list) of parameter names with BSV
        centres those and keeps the others non-centred (an empty one is ``False``, one naming
        every parameter with BSV is ``True``). Not with ``correlated``.
    name : str, optional
        A label for the spec.
    ode_max_step : float, optional
        Largest RK4 step (hours) of an ODE structural model in the fit (default: the fine
        :data:`twinlab.pkpd.ode.MAX_STEP`). A coarser step makes the fit much faster; measure
        its error against the fine step for the data at hand (the warfarin fit uses 1 h).
    derived : mapping of str to str, optional
        Derived covariates: name -> condition over covariate names in the cohort criteria's
        safe expression language (:class:`twinlab.pkpd.criteria.Criteria`), e.g.
        ``{"APGR_LOW": "APGR < 5"}``: 1 where the condition holds, 0 where it does not, missing
        where a covariate it uses is missing. Computed before the covariate effects, in order
        (a later one may use an earlier one); a covariate effect names them like any column.
    units : mapping of str to str, optional
        Unit of each endpoint of the structural model, a pint unit (``{"effect": "mg/dL"}``);
        ``conc`` is in mg/L by the pkpd contract (doses in mg, volumes in L) unless given.
        The simulation results carry them (``units`` attributes); the fit ignores them.

    Examples
    --------
    >>> spec = PopulationSpec.from_dict({"model": "pk_1cmt_oral",
    ...     "parameters": {"ka": 1.0, "cl": {"guess": 3.0}, "v": 30}})
    >>> [p.name for p in spec.parameters], spec.errors[0].kind
    (['ka', 'cl', 'v'], 'combined')
    """

    model: str
    parameters: tuple[Parameter, ...]
    covariates: tuple[Covariate, ...] = ()
    errors: tuple[ResidualError, ...] = ()
    correlated: bool = False
    lkj_eta: float = 2.0
    centered: bool | tuple[str, ...] = False
    name: str | None = None
    ode_max_step: float | None = None
    derived: tuple[tuple[str, str], ...] = ()
    units: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        sm = get_model(self.model)
        object.__setattr__(self, "derived", _check_derived(self.derived))
        object.__setattr__(self, "units", _check_units(sm, self.units))
        if self.ode_max_step is not None and not (
            math.isfinite(self.ode_max_step) and self.ode_max_step > 0
        ):
            raise ValueError(f"ode_max_step must be positive, got {self.ode_max_step}")
        _number(f"spec for {self.model}", "lkj_eta", self.lkj_eta)
        object.__setattr__(self, "parameters", tuple(self.parameters))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        errors = tuple(self.errors) or (ResidualError(sm.endpoints[0]),)
        errors = tuple(
            e if e.dvid is not None else replace(e, dvid=self._dvid(sm, e.endpoint)) for e in errors
        )
        object.__setattr__(self, "errors", errors)
        names = [p.name for p in self.parameters]
        missing = [p for p in sm.params if p not in names]
        unknown = [p for p in names if p not in sm.all_params]
        if missing or unknown:
            raise ValueError(
                f"spec for {self.model}: missing parameters {missing}, unknown {unknown} "
                f"(the model takes {list(sm.all_params)})"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"spec for {self.model}: a parameter is declared twice")
        for c in self.covariates:
            if c.parameter not in names:
                raise ValueError(f"covariate {c.covariate} acts on unknown parameter {c.parameter}")
        if len({e.endpoint for e in errors}) != len(errors):
            raise ValueError("one residual error per endpoint")
        object.__setattr__(self, "centered", self._check_centered())
        if self.centered and self.correlated:
            raise ValueError("centered BSV is available for uncorrelated etas only")

    def _check_centered(self) -> bool | tuple[str, ...]:
        """``centered`` as a bool, or as the names it centres in the spec's parameter order."""
        value = self.centered
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError(
                f"spec for {self.model}: centered must be true, false or a list of parameter "
                f"names, not {value!r}"
            )
        names = list(value)
        random = self.random
        wrong = [n for n in names if not isinstance(n, str) or n not in random]
        if wrong:
            raise ValueError(
                f"spec for {self.model}: centered names {wrong}, which are not parameters "
                f"with BSV (those are {list(random)})"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"spec for {self.model}: centered names a parameter twice")
        chosen = tuple(n for n in random if n in names)
        if not chosen:
            return False
        return True if chosen == random else chosen

    @property
    def centered_parameters(self) -> tuple[str, ...]:
        """Parameters whose BSV is centred (all of :attr:`random` when ``centered=True``)."""
        if isinstance(self.centered, tuple):
            return self.centered
        return self.random if self.centered else ()

    @staticmethod
    def _dvid(sm: StructuralModel, endpoint: str) -> int:
        if endpoint not in sm.endpoints:
            raise ValueError(f"model {sm.name} has no endpoint {endpoint!r}: {sm.endpoints}")
        return sm.endpoints.index(endpoint) + 1

    @property
    def structural(self) -> StructuralModel:
        """The structural model."""
        return get_model(self.model)

    @property
    def random(self) -> tuple[str, ...]:
        """Parameters with between-subject variability."""
        return tuple(p.name for p in self.parameters if p.omega is not None)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r} in the spec")

    def covariate_inputs(self, name: str) -> tuple[str, ...]:
        """The data columns covariate ``name`` comes from (itself unless it is derived)."""
        exprs = dict(self.derived)
        if name not in exprs:
            return (name,)
        out: list[str] = []
        for used in _names_in(exprs[name]):
            out += self.covariate_inputs(used) if used != name else [used]
        return tuple(dict.fromkeys(out))

    def derive(self, covariates: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``covariates`` with the :attr:`derived` covariates added (1/0, NaN if unknown).

        Raises
        ------
        ValueError
            When a condition uses a covariate that is not there (the known ones are listed).

        Examples
        --------
        >>> spec = PopulationSpec.from_dict({"model": "pk_1cmt_iv",
        ...     "parameters": {"cl": 1.0, "v": 10.0}, "derived": {"APGR_LOW": "APGR < 5"}})
        >>> spec.derive({"APGR": np.array([3.0, 8.0, np.nan])})["APGR_LOW"].tolist()
        [1.0, 0.0, nan]
        """
        out = {str(k): np.asarray(v, dtype=float) for k, v in covariates.items()}
        if not self.derived:
            return out
        from twinlab.pkpd.criteria import Criteria

        for name, expr in self.derived:
            try:
                crit = Criteria(expr, list(out))
            except ValueError as err:
                raise ValueError(f"derived covariate {name}: {err}") from None
            n = max((np.size(v) for v in out.values()), default=0)
            frame = pd.DataFrame({k: out[k] for k in crit.used}, index=range(n))
            mask = crit.mask(frame).astype(float)
            unknown = np.zeros(mask.shape, dtype=bool)
            for k in crit.used:
                unknown |= np.isnan(out[k])
            out[name] = np.where(unknown, np.nan, mask)
        return out

    # -- (de)serialization ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dictionary (inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {"model": self.model}
        if self.name:
            out["name"] = self.name
        out["parameters"] = {
            p.name: {k: v for k, v in asdict(p).items() if k != "name"} for p in self.parameters
        }
        out["covariates"] = [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items()}
            for c in self.covariates
        ]
        out["errors"] = [asdict(e) for e in self.errors]
        out["correlated"] = self.correlated
        out["lkj_eta"] = self.lkj_eta
        if self.centered:
            # a bool is written as before, so existing specs (and their hashes) do not change
            out["centered"] = True if self.centered is True else list(self.centered)
        if self.ode_max_step is not None:
            out["ode_max_step"] = self.ode_max_step
        if self.derived:
            out["derived"] = dict(self.derived)
        if self.units:
            out["units"] = dict(self.units)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PopulationSpec:
        """Build a spec from a dictionary (as written by :meth:`to_dict` or by hand).

        ``parameters`` maps names to a guess or to :class:`Parameter` fields; ``covariates``
        is a list of :class:`Covariate` fields, where ``{"allometric": "WT"}`` expands to
        :func:`allometric`; ``errors`` (or ``error``) a list of :class:`ResidualError` fields
        or a single kind string.
        """
        if not isinstance(d, Mapping) or "model" not in d:
            raise ValueError("a population spec needs a 'model' entry")
        known = {
            "model",
            "name",
            "parameters",
            "covariates",
            "errors",
            "error",
            "correlated",
            "lkj_eta",
            "centered",
            "ode_max_step",
            "derived",
            "units",
        }
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown spec entries {extra}; known {sorted(known)}")
        params = []
        given = d.get("parameters") or {}
        if not isinstance(given, Mapping):
            raise ValueError(f"parameters: give {{name: guess or fields}}, not {given!r}")
        for name, val in given.items():
            where = f"parameter {name}"
            val = {"guess": val} if not isinstance(val, Mapping) else _fields(Parameter, where, val)
            params.append(Parameter(name=str(name), **val))
        covs: list[Covariate] = []
        for c in d.get("covariates") or []:
            if not isinstance(c, Mapping):
                raise ValueError(f"covariates: give a list of mappings, not {c!r}")
            c = dict(c)
            if "allometric" in c:
                allowed = {"allometric", "reference", "estimate"}
                if set(c) - allowed:
                    raise ValueError(
                        f"covariate {c}: unknown field(s) {sorted(set(c) - allowed)}; "
                        f"known with allometric: {sorted(allowed)}"
                    )
                covs.extend(
                    allometric([p.name for p in params], covariate=c.pop("allometric"), **c)
                )
            else:
                where = f"covariate {c.get('covariate')} on {c.get('parameter')}"
                covs.append(Covariate(**_fields(Covariate, where, c)))
        errs = d.get("errors", d.get("error")) or []
        if isinstance(errs, str | Mapping):
            errs = [errs]
        errors = [
            ResidualError(kind=e)
            if isinstance(e, str)
            else ResidualError(**_fields(ResidualError, "residual error", e))
            for e in errs
        ]
        return cls(
            model=str(d["model"]),
            parameters=tuple(params),
            covariates=tuple(covs),
            errors=tuple(errors),
            correlated=bool(d.get("correlated", False)),
            lkj_eta=float(d.get("lkj_eta", 2.0)),
            centered=_centered_entry(d.get("centered", False)),
            name=d.get("name"),
            ode_max_step=None if d.get("ode_max_step") is None else float(d["ode_max_step"]),
            derived=_derived_pairs(d.get("derived")),
            units=_check_units(get_model(str(d["model"])), d.get("units") or ()),
        )

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The spec as YAML text, also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> PopulationSpec:
        """Read a spec from a YAML file (or YAML text containing a newline)."""
        text = source if isinstance(source, str) and "\n" in source else Path(source).read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"invalid YAML spec: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def default(
        cls,
        model: str,
        guesses: Mapping[str, float] | None = None,
        *,
        prior_sd: float = 2.0,
        **kwargs: Any,
    ) -> PopulationSpec:
        """A spec with BSV on every required parameter.

        Guesses default to :data:`DEFAULT_GUESSES` with a wide ``prior_sd`` (2 on the log
        scale); ``kwargs`` go to :class:`PopulationSpec` (``errors``, ``covariates``...).
        """
        guesses = dict(guesses or {})
        sm = get_model(model)
        names = list(sm.params) + [k for k in guesses if k not in sm.params]
        params = tuple(
            Parameter(n, float(guesses.get(n, DEFAULT_GUESSES.get(n, 1.0))), prior_sd)
            for n in names
        )
        return cls(model=model, parameters=params, **kwargs)


def _names_in(expr: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return []
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})


def _centered_entry(given: Any) -> bool | tuple[str, ...]:
    """The spec's ``centered`` entry: true/false (missing is false) or a list of names."""
    if given is None:
        return False
    if isinstance(given, bool) or (isinstance(given, int) and given in (0, 1)):
        return bool(given)
    if isinstance(given, list | tuple):
        return tuple(given)
    raise ValueError(f"centered: give true, false or a list of parameter names, not {given!r}")


def _derived_pairs(given: Any) -> tuple[tuple[str, str], ...]:
    if given is None:
        return ()
    if not isinstance(given, Mapping):
        raise ValueError(f"derived: give {{NAME: 'condition'}}, not {given!r}")
    return tuple((str(k), str(v)) for k, v in given.items())


def _check_units(sm: StructuralModel, given: Any) -> tuple[tuple[str, str], ...]:
    """``(endpoint, unit)`` pairs of endpoints of ``sm``, each unit one pint reads."""
    from twinlab.pkpd.fit_units import check_unit

    if isinstance(given, Mapping):
        given = tuple(given.items())
    try:
        pairs = tuple((str(k), v) for k, v in given)
    except (TypeError, ValueError):
        raise ValueError(f"units: give {{endpoint: unit}}, not {given!r}") from None
    for endpoint, _ in pairs:
        if endpoint not in sm.endpoints:
            raise ValueError(
                f"units: model {sm.name} has no endpoint {endpoint!r} (has {list(sm.endpoints)})"
            )
    return tuple((k, check_unit(v, f"units of {k}")) for k, v in pairs)


def _check_derived(pairs: Any) -> tuple[tuple[str, str], ...]:
    """Upper-case names, each a valid condition of the criteria language."""
    from twinlab.pkpd.criteria import Criteria

    pairs = _derived_pairs(pairs) if isinstance(pairs, Mapping) else tuple(pairs)
    out = []
    for name, expr in pairs:
        key = str(name).strip().upper()
        if not key.isidentifier():
            raise ValueError(f"derived covariate name {name!r} must be an identifier")
        try:
            Criteria(str(expr), _names_in(str(expr)))  # syntax and allowed constructs
        except ValueError as err:
            raise ValueError(f"derived covariate {key}: {err}") from None
        out.append((key, str(expr)))
    if len({k for k, _ in out}) != len(out):
        raise ValueError("a derived covariate is declared twice")
    return tuple(out)


# ------------------------------------------------------------------ shared array code


def _levels(cov: Covariate, values: np.ndarray) -> tuple[float, ...]:
    if cov.levels is not None:
        return cov.levels
    return tuple(float(v) for v in np.unique(values[~np.isnan(values)]) if v != cov.reference)


def _covariate_values(spec: PopulationSpec, covariates: Mapping[str, np.ndarray]) -> dict:
    covariates = spec.derive(covariates)
    out = {}
    for c in spec.covariates:
        if c.covariate not in covariates:
            raise ValueError(
                f"covariate {c.covariate} is not in the data (have {sorted(covariates)})"
            )
        x = np.asarray(covariates[c.covariate], dtype=float)
        if np.isnan(x).any():
            raise ValueError(f"covariate {c.covariate} is missing for some subjects")
        if c.kind == "power" and (x <= 0).any():
            raise ValueError(f"covariate {c.covariate} must be positive for a power effect")
        out[c.covariate] = x
    return out


def _effect_names(spec: PopulationSpec, covariates: Mapping[str, np.ndarray]) -> dict:
    """Estimated covariate-effect variables: name -> (covariate, level or None, prior mean)."""
    out = {}
    cv = _covariate_values(spec, covariates)
    for c in spec.covariates:
        if c.kind == "power" and c.estimate:
            out[f"beta_{c.label}"] = (c, None, c.exponent)
        elif c.kind == "categorical":
            for lev in _levels(c, cv[c.covariate]):
                out[f"beta_{c.label}_{_level_name(lev)}"] = (c, lev, 0.0)
    return out


def _level_name(level: float) -> str:
    return str(int(level)) if float(level).is_integer() else str(level).replace(".", "p")


def individual_params(
    xp: ModuleType,
    spec: PopulationSpec,
    values: Mapping[str, Any],
    covariates: Mapping[str, np.ndarray],
    eta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Individual parameters from typical values, covariate effects and etas.

    Written against ``xp`` (NumPy or ``pytensor.tensor``), so the fit and the simulations use
    the same definition. ``values`` holds the typical values under the parameter names and
    the estimated covariate effects (``beta_*``); arrays with a leading draw axis broadcast if
    shaped ``(..., 1)`` against the ``(n_subjects,)`` covariates.
    """
    cv = _covariate_values(spec, covariates)
    eta = eta or {}
    out = {}
    for p in spec.parameters:
        logp = xp.log(values[p.name]) if not p.fixed else math.log(p.guess)
        for c in spec.covariates:
            if c.parameter != p.name:
                continue
            x = cv[c.covariate]
            if c.kind == "power":
                expo = values[f"beta_{c.label}"] if c.estimate else c.exponent
                logp = logp + expo * np.log(x / c.reference)
            else:
                for lev in _levels(c, x):
                    beta = values[f"beta_{c.label}_{_level_name(lev)}"]
                    logp = logp + beta * (x == lev).astype(float)
        if p.name in eta:
            logp = logp + eta[p.name]
        out[p.name] = xp.exp(logp)
    return out


def _arrays_namespace(arrays: PopulationArrays) -> SimpleNamespace:
    fields = {k: getattr(arrays, k) for k in arrays.__dataclass_fields__ if k != "covariates"}
    return SimpleNamespace(**fields)


def _residual_sd(xp: ModuleType, err: ResidualError, sig: Mapping[str, Any], pred: Any) -> Any:
    var = SD_FLOOR**2
    if err.kind != "proportional":
        var = var + sig[f"sigma_add_{err.endpoint}"] ** 2
    if err.kind != "additive":
        var = var + (sig[f"sigma_prop_{err.endpoint}"] * pred) ** 2
    return xp.sqrt(var)


# ---------------------------------------------------------------------------- PyMC model


def build_model(spec: PopulationSpec, arrays: PopulationArrays) -> tuple[Any, dict[str, Any]]:
    """The PyMC model of ``spec`` for the data ``arrays``.

    Parameters
    ----------
    spec : PopulationSpec
        The population model.
    arrays : PopulationArrays
        Observations, doses and covariates.

    Returns
    -------
    model : pymc.Model
        Free variables ``log_<p>`` (typical values), ``omega_<p>``, ``z_<p>`` (subject; for a
        centred parameter ``log_<p>_i`` instead, and ``z_<p>`` a deterministic), the
        covariate effects ``beta_*`` and ``sigma_*``; deterministics ``<p>`` (typical value,
        natural units) and ``<p>_i`` (individual values, dims ``subject``). Likelihood
        ``y_<endpoint>`` (normal, with the M3 term for observations below the LLOQ).
    info : dict
        ``endpoints`` (endpoint -> observation indices), ``censored`` (endpoint -> number of
        M3 observations), ``effects`` (names of ``beta_*``), ``random`` (parameters with BSV).
    """
    import pymc as pm
    import pytensor.tensor as pt

    sm = spec.structural
    obs_dvid = np.asarray(arrays.obs_dvid)
    coords = {"subject": np.asarray(arrays.subject_ids)}
    selections = {}
    for err in spec.errors:
        idx = np.flatnonzero(obs_dvid == err.dvid)
        if idx.size == 0:
            raise ValueError(f"no observations with DVID {err.dvid} for endpoint {err.endpoint}")
        selections[err.endpoint] = idx
        coords[f"obs_{err.endpoint}"] = idx
    effects = _effect_names(spec, arrays.covariates)
    info: dict[str, Any] = {
        "endpoints": selections,
        "censored": {},
        "effects": list(effects),
        "random": list(spec.random),
    }
    with pm.Model(coords=coords) as model:
        values: dict[str, Any] = {}
        for p in spec.parameters:
            if p.fixed:
                values[p.name] = pt.as_tensor_variable(p.guess)
                continue
            logv = pm.Normal(f"log_{p.name}", mu=math.log(p.guess), sigma=p.prior_sd)
            values[p.name] = pm.Deterministic(p.name, pt.exp(logv))
        for name, (cov, _lev, mean) in effects.items():
            values[name] = pm.Normal(name, mu=mean, sigma=cov.prior_sd)
        eta = _etas(pm, pt, spec, values, arrays.covariates, arrays.n_subjects)
        theta = individual_params(pt, spec, values, arrays.covariates, eta)
        for name in list(theta):
            # parameters without BSV or covariates are scalars: one value for every subject
            value = pt.as_tensor_variable(theta[name])
            if value.ndim == 0:
                value = pt.alloc(value, arrays.n_subjects)
            theta[name] = pm.Deterministic(f"{name}_i", value, dims="subject")
        grid = None
        if sm.kind == "ode" and spec.ode_max_step is not None:
            grid = ode_grid(arrays, max_step=spec.ode_max_step)
        pred = sm.predict(pt, theta, _arrays_namespace(arrays), grid=grid)
        for err in spec.errors:
            idx = selections[err.endpoint]
            sig = {
                t: pm.HalfNormal(t, sigma=err.add_scale if "_add_" in t else err.prop_scale)
                for t in err.terms
            }
            mu = pred[err.endpoint][idx]
            sd = _residual_sd(pt, err, sig, mu)
            dv = np.asarray(arrays.obs_dv, dtype=float)[idx]
            cens = np.asarray(arrays.obs_cens, dtype=bool)[idx]
            dims = f"obs_{err.endpoint}"
            if cens.any():
                lloq = np.asarray(arrays.obs_lloq, dtype=float)[idx]
                pm.CustomDist(
                    f"y_{err.endpoint}",
                    mu,
                    sd,
                    logp=functools.partial(_m3_logp, censored=np.flatnonzero(cens)),
                    observed=np.where(cens, lloq, dv),
                    dims=dims,
                )
            else:
                pm.Normal(f"y_{err.endpoint}", mu=mu, sigma=sd, observed=dv, dims=dims)
            info["censored"][err.endpoint] = int(cens.sum())
    return model, info


def log_ndtr(z: Any) -> Any:
    """``log Phi(z)``, the log standard normal CDF of a PyTensor ``z``, accurate far into the
    lower tail.

    ``log1p(-erfc(z/sqrt 2) / 2)`` above 0, ``log(erfc(-z/sqrt 2) / 2)`` from 0 down to
    ``z = -35`` (``erfc`` keeps its relative accuracy there), and below that the asymptotic
    series ``-z^2/2 - log(-z) - log(2 pi)/2 + log(1 - 1/z^2 + 3/z^4)`` (relative error under
    1e-8). Each branch sees only its own range of ``z``, so neither
    puts an infinity or NaN into the other's gradient. Unlike PyMC's ``erfcx``-based version,
    every operation here can be cached by PyTensor's numba back end.
    """
    import pytensor.tensor as pt

    cut = -35.0
    lower = pt.minimum(pt.maximum(z, cut), 0.0)
    upper = pt.maximum(z, 0.0)
    direct = pt.switch(
        z < 0.0,
        pt.log(0.5 * pt.erfc(-lower / math.sqrt(2.0))),
        pt.log1p(-0.5 * pt.erfc(upper / math.sqrt(2.0))),  # Phi near 1: no cancellation
    )
    far = pt.minimum(z, cut)
    inv2 = 1.0 / (far * far)
    tail = (
        -0.5 * far * far
        - pt.log(-far)
        - 0.5 * math.log(2 * math.pi)
        + pt.log1p(-inv2 + 3.0 * inv2 * inv2)
    )
    return pt.switch(z > cut, direct, tail)


def _m3_logp(value: Any, mu: Any, sd: Any, *, censored: np.ndarray) -> Any:
    """Beal's M3: the normal log density, and ``log P(y < LLOQ)`` for the censored rows
    (whose ``value`` is the LLOQ)."""
    import pytensor.tensor as pt

    z = (value - mu) / sd
    logp = -0.5 * z * z - pt.log(sd) - 0.5 * math.log(2 * math.pi)
    return pt.set_subtensor(logp[censored], log_ndtr(z[censored]))


def _centered_eta(pm: Any, pt: Any, name: str, omega: Any, typical: Any) -> Any:
    """Eta of the centred parameterisation: ``log_<name>_i`` free, ``z_<name>`` deterministic."""
    mu = pt.log(typical)
    log_i = pm.Normal(f"log_{name}_i", mu=mu, sigma=omega, dims="subject")
    eta = log_i - mu
    pm.Deterministic(f"z_{name}", eta / omega, dims="subject")
    return eta


def _etas(
    pm: Any,
    pt: Any,
    spec: PopulationSpec,
    values: Mapping[str, Any],
    covariates: Mapping,
    n_subjects: int,
) -> dict[str, Any]:
    """The etas (log deviations of each subject from the typical value) of every parameter
    with BSV: centred for :attr:`PopulationSpec.centered_parameters`, non-centred
    (``omega * z``, ``z_<p>`` free) for the others, or correlated non-centred (LKJ)."""
    random = [p for p in spec.parameters if p.omega is not None]
    if not random:
        return {}
    if spec.correlated and len(random) > 1:
        scales = np.array([p.omega for p in random])
        chol, _, _ = pm.LKJCholeskyCov(
            "chol_eta",
            n=len(random),
            eta=spec.lkj_eta,
            sd_dist=pm.HalfNormal.dist(sigma=scales, shape=len(random)),
            compute_corr=True,
        )
        z = pm.Normal("z", 0.0, 1.0, shape=(n_subjects, len(random)))
        etas = pt.dot(z, chol.T)
        return {p.name: etas[:, k] for k, p in enumerate(random)}
    centred = spec.centered_parameters
    typical = individual_params(pt, spec, values, covariates) if centred else {}
    out = {}
    for p in random:
        omega = pm.HalfNormal(f"omega_{p.name}", sigma=p.omega)
        if p.name in centred:
            out[p.name] = _centered_eta(pm, pt, p.name, omega, typical[p.name])
        else:
            z = pm.Normal(f"z_{p.name}", 0.0, 1.0, dims="subject")
            out[p.name] = omega * z
    return out


# ------------------------------------------------------------------- simulated studies


def simulated_study(
    spec: PopulationSpec,
    true_params: Mapping[str, float],
    n_subjects: int = 30,
    seed: int = 0,
    *,
    dose: float | Iterable[float] = 320.0,
    times: Iterable[float] = (0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0, 12.0, 24.0),
    lloq: float | None = None,
    covariates: Mapping[str, np.ndarray] | None = None,
) -> tuple[PopulationArrays, dict[str, Any]]:
    """A single-dose study simulated from known parameters (the NumPy back end).

    Parameters
    ----------
    spec : PopulationSpec
        The population model.
    true_params : mapping
        Typical values by parameter name; optional ``omega_<p>`` (default 0.3), ``beta_*``
        covariate effects (default 0) and ``sigma_*`` residual SDs (default 0.1 proportional,
        0.1 additive).
    n_subjects : int
        Number of subjects.
    seed : int
        Seed of every random draw.
    dose : float or iterable of float
        One dose (mg) at time 0: depot for oral models, central for IV models. An iterable
        gives dose levels, assigned to subjects in turn (subject ``i`` gets
        ``dose[i % len(dose)]``): several levels are what identifies nonlinear elimination.
    times : iterable of float
        Sampling times (h), the same for every subject and endpoint.
    lloq : float, optional
        Concentrations below it are censored (``obs_cens``, DV set to the LLOQ).
    covariates : mapping, optional
        Covariate values per subject; by default ``WT`` ~ 70 kg (log-normal, 20 % CV),
        ``CRCL`` ~ 90 mL/min (30 % CV) and categorical covariates 0/1/2 when the spec uses them.

    Returns
    -------
    arrays : PopulationArrays
    truth : dict
        Every population value used (typical values, ``omega_*``, ``beta_*``, ``sigma_*``) and
        ``"individual"``: the individual parameters.
    """
    rng = np.random.default_rng(seed)
    sm = spec.structural
    times = np.asarray(list(times), dtype=float)
    levels = np.atleast_1d(np.asarray(list(dose) if isinstance(dose, Iterable) else dose, float))
    if levels.size == 0 or not np.all(levels > 0):
        raise ValueError(f"doses must be positive, got {levels.tolist()}")
    amounts = levels[np.arange(n_subjects) % levels.size]
    cov = {k.upper(): np.asarray(v, dtype=float) for k, v in dict(covariates or {}).items()}
    for c in spec.covariates:
        if c.covariate in cov:
            continue
        if c.kind == "power":
            center = 90.0 if c.covariate == "CRCL" else c.reference
            cov[c.covariate] = center * np.exp(
                rng.normal(0.0, 0.2 if center == 70 else 0.3, n_subjects)
            )
        else:
            cov[c.covariate] = rng.integers(0, 3, n_subjects).astype(float)
    truth: dict[str, Any] = {
        p.name: float(true_params.get(p.name, p.guess)) for p in spec.parameters
    }
    for name in _effect_names(spec, cov):
        truth[name] = float(true_params.get(name, 0.0))
    eta = {}
    for p in spec.parameters:
        if p.omega is not None:
            omega = float(true_params.get(f"omega_{p.name}", 0.3))
            truth[f"omega_{p.name}"] = omega
            eta[p.name] = rng.normal(0.0, omega, n_subjects)
    theta = individual_params(np, spec, truth, cov, eta)
    errors = spec.errors
    n_t = times.size
    obs_subject = np.repeat(np.arange(n_subjects), n_t * len(errors))
    obs_time = np.tile(np.tile(times, len(errors)), n_subjects)
    obs_dvid = np.tile(np.repeat([e.dvid for e in errors], n_t), n_subjects)
    # CMT 1 is the depot of oral models and the central compartment of IV models
    arrays = PopulationArrays(
        n_subjects=n_subjects,
        subject_ids=np.arange(1, n_subjects + 1),
        obs_subject=obs_subject,
        obs_time=obs_time,
        obs_dv=np.zeros(obs_time.size),
        obs_cens=np.zeros(obs_time.size, dtype=bool),
        obs_lloq=np.full(obs_time.size, np.nan),
        obs_dvid=obs_dvid,
        dose_time=np.zeros((n_subjects, 1)),
        dose_amt=amounts[:, None],
        dose_rate=np.zeros((n_subjects, 1)),
        dose_duration=np.zeros((n_subjects, 1)),
        dose_cmt=np.ones((n_subjects, 1), dtype=np.int64),
        dose_ss=np.zeros((n_subjects, 1), dtype=bool),
        covariates=cov,
    )
    pred = predict(sm, theta, arrays)
    dv = np.zeros(obs_time.size)
    for err in errors:
        sel = obs_dvid == err.dvid
        sig = {t: float(true_params.get(t, 0.1)) for t in err.terms}
        truth.update(sig)
        mu = pred[err.endpoint][sel]
        sd = _residual_sd(np, err, sig, mu)
        dv[sel] = mu + sd * rng.standard_normal(mu.size)
    cens = np.zeros(dv.size, dtype=bool)
    lloq_arr = np.full(dv.size, np.nan)
    if lloq is not None:
        cens = dv < lloq
        lloq_arr = np.where(cens, lloq, np.nan)
        dv = np.where(cens, lloq, dv)
    arrays = replace(arrays, obs_dv=dv, obs_cens=cens, obs_lloq=lloq_arr)
    truth["individual"] = theta
    return arrays, truth


def subset(arrays: PopulationArrays, keep: np.ndarray) -> PopulationArrays:
    """The same study with only the observations where ``keep`` is true."""
    keep = np.asarray(keep, dtype=bool)
    obs = {k: getattr(arrays, k)[keep] for k in arrays.__dataclass_fields__ if k.startswith("obs_")}
    return replace(arrays, **obs)
