"""Faults found by a red-team pass over the ingest on mutated real exports.

Each test builds a small synthetic input of the kind that showed the fault; the fix is named in
the test's docstring.
"""

from __future__ import annotations

import json
from pathlib import Path

from twinlab.ingest.run import read_sources

DM_CSV = "STUDYID,DOMAIN,USUBJID,SUBJID,SEX,BRTHDTC\n" + "".join(
    f"S,DM,S-{i},{i},F,1960-01-01\n" for i in range(1, 3)
)
AE_CSV = "STUDYID,DOMAIN,USUBJID,AESEQ,AEDECOD,AESTDTC\n" + "".join(
    f"S,AE,S-{i},{i},HEADACHE,2020-01-0{i}\n" for i in range(1, 3)
)
SUPPAE_CSV = (
    "STUDYID,RDOMAIN,USUBJID,IDVAR,IDVARVAL,QNAM,QLABEL,QVAL\n"
    "S,AE,S-1,AESEQ,1,AETRTEM,Treatment Emergent,Y\n"
    "S,AE,S-2,AESEQ,9,AETRTEM,Treatment Emergent,N\n"  # no AE row with AESEQ 9
)


def test_supp_qualifiers_reach_their_parent_events_in_a_run(tmp_path: Path) -> None:
    """A run (read_sources, the CLI's ingest) read each SDTM file alone, so every SUPP-- row
    was 'accepted' with no event: the real pilot's 1191 SUPPAE rows (AETRTEM) reached no AE
    event, and a SUPP-- row whose parent row did not exist was never quarantined. The run now
    merges SUPP-- files into their parent domain of the same folder, as read_sdtm_folder does."""
    src = tmp_path / "study"
    src.mkdir()
    (src / "dm.csv").write_text(DM_CSV)
    (src / "ae.csv").write_text(AE_CSV)
    (src / "suppae.csv").write_text(SUPPAE_CSV)
    results = {Path(r.source_file).name: r for r in read_sources([src])}
    ae = results["ae.csv"].events
    quals = [q if isinstance(q, dict) else json.loads(q) for q in ae["qualifiers"]]
    assert [q.get("supp") for q in quals] == [{"AETRTEM": "Y"}, None]
    supp = results["suppae.csv"]
    assert (supp.records_in, supp.records_accepted) == (2, 1)
    assert supp.quarantine["check"].tolist() == ["sdtm.supp_orphan"]
    assert supp.quarantine["source_record"].tolist() == ["suppae.csv#row=2"]
    assert supp.path and supp.digest  # still the file the run read


def test_supp_without_its_parent_file_is_quarantined_row_by_row(tmp_path: Path) -> None:
    """A SUPPAE delivered without AE: each row is an orphan, quarantined with its reason."""
    (tmp_path / "dm.csv").write_text(DM_CSV)
    (tmp_path / "suppae.csv").write_text(SUPPAE_CSV)
    results = {Path(r.source_file).name: r for r in read_sources([tmp_path])}
    supp = results["suppae.csv"]
    assert (supp.records_in, supp.records_accepted) == (2, 0)
    assert set(supp.quarantine["check"]) == {"sdtm.supp_orphan"}
    assert results["dm.csv"].records_accepted == 2


def test_long_free_text_is_scrubbed_in_linear_time(monkeypatch) -> None:
    """One ODM value of 2 MB hung the run in de-identification (over 120 s; 20,000 digits took
    28 s): Philter's patterns backtrack on a run of letters (200 letters: 10 s, 400: minutes)
    and scan ahead without bound at every word (time grows with the square of the text). Words
    of 100+ characters are now PHI whole without Philter, and long texts are read in windows:
    Philter never reads more than a window, nor a run of 100 letters (checked on what it is
    given, not on the clock)."""
    import re

    from twinlab.deid import engine
    from twinlab.deid.engine import _spans, philter_spans

    read: list[str] = []

    def spy(text: str) -> list[tuple[str, int, int]]:
        read.append(text)
        return _spans(text)

    monkeypatch.setattr(engine, "_spans", spy)
    assert philter_spans("x" * 400) == [("phi", 0, 400)]
    assert philter_spans("ACGT" * 500_000) == [("phi", 0, 2_000_000)]
    words = "headache and nausea since Monday " * 200
    philter_spans(words)
    # a window and its context either side, each end moved back to a blank (100 at most)
    assert read and max(map(len, read)) <= engine._WINDOW + 2 * engine._MARGIN + 100
    assert not any(re.search(r"[^\W_]{100,}", t) for t in read)
    note = "Seen by Dr. Hallie Brightwater on Mar 3rd. Reports headache since Monday. " * 30
    assert philter_spans(note) == _spans(note)  # windows find what one pass finds
    spans = philter_spans("Dr. Hallie Brightwater " + "q" * 150 + " on Mar 3rd")
    assert [(k, s) for k, s, _ in spans][:1] == [("phi", 4)]


