"""Red team, round 2: faults planted at run time into real public exports (``../shared/data``).

Each case copies one real file, plants one fault (an encoding, a line ending, a cut, a value
or date that cannot be, a byte that is not text, an allele that is not DNA, a corrupt block of
a compressed file...) and reads it with :func:`twinlab.ingest.run.read_file`, the batch entry
point that never raises. What the promise asks of each outcome:

``same``
    The fault is a legitimate variant of the format (a BOM, CRLF line ends, a long field): every
    record is read as in the clean file.
``one``
    Exactly one record, the faulty one, is quarantined with the expected check; every other
    record is read as in the clean file.
``file``
    The file as a whole cannot be read: one quarantined record with the expected check, whose
    reason says why in words.

Counts always reconcile (``records_in = accepted + quarantined + duplicates``), no reason
quotes the planted value, and the pointers of the other records are those of the clean file.

What broke a promise before this round's fixes (the rest held):

- a NUL byte in an SDTM CSV row or a VCF line, or a ``\\u0000`` escape in FHIR JSON, was
  accepted and published inside a value; inside an XPT text value it silently cut the value
  (a USUBJID read as ``01-``: another subject). ``decode_marked`` and ``holds_bad_bytes`` now
  mark NUL as a bad byte, the FHIR reader checks resources when the file holds the escape, the
  XPT reader finds NULs inside text values: ``*.encoding``;
- a malformed ODM item group shifted the ``@n`` ordinal of every later group's pointer (the
  group is now replaced by an empty stand-in that keeps the count);
- a VCF REF or ALT that is not alleles, and a sample with more fields than FORMAT keys, were
  accepted (``vcf.allele``, ``vcf.format``);
- a UTF-16 CSV without a BOM was "no reader recognizes this file" (now named UTF-16);
- bytes overwritten inside a BGZF block, or a stored gzip block, gave garbage lines before the
  CRC failed (a member's bytes are now released once its CRC checks: ``checked_gunzip``).

Faults already tried by ``test_fault_injection.py``,
``test_fuzz_faults.py``, ``test_ingest_limits.py`` and ``test_ingest_redteam.py`` are not
repeated here.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
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
ACTIWARE = DATA / "wearables" / "pyactigraphy" / "test_sample_rpx_eng.csv"


# --- how each fault is planted --------------------------------------------------------------


def _source(path: Path) -> bytes:
    """The real file's bytes, gunzipped (a fault is planted in the text, not the stream)."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _ndjson(data: bytes) -> bytes:
    """The Synthea bundle as NDJSON: its Patient and 30 Observations that point at it."""
    bundle = json.loads(data)
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    obs = [r for r in resources if r["resourceType"] == "Observation"][:30]
    for o in obs:
        o["subject"] = {"reference": f"Patient/{patient['id']}"}
    return b"\n".join(json.dumps(r).encode() for r in [patient, *obs])


def _ndjson_field(key: str, value: object) -> Callable[[bytes], bytes]:
    """Set ``key`` of the sixth NDJSON resource (an Observation) to ``value``."""

    def plant(data: bytes) -> bytes:
        lines = data.split(b"\n")
        obs = json.loads(lines[5])
        obs[key] = value
        lines[5] = json.dumps(obs).encode()
        return b"\n".join(lines)

    return plant


