"""Red team, round 3: faults no earlier round tried, planted into real public exports.

Each case copies a real file from ``../shared/data`` (or, where no real file of the kind
exists, builds the smallest one), plants one fault and reads it with
:func:`twinlab.ingest.run.read_file` (or the whole ingest, :func:`twinlab.ingest.run.read_files`
over a folder), which never raises. The promise: a bad record is quarantined alone with its
reason, the rest of its file and of the run goes on, counts reconcile
(``records_in = accepted + quarantined + duplicates``), no traceback for a user's mistake.

What broke the promise before this round's fixes:

- a plain (one-member) gzip whose CRC or size trailer was wrong, or cut, was half read: its
  first MiB released before the CRC was checked (wearable exports), or every line of it (VCF),
  then one "unreadable from here on" record. Only bytes a CRC vouches for are kept now: such a
  file is quarantined whole, a BGZF file keeps the blocks before the damage;
- a FHIR JSON object naming a member twice (two ``birthDate``, two ``id``) was read last-wins
  without a word, where another parser reads first-wins: ``fhir.duplicate_key`` now;
- two resources of one file with the same type and id but other content (an id conflict) were
  both accepted (only Patients were checked): the later is ``fhir.id_conflict`` now;
- a NUL byte inside a text value of a SAS XPORT **v8** file cut the value silently (only v5
  files were checked); a control byte (ESC, DEL...) in a v5 or v8 value was published; a v8
  file with one byte lost mid-file was read as 306 shifted garbage rows, accepted;
- a symbolic link inside a source folder leading out of it was followed (any file the service
  can read pulled into the run); a link to a folder was skipped without a word;
- a file that grew or shrank while read was read half old, half new; now ``ingest.changed``;
- an encoded surrogate (``ED A0 80``) in an NDJSON line was accepted through :mod:`json`'s
  ``surrogatepass`` fallback;
- a wearable row whose UTC offset is not its named zone's was placed an hour off, and the good
  row it landed on was quarantined as its duplicate; a time series stamped ``...Z`` (UTC) had
  every row quarantined as "no UTC offset";
- a unit whose parenthesis never closes (``mg/(dL``) stopped the harmonize run with a
  ``tokenize.TokenError`` traceback;
- a VCF header naming a sample too many quarantined each of its 88,000 lines alone.

Faults tried that held (tests kept): bare ``NaN``/``-Infinity``/400-digit numbers in FHIR, 2,000
nested objects, entities (XXE, billion laughs, parameter entities) in ODM clinical data, ODM in
another namespace or none, a VCF line with a column more or less, CSV line breaks and stray
quotes, wearable rows repeated or far out of order.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest
from repo_helpers import shared_data

from twinlab.ingest.base import ReadResult
from twinlab.ingest.run import read_file

DATA = shared_data()
SYNTHEA = DATA / "fhir" / "synthea_smart" / "Tony_Beer_bb8cd3e5-8910-4eea-bbc6-3f64a4a655b8.json"
EX_CSV = DATA / "sdtm" / "pharmaversesdtm" / "ex.csv"
PC_CSV = DATA / "sdtm" / "pharmaversesdtm" / "pc.csv"
DM_XPT = DATA / "sdtm" / "cdiscpilot01" / "dm.xpt"
DEFINE = DATA / "sdtm" / "cdiscpilot01" / "define.xml"
ODM_AE = DATA / "odm" / "odmlib" / "ae.xml"
GETRM = DATA / "genomics" / "pharmcat_getrm"
BGZF = GETRM / "PharmCAT_tutorial_get-rm_wgs_30x_grch38_chr10.vcf.bgz"
VCF = GETRM / "NA18526.preprocessed.vcf"
TIMESERIES = DATA / "wearables" / "pyactigraphy" / "sample-timeSeries.csv.gz"


def _need(*paths: Path) -> None:
    for p in paths:
        if not p.is_file():
            pytest.skip(f"shared data absent: {p.name}")


def _read(path: Path, data: bytes | None = None) -> ReadResult:
    if data is not None:
        path.write_bytes(data)
    result = read_file(path)
    c = result.counts
    assert c["records_in"] == c["accepted"] + c["quarantined"] + c["duplicates"], c
    return result


def _whole_file(result: ReadResult, check: str, words: str) -> None:
    assert (result.records_in, result.records_accepted) == (1, 0), result.counts
    assert result.quarantine["check"].tolist() == [check]
    assert words in result.quarantine["reason"].iloc[0], result.quarantine["reason"].iloc[0]


# --- gzip: only bytes a CRC vouches for ---------------------------------------------------------


def _bad_crc(packed: bytes) -> bytes:
    """The gzip with one bit of its CRC-32 trailer flipped (the deflate data intact)."""
    return packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:]


@pytest.mark.parametrize(("fault", "words"), [
    (_bad_crc, "failed its check"),
    (lambda d: d[:-4], "cut before its end"),  # the size (ISIZE) missing
    (lambda d: d[:-8], "cut before its end"),  # the whole trailer missing
    (lambda d: d[: len(d) * 2 // 3], "cut before its end"),
])  # fmt: skip
def test_a_plain_gzip_wearable_export_whose_trailer_fails_is_quarantined_whole(
    tmp_path: Path, fault, words: str
) -> None:
    """The real export is one 1.4 MB gzip member: its first MiB was released, and read as
    epochs, before the CRC at its end failed (or was never reached)."""
    _need(TIMESERIES)
    clean = _read(tmp_path / "clean.csv.gz", TIMESERIES.read_bytes())
    assert clean.records_accepted > 10_000 and clean.quarantine.empty
    bad = _read(tmp_path / "sample-timeSeries.csv.gz", fault(TIMESERIES.read_bytes()))
    _whole_file(bad, "wearables.io", words)
    assert not bad.series and bad.events.empty


def test_a_plain_gzip_vcf_whose_crc_fails_is_quarantined_whole(tmp_path: Path) -> None:
    _need(BGZF)
    text = gzip.decompress(BGZF.read_bytes())
    assert len(text) > 2 << 20  # more than the bytes held back until a member's CRC checks
    clean = _read(tmp_path / "clean.vcf.gz", gzip.compress(text, compresslevel=1))
    assert clean.records_accepted > 0
    bad = _read(tmp_path / "bad.vcf.gz", _bad_crc(gzip.compress(text, compresslevel=1)))
    _whole_file(bad, "vcf.io", "failed its check")
    assert bad.events.empty


def test_a_bgzf_vcf_cut_inside_its_last_block_keeps_the_blocks_before(tmp_path: Path) -> None:
    """BGZF blocks are checked one by one: a cut costs the cut block, not the file."""
    _need(BGZF)
    data = BGZF.read_bytes()
    clean = _read(tmp_path / "clean.vcf.bgz", data)
    bad = _read(tmp_path / "cut.vcf.bgz", data[: len(data) - 28 - 8])  # EOF block + 8 bytes
    assert bad.quarantine["check"].tolist() == ["vcf.io"]
    assert 0 < bad.records_accepted < clean.records_accepted
    kept = bad.events[["source_record", "value_text"]]
    assert kept.merge(clean.events[["source_record", "value_text"]]).shape[0] == len(kept)


def test_checked_gunzip_names_the_unchecked_bytes_it_released() -> None:
    from twinlab.ingest.limits import checked_gunzip, unverified_bytes

    member = os.urandom(3 << 20)  # incompressible: the member is released in 1 MiB pieces
    out: list[bytes] = []
    with pytest.raises(zlib.error) as err:
        for chunk in checked_gunzip(__import__("io").BytesIO(_bad_crc(gzip.compress(member)))):
            out.append(chunk)
    assert unverified_bytes(err.value) == sum(map(len, out)) > 0


# --- FHIR: a member named twice, an id given to two resources ----------------------------------


def _ndjson(data: bytes) -> list[dict]:
    """The Synthea bundle's Patient and 30 Observations that point at it (NDJSON lines)."""
    bundle = json.loads(data)
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    obs = [r for r in resources if r["resourceType"] == "Observation"][:30]
    for o in obs:
        o["subject"] = {"reference": f"Patient/{patient['id']}"}
    return [patient, *obs]


