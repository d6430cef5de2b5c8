"""Request and response bodies of the API (published in ``/openapi.json``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArmRow",
    "ArmsPage",
    "Error",
    "Lineage",
    "ModelEntry",
    "PatientsPageBody",
    "PopulationSummary",
    "RunEntry",
    "TokenResponse",
    "Validation",
    "VersionEntry",
]


class Error(BaseModel):
    """An error: what went wrong, in one line."""

    detail: Any


class TokenResponse(BaseModel):
    """An OAuth2 access token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class TokenError(BaseModel):
    """An OAuth2 error response (RFC 6749 §5.2)."""

    error: str
    error_description: str


class ModelEntry(BaseModel):
    """A registered model: its versions and the latest one's validation status."""

    name: str
    model: str | None
    versions: list[int]
    latest: int
    latest_validation: str


class VersionEntry(BaseModel):
    """One registered version."""

    name: str
    version: int
    created: str
    model: str | None
    data_hash: str | None
    validation: str


class Card(BaseModel):
    """A model card (:func:`twinlab.pkpd.registry.model_card`) and its validation status."""

    model_config = ConfigDict(extra="allow")
    name: str
    version: int
    validation_status: str


class Validation(BaseModel):
    """A version's validation results."""

    name: str
    version: int
    status: str
    validation: dict[str, Any]


class Lineage(BaseModel):
    """Where a version came from and which simulation runs used it."""

    name: str
    version: int
    data_hash: str | None
    data_file: str | None
    posterior_sha256: str | None
    model: str | None
    twinlab_version: str | None
    validation_status: str
    simulations: list[str]
    card_sha256: str


class RunEntry(BaseModel):
    """A simulation run."""

    run: str
    scenario: str | None
    model: str | None
    model_version: int | None
    arms: list[str | None]
    sizes: dict[str, Any]


class PatientsPageBody(BaseModel):
    """A page of per-patient rows (patient-level: never for aggregate-only clients)."""

    run: str
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


class ArmRow(BaseModel):
    """Per (draw, arm) summaries; ``n`` as shown to the caller."""

    model_config = ConfigDict(extra="allow")
    draw: int
    arm: str
    n: str


class ArmsPage(BaseModel):
    """The per-arm summaries of a run."""

    run: str
    items: list[ArmRow]


class MetricStats(BaseModel):
    """Mean and percentiles of one metric."""

    mean: float
    p05: float
    p50: float
    p95: float


class ArmSummary(BaseModel):
    """One arm of a population summary."""

    arm: str
    n_virtual: str
    metrics: dict[str, MetricStats | None]


class PopulationSummary(BaseModel):
    """Per-arm summaries of a population chosen by bands (aggregate)."""

    run: str
    n_real_patients: str
    weight_range: list[float | None]
    crcl_range: list[float | None]
    cyp2c9: list[float]
    arms: list[ArmSummary]


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class Discovery(BaseModel):
    """Where the embedded issuer's endpoints are (a subset of OpenID discovery)."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    scopes_supported: list[str]


class Jwks(BaseModel):
    """A JSON Web Key Set."""

    keys: list[dict[str, Any]]


POSITIVE = Field(ge=1)
