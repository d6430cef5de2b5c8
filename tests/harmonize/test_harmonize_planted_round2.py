"""Round 2 of identifiers planted in structured exports, end to end through ``harmonize``.

Where real exports carry identifiers that round 1 (test_harmonize_planted.py) did not plant:
FHIR narratives, extensions (nested too), contained resources, annotations, references and
attachments, locations, devices, coverage, meta tags and Bundle URLs; SDTM supplemental
qualifiers, comments, verbatim terms, visit names, text results and sponsor ids; ODM audit
records, signatures, annotations, admin data and repeat keys; VCF sample names, pedigree and
INFO text; wearable export headers and file names. Each place gets its own values, so a leak
names its place; the check reads every published file independently of twinlab's detectors.

What leaked before the fixes of this round: names that only the patient's record knows (a
caregiver and an employer in a complex Patient extension, a neighbour in a RelatedPerson
contained in an Observation, a wife and a general practitioner whom only a Reference's display
names) from a reviewed note; an SDTM file name (an MRN, a name) in the record pointer; an ODM
FormRepeatKey and ItemGroupRepeatKey (a name, an MRN) in the pointer; an EDC's SUBJINIT item
(initials); the ZIP code, phone and record number of an EDC contact form whose items are
named as EDCs abbreviate them (ZIPCD, HOMEPHN, MRNNUM: integers, so published as numbers); a
site named after its town; a relative's surname after "DAUGHTER" in a visit name; an AEDECOD /
CMDECOD that repeats the verbatim text, published as a dictionary code, its display and
report.json's unmapped codes. A relative named Field stopped every publication (pandas'
``field_name``, the report's ``field_policy``), and a wearable's ``device_name`` took the
model's words for names.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from harmonize_redteam import (
    KEY,
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


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- FHIR ---------------------------------------------------------------------------------------


def _plant_fhir(raw: Path) -> dict:
    file = sorted((raw / "fhir").glob("*.json"))[0]
    bundle = json.loads(file.read_text())
    entries = bundle["entry"]
    patient = entries[0]["resource"]
    pref = entries[0]["fullUrl"]
    obs = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation")
    when = obs["effectiveDateTime"]
    subject = {"reference": pref}

    # narrative (XHTML) of the Patient and of an Observation
    _plant("narrative", "Larkspur", "88417702", "Dunmore Heights")
    patient["text"] = {"status": "generated", "div": (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>MRN 88417702, 12 Larkspur Lane, '
        "Dunmore Heights</p></div>")}  # fmt: skip
    obs["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                   "Weighed at 12 Larkspur Lane</div>"}  # fmt: skip

    # extensions: nested (an emergency contact), identifier, address, name, contact point
    # (the relative and the employer are named in words the clinical engine keeps: only the
    # known values of the patient's record can find them)
    _plant("extensions", "Ostrowicz", "Benedikta", "412-555-0187", "Kettleworth", "MCD99217345",
           "Quarrystone", "Fairhavenshire", "Rivers", "Valley Foods")  # fmt: skip
    patient.setdefault("extension", []).extend([
        {"url": "http://example.org/fhir/StructureDefinition/emergency-contact", "extension": [
            {"url": "name", "valueHumanName": {"family": "Ostrowicz", "given": ["Benedikta"]}},
            {"url": "telecom", "valueContactPoint": {"system": "phone", "value": "412-555-0187"}},
            {"url": "employer", "valueString": "Kettleworth Foundry"},
            {"url": "caregiver", "valueHumanName": {"text": "Grace Rivers"}},
            {"url": "employer2", "valueString": "Summit Valley Foods"},
            {"url": "address", "valueAddress": {"line": ["77 Quarrystone Road"],
                                                "city": "Fairhavenshire"}},
        ]},
        {"url": "http://example.org/fhir/StructureDefinition/medicaid-id",
         "valueIdentifier": {"system": "urn:medicaid", "value": "MCD99217345"}},
    ])  # fmt: skip
    ext_note = observation_like(
        obs,
        "planted-ext-note",
        code={"coding": [{"system": "http://loinc.org", "code": "34109-9"}], "text": "Note"},
        valueString="Emergency contact benedikta ostrowicz (412-555-0187), works at kettleworth "
        "foundry; lives at 77 quarrystone road, fairhavenshire; medicaid MCD99217345. Care per "
        "grace rivers; employer: summit valley foods.",
    )

    # contained resources: a RelatedPerson and a Practitioner inside an Observation
    _plant("contained", "Pembrook", "Odalys", "Abernathy", "Fenwick", "Temple", "Joy Field")
    contained = observation_like(
        obs,
        "planted-contained",
        code={"coding": [{"system": "http://loinc.org", "code": "34109-9"}], "text": "Note"},
        contained=[
            {
                "resourceType": "RelatedPerson",
                "id": "rp",
                "patient": subject,
                "name": [{"family": "Pembrook", "given": ["Odalys"]}],
                "telecom": [{"system": "phone", "value": "412-555-0134"}],
            },
            {
                "resourceType": "RelatedPerson",
                "id": "rp2",
                "patient": subject,
                "name": [{"family": "Temple", "given": ["Dawn"]}],
            },
            {"resourceType": "Practitioner", "id": "pr2", "name": [{"text": "Joy Field"}]},
            {
                "resourceType": "Practitioner",
                "id": "pr",
                "name": [{"family": "Abernathy", "given": ["Fenwick"]}],
            },
        ],
        performer=[
            {"reference": "#pr", "display": "Fenwick Abernathy"},
            {"reference": "#rp", "display": "Odalys Pembrook"},
        ],
        valueString="neighbour odalys pembrook brought her in; seen by fenwick abernathy. "
        "neighbour dawn temple helps; daughter joy field helps.",
    )

    # annotations, reference displays and identifiers, attachments, photo, links, meta
    _plant("annotation", "Ashcombe", "Gwendolyn", "Wrenfield", "Thaddeus", "Prudence",
           "Hollinsworth", "77310044", "wilhelmina_q.jpg")  # fmt: skip
    patient["generalPractitioner"] = [{"reference": "Practitioner/gp1",
                                       "display": "Dr. Thaddeus Wrenfield"},
                                      {"reference": "Practitioner/gp2",
                                       "display": "Dr. June Lake, MD"}]  # fmt: skip
    patient["link"] = [{"type": "replaces", "other": {
        "display": "Hollinsworth, Prudence (MRN 77310044)",
        "identifier": {"system": "urn:oldmrn", "value": "77310044"}}}]  # fmt: skip
    patient["photo"] = [{"contentType": "image/jpeg", "title": "wilhelmina_q.jpg",
                         "url": "http://pacs.example.org/photo/wilhelmina_q.jpg",
                         "data": _b64("Prudence Hollinsworth")}]  # fmt: skip
    patient["communication"] = [{"language": {"text": "Spoken with interpreter Prudence"}}]
    patient["identifier"].append({"system": "urn:mrn:kettleworth", "value": "77310044",
                                  "assigner": {"display": "Hollinsworth Clinic"}})  # fmt: skip
    patient["meta"] = {"tag": [{"system": "urn:tags", "code": "vip",
                                "display": "VIP: Gwendolyn Ashcombe"}],
                       "security": [{"system": "urn:sec", "code": "R",
                                     "display": "Restricted (Ashcombe)"}]}  # fmt: skip
    notes = []
    for rtype in ("Observation", "Condition", "MedicationRequest"):
        res = next(e["resource"] for e in entries if e["resource"]["resourceType"] == rtype)
        res["note"] = [
            {
                "authorString": "Gwendolyn Ashcombe",
                "text": "Discussed with Gwendolyn Ashcombe (wife), 412-555-0162",
            }
        ]
        res["identifier"] = [
            {
                "system": "urn:mrn",
                "value": "77310044",
                "assigner": {"display": "Dr. Thaddeus Wrenfield"},
            }
        ]
        notes.append(res)
    notes[0]["performer"] = [
        {"display": "Thaddeus Wrenfield", "identifier": {"system": "urn:npi", "value": "77310044"}}
    ]
    notes[0]["derivedFrom"] = [{"display": "Photo wilhelmina_q.jpg"}]

    # coded values whose text names people: valueCodeableConcept.text, Condition.code.text,
    # a coding's own display, valueDateTime, abatementString, interpretation and method text
    _plant("coded_text", "Marchetti", "Gideon", "Calloway", "Henrietta", "2025-03-17",
           "Seabrook", "Ravensholt")  # fmt: skip
    coded = [
        observation_like(
            obs,
            "planted-cc",
            code={
                "coding": [{"system": "http://loinc.org", "code": "63512-8"}],
                "text": "How many people",
            },
            valueCodeableConcept={
                "coding": [{"system": "http://example.org/local", "code": "LW"}],
                "text": "Lives with husband Gideon Marchetti",
            },
            interpretation=[{"text": "per Henrietta Calloway (sister)"}],
            method={"text": "asked Gideon Marchetti"},
        ),
        observation_like(
            obs,
            "planted-cc2",
            code={
                "coding": [
                    {
                        "system": "http://loinc.org",
                        "code": "11778-8",
                        "display": "Delivery date per Henrietta Calloway",
                    }
                ]
            },
            valueDateTime="2025-03-17T10:00:00-05:00",
        ),
        observation_like(
            obs,
            "planted-cc3",
            code={"coding": [{"system": "http://loinc.org", "code": "76690-7"}]},
            valueCodeableConcept={
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "160490001",
                        "display": "Lives with Gideon Marchetti",
                    }
                ]
            },
        ),
    ]
    cond = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Condition")
    fam = json.loads(json.dumps(cond))
    fam["id"] = "planted-fam"
    fam["code"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "429740004"}],
        "text": "Family history: mother Henrietta Calloway, breast cancer",
    }
    fam["abatementString"] = "after moving to Seabrook with Gideon Marchetti"
    fam["severity"] = {"coding": [{"system": "http://snomed.info/sct", "code": "24484000",
                                   "display": "Severe per Dr. Ravensholt"}]}  # fmt: skip

    # encounters, locations (address, position), employers, devices, coverage
    _plant("places", "Kestrelmoor", "Dunwich Quay", "42.3601", "-71.0589", "Brackenfield",
           "SN-77A41-20931", "MBR99312877", "Ironvale")  # fmt: skip
    enc = {
        "resourceType": "Encounter",
        "id": "planted-enc",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [
            {
                "coding": [{"system": "http://snomed.info/sct", "code": "185349003"}],
                "text": "Visit at Brackenfield Steelworks clinic",
            }
        ],
        "subject": subject,
        "period": {"start": when, "end": when},
        "location": [
            {
                "location": {
                    "reference": "Location/loc1",
                    "display": "Kestrelmoor Ward, 9 Dunwich Quay",
                }
            }
        ],
        "serviceProvider": {"display": "Brackenfield Steelworks"},
        "participant": [{"individual": {"display": "Dr. Ravensholt"}}],
        "reasonCode": [{"text": "Crushed hand at Brackenfield Steelworks, Ironvale"}],
    }
    others = [
        {
            "resourceType": "Location",
            "id": "loc1",
            "name": "Kestrelmoor Ward",
            "address": {"line": ["9 Dunwich Quay"], "city": "Ironvale"},
            "position": {"latitude": 42.3601, "longitude": -71.0589},
        },
        {
            "resourceType": "Organization",
            "id": "emp1",
            "name": "Brackenfield Steelworks",
            "type": [{"text": "Employer"}],
            "address": [{"city": "Ironvale"}],
        },
        {
            "resourceType": "Device",
            "id": "dev1",
            "serialNumber": "SN-77A41-20931",
            "udiCarrier": [{"carrierHRF": "(01)00844588003288(21)SN-77A41-20931"}],
            "patient": subject,
        },
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "subscriberId": "MBR99312877",
            "beneficiary": subject,
            "payor": [{"display": "Brackenfield Steelworks Health Plan"}],
        },
    ]
    dev_obs = observation_like(obs, "planted-dev", device={"reference": "Device/dev1",
                                                       "display": "Scale SN-77A41-20931"},
                           valueQuantity=obs.get("valueQuantity"))  # fmt: skip
    dev_obs["valueQuantity"] = obs["valueQuantity"]

    # URLs: Bundle.entry.fullUrl holding an MRN, request.url with an identifier query
    # people that only a Reference's display names (no resource of the file), met in a note:
    # a performer who is the patient's wife, the general practitioner above
    _plant("references", "Silver", "Lake")
    ref_note = observation_like(obs, "planted-ref-note", code={"coding": [
        {"system": "http://loinc.org", "code": "34109-9"}], "text": "Note"},
        performer=[{"reference": "RelatedPerson/rp9", "display": "Sterling Silver"}],
        valueString="Discussed with sterling silver (wife); GP june lake agrees.")  # fmt: skip

    _plant("urls", "MRN55120943", "55120943")
    med = next(e for e in entries if e["resource"]["resourceType"] == "MedicationRequest")
    med["request"] = {"method": "PUT", "url": "MedicationRequest?identifier=urn:mrn|55120943"}
    url_obs = observation_like(obs, "planted-url")
    url_obs["valueQuantity"] = obs["valueQuantity"]

    # a bad record naming someone: quarantined alone, its reason naming the field only
    _plant("quarantine", "Ulverscroft", "Marigold")
    bad = observation_like(
        obs, "planted-bad", effectiveDateTime="2025-02-14 per Marigold Ulverscroft"
    )
    bad["valueQuantity"] = obs["valueQuantity"]

    entries += [
        fhir_entry(bad),
        fhir_entry(ext_note),
        fhir_entry(ref_note),
        fhir_entry(contained),
        *(fhir_entry(c) for c in coded),
        fhir_entry(fam),
        fhir_entry(enc),
        *(fhir_entry(o) for o in others),
        fhir_entry(dev_obs),
        fhir_entry(url_obs, "http://ehr.example.org/fhir/Observation/MRN55120943-obs1"),
    ]
    file.write_text(json.dumps(bundle))
    return patient


# --- SDTM ---------------------------------------------------------------------------------------


def _csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


def _plant_sdtm(raw: Path, usubjid: str) -> None:
    sdtm = raw / "sdtm"
    study = usubjid.rsplit("-", 2)[0]
    _plant("sdtm_supp", "Tobiah", "Quenby", "412-555-0119", "Larchmont Terrace")
    _csv(
        sdtm / "suppdm.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},DM,{usubjid},,,EMCONT,Emergency contact,Tobiah Quenby (son) 412-555-0119,CRF",
        f"{study},DM,{usubjid},,,RESADDR,Residence,14 Larchmont Terrace,CRF",
    )
    _csv(
        sdtm / "ae.csv",
        "STUDYID,DOMAIN,USUBJID,AESEQ,AESPID,AETERM,AEMODIFY,AEDECOD,AESTDTC,AEOUT,AEACN,AEREL",
        f"{study},AE,{usubjid},1,MRN30117752,Fall at daughter Philippa Ravensworth's farm,"
        "Fall at Philippa Ravensworth farm,Fall,2025-02-14,RECOVERED/RESOLVED,DOSE NOT CHANGED,"
        "NOT RELATED",
        f"{study},AE,{usubjid},2,,Bitten by Cornelius Vantongeren's dog,,"
        "Bitten by Cornelius Vantongeren dog,2025-02-16,,,",
        f"{study},AE,{usubjid},3,,Dizziness,,Dizziness,14FEB2025 Marigold Ulverscroft,,,",
    )
    _csv(
        sdtm / "cm.csv",
        "STUDYID,DOMAIN,USUBJID,CMSEQ,CMTRT,CMDECOD,CMINDC,CMSTDTC",
        f"{study},CM,{usubjid},1,Aspirin from Dr Maberly,ASPIRIN FROM DR MABERLY,"
        "Pain after Cornelius Vantongeren fall,2025-02-10",
    )
    _plant("file_names", "Pickersgill", "40021187")
    _csv(
        sdtm / "vs_Pickersgill_MRN40021187.csv",
        "STUDYID,DOMAIN,USUBJID,VSSEQ,VSTESTCD,VSTEST,VSORRES,VSORRESU,VSSTRESN,VSSTRESU,VSDTC",
        f"{study},VS,{usubjid},90,PULSE,Pulse Rate,72,beats/min,72,beats/min,2025-02-20",
    )
    _csv(
        sdtm / "suppae.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},AE,{usubjid},AESEQ,1,AETRTCOM,Treatment comment,"
        "Treated at home by Tobiah Quenby; call 412-555-0119,CRF",
    )
    _plant("sdtm_terms", "Ravensworth", "Philippa", "MRN30117752", "30117752", "Oakhurst",
           "Pennywhistle", "Vantongeren", "Maberly")  # fmt: skip
    _csv(
        sdtm / "mh.csv",
        "STUDYID,DOMAIN,USUBJID,MHSEQ,MHSPID,MHTERM,MHCAT,MHSTDTC",
        f"{study},MH,{usubjid},1,30117752,Mother Philippa Ravensworth - breast cancer,"
        "FAMILY HISTORY,2010",
        f"{study},MH,{usubjid},2,,Hypertension diagnosed at Oakhurst Clinic by Dr Pennywhistle,"
        "GENERAL,2012",
    )
    _csv(
        sdtm / "ds.csv",
        "STUDYID,DOMAIN,USUBJID,DSSEQ,DSTERM,DSDECOD,DSSTDTC",
        f"{study},DS,{usubjid},1,Consent witnessed by Philippa Ravensworth,"
        "INFORMED CONSENT OBTAINED,2025-01-06",
    )
    _csv(
        sdtm / "co.csv",
        "STUDYID,DOMAIN,USUBJID,COSEQ,RDOMAIN,COVAL,CODTC",
        f"{study},CO,{usubjid},1,AE,Spoke with Philippa Ravensworth at 412-555-0171,2025-02-15",
    )
    _plant("sdtm_visits", "2025-02-20", "Wolverton", "Hazelbury", "Ravensworth")
    _csv(
        sdtm / "lbx.csv",
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBREFID,LBTESTCD,LBTEST,LBORRES,"
        "LBORRESU,LBSTRESC,LBSTRESN,LBSTRESU,LBSTAT,LBREASND,VISIT,LBDTC",
        f"{study},LB,{usubjid},90,SPEC-30117752,HCG,Choriogonadotropin beta,"
        "Negative (drawn by Wolverton),,Negative (drawn by Wolverton),,,,,"
        "UNSCHEDULED 2025-02-20,2025-02-20",
        f"{study},LB,{usubjid},91,,GLUC,Glucose,,,,,,NOT DONE,"
        "Patient refused; husband Hazelbury Wolverton declined,"
        "PHONE CALL WITH DAUGHTER PHILIPPA RAVENSWORTH,2025-02-21",
    )


# --- ODM ----------------------------------------------------------------------------------------

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot"
 FileOID="F.R2" CreationDateTime="2025-03-01T00:00:00">
<Study OID="S2"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.VSDAT" Name="VSDAT" DataType="date"/>
<ItemDef OID="IT.WT" Name="WEIGHT" DataType="float"/>
<ItemDef OID="IT.INIT" Name="SUBJINIT" DataType="text"><Question><TranslatedText>Subject
initials</TranslatedText></Question></ItemDef>
<ItemDef OID="IT.BRTHDAT" Name="BRTHDAT" DataType="date"/>
<ItemDef OID="IT.CO" Name="COVAL" DataType="text"/>
<ItemDef OID="IT.ZIP" Name="ZIPCD" DataType="integer"/>
<ItemDef OID="IT.PHN" Name="HOMEPHN" DataType="integer"/>
<ItemDef OID="IT.MRN" Name="MRNNUM" DataType="integer"/>
<ItemDef OID="IT.NOK" Name="NOKNAME" DataType="text"/>
<ItemDef OID="IT.CITY" Name="CITY" DataType="text"/>
</MetaDataVersion></Study>
<AdminData><User OID="USR.1"><FullName>Rosalind Featherstonehaugh</FullName>
<FirstName>Rosalind</FirstName><LastName>Featherstonehaugh</LastName>
<Address><StreetName>3 Gullwing Row</StreetName><City>Marlowbridge</City></Address>
<Email>r.featherstonehaugh@site.example.org</Email><Phone>412-555-0148</Phone>
<LocationRef LocationOID="LOC.1"/></User>
<Location OID="LOC.1" Name="Marlowbridge Research Clinic" LocationType="Site">
<MetaDataVersionRef StudyOID="S2" MetaDataVersionOID="V1" EffectiveDate="2024-01-01"/>
</Location></AdminData>
<ClinicalData StudyOID="S2" MetaDataVersionOID="V1">
<SubjectData SubjectKey="{subject}"><SiteRef LocationOID="SITE.MARLOWBRIDGE"/>
<StudyEventData StudyEventOID="SE.UNS" StudyEventRepeatKey="2025-02-27">
<FormData FormOID="F.VS" FormRepeatKey="Featherstonehaugh-1">
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="{mrn}">
<AuditRecord><UserRef UserOID="USR.1"/><LocationRef LocationOID="LOC.1"/>
<DateTimeStamp>2025-02-27T10:00:00</DateTimeStamp>
<ReasonForChange>Corrected per Rosalind Featherstonehaugh call 412-555-0148</ReasonForChange>
<SourceID>chart {mrn}</SourceID></AuditRecord>
<Signature><UserRef UserOID="USR.1"/><LocationRef LocationOID="LOC.1"/>
<SignatureRef SignatureOID="SIG.1"/><DateTimeStamp>2025-02-27T10:05:00</DateTimeStamp>
</Signature>
<Annotation SeqNum="1"><Comment>Weighed by Rosalind Featherstonehaugh</Comment></Annotation>
<ItemData ItemOID="IT.VSDAT" Value="2025-02-27"/>
<ItemData ItemOID="IT.WT" Value="71.5"/>
<ItemData ItemOID="IT.INIT" Value="{initials}"/>
<ItemData ItemOID="IT.BRTHDAT" Value="1951-08-19"/>
<ItemData ItemOID="IT.CO" Value="Came with neighbour Rosalind Featherstonehaugh"/>
</ItemGroupData>
<ItemGroupData ItemGroupOID="IG.CONTACT">
<ItemData ItemOID="IT.VSDAT" Value="2025-02-27"/>
<ItemData ItemOID="IT.ZIP" Value="02139"/>
<ItemData ItemOID="IT.PHN" Value="4125550166"/>
<ItemData ItemOID="IT.MRN" Value="88301452"/>
<ItemData ItemOID="IT.NOK" Value="Rosalind Featherstonehaugh"/>
<ItemData ItemOID="IT.CITY" Value="Marlowbridge"/>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>
"""


