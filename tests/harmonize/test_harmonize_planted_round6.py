"""Round 6 of identifiers planted in structured exports, end to end through ``harmonize``:
the names of the files and folders a delivery holds, the reasons a record is quarantined
for, and the FHIR people, SDTM domains, ODM subject attributes and wearable header lines
that rounds 1-5 did not try.

Each place plants its own invented values. File names: a FHIR bundle in a folder per patient
("Quillfeather_Ambrose_MRN58830217/quillfeather_ambrose_MRN58830217_1944-08-12.json"),
another named "Ravensworth, Tobias (MRN 66031442) DOB 19440812.json", an ODM file and its
folder named by a patient's name and birth date, the VCF named by name and birth date, a
wearable export named by name and MRN in a folder named by the wearer's e-mail. Reasons: a
subject reference whose resource type is a surname ("Wetherell/4471"), an effectiveDateTime
that is a name, an NDJSON file with a broken line holding an SSN and a name, SUPPMH rows whose
RDOMAIN and IDVAR are people. FHIR people whom only a display names (a reviewed note names
them in the lower case the clinical engine keeps): Patient.generalPractitioner and
Patient.link, Immunization.performer, Specimen.collection.collector, a Location's address,
Consent.performer, Composition.author and title, Encounter.participant and location,
Observation.performer; an identifier system and a meta.source URL naming the patient; an
Encounter reason and an Immunization route in free text. SDTM: MHTERM / MHCAT naming the
mother, DSTERM the daughter, CMINDC a farm, SV's visit and SVUPDES a town, TS's PINAME and
SPONSOR, a SUPPCM whose QNAM is the mother's surname, a define.xml whose codelist OIDs name
the investigator and the mother ("CL.MH.Carroway_Elspeth"). ODM: OpenClinica SubjectData attributes
(StudySubjectID, UniqueIdentifier MRN, DateOfBirth, SecondaryID), an audit log naming the
user and the patient's address, a FormData interviewer. Wearables: header lines the reader
does not know (user name, emergency contact, home address, birth date, a device nickname
naming a grandson). The check reads every published file, report.json and every log line of
the ``twinlab`` loggers during the run.

What leaked before the fixes of this round: 10 of the 61 planted values (9 in both runs,
reviewed and not; 1 in the reviewed run).

* Quarantine reasons that quoted a sender's text (Safe Harbor A, names), 5: "Wetherell" of
  "subject refers to a Wetherell, not a Patient" (the FHIR reader quoted a reference's type),
  "Loveday Pennycuick", "Sorrell" and "Hartigan" of "no Loveday Pennycuick row with its
  USUBJID and Sorrell" (the SDTM reader quoted a SUPP-- row's RDOMAIN and IDVAR). The
  published reason is scrubbed of known values and patterns only, and none of them is known.
* A SUPPQUAL QNAM naming a relative (A): "CARROWAY", published as the key of
  ``qualifiers["supp"]`` (keys lose known values and patterns only).
* define.xml codelist OIDs (A), 4 with the QNAM: "Carroway", "Elspeth", "Gideon",
  "Marchbanks" in report.json (field_policy.define_xml: the codelists each variable takes
  terms from, those skipped), quoted as the file wrote them.
* A practice before a lower-case "surgery" (B, places), 1: "Stonebridge" of a scrubbed
  Immunization route "IM by nurse at Stonebridge surgery" (the reviewed run; the scrubber
  found a practice before a capitalised "Surgery" only).
* Not a leak but a loss: a vaccinator named "Sunny Day" (a known name of the record) turned
  the date precision "day" of 95 events into "[NAME]" (a coded qualifier loses known names).

Every other place held: the file and folder names in every format (the published ids are
keyed, the SDTM pointers name domain files only, the file names live in the raw zone), the log
lines, the broken NDJSON line, the date that is a name, the FHIR displays (known names of the
record, found in the reviewed note), the identifier system and meta.source, the SDTM domains
(MH, DS, CM, SV, TS: read into no published column or scrubbed / dropped as free text), the
ODM vendor attributes and audit log (read into persons or nowhere), the wearable header lines.

The fixes, by class: a reader's reason quotes a sender's text only when it has the shape of
the standard's name (twinlab.ingest.fhir: a reference's type only when a resource type a
subject may wrongly point to, else "a resource of another type"; twinlab.ingest.sdtm: RDOMAIN
only when a domain code, IDVAR only when a record key's name such as AESEQ, else "its IDVAR"),
and the published reasons go through the names check too (runs of dictionary person names);
twinlab.ingest.define quotes a codelist OID in the report and the log only when OID-shaped
with no word a person name of the dictionaries, else by its place ("CodeList #1");
the keys of ``supp`` are sponsor-named keys (field policy ``sponsor_key_qualifiers``): kept
when an SDTM name that holds no known value, no pattern and is no person name of the
dictionaries, else a keyed pseudonym (``ref-``); ``date_precision`` and
``end_date_precision`` are vocabulary qualifiers (year .. second, none), and the publish
scan leaves out a vocabulary qualifier's term that is in its vocabulary, as it leaves out
keyed ids (it flagged "day" once the precision was kept); the text scrubber reads
capitalised words before a lower-case "surgery" / "health centre" as a practice after "at",
"from", "GP" or "registered at" (not after "the": "after the Whipple surgery" stays).

Left alone: a reader's reason that quotes one unknown capitalised word of a sender in a place
these rounds did not find (an ODM ItemOID, a VCF INFO key: their shapes are the standards')
is scrubbed of known values, patterns and runs of dictionary names only.
"""

