"""Coded-concept names kept by the field policy (issue 15): scrubber and PHI scan agree."""

from __future__ import annotations

import pandas as pd
import pytest

from twinlab.deid import DeidKey, IdentifierSet, deidentify, scan_for_phi
from twinlab.deid.policy import column_policy
from twinlab.deid.vocabulary import (
    CodedVocabulary,
    check_display,
    display_findings,
    shipped_vocabulary,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PERSONS = pd.DataFrame(
    {
        "source_patient": ["p1"],
        "identifiers": [[("mrn", "MRN-77120")]],
        "sex": ["F"],
        "birth_date": ["1961-04-09"],
        "deceased": [None],
        "site": ["S01"],
        "phi": [{"name": "Marisol Thistlewood", "phone": "617-555-0142"}],
    }
)
#: (code_system, code, display): declared names first, then names carrying planted identifiers
CODINGS = [
    ("CDISC SDTM PCTESTCD", "TWINURO", "Twinurostat"),  # the study drug (products)
    ("CDISC SDTM EXTRT", "TWINUROSTAT", "TWINUROSTAT"),
    ("http://loinc.org", "72166-2", "Tobacco smoking status NHIS"),  # shipped displays.csv
    ("LOINC", "4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count"),
    ("twinlab:study", "AE-7", "Twinurostat rash"),  # the study's own code system
    ("CDISC SDTM PCTESTCD", "TWINURO", "Twinurostat for Marisol Thistlewood"),
    ("CDISC SDTM PCTESTCD", "TWINURO", "Twinurostat, call 617-555-0199"),
    ("http://loinc.org", "72166-2", "Tobacco smoking status NHIS MRN 4471920"),
    ("http://loinc.org", "72166-2", "Tobacco smoking status NHIS 2023-03-14"),
    ("twinlab:study", "AE-8", "Twinurostat rash"),  # a declared name beside another code
]
KEPT = 5


def _vocabulary() -> CodedVocabulary:
    study = CodedVocabulary(
        [{"system": "twinlab:study", "code": "AE-7", "display": "Twinurostat rash"}],
        products=["Twinurostat"],
    )
    return shipped_vocabulary() | study


def _events() -> pd.DataFrame:
    n = len(CODINGS)
    systems, codes, displays = zip(*CODINGS, strict=True)
    return pd.DataFrame(
        {
            "source_patient": ["p1"] * n,
            "time": [pd.Timestamp("2024-01-02T03:04:05Z")] * n,
            "end_time": [pd.NaT] * n,
            "domain": ["drug"] * n,
            "code_system": list(systems),
            "code": list(codes),
            "display": list(displays),
            "value_text": [None] * n,
            "source_file": ["a.json"] * n,
            "source_record": [f"entry[{i}]" for i in range(n)],
        }
    )


def test_display_policy_declares_the_vocabulary():
    assert column_policy("events", "display")["keep"] == "coded_display"


def test_declared_displays_survive_and_identifiers_do_not():
    _, events, _ = deidentify(PERSONS, _events(), key=DeidKey(bytes(32)), vocabulary=_vocabulary())
    out = events["display"].tolist()
    assert out[:KEPT] == [c[2] for c in CODINGS[:KEPT]]
    assert events.attrs["displays_kept"] == KEPT
    joined = " ".join(out[KEPT:])
    for planted in ("Thistlewood", "617-555-0199", "4471920", "2023-03-14"):
        assert planted not in joined
    assert out[-1] == "[PHI] rash"  # not declared for AE-8: scrubbed as free text


def test_without_the_vocabulary_the_engine_removes_the_drug_name():
    empty = CodedVocabulary()
    _, events, _ = deidentify(PERSONS, _events(), key=DeidKey(bytes(32)), vocabulary=empty)
    assert events["display"].iloc[0] == "[PHI]"


def test_known_identifiers_are_removed_from_a_kept_display():
    vocab = CodedVocabulary([("twinlab:study", "X1", "Thistlewood syndrome")])
    frame = (
        _events()
        .iloc[:1]
        .assign(code_system="twinlab:study", code="X1", display="Thistlewood syndrome")
    )
    _, events, _ = deidentify(PERSONS, frame, key=DeidKey(bytes(32)), vocabulary=vocab)
    assert events["display"].iloc[0] == "[NAME] syndrome"


def test_a_display_that_repeats_its_published_code_is_kept(tmp_path):
    """SDTM AEDECOD "Fall" and "Death" (MedDRA terms kept as codes) were published with the
    displays '[DATE]' and '[PHI]': the engine reads a season and a name. A display that only
    repeats a code published verbatim adds nothing; a local code's display is still scrubbed
    (its season with a year is a date: "Fall" alone, the adverse event, is no PHI)."""
    from twinlab.deid.identifiers import identifiers_from

    frame = pd.concat([_events().iloc[:1]] * 4, ignore_index=True).assign(
        code_system=["CDISC SDTM AEDECOD", "CDISC SDTM AEDECOD", "urn:local", "CDISC SDTM AEDECOD"],
        code=["Fall", "DEATH", "Fall 2019", "THISTLEWOOD"],
        display=["Fall", "Death", "Fall 2019", "Thistlewood"],
        source_record=[f"entry[{i}]" for i in range(4)],
    )
    _, events, _ = deidentify(PERSONS, frame, key=DeidKey(bytes(32)), vocabulary=_vocabulary())
    assert events["display"].tolist() == ["Fall", "Death", "[DATE]", "[NAME]"]
    events[["code_system", "code", "display"]].to_parquet(tmp_path / "events.parquet")
    ids = identifiers_from(PERSONS)
    found = scan_for_phi(tmp_path, ids, text_columns=("display",), vocabulary=_vocabulary())
    assert found == []


def _write(tmp_path, displays) -> None:
    """The codings as published: a code of the study's system not declared (AE-8) is a
    keyed pseudonym (twinlab.deid.codes)."""
    from twinlab.deid.codes import transform_codes

    frame = pd.DataFrame(CODINGS, columns=["code_system", "code", "display"])
    frame["code"] = transform_codes(
        frame["code_system"], frame["code"], key=bytes(32), vocabulary=_vocabulary()
    )
    frame["display"] = displays
    frame.to_parquet(tmp_path / "events.parquet")
    (tmp_path / "a.json").write_text('{"n": 1}')  # scanned first: the scan goes on with its set


def test_scan_passes_declared_names_and_fails_planted_identifiers(tmp_path):
    ids = IdentifierSet([("name", "Marisol Thistlewood"), ("name", "Thistlewood")])
    clean = [c[2] for c in CODINGS[:KEPT]] + ["[PHI]"] * (len(CODINGS) - KEPT)
    _write(tmp_path, clean)
    text = ("display",)
    assert scan_for_phi(tmp_path, ids, text_columns=text, vocabulary=_vocabulary()) == []
    # without the vocabulary the drug name is what the engine's catch-all flags, and the
    # study's own code (AE-7) is a local code published verbatim
    strict = scan_for_phi(tmp_path, ids, text_columns=text)
    assert {f.kind for f in strict} == {"detector:phi", "policy:local_code"}
    # every planted identifier is found, whether or not its coding is declared
    _write(tmp_path, [c[2] for c in CODINGS])
    found = scan_for_phi(tmp_path, ids, text_columns=text, vocabulary=_vocabulary())
    kinds = {f.kind for f in found}
    assert {"name", "pattern:phone", "detector:mrn", "detector:date"} <= kinds
    assert not any(f.location.startswith("column 'display', row 0") for f in found)


def test_a_kept_display_that_carries_a_pattern_fails_the_scan(tmp_path):
    """The scan re-checks kept values: a vocabulary that bypassed validation cannot leak."""
    vocab = CodedVocabulary([("twinlab:study", "X1", "Drug one")])
    vocab._triples = vocab._triples | {("twinlab:study", "x2", "drug two 2023-03-14")}
    pd.DataFrame(
        {"code_system": ["twinlab:study"], "code": ["x2"], "display": ["Drug two 2023-03-14"]}
    ).to_parquet(tmp_path / "events.parquet")
    found = scan_for_phi(tmp_path, None, text_columns=("display",), vocabulary=vocab)
    assert [f.kind for f in found] == ["detector:date"]
    assert found[0].location.endswith("(coded display)")


@pytest.mark.parametrize(
    ("display", "kind"),
    [
        ("Urate seen 2023-03-14", "date"),
        ("Drug, call (617) 555-0142", "phone"),
        ("Drug for j.doe@example.org", "email"),
        ("Drug MRN 4471920", "mrn"),
        ("Drug 900-12-3456", "ssn"),
        ("Drug at www.clinic-example.org", "url"),
        ("Drug, 94-year-old", "age"),
    ],
)
def test_declared_entries_that_look_like_identifiers_are_refused(display, kind):
    with pytest.raises(ValueError, match=rf"vocabulary\[0\]: .*identifier \(.*{kind}"):
        CodedVocabulary([("twinlab:study", "X1", display)])


def test_product_names_that_are_person_names_are_refused():
    for name in ("Marisol", "Smith", "Hallie Brightwater"):
        with pytest.raises(ValueError, match=r"products\[0\]: .*person's name"):
            CodedVocabulary(products=[name])
    assert check_display("Twinurostat", where="p", product=True) == "Twinurostat"


def test_shipped_vocabulary_is_clean_and_exact():
    vocab = shipped_vocabulary()
    assert len(vocab) > 50
    assert vocab.keeps("http://loinc.org", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma")
    # Synthea's misspelling is no RxNorm name; a name beside another code is not kept
    assert not vocab.keeps(RXNORM, "316672", "Simvistatin 10 MG")
    assert vocab.keeps(RXNORM, "316672", "simvastatin  10 mg")
    assert not vocab.keeps("http://loinc.org", "2161-8", "Tobacco smoking status NHIS")
    assert display_findings("Hematocrit [Volume Fraction] of Blood by Automated count") == []


def test_a_declared_source_display_is_kept_and_still_scanned(tmp_path):
    """The source's name of a code that a code map replaced (qualifier ``source_display``, the
    study's --TEST) lost words to the engine ("[PHI]. Mean Corpuscular Hemoglobin"): kept
    when declared for its source system and code, checked by the scan for every pattern."""
    import json

    vocab = CodedVocabulary([("twinlab:study", "X1", "Griptax rash")])
    vocab._triples = vocab._triples | {("twinlab:study", "x2", "griptax 2023-03-14")}
    pairs = [("X1", "Griptax rash"), ("X3", "Griptax rash")]
    frame = pd.concat([_events().iloc[:1]] * len(pairs), ignore_index=True).assign(
        qualifiers=[
            {"source_system": "twinlab:study", "source_code": c, "source_display": d}
            for c, d in pairs
        ],
        source_record=[f"entry[{i}]" for i in range(len(pairs))],
    )
    _, events, _ = deidentify(PERSONS, frame, key=DeidKey(bytes(32)), vocabulary=vocab)
    shown = [q["source_display"] for q in events["qualifiers"]]
    assert shown == ["Griptax rash", "[PHI] rash"]  # X3: not declared, free text
    published = events[["code_system", "code", "display"]].assign(
        qualifiers=events["qualifiers"].map(json.dumps)
    )
    published.to_parquet(tmp_path / "e.parquet")
    assert scan_for_phi(tmp_path, None, vocabulary=vocab) == []
    leaked = {"source_system": "twinlab:study", "source_code": "x2"}
    pd.DataFrame(
        {"qualifiers": [json.dumps({**leaked, "source_display": "Griptax 2023-03-14"})]}
    ).to_parquet(tmp_path / "e.parquet")
    found = scan_for_phi(tmp_path, None, vocabulary=vocab)
    assert [f.kind for f in found] == ["detector:date"]
    assert found[0].location.endswith("$.source_display (coded display)")
