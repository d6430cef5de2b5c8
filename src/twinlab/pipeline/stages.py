"""The pipeline's stages: ``stage(params, root) -> StageResult``, one per library step.

Each function takes the checked ``params.yaml`` (:class:`~twinlab.pipeline.PipelineParams`:
its section, the pipeline ``seed`` and ``dask``) and the project folder its paths are
relative to, calls the library, writes the stage's outputs and returns a
:class:`~twinlab.pipeline.run.StageResult` saying what it read and wrote.
:func:`~twinlab.pipeline.run.run_stage` runs any of them by name and audits and times it;
``twinlab run STAGE`` and ``dvc.yaml`` do just that, and a notebook can too. Nothing here is
specific to the demo study: that is all in ``params.yaml``.

Seeds: every stage draws from ``params.seed``; the fit and the validation gate's VPC take
their section's ``seed`` when it is given. The simulate stage's held-out cohorts (the
prognostic model's ``history`` cohort, the ``planning`` cohort) and the trial stage's outcome
noise on the history each get their own seed from :func:`~twinlab.pipeline.run.derive_seed`
(streams ``trial.history``, ``trial.planning``, ``trial.history_noise``). Each stage reads
what the one before wrote: no stage simulates a cohort another stage simulates.
"""

from __future__ import annotations

import json
from contextlib import chdir, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.config import ConfigError
from twinlab.pipeline.metrics import (
    gate_metrics,
    power_curve_series,
    sensitivity_metrics,
    surrogate_metrics,
    trial_metrics,
)
from twinlab.pipeline.params import (
    DaskParams,
    FitParams,
    GenerateParams,
    HarmonizeParams,
    PipelineParams,
    SimulateParams,
    ValidateParams,
)
from twinlab.pipeline.run import StageResult, derive_seed
from twinlab.pipeline.scenario import (
    regimen_arms,
    resolve,
    scenario_from_params,
    time_grid,
)
from twinlab.security.filemodes import staged_dir, write_atomic

__all__ = [
    "build_nonmem",
    "fit_stage",
    "generate_stage",
    "harmonize_stage",
    "sensitivity_stage",
    "simulate_stage",
    "surrogate_stage",
    "trial_stage",
    "validate_stage",
]


def _write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def _time_spec(times: Any) -> Any:
    return times.to_dict() if hasattr(times, "to_dict") else list(times)


def _section(params: PipelineParams, name: str, default: Any = None) -> Any:
    """The checked section ``name``, ``default`` when the file has none (``None``: an error)."""
    if default is not None and name not in params.sections:
        return default
    return params.section(name)


def _opt(root: Path, value: str | None) -> Path | None:
    return resolve(root, value) if value is not None else None


def _need(section: Any, *keys: str) -> None:
    missing = [k for k in keys if getattr(section, k) is None]
    if missing:
        raise ConfigError(
            f"params.yaml: {section.section}: this stage needs {', '.join(missing)} "
            f"(known keys: {', '.join(section.known_keys())})"
        )


# --- data -----------------------------------------------------------------------------------


def generate_stage(
    params: PipelineParams | None,
    root: str | Path | None = None,
    *,
    out: str | Path | None = None,
    truth: str | Path | None = None,
    n_patients: int | None = None,
    seed: int | None = None,
    overwrite: bool | None = None,
) -> StageResult:
    """``generate``: the synthetic study's raw sources and ground truth
    (:func:`twinlab.synth.generate_study`) into ``data/raw/<study>`` and
    ``data/truth/<study>`` (or ``out`` and ``truth``); ``n_patients`` and ``seed`` override
    the section. Without ``params`` (``None``): SynthConfig's defaults.

    ``overwrite`` None (the pipeline stage): both folders are the stage's own, written beside
    and each published whole in one step (:func:`~twinlab.security.filemodes.staged_dir`), so a
    run that fails or is killed leaves the previous ones as they were and a re-run replaces
    them. True or False (``twinlab synth``): written in place, replacing only the files an
    earlier generation wrote (False: refusing a folder that is not empty)."""
    from twinlab.config import paths
    from twinlab.synth import generate_study

    if params is None:  # no params.yaml: SynthConfig's defaults, under the project
        root, section, file_seed = paths(root).root, GenerateParams(), None
    else:
        root = Path(root) if root is not None else params.root
        section, file_seed = params.section("generate"), params.seed
    config = section.synth_config(seed=file_seed)
    overrides = {"n_patients": n_patients, "seed": seed}
    if any(v is not None for v in overrides.values()):
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    where = paths(root)
    out = Path(out) if out is not None else where.raw / section.study
    truth = Path(truth) if truth is not None else where.truth / section.study
    if overwrite is None:
        manifest = _generate_staged(out, truth, config)
    else:
        manifest = generate_study(out, truth, config, overwrite=overwrite)
    files = manifest["files"] if isinstance(manifest, dict) else manifest.files
    return StageResult(
        "generate",
        manifest,
        params=vars(config),
        outputs=(out, truth),
        seed=config.seed,
        message=f"wrote {len(files)} source files to {out} (ground truth in {truth})",
    )


