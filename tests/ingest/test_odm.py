"""Tests of the CDISC ODM reader on the odmlib and ODMXMLTools.jl example files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from twinlab.ingest.base import reader_for
from twinlab.ingest.odm import read_odm

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "odm"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared ODM data not present")
FILES = sorted(DATA.glob("*/*.xml"))
NS = "{http://www.cdisc.org/ns/odm/v1.3}"


def _items(root: ET.Element) -> int:
    """ItemData and typed ItemData* inside ItemGroupData, with or without the ODM namespace."""
    n = 0
    for ns in (NS, ""):
        for group in root.iterfind(f".//{ns}ItemGroupData"):
            n += sum(1 for c in group if c.tag.removeprefix(ns).startswith("ItemData"))
    return n


def _groups(root: ET.Element) -> int:
    return len(root.findall(f".//{NS}ItemGroupData")) + len(root.findall(".//ItemGroupData"))


@needs_data
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_reconciles_with_an_independent_xpath_count(path: Path) -> None:
    res = read_odm(path)
    assert res.records_in == res.records_accepted + len(res.quarantine) + res.duplicates
    assert reader_for(path).format == "odm"
    if res.quarantine["check"].eq("odm.structure").any():
        assert (res.records_in, len(res.quarantine)) == (1, 1)
        return
    root = ET.parse(path).getroot()
    assert res.records_in == _groups(root)
    quarantined_items = sum(
        _items(ET.fromstring(f"<w>{json.loads(raw)['xml']}</w>")) for raw in res.quarantine["raw"]
    )
    assert len(res.events) + quarantined_items == _items(root)
    assert res.events["source_record"].is_unique
    assert not (res.events["unit"].notna() & res.events["value_num"].isna()).any()


@needs_data
def test_the_deliberately_invalid_file_is_one_record_with_a_readable_reason() -> None:
    res = read_odm(DATA / "odmlib" / "cdash-odm-test-invalid.xml")
    assert (res.records_in, res.records_accepted) == (1, 0)
    q = res.quarantine.iloc[0]
    assert q["check"] == "odm.structure"
    assert "<studyName>" in q["reason"] and "StudyName" in q["reason"]
    assert "Test Study 003" in q["raw"]
    valid = read_odm(DATA / "odmlib" / "cdash-odm-test.xml")  # its valid twin: metadata only
    assert (valid.records_in, len(valid.quarantine)) == (0, 0)


@needs_data
def test_a_value_that_fails_its_datatype_quarantines_its_item_group() -> None:
    res = read_odm(DATA / "odmxmltools_jl" / "nvtest.xml")
    bad = res.quarantine[res.quarantine["check"] == "odm.datatype"]
    assert len(bad) == 1
    reason = bad["reason"].iloc[0]
    assert "value is not a valid integer" in reason and "x120" not in reason  # value: raw only
    assert "VIT_IG_1" in bad["source_record"].iloc[0] and "x120" in bad["raw"].iloc[0]


@needs_data
def test_dataset_xml_lab_items_are_typed_dated_and_keyed_by_usubjid() -> None:
    path = DATA / "odmlib" / "lb.xml"
    res = read_odm(path)
    assert len(res.quarantine) == 0
    assert set(res.events["domain"]) == {"lab"}
    assert set(res.events["code_system"]) == {"ODM:cdisc01"}
    root = ET.parse(path).getroot()
    subjects = {
        e.get("Value") for e in root.iter(f"{NS}ItemData") if e.get("ItemOID") == "IT.USUBJID"
    }
    assert set(res.persons["source_patient"]) == subjects == set(res.events["source_patient"])
    quals = res.events["qualifiers"].iloc[0]
    assert quals["date_source"].startswith("item:") and quals["date_precision"] in ("day", "minute")


@needs_data
def test_clinical_data_items_get_their_group_or_study_event_date() -> None:
    res = read_odm(DATA / "odmlib" / "test_clinical_data_01.xml", tz="Europe/Berlin")
    assert len(res.quarantine) == 0
    ev = res.events.set_index("source_record")
    alt = ev[(ev["code"] == "LBORRES")].iloc[0]
    assert alt["orig_value"] == "245" and alt["domain"] == "lab"
    assert alt["time"] == pd.Timestamp("2006-07-14T12:48Z")  # 14:48 CEST
    assert alt["qualifiers"]["date_precision"] == "minute"
    assert alt["qualifiers"]["tz_assumed"] == "Europe/Berlin"
    sex = ev[ev["code"] == "SEX"].iloc[0]  # the DEMOG form borrows the visit's LBDTC
    assert sex["qualifiers"]["date_source"] == "study_event:LBDTC"
    assert res.persons.set_index("source_patient").loc["1000", "sex"] == "F"


@needs_data
def test_undated_groups_are_quarantined_or_kept_on_request() -> None:
    path = DATA / "odmxmltools_jl" / "test.xml"
    res = read_odm(path)
    # one VIT_IG_1 group gives the diastolic pressure I_2 twice (86 and 65): odm.item
    assert res.quarantine["check"].value_counts().to_dict() == {"odm.date": 17, "odm.item": 1}
    assert "no date" in res.quarantine["reason"].iloc[0]
    kept = read_odm(path, undated="keep")
    assert kept.records_accepted == kept.records_in - 1 == res.records_in - 1
    assert kept.events["time"].isna().all()
    height = kept.events[kept.events["code"] == "AN_1"]
    assert height["value_num"].iloc[0] == 174.0  # ItemDataInteger typed as a number
    hr = kept.events[(kept.events["code"] == "I_3") & kept.events["unit"].notna()]
    assert set(hr["unit"]) == {"уд/мин"}  # MeasurementUnitRef → the unit's symbol


def test_malformed_xml_is_one_quarantined_record(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData StudyOID="S">'
        '<SubjectData SubjectKey="1"><StudyEventData StudyEventOID="V1"><FormData FormOID="F">'
        '<ItemGroupData ItemGroupOID="LB"><ItemData ItemOID="LBDTC" Value="2020-01-01"/>'
        "</ItemGroupData><ItemGroupData",
        encoding="utf-8",
    )
    res = read_odm(path)
    assert (res.records_in, res.records_accepted, len(res.events)) == (1, 0, 0)
    assert res.quarantine["check"].iloc[0] == "odm.parse"
    assert "not well-formed" in res.quarantine["reason"].iloc[0]


def test_codelist_decodes_and_float_typing(tmp_path: Path) -> None:
    path = tmp_path / "small.xml"
    path.write_text(
        """<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
