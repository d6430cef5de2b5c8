"""The what-if state: a twin model, a regimen, a population and a trial – no UI code.

:class:`WhatIf` is a :class:`param.Parameterized` object: set its parameters in a notebook
(``w.dose = 200``) or bind them to widgets (``pn.Param(w)``), and call its methods for the
answers as data: concentration and response percentile bands, target attainment, safety
exceedance, trial power with and without twin adjustment (PROCOVA), and the provenance of
every number (model version, data hash, seed, how it was computed).

Where the patients come from
----------------------------
The virtual patients are a :class:`twinlab.virtual.VirtualCohort` (the same generator as the
pipeline's simulate stage): covariates resampled from the real patients of the harmonized
cohort (or drawn from a Gaussian copula of them) that pass the population filters – written
as readable criteria such as ``"WT >= 50"`` or ``'CYP2C9 in ["*1/*1"]'`` – with the
registered twin's posterior draws (``n_draws`` of them, ``params.yaml``'s
``simulate.n_draws``; patient ``i`` takes draw ``i mod n_draws``, so the bands carry the
parameter uncertainty) and between-subject variability for the PK, and the
assumed PD parameters (not part of the fitted twin) from a PD spec (``extra``, the demo's
``pipelines/specs/twinurostat_pd_assumed.yaml``), whose typical values and variabilities the
PD settings override. The seed is the pipeline's (``params.yaml``). Patients are drawn in
chunks of 100 (``chunk_rng(seed, k)`` for chunk
``k``, as the simulation engine draws them), so a larger population keeps the patients of a
smaller one and adds new ones.

How it stays fast
-----------------
The population is drawn once per (model, cohort, filters, size, seed, PD settings). The PK
is then simulated once per regimen *shape* (interval, number of doses, route) for a 1 mg
dose by the simulation engine (:func:`twinlab.simulate.run`, in process, the patients' PK
parameters passed as a :class:`twinlab.virtual.KnownPopulation`; cached by their content):
for a linear PK model concentrations are proportional to the
dose, so a dose change rescales the cached unit-dose profiles exactly – no approximation, no
surrogate. The PD (urate, an indirect response inhibiting its production) is nonlinear in
the concentration and is solved again on every change by the simulation engine
(:func:`twinlab.simulate.run`, in process; its compiled kernel for model
``pkpd_1cmt_oral_idr1_e0``: the PK exact inside each step, the response by exact decay and
Simpson's rule), with steps of at most :data:`PD_MAX_STEP` hours
(:attr:`twinlab.simulate.Scenario.ode_max_step`) instead of the engine's fine default (the
latency goal); its numerical error is estimated on every answer (the change when
the same kernel solves every other grid point with twice the step, an upper estimate for a
converging scheme) and shown with it. The kernel's PK is the 1-compartment oral model, so the
response needs a twin of ``pk_1cmt_oral``; concentrations of a PK model that is not linear
(e.g. Michaelis–Menten elimination) are simulated in full at every change. Values are
cached by content (:mod:`twinlab.apps.memory`), so sessions of the same settings share them.

Trial power is planned as the trial stage plans it (:meth:`WhatIf.power`: ``params.yaml``'s
trial design, :func:`twinlab.trials.plan_variance_reduction`); exposure metrics are the
simulate stage's exact ones (:func:`twinlab.simulate.exposure.arm_exposure`). The doses and
routes the twin was fitted on are known (:meth:`WhatIf.fitted`): outside them an answer is
flagged, or refused with ``extrapolation="refuse"`` (stakeholders).

Examples
--------
>>> w = WhatIf(root="path/to/project")  # doctest: +SKIP
>>> w.dose = 200  # doctest: +SKIP
>>> w.bands("conc").head()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from twinlab.apps.disclosure import (
    CRCL_BANDS,
    REFUSAL,
    ROUND_TO,
    WEIGHT_BANDS,
    CellCounts,
    band_criteria,
    band_span,
    genotype_criteria,
    offered_levels,
    rounded,
)
from twinlab.apps.memory import SessionCache
from twinlab.apps.stats import wilson
from twinlab.apps.twin import (
    FittedRange,
    TwinModel,
    available_models,
    fitted_range,
    open_cohort,
    open_twin,
    project_defaults,
    registered_models,
)
from twinlab.pkpd.dosing import expand_doses
from twinlab.pkpd.models import get_model
from twinlab.pkpd.population import PopulationSpec
from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.simulate.exposure import arm_exposure
from twinlab.trials import (
    Design,
    PrognosticModel,
    ancova_power,
    ancova_sample_size,
    evaluate_criteria,
    plan_variance_reduction,
    procova_saving,
)
from twinlab.virtual import KnownPopulation, VirtualCohort, chunk_rng, from_cohort

__all__ = ["SCENARIOS", "VirtualPatients", "WhatIf"]

_BANDS = {"WT": WEIGHT_BANDS, "CRCL": CRCL_BANDS}

#: scenario -> regimen settings (the demo study's arms and a BID alternative).
SCENARIOS: dict[str, dict[str, Any]] = {
    "custom": {},
    "placebo": {"dose": 0.0, "interval_h": 24.0},
    "100 mg QD": {"dose": 100.0, "interval_h": 24.0},
    "200 mg QD": {"dose": 200.0, "interval_h": 24.0},
    "100 mg BID": {"dose": 100.0, "interval_h": 12.0},
}

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_POINTS_PER_INTERVAL = 12
_LAST_INTERVAL_POINTS = 48
#: Virtual patients per chunk (each from its own stream, ``chunk_rng(seed, k)``): the
#: population-size slider's step, so moving it keeps the patients drawn so far.
CHUNK_SIZE = 100
#: PD parameters of the what-if's indirect response, and the settings that override them.
_PD_SETTINGS = {"e0": "omega_e0", "ic50": "omega_ic50", "kout": None, "imax": None}
#: How far (h) a dosing interval may lie outside the fitted subjects' typical intervals
#: (their medians; real dosing times scatter around the nominal schedule) before an answer
#: is an extrapolation.
INTERVAL_SLACK_H = 1.0
#: The response model, solved by the simulation engine's compiled kernel (whose PK is the
#: 1-compartment oral model: the twin's PK model must be that one).
PD_MODEL = "pkpd_1cmt_oral_idr1_e0"
_PD_PK_MODELS = ("pk_1cmt_oral",)
#: Largest PD step (h) at every answer: the kernel's default (0.05 h) costs ~25x more at
#: 10,000 patients; its error at this step is estimated on every answer and shown.
PD_MAX_STEP = 2.0
#: Patients the PD error estimate is computed on.
_PD_ERROR_SAMPLE = 500


@dataclass(frozen=True)
class VirtualPatients:
    """The what-if's virtual patients, drawn by a :class:`twinlab.virtual.VirtualCohort`.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        Individual parameters, one value per patient (shape ``(n,)``): the PK from the twin,
        the PD (``e0``, ``kout``, ``imax``, ``ic50``) assumed from the PD spec.
    covariates : pandas.DataFrame
        Covariates (model names: ``WT``, ``CRCL``, ``CYP2C9``...), one row per patient.
    noise : numpy.ndarray
        Standard-normal draws of the urate measurement errors, shape ``(3, 2, n)``.
    description : dict
        :meth:`twinlab.virtual.VirtualCohort.describe` (no patient-level values).
    pk_digest : str
        sha256 of the PK parameters (what the cached PK profiles depend on).
    """

    params: dict[str, np.ndarray]
    covariates: pd.DataFrame
    noise: np.ndarray
    description: dict[str, Any]
    pk_digest: str

    @property
    def n(self) -> int:
        """Number of virtual patients."""
        return int(self.noise.shape[-1])


@functools.lru_cache(maxsize=8)
def _read_spec(path: str, mtime: float) -> PopulationSpec:
    return PopulationSpec.from_yaml(path)


def _names_in(expr: str) -> set[str]:
    """Column names a criterion reads (identifiers that are not keywords or literals)."""
    import re

    words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", re.sub(r"(\"[^\"]*\"|'[^']*')", "", expr)))
    return words - {"and", "or", "not", "in", "True", "False", "None"}


def _by_draw(values: np.ndarray, vpid: np.ndarray) -> np.ndarray:
    """Each patient's value under its own posterior draw: row ``vpid mod n_draws``."""
    values = np.asarray(values)
    return values[vpid % values.shape[0], np.arange(values.shape[1])]