def _plant_odm(raw: Path, usubjid: str, initials: str) -> None:
    _plant(
        "odm",
        "Featherstonehaugh",
        "Rosalind",
        "Marlowbridge",
        "Gullwing",
        "412-555-0148",
        "2025-02-27",
        "MRN66120934",
        "1951-08-19",
    )
    # an EDC's contact form: items named as EDCs abbreviate them, numbers typed as integers
    _plant("odm_items", "02139", "2139", "4125550166", "88301452")
    (raw / "odm").mkdir(exist_ok=True)
    (raw / "odm" / "unscheduled.xml").write_text(
        ODM.replace("{subject}", usubjid)
        .replace("{mrn}", "MRN66120934")
        .replace("{initials}", initials)
    )


# --- VCF and wearables --------------------------------------------------------------------------


def _plant_vcf(raw: Path, usubjid: str) -> None:
    _plant("vcf", "Quillfeather", "Evangelina", "Stonebridge", "MRN48810276")
    vcf = raw / "vcf" / "genotypes.vcf"
    lines = vcf.read_text().splitlines()
    lines[1:1] = [
        f'##SAMPLE=<ID={usubjid},Individual=Evangelina Quillfeather,Description="MRN48810276">',
        "##PEDIGREE=<Child=Evangelina Quillfeather,Mother=Ada Quillfeather>",
        '##INFO=<ID=NOTE,Number=1,Type=String,Description="Curator note">',
        "##commandline=bcftools call -o /data/Stonebridge/Quillfeather_MRN48810276.vcf",
    ]
    head = next(i for i, ln in enumerate(lines) if ln.startswith("#CHROM"))
    cols = lines[head].split("\t")
    cols.append("Quillfeather_Evangelina")
    lines[head] = "\t".join(cols)
    for i in range(head + 1, len(lines)):
        parts = lines[i].split("\t")
        parts[7] += ";NOTE=confirmed_by_Evangelina_Quillfeather"
        parts.append(parts[-1])
        lines[i] = "\t".join(parts)
    (raw / "vcf" / "Quillfeather_MRN48810276.vcf").write_text("\n".join(lines) + "\n")
    vcf.unlink()