def _lines(resources: list[dict]) -> list[bytes]:
    return [json.dumps(r).encode() for r in resources]


def _one_quarantined(bad: ReadResult, clean: ReadResult, check: str, words: str) -> None:
    q = bad.quarantine
    assert q["check"].tolist() == [check], q[["source_record", "check", "reason"]]
    assert words in q["reason"].iloc[0], q["reason"].iloc[0]
    assert bad.records_in == clean.records_in
    assert bad.records_accepted == clean.records_accepted - 1
    assert set(bad.events["source_record"]) <= set(clean.events["source_record"])


def _member_twice(line: bytes, member: bytes) -> bytes:
    """The line with ``member`` (``"name": value``) added again before its first member."""
    return line[:1] + member + b", " + line[1:]


@pytest.mark.parametrize(("member", "name"), [
    (b'"id": "someone-else"', "id"),
    (b'"status": "entered-in-error"', "status"),
    (b'"effectiveDateTime": "1901-01-01"', "effectiveDateTime"),
])  # fmt: skip
def test_an_ndjson_resource_naming_a_member_twice_is_quarantined_alone(
    tmp_path: Path, member: bytes, name: str
) -> None:
    _need(SYNTHEA)
    lines = _lines(_ndjson(SYNTHEA.read_bytes()))
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(lines))
    assert clean.quarantine.empty
    lines[5] = _member_twice(lines[5], member)
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    _one_quarantined(bad, clean, "fhir.duplicate_key", f"names {name} more than once")
    assert bad.quarantine["source_record"].tolist() == ["line[6]"]
    assert "someone-else" not in bad.quarantine["reason"].iloc[0]


