"""Round 5 of identifiers planted in structured exports, end to end through ``harmonize``: the
short coded values next to the free text that rounds 1-4 planted in.

Each place plants its own invented values where a sender can type text into a field the
readers file as a code: FHIR elements of type ``code`` with a required binding (an
Observation's and an Encounter's status, a MedicationRequest's intent, an allergy's type,
category, criticality and reaction severity, a Quantity's comparator and UCUM code, a
dosage's period unit, an infusion's rate unit, an Encounter's class code), a
FamilyMemberHistory's relative and birth date named by a reviewed note, a birth date as a
valuePeriod; ages over 89 in months (FHIR ``mo``, an EDC item ``AGEMO`` whose unit is only in
its name), as a valueInteger and in a component, and SDTM DM ages in months and days without a
birth date; SDTM findings' sponsor terms (--CAT, --SCAT, --ORNRLO, --NRIND, --SPEC, --LOC,
--NAM, --EVAL) and AE / EX controlled terms (AESEV, AEREL, AEACN, AEOUT, EXDOSFRM, EXDOSFRQ)
naming people and a pharmacy's town in upper case; an ODM codelist whose decodes name an
investigator and a hospital's address, an ``ItemDataURI`` e-mail; VCF ``##GATKCommandLine``,
``##reference`` and ``##bcftools_viewCommand`` lines with a name, an MRN and a date; an
Actiware export whose subject properties hold the wearer's identity (MRN, name, address,
phone, birth date 1931: 94 at the export) and whose device is "lent by" a relative. The check
reads every published file (and report.json) independently of twinlab's detectors.

What leaked before the fixes of this round (the same in both runs, reviewed and not): 12 of
the 48 planted values, and one age over 89.

* Names of relatives and others (Safe Harbor A), 8: "Quenby Ashworth" in a dosage's
  periodUnit and an Encounter's class code, "Ffoulkes" in an infusion's rate unit and an
  Encounter's status, "Fenella Sowerby" in a Quantity's comparator (coded qualifiers lose
  known values, patterns and runs of dictionary names only: the FHIR code elements took any
  text); "Havergal" and "Oswin" in AEACN / AEOUT; "Perpetua" of an Actiware device "lent by
  Perpetua Tallis" in the series' attributes (scrubbed without the names check of the events'
  device qualifier, which joins a first name to the known surname).
* Places (Safe Harbor B), 4: "Thornbury" in a Quantity's UCUM code, "Ingleborough" in an
  allergic reaction's severity, "Fairweather" after "from" in LBSPEC ("BLOOD from
  Fairweather"), "Bramwell" in EXDOSFRM ("TABLET FROM BRAMWELL PHARMACY").
* Ages (Safe Harbor C), 1: the ODM item ``AGEMO`` of 1131 months (94 years), published as it
  was: the age check read the display after it was scrubbed ("[PHI]"), and "AGEMO" holds no
  word "age".

Every other place held: the FHIR status, intent, type and criticality texts naming people by a
cue ("order by [NAME]"), the FamilyMemberHistory's relative and birth date, the valuePeriod
birth date, the other FHIR ages (months, integer, component), the SDTM DM ages without a birth
date (no age is published without one), the other sponsor terms, AESEV / AEREL / EXDOSFRQ,
the ODM decodes and e-mail, the VCF header lines, the Actiware identity.

The fixes, by class: the FHIR code elements only FHIR fills (fhir_status, intent, type,
criticality, class) and the unit keys (unit_code, rate_unit, period_unit: UCUM) are vocabulary
qualifiers of the field policy, and the AE's action and outcome (CDISC ACN, OUT): a value
outside is null; the code elements whose key other sources fill freely (comparator, an
allergy's category and reaction severity) are checked by the FHIR reader against their
binding, any other value filed under key + "_text" (free text: scrubbed where reviewed,
dropped where not); age names are read before the display is scrubbed, EDC names of an age
with its unit ("AGEMO", "AGEDY", "PTAGEYRS") count and give the unit; the series' text
attributes go through the coded scrubber with the names check; "from" introduces a person's
name (a dictionary name after it counts) and a word of no dictionary (5 letters or more)
after "by", "c/o", "attn" or "called" is a name (not after "per", "with", "for": "PER
RECIST", "WITH TWINUROSTAT").

Left alone: a single name word with no cue in a sponsor term ("BLOOD HAVERGAL", "ARM OF
HAVERGAL") is still kept by the coded check (here "HOME VISIT PENROSE" held because LBSCAT is
read into no published column).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from harmonize_redteam import (
    fhir_entry,
    observation_like,
    published_text,
    run_both,
    small_study,
    where_found,
)

#: place -> the planted values that must not be published (case-insensitive).
PLANTED: dict[str, list[str]] = {}


def _plant(place: str, *values: str) -> None:
    PLANTED.setdefault(place, []).extend(values)


def _csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


# --- FHIR ---------------------------------------------------------------------------------------

LOINC = "http://loinc.org"


def _fhir_codes(obs: dict, subject: dict, entries: list[dict]) -> list[dict]:
    """Elements of FHIR type ``code`` (a required binding: a handful of tokens) that a sender
    filled with text: an Observation's status, a MedicationRequest's intent, an allergy's
    type, category and criticality, a dosage's period unit, a quantity's UCUM code, an
    infusion's rate unit, an Encounter's class code."""
    _plant("fhir_codes", "Wolstenholme", "Cressida", "Vandersloot", "Horatio", "Thornbury",
           "Ffoulkes", "Prothero", "Leocadia", "Quenby", "Ashworth")  # fmt: skip
    status = observation_like(obs, "planted-status", status="amended per Cressida Wolstenholme",
                              valueQuantity=obs["valueQuantity"])  # fmt: skip
    unit_code = observation_like(obs, "planted-unit-code", valueQuantity={
        "value": 71.2, "unit": "kg", "system": "http://unitsofmeasure.org",
        "code": "Thornbury scale of Horatio Vandersloot"})  # fmt: skip
    first = next(
        e["resource"] for e in entries if e["resource"]["resourceType"] == "MedicationRequest"
    )
    med = json.loads(json.dumps(first))
    med["id"] = "planted-intent"
    med["intent"] = "order by Leocadia Prothero"
    repeat = {"frequency": 2, "period": 1, "periodUnit": "d (Quenby Ashworth reminds her)"}
    med["dosageInstruction"] = [{"timing": {"repeat": repeat}}]
    allergy = {
        "resourceType": "AllergyIntolerance", "id": "planted-allergy5",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91935009"}]},
        "patient": subject, "recordedDate": obs["effectiveDateTime"],
        "type": "allergy (per Cressida Wolstenholme)",
        "category": ["food at Thornbury Primary"],
        "criticality": "high - Horatio Vandersloot",
    }  # fmt: skip
    admin = {
        "resourceType": "MedicationAdministration", "id": "planted-admin5", "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system":
            "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6809"}]},
        "subject": subject, "effectiveDateTime": obs["effectiveDateTime"],
        "dosage": {"dose": {"value": 500, "unit": "mg"},
                   "rateQuantity": {"value": 50, "unit": "mL/h set by Ffoulkes"}},
    }  # fmt: skip
    enc = {
        "resourceType": "Encounter", "id": "planted-enc5", "status": "finished by Ffoulkes",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "HH at Quenby Ashworth house"},
        "subject": subject,
        "period": {"start": obs["effectiveDateTime"], "end": obs["effectiveDateTime"]},
    }  # fmt: skip
    return [status, unit_code, med, allergy, admin, enc]


def _fhir_ages(obs: dict) -> list[dict]:
    """Ages over 89 written in months, as an integer, and as a component (Safe Harbor: ages
    over 89 are aggregated into 90 or older)."""
    age = {"coding": [{"system": LOINC, "code": "30525-0", "display": "Age"}]}
    reported = {
        "coding": [{"system": LOINC, "code": "21612-7", "display": "Age Time Patient Reported"}]
    }
    return [
        observation_like(obs, "planted-age-mo", code=age,
                         valueQuantity={"value": 1131, "unit": "mo",
                                        "system": "http://unitsofmeasure.org", "code": "mo"}),
        observation_like(obs, "planted-age-int", code=reported, valueInteger=93),
        observation_like(obs, "planted-age-comp", code={"coding": [
            {"system": LOINC, "code": "46463-6"}]}, component=[
            {"code": age, "valueQuantity": {"value": 96, "unit": "a", "code": "a",
                                            "system": "http://unitsofmeasure.org"}}]),
    ]  # fmt: skip


def _fhir_more(obs: dict, subject: dict) -> list[dict]:
    """A quantity's comparator and an allergic reaction's severity holding text (required
    codes filed under keys other sources fill freely), a relative of a FamilyMemberHistory
    (name and birth date) whom a reviewed note names in lower case, and a birth date as an
    Observation's valuePeriod."""
    _plant("fhir_more", "Sowerby", "Fenella", "Ingleborough", "Blackthorne", "Winifred",
           "1929-04-02", "1931-03-14")  # fmt: skip
    when = obs["effectiveDateTime"]
    comparator = observation_like(obs, "planted-comparator", valueQuantity={
        "value": 5, "comparator": "< (Fenella Sowerby said)", "unit": "kg",
        "system": "http://unitsofmeasure.org", "code": "kg"})  # fmt: skip
    allergy = {
        "resourceType": "AllergyIntolerance", "id": "planted-allergy5b",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "300913006"}]},
        "patient": subject, "recordedDate": when,
        "reaction": [{"severity": "severe at Ingleborough Farm",
                      "manifestation": [{"coding": [{"system": "http://snomed.info/sct",
                                                     "code": "247472004"}]}]}],
    }  # fmt: skip
    family = {
        "resourceType": "FamilyMemberHistory", "id": "planted-fmh5", "status": "completed",
        "patient": subject, "name": "Winifred Blackthorne", "bornDate": "1929-04-02",
        "relationship": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "AUNT"}]},
        "condition": [{"code": {"coding": [{"system": "http://snomed.info/sct",
                                            "code": "254837009"}]}}],
    }  # fmt: skip
    note = observation_like(
        obs, "planted-fmh-note",
        code={"coding": [{"system": LOINC, "code": "34109-9"}], "text": "Note"},
        valueString="aunt winifred blackthorne (born 1929-04-02) had breast cancer")  # fmt: skip
    period = observation_like(
        obs, "planted-period",
        code={"coding": [{"system": LOINC, "code": "21112-8", "display": "Birth date"}]},
        valuePeriod={"start": "1931-03-14", "end": "1931-03-14"})  # fmt: skip
    return [comparator, allergy, family, note, period]