def _probability(p: float) -> float:
    """A power, kept in [0, 1] (far in the tail the noncentral t can return nan: power ~ 1)."""
    return 1.0 if not np.isfinite(p) else min(max(float(p), 0.0), 1.0)


class WhatIf(param.Parameterized):
    """What-if state of a twin: regimen, population, trial; answers as data.

    Parameters are :mod:`param` parameters (see their docs); every answer method reads the
    current values. Nothing here imports Panel.
    """

    root = param.String(default=".", doc="Project root (models under <root>/models).")
    cohort = param.String(
        default=None,
        allow_None=True,
        doc="Harmonized cohort whose real patients' covariates are drawn, relative to root "
        "(default: params.yaml simulate.timeline_dir, else the only study in data/harmonized).",
    )
    pd_spec = param.String(
        default=None,
        allow_None=True,
        doc="Assumed PD spec (YAML, a PopulationSpec of pkpd_1cmt_oral_idr1_e0), relative to "
        "root (default: params.yaml simulate.pd_spec); gives the PD settings' defaults (a "
        "change resets them to its values).",
    )
    model = param.Selector(default=None, objects=[], doc="Twin model version 'name/version'.")
    scenario = param.Selector(default="custom", objects=list(SCENARIOS), doc="Preset regimen.")

    dose = param.Number(default=100.0, bounds=(0.0, 1000.0), step=10.0, doc="Dose (mg).")
    interval_h = param.Selector(
        default=24.0, objects=[6.0, 8.0, 12.0, 24.0, 48.0], doc="Dosing interval (h)."
    )
    duration_days = param.Integer(default=28, bounds=(1, 84), doc="Treatment duration (days).")
    route = param.Selector(default="oral", objects=["oral", "iv"], doc="Route.")

    weight_range = param.Range(
        default=(30.0, 200.0),
        bounds=(30.0, 200.0),
        doc="Body weight filter (kg); an end at its bound sets no limit.",
    )
    crcl_range = param.Range(
        default=(10.0, 250.0),
        bounds=(10.0, 250.0),
        doc="Creatinine clearance filter (mL/min); an end at its bound sets no limit.",
    )
    genotypes = param.ListSelector(
        default=[], objects=[], doc="CYP2C9 genotypes kept (all when empty)."
    )
    method = param.Selector(
        default="resample",
        objects=["resample", "copula"],
        doc="Covariates: real patients resampled, or drawn from a Gaussian copula of them.",
    )
    n_patients = param.Integer(
        default=2000, bounds=(100, 20_000), step=100, doc="Virtual patients."
    )
    seed = param.Integer(
        default=None,
        allow_None=True,
        bounds=(0, None),
        doc="Seed of every random draw (default: params.yaml's seed, as the pipeline).",
    )
    n_draws = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, 1000),
        doc="Posterior draws of the twin the virtual patients are spread over (patient i "
        "takes draw i mod n_draws), so the bands carry parameter uncertainty (default: "
        "params.yaml simulate.n_draws, else 10).",
    )
    extrapolation = param.Selector(
        default="warn",
        objects=["warn", "refuse"],
        constant=True,
        doc="Outside the doses and routes the twin was fitted on: answer with a warning "
        "(modelers), or refuse (stakeholders). Set at creation.",
    )
    min_cell = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, None),
        constant=True,
        doc="Disclosure control for viewers without patient-level access (set at creation): "
        "filters in fixed bands, populations refused under the rule of "
        "twinlab.apps.disclosure, real-patient counts rounded (None: off).",
    )

    target_trough = param.Number(
        default=0.5,
        bounds=(0.0, None),
        step=0.1,
        doc="Efficacy target: trough concentration at least (mg/L).",
    )
    safety_cmax = param.Number(
        default=8.0,
        bounds=(0.0, None),
        step=0.5,
        doc="Safety threshold: peak concentration above (mg/L).",
    )
    urate_target = param.Number(
        default=6.0,
        bounds=(0.0, None),
        step=0.5,
        doc="Response target: urate at end below (mg/dL).",
    )

    trial_n = param.Integer(default=40, bounds=(2, 2000), doc="Trial patients per arm.")
    alpha = param.Number(default=0.05, bounds=(0.001, 0.2), doc="Two-sided significance level.")
    outcome_sd = param.Number(
        default=None,
        allow_None=True,
        bounds=(0.0, None),
        doc="Measurement and day-to-day SD of the trial's urate outcome (mg/dL; default: the "
        "trial stage's design.outcome_sd, else 0).",
    )
    dropout = param.Number(
        default=None,
        allow_None=True,
        bounds=(0.0, 0.95),
        doc="Share of randomized patients without an outcome (default: the trial stage's "
        "design.dropout, else 0); the analysis uses completers.",
    )

    # PD: the demo's urate turnover; not part of the fitted (PK) twin, shown as assumed.
    # Defaults: the PD spec's typical values (guess) and BSV (omega; 0 = none).
    e0 = param.Number(default=8.5, bounds=(0.1, None), doc="Baseline urate (mg/dL), typical.")
    omega_e0 = param.Number(default=0.15, bounds=(0.0, 2.0), doc="BSV of baseline (log SD).")
    kout = param.Number(default=0.02, bounds=(1e-4, 10.0), doc="Urate turnover rate (1/h).")
    imax = param.Number(default=0.9, bounds=(0.0, 1.0), doc="Maximal inhibition.")
    ic50 = param.Number(default=1.0, bounds=(1e-6, None), doc="IC50 (mg/L), typical.")
    omega_ic50 = param.Number(default=0.3, bounds=(0.0, 2.0), doc="BSV of IC50 (log SD).")

    def __init__(self, **params: Any) -> None:
        root = params.get("root", ".")
        models = available_models(root)
        if not models:
            unserved = registered_models(root)
            if unserved:
                found = ", ".join(f"{m['model']} ({m['validation']})" for m in unserved)
                raise ValueError(
                    f"no twin model under {Path(root) / 'models'} has passed its validation "
                    f"gate ({found}): only a validated version is served; run 'twinlab "
                    "validate-fit <fit dir> --register <name>' (the pipeline's validate stage)"
                )
            raise ValueError(
                f"no registered twin model under {Path(root) / 'models'}; register one with "
                "twinlab.pkpd.register (the pipeline's 'fit' stage does)"
            )
        self.param.model.objects = models
        params.setdefault("model", models[-1])
        if params["model"] not in models:
            raise ValueError(
                f"model {params['model']!r} is not a registered version that passed its "
                f"validation gate (served: {models})"
            )
        defaults = project_defaults(root)
        for name in ("cohort", "pd_spec", "seed", "n_draws"):
            if params.get(name) is None:
                params[name] = defaults[name]
        design = defaults["design"]
        for name in ("outcome_sd", "dropout"):
            if params.get(name) is None:
                params[name] = float(design.get(name) or 0.0)
        params["n_draws"] = params["n_draws"] or 10
        if params["seed"] is None:
            raise ValueError(
                f"no seed: pass seed= or set the pipeline's seed in {Path(root) / 'params.yaml'}"
            )
        if params["cohort"] is None:
            raise ValueError(
                f"no harmonized cohort to draw virtual patients from under {root}: pass "
                "cohort='data/harmonized/<study>' or set simulate.timeline_dir in params.yaml"
            )
        if params["pd_spec"] is None:
            raise ValueError(
                "no PD spec for the response (urate): pass pd_spec='<spec>.yaml' (e.g. "
                "pipelines/specs/twinurostat_pd_assumed.yaml) or set simulate.pd_spec in "
                "params.yaml"
            )
        spec = self._read_pd_spec(root, params["pd_spec"])
        for name, value in self._pd_defaults(spec).items():
            params.setdefault(name, value)
        super().__init__(**params)
        self._design = dict(design)
        self._procova = dict(defaults["procova"])
        self._cache = SessionCache()
        self._last: dict[str, Any] = {}
        self._origin: tuple[Any, str] = (None, "computed")
        self._set_genotypes()
        self._set_routes()
        lo, hi = self.fitted().dose_span
        refuse = self.extrapolation == "refuse" and bool(self.fitted().doses)
        if refuse and "dose" not in params and not lo <= self.dose <= hi:
            self.dose = lo  # a refusing what-if starts inside the fitted range

    # -- presets and choices ---------------------------------------------------------
    @param.depends("scenario", watch=True)
    def _apply_scenario(self) -> None:
        self.param.update(**SCENARIOS[self.scenario])

    @param.depends("pd_spec", watch=True)
    def _reset_pd(self) -> None:
        self.param.update(**self._pd_defaults(self._read_pd_spec(self.root, self.pd_spec)))

    @param.depends("weight_range", "crcl_range", watch=True, on_init=True)
    def _snap_to_bands(self) -> None:
        """With ``min_cell``, the ranges are moved to the band edges the answers use."""
        if self.min_cell is None:
            return
        snapped = {}
        for name, edges in (("weight_range", WEIGHT_BANDS), ("crcl_range", CRCL_BANDS)):
            i, j = band_span(edges, *getattr(self, name))
            if tuple(getattr(self, name)) != (edges[i], edges[j + 1]):
                snapped[name] = (edges[i], edges[j + 1])
        if snapped:
            self.param.update(**snapped)

    @param.depends("model", "cohort", watch=True)
    def _set_genotypes(self) -> None:
        names = self.level_names("CYP2C9")
        self.param.genotypes.objects = list(names.values())
        self.genotypes = [g for g in self.genotypes if g in names.values()]

    @param.depends("model", watch=True)
    def _set_routes(self) -> None:
        """With ``extrapolation="refuse"`` only the routes the twin was fitted on are offered."""
        if self.extrapolation != "refuse":
            return
        routes = list(self.fitted().routes) or ["oral", "iv"]
        self.param.route.objects = routes
        if self.route not in routes:
            self.route = routes[0]

    def fitted(self) -> FittedRange:
        """What the twin was fitted on (:func:`twinlab.apps.twin.fitted_range`, cached)."""
        return self._cached(("fitted", self.root, self.model), lambda: fitted_range(self.twin))

    def outside_fitted_range(self) -> list[str]:
        """Why the current regimen lies outside what the twin was fitted on (empty: inside).

        A dose above the largest or (but placebo) below the smallest fitted dose, a dosing
        interval more than :data:`INTERVAL_SLACK_H` outside the fitted subjects' typical
        intervals (when the data had repeated doses and the regimen has more than one dose),
        and a route no fitted subject received, are extrapolations of the twin.
        """
        fit = self.fitted()
        out = []
        lo, hi = fit.dose_span
        if fit.doses and self.dose > 0 and not lo - 1e-9 <= self.dose <= hi + 1e-9:
            out.append(
                f"{self.dose:g} mg is outside the doses the twin was fitted on ({lo:g}–{hi:g} mg)"
            )
        tau = float(self.interval_h)
        if fit.intervals_h and self.dose > 0 and self.n_doses > 1:
            first, last = fit.intervals_h[0], fit.intervals_h[-1]
            if not first - INTERVAL_SLACK_H <= tau <= last + INTERVAL_SLACK_H:
                same = round(first) == round(last)
                fitted = f"{first:.0f} h" if same else f"{first:.0f}–{last:.0f} h"
                out.append(
                    f"dosing every {tau:g} h is outside the intervals the twin was fitted on "
                    f"(every {fitted})"
                )
        if fit.routes and self.route not in fit.routes:
            out.append(
                f"route {self.route} was not in the data the twin was fitted on "
                f"({' and '.join(fit.routes)} only)"
            )
        return out

    def _check_range(self) -> None:
        """Refuse an extrapolation when ``extrapolation="refuse"``."""
        if self.extrapolation == "refuse":
            outside = self.outside_fitted_range()
            if outside:
                raise ValueError(
                    "; ".join(outside) + ": the twin has no data there. Choose a regimen "
                    f"within {self.fitted().describe()}, or ask a modeler to run it."
                )

    @property
    def twin(self) -> TwinModel:
        """The selected twin model (cached)."""
        return open_twin(self.root, self.model)

    # -- the PD spec -----------------------------------------------------------------
    @staticmethod
    def _read_pd_spec(root: str, path: str) -> PopulationSpec:
        """The PD spec file (cached until it changes), checked for the what-if's PD."""
        full = (Path(root) / path).resolve()
        if not full.is_file():
            raise ValueError(f"PD spec {path!r} not found under {root}")
        spec = _read_spec(str(full), full.stat().st_mtime)
        declared = {p.name for p in spec.parameters}
        missing = [p for p in _PD_SETTINGS if p not in declared]
        if missing:
            raise ValueError(
                f"PD spec {path!r} (model {spec.model!r}) lacks {missing}: the what-if's response "
                "is the indirect response of pkpd_1cmt_oral_idr1_e0 (e0, kout, imax, ic50)"
            )
        if spec.parameter("kout").omega is not None:
            raise ValueError(
                f"PD spec {path!r} gives kout between-subject variability; the what-if "
                "integrates one kout for all patients: set its omega to null"
            )
        return spec

    @staticmethod
    def _pd_defaults(spec: PopulationSpec) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, omega in _PD_SETTINGS.items():
            out[name] = float(spec.parameter(name).guess)
            if omega is not None:
                out[omega] = float(spec.parameter(name).omega or 0.0)
        return out

    def extra_spec(self) -> PopulationSpec:
        """The PD spec with the current PD settings as typical values and BSV (assumed)."""
        spec = self._read_pd_spec(self.root, self.pd_spec)
        params = []
        for p in spec.parameters:
            if p.name in _PD_SETTINGS:
                omega_name = _PD_SETTINGS[p.name]
                omega = p.omega if omega_name is None else float(getattr(self, omega_name))
                p = replace(p, guess=float(getattr(self, p.name)), omega=omega or None)
            params.append(p)
        return replace(spec, parameters=tuple(params))

    # -- the population --------------------------------------------------------------
    def criteria(self) -> list[str]:
        """The population filters as :class:`twinlab.virtual.Criteria` expressions.

        A range end at its bound sets no limit; filters on a covariate the cohort lacks are
        left out; an empty genotype choice keeps every genotype. With ``min_cell`` set the
        ranges are widened to the fixed bands of :mod:`twinlab.apps.disclosure`.
        """
        have = set(self._base_cohort().eligible.columns)
        out = []
        for cov, name in (("WT", "weight_range"), ("CRCL", "crcl_range")):
            if cov not in have:
                continue
            if self.min_cell is not None:  # coarse fixed bands, widened to their edges
                edges = _BANDS[cov]
                out += band_criteria(cov, edges, *band_span(edges, *getattr(self, name)))
                continue
            lo, hi = getattr(self, name)
            b_lo, b_hi = self.param[name].bounds
            limits = ([f"{cov} >= {lo:g}"] if lo > b_lo else []) + (
                [f"{cov} <= {hi:g}"] if hi < b_hi else []
            )
            if limits:
                out.append(" and ".join(limits))
        if "CYP2C9" in have:
            out += genotype_criteria(self.genotypes)
        return out

    def virtual_cohort(
        self, n: int | None = None, *, criteria: Any = None, method: str | None = None
    ) -> VirtualCohort:
        """The :class:`~twinlab.virtual.VirtualCohort` of the current settings.

        Its chunk ``k`` (patients ``100 k .. 100 k + 99``) drawn from ``chunk_rng(seed, k)``
        gives the what-if's patients, as :func:`twinlab.simulate.run` would draw them with
        ``chunk_size=100``.

        Parameters
        ----------
        n : int, optional
            Number of virtual patients (default ``n_patients``).
        criteria : str or list of str, optional
            Default :meth:`criteria`.
        method : {"resample", "copula"}, optional
            Default ``method``.
        """
        return from_cohort(
            open_cohort(self.root, self.cohort),
            self.n_patients if n is None else int(n),
            model=self.twin.registered,
            extra=self.extra_spec(),
            uncertainty=True,
            n_draws=min(int(self.n_draws), self.twin.posterior_draws),
            method=self.method if method is None else method,
            criteria=self.criteria() if criteria is None else criteria,
        )

    def _base_cohort(self) -> VirtualCohort:
        """Every real patient with the model's covariates: the levels the filters offer."""
        key = ("base", self.root, self.model, self.cohort, self.pd_spec)
        return self._cached(
            key, lambda: self.virtual_cohort(0, criteria=(), method="resample"), size=2
        )

    def level_names(self, covariate: str) -> dict[int, str]:
        """Code -> text level of a coded covariate, for the levels the real cohort has."""
        key = ("levels", self.root, self.model, self.cohort, self.pd_spec, covariate, self.min_cell)
        return self._cached(key, lambda: self._level_names(covariate), size=4)

    def _level_names(self, covariate: str) -> dict[int, str]:
        base = self._base_cohort()
        if covariate not in base.eligible.columns:
            return {}
        codes = base.describe()["covariates"]["codes"].get(covariate, {})
        named = {int(v): str(k) for k, v in codes.items()}
        levels = offered_levels(base.eligible[covariate].dropna().to_numpy(), self.min_cell)
        return {int(c): named.get(int(c), str(int(c))) for c in levels}

    # -- caching ---------------------------------------------------------------------
    def _cached(self, key: tuple, make: Callable[[], Any], size: int = 3) -> Any:
        """LRU cache per kind (``key[0]``), keeping the ``size`` latest entries of that kind,
        within this session's and the server's byte budgets (:mod:`twinlab.apps.memory`).

        At 20,000 patients x 84 days a profile array is ~170 MB: the budgets bound what the
        sessions of one server hold; an evicted entry is computed again when needed. Keys
        name everything a value depends on, so a value another session of the server holds
        for the same key is reused (a new browser session of the default settings starts
        from the population and profiles already drawn).
        """
        value, hit = self._cache.cached(key, make, size, shared=True)
        self._last[key[0]] = "cached" if hit else "computed"
        return value

    def _population_key(self) -> tuple:
        return (
            self.root,
            self.model,
            self.cohort,
            self.pd_spec,
            self.method,
            tuple(self.criteria()),
            self.n_patients,
            self.seed,
            self.n_draws,
            self.min_cell,  # the population's description is disclosed by it
            self.e0,
            self.omega_e0,
            self.ic50,
            self.omega_ic50,
            self.kout,
            self.imax,
        )

    def population(self) -> VirtualPatients:
        """The virtual patients: PK and PD parameters, covariates, measurement noise (cached).

        Raises
        ------
        ValueError
            If no real patient passes the filters (``no real patient passes the criteria``).
        """
        if self.min_cell is not None and not self._answerable():
            raise ValueError(REFUSAL.format(k=self.min_cell))
        return self._cached(("population", *self._population_key()), self._make_population)

    # -- disclosure control ----------------------------------------------------------
    def _cells(self) -> CellCounts:
        """Real patients per band and genotype (:class:`twinlab.apps.disclosure.CellCounts`)."""
        key = ("cells", self.root, self.model, self.cohort, self.pd_spec)

        def make() -> CellCounts:
            return CellCounts.of(self._base_cohort().eligible)

        return self._cached(key, make, size=2)

    def _box(self, genotype_codes: Any = None) -> tuple:
        """The current filters as band ranges and a genotype mask."""
        cells = self._cells()
        names = {v: k for k, v in self.level_names("CYP2C9").items()}
        chosen = self.genotypes if genotype_codes is None else genotype_codes
        codes = [names[g] for g in chosen if g in names] if genotype_codes is None else chosen
        return (
            band_span(WEIGHT_BANDS, *self.weight_range),
            band_span(CRCL_BANDS, *self.crcl_range),
            cells.mask(codes),
        )

    def _answerable(self, genotype_codes: Any = None) -> bool:
        """Whether the disclosure rule lets the current population be answered."""
        key = ("answerable", *self._population_key(), None if genotype_codes is None else
               tuple(genotype_codes))  # fmt: skip
        return self._cached(
            key,
            lambda: self._cells().answerable(*self._box(genotype_codes), self.min_cell),
            size=64,
        )

    def _make_population(self) -> VirtualPatients:
        vc = self.virtual_cohort()
        chunks, noise = [], []
        for k, start in enumerate(range(0, vc.n, CHUNK_SIZE)):
            rng = chunk_rng(self.seed, k)
            chunks.append(vc.chunk(start, min(start + CHUNK_SIZE, vc.n), rng))
            # measurement noise of the trial's outcome (baseline, end; per arm) and dropout
            # uniforms; from the chunk's stream after its patients, so they stay the engine's
            noise.append(rng.standard_normal((3, 2, chunks[-1].n)))
        # posterior uncertainty: virtual patient i takes posterior draw i mod n_draws (rows
        # of the chunk's parameter arrays), so every band mixes the draws
        params = {
            p: np.concatenate([_by_draw(c.params[p], c.vpid) for c in chunks])
            for p in chunks[0].params
        }
        pk = [p for p in get_model(self.twin.model).all_params if p in params]
        digest = hashlib.sha256()
        for p in pk:
            digest.update(p.encode() + params[p].tobytes())
        return VirtualPatients(
            params=params,
            covariates=pd.concat([c.covariates for c in chunks], ignore_index=True),
            noise=np.concatenate(noise, axis=-1),
            description=self._disclosed(vc.describe()),
            pk_digest=digest.hexdigest(),
        )

    # -- simulation ------------------------------------------------------------------
    @property
    def n_doses(self) -> int:
        """Doses given: one per interval over the treatment duration."""
        return max(1, round(self.duration_days * 24.0 / self.interval_h))

    def times(self) -> np.ndarray:
        """The simulation grid (h): 12 points per interval, 48 over the last one."""
        tau = float(self.interval_h)
        end = self.n_doses * tau
        coarse = np.linspace(0.0, end, self.n_doses * _POINTS_PER_INTERVAL + 1)
        fine = np.linspace(end - tau, end, _LAST_INTERVAL_POINTS + 1)
        return np.unique(np.concatenate([coarse, fine]))

    @property
    def linear(self) -> bool:
        """Whether the PK model is linear in the dose (analytic, concentration only)."""
        sm = get_model(self.twin.model)
        return sm.kind == "analytic" and tuple(sm.endpoints) == ("conc",)

    def _simulate_pk(self, dose: float) -> np.ndarray:
        """Concentrations ``(n, T)`` at ``dose`` from the simulation engine (no cache)."""
        vp = self.population()
        pk = {p: v for p, v in vp.params.items() if p in get_model(self.twin.model).all_params}
        regimen = Regimen(
            float(dose), interval_h=float(self.interval_h), n_doses=self.n_doses, route=self.route
        )
        scenario = Scenario(
            "whatif",
            KnownPopulation(self.twin.model, pk),
            [Arm("whatif", regimen)],
            self.times(),
            seed=self.seed,
            chunk_size=10_000,
        )
        result = run(scenario)
        return np.asarray(result.dataset["conc"].isel(draw=0, arm=0).values, dtype=float)

    def _pk_key(self) -> tuple:
        """What the PK profiles depend on: the model and the PK parameters' content."""
        return (self.root, self.model, self.population().pk_digest)

    def _regimen_key(self) -> tuple:
        return (float(self.interval_h), self.n_doses, self.route)

    def concentrations(self) -> np.ndarray:
        """Concentrations (mg/L) of every virtual patient on :meth:`times`, shape ``(n, T)``."""
        return self._conc_t().T

    def _conc_t(self) -> np.ndarray:
        # (T, n) layout: per-time operations (quantiles, the PD steps) read contiguous rows
        if self.linear:
            return self._unit_conc() * self.dose
        return self._cached(
            ("pk", self._pk_key(), *self._regimen_key(), self.dose),
            lambda: np.ascontiguousarray(self._simulate_pk(self.dose).T),
        )

    def responses(self) -> np.ndarray:
        """Urate (mg/dL) of every virtual patient on :meth:`times`, shape ``(n, T)``."""
        return self._response(self.times()).T  # not cached: the answers keep band rows only

    def _response(
        self, times: np.ndarray, n: int | None = None, max_step: float | None = None
    ) -> np.ndarray:
        """Urate ``(T, n)`` of the first ``n`` patients (default all) on ``times``, by the
        simulation engine (:func:`twinlab.simulate.run`, in process; its compiled kernel for
        the model: PK exact inside each step, steps of at most ``max_step`` hours, default
        :data:`PD_MAX_STEP`, through :attr:`twinlab.simulate.Scenario.ode_max_step`)."""
        if self.twin.model not in _PD_PK_MODELS:
            raise ValueError(
                f"the what-if's response is {PD_MODEL} (compiled kernel), whose PK is "
                f"{' or '.join(_PD_PK_MODELS)}; twin model {self.model!r} has PK model "
                f"{self.twin.model!r}"
            )
        p = self.population().params
        theta = {k: p[k][:n] for k in get_model(PD_MODEL).all_params if k in p}
        regimen = Regimen(
            float(self.dose), interval_h=float(self.interval_h), n_doses=self.n_doses,
            route=self.route,
        )  # fmt: skip
        scenario = Scenario(
            "whatif-pd",
            KnownPopulation(PD_MODEL, theta),
            [Arm("whatif", regimen)],
            times,
            seed=self.seed,
            chunk_size=10_000,
            ode_max_step=PD_MAX_STEP if max_step is None else max_step,
        )
        effect = run(scenario).dataset["effect"].isel(draw=0, arm=0).values
        return np.asarray(effect, dtype=float).T

    def _answers(self) -> dict[str, Any]:
        self._check_range()
        key = (
            "answers",
            *self._population_key(),
            *self._regimen_key(),
            self.dose,
        )
        answers = self._cached(key, self._make_answers, size=2)
        # how this session got them first: computed here, or reused (another session's)
        self._origin = (key, self._origin[1] if self._origin[0] == key else self._last["answers"])
        return answers

    def _exposure(self) -> dict[str, np.ndarray]:
        """Exact Cmax, Ctrough and AUCtau of the last dosing interval of every patient.

        From :func:`twinlab.simulate.exposure.arm_exposure`, the simulate stage's own
        definition (closed form per dosing interval; the ODE's dense output for nonlinear
        elimination), so the numbers do not depend on the plotted grid and agree with the
        pipeline's.
        """
        sm = get_model(self.twin.model)
        theta = {k: v for k, v in self.population().params.items() if k in sm.all_params}
        regimen = Regimen(
            float(self.dose),
            interval_h=float(self.interval_h),
            n_doses=self.n_doses,
            route=self.route,
        )
        doses = expand_doses([regimen.doses()], central_cmt=2 if "ka" in sm.params else 1)
        m = arm_exposure(
            sm, theta, self.times(), regimen,
            doses.time[0], doses.amt[0], doses.duration[0], None,
        )  # fmt: skip
        return {name: np.asarray(m[name], dtype=float) for name in ("cmax", "ctrough", "auc_tau")}

    def _make_answers(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        times = self.times()
        conc = self._conc_t()
        resp = self._response(times)
        # PD integration error, estimated on a sample as the change from half the resolution
        # (every other grid point, steps of at most 2 * PD_MAX_STEP): the scheme converges, so
        # the error left is smaller
        m = min(_PD_ERROR_SAMPLE, conc.shape[1])
        coarse = self._response(times[::2], m, max_step=2 * PD_MAX_STEP)
        pd_error = float(np.max(np.abs(resp[::2, :m] - coarse)))
        return {
            "times": times,
            # full arrays only where needed: linear PK bands come from the unit-dose cache,
            # response bands from ~110 grid points (the arrays are ~170 MB each at 20,000
            # patients x 84 days)
            "conc": None if self.linear else conc,
            "effect_bands": np.ascontiguousarray(resp[self._band_index()]),
            **self._exposure(),
            "effect_end": resp[-1].copy(),
            "pd_error": pd_error,
            "compute_s": time.perf_counter() - t0,
        }

    # -- answers ---------------------------------------------------------------------
    def _band_index(self) -> np.ndarray:
        """Grid points the response bands are given at: ~100 over the course and every 4th
        in the last interval (the response is smooth; quantiles of 10,000 patients cost per
        point). Concentration bands use the whole grid (they are cached per regimen)."""
        times = self.times()
        tau = float(self.interval_h)
        course = np.round(np.linspace(0, times.size - 1, 97)).astype(int)
        last = np.flatnonzero(times >= times[-1] - tau - 1e-9)[::4]
        return np.unique(np.concatenate([course, last, [times.size - 1]]))

    def bands(self, endpoint: str = "conc", q: tuple[float, ...] = _QUANTILES) -> pd.DataFrame:
        """Percentile bands over time of ``"conc"`` (mg/L) or ``"effect"`` (urate, mg/dL).

        Parameters
        ----------
        endpoint : str
            ``"conc"`` (every grid point) or ``"effect"`` (about 110 grid points).
        q : tuple of float
            Quantiles.

        Returns
        -------
        pandas.DataFrame
            ``time_h``, ``day`` and one column per quantile (``p05``, ``p50``...).
        """
        if endpoint not in ("conc", "effect"):
            raise ValueError(f"endpoint must be 'conc' or 'effect', not {endpoint!r}")
        q = tuple(float(x) for x in q)
        if endpoint == "conc" and self.linear:
            # quantiles commute with a non-negative scale: reuse the unit-dose ones (no PD
            # needed: the served page shows these first, see twinlab.apps.views)
            self._check_range()
            t = self.times()
            unit = self._cached(
                ("unit_bands", self._pk_key(), *self._regimen_key(), q),
                lambda: np.quantile(self._unit_conc(), q, axis=1),
            )
            values = unit * self.dose
        elif endpoint == "conc":
            a = self._answers()
            t, values = a["times"], np.quantile(a["conc"], q, axis=1)
        else:
            a = self._answers()
            t, values = a["times"][self._band_index()], np.quantile(a["effect_bands"], q, axis=1)
        out = pd.DataFrame({"time_h": t, "day": t / 24.0})
        for qq, row in zip(q, values, strict=True):
            out[f"p{round(qq * 100):02d}"] = row
        return out

    def _unit_conc(self) -> np.ndarray:
        return self._cached(
            ("unit_pk", self._pk_key(), *self._regimen_key()),
            lambda: np.ascontiguousarray(self._simulate_pk(1.0).T),
        )

    def exposures(self) -> pd.DataFrame:
        """Summary of exposure and response metrics: mean and 5/50/95th percentiles."""
        a = self._answers()
        rows = []
        for name, unit in (
            ("cmax", "mg/L"),
            ("ctrough", "mg/L"),
            ("auc_tau", "mg·h/L"),
            ("effect_end", "mg/dL"),
        ):
            x = a[name]
            rows.append(
                {
                    "metric": name,
                    "unit": unit,
                    "mean": float(x.mean()),
                    **{
                        f"p{round(q * 100):02d}": float(np.quantile(x, q))
                        for q in (0.05, 0.5, 0.95)
                    },
                }
            )
        return pd.DataFrame(rows)

    def attainment(self, by: str | None = None) -> pd.DataFrame:
        """Target attainment and safety exceedance, with 95 % Wilson intervals.

        Parameters
        ----------
        by : str, optional
            ``"CYP2C9"`` for one row per genotype and criterion.

        Returns
        -------
        pandas.DataFrame
            ``group``, ``criterion``, ``n``, ``fraction``, ``ci_low``, ``ci_high``. With
            ``min_cell``, a genotype whose population the disclosure rule refuses has no row.
        """
        a = self._answers()
        vp = self.population()
        crit = {
            f"trough ≥ {self.target_trough:g} mg/L": a["ctrough"] >= self.target_trough,
            f"urate < {self.urate_target:g} mg/dL at end": a["effect_end"] < self.urate_target,
            f"peak > {self.safety_cmax:g} mg/L (safety)": a["cmax"] > self.safety_cmax,
        }
        groups: dict[str, np.ndarray] = {"all": np.ones(vp.n, bool)}
        if by is not None:
            if by not in vp.covariates.columns:
                have = sorted(vp.covariates.columns)
                raise ValueError(f"cannot split by {by!r} (have {have})")
            names = self.level_names(by)
            x = vp.covariates[by].to_numpy(dtype=float)
            groups = {names.get(int(c), str(c)): x == c for c in np.unique(x[~np.isnan(x)])}
            if self.min_cell is not None and by == "CYP2C9":  # each group is a population
                codes = {v: c for c, v in names.items()}
                groups = {
                    g: sel
                    for g, sel in groups.items()
                    if g in codes and self._answerable([float(codes[g])])
                }
        rows = []
        for g, sel in groups.items():
            n = int(sel.sum())
            for c, hit in crit.items():
                k = int(hit[sel].sum())
                lo, hi = wilson(k, n)
                rows.append(
                    {
                        "group": g,
                        "criterion": c,
                        "n": n,
                        "fraction": k / n if n else float("nan"),
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
        return pd.DataFrame(
            rows, columns=["group", "criterion", "n", "fraction", "ci_low", "ci_high"]
        )

    def trial_design(self) -> Design:
        """The trial the power is for: the trial stage's design (``params.yaml`` ``trial.design``:
        analysis, covariates, inclusion, outcome SD, dropout, sidedness) as placebo against
        the current regimen, 1:1, ``trial_n`` per arm, this ``alpha``, ``outcome_sd`` and
        ``dropout``; the endpoint is urate at the end of treatment (``effect_end``, lower is
        better). Covariates the virtual patients lack are left out."""
        d = dict(self._design)
        have = {"effect_baseline", *self.population().covariates.columns}
        covs = [c for c in d.get("covariates") or [] if c in have]
        inclusion = d.get("inclusion") or []
        inclusion = [inclusion] if isinstance(inclusion, str) else list(inclusion)
        analysis = d.get("analysis", "ancova")
        if analysis == "procova":
            analysis = "ancova"  # the twin adjustment is added below, as the trial stage does
        return Design.from_dict(
            {
                "name": str(d.get("name", "what-if")),
                "arms": {"Placebo": 1, "Regimen": 1},
                "control": "Placebo",
                "n_total": 2 * int(self.trial_n),
                "endpoint": {"kind": "continuous", "column": "effect_end", "better": "lower"},
                "analysis": analysis if covs or analysis == "difference" else "difference",
                "covariates": covs if analysis != "difference" else [],
                "alpha": float(self.alpha),
                "sided": int(d.get("sided", 2)),
                "outcome_sd": float(self.outcome_sd),
                "dropout": float(self.dropout),
                "inclusion": [c for c in inclusion if _names_in(c) <= have],
            }
        )

    def _trial_table(self, patients: np.ndarray) -> pd.DataFrame:
        """Rows of ``patients`` under both arms (``vpid``, ``arm``, ``effect_end``,
        ``effect_baseline`` and the covariates), urate without measurement error (the
        planning adds the design's outcome SD)."""
        a = self._answers()
        vp = self.population()
        cov = vp.covariates.iloc[patients].reset_index(drop=True)
        e0 = vp.params["e0"][patients]
        parts = []
        for arm, end in (("Placebo", e0), ("Regimen", a["effect_end"][patients])):
            t = cov.copy()
            t.insert(0, "arm", arm)
            t.insert(0, "vpid", patients)
            t["effect_baseline"] = e0
            t["effect_end"] = end
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    def _prognostic(self) -> PrognosticModel | None:
        """The twin's prognostic model of the control outcome, trained as the trial stage
        trains it (``trial.procova`` features and kind) on the first half of the virtual
        patients under placebo, with the design's measurement error; None without features.
        """
        vp = self.population()
        feats = [
            f
            for f in self._procova.get("features") or ["CRCL", "WT", "AGE", "SEX"]
            if f in vp.covariates.columns
        ]
        if not feats or vp.n < 40:
            return None
        key = ("prognostic", *self._population_key(), self.outcome_sd, tuple(feats))

        def train() -> PrognosticModel:
            half = np.arange(vp.n // 2)
            hist = vp.covariates.iloc[half][feats].copy()
            hist["effect_end"] = vp.params["e0"][half] + self.outcome_sd * vp.noise[0, 1, half]
            return PrognosticModel.train(
                hist, feats, "effect_end",
                kind=str(self._procova.get("kind", "linear")), seed=int(self.seed),
            )  # fmt: skip

        return self._cached(key, train, size=2)

    def power(self) -> dict[str, Any]:
        """Trial power, regimen vs placebo on end-of-treatment urate, as the trial stage plans it.

        Cached (shared by sessions) per answers and trial settings: see :meth:`_power`.
        """
        self._answers()  # the range check, and the answers' key is current
        key = ("power", *self._origin[0][1:], self.trial_n, self.alpha, self.outcome_sd,
               self.dropout)  # fmt: skip
        return dict(self._cached(key, self._power, size=4))

    def _power(self) -> dict[str, Any]:
        """Trial power (uncached), as :meth:`power` documents.

        The design is :meth:`trial_design` (the trial stage's analysis, covariates,
        inclusion, measurement SD and dropout). Its variance reductions are planned out of
        sample by :func:`twinlab.trials.plan_variance_reduction` (pooled residual variance of
        the ANCOVA, effects that vary between patients included): for the declared ANCOVA,
        and for PROCOVA – the declared covariates plus the twin's prognostic score
        (:meth:`_prognostic`, trained on the other half of the virtual patients). Power is
        then the noncentral t of :func:`twinlab.trials.ancova_power` for the completers
        (``n (1 − dropout)``); the effect and SD (measurement SD included) are those of the
        eligible virtual patients of the planning half.

        Returns
        -------
        dict
            ``effect`` (mg/dL), ``sd``, ``analysis``, ``covariates``, ``outcome_sd``,
            ``dropout``, ``n_per_arm``, ``n_completers``, ``alpha``; per analysis
            (``unadjusted``, ``ancova``, ``procova``) the ``power_*`` and ``n80_*`` (per arm
            randomized for 80 %); ``variance_reduction`` and ``rho`` of PROCOVA (planned)
            and ``variance_reduction_ancova``; ``n_adjusted``, ``n_saved``
            (:func:`twinlab.trials.procova_saving` of the two arms' total); ``power`` and
            ``n80`` (the declared analysis), ``power_procova``, ``n80_procova``.
        """
        vp = self.population()
        design = self.trial_design()
        plan_half = np.arange(vp.n // 2, vp.n) if vp.n >= 40 else np.arange(vp.n)
        table = self._trial_table(plan_half)
        eligible = table
        if design.inclusion:
            keep = evaluate_criteria(table[table["arm"] == "Placebo"], design.inclusion)
            ids = set(table.loc[table["arm"] == "Placebo", "vpid"].to_numpy()[keep])
            eligible = table[table["vpid"].isin(ids)]
        if eligible["vpid"].nunique() < 3:
            raise ValueError(
                "fewer than 3 virtual patients meet the trial's inclusion criteria "
                f"({' and '.join(design.inclusion)}): widen the population"
            )
        treated = eligible.loc[eligible["arm"] == "Regimen", "effect_end"].to_numpy()
        control = eligible.loc[eligible["arm"] == "Placebo", "effect_end"].to_numpy()
        effect = float(treated.mean() - control.mean())
        spread = 0.5 * (treated.var(ddof=1) + control.var(ddof=1))
        sd = float(np.sqrt(spread + design.outcome_sd**2))
        reductions = {"unadjusted": 0.0}
        k_cov = {"unadjusted": 0, "ancova": len(design.covariates), "procova": None}
        if design.analysis != "difference" and design.covariates:
            plan = plan_variance_reduction(design, table)
            reductions["ancova"] = float(plan["variance_reduction"].iloc[0])
        else:
            reductions["ancova"] = 0.0
        prognostic = self._prognostic()
        if prognostic is not None:
            pro = design.replace_with(analysis="procova")
            plan = plan_variance_reduction(pro, table, prognostic=prognostic)
            reductions["procova"] = float(plan["variance_reduction"].iloc[0])
            k_cov["procova"] = len(design.covariates) + 1
        else:
            reductions["procova"] = reductions["ancova"]
            k_cov["procova"] = k_cov["ancova"]
        reductions = {
            k: float(np.clip(v, 0.0, 0.998)) if np.isfinite(v) else 0.0
            for k, v in reductions.items()
        }
        n_total = 2 * int(self.trial_n)
        keep = 1.0 - float(design.dropout)
        out: dict[str, Any] = {
            "effect": effect,
            "sd": sd,
            "analysis": design.analysis,
            "covariates": list(design.covariates),
            "inclusion": list(design.inclusion),
            "outcome_sd": float(design.outcome_sd),
            "dropout": float(design.dropout),
            "n_per_arm": int(self.trial_n),
            "n_completers": n_total * keep,
            "alpha": float(design.alpha),
            "sided": int(design.sided),
            "prognostic_features": list(prognostic.features) if prognostic else [],
        }
        for label, r2 in reductions.items():
            rho = math.sqrt(r2)
            k = k_cov[label] or None
            out[f"power_{label}"] = _probability(
                ancova_power(
                    effect, sd, n_total * keep, rho=rho, alpha=design.alpha,
                    sided=design.sided, n_covariates=k,
                )
            )  # fmt: skip
            n80 = None
            if effect != 0 and sd > 0:
                total = ancova_sample_size(
                    effect, sd, rho=rho, alpha=design.alpha, sided=design.sided,
                    n_covariates=k,
                )  # fmt: skip
                n80 = math.ceil(total / keep / 2)
            out[f"n80_{label}"] = n80
        declared = "ancova" if design.analysis == "ancova" else "unadjusted"
        saving = procova_saving(n_total, variance_reduction=reductions["procova"])
        out.update(
            {
                "variance_reduction": reductions["procova"],
                "variance_reduction_ancova": reductions["ancova"],
                "rho": math.sqrt(reductions["procova"]),
                "n_adjusted": saving["n_adjusted"],
                "n_saved": saving["n_saved"],
                "power": out[f"power_{declared}"],
                "n80": out[f"n80_{declared}"],
                "power_procova": out["power_procova"],
                "n80_procova": out["n80_procova"],
            }
        )
        return out

    def provenance(self) -> dict[str, Any]:
        """What every figure rests on: model version, data hash, seed, the population, method.

        ``population`` is :meth:`twinlab.virtual.VirtualCohort.describe` of the virtual
        patients: how covariates were drawn (``method``), the ``criteria``, how many real
        patients were eligible (``real``), where each parameter comes from (``parameters``:
        fitted, or assumed from the PD spec) – no patient-level values.
        """
        a = self._answers()
        twin = self.twin
        vp = self.population()
        return {
            "model": twin.label,
            "structural_model": twin.model,
            "data_hash": twin.data_hash,
            "seed": self.seed,
            "n_patients": vp.n,
            "posterior_draws": twin.posterior_draws,
            "n_draws": min(int(self.n_draws), twin.posterior_draws),
            "fitted": self.fitted().describe(),
            "outside_fitted_range": self.outside_fitted_range(),
            "validation": twin.validation,
            "cohort": self.cohort,
            "pd_spec": self.pd_spec,
            "population": vp.description,
            "method": "engine",
            "pk": (
                "twinlab.simulate engine, unit-dose profiles cached and scaled by the dose "
                "(exact: linear PK)"
                if self.linear
                else "twinlab.simulate engine, full simulation at every change"
            ),
            "pd": (
                f"indirect response (urate), assumed PD parameters ({self.pd_spec}) – not part "
                f"of the fitted twin; {PD_MODEL} by the compiled kernel, steps ≤ {PD_MAX_STEP:g} h"
            ),
            "pd_error": a["pd_error"],
            "pk_cache": self._last.get("unit_pk", self._last.get("pk", "computed")),
            "compute_s": a["compute_s"],
            "answers": self._origin[1],
        }

    def _disclosed(self, description: dict[str, Any]) -> dict[str, Any]:
        """The population's description as shown: with ``min_cell``, real-patient counts
        rounded and nothing computed from the real patients (hash, copula, shares) left."""
        if self.min_cell is None:
            return description
        k = self.min_cell
        out = {
            key: v
            for key, v in description.items()
            if key not in ("real", "copula", "unseen_levels")
        }
        real = description["real"]
        out["real"] = {
            "patients": rounded(real["patients"], k),
            "eligible": rounded(real["eligible"], k),
            "rounded_to": ROUND_TO,
        }
        return out

    def query_params(self) -> dict[str, Any]:
        """The current settings as a JSON-ready dict (for the audit log)."""
        names = [p for p in self.param if p not in ("name",)]
        out = {}
        for p in names:
            v = getattr(self, p)
            out[p] = list(v) if isinstance(v, tuple | list) else v
        return out