def _plant_wearables(raw: Path) -> None:
    _plant("wearables", "Thornquist", "1948-11-02", "Ambleside Row", "Corvina")
    files = sorted((raw / "wearables").glob("*.csv"))
    lines = files[0].read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("# timezone"))
    lines[at:at] = ["# date_of_birth: 1948-11-02", "# address: 5 Ambleside Row",
                    "# device_name: Corvina Thornquist's Kestrel Band"]  # fmt: skip
    files[0].write_text("\n".join(lines) + "\n")
    files[0].rename(files[0].with_name(f"Corvina_Thornquist_{files[0].name}"))


# --- the run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted2")
    raw = small_study(root)
    patient = _plant_fhir(raw)
    usubjid = next(i["value"] for i in patient["identifier"] if "subject" in i["system"])
    name = patient["name"][0]
    initials = (name["given"][0][0] + name["family"][0]).upper()
    _plant_sdtm(raw, usubjid)
    _plant_odm(raw, usubjid, initials)
    _plant_vcf(raw, usubjid)
    _plant_wearables(raw)
    results = run_both(raw, root, identifier_aliases={"vcf_sample": "usubjid"})
    return root, results


def _leaks(root: Path, label: str, place: str) -> list[str]:
    text = published_text(root / label).lower()
    return [v for v in PLANTED[place] if v.lower() in text]


