"""The pipeline's modelling stages: a ``params.yaml`` section in, library calls, files out.

Each function here is what one DVC stage runs (through the ``twinlab`` command), written so a
modeler can call it from a notebook with the same mapping: nothing in it is specific to the
demo but the defaults of ``params.yaml``. A section is checked by its typed class
(:mod:`twinlab.pipeline.params`) before anything runs, whether it comes as that class or as
a plain mapping. Every stage appends a ``stage.run`` entry with its run record to the active
audit log (:func:`twinlab.audit.audit_stage`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.pipeline.metrics import (
    power_curve_series,
    sensitivity_metrics,
    surrogate_metrics,
    trial_metrics,
)
from twinlab.pipeline.params import (
    CohortParams,
    DaskParams,
    SensitivityParams,
    SimulateParams,
    SurrogateParams,
    TrialParams,
)

__all__ = [
    "regimen_arms",
    "scenario_from_params",
    "simulate_stage",
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


def _path(root: Path, value: str | Path) -> Path:
    value = Path(value)
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
    from twinlab.virtual import from_cohort
    from twinlab.pkpd import PopulationSpec
    from twinlab.pkpd import load as load_model

    cfg = _cohort_params(section)
    root = Path(root)
    model = load_model(cfg.model, cfg.model_version, root=_path(root, cfg.models_root))
    extra = None
    if cfg.pd_spec:
        extra = PopulationSpec.from_yaml(_path(root, cfg.pd_spec))
    return from_cohort(
        _path(root, cfg.timeline_dir),
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


def _given(section: Mapping[str, Any] | Any) -> Any:
    """What the audit records as the stage's parameters: the mapping as given, or the
    typed section's values."""
    return _auditable(section if isinstance(section, Mapping) else section.to_dict())


def simulate_stage(
    section: Mapping[str, Any] | SimulateParams,
    *,
    seed: int,
    root: str | Path = ".",
    dask: Mapping[str, Any] | DaskParams | None = None,
    progress: bool = False,
) -> Any:
    """Run the ``simulate`` stage: virtual cohort × arms on Dask into ``section['out']``.

    Writes the engine's outputs (``result.zarr``, ``patients.parquet``, ``arms.parquet``,
    ``run.json``; the Dask performance report and timings beside them) and ``lineage.parquet``
    (virtual patient → the real patient whose covariates it carries, the only patient-level
    link back to the cohort), and audits the run.

    Returns
    -------
    SimulationResult
    """
    from twinlab.audit import audit_stage
    from twinlab.simulate import run

    root = Path(root)
    cfg = SimulateParams.from_mapping(section)
    dask_cfg = DaskParams.from_mapping(dask or {})
    scenario = scenario_from_params(cfg, seed=seed, root=root)
    out = _path(root, cfg.out)
    with dask_cfg.client(root) as client:
        result = run(scenario, client=client, out=out, progress=progress)
    lineage = (
        result.patients[["vpid", "source"]]
        .drop_duplicates("vpid")
        .sort_values("vpid")
        .reset_index(drop=True)
    )
    lineage.to_parquet(out / "lineage.parquet", index=False)
    description = scenario.population.describe()
    audit_stage(
        "simulate",
        params=_given(section),
        inputs=[
            _path(root, cfg.timeline_dir),
            _path(root, cfg.models_root) / cfg.model,
            *([_path(root, cfg.pd_spec)] if cfg.pd_spec else []),
        ],
        outputs=[out / n for n in ("result.zarr", "patients.parquet", "arms.parquet")],
        seed=seed,
        summary={
            "n_patients": scenario.population.n,
            "n_draws": scenario.population.n_draws,
            "arms": [a.name for a in scenario.arms],
            "population": json.loads(json.dumps(description, default=str)),
        },
    )
    return result


