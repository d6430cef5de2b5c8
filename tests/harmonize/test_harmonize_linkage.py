"""Fellegi–Sunter linkage: conflicting strong identifiers never merge, ambiguity is reported."""

from __future__ import annotations

from twinlab.harmonize.linkage import MATCH_THRESHOLD, link_persons, linkage_report

SHARED_MAIL = ("email", "family@example.org")


def _groups(table):
    return {tuple(sorted(zip(g["format"], g["source_patient"], strict=True)))
            for _, g in table.groupby("patient_key")}  # fmt: skip


def test_shared_email_with_conflicting_strong_ids_keeps_two_people_and_reports_it():
    ids = {
        ("fhir", "a"): [("urn:twinlab:study:S:subject", "S-1"), ("http://hl7.org/fhir/sid/us-ssn",
                        "900-00-0001"), ("urn:site:1:mrn", "M1"), SHARED_MAIL],
        ("fhir", "b"): [("urn:twinlab:study:S:subject", "S-2"), ("http://hl7.org/fhir/sid/us-ssn",
                        "900-00-0002"), ("urn:site:1:mrn", "M2"), SHARED_MAIL],
    }  # fmt: skip
    table = link_persons(ids, ids)
    assert table["patient_key"].nunique() == 2
    review = table.attrs["review"]
    assert len(review) == 1
    row = review.iloc[0]
    assert row["reason"] == "strong identifier conflict"
    assert row["agree"] == "email" and set(row["disagree"].split(",")) == {"mrn", "ssn", "usubjid"}
    report = linkage_report(review, lambda node: f"P-{node[1]}")
    text = repr(report)
    assert report["ambiguous"] == 1
    assert report["pairs"][0]["disagree"] == "mrn,ssn,subject"
    assert not any(v in text for v in ("S-1", "900-00", "M1", "M2", "family@"))


def test_an_email_shared_by_three_links_no_one_and_a_unique_one_links_with_a_report():
    ids = {
        ("fhir", "a"): [SHARED_MAIL],
        ("fhir", "b"): [SHARED_MAIL],
        ("wearables", "w"): [SHARED_MAIL],
    }
    table = link_persons(ids, ids)
    assert table["patient_key"].nunique() == 3
    review = table.attrs["review"]
    assert len(review) == 3 and not review["merged"].any()
    assert (review["score"] < MATCH_THRESHOLD).all()
    del ids[("fhir", "b")]
    table = link_persons(ids, ids)
    assert table["patient_key"].nunique() == 1
    assert table.attrs["review"]["merged"].tolist() == [True]
    report = linkage_report(table.attrs["review"], lambda node: node[1])
    assert (report["ambiguous"], report["weak_links"]) == (0, 1)


def test_a_strong_identifier_links_sources_and_mrns_of_other_sites_do_not_conflict():
    ids = {
        ("fhir", "a"): [("urn:twinlab:study:S:subject", "S-1"), ("urn:site:1:mrn", "M1")],
        ("sdtm", "S-1"): [("usubjid", "S-1")],
        ("vcf", "S-1"): [("usubjid", "S-1")],
        ("fhir", "c"): [("urn:twinlab:study:S:subject", "S-1"), ("urn:site:2:mrn", "Z9")],
    }
    table = link_persons(ids, ids)
    assert _groups(table) == {(("fhir", "a"), ("fhir", "c"), ("sdtm", "S-1"), ("vcf", "S-1"))}
    assert table.attrs["review"].empty


def test_transitive_merge_of_conflicting_people_is_refused():
    # a = b by SSN, b = c by subject id, but a and c carry different subject ids
    ids = {
        ("fhir", "a"): [("usubjid", "S-1"), ("ssn", "900-00-0001")],
        ("fhir", "b"): [("ssn", "900-00-0001"), ("mrn", "M7")],
        ("sdtm", "c"): [("usubjid", "S-2"), ("mrn", "M7")],
    }
    table = link_persons(ids, ids)
    assert len(_groups(table)) == 2
    keys = dict(zip(table["source_patient"], table["patient_key"], strict=True))
    assert keys["a"] != keys["c"]
    assert table.attrs["review"]["reason"].str.contains("conflicting usubjid").any()


def test_linkage_does_not_depend_on_input_order():
    ids = {
        ("fhir", "x"): [("usubjid", "S-1"), SHARED_MAIL],
        ("fhir", "y"): [("usubjid", "S-2"), SHARED_MAIL],
        ("sdtm", "S-1"): [("usubjid", "S-1")],
    }
    forward = link_persons(list(ids), ids).sort_values("source_patient").reset_index(drop=True)
    backward = link_persons(list(ids)[::-1], dict(reversed(ids.items())))
    backward = backward.sort_values("source_patient").reset_index(drop=True)
    assert forward.equals(backward)