def _ndjson_raw(fragment: bytes) -> Callable[[bytes], bytes]:
    """Append a raw JSON member (any text, valid JSON or not) to the sixth NDJSON resource."""

    def plant(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[5] = lines[5][:-1] + b', "_planted": ' + fragment + b"}"
        return b"\n".join(lines)

    return plant


def _csv_cell(column: str, value: str, row: int = 5) -> Callable[[bytes], bytes]:
    """Set ``column`` of data row ``row`` (1-based) of an SDTM CSV to ``value``."""

    def plant(data: bytes) -> bytes:
        rows = list(csv.reader(io.StringIO(data.decode())))
        rows[row][rows[0].index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode()

    return plant


def _in_line(k: int, plant: Callable[[bytes], bytes], skip: bytes = b"#") -> Callable:
    """Apply ``plant`` to the k-th line that does not start with ``skip``."""

    def apply(data: bytes) -> bytes:
        lines = data.split(b"\n")
        i = [j for j, ln in enumerate(lines) if ln.strip() and not ln.startswith(skip)][k]
        lines[i] = plant(lines[i])
        return b"\n".join(lines)

    return apply


def _vcf_column(col: int, value: bytes | Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Set tab-separated column ``col`` (0-based) of the VCF line at rs1142345 (TPMT, a
    configured pharmacogenomic site whose line makes events)."""

    def plant(data: bytes) -> bytes:
        lines = data.split(b"\n")
        i = next(j for j, ln in enumerate(lines) if b"\trs1142345\t" in ln)
        cells = lines[i].split(b"\t")
        cells[col] = value(cells[col]) if callable(value) else value
        lines[i] = b"\t".join(cells)
        return b"\n".join(lines)

    return plant


def _xml_date(value: bytes) -> Callable[[bytes], bytes]:
    """Replace the first full date of an ODM date item (``...DTC``) by ``value``."""

    def plant(data: bytes) -> bytes:
        m = re.search(rb'ItemOID="[^"]*DTC"[^>]*Value="(\d{4}-\d\d-\d\d)"', data)
        assert m
        return data[: m.start(1)] + value + data[m.end(1) :]

    return plant


LAUGHS = (
    b'<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
    )
    + b"]>"
)
XXE = b'<!DOCTYPE ODM [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _doctype(decl: bytes, entity: bytes) -> Callable[[bytes], bytes]:
    """Declare entities after the XML declaration and use ``entity`` in the first ItemDef."""

    def plant(data: bytes) -> bytes:
        at = data.index(b"?>") + 2
        use = data.index(b">", data.index(b"<ItemDef")) + 1
        text = b"<Description><TranslatedText>" + entity + b"</TranslatedText></Description>"
        return data[:at] + decl + data[at:use] + text + data[use:]

    return plant


def _corrupt_member(data: bytes) -> bytes:
    """Overwrite 40 bytes in the middle of a BGZF file (inside one of its blocks)."""
    at = len(data) // 2
    return data[:at] + bytes(40) + data[at + 40 :]


def _utf16_no_bom(data: bytes) -> bytes:
    return data.decode().encode("utf-16-le")


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One planted fault and the outcome the promise asks for."""

    source: Path
    name: str  # the file name it is read under (the suffix picks the reader)
    plant: Callable[[bytes], bytes]
    outcome: str  # "same", "one", "file" or "cut" (the records before a cut, and the cut one)
    check: str = ""
    words: str = ""  # words the reason must hold
    prepare: Callable[[bytes], bytes] = lambda d: d  # builds the clean input from the source


def _nul(line: bytes) -> bytes:
    return line[:20] + b"\x00" + line[20:]


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _mixed_eol(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"".join(ln + (b"\r\n" if i % 2 else b"\n") for i, ln in enumerate(lines[:-1]))


def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _cut_last_row(data: bytes) -> bytes:
    body = data.rstrip(b"\n")
    last = body.rsplit(b"\n", 1)[1]
    return body[: len(body) - len(last) // 2]


def _pc_rows(data: bytes) -> bytes:
    return b"\n".join(data.split(b"\n")[:61]) + b"\n"  # header + 60 rows


def _ts_value(value: bytes) -> Callable[[bytes], bytes]:
    """Set the first value (``acc``) of the tenth epoch of a time series to ``value``."""

    def plant(line: bytes) -> bytes:
        cells = line.split(b",")
        cells[1] = value
        return b",".join(cells)

    return _in_line(9, plant, skip=b"time")


def _swap_rows(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[10], lines[30] = lines[30], lines[10]
    return b"\n".join(lines)


def _ts_offset(line: bytes) -> bytes:
    return line.replace(b"+0100", b"+2500", 1)


FAULTS: dict[str, Fault] = {
    # FHIR NDJSON and Bundles
    "fhir bundle utf-8 bom": Fault(SYNTHEA, "a.json", _bom, "same"),
    "ndjson crlf": Fault(SYNTHEA, "a.ndjson", _crlf, "same", prepare=_ndjson),
    "ndjson nul byte": Fault(
        SYNTHEA, "a.ndjson", _in_line(5, _nul), "one", "fhir.encoding", prepare=_ndjson
    ),
    "ndjson \\u0000 escape": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("code", {"text": "Body\x00Height"}),
        "one",
        "fhir.encoding",
        "NUL",
        prepare=_ndjson,
    ),
    "ndjson value 'NaN' text": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("valueQuantity", {"value": "NaN", "unit": "mg"}),
        "one",
        "fhir.value",
        "not a finite number",
        prepare=_ndjson,
    ),
    "ndjson value 1e400": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("valueQuantity", {"value": float("inf"), "unit": "mg"}),
        "one",
        "fhir.value",
        "not a finite number",
        prepare=_ndjson,
    ),
    "ndjson 2021-02-30": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("effectiveDateTime", "2021-02-30"),
        "one",
        "fhir.date",
        prepare=_ndjson,
    ),
    "ndjson hour 24": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("effectiveDateTime", "2021-02-28T24:00:00Z"),
        "one",
        "fhir.date",
        prepare=_ndjson,
    ),
    "ndjson leap second": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("effectiveDateTime", "2016-12-31T23:59:60Z"),
        "one",
        "fhir.date",
        prepare=_ndjson,
    ),
    "ndjson offset +25:00": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("effectiveDateTime", "2021-02-28T10:00:00+25:00"),
        "one",
        "fhir.date",
        prepare=_ndjson,
    ),
    "ndjson year 0000": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_field("effectiveDateTime", "0000-01-01"),
        "one",
        "fhir.date",
        prepare=_ndjson,
    ),
    "ndjson 100,000 nested arrays": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_raw(b"[" * 100_000 + b"]" * 100_000),
        "one",
        "fhir.parse",
        prepare=_ndjson,
    ),
    "ndjson 1 MB string": Fault(
        SYNTHEA,
        "a.ndjson",
        _ndjson_raw(json.dumps("A" * 1_000_000).encode()),
        "same",
        prepare=_ndjson,
    ),
    # SDTM CSV and XPT
    "sdtm csv utf-8 bom": Fault(PC_CSV, "pc.csv", _bom, "same", prepare=_pc_rows),
    "sdtm csv crlf": Fault(PC_CSV, "pc.csv", _crlf, "same", prepare=_pc_rows),
    "sdtm csv mixed line ends": Fault(PC_CSV, "pc.csv", _mixed_eol, "same", prepare=_pc_rows),
    "sdtm csv utf-16 without bom": Fault(
        PC_CSV, "pc.csv", _utf16_no_bom, "file", "ingest.format", "UTF-16", prepare=_pc_rows
    ),
    "sdtm csv nul byte": Fault(
        PC_CSV,
        "pc.csv",
        _in_line(9, _nul, b'"STUDYID"'),
        "one",
        "sdtm.encoding",
        "not text",
        prepare=_pc_rows,
    ),
    "sdtm csv cut mid-row": Fault(
        PC_CSV, "pc.csv", _cut_last_row, "one", "sdtm.columns", prepare=_pc_rows
    ),
    "sdtm dose NaN": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXDOSE", "NaN"), "one", "sdtm.numeric", "not a finite number"
    ),
    "sdtm dose Infinity": Fault(
        EX_CSV,
        "ex.csv",
        _csv_cell("EXDOSE", "Infinity"),
        "one",
        "sdtm.numeric",
        "not a finite number",
    ),
    "sdtm dose 1e400": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXDOSE", "1e400"), "one", "sdtm.numeric", "not a finite number"
    ),
    "sdtm 2014-02-30": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXSTDTC", "2014-02-30"), "one", "sdtm.date"
    ),
    "sdtm hour 24": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXSTDTC", "2012-08-28T24:00"), "one", "sdtm.date"
    ),
    "sdtm leap second": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXSTDTC", "2012-08-28T23:59:60"), "one", "sdtm.date"
    ),
    "sdtm offset +25:00": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXSTDTC", "2012-08-28T10:00+25:00"), "one", "sdtm.date"
    ),
    "sdtm year 0000": Fault(
        EX_CSV, "ex.csv", _csv_cell("EXSTDTC", "0000-08-28"), "one", "sdtm.date"
    ),
    "sdtm xpt NUL inside a text value": Fault(
        DM_XPT,
        "dm.xpt",
        lambda d: d.replace(b"01-701-1015", b"01-\x00701-1015"[:11], 1),
        "one",
        "sdtm.encoding",
        "NUL",
    ),
    "sdtm xpt cut mid-row": Fault(
        DM_XPT, "dm.xpt", lambda d: d[: len(d) // 2 + 37], "cut", "sdtm.truncated", "truncated"
    ),
    # ODM and Define-XML
    "odm crlf": Fault(ODM_AE, "ae.xml", _crlf, "same"),
    "odm utf-8 bom": Fault(ODM_AE, "ae.xml", _bom, "same"),
    "odm nul byte": Fault(
        ODM_AE, "ae.xml", lambda d: d.replace(b'Value="', b'Value="\x00', 1), "one", "odm.parse"
    ),
    "odm 2003-02-30": Fault(ODM_AE, "ae.xml", _xml_date(b"2003-02-30"), "one", "odm.date"),
    "define billion laughs": Fault(
        DEFINE, "define.xml", _doctype(LAUGHS, b"&i;"), "file", "odm.unsafe_xml", "billion laughs"
    ),
    "define external entity": Fault(
        DEFINE, "define.xml", _doctype(XXE, b"&xxe;"), "file", "odm.unsafe_xml", "external entities"
    ),
    # VCF
    "vcf crlf": Fault(VCF, "a.vcf", _crlf, "same"),
    "vcf utf-8 bom": Fault(VCF, "a.vcf", _bom, "same"),
    "vcf nul byte": Fault(
        VCF, "a.vcf", _vcf_column(6, b"PA\x00SS"), "one", "vcf.encoding", "not text"
    ),
    "vcf sample with more fields than FORMAT": Fault(
        VCF, "a.vcf", _vcf_column(9, lambda c: c + b":35:99"), "one", "vcf.format", "FORMAT"
    ),
    "vcf REF not nucleotides": Fault(
        VCF, "a.vcf", _vcf_column(3, b"Z"), "one", "vcf.allele", "REF"
    ),
    "vcf ALT not nucleotides": Fault(
        VCF, "a.vcf", _vcf_column(4, b"C,G?"), "one", "vcf.allele", "ALT"
    ),
    # wearables
    "time series crlf": Fault(TIMESERIES, "sample-timeSeries.csv", _crlf, "same"),
    "time series rows out of order": Fault(TIMESERIES, "sample-timeSeries.csv", _swap_rows, "same"),
    "time series offset +25:00": Fault(
        TIMESERIES,
        "sample-timeSeries.csv",
        _in_line(9, _ts_offset, b"time"),
        "one",
        "wearables.timestamp",
    ),
    "time series Infinity": Fault(
        TIMESERIES,
        "sample-timeSeries.csv",
        _ts_value(b"Infinity"),
        "one",
        "wearables.value",
        "not a finite number",
    ),
    "time series 1e400": Fault(
        TIMESERIES,
        "sample-timeSeries.csv",
        _ts_value(b"1e400"),
        "one",
        "wearables.value",
        "not a finite number",
    ),
    "actiware utf-8 bom": Fault(ACTIWARE, "a.csv", _bom, "same"),
    "actiware lf line ends": Fault(ACTIWARE, "a.csv", lambda d: d.replace(b"\r\n", b"\n"), "same"),
}

