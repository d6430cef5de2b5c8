"""Tests of the SDTM reader on the CDISC pilot (XPT), pharmaversesdtm (CSV) and synthetic data."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinlab.ingest.base import reader_for
from twinlab.ingest.run import read_file
from twinlab.ingest.sdtm import (
    parse_partial_datetime,
    read_sdtm,
    read_sdtm_folder,
    read_sdtm_frame,
    read_sdtm_table,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sdtm"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared SDTM data not present")
FILES = sorted(DATA.glob("*/*.xpt")) + sorted(DATA.glob("pharmaversesdtm/*.csv"))


def _independent_rows(path: Path) -> int:
    if path.suffix == ".csv":
        try:
            return len(pd.read_csv(path, dtype=str))
        except UnicodeDecodeError:  # pharmaversesdtm ts.csv holds cp1252 bytes too
            return len(pd.read_csv(path, dtype=str, encoding="cp1252"))
    for enc in (None, "cp1252"):
        try:
            return pyreadstat.read_xport(str(path), **({"encoding": enc} if enc else {}))[
                1
            ].number_rows
        except UnicodeDecodeError:
            continue
    raise AssertionError(path)


@pytest.fixture(scope="module")
def pilot() -> dict:
    if not DATA.is_dir():
        pytest.skip("shared SDTM data not present")
    return read_sdtm_folder(DATA / "cdiscpilot01")


@pytest.fixture(scope="module")
def pharmaverse() -> dict:
    if not DATA.is_dir():
        pytest.skip("shared SDTM data not present")
    return read_sdtm_folder(DATA / "pharmaversesdtm", tz="America/New_York")


@needs_data
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_file_reads_and_reconciles_with_an_independent_row_count(path: Path) -> None:
    res = read_sdtm(path)
    assert res.records_in == _independent_rows(path)
    assert res.records_in == res.records_accepted + len(res.quarantine)
    assert reader_for(path).format == "sdtm"
    ev = res.events
    assert ev["source_record"].is_unique
    # a unit only goes with a number; end never before start; time always tz-aware UTC
    assert not (ev["unit"].notna() & ev["value_num"].isna()).any()
    assert not (ev["end_time"].notna() & (ev["end_time"] < ev["time"])).any()
    assert str(ev["time"].dtype) == "datetime64[us, UTC]"


@needs_data
def test_the_pilot_reads_without_quarantine_and_maps_domains(pilot: dict) -> None:
    assert sum(len(r.quarantine) for r in pilot.values()) == 0
    assert set(pilot["ae.xpt"].events["domain"]) == {"adverse_event"}
    assert set(pilot["cm.xpt"].events["domain"]) == {"medication"}
    assert set(pilot["mh.xpt"].events["domain"]) == {"condition"}
    assert set(pilot["ex.xpt"].events["domain"]) == {"dose"}
    for name in ("ds.xpt", "sv.xpt", "ts.xpt", "relrec.xpt", "suppae.xpt"):
        assert pilot[name].events.empty and pilot[name].records_accepted > 0


@needs_data
def test_supp_qualifiers_land_on_the_event_of_their_parent_row(pilot: dict) -> None:
    supp, _ = pyreadstat.read_xport(str(DATA / "cdiscpilot01" / "suppae.xpt"))
    ae, _ = pyreadstat.read_xport(str(DATA / "cdiscpilot01" / "ae.xpt"))
    events = pilot["ae.xpt"].events.set_index("source_record")
    for _, s in supp.sample(25, random_state=3).iterrows():
        row = ae.index[(ae["USUBJID"] == s["USUBJID"]) & (ae["AESEQ"] == float(s["IDVARVAL"]))]
        assert len(row) == 1
        quals = events.loc[f"ae.xpt#row={row[0] + 1}", "qualifiers"]
        assert quals["supp"][s["QNAM"]] == s["QVAL"]


@needs_data
def test_subject_level_supp_goes_to_the_demographic_event(pilot: dict) -> None:
    dm = pilot["dm.xpt"].events
    quals = dm.loc[dm["source_patient"] == "01-701-1015", "qualifiers"].iloc[0]
    assert quals["supp"]["ITT"] == "Y" and quals["supp"]["COMPLT24"] == "Y"


@needs_data
def test_split_lb_files_receive_supplbch_and_keep_both_unit_systems() -> None:
    res = read_sdtm_folder(DATA / "cdiscpilot_update2")
    lb = res["lbch.xpt"].events
    first = lb.iloc[0]
    assert (first["code"], first["code_system"]) == ("ALB", "CDISC SDTM LBTESTCD")
    assert (first["value_num"], first["unit"]) == (38.0, "g/L")
    assert (first["orig_value"], first["orig_unit"]) == ("3.8", "g/dL")
    assert first["qualifiers"]["ref_low"] == 33.0
    supp, _ = pyreadstat.read_xport(str(DATA / "cdiscpilot_update2" / "supplbch.xpt"))
    with_supp = lb["qualifiers"].map(lambda q: "supp" in q).sum()
    assert with_supp == supp.groupby(["USUBJID", "IDVARVAL"]).ngroups
    assert len(res["supplbch.xpt"].quarantine) == 0


@needs_data
def test_screen_failures_are_kept_and_flagged(pilot: dict) -> None:
    dm, _ = pyreadstat.read_xport(str(DATA / "cdiscpilot01" / "dm.xpt"))
    expected = int(dm["ARMCD"].str.upper().isin({"SCRNFAIL", "NOTASSGN"}).sum())
    assert expected > 0
    res = pilot["dm.xpt"]
    assert len(res.persons) == len(dm)
    flagged = res.events["qualifiers"].map(lambda q: q["screen_failure"]).sum()
    assert flagged == expected
    person = res.persons.set_index("source_patient").loc["01-701-1015"]
    assert ("subjid", "1015") in person["identifiers"] and person["site"] == "701"
    assert person["phi"]["age"] == 63.0 and person["birth_date"] is None


@needs_data
def test_pharmaverse_blq_concentrations_are_flagged_with_nan_value(pharmaverse: dict) -> None:
    raw = pd.read_csv(DATA / "pharmaversesdtm" / "pc.csv", dtype=str)
    n_blq = int((raw["PCORRES"] == "<BLQ").sum())
    assert n_blq > 0
    ev = pharmaverse["pc.csv"].events
    blq = ev["qualifiers"].map(lambda q: q["blq"])
    assert int(blq.sum()) == n_blq
    assert ev.loc[blq, "value_num"].isna().all()
    assert ev.loc[~blq, "value_num"].notna().all()
    first = ev.iloc[0]["qualifiers"]
    assert first["lloq"] == 0.01 and first["reported_value"] == 0.0  # '<BLQ' coded as 0


@needs_data
def test_zoneless_datetimes_are_read_in_the_given_zone(pharmaverse: dict) -> None:
    ev = pharmaverse["pc.csv"].events.iloc[0]  # PCDTC 2014-01-01T23:30:00, New York (EST)
    assert ev["time"] == pd.Timestamp("2014-01-02T04:30:00Z")
    assert ev["qualifiers"]["tz_assumed"] == "America/New_York"


@needs_data
def test_a_known_cp1252_value_decodes() -> None:
    ts, encoding = read_sdtm_table(DATA / "cdiscpilot01" / "ts.xpt")
    assert encoding == "cp1252"
    assert ts["TSVAL"].str.contains("Alzheimer\u2019s Disease", regex=False).any()
    res = read_sdtm(DATA / "cdiscpilot01" / "ts.xpt")
    assert res.records_accepted == len(ts) == 33


@needs_data
def test_partial_dates_in_real_data_start_their_period(pilot: dict) -> None:
    cm, _ = pyreadstat.read_xport(str(DATA / "cdiscpilot01" / "cm.xpt"))
    years = cm.index[cm["CMSTDTC"].str.len() == 4]
    ev = pilot["cm.xpt"].events.set_index("source_record")
    row = ev.loc[f"cm.xpt#row={years[0] + 1}"]
    assert row["qualifiers"]["date_precision"] == "year"
    assert row["time"] == pd.Timestamp(f"{cm.loc[years[0], 'CMSTDTC']}-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2014", "2014-01-01T00:00Z", "year"),
        ("2014-07", "2014-07-01T00:00Z", "month"),
        ("2014-07-02", "2014-07-02T00:00Z", "day"),
        ("2014-07-02T11", "2014-07-02T11:00Z", "hour"),
        ("2014-07-02T11:45", "2014-07-02T11:45Z", "minute"),
        ("2014-07-02T11:45:09", "2014-07-02T11:45:09Z", "second"),
        ("2014-07-02T11:45+02:00", "2014-07-02T09:45Z", "minute"),
    ],
)
def test_partial_iso_dates(text: str, expected: str, precision: str) -> None:
    assert parse_partial_datetime(text) == (pd.Timestamp(expected), precision)


@pytest.mark.parametrize(
    "text",
    ["2014-13", "2014-02-30", "UNK-2014", "2014---05", "02JAN2014", "0001-01-01", "9999-12-31"],
)
def test_bad_dates_give_a_reason_without_the_value(text: str) -> None:
    ts, reason = parse_partial_datetime(text)
    assert ts is None and reason and text not in reason


def test_site_zone_shifts_dates_and_dst() -> None:
    winter = parse_partial_datetime("2014-01-02", tz="Europe/Paris")[0]
    summer = parse_partial_datetime("2014-07-02T08:00", tz="Europe/Paris")[0]
    assert winter == pd.Timestamp("2014-01-01T23:00Z")
    assert summer == pd.Timestamp("2014-07-02T06:00Z")


def _obs_layout(path: Path) -> tuple[int, int]:
    """Independent: (byte offset of the first observation, observation length) of a v5 file,
    from the OBS header's position and ReadStat's variable widths."""
    data = path.read_bytes()
    first = data.index(b"HEADER RECORD*******OBS     HEADER RECORD") + 80
    widths = pyreadstat.read_xport(str(path), metadataonly=True)[1].variable_storage_width
    return first, sum(widths.values())


def _assert_salvaged(full, cut_res, n: int, name: str) -> None:
    """``cut_res`` holds the first ``n`` rows of ``full`` and one sdtm.truncated tail record."""
    c = cut_res.counts
    assert c["records_in"] == c["accepted"] + c["quarantined"] + c["duplicates"] == n + 1
    q = cut_res.quarantine
    tail = q[q["check"] == "sdtm.truncated"]
    assert len(tail) == 1 and tail["source_record"].iloc[0] == f"{name}#row={n + 1}"
    assert tail["reason"].iloc[0].startswith(f"file truncated after {n} complete rows")
    rows = full.events["source_record"].str.extract(r"#row=(\d+)$")[0].astype(int)
    before = full.events[rows.to_numpy() <= n].reset_index(drop=True)
    got = cut_res.events.reset_index(drop=True)
    assert list(got.columns) == list(before.columns) and len(got) == len(before)
    if n:  # (an empty frame's columns have no dtype to compare)
        pd.testing.assert_frame_equal(got, before)
    assert c["accepted"] == n - (q["check"] != "sdtm.truncated").sum() - c["duplicates"]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_xpt_keeps_the_complete_rows_before_the_cut(tmp_path: Path, cut: float) -> None:
    # a cut file lost every row: it was quarantined whole
    full_path = _tiny_xpt(tmp_path / "lb.xpt")
    data = full_path.read_bytes()
    (tmp_path / "cut").mkdir()
    path = tmp_path / "cut" / "lb.xpt"
    size = int(len(data) * cut) // 80 * 80 + 7
    path.write_bytes(data[:size])
    first, obs_len = _obs_layout(full_path)
    n = (size - first) // obs_len
    assert 0 < n < 40
    full = read_sdtm(full_path)
    assert full.records_accepted == 40 and full.quarantine.empty
    res = read_sdtm(path)
    _assert_salvaged(full, res, n, "lb.xpt")
    assert list(res.persons["source_patient"]) == list(full.persons["source_patient"][:n])


CM = DATA / "cdiscpilot01" / "cm.xpt"  # 7,510 rows of 500 bytes after a 3,680-byte header


@pytest.fixture(scope="module")
def cm_full():
    return read_sdtm(CM)


@needs_data
@pytest.mark.parametrize("cut", [1_040, 3_600])  # inside the variable descriptions; no OBS header
def test_real_xpt_cut_inside_its_headers_is_refused_with_the_check_that_failed(
    tmp_path: Path, cut: int
) -> None:
    path = tmp_path / "cm.xpt"
    path.write_bytes(CM.read_bytes()[:cut])
    res = read_sdtm(path)
    assert (res.records_in, res.records_accepted, len(res.events)) == (1, 0, 0)
    reason = res.quarantine["reason"].iloc[0]
    assert res.quarantine["check"].iloc[0] == "sdtm.parse"
    assert reason.startswith("file truncated: "), reason
    with pytest.raises(ValueError, match="file truncated"):
        read_sdtm_table(path)


@needs_data
@pytest.mark.parametrize(
    "cut",
    [
        1_879_360,  # half the file, on an 80-byte boundary: ReadStat reads 3,751 rows, no error
        1_252_880,  # a third, on an 80-byte boundary
        3_758_640,  # the last 80-byte record missing: ReadStat reads 7,509 rows
        1_879_373,  # arbitrary bytes
        3_758_719,  # one byte short: every row is there, but the file is cut
        3_687,  # 7 bytes into the first row
    ],
)
def test_real_xpt_cut_inside_its_rows_keeps_the_complete_rows(
    tmp_path: Path, cut: int, cm_full
) -> None:
    # the complete rows before the cut were lost with the file (quarantined whole)
    data = CM.read_bytes()
    assert len(data) == 3_758_720
    path = tmp_path / "cm.xpt"
    path.write_bytes(data[:cut])
    first, obs_len = _obs_layout(CM)
    assert (first, obs_len) == (3_680, 500)
    res = read_sdtm(path)
    _assert_salvaged(cm_full, res, (cut - first) // obs_len, "cm.xpt")
    with pytest.raises(ValueError, match="file truncated after"):
        read_sdtm_table(path)  # a table without its tail would pass for the whole file


@needs_data
def test_every_80_byte_cut_of_a_real_xpt_keeps_its_complete_rows(tmp_path: Path) -> None:
    full_path = DATA / "cdiscpilot01" / "ex.xpt"  # 591 rows of 142 bytes
    data = full_path.read_bytes()
    first, obs_len = _obs_layout(full_path)
    assert obs_len == 142
    full = read_sdtm(full_path)
    path = tmp_path / "ex.xpt"
    for cut in range(first + 80, len(data), 80 * 37):
        path.write_bytes(data[:cut])
        res = read_sdtm(path)
        n = (cut - first) // obs_len
        if (cut - first) % obs_len == 0:  # indistinguishable from a complete file: v5 headers
            assert (res.records_in, len(res.quarantine)) == (n, 0), cut  # hold no row count
        else:
            _assert_salvaged(full, res, n, "ex.xpt")


def test_a_cut_in_the_padding_of_small_records_counts_no_blank_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"DOMAIN": ["SV"] * 20, "USUBJID": [f"S{i}" for i in range(20)]})
    full = tmp_path / "sv.xpt"
    pyreadstat.write_xport(df, str(full), file_format_version=5, table_name="SV")
    data = full.read_bytes()
    first, obs_len = _obs_layout(full)
    assert obs_len == 5 and len(data) - first - 20 * obs_len == 60  # 5-byte rows, 60 blank bytes
    path = tmp_path / "cut.xpt"
    for short in (1, 7, 33):  # the blanks left would read as whole 5-byte rows
        path.write_bytes(data[:-short])
        res = read_sdtm(path)
        assert (res.records_in, res.records_accepted, len(res.quarantine)) == (21, 20, 1), short
        assert res.quarantine["reason"].iloc[0].startswith("file truncated after 20 complete")


def test_padded_tail_of_a_small_record_file_is_not_taken_for_truncation(tmp_path: Path) -> None:
    for n in range(1, 9):
        df = pd.DataFrame({"DOMAIN": ["LB"] * n, "USUBJID": [f"S{i}" for i in range(n)]})
        path = tmp_path / f"n{n}.xpt"
        pyreadstat.write_xport(df, str(path), file_format_version=5, table_name="LB")
        assert read_sdtm_table(path)[0].shape[0] == n


def test_garbage_xpt_is_one_quarantined_record(tmp_path: Path) -> None:
    path = tmp_path / "garbage.xpt"
    path.write_bytes(b"\x00\xffnot a SAS file" * 40)
    res = read_sdtm(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert "XPORT" in res.quarantine["reason"].iloc[0]


def _lb_frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S1"] * n,
            "DOMAIN": ["LB"] * n,
            "USUBJID": [f"S1-{i:03d}" for i in range(n)],
            "LBSEQ": [float(i + 1) for i in range(n)],
            "LBTESTCD": ["ALT"] * n,
            "LBTEST": ["Alanine Aminotransferase"] * n,
            "LBORRES": ["30"] * n,
            "LBORRESU": ["U/L"] * n,
            "LBSTRESC": ["30"] * n,
            "LBSTRESN": [30.0] * n,
            "LBSTRESU": ["U/L"] * n,
            "LBDTC": [f"2020-01-{i % 28 + 1:02d}T08:30" for i in range(n)],
        }
    )


def _tiny_xpt(path: Path) -> Path:
    pyreadstat.write_xport(_lb_frame(40), str(path), file_format_version=5, table_name="LB")
    return path


def test_row_checks_quarantine_with_reason_and_raw_json() -> None:
    df = _lb_frame(4).astype(object)
    df.loc[0, "USUBJID"] = ""
    df.loc[1, "LBDTC"] = "2020-02-31"
    df.loc[2, "LBSTRESN"] = "thirty"
    res = read_sdtm_frame(df, source_file="lb.csv")
    q = res.quarantine.set_index("source_record")
    assert q.loc["lb.csv#row=1", "check"] == "sdtm.usubjid"
    assert (
        q.loc["lb.csv#row=2", "check"] == "sdtm.date" and "LBDTC" in q.loc["lb.csv#row=2", "reason"]
    )
    assert q.loc["lb.csv#row=3", "check"] == "sdtm.numeric"
    assert '"LBSTRESN": "thirty"' in q.loc["lb.csv#row=3", "raw"]
    assert res.records_accepted == 1 and len(res.events) == 1


def test_a_row_without_its_test_code_is_quarantined_alone() -> None:
    # an event with no code broke the timeline's 'code required' check: one blank LBTESTCD
    # stopped the whole ingest run (exit 2, nothing published)
    df = _lb_frame(4).astype(object)
    df.loc[1, "LBTESTCD"] = "  "
    res = read_sdtm_frame(df, source_file="lb.csv")
    q = res.quarantine.set_index("source_record")
    assert q["check"].to_dict() == {"lb.csv#row=2": "sdtm.code"}
    assert q.loc["lb.csv#row=2", "reason"] == "no code: LBTESTCD is missing or empty"
    assert res.records_accepted == 3 and res.events["code"].notna().all()
    gone = read_sdtm_frame(_lb_frame(3).drop(columns="LBTESTCD"), source_file="lb.csv")
    assert gone.quarantine["check"].tolist() == ["sdtm.code"] * 3 and gone.events.empty


def test_xpt_written_by_pyreadstat_round_trips(tmp_path: Path) -> None:
    res = read_sdtm(_tiny_xpt(tmp_path / "lb.xpt"))
    assert res.records_in == res.records_accepted == len(res.events) == 40
    assert res.events["value_num"].eq(30.0).all()
    assert res.events["qualifiers"].iloc[0]["date_precision"] == "minute"


_JUNK = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "NA", "2020", "2020-13", "<0.05", "BLQ", "nan", "inf", "1e400", "-"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    domain=st.sampled_from(["LB", "PC", "EX", "AE", "DM", "VS", "CM", "MH", "DS"]),
    mutations=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["DTC", "STDTC", "ENDTC", "STRESN", "ORRES",
                                                      "DOSE", "USUBJID", "AGE", "LLOQ", "STRESC"]),
                  _JUNK),
        max_size=8,
    ),
)  # fmt: skip
def test_mutated_rows_never_raise_and_reconcile(domain: str, mutations: list) -> None:
    base = _lb_frame(4).rename(columns=lambda c: c.replace("LB", domain, 1))
    data = {c: list(base[c]) for c in base.columns}
    data["DOMAIN"] = [domain] * 4
    for row, suffix, value in mutations:
        col = suffix if suffix in ("USUBJID", "AGE") else domain + suffix
        data.setdefault(col, [None] * 4)[row] = value
    df = pd.DataFrame(data, dtype=object)
    res = read_sdtm_frame(df, source_file=f"{domain.lower()}.csv")
    assert res.records_in == 4 == res.records_accepted + len(res.quarantine)
    assert res.quarantine["reason"].map(lambda r: isinstance(r, str) and len(r) > 5).all()
    if not res.events.empty:
        assert res.events["time"].notna().all() or domain == "DM"
        finite = res.events["value_num"].dropna().map(math.isfinite)
        assert finite.all()


def test_synthetic_study_sdtm_reads_cleanly(tmp_path: Path) -> None:
    synth = pytest.importorskip("twinlab.synth")
    synth.generate_study(tmp_path / "out", tmp_path / "truth", synth.SynthConfig(n_patients=3))
    results = read_sdtm_folder(tmp_path / "out" / "sdtm")
    assert {"dm.xpt", "ex.xpt", "pc.xpt"} <= set(results)
    for name, res in results.items():
        assert res.records_in == _independent_rows(tmp_path / "out" / "sdtm" / name)
        assert len(res.quarantine) == 0, res.quarantine["reason"].tolist()
    assert len(results["dm.xpt"].persons) == 3
    assert set(results["pc.xpt"].events["domain"]) == {"concentration"}


@pytest.mark.parametrize("repeated", ["USUBJID", "Jane Doe"])
def test_a_csv_header_naming_a_column_twice_is_a_clear_file_fault(
    tmp_path: Path, repeated: str
) -> None:
    # the reader crashed (AttributeError: a DataFrame, not a Series, under the repeated name):
    # 'the sdtm reader failed: AttributeError'
    df = _lb_frame(3)
    path = tmp_path / "lb.csv"
    df.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines = [lines[0] + f",{repeated}"] + [ln + ",x" for ln in lines[1:]]
    lines[0] = lines[0].replace("USUBJID", repeated, 1)
    path.write_text("\n".join(lines) + "\n")
    res = read_file(path)
    assert res.quarantine["check"].tolist() == ["sdtm.columns"]
    reason = res.quarantine["reason"].iloc[0]
    assert (
        reason
        == f"the header names {'USUBJID' if repeated == 'USUBJID' else 'a column'} more than once"
    )


@pytest.mark.parametrize("sep", [";", ","])
def test_a_csv_without_usubjid_is_one_clear_file_fault(tmp_path: Path, sep: str) -> None:
    # every row was quarantined as 'USUBJID is missing or empty' (semicolons: one column),
    # and rows of different subjects without their USUBJID were counted as duplicates
    df = _lb_frame(4)
    if sep == ",":
        df = df.drop(columns="USUBJID")
    path = tmp_path / "lb.csv"
    df.to_csv(path, index=False, sep=sep)
    res = read_file(path)
    assert (res.records_in, res.records_accepted, res.duplicates) == (1, 0, 0)
    assert res.quarantine["check"].tolist() == ["sdtm.columns"]
    assert res.quarantine["reason"].iloc[0].startswith("no USUBJID column")


def test_an_uncoded_verbatim_term_is_not_labelled_a_dictionary_code(tmp_path: Path) -> None:
    """Without --DECOD the event's code is the investigator's verbatim --TERM / --TRT: it was
    labelled AEDECOD, and the field policy published it verbatim as a MedDRA term ("nausea per
    daughter-in-law Ewa Krasinski")."""
    rows = {
        "ae.csv": "AETERM,AEDECOD,AESTDTC\nnausea per daughter Ewa,,2023-03-02\n"
        "Headache,HEADACHE,2023-03-03",
        "cm.csv": "CMTRT,CMDECOD,CMSTDTC\nLisinopril from Okonkwo pharmacy,,2022-01-01",
        "mh.csv": "MHTERM,MHDECOD,MHSTDTC\nMother breast cancer,BREAST CANCER,1990",
    }
    systems = []
    for name, body in rows.items():
        head, *lines = body.split("\n")
        dom = name[:2].upper()
        body_rows = [f"S1,{dom},S1-1,{i},{ln}" for i, ln in enumerate(lines, 1)]
        text = "\n".join([f"STUDYID,DOMAIN,USUBJID,{dom}SEQ,{head}", *body_rows])
        (tmp_path / name).write_text(text + "\n")
        systems += read_file(tmp_path / name).events["code_system"].tolist()
    assert systems == ["CDISC SDTM AETERM", "CDISC SDTM AEDECOD", "CDISC SDTM CMTRT",
                       "CDISC SDTM MHDECOD"]  # fmt: skip


def test_an_over_long_csv_field_is_not_called_an_unclosed_quote(tmp_path: Path) -> None:
    path = tmp_path / "lb.csv"
    df = _lb_frame(3)
    df.loc[1, "LBTEST"] = "x" * 200_000  # over the csv module's field size limit
    df.to_csv(path, index=False)
    res = read_file(path)
    assert (res.records_in, res.records_accepted) == (3, 2)
    row = res.quarantine.iloc[0]
    assert (row["source_record"], row["check"]) == ("lb.csv#row=2", "sdtm.csv")
    assert "quote" not in row["reason"] and "characters" in row["reason"]


@pytest.mark.parametrize("version", [5, 8])
@pytest.mark.parametrize("at", [86, 4], ids=["position", "length"])
def test_xpt_with_a_corrupted_variable_description_is_refused(
    tmp_path: Path, at: int, version: int
) -> None:
    # one bit off in a NAMESTR: the rows were read with a wrong layout (garbage rows accepted,
    # the others taken for a truncated tail)
    path = tmp_path / "lb.xpt"
    pyreadstat.write_xport(_lb_frame(40), str(path), file_format_version=version, table_name="LB")
    data = bytearray(path.read_bytes())
    member = data.index(b"MEMBER  HEADER" if version == 5 else b"MEMBV8  HEADER") - 20
    ns_len = int(data[member + 74 : member + 78])
    first = data.index(b"NAMESTR HEADER" if version == 5 else b"NAMSTV8 HEADER") - 20 + 80
    data[first + ns_len + at] |= 0x20  # the 2nd variable's npos (bytes 84-87) or nlng (4-5)
    (tmp_path / "bad").mkdir()
    path = tmp_path / "bad" / "lb.xpt"
    path.write_bytes(bytes(data))
    res = read_sdtm(path)
    assert (res.records_in, res.records_accepted, len(res.events)) == (1, 0, 0)
    assert res.quarantine["check"].iloc[0] == "sdtm.parse"
    assert res.quarantine["reason"].iloc[0].startswith("variable ")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_xpt_v8_keeps_its_complete_rows_and_declares_the_cut(
    tmp_path: Path, cut: float
) -> None:
    # ReadStat read the complete rows of a cut v8 file and the rest vanished without a record
    full_path = tmp_path / "lb.xpt"
    pyreadstat.write_xport(_lb_frame(40), str(full_path), file_format_version=8, table_name="LB")
    data = full_path.read_bytes()
    assert b"OBSV8   HEADER RECORD!!!!!!!" in data
    (tmp_path / "cut").mkdir()
    path = tmp_path / "cut" / "lb.xpt"
    size = int(len(data) * cut)
    path.write_bytes(data[:size])
    first = data.index(b"HEADER RECORD*******OBSV8") + 80
    widths = pyreadstat.read_xport(str(full_path), metadataonly=True)[1].variable_storage_width
    n = (size - first) // sum(widths.values())
    assert 0 < n < 40
    full = read_sdtm(full_path)
    assert full.records_accepted == 40 and full.quarantine.empty
    _assert_salvaged(full, read_sdtm(path), n, "lb.xpt")


@pytest.mark.parametrize("version", [5, 8])
def test_xpt_naming_a_variable_twice_is_refused_not_renamed(tmp_path: Path, version: int) -> None:
    # ReadStat read the file and published the second column as LBTESTCD_duplicated1
    path = tmp_path / "lb.xpt"
    df = _lb_frame(4).rename(columns={"LBTEST": "LBTESTCX"})
    pyreadstat.write_xport(df, str(path), file_format_version=version, table_name="LB")
    path.write_bytes(path.read_bytes().replace(b"LBTESTCX", b"LBTESTCD"))
    res = read_file(path)
    assert (res.records_in, res.records_accepted, len(res.events)) == (1, 0, 0)
    q = res.quarantine.iloc[0]
    assert q["check"] == "sdtm.columns"
    assert q["reason"].startswith("the header names LBTESTCD more than once"), q["reason"]


@pytest.mark.parametrize("same", [True, False], ids=["unused-bytes-alike", "names-alike"])
def test_xpt_v5_names_are_the_8_byte_names(tmp_path: Path, same: bool) -> None:
    # bytes 88-119 of a v5 NAMESTR are unused (ReadStat names a v5 variable by its 8-byte
    # name): read as a long name, the same filler in each refused a good file, and distinct
    # filler hid two variables of one name (the second published as LBTESTCD_duplicated1)
    path = tmp_path / "lb.xpt"
    df = _lb_frame(4).rename(columns={"LBTEST": "LBTESTCX"})
    pyreadstat.write_xport(df, str(path), file_format_version=5, table_name="LB")
    data = bytearray(path.read_bytes())
    first = data.index(b"NAMESTR HEADER") - 20 + 80
    for i in range(len(df.columns)):
        at = first + i * 140 + 88
        data[at : at + 32] = (b"FILLER" if same else b"FILLER%02d" % i).ljust(32, b"\0")
    if not same:
        data = bytearray(bytes(data).replace(b"LBTESTCX", b"LBTESTCD"))
    (tmp_path / "v5").mkdir()
    path = tmp_path / "v5" / "lb.xpt"
    path.write_bytes(bytes(data))
    res = read_file(path)
    if same:
        assert res.records_accepted == 4, res.quarantine["reason"].tolist()
    else:
        assert (res.records_in, res.records_accepted) == (1, 0)
        assert res.quarantine["reason"].iloc[0].startswith("the header names LBTESTCD more")


def test_two_stray_quotes_cost_their_own_rows_not_the_rows_between(tmp_path: Path) -> None:
    # the lines from one stray quote to the next were read as one row: 3 of 7 rows vanished
    lines = ["STUDYID,DOMAIN,USUBJID,AESEQ,AEDECOD,AESTDTC"]
    lines += [f"S,AE,S-{i},{i},HEADACHE,2020-01-0{i}" for i in range(1, 8)]
    lines[2] = 'S,AE,S-2,2,"HEAD ACHE,2020-01-02'
    lines[5] = 'S,AE,S-5,5,HEAD"ACHE,2020-01-05'
    lines.append('S,AE,S-8,8,"HEAD\nACHE",2020-01-08')  # a quoted line break: one row
    path = tmp_path / "ae.csv"
    path.write_text("\n".join(lines) + "\n")
    res = read_file(path)
    assert (res.records_in, res.records_accepted) == (8, 6)
    q = res.quarantine
    assert q["source_record"].tolist() == ["ae.csv#row=2", "ae.csv#row=5"]
    assert (q["check"] == "sdtm.csv").all()
    assert q["raw"].tolist() == [lines[2], lines[5]]
    got = res.events.set_index("source_record")["code"]
    assert got["ae.csv#row=3"] == "HEADACHE" and got["ae.csv#row=8"] == "HEAD\nACHE"


@pytest.mark.parametrize("encoding, stray", [("cp1252", "utf-8"), ("utf-8", "cp1252")])
def test_one_line_in_another_encoding_costs_that_row_alone(
    tmp_path: Path, encoding: str, stray: str
) -> None:
    # one UTF-8 line in a cp1252 file made the whole file UTF-8: its other rows were quarantined
    terms = ["Caf\u00e9 au lait spots", "5 \u00b5g rash", "38\u00b0C fever", "Fi\u00e8vre"]
    head = "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AESTDTC\n"
    rows = [f"S,AE,S-{i},{i},{t},2020-01-0{i}\n" for i, t in enumerate(terms, start=1)]
    odd = "S,AE,S-9,9,39\u00b0C caf\u00e9 \u00b5,2020-01-09\n"
    data = (head + "".join(rows[:2])).encode(encoding) + odd.encode(stray)
    data += "".join(rows[2:]).encode(encoding)
    path = tmp_path / "ae.csv"
    path.write_bytes(data)
    res = read_file(path)
    assert (res.records_in, res.records_accepted) == (5, 4)
    q = res.quarantine.iloc[0]
    assert (q["source_record"], q["check"]) == ("ae.csv#row=3", "sdtm.encoding")
    assert "\u00b0" not in q["reason"] and "caf" not in q["reason"]
    assert sorted(res.events["value_text"]) == sorted(terms)


@pytest.mark.parametrize("damage", ["truncated", "unreadable"])
def test_supp_orphans_of_a_cut_parent_file_say_the_parent_file_was_cut(
    tmp_path: Path, damage: str
) -> None:
    # SUPPAE rows whose AE rows were in the lost tail read "no AE row with its USUBJID": as if
    # the SUPPAE file were wrong, not the AE file cut
    n = 40
    ae = pd.DataFrame({"STUDYID": ["S"] * n, "DOMAIN": ["AE"] * n,
                       "USUBJID": [f"S-{i}" for i in range(n)], "AESEQ": [1.0] * n,
                       "AEDECOD": ["HEADACHE"] * n, "AESTDTC": ["2020-01-01"] * n})  # fmt: skip
    pyreadstat.write_xport(ae, str(tmp_path / "ae.xpt"), file_format_version=5, table_name="AE")
    data = (tmp_path / "ae.xpt").read_bytes()
    (tmp_path / "ae.xpt").write_bytes(data[: int(len(data) * 0.7)] if damage == "truncated"
                                      else b"not an xpt file")  # fmt: skip
    supp = pd.DataFrame({"STUDYID": ["S"] * 2, "RDOMAIN": ["AE"] * 2, "USUBJID": ["S-1", "S-39"],
                         "IDVAR": ["AESEQ"] * 2, "IDVARVAL": ["1", "1"], "QNAM": ["AETRTEM"] * 2,
                         "QVAL": ["Y"] * 2})  # fmt: skip
    supp.to_csv(tmp_path / "suppae.csv", index=False)
    res = read_sdtm_folder(tmp_path)["suppae.csv"]
    q = res.quarantine.set_index("source_record")
    orphans = (
        ["suppae.csv#row=2"] if damage == "truncated" else ["suppae.csv#row=1", "suppae.csv#row=2"]
    )
    assert q.index.tolist() == orphans and (q["check"] == "sdtm.supp_orphan").all()
    said = "was truncated" if damage == "truncated" else "could not be read"
    assert q["reason"].str.contains(f"the AE file {said}").all(), q["reason"].tolist()
    assert (res.records_in, res.records_accepted) == (2, 2 - len(orphans))
