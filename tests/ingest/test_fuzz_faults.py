"""Faults found by fuzzing the ingest end to end (issue: faults nobody planted yet).

Each test builds a small synthetic input that once stopped a run, lost good records or left
the command failing after it had published; the fix is named in the test's docstring.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from twinlab.ingest.run import printable_name, read_sources

AE_CSV = "STUDYID,DOMAIN,USUBJID,AESEQ,AEDECOD,AESTDTC\n" + "".join(
    f"S,AE,S-{i},{i},HEADACHE,2020-01-0{i}\n" for i in range(1, 6)
)

needs_bytes_names = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="file names must be free bytes (Linux)"
)


def _writable(df: pd.DataFrame) -> None:
    """``df`` can be written to Parquet (as every published and raw-zone table is)."""
    df.to_parquet(io.BytesIO(), index=False)


@needs_bytes_names
def test_file_names_that_are_not_utf8_neither_stop_the_run_nor_lose_records(
    tmp_path: Path,
) -> None:
    """A source file whose name is Latin-1 bytes (Python: lone surrogates) stopped the whole
    run ('surrogates not allowed' writing the quarantine) and made the SDTM reader crash on its
    own good file. Labels and the names readers see are now valid UTF-8."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / os.fsdecode(b"ae_caf\xe9.csv")).write_text(AE_CSV)
    (folder / os.fsdecode(b"junk\xff.csv")).write_bytes(b"x")
    (folder / "ae.csv").write_text(AE_CSV.replace("S-", "T-"))
    results = read_sources([folder])
    by_label = {r.source_file: r for r in results}
    assert set(by_label) == {"ae.csv", "ae_caf\\xe9.csv", "junk\\xff.csv"}
    assert by_label["ae_caf\\xe9.csv"].records_accepted == 5
    assert by_label["ae_caf\\xe9.csv"].quarantine.empty
    assert by_label["junk\\xff.csv"].quarantine["check"].tolist() == ["ingest.format"]
    for r in results:
        for table in (r.events, r.persons, r.quarantine):
            _writable(table.astype({c: str for c in table.columns if table[c].dtype == object}))


def test_printable_name_keeps_utf8_names() -> None:
    assert printable_name("Clara_Montañez.json") == "Clara_Montañez.json"
    assert printable_name(os.fsdecode(b"a\xe9b")) == "a\\xe9b"


def test_printable_names_are_one_file_each() -> None:
    """A name holding the text ``\\xe9`` and one holding the byte 0xE9 are two labels."""
    text, byte = "caf\\xe9.json", os.fsdecode(b"caf\xe9.json")
    assert printable_name(text) == "caf\\\\xe9.json" != printable_name(byte)
    assert printable_name("a\\" + os.fsdecode(b"\xff")) == "a\\\\\\xff"


