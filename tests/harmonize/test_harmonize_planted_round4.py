"""Round 4 of identifiers planted in structured exports: the non-FHIR sources (SDTM, ODM, VCF,
wearables), end to end through ``harmonize``.

Each place plants its own invented values where real exports put them: SDTM DM's full birth
date and an age over 89, its investigator (INVNAM, INVID), a site's city and ZIP code in
sponsor columns, a USUBJID that embeds the subject's initials and birth date; SUPPDM / SUPPAE
values naming a relative and a hospital; CO comments; AE verbatim terms naming people,
--SPID / --REFID holding a medical record number; --DTC to the second; an age question
answered 97 (SC). ODM AdminData users (name, address, phone, e-mail) and locations, audit
records and signatures with their reasons and time stamps, annotations, a SubjectKey that is a
medical record number, typed ``ItemDataString`` comments naming people. VCF ``##fileDate``,
``##SAMPLE`` with the individual's name, ``##commandline`` paths, sample columns named by a
medical record number, an INFO free-text field and an ID column holding a name. Wearables:
the export header's serial, account user name and e-mail, a location line and a time-zone
name, GPS latitude / longitude columns, and an accelerometer time series whose time stamps
carry a zone name. The check reads every published file (and the log of the run)
independently of twinlab's detectors; the clinical content (AE terms, lab values, genotypes,
wearable summaries) still flows.

What leaked before the fixes of this round (both runs unless said): a wearable's GPS track
(columns ``lat``, ``gps_latitude``, ``gps_longitude``, plain names, were published as arrays
of series.zarr, whose numbers no text check reads); the zone name of a time series' time
stamps ("America/Boise") as its device, in series.zarr and the events' qualifiers; a DM
COUNTRY holding the site's town, as a coded qualifier; a SUPPAE comment's "Osgood", a first
name of the dictionaries before the surname the engine flagged ("by Osgood [PHI]"), and the
unreviewed run published the comment scrubbed where it drops its value_text; a wearable
header naming a column twice by the wearer's name and record number, echoed by the published
quarantine reason; and the error of a run with nothing usable named the raw file
("Rosamund_Ingleby_MRN77120459.csv") and echoed that reason. Every other place held: DM's
birth date, age over 89, investigator, site city and ZIP, the USUBJID with initials and
birth date, --SPID / --REFID, the times of --DTC, CO, SUPPDM; ODM's admin data, audit
records, signatures, annotations, an MRN SubjectKey, typed string items, an age item of 97;
VCF's header lines, sample names, INFO text and IDs; the wearable header's user, e-mail,
location and serial; the quarantined records' reasons; the log of the run.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from harmonize_redteam import published_text, run_both, small_study, where_found

#: place -> the planted values that must not be published (case-insensitive).
PLANTED: dict[str, list[str]] = {}
#: The places whose planted values were in the published text before this round's fixes (the
#: GPS track was in series.zarr's binary chunks: test_series_publish_no_gps_track...).
LEAKED_ON_MAIN = ("sdtm_dm", "sdtm_dm_vocabulary", "sdtm_supp", "vcf", "wearable_header",
                  "timeseries")  # fmt: skip


def _plant(place: str, *values: str) -> None:
    PLANTED.setdefault(place, []).extend(values)


def _csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


# --- SDTM ---------------------------------------------------------------------------------------

#: A subject of DM whose USUBJID embeds the initials and birth date (1931-03-14: 94 at entry).
EMBEDDED = "TWL-001-102-HA19310314"


def _plant_sdtm(raw: Path) -> str:
    sdtm = raw / "sdtm"
    dm = pd.read_sas(sdtm / "dm.xpt", format="xport", encoding="latin1")
    (sdtm / "dm.xpt").unlink()
    usubjid = str(dm["USUBJID"].iloc[0])
    study = str(dm["STUDYID"].iloc[0])
    _plant("sdtm_dm", "1931-03-14", "19310314", "HA19310314", "Amberleigh", "Hollis",
           "INV-77310", "Wexcombe", "02871", "Quarrendon")  # fmt: skip
    dm["INVID"] = "INV-77310"
    dm["INVNAM"] = "Amberleigh, Hollis"
    dm["SITECITY"] = "Wexcombe"
    dm["SITEZIP"] = "02871"
    dm["SITENAME"] = "Quarrendon Research Unit"
    extra = dm.iloc[[0]].copy()
    extra["USUBJID"] = EMBEDDED
    extra["SUBJID"] = "HA19310314"
    extra["BRTHDTC"] = "1931-03-14"
    extra["AGE"] = 94
    extra["RFSTDTC"] = "2025-05-21T08:15:37"
    extra["RFENDTC"] = "2025-06-17T06:54"
    # a sponsor's COUNTRY holding the site's town, RACE and ETHNIC holding a person's name
    _plant("sdtm_dm_vocabulary", "Wexcombe", "Quayle", "Tamsin", "Osgood", "Penhallow")
    extra["COUNTRY"] = "Wexcombe"
    extra["RACE"] = "Osgood Penhallow"
    extra["ETHNIC"] = "Lives with Tamsin Quayle"
    dm = pd.concat([dm, extra], ignore_index=True)
    dm.to_csv(sdtm / "dm.csv", index=False)

    _plant("sdtm_supp", "Galloway-Sneed", "Perpetua", "St Aldric", "Penhallow", "Osgood")
    _csv(
        sdtm / "suppdm.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},DM,{EMBEDDED},,,RELNAME,Relative,Wife Perpetua Galloway-Sneed,CRF",
        f"{study},DM,{EMBEDDED},,,REFHOSP,Referring hospital,St Aldric's Hospital Wexcombe,CRF",
    )
    _csv(
        sdtm / "ae.csv",
        "STUDYID,DOMAIN,USUBJID,AESEQ,AESPID,AEREFID,AETERM,AEDECOD,AESTDTC,AEENDTC",
        f"{study},AE,{EMBEDDED},1,MRN55120877,REF-55120877,"
        "Headache after visit from brother Osgood Penhallow,Headache,"
        "2025-05-23T09:37:12,2025-05-23T18:02:41",
        f"{study},AE,{usubjid},1,,,Nausea,Nausea,2025-05-24,",
    )
    _csv(
        sdtm / "suppae.csv",
        "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL,QORIG",
        f"{study},AE,{EMBEDDED},AESEQ,1,AETRTCOM,Treatment comment,"
        "Driven to St Aldric's Hospital by Osgood Penhallow,CRF",
    )
    _csv(
        sdtm / "co.csv",
        "STUDYID,DOMAIN,USUBJID,COSEQ,RDOMAIN,IDVAR,IDVARVAL,COVAL,COEVAL,CODTC",
        f"{study},CO,{EMBEDDED},1,AE,AESEQ,1,Dr Hollis Amberleigh phoned Perpetua "
        "Galloway-Sneed,INVESTIGATOR,2025-05-23T10:11:09",
        f"{study},CO,{EMBEDDED},2,AE,AESEQ,1,dose held per dr hollis amberleigh,INVESTIGATOR,"
        "2025-05-23",
    )
    _plant("sdtm_age", "MRN55120877", "55120877")
    _csv(
        sdtm / "sc.csv",
        "STUDYID,DOMAIN,USUBJID,SCSEQ,SCTESTCD,SCTEST,SCORRES,SCORRESU,SCSTRESC,SCSTRESN,"
        "SCSTRESU,SCDTC",
        f"{study},SC,{EMBEDDED},1,AGE,Age,97,YEARS,97,97,YEARS,2025-05-21",
    )
    _csv(
        sdtm / "lbx.csv",
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBSPID,LBTESTCD,LBTEST,LBORRES,LBORRESU,LBSTRESC,"
        "LBSTRESN,LBSTRESU,LBDTC",
        f"{study},LB,{EMBEDDED},1,MRN55120877,GLUC,Glucose,5.4,mmol/L,5.4,5.4,mmol/L,"
        "2025-05-22T07:45:33",
        # a bad date naming a relative: quarantined, its reason names the field, not the value
        f"{study},LB,{EMBEDDED},2,,GLUC,Glucose,5.9,mmol/L,5.9,5.9,mmol/L,"
        "2025-05-23 per Osgood Penhallow",
    )
    return usubjid


# --- ODM ----------------------------------------------------------------------------------------

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot"
 FileOID="F.R4" CreationDateTime="2025-03-04T14:22:51">
<Study OID="S4"><GlobalVariables><StudyName>s</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>p</ProtocolName></GlobalVariables>
<MetaDataVersion OID="V1" Name="v1">
<ItemDef OID="IT.VSDAT" Name="VSDAT" DataType="date"/>
<ItemDef OID="IT.WT" Name="WEIGHT" DataType="float"/>
<ItemDef OID="IT.COMM" Name="AECOMM" DataType="text"/>
<ItemDef OID="IT.NOTE" Name="NOTE" DataType="text"/>
<ItemDef OID="IT.AGE" Name="AGE" DataType="integer"/>
</MetaDataVersion></Study>
<AdminData><User OID="USR.9" UserType="Investigator"><LoginName>ttrevelyan</LoginName>
<DisplayName>Thaddeus Trevelyan-Oakes</DisplayName><FullName>Thaddeus Trevelyan-Oakes</FullName>
<FirstName>Thaddeus</FirstName><LastName>Trevelyan-Oakes</LastName>
<Organization>Brackenfold Infirmary</Organization>
<Address><StreetName>9 Cobblestone Wynd</StreetName><City>Brackenfold</City>
<StateProv>MA</StateProv><Country>US</Country><PostalCode>01944</PostalCode></Address>
<Email>t.trevelyan-oakes@brackenfold.example.org</Email><Phone>978-555-0132</Phone>
<LocationRef LocationOID="LOC.9"/></User>
<Location OID="LOC.9" Name="Brackenfold Infirmary Ward 6" LocationType="Site">
<MetaDataVersionRef StudyOID="S4" MetaDataVersionOID="V1" EffectiveDate="2024-01-01"/>
</Location></AdminData>
<ClinicalData StudyOID="S4" MetaDataVersionOID="V1">
<AuditRecords><AuditRecord ID="AR.1"><UserRef UserOID="USR.9"/><LocationRef LocationOID="LOC.9"/>
<DateTimeStamp>2025-03-04T14:22:51</DateTimeStamp>
<ReasonForChange>Entered for Thaddeus Trevelyan-Oakes</ReasonForChange></AuditRecord>
</AuditRecords>
<SubjectData SubjectKey="MRN-44180233">
<AuditRecord><UserRef UserOID="USR.9"/><LocationRef LocationOID="LOC.9"/>
<DateTimeStamp>2025-03-04T14:22:51</DateTimeStamp>
<ReasonForChange>Subject key from chart of Ysolde Marchbanks</ReasonForChange></AuditRecord>
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.VS">
<ItemGroupData ItemGroupOID="IG.VS">
<AuditRecord EditPoint="Monitoring"><UserRef UserOID="USR.9"/><LocationRef LocationOID="LOC.9"/>
<DateTimeStamp>2025-03-04T14:23:07</DateTimeStamp>
<ReasonForChange>Weight corrected after call with Ysolde Marchbanks 978-555-0177
</ReasonForChange><SourceID>chart 44180233</SourceID></AuditRecord>
<Signature><UserRef UserOID="USR.9"/><LocationRef LocationOID="LOC.9"/>
<SignatureRef SignatureOID="SIG.9"/><DateTimeStamp>2025-03-04T14:25:44</DateTimeStamp>
</Signature>
<Annotation SeqNum="1"><Comment>Seen by Thaddeus Trevelyan-Oakes at Brackenfold</Comment>
</Annotation>
<ItemDataDate ItemOID="IT.VSDAT">2025-03-04</ItemDataDate>
<ItemDataFloat ItemOID="IT.WT">68.25</ItemDataFloat>
<ItemDataInteger ItemOID="IT.AGE">97</ItemDataInteger>
<ItemDataString ItemOID="IT.COMM">Accompanied by daughter Ysolde Marchbanks</ItemDataString>
<ItemDataString ItemOID="IT.NOTE">Lives at 9 Cobblestone Wynd, Brackenfold 01944</ItemDataString>
</ItemGroupData>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="2">
<ItemDataDate ItemOID="IT.VSDAT">2025-03-05</ItemDataDate>
<ItemDataFloat ItemOID="IT.WT">Ysolde Marchbanks 978-555-0177</ItemDataFloat>
</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>
"""


