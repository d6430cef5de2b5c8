"""Simulation jobs: submitted scenarios run on the Dask cluster, their state in SQLite.

A job is a ``simulate`` section (the project's ``params.yaml`` section with the request's
arms, regimen, population size, criteria, twin version, times and seed over it), turned into
a :class:`~twinlab.simulate.Scenario` by
:func:`twinlab.pipeline.scenario.scenario_from_params` and run by :func:`twinlab.simulate.run`
on a Dask client from :func:`twinlab.cluster.dask_client` (the configured scheduler, else a
local TLS cluster started with the first job). Its result folder is ``<results>/api/jobs/<id>``
(read through ``/v1/results/job-<id>``).

State lives in ``<results>/api/jobs.sqlite`` beside the results, so jobs survive a restart:
a job found ``running`` when the service starts is queued again (runs are seeded, so it
reproduces the same result). The state and every file of a job's result are private
(:func:`twinlab.security.filemodes.file_mode`, ``0600`` unless ``TWINLAB_FILE_MODE``; folders
``0700``) whatever the service's umask or the modes of folders made before it: a result holds
patient-level rows (pseudonyms and covariates). An ``Idempotency-Key`` (per client) returns
the job it first made; the same key with another body is refused. At most ``max_jobs`` jobs
are queued or running, ``max_jobs_per_client`` of them one client's; more are answered
``503`` (``429`` for a client over its share) with ``Retry-After``. Cancelling a queued job is
immediate; a running one stops after its current chunk.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twinlab.api.auth import requires
from twinlab.api.job_population import PopulationRefused, PopulationRule
from twinlab.api.middleware import side_effect
from twinlab.api.settings import ApiSettings
from twinlab.api.tokens import Principal
from twinlab.security.filemodes import dir_mode, file_mode, make_dirs, private_umask, restrict_tree

__all__ = [
    "ClientBusy",
    "IdempotencyConflict",
    "JobManager",
    "JobRequest",
    "QueueFull",
    "jobs_router",
]

log = logging.getLogger(__name__)
STATES = ("queued", "running", "done", "failed", "cancelled")
_ARM = r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,39}$"
#: the folders of an absolute path (``/srv/x/models`` -> ``models``), cut from job errors
_NO_FOLDERS = re.compile(r"(?<![\w.~])/(?:[^\s'\"/]+/)+")
#: the most time points and profile values (patients x draws x arms x times) a job may ask
MAX_TIME_POINTS = 5000
MAX_VALUES = 50_000_000


class RegimenIn(BaseModel):
    """A dosing regimen (keys left out take the shared regimen's, then the engine's defaults)."""

    model_config = ConfigDict(extra="forbid")
    dose: float | None = Field(None, ge=0, le=100_000)
    interval_h: float | None = Field(None, gt=0, le=10_000)
    n_doses: int | None = Field(None, ge=1, le=1000)
    duration_h: float | None = Field(None, gt=0, le=20_000)
    route: Literal["oral", "iv", "infusion"] | None = None
    infusion_h: float | None = Field(None, ge=0, le=1000)


class TimesIn(BaseModel):
    """The time grid (hours)."""

    model_config = ConfigDict(extra="forbid")
    start: float = Field(0.0, ge=0, le=20_000)
    stop: float = Field(gt=0, le=20_000)
    step: float = Field(gt=0.05, le=20_000)


class JobRequest(BaseModel):
    """A scenario: arms and their regimens, the virtual population, times and seed."""

    model_config = ConfigDict(extra="forbid")
    scenario: str = Field("api", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    arms: dict[Annotated[str, Field(pattern=_ARM)], RegimenIn | None] = Field(
        min_length=1, max_length=10
    )
    regimen: RegimenIn | None = None
    model: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$")
    model_version: int | None = Field(None, ge=1, le=1_000_000)
    n_patients: int = Field(100, ge=1, le=20_000)
    n_draws: int = Field(1, ge=1, le=50)
    criteria: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=5)
    times: TimesIn = TimesIn(start=0.0, stop=168.0, step=4.0)
    seed: int = Field(1, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _bounded(self) -> JobRequest:
        points = int((self.times.stop - self.times.start) / self.times.step) + 1
        if self.times.stop <= self.times.start or points > MAX_TIME_POINTS:
            raise ValueError(f"times: need start < stop and at most {MAX_TIME_POINTS} points")
        size = self.n_patients * self.n_draws * len(self.arms) * points
        if size > MAX_VALUES:
            raise ValueError(
                f"a job of {size:,} profile values is over the service's {MAX_VALUES:,}: "
                "fewer patients, draws, arms or time points (or run the simulate stage)"
            )
        return self

    def section(self, base: dict[str, Any]) -> dict[str, Any]:
        """The ``simulate`` section of this job over the project's ``base`` section."""
        out = {k: v for k, v in base.items() if k not in ("arms", "regimen", "out", "times")}
        given = self.model_dump(exclude_none=True)
        out.update(
            scenario=self.scenario,
            n_patients=self.n_patients,
            n_draws=self.n_draws,
            times=self.times.model_dump(),
            arms={
                k: (v.model_dump(exclude_none=True) if v else None) for k, v in self.arms.items()
            },
            out="unused",
        )
        if self.regimen is not None:
            out["regimen"] = self.regimen.model_dump(exclude_none=True)
        for key in ("model", "model_version"):
            if key in given:
                out[key] = given[key]
        if self.criteria:
            out["criteria"] = list(self.criteria)
        out.setdefault("chunk_size", max(1, min(self.n_patients, 2000)))
        out["chunk_size"] = max(1, min(int(out["chunk_size"]), self.n_patients))
        return out


