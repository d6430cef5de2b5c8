"""Scenario building blocks of the modelling stages: time grids, arms, the virtual cohort.

What a ``simulate`` section of ``params.yaml`` describes, as library objects a notebook can
build too: :func:`time_grid`, :func:`regimen_arms`, :func:`virtual_cohort_from_params` and
:func:`scenario_from_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.pipeline.params import CohortParams, SimulateParams

__all__ = [
    "regimen_arms",
    "resolve",
    "scenario_from_params",
    "time_grid",
    "virtual_cohort_from_params",
]

_REGIMEN_KEYS = (
    "dose",
    "interval_h",
    "n_doses",
    "duration_h",
    "route",
    "infusion_h",
    "loading_dose",
    "start_h",
)


def resolve(root: str | Path, value: str | Path) -> Path:
    """``value`` as is when absolute, else under ``root``."""
    value = Path(value)
    root = Path(root)
    return value if value.is_absolute() else root / value


def time_grid(spec: Mapping[str, Any] | list[float]) -> np.ndarray:
    """Observation times (hours) from ``[t0, t1, ...]`` or ``{start, stop, step}`` (stop
    included when it falls on the grid).

    Examples
    --------
    >>> time_grid({"start": 0, "stop": 12, "step": 4}).tolist()
    [0.0, 4.0, 8.0, 12.0]
    """
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"start", "stop", "step"})
        if unknown or "stop" not in spec or "step" not in spec:
            raise ValueError(f"times: give a list or {{start, stop, step}}, got {dict(spec)}")
        start, stop, step = (float(spec.get(k, 0.0)) for k in ("start", "stop", "step"))
        if not step > 0 or stop <= start:
            raise ValueError(f"times: need step > 0 and stop > start, got {dict(spec)}")
        n = int(np.floor((stop - start) / step + 1e-9)) + 1
        return start + step * np.arange(n)
    return np.asarray(list(spec), dtype=float)


def regimen_arms(arms: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> list:
    """Arms from ``{name: {dose: ..., ...}}`` over shared regimen ``defaults``; a dose of 0
    (or ``null`` for the whole arm) is placebo.

    Examples
    --------
    >>> arms = regimen_arms({"PBO": None, "T100": {"dose": 100}}, {"interval_h": 24, "n_doses": 7})
    >>> [(a.name, a.is_placebo) for a in arms]
    [('PBO', True), ('T100', False)]
    """
    from twinlab.simulate import Arm, Regimen

    if not isinstance(arms, Mapping) or not arms:
        raise ValueError("arms: give at least one arm as {name: {dose: mg, ...}}")
    out = []
    for name, given in arms.items():
        if given is not None and not isinstance(given, Mapping):
            raise ValueError(f"arm {name!r}: give a mapping of regimen fields, not {given!r}")
        fields = {**dict(defaults or {}), **dict(given or {})}
        unknown = sorted(set(fields) - set(_REGIMEN_KEYS))
        if unknown:  # before the placebo test: a typo'd dose key is not a placebo arm
            raise ValueError(
                f"arm {name!r}: unknown regimen fields {unknown}; known {_REGIMEN_KEYS}"
            )
        if given is None or float(given.get("dose", 0)) == 0:
            out.append(Arm(str(name), None))
            continue
        out.append(Arm(str(name), Regimen(**fields)))
    return out


def _cohort_params(section: Mapping[str, Any] | CohortParams) -> CohortParams:
    """The population keys of a ``simulate`` section, checked (other simulate keys allowed)."""
    if isinstance(section, CohortParams):
        return section
    if not isinstance(section, Mapping):
        raise TypeError(f"a simulate section is a mapping or SimulateParams, not {section!r}")
    cohort_keys = set(CohortParams.known_keys())
    unknown = set(section) - set(SimulateParams.known_keys())
    return CohortParams.from_mapping(
        {k: v for k, v in section.items() if k in cohort_keys or k in unknown}
    )


def virtual_cohort_from_params(
    section: Mapping[str, Any] | CohortParams, *, root: str | Path = "."
) -> Any:
    """The virtual population a ``simulate`` section describes.

    Keys (:class:`~twinlab.pipeline.params.CohortParams`): ``timeline_dir`` (harmonized
    cohort), ``model`` and ``models_root`` (the registered twin, latest version unless
    ``model_version``), ``pd_spec`` (assumed parameters the fit lacks, optional),
    ``n_patients``, ``n_draws``, ``method``, ``criteria``.
    """
    from twinlab.pkpd import PopulationSpec
    from twinlab.pkpd import load as load_model
    from twinlab.virtual import from_cohort

    cfg = _cohort_params(section)
    root = Path(root)
    model = load_model(cfg.model, cfg.model_version, root=resolve(root, cfg.models_root))
    extra = None
    if cfg.pd_spec:
        extra = PopulationSpec.from_yaml(resolve(root, cfg.pd_spec))
    return from_cohort(
        resolve(root, cfg.timeline_dir),
        int(cfg.n_patients),
        model=model,
        extra=extra,
        n_draws=int(cfg.n_draws),
        uncertainty=bool(cfg.uncertainty),
        method=str(cfg.method),
        criteria=cfg.criteria or (),
    )


def scenario_from_params(
    section: Mapping[str, Any] | SimulateParams,
    *,
    seed: int,
    root: str | Path = ".",
    population: Any = None,
) -> Any:
    """The :class:`~twinlab.simulate.Scenario` of a ``simulate`` section (see
    :func:`virtual_cohort_from_params`; plus ``arms``, ``regimen``, ``times``,
    ``chunk_size``, ``threshold_mg_l``, ``residual``, ``scenario``)."""
    from twinlab.simulate import Scenario

    cfg = SimulateParams.from_mapping(section)
    population = population or virtual_cohort_from_params(cfg, root=root)
    return Scenario(
        str(cfg.scenario),
        population,
        regimen_arms(cfg.arm_mappings(), cfg.regimen.to_dict() if cfg.regimen else None),
        time_grid(cfg.time_spec()),
        seed=int(seed),
        chunk_size=int(cfg.chunk_size),
        threshold=cfg.threshold_mg_l,
        residual=bool(cfg.residual),
    )
