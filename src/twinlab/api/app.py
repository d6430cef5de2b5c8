"""The FastAPI application of ``twinlab api``: registry, results, jobs, trials, EDC export.

Every route but the token endpoint, the JWKS, discovery and ``/healthz`` needs a bearer
token (:mod:`twinlab.api.auth`); each maps onto one action of the access matrix:

==========================================  ====================
route                                       action
==========================================  ====================
``GET /v1/models...``                       ``read_aggregate``
``GET /v1/results``, ``.../arms``,          ``read_aggregate``
``.../summary``
``GET /v1/results/{run}/patients``          ``read_patient_level``
``/v1/jobs...``                             ``simulate``
``POST /v1/trials/...``                     ``read_aggregate``
``POST /v1/prognostic-scores``              ``read_patient_level``
``POST /v1/edc/export``                     ``export_data``
==========================================  ====================

A job's result run (``job-<id>``) is read by the client that submitted it and by reviewers
only; to anyone else it does not exist (:mod:`twinlab.api.ownership`). Requests without a
valid token are limited per peer address (:mod:`twinlab.api.throttle`).
"""

from __future__ import annotations

import io
import logging
import math
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio
import pyarrow.parquet as pq
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from twinlab.api import keys, registry_views, results
from twinlab.api.auth import TokenEndpointError, grant, requires
from twinlab.api.limits import RateLimiter
from twinlab.api.middleware import ServiceGuard
from twinlab.api.ownership import RunAccess
from twinlab.api.schemas import (
    ArmsPage,
    Card,
    Discovery,
    Error,
    Health,
    Jwks,
    Lineage,
    ModelEntry,
    PatientsPageBody,
    PopulationSummary,
    RunEntry,
    TokenError,
    TokenResponse,
    Validation,
    VersionEntry,
)
from twinlab.api.settings import ApiSettings
from twinlab.api.throttle import AddressLimit, ThrottleAudit
from twinlab.api.tokens import Principal, TokenIssuer, TokenVerifier
from twinlab.apps.disclosure import shown
from twinlab.security.access import ACTIONS

log = logging.getLogger(__name__)

__all__ = ["create_app"]

PARQUET = "application/vnd.apache.parquet"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": why}
    for code, why in (
        (400, "bad request"),
        (401, "no valid bearer token"),
        (403, "the token does not grant this"),
        (404, "not found"),
        (413, "request body too large"),
        (422, "invalid parameters"),
        (429, "rate limit exceeded (see Retry-After)"),
        (503, "job queue full"),
        (504, "request timed out"),
    )
}
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$"
Name = Annotated[str, Path(pattern=_NAME, max_length=101)]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
Run = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$", max_length=101)]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _audit_suppressed(throttles: ThrottleAudit) -> None:
    """Write the throttled answers not audited yet (the service stops)."""
    from twinlab.audit.trail import audit_event

    for key, n in throttles.drain().items():
        audit_event("api.throttled", key, params={"suppressed": n}, actor="twinlab-api")


def _refused(exc: ValueError) -> HTTPException:
    """``400`` with the message of a request the service refuses; ``500`` without any detail
    for a stored file that cannot be read (Arrow's errors are ``ValueError``s too, and their
    messages name the server's paths), the detail logged on the server."""
    import pyarrow as pa

    if isinstance(exc, pa.ArrowException):
        log.error("a stored result could not be read: %s", exc)
        return HTTPException(500, "a stored result could not be read")
    return HTTPException(400, str(exc))


