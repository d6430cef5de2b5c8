"""Outputs appear whole or not at all, and private: a folder written with ``staged_dir`` and a
file written with ``write_atomic`` are never seen half-written, and a failure (or a kill
before the last step) leaves the previous version as it was."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from twinlab.security.filemodes import staged_dir, write_atomic


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failing_block_leaves_the_previous_folder_and_no_partial_one(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as folder:
        (folder / "a.csv").write_text("1\n")
    with pytest.raises(RuntimeError), staged_dir(target) as folder:
        (folder / "a.csv").write_text("2\n")
        (folder / "b.csv").write_text("half")
        raise RuntimeError("the stage failed")
    assert _tree(target) == {"a.csv": b"1\n"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_new_version_replaces_the_whole_folder_with_private_modes(tmp_path, monkeypatch):
    monkeypatch.delenv("TWINLAB_FILE_MODE", raising=False)
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.csv").write_text("old")
    with staged_dir(target) as folder:
        (folder / "new.csv").write_text("new")
    assert _tree(target) == {"new.csv": b"new"}
    assert oct(target.stat().st_mode & 0o777) == "0o700"


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path):
    """A process killed while it writes a file with write_atomic: the file holds the old
    content, never a prefix of the new one."""
    file = tmp_path / "metrics.json"
    write_atomic(file, '{"old": true}\n')
    code = textwrap.dedent(
        f"""
        import os, signal
        from twinlab.security import filemodes
        def killed(*args):  # dies after writing the new content, before the last step
            os.kill(os.getpid(), signal.SIGKILL)
        filemodes.os.replace = killed
        filemodes.write_atomic({str(file)!r}, '{{"new": ' + '1' * 100000 + '}}')
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert file.read_text() == '{"old": true}\n'
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "metrics.json"]
    assert all(n.startswith(".metrics.json.") and n.endswith(".tmp") for n in leftovers)
