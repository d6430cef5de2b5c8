from __future__ import annotations

import re

import pandas as pd

from twinlab.timeline import Cohort, event_id, row_hash


def test_event_id_is_stable_and_vectorized() -> None:
    one = event_id("labs.csv", "row=7")
    assert one == event_id("labs.csv", "row=7")
    assert one != event_id("labs.csv", "row=8")
    assert re.fullmatch(r"ev-[0-9a-f]{24}", one)
    many = event_id(pd.Series(["labs.csv", "x"]), pd.Series(["row=7", "y"]))
    assert list(many) == [one, event_id("x", "y")]


def test_row_hash_is_deterministic_sha256_of_content(cohort: Cohort) -> None:
    events = cohort.events
    hashes = row_hash(events)
    assert hashes.str.fullmatch(r"[0-9a-f]{64}").all()
    assert hashes.is_unique
    pd.testing.assert_series_equal(hashes, events["row_hash"], check_names=False)


def test_row_hash_changes_with_content_not_with_derived_columns(cohort: Cohort) -> None:
    events = cohort.events.head(3).copy()
    before = row_hash(events)
    derived = events.assign(event_id="other", status="amended", hours_from_index=0.0)
    pd.testing.assert_series_equal(row_hash(derived), before)
    changed = events.copy()
    changed.loc[0, "value_num"] = changed.loc[0, "value_num"] + 1e-12
    after = row_hash(changed)
    assert after[0] != before[0]
    assert (after[1:] == before[1:]).all()
