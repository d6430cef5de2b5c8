"""One frozen, typed class per ``params.yaml`` section, and :func:`load_pipeline_params`.

Every stage gets its values from these classes, so a typo'd key, a wrong type or a value out
of range stops the run before anything is computed, with one line saying where it is and what
to write instead. Defaults are those the stages always had; a key left out of ``params.yaml``
behaves as before. Sections that parameterize a notebook (``*_report``,
``sources_overview``) are checked against the notebook's ``parameters`` cell when it runs
(:func:`twinlab.notebooks.validate_parameters`).

Examples
--------
>>> RegimenParams.from_mapping({"dose_mg": 100}, where="simulate.arms.T100")
Traceback (most recent call last):
...
twinlab.config.ConfigError: simulate.arms.T100: unknown key 'dose_mg' (did you mean 'dose'?); ...
"""

# ruff: noqa: RUF009  (option() returns a dataclasses.field, as field() does)

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from twinlab.config import ConfigError, paths
from twinlab.pipeline.fields import Section, option

__all__ = [
    "DaskParams",
    "FitParams",
    "GenerateParams",
    "HarmonizeParams",
    "HeldOutParams",
    "PipelineParams",
    "RegimenParams",
    "SensitivityParams",
    "SimulateParams",
    "SurrogateParams",
    "TimesParams",
    "TrialParams",
    "ValidateParams",
    "default_seed",
    "load_pipeline_params",
    "utc_offset",
]


@dataclass(frozen=True, kw_only=True)
class DaskParams(Section):
    """``dask``: where the Dask stages compute.

    ``address`` null starts a local TLS cluster of ``n_workers`` processes on 127.0.0.1 with
    throwaway certificates; an address (``tls://scheduler:8786``) connects to a running
    scheduler, with the certificates ``tls_ca_file``, ``tls_cert_file`` and ``tls_key_file``
    (paths relative to the project) or, when they are not given, Dask's own
    ``distributed.comm.tls`` configuration. ``dashboard_address`` (default ``127.0.0.1:0``:
    loopback, any free port; null for none) is the local cluster's dashboard.
    """

    section = "dask"
    address: str | None = option(None, example="address: tls://scheduler:8786")
    n_workers: int = option(2, ge=1, example="n_workers: 2")
    # not checked to lie in the project: the private key must lie outside any git work tree
    # (twinlab.security.tls.tls_security refuses it there)
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    dashboard_address: str | None = "127.0.0.1:0"

    def __post_init__(self) -> None:
        tls = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if any(tls) and not all(tls):
            raise ValueError("give tls_ca_file, tls_cert_file and tls_key_file together (or none)")
        if self.address is not None and not re.match(r"^[a-z+]+://", self.address):
            raise ValueError(
                f"address must be a URL such as tls://scheduler:8786, got {self.address!r}"
            )

    def security(self, root: str | Path = ".") -> Any:
        """The :class:`distributed.Security` for an external scheduler: the certificate files
        when given, else ``None`` (Dask's configuration applies)."""
        if not self.tls_ca_file:
            return None
        from twinlab.security.tls import tls_security

        root = Path(root)
        return tls_security(
            ca_file=root / self.tls_ca_file,
            cert_file=root / str(self.tls_cert_file),
            key_file=root / str(self.tls_key_file),
        )

    def client(self, root: str | Path = ".", *, n_workers: int | None = None) -> Any:
        """:func:`twinlab.cluster.dask_client` with these settings (a context manager)."""
        from twinlab.cluster import dask_client

        return dask_client(
            self.address,
            n_workers=n_workers or self.n_workers,
            security=self.security(root),
            dashboard_address=self.dashboard_address,
        )


