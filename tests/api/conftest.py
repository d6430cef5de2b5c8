"""Fixtures of the API tests: a project with a twin and a run, registered clients, a signed
audit log of their own, and one real server for the session."""

from __future__ import annotations

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
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's audit log (the server runs in this process; see :func:`_api_env`)."""
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="session")
def master_key() -> str:
    """The raw zone's master key of the session (base64)."""
    import base64
    import secrets

    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(autouse=True)
def _api_env(monkeypatch: pytest.MonkeyPatch, audit_path: Path, master_key: str) -> None:
    """While an API test runs (and only then), the in-process server audits to the
    session's log and reads the raw zone with the session's master key."""
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(audit_path))
    monkeypatch.setenv("TWINLAB_MASTER_KEY", master_key)


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
def api(api_settings, api_secrets) -> Iterator:
    """One real server (uvicorn, HTTPS, loopback) for the session, jobs on a local Dask
    cluster."""
    with serving(api_settings, api_secrets, jobs=make_jobs(api_settings)) as served:
        yield served