def _plant_fhir(raw: Path) -> None:
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    entries = bundle["entry"]
    subject = {"reference": entries[0]["fullUrl"]}
    obs = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation")
    resources = [*_fhir_codes(obs, subject, entries), *_fhir_ages(obs), *_fhir_more(obs, subject)]
    entries += [fhir_entry(r) for r in resources]
    file.write_text(json.dumps(bundle))


# --- SDTM ---------------------------------------------------------------------------------------


def _plant_sdtm(raw: Path) -> str:
    sdtm = raw / "sdtm"
    dm = pd.read_sas(sdtm / "dm.xpt", format="xport", encoding="latin1")
    (sdtm / "dm.xpt").unlink()
    usubjid = str(dm["USUBJID"].iloc[0])
    study = str(dm["STUDYID"].iloc[0])
    # ages over 89 in months and days (no birth date): 1131 months, 34100 days, 93 years
    extra = dm.iloc[[0, 0, 0]].copy()
    extra["USUBJID"] = ["TWL-001-102-0091", "TWL-001-102-0092", "TWL-001-102-0093"]
    extra["SUBJID"] = ["102-0091", "102-0092", "102-0093"]
    extra["BRTHDTC"] = ""
    extra["AGE"] = [1131, 34100, 93]
    extra["AGEU"] = ["MONTHS", "DAYS", ""]
    dm = pd.concat([dm, extra], ignore_index=True)
    dm.to_csv(sdtm / "dm.csv", index=False)

    # sponsor terms of findings (coded qualifiers) holding people and places
    _plant("sdtm_terms", "Marchmont", "Isolde", "Penrose", "Aldous", "Kittredge", "Fairweather")
    _csv(
        sdtm / "lbx.csv",
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBTESTCD,LBTEST,LBCAT,LBSCAT,LBORRES,LBORRESU,LBORNRLO,"
        "LBORNRHI,LBSTRESC,LBSTRESN,LBSTRESU,LBNRIND,LBSPEC,LBLOC,LBNAM,LBEVAL,LBDTC",
        f"{study},LB,{usubjid},91,GLUC,Glucose,CHEMISTRY drawn by Isolde Marchmont,"
        "HOME VISIT PENROSE,5.6,mmol/L,3.9 per Aldous Kittredge,6.1,5.6,5.6,mmol/L,"
        "NORMAL per Isolde Marchmont,BLOOD from Fairweather,ARM of Aldous Kittredge,"
        "Fairweather Laboratories,Isolde Marchmont,2025-05-22T07:45",
    )
    # CDISC controlled terms of AE and EX (coded qualifiers) as a sponsor writes them, in
    # upper case, holding a relative's name and a pharmacy's town
    _plant("sdtm_ct", "Havergal", "Oswin", "Bramwell", "Hewitt")
    _csv(
        sdtm / "ae.csv",
        "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AEDECOD,AESEV,AEREL,AEACN,AEOUT,AESTDTC",
        f"{study},AE,{usubjid},1,Headache,Headache,MILD,NOT RELATED PER OSWIN HAVERGAL,"
        "DRUG INTERRUPTED BY HAVERGAL,RECOVERED AT HOME OF OSWIN HAVERGAL,2025-05-23",
    )
    _csv(
        sdtm / "exx.csv",
        "STUDYID,DOMAIN,USUBJID,EXSEQ,EXTRT,EXDOSE,EXDOSU,EXDOSFRM,EXDOSFRQ,EXROUTE,EXSTDTC",
        f"{study},EX,{usubjid},91,TWINUROSTAT,200,mg,TABLET FROM BRAMWELL PHARMACY,"
        "QD WITH HEWITT,ORAL,2025-05-24T08:15",
    )
    return usubjid


