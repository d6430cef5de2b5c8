"""``POST /v1/edc/export``: per-subject results of a run as a CDISC ODM 1.3.2 file.

For each enrolled subject (a pseudonym whose covariates virtual patients of the run carry):
the prognostic score (:mod:`twinlab.api.trials_routes`'s model of the control arm), the
predicted exposures in the chosen arm (mean Cmax and AUC over its virtual patients and
draws), the twin version and the prediction time. Pseudonyms become the EDC's subject keys
in the raw zone (:func:`twinlab.api.odm_export.edc_subject_keys`); the file is validated
against the ODM 1.3.2 schema, written under ``<raw zone>/edc`` (mode ``0600``) and returned.
Action ``export_data`` (reviewers); audited.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from twinlab.api import results
from twinlab.api.auth import requires
from twinlab.api.middleware import side_effect
from twinlab.api.odm_export import ExportItem, OdmSchemaError, export_odm
from twinlab.api.ownership import RunAccess
from twinlab.api.settings import ApiSettings
from twinlab.api.tokens import Principal

__all__ = ["ITEMS", "edc_router"]

#: the exported items (OIDs as an EDC's form would declare them)
ITEMS = (
    ExportItem("IT.TWIN.PROGSCORE", "Prognostic score", "float"),
    ExportItem("IT.TWIN.CMAX", "Predicted Cmax", "float", "mg/L"),
    ExportItem("IT.TWIN.AUC", "Predicted AUC", "float", "mg*h/L"),
    ExportItem("IT.TWIN.VERSION", "Twin version", "text"),
    ExportItem("IT.TWIN.PREDDTC", "Prediction date", "datetime"),
)
_EXPORTER = requires("export_data")


class ExportRequest(BaseModel):
    """Which run, arms and subjects to export, and the EDC study."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
    arm: str = Field(max_length=40, description="arm of the predicted exposures")
    control_arm: str = Field(max_length=40, description="arm the prognostic model learns")
    target: str = Field("effect_cfb", pattern=r"^[a-z_]{1,30}$")
    subjects: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]] = Field(
        min_length=1, max_length=5000
    )
    study_oid: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    include_metadata: bool = False


def _rows(folder: Any, body: ExportRequest) -> list[dict[str, Any]]:
    from twinlab.api.trials_routes import _model

    table = results.read_patients(folder)
    mine = table[table["source"].astype(str).isin(body.subjects)]
    found = set(mine["source"].astype(str))
    if len(found) < len(set(body.subjects)):
        raise ValueError(f"{len(set(body.subjects) - found)} subjects have no twin in this run")
    if body.arm not in set(mine["arm"]):
        raise ValueError(f"run has no arm {body.arm!r}")
    stamp = results.patients_path(folder).stat().st_mtime
    model = _model(str(folder), stamp, body.control_arm, body.target, "linear")
    run = json.loads((folder / "run.json").read_text())
    fit = ((run.get("scenario") or {}).get("population") or {}).get("fit") or {}
    version = f"{fit.get('name')}/{fit.get('version')}"
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    arm = mine[mine["arm"] == body.arm].groupby("source")
    first = mine.drop_duplicates("source").set_index("source")
    scores = np.asarray(model.predict(first[list(model.features)]), dtype=float)
    score = dict(zip(first.index.astype(str), scores, strict=True))
    return [
        {
            "subject": s,
            "IT.TWIN.PROGSCORE": score[s],
            "IT.TWIN.CMAX": float(arm.get_group(s)["cmax"].mean()),
            "IT.TWIN.AUC": float(arm.get_group(s)["auc"].mean()),
            "IT.TWIN.VERSION": version,
            "IT.TWIN.PREDDTC": now,
        }
        for s in body.subjects
    ]


def edc_router(settings: ApiSettings, runs: RunAccess) -> APIRouter:
    """The ``/v1/edc`` routes (runs read under ``runs``' ownership rule)."""
    router = APIRouter(prefix="/v1/edc", tags=["edc"])

    @router.post(
        "/export",
        response_class=Response,
        responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    def export(
        request: Request, body: ExportRequest, who: Annotated[Principal, Depends(_EXPORTER)]
    ) -> Response:
        """The run's per-subject results as an ODM 1.3.2 transaction file for the EDC."""
        folder = runs.folder(request, who, body.run)
        try:
            rows = _rows(folder, body)
            side_effect(request)  # the file is written and audited: no 504 after this
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            out = settings.raw_zone / "edc" / f"{body.study_oid}-{stamp}.xml"
            written = export_odm(
                rows, ITEMS, out=out, raw_zone=settings.raw_zone, study_oid=body.study_oid,
                role=who.role, include_metadata=body.include_metadata, actor=who.client,
            )  # fmt: skip
        except OdmSchemaError as exc:  # pragma: no cover - a bug of the writer, not the caller
            raise HTTPException(500, str(exc)) from None
        except FileNotFoundError as exc:  # the raw zone's crosswalk: its name, not its folder
            missing = Path(exc.filename).name if exc.filename else "a file"
            raise HTTPException(400, f"not on the server: {missing}") from None
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if exc.args else type(exc).__name__
            raise HTTPException(400, str(message)) from None
        data = Path(written["path"]).read_bytes()
        return Response(
            data, media_type="application/xml", headers={"X-Content-SHA256": written["sha256"]}
        )

    return router