PLACES = ["narrative", "extensions", "contained", "annotation", "references", "coded_text",
          "places", "urls", "sdtm_supp", "sdtm_terms", "sdtm_visits", "file_names", "quarantine",
          "odm", "odm_items", "vcf", "wearables"]  # fmt: skip


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_run_publishes_with_a_clean_scan(runs, label):
    """A relative named Field (a word of pandas' own Parquet metadata, ``field_name``) or
    anything else planted here stops no publication: the outputs exist and the scan is clean."""
    root, results = runs
    assert results[label].phi_findings == []
    assert (root / label / "events.parquet").exists()


@pytest.mark.parametrize("label", ["scrub", "default"])
@pytest.mark.parametrize("place", PLACES)
def test_planted_identifiers_reach_no_published_file(runs, place, label):
    root, _ = runs
    assert (root / label / "events.parquet").exists()  # published, not refused
    leaks = _leaks(root, label, place)
    assert not leaks, {v: where_found(root, label, v) for v in leaks}


def _events(root: Path, label: str) -> pd.DataFrame:
    return pd.read_parquet(root / label / "events.parquet")


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_an_edc_initials_item_publishes_no_value(runs, label):
    """An ODM item SUBJINIT holds the patient's initials (Safe Harbor: names): one word, so an
    unreviewed source keeps it as a categorical value, and the engine keeps two capitals."""
    root, _ = runs
    from twinlab.deid.codes import transform_codes

    (code,) = transform_codes(["ODM:S2"], ["IT.INIT"], key=KEY)
    item = _events(root, label).loc[lambda e: e["code"] == code]
    assert len(item) == 1
    assert item[["value_text", "orig_value"]].isna().all(axis=None)
    assert results_counted(runs, label, "identifier_values_dropped") >= 1