#: Planted values that no reason may quote.
SECRETS = ("NaN", "Infinity", "1e400", "2021-02-30", "2014-02-30", "+25:00", "0000-")


def _read(tmp: Path, name: str, data: bytes) -> ReadResult:
    path = tmp / name
    path.write_bytes(data)
    result = read_file(path)
    c = result.counts
    assert c["records_in"] == c["accepted"] + c["quarantined"] + c["duplicates"], c
    return result


@pytest.mark.parametrize("case", list(FAULTS))
def test_a_planted_fault_is_read_as_the_promise_says(tmp_path: Path, case: str) -> None:
    fault = FAULTS[case]
    if not fault.source.is_file():
        pytest.skip(f"shared data absent: {fault.source.name}")
    clean_bytes = fault.prepare(_source(fault.source))
    (tmp_path / "clean").mkdir()
    clean = _read(tmp_path / "clean", fault.name, clean_bytes)
    assert clean.quarantine.empty and (clean.records_accepted > 0 or fault.outcome == "file")
    bad = _read(tmp_path, fault.name, fault.plant(clean_bytes))
    reasons = bad.quarantine["reason"].tolist()
    if fault.outcome == "same":
        assert (bad.records_in, bad.records_accepted) == (clean.records_in, clean.records_accepted)
        assert not reasons and len(bad.events) == len(clean.events)
    elif fault.outcome == "file":
        assert (bad.records_in, bad.records_accepted) == (1, 0)
        assert bad.quarantine["check"].tolist() == [fault.check], reasons
        assert fault.words in reasons[0]
    elif fault.outcome == "cut":  # the records before the cut, and the cut one
        assert bad.quarantine["check"].tolist() == [fault.check], reasons
        assert fault.words in reasons[0]
        assert 0 < bad.records_accepted == bad.records_in - 1 < clean.records_accepted
    else:
        assert len(bad.quarantine) == 1, bad.quarantine[["source_record", "check", "reason"]]
        assert bad.quarantine["check"].iloc[0] == fault.check, reasons
        assert fault.words in reasons[0]
        assert bad.records_in == clean.records_in
        assert bad.records_accepted == clean.records_accepted - 1
        assert set(bad.events["source_record"]) <= set(clean.events["source_record"])
    assert not any(s in r for s in SECRETS for r in reasons), reasons