@dataclass(frozen=True, kw_only=True)
class GenerateParams(Section):
    """``generate``: the synthetic study (:class:`twinlab.synth.SynthConfig`; a key left out
    takes SynthConfig's default)."""

    section = "generate"
    study: str = option("demo", path="name", example="study: demo")
    n_patients: int | None = option(None, ge=1, example="n_patients: 200")
    seed: int | None = option(None, ge=0)
    study_id: str | None = None
    wearable_fraction: float | None = option(None, ge=0, le=1, example="wearable_fraction: 0.25")
    wearable_days: int | None = option(None, ge=1, le=366)
    screen_fail_fraction: float | None = option(None, ge=0, le=1)
    start_date: str | None = option(None, example="start_date: '2025-01-06'")

    def synth_config(self, *, seed: int | None = None) -> Any:
        """The :class:`~twinlab.synth.SynthConfig` (``seed`` when the section gives none)."""
        from twinlab.synth import SynthConfig

        given = {k: v for k, v in self.to_dict().items() if k != "study"}
        if "seed" not in given and seed is not None:
            given["seed"] = seed
        return SynthConfig(**given)


_OFFSET = re.compile(r"^([+-])(?:(\d{1,2})(?::(\d{2}))?|(\d{2})(\d{2}))$")


def utc_offset(text: str, *, where: str = "offset") -> str:
    """A UTC offset as ``±HH:MM``, from ``±HH:MM``, ``±H:MM``, ``±HHMM``, ``±HH``, ``Z`` or
    ``UTC``.

    Fixed offsets only: a zone name (``EST``, ``America/New_York``) changes its offset with
    daylight saving time, which one offset per site cannot say.

    Examples
    --------
    >>> utc_offset("-0500"), utc_offset("+05:30"), utc_offset("Z")
    ('-05:00', '+05:30', '+00:00')
    """
    value = str(text).strip()
    if value.upper() in ("Z", "UTC"):
        return "+00:00"
    found = _OFFSET.match(value)
    if found:
        sign, h1, m1, h2, m2 = found.groups()
        hours, minutes = int(h1 or h2), int(m1 or m2 or 0)
        if hours <= 14 and minutes < 60:
            return f"{sign}{hours:02d}:{minutes:02d}"
    raise ConfigError(
        f"{where}: {text!r} is not a UTC offset; write a fixed offset such as '-05:00' "
        "(or '-0500', 'Z'); zone names such as EST or America/New_York are not accepted "
        "because their offset changes with daylight saving time"
    )


@dataclass(frozen=True, kw_only=True)
class HarmonizeParams(Section):
    """``harmonize``: study settings of the harmonizer
    (:class:`twinlab.harmonize.HarmonizeConfig`; a key left out takes its default)."""

    section = "harmonize"
    site_utc_offsets: dict[str, str] | None = option(
        None, example="site_utc_offsets: {'101': '-05:00'}"
    )
    identifier_aliases: dict[str, str] | None = option(None, example="{vcf_sample: usubjid}")
    genes: tuple[str, ...] | None = option(None, example="genes: [CYP2C9]")
    same_fact_hours: float | None = option(None, ge=0, example="same_fact_hours: 24.0")
    same_fact_rel_tol: float | None = option(None, ge=0, example="same_fact_rel_tol: 0.01")
    baseline: dict[str, str] | None = None
    scan_phi: bool | None = None
    implausible: Literal["quarantine", "flag"] | None = None
    free_text: dict[str, Literal["scrub", "drop"]] | None = option(None, example="{fhir: scrub}")
    implausible: Literal["quarantine", "flag"] | None = option(None, example="implausible: flag")
    #: coded-concept names published verbatim as displays (twinlab.deid.vocabulary)
    vocabulary: tuple[dict[str, str], ...] | None = option(
        None, example="vocabulary: [{system: 'CDISC SDTM EXTRT', code: DRUG1, display: Drug 1}]"
    )
    products: tuple[str, ...] | None = option(None, example="products: [Twinurostat]")
    #: the release date the Safe Harbor age rule also takes ages at (default: the run's day)
    age_reference: str | None = option(None, example="age_reference: '2026-12-01'")
    #: where the stage reads and writes (``twinlab run harmonize``; not harmonizer settings)
    sources: tuple[str, ...] | None = option(None, path="path", example="sources: [data/raw/demo]")
    out: str | None = option(None, path="path", example="out: data/harmonized/demo")
    raw_zone: str | None = option(None, path="path", example="raw_zone: data/raw_zone/demo")

    def __post_init__(self) -> None:
        if self.site_utc_offsets is not None:
            offsets = {
                k: utc_offset(v, where=f"harmonize.site_utc_offsets.{k}")
                for k, v in self.site_utc_offsets.items()
            }
            object.__setattr__(self, "site_utc_offsets", offsets)
        from twinlab.harmonize.pipeline import check_age_reference

        check_age_reference(self.age_reference)
        if self.vocabulary is not None or self.products is not None:
            from twinlab.deid.vocabulary import CodedVocabulary

            try:
                CodedVocabulary(
                    self.vocabulary or (), products=self.products or (),
                    where="harmonize.vocabulary",
                )  # fmt: skip
            except ValueError as err:
                raise ConfigError(str(err).replace("products[", "harmonize.products[")) from None

    def harmonize_config(self) -> Any:
        """The :class:`~twinlab.harmonize.HarmonizeConfig` these settings describe."""
        from twinlab.harmonize import HarmonizeConfig

        given = {
            k: getattr(self, k)
            for k in self.known_keys()
            if getattr(self, k) is not None and k not in _HARMONIZE_PATHS
        }
        return HarmonizeConfig(**given)


