"""Trial analyses and per-subject prognostic scores.

Power and PROCOVA sample size are :mod:`twinlab.trials.analytic`'s formulas (aggregate,
``read_aggregate``). Prognostic scores (the PROCOVA covariate) come from a
:class:`twinlab.trials.prognostic.PrognosticModel` trained on the control arm of a
simulation run of the pinned twin version and applied to the enrolled subjects'
de-identified baseline covariates; the response names the twin's version, the run and the
training data's hash (patient-level: ``read_patient_level``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from twinlab.api import results
from twinlab.api.auth import requires
from twinlab.api.ownership import RunAccess
from twinlab.api.settings import ApiSettings
from twinlab.api.tokens import Principal

__all__ = ["trials_router"]

#: smallest standardized effect (delta / sd) planned for: below it no trial size is finite
_MIN_EFFECT = 1e-3


class PowerRequest(BaseModel):
    """A two-arm (PROCOVA) ANCOVA design."""

    model_config = ConfigDict(extra="forbid")
    delta: float = Field(gt=0, le=1e6, description="treatment effect")
    sd: float = Field(gt=0, le=1e6, description="outcome SD (unadjusted)")
    n_total: int = Field(ge=4, le=1_000_000)
    rho: float = Field(0.0, ge=0, lt=1, description="correlation of score and outcome")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    sided: Literal[1, 2] = 2
    ratio: float = Field(1.0, gt=0.01, le=100)


class PowerResponse(BaseModel):
    """Power with and without the prognostic covariate."""

    power: float
    power_unadjusted: float


class SampleSizeRequest(BaseModel):
    """Target power of a two-arm PROCOVA design."""

    model_config = ConfigDict(extra="forbid")
    delta: float = Field(gt=0, le=1e6)
    sd: float = Field(gt=0, le=1e6)
    rho: float = Field(ge=0, lt=0.99)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    power: float = Field(0.8, ge=0.5, lt=0.999)
    sided: Literal[1, 2] = 2
    ratio: float = Field(1.0, gt=0.01, le=100)


class SampleSizeResponse(BaseModel):
    """Total sizes of the unadjusted and the PROCOVA trial."""

    n_unadjusted: int
    n_procova: int
    saving: dict[str, float]


class DoseRequest(BaseModel):
    """Target attainment and safety of a run's arms: which regimen to recommend."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
    metric: Literal[
        "auc", "auc_tau", "cmax", "ctrough", "t_above", "effect_end", "effect_cfb", "effect_pcfb"
    ]
    target: float = Field(ge=-1e9, le=1e9)
    direction: Literal[">=", "<="] = ">="
    pta_goal: float = Field(0.9, gt=0, le=1)
    safety_metric: Literal["cmax", "auc", "auc_tau", "ctrough"] | None = None
    safety_threshold: float | None = Field(None, ge=0, le=1e9)
    safety_limit: float = Field(0.1, ge=0, le=1)


class DoseResponse(BaseModel):
    """The lowest-exposure arm meeting the goals (``None``: none does), and how sure."""

    run: str
    recommended: str | None
    probability: float | None
    pta_mean: float | None
    p_safety_mean: float | None
    shares: dict[str, float]


class Subject(BaseModel):
    """An enrolled subject: a pseudonymous id and its baseline covariates (left out: the
    de-identified baseline its twins in the run carry)."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    covariates: (
        dict[
            Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")],
            Annotated[float, Field(ge=-1e6, le=1e6)],
        ]
        | None
    ) = Field(None, max_length=20)


class ScoresRequest(BaseModel):
    """Subjects to score with the prognostic model of a run's control arm."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
    control_arm: str = Field(max_length=40)
    target: str = Field("effect_cfb", pattern=r"^[a-z_]{1,30}$")
    kind: Literal["linear", "gbm"] = "linear"
    subjects: list[Subject] = Field(min_length=1, max_length=5000)


