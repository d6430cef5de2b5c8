"""define.xml codelists beside SDTM data: the study's terms kept verbatim, nothing else.

Synthetic SDTM CSV folders with a small Define-XML (a study drug and a test code the clinical
engine would remove) are harmonized end to end; hostile and malformed define.xml files are
reported and skipped; the real CDISC pilot define.xml files of ``../shared/data`` are read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from repo_helpers import shared_data

from twinlab.deid import DeidKey
from twinlab.deid.vocabulary import shipped_vocabulary
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.ingest import read_sources
from twinlab.ingest.define import define_files, read_define, study_vocabulary
from twinlab.security.crypto import Keyring

DRUG = "TWINUROSTAT"
#: A test code and its decode: "Griptax" is no word of the engine's whitelist.
TEST = ("GRIPTX", "Griptax Grip Strength")
#: A test code that the shipped code map replaces by LOINC 8480-6: its name, the study's own,
#: becomes the qualifier ``source_display``.
MAPPED = ("SYSBP", "Griptax Systolic Pressure")


def _define(items: str, refs: str = "", extra: str = "") -> str:
    """A Define-XML 2.0 document: EX and VS datasets, the EXTRT and VSTESTCD codelists."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.0"
     FileOID="DEF.TEST" ODMVersion="1.3.2" FileType="Snapshot">
 <Study OID="TWIN01">
  <MetaDataVersion OID="MDV.1" Name="SDTM" def:DefineVersion="2.0.0">
   <ItemGroupDef OID="IG.EX" Name="EX" Domain="EX">
    <ItemRef ItemOID="IT.EX.EXTRT" Mandatory="Yes"/>
   </ItemGroupDef>
   <ItemGroupDef OID="IG.VS" Name="VS" Domain="VS">
    <ItemRef ItemOID="IT.VS.VSTESTCD" Mandatory="Yes"/>{refs}
   </ItemGroupDef>
   <ItemDef OID="IT.EX.EXTRT" Name="EXTRT" DataType="text">
    <CodeListRef CodeListOID="CL.EXTRT"/>
   </ItemDef>
   <ItemDef OID="IT.VS.VSTESTCD" Name="VSTESTCD" DataType="text">
    <CodeListRef CodeListOID="CL.VSTESTCD"/>
   </ItemDef>{extra}
   <CodeList OID="CL.EXTRT" Name="EXTRT" DataType="text">
    <EnumeratedItem CodedValue="{DRUG}"/>
    <EnumeratedItem CodedValue=" "/>{items}
   </CodeList>
   <CodeList OID="CL.VSTESTCD" Name="VSTESTCD" DataType="text">
    <CodeListItem CodedValue="{TEST[0]}">
     <Decode><TranslatedText xml:lang="en">{TEST[1]}</TranslatedText></Decode>
    </CodeListItem>
    <CodeListItem CodedValue="{MAPPED[0]}">
     <Decode><TranslatedText xml:lang="en">{MAPPED[1]}</TranslatedText></Decode>
    </CodeListItem>
   </CodeList>
  </MetaDataVersion>
 </Study>