#: keys of the ``harmonize`` section that say where the stage reads and writes
_HARMONIZE_PATHS = frozenset({"sources", "out", "raw_zone"})


@dataclass(frozen=True, kw_only=True)
class FitParams(Section):
    """``fit``: the NONMEM-style data set from the timeline, the population fit and its
    registration (:func:`twinlab.pipeline.stages.fit_stage`).

    ``timeline_dir``, ``conc_code`` (event code of the drug concentrations), ``pd_code`` and
    ``covariates`` (``{NAME: source}``, as :func:`twinlab.pkpd.from_timeline` takes them)
    build the data set written to ``data``; ``spec`` is fitted with NUTS into ``out`` and
    registered as ``register`` under ``models_root``. ``seed`` defaults to the pipeline's.
    """

    section = "fit"
    spec: str = option(path="path", example="spec: pipelines/specs/twinurostat_pk.yaml")
    draws: int = option(1000, ge=1)
    tune: int = option(1000, ge=0)
    chains: int = option(4, ge=1)
    seed: int | None = option(None, ge=0)
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    target_accept: float = option(0.8, ge=0.5, lt=1.0)
    low_rank: bool = False
    timeline_dir: str | None = option(
        None, path="path", example="timeline_dir: data/harmonized/demo"
    )
    conc_code: str | None = option(None, example="conc_code: TWINURO")
    pd_code: str | None = None
    covariates: dict[str, str] | None = option(None, example="covariates: {WT: cov_weight_kg}")
    data: str | None = option(None, path="path", example="data: data/nonmem/demo.csv")
    out: str | None = option(None, path="path", example="out: models/twinurostat_pk/fit")
    register: str | None = option(None, path="name", example="register: twinurostat_pk")
    models_root: str = option("models", path="path", example="models_root: models")


@dataclass(frozen=True, kw_only=True)
class ValidateParams(Section):
    """``validate``: the bounds of the validation gate (``twinlab validate-fit``)."""

    section = "validate"
    max_rhat: float = option(1.01, ge=1.0, example="max_rhat: 1.01")
    max_rhat_individual: float = option(1.05, ge=1.0)
    min_ess: float = option(100, ge=0)
    max_divergences: int = option(0, ge=0)
    pi_coverage_low: float = option(0.8, gt=0, lt=1)
    pi_coverage_high: float = option(0.99, gt=0, le=1)
    #: seed of the VPC simulation (default: the pipeline's seed)
    seed: int | None = option(None, ge=0)
    #: the fit to gate (default: the ``fit`` section's ``out``), the metrics file, and the
    #: registered name the result is recorded with (default: ``fit.register``)
    fit_dir: str | None = option(None, path="path", example="fit_dir: models/twinurostat_pk/fit")
    out: str | None = option(None, path="path", example="out: reports/validate.json")
    register: str | None = option(None, path="name", example="register: twinurostat_pk")
    models_root: str | None = option(None, path="path", example="models_root: models")

    def __post_init__(self) -> None:
        if not self.pi_coverage_low < self.pi_coverage_high:
            raise ValueError("pi_coverage_low must be below pi_coverage_high")

    def gate_bounds(self) -> Any:
        """The :class:`twinlab.pkpd.gate.GateBounds` these settings describe."""
        from twinlab.pkpd.gate import GateBounds

        bounds = ("max_rhat", "max_rhat_individual", "min_ess", "max_divergences")
        given = {k: getattr(self, k) for k in (*bounds, "pi_coverage_low", "pi_coverage_high")}
        return GateBounds.from_params(given)