def test_a_member_named_twice_deep_inside_a_value_is_found(tmp_path: Path) -> None:
    _need(SYNTHEA)
    resources = _ndjson(SYNTHEA.read_bytes())
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(_lines(resources)))
    lines = _lines(resources)
    obs = resources[7]
    assert "valueQuantity" in obs
    lines[7] = lines[7].replace(b'"valueQuantity": {', b'"valueQuantity": {"value": 99999, ', 1)
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    _one_quarantined(bad, clean, "fhir.duplicate_key", "names value more than once")


@pytest.mark.parametrize("recursion_limit", [None, 20_000])
def test_a_member_named_twice_deeper_than_json_recurses_is_not_read(
    tmp_path: Path, recursion_limit: int | None
) -> None:
    """orjson reads 1,010 levels; :mod:`json`, which finds the repeated member, may not (it
    recurses, up to the process's limit): the line is then quarantined whole, never read as
    parsed."""
    _need(SYNTHEA)
    lines = _lines(_ndjson(SYNTHEA.read_bytes()))
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(lines))
    deep = b'{"a":' * 1010 + b'{"b": 1, "b": 2}' + b"}" * 1010
    lines[5] = lines[5][:-1] + b', "x": ' + deep + b"}"
    old = sys.getrecursionlimit()
    if recursion_limit is not None:
        sys.setrecursionlimit(recursion_limit)
    try:
        bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    finally:
        sys.setrecursionlimit(old)
    _one_quarantined(bad, clean, "fhir.duplicate_key", "more than once")
    assert bad.quarantine["source_record"].tolist() == ["line[6]"]


def test_colons_and_escaped_colons_in_values_are_no_repeated_member(tmp_path: Path) -> None:
    """The cheap check counts ':' on both sides of a round trip: a ':' spelt ``\\u003a``
    (one character in the parsed text) or a string full of ':' must not tip it."""
    _need(SYNTHEA)
    resources = _ndjson(SYNTHEA.read_bytes())
    resources[3]["code"]["text"] = "a:b::c http://x:80/"
    lines = _lines(resources)
    lines[4] = lines[4].replace(b'"final"', b'"fi\\u003anal"', 1)  # a status that is not one
    res = _read(tmp_path / "a.ndjson", b"\n".join(lines))
    assert "fhir.duplicate_key" not in set(res.quarantine["check"])


def test_a_bundle_patient_naming_birthdate_twice_is_quarantined(tmp_path: Path) -> None:
    """The Patient is quarantined; the resources of the file that point at it by ``urn:uuid``
    go with it (``fhir.subject``: their Patient is quarantined), each with its reason."""
    _need(SYNTHEA)
    data = SYNTHEA.read_bytes()
    at = data.index(b'"birthDate"')
    bad = _read(tmp_path / "bad.json", data[:at] + b'"birthDate": "1900-01-01", ' + data[at:])
    q = bad.quarantine
    assert q["check"].iloc[0] == "fhir.duplicate_key"
    assert "names birthDate more than once" in q["reason"].iloc[0]
    assert set(q["check"]) == {"fhir.duplicate_key", "fhir.subject"}
    assert all(r.endswith("is a Patient of the file that is quarantined") for r in q["reason"][1:])
    assert bad.persons.empty


