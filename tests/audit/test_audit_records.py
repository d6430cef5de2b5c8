"""Run records: DVC-compatible hashes, code version, packages, redacted parameters."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from twinlab.audit import (
    REDACTED,
    AuditLog,
    code_version,
    dir_md5,
    hash_path,
    run_record,
    write_run_record,
)


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "a.csv").write_bytes(b"id,x\n1,2\n")
    (d / "sub" / "b.bin").write_bytes(bytes(range(256)) * 9000)  # > 1 MiB chunk
    (d / "sub" / "deeper" / "c.txt").write_bytes(b"windows\r\nline")
    (d / "sub" / "empty").write_bytes(b"")
    return d


def test_file_hashes_are_md5_and_sha256_of_the_bytes(data_dir):
    f = data_dir / "sub" / "b.bin"
    info = hash_path(f)
    raw = f.read_bytes()
    assert info["md5"] == hashlib.md5(raw).hexdigest()
    assert info["sha256"] == hashlib.sha256(raw).hexdigest()
    assert info["size"] == len(raw)


def _dvc_md5(path) -> tuple[str, int | None, int | None]:
    build = pytest.importorskip("dvc_data.hashfile.build")
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(path.parent / ".dvc-odb"))
    _, meta, obj = build.build(odb, str(path), fs, "md5", dry_run=True)
    return obj.hash_info.value, meta.size, meta.nfiles


def test_hashes_match_what_dvc_records(data_dir):
    md5, size, nfiles = _dvc_md5(data_dir)
    info = hash_path(data_dir)
    assert info["md5"] == dir_md5(data_dir) == md5
    assert md5.endswith(".dir") and info["sha256"].endswith(".dir")
    assert (info["size"], info["nfiles"]) == (size, nfiles) == (info["size"], 4)
    f = data_dir / "sub" / "deeper" / "c.txt"
    assert hash_path(f)["md5"] == _dvc_md5(f)[0]


def test_folder_hash_changes_with_content_and_names(data_dir):
    before = dir_md5(data_dir)
    (data_dir / "a.csv").write_bytes(b"id,x\n1,3\n")
    changed = dir_md5(data_dir)
    (data_dir / "a.csv").rename(data_dir / "z.csv")
    assert len({before, changed, dir_md5(data_dir)}) == 3


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot hash"):
        hash_path(tmp_path / "nope")


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@x", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def test_code_version_reports_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.py").write_text("x = 1\n")
    _git(repo, "add", "f.py")
    _git(repo, "commit", "-q", "-m", "init")
    clean = code_version(repo)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (repo / "f.py").write_text("x = 2\n")
    dirty = code_version(repo)
    assert dirty["commit"] == clean["commit"] and dirty["dirty"] is True


def test_code_version_tolerates_no_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    assert code_version(tmp_path) == {"commit": None, "dirty": None, "describe": None}


def test_run_record_describes_the_run_and_round_trips(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_USER", "ana")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"PAR1")
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("stage.run", "simulate")
    record = run_record(
        stage="simulate",
        params={"n": 10, "api_token": "xyz"},
        inputs=[data_dir],
        outputs={"summary": out},
        seed=42,
        repo=tmp_path,
        audit_log=log,
    )
    assert record["stage"] == "simulate" and record["seed"] == 42
    assert record["params"] == {"n": 10, "api_token": REDACTED}
    assert record["inputs"][str(data_dir)]["md5"] == dir_md5(data_dir)
    assert record["outputs"]["summary"]["md5"] == hashlib.md5(b"PAR1").hexdigest()
    assert record["user"] == "ana" and record["host"] and record["time"].endswith("Z")
    assert record["packages"]["twinlab"] and record["packages"]["python"]
    assert set(record["code"]) == {"commit", "dirty", "describe"}
    assert record["audit_head"] == log.head() and record["audit_head"]["count"] == 1
    path = write_run_record(tmp_path / "records" / "simulate.json", record)
    assert json.loads(path.read_text()) == record
    assert "xyz" not in path.read_text()
