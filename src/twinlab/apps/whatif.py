"""The what-if state: a twin model, a regimen, a population and a trial – no UI code.

:class:`WhatIf` is a :class:`param.Parameterized` object: set its parameters in a notebook
(``w.dose = 200``) or bind them to widgets (``pn.Param(w)``), and call its methods for the
answers as data: concentration and response percentile bands, target attainment, safety
exceedance, trial power with and without twin adjustment (PROCOVA), and the provenance of
every number (model version, data hash, seed, how it was computed).

How it stays fast
-----------------
The population (virtual patients: covariates, posterior draw, variability) is drawn once per
(model, filters, size, seed). The PK is then simulated once per regimen *shape* (interval,
number of doses, route) for a 1 mg dose by the simulation engine (:func:`twinlab.simulate.run`,
in process, the population passed as a :class:`twinlab.cohort.KnownPopulation`): for a
linear PK model concentrations are proportional to the
dose, so a dose change rescales the cached unit-dose profiles exactly – no approximation, no
surrogate. The PD (urate, an indirect response inhibiting its production) is nonlinear in
the concentration and is integrated again on every change, vectorized over patients, with an
exponential trapezoid scheme on the simulation grid; its numerical error is estimated on
every answer (the change when the same integration uses every other grid point, an upper
estimate for a converging scheme) and shown with it. Models that are not linear (e.g.
Michaelis–Menten elimination) are simulated in full at every change.

Examples
--------
>>> w = WhatIf(root="path/to/project")  # doctest: +SKIP
>>> w.dose = 200  # doctest: +SKIP
>>> w.bands("conc").head()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
import param

from twinlab.apps.stats import wilson
from twinlab.apps.twin import TwinModel, VirtualPatients, available_models, open_twin
from twinlab.cohort import KnownPopulation
from twinlab.pkpd.models import get_model
from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.trials import (
    ancova_power,
    ancova_sample_size,
    procova_power,
    procova_sample_size,
)

__all__ = ["SCENARIOS", "WhatIf", "integrate_idr1"]

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


def integrate_idr1(
    times: np.ndarray,
    conc: np.ndarray,
    *,
    e0: np.ndarray | float,
    kout: float,
    imax: np.ndarray | float,
    ic50: np.ndarray | float,
) -> np.ndarray:
    """Indirect response inhibiting production, from concentrations on a time grid.

    ``dR/dt = kout * e0 * (1 - imax * C / (ic50 + C)) - kout * R``, ``R(0) = e0``. Each step
    is exact for the loss term; the production term is integrated with the trapezoid rule
    on the grid (second order), so halving the step divides the error by about four.

    Parameters
    ----------
    times : numpy.ndarray
        Increasing times (h), shape ``(T,)``, starting at the first dose.
    conc : numpy.ndarray
        Concentrations (mg/L), shape ``(n, T)``.
    e0, kout, imax, ic50
        Baseline response, loss rate (1/h), maximal inhibition (0-1), concentration of half
        inhibition (mg/L); per patient (shape ``(n,)``) or shared.

    Returns
    -------
    numpy.ndarray
        Response, shape ``(n, T)``.

    Examples
    --------
    >>> t = np.linspace(0, 500, 501)
    >>> r = integrate_idr1(t, np.full((1, 501), 1.0), e0=8.0, kout=0.02, imax=0.9, ic50=1.0)
    >>> round(float(r[0, -1]), 3)  # steady state e0 * (1 - imax / 2) = 4.4
    4.4
    """
    conc_t = np.ascontiguousarray(np.asarray(conc, float).T)  # (T, n): each step is one row
    n = conc_t.shape[1]
    out = _idr1_steps(
        np.asarray(times, float),
        conc_t,
        _per_patient(e0, n),
        float(kout),
        _per_patient(imax, n),
        _per_patient(ic50, n),
    )
    return out.T


@numba.njit(cache=True)
def _idr1_steps(
    times: np.ndarray,
    conc_t: np.ndarray,
    e0: np.ndarray,
    kout: float,
    imax: np.ndarray,
    ic50: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`integrate_idr1` on concentrations laid out ``(T, n)``; returns ``(T, n)``.

    Compiled with Numba: one pass over the grid, no temporaries (NumPy's vectorized form
    needs ~6 temporaries per step and is ~10x slower at 10,000 patients).
    """
    nt, n = conc_t.shape
    out = np.empty((nt, n))
    for j in range(n):
        out[0, j] = e0[j]
    for k in range(nt - 1):
        dt = times[k + 1] - times[k]
        decay = np.exp(-kout * dt)
        for j in range(n):
            c0 = conc_t[k, j]
            c1 = conc_t[k + 1, j]
            p0 = 1.0 - imax[j] * c0 / (ic50[j] + c0)
            p1 = 1.0 - imax[j] * c1 / (ic50[j] + c1)
            out[k + 1, j] = out[k, j] * decay + kout * e0[j] * 0.5 * dt * (p0 * decay + p1)
    return out