def test_a_bundle_with_two_entry_lists_is_one_quarantined_record(tmp_path: Path) -> None:
    """Last-wins read the second list only: the entries of the first were lost without a
    word. Which list is the Bundle's cannot be told: the file is one record."""
    _need(SYNTHEA)
    data = SYNTHEA.read_bytes()
    at = data.index(b'"entry"')
    first = json.dumps({"entry": json.loads(data)["entry"][:3]})[1:-1].encode()
    bad = _read(tmp_path / "bad.json", data[:at] + first + b", " + data[at:])
    _whole_file(bad, "fhir.duplicate_key", "names entry more than once")


def test_a_bundle_entry_naming_fullurl_twice_is_quarantined_alone(tmp_path: Path) -> None:
    _need(SYNTHEA)
    data = SYNTHEA.read_bytes()
    clean = _read(tmp_path / "clean.json", data)
    bundle = json.loads(data)
    url = bundle["entry"][-1]["fullUrl"].encode()
    at = data.rindex(b'"fullUrl"')
    assert data[at:].startswith(b'"fullUrl": "' + url)
    bad = _read(tmp_path / "bad.json", data[:at] + b'"fullUrl": "urn:uuid:x", ' + data[at:])
    _one_quarantined(bad, clean, "fhir.duplicate_key", "names fullUrl more than once")
    assert bad.quarantine["source_record"].tolist() == [f"entry[{len(bundle['entry']) - 1}]"]


def test_an_id_given_to_two_different_resources_quarantines_the_later(tmp_path: Path) -> None:
    """Same type and id, other content: both were accepted (only Patients were checked)."""
    _need(SYNTHEA)
    resources = _ndjson(SYNTHEA.read_bytes())
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(_lines(resources)))
    other = json.loads(json.dumps(resources[4]))
    other["valueQuantity"]["value"] = 12345.0
    copy = json.loads(json.dumps(resources[6]))
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(_lines([*resources, other, copy])))
    q = bad.quarantine
    assert q["check"].tolist() == ["fhir.id_conflict"]
    assert q["source_record"].tolist() == [f"line[{len(resources) + 1}]"]
    assert "differs in valueQuantity" in q["reason"].iloc[0] and "12345" not in q["reason"].iloc[0]
    assert bad.duplicates == 1  # the exact copy: read once, declared
    assert bad.records_accepted == clean.records_accepted
    pd.testing.assert_frame_equal(bad.events, clean.events)


def test_two_versions_of_one_resource_are_no_id_conflict(tmp_path: Path) -> None:
    _need(SYNTHEA)
    resources = _ndjson(SYNTHEA.read_bytes())
    v1, v2 = (json.loads(json.dumps(resources[4])) for _ in range(2))
    v1["meta"], v2["meta"] = {"versionId": "1"}, {"versionId": "2"}
    v2["status"] = "amended"
    res = _read(tmp_path / "h.ndjson", b"\n".join(_lines([*resources[:4], v1, v2])))
    assert res.quarantine.empty and res.records_accepted == 6


# --- SAS XPORT v8 (and v5): bytes that are not text inside a value -----------------------------


def _dm_xpt(tmp: Path, version: int) -> bytes:
    """The real DM domain as XPORT ``version`` (the real file is v5; v8 written by ReadStat)."""
    if version == 5:
        return DM_XPT.read_bytes()
    import pyreadstat

    df, _ = pyreadstat.read_xport(str(DM_XPT))
    path = tmp / "dm8.xpt"
    pyreadstat.write_xport(df, str(path), file_format_version=8, table_name="DM")
    return path.read_bytes()


@pytest.mark.parametrize("version", [5, 8])
@pytest.mark.parametrize("byte", [b"\x00", b"\x1b", b"\x7f"])  # NUL, ESC, DEL
def test_an_xpt_text_value_holding_a_byte_that_is_no_text_quarantines_its_row(
    tmp_path: Path, version: int, byte: bytes
) -> None:
    """A NUL inside a v8 value cut it silently (``01-`` for ``01-701-1015``: another subject);
    a control byte was published inside the value, in v5 as in v8."""
    _need(DM_XPT)
    data = _dm_xpt(tmp_path, version)
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "dm.xpt", data)  # pointers name the file
    assert clean.quarantine.empty
    bad = _read(tmp_path / "dm.xpt", data.replace(b"01-701-1023", b"01-7" + byte + b"1-1023", 1))
    _one_quarantined(bad, clean, "sdtm.encoding", "not text")
    assert bad.quarantine["source_record"].iloc[0].endswith("#row=2")