def _generate_staged(out: Path, truth: Path, config: Any) -> Any:
    """:func:`twinlab.synth.generate_study` into folders beside ``out`` and ``truth``, each
    published whole once both are written."""
    from twinlab.synth import generate_study

    a, b = out.resolve(), truth.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ConfigError(
            f"generate: the sources ({out}) and the ground truth ({truth}) "
            "must be separate folders, neither inside the other"
        )
    with staged_dir(truth) as truth_folder, staged_dir(out) as out_folder:
        manifest = generate_study(out_folder, truth_folder, config)
    return replace(manifest, path=out / manifest.path.name)


def harmonize_stage(
    params: PipelineParams | None,
    root: str | Path | None = None,
    *,
    sources: Any = None,
    out: str | Path | None = None,
    raw_zone: str | Path | None = None,
    workers: int = 0,
) -> StageResult:
    """``harmonize``: sources to a de-identified timeline (:func:`twinlab.harmonize.harmonize`).

    ``sources``, ``out`` and ``raw_zone`` default to the section's; without a raw zone it is
    ``OUT.rawzone`` beside ``out``. ``workers`` > 0 reads the files on a local Dask cluster
    of its own. Without ``params`` (``None``): the harmonizer's defaults, and ``sources``
    and ``out`` are needed. The harmonizer audits its run itself (and publishes nothing
    when it finds identifiers in its outputs: ``value.phi_findings``).
    """
    from twinlab.harmonize import harmonize

    section = _section(params, "harmonize", HarmonizeParams()) if params else HarmonizeParams()
    dask = params.dask if params else DaskParams()
    if sources or out is not None or raw_zone is not None:
        # paths as given (relative to the working folder), section values under root
        root = Path(root) if root is not None else (params.root if params else Path.cwd())
        where = nullcontext()
        given = list(sources) if sources else [resolve(root, s) for s in section.sources or ()]
        out = Path(out) if out is not None else _opt(root, section.out)
        zone_given = Path(raw_zone) if raw_zone is not None else _opt(root, section.raw_zone)
    else:
        # the section's paths as written, from the project folder: the harmonizer names
        # source files by the path it is given (pseudonymized), so the outputs do not
        # depend on where the project lives
        root = Path(root) if root is not None else params.root
        where = chdir(root)
        given = [Path(s) for s in section.sources or ()]
        out = Path(section.out) if section.out is not None else None
        zone_given = Path(section.raw_zone) if section.raw_zone is not None else None
    if not given or out is None:
        raise ConfigError(
            "params.yaml: harmonize: give sources and out (e.g. sources: [data/raw/demo], "
            "out: data/harmonized/demo)"
        )
    zone = zone_given if zone_given is not None else out.with_name(out.name + ".rawzone")
    config = section.harmonize_config()
    with where:
        if workers > 0:
            # a local cluster of its own (TLS with throwaway certificates, loopback dashboard)
            with replace(dask, address=None).client(root, n_workers=workers) as client:
                result = harmonize(given, out_dir=out, raw_zone=zone, config=config, client=client)
        else:
            result = harmonize(given, out_dir=out, raw_zone=zone, config=config)
    paths_in = [resolve(root, p) for p in given]
    out, zone = resolve(root, out), resolve(root, zone)
    totals, timeline = result.report["totals"], result.report["timeline"]
    message = (
        f"{len(result.report['files'])} files: {totals['records_in']} records in, "
        f"{totals['accepted']} accepted, {totals['quarantined']} quarantined, "
        f"{totals.get('duplicates', 0)} exact duplicates read once, "
        f"{totals.get('events_quarantined', 0)} events quarantined; "
        f"{timeline['patients']} patients, {timeline['events']} events -> {out}\n"
        f"data quality: {result.quality['summary']['overall']}; raw zone: {zone}"
    )
    lacking = result.report.get("patients_without_person", {})
    if lacking.get("patients"):  # e.g. NDJSON Observations read without their Patient file
        message += (
            f"\nwarning: {lacking['patients']} patients with {lacking['events']} events have "
            "no person record in any file read (no sex, birth date or site): a Patient or DM "
            "file missing? see report.json 'patients_without_person'"
        )
    return StageResult(
        "harmonize",
        result,
        params=section.to_dict(),
        inputs=tuple(paths_in),
        outputs=(out, zone),
        message=message,
        audited=True,
        failure=(
            f"{len(result.phi_findings)} identifiers from the inputs found in the outputs; "
            f"nothing was published ({out} and {zone} are as they were)"
            if result.phi_findings
            else None
        ),
    )


