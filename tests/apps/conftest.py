"""Fixtures of the apps' tests: the project, the credentials file, a served instance, no
ambient audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apps_fixtures import USERS, write_project
from apps_server import serving

from twinlab.apps.auth import add_user


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small project with a registered twin (``twin_test/1``) and a harmonized study."""
    return write_project(tmp_path_factory.mktemp("apps") / "project")


@pytest.fixture(scope="session")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A credentials file outside the project: ana (modeler), rita, sam (stakeholder)."""
    path = tmp_path_factory.mktemp("home") / "users.json"
    for name, (role, password) in USERS.items():
        add_user(path, name, role, password)
    return path


@pytest.fixture(scope="session")
def server(project, credentials, tmp_path_factory) -> Iterator[dict]:
    """One real ``twinlab serve`` on loopback for the session, with its own audit log."""
    with serving(project, credentials, tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_ambient_audit_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests write to their own audit logs only, never to one set in the environment."""
    monkeypatch.delenv("TWINLAB_AUDIT_LOG", raising=False)
