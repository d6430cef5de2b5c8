"""Gaps left by the last red team (each test fails on the code before its fix): conflicting
duplicate demographics, generic plausibility, special files, malformed VCF INFO fields."""

from __future__ import annotations

import faulthandler
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from twinlab.ingest.run import read_sources

AE_CSV = (
    "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AEDECOD,AESTDTC\n"
    "S,AE,S-1,1,Headache,Headache,2020-01-02\n"
    "S,AE,S-1,2,Nausea,Nausea,2020-01-03\n"
)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """End the test process with a traceback (not a hang) when the code under test opens a
    named pipe nobody writes to, or reads a device that never ends."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _harmonize(sources: list[Path], root: Path):
    from twinlab.deid import DeidKey
    from twinlab.harmonize import harmonize
    from twinlab.security.crypto import Keyring

    return harmonize(
        sources, out_dir=root / "out", raw_zone=root / "zone",
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip


# --- 3. special files are reported as skipped, never opened --------------------------------


def _special_folder(tmp_path: Path) -> tuple[Path, socket.socket]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ae.csv").write_text(AE_CSV)
    os.mkfifo(src / "pipe.csv")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(src / "sock.json"))
    (src / "dev.csv").symlink_to("/dev/zero")  # a device that never ends
    (src / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (src / "locked.csv").write_text(AE_CSV)
    (src / "locked.csv").chmod(0)
    return src, sock


def test_special_files_are_reported_skipped_with_their_kind(tmp_path: Path, no_hang) -> None:
    src, sock = _special_folder(tmp_path)
    try:
        results = {r.source_file: r for r in read_sources([src])}
    finally:
        sock.close()
    assert sorted(results) == ["ae.csv", "dev.csv", "gone.csv", "locked.csv", "pipe.csv",
                               "sock.json"]  # fmt: skip
    kinds = {"pipe.csv": "named pipe", "sock.json": "socket", "dev.csv": "character device"}
    for name, kind in kinds.items():
        bad = results[name]
        assert (bad.records_in, bad.records_accepted, bad.n_rows("quarantine")) == (1, 0, 1)
        assert bad.quarantine["check"].tolist() == ["ingest.skipped"]
        assert kind in bad.quarantine["reason"].iloc[0]
    assert results["gone.csv"].quarantine["check"].tolist() == ["ingest.io"]
    if os.geteuid() != 0:  # root reads a file of mode 000
        assert results["locked.csv"].quarantine["check"].tolist() == ["ingest.io"]
    assert results["ae.csv"].records_accepted == 2


def test_a_run_over_special_files_reports_them_and_publishes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hang
) -> None:
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit" / "log.jsonl"))
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    src, sock = _special_folder(tmp_path)
    try:
        result = _harmonize([src], tmp_path)
    finally:
        sock.close()
    report = result.report
    assert report["reconciles"] is True
    q = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert sorted(q["check"])[-3:] == ["ingest.skipped"] * 3
    assert q["check"].eq("ingest.io").sum() in (1, 2)  # the broken link (and, not as root, 000)
    assert "named pipe" in json.dumps(report) or (q["reason"].str.contains("named pipe")).any()


# --- 1. conflicting duplicate demographics are quarantined, exact copies counted -----------

DM_HEAD = "STUDYID,DOMAIN,USUBJID,SUBJID,SITEID,BRTHDTC,AGE,SEX,RFSTDTC\n"


def test_a_conflicting_dm_row_is_quarantined_naming_the_fields_not_the_values(
    tmp_path: Path,
) -> None:
    from twinlab.ingest.sdtm import read_sdtm

    (tmp_path / "dm.csv").write_text(
        DM_HEAD
        + "S,DM,S-1,1,101,1950-03-04,70,F,2020-01-01\n"
        + "S,DM,S-1,1,101,1950-03-04,70,F,2020-01-01\n"  # an exact copy: a duplicate
        + "S,DM,S-1,1,101,1961-07-08,70,M,2020-01-01\n"  # the same subject, another person
        + "S,DM,S-2,2,101,1949-01-02,71,M,2020-01-05\n"
    )
    res = read_sdtm(tmp_path / "dm.csv")
    assert (res.records_in, res.records_accepted, res.duplicates) == (4, 2, 1)
    (row,) = res.quarantine.to_dict("records")
    assert row["check"] == "sdtm.dm_conflict" and row["source_record"] == "dm.csv#row=3"
    assert "BRTHDTC" in row["reason"] and "SEX" in row["reason"]
    assert "1961" not in row["reason"] and "1950" not in row["reason"]
    assert sorted(res.persons["source_patient"]) == ["S-1", "S-2"]
    (first,) = res.persons[res.persons["source_patient"] == "S-1"].to_dict("records")
    assert (first["sex"], first["birth_date"]) == ("F", "1950-03-04")


def test_a_patient_with_the_id_of_another_is_quarantined(tmp_path: Path) -> None:
    from twinlab.ingest.fhir import read_fhir

    def patient(gender: str, born: str) -> dict:
        return {"resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": born}

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient("female", "1950-03-04")},
            {"resource": patient("female", "1950-03-04")},  # an exact copy
            {"resource": patient("male", "1961-07-08")},
        ],
    }
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    res = read_fhir(tmp_path / "b.json")
    assert (res.records_in, res.records_accepted, res.duplicates) == (3, 1, 1)
    (row,) = res.quarantine.to_dict("records")
    assert row["check"] == "fhir.patient_conflict"
    assert "birthDate" in row["reason"] and "gender" in row["reason"]
    assert "1961" not in row["reason"] and "male" not in row["reason"]
    (person,) = res.persons.to_dict("records")
    assert (person["sex"], person["birth_date"]) == ("F", "1950-03-04")


# --- 4. a malformed VCF INFO field quarantines its line alone ------------------------------

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency, per ALT">\n'
    '##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)


@pytest.mark.parametrize(
    ("info", "why"),
    [
        ("DP=12;=3", "INFO entry 2 has no valid key (KEY or KEY=VALUE)"),
        ("DP=;AF=0.5", "INFO field DP: a value is not of the declared Type=Integer"),
        ("DP=1=2", "INFO field DP: the value holds a second '='"),
        ("DP=twelve", "INFO field DP: a value is not of the declared Type=Integer"),
        ("DP=1,2", "INFO field DP: 2 values, the header declares Number=1"),
        ("AF=0.1,0.2", "INFO field AF: 2 values, the header declares Number=A (1 for this line)"),
        ("AF=high", "INFO field AF: a value is not of the declared Type=Float"),
        ("DB=1", "INFO field DB: declared a Flag, but given a value"),
        ("DP", "INFO field DP: declared Type=Integer, but no value"),
    ],
)
def test_a_malformed_info_field_quarantines_its_variant_alone(
    tmp_path: Path, info: str, why: str
) -> None:
    from twinlab.ingest.vcf import read_vcf

    body = [
        "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\tDP=30;AF=0.5;DB\tGT\t0/1",
        f"chr10\t94981296\trs1057910\tA\tC\t.\tPASS\t{info}\tGT\t0/1",
        "chr12\t21178615\trs4149056\tT\tC\t.\tPASS\t.\tGT\t1/1",
        "chr1\t12345\t.\tG\tA\t.\tPASS\tXX=any;YY;ZZ=;\tGT\t0/0",  # undeclared: syntax only
    ]
    path = tmp_path / "g.vcf"
    path.write_text(VCF_HEADER + "\n".join(body) + "\n")
    res = read_vcf(path)
    assert (res.records_in, res.records_accepted) == (4, 3)
    (row,) = res.quarantine.to_dict("records")
    assert (row["source_record"], row["check"], row["reason"]) == ("L7", "vcf.info", why)
    assert row["raw"] == body[1]
    assert set(res.events["code"]) == {"rs1799853", "rs4149056"}


# --- 6. SUPP-- qualifiers merged by the task that reads the folder, each file loaded once --

SDTM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sdtm"
PILOT = SDTM / "cdiscpilot01"
needs_pilot = pytest.mark.skipif(not PILOT.is_dir(), reason="shared SDTM pilot data absent")


def _events_bytes(results) -> dict[str, bytes]:
    """Each result's events as bytes (every column, qualifiers as sorted JSON)."""
    out = {}
    for r in results:
        ev = r.events.copy()
        ev["qualifiers"] = [json.dumps(q, sort_keys=True, default=str) for q in ev["qualifiers"]]
        out[r.source_file] = ev.to_csv(index=False).encode() + repr(r.counts).encode()
    return out


