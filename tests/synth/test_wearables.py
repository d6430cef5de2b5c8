"""Wearable exports: header PHI, offset timestamps, one row per minute."""

from __future__ import annotations

import datetime as dt
import itertools

from .conftest import Study


def test_wearable_files_are_per_minute_with_offsets(study: Study) -> None:
    files = sorted((study.raw / "wearables").glob("*.csv"))
    n_rand = int((study.patients.ARMCD != "SCRNFAIL").sum())
    assert len(files) == round(study.config.wearable_fraction * n_rand)
    serials = set(study.patients.wearable_serial.dropna())
    for path in files:
        lines = path.read_text("utf-8").splitlines()
        comments = [ln for ln in lines if ln.startswith("#")]
        assert any("account_holder" in c for c in comments)
        assert any("@example" in c for c in comments)
        assert path.stem in serials
        rows = lines[len(comments) + 1 :]
        assert lines[len(comments)] == "timestamp,heart_rate,steps"
        assert len(rows) == 1440 * study.config.wearable_days
        stamps = [dt.datetime.fromisoformat(r.split(",")[0]) for r in rows]
        assert all(s.utcoffset() is not None for s in stamps)
        assert rows[0].split(",")[0][-6:] in {"-05:00", "-06:00", "-08:00"}
        assert all((b - a) == dt.timedelta(minutes=1) for a, b in itertools.pairwise(stamps))
        steps = [int(r.split(",")[2]) for r in rows]
        night = sum(steps[: 5 * 60])
        day = sum(steps[10 * 60 : 15 * 60])
        assert day > night