# --- ODM ----------------------------------------------------------------------------------------

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot"
 FileOID="F.R5" CreationDateTime="2025-03-04T14:22:51">
<Study OID="S5"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.VSDAT" Name="VSDAT" DataType="date"/>
<ItemDef OID="IT.WT" Name="WEIGHT" DataType="float"/>
<ItemDef OID="IT.INV" Name="INVCD" DataType="integer"><CodeListRef CodeListOID="CL.INV"/>
</ItemDef>
<ItemDef OID="IT.REF" Name="REFSITE" DataType="text"><CodeListRef CodeListOID="CL.SITE"/>
</ItemDef>
<ItemDef OID="IT.AGEMO" Name="AGEMO" DataType="integer"><Question><TranslatedText>Age in
months</TranslatedText></Question></ItemDef>
<ItemDef OID="IT.URI" Name="CONTACT" DataType="URI"/>
<CodeList OID="CL.INV" Name="Investigator" DataType="integer">
<CodeListItem CodedValue="1"><Decode><TranslatedText>Dr Evander Rookwood</TranslatedText>
</Decode></CodeListItem>
<CodeListItem CodedValue="2"><Decode><TranslatedText>Evander Rookwood</TranslatedText>
</Decode></CodeListItem></CodeList>
<CodeList OID="CL.SITE" Name="Referring site" DataType="text">
<CodeListItem CodedValue="GH"><Decode><TranslatedText>Glenrothes Cottage Hospital, 4 Mill Wynd
</TranslatedText></Decode></CodeListItem></CodeList>
</MetaDataVersion></Study>
<ClinicalData StudyOID="S5" MetaDataVersionOID="V1">
<SubjectData SubjectKey="SUBJ-5001">
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.VS">
<ItemGroupData ItemGroupOID="IG.VS">
<ItemDataDate ItemOID="IT.VSDAT">2025-03-04</ItemDataDate>
<ItemDataFloat ItemOID="IT.WT">66.5</ItemDataFloat>
<ItemDataInteger ItemOID="IT.INV">1</ItemDataInteger>
<ItemDataString ItemOID="IT.REF">GH</ItemDataString>
<ItemDataInteger ItemOID="IT.AGEMO">1131</ItemDataInteger>
<ItemDataURI ItemOID="IT.URI">mailto:evander.rookwood@glenrothes.example.org</ItemDataURI>
</ItemGroupData>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="2">
<ItemDataDate ItemOID="IT.VSDAT">2025-03-05</ItemDataDate>
<ItemDataInteger ItemOID="IT.INV">2</ItemDataInteger>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>
"""


def _plant_odm(raw: Path) -> None:
    _plant("odm_codelist", "Rookwood", "Evander", "Glenrothes", "Mill Wynd", "glenrothes.example")
    (raw / "odm").mkdir(exist_ok=True)
    (raw / "odm" / "visit5.xml").write_text(ODM)


# --- VCF ----------------------------------------------------------------------------------------


def _plant_vcf(raw: Path) -> None:
    _plant("vcf_header", "Blackwood", "Seraphina", "20250311", "MRN66120934", "66120934")
    vcf = raw / "vcf" / "genotypes.vcf"
    lines = vcf.read_text().splitlines()
    lines[1:1] = [
        '##GATKCommandLine=<ID=HaplotypeCaller,CommandLine="HaplotypeCaller --output '
        '/home/seraphina.blackwood/MRN66120934.g.vcf",Date="Tue Mar 11 10:22:31 EST 2025">',
        "##reference=file:///data/patients/Blackwood_Seraphina/ref.fa",
        "##bcftools_viewCommand=view -s MRN66120934 in.vcf; Date=Tue Mar 11 10:22:31 2025",
        "##DATE=20250311",
    ]
    vcf.write_text("\n".join(lines) + "\n")


# --- wearables ----------------------------------------------------------------------------------


def _rpx() -> str:
    """An Actiware export whose subject properties hold the wearer's identity (DOB 1931: 94
    at the export), its device a relative's name, and its time zone the cities of the zone."""
    head = [
        '"Actiware Export File  (Version 05.00 )"', '"Filename:","Tallis_Wynstan_MRN70330118.AWF"',
        "", '"-------------------- Subject Properties--------------------"', "",
        '"Identity:","MRN70330118"', '"Initials:","WT"', '"Full Name:","Wynstan Tallis"',
        '"Street Address:","27 Sedgemoor Crescent"',
        '"City State Zip Country:","Ambleside, ME 04856, USA"', '"Phone:","207-555-0163"',
        '"Gender:","Male"', '"Date of Birth:","03/14/1931"',
        '"Age (at time of export file creation):","94","years"', "",
        '"----------------- Actiwatch Data Properties ----------------"', "",
        '"Actiwatch Type:","Actiwatch 2 lent by Perpetua Tallis"',
        '"Time Zone:","(UTC-05:00) Eastern Time (US & Canada)"',
        '"Time Zone Offset:","-05:00","hours:minutes"', '"Epoch Length:","60","seconds",""',
        '"Actiwatch Serial Number:","A77120K"', "",
        '"Line","Date","Time","Activity","Marker","White Light","Sleep/Wake","Interval Status",',
        "",
    ]  # fmt: skip
    rows = [
        f'"{i + 1}","03/11/2025","{10 + i // 60:02d}:{i % 60:02d}:00","{(i * 7) % 50}","0",'
        f'"1.5","1","ACTIVE",'
        for i in range(240)
    ]
    return "\r\n".join(head + rows) + "\r\n"