# --- model ----------------------------------------------------------------------------------


def load_spec(model: str | Path) -> Any:
    """The population spec of ``model``: a spec YAML file or a structural model's name
    (:meth:`twinlab.pkpd.PopulationSpec.default`)."""
    from twinlab.pkpd.models import model_names
    from twinlab.pkpd.population import PopulationSpec

    path = Path(model)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no spec file {path}")
        return PopulationSpec.from_yaml(path)
    if str(model) not in model_names():
        raise KeyError(
            f"unknown model {model!r}: give a spec YAML file or one of {', '.join(model_names())}"
        )
    return PopulationSpec.default(str(model))


def build_nonmem(
    timeline_dir: str | Path,
    *,
    conc_code: str,
    out: str | Path,
    pd_code: str | None = None,
    covariates: dict[str, str] | None = None,
) -> Any:
    """Read a harmonized timeline and write its NONMEM-style data set to ``out``
    (:func:`twinlab.pkpd.from_timeline`: the derived ``cov_age`` and ``cov_crcl_ml_min``,
    text covariates missing for some patients as the level ``unknown``).

    Returns
    -------
    NonmemData
    """
    from twinlab.pkpd.dataset import from_timeline, write_nonmem
    from twinlab.timeline import Cohort

    cohort = Cohort.read(timeline_dir)
    data = from_timeline(cohort, conc_code=conc_code, pd_code=pd_code, covariates=covariates)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_nonmem(data, out)
    return data


def fit_model(
    spec_source: str | Path,
    data_path: str | Path,
    out: str | Path,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    sampler: str = "nutpie",
    target_accept: float = 0.8,
    low_rank: bool = False,
    progress: bool | None = None,
    register_as: str | None = None,
    models_root: str | Path = "models",
) -> StageResult:
    """Fit ``spec_source`` to a NONMEM CSV with NUTS; write ``posterior.zarr``, ``spec.yaml``
    and ``summary.json`` to ``out``; register it as ``register_as`` (not served until the
    validation gate passes).

    Returns
    -------
    StageResult
        ``value`` is the :class:`~twinlab.pkpd.fit.FitResult`; ``summary["entry"]`` the
        registry entry when registered.
    """
    from twinlab.pkpd.dataset import read_nonmem
    from twinlab.pkpd.fit import fit as run_fit

    spec = load_spec(spec_source)
    data = read_nonmem(data_path, model=spec.model)
    result = run_fit(
        spec,
        data,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
        low_rank=low_rank,
        progress=progress,
    )
    out = Path(out)
    summary = result.summary()
    timings = result.timings  # run metadata: the audit log's, not the (reproducible) output
    with staged_dir(out) as folder:  # the fit's folder appears whole or not at all
        result.to_zarr(folder / "posterior.zarr")
        spec.to_yaml(folder / "spec.yaml")
        _write_json_exact(folder / "summary.json", summary)
    entry = None
    if register_as:
        from twinlab.pkpd.registry import register

        entry = register(result, register_as, root=models_root, data=data_path)
    return StageResult(
        "fit",
        result,
        params={
            "model": str(spec_source),
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "sampler": sampler,
            "target_accept": target_accept,
        },
        inputs=(Path(data_path),),
        outputs=(out,),
        seed=seed,
        summary={
            "max_rhat": summary["max_rhat"],
            "divergences": summary["divergences"],
            "timings": {k: round(float(v), 2) for k, v in timings.items()},
            **({"registered": entry.label} if entry is not None else {}),
        },
        message=(
            f"max R-hat {summary['max_rhat']:.3f}, min bulk ESS {summary['min_ess_bulk']:.0f}, "
            f"{summary['divergences']} divergences, {timings['total_s']:.1f} s "
            f"({summary['sampler']}) -> {out}"
        ),
    )