</ODM>
"""


#: A codelist on a free-text variable (the verbatim medication name): never used.
FREE_TEXT_REF = '\n    <ItemRef ItemOID="IT.CM.CMTRT" Mandatory="Yes"/>'
FREE_TEXT_DEF = """
   <ItemDef OID="IT.CM.CMTRT" Name="CMTRT" DataType="text">
    <CodeListRef CodeListOID="CL.EXTRT"/>
   </ItemDef>"""
#: Terms of the EXTRT codelist in which a Safe Harbor pattern fires.
BAD_TERMS = {
    "phone": f"{DRUG} CALL 617-555-0100",
    "date": f"{DRUG} SINCE 2021-03-04",
    "email": f"{DRUG} J.DOE@EXAMPLE.ORG",
}
HOSTILE = {
    "xxe": '<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    "<ODM><Study>&x;</Study></ODM>\n",
    "billion laughs": '<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa">'
    + "".join(
        f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "]>\n<ODM>&i;</ODM>\n",
    "not xml": "STUDYID,DOMAIN\nTWIN01,EX\n",
}


def _sdtm(folder: Path, define: str | None) -> Path:
    """An EX, VS, PC and CM folder (two subjects) with ``define`` as its define.xml."""
    folder.mkdir(parents=True)
    subjects = ("TWIN01-001", "TWIN01-002")
    ex = ["STUDYID,DOMAIN,USUBJID,EXSEQ,EXTRT,EXDOSE,EXDOSU,EXSTDTC"]
    ex += [f"TWIN01,EX,{s},1,{DRUG},5,mg,2024-01-0{i + 1}" for i, s in enumerate(subjects)]
    ex += [f"TWIN01,EX,{subjects[0]},2,{BAD_TERMS['phone']},5,mg,2024-01-03"]
    vs = ["STUDYID,DOMAIN,USUBJID,VSSEQ,VSTESTCD,VSTEST,VSORRES,VSSTRESN,VSSTRESU,VSDTC"]
    vs += [f"TWIN01,VS,{s},1,{TEST[0]},{TEST[1]},31,31,kg,2024-01-02" for s in subjects]
    vs += [f"TWIN01,VS,{s},2,{MAPPED[0]},{MAPPED[1]},120,120,mm[Hg],2024-01-02" for s in subjects]
    pc = ["STUDYID,DOMAIN,USUBJID,PCSEQ,PCTESTCD,PCTEST,PCORRES,PCSTRESN,PCSTRESU,PCDTC"]
    pc += [f"TWIN01,PC,{s},1,TWU,{DRUG},1.5,1.5,ug/mL,2024-01-02T10:00" for s in subjects]
    cm = ["STUDYID,DOMAIN,USUBJID,CMSEQ,CMTRT,CMSTDTC"]
    cm += [f"TWIN01,CM,{subjects[0]},1,took {DRUG} with food,2024-01-02"]
    for name, rows in (("ex.csv", ex), ("vs.csv", vs), ("pc.csv", pc), ("cm.csv", cm)):
        (folder / name).write_text("\n".join(rows) + "\n")
    if define is not None:
        (folder / "define.xml").write_text(define)
    return folder


def _run(sources: Path, out: Path):
    result = harmonize(
        [sources], out_dir=out / "out", raw_zone=out / "zone",
        config=HarmonizeConfig(free_text={"sdtm": "scrub"}),
        key=DeidKey(b"define-xml-test-deid-key-32-byte"),
        keyring=Keyring({"t": b"define-xml-test-master-key-32-by"}),
    )  # fmt: skip
    events = pq.read_table(out / "out" / "events.parquet").to_pandas()
    return result, events


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same data harmonized with a good, a hostile and no define.xml."""
    root = tmp_path_factory.mktemp("define")
    good = _define(
        "".join(f'\n    <EnumeratedItem CodedValue="{t}"/>' for t in BAD_TERMS.values()),
        FREE_TEXT_REF,
        FREE_TEXT_DEF,
    )
    out = {}
    for name, define in (("good", good), ("hostile", HOSTILE["billion laughs"]), ("none", None)):
        out[name] = _run(_sdtm(root / name / "src", define), root / name)
    return out


