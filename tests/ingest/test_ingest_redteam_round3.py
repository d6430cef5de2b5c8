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
  files were checked);
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

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