def results_counted(runs, label: str, what: str) -> int:
    return int(runs[1][label].report["field_policy"][what])


def test_record_pointers_keep_ordinals_and_domain_files_only(runs):
    root, _ = runs
    ev = _events(root, "scrub")
    odm = ev.loc[ev["code_system"] == "ODM:S2", "source_record"]
    assert len(odm) == 11
    keyed = r"ref-[A-Z2-7]{16}"
    group = rf"ItemGroupData\[IG\.(?:VS#{keyed}|CONTACT)\]@[12]"
    assert odm.str.contains(rf"SE\.UNS#{keyed}\]/FormData\[F\.VS#{keyed}\]/{group}").all()
    keys = odm.index.map(lambda i: json.loads(ev.at[i, "qualifiers"]).get("repeat_key"))
    assert (keys.str.fullmatch(r"ref-[A-Z2-7]{16}") == True).sum() == 5  # noqa: E712
    sdtm = ev["source_record"].str.extract(r"^([^#]*)#row=\d+$")[0].dropna()
    domains = {"dm.xpt", "vs.xpt", "ex.xpt", "pc.xpt", "lb.xpt", "ae.csv", "mh.csv", "cm.csv",
               "lbx.csv"}  # fmt: skip
    assert set(sdtm) - domains == {sdtm[sdtm.str.startswith("src-")].iloc[0]}
    renamed = ev.loc[ev["source_record"].str.startswith("src-")]
    assert (renamed["source_record"] == renamed["source_file"] + "#row=1").all()


