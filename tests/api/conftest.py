"""Fixtures of the API tests: a project with a twin and a run, registered clients, a signed
audit log of their own, and one real server for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fixtures import CLIENTS, make_jobs, serving, write_api_project

from twinlab.api import ApiSettings
from twinlab.api.clients import add_client


@pytest.fixture(scope="session")
def api_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project: registered twin ``twin_test/1``, harmonized cohort, run ``results/demo``."""
    return write_api_project(tmp_path_factory.mktemp("api") / "project")


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service's private folder (clients file, keys), outside any repository."""
    return tmp_path_factory.mktemp("api-home")


@pytest.fixture(scope="session")
def api_secrets(api_home: Path) -> dict[str, str]:
    """Registered clients' secrets."""
    return {
        cid: add_client(api_home / "clients.json", cid, role, scopes)
        for cid, (role, scopes) in CLIENTS.items()
    }


@pytest.fixture(scope="session")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's audit log (the server's process is this one)."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    before = os.environ.get("TWINLAB_AUDIT_LOG")
    os.environ["TWINLAB_AUDIT_LOG"] = str(path)
    yield path
    if before is None:
        os.environ.pop("TWINLAB_AUDIT_LOG", None)
    else:
        os.environ["TWINLAB_AUDIT_LOG"] = before


@pytest.fixture(scope="session")
def api_settings(api_project: Path, api_home: Path) -> ApiSettings:
    return ApiSettings.for_project(
        api_project,
        clients_file=api_home / "clients.json",
        key_dir=api_home / "keys",
        rate_per_s=1000.0,
        burst=1000.0,
    )


@pytest.fixture(scope="session")
def api(api_settings, api_secrets, audit_path) -> Iterator:
    """One real server (uvicorn, HTTPS, loopback) for the session, jobs on a local Dask
    cluster."""
    with serving(api_settings, api_secrets, jobs=make_jobs(api_settings)) as served:
        yield served


@pytest.fixture(autouse=True, scope="session")
def _master_key() -> Iterator[None]:
    """The raw zone's master key for the session (the server runs in this process)."""
    import base64
    import secrets

    before = os.environ.get("TWINLAB_MASTER_KEY")
    os.environ["TWINLAB_MASTER_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    yield
    if before is None:
        os.environ.pop("TWINLAB_MASTER_KEY", None)
    else:
        os.environ["TWINLAB_MASTER_KEY"] = before
