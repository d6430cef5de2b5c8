"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder whose params.yaml is the repository's, with three patients."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"]["n_patients"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "logs" / "audit.jsonl"))
    monkeypatch.setenv("TWINLAB_DEID_KEY", base64.b64encode(b"d" * 32).decode())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    return tmp_path