from __future__ import annotations

import json
import logging
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


LOINC = "http://loinc.org"


def _note(template: dict, rid: str, text: str) -> dict:
    """A free-text Observation (LOINC 34109-9, a note) of the template's patient and time."""
    code = {"coding": [{"system": LOINC, "code": "34109-9"}], "text": "Note"}
    return observation_like(template, rid, code=code, valueString=text)


# --- file and folder names ----------------------------------------------------------------------


def _plant_names(raw: Path) -> None:
    """A folder per patient named by name, MRN and birth date; files named the same way in
    every format (FHIR JSON and NDJSON, ODM, VCF, a wearable export)."""
    _plant("file_names", "Quillfeather", "Ambrose", "MRN58830217", "58830217", "1944-08-12",
           "19440812", "Ravensworth", "Tobias", "66031442", "Featherby", "Lucinda",
           "1951-02-27", "Cadogan", "Pellingham", "cadogan.pellingham")  # fmt: skip
    fhir = raw / "fhir"
    first = sorted(fhir.glob("*.json"))[0]
    folder = fhir / "Quillfeather_Ambrose_MRN58830217"
    folder.mkdir()
    first.rename(folder / "quillfeather_ambrose_MRN58830217_1944-08-12.json")
    second = sorted(fhir.glob("*.json"))[0]
    second.rename(fhir / "Ravensworth, Tobias (MRN 66031442) DOB 19440812.json")
    odm_dir = raw / "odm" / "Featherby_Lucinda_DOB_1951-02-27"
    odm_dir.mkdir(parents=True)
    (odm_dir / "Featherby Lucinda visit 1951-02-27.xml").write_text(ODM)
    vcf = raw / "vcf" / "genotypes.vcf"
    vcf.rename(vcf.parent / "Quillfeather_Ambrose_19440812.vcf")
    wear = sorted((raw / "wearables").glob("*.csv"))[0]
    wdir = raw / "wearables" / "cadogan.pellingham@mail.example.org"
    wdir.mkdir()
    wear.rename(wdir / "Pellingham_Cadogan_MRN58830217.csv")


# --- quarantine reasons that could quote a value ------------------------------------------------


def _reasons(obs: dict, raw: Path) -> list[dict]:
    """Records quarantined for a value a sender typed a name into: a subject reference whose
    resource type is a surname, a date that is a name; an NDJSON file with a broken line
    holding an SSN; SDTM SUPP-- rows whose RDOMAIN and IDVAR are names (orphans)."""
    _plant("reasons", "Wetherell", "Gwendolyn", "Hartigan", "Loveday", "Pennycuick",
           "078-05-1120", "Sorrell")  # fmt: skip
    typed = observation_like(obs, "planted-ref-type", subject={"reference": "Wetherell/4471"},
                             valueQuantity=obs["valueQuantity"])  # fmt: skip
    dated = observation_like(obs, "planted-bad-date", effectiveDateTime="Gwendolyn Hartigan",
                             valueQuantity=obs["valueQuantity"])  # fmt: skip
    subject = obs["subject"]
    good = observation_like(obs, "planted-nd-good", valueQuantity=obs["valueQuantity"])
    lines = [
        json.dumps(good),
        '{"resourceType": "Observation", "note": "SSN 078-05-1120 Loveday Pennycuick", ',
        json.dumps({**good, "id": "x2", "subject": subject}),
    ]
    (raw / "fhir" / "observations.ndjson").write_text("\n".join(lines) + "\n")
    return [typed, dated]