def _auditable(value: Any) -> Any:
    """``value`` with non-finite numbers as text (``.inf`` bin edges): audit entries are
    strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): _auditable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_auditable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _dask(dask: Mapping[str, Any] | DaskParams | None, root: Path) -> Any:
    """The stage's Dask client (a context manager): ``dask`` checked as :class:`DaskParams`."""
    return DaskParams.from_mapping(dask or {}).client(root)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def sensitivity_stage(
    section: Mapping[str, Any] | SensitivityParams,
    *,
    seed: int,
    root: str | Path = ".",
    dask: Mapping[str, Any] | DaskParams | None = None,
) -> Any:
    """Run the ``sensitivity`` stage: Sobol (or Morris) indices of simulated outputs.

    Keys: ``model`` (structural model), ``regimen``, ``times``, ``threshold_mg_l``,
    ``ranges`` (``{parameter: [low, high]}``), ``log`` (parameters sampled log-uniformly),
    ``fixed`` (other parameters), ``outputs``, ``method`` (``sobol`` or ``morris``), ``n``
    (Sobol base samples, a power of two) or ``trajectories`` (Morris), ``out`` (folder) and
    ``metrics_path``.

    Returns
    -------
    SobolResult or MorrisResult
    """
    from twinlab.audit import audit_stage
    from twinlab.sensitivity import Problem, morris, sobol
    from twinlab.sensitivity.response import ModelResponse

    root = Path(root)
    cfg = SensitivityParams.from_mapping(section)
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
    with _dask(dask, root) as client:
        if method == "sobol":
            result = sobol(func, problem, int(cfg.n), seed=seed, client=client)
        else:
            result = morris(func, problem, int(cfg.trajectories), seed=seed, client=client)
    out = _path(root, cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(out / f"{method}.csv", index=False)
    details = result.to_dict()
    # the full result beside the indices; the metrics file holds what DVC compares
    _write_json(out / "sensitivity.json", details)
    metrics_path = _path(root, cfg.metrics_path)
    _write_json(metrics_path, sensitivity_metrics(details))
    audit_stage(
        "sensitivity",
        params=_given(section),
        inputs=[],
        outputs=[out / f"{method}.csv", out / "sensitivity.json", metrics_path],
        seed=seed,
        summary={"method": method, "evaluations": len(result.outputs)},
    )
    return result


def surrogate_stage(
    section: Mapping[str, Any] | SurrogateParams,
    simulate: Mapping[str, Any] | SimulateParams,
    *,
    seed: int,
    root: str | Path = ".",
    dask: Mapping[str, Any] | DaskParams | None = None,
) -> Any:
    """Run the ``surrogate`` stage: train an emulator of regimen × patient → outputs.

    Training runs: ``n_patients`` virtual patients of the twin (the ``simulate`` section's
    cohort, model and assumed PD; their individual ``inputs`` parameters) through every
    regimen of ``doses`` × ``intervals_h`` (``duration_h`` of treatment), simulated by the
    engine; the emulator (``kind``: ``gp`` or ``gbm``) maps ``dose``, ``interval_h`` and the
    parameters to ``outputs``. It is bound to the twin's name, version and data hash, so a
    refitted twin makes it stale (:meth:`twinlab.surrogate.Surrogate.load`).

    Returns
    -------
    Surrogate
    """
    from twinlab.audit import audit_stage
    from twinlab.virtual import chunk_rng
    from twinlab.sensitivity import sweep
    from twinlab.sensitivity.response import ModelResponse
    from twinlab.simulate import Arm, Regimen
    from twinlab.surrogate import Surrogate

    root = Path(root)
    cfg = SurrogateParams.from_mapping(section)
    sim = SimulateParams.from_mapping(simulate)
    population = virtual_cohort_from_params(
        replace(sim, n_patients=int(cfg.n_patients), n_draws=1), root=root
    )
    chunk = population.chunk(0, population.n, chunk_rng(seed, 0))
    params = {k: v[0] for k, v in chunk.params.items()}
    inputs = list(cfg.inputs)
    fixed = {k: float(np.median(v)) for k, v in params.items() if k not in inputs}
    regimens = [(float(d), float(i)) for d in cfg.doses for i in cfg.intervals_h]
    arms = [
        Arm(f"{d:g}mg/{i:g}h", Regimen(d, interval_h=i, duration_h=float(cfg.duration_h)))
        for d, i in regimens
    ]
    outputs = list(cfg.outputs)
    func = ModelResponse(
        population.model,
        arms,
        time_grid(_time_spec(cfg.times)),
        outputs,
        fixed=fixed,
        threshold=sim.threshold_mg_l,
    )
    samples = pd.DataFrame({k: params[k] for k in inputs})
    with _dask(dask, root) as client:
        wide = sweep(func, samples, client=client, chunk_size=int(cfg.chunk_size))
    rows = []
    for arm, (dose, interval) in zip(arms, regimens, strict=True):
        block = samples.copy()
        block.insert(0, "interval_h", interval)
        block.insert(0, "dose", dose)
        for o in outputs:
            block[o] = wide[f"{o}|{arm.name}"].to_numpy()
        rows.append(block)
    table = pd.concat(rows, ignore_index=True)
    keep = table.sample(n=min(len(table), int(cfg.max_train)), random_state=seed).sort_index()
    fit = population.describe()["fit"]  # the twin the population was drawn from
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
    out = _path(root, cfg.out)
    surrogate.save(out)
    metrics = {"kind": surrogate.kind, "binding": surrogate.binding, "error": surrogate.error}
    metrics_path = _path(root, cfg.metrics_path)
    _write_json(metrics_path, surrogate_metrics(json.loads(json.dumps(metrics, default=float))))
    audit_stage(
        "surrogate",
        params=_given(section),
        inputs=[_path(root, sim.models_root) / sim.model],
        outputs=[out, metrics_path],
        seed=seed,
        summary={"provenance": json.loads(json.dumps(surrogate.provenance(), default=str))},
    )
    return surrogate


def _arms(simulate: SimulateParams) -> list:
    return regimen_arms(
        simulate.arm_mappings(), simulate.regimen.to_dict() if simulate.regimen else None
    )


def _time_spec(times: Any) -> Any:
    return times.to_dict() if hasattr(times, "to_dict") else list(times)


def _history(
    simulate: SimulateParams,
    n_patients: int,
    *,
    seed: int,
    root: Path,
    arms: list[str] | None = None,
) -> pd.DataFrame:
    """A separately seeded virtual cohort, disjoint from every trial replicate's patients:
    under the control arm only (the prognostic model's training data), or under ``arms``
    (the planning data: every arm of the design)."""
    from twinlab.simulate import run

    if arms is None:
        control = next(a for a in _arms(simulate) if a.is_placebo)
        chosen: dict[str, Any] = {control.name: None}
    else:
        unknown = [a for a in arms if a not in simulate.arms]
        if unknown:
            raise ValueError(f"design arm(s) {unknown} are not arms of the simulate section")
        chosen = {a: simulate.arms[a] for a in arms}
    section = replace(
        simulate,
        scenario="history" if arms is None else "planning",
        n_patients=int(n_patients),
        n_draws=1,
        arms=chosen,
    )
    return run(scenario_from_params(section, seed=seed, root=root)).patients


def trial_stage(
    section: Mapping[str, Any] | TrialParams,
    simulate: Mapping[str, Any] | SimulateParams,
    *,
    seed: int,
    root: str | Path = ".",
    dask: Mapping[str, Any] | DaskParams | None = None,
) -> dict[str, Any]:
    """Run the ``trial`` stage: operating characteristics of a design – unadjusted, by its
    declared analysis and with digital-twin prognostic adjustment (PROCOVA) – and dose
    selection.

    Keys: ``patients`` (the simulate stage's per-patient table), ``design``
    (:meth:`twinlab.trials.Design.from_dict`), ``n_replicates``, ``n_values`` (power curve),
    ``procova`` (``n_patients`` of a separately seeded virtual control cohort, its
    ``features`` and model ``kind``), ``dose`` (:func:`twinlab.trials.recommend_regimen`
    arguments), ``out`` and ``metrics_path``.

    PROCOVA is planned as Schuler et al. (2021) and the EMA qualification do, out of sample
    and allowing for effects that vary with the score: a second separately seeded virtual
    cohort (``n_patients``, every arm of the design) gives each arm's outcome variance and
    correlation with the score, :func:`twinlab.trials.plan_variance_reduction` the planned
    reduction per comparison (pooled residual variance of the ANCOVA), reported beside the
    one each analysis realises in the simulated trials, with the adjusted N and patients
    saved of :func:`twinlab.trials.procova_saving`.

    Returns
    -------
    dict
        The full result, written to ``out/trial.json``; ``metrics_path`` gets the numbers
        DVC compares (:func:`twinlab.pipeline.metrics.trial_metrics`).
    """
    from twinlab.audit import audit_stage
    from twinlab.trials import (
        PrognosticModel,
        plan_variance_reduction,
        power_curve,
        procova_saving,
        recommend_regimen,
        simulate_trials,
        target_attainment,
    )

    root = Path(root)
    cfg = TrialParams.from_mapping(section)
    sim = SimulateParams.from_mapping(simulate)
    design = cfg.design_object()
    out = _path(root, cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    patients_file = _path(root, cfg.patients)
    patients = pd.read_parquet(patients_file)
    n_rep = int(cfg.n_replicates)
    procova = cfg.procova
    history = _history(sim, procova.n_patients, seed=seed + 1, root=root)
    target = design.endpoint.column
    rng = np.random.default_rng(seed + 1)
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
    # planned variance reductions, out of sample: a separately seeded cohort under every arm
    planning = _history(
        sim, procova.n_patients, seed=seed + 2, root=root, arms=list(design.arm_names)
    )
    plans = {
        label: plan_variance_reduction(d, planning, prognostic=prognostic, method=procova.planning)
        for label, d in designs.items()
        if label != "unadjusted"
    }
    metrics: dict[str, Any] = {"design": design.to_dict(), "n_replicates": n_rep}
    curves = []
    with _dask(dask, root) as client:
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
        plots_path = _path(root, cfg.plots_path)
        plots_path.parent.mkdir(parents=True, exist_ok=True)
        power_curve_series(curve).to_csv(plots_path, index=False)
    metrics["prognostic"] = {
        # the score's held-out correlation with the control outcome only: descriptive
        "heldout_rho": float(prognostic.provenance()["heldout_rho"]),
        # per comparison: arm-wise correlations with the score, the planned reduction, and
        # the adjusted N and patients saved against the unadjusted trial of design.n_total
        "planning": {
            "method": "ancova",
            "n_patients": int(procova.n_patients),
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
    metrics_path = _path(root, cfg.metrics_path)
    _write_json(metrics_path, trial_metrics(metrics))
    audit_stage(
        "trial",
        params=_given(section),
        inputs=[patients_file],
        outputs=[out, metrics_path],
        seed=seed,
        summary={"prognostic": metrics["prognostic"]["prognostic"]},
    )
    return metrics