def _probability(p: float) -> float:
    """A power, kept in [0, 1] (far in the tail the noncentral t can return nan: power ~ 1)."""
    return 1.0 if not np.isfinite(p) else min(max(float(p), 0.0), 1.0)


def _per_patient(value: np.ndarray | float, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=float), (n,)))


class WhatIf(param.Parameterized):
    """What-if state of a twin: regimen, population, trial; answers as data.

    Parameters are :mod:`param` parameters (see their docs); every answer method reads the
    current values. Nothing here imports Panel.
    """

    root = param.String(default=".", doc="Project root (models under <root>/models).")
    model = param.Selector(default=None, objects=[], doc="Twin model version 'name/version'.")
    scenario = param.Selector(default="custom", objects=list(SCENARIOS), doc="Preset regimen.")

    dose = param.Number(default=100.0, bounds=(0.0, 1000.0), step=10.0, doc="Dose (mg).")
    interval_h = param.Selector(
        default=24.0, objects=[6.0, 8.0, 12.0, 24.0, 48.0], doc="Dosing interval (h)."
    )
    duration_days = param.Integer(default=28, bounds=(1, 84), doc="Treatment duration (days).")
    route = param.Selector(default="oral", objects=["oral", "iv"], doc="Route.")

    weight_range = param.Range(
        default=(30.0, 200.0), bounds=(30.0, 200.0), doc="Body weight filter (kg)."
    )
    crcl_range = param.Range(
        default=(10.0, 250.0), bounds=(10.0, 250.0), doc="Creatinine clearance filter (mL/min)."
    )
    genotypes = param.ListSelector(
        default=[], objects=[], doc="CYP2C9 genotypes kept (all when empty)."
    )
    n_patients = param.Integer(
        default=2000, bounds=(100, 20_000), step=100, doc="Virtual patients."
    )
    seed = param.Integer(default=20261126, bounds=(0, None), doc="Seed of every random draw.")

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

    # PD: the demo's urate turnover; not part of the fitted (PK) twin, shown as assumed.
    e0 = param.Number(default=8.5, bounds=(0.1, None), doc="Baseline urate (mg/dL), typical.")
    omega_e0 = param.Number(default=0.15, bounds=(0.0, 2.0), doc="BSV of baseline (log SD).")
    kout = param.Number(default=0.02, bounds=(1e-4, 10.0), doc="Urate turnover rate (1/h).")
    imax = param.Number(default=0.9, bounds=(0.0, 1.0), doc="Maximal inhibition.")
    ic50 = param.Number(default=1.0, bounds=(1e-6, None), doc="IC50 (mg/L), typical.")
    omega_ic50 = param.Number(default=0.3, bounds=(0.0, 2.0), doc="BSV of IC50 (log SD).")
    pd_prop_sd = param.Number(
        default=0.05, bounds=(0.0, 1.0), doc="Proportional measurement error of urate."
    )
    pd_add_sd = param.Number(
        default=0.1, bounds=(0.0, None), doc="Additive measurement error of urate (mg/dL)."
    )

    def __init__(self, **params: Any) -> None:
        root = params.get("root", ".")
        models = available_models(root)
        if not models:
            raise ValueError(
                f"no registered twin model under {Path(root) / 'models'}; register one with "
                "twinlab.pkpd.register (the pipeline's 'fit' stage does)"
            )
        self.param.model.objects = models
        params.setdefault("model", models[-1])
        if params["model"] not in models:
            raise ValueError(f"model {params['model']!r} is not registered (have {models})")
        super().__init__(**params)
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._last: dict[str, Any] = {}
        self._set_genotypes()

    # -- presets and choices ---------------------------------------------------------
    @param.depends("scenario", watch=True)
    def _apply_scenario(self) -> None:
        self.param.update(**SCENARIOS[self.scenario])

    @param.depends("model", watch=True)
    def _set_genotypes(self) -> None:
        names = self.twin.level_names("CYP2C9")
        self.param.genotypes.objects = list(names.values())
        self.genotypes = [g for g in self.genotypes if g in names.values()]

    @property
    def twin(self) -> TwinModel:
        """The selected twin model (cached)."""
        return open_twin(self.root, self.model)

    # -- caching ---------------------------------------------------------------------
    def _cached(self, key: tuple, make: Callable[[], Any], size: int = 3) -> Any:
        """LRU cache per kind (``key[0]``), keeping the ``size`` latest entries of that kind.

        At 10,000 patients a profile array is ~30 MB: a few per kind bound a session's memory.
        """
        if key in self._cache:
            self._cache.move_to_end(key)
            self._last[key[0]] = "cached"
            return self._cache[key]
        value = make()
        self._cache[key] = value
        self._last[key[0]] = "computed"
        same = [k for k in self._cache if k[0] == key[0]]
        for old in same[: max(0, len(same) - size)]:
            del self._cache[old]
        return value

    def _population_key(self) -> tuple:
        return (
            self.root,
            self.model,
            tuple(self.weight_range),
            tuple(self.crcl_range),
            tuple(sorted(self.genotypes)),
            self.n_patients,
            self.seed,
            self.e0,
            self.omega_e0,
            self.ic50,
            self.omega_ic50,
        )

    def population(self) -> tuple[VirtualPatients, dict[str, np.ndarray]]:
        """The virtual patients and their PD parameters and measurement noise (cached)."""
        return self._cached(("population", *self._population_key()), self._make_population)

    def _make_population(self) -> tuple[VirtualPatients, dict[str, np.ndarray]]:
        twin = self.twin
        levels = None
        if self.genotypes:
            codes = {name: code for code, name in twin.level_names("CYP2C9").items()}
            levels = {"CYP2C9": [codes[g] for g in self.genotypes]}
        ranges = {}
        if "WT" in twin.covariates:
            ranges["WT"] = tuple(self.weight_range)
        if "CRCL" in twin.covariates:
            ranges["CRCL"] = tuple(self.crcl_range)
        vp = twin.sample(self.n_patients, self.seed, ranges=ranges, levels=levels)
        rng = np.random.default_rng(np.random.SeedSequence(int(self.seed), spawn_key=(1,)))
        n = vp.n
        pd_ = {
            "e0": self.e0 * np.exp(self.omega_e0 * rng.standard_normal(n)),
            "ic50": self.ic50 * np.exp(self.omega_ic50 * rng.standard_normal(n)),
            # measurement noise: baseline (the prognostic score) and end of treatment, per arm
            "eps": rng.standard_normal((3, 2, n)),
        }
        return vp, pd_

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
        vp, _ = self.population()
        regimen = Regimen(
            float(dose), interval_h=float(self.interval_h), n_doses=self.n_doses, route=self.route
        )
        scenario = Scenario(
            "whatif",
            KnownPopulation(self.twin.model, vp.params),
            [Arm("whatif", regimen)],
            self.times(),
            seed=self.seed,
            chunk_size=10_000,
        )
        result = run(scenario)
        return np.asarray(result.dataset["conc"].isel(draw=0, arm=0).values, dtype=float)

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
            ("pk", *self._population_key(), *self._regimen_key(), self.dose),
            lambda: np.ascontiguousarray(self._simulate_pk(self.dose).T),
        )

    def _response(self, conc_t: np.ndarray, times: np.ndarray) -> np.ndarray:
        _, pd_ = self.population()
        n = conc_t.shape[1]
        return _idr1_steps(
            times,
            conc_t,
            np.ascontiguousarray(pd_["e0"][:n]),
            float(self.kout),
            _per_patient(self.imax, n),
            np.ascontiguousarray(pd_["ic50"][:n]),
        )

    def _answers(self) -> dict[str, Any]:
        key = (
            "answers",
            *self._population_key(),
            *self._regimen_key(),
            self.dose,
            self.kout,
            self.imax,
        )
        return self._cached(key, self._make_answers, size=2)

    def _make_answers(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        times = self.times()
        conc = self._conc_t()
        resp = self._response(conc, times)
        # PD integration error, estimated on a sample as the change from half the resolution
        # (every other grid point): the scheme converges, so the error left is smaller
        m = min(500, conc.shape[1])
        coarse = self._response(np.ascontiguousarray(conc[::2, :m]), times[::2])
        pd_error = float(np.max(np.abs(resp[::2, :m] - coarse)))
        tau = float(self.interval_h)
        last = times >= times[-1] - tau - 1e-9
        return {
            "times": times,
            "conc": conc,
            "effect": resp,
            "cmax": conc[last].max(axis=0),
            "ctrough": conc[-1].copy(),
            "auc_tau": np.trapezoid(conc[last], times[last], axis=0),
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
        a = self._answers()
        q = tuple(float(x) for x in q)
        if endpoint == "conc":
            idx = np.arange(a["times"].size)
            if self.linear:
                # quantiles commute with a non-negative scale: reuse the unit-dose ones
                unit = self._cached(
                    ("unit_bands", *self._population_key(), *self._regimen_key(), q),
                    lambda: np.quantile(self._unit_conc(), q, axis=1),
                )
                values = unit * self.dose
            else:
                values = np.quantile(a["conc"], q, axis=1)
        else:
            idx = self._band_index()
            values = np.quantile(a["effect"][idx], q, axis=1)
        t = a["times"][idx]
        out = pd.DataFrame({"time_h": t, "day": t / 24.0})
        for qq, row in zip(q, values, strict=True):
            out[f"p{round(qq * 100):02d}"] = row
        return out

    def _unit_conc(self) -> np.ndarray:
        return self._cached(
            ("unit_pk", *self._population_key(), *self._regimen_key()),
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
            ``group``, ``criterion``, ``n``, ``fraction``, ``ci_low``, ``ci_high``.
        """
        a = self._answers()
        vp, _ = self.population()
        crit = {
            f"trough ≥ {self.target_trough:g} mg/L": a["ctrough"] >= self.target_trough,
            f"urate < {self.urate_target:g} mg/dL at end": a["effect_end"] < self.urate_target,
            f"peak > {self.safety_cmax:g} mg/L (safety)": a["cmax"] > self.safety_cmax,
        }
        groups: dict[str, np.ndarray] = {"all": np.ones(vp.n, bool)}
        if by is not None:
            if by not in vp.covariates:
                raise ValueError(f"cannot split by {by!r} (have {sorted(vp.covariates)})")
            names = self.twin.level_names(by)
            groups = {
                names.get(int(c), str(c)): vp.covariates[by] == c
                for c in np.unique(vp.covariates[by])
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
        return pd.DataFrame(rows)

    def power(self) -> dict[str, Any]:
        """Trial power, treated vs placebo on end-of-treatment urate, with and without PROCOVA.

        The virtual patients give the outcome under both arms (placebo: urate stays at its
        baseline) with measurement error; the twin's prognostic score is a baseline
        measurement of urate (the twin's prediction of the control outcome). Effect, SD and
        the score–outcome correlation are estimated from the virtual patients; power then
        comes from the noncentral t (:func:`twinlab.trials.ancova_power` and
        :func:`twinlab.trials.procova_power`, 1:1 allocation).

        Returns
        -------
        dict
            ``effect`` (mg/dL), ``sd``, ``rho``, ``n_per_arm``, ``alpha``, ``power``,
            ``power_procova``, ``n80``, ``n80_procova`` (per arm for 80 % power).
        """
        a = self._answers()
        _, pd_ = self.population()
        eps = pd_["eps"]
        e0 = pd_["e0"]

        def observe(true: np.ndarray, k: int, arm: int) -> np.ndarray:
            return true * (1 + self.pd_prop_sd * eps[k, arm]) + self.pd_add_sd * eps[k + 1, arm]

        treated = observe(a["effect_end"], 0, 0)
        control = observe(e0, 0, 1)
        score_t = e0 * (1 + self.pd_prop_sd * eps[2, 0])
        score_c = e0 * (1 + self.pd_prop_sd * eps[2, 1])
        effect = float(treated.mean() - control.mean())
        sd = float(np.sqrt(0.5 * (treated.var(ddof=1) + control.var(ddof=1))))
        # pooled within-arm correlation of the prognostic score with the outcome
        rho = float(
            np.mean([np.corrcoef(score_t, treated)[0, 1], np.corrcoef(score_c, control)[0, 1]])
        )
        rho = float(np.clip(rho, -0.999, 0.999)) if np.isfinite(rho) else 0.0
        n_total = 2 * self.trial_n
        n80 = n80_procova = None
        if effect != 0 and sd > 0:
            n80 = math.ceil(ancova_sample_size(effect, sd, alpha=self.alpha) / 2)
            n80_procova = math.ceil(procova_sample_size(effect, sd, rho=rho, alpha=self.alpha) / 2)
        return {
            "effect": effect,
            "sd": sd,
            "rho": rho,
            "n_per_arm": self.trial_n,
            "alpha": self.alpha,
            "power": _probability(ancova_power(effect, sd, n_total, alpha=self.alpha)),
            "power_procova": _probability(
                procova_power(effect, sd, n_total, rho=rho, alpha=self.alpha)
            ),
            "n80": n80,
            "n80_procova": n80_procova,
        }

    def provenance(self) -> dict[str, Any]:
        """What every figure rests on: model version, data hash, seed and the method."""
        a = self._answers()
        twin = self.twin
        vp, _ = self.population()
        return {
            "model": twin.label,
            "structural_model": twin.model,
            "data_hash": twin.data_hash,
            "seed": self.seed,
            "n_patients": vp.n,
            "posterior_draws": twin.n_draws,
            "method": "engine",
            "pk": (
                "twinlab.simulate engine, unit-dose profiles cached and scaled by the dose "
                "(exact: linear PK)"
                if self.linear
                else "twinlab.simulate engine, full simulation at every change"
            ),
            "pd": "indirect response (urate), assumed PD parameters – not part of the fitted twin",
            "pd_error": a["pd_error"],
            "pk_cache": self._last.get("unit_pk", self._last.get("pk", "computed")),
            "compute_s": a["compute_s"],
        }

    def query_params(self) -> dict[str, Any]:
        """The current settings as a JSON-ready dict (for the audit log)."""
        names = [p for p in self.param if p not in ("name",)]
        out = {}
        for p in names:
            v = getattr(self, p)
            out[p] = list(v) if isinstance(v, tuple | list) else v
        return out
