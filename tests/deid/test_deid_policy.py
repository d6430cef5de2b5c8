"""Field policy (declared columns, vocabularies) and the free-text engine's leaks of issue 14."""

from __future__ import annotations

import pandas as pd
import pytest

from twinlab.deid import IdentifierSet, TextScrubber
from twinlab.deid.policy import apply_policy, column_policy, field_policy, in_vocabulary
from twinlab.deid.text import find_phi
from twinlab.timeline.schema import column_specs


@pytest.mark.parametrize("table", ["patients", "events", "links"])
def test_every_timeline_column_is_declared(table):
    for spec in column_specs(table):
        name = "cov_x" if spec.regex else spec.name
        assert column_policy(table, name) is not None, f"{table}.{spec.name}"


def test_undeclared_columns_are_dropped_and_named():
    frame = pd.DataFrame({"code": ["8302-2"], "subject_ref": ["Patient/5521"], "mrn": ["1"]})
    out, report = apply_policy("events", frame)
    assert list(out.columns) == ["code"]
    assert report["dropped_columns"] == ["subject_ref", "mrn"]


def test_vocabulary_columns_take_no_free_text():
    frame = pd.DataFrame(
        {
            "unit": ["mg/dL", "Marisol Thistlewood", "LB", None],
            "code_system": [
                "http://loinc.org",
                "CDISC SDTM LBTESTCD",
                "http://x.example/doe",
                None,
            ],
        }
    )
    out, report = apply_policy("events", frame)
    assert out["unit"].tolist()[:3] == ["mg/dL", None, "[lb_av]"] or pd.isna(out["unit"][1])
    assert out.loc[2, "unit"] == "[lb_av]" and pd.isna(out.loc[1, "unit"])
    assert pd.isna(out.loc[2, "code_system"]) and out.loc[1, "code_system"].startswith("CDISC")
    assert report["invalid_values"] == {"unit": 1, "code_system": 1}
    assert report["normalized_values"] == {"unit": 1}


def test_policy_file_lists_known_treatments_only():
    policy = field_policy()
    assert "subject_ref" in policy["drop_qualifiers"]
    assert in_vocabulary(["F", "M", "U"], "F") and not in_vocabulary(["F", "M", "U"], "female")


LEAKS = {
    "Seen by Dr. Hallie Brightwater": "Brightwater",
    "call 555-0142 after lunch": "555-0142",
    "cell 572 3035": "572 3035",
    "plate 7ABC123 in the lot": "7ABC123",
    "pump serial K8J2-99A1 replaced": "K8J2-99A1",
    "Medicaid 12345678A": "12345678A",
    "portal carlosclinic.org/p": "carlosclinic.org",
    "from host ws-12.radiology.local": "radiology.local",
    "lives in Millbrook Falls": "Millbrook",
    "follow-up Mar 3rd": "Mar 3rd",
    "seen 03/07.": "03/07",
    "since 14 Feb": "14 Feb",
    "a 94-year-old woman": "94-year-old",
    "works at Quillfeather Logistics since": "Quillfeather",
    "see Patient/5521": "5521",
}


@pytest.mark.parametrize("text", list(LEAKS))
def test_reviewed_leaks_are_scrubbed_and_the_scan_agrees(text):
    out = TextScrubber().scrub(text)
    assert LEAKS[text] not in out, out
    assert find_phi(out) == []  # the scan's detectors find nothing left in scrubbed text


@pytest.mark.parametrize(
    "text",
    [
        "warfarin 5 mg daily, INR 2.4, creatinine 88 umol/L",
        "CYP2C9 *1/*3 genotype at rs1057910",
        "HbA1c 6.1%, BP 132/84 mmHg, eGFR 54 mL/min/1.73m2",
        "atrial fibrillation, continue metoprolol",
    ],
)
def test_clinical_text_survives_the_engine(text):
    assert TextScrubber().scrub(text) == text


def test_relatives_known_names_are_removed_even_in_lower_case():
    ids = IdentifierSet(
        [("name", "Marisol Thistlewood"), ("name", "Marisol"), ("name", "Thistlewood")]
    )
    out = TextScrubber(ids).scrub("spoke with marisol thistlewood (daughter)")
    assert "marisol" not in out and "thistlewood" not in out


def test_state_outside_the_states_is_replaced_by_null():
    """A city or ZIP code in Patient.address.state is geography below a state: not kept."""
    states = ["MA", "Springfield, MA 01103", "Ohio", "02139"]
    frame = pd.DataFrame({"patient_id": ["P-A", "P-B", "P-C", "P-D"], "cov_state": states})
    out, report = apply_policy("patients", frame)
    assert out["cov_state"].tolist()[::2] == ["MA", "Ohio"]
    assert out["cov_state"].iloc[[1, 3]].isna().all()
    assert report["invalid_values"] == {"cov_state": 2}


def test_a_ucum_annotation_holding_phi_is_no_unit() -> None:
    # UCUM lets an annotation hold any text: "mg{JohnSmith}/dL" parsed, so the unit columns
    # (kept) published it verbatim, also through the known-spelling path
    events = pd.DataFrame({
        "unit": ["mg{JohnSmith}/dL", "{steps}/min", "mL/min/{1.73_m2}", "{call 617-555-0100}"],
        "orig_unit": ["mg{Linda Garcia}/dL", "{score}", "mg/dL", "LB"],
    })  # fmt: skip
    out, report = apply_policy("events", events)
    assert out["unit"].isna().tolist() == [True, False, False, True]
    assert out["orig_unit"].tolist()[1:] == ["{score}", "mg/dL", "[lb_av]"]
    assert pd.isna(out["orig_unit"].iloc[0])
    assert report["invalid_values"] == {"unit": 2, "orig_unit": 1}