def fit_stage(
    params: PipelineParams, root: str | Path | None = None, *, progress: bool | None = None
) -> StageResult:
    """``fit``: the NONMEM data set from the timeline (:func:`build_nonmem`), the NUTS fit
    and its registration (:func:`fit_model`), all from the ``fit`` section."""
    root = Path(root) if root is not None else params.root
    cfg: FitParams = params.section("fit")
    _need(cfg, "timeline_dir", "conc_code", "data", "out")
    # the section's paths as written, from the project folder: the registry's model card
    # records the data file by the path it is given, so the outputs do not depend on where
    # the project lives
    with chdir(root):
        build_nonmem(
            str(cfg.timeline_dir),
            conc_code=str(cfg.conc_code),
            pd_code=cfg.pd_code,
            covariates=dict(cfg.covariates) if cfg.covariates else None,
            out=str(cfg.data),
        )
        result = fit_model(
            cfg.spec,
            str(cfg.data),
            str(cfg.out),
            draws=cfg.draws,
            tune=cfg.tune,
            chains=cfg.chains,
            seed=params.seed if cfg.seed is None else cfg.seed,
            sampler=cfg.sampler,
            target_accept=cfg.target_accept,
            low_rank=cfg.low_rank,
            progress=progress,
            register_as=cfg.register,
            models_root=cfg.models_root,
        )
    data_path = resolve(root, str(cfg.data))
    return replace(
        result,
        params={**cfg.to_dict(), "model": cfg.spec},
        inputs=(resolve(root, str(cfg.timeline_dir)), data_path),
        outputs=(data_path, resolve(root, str(cfg.out))),
    )


def validate_fit(
    fit_dir: str | Path,
    bounds: Any,
    *,
    seed: int,
    out: str | Path | None = None,
    register_as: str | None = None,
    models_root: str | Path = "models",
) -> StageResult:
    """The validation gate on the fit in ``fit_dir`` (:func:`twinlab.pkpd.gate.validate`):
    metrics to ``out`` (a DVC metric), the result recorded with the registered version of
    ``register_as`` that holds this fit (only a version that passed is served).

    Returns
    -------
    StageResult
        ``value`` is the :class:`~twinlab.pkpd.gate.GateResult` (``value.passed``).
    """
    from twinlab.audit import audit_event
    from twinlab.pkpd.fit import open_fit
    from twinlab.pkpd.gate import validate
    from twinlab.pkpd.registry import find_version, record_validation

    fit_dir = Path(fit_dir)
    result = open_fit(fit_dir / "posterior.zarr")
    version = find_version(result, register_as, root=models_root) if register_as else None
    gate = validate(result, bounds=bounds, seed=seed)
    metrics = gate.to_metrics()
    outputs: list[Path] = []
    if out is not None:
        # a DVC metric: values and pass/fail only (bounds are params.yaml's, the failures'
        # hints are in the message and recorded with the version)
        out = Path(out)
        _write_json_exact(out, gate_metrics(metrics))
        outputs.append(out)
    audit_event("model.validate", fit_dir, params=metrics["bounds"], new=metrics)
    message = str(gate)
    if register_as:
        record_validation(gate, register_as, version, root=models_root)
        served = "served" if gate.passed else "NOT served"
        message += f"\nrecorded with {register_as}/{version} under {models_root}: {served}"
        outputs.append(Path(models_root) / ".gate" / register_as)
    return StageResult(
        "validate",
        gate,
        params=metrics["bounds"],
        inputs=(fit_dir,),
        outputs=tuple(outputs),
        seed=seed,
        summary={"passed": bool(gate.passed)},
        message=message,
        failure=None if gate.passed else f"validation gate {gate.describe()}",
    )


