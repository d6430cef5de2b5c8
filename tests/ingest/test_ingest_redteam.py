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


def test_long_free_text_is_scrubbed_in_linear_time() -> None:
    """One ODM value of 2 MB hung the run in de-identification (over 120 s; 20,000 digits took
    28 s): Philter's patterns backtrack on a run of letters (200 letters: 10 s, 400: minutes)
    and scan ahead without bound at every word (time grows with the square of the text). Words
    of 100+ characters are now PHI whole without Philter, and long texts are read in windows."""
    import time

    from twinlab.deid.engine import _spans, philter_spans

    philter_spans("warm up")
    start = time.perf_counter()
    assert philter_spans("x" * 400) == [("phi", 0, 400)]
    assert philter_spans("ACGT" * 500_000) == [("phi", 0, 2_000_000)]
    words = "headache and nausea since Monday " * 200
    philter_spans(words)
    assert time.perf_counter() - start < 30
    note = "Seen by Dr. Hallie Brightwater on Mar 3rd. Reports headache since Monday. " * 30
    assert philter_spans(note) == _spans(note)  # windows find what one pass finds
    spans = philter_spans("Dr. Hallie Brightwater " + "q" * 150 + " on Mar 3rd")
    assert [(k, s) for k, s, _ in spans][:1] == [("phi", 4)]
