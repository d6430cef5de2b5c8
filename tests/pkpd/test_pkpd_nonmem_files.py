"""NONMEM data files as modelers have them: whitespace, # / C headers, comments, IGNORE/ACCEPT.

The files are the real theophylline data (nlmixr2data theo_sd) rewritten the way NONMEM
control streams read them (``$DATA run.dat IGNORE=@`` ...), plus planted bad files.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from repo_helpers import shared_data

from twinlab.pkpd.dataset import (
    NonmemDataError,
    NonmemDataWarning,
    read_nonmem,
    write_nonmem,
)

DATA = shared_data() / "pk" / "nlmixr2data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="nlmixr2data not available")


def _theo() -> pd.DataFrame:
    """theo_sd as a NONMEM modeler's table: ID TIME AMT DV WT (no EVID, MDV or CMT)."""
    raw = pd.read_csv(DATA / "theo_sd.csv")
    raw.loc[raw["EVID"] != 0, "DV"] = np.nan
    return raw[["ID", "TIME", "AMT", "DV", "WT"]]


def _write(path, frame: pd.DataFrame, header: str, comments: list[str], sep: str = " ") -> None:
    lines = [header]
    for i, row in enumerate(frame.itertuples(index=False)):
        if i in (0, 5):
            lines += comments
        lines.append(sep.join("." if pd.isna(v) else f"{v:g}" for v in row))
    path.write_text("\n".join(lines) + "\n")