def test_a_codelist_term_is_kept_verbatim_and_its_lineage_reported(runs):
    result, events = runs["good"]
    assert result.phi_findings == []
    # the study drug (an EXTRT term) names the analyte of the concentrations: a product
    levels = events[events["domain"] == "concentration"]
    assert list(levels["display"]) == [DRUG, DRUG]
    vitals = events[events["domain"] == "vital"]
    assert set(vitals["display"]) == {TEST[1], "Systolic blood pressure"}
    policy = result.report["field_policy"]
    assert policy["displays_kept_by_define_xml"] == 4
    (lineage,) = policy["define_xml"]
    assert lineage["variables"] == {"EXTRT": ["CL.EXTRT"], "VSTESTCD": ["CL.VSTESTCD"]}
    assert lineage["entries"] == 1 + 2  # the drug; two test names (refused terms aside)
    assert lineage["products"] == [DRUG]
    assert lineage["file"].startswith("src-")  # keyed: the path lives in the raw zone
    # without the define.xml the clinical engine removes both names
    _, plain = runs["none"]
    shown = set(plain.loc[plain["domain"].isin(["concentration", "vital"]), "display"])
    assert shown == {"[PHI]", "[PHI] Strength", "Systolic blood pressure"}


def test_a_mapped_codes_declared_source_name_is_kept(runs):
    # SYSBP is published as LOINC 8480-6; the study's name of the test stays beside it
    result, events = runs["good"]
    assert result.phi_findings == []  # the scan checked it for every pattern
    mapped = events[events["code"] == "8480-6"]["qualifiers"].map(json.loads)
    assert [q["source_display"] for q in mapped] == [MAPPED[1], MAPPED[1]]
    _, plain = runs["none"]
    mapped = plain[plain["code"] == "8480-6"]["qualifiers"].map(json.loads)
    assert [q["source_display"] for q in mapped] == ["[PHI] Systolic Pressure"] * 2


def test_the_same_word_in_free_text_is_still_scrubbed(runs):
    result, events = runs["good"]
    meds = events[events["domain"] == "medication"]
    assert len(meds) == 1
    for column in ("display", "value_text"):
        text = str(meds[column].iloc[0])
        assert DRUG not in text.upper() and "[PHI]" in text
    # CMTRT refers to the codelist, but a verbatim medication name is free text: not used
    (lineage,) = result.report["field_policy"]["define_xml"]
    assert lineage["skipped"] == {"CMTRT": "CL.EXTRT"}


def test_a_term_with_an_identifier_pattern_is_refused_and_scrubbed(runs, tmp_path):
    result, events = runs["good"]
    (lineage,) = result.report["field_policy"]["define_xml"]
    assert len(lineage["refused"]) == len(BAD_TERMS)
    for kind, line in zip(BAD_TERMS, lineage["refused"], strict=True):
        assert line.startswith("define.xml CodeList CL.EXTRT item ")
        assert f"({kind})" in line and "\n" not in line
        assert DRUG not in line and "617" not in line  # the reason never quotes the term
    shown = " ".join(events["display"].astype(str))
    assert "617-555-0100" not in shown and BAD_TERMS["phone"] not in shown
    assert "[PHONE]" in shown


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_or_malformed_define_xml_is_reported_in_one_line(kind, tmp_path):
    folder = _sdtm(tmp_path / "src", HOSTILE[kind])
    vocabulary, (read,) = study_vocabulary(_recorded(folder))
    assert len(vocabulary) == 0 and read.entries == []
    assert read.error is not None and read.error.startswith("define.xml skipped: ")
    assert "\n" not in read.error and "passwd" not in read.error
    expected = "not well-formed" if kind == "not xml" else "refused by the safe XML parser"
    assert expected in read.error


def test_the_run_goes_on_without_a_hostile_define_xml(runs):
    result, events = runs["hostile"]
    _, plain = runs["none"]
    assert result.phi_findings == []
    assert len(events) == len(plain)  # nothing lost
    (lineage,) = result.report["field_policy"]["define_xml"]
    assert "refused by the safe XML parser" in lineage["error"]
    assert result.report["field_policy"]["displays_kept_by_define_xml"] == 0


def _recorded(*sources: Path) -> list[tuple[str, str]]:
    """``(path, label)`` of each file the ingest reads under ``sources``, as it records them."""
    return [(r.path, r.source_file) for r in read_sources(sources)]