def _sdtm_reasons(raw: Path, study: str, usubjid: str) -> None:
    _csv(
        raw / "sdtm" / "suppmh.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},Loveday Pennycuick,{usubjid},Sorrell,1,MHREL,Relative,aunt,CRF",
        f"{study},MH,{usubjid},Hartigan,Wetherell,MHREL,Relative,aunt,CRF",
    )


# --- FHIR people --------------------------------------------------------------------------------

#: The reviewed note names each person below in the lower case the clinical engine keeps:
#: only the known values of the patient's record (the readers' displays) can find them.
NOTE = (
    "gp iris bloom and partner penny royal visited; vaccine by sunny day; bloods taken by "
    "holly berry at 7 foxglove mews, thrushcombe; consent witnessed by rusty nail; plan "
    "written by violet hue; seen with earl grey at the ward of amber light."
)


def _fhir_people(obs: dict, subject: dict, patient: dict) -> list[dict]:
    """People and places whose only mention in the record is a display of an element no
    round tried: Patient.generalPractitioner and Patient.link, Immunization.performer,
    Specimen.collection.collector and a Location's address, Consent.performer,
    Composition.author (and its title), Encounter.participant and Encounter.location; an
    identifier system and a meta.source URL naming the patient; an Encounter reason and an
    Immunization route in free text."""
    _plant("fhir_people", "iris bloom", "penny royal", "sunny day", "holly berry",
           "foxglove mews", "thrushcombe", "rusty nail", "violet hue", "earl grey",
           "amber light", "gwillimbury", "stonebridge", "cressingham", "mossgiel")  # fmt: skip
    when = obs["effectiveDateTime"]
    patient["generalPractitioner"] = [{"reference": "Practitioner/gp1", "display": "Iris Bloom"}]
    patient["link"] = [{"other": {"reference": "RelatedPerson/p1", "display": "Penny Royal"},
                        "type": "seealso"}]  # fmt: skip
    patient.setdefault("identifier", []).append(
        {"system": "http://gwillimbury-clinic.example.org/patients/ambrose", "value": "A-1"}
    )
    immun = {
        "resourceType": "Immunization", "id": "planted-imm6", "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
        "patient": subject, "occurrenceDateTime": when,
        "performer": [{"actor": {"reference": "Practitioner/n1", "display": "Sunny Day"}}],
        "route": {"text": "IM by nurse at Stonebridge surgery"},
        "meta": {"source": "http://cressingham-ehr.example.org/ambrose"},
    }  # fmt: skip
    specimen = {
        "resourceType": "Specimen", "id": "planted-spec6", "subject": subject,
        "collection": {"collector": {"display": "Holly Berry"}, "collectedDateTime": when},
    }  # fmt: skip
    location = {
        "resourceType": "Location", "id": "planted-loc6", "name": "Amber Light Ward",
        "address": {"line": ["7 Foxglove Mews"], "city": "Thrushcombe"},
    }  # fmt: skip
    consent = {
        "resourceType": "Consent", "id": "planted-consent6", "status": "active",
        "patient": subject, "dateTime": when,
        "performer": [{"display": "Rusty Nail"}],
    }  # fmt: skip
    composition = {
        "resourceType": "Composition", "id": "planted-comp6", "status": "final",
        "subject": subject, "date": when, "title": "Care plan of Mossgiel family",
        "author": [{"display": "Violet Hue"}],
    }  # fmt: skip
    enc = {
        "resourceType": "Encounter", "id": "planted-enc6", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject, "period": {"start": when, "end": when},
        "participant": [{"individual": {"display": "Earl Grey"}}],
        "location": [{"location": {"reference": "urn:uuid:planted-loc6",
                                   "display": "Amber Light Ward"}}],
        "reasonCode": [{"text": "fall at Mossgiel farm"}],
    }  # fmt: skip
    performed = observation_like(obs, "planted-performer6", valueQuantity=obs["valueQuantity"],
                                 performer=[{"display": "Earl Grey"}])  # fmt: skip
    return [immun, specimen, location, consent, composition, enc, performed,
            _note(obs, "planted-note6", NOTE)]  # fmt: skip