def _read(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_nonmem(path, **kw)
    return data, [str(w.message) for w in caught if issubclass(w.category, NonmemDataWarning)]


@pytest.mark.parametrize(
    ("header", "comments", "ignore"),
    [
        ("#ID TIME AMT DV WT", ["# study THEO-1, day 1"], None),  # NONMEM's default IGNORE=#
        ("C ID TIME AMT DV WT", ["C dropped: below the LLOQ"], "C"),
        ("ID TIME AMT DV WT", ["C comment", "@ another one", "  x indented text"], "@"),
    ],
)
def test_whitespace_file_with_header_and_comments_reads_like_the_csv(
    tmp_path, header, comments, ignore
):
    path = tmp_path / "theo.dat"
    _write(path, _theo(), header, comments)
    data, warned = _read(path, ignore=ignore, model="pk_1cmt_oral")
    ref = read_nonmem(DATA / "theo_sd.csv").to_arrays()
    arrays = data.to_arrays()
    assert data.meta["read"]["separator"] == "whitespace"
    np.testing.assert_allclose(arrays.obs_time, ref.obs_time)
    np.testing.assert_allclose(arrays.obs_dv, ref.obs_dv)
    np.testing.assert_allclose(arrays.dose_amt, ref.dose_amt, rtol=1e-5)  # %g: 6 digits
    np.testing.assert_array_equal(arrays.dose_cmt, ref.dose_cmt)
    f = data.frame
    assert set(f.loc[f["EVID"] == 0, "CMT"]) == {2}  # oral: observations in the central cmt
    assert any("EVID: 1 where AMT > 0" in w and "ADVAN2" in w for w in warned)


def test_iv_model_derives_cmt_1_and_writes_it_back(tmp_path):
    path = tmp_path / "iv.csv"
    _write(path, _theo(), "ID,TIME,AMT,DV,WT", [], sep=",")
    data, warned = _read(path, model="pk_1cmt_iv")
    assert set(data.frame["CMT"]) == {1}
    assert "ADVAN1" in data.meta["derived"]["CMT"] and any(
        "CMT: doses and obs" in w for w in warned
    )
    out = write_nonmem(data, tmp_path / "out.csv")
    back = pd.read_csv(out)
    assert set(back["CMT"]) == {1} and {"EVID", "MDV"} <= set(back.columns)
    again, warned_again = _read(out)
    assert set(again.frame["CMT"]) == {1} and not any("derived" in w for w in warned_again)


def test_ignore_and_accept_conditions(tmp_path):
    path = tmp_path / "theo.dat"
    _write(path, _theo(), "#ID TIME AMT DV WT", [])
    data, _ = _read(path, ignore="IGNORE=(ID.EQ.3,WT.GT.80)", accept="(ID.LE.6)")
    kept = sorted(data.frame["ID"].unique())
    wt = _theo().groupby("ID")["WT"].first()
    assert kept == [i for i in range(1, 7) if i != 3 and wt[i] <= 80]
    assert data.meta["filtered"]["records_kept"] == len(data.frame)
    synonyms = tmp_path / "syn.dat"
    _write(synonyms, _theo(), "#ID TIME AMT CP=DV WT", [])
    assert "DV" in _read(synonyms)[0].frame.columns


def test_planted_bad_files_name_the_real_problem(tmp_path):
    theo = _theo()
    comment = tmp_path / "comment.dat"
    _write(comment, theo, "ID TIME AMT DV WT", ["C two words"])
    with pytest.raises(NonmemDataError, match=r"line 2 has 3 fields.*ignore='C'"):
        read_nonmem(comment)
    headless = tmp_path / "noheader.dat"
    headless.write_text("1 0 320 . 79.6\n1 0.25 0 2.84 79.6\n")
    with pytest.raises(NonmemDataError, match=r"no header line naming ID and TIME.*columns="):
        read_nonmem(headless)
    got = read_nonmem(headless, columns=["ID", "TIME", "AMT", "DV", "WT"], model="pk_1cmt_oral")
    assert got.n_subjects == 1
    short = tmp_path / "short.dat"
    short.write_text("#ID TIME AMT DV WT\n1 0 320 . 79.6\n1 0.25 2.84 79.6\n")
    with pytest.raises(NonmemDataError, match=r"short\.dat: line 3 has 4 fields, the header"):
        read_nonmem(short)
    ok = tmp_path / "ok.dat"
    _write(ok, theo, "#ID TIME AMT DV WT", [])
    with pytest.raises(NonmemDataError, match="cannot read condition"):
        read_nonmem(ok, ignore="(DV>>2)")
    with pytest.raises(NonmemDataError, match="column 'DOSE', which the file does not have"):
        read_nonmem(ok, ignore="(DOSE.EQ.0)")
    with pytest.raises(NonmemDataError, match="left none"):
        read_nonmem(ok, accept="(ID.GT.99)")
    nodv = tmp_path / "nodv.dat"
    nodv.write_text("#ID TIME AMT CONC\n1 0 320 .\n1 1 0 2.5\n")
    with pytest.raises(NonmemDataError, match=r"missing required column.*DV"):
        read_nonmem(nodv)


def test_warfarin_as_a_whitespace_file_with_a_text_filter(tmp_path):
    raw = pd.read_csv(DATA / "warfarin.csv")
    raw.columns = raw.columns.str.upper()
    lines = ["#" + " ".join(raw.columns)]
    lines += [" ".join(map(str, row)) for row in raw.itertuples(index=False)]
    path = tmp_path / "warf.dat"
    path.write_text("\n".join(lines) + "\n")
    data, warned = _read(path, accept="ACCEPT=(DVID.EQ.cp)", model="pk_1cmt_oral")
    f = data.frame
    assert len(f) == (raw["DVID"] == "cp").sum() and set(f["DVID"]) == {1}
    assert data.codes["SEX"] == {"female": 1, "male": 0} and data.n_subjects == 32
    assert any("CMT" in w for w in warned)


def test_mdv_derived_from_evid_is_recorded_without_a_warning():
    # theo_sd has EVID but no MDV: MDV follows from EVID and DV as NONMEM defines it
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonmemDataWarning)
        data = read_nonmem(DATA / "theo_sd.csv")
    assert "MDV" in data.meta["derived"]
    mdv = data.frame["MDV"].to_numpy()
    evid = data.frame["EVID"].to_numpy()
    np.testing.assert_array_equal(mdv[evid != 0], 1)