def _plant_odm(raw: Path) -> None:
    _plant("odm_admin", "Trevelyan", "Thaddeus", "ttrevelyan", "Cobblestone", "Brackenfold",
           "01944", "978-555-0132", "brackenfold.example.org")  # fmt: skip
    _plant("odm_audit", "Marchbanks", "Ysolde", "978-555-0177", "2025-03-04T14:2",
           "14:22:51", "14:23:07", "14:25:44")  # fmt: skip
    _plant("odm_subject", "MRN-44180233", "44180233")
    (raw / "odm").mkdir(exist_ok=True)
    (raw / "odm" / "visit.xml").write_text(ODM)


# --- VCF ----------------------------------------------------------------------------------------


def _plant_vcf(raw: Path, usubjid: str) -> None:
    _plant("vcf", "Ingleby", "Rosamund", "MRN77120459", "77120459", "20250219", "Farthingale",
           "Ashcombe")  # fmt: skip
    vcf = raw / "vcf" / "genotypes.vcf"
    lines = vcf.read_text().splitlines()
    lines = [ln.replace("##fileDate=20250106", "##fileDate=20250219") for ln in lines]
    lines[1:1] = [
        '##SAMPLE=<ID=MRN77120459,Individual=Rosamund Ingleby,Description="Ashcombe clinic">',
        "##commandline=gatk HaplotypeCaller -I /mnt/Farthingale/Ingleby_Rosamund/MRN77120459.bam",
        '##INFO=<ID=CURATOR,Number=1,Type=String,Description="Curator">',
    ]
    head = next(i for i, ln in enumerate(lines) if ln.startswith("#CHROM"))
    cols = lines[head].split("\t")
    cols.append("MRN77120459")
    lines[head] = "\t".join(cols)
    for i in range(head + 1, len(lines)):
        parts = lines[i].split("\t")
        if i == head + 1:
            parts[2] = "Ingleby_call_1"
        parts[7] += ";CURATOR=Rosamund_Ingleby_at_Ashcombe"
        parts.append(parts[-1])
        lines[i] = "\t".join(parts)
    # a record whose position is a name (quarantined: the reason must not echo it)
    bad = lines[head + 1].split("\t")
    bad[1] = "Ingleby_Rosamund"
    lines.append("\t".join(bad))
    vcf.write_text("\n".join(lines) + "\n")