def _harmonize(sources: list[Path], root: Path):
    from twinlab.deid import DeidKey
    from twinlab.harmonize import harmonize
    from twinlab.security.crypto import Keyring

    return harmonize(
        sources, out_dir=root / "out", raw_zone=root / "zone",
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip


def test_a_broken_link_among_the_sources_is_quarantined_and_the_run_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader quarantined a link that leads nowhere and the outputs were published, but
    the audit record then hashed the source folder, met the link and failed the command
    (FileNotFoundError after publishing). Unreadable files are now counted, not fatal."""
    import json

    from twinlab.audit import hash_path

    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit" / "log.jsonl"))
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    src = tmp_path / "src"
    src.mkdir()
    (src / "ae.csv").write_text(AE_CSV)
    (src / "gone.json").symlink_to(tmp_path / "nowhere.json")
    result = _harmonize([src], tmp_path)
    report = result.report
    assert report["reconciles"] is True
    assert report["totals"]["accepted"] == 5 and report["totals"]["quarantined"] == 1
    q = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert q["check"].tolist() == ["ingest.io"]
    entries = [json.loads(x) for x in (tmp_path / "audit" / "log.jsonl").read_text().splitlines()]
    assert any("harmonize" in json.dumps(e) for e in entries)
    digests = hash_path(src)
    assert digests["nfiles"] == 1 and digests["unreadable"] == 1


def _odm(groups: int) -> bytes:
    """An ODM file of one form with ``groups`` dated LB item groups, one line each."""
    group = (
        '  <ItemGroupData ItemGroupOID="IG.LB" ItemGroupRepeatKey="{k}">'
        '<ItemData ItemOID="LBDTC" Value="2020-01-0{k}"/>'
        '<ItemData ItemOID="LBORRES" Value="{k}"/></ItemGroupData>\n'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">\n'
        '<ClinicalData StudyOID="S"><SubjectData SubjectKey="1">'
        '<StudyEventData StudyEventOID="V1"><FormData FormOID="F">\n'
        + "".join(group.format(k=k) for k in range(1, groups + 1))
        + "</FormData></StudyEventData></SubjectData></ClinicalData></ODM>\n"
    ).encode()


@pytest.mark.parametrize("k", [0, 2, 4])  # the form's first group, a middle one, the last
@pytest.mark.parametrize(("bad", "why"), [(b"\x9a", "bad byte"), (b"X", "wrong name")])
def test_odm_item_group_with_a_broken_opening_tag_is_quarantined_alone(
    tmp_path: Path, k: int, bad: bytes, why: str
) -> None:
    """One flipped byte in an ItemGroupData's own opening tag (``<ItemGroup\\x9aata``) made the
    whole file one quarantined record: the error lay outside every recognisable group."""
    from twinlab.ingest.run import read_file

    data = _odm(5)
    at = [i for i in range(len(data)) if data.startswith(b"<ItemGroupData", i)][k] + 10
    (tmp_path / "lb.xml").write_bytes(data[:at] + bad + data[at + 1 :])
    res = read_file(tmp_path / "lb.xml")
    assert (res.records_in, res.records_accepted) == (5, 4), res.quarantine["reason"].tolist()
    row = res.quarantine.iloc[0]
    assert row["check"] == "odm.parse" and row["source_record"] == f"ItemGroupData@byte={at - 10}"
    values = res.events.loc[res.events["code"] == "LBORRES", "value_text"]
    assert sorted(values) == [str(v) for v in (1, 2, 3, 4, 5) if v != k + 1]


@pytest.mark.parametrize("bad", [b"\x9a", b"<"])
def test_dataset_xml_first_item_group_with_a_broken_opening_tag_is_quarantined_alone(
    tmp_path: Path, bad: bytes
) -> None:
    """Dataset-XML has no forms: the first group's parent is ClinicalData."""
    from twinlab.ingest.run import read_file

    data = _odm(3).replace(b'<SubjectData SubjectKey="1"><StudyEventData StudyEventOID="V1">'
                           b'<FormData FormOID="F">', b"<!-- Dataset (LB) -->")  # fmt: skip
    data = data.replace(b"</FormData></StudyEventData></SubjectData>", b"")
    data = data.replace(b'"LBDTC"', b'"USUBJID" Value="S-1"/><ItemData ItemOID="LBDTC"')
    at = data.index(b"<ItemGroupData") + 10
    (tmp_path / "lb.xml").write_bytes(data[:at] + bad + data[at + 1 :])
    res = read_file(tmp_path / "lb.xml")
    assert (res.records_in, res.records_accepted) == (3, 2), res.quarantine["reason"].tolist()
    assert res.quarantine["check"].tolist() == ["odm.parse"]


def test_odm_broken_form_tag_is_still_one_file_failure(tmp_path: Path) -> None:
    """A broken FormData opening tag spoils every group of the form: no item group is cut."""
    from twinlab.ingest.run import read_file

    data = _odm(3).replace(b"<FormData", b"<Form\x9aata", 1)
    (tmp_path / "lb.xml").write_bytes(data)
    res = read_file(tmp_path / "lb.xml")
    assert res.records_in == 1 and res.quarantine["check"].tolist() == ["odm.parse"]


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_run_that_fails_while_writing_leaves_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException
) -> None:
    """A full disk (or Ctrl-C) while the outputs were written left the private staging folders
    ``.out.staging-*`` and ``.zone.staging-*`` behind: half-written outputs beside --out."""
    import twinlab.harmonize.writer as writer

    src = tmp_path / "src"
    src.mkdir()
    (src / "ae.csv").write_text(AE_CSV)

    def full(*args: object, **kwargs: object) -> int:
        raise fault

    monkeypatch.setattr(writer, "write_series", full)
    with pytest.raises(type(fault)):
        _harmonize([src], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_staging_folder_that_cannot_be_made_for_the_raw_zone_leaves_none_for_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twinlab.harmonize.writer as writer

    src = tmp_path / "src"
    src.mkdir()
    (src / "ae.csv").write_text(AE_CSV)
    made = writer.staging_dir

    def only_out(target: Path) -> Path:
        if target.name == "zone":
            raise PermissionError(13, "Permission denied", str(target.parent))
        return made(target)

    monkeypatch.setattr(writer, "staging_dir", only_out)
    with pytest.raises(PermissionError):
        _harmonize([src], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_full_disk_is_a_one_line_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """ENOSPC from Parquet ("Error writing bytes to file") was an 'internal error' asking for a
    bug report; it is the machine's state, told in one line with what to do (exit status 2)."""
    from click.testing import CliRunner

    import twinlab.cli.data as data
    from twinlab.cli import cli

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left")

    monkeypatch.setattr(data, "run_stage", full)
    (tmp_path / "ae.csv").write_text(AE_CSV)
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "no space left on the device" in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


def _xpt(path: Path, terms: list[bytes]) -> Path:
    """An AE XPT file, one row per term (bytes patched in after writing: any encoding)."""
    pyreadstat = pytest.importorskip("pyreadstat")
    n = len(terms)
    df = pd.DataFrame({
        "STUDYID": ["S"] * n, "DOMAIN": ["AE"] * n, "USUBJID": [f"S-{i}" for i in range(n)],
        "AESEQ": [float(i + 1) for i in range(n)], "AETERM": [f"TERM{i:04d}" for i in range(n)],
        "AESTDTC": [f"2020-01-{i + 1:02d}" for i in range(n)],
    })  # fmt: skip
    pyreadstat.write_xport(df, str(path), table_name="AE", file_format_version=5)
    data = path.read_bytes()
    for i, term in enumerate(terms):
        data = data.replace(f"TERM{i:04d}".encode(), term.ljust(8), 1)
    path.write_bytes(data)
    return path


def test_xpt_with_one_bad_byte_in_a_utf8_file_quarantines_that_row_alone(tmp_path: Path) -> None:
    """One corrupted byte (0x9d) in one value made every encoding refuse the file: UTF-8 and
    cp1252 fail, and the Latin-1 fallback was spelled 'latin-1', which ReadStat's iconv does
    not know ('unsupported character set'): the whole file was one quarantined record."""
    from twinlab.ingest.run import read_file

    terms = [b"NAUSEA", "CAF\u00c9".encode(), b"RASH", b"ITCH\x9d", b"FEVER"]
    res = read_file(_xpt(tmp_path / "ae.xpt", terms))
    assert (res.records_in, res.records_accepted) == (5, 4), res.quarantine["reason"].tolist()
    row = res.quarantine.iloc[0]
    assert row["check"] == "sdtm.encoding" and row["source_record"] == "ae.xpt#row=4"
    assert "CAF\u00c9" in set(res.events["display"].dropna()) | set(res.events["code"].dropna())


def test_xpt_in_latin1_is_read_whole(tmp_path: Path) -> None:
    """A legacy Latin-1 file (bytes cp1252 lacks, such as 0x9d, among accented values) is read
    as Latin-1, every row kept."""
    from twinlab.ingest.run import read_file

    terms = [b"CAF\xc9", b"NA\xcfVE", b"\x9dRASH", b"FEVER"]
    res = read_file(_xpt(tmp_path / "ae.xpt", terms))
    assert (res.records_in, res.records_accepted) == (4, 4), res.quarantine["reason"].tolist()
    assert "CAF\u00c9" in set(res.events["display"].dropna()) | set(res.events["code"].dropna())


def test_wearable_export_in_a_cut_gzip_keeps_the_epochs_before_the_cut(tmp_path: Path) -> None:
    """A gzip'd wearable export cut short (a copy stopped, a disk filled) lost every epoch:
    the whole file was one 'file unreadable' record, while the VCF reader keeps the lines
    before the damage. The checked prefix is now read and the rest is one record: the members
    before the cut of a multi-member (bgzip-style) gzip; nothing of a one-member gzip, whose
    only CRC is lost with the cut (round 3)."""
    import gzip

    from twinlab.ingest.run import read_file

    stamps = pd.date_range("2025-03-01T08:00:00", periods=20000, freq="30s")
    body = "".join(f"{t:%Y-%m-%dT%H:%M:%S}+00:00,{60 + i % 40},{i % 50}\n"
                   for i, t in enumerate(stamps))  # fmt: skip
    text = "# device_model: Kestrel Band 2\ntimestamp,heart_rate,steps\n" + body
    lines = text.encode().splitlines(keepends=True)
    packed = b"".join(gzip.compress(b"".join(lines[i : i + 500])) for i in range(0, 20002, 500))
    (tmp_path / "whole.csv.gz").write_bytes(packed)
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "one.csv.gz").write_bytes(gzip.compress(text.encode())[:-4000])
    one = read_file(tmp_path / "one.csv.gz")
    assert (one.records_in, one.records_accepted) == (1, 0)
    assert "cut before its end" in one.quarantine["reason"].iloc[0]
    whole = read_file(tmp_path / "whole.csv.gz")
    cut = read_file(tmp_path / "cut.csv.gz")
    assert whole.records_accepted == 20000 and whole.quarantine.empty
    assert 5000 < cut.records_accepted < 20000
    assert cut.records_in == cut.records_accepted + 1
    row = cut.quarantine.iloc[0]
    assert row["check"] == "wearables.io" and "from here on" in row["reason"]
    assert row["source_record"] == f"line {cut.records_accepted + 3}+"


def _glucose(i: int, code: str = "2345-7", unit: str = "mg/dL") -> str:
    import json

    return json.dumps({
        "resourceType": "Observation", "id": f"o{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": f"2023-01-0{i}T10:00:00Z",
        "valueQuantity": {"value": 90 + i, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    })  # fmt: skip


@pytest.mark.parametrize("unit", ["mg/dL/0", "1/0", "0", "10*999/L", "10*-999"])
def test_a_unit_with_a_zero_or_infinite_factor_is_an_unknown_unit(unit: str) -> None:
    """pint's ZeroDivisionError escaped ``parse_ucum`` ('mg/dL/0'): one such unit in one
    record ended the whole ingest with 'internal error (ZeroDivisionError ...)'."""
    from twinlab.terminology.ucum import UnitError, to_ucum

    with pytest.raises(UnitError):
        to_ucum(unit)


def test_odd_units_and_blanks_around_codes_neither_stop_a_run_nor_split_an_analyte(
    tmp_path: Path,
) -> None:
    """End to end: a unit pint divides by zero on, and a LOINC code with blanks around it
    (which kept its mg/dL beside every other glucose in mmol/L: the code map and the units
    table were looked up with the blanks, and the published code lost them later)."""
    src = tmp_path / "src"
    src.mkdir()
    patient = '{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960"}'
    lines = [patient, _glucose(1), _glucose(2, code=" 2345-7 "), _glucose(3, unit="mg/dL/0")]
    (src / "obs.ndjson").write_text("\n".join(lines) + "\n")
    result = _harmonize([src], tmp_path)
    assert result.report["reconciles"] is True
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    glucose = events[events["code"] == "2345-7"].sort_values("value_num")
    assert len(glucose) == 3
    converted = glucose[glucose["unit"] == "mmol/L"]["value_num"].round(2).tolist()
    assert converted == [round(91 / 18.016, 2), round(92 / 18.016, 2)]


@pytest.mark.parametrize("which", ["out", "zone"])
@pytest.mark.parametrize("level", ["the source", "above the source"])
def test_an_output_folder_that_is_or_holds_a_source_is_refused(
    tmp_path: Path, which: str, level: str
) -> None:
    """``--raw-zone`` (or ``--out``) naming a source folder, or a folder above one, replaced
    it whole: the study's source files were deleted and the run reported success. It is
    refused before anything is read, and nothing is deleted."""
    from twinlab.deid import DeidKey
    from twinlab.harmonize import harmonize
    from twinlab.security.crypto import Keyring

    src, other = tmp_path / "data" / "src", tmp_path / "other"
    src.mkdir(parents=True)
    other.mkdir()
    (src / "ae.csv").write_text(AE_CSV)
    (other / "ae.csv").write_text(AE_CSV.replace("S-", "T-"))
    keys = {"key": DeidKey(b"k" * 32), "keyring": Keyring({"k1": b"m" * 32})}
    dirs = {"out_dir": tmp_path / "o", "raw_zone": tmp_path / "z"}
    dirs["out_dir" if which == "out" else "raw_zone"] = src if level == "the source" else src.parent
    with pytest.raises(ValueError, match="holds the source"):
        harmonize([src, other], **dirs, **keys)
    assert (src / "ae.csv").read_text() == AE_CSV
    # a rerun over an earlier output replaces it, as before
    harmonize([src], out_dir=tmp_path / "o", raw_zone=tmp_path / "z", **keys)
    harmonize([other], out_dir=tmp_path / "o", raw_zone=tmp_path / "z", **keys)


@pytest.mark.parametrize("name", ["ae.csv", "ae.csv.gz", "ae.json", "ae.xml.gz"])
def test_a_gzip_file_no_reader_takes_says_it_is_compressed(tmp_path: Path, name: str) -> None:
    """A gzip'd SDTM, FHIR or ODM file (under any name) was 'no reader recognizes this file'."""
    import gzip

    from twinlab.ingest.run import read_file

    (tmp_path / name).write_bytes(gzip.compress(AE_CSV.encode()))
    res = read_file(tmp_path / name)
    assert res.quarantine["check"].tolist() == ["ingest.format"]
    assert "gzip-compressed" in res.quarantine["reason"].iloc[0]


def test_awd_blank_line_inside_the_epoch_table_is_a_quarantined_epoch(tmp_path: Path) -> None:
    """One count byte turned into a blank made its AWD epoch vanish without a word: the line
    kept its time slot but was neither counted nor quarantined (records in 18401 -> 18400)."""
    from twinlab.ingest.run import read_file

    head = ["SUBJ1", "23-Jan-2020", "13:58", " 4 ", "00", "SER1", "M"]
    counts = [str(i % 50) for i in range(60)]
    (tmp_path / "clean.AWD").write_text("\n".join(head + counts) + "\n\n")
    counts[30] = " "
    (tmp_path / "blank.AWD").write_text("\n".join(head + counts) + "\n\n")
    clean, bad = read_file(tmp_path / "clean.AWD"), read_file(tmp_path / "blank.AWD")
    assert clean.records_in == 60 and clean.quarantine.empty  # a trailing blank is no epoch
    assert (bad.records_in, bad.records_accepted) == (60, 59)
    row = bad.quarantine.iloc[0]
    assert (row["source_record"], row["check"]) == ("line 38", "wearables.value")
