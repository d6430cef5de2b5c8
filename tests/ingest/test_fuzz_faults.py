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