def _n_supp(results) -> int:
    return sum(
        sum(isinstance(q, dict) and "supp" in q for q in r.events["qualifiers"]) for r in results
    )


@needs_pilot
def test_the_supp_merge_loads_each_pilot_file_once_with_the_same_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """merge_supp_results loaded a folder's tables a second time (on the Dask client, under a
    cluster); the reading task now merges from the tables it loaded."""
    from twinlab.ingest import sdtm

    loads: list[str] = []
    real_xpt = sdtm._load_xpt

    def counting(path: Path):
        loads.append(Path(path).name)
        return real_xpt(path)

    monkeypatch.setattr(sdtm, "_load_xpt", counting)
    results = read_sources([PILOT])
    assert sorted(loads) == sorted(p.name for p in PILOT.glob("*.xpt"))  # each once
    assert _n_supp(results) == 1445
    monkeypatch.setattr(sdtm, "_load_xpt", real_xpt)
    reference = sdtm.read_sdtm_folder(PILOT)  # the folder merge, file by file
    for name, ref in reference.items():
        ref.source_file = name
    sdtm_results = [r for r in results if r.format == "sdtm"]
    assert _events_bytes(sdtm_results) == _events_bytes(reference.values())


@needs_pilot
def test_under_dask_the_results_are_those_read_in_process(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    import twinlab.ingest.run as run

    expected = _events_bytes(read_sources([SDTM]))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        got = read_sources([SDTM], client=client)
    assert [r.source_file for r in got] == sorted(r.source_file for r in got)
    assert _events_bytes(got) == expected
    # a folder's possible SDTM files are never split between tasks
    pairs = [(p, p.name) for p in sorted(PILOT.iterdir())]
    batches = run._batches(run._units(pairs), 3)
    holding = [b for b in batches if any(p.suffix == ".xpt" for p, _ in b)]
    assert len(holding) == 1
    # a folder of CSV files without a SUPP-- dataset (wearable exports) stays spread out
    csvs = [(tmp_path / f"day{i}.csv", f"day{i}.csv") for i in range(9)]
    assert len(run._batches(run._units(csvs), 3)) == 3
