from __future__ import annotations

import pandas as pd
import pytest
from repo_helpers import make_cohort

from twinlab.timeline import Cohort, add_row_hash, event_id

T0 = pd.Timestamp("2024-01-01T00:00", tz="UTC")
LOINC = "http://loinc.org"


def _event(pid: str, time: pd.Timestamp, code: str, value: float | None, **extra: object) -> dict:
    record = f"{pid}/{code}/{time.isoformat()}"
    return {
        "event_id": event_id("hand.csv", record),
        "patient_id": pid,
        "time": time,
        "domain": extra.pop("domain", "lab"),
        "code_system": extra.pop("code_system", LOINC),
        "code": code,
        "value_num": value,
        "unit": extra.pop("unit", None if value is None else "mg/dL"),
        "source_file": "hand.csv",
        "source_record": record,
        **extra,
    }


@pytest.fixture(scope="session")
def hand_cohort() -> Cohort:
    """Three patients with known answers (see tests/timeline/test_cohort.py)."""
    h = pd.Timedelta(hours=1)
    b0 = T0 + 24 * h
    patients = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C"],
            "sex": ["F", "M", "F"],
            "birth_year": ["1970", "90+", None],
            "site": ["S1", "S2", None],
            "index_date": pd.Series([T0, b0, pd.NaT], dtype="datetime64[us, UTC]"),
            "sources": "hand.csv",
            "cov_weight_kg": [80.0, 60.0, 65.0],
            "cov_smoker": ["no", "yes", None],
        }
    )
    rows = [
        _event("A", T0 - 48 * h, "2160-0", 1.0),
        _event("A", T0 - 2 * h, "2160-0", 1.2),
        _event("A", T0 + 10 * h, "2160-0", 2.0),
        _event("A", T0, "DRUGX", 100.0, domain="dose", code_system="urn:local", unit="mg"),
        _event("A", T0 + 0.5 * h, "C1", 1.0, domain="concentration", unit="ng/mL"),
        _event("A", T0 + 0.75 * h, "C1", 3.0, domain="concentration", unit="ng/mL"),
        _event("A", T0 + 2.5 * h, "C1", 5.0, domain="concentration", unit="ng/mL"),
        _event(
            "A",
            T0 - pd.Timedelta(days=100),
            "90560007",
            None,
            domain="condition",
            code_system="http://snomed.info/sct",
        ),
        _event("B", b0 + 5 * h, "2160-0", 0.8),
        _event("B", b0 + 1 * h, "C1", 7.0, domain="concentration", unit="ng/mL"),
        _event("C", T0, "2160-0", 0.9),
    ]
    events = add_row_hash(pd.DataFrame(rows))
    ids = events["event_id"]
    links = pd.DataFrame(
        {
            "from_event_id": [ids[3]] * 3,
            "to_event_id": [ids[4], ids[5], ids[6]],
            "relation": "dose_to_observation",
            "lag_hours": [0.5, 0.75, 2.5],
        }
    )
    return Cohort(patients, events, links)


@pytest.fixture(scope="session")
def cohort() -> Cohort:
    return make_cohort(n_patients=5, seed=0)