def test_an_xpt_v8_file_with_a_byte_lost_mid_file_is_refused_whole(tmp_path: Path) -> None:
    """Every later row shifted by one byte: ReadStat read all 306 declared rows, the padding
    at the end hiding the loss, and the garbage was accepted (0 events, no quarantine)."""
    _need(DM_XPT)
    data = _dm_xpt(tmp_path, 8)
    at = data.index(b"01-701-1023")
    bad = _read(tmp_path / "dm.xpt", data[:at] + data[at + 1 :])
    _whole_file(bad, "sdtm.parse", "not a whole number of 80-byte records")


# --- the run: links out of the folder, files that change while read ----------------------------


def test_a_link_out_of_the_source_folder_is_refused_and_the_rest_is_read(tmp_path: Path) -> None:
    """A link planted in a delivery pulled a file from outside it into the run (another
    study's data, any file the service can read); a link to a folder was skipped without a
    word. Both are refused now, by name; a link to a file inside the folder is read once."""
    from twinlab.ingest.run import read_sources

    _need(EX_CSV, PC_CSV)
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    (src / "ex.csv").write_bytes(EX_CSV.read_bytes())
    (elsewhere / "pc.csv").write_bytes(PC_CSV.read_bytes())
    (src / "pc.csv").symlink_to(elsewhere / "pc.csv")  # out of the folder
    (src / "shared.csv").symlink_to(PC_CSV)  # out of it too, to the real file
    (src / "again.csv").symlink_to(src / "ex.csv")  # inside: the same file, read once
    (src / "folder").symlink_to(elsewhere, target_is_directory=True)
    results = {r.source_file: r for r in read_sources([src])}
    assert sorted(results) == ["ex.csv", "folder", "pc.csv", "shared.csv"]
    assert results["ex.csv"].records_accepted > 0 and results["ex.csv"].quarantine.empty
    for name in ("pc.csv", "shared.csv", "folder"):
        _whole_file(results[name], "ingest.skipped", "symbolic link leading out")
        assert results[name].events.empty


def test_a_link_out_of_the_folder_is_refused_in_a_batch_of_fhir_files(tmp_path: Path) -> None:
    from twinlab.ingest.run import read_sources

    _need(SYNTHEA)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_bytes(SYNTHEA.read_bytes())
    (src / "b.json").symlink_to(SYNTHEA)
    results = {r.source_file: r for r in read_sources([src])}
    assert results["a.json"].records_accepted > 100
    _whole_file(results["b.json"], "ingest.skipped", "symbolic link leading out")


def _growing(monkeypatch: pytest.MonkeyPatch, fmt: str, extra: bytes) -> None:
    """Make the ``fmt`` reader append ``extra`` to its file as it reads it (a writer still at
    work: a copy in progress, an export not finished)."""
    import twinlab.ingest.run as run
    from twinlab.ingest.base import Reader, readers

    def grow(path: Path) -> None:
        with Path(path).open("ab") as fh:
            fh.write(extra)

    if fmt in run.BATCH_READERS:
        real_batch = run.BATCH_READERS[fmt]

        def batch(paths: list[Path]) -> object:
            for p in paths:
                grow(p)
            return real_batch(paths)

        monkeypatch.setitem(run.BATCH_READERS, fmt, batch)
    real = readers()[fmt]

    def read(path: Path) -> ReadResult:
        grow(path)
        return real.read(path)

    monkeypatch.setattr(run, "reader_for", lambda p: Reader(fmt, read, real.sniff))


