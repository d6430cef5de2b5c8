"""The reviewer's reproduce workflow, end to end in a temporary copy of the repository.

The copy runs ``twinlab demo`` once (tiny parameters, fixed test keys) and
commits the resulting ``dvc.lock``; ``reproduce`` then re-runs that commit (every
artifact identical, the encrypted raw zone checked by decryption) and a later
commit that changes code the pipeline imports but ``dvc.yaml`` does not declare.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from repo_helpers import copy_project

from twinlab.cli import cli
from twinlab.pipeline.reproduce import (
    BY_DESIGN,
    DIFFERS,
    IDENTICAL,
    ArtifactResult,
    ReproduceError,
    ReproduceReport,
    _json_diff,
    _notebook_diff,
    reproduce,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Fixed test keys (never used for real data), so runs are reproducible and isolated.
TEST_KEYS = {
    "TWINLAB_DEID_KEY": base64.b64encode(b"twinlab-test-deid-key-0123456789").decode(),
    "TWINLAB_MASTER_KEY": base64.b64encode(b"twinlab-test-master-key-01234567").decode(),
}
RAW_ZONE = "data/raw_zone/demo"
METRICS = "reports/sources_overview.json"
NOTEBOOK = "reports/01_sources_overview.ipynb"
#: Appended to src/twinlab/sources.py: the notebook imports it, dvc.yaml does not list it.
UNDECLARED_CHANGE = """

_overview_metrics = overview_metrics


def overview_metrics(raw_dir):  # reports the BLQ share as a percentage, 2 decimals
    metrics = _overview_metrics(raw_dir)
    metrics["pk_blq_fraction"] = round(100 * metrics["pk_blq_fraction"], 2)
    return metrics