def test_undated_events_with_no_dated_event_in_the_run_are_quarantined_not_a_crash() -> None:
    """A run of VCF files alone (every event undated, no index date for anyone) stopped with
    'internal error (TypeError: Cannot cast DatetimeArray to dtype float64)': the empty index
    mapped to float NaN, which pandas would not put into the datetime column."""
    import pandas as pd

    from twinlab.harmonize.timing import index_dates, place_undated
    from twinlab.ingest.base import EVENT_COLUMNS

    events = pd.DataFrame([{c: None for c in EVENT_COLUMNS} | {"source_patient": "s1"}] * 2)
    events["source_patient"] = ["s1", "s2"]
    events["domain"] = "genotype"
    for c in ("time", "end_time"):
        events[c] = pd.to_datetime(events[c], utc=True).astype("datetime64[us, UTC]")
    placed, unplaced = place_undated(events, index_dates(events))
    assert placed.empty and unplaced["source_patient"].tolist() == ["s1", "s2"]
    assert str(unplaced["time"].dtype) == "datetime64[us, UTC]"


VCF = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr10>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA1\n"
    "chr10\t94942290\trs1\tC\tT\t.\tPASS\t.\tGT\t0/1\n"
)


def test_a_run_of_vcf_files_alone_is_a_clear_error_not_an_internal_one(tmp_path: Path) -> None:
    """VCF files alone (their genotypes undated, no patient with a dated event) ended in
    'internal error (TypeError: Cannot cast DatetimeArray to dtype float64)', then, past that,
    in the quality report of an empty timeline. Nothing placeable is the 'no usable events'
    user error (exit status 2) that names the quarantine check, and nothing is written."""
    from click.testing import CliRunner

    from twinlab.cli import cli

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.vcf").write_text(VCF)
    env = {"TWINLAB_DEID_KEY": "ab" * 32, "TWINLAB_MASTER_KEY": "a" * 43 + "=",
           "TWINLAB_AUDIT_UNSIGNED": "1"}  # fmt: skip
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "src"), "--out", str(out)], env=env)
    assert result.exit_code == 2, result.output
    assert "no usable events" in result.output and "harmonize.unplaced" in result.output
    assert "internal error" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_time_series_without_utc_offsets_says_so(tmp_path: Path) -> None:
    """An epoch time series exported without its '+0100 [Europe/London]' suffix had every row
    quarantined as 'timestamp is missing or unreadable', though each reads: the reason now
    says the offset is missing; a row with an offset among them is kept."""
    from twinlab.ingest.run import read_file

    path = tmp_path / "sample-timeSeries.csv"
    path.write_text(
        "time,acc,light,moderate-vigorous,sedentary,sleep,MET\n"
        "2014-05-07 13:29:50.439000,63.1,0.0,0.0,1.0,0.0,1.5\n"
        "2014-05-07 13:30:20.439000+0100 [Europe/London],5.0,0.0,0.0,1.0,0.0,1.5\n"
        "2014-05-07 13:30:5x,8.6,0.0,0.0,1.0,0.0,1.5\n"
    )
    res = read_file(path)
    assert (res.records_in, res.records_accepted) == (3, 1)
    assert res.quarantine["reason"].tolist() == [
        "timestamp has no UTC offset (Z or +hh:mm): it cannot be placed",
        "timestamp is missing or unreadable",
    ]