def _plant_fhir(raw: Path) -> None:
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    entries = bundle["entry"]
    patient = entries[0]["resource"]
    subject = {"reference": entries[0]["fullUrl"]}
    obs = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation")
    resources = [*_fhir_people(obs, subject, patient), *_reasons(obs, raw)]
    entries += [fhir_entry(r) for r in resources]
    file.write_text(json.dumps(bundle))


# --- SDTM ---------------------------------------------------------------------------------------


def _plant_sdtm(raw: Path) -> None:
    sdtm = raw / "sdtm"
    dm = pd.read_sas(sdtm / "dm.xpt", format="xport", encoding="latin1")
    usubjid = str(dm["USUBJID"].iloc[0])
    study = str(dm["STUDYID"].iloc[0])
    _plant("sdtm_domains", "Elspeth", "Carroway", "Threlkeld", "Wolsingham", "Gideon",
           "Marchbanks", "Honoria", "Blenkinsop", "Saltcoats")  # fmt: skip
    _csv(
        sdtm / "mh.csv",
        "STUDYID,DOMAIN,USUBJID,MHSEQ,MHTERM,MHDECOD,MHCAT,MHSTDTC",
        f"{study},MH,{usubjid},1,Breast cancer in mother Elspeth Carroway,Breast cancer,"
        "FAMILY HISTORY OF ELSPETH CARROWAY,2019",
    )
    _csv(
        sdtm / "ds.csv",
        "STUDYID,DOMAIN,USUBJID,DSSEQ,DSTERM,DSDECOD,DSCAT,DSSTDTC",
        f"{study},DS,{usubjid},1,WITHDRAWN BY DAUGHTER HONORIA BLENKINSOP,WITHDRAWAL BY SUBJECT,"
        "DISPOSITION EVENT,2025-06-01",
    )
    _csv(
        sdtm / "cm.csv",
        "STUDYID,DOMAIN,USUBJID,CMSEQ,CMTRT,CMDECOD,CMINDC,CMDOSE,CMDOSU,CMROUTE,CMSTDTC",
        f"{study},CM,{usubjid},1,PARACETAMOL,PARACETAMOL,back pain after fall at Threlkeld "
        "farm,500,mg,ORAL,2025-05-20",
    )
    _csv(
        sdtm / "sv.csv",
        "STUDYID,DOMAIN,USUBJID,VISITNUM,VISIT,SVSTDTC,SVENDTC,SVUPDES",
        f"{study},SV,{usubjid},99,HOME VISIT WOLSINGHAM,2025-05-25,2025-05-25,"
        "unscheduled visit at daughter's house in Wolsingham",
    )
    _csv(
        sdtm / "ts.csv",
        "STUDYID,DOMAIN,TSSEQ,TSPARMCD,TSPARM,TSVAL",
        f"{study},TS,1,PINAME,Principal investigator,Dr Gideon Marchbanks",
        f"{study},TS,2,SPONSOR,Sponsor,Saltcoats Research Ltd",
    )
    # a SUPPQUAL whose QNAM is a relative's surname, its label and value naming her
    _csv(
        sdtm / "suppcm.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},CM,{usubjid},CMSEQ,1,CARROWAY,Elspeth Carroway,gave the tablets,CRF",
    )
    _sdtm_reasons(raw, study, usubjid)
    (sdtm / "define.xml").write_text(DEFINE)


#: A define.xml beside the SDTM data whose codelist OIDs name the investigator and the
#: patient's relative: the run report lists the codelists each variable takes terms from.
DEFINE = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.0"
     FileOID="DEF.R6" ODMVersion="1.3.2" FileType="Snapshot">
 <Study OID="R6"><MetaDataVersion OID="MDV.1" Name="SDTM" def:DefineVersion="2.0.0">
  <ItemGroupDef OID="IG.MH" Name="MH" Domain="MH">
   <ItemRef ItemOID="IT.MH.MHCAT" Mandatory="No"/><ItemRef ItemOID="IT.MH.MHDECOD"/>
  </ItemGroupDef>
  <ItemDef OID="IT.MH.MHCAT" Name="MHCAT" DataType="text">
   <CodeListRef CodeListOID="CL.MHCAT.Dr Gideon Marchbanks"/></ItemDef>
  <ItemDef OID="IT.MH.MHDECOD" Name="MHDECOD" DataType="text">
   <CodeListRef CodeListOID="CL.MH.Carroway_Elspeth"/></ItemDef>
  <CodeList OID="CL.MH.Carroway_Elspeth" Name="MH" DataType="text">
   <EnumeratedItem CodedValue="Breast cancer"/></CodeList>
 </MetaDataVersion></Study></ODM>