def test_only_a_define_xml_beside_sdtm_datasets_counts(tmp_path):
    lone = tmp_path / "odm"
    lone.mkdir()
    (lone / "define.xml").write_text(_define(""))
    # a file the ingest does not read (hidden) is no dataset beside it
    (lone / ".hidden.csv").write_text("STUDYID,DOMAIN\nTWIN01,EX\n")
    beside = _sdtm(tmp_path / "sdtm", _define(""))
    files = [path for path, _ in _recorded(tmp_path)]
    assert define_files(files) == [(beside / "define.xml").resolve()]


def test_harmonize_takes_the_define_xml_files_from_the_ingest_not_a_new_walk(tmp_path, monkeypatch):
    """The sources are walked once, by the ingest (``discover``); the define.xml files are
    found among the files it recorded (``ReadResult.path``)."""
    import twinlab.ingest.run as ingest_run

    walks = []
    real = ingest_run.discover
    monkeypatch.setattr(ingest_run, "discover", lambda *a, **k: walks.append(a) or real(*a, **k))
    result, _ = _run(_sdtm(tmp_path / "src", _define("")), tmp_path)
    assert len(walks) == 1
    (lineage,) = result.report["field_policy"]["define_xml"]
    assert lineage["entries"] > 0 and "error" not in lineage


def test_a_define_xml_read_without_a_recorded_path_gives_no_terms_and_says_why(tmp_path):
    """A result made without a path (not by ``read_sources``) is not searched for on disk:
    its terms are not used (so more is scrubbed, never less) and its lineage says why."""
    from twinlab.harmonize import build_timeline
    from twinlab.harmonize.pipeline import UNRECORDED

    read = read_sources([_sdtm(tmp_path / "src", _define(""))])
    for r in read:
        r.path = ""  # as a result built by hand, or recorded before paths were
    tables = build_timeline(
        read, HarmonizeConfig(free_text={"sdtm": "scrub"}),
        key=DeidKey(b"define-xml-test-deid-key-32-byte"), sources=[tmp_path / "src"],
    )  # fmt: skip
    policy = tables.report["field_policy"]
    (lineage,) = policy["define_xml"]
    assert lineage["error"] == UNRECORDED and lineage["file"] != "unknown"
    assert policy["displays_kept_by_define_xml"] == 0


def test_shipped_vocabulary_names_the_cdisc_pk_parameters():
    # "Time of CMAX" lost its CMAX to the engine ("Time of [PHI]") in pharmaversesdtm's PP
    vocab = shipped_vocabulary()
    assert vocab.keeps("CDISC SDTM PPTESTCD", "TMAX", "Time of CMAX")
    assert vocab.keeps("CDISC SDTM PPTESTCD", "CMAX", "Max Conc")
    assert not vocab.keeps("CDISC SDTM PPTESTCD", "TMAX", "Time of CMAX, Dr Smith")


SDTM = shared_data() / "sdtm"


@pytest.mark.skipif(not SDTM.is_dir(), reason="../shared/data is not present")
def test_the_real_cdisc_pilot_define_xml_files_are_read():
    pilot = read_define(SDTM / "cdiscpilot01" / "define.xml")  # Define-XML 1.0 (ODM 1.2)
    assert pilot.error is None and pilot.refused == []
    assert pilot.products == ["PLACEBO", "XANOMELINE"]
    assert ("CDISC SDTM EXTRT", "XANOMELINE", "XANOMELINE") in pilot.entries
    update = read_define(SDTM / "cdiscpilot_update2" / "define.xml")  # Define-XML 2.0
    assert update.error is None
    assert ("CDISC SDTM VSTESTCD", "SYSBP", "Systolic Blood Pressure") in update.entries
    assert update.variables["EXTRT"] == ["CL.EXTRT"]
    # qualifier variables refer to codelists too, but only coded event variables use them
    assert {"VISIT", "ARM", "AESEV"} <= set(update.skipped)
    assert all(s.startswith("CDISC SDTM ") for s, _, _ in update.entries)
    assert json.loads(json.dumps(update.summary("src-X")))["entries"] == len(update.entries)