def create_app(settings: ApiSettings, *, jobs: Any = None) -> FastAPI:
    """The application for ``settings``.

    Parameters
    ----------
    settings : ApiSettings
        Data folders, trust and limits.
    jobs : JobManager, optional
        The simulation job manager (default: one over ``settings.jobs_dir``, started with
        the app and stopped with it).
    """
    from twinlab.api.edc_routes import edc_router
    from twinlab.api.jobs import JobManager, jobs_router
    from twinlab.api.trials_routes import trials_router

    manager = jobs if jobs is not None else JobManager(settings)

    throttles = ThrottleAudit(settings.throttle_audit_window_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        # the sync handlers' worker threads (anyio's pool of this event loop), bounded
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.max_threads
        manager.start()
        try:
            yield
        finally:
            manager.stop()
            _audit_suppressed(throttles)

    app = FastAPI(
        title="twinlab results service",
        version="1",
        summary="Twin registry, simulation results and jobs, trial analyses, EDC export.",
        responses=_ERRORS,
        lifespan=lifespan,
        docs_url=None,  # the schema is public at /openapi.json; no third-party script pages
        redoc_url=None,
        redirect_slashes=False,  # its Location would echo the request's Host header
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings)
    app.state.issuer = TokenIssuer(settings)
    app.state.limiter = RateLimiter(settings.rate_per_s, settings.burst)
    app.state.jobs = manager
    runs = RunAccess(settings.results, manager.owner)
    app.add_middleware(AddressLimit, limiter=app.state.limiter, verify=app.state.verifier.verify)
    app.add_middleware(  # outermost: it audits what the address limit answers too
        ServiceGuard,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.timeout_s,
        throttles=throttles,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # where and why only: the input is never echoed (it may be PHI, or a NaN that JSON
        # cannot carry)
        detail = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(TokenEndpointError)
    async def _token_error(request: Request, exc: TokenEndpointError) -> JSONResponse:
        request.state.refusal = exc.description
        headers = {"Cache-Control": "no-store", **exc.headers}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="twinlab"'
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description},
            status_code=exc.status,
            headers=headers,
        )

    # -- public ----------------------------------------------------------------------------
    @app.get("/healthz", tags=["service"])
    def healthz() -> Health:
        """Liveness (no token needed)."""
        return Health(status="ok")

    @app.get("/.well-known/jwks.json", tags=["auth"])
    def jwks_route() -> Jwks:
        """The embedded issuer's public keys (every key not retired: rotation)."""
        return Jwks(**keys.jwks(settings.key_dir))

    @app.get("/.well-known/openid-configuration", tags=["auth"])
    def discovery() -> Discovery:
        """Where the token endpoint and the JWKS are (under the configured public URL, never
        the request's ``Host``: a forged one would advertise another party's endpoints)."""
        base = settings.public_url
        if base is None:
            raise HTTPException(
                404, "discovery needs the service's public URL (twinlab api serve --public-url)"
            )
        return Discovery(
            issuer=settings.issuer,
            token_endpoint=f"{base}/oauth/token",
            jwks_uri=f"{base}/.well-known/jwks.json",
            grant_types_supported=["client_credentials"],
            scopes_supported=list(ACTIONS),
        )

    @app.post(
        "/oauth/token",
        tags=["auth"],
        responses={400: {"model": TokenError}, 401: {"model": TokenError}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                                "scope": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token(request: Request) -> TokenResponse:
        """The client-credentials grant (RFC 6749 §4.4): client id and secret in the form
        or HTTP Basic; ``scope`` (space-separated actions) at most what the client has.
        Limited per peer address (:mod:`twinlab.api.throttle`)."""
        body = await request.body()
        from starlette.concurrency import run_in_threadpool

        out = await run_in_threadpool(grant, request, body, app.state.issuer, settings.clients_file)
        return TokenResponse(**out)

    # -- registry --------------------------------------------------------------------------
    aggregate = Depends(requires("read_aggregate"))

    def _found(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0]) if exc.args else "not found") from None
        except ValueError as exc:
            raise _refused(exc) from None

    @app.get("/v1/models", tags=["registry"], dependencies=[aggregate])
    def list_models() -> list[ModelEntry]:
        """Registered models."""
        return [ModelEntry(**m) for m in registry_views.models(settings.models)]

    @app.get("/v1/models/{name}/versions", tags=["registry"], dependencies=[aggregate])
    def list_versions(name: Name) -> list[VersionEntry]:
        """Every version of a model and its validation status."""
        return [VersionEntry(**v) for v in _found(registry_views.versions, settings.models, name)]

    @app.get("/v1/models/{name}/versions/{version}", tags=["registry"], dependencies=[aggregate])
    def card(name: Name, version: Version) -> Card:
        """The model card of a version."""
        return Card(**_found(registry_views.card, settings.models, name, version))

    @app.get(
        "/v1/models/{name}/versions/{version}/validation",
        tags=["registry"],
        dependencies=[aggregate],
    )
    def validation(name: Name, version: Version) -> Validation:
        """The validation gate's result of a version."""
        return Validation(**_found(registry_views.validation, settings.models, name, version))

    @app.get(
        "/v1/models/{name}/versions/{version}/lineage", tags=["registry"], dependencies=[aggregate]
    )
    def lineage(
        name: Name, version: Version, who: Annotated[Principal, Depends(requires("read_aggregate"))]
    ) -> Lineage:
        """Where a version came from (data and posterior hashes) and the runs that used it
        (those the caller may read)."""
        out = _found(registry_views.lineage, settings.models, name, version, settings.results)
        out["simulations"] = [r for r in out["simulations"] if runs.may_read(who, r)]
        return Lineage(**out)

    # -- results ---------------------------------------------------------------------------
    @app.get("/v1/results", tags=["results"])
    def list_results(
        who: Annotated[Principal, Depends(requires("read_aggregate"))],
    ) -> list[RunEntry]:
        """Simulation runs: the pipeline's and the caller's own jobs' (a reviewer's: every
        job's; :mod:`twinlab.api.ownership`)."""
        return [RunEntry(**r) for r in runs.visible(who, results.list_runs(settings.results))]

    @app.get("/v1/results/{run}/arms", tags=["results"])
    def arms(
        request: Request, run: Run, who: Annotated[Principal, Depends(requires("read_aggregate"))]
    ) -> ArmsPage:
        """Per (draw, arm) summaries over the run's whole population; for aggregate-only
        callers the counts are shown as the disclosure rule shows them."""
        folder = runs.folder(request, who, run)
        table = results.arms_table(folder)
        rows = []
        for rec in table.to_dict("records"):
            n = int(rec.pop("n"))
            rec = {k: _clean(v) for k, v in rec.items()}
            rec["n"] = shown(n, settings.min_cell) if who.aggregate_only else str(n)
            rec["draw"], rec["arm"] = int(rec["draw"]), str(rec["arm"])
            rows.append(rec)
        if who.aggregate_only:  # the whole population must pass the rule too
            try:
                results.population_summary(folder, metrics=[], k=settings.min_cell)
            except results.DisclosureRefused as exc:
                raise HTTPException(403, str(exc)) from None
        return ArmsPage(run=run, items=rows)

    @app.get("/v1/results/{run}/summary", tags=["results"])
    def summary(
        request: Request,
        run: Run,
        who: Annotated[Principal, Depends(requires("read_aggregate"))],
        weight_min: Annotated[float | None, Query(ge=0, le=1000)] = None,
        weight_max: Annotated[float | None, Query(ge=0, le=1000)] = None,
        crcl_min: Annotated[float | None, Query(ge=0, le=1000)] = None,
        crcl_max: Annotated[float | None, Query(ge=0, le=1000)] = None,
        cyp2c9: Annotated[list[float] | None, Query(max_length=10)] = None,
        metric: Annotated[list[str] | None, Query(max_length=20)] = None,
    ) -> PopulationSummary:
        """Per-arm summaries of the virtual patients in weight / CrCL bands and CYP2C9
        codes; aggregate-only callers get the dashboards' disclosure control (bands, at
        least ``k`` real patients, no small differences, rounded counts)."""
        folder = runs.folder(request, who, run)
        try:
            out = results.population_summary(
                folder,
                weight=(weight_min, weight_max),
                crcl=(crcl_min, crcl_max),
                cyp2c9=cyp2c9,
                metrics=metric,
                k=settings.min_cell,
                aggregate_only=who.aggregate_only,
            )
        except results.DisclosureRefused as exc:
            raise HTTPException(403, str(exc)) from None
        except ValueError as exc:
            raise _refused(exc) from None
        return PopulationSummary(run=run, **out)

    @app.get(
        "/v1/results/{run}/patients",
        tags=["results"],
        responses={200: {"content": {PARQUET: {"schema": {"type": "string", "format": "binary"}}}}},
    )
    def patients(
        request: Request,
        run: Run,
        who: Annotated[Principal, Depends(requires("read_patient_level"))],
        arm: Annotated[str | None, Query(max_length=200)] = None,
        draw: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
        vpid_min: Annotated[int | None, Query(ge=0, le=10**9)] = None,
        vpid_max: Annotated[int | None, Query(ge=0, le=10**9)] = None,
        column: Annotated[list[str] | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        format: Literal["json", "parquet"] = "json",
    ) -> PatientsPageBody:
        """A page of per-(draw, patient, arm) rows, filtered; JSON or Parquet (patient-level)."""
        folder = runs.folder(request, who, run)
        page = _found(
            lambda: results.patients_page(
                folder,
                arm=arm,
                draw=draw,
                vpid_min=vpid_min,
                vpid_max=vpid_max,
                columns=column,
                limit=limit,
                offset=offset,
            )
        )
        if format == "parquet":
            sink = io.BytesIO()
            pq.write_table(page.table, sink)
            return Response(  # type: ignore[return-value]
                sink.getvalue(),
                media_type=PARQUET,
                headers={"X-Total-Count": str(page.total)},
            )
        items = [{k: _clean(v) for k, v in row.items()} for row in page.table.to_pylist()]
        return PatientsPageBody(run=run, total=page.total, limit=limit, offset=offset, items=items)

    app.include_router(jobs_router(manager))
    app.include_router(trials_router(settings, runs))
    app.include_router(edc_router(settings, runs))
    return app