@dataclass(frozen=True, kw_only=True)
class TimesParams(Section):
    """``times: {start, stop, step}`` (hours; ``stop`` included when on the grid)."""

    section = "times"
    stop: float = option(gt=0, example="times: {start: 0, stop: 672, step: 4}")
    step: float = option(gt=0, example="times: {start: 0, stop: 672, step: 4}")
    start: float = option(0.0, ge=0)

    def __post_init__(self) -> None:
        if self.stop <= self.start:
            raise ValueError(f"stop must be after start, got start {self.start}, stop {self.stop}")


@dataclass(frozen=True, kw_only=True)
class RegimenParams(Section):
    """A dosing regimen (:class:`twinlab.simulate.Regimen`; keys left out take its
    defaults, a missing or zero ``dose`` is placebo)."""

    section = "regimen"
    dose: float | None = option(None, ge=0, example="dose: 100")
    interval_h: float | None = option(None, gt=0, example="interval_h: 24")
    n_doses: int | None = option(None, ge=1)
    duration_h: float | None = option(None, gt=0, example="duration_h: 672")
    route: Literal["oral", "iv", "infusion"] | None = None
    infusion_h: float | None = option(None, ge=0)
    loading_dose: float | None = option(None, ge=0)
    start_h: float | None = option(None, ge=0)


def _times(value: TimesParams | tuple[float, ...]) -> Any:
    return value.to_dict() if isinstance(value, TimesParams) else list(value)


@dataclass(frozen=True, kw_only=True)
class CohortParams(Section):
    """The virtual population of a ``simulate`` section
    (:func:`twinlab.pipeline.scenario.virtual_cohort_from_params`)."""

    section = "simulate"
    timeline_dir: str = option(path="path", example="timeline_dir: data/harmonized/demo")
    model: str = option(path="name", example="model: twinurostat_pk")
    n_patients: int = option(ge=1, example="n_patients: 1000")
    models_root: str = option("models", path="path", example="models_root: models")
    model_version: int | None = option(None, ge=1)
    pd_spec: str | None = option(None, path="path")
    n_draws: int = option(1, ge=1)
    uncertainty: bool = True
    method: Literal["resample", "copula"] = "resample"
    criteria: str | tuple[str, ...] | None = option(None, example='criteria: "CRCL >= 30"')


@dataclass(frozen=True, kw_only=True)
class HeldOutParams(Section):
    """``simulate.held_out.NAME``: a separately seeded virtual cohort of the same population,
    disjoint from the simulated patients, under some of the arms (the trial stage's PROCOVA
    ``history``, control arm only, and ``planning``, every arm of the design)."""

    section = "simulate.held_out"
    n_patients: int = option(ge=1, example="n_patients: 1000")
    arms: tuple[str, ...] = option(example="arms: [Placebo]")


@dataclass(frozen=True, kw_only=True)
class SimulateParams(CohortParams):
    """``simulate``: virtual patients through the arms
    (:func:`twinlab.pipeline.stages.simulate_stage`)."""

    times: TimesParams | tuple[float, ...] = option(example="times: {start: 0, stop: 672, step: 4}")
    arms: dict[str, RegimenParams | None] = option(
        example="arms: {Placebo: {dose: 0}, T100: {dose: 100}}"
    )
    out: str = option(path="path", example="out: results/demo")
    scenario: str = "scenario"
    regimen: RegimenParams | None = None
    chunk_size: int = option(10_000, ge=1)
    threshold_mg_l: float | None = option(None, gt=0)
    residual: bool = False
    #: the per-patient table written by the workers, one Parquet part a chunk
    #: (``patients/``), not assembled on the client into ``patients.parquet``: for 10^6
    #: virtual patients and more on a cluster (``run(parts=True)``)
    parts: bool = False
    held_out: dict[str, HeldOutParams] | None = None

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("arms: give at least one arm, e.g. {Placebo: {dose: 0}}")
        for name, cohort in (self.held_out or {}).items():
            unknown = [a for a in cohort.arms if a not in self.arms]
            if unknown or not cohort.arms:
                raise ValueError(
                    f"held_out.{name}.arms: {unknown or 'none'} are not arms of the section "
                    f"({', '.join(self.arms)})"
                )

    def cohort_params(self) -> CohortParams:
        """The population part of the section."""
        return CohortParams(**{k: getattr(self, k) for k in CohortParams.known_keys()})

    def arm_mappings(self) -> dict[str, dict[str, Any] | None]:
        """``arms`` as :func:`twinlab.pipeline.scenario.regimen_arms` takes them."""
        return {name: None if r is None else r.to_dict() for name, r in self.arms.items()}

    def time_spec(self) -> Any:
        """``times`` as :func:`twinlab.pipeline.scenario.time_grid` takes it."""
        return _times(self.times)