"""


def _env(repo: Path) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **TEST_KEYS}
    env.pop("TWINLAB_DASK_ADDRESS", None)
    env.pop("TWINLAB_MASTER_KEY_ID", None)
    env["PYTHONPATH"] = str(repo / "src")  # the copy's code, not the editable install
    return env


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(cwd), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _git(repo: Path, *args: str) -> str:
    return _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], repo).strip()


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    for name, value in TEST_KEYS.items():
        monkeypatch.setenv(name, value)
    for name in ("TWINLAB_MASTER_KEY_ID", "TWINLAB_DASK_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, object]:
    """A git copy of this working tree whose last commit records a ``twinlab demo`` run."""
    dest = copy_project(ROOT, tmp_path_factory.mktemp("reproduce") / "twinlab")
    (dest / "dvc.lock").unlink(missing_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "copy")
    unrecorded = _git(dest, "rev-parse", "HEAD")
    # The recorded run with the compile caches warm, as the reproduction's will be: a fit
    # whose model is compiled for the first time on a machine (empty PyTensor/Numba caches)
    # draws differently from one that loads it from the caches (measured: same seed, other
    # chains; with PyTensor's numba__fastmath=False the two agree, so it is fast-math code
    # compiled in another order), so a first run is a warm-up. `reproduce` classes that
    # difference as Monte Carlo (compared with a tolerance); this test checks the
    # bit-identical path.
    _run([str(BIN / "twinlab"), "demo"], dest)
    _run([str(BIN / "twinlab"), "demo", "--force"], dest)
    _git(dest, "add", "-A")  # dvc.lock, the .gitignore files, the cache: false metrics
    _git(dest, "commit", "-qm", "record the demo run")
    return {"repo": dest, "commit": _git(dest, "rev-parse", "HEAD"), "unrecorded": unrecorded}


def test_unchanged_commit_reproduces_every_artifact(recorded, tmp_path):
    repo, commit = recorded["repo"], recorded["commit"]
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "reproduce",
            "--repo",
            str(repo),
            "--rev",
            commit,
            "--workdir",
            str(tmp_path),
            *("--json", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "OK: every artifact reproduced" in result.output
    report = json.loads(out.read_text())
    assert report["ok"] is True and report["commit"] == commit
    assert report["code"]["tree_matches_working_tree"] is True
    assert report["code"]["imports_from_clone"] is True
    assert report["packages"]["twinlab"] and report["packages"]["dvc"]
    assert report["keys"]["master"] is True
    rows = {row["path"]: row for row in report["artifacts"]}
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(rows) == {o["path"] for s in lock["stages"].values() for o in s["outs"]}
    raw_zone = rows.pop(RAW_ZONE)
    assert raw_zone["status"] == BY_DESIGN and raw_zone["ok"] is True
    assert raw_zone["plaintext_identical"] is True  # checked through decryption
    assert raw_zone["recorded_md5"] != raw_zone["reproduced_md5"]
    assert "fresh nonces" in " ".join(raw_zone["details"])
    assert {p: r["status"] for p, r in rows.items()} == {p: IDENTICAL for p in rows}
    assert report["stage_changes"] == {}
    assert not list(tmp_path.glob("twinlab-reproduce-*"))  # the clone is removed


def test_undeclared_code_change_names_the_differing_artifacts(recorded, tmp_path):
    repo = recorded["repo"]
    _git(repo, "checkout", "-q", "-b", "undeclared")
    with (repo / "src" / "twinlab" / "sources.py").open("a") as fh:
        fh.write(UNDECLARED_CHANGE)
    (repo / "uncommitted.txt").write_text("not part of the pinned commit\n")
    _git(repo, "commit", "-qam", "BLQ share as a percentage")
    _git(repo, "checkout", "-q", "main")

    report = reproduce(repo, rev="undeclared", workdir=tmp_path, keep=True)

    assert not report.ok
    assert report.code["tree_matches_working_tree"] is False
    assert any("sources.py" in p for p in report.code["differing_paths"])
    rows = {row.path: row for row in report.rows}
    differing = {p for p, r in rows.items() if r.status == DIFFERS}
    assert {METRICS, NOTEBOOK, "reports/01_sources_overview.html"} <= differing
    assert rows["data/raw/demo"].status == IDENTICAL  # upstream of the change
    assert rows[RAW_ZONE].verified
    metrics = rows[METRICS]
    assert metrics.diff["keys"] == ["pk_blq_fraction"]
    assert any(d.startswith("key pk_blq_fraction: ") for d in metrics.details)
    notebook = rows[NOTEBOOK]
    assert notebook.diff["part"] == "outputs" and isinstance(notebook.diff["cell"], int)
    assert f"cell index {notebook.diff['cell']} " in notebook.details[0]
    # the declared inputs did not change: the report points at something undeclared
    assert "sources_overview" not in report.stage_changes
    assert any("does not declare" in d for d in metrics.details)
    text = str(report)
    assert "NOT REPRODUCED" in text and "pk_blq_fraction" in text
    assert json.loads(report.to_json())["ok"] is False
    clone = Path(report.clone)
    assert (clone / ".git").is_dir() and not (clone / "uncommitted.txt").exists()
    assert "PYTHONPATH" not in os.environ or str(clone) not in os.environ["PYTHONPATH"]
    (repo / "uncommitted.txt").unlink()


def test_user_mistakes_are_clean_errors(recorded, tmp_path):
    repo = recorded["repo"]
    runner = CliRunner()
    result = runner.invoke(cli, ["reproduce", "--repo", str(repo), "--rev", "no-such-rev"])
    assert result.exit_code == 2
    assert "unknown revision 'no-such-rev'" in result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    result = runner.invoke(
        cli, ["reproduce", "--repo", str(repo), "--rev", str(recorded["unrecorded"])]
    )
    assert result.exit_code == 2 and "has no dvc.lock" in result.output
    with pytest.raises(ReproduceError, match="not inside a git repository"):
        reproduce(tmp_path)
    help_text = runner.invoke(cli, ["reproduce", "--help"])
    assert help_text.exit_code == 0 and "--rev" in help_text.output and "--keep" in help_text.output


def test_notebook_and_json_differences_are_named():
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "x = 1"}
    out = {"output_type": "stream", "name": "stdout", "text": "a\nb\n"}
    before = {"cells": [cell, {**cell, "outputs": [out]}], "metadata": {"v": 1}}
    after_out = {"cells": [cell, {**cell, "outputs": [{**out, "text": "a\nc\n"}]}], "metadata": {}}
    details, diff = _notebook_diff(json.dumps(before).encode(), json.dumps(after_out).encode())
    assert diff == {"cell": 1, "part": "outputs"} and "line 2: 'b' -> 'c'" in details[0]
    after_meta = {**before, "metadata": {"v": 2}}
    details, diff = _notebook_diff(json.dumps(before).encode(), json.dumps(after_meta).encode())
    assert diff["part"] == "metadata" and diff["metadata_keys"] == ["v"]
    assert details[0].startswith("only metadata differs")
    details, diff = _json_diff(b'{"a": {"b": 1, "c": 2}}', b'{"a": {"b": 1, "c": 3}, "d": 0}')
    assert diff == {"keys": ["a.c", "d"]} and details[0] == "key a.c: 2 -> 3"


def test_report_ok_and_table():
    rows = [
        ArtifactResult("a", "s", IDENTICAL, "1", "1"),
        ArtifactResult("b", "s", BY_DESIGN, "2", "3", ["encrypted"], plaintext_identical=None),
    ]
    report = ReproduceReport(
        repo="r", rev="HEAD", commit="c" * 40, rows=rows,
        code={"tree_matches_working_tree": True, "differing_paths": []},
        packages={"twinlab": "0"}, stage_changes={}, repro={"returncode": 0, "seconds": 1.0},
        keys={"master": False},
    )  # fmt: skip
    assert report.ok and "OK" in str(report) and "encrypted" in str(report)
    rows.append(ArtifactResult("c", "s", DIFFERS, "4", "5", ["why"]))
    assert not report.ok and "NOT REPRODUCED: 1 of 3" in str(report)
    report.rows = rows[:1]
    report.repro = {"returncode": 1, "seconds": 1.0, "error": "boom"}
    assert not report.ok and "dvc repro -f failed" in str(report)


def _cached(cache: Path, data: bytes) -> str:
    import hashlib

    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    obj = cache / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    return md5


def _folder(cache: Path, files: dict[str, bytes]) -> str:
    import hashlib

    listing = [{"md5": _cached(cache, data), "relpath": rel} for rel, data in sorted(files.items())]
    text = json.dumps(listing, sort_keys=True).encode()
    md5 = hashlib.md5(text, usedforsecurity=False).hexdigest() + ".dir"
    obj = cache / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(text)
    return md5


@pytest.mark.parametrize("with_key", [True, False])
def test_encrypted_folder_is_checked_by_decryption_when_the_key_is_there(tmp_path, with_key):
    from twinlab.pipeline.reproduce import MISSING, _Comparer, _Side
    from twinlab.security.crypto import Keyring, encrypt_bytes

    ring = Keyring.from_keys(b"k" * 32)
    cache, tree = tmp_path / "cache", tmp_path / "tree"
    recorded = {"a.parquet.enc": encrypt_bytes(b"same", context="a.parquet", keyring=ring)}
    again = {"a.parquet.enc": encrypt_bytes(b"same", context="a.parquet", keyring=ring)}
    changed = {"a.parquet.enc": encrypt_bytes(b"other", context="a.parquet", keyring=ring)}
    md5_r = _folder(cache, recorded)
    comparer = _Comparer(_Side(cache), _Side(cache, tree=tree), ring if with_key else None)
    row = comparer.compare("zone", "s", {"md5": md5_r}, {"md5": _folder(cache, again)})
    assert row.status == BY_DESIGN and row.ok
    assert row.plaintext_identical is (True if with_key else None)
    assert "fresh nonces" in row.details[-1]
    row = comparer.compare("zone", "s", {"md5": md5_r}, {"md5": _folder(cache, changed)})
    assert (row.status, row.ok) == ((DIFFERS, False) if with_key else (BY_DESIGN, True))
    row = comparer.compare(
        "zone", "s", {"md5": md5_r}, {"md5": _folder(cache, {**again, "b": b"x"})}
    )
    assert row.status == DIFFERS and row.diff["added"] == ["b"]
    assert comparer.compare("zone", "s", {"md5": md5_r}, None).status == MISSING