class Job(BaseModel):
    """A job's state."""

    id: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    created: str
    updated: str
    result: str | None = None
    error: str | None = None
    request: dict[str, Any]


class QueueFull(RuntimeError):
    """Too many jobs queued or running."""


class ClientBusy(QueueFull):
    """This client already has its share of the queue."""


class IdempotencyConflict(ValueError):
    """An ``Idempotency-Key`` reused with another request body."""


class _Cancelled(Exception):
    pass


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


#: The one HTTP route the job service's local Dask scheduler serves.
_HEALTH_ROUTE = "distributed.http.health"


class JobManager:
    """Jobs: submitted, persisted, run one at a time on the Dask cluster, cancellable.

    Parameters
    ----------
    settings : ApiSettings
        ``jobs_dir`` (state and results), ``max_jobs``, ``project``, Dask settings.
    client_factory : callable, optional
        A context manager yielding a Dask client (default: :func:`twinlab.cluster.dask_client`
        with ``settings.dask_address`` and ``settings.dask_workers``).
    """

    def __init__(self, settings: ApiSettings, client_factory: Any = None) -> None:
        self.settings = settings
        self.dir = Path(settings.jobs_dir)
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stack = contextlib.ExitStack()
        self._client: Any = None
        self._db: sqlite3.Connection | None = None
        self._base: tuple[tuple[int, int], dict[str, Any]] | None = None
        self.population = PopulationRule(settings.min_cell, self._real_cohort)

    # -- storage ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            _private_dir(self.dir)
            _private_dir(self.dir / "jobs")
            state = self.dir / "jobs.sqlite"
            # made private before SQLite opens it (its -wal and -shm files take its mode)
            os.close(os.open(state, os.O_WRONLY | os.O_CREAT, file_mode()))
            for file in (
                state,
                state.with_name("jobs.sqlite-wal"),
                state.with_name("jobs.sqlite-shm"),
            ):
                if file.exists():
                    os.chmod(file, file_mode())
            db = sqlite3.connect(state, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, client TEXT NOT NULL, "
                "idem_key TEXT, body_sha256 TEXT NOT NULL, request TEXT NOT NULL, "
                "state TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, "
                "result TEXT, error TEXT, UNIQUE (client, idem_key))"
            )
            db.commit()
            self._db = db
        return self._db

    def _row(self, row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        out = dict(row)
        out["request"] = json.loads(out["request"])
        return out

    def _set(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            db = self._conn()
            cols = ", ".join(f"{k} = ?" for k in fields)
            db.execute(
                f"UPDATE jobs SET {cols}, updated = ? WHERE id = ?",
                [*fields.values(), _now(), job_id],
            )
            db.commit()

    # -- API -------------------------------------------------------------------------------
    def submit(
        self, client: str, request: JobRequest, idem_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Queue a job; return ``(job, created)`` (``created`` False: the idempotent replay).

        Raises
        ------
        QueueFull
            If ``max_jobs`` jobs are queued or running.
        ClientBusy
            If ``max_jobs_per_client`` of this client's jobs are queued or running.
        IdempotencyConflict
            If ``idem_key`` was used by this client with another body.
        """
        body = request.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            db = self._conn()
            if idem_key is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE client = ? AND idem_key = ?", (client, idem_key)
                ).fetchone()
                if row is not None:
                    if row["body_sha256"] != digest:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was used with another request body"
                        )
                    return self._row(row), False  # type: ignore[return-value]
            mine = db.execute(
                "SELECT count(*) FROM jobs WHERE client = ? AND state IN ('queued', 'running')",
                (client,),
            ).fetchone()[0]
            if mine >= self.settings.max_jobs_per_client:
                raise ClientBusy(
                    f"this client has {mine} jobs queued or running (at most "
                    f"{self.settings.max_jobs_per_client}): wait for one or cancel it"
                )
            busy = db.execute(
                "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()[0]
            if busy >= self.settings.max_jobs:
                raise QueueFull(f"{busy} jobs queued or running (at most {self.settings.max_jobs})")
            job_id, now = uuid.uuid4().hex, _now()
            db.execute(
                "INSERT INTO jobs (id, client, idem_key, body_sha256, request, state, created, "
                "updated) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (job_id, client, idem_key, digest, json.dumps(body), now, now),
            )
            db.commit()
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        self._wake.set()
        return self._row(row), True  # type: ignore[return-value]

    def get(self, job_id: str, client: str | None = None) -> dict[str, Any] | None:
        """A job (``None`` if unknown, or not ``client``'s)."""
        with self._lock:
            row = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        job = self._row(row)
        if job is None or (client is not None and job["client"] != client):
            return None
        return job

    def owner(self, job_id: str) -> str | None:
        """The client that submitted job ``job_id`` (``None`` if there is no such job)."""
        job = self.get(job_id)
        return None if job is None else str(job["client"])

    def list(self, client: str, limit: int = 100) -> list[dict[str, Any]]:
        """The client's latest jobs."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT * FROM jobs WHERE client = ? ORDER BY created DESC LIMIT ?",
                    (client, limit),
                )
                .fetchall()
            )
        return [self._row(r) for r in rows]  # type: ignore[misc]

    def cancel(self, job_id: str, client: str | None = None) -> dict[str, Any] | None:
        """Cancel a queued or running job (a finished one is left as it is)."""
        job = self.get(job_id, client)
        if job is None:
            return None
        if job["state"] == "queued":
            with self._lock:
                db = self._conn()
                db.execute(
                    "UPDATE jobs SET state = 'cancelled', updated = ? "
                    "WHERE id = ? AND state = 'queued'",
                    (_now(), job_id),
                )
                db.commit()
        if job["state"] in ("queued", "running"):
            self._cancel.add(job_id)
        return self.get(job_id)

    # -- worker ----------------------------------------------------------------------------
    def recover(self) -> int:
        """Queue again the jobs a previous instance left running; return how many."""
        with self._lock:
            db = self._conn()
            n = db.execute(
                "UPDATE jobs SET state = 'queued', updated = ? WHERE state = 'running'", (_now(),)
            ).rowcount
            db.commit()
        return n

    def start(self) -> None:
        """Recover the jobs left running (:meth:`recover`); start the worker."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="twinlab-api-jobs", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stop the worker (a running job is cancelled and queued again next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._db is not None:
            self._db.close()
            self._db = None

    def _next(self) -> dict[str, Any] | None:
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1")
                .fetchone()
            )
        return self._row(row)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                job = self._next()
                if job is None:
                    self._wake.wait(timeout=1.0)
                    self._wake.clear()
                    continue
                self._run(job)
        finally:
            self._stack.close()  # the Dask client is closed in the thread that opened it
            self._client = None

    def _dask(self) -> Any:
        if self._client is None:
            if self._client_factory is not None:
                self._client = self._stack.enter_context(self._client_factory())
                return self._client
            import dask

            from twinlab.cluster import dask_client

            # a local cluster of a service: no Dask dashboard and no info pages (plain HTTP
            # without a login, where anyone on this machine reads task keys, call stacks and
            # logs); its scheduler answers /health only
            with dask.config.set({"distributed.scheduler.http.routes": [_HEALTH_ROUTE]}):
                self._client = self._stack.enter_context(
                    dask_client(
                        self.settings.dask_address,
                        n_workers=self.settings.dask_workers,
                        dashboard_address=None,
                    )
                )
        return self._client

    def banded(self, request: JobRequest) -> JobRequest:
        """The request of a caller without patient-level access, its criteria checked by
        the dashboards' disclosure rule (:mod:`twinlab.api.job_population`) and made the
        canonical criteria of their bands.

        Raises
        ------
        PopulationRefused
            If the criteria are not bands or choose a population the rule refuses.
        """
        section = request.section(self._base_section())
        allowed = self.population.check(list(request.criteria), section)
        return request.model_copy(update={"criteria": allowed})

    def _real_cohort(self, section: dict[str, Any]) -> Any:
        from twinlab.pipeline.scenario import virtual_cohort_from_params

        return virtual_cohort_from_params(section, root=self.settings.project)

    def _base_section(self) -> dict[str, Any]:
        """The project's ``simulate`` section (parsed again when ``params.yaml`` changes)."""
        params = Path(self.settings.project) / "params.yaml"
        if not params.is_file():
            return {}
        try:
            st = params.stat()
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if self._base is None or self._base[0] != stamp:
            section = (yaml.safe_load(params.read_text()) or {}).get("simulate") or {}
            self._base = (stamp, dict(section))
        return copy.deepcopy(self._base[1])

    def _run(self, job: dict[str, Any]) -> None:
        from twinlab.audit import audit_event
        from twinlab.simulate import patients_path, run

        job_id = job["id"]
        self._set(job_id, state="running")
        out = self.dir / "jobs" / job_id
        shutil.rmtree(out, ignore_errors=True)

        def progress(done: int, total: int) -> None:
            if job_id in self._cancel or self._stop.is_set():
                raise _Cancelled

        try:
            request = JobRequest(**job["request"])
            section = request.section(self._base_section())
            scenario = scenario_from_params(section, seed=request.seed, root=self.settings.project)
            with private_umask():  # the result (and a local cluster's workers) private
                result = run(scenario, client=self._dask(), out=out, progress=progress)
                lineage = result.patients_table(["vpid", "source"]).drop_duplicates("vpid")
                lineage.sort_values("vpid").to_parquet(out / "lineage.parquet", index=False)
            restrict_tree(out)  # what other processes wrote (an external cluster's workers)
            audit_event(  # before the job is done: a job whose run is not audited fails
                "api.job",
                f"job-{job_id}",
                params={"client": job["client"], "request": job["request"]},
                new={"state": "done", "patients_sha256": _sha(patients_path(out))},
                actor=job["client"],
            )
        except _Cancelled:
            shutil.rmtree(out, ignore_errors=True)
            if self._stop.is_set() and job_id not in self._cancel:
                return  # left running: queued again at the next start
            self._set(job_id, state="cancelled")
            self._cancel.discard(job_id)
            return
        except Exception as exc:  # a job's failure is its own, the service goes on
            shutil.rmtree(out, ignore_errors=True)
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = _NO_FOLDERS.sub("", message)  # the client sees it: no server paths
            self._set(job_id, state="failed", error=message[:500])
            log.warning("job %s failed: %s", job_id, message)
            return
        self._set(job_id, state="done", result=f"job-{job_id}")


def _private_dir(folder: Path) -> None:
    """``folder`` created, or made, private (:func:`~twinlab.security.filemodes.dir_mode`)."""
    make_dirs(folder)
    os.chmod(folder, dir_mode())


def scenario_from_params(section: dict[str, Any], *, seed: int, root: Path) -> Any:
    """The pipeline's :func:`~twinlab.pipeline.scenario.scenario_from_params`."""
    from twinlab.pipeline.scenario import scenario_from_params as build

    return build(section, seed=seed, root=root)


def _sha(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (each name, then its bytes; by name)."""
    h = hashlib.sha256()
    folder = path.is_dir()
    for file in sorted(path.glob("*")) if folder else [path]:
        if folder:
            h.update(file.name.encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
_SIMULATE = requires("simulate")


def jobs_router(manager: JobManager) -> APIRouter:
    """The ``/v1/jobs`` routes over ``manager`` (action ``simulate``)."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.post("", status_code=201, responses={200: {"model": Job, "description": "replay"}})
    def submit(
        request: Request,
        body: JobRequest,
        who: Annotated[Principal, Depends(_SIMULATE)],
        idempotency_key: Annotated[
            str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
        ] = None,
    ) -> Job:
        """Submit a scenario; returns the job (``200`` and the same job for a replayed
        ``Idempotency-Key``). A caller without patient-level access chooses the population
        by the dashboards' bands, under their disclosure rule (``403`` otherwise)."""
        if who.aggregate_only:
            try:
                body = manager.banded(body)
            except PopulationRefused as exc:
                request.state.refusal = str(exc)
                raise HTTPException(exc.status, str(exc)) from None
        side_effect(request)  # past this line a timeout no longer answers 504
        try:
            job, created = manager.submit(who.client, body, idempotency_key)
        except ClientBusy as exc:
            request.state.refusal = str(exc)
            raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
        except QueueFull as exc:
            request.state.refusal = str(exc)
            raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from None
        except IdempotencyConflict as exc:
            raise HTTPException(422, str(exc)) from None
        if not created:
            return JSONResponse(Job(**job).model_dump(), status_code=200)  # type: ignore[return-value]
        return Job(**job)

    @router.get("")
    def list_jobs(who: Annotated[Principal, Depends(_SIMULATE)]) -> list[Job]:
        """This client's latest jobs."""
        return [Job(**j) for j in manager.list(who.client)]

    @router.get("/{job_id}")
    def get_job(job_id: JobId, who: Annotated[Principal, Depends(_SIMULATE)]) -> Job:
        """A job's state; when ``done``, ``result`` names its run under ``/v1/results``."""
        job = manager.get(job_id, who.client)
        if job is None:
            raise HTTPException(404, "no such job")
        return Job(**job)

    @router.delete("/{job_id}")
    def cancel_job(job_id: JobId, who: Annotated[Principal, Depends(_SIMULATE)]) -> Job:
        """Cancel a queued or running job."""
        job = manager.cancel(job_id, who.client)
        if job is None:
            raise HTTPException(404, "no such job")
        return Job(**job)

    return router
