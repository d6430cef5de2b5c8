"""The DVC cache and local remotes are made private (twinlab.pipeline.stores)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from twinlab.pipeline.stores import dvc_stores, private_stores


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _project(tmp_path: Path, config: str = "", local: str = "") -> Path:
    root = tmp_path / "study"
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc" / "config").write_text(config)
    if local:
        (root / ".dvc" / "config.local").write_text(local)
    return root


def test_the_cache_and_local_remotes_are_found_as_dvc_writes_its_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = _project(
        tmp_path,
        "[core]\n    remote = local\n"
        "['remote \"local\"']\n    url = ~/.cache/study/dvc-remote\n"
        "['remote \"cloud\"']\n    url = s3://bucket/study\n"
        "['remote \"nas\"']\n    url = file:///srv/nas/study\n",
        # config.local overrides a remote's URL and sets a relative cache folder
        "[cache]\n    dir = ../../shared-cache\n['remote \"local\"']\n    url = ../../remote\n",
    )
    assert dvc_stores(root) == [
        tmp_path / "shared-cache",
        tmp_path / "remote",
        Path("/srv/nas/study"),
    ]


def test_the_default_cache_is_dot_dvc_cache(tmp_path):
    root = _project(tmp_path)
    assert dvc_stores(root) == [root.resolve() / ".dvc" / "cache"]


def test_a_cache_shared_with_a_group_on_purpose_is_left_alone(tmp_path):
    root = _project(tmp_path, "[cache]\n    shared = group\n['remote \"r\"']\n    url = /srv/r\n")
    assert dvc_stores(root) == [Path("/srv/r")]


def test_missing_stores_are_created_private_and_open_ones_closed(tmp_path, monkeypatch):
    monkeypatch.delenv("TWINLAB_FILE_MODE", raising=False)
    remote = tmp_path / "remote"
    root = _project(tmp_path, f"['remote \"local\"']\n    url = {remote}\n")
    cache = root / ".dvc" / "cache"
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)  # as DVC makes it under umask 022
    (cache / "files").mkdir()
    assert private_stores(root) == [cache.resolve(), remote]
    assert _mode(cache) == 0o700 and _mode(remote) == 0o700
    assert _mode(cache / "files") == 0o755  # inside: unreachable for others anyway


def test_a_group_mode_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_FILE_MODE", "640")
    root = _project(tmp_path)
    (folder,) = private_stores(root)
    assert _mode(folder) == 0o750


def test_nothing_is_made_outside_a_dvc_project(tmp_path):
    assert private_stores(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_be_made_is_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    root = _project(tmp_path, f"['remote \"r\"']\n    url = {blocker}/remote\n")
    assert private_stores(root) == [(root / ".dvc" / "cache").resolve()]


@pytest.mark.slow
def test_dvc_keeps_a_private_cache_private(tmp_path):
    """DVC writes into the folder twinlab made (it never widens an existing one), and what it
    caches cannot be read by others through it."""
    root = _project(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q", "-f"], cwd=root, check=True, capture_output=True)
    (cache,) = private_stores(root)
    (root / "data.csv").write_text("patient,value\np1,1\n")
    subprocess.run([*dvc, "add", "-q", "data.csv"], cwd=root, check=True, capture_output=True)
    cached = [p for p in cache.rglob("*") if p.is_file()]
    assert cached and _mode(cache) == 0o700