def _plant_wearables(raw: Path) -> None:
    _plant("actiware", "MRN70330118", "70330118", "Wynstan", "Tallis", "Sedgemoor", "Ambleside",
           "04856", "207-555-0163", "1931", "Perpetua", "A77120K")  # fmt: skip
    (raw / "wearables" / "sub5.csv").write_text(_rpx())


# --- the run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted5")
    raw = small_study(root)
    _plant_fhir(raw)
    _plant_sdtm(raw)
    _plant_odm(raw)
    _plant_vcf(raw)
    _plant_wearables(raw)
    return root, run_both(raw, root)


PLACES = [
    "fhir_codes",
    "fhir_more",
    "sdtm_terms",
    "sdtm_ct",
    "odm_codelist",
    "vcf_header",
    "actiware",
]


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_run_publishes_with_a_clean_scan(runs, label):
    root, results = runs
    assert results[label].phi_findings == []
    assert (root / label / "events.parquet").exists()


@pytest.mark.parametrize("label", ["scrub", "default"])
@pytest.mark.parametrize("place", PLACES)
def test_planted_identifiers_reach_no_published_file(runs, place, label):
    root, results = runs
    text = published_text(root / label).lower()
    text += json.dumps(results[label].report, default=str).lower()
    leaks = [v for v in PLANTED[place] if v.lower() in text]
    assert not leaks, {v: where_found(root, label, v) for v in leaks}


