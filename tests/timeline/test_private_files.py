"""Timeline tables hold patient-level rows: written private to their owner whatever the
umask, also by ``twinlab timeline migrate`` (real files, the real command)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.timeline import Cohort


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}


def test_cohort_write_and_timeline_migrate_are_private(cohort: Cohort, tmp_path, open_umask):
    written = cohort.write(tmp_path / "cohort")
    assert set(_modes(written).values()) == {0o700, 0o600}
    stale = tmp_path / "out"
    stale.mkdir()
    (stale / "events.parquet").write_bytes(b"old")  # an earlier, readable file is replaced
    os.chmod(stale / "events.parquet", 0o644)
    result = CliRunner().invoke(cli, ["timeline", "migrate", str(written), "--out", str(stale)])
    assert result.exit_code == 0, result.output
    modes = _modes(stale)
    assert {modes[f"{t}.parquet"] for t in ("patients", "events", "links")} == {0o600}


def test_a_group_mode_is_honoured(cohort: Cohort, tmp_path, open_umask, monkeypatch):
    monkeypatch.setenv("TWINLAB_FILE_MODE", "640")
    written = cohort.write(tmp_path / "shared")
    assert set(_modes(written).values()) == {0o750, 0o640}