<Study OID="S1"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<BasicDefinitions><MeasurementUnit OID="MU.KG" Name="kg"><Symbol><TranslatedText>kg</TranslatedText>
</Symbol></MeasurementUnit></BasicDefinitions>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.WT" Name="Weight" DataType="float"><MeasurementUnitRef MeasurementUnitOID="MU.KG"/>
</ItemDef>
<ItemDef OID="IT.POS" Name="Position" DataType="text"><CodeListRef CodeListOID="CL.POS"/></ItemDef>
<ItemDef OID="IT.VSDAT" Name="Date" DataType="partialDate"/>
<CodeList OID="CL.POS" Name="pos" DataType="text"><CodeListItem CodedValue="1"><Decode>
<TranslatedText>SITTING</TranslatedText></Decode></CodeListItem></CodeList>
</MetaDataVersion></Study>
<ClinicalData StudyOID="S1" MetaDataVersionOID="V1"><SubjectData SubjectKey="007">
<StudyEventData StudyEventOID="SE.BASE"><FormData FormOID="VS">
<ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="IT.VSDAT" Value="2021-05"/>
<ItemData ItemOID="IT.WT" Value="71.5"/><ItemData ItemOID="IT.POS" Value="1"/></ItemGroupData>
<ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="IT.VSDAT" Value="2021-06-01"/>
<ItemData ItemOID="IT.WT" Value="heavy"/></ItemGroupData>
</FormData></StudyEventData></SubjectData></ClinicalData></ODM>""",
        encoding="utf-8",
    )
    res = read_odm(path)
    assert (res.records_in, res.records_accepted) == (2, 1)
    assert "value is not a valid float" in res.quarantine["reason"].iloc[0]
    assert "heavy" not in res.quarantine["reason"].iloc[0]
    ev = res.events.set_index("code")
    assert (ev.loc["IT.WT", "value_num"], ev.loc["IT.WT", "unit"]) == (71.5, "kg")
    assert ev.loc["IT.WT", "domain"] == "vital" and ev.loc["IT.WT", "display"] == "Weight"
    assert ev.loc["IT.POS", "qualifiers"]["decode"] == "SITTING"
    assert ev.loc["IT.WT", "qualifiers"]["date_precision"] == "month"
    assert ev.loc["IT.WT", "time"] == pd.Timestamp("2021-05-01", tz="UTC")


def _two_lab_groups(path: Path, item: str, before_close: str = "") -> Path:
    """An ODM file of two LB item groups: the first holds ``item``, the second a good value
    (``before_close`` ahead of its closing tag)."""
    group = '<ItemGroupData ItemGroupOID="IG.LB"><ItemData ItemOID="LBDTC" Value="2020-01-0{d}"/>'
    path.write_text(
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData StudyOID="S">'
        '<SubjectData SubjectKey="1"><StudyEventData StudyEventOID="V1"><FormData FormOID="F">'
        + group.format(d=1) + item + "</ItemGroupData>"
        + group.format(d=2) + '<ItemData ItemOID="LBORRES" Value="7"/>' + before_close
        + "</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>",
        encoding="utf-8",
    )  # fmt: skip
    return path


@pytest.mark.parametrize("item", ['<ItemData Value="7"/>', '<ItemData ItemOID=" " Value="7"/>'])
def test_an_item_without_an_itemoid_quarantines_its_item_group(tmp_path: Path, item: str) -> None:
    # the item became an event whose code was '' (a fact about nothing)
    res = read_odm(_two_lab_groups(tmp_path / "small.xml", item))
    assert (res.records_in, res.records_accepted) == (2, 1)
    assert res.quarantine["check"].tolist() == ["odm.item"]
    assert (res.events["code"].str.strip() != "").all() and len(res.events) == 2


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ('<ItemData ItemOID="LBORRES">7</ItemData>', "holds text"),
        ('<ItemData ItemOID="LBORRES" Value="7">8</ItemData>', "holds text"),
        ('<ItemData ItemOID="LBORRES"><AuditRecord/>7</ItemData>', "holds text"),
        ('<ItemData ItemOID="LBORRES"><Value SeqNum="1">7</Value></ItemData>', "Value element"),
    ],
)
def test_an_item_value_outside_the_value_attribute_quarantines_its_group(
    tmp_path: Path, item: str, why: str
) -> None:
    # the value was dropped without a word: the item was read as a null
    res = read_odm(_two_lab_groups(tmp_path / "small.xml", item, "\n  "))
    assert (res.records_in, res.records_accepted, res.duplicates) == (2, 1, 0)
    q = res.quarantine.iloc[0]
    assert q["check"] == "odm.item" and q["reason"].startswith("ItemData LBORRES")
    assert why in q["reason"] and "Value attribute" in q["reason"]
    assert res.events["value_text"].tolist() == ["2020-01-02", "7"]  # the other group is read


def test_a_deeply_nested_item_group_is_quarantined_with_its_top_as_raw(tmp_path: Path) -> None:
    # serializing the group for the quarantine's raw text raised RecursionError
    deep = "<Sub>" * 5000 + "</Sub>" * 5000
    item = f'<ItemData ItemOID="LBORRES">7{deep}</ItemData>'  # a value as text: quarantined
    res = read_odm(_two_lab_groups(tmp_path / "deep.xml", item))
    assert (res.records_in, res.records_accepted) == (2, 1)
    q = res.quarantine.iloc[0]
    assert q["check"] == "odm.item"
    assert 'ItemOID="LBORRES"' in json.loads(q["raw"])["xml"]
    assert res.events["value_text"].tolist() == ["2020-01-02", "7"]


def test_an_unknown_encoding_in_the_xml_declaration_refuses_the_file(tmp_path: Path) -> None:
    # expat's LookupError escaped the reader
    path = _two_lab_groups(tmp_path / "enc.xml", "")
    path.write_bytes(b'<?xml version="1.0" encoding="utf-99"?>\n' + path.read_bytes())
    res = read_odm(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert res.quarantine["check"].tolist() == ["odm.encoding"]
    assert "encoding" in res.quarantine["reason"].iloc[0]


def test_an_item_given_twice_with_different_values_quarantines_its_group(tmp_path: Path) -> None:
    # both values were read as facts of the same item at the same time
    twice = '<ItemData ItemOID="LBORRES" Value="5"/><ItemData ItemOID="LBORRES" Value="6"/>'
    res = read_odm(_two_lab_groups(tmp_path / "twice.xml", twice))
    assert (res.records_in, res.records_accepted) == (2, 1)
    q = res.quarantine.iloc[0]
    assert q["check"] == "odm.item" and q["reason"].startswith("ItemData LBORRES is given twice")
    assert "5" not in q["reason"] and "6" not in q["reason"]
    assert res.events["value_text"].tolist() == ["2020-01-02", "7"]


@pytest.mark.parametrize("ns", ["http://www.cdisc.org/ns/odm/v1.2", "&amp;"])
def test_item_groups_in_another_namespace_refuse_the_file(tmp_path: Path, ns: str) -> None:
    # every element was skipped as foreign: zero records, nothing quarantined
    path = _two_lab_groups(tmp_path / "ns.xml", "")
    path.write_text(path.read_text().replace("http://www.cdisc.org/ns/odm/v1.3", ns, 1))
    res = read_odm(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert res.quarantine["check"].tolist() == ["odm.structure"]
    assert "namespace" in res.quarantine["reason"].iloc[0]


@pytest.mark.parametrize("what", ["clinical data", "metadata only", "ODMVersion"])
def test_an_odm_2_file_is_refused_as_odm_2(tmp_path: Path, what: str) -> None:
    # ODM 2.0 data was refused for its "namespace"; a metadata-only 2.0 file was 0 records
    v13, v20 = "http://www.cdisc.org/ns/odm/v1.3", "http://www.cdisc.org/ns/odm/v2.0"
    path = _two_lab_groups(tmp_path / "odm2.xml", "")
    text = path.read_text()
    if what == "metadata only":
        text = (
            f'<ODM xmlns="{v13}"><Study OID="S"><MetaDataVersion OID="v1" Name="x"/></Study></ODM>'
        )
    text = (text.replace(f'xmlns="{v13}"', f'xmlns="{v13}" ODMVersion="2.0"')
            if what == "ODMVersion" else text.replace(v13, v20))  # fmt: skip
    path.write_text(text)
    res = read_odm(path)
    assert (res.records_in, res.records_accepted, len(res.events)) == (1, 0, 0)
    q = res.quarantine.iloc[0]
    assert q["check"] == "odm.version"
    assert q["reason"].startswith("ODM 2.0 is not supported: export the data as ODM 1.3.x")
