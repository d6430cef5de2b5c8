"""A simulation scenario: who (population), what (arms), when (time grid), and the seed.

Everything about a scenario is checked when it is made, or – for what only the population
can tell (its parameter names, its residual error) – by :meth:`Scenario.check` before any
chunk runs, so a user mistake is one clear :class:`ValueError` and never a traceback from a
Dask worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinlab.pkpd.models import StructuralModel, get_model
from twinlab.simulate.regimens import Arm
from twinlab.virtual.base import Population, chunk_rng

__all__ = ["Scenario"]

# Models that cannot take every route; everything else takes oral (when it has a depot), iv
# and infusion doses.
_ORAL_ONLY = frozenset({"pk_1cmt_oral_mm"})
_NO_INFUSION = frozenset({"pkpd_1cmt_oral_effect_cmt"})


def _name_ok(name: Any) -> bool:
    return isinstance(name, str) and bool(name.strip()) and "/" not in name and "\\" not in name


@dataclass(frozen=True)
class Scenario:
    """Virtual patients through arms, observed on a time grid.

    Parameters
    ----------
    name : str
        Scenario name (used in run records; no path separators).
    population : Population
        The virtual population (:class:`twinlab.virtual.Population`).
    arms : sequence of Arm
        The arms, with unique names; every patient goes through every arm.
    times : array-like
        Observation times in hours, sorted, strictly increasing, finite, at least two.
    seed : int
        Seed of every random draw (chunk ``k`` uses :func:`twinlab.virtual.chunk_rng`).
    chunk_size : int
        Patients per chunk (a Dask task, a zarr chunk along ``patient``).
    threshold : float, optional
        Concentration threshold for ``t_above`` (hours above it).
    residual : bool
        Also simulate observations with the population's residual error (``conc_obs``,
        ``effect_obs``).
    ode_max_step : float, optional
        Largest integration step (hours) of an ODE model (the indirect-response kernels and
        the NumPy back end's RK4; default :data:`twinlab.pkpd.ode.MAX_STEP`, 0.05 h). The
        ODE's cost is proportional to its steps: a coarser step is much faster, at an error
        to measure against the default for the scenario at hand. Ignored by the analytic
        models. Recorded in :meth:`to_dict` only when given.

    Raises
    ------
    ValueError
        For anything above that is malformed, or a route the model cannot take.
    KeyError
        For an unknown structural model.
    """

    name: str
    population: Population
    arms: Sequence[Arm]
    times: Any
    seed: int
    chunk_size: int = 10_000
    threshold: float | None = None
    residual: bool = False
    ode_max_step: float | None = None
    model: StructuralModel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _name_ok(self.name):
            raise ValueError(
                f"Scenario.name must be a non-empty string without '/', not {self.name!r}"
            )
        pop = self.population
        missing = [a for a in ("n", "n_draws", "model", "chunk", "describe") if not hasattr(pop, a)]
        if missing:
            raise ValueError(
                f"Scenario.population must follow twinlab.virtual.Population; "
                f"{type(pop).__name__} lacks {missing}"
            )
        if int(pop.n) < 1 or int(pop.n_draws) < 1:
            raise ValueError(
                f"population needs n >= 1 and n_draws >= 1 (n={pop.n}, n_draws={pop.n_draws})"
            )
        object.__setattr__(self, "model", get_model(pop.model))
        arms = tuple(self.arms) if not isinstance(self.arms, Arm) else (self.arms,)
        if not arms:
            raise ValueError("a scenario needs at least one Arm")
        for arm in arms:
            if not isinstance(arm, Arm):
                raise ValueError(f"Scenario.arms must hold Arm objects, not {type(arm).__name__}")
        names = [a.name for a in arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique; repeated: {dup}")
        object.__setattr__(self, "arms", arms)
        try:
            times = np.asarray(self.times, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("Scenario.times must be numbers (hours)") from None
        if times.ndim != 1 or times.size < 2:
            raise ValueError(
                f"Scenario.times must be a 1-D grid of at least 2 times, got shape {times.shape}"
            )
        if not np.all(np.isfinite(times)):
            raise ValueError("Scenario.times must be finite")
        if np.any(np.diff(times) <= 0):
            raise ValueError("Scenario.times must be strictly increasing")
        times = times.copy()
        times.flags.writeable = False
        object.__setattr__(self, "times", times)
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or self.seed < 0
        ):
            raise ValueError(f"Scenario.seed must be an integer >= 0, not {self.seed!r}")
        cs = self.chunk_size
        if isinstance(cs, bool) or not isinstance(cs, int | np.integer) or cs < 1:
            raise ValueError(f"Scenario.chunk_size must be an integer >= 1, not {cs!r}")
        if self.threshold is not None:
            t = float(self.threshold)
            if not math.isfinite(t) or t < 0:
                raise ValueError(
                    f"Scenario.threshold must be finite and >= 0, not {self.threshold!r}"
                )
            object.__setattr__(self, "threshold", t)
        object.__setattr__(self, "residual", bool(self.residual))
        if self.ode_max_step is not None:
            step = self.ode_max_step
            ok = not isinstance(step, bool) and isinstance(step, int | float | np.number)
            if not ok or not math.isfinite(step) or step <= 0:
                raise ValueError(
                    f"Scenario.ode_max_step must be a finite number of hours > 0, not {step!r}"
                )
            object.__setattr__(self, "ode_max_step", float(step))
        for arm in arms:
            self._check_route(arm)

    def _check_route(self, arm: Arm) -> None:
        if arm.regimen is None:
            return
        tit = arm.regimen.titration
        if tit is not None and not np.any(self.times == tit.at_h):
            raise ValueError(
                f"arm {arm.name!r}: the titration time {tit.at_h} h must be a point of "
                "Scenario.times (the trough is read there)"
            )
        route, model = arm.regimen.route, self.model
        if route == "oral" and "ka" not in model.params:
            raise ValueError(
                f"arm {arm.name!r}: model {model.name!r} has no absorption (ka); "
                "use route 'iv' or 'infusion', or an oral model"
            )
        if route != "oral" and model.name in _ORAL_ONLY:
            raise ValueError(f"arm {arm.name!r}: model {model.name!r} takes oral doses only")
        if route == "infusion" and model.name in _NO_INFUSION:
            raise ValueError(f"arm {arm.name!r}: model {model.name!r} takes no infusions")

    @property
    def n_chunks(self) -> int:
        """Number of chunks (Dask tasks)."""
        return -(-int(self.population.n) // int(self.chunk_size))

    def chunk_bounds(self, k: int) -> tuple[int, int]:
        """Patients ``start .. stop - 1`` of chunk ``k``."""
        if not 0 <= k < self.n_chunks:
            raise ValueError(f"chunk index {k} out of range 0..{self.n_chunks - 1}")
        start = k * int(self.chunk_size)
        return start, min(start + int(self.chunk_size), int(self.population.n))

    def check(self) -> None:
        """Check what only the population can tell, on a one-patient chunk.

        Raises
        ------
        ValueError
            When the population lacks a parameter of the model, gives a non-finite one, or
            has no residual error although ``residual=True``.
        """
        probe = self.population.chunk(0, 1, chunk_rng(self.seed, 0))
        missing = [p for p in self.model.params if p not in probe.params]
        if missing:
            raise ValueError(
                f"population parameters {sorted(probe.params)} lack {missing} needed by model "
                f"{self.model.name!r} (needs {list(self.model.params)})"
            )
        bad = [k for k, v in probe.params.items() if not np.all(np.isfinite(v))]
        if bad:
            raise ValueError(f"population gives non-finite values for {bad}")
        if self.residual:
            known = {f"{kind}_{e}" for e in self.model.endpoints for kind in ("add", "prop")}
            if not known & set(probe.sigma):
                raise ValueError(
                    "residual=True but the population has no residual error for "
                    f"{list(self.model.endpoints)} (PatientChunk.sigma keys {sorted(probe.sigma)})"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description for ``run.json`` (no patient-level values).

        ``ode_max_step`` is a key only when given, so the records of scenarios at the default
        step stay as they were.
        """
        out = {
            "name": self.name,
            "model": self.model.name,
            "arms": [a.to_dict() for a in self.arms],
            "times": [float(t) for t in self.times],
            "seed": int(self.seed),
            "chunk_size": int(self.chunk_size),
            "threshold": self.threshold,
            "residual": self.residual,
            "population": self.population.describe(),
        }
        if self.ode_max_step is not None:
            out["ode_max_step"] = self.ode_max_step
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], population: Population) -> Scenario:
        """The scenario of a :meth:`to_dict` record (``run.json``'s ``scenario``) for
        ``population`` (the record holds no patient-level values, so it is given again).

        Raises
        ------
        ValueError
            When the record is not a scenario's, or is for another structural model than
            the population's.
        """
        if not isinstance(data, Mapping) or not {"name", "arms", "times", "seed"} <= set(data):
            raise ValueError("a scenario record needs name, arms, times and seed")
        model = data.get("model")
        if model is not None and model != population.model:
            raise ValueError(
                f"the record is for model {model!r}, the population is {population.model!r}"
            )
        return cls(
            data["name"],
            population,
            [Arm.from_dict(a) for a in data["arms"]],
            data["times"],
            seed=data["seed"],
            chunk_size=data.get("chunk_size", 10_000),
            threshold=data.get("threshold"),
            residual=data.get("residual", False),
            ode_max_step=data.get("ode_max_step"),
        )