def test_a_decoded_term_holding_a_name_is_no_dictionary_code(runs):
    """AEDECOD / CMDECOD that repeat the verbatim text are not published as dictionary codes
    (nor kept as their displays): the name check of sponsor terms finds the person."""
    root, _ = runs
    ev = _events(root, "scrub")
    for system in ("CDISC SDTM AEDECOD", "CDISC SDTM CMDECOD"):
        codes = ev.loc[ev["code_system"] == system, "code"]
        assert codes.str.fullmatch(r"code-[A-Z2-7]{16}|Fall").all(), codes.tolist()
    assert (ev.loc[ev["code_system"] == "CDISC SDTM AEDECOD", "code"] == "Fall").sum() == 1


def test_a_relative_named_like_a_schema_word_stops_no_publication(tmp_path):
    """A relative named Field or Index: pandas' Parquet metadata (``field_name``), the
    report's keys (``field_policy``) and the column names (``index_date``) are this package's
    schema, no PHI; the same name in a cell still is."""
    from twinlab.deid.scanner import scan_for_phi

    table = pd.DataFrame({"index_date": ["2025-01-01"], "note": ["fine"]})
    table.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "report.json").write_text(json.dumps({"field_policy": {"index_date": 1}}))
    names = [("name", "Joy Field"), ("name", "Field"), ("name", "Index")]
    assert scan_for_phi(tmp_path, names) == []
    pd.DataFrame({"note": ["seen by Field"]}).to_parquet(tmp_path / "u.parquet")
    (tmp_path / "v.json").write_text(json.dumps({"Field": 1}))
    found = {(Path(f.file).name, f.location) for f in scan_for_phi(tmp_path, names)}
    assert found == {("u.parquet", "column 'note', row 0"), ("v.json", "$ (key)")}