class ScoresResponse(BaseModel):
    """Scores and what made them: the twin version, the run and the model's provenance."""

    run: str
    twin: dict[str, Any]
    model: dict[str, Any]
    scores: list[dict[str, Any]]


@functools.lru_cache(maxsize=8)
def _model(folder: str, mtime: float, arm: str, target: str, kind: str) -> Any:
    """The prognostic model of a run's arm, on the covariates the twin's population needs."""
    from twinlab.trials.prognostic import PrognosticModel

    run = json.loads((Path(folder) / "run.json").read_text())
    population = (run.get("scenario") or {}).get("population") or {}
    required = list((population.get("covariates") or {}).get("required") or [])

    table = results.read_patients(Path(folder))
    control = table[table["arm"] == arm]
    if control.empty:
        raise ValueError(f"run has no arm {arm!r}")
    if target not in control or target in results._ID_COLUMNS:
        raise ValueError(f"run has no outcome {target!r}")
    features = [c for c in required if c in control] or [
        c for c in ("WT", "CRCL", "CYP2C9", "AGE", "SEX") if c in control
    ]
    if control[target].nunique() < 2:
        raise ValueError(f"outcome {target!r} does not vary in arm {arm!r}: nothing to learn")
    model = PrognosticModel.train(control, features, target, kind=kind, seed=0)
    if not np.isfinite(model.heldout_rho):
        raise ValueError(
            f"the prognostic model of {target!r} in arm {arm!r} has no held-out correlation "
            "(its predictions do not vary): choose another outcome or control arm"
        )
    return model


def _baselines(folder: Path, subjects: list[Subject], features: list[str]) -> pd.DataFrame:
    """Each subject's baseline: as given, else the de-identified covariates its twins in the
    run carry (``source`` = the subject's pseudonym)."""
    need = [s.subject for s in subjects if s.covariates is None]
    known: dict[str, dict[str, float]] = {}
    if need:
        have = results.read_patients(folder, ["source", *features])
        have = have[have["source"].astype(str).isin(need)].drop_duplicates("source")
        known = {str(r.pop("source")): r for r in have.to_dict("records")}
        if len(known) < len(set(need)):
            raise HTTPException(
                400, f"{len(set(need) - set(known))} subjects have no twin in this run"
            )
    return pd.DataFrame(
        [s.covariates if s.covariates is not None else known[s.subject] for s in subjects]
    )