@dataclass(frozen=True, kw_only=True)
class SensitivityParams(Section):
    """``sensitivity``: Sobol or Morris indices
    (:func:`twinlab.pipeline.stages.sensitivity_stage`)."""

    section = "sensitivity"
    model: str = option(example="model: pkpd_1cmt_oral_idr1_e0")
    regimen: RegimenParams = option(example="regimen: {dose: 200, interval_h: 24}")
    times: TimesParams | tuple[float, ...] = option(example="times: {start: 0, stop: 672, step: 4}")
    ranges: dict[str, tuple[float, ...]] = option(example="ranges: {cl: [2.5, 10.0]}")
    outputs: tuple[str, ...] = option(example="outputs: [auc_tau, cmax]")
    out: str = option(path="path", example="out: results/sensitivity")
    metrics_path: str = option(path="path", example="metrics_path: reports/sensitivity.json")
    threshold_mg_l: float | None = option(None, gt=0)
    log: tuple[str, ...] = ()
    fixed: dict[str, float] | None = None
    method: Literal["sobol", "morris"] = "sobol"
    n: int | None = option(None, ge=1, example="n: 256")
    trajectories: int | None = option(None, ge=1, example="trajectories: 20")

    def __post_init__(self) -> None:
        for name, bounds in self.ranges.items():
            if len(bounds) != 2 or not bounds[0] < bounds[1]:
                raise ValueError(
                    f"ranges.{name} must be [low, high] with low < high, got {list(bounds)}"
                )
        unknown = [n for n in self.log if n not in self.ranges]
        if unknown:
            raise ValueError(
                f"log names {unknown}, which have no range; ranges: {list(self.ranges)}"
            )
        need = "n" if self.method == "sobol" else "trajectories"
        if getattr(self, need) is None:
            raise ValueError(f"method {self.method} needs {need} (e.g. {need}: 256)")


@dataclass(frozen=True, kw_only=True)
class SurrogateParams(Section):
    """``surrogate``: the surrogate of the engine's outputs
    (:func:`twinlab.pipeline.stages.surrogate_stage`)."""

    section = "surrogate"
    n_patients: int = option(ge=1, example="n_patients: 60")
    doses: tuple[float, ...] = option(gt=0, example="doses: [25, 50, 100]")
    intervals_h: tuple[float, ...] = option(gt=0, example="intervals_h: [12, 24]")
    duration_h: float = option(gt=0, example="duration_h: 672")
    times: TimesParams | tuple[float, ...] = option(example="times: {start: 0, stop: 672, step: 4}")
    inputs: tuple[str, ...] = option(example="inputs: [ka, cl, v]")
    outputs: tuple[str, ...] = option(example="outputs: [auc_tau, cmax]")
    out: str = option(path="path", example="out: models/twinurostat_pk_surrogate")
    metrics_path: str = option(path="path", example="metrics_path: reports/surrogate.json")
    kind: Literal["gp", "gbm"] = "gp"
    max_train: int = option(1500, ge=1)
    chunk_size: int = option(64, ge=1)
    log_inputs: tuple[str, ...] | None = None
    n_restarts: int = option(0, ge=0)