def test_a_device_named_by_its_owner_keeps_its_model_in_every_file(runs):
    """A wearable header ``device_name: Corvina Thornquist's Kestrel Band``: the owner is PHI,
    the model's words are no name (they were removed from every wearable's device)."""
    root, _ = runs
    ev = _events(root, "scrub")
    devices = ev.loc[ev["domain"] == "wearable_summary", "qualifiers"].map(
        lambda q: json.loads(q)["device"]
    )
    assert set(devices) == {"Kestrel Band 2"}


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_bad_records_are_quarantined_alone_and_every_file_reconciles(runs, label):
    """The bad FHIR date and the bad AE date (each naming someone) are quarantined alone with
    the field as their reason; every other planted record is published; counts reconcile."""
    root, results = runs
    report = results[label].report
    assert report["reconciles"] is True
    for f in report["files"]:
        assert f["records_in"] == f["accepted"] + f["quarantined"] + f["duplicates"], f
        assert f["events"] == f["events_in_timeline"] + f["events_quarantined"], f
    q = pd.read_parquet(root / label / "quarantine.parquet")
    assert sorted(q["check"]) == ["fhir.date", "sdtm.date"]
    ev = _events(root, label)
    assert (ev["code_system"] == "ODM:S2").sum() == 11
    assert ev["code_system"].str.fullmatch(r"CDISC SDTM (AE|MH|CM)\w+").sum() == 5
    assert (ev["domain"] == "encounter").sum() >= 1


def test_a_site_named_after_a_town_is_published_as_a_pseudonym(runs):
    """ODM SiteRef ``SITE.MARLOWBRIDGE`` (the site's town, which the scrubber without the
    engine does not know): a keyed pseudonym; the numbered sites of the study stay."""
    root, _ = runs
    sites = set(pd.read_parquet(root / "scrub" / "patients.parquet")["site"].dropna())
    named = {s for s in sites if not s.isdigit()}
    assert len(named) == 1 and re.fullmatch(r"site-[A-Z2-7]{16}", named.pop())
    assert sites - {s for s in sites if s.startswith("site-")} == {"102", "201", "301", "302"}