def trials_router(settings: ApiSettings, runs: RunAccess) -> APIRouter:
    """The ``/v1/trials`` and ``/v1/prognostic-scores`` routes (runs read under ``runs``'
    ownership rule)."""
    from twinlab.trials.analytic import (
        ancova_power,
        ancova_sample_size,
        procova_power,
        procova_sample_size,
        procova_saving,
    )

    router = APIRouter(tags=["trials"])

    def _effect(delta: float, sd: float) -> None:
        if delta / sd < _MIN_EFFECT:
            raise HTTPException(
                400, f"effect size delta/sd below {_MIN_EFFECT}: no trial detects it"
            )

    @router.post("/v1/trials/power", dependencies=[Depends(requires("read_aggregate"))])
    def power(body: PowerRequest) -> PowerResponse:
        """Power of the design with the prognostic score (PROCOVA) and without."""
        common = {"alpha": body.alpha, "sided": body.sided, "ratio": body.ratio}
        _effect(body.delta, body.sd)
        try:
            with np.errstate(all="ignore"):
                adj = procova_power(body.delta, body.sd, body.n_total, rho=body.rho, **common)
                raw = ancova_power(body.delta, body.sd, body.n_total, **common)
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise HTTPException(400, str(exc) or type(exc).__name__) from None
        return PowerResponse(power=float(adj), power_unadjusted=float(raw))

    @router.post("/v1/trials/sample-size", dependencies=[Depends(requires("read_aggregate"))])
    def sample_size(body: SampleSizeRequest) -> SampleSizeResponse:
        """PROCOVA sample size (Schuler et al. 2021) beside the unadjusted one."""
        common = {
            "alpha": body.alpha,
            "power": body.power,
            "sided": body.sided,
            "ratio": body.ratio,
        }
        _effect(body.delta, body.sd)
        try:
            with np.errstate(all="ignore"):
                n_adj = procova_sample_size(body.delta, body.sd, rho=body.rho, **common)
                n_raw = ancova_sample_size(body.delta, body.sd, **common)
            saving = procova_saving(n_raw, body.rho)
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise HTTPException(400, str(exc) or type(exc).__name__) from None
        return SampleSizeResponse(
            n_unadjusted=int(n_raw),
            n_procova=int(n_adj),
            saving={k: float(v) for k, v in saving.items()},
        )

    @router.post("/v1/trials/dose")
    def dose(
        request: Request,
        body: DoseRequest,
        who: Annotated[Principal, Depends(requires("read_aggregate"))],
    ) -> DoseResponse:
        """Recommended regimen of a run (:func:`twinlab.trials.dose.recommend_regimen`, the
        whole population; aggregate-only callers only when it passes the disclosure rule)."""
        from twinlab.trials.dose import recommend_regimen

        folder = runs.folder(request, who, body.run)
        if (body.safety_metric is None) != (body.safety_threshold is None):
            raise HTTPException(400, "give safety_metric and safety_threshold together")
        if who.aggregate_only:
            try:
                results.population_summary(folder, metrics=["cmax"], k=settings.min_cell)
            except results.DisclosureRefused as exc:
                raise HTTPException(403, str(exc)) from None
        table = results.read_patients(folder)
        try:
            out = recommend_regimen(
                table, metric=body.metric, target=body.target, direction=body.direction,
                pta_goal=body.pta_goal, safety_limit=body.safety_limit,
                safety_metric=body.safety_metric, safety_threshold=body.safety_threshold,
            )  # fmt: skip
        except (KeyError, ValueError) as exc:
            raise HTTPException(400, str(exc.args[0] if exc.args else exc)) from None
        row = out.iloc[0].to_dict()

        def num(v: Any) -> float | None:
            return None if v is None or pd.isna(v) else float(v)

        return DoseResponse(
            run=body.run,
            recommended=None if pd.isna(row.get("recommended")) else str(row["recommended"]),
            probability=num(row.get("probability")),
            pta_mean=num(row.get("pta_mean")),
            p_safety_mean=num(row.get("p_safety_mean")),
            shares={k[6:]: float(v) for k, v in row.items() if k.startswith("share_")},
        )

    @router.post("/v1/prognostic-scores")
    def scores(
        request: Request,
        body: ScoresRequest,
        who: Annotated[Principal, Depends(requires("read_patient_level"))],
    ) -> ScoresResponse:
        """Prognostic scores of enrolled subjects from the twin behind a run."""
        folder = runs.folder(request, who, body.run)
        stamp = results.patients_path(folder).stat().st_mtime
        try:
            model = _model(str(folder), stamp, body.control_arm, body.target, body.kind)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        table = _baselines(folder, body.subjects, list(model.features))
        lacking = [f for f in model.features if f not in table or table[f].isna().any()]
        if lacking:
            raise HTTPException(400, f"every subject needs covariates {list(model.features)}")
        try:
            predicted = np.asarray(model.predict(table[list(model.features)]), dtype=float)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if not np.isfinite(predicted).all():
            raise HTTPException(400, "these covariates give no finite score")
        run = json.loads((folder / "run.json").read_text())
        fit = ((run.get("scenario") or {}).get("population") or {}).get("fit") or {}
        return ScoresResponse(
            run=body.run,
            twin={k: fit.get(k) for k in ("name", "version", "data_hash", "validation")},
            model=model.provenance(),
            scores=[
                {"subject": s.subject, "score": float(p)}
                for s, p in zip(body.subjects, predicted, strict=True)
            ],
        )

    return router