@pytest.mark.skipif(not BGZF.is_file(), reason="shared data absent")
def test_a_corrupt_bgzf_block_adds_no_garbage_records(tmp_path: Path) -> None:
    """Bytes overwritten inside one BGZF block decompress to garbage before its CRC fails:
    each garbage line counted as a record (hundreds quarantined as columns, POS or INFO
    faults that the file never held, some accepted). The block's text is now withheld until
    its CRC checks, so the file reads as the blocks before it plus one ``vcf.io`` record."""
    data = BGZF.read_bytes()
    clean = _read(tmp_path, "clean.vcf.bgz", data)
    bad = _read(tmp_path, "bad.vcf.bgz", _corrupt_member(data))
    assert bad.quarantine["check"].tolist() == ["vcf.io"]
    assert 0 < bad.records_accepted < clean.records_accepted
    kept = bad.events[["source_record", "value_text"]]
    assert kept.merge(clean.events[["source_record", "value_text"]]).shape[0] == len(kept)


def test_a_gzip_member_whose_crc_fails_gives_none_of_its_bytes(tmp_path: Path) -> None:
    """:func:`~twinlab.ingest.limits.read_bounded_prefix` (wearable exports) kept the bytes of
    a member whose CRC failed: a byte changed in a stored (uncompressed) block is seen by the
    CRC only, at the member's end. Only the members before it are kept now."""
    from twinlab.ingest.limits import read_bounded_prefix

    members = [f"line {i}\n".encode() * 2000 for i in range(3)]
    data = b"".join(gzip.compress(m, compresslevel=0) for m in members)
    path = tmp_path / "x.gz"
    path.write_bytes(data)
    assert read_bounded_prefix(path) == (b"".join(members), None)
    at = len(gzip.compress(members[0], compresslevel=0)) + 100
    path.write_bytes(data[:at] + b"X" + data[at + 1 :])
    text, err = read_bounded_prefix(path)
    assert text == members[0] and err is not None