def _events(root: Path, label: str) -> pd.DataFrame:
    return pd.read_parquet(root / label / "events.parquet")


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_ages_over_89_in_any_unit_are_90_or_older(runs, label):
    """An age of 94 in months (FHIR ``mo``, an EDC item ``AGEMO`` whose unit is only in its
    name), 93 as a valueInteger and 96 in a component are published as 90 years in their unit,
    "90+" as their original value; the EDC item's 1131 months was published as it was."""
    root, _ = runs
    ev = _events(root, label)
    fhir = ev.loc[ev["code"].isin(["30525-0", "21612-7"])]
    assert sorted(fhir["value_num"]) == [90.0, 90.0, 1080.0]
    assert fhir["orig_value"].tolist() == ["90+"] * 3
    odm = ev.loc[ev["code_system"] == "ODM:S5"]
    assert not (odm["value_num"] >= 1131).any()
    aged = odm.loc[odm["orig_value"] == "90+"]
    assert aged["value_num"].tolist() == [1080.0]  # 90 years, in the name's months
    assert (odm["value_num"] == 66.5).sum() == 1  # the weight beside it is kept


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_codes_of_the_bindings_are_kept_and_text_in_their_place_is_not(runs, label):
    """The FHIR code elements keep their codes (a conformant allergy, reaction, intent,
    status); a sender's text in their place is null (policy vocabulary) or free text (the
    reader's key + "_text": scrubbed where reviewed, dropped where not)."""
    root, _ = runs
    ev = _events(root, label)
    quals = ev["qualifiers"].map(json.loads)
    med = quals[ev["domain"] == "medication"]
    assert {q.get("intent") for q in med} == {"order", None}
    assert any(q.get("fhir_status") == "active" for q in med)
    enc = quals[ev["domain"] == "encounter"]
    assert {q.get("class") for q in enc} <= {"AMB", "EMER", "IMP", None}
    assert not any(q.get("fhir_status") for q in enc)
    allergy = quals[ev["domain"] == "allergy"]
    assert {q.get("criticality") for q in allergy} == {None}
    texts = [q.get("category_text") for q in allergy] + [q.get("severity_text") for q in allergy]
    if label == "default":
        assert not any(texts)
    else:
        assert any(t and t.startswith("food at") for t in texts)
    units = [q.get("unit_code") for q in quals] + [q.get("rate_unit") for q in quals]
    assert "[lb_av]" in units and not [u for u in units if u and " " in u]


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_sdtm_controlled_terms_keep_their_codelist_words(runs, label):
    root, _ = runs
    ev = _events(root, label)
    ae = ev.loc[(ev["domain"] == "adverse_event") & (ev["code"] == "Headache")]
    (q,) = ae["qualifiers"].map(json.loads)
    assert q["severity"] == "mild"
    assert q.get("action") is None and q.get("outcome") is None
    ex = ev.loc[ev["source_record"].astype(str).str.contains("exx.csv")]
    (qx,) = ex["qualifiers"].map(json.loads)
    assert qx["route"] == "ORAL" and qx["form"].startswith("TABLET FROM ")


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_a_device_name_of_the_series_loses_a_relatives_first_name(runs, label):
    """The Actiware device "Actiwatch 2 lent by Perpetua Tallis": the series' attributes were
    scrubbed without the names check the events' device qualifier has."""
    import xarray as xr

    root, _ = runs
    tree = xr.open_datatree(root / label / "series.zarr", engine="zarr", consolidated=False)
    devices = {tree[g].attrs.get("device") for g in tree.children}
    assert "Actiwatch 2 lent by [NAME]" in devices


