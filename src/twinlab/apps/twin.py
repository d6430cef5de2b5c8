"""What a what-if rests on: the registered twin model, the harmonized cohort, the PD spec.

Virtual patients are drawn by :class:`twinlab.virtual.VirtualCohort` (see
:mod:`twinlab.apps.whatif`); this module only finds and opens its inputs, cached per server
process: registered model versions (:func:`available_models`, :func:`open_twin`), the
harmonized cohort whose real patients' covariates are resampled (:func:`open_cohort`), and
the project's defaults for both from ``params.yaml`` (:func:`project_defaults`).

Only a version whose validation gate passed is offered and opened
(:func:`twinlab.pkpd.registry.load`); :func:`registered_models` lists every version with
its status, for the reviewer.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinlab.pkpd.registry import GATE_DIR, RegisteredModel, list_models, load
from twinlab.timeline import Cohort

__all__ = [
    "FittedRange",
    "TwinModel",
    "available_models",
    "fitted_range",
    "open_cohort",
    "open_twin",
    "project_defaults",
    "registered_models",
]


def available_models(root: str | os.PathLike[str], *, validated_only: bool = True) -> list[str]:
    """Registered model versions under ``<root>/models`` as ``"name/version"`` labels.

    Parameters
    ----------
    root : path
        The project folder.
    validated_only : bool
        Only the versions whose validation gate passed (the ones the apps serve).
    """
    return [
        f"{m['name']}/{m['version']}"
        for m in list_models(Path(root) / "models")
        if m["validation"] == "passed" or not validated_only
    ]


def registered_models(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every registered version under ``<root>/models``: ``model`` (``"name/version"``),
    ``structural_model`` and ``validation`` (``passed``, ``failed`` or ``not validated``:
    only ``passed`` is served)."""
    return [
        {
            "model": f"{m['name']}/{m['version']}",
            "structural_model": m["model"],
            "validation": m["validation"],
        }
        for m in list_models(Path(root) / "models")
    ]