def _write_json_exact(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def validate_stage(params: PipelineParams, root: str | Path | None = None) -> StageResult:
    """``validate``: the validation gate on the ``fit`` section's fit with the ``validate``
    section's bounds; the VPC draws from the section's ``seed`` (default: the pipeline's).
    A gate that fails is in ``value.passed``: the caller decides (``twinlab run`` exits 1)."""
    root = Path(root) if root is not None else params.root
    cfg: ValidateParams = _section(params, "validate", ValidateParams())
    fit = params.sections.get("fit")
    fit_dir = cfg.fit_dir or (fit.out if fit is not None else None)
    register_as = cfg.register or (fit.register if fit is not None else None)
    models_root = cfg.models_root or (fit.models_root if fit is not None else "models")
    if fit_dir is None:
        raise ConfigError("params.yaml: validate: give fit_dir (or the fit section's out)")
    return validate_fit(
        resolve(root, fit_dir),
        cfg.gate_bounds(),
        seed=params.seed if cfg.seed is None else cfg.seed,
        out=resolve(root, cfg.out) if cfg.out else None,
        register_as=register_as,
        models_root=resolve(root, models_root),
    )


# --- modelling --------------------------------------------------------------------------------


def simulate_stage(
    params: PipelineParams, root: str | Path | None = None, *, progress: bool = False
) -> StageResult:
    """``simulate``: the virtual cohort × the arms on Dask into the section's ``out``.

    Writes the engine's outputs (``result.zarr``, ``patients.parquet`` or with ``parts`` its
    parts written by the workers, ``patients/``, ``arms.parquet``, ``run.json``; the Dask
    performance report and timings beside them, outside DVC) and
    ``lineage.parquet`` (virtual patient → the real patient whose covariates it carries,
    the only patient-level link back to the cohort). Each ``held_out`` cohort (separately
    seeded new virtual patients of the same population, under some arms: the trial stage's
    PROCOVA ``history`` and ``planning`` data) is simulated too, into ``held_out/<name>/``
    (without timings). ``value`` is the :class:`~twinlab.simulate.SimulationResult`.
    """
    from twinlab.simulate import patients_path, run

    root = Path(root) if root is not None else params.root
    cfg: SimulateParams = params.section("simulate")
    scenario = scenario_from_params(cfg, seed=params.seed, root=root)
    out = resolve(root, cfg.out)
    held_out = {
        name: _held_out_scenario(cfg, name, h, seed=params.seed, root=root)
        for name, h in (cfg.held_out or {}).items()
    }
    with params.dask.client(root) as client:
        result = run(scenario, client=client, out=out, progress=progress, parts=cfg.parts)
        for name, other in held_out.items():
            # DVC tracks held_out/ whole: no wall times or Dask report inside
            run(other, client=client, out=out / "held_out" / name, profile=False)
    lineage = (
        result.patients_table(["vpid", "source"])
        .drop_duplicates("vpid")
        .sort_values("vpid")
        .reset_index(drop=True)
    )
    write_atomic(out / "lineage.parquet", lineage.to_parquet(index=False))
    description = scenario.population.describe()
    return StageResult(
        "simulate",
        result,
        params=cfg.to_dict(),
        inputs=(
            resolve(root, cfg.timeline_dir),
            resolve(root, cfg.models_root) / cfg.model,
            *([resolve(root, cfg.pd_spec)] if cfg.pd_spec else []),
        ),
        outputs=(
            *(out / n for n in ("result.zarr", "arms.parquet")),
            patients_path(out),
            *(out / "held_out" / name / "patients.parquet" for name in held_out),
        ),
        seed=params.seed,
        summary={
            "n_patients": scenario.population.n,
            "n_draws": scenario.population.n_draws,
            "arms": [a.name for a in scenario.arms],
            "population": json.loads(json.dumps(description, default=str)),
        },
        message=f"simulated {dict(result.dataset.sizes)} into {cfg.out}",
    )


def sensitivity_stage(params: PipelineParams, root: str | Path | None = None) -> StageResult:
    """``sensitivity``: Sobol (or Morris) indices of simulated outputs.

    Section keys: ``model`` (structural model), ``regimen``, ``times``, ``threshold_mg_l``,
    ``ranges`` (``{parameter: [low, high]}``), ``log`` (parameters sampled log-uniformly),
    ``fixed`` (other parameters), ``outputs``, ``method`` (``sobol`` or ``morris``), ``n``
    (Sobol base samples, a power of two) or ``trajectories`` (Morris), ``out`` (folder) and
    ``metrics_path``. ``value`` is the SobolResult or MorrisResult.
    """
    from twinlab.sensitivity import Problem, morris, sobol
    from twinlab.sensitivity.response import ModelResponse

    root = Path(root) if root is not None else params.root
    cfg = params.section("sensitivity")
    seed = params.seed
    problem = Problem.from_ranges({k: tuple(v) for k, v in cfg.ranges.items()}, log=cfg.log)
    arm = regimen_arms({"regimen": cfg.regimen.to_dict()})[0]
    func = ModelResponse(
        str(cfg.model),
        [arm],
        time_grid(_time_spec(cfg.times)),
        list(cfg.outputs),
        fixed=dict(cfg.fixed or {}),
        threshold=cfg.threshold_mg_l,
    )
    method = str(cfg.method)
    with params.dask.client(root) as client:
        if method == "sobol":
            result = sobol(func, problem, int(cfg.n), seed=seed, client=client)
        else:
            result = morris(func, problem, int(cfg.trajectories), seed=seed, client=client)
    out = resolve(root, cfg.out)
    details = result.to_dict()
    with staged_dir(out) as folder:  # appears whole or not at all
        result.to_frame().to_csv(folder / f"{method}.csv", index=False)
        # the full result beside the indices; the metrics file holds what DVC compares
        _write_json(folder / "sensitivity.json", details)
    metrics_path = resolve(root, cfg.metrics_path)
    _write_json(metrics_path, sensitivity_metrics(details))
    return StageResult(
        "sensitivity",
        result,
        params=cfg.to_dict(),
        outputs=(out / f"{method}.csv", out / "sensitivity.json", metrics_path),
        seed=seed,
        summary={"method": method, "evaluations": len(result.outputs)},
        message=f"sensitivity indices in {cfg.out} and {cfg.metrics_path}",
    )


def surrogate_stage(params: PipelineParams, root: str | Path | None = None) -> StageResult:
    """``surrogate``: train a surrogate of regimen × patient → outputs.

    Training runs (:func:`twinlab.surrogate.training_table`): the first ``n_patients``
    virtual patients the ``simulate`` stage simulated (its scenario, checked against the
    result it wrote; their individual ``inputs`` parameters) through every regimen of
    ``doses`` × ``intervals_h`` (``duration_h`` of treatment), simulated by the engine; the
    surrogate (``kind``: ``gp`` or ``gbm``) maps ``dose``, ``interval_h`` and the parameters to
    ``outputs``. It is bound to the twin's name, version and data hash, so a
    refitted twin makes it stale (:meth:`twinlab.surrogate.Surrogate.load`). ``value`` is the
    :class:`~twinlab.surrogate.Surrogate`.
    """
    from twinlab.pipeline.scenario import scenario_from_params
    from twinlab.simulate import patients_path
    from twinlab.surrogate import Surrogate, training_table

    root = Path(root) if root is not None else params.root
    cfg, sim = params.section("surrogate"), params.section("simulate")
    seed = params.seed
    # the simulate stage's own scenario: its first n_patients virtual patients, checked
    # against the result it wrote, not a separately drawn cohort
    scenario = scenario_from_params(sim, seed=seed, root=root)
    inputs, outputs = list(cfg.inputs), list(cfg.outputs)
    with params.dask.client(root) as client:
        table = training_table(
            scenario,
            n_patients=int(cfg.n_patients),
            inputs=inputs,
            outputs=outputs,
            doses=cfg.doses,
            intervals_h=cfg.intervals_h,
            duration_h=float(cfg.duration_h),
            times=time_grid(_time_spec(cfg.times)),
            result=resolve(root, sim.out),
            client=client,
            chunk_size=int(cfg.chunk_size),
        )
    keep = table.sample(n=min(len(table), int(cfg.max_train)), random_state=seed).sort_index()
    fit = scenario.population.describe()["fit"]  # the twin the population was drawn from
    binding = {"model": fit["name"], "version": fit["version"], "data_hash": fit["data_hash"]}
    surrogate = Surrogate.train(
        keep[["dose", "interval_h", *inputs]],
        keep[outputs],
        kind=str(cfg.kind),
        binding=binding,
        seed=seed,
        log_inputs=[
            c for c in inputs if c in (inputs if cfg.log_inputs is None else cfg.log_inputs)
        ],
        n_restarts=int(cfg.n_restarts),
    )
    out = resolve(root, cfg.out)
    with staged_dir(out) as folder:  # the model and its card appear together or not at all
        surrogate.save(folder)
    metrics = {"kind": surrogate.kind, "binding": surrogate.binding, "error": surrogate.error}
    metrics_path = resolve(root, cfg.metrics_path)
    _write_json(metrics_path, surrogate_metrics(json.loads(json.dumps(metrics, default=float))))
    worst = min(v["r2"] for v in surrogate.error.values() if isinstance(v, dict))
    return StageResult(
        "surrogate",
        surrogate,
        params=cfg.to_dict(),
        inputs=(
            resolve(root, sim.models_root) / sim.model,
            patients_path(resolve(root, sim.out)),
        ),
        outputs=(out, metrics_path),
        seed=seed,
        summary={"provenance": json.loads(json.dumps(surrogate.provenance(), default=str))},
        message=f"surrogate in {cfg.out} (held-out R2 >= {worst:.4f})",
    )


def _patients_file(path: Path) -> Path:
    """The simulate stage's per-patient table that ``path`` names: the file, or the folder
    of parts that a run with ``simulate.parts`` writes in the place of ``patients.parquet``."""
    from twinlab.simulate.result import PARTS

    if not path.exists() and path.name == "patients.parquet" and (path.parent / PARTS).is_dir():
        return path.parent / PARTS
    return path


def _arms(simulate: SimulateParams) -> list:
    return regimen_arms(
        simulate.arm_mappings(), simulate.regimen.to_dict() if simulate.regimen else None
    )


def _time_spec(times: Any) -> Any:
    return times.to_dict() if hasattr(times, "to_dict") else list(times)


def _held_out_scenario(
    simulate: SimulateParams, name: str, cohort: Any, *, seed: int, root: Path
) -> Any:
    """The scenario of held-out cohort ``name``: ``cohort.n_patients`` new virtual patients of
    the section's population (one posterior draw each), separately seeded so they are
    disjoint from the simulated ones, under ``cohort.arms``. The seed streams are named
    ``trial.<name>``, as when the trial stage drew these cohorts itself, so its outputs
    stay the same."""
    section = replace(
        simulate,
        scenario=name,
        n_patients=int(cohort.n_patients),
        n_draws=1,
        arms={a: simulate.arms[a] for a in cohort.arms},
        held_out=None,
    )
    return scenario_from_params(section, seed=derive_seed(seed, f"trial.{name}"), root=root)


def _read_held_out(simulate: SimulateParams, name: str, arms: list[str], root: Path) -> Any:
    """The simulate stage's held-out cohort ``name`` (its patients table), which must have
    been simulated under ``arms``."""
    cohort = (simulate.held_out or {}).get(name)
    missing = sorted(set(arms) - set(cohort.arms)) if cohort else arms
    if missing:
        raise ConfigError(
            f"simulate.held_out.{name} must simulate the arm(s) {missing} for the trial "
            f"stage, e.g. held_out: {{{name}: {{n_patients: 1000, arms: {list(arms)}}}}}"
        )
    path = resolve(root, simulate.out) / "held_out" / name / "patients.parquet"
    if not path.is_file():
        raise ConfigError(f"no held-out cohort at {path}: run the simulate stage first")
    return pd.read_parquet(path)


def trial_stage(params: PipelineParams, root: str | Path | None = None) -> StageResult:
    """``trial``: operating characteristics of a design – unadjusted, by its declared
    analysis and with digital-twin prognostic adjustment (PROCOVA) – and dose selection.

    Section keys: ``patients`` (the simulate stage's per-patient table), ``design``
    (:meth:`twinlab.trials.Design.from_dict`), ``n_replicates``, ``n_values`` (power curve),
    ``procova`` (the prognostic model's ``features`` and ``kind``, trained on the simulate
    stage's held-out ``history`` cohort under the control arm, plus the design's outcome
    noise), ``dose`` (:func:`twinlab.trials.recommend_regimen` arguments), ``out`` and
    ``metrics_path``.

    PROCOVA is planned as Schuler et al. (2021) and the EMA qualification do, out of sample
    and allowing for effects that vary with the score: the simulate stage's held-out
    ``planning`` cohort (every arm of the design) gives each arm's outcome variance and
    correlation with the score, :func:`twinlab.trials.plan_variance_reduction` the planned
    reduction per comparison (pooled residual variance of the ANCOVA), reported beside the
    one each analysis realises in the simulated trials, with the adjusted N and patients
    saved of :func:`twinlab.trials.procova_saving`.

    ``value`` is the metrics written to ``metrics_path``.
    """
    from twinlab.simulate import read_patients
    from twinlab.trials import (
        PrognosticModel,
        plan_variance_reduction,
        power_curve,
        procova_saving,
        recommend_regimen,
        simulate_trials,
        target_attainment,
    )

    root = Path(root) if root is not None else params.root
    cfg, sim = params.section("trial"), params.section("simulate")
    seed = params.seed
    design = cfg.design_object()
    final = resolve(root, cfg.out)
    with staged_dir(final) as out:  # the trial's folder appears whole or not at all
        patients_file = _patients_file(resolve(root, cfg.patients))
        patients = read_patients(patients_file)
        n_rep = int(cfg.n_replicates)
        procova = cfg.procova
        # PROCOVA's data, simulated by the simulate stage: a held-out control cohort to train the
        # prognostic model on, and a held-out cohort under every arm of the design to plan with
        history = _read_held_out(sim, "history", [design.control], root)
        history = history[history["arm"] == design.control].reset_index(drop=True)
        planning = _read_held_out(sim, "planning", list(design.arm_names), root)
        planning = planning[planning["arm"].isin(design.arm_names)].reset_index(drop=True)
        target = design.endpoint.column
        rng = np.random.default_rng(derive_seed(seed, "trial.history_noise"))
        history[target] = history[target] + design.outcome_sd * rng.standard_normal(len(history))
        prognostic = PrognosticModel.train(
            history, list(procova.features), target, kind=str(procova.kind), seed=seed
        )
        # the unadjusted comparison, the declared analysis and the twin-adjusted one (the
        # declared covariates plus the prognostic score): PROCOVA's gain over each is on record
        designs = {
            "unadjusted": design.replace_with(
                analysis="difference", covariates=[], name=f"{design.name} (unadjusted)"
            ),
            "ancova": design,
            "procova": design.replace_with(analysis="procova", name=f"{design.name} + PROCOVA"),
        }
        # planned variance reductions, out of sample: the held-out cohort under every arm
        plans = {
            label: plan_variance_reduction(
                d, planning, prognostic=prognostic, method=procova.planning
            )
            for label, d in designs.items()
            if label != "unadjusted"
        }
        metrics: dict[str, Any] = {"design": design.to_dict(), "n_replicates": n_rep}
        curves = []
        with params.dask.client(root) as client:
            for label, d in designs.items():
                kw = {"prognostic": prognostic} if label == "procova" else {}
                result = simulate_trials(
                    d, patients, n_replicates=n_rep, seed=seed, client=client, **kw
                )
                if label in plans:
                    result = result.with_plan(plans[label])
                result.write(out / label)
                null = simulate_trials(
                    d, patients, n_replicates=n_rep, seed=seed, client=client, null=True, **kw
                )
                metrics[label] = {
                    "power": {k: float(v) for k, v in result.power.items()},
                    "type_i_error": {k: float(v) for k, v in null.power.items()},
                }
                summary = result.summary().to_dict("records")
                # Var(estimate) / Var(unadjusted estimate) realised in the replicates, the
                # reduction 1 - ratio, and (adjusted analyses) the planned reduction beside it
                keys = ["variance_ratio", "variance_reduction", "variance_reduction_mc_se"]
                if label in plans:
                    keys.append("planned_variance_reduction")
                for key in keys:
                    metrics[label][key] = {str(r["comparison"]): float(r[key]) for r in summary}
                curve = power_curve(
                    d,
                    patients,
                    [int(n) for n in cfg.n_values],
                    n_replicates=max(n_rep // 4, 100),
                    seed=seed,
                    client=client,
                    **kw,
                )
                curves.append(curve.assign(analysis=label))
        curve = pd.concat(curves, ignore_index=True)
        curve.to_csv(out / "power_curve.csv", index=False)
        if cfg.plots_path:
            plots_path = resolve(root, cfg.plots_path)
            write_atomic(plots_path, power_curve_series(curve).to_csv(index=False))
        metrics["prognostic"] = {
            # the score's held-out correlation with the control outcome only: descriptive
            "heldout_rho": float(prognostic.provenance()["heldout_rho"]),
            # per comparison: arm-wise correlations with the score, the planned reduction, and
            # the adjusted N and patients saved against the unadjusted trial of design.n_total
            "planning": {
                "method": "ancova",
                "n_patients": int(planning["vpid"].nunique()),
                "comparisons": {
                    str(r["comparison"]): {
                        "rho_control": float(r["rho_control"]),
                        "rho_treated": float(r["rho_treated"]),
                        **procova_saving(
                            design.n_total, variance_reduction=float(r["variance_reduction"])
                        ),
                    }
                    for r in plans["procova"].to_dict("records")
                },
            },
            "prognostic": json.loads(json.dumps(prognostic.provenance(), default=str)),
        }
        dose = cfg.dose
        bins = {k: [float(x) for x in v] for k, v in (dose.bins or {}).items()}
        by = list(dose.by)
        pta = target_attainment(
            patients,
            metric=dose.metric,
            target=float(dose.target),
            direction=dose.direction,
            by=by,
            bins=bins,
            safety_metric=dose.safety_metric,
            safety_threshold=dose.safety_threshold,
        )
        pta.to_csv(out / "target_attainment.csv", index=False)
        order = list(dose.order or []) or [a.name for a in _arms(sim) if not a.is_placebo]
        rec = recommend_regimen(
            patients,
            metric=dose.metric,
            target=float(dose.target),
            direction=dose.direction,
            pta_goal=float(dose.pta_goal),
            safety_limit=float(dose.safety_limit),
            by=by,
            bins=bins,
            safety_metric=dose.safety_metric,
            safety_threshold=dose.safety_threshold,
            order=order,
        )
        rec.to_csv(out / "recommendation.csv", index=False)
        metrics["dose"] = {
            ", ".join(f"{b}={r[b]}" for b in by) or "all": {
                "regimen": None if pd.isna(r["recommended"]) else str(r["recommended"]),
                "probability": float(r["probability"]),
            }
            for r in rec.to_dict("records")
        }
        metrics = json.loads(json.dumps(metrics, default=str))
        # the full result (design, provenance, planning, dose) in the stage's output folder;
        # the metrics file holds what DVC compares across experiments
        _write_json(out / "trial.json", metrics)
    metrics_path = resolve(root, cfg.metrics_path)
    _write_json(metrics_path, trial_metrics(metrics))
    return StageResult(
        "trial",
        metrics,
        params=cfg.to_dict(),
        inputs=(patients_file,),
        outputs=(final, metrics_path),
        seed=seed,
        summary={"prognostic": metrics["prognostic"]["prognostic"]},
        message=f"trial results in {cfg.out} and {cfg.metrics_path}",
    )