# --- wearables ----------------------------------------------------------------------------------


def _plant_wearables(raw: Path) -> None:
    _plant("wearable_header", "rosamund.walks", "kestrel.example.com", "Pinfold",
           "Kestrel Cloud user 88120", "America/Boise")  # fmt: skip
    files = sorted((raw / "wearables").glob("*.csv"))
    lines = files[0].read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("# timezone"))
    lines[at] = "# timezone: America/Boise"
    lines[at:at] = ["# user_name: rosamund.walks", "# location: 4 Pinfold Lane, Boise ID 83702",
                    "# account_id: Kestrel Cloud user 88120"]  # fmt: skip
    head = at + 4
    lines[head] += ",latitude,longitude"
    for i in range(head + 1, len(lines)):
        lines[i] += f",43.61{i % 97:02d}87,-116.20{i % 89:02d}31"
    # a row whose time stamp is the account's e-mail (quarantined alone)
    lines.append("rosamund.walks@kestrel.example.com,70,0,43.6150,-116.2023")
    files[0].write_text("\n".join(lines) + "\n")
    # GPS coordinates of the track: none of the track's fixes (to 4 decimals) may be published
    _plant("gps", "43.61", "-116.20", "116.20")
    # a UK Biobank accelerometer epoch series of the same device, with a zone name and a track
    _plant("timeseries", "America/Boise", "43.6150", "116.2023")
    serial = files[0].stem
    rows = ["time,acc,lat,lon,gps_latitude,gps_longitude"]
    for m in range(0, 180):
        rows.append(f"2025-05-21 0{m // 60}:{m % 60:02d}:07.250000-0600 [America/Boise],"
                    f"{20 + m % 7}.5,43.6150,-116.2023,43.6150,-116.2023")  # fmt: skip
    data = ("\n".join(rows) + "\n").encode()
    _twice(raw / "wearables")
    with gzip.open(raw / "wearables" / f"{serial}-timeSeries.csv.gz", "wb") as fh:
        fh.write(data)