@dataclass(frozen=True)
class TwinModel:
    """A registered model version and what the provenance says about it.

    Attributes
    ----------
    name, version : str, int
        The registry entry.
    model : str
        Structural model name of the fit.
    data_hash : str
        sha256 of the data it was fitted to (from the model card).
    posterior_draws : int
        Posterior draws (chains × draws) in the fit.
    registered : RegisteredModel
        The registry entry itself (what :class:`twinlab.virtual.VirtualCohort` takes).
    validation : str
        What its validation gate found (``"passed"``, with the bounds it met).
    """

    name: str
    version: int
    model: str
    data_hash: str
    posterior_draws: int
    registered: RegisteredModel
    validation: str = "passed"

    @property
    def label(self) -> str:
        """``"name/version"``."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class FittedRange:
    """What a twin was fitted on: the doses, routes, dosing intervals and covariate ranges
    of the data set registered with it (the fit's arrays), so answers outside can be flagged.

    Attributes
    ----------
    doses : tuple of float
        Distinct dose amounts given (mg), ascending.
    routes : tuple of str
        ``"oral"`` (doses into the depot of a model with absorption) and/or ``"iv"``.
    intervals_h : tuple of float
        Smallest and largest typical dosing interval (h, per subject's median), or empty.
    covariates : dict of str to tuple of float
        Per covariate, its (min, max) over the fitted subjects.
    n_subjects : int
        Subjects in the fit.
    """

    doses: tuple[float, ...]
    routes: tuple[str, ...]
    intervals_h: tuple[float, ...]
    covariates: dict[str, tuple[float, float]]
    n_subjects: int

    @property
    def dose_span(self) -> tuple[float, float]:
        """Smallest and largest fitted dose (mg)."""
        return (self.doses[0], self.doses[-1]) if self.doses else (0.0, 0.0)

    def describe(self) -> str:
        """One line for people, e.g. ``"oral 100–200 mg (doses 100, 200 mg), every 24 h"``."""
        lo, hi = self.dose_span
        doses = ", ".join(f"{d:g}" for d in self.doses)
        every = (
            f", every {self.intervals_h[0]:.0f} h"
            if self.intervals_h and round(self.intervals_h[0]) == round(self.intervals_h[-1])
            else (
                f", every {self.intervals_h[0]:.0f}–{self.intervals_h[-1]:.0f} h"
                if self.intervals_h
                else ""
            )
        )
        span = f"{lo:g} mg" if lo == hi else f"{lo:g}–{hi:g} mg (doses given: {doses} mg)"
        return f"{' or '.join(self.routes)} {span}{every}"


def fitted_range(twin: TwinModel) -> FittedRange:
    """The doses, routes, intervals and covariate ranges of ``twin``'s fit data set."""
    import numpy as np

    arrays = twin.registered.result.arrays
    given = np.asarray(arrays.dose_amt) > 0
    amounts = np.asarray(arrays.dose_amt)[given]
    cmt = np.asarray(arrays.dose_cmt)[given]
    from twinlab.pkpd.models import get_model

    absorbed = "ka" in get_model(twin.model).params
    routes = sorted({"oral" if (absorbed and c == 1) else "iv" for c in np.unique(cmt)})
    intervals = []
    for times, doses in zip(np.asarray(arrays.dose_time), given, strict=True):
        gaps = np.diff(times[doses])
        if gaps.size:
            intervals.append(float(np.median(gaps)))
    covs = {
        k: (float(np.nanmin(v)), float(np.nanmax(v)))
        for k, v in arrays.covariates.items()
        if np.size(v) and np.isfinite(np.asarray(v, float)).any()
    }
    return FittedRange(
        doses=tuple(float(d) for d in np.unique(np.round(amounts, 6))),
        routes=tuple(routes),
        intervals_h=(min(intervals), max(intervals)) if intervals else (),
        covariates=covs,
        n_subjects=int(arrays.n_subjects),
    )


@functools.lru_cache(maxsize=4)
def _open(root: str, name: str, version: int, gate_stamp: float) -> TwinModel:
    # a version that has not passed its gate raises NotValidatedError (never cached)
    reg = load(name, version, root=Path(root) / "models")
    post = reg.result.idata.posterior
    gate = reg.gate
    bounds = gate.bounds if gate is not None else None
    return TwinModel(
        name=name,
        version=int(reg.version),
        model=reg.result.spec.model,
        data_hash=str(reg.card.get("data_hash", "")),
        posterior_draws=int(post.sizes["chain"] * post.sizes["draw"]),
        registered=reg,
        validation=(
            f"passed (R-hat ≤ {bounds.max_rhat:g}, bulk ESS ≥ {bounds.min_ess:g}, "
            f"≤ {bounds.max_divergences} divergences, VPC coverage in "
            f"[{bounds.pi_coverage[0]:g}, {bounds.pi_coverage[1]:g}])"
            if bounds is not None
            else "passed"
        ),
    )


def open_twin(root: str | os.PathLike[str], label: str) -> TwinModel:
    """Open registered model ``"name/version"`` under ``<root>/models`` (cached).

    Raises
    ------
    KeyError
        If it is not registered.
    ValueError
        If the label is not ``"name/version"``.
    twinlab.pkpd.registry.NotValidatedError
        If its validation gate has not passed (a ``ValueError``: the apps show the
        message and serve nothing from it).
    """
    name, sep, version = str(label).rpartition("/")
    if not sep or not version.isdigit():
        raise ValueError(f"model label {label!r} must be 'name/version', e.g. 'twinurostat_pk/1'")
    root = Path(root).resolve()
    record = root / "models" / GATE_DIR / name / f"{int(version)}.json"
    stamp = record.stat().st_mtime if record.is_file() else 0.0  # a new gate result reopens
    return _open(str(root), name, int(version), stamp)


@functools.lru_cache(maxsize=4)
def _read_cohort(path: str, mtime: float) -> Cohort:
    return Cohort.read(path)


def open_cohort(root: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Cohort:
    """The harmonized cohort in ``folder`` (relative to ``root``), cached until it changes.

    Raises
    ------
    ValueError
        If the folder holds no harmonized cohort (``patients.parquet``).
    """
    path = (Path(root) / folder).resolve()
    patients = path / "patients.parquet"
    if not patients.is_file():
        raise ValueError(
            f"no harmonized cohort in {path} (no patients.parquet); run the pipeline's "
            "'harmonize' stage or choose another folder"
        )
    return _read_cohort(str(path), patients.stat().st_mtime)


def project_defaults(root: str | os.PathLike[str]) -> dict[str, Any]:
    """What the what-if takes from the project's ``params.yaml``, as the pipeline does.

    The file is read and checked by :func:`twinlab.pipeline.params.load_pipeline_params`, the
    one parser of ``params.yaml`` (a mistake in it is the same one line as for the stages):
    ``cohort`` and ``pd_spec`` (the ``simulate`` section's ``timeline_dir`` and ``pd_spec``;
    without a ``simulate`` section, the only harmonized study of the project,
    :attr:`twinlab.config.Paths.harmonized`), ``seed`` (the pipeline's seed), ``n_draws``
    (``simulate.n_draws``: posterior draws the virtual patients are spread over, as the
    simulate stage), ``design`` (the ``trial`` section's ``design`` mapping) and ``procova``
    (its ``procova`` settings). Without ``params.yaml`` or a section, its values are None
    (``design`` and ``procova``: empty).

    Raises
    ------
    twinlab.config.ConfigError
        For a ``params.yaml`` the pipeline would refuse.
    """
    from twinlab.config import paths
    from twinlab.pipeline.params import load_pipeline_params

    where = paths(root)
    params = load_pipeline_params(where.params_file) if where.params_file.is_file() else None
    sections = params.sections if params is not None else {}
    simulate = sections.get("simulate")
    trial = sections.get("trial")
    cohort = simulate.timeline_dir if simulate is not None else None
    if cohort is None:
        folder = where.harmonized
        found = (
            sorted(p.name for p in folder.iterdir() if (p / "patients.parquet").is_file())
            if folder.is_dir()
            else []
        )
        cohort = (folder / found[0]).relative_to(where.root).as_posix() if len(found) == 1 else None
    return {
        "cohort": cohort,
        "pd_spec": (simulate.pd_spec or None) if simulate is not None else None,
        "seed": params.seed if params is not None else None,
        "n_draws": simulate.n_draws if simulate is not None else None,
        "design": dict(trial.design) if trial is not None else {},
        "procova": trial.procova.to_dict() if trial is not None else {},
    }
