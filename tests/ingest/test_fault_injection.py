"""Fault injection: every reader, every fault class of issue 15, the outcome of each record.

A fault is planted in one record of a real file (``/work/shared/data``, skipped when absent)
or of a small synthetic one; the test then checks that exactly that record is quarantined
with the expected check (or declared a duplicate), that every other record of the file is read
as in the clean file, that the reader never raises, and that no reason quotes the planted
value. The harmonizer's per-event checks (dates, unit overflow, plausibility) run on a small
synthetic study at the end.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from twinlab.ingest.base import ReadResult
from twinlab.ingest.run import read_file, read_files

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SYNTHEA = DATA / "fhir" / "synthea_smart" / "Tony_Beer_bb8cd3e5-8910-4eea-bbc6-3f64a4a655b8.json"
PC_CSV = DATA / "sdtm" / "pharmaversesdtm" / "pc.csv"
DM_XPT = DATA / "sdtm" / "cdiscpilot01" / "dm.xpt"
ODM_AE = DATA / "odm" / "odmlib" / "ae.xml"
VCF = DATA / "genomics" / "pharmcat_getrm" / "NA18526.preprocessed.vcf"
ACTIWARE = DATA / "wearables" / "pyactigraphy" / "test_sample_rpx_eng.csv"
AWD = DATA / "wearables" / "pyactigraphy" / "example_01.AWD"
TIMESERIES = DATA / "wearables" / "pyactigraphy" / "sample-timeSeries.csv.gz"


def _needs(*paths: Path) -> pytest.MarkDecorator:
    missing = [p.name for p in paths if not p.is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"shared data absent: {missing}")


def _read(tmp: Path, name: str, data: bytes) -> ReadResult:
    path = tmp / name
    path.write_bytes(data)
    result = read_file(path)  # the batch entry point: never raises
    c = result.counts
    assert c["records_in"] == c["accepted"] + c["quarantined"] + c["duplicates"]
    return result


def _only_quarantined(clean: ReadResult, bad: ReadResult, check: str) -> pd.Series:
    """The single quarantined record of ``bad``; every other record as in ``clean``."""
    new = bad.quarantine[~bad.quarantine["source_record"].isin(clean.quarantine["source_record"])]
    assert len(new) == 1, new[["source_record", "check", "reason"]]
    row = new.iloc[0]
    assert row["check"] == check, row["reason"]
    assert bad.records_in == clean.records_in
    assert bad.records_accepted == clean.records_accepted - 1
    return row


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _data_line(lines: list[bytes], k: int, skip: Callable[[bytes], bool]) -> int:
    """Index of the k-th line that ``skip`` does not reject."""
    return [i for i, ln in enumerate(lines) if ln.strip() and not skip(ln)][k]


# --- FHIR Bundle and NDJSON -------------------------------------------------------------------


@_needs(SYNTHEA)
def test_fhir_bundle_bad_byte_quarantines_one_resource(tmp_path: Path) -> None:
    data = SYNTHEA.read_bytes()
    clean = _read(tmp_path, "clean.json", data)
    at = data.index(b'"Body Height"') + 3
    bad = _read(tmp_path, "bad.json", data[:at] + b"\xff" + data[at + 1 :])
    row = _only_quarantined(clean, bad, "fhir.encoding")
    assert row["source_record"].startswith("entry[")
    assert len(bad.events) == len(clean.events) - 1  # the height observation, nothing else


@_needs(SYNTHEA)
@pytest.mark.parametrize("fault", ["missing quote", "stray brace"])
def test_fhir_bundle_syntax_error_quarantines_one_entry(tmp_path: Path, fault: str) -> None:
    data = SYNTHEA.read_bytes()
    clean = _read(tmp_path, "clean.json", data)
    at = data.index(b'"resourceType": "Observation"')
    broken = data[:at] + data[at + 1 :] if fault == "missing quote" else (
        data[:at] + b"}" + data[at:])  # fmt: skip
    bad = _read(tmp_path, "bad.json", broken)
    assert _only_quarantined(clean, bad, "fhir.parse")["reason"].startswith("Bundle entry")


@_needs(SYNTHEA)
def test_fhir_truncated_bundle_keeps_what_came_before_the_cut(tmp_path: Path) -> None:
    data = SYNTHEA.read_bytes()
    clean = _read(tmp_path, "clean.json", data)
    bad = _read(tmp_path, "cut.json", data[: len(data) // 2])
    assert 0 < bad.records_accepted < clean.records_accepted
    tail = bad.quarantine.iloc[-1]
    assert tail["check"] == "fhir.parse" and "truncated" in tail["reason"]
    assert bad.records_in == bad.records_accepted + len(bad.quarantine)


@_needs(SYNTHEA)
def test_fhir_duplicate_entry_is_read_once_and_declared(tmp_path: Path) -> None:
    bundle = json.loads(SYNTHEA.read_bytes())
    clean = _read(tmp_path, "clean.json", json.dumps(bundle).encode())
    obs = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    bundle["entry"].append(json.loads(json.dumps(obs)))
    dup = _read(tmp_path, "dup.json", json.dumps(bundle).encode())
    assert (dup.records_in, dup.duplicates) == (clean.records_in + 1, 1)
    assert dup.records_accepted == clean.records_accepted
    pd.testing.assert_frame_equal(dup.events, clean.events)
    tally = dup.series["fhir.resource_counts"]
    assert tally.loc["Observation", "duplicates"] == 1


@_needs(SYNTHEA)
def test_fhir_same_id_different_content_is_not_a_duplicate(tmp_path: Path) -> None:
    bundle = json.loads(SYNTHEA.read_bytes())
    obs = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    copy = json.loads(json.dumps(obs))
    copy["resource"]["status"] = "amended"
    bundle["entry"].append(copy)
    res = _read(tmp_path, "b.json", json.dumps(bundle).encode())
    assert res.duplicates == 0  # a changed resource is kept, not dropped as a copy


def _ndjson() -> list[bytes]:
    bundle = json.loads(SYNTHEA.read_bytes())
    patient = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")  # fmt: skip
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    for o in obs[:30]:
        o["subject"] = {"reference": f"Patient/{patient['id']}"}
    return [json.dumps(r).encode() for r in [patient, *obs[:30]]]


@_needs(SYNTHEA)
@pytest.mark.parametrize(
    ("fault", "check"),
    [("bad byte", "fhir.encoding"), ("0x1E", "fhir.parse"), ("cut line", "fhir.parse")],
)
def test_ndjson_fault_quarantines_one_line(tmp_path: Path, fault: str, check: str) -> None:
    lines = _ndjson()
    clean = _read(tmp_path, "clean.ndjson", b"\n".join(lines))
    k = 7
    line = lines[k]
    lines[k] = {"bad byte": line[:30] + b"\xff" + line[31:],
                "0x1E": line[:30] + b"\x1e" + line[30:],
                "cut line": line[: len(line) // 2]}[fault]  # fmt: skip
    bad = _read(tmp_path, "bad.ndjson", b"\n".join(lines))
    assert _only_quarantined(clean, bad, check)["source_record"] == f"line[{k + 1}]"


@_needs(SYNTHEA)
def test_ndjson_duplicate_line_is_read_once(tmp_path: Path) -> None:
    lines = _ndjson()
    clean = _read(tmp_path, "clean.ndjson", b"\n".join(lines))
    dup = _read(tmp_path, "dup.ndjson", b"\n".join([*lines, lines[4]]))
    assert (dup.records_in, dup.duplicates, dup.records_accepted) == (
        clean.records_in + 1, 1, clean.records_accepted)  # fmt: skip


@_needs(SYNTHEA)
@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31", "9999-12-31T23:59:59Z"])
def test_fhir_placeholder_dates_are_quarantined_per_resource(tmp_path: Path, date: str) -> None:
    lines = _ndjson()
    clean = _read(tmp_path, "clean.ndjson", b"\n".join(lines))
    obs = json.loads(lines[3])
    obs["effectiveDateTime"] = date
    lines[3] = json.dumps(obs).encode()
    bad = _read(tmp_path, "bad.ndjson", b"\n".join(lines))
    row = _only_quarantined(clean, bad, "fhir.date")
    assert date not in row["reason"] and "effective" in row["reason"]


# --- SDTM ---------------------------------------------------------------------------------------


def _pc_csv() -> bytes:
    return b"\n".join(_lines(PC_CSV.read_bytes())[:61]) + b"\n"  # header + 60 rows


@_needs(PC_CSV)
@pytest.mark.parametrize(
    ("fault", "check"),
    [("extra field", "sdtm.columns"), ("missing field", "sdtm.columns"),
     ("bad byte", "sdtm.encoding"), ("unclosed quote", "sdtm.csv")],
)  # fmt: skip
def test_sdtm_csv_fault_quarantines_one_row(tmp_path: Path, fault: str, check: str) -> None:
    data = _pc_csv()
    clean = _read(tmp_path, "pc.csv", data)
    lines = _lines(data)
    k = 10
    line = lines[k]
    lines[k] = {"extra field": line + b",EXTRA",
                "missing field": line.rsplit(b",", 1)[0],
                "bad byte": line[:12] + b"\x9d" + line[13:],
                "unclosed quote": line.replace(b'"', b"", 1)}[fault]  # fmt: skip
    bad = _read(tmp_path, "pc2.csv", b"\n".join(lines))
    row = _only_quarantined(clean, bad, check)
    assert row["source_record"] == f"pc2.csv#row={k}"
    assert row["raw"].startswith(lines[k][:12].decode())  # the line as read, for lineage


@_needs(PC_CSV)
def test_sdtm_csv_0x1e_stays_inside_its_row(tmp_path: Path) -> None:
    data = _pc_csv()
    clean = _read(tmp_path, "pc.csv", data)
    lines = _lines(data)
    lines[10] = lines[10].replace(b",", b",\x1e", 1)
    bad = _read(tmp_path, "pc3.csv", b"\n".join(lines))
    assert bad.records_in == clean.records_in  # no spurious extra record


@_needs(PC_CSV)
def test_sdtm_csv_duplicate_row_is_read_once(tmp_path: Path) -> None:
    data = _pc_csv()
    clean = _read(tmp_path, "pc.csv", data)
    lines = _lines(data)
    dup = _read(tmp_path, "pc4.csv", b"\n".join([*lines[:20], lines[12], *lines[20:]]))
    assert (dup.records_in, dup.duplicates) == (clean.records_in + 1, 1)
    assert dup.records_accepted == clean.records_accepted and not len(dup.quarantine)


@_needs(PC_CSV)
@pytest.mark.parametrize("date", ["0001-01-01T08:00", "9999-12-31", "9999"])
def test_sdtm_placeholder_dates_are_quarantined_per_row(tmp_path: Path, date: str) -> None:
    data = _pc_csv()
    clean = _read(tmp_path, "pc.csv", data)
    lines = _lines(data)
    header = lines[0].decode().split(",")
    cells = lines[10].decode().split(",")
    cells[header.index('"PCDTC"') if '"PCDTC"' in header else header.index("PCDTC")] = date
    lines[10] = ",".join(cells).encode()
    bad = _read(tmp_path, "pc5.csv", b"\n".join(lines))
    row = _only_quarantined(clean, bad, "sdtm.date")
    assert row["reason"].startswith("PCDTC") and date not in row["reason"]


@_needs(DM_XPT)
def test_sdtm_xpt_duplicate_row_is_read_once(tmp_path: Path) -> None:
    import pyreadstat

    df, _ = pyreadstat.read_xport(str(DM_XPT), encoding="cp1252")
    clean = _read(tmp_path, "dm.xpt", DM_XPT.read_bytes())
    pyreadstat.write_xport(pd.concat([df, df.iloc[[3]]], ignore_index=True),
                           str(tmp_path / "dm2.xpt"), table_name="DM")  # fmt: skip
    dup = read_file(tmp_path / "dm2.xpt")
    assert (dup.records_in, dup.duplicates) == (clean.records_in + 1, 1)
    assert dup.records_accepted == clean.records_accepted


# --- ODM ----------------------------------------------------------------------------------------


def _group(data: bytes, k: int) -> tuple[int, int]:
    starts = [m.start() for m in re.finditer(rb"<ItemGroupData[\s>]", data)]
    return starts[k], data.index(b"</ItemGroupData>", starts[k])


@_needs(ODM_AE)
@pytest.mark.parametrize("fault", ["unclosed element", "bad byte", "stray <"])
def test_odm_fault_quarantines_one_item_group(tmp_path: Path, fault: str) -> None:
    data = ODM_AE.read_bytes()
    clean = _read(tmp_path, "ae.xml", data)
    start, _ = _group(data, 3)
    item = data.index(b"<ItemData ", start)
    close = data.index(b"/>", item)
    broken = {"unclosed element": data[:close] + data[close + 1 :],
              "bad byte": data[: item + 12] + b"\xff" + data[item + 12 :],
              "stray <": data[:item] + b"<" + data[item:]}[fault]  # fmt: skip
    bad = _read(tmp_path, "ae2.xml", broken)
    row = _only_quarantined(clean, bad, "odm.parse")
    assert row["source_record"] == f"ItemGroupData@byte={start}"
    assert "ItemGroupData" in row["raw"]
    assert len(bad.events) < len(clean.events)


@_needs(ODM_AE)
def test_odm_two_broken_groups_are_two_records(tmp_path: Path) -> None:
    data = ODM_AE.read_bytes()
    clean = _read(tmp_path, "ae.xml", data)
    for k in (9, 2):  # from the end, so that offsets stay valid
        item = data.index(b"<ItemData ", _group(data, k)[0])
        close = data.index(b"/>", item)
        data = data[:close] + data[close + 1 :]
    bad = _read(tmp_path, "ae3.xml", data)
    assert bad.records_in == clean.records_in
    assert bad.records_accepted == clean.records_accepted - 2


@_needs(ODM_AE)
@pytest.mark.parametrize("where", ["inside a group", "between groups"])
def test_odm_truncated_file_keeps_the_groups_before_the_cut(tmp_path: Path, where: str) -> None:
    data = ODM_AE.read_bytes()
    start, end = _group(data, 8)
    cut = start + 40 if where == "inside a group" else end + len(b"</ItemGroupData>")
    bad = _read(tmp_path, "ae4.xml", data[:cut])
    assert bad.records_accepted >= 8
    tail = bad.quarantine.iloc[-1]
    assert tail["check"] in ("odm.parse", "odm.truncated") and "truncated" in tail["reason"]


@_needs(ODM_AE)
def test_odm_duplicate_item_group_is_read_once_and_declared(tmp_path: Path) -> None:
    data = ODM_AE.read_bytes()
    clean = _read(tmp_path, "ae.xml", data)
    start, end = _group(data, 3)
    end += len(b"</ItemGroupData>")
    dup = _read(tmp_path, "ae5.xml", data[:end] + data[start:end] + data[end:])
    assert (dup.records_in, dup.duplicates) == (clean.records_in + 1, 1)
    assert dup.records_accepted == clean.records_accepted and not len(dup.quarantine)
    same = ["source_patient", "time", "code", "value_num", "value_text", "orig_value"]
    pd.testing.assert_frame_equal(dup.events[same], clean.events[same])  # pointers renumbered
    # the same group with one value changed (an update) is a record of its own
    item = data.index(b'Value="', start) + len(b'Value="')
    changed = data[start:item] + b"Z" + data[item:end]
    upd = _read(tmp_path, "ae6.xml", data[:end] + changed + data[end:])
    assert (upd.records_in, upd.duplicates) == (clean.records_in + 1, 0)


# --- VCF ----------------------------------------------------------------------------------------


@_needs(VCF)
@pytest.mark.parametrize(
    ("fault", "check"),
    [("extra field", "vcf.columns"), ("bad byte", "vcf.encoding"), ("bad POS", "vcf.pos")],
)
def test_vcf_fault_quarantines_one_line(tmp_path: Path, fault: str, check: str) -> None:
    data = VCF.read_bytes()
    clean = _read(tmp_path, "a.vcf", data)
    lines = _lines(data)
    i = _data_line(lines, 5, lambda ln: ln.startswith(b"#"))
    line = lines[i]
    lines[i] = {"extra field": line + b"\textra",
                "bad byte": line[:3] + b"\xff" + line[4:],
                "bad POS": re.sub(rb"\t\d+\t", b"\t12x\t", line, count=1)}[fault]  # fmt: skip
    bad = _read(tmp_path, "b.vcf", b"\n".join(lines))
    assert _only_quarantined(clean, bad, check)["source_record"] == f"L{i + 1}"


@_needs(VCF)
def test_vcf_0x1e_does_not_split_a_line(tmp_path: Path) -> None:
    data = VCF.read_bytes()
    clean = _read(tmp_path, "a.vcf", data)
    lines = _lines(data)
    i = _data_line(lines, 5, lambda ln: ln.startswith(b"#"))
    lines[i] = lines[i].replace(b"\t", b"\t\x1e", 7)  # inside INFO, after the 7th tab
    bad = _read(tmp_path, "b.vcf.gz", gzip.compress(b"\n".join(lines)))
    assert bad.records_in == clean.records_in


@_needs(VCF)
@pytest.mark.parametrize("where", ["next line", "far apart"])
def test_vcf_duplicate_line_is_read_once_and_declared(tmp_path: Path, where: str) -> None:
    data = VCF.read_bytes()
    clean = _read(tmp_path, "a.vcf", data)
    lines = _lines(data)
    # a line at a configured site (it makes events), by its events' pointer "L<lineno>:..."
    i = int(clean.events["source_record"].iloc[0].split(":")[0][1:]) - 1
    at = i + 1 if where == "next line" else len(lines) - 1
    lines.insert(at, lines[i])
    dup = _read(tmp_path, "b.vcf", b"\n".join(lines))
    assert (dup.records_in, dup.duplicates) == (clean.records_in + 1, 1)
    assert dup.records_accepted == clean.records_accepted and not len(dup.quarantine)
    assert len(dup.events) == len(clean.events) > 0


# --- wearables ----------------------------------------------------------------------------------


def _epoch(lines: list[bytes]) -> int:
    return _data_line(lines, 5000, lambda ln: not re.match(rb'^"?\d', ln))


@_needs(ACTIWARE)
@pytest.mark.parametrize(
    ("fault", "check"),
    [("bad byte", "wearables.encoding"), ("extra field", "wearables.columns"),
     ("negative activity", "wearables.range"), ("bad value", "wearables.value")],
)  # fmt: skip
def test_actiware_fault_quarantines_one_epoch(tmp_path: Path, fault: str, check: str) -> None:
    data = ACTIWARE.read_bytes()
    clean = _read(tmp_path, "a.csv", data)
    lines = _lines(data)
    i = _epoch(lines)
    end = b"\r" if lines[i].endswith(b"\r") else b""
    cells = lines[i].removesuffix(end).split(b",")
    header = [ln for ln in lines if ln.startswith(b'"Line","Date"')][-1].split(b",")
    act = header.index(b'"Activity"')
    if fault == "bad byte":
        cells[1] = cells[1][:2] + b"\xff" + cells[1][3:]
    elif fault == "extra field":
        cells += [b"1", b"2", b"3", b"4", b"5"]
    elif fault == "negative activity":
        cells[act] = b'"-500"' if cells[act].startswith(b'"') else b"-500"
    else:
        cells[act] = b'"12a"' if cells[act].startswith(b'"') else b"12a"
    lines[i] = b",".join(cells) + end
    bad = _read(tmp_path, "b.csv", b"\n".join(lines))
    row = _only_quarantined(clean, bad, check)
    assert row["source_record"] == f"line {i + 1}"
    assert "-500" not in row["reason"] and "12a" not in row["reason"]


@_needs(ACTIWARE)
def test_actiware_0x1e_byte_keeps_every_epoch_and_names_no_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ACTIWARE.read_bytes()
    clean = _read(tmp_path, "a.csv", data)
    lines = _lines(data)
    i = _epoch(lines)
    lines[i] = lines[i].replace(b",", b",\x1e", 1)
    named = tmp_path / "Jane_Doe_1950.csv"  # a file named after its patient
    named.write_bytes(b"\n".join(lines))
    bad = read_file(named)
    assert bad.format == "wearables" and bad.records_in == clean.records_in
    assert bad.records_accepted >= clean.records_accepted - 1  # at most the planted epoch
    assert "Jane_Doe" not in caplog.text + "".join(capsys.readouterr())


@_needs(AWD)
def test_awd_bad_count_quarantines_one_epoch(tmp_path: Path) -> None:
    data = AWD.read_bytes()
    clean = _read(tmp_path, "a.AWD", data)
    lines = _lines(data)
    lines[100] = b"-500"
    bad = _read(tmp_path, "b.AWD", b"\n".join(lines))
    assert _only_quarantined(clean, bad, "wearables.range")["source_record"] == "line 101"


@_needs(ACTIWARE)
def test_actiware_unclosed_quote_spoils_its_own_epoch_only(tmp_path: Path) -> None:
    # the open quote swallowed the next line: one row fewer than records, a reconcile crash
    data = ACTIWARE.read_bytes()
    clean = _read(tmp_path, "a.csv", data)
    lines = _lines(data)
    i = _epoch(lines)
    header = [ln for ln in lines if ln.startswith(b'"Line","Date"')][-1].split(b",")
    cells = lines[i].split(b",")
    act = header.index(b'"Activity"')
    cells[act] = cells[act].rstrip(b'"')
    lines[i] = b",".join(cells)
    bad = _read(tmp_path, "b.csv", b"\n".join(lines))
    # split at every comma, its cells keep their quotes: the date no longer reads
    row = _only_quarantined(clean, bad, "wearables.timestamp")
    assert row["source_record"] == f"line {i + 1}"


@_needs(TIMESERIES)
@pytest.mark.parametrize("fault", ["extra field", "missing field"])
def test_time_series_bad_width_quarantines_one_epoch(tmp_path: Path, fault: str) -> None:
    # pandas refused the whole file (ParserError) for one extra field
    data = gzip.decompress(TIMESERIES.read_bytes())
    clean = _read(tmp_path, "a-timeSeries.csv", data)
    lines = _lines(data)
    k = 40
    lines[k] = lines[k] + b",7" if fault == "extra field" else lines[k].rsplit(b",", 1)[0]
    bad = _read(tmp_path, "b-timeSeries.csv", b"\n".join(lines))
    assert _only_quarantined(clean, bad, "wearables.columns")["source_record"] == f"line {k + 1}"


@_needs(ACTIWARE)
def test_actiware_header_repeated_inside_the_epoch_table_loses_no_epoch(tmp_path: Path) -> None:
    # the table was taken to start at the copy: every epoch above it vanished uncounted
    data = ACTIWARE.read_bytes()
    clean = _read(tmp_path, "a.csv", data)
    lines = _lines(data)
    header = [ln for ln in lines if ln.startswith(b'"Line","Date"')][-1]
    i = _epoch(lines)
    bad = _read(tmp_path, "b.csv", b"\n".join([*lines[:i], header, *lines[i:]]))
    assert (bad.records_in, bad.records_accepted) == (clean.records_in + 1, clean.records_accepted)
    row = bad.quarantine.iloc[0]
    assert (len(bad.quarantine), row["source_record"]) == (1, f"line {i + 1}")


@_needs(AWD)
@pytest.mark.parametrize("fault", ["over-long line", "blank line"])
def test_awd_line_set_aside_keeps_later_epochs_at_their_times(tmp_path: Path, fault: str) -> None:
    # AWD epochs are timed by position: the epochs after a dropped line moved one epoch earlier
    from twinlab.ingest.wearables import read_wearables

    lines = _lines(AWD.read_bytes().replace(b"\r\n", b"\n"))
    clean = read_wearables(_write(tmp_path / "a.AWD", lines), max_line=1000)
    lines[100] = lines[100] + b"5" * 2000 if fault == "over-long line" else b""
    bad = read_wearables(_write(tmp_path / "b.AWD", lines), max_line=1000)
    assert bad.records_accepted == clean.records_accepted - 1
    before, after = (next(iter(r.series.values()))["time"].values for r in (clean, bad))
    assert after[-1] == before[-1] and after[0] == before[0]
    assert len(set(before) - set(after)) == 1  # the epoch of line 101, and no other


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines))
    return path


@_needs(ACTIWARE)
def test_actiware_header_copied_above_its_table_adds_no_bad_rows(tmp_path: Path) -> None:
    # a copy among the header sections is not where the epoch table starts
    data = ACTIWARE.read_bytes()
    clean = _read(tmp_path, "a.csv", data)
    lines = _lines(data)
    at = [i for i, ln in enumerate(lines) if ln.startswith(b'"Line","Date"')][-1]
    bad = _read(tmp_path, "b.csv", b"\n".join([*lines[: at - 8], lines[at], *lines[at - 8 :]]))
    assert (bad.records_in, bad.records_accepted) == (clean.records_in, clean.records_accepted)


@_needs(SYNTHEA)
def test_ndjson_deeply_nested_duplicate_line_is_read_once(tmp_path: Path) -> None:
    # comparing the copy with the first raised RecursionError: the whole file was lost
    pytest.importorskip("orjson")  # json itself refuses this depth (the line is quarantined)
    lines = _ndjson()
    clean = _read(tmp_path, "clean.ndjson", b"\n".join(lines))
    deep = b"[" * 1020 + b"1" + b"]" * 1020
    lines[5] = lines[5][:-1] + b', "extension": ' + deep + b"}"
    for read in (read_file, lambda p: read_files([(p, p.name)])[0]):
        path = tmp_path / "deep.ndjson"
        path.write_bytes(b"\n".join([*lines, lines[5]]))
        res = read(path)
        assert (res.records_in, res.duplicates) == (clean.records_in + 1, 1), res.quarantine
        assert res.records_accepted == clean.records_accepted


@_needs(SYNTHEA)
@pytest.mark.parametrize("rtype", ["Bundla", "NaN"])
def test_fhir_bundle_with_a_mangled_resource_type_is_not_one_accepted_record(
    tmp_path: Path, rtype: str
) -> None:
    # read as one resource of an unknown type, accepted, and its entries lost without a word
    bundle = json.loads(SYNTHEA.read_bytes())
    bundle["resourceType"] = rtype
    res = _read(tmp_path, "b.json", json.dumps(bundle).encode())
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert res.quarantine["check"].tolist() == ["fhir.structure"]
    assert "Bundle entries" in res.quarantine["reason"].iloc[0]
