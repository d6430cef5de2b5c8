"""Fixtures of the apps' tests: the project, the credentials file, no ambient audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from apps_fixtures import USERS, write_project

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


@pytest.fixture(autouse=True)
def _no_ambient_audit_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests write to their own audit logs only, never to one set in the environment."""
    monkeypatch.delenv("TWINLAB_AUDIT_LOG", raising=False)
