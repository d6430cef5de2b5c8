"""Hostile inputs: decompression bombs, over-long lines, control bytes inside a record."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from twinlab.ingest.limits import InputTooLarge, read_bounded, split_lines
from twinlab.ingest.run import read_file
from twinlab.ingest.wearables import read_wearables

HEADER = [
    "# Kestrel Health data export",
    "# device_model: Kestrel Band 2",
    "# serial_number: KB2-00C0FFEE",
    "# timezone: UTC+00:00",
    "timestamp,heart_rate,steps",
]


def _rows(n: int) -> list[str]:
    return [f"2025-03-01T{i // 60:02d}:{i % 60:02d}:00+00:00,70,{i % 7}" for i in range(n)]


def _bomb(path: Path, size: int) -> None:
    """A valid twinlab export header followed by ``size`` bytes of zeros, gzipped."""
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(("\n".join(HEADER + _rows(3)) + "\n").encode())
        block = b"0" * (1 << 20)
        for _ in range(size // len(block)):
            gz.write(block)


def test_gzip_bomb_is_quarantined_without_decompressing_it(tmp_path: Path) -> None:
    bomb = tmp_path / "Jane_Doe_1950-03-01.csv.gz"
    _bomb(bomb, 64 << 20)
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    res = read_wearables(bomb, max_bytes=4 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 << 20  # never the 64 MiB the file expands to
    assert (res.records_in, res.records_accepted) == (1, 0)
    row = res.quarantine.iloc[0]
    assert row["check"] == "ingest.size"
    assert "decompression bomb" in row["reason"]
    assert "Jane" not in row["reason"] + row["source_record"]


def test_bomb_among_good_files_does_not_stop_the_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TWINLAB_MAX_INPUT_BYTES", str(2 << 20))
    bomb, good = tmp_path / "bomb.csv.gz", tmp_path / "good.csv.gz"
    _bomb(bomb, 16 << 20)
    with gzip.open(good, "wt") as gz:
        gz.write("\n".join(HEADER + _rows(120)) + "\n")
    assert read_file(bomb).quarantine["check"].tolist() == ["ingest.size"]
    ok = read_file(good)
    assert (ok.records_in, ok.records_accepted) == (120, 120)


def test_read_bounded_limits_plain_and_gzip_files(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_bytes(b"x" * 1000)
    packed.write_bytes(gzip.compress(b"x" * 1000))
    assert read_bounded(packed, max_bytes=1000) == b"x" * 1000
    for path in (plain, packed):
        with pytest.raises(InputTooLarge):
            read_bounded(path, max_bytes=999)


def test_bad_limit_setting_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TWINLAB_MAX_INPUT_BYTES", "1GB")
    (tmp_path / "a").write_bytes(b"")
    with pytest.raises(ValueError, match="TWINLAB_MAX_INPUT_BYTES must be a whole number"):
        read_bounded(tmp_path / "a")


def test_split_lines_breaks_on_real_line_endings_only() -> None:
    assert split_lines("a\r\nb\x1ec\x0cd\x1c\u2028e\rf\n") == ["a", "b\x1ec\x0cd\x1c\u2028e", "f"]
    assert split_lines("") == []


def test_over_long_line_is_quarantined_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    rows = _rows(10)
    rows[4] = rows[4] + "9" * 5000
    path.write_text("\n".join(HEADER + rows) + "\n")
    res = read_wearables(path, max_line=1000)
    assert (res.records_in, res.records_accepted) == (10, 9)
    assert res.quarantine["check"].tolist() == ["wearables.line_length"]
    assert res.quarantine["source_record"].tolist() == [f"line {len(HEADER) + 5}"]


ACTIWARE_HEAD = [
    '"Actiware Export File  (Version 05.00 )"',
    '"Identity:","Jane Doe"',
    '"Full Name:","Jane Doe"',
    '"Time Zone Offset:","+01:00","hours:minutes"',
    '"Epoch Length:","30","seconds",""',
    '"Actiwatch Serial Number:","AXXXUK"',
    "",
    '"Line","Date","Time","Activity","Marker","White Light","Sleep/Wake","Interval Status",',
]


def test_actiware_record_separator_byte_spoils_one_epoch_only(tmp_path: Path) -> None:
    rows = [
        f'"{i + 1}","04/07/2015","{9 + i // 120:02d}:{(i // 2) % 60:02d}:{30 * (i % 2):02d}",'
        f'"{i % 50}","0","10.0","1","ACTIVE",'
        for i in range(200)
    ]
    rows[100] = rows[100].replace(f'"{100 % 50}"', '"1\x1e7"')
    path = tmp_path / "Jane_Doe_rpx.csv"
    path.write_bytes(("\r\n".join(ACTIWARE_HEAD + rows) + "\r\n").encode())
    res = read_wearables(path)
    assert (res.records_in, res.records_accepted) == (200, 199)
    q = res.quarantine.iloc[0]
    assert q["check"] == "wearables.value"
    assert q["source_record"] == f"line {len(ACTIWARE_HEAD) + 101}"
    assert "\x1e" not in q["reason"] and "1" not in q["reason"].replace("activity", "")


LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE ODM [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="F1">
  <ClinicalData StudyOID="S1" MetaDataVersionOID="v1">
    <SubjectData SubjectKey="&lol9;"/>
  </ClinicalData>
</ODM>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE ODM [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="F1">
  <ClinicalData StudyOID="S1" MetaDataVersionOID="v1">
    <SubjectData SubjectKey="&secret;"/>
  </ClinicalData>
</ODM>
"""


@pytest.mark.parametrize(
    ("text", "words"), [(LAUGHS, "billion laughs"), (EXTERNAL, "external entities")],
    ids=["billion-laughs", "external-entity"],
)  # fmt: skip
def test_odm_entity_tricks_are_refused_with_a_clear_reason(
    tmp_path: Path, text: str, words: str
) -> None:
    from twinlab.ingest.odm import read_odm

    path = tmp_path / "Jane_Doe_1950.xml"
    path.write_text(text)
    res = read_odm(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    row = res.quarantine.iloc[0]
    assert row["check"] == "odm.unsafe_xml"
    assert words in row["reason"]
    assert row["source_record"] == "file"


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".json", '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Obs'),
        (".xml", '<?xml version="1.0"?><ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Clin'),
        (".csv", "# Kestrel Health data export\n# serial_number: Jane\ntimestamp,steps\nx,1\n"),
    ],
    ids=["fhir", "odm", "wearables"],
)
def test_quarantine_of_a_patient_named_file_names_neither_file_nor_values(
    tmp_path: Path, suffix: str, content: str
) -> None:
    path = tmp_path / f"Jane_Doe_1950-03-01{suffix}"
    path.write_text(content)
    res = read_file(path, label="label")
    assert len(res.quarantine)
    for col in ("source_record", "reason"):
        assert not res.quarantine[col].str.contains("Jane|1950", regex=True).any(), col


def test_fhir_reasons_do_not_quote_short_patient_ids(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                          "subject": {"reference": "urn:uuid:5521"},
                          "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": 170}}},
        ],
    }  # fmt: skip
    import json

    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    res = read_file(path)
    assert res.quarantine["check"].tolist() == ["fhir.subject"]
    assert "5521" not in res.quarantine["reason"].iloc[0]
    assert "5521" in res.quarantine["raw"].iloc[0]  # kept for the encrypted raw zone