# --- the harmonizer: values that read but cannot be --------------------------------------------


@pytest.mark.skipif(not EX_CSV.is_file(), reason="shared data absent")
@pytest.mark.parametrize(("value", "unit", "check"), [
    ("-54", "mg", "harmonize.plausibility"),  # a negative dose
    ("54", "mL", None),  # a dose in a unit of volume: kept, its unit flagged
    ("54", "furlong", None),  # no unit at all: kept, its unit flagged
])  # fmt: skip
def test_a_dose_that_cannot_be_is_quarantined_or_flagged_by_the_harmonizer(
    tmp_path: Path, value: str, unit: str, check: str | None
) -> None:
    from twinlab.deid import DeidKey
    from twinlab.harmonize import HarmonizeConfig, harmonize
    from twinlab.security.crypto import Keyring

    src = tmp_path / "src"
    src.mkdir()
    (src / "dm.csv").write_bytes((EX_CSV.parent / "dm.csv").read_bytes())
    ex = _csv_cell("EXDOSU", unit)(_csv_cell("EXDOSE", value)(EX_CSV.read_bytes()))
    (src / "ex.csv").write_bytes(ex)
    harmonize(
        [src], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone", config=HarmonizeConfig(),
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip
    quarantine = pd.concat(
        [pd.read_parquet(p) for p in (tmp_path / "out").rglob("quarantine*.parquet")]
    )
    found = [c for c in quarantine["check"] if c.startswith("harmonize.")]
    assert found == ([check] if check else [])
    assert not any(value in r for r in quarantine["reason"])


@pytest.mark.skipif(not (EX_CSV.is_file() and ODM_AE.is_file()), reason="shared data absent")
def test_a_run_over_planted_faults_publishes_the_rest_and_reconciles(tmp_path: Path) -> None:
    """The whole stage on a folder of faulty files: the faulty records (a NUL in an EX row, a
    malformed ODM item group) and the unreadable file (UTF-16 without a BOM) are quarantined
    with their reasons, every other record is published, and the counts reconcile."""
    from twinlab.deid import DeidKey
    from twinlab.harmonize import HarmonizeConfig, harmonize
    from twinlab.security.crypto import Keyring

    src = tmp_path / "src"
    src.mkdir()
    (src / "dm.csv").write_bytes(_crlf(_bom((EX_CSV.parent / "dm.csv").read_bytes())))
    (src / "ex.csv").write_bytes(_in_line(7, _nul, b'"STUDYID"')(EX_CSV.read_bytes()))
    (src / "pc.csv").write_bytes(_utf16_no_bom(_pc_rows(PC_CSV.read_bytes())))
    (src / "ae.xml").write_bytes(ODM_AE.read_bytes().replace(b'Value="', b'Value="\x00', 3))
    result = harmonize(
        [src], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone", config=HarmonizeConfig(),
        key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
    )  # fmt: skip
    report = result.report
    assert report["reconciles"] is True
    for f in report["files"]:  # named by pseudonyms: told apart by format and size
        assert f["records_in"] == f["accepted"] + f["quarantined"] + f["duplicates"]
    outcome = sorted((f["format"], f["records_in"], f["quarantined"]) for f in report["files"])
    ae_in = len(re.findall(rb"</ItemGroupData>", ODM_AE.read_bytes()))
    assert outcome == [("odm", ae_in, 1), ("sdtm", 306, 0), ("sdtm", 591, 1), ("unknown", 1, 1)]
    quarantine = pd.concat(
        [pd.read_parquet(p) for p in (tmp_path / "out").rglob("quarantine*.parquet")]
    )
    assert {"sdtm.encoding", "ingest.format", "odm.parse"} <= set(quarantine["check"])
    assert not quarantine.astype(str).apply(lambda c: c.str.contains("\x00")).any().any()
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert not events.astype(str).apply(lambda c: c.str.contains("\x00")).any().any()


@pytest.mark.skipif(not ODM_AE.is_file(), reason="shared data absent")
@pytest.mark.parametrize("second", [b"\x9a", b"\x00"])  # in its opening tag, in a value
def test_two_malformed_item_groups_in_a_row_leave_every_other_pointer_as_it_was(
    tmp_path: Path, second: bytes
) -> None:
    """The item groups after a malformed one were numbered one lower (``@9`` for ``@10``),
    so lineage named the wrong group; two malformed groups in a row, the second broken in its
    opening tag, must neither swallow the first's stand-in nor shift the others."""
    data = ODM_AE.read_bytes()
    clean = _read(tmp_path, "clean.xml", data)
    opens = [m.start() for m in re.finditer(rb"<ItemGroupData\b", data)]
    one = data.index(b'Value="', opens[3]) + 7
    two = opens[4] + 10 if second == b"\x9a" else data.index(b'Value="', opens[4]) + 7
    bad = _read(tmp_path, "bad.xml", data[:one] + b"\x00" + data[one:two] + second + data[two:])
    assert bad.quarantine["check"].tolist() == ["odm.parse", "odm.parse"]
    assert (bad.records_in, bad.records_accepted) == (clean.records_in, clean.records_in - 2)
    assert set(bad.events["source_record"]) <= set(clean.events["source_record"])
    lost = {p.split("/item[")[0] for p in set(clean.events["source_record"])} - {
        p.split("/item[")[0] for p in set(bad.events["source_record"])
    }
    assert len(lost) == 2