@dataclass(frozen=True, kw_only=True)
class ProcovaParams(Section):
    """``trial.procova``: the prognostic model, trained on the simulate stage's held-out
    ``history`` cohort and planned on its ``planning`` cohort (``simulate.held_out``)."""

    section = "trial.procova"
    features: tuple[str, ...] = option(example="features: [CRCL, WT]")
    kind: Literal["gbm", "linear"] = "gbm"
    #: how the planned variance reduction is estimated (twinlab.trials.plan_variance_reduction):
    #: the pooled residual variance of the ANCOVA with the score, or the conservative smaller
    #: arm-wise correlation
    planning: Literal["ancova", "min_rho"] = "ancova"


_Direction = Literal[">=", ">", "<=", "<"]


@dataclass(frozen=True, kw_only=True)
class DoseParams(Section):
    """``trial.dose``: target attainment and the regimen recommendation."""

    section = "trial.dose"
    metric: str = option(example="metric: effect_end")
    target: float = option(finite=True, example="target: 6.0")
    direction: _Direction = ">="
    pta_goal: float = option(0.9, gt=0, le=1)
    safety_metric: str | None = None
    safety_threshold: float | None = None
    safety_limit: float = option(0.1, ge=0, le=1)
    by: tuple[str, ...] = ()
    bins: dict[str, tuple[float, ...]] | None = option(None, finite=False)
    order: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class TrialParams(Section):
    """``trial``: operating characteristics, PROCOVA and dose selection
    (:func:`twinlab.pipeline.stages.trial_stage`; ``design`` is checked by
    :meth:`twinlab.trials.Design.from_dict`)."""

    section = "trial"
    patients: str = option(path="path", example="patients: results/demo/patients.parquet")
    design: dict[str, Any] = option(example="design: {name: ..., arms: {...}, ...}")
    n_replicates: int = option(ge=1, example="n_replicates: 2000")
    n_values: tuple[int, ...] = option(ge=2, example="n_values: [30, 60, 90]")
    procova: ProcovaParams = option(example="procova: {n_patients: 1000, features: [CRCL]}")
    dose: DoseParams = option(example="dose: {metric: effect_end, target: 6.0}")
    out: str = option(path="path", example="out: results/trial")
    metrics_path: str = option(path="path", example="metrics_path: reports/trial.json")
    plots_path: str | None = option(None, path="path")

    def design_object(self) -> Any:
        """``design`` as a :class:`twinlab.trials.Design` (checked when the stage starts)."""
        from twinlab.trials import Design

        try:
            return Design.from_dict(self.design)
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(f"trial.design: {err}") from None


#: section name -> its class
SECTIONS: dict[str, type[Section]] = {
    cls.section: cls
    for cls in (
        DaskParams,
        GenerateParams,
        HarmonizeParams,
        FitParams,
        ValidateParams,
        SimulateParams,
        SensitivityParams,
        SurrogateParams,
        TrialParams,
    )
}


@dataclass(frozen=True)
class PipelineParams:
    """All of ``params.yaml``, checked.

    Attributes
    ----------
    seed : int or None
        The pipeline's seed; ``None`` only when the file was read for a stage that draws
        nothing (``load_pipeline_params(..., sections=...)`` without ``"seed"``).
    dask : DaskParams
        Where the Dask stages compute (defaults when the file has no ``dask`` section).
    sections : mapping
        The typed sections the file has (section name -> its class's instance).
    other : mapping
        Every other section as given (the notebooks', checked against the notebook).
    file : Path
        The file read.
    """

    seed: int | None
    dask: DaskParams
    sections: Mapping[str, Section]
    other: Mapping[str, Any]
    file: Path

    @property
    def root(self) -> Path:
        """The folder of the file: paths in it are relative to it."""
        return self.file.resolve().parent

    def section(self, name: str) -> Any:
        """The checked section ``name``, or a :class:`ConfigError` naming the sections."""
        if name == "dask":
            return self.dask
        if name in self.sections:
            return self.sections[name]
        if name in self.other:
            return self.other[name]
        known = ", ".join(sorted([*self.sections, *self.other])) or "none"
        raise ConfigError(f"{self.file} has no section {name!r} (sections: {known})")

    @classmethod
    def from_mapping(
        cls,
        data: Any,
        *,
        file: str | Path = "params.yaml",
        sections: Collection[str] | None = None,
    ) -> PipelineParams:
        """Check a whole parameters mapping; see :func:`load_pipeline_params`."""
        file = Path(file)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file} must hold a mapping of sections, not {type(data).__name__}")
        wanted = set(SECTIONS) | {"seed"} if sections is None else set(sections)
        try:
            seed = _checked_seed(data.get("seed"), required="seed" in wanted)
            typed = {
                name: klass.from_mapping(data[name])
                for name, klass in SECTIONS.items()
                if name in data and name != "dask" and name in wanted
            }
            dask = DaskParams.from_mapping((data.get("dask") or {}) if "dask" in wanted else {})
        except ConfigError as err:
            raise ConfigError(f"{file}: {err}") from None
        other = {k: v for k, v in data.items() if k not in SECTIONS and k != "seed"}
        _inside_project(file, [*typed.values(), dask], other)
        return cls(seed, dask, typed, other, file)