"""


# --- ODM ----------------------------------------------------------------------------------------

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:OpenClinica="http://www.openclinica.org/ns/odm_ext_v130/v3.1"
 ODMVersion="1.3.2" FileType="Snapshot" FileOID="F.R6" CreationDateTime="2025-03-04T14:22:51">
<Study OID="S6"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.VSDAT" Name="VSDAT" DataType="date"/>
<ItemDef OID="IT.WT" Name="WEIGHT" DataType="float"/>
</MetaDataVersion></Study>
<ClinicalData StudyOID="S6" MetaDataVersionOID="V1">
<SubjectData SubjectKey="SS_6001" OpenClinica:StudySubjectID="Featherby-L"
 OpenClinica:UniqueIdentifier="MRN77045120" OpenClinica:Status="signed"
 OpenClinica:DateOfBirth="1951-02-27" OpenClinica:Sex="f"
 OpenClinica:EnrollmentDate="2025-03-01" OpenClinica:SecondaryID="Lucinda Featherby">
<OpenClinica:AuditLogs EntityID="SS_6001">
<OpenClinica:AuditLog ID="AL1" UserID="ofarrant" Name="Orla Farrant"
 DateTimeStamp="2025-03-04T14:01:09" AuditType="Subject created"
 OldValue="" NewValue="Lucinda Featherby, 12 Brackenridge Row"/>
</OpenClinica:AuditLogs>
<StudyEventData StudyEventOID="SE.V1" OpenClinica:StartDate="2025-03-04"
 OpenClinica:SubjectAgeAtEvent="74">
<FormData FormOID="F.VS" OpenClinica:InterviewerName="Orla Farrant"
 OpenClinica:InterviewDate="2025-03-04" OpenClinica:Version="v1">
<ItemGroupData ItemGroupOID="IG.VS" TransactionType="Insert">
<ItemData ItemOID="IT.VSDAT" Value="2025-03-04"/>
<ItemData ItemOID="IT.WT" Value="66.5"/>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>
"""


def _plant_odm_values() -> None:
    _plant("odm_subject", "Featherby-L", "MRN77045120", "77045120", "Lucinda Featherby",
           "ofarrant", "Orla", "Farrant", "Brackenridge")  # fmt: skip


# --- wearables ----------------------------------------------------------------------------------


def _plant_wearables(raw: Path) -> None:
    """Header lines a vendor adds that the reader does not know: a user name, an emergency
    contact, a home address, a birth date, a device nickname naming a grandchild."""
    _plant("wearable_header", "amb_quill44", "Rosalind Ashcombe", "Ashcombe", "Rosalind",
           "22 Wimbourne Terrace", "Wimbourne", "1944-08-12", "Barnaby")  # fmt: skip
    wear = sorted((raw / "wearables").rglob("*.csv"))[-1]
    lines = wear.read_text().splitlines()
    lines[1:1] = [
        "# account_username: amb_quill44",
        "# emergency_contact: Rosalind Ashcombe (daughter) 412-555-0123",
        "# home_address: 22 Wimbourne Terrace",
        "# date_of_birth: 1944-08-12",
        "# device_nickname: Band from grandson Barnaby",
    ]
    wear.write_text("\n".join(lines) + "\n")


# --- the run ------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted6")
    raw = small_study(root)
    _plant_fhir(raw)
    _plant_sdtm(raw)
    _plant_odm_values()
    _plant_wearables(raw)
    _plant_names(raw)
    handler = _Collect()
    logger = logging.getLogger("twinlab")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        results = run_both(raw, root)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return root, results, "\n".join(handler.lines)


PLACES = ["file_names", "reasons", "fhir_people", "sdtm_domains", "odm_subject",
          "wearable_header"]  # fmt: skip


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_run_publishes_with_a_clean_scan(runs, label):
    root, results, _ = runs
    assert results[label].phi_findings == []
    assert (root / label / "events.parquet").exists()


@pytest.mark.parametrize("label", ["scrub", "default"])
@pytest.mark.parametrize("place", PLACES)
def test_planted_identifiers_reach_no_published_file(runs, place, label):
    root, results, _ = runs
    text = published_text(root / label).lower()
    text += json.dumps(results[label].report, default=str).lower()
    leaks = [v for v in PLANTED[place] if v.lower() in text]
    assert not leaks, {v: where_found(root, label, v) for v in leaks}