@pytest.mark.parametrize("fmt", ["sdtm", "fhir"])
def test_a_file_that_grows_while_read_is_quarantined_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Its rows were read as they stood, half old, half new, with the digest of neither."""
    from twinlab.ingest.run import read_sources

    _need(EX_CSV, SYNTHEA)
    src = tmp_path / "src"
    src.mkdir()
    name = "ex.csv" if fmt == "sdtm" else "a.json"
    (src / name).write_bytes((EX_CSV if fmt == "sdtm" else SYNTHEA).read_bytes())
    _growing(monkeypatch, fmt, b"\n")
    (result,) = read_sources([src])
    _whole_file(result, "ingest.changed", "grew while it was read")


# --- faults that broke nothing, and two that did ------------------------------------------------


def _ts_lines() -> list[bytes]:
    return gzip.decompress(TIMESERIES.read_bytes()).split(b"\n")


def test_a_wearable_row_whose_offset_is_not_its_zones_is_quarantined_alone(
    tmp_path: Path,
) -> None:
    """``+0000 [Europe/London]`` in May: the row was placed an hour late, onto the minute of a
    later good row, and that good row was quarantined as its duplicate."""
    _need(TIMESERIES)
    lines = _ts_lines()
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "sample-timeSeries.csv", b"\n".join(lines))
    lines[20] = lines[20].replace(b"+0100", b"+0000", 1)
    bad = _read(tmp_path / "sample-timeSeries.csv", b"\n".join(lines))
    assert bad.quarantine["source_record"].tolist() == ["line 21"]
    assert bad.quarantine["check"].tolist() == ["wearables.timestamp"]
    assert "named time zone" in bad.quarantine["reason"].iloc[0]
    assert bad.records_accepted == clean.records_accepted - 1


@pytest.mark.parametrize(("plant", "outcome"), [
    (lambda ls: [*ls[:21], ls[20], *ls[21:]], "duplicate"),  # a row repeated
    (lambda ls: ls[:1] + ls[5000:5001] + ls[1:5000] + ls[5001:], "same"),  # far out of order
])  # fmt: skip
def test_wearable_rows_repeated_or_out_of_order(tmp_path: Path, plant, outcome: str) -> None:
    _need(TIMESERIES)
    lines = _ts_lines()
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "sample-timeSeries.csv", b"\n".join(lines))
    bad = _read(tmp_path / "sample-timeSeries.csv", b"\n".join(plant(lines)))
    assert bad.records_accepted == clean.records_accepted
    if outcome == "same":
        assert bad.quarantine.empty
        pd.testing.assert_frame_equal(bad.events, clean.events)
    else:
        assert bad.quarantine["check"].tolist() == ["wearables.duplicate"]


def test_an_encoded_surrogate_in_ndjson_is_quarantined_alone(tmp_path: Path) -> None:
    """``ED A0 80`` is no UTF-8 (an encoded UTF-16 surrogate): orjson refuses it, and the
    :mod:`json` fallback read it with ``surrogatepass`` as a lone surrogate, accepted into a
    value no Parquet column can hold."""
    _need(SYNTHEA)
    lines = _lines(_ndjson(SYNTHEA.read_bytes()))
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(lines))
    lines[5] = lines[5].replace(b'"final"', b'"fi\xed\xa0\x80nal"', 1)
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    _one_quarantined(bad, clean, "fhir.encoding", "not text")


@pytest.mark.parametrize(("token", "check"), [
    (b"NaN", "fhir.value"),
    (b"-Infinity", "fhir.value"),
    (b"9" * 400, "fhir.value"),  # beyond a float: read as infinite
])  # fmt: skip
def test_bare_non_finite_json_numbers_quarantine_their_resource(
    tmp_path: Path, token: bytes, check: str
) -> None:
    import re

    _need(SYNTHEA)
    resources = _ndjson(SYNTHEA.read_bytes())
    k = [i for i, r in enumerate(resources) if "valueQuantity" in r][2]
    lines = _lines(resources)
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(lines))
    lines[k] = re.sub(rb'"value": [0-9.eE+-]+', b'"value": ' + token, lines[k], count=1)
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    _one_quarantined(bad, clean, check, "not a finite number")


@pytest.mark.parametrize(("decl", "use"), [
    (b'<!DOCTYPE ODM [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', b"&xxe;"),
    (b'<!DOCTYPE ODM [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]>', b""),
    (b'<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>', b"&b;"),
])  # fmt: skip
def test_odm_clinical_data_declaring_entities_is_refused(
    tmp_path: Path, decl: bytes, use: bytes
) -> None:
    """Round 2 tried define.xml; the ODM clinical-data reader refuses them too."""
    _need(ODM_AE)
    data = ODM_AE.read_bytes()
    at = data.index(b"?>") + 2
    bad = data[:at] + decl + data[at:].replace(b'Value="', b'Value="' + use, 1)
    _whole_file(_read(tmp_path / "ae.xml", bad), "odm.unsafe_xml", "entities")


def test_odm_in_another_namespace_is_refused_in_words(tmp_path: Path) -> None:
    import re

    _need(ODM_AE)
    data = re.sub(rb'\sxmlns="[^"]*"', b' xmlns="http://www.cdisc.org/ns/odm/v9.9"',
                  ODM_AE.read_bytes(), count=1)  # fmt: skip
    _whole_file(_read(tmp_path / "ae.xml", data), "odm.structure", "namespace")


@pytest.mark.parametrize("delta", [+1, -1])
def test_a_vcf_line_with_one_column_more_or_less_than_the_header_is_quarantined_alone(
    tmp_path: Path, delta: int
) -> None:
    _need(VCF)
    lines = VCF.read_bytes().split(b"\n")
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "a.vcf", b"\n".join(lines))
    k = next(i for i, ln in enumerate(lines) if b"\trs1142345\t" in ln)
    lines[k] = lines[k] + b"\t0/1" if delta > 0 else lines[k].rsplit(b"\t", 1)[0]
    bad = _read(tmp_path / "a.vcf", b"\n".join(lines))
    _one_quarantined(bad, clean, "vcf.columns", "the header declares")


# --- the harmonizer: a unit that pint cannot tokenize ------------------------------------------


@pytest.mark.parametrize("unit", ["mg/(dL", "mmol/mol)", "(((((mg"])
def test_a_unit_whose_parenthesis_never_closes_is_a_unit_error(unit: str) -> None:
    """pint's tokenizer raised ``tokenize.TokenError`` (no ValueError, no UnitError): the
    caller that catches UnitError for an unknown unit got a traceback instead."""
    from twinlab.terminology.ucum import UnitError, parse_ucum

    with pytest.raises(UnitError):
        parse_ucum(unit)


@pytest.mark.skipif(not EX_CSV.is_file(), reason="shared data absent")
def test_a_dose_in_a_unit_pint_cannot_tokenize_is_flagged_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    import csv
    import io

    from twinlab.deid import DeidKey
    from twinlab.harmonize import HarmonizeConfig, harmonize
    from twinlab.security.crypto import Keyring

    src = tmp_path / "src"
    src.mkdir()
    (src / "dm.csv").write_bytes((EX_CSV.parent / "dm.csv").read_bytes())
    rows = list(csv.reader(io.StringIO(EX_CSV.read_text())))
    rows[5][rows[0].index("EXDOSU")] = "mg/(dL"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (src / "ex.csv").write_text(out.getvalue())
    result = harmonize(
        [src], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone", config=HarmonizeConfig(),
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip
    assert result.report["reconciles"] is True
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert len(events) > 0


def _pc_rows() -> list[bytes]:
    return PC_CSV.read_bytes().split(b"\n")[:41]  # header + 40 rows


@pytest.mark.parametrize(("plant", "outcome"), [
    # a quoted value holding a line break: valid CSV, one record still
    (lambda ln: ln.replace(b'","', b'\nsecond line","', 1), "same"),
    # a quote inside a quoted value that is not doubled: the row is no CSV
    (lambda ln: ln.replace(b'","', b'","a"b', 1), "sdtm.csv"),
    # the wrong quote character throughout a row: its date no longer reads
    (lambda ln: ln.replace(b'"', b"'"), "sdtm.date"),
])  # fmt: skip
def test_sdtm_csv_quotes_and_line_breaks(tmp_path: Path, plant, outcome: str) -> None:
    _need(PC_CSV)
    rows = _pc_rows()
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "pc.csv", b"\n".join(rows) + b"\n")
    rows[5] = plant(rows[5])
    bad = _read(tmp_path / "pc.csv", b"\n".join(rows) + b"\n")
    if outcome == "same":
        assert (bad.records_in, bad.records_accepted) == (clean.records_in, clean.records_accepted)
        assert bad.quarantine.empty
    else:
        _one_quarantined(bad, clean, outcome, "")
        assert bad.quarantine["source_record"].tolist() == ["pc.csv#row=5"]


def test_odm_without_its_namespace_reads_as_odm_1_3(tmp_path: Path) -> None:
    import re

    _need(ODM_AE)
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean" / "ae.xml", ODM_AE.read_bytes())
    bare = re.sub(rb'\sxmlns="[^"]*"', b"", ODM_AE.read_bytes(), count=1)
    res = _read(tmp_path / "ae.xml", bare)
    assert (res.records_in, res.records_accepted) == (clean.records_in, clean.records_accepted)
    assert len(res.events) == len(clean.events)


@pytest.mark.parametrize("recursion_limit", [None, 20_000])
def test_ndjson_nested_two_thousand_objects_deep_costs_its_line_alone(
    tmp_path: Path, recursion_limit: int | None
) -> None:
    """Whatever the process's recursion limit (a Dask worker's is raised, libraries raise it):
    CI's full run read the line once an earlier test had raised it, where alone it was
    quarantined."""
    old = sys.getrecursionlimit()
    if recursion_limit is not None:
        sys.setrecursionlimit(recursion_limit)
    try:
        _nested_line_is_quarantined(tmp_path)
    finally:
        sys.setrecursionlimit(old)


def _nested_line_is_quarantined(tmp_path: Path) -> None:
    _need(SYNTHEA)
    lines = _lines(_ndjson(SYNTHEA.read_bytes()))
    clean = _read(tmp_path / "clean.ndjson", b"\n".join(lines))
    lines[5] = lines[5][:-1] + b', "x": ' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}"
    bad = _read(tmp_path / "bad.ndjson", b"\n".join(lines))
    _one_quarantined(bad, clean, "fhir.parse", "not valid JSON")


@pytest.mark.parametrize("size", [4096, 5000, 65536])
def test_a_member_checked_whole_is_not_counted_against_the_next_one(size: int) -> None:
    """Bytes released from a member whose CRC then checked are vouched for: a later member's
    failure must not ask the reader to drop them."""
    import io

    from twinlab.ingest.limits import checked_gunzip, unverified_bytes

    first = os.urandom(size)
    data = gzip.compress(first) + _bad_crc(gzip.compress(b"x" * 100))
    out: list[bytes] = []
    with pytest.raises(zlib.error) as err:
        for chunk in checked_gunzip(io.BytesIO(data), hold=1024):
            out.append(chunk)
    assert b"".join(out) == first and unverified_bytes(err.value) == 0


def test_a_vcf_header_naming_a_sample_too_many_is_one_record(tmp_path: Path) -> None:
    """Every one of the file's 88,000 lines was quarantined, each 'the header declares 13':
    the header is the fault, and the file is one record saying so."""
    _need(BGZF)
    lines = gzip.decompress(BGZF.read_bytes()).split(b"\n")
    lines = [ln + b"\tEXTRA" if ln.startswith(b"#CHROM") else ln for ln in lines]
    bad = _read(tmp_path / "a.vcf", b"\n".join(lines))
    _whole_file(bad, "vcf.header", "every data line has another number of columns")


@pytest.mark.parametrize("n", [0, 3, 5000])  # no backslash, a few, more than the scan looks at
@pytest.mark.parametrize("pad", [10, 200_000])  # a line, a file
def test_the_one_scan_for_escapes_finds_what_the_regular_expressions_did(n: int, pad: int) -> None:
    import random

    from twinlab.ingest.fhir import _NUL_ESCAPE, _SURROGATE_ESCAPE, _escapes

    rng = random.Random(n + pad)
    pieces = [b"\\n", b"\\u00e9", b"\\\\", b'\\"', b"\\u003a", b"\\uD83D", b"\\u0000", b"\\udfff"]
    for plant in (b"", b"\\u0000", b"\\uDc00", b"\\u003A"):
        data = b"x" * pad + b"".join(rng.choice(pieces[:4]) for _ in range(n)) + plant + b"y"
        surrogates, nuls, colons = _escapes(data)
        assert surrogates == (_SURROGATE_ESCAPE.search(data) is not None)
        assert nuls == (_NUL_ESCAPE.search(data) is not None)
        assert colons >= data.count(b"\\u003a") + data.count(b"\\u003A")


def test_a_time_series_stamped_in_utc_with_z_is_read(tmp_path: Path) -> None:
    """``...Z`` is UTC: every row was quarantined as 'no UTC offset (Z or +hh:mm)'."""
    _need(TIMESERIES)
    text = gzip.decompress(TIMESERIES.read_bytes())
    utc = _read(tmp_path / "sample-timeSeries.csv", text.replace(b"+0100 [Europe/London]", b"Z"))
    (tmp_path / "b").mkdir()
    zero = text.replace(b"+0100 [Europe/London]", b"+00:00")
    same = _read(tmp_path / "b" / "sample-timeSeries.csv", zero)
    assert utc.quarantine.empty and utc.records_accepted == same.records_accepted > 10_000
    pd.testing.assert_frame_equal(utc.events, same.events)
    lines = text.split(b"\n")
    lines[20] = lines[20].replace(b"+0100 [", b"Z [", 1)  # UTC, but London is +01:00 in May
    one = _read(tmp_path / "sample-timeSeries.csv", b"\n".join(lines))
    assert one.quarantine["source_record"].tolist() == ["line 21"]
    assert "named time zone" in one.quarantine["reason"].iloc[0]