#: Keys of the notebooks' sections that name a project path (``raw_dir``, ``metrics_path``).
_PATH_KEY = re.compile(r"^(out|.*_(dir|path|file))$")


def _inside_project(file: Path, sections: list[Section], other: Mapping[str, Any]) -> None:
    """Refuse a path that leaves the project folder (the file's folder): ``../..``, or an
    absolute path elsewhere; and a ``name`` that is not one folder name.

    Every ``path`` field of the typed sections is checked, and the notebooks' keys ending
    in ``_dir``, ``_path`` or ``_file`` (or named ``out``): what a stage reads and writes
    must be in the project, where DVC tracks it and a reviewer's clone has it.
    """
    root = file.resolve().parent
    found = [place for section in sections for place in section.project_paths()]
    for name, body in other.items():
        if isinstance(body, Mapping):
            found.extend(
                (f"{name}.{k}", v, "path")
                for k, v in body.items()
                if isinstance(k, str) and _PATH_KEY.match(k) and isinstance(v, str)
            )
    for where, value, kind in found:
        if kind == "name":
            if value in (".", "..") or "/" in value or "\\" in value:
                raise ConfigError(
                    f"{file}: {where}: {value!r} must be one folder name (no '/', not '..')"
                )
            continue
        target = Path(value) if Path(value).is_absolute() else root / value
        normal = Path(os.path.normpath(target))
        if normal != root and root not in normal.parents:
            raise ConfigError(
                f"{file}: {where}: {value!r} is outside the project folder {root}; "
                "give a path inside it, relative to params.yaml (e.g. data/..., results/...)"
            )


def _checked_seed(seed: Any, *, required: bool) -> int | None:
    """``seed`` if it is an integer >= 0; ``None`` when absent and not ``required``.

    Raises
    ------
    ConfigError
        For a seed that is given but not an integer >= 0, or absent though ``required``.
    """
    if seed is None and not required:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0 (e.g. seed: 20261126), got {seed!r}")
    return seed


#: The seed of a command run outside any project (no ``params.yaml`` to take one from).
FALLBACK_SEED = 20261126


def default_seed() -> int:
    """The pipeline seed of the project around the working folder (its ``params.yaml``),
    or :data:`FALLBACK_SEED` outside a project: what ``twinlab fit`` and ``validate-fit``
    draw from when no ``--seed`` is given, so a command and its DVC stage agree."""
    file = paths().params_file
    if not file.is_file():
        return FALLBACK_SEED
    return load_pipeline_params(file).seed


def load_pipeline_params(
    path: str | Path | None = None, *, sections: Collection[str] | None = None
) -> PipelineParams:
    """Read and check ``params.yaml``: every typed section at once, before any stage runs.

    Parameters
    ----------
    path
        The parameters file; the project's ``params.yaml`` by default.
    sections
        Only these typed sections (and ``"seed"`` only when named) are checked and required;
        the others are left unread (default: all, and the seed). A command that draws
        nothing (``twinlab ingest``) names what it reads, so a file without a ``seed`` or
        with another stage's section unfinished still serves it.

    Raises
    ------
    ConfigError
        One line: the file is missing or not YAML (with the line and column), or the first
        problem found in it (``params.yaml: simulate.arms.T100: unknown key 'dose_mg' ...``).
    """
    from twinlab.config import read_yaml

    file = Path(path) if path is not None else paths().params_file
    return PipelineParams.from_mapping(read_yaml(file) or {}, file=file, sections=sections)