@pytest.mark.parametrize("place", PLACES)
def test_planted_identifiers_reach_no_log_line(runs, place):
    _, _, log = runs
    leaks = [v for v in PLANTED[place] if v.lower() in log.lower()]
    assert not leaks, [
        line for line in log.splitlines() if any(v.lower() in line.lower() for v in leaks)
    ][:5]


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_quarantine_reasons_name_checks_and_fields_not_the_senders_text(runs, label):
    """The reasons of the records quarantined for a sender's text keep what they say of the
    check and the field: a reference to a resource of another type, a date that is none,
    a SUPP-- row of no parent (its domain and IDVAR quoted only when SDTM names)."""
    root, _, _ = runs
    q = pd.read_parquet(root / label / "quarantine.parquet")
    reasons = set(q["reason"])
    assert "subject refers to a resource of another type, not a Patient" in reasons
    assert "effectiveDateTime not a valid FHIR date/dateTime" in reasons
    orphans = sorted(q.loc[q["check"] == "sdtm.supp_orphan", "reason"])
    assert orphans == ["no MH row with its USUBJID and its IDVAR",
                       "no row with its USUBJID and its IDVAR"]  # fmt: skip


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_date_precision_stays_when_a_person_of_the_record_is_surnamed_day(runs, label):
    """A vaccinator "Sunny Day" is a known name of the record: the date precision "day", a
    coded qualifier, lost it ("[NAME]") in every event; as a vocabulary qualifier it stays,
    and the publish scan does not read it as the name."""
    root, _, _ = runs
    quals = _events(root, label)["qualifiers"].map(json.loads)
    precisions = {q.get("date_precision") for q in quals} - {None}
    assert "day" in precisions
    assert precisions <= {"year", "month", "day", "hour", "minute", "second", "none"}


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_a_qnam_naming_a_relative_is_a_keyed_key(runs, label):
    root, _, _ = runs
    ev = _events(root, label)
    cm = ev.loc[ev["source_record"].astype(str).str.startswith("cm.csv")]
    (q,) = cm["qualifiers"].map(json.loads)
    (key,) = q["supp"]
    assert key.startswith("ref-") and len(key) == 20
    assert q["indication"] is None if label == "default" else q["indication"].startswith("back")


def _events(root: Path, label: str) -> pd.DataFrame:
    return pd.read_parquet(root / label / "events.parquet")


def test_sponsor_keys_keep_sdtm_names_and_key_the_rest():
    from twinlab.deid import DeidKey
    from twinlab.deid.tables import _sponsor_key
    from twinlab.deid.text import TextScrubber

    k = DeidKey(bytes(32))
    s = TextScrubber(engine=False)
    kept = ["AETRTCOM", "COMVAL", "ITT", "COMPLT24", "RACE1", "SAFETY", "AESOSP", "RANDDTC"]
    assert [_sponsor_key(n, s, k) for n in kept] == kept
    keyed = ["CARROWAY", "HARTIGAN", "Carroway", "PENNYCUICK", "QNAM WITH SPACE", "x"]
    out = [_sponsor_key(n, s, k) for n in keyed]
    assert all(o.startswith("ref-") for o in out) and len(set(out)) == len(keyed)
    assert _sponsor_key("CARROWAY", s, k) == out[0]  # the same name, the same key


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_report_names_a_codelist_by_its_place_when_its_oid_names_a_person(runs, label):
    """define.xml's codelist OIDs are the sponsor's free names: one naming a relative is
    reported as its place in the file, one holding spaces (undeclared) as such."""
    _, results, _ = runs
    (define,) = results[label].report["field_policy"]["define_xml"]
    assert define["variables"] == {"MHDECOD": ["CodeList #1"]}
    assert define["skipped"] == {"MHCAT": "an undeclared CodeList (not declared)"}


def test_a_practice_before_a_lower_case_noun_after_at_is_a_place():
    from twinlab.deid.text import TextScrubber

    scrub = TextScrubber().scrub
    assert "Stonebridge" not in scrub("IM by nurse at Stonebridge surgery")
    assert "Ashgrove" not in scrub("referred from Ashgrove health centre")
    for kept in ("after the Whipple surgery", "had Mohs surgery", "Needs Vascular surgery",
                 "at Day surgery unit"):  # fmt: skip
        assert scrub(kept) == kept, kept