def _twice(folder: Path) -> Path:
    """An export named after its wearer whose header names a column twice, by the wearer's name
    and record number (the file is quarantined whole: its reason echoed the column's name)."""
    path = folder / "Rosamund_Ingleby_MRN77120459.csv"
    path.write_text(
        "# Kestrel Health data export\n# serial_number: KB2-77AB12CD\n# timezone: UTC-07:00\n"
        "timestamp,heart_rate,rosamund ingleby 77120459,rosamund ingleby 77120459\n"
        "2025-05-21T00:00:00-07:00,61,0,0\n"
    )
    return path


# --- the run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted4")
    raw = small_study(root)
    usubjid = _plant_sdtm(raw)
    _plant_odm(raw)
    _plant_vcf(raw, usubjid)
    _plant_wearables(raw)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        results = run_both(raw, root, identifier_aliases={"vcf_sample": "usubjid"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    (root / "run.log").write_text(log.getvalue())
    return root, results


PLACES = ["sdtm_dm", "sdtm_dm_vocabulary", "sdtm_supp", "sdtm_age", "odm_admin", "odm_audit",
          "odm_subject", "vcf", "wearable_header", "gps", "timeseries"]  # fmt: skip


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


@pytest.mark.parametrize("place", PLACES)
def test_the_run_logs_no_planted_identifier(runs, place):
    root, _ = runs
    log = (root / "run.log").read_text().lower()
    assert not [v for v in PLANTED[place] if v.lower() in log]


def _events(root: Path, label: str) -> pd.DataFrame:
    return pd.read_parquet(root / label / "events.parquet")


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_series_publish_no_gps_track_and_no_zone_name(runs, label):
    """A wearable's GPS columns (``latitude``, ``lat``, ``gps_longitude``: a track below the
    state) were published as arrays of series.zarr, whose numbers no text check reads; the
    time stamps' zone name ("[America/Boise]") was the device of the series and its events."""
    from twinlab.harmonize.series import SERIES_VARIABLES

    root, _ = runs
    tree = xr.open_datatree(root / label / "series.zarr", engine="zarr", consolidated=False)
    groups = [tree[g].to_dataset() for g in tree.children]
    assert len(groups) == 3
    for ds in groups:
        assert set(map(str, ds.data_vars)) <= SERIES_VARIABLES
        for v in ds.data_vars:
            values = np.asarray(ds[v].values, dtype="float64")
            assert not np.isclose(np.abs(values), 43.615, atol=0.01).any(), v
            assert not np.isclose(np.abs(values), 116.2023, atol=0.01).any(), v
        assert "America" not in str(ds.attrs)
    acc = next(ds for ds in groups if "acc" in ds)
    assert acc.attrs["device"] == "accelerometer epoch time series"
    assert acc.attrs["tz_offset"] == "-06:00"


def test_unreviewed_supplemental_text_is_dropped_and_reviewed_text_scrubbed(runs):
    """A SUPPAE comment is free text: scrubbed where the source was reviewed, dropped (as its
    value_text) where nobody reviewed it; before, the unreviewed run published it scrubbed."""
    root, _ = runs
    supp = {}
    for label in ("scrub", "default"):
        ev = _events(root, label)
        head = ev.loc[(ev["domain"] == "adverse_event") & (ev["code"] == "Headache")]
        assert len(head) == 1
        supp[label] = json.loads(head["qualifiers"].iloc[0])["supp"]["AETRTCOM"]
    assert supp["default"] is None
    assert supp["scrub"].startswith("Driven to ") and "[" in supp["scrub"]


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_the_clinical_content_still_flows(runs, label):
    """AE terms (without the names), the ODM weight, the lab glucose, the genotypes and the
    wearable summaries are published; the patient whose USUBJID embeds a 1931 birth date is 90+
    and no age published is over 90."""
    root, _ = runs
    ev = _events(root, label)
    ae = ev.loc[ev["domain"] == "adverse_event", "code"]
    assert sorted(ae) == ["Headache", "Nausea"]
    odm = ev.loc[ev["code_system"] == "ODM:S4"]
    assert (odm["value_num"] == 68.25).sum() == 1
    age = odm.loc[odm["display"] == "AGE"]  # an ODM age item of 97: Safe Harbor's 90+
    assert age["value_num"].tolist() == [90.0] and age["orig_value"].tolist() == ["90+"]
    demo = ev.loc[ev["domain"] == "demographic", "qualifiers"].map(json.loads)
    assert {q.get("country") for q in demo} == {"USA", None}  # a town is no country
    races = {q.get("race") for q in demo}
    assert races - {None} and races <= {"WHITE", "AMERICAN INDIAN OR ALASKA NATIVE", None}
    assert ((ev["domain"] == "lab") & (ev["value_num"] == 5.4)).sum() == 1
    gt = ev.loc[ev["domain"] == "genomic_variant", "value_text"].dropna()
    assert len(gt) >= 15 and gt.str.fullmatch(r"[ACGT][/|][ACGT]").all()
    assert (ev["domain"] == "wearable_summary").sum() >= 12
    patients = pd.read_parquet(root / label / "patients.parquet")
    assert (patients["birth_year"] == "90+").sum() >= 1
    assert patients["cov_age"].dropna().le(90).all()
    assert not patients["birth_year"].dropna().isin(["1931"]).any()


def _all_planted() -> list[str]:
    return [v for values in PLANTED.values() for v in values]


@pytest.mark.parametrize("label", ["scrub", "default"])
def test_quarantined_records_name_their_field_and_the_raw_zone_is_encrypted(runs, label):
    """Each bad record (an ODM float that is a relative's name and phone, an LBDTC naming a
    relative, a VCF POS that is a name, a wearable time stamp that is the account's e-mail, a
    wearable header naming a column twice by the wearer's name) is quarantined alone; the
    published reasons name the field, never the value; the raw records and file names are in
    the raw zone, encrypted."""
    root, _ = runs
    q = pd.read_parquet(root / label / "quarantine.parquet")
    assert sorted(q["check"]) == ["odm.datatype", "sdtm.date", "vcf.pos", "wearables.header",
                                  "wearables.timestamp"]  # fmt: skip
    reasons = " ".join(q["reason"]).lower()
    assert not [v for v in _all_planted() if v.lower() in reasons]
    zone = sorted((root / f"{label}-zone").iterdir())
    assert zone and all(f.suffix == ".enc" for f in zone)
    for f in zone:
        data = f.read_bytes()
        assert data[:4] == b"TWLE"
        assert not [v for v in _all_planted() if v.encode() in data], f.name


def test_a_run_with_nothing_usable_names_no_file_and_no_value(tmp_path):
    """A run whose only file is quarantined whole says so in an error message, which ends in
    unencrypted logs: it named the raw file ("Rosamund_Ingleby_MRN77120459.csv") and its
    reason echoed the column name ("rosamund ingleby 77120459")."""
    from harmonize_redteam import KEY, KEYRING

    from twinlab.harmonize import HarmonizeConfig, harmonize

    raw = tmp_path / "raw" / "wearables"
    raw.mkdir(parents=True)
    _twice(raw)
    with pytest.raises(ValueError) as err:
        harmonize([tmp_path / "raw"], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone",
                  config=HarmonizeConfig(), key=KEY, keyring=KEYRING)  # fmt: skip
    msg = str(err.value).lower()
    assert "no usable events" in msg and "wearables.header" in msg
    assert not [v for v in ("ingleby", "rosamund", "77120459") if v in msg], msg


def test_a_dictionary_first_name_before_a_flagged_surname_joins_the_name():
    """The engine keeps "Osgood" (a first name of the dictionaries, and an eponym) and flags
    the surname it does not know: the first name joins the name; an eponym before nothing
    flagged stays."""
    from twinlab.deid.text import find_phi

    def spans(text: str) -> list[str]:
        return [text[s:e] for _, s, e in find_phi(text)]

    assert "Osgood Penhallow" in spans("Driven home by Osgood Penhallow")
    assert spans("Headache after visit from brother Osgood Penhallow") == ["Osgood Penhallow"]
    assert spans("caused by Osgood Schlatter") == []
    assert "Osgood" not in " ".join(spans("Osgood-Schlatter disease, seen by Dr Penhallow"))


def test_vocabulary_qualifiers_keep_countries_and_codelist_terms_only():
    from twinlab.deid.policy import field_policy
    from twinlab.deid.tables import _VocabularyQualifier

    vocab = field_policy()["vocabulary_qualifiers"]
    country, race = _VocabularyQualifier(vocab["country"]), _VocabularyQualifier(vocab["race"])
    kept = ["USA", "GB", "United Kingdom", "united states", "Mexico"]
    assert [country.scrub_obj(c) for c in kept] == kept
    assert [country.scrub_obj(c) for c in ("Wexcombe", "Boise, Idaho", "02871", 7)] == [None] * 4
    terms = ["WHITE", "BLACK OR AFRICAN AMERICAN", "NOT REPORTED", "Asian", "MULTIPLE"]
    assert [race.scrub_obj(t) for t in terms] == terms
    assert race.scrub_obj("Osgood Penhallow") is None
    assert race.scrub_obj("WHITE, per daughter Tamsin") is None
