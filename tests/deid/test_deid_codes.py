"""Event codes under the field policy: standard codes kept, local codes keyed pseudonyms, and
the publish gate checks that (twinlab.deid.codes)."""

from __future__ import annotations

import pandas as pd
import pytest

from twinlab.deid import DeidKey, deidentify, scan_for_phi
from twinlab.deid.codes import is_code_pseudonym, standard_code
from twinlab.deid.policy import column_policy

#: one person: the scrubber and the scan search her name and MRN
PERSON = dict(source_patient="p1", identifiers=[("mrn", "MRN-77120")], sex="F", deceased=None,
              birth_date="1961-04-09", site="S01", phi={"name": "Marisol Thistlewood"})  # fmt: skip
PERSONS = pd.DataFrame([PERSON])
#: (code_system, code): standard codes in their system's syntax
STANDARD = [
    ("http://loinc.org", "8302-2"),
    ("http://snomed.info/sct", "44054006"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm", "860975"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "E11.9"),
    ("http://unitsofmeasure.org", "mg/dL"),
    ("ATC", "C09AA02"),
    ("CDISC SDTM PCTESTCD", "TWINURO"),
    ("CDISC SDTM AEDECOD", "HEADACHE"),
    ("http://www.ncbi.nlm.nih.gov/snp", "rs1057910"),
    ("HGVS", "NM_000771.4:c.1075A>C"),
    ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs"),
    ("twinlab:vcf-locus", "10:94981296:A:C"),
    ("twinlab:wearable", "steps_total"),
]
#: codes that can carry anything: local or unknown systems, or no system's syntax
LOCAL = [
    ("urn:oid:1.2.840.114350.1.13.99", "JOHN-SMITH-MRN123"),  # an institution's OID
    ("ODM:ST1", "IT.VS.SYSBP"),  # a study's ItemOIDs
    (None, "8302-2"),  # no system
    ("http://hospital.example.org/codes", "X1"),
    ("http://loinc.org", "JOHN-SMITH"),  # a standard system, not its syntax
    ("http://snomed.info/sct", "555-12-3456"),
    ("CDISC SDTM LBTESTCD", "MARISOL"),  # the syntax of a test code, but the patient's name
    ("CDISC SDTM AEDECOD", "SEEN BY MARISOL THISTLEWOOD"),
    # verbatim terms are the investigator's free text, no dictionary's: names no source lists
    ("CDISC SDTM AETERM", "nausea per daughter-in-law Ewa Krasinski"),
    ("CDISC SDTM CMTRT", "Lisinopril from Okonkwo pharmacy"),
    ("CDISC SDTM MHTERM", "Fall at Krasinski farm, Boyce Rd"),
]


def _events(codings) -> pd.DataFrame:
    n = len(codings)
    systems, codes = zip(*codings, strict=True)
    return pd.DataFrame(
        {
            "source_patient": ["p1"] * n,
            "time": [pd.Timestamp("2024-01-02T03:04:05Z")] * n,
            "domain": ["lab"] * n,
            "code_system": list(systems),
            "code": list(codes),
            "display": ["x"] * n,
            "source_file": ["a.json"] * n,
            "source_record": [f"entry[{i}]" for i in range(n)],
        }
    )


def test_the_field_policy_transforms_codes():
    assert column_policy("events", "code")["policy"] == "transformed"


def test_standard_codes_are_kept_and_local_codes_become_keyed_pseudonyms():
    codings = STANDARD + LOCAL + LOCAL[:1]
    _, events, _ = deidentify(PERSONS, _events(codings), key=DeidKey(bytes(32)))
    out = events["code"].tolist()
    assert out[: len(STANDARD)] == [c for _, c in STANDARD]
    local = out[len(STANDARD) :]
    assert all(is_code_pseudonym(c) for c in local)
    assert local[-1] == local[0]  # the same (system, code), the same pseudonym
    assert len(set(local[:-1])) == len(LOCAL)  # "8302-2" with no system is not LOINC's
    assert not any(c in "".join(local) for _, c in LOCAL)
    assert events.attrs["codes_pseudonymized"] == len(LOCAL) + 1
    # another key, other pseudonyms: they are keyed, not a plain hash of the code
    _, again, _ = deidentify(
        PERSONS, _events(LOCAL), key=DeidKey(b"another-key-of-32-bytes-long....")
    )
    assert set(again["code"]).isdisjoint(local)


@pytest.mark.parametrize(("system", "code"), LOCAL)
def test_the_publish_gate_blocks_a_local_code_published_verbatim(tmp_path, system, code):
    from twinlab.deid.identifiers import identifiers_from

    ids = identifiers_from(PERSONS)
    assert not standard_code(system, code, ids)
    pd.DataFrame({"code_system": [system], "code": [code]}).to_parquet(tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, ids)
    assert "policy:local_code" in {f.kind for f in found}
    assert all(code[1:] not in f.masked for f in found)


def test_the_publish_gate_passes_what_deidentify_publishes(tmp_path):
    from twinlab.deid.identifiers import identifiers_from

    _, events, _ = deidentify(PERSONS, _events(STANDARD + LOCAL), key=DeidKey(bytes(32)))
    events[["code_system", "code"]].to_parquet(tmp_path / "e.parquet")
    assert scan_for_phi(tmp_path, identifiers_from(PERSONS)) == []


def test_the_code_of_a_coded_value_follows_the_same_policy(tmp_path):
    """A qualifier ``value_code`` (FHIR valueCodeableConcept) was scrubbed with the patterns: a
    SNOMED CT code became '[NUMBER]' and its system '[URL]', a local code kept 'JOHN-SMITH'."""
    import json

    from twinlab.deid.identifiers import identifiers_from

    quals = [
        {"value_code": "260385009", "value_system": "http://snomed.info/sct", "status": "final"},
        {"value_code": "JOHN-SMITH-MRN123", "value_system": "urn:oid:1.2.840.114350.1.99"},
    ]
    frame = _events(STANDARD[:2]).assign(qualifiers=[json.dumps(q) for q in quals])
    _, events, _ = deidentify(PERSONS, frame, key=DeidKey(bytes(32)))
    out = [json.loads(q) for q in events["qualifiers"]]
    assert out[0] == quals[0]
    assert is_code_pseudonym(out[1]["value_code"])
    assert out[1]["value_system"] == quals[1]["value_system"]  # an OID: a declared system
    ids = identifiers_from(PERSONS)
    events[["code_system", "code", "qualifiers"]].to_parquet(tmp_path / "e.parquet")
    assert scan_for_phi(tmp_path, ids) == []
    # published verbatim, the local code of a coded value stops the publish
    frame[["code_system", "code", "qualifiers"]].to_parquet(tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, ids)
    assert [(f.location, f.kind) for f in found] == [
        ("column 'qualifiers', row 1 $.value_code", "policy:local_code")
    ]


#: code systems of the readers, the demo and real exports (tests/, /work/shared/data)
SYSTEMS_KEPT = [s for s, _ in STANDARD] + [
    "ODM:ST1", "ODM:1001_virus", "ODM:P2006-101", "ODM:ST_1_1", "ODM:cdisc01",
    "ODM:TEMPLATE_ST_01", "sdtm:LBTESTCD", "CDISC SDTM DM", "twinlab:study",
    "http://hl7.org/fhir/sid/cvx", "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "http://terminology.hl7.org/CodeSystem/v2-0203", "urn:oid:2.16.840.1.113883.6.238",
    "urn:oid:2.25.329800735698586629295641978511506172918",
]  # fmt: skip
#: systems of a declared syntax that carry a name, record number, date or phone
SYSTEMS_WITH_PHI = [
    "ODM:JOHN-SMITH-MRN12345",
    "ODM:Marisol_Thistlewood",
    "ODM:MRN-77120",
    "twinlab:john-smith",
    "http://terminology.hl7.org/CodeSystem/mrn-12345678",
    "ODM:DOB-03.07.1950",
    "ODM:617-555-0142",
]


def test_a_code_system_with_phi_in_its_free_part_is_not_published():
    """'ODM:<anything>' and 'twinlab:<anything>' passed the system syntax: a name or record
    number in a system was published verbatim unless a known identifier of the patient."""
    from twinlab.deid.policy import apply_policy, in_vocabulary

    assert all(in_vocabulary("code_system", s) for s in SYSTEMS_KEPT)
    assert not any(in_vocabulary("code_system", s) for s in SYSTEMS_WITH_PHI)
    frame = pd.DataFrame({"code_system": SYSTEMS_KEPT + SYSTEMS_WITH_PHI})
    out, report = apply_policy("events", frame)
    assert out["code_system"].tolist()[: len(SYSTEMS_KEPT)] == SYSTEMS_KEPT
    assert out["code_system"][len(SYSTEMS_KEPT) :].isna().all()
    assert report["invalid_values"] == {"code_system": len(SYSTEMS_WITH_PHI)}
    # nor is the code of such a system a standard code, nor a coded value's system kept
    assert not standard_code("ODM:MRN-77120", "IT.VS.SYSBP")


def test_a_coded_values_system_with_phi_is_scrubbed():
    import json

    quals = [{"value_code": "X1", "value_system": "ODM:JOHN-SMITH-MRN12345"}]
    frame = _events(STANDARD[:1]).assign(qualifiers=[json.dumps(q) for q in quals])
    _, events, _ = deidentify(PERSONS, frame, key=DeidKey(bytes(32)))
    assert "12345" not in json.loads(events["qualifiers"][0])["value_system"]


@pytest.mark.parametrize("system", SYSTEMS_WITH_PHI)
def test_the_publish_gate_blocks_a_code_system_with_phi(tmp_path, system):
    from twinlab.deid.identifiers import identifiers_from

    ids = identifiers_from(PERSONS)
    events = _events([(system, "X1")] * 2)
    _, published, _ = deidentify(PERSONS, events, key=DeidKey(bytes(32)))
    assert is_code_pseudonym(published["code"][0])  # the code itself is no finding
    published[["code_system", "code"]].to_parquet(tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, ids)
    assert ("column 'code_system', row 0", "policy:code_system") in {
        (f.location, f.kind) for f in found
    }
    assert all(system[5:] not in f.masked for f in found)


def test_the_publish_gate_passes_the_readers_code_systems(tmp_path):
    from twinlab.deid.identifiers import identifiers_from

    frame = pd.DataFrame({"code_system": SYSTEMS_KEPT, "code": ["x"] * len(SYSTEMS_KEPT)})
    frame.to_parquet(tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, identifiers_from(PERSONS))
    assert not [f for f in found if f.kind == "policy:code_system"]