def test_age_names_give_their_unit():
    from twinlab.deid.tables import _age_names

    names = ["AGEMO", "AGE_MONTHS", "PTAGEYRS", "Age (days)", "AGEDY", "Age at onset", "AGE",
             "DOSAGE", "PAGE", "STAGE", "AGEU", "WEIGHT"]  # fmt: skip
    named, per = _age_names(pd.DataFrame({"display": names}))
    assert named.tolist() == [True] * 7 + [False] * 5
    assert per.round(4).tolist()[:5] == [round(1 / 12, 4), round(1 / 12, 4), 1.0,
                                         round(1 / 365.25, 4), round(1 / 365.25, 4)]  # fmt: skip
    assert per.iloc[5:].isna().all()


def test_unknown_words_after_a_doer_are_names_and_standards_after_per_are_not():
    from twinlab.deid.text import single_person_names

    def found(t: str) -> list[str]:
        return [t[s:e] for _, s, e in single_person_names(t)]

    assert found("DRUG INTERRUPTED BY HAVERGAL") == ["HAVERGAL"]
    assert found("BLOOD FROM FAIRWEATHER") == ["FAIRWEATHER"]
    for kept in ("PER RECIST", "WITH TWINUROSTAT", "BY IVRS", "FROM BASELINE", "BY MOUTH"):
        assert found(kept) == [], kept


def test_vocabulary_qualifiers_keep_fhir_codes_and_ucum_units():
    from twinlab.deid.policy import field_policy
    from twinlab.deid.tables import _VocabularyQualifier

    vocab = field_policy()["vocabulary_qualifiers"]
    check = {k: _VocabularyQualifier(vocab[k]) for k in vocab}
    for key, good, bad in (
        ("fhir_status", ["entered-in-error", "on-hold", "final", "not-done"], ["done by Ffoulkes"]),
        ("intent", ["order", "original-order"], ["order by Prothero"]),
        ("class", ["AMB", "EMER", "inpatient"], ["HH at Ashworth house"]),
        ("unit_code", ["[lb_av]", "mg/dL", "mL/h"], ["Thornbury scale", "mg{John Smith}"]),
        ("period_unit", ["d", "wk", "h"], ["d (Quenby Ashworth)"]),
        ("action", ["DOSE NOT CHANGED", "DRUG WITHDRAWN"], ["DRUG INTERRUPTED BY X"]),
        ("outcome", ["RECOVERED/RESOLVED WITH SEQUELAE", "FATAL"], ["RECOVERED AT HOME"]),
    ):  # fmt: skip
        assert [check[key].scrub_obj(v) for v in good] == good, key
        assert [check[key].scrub_obj(v) for v in bad] == [None] * len(bad), key
