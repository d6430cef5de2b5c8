"""Tests of the wearables reader on real device exports, the synthetic export and broken files."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinlab.harmonize.validation import check_values
from twinlab.ingest.base import reader_for, readers
from twinlab.ingest.wearables import SUMMARY_SYSTEM, read_wearables
from twinlab.terminology.plausibility import plausibility_table

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ACTI = DATA / "wearables" / "pyactigraphy"
needs_data = pytest.mark.skipif(not ACTI.is_dir(), reason="shared wearables data absent")

RPX = ["test_sample.csv", "test_sample_rpx_eng.csv", "test_sample_rpx_fr.csv",
       "test_sample_rpx_ger_with_light.csv"]  # fmt: skip

PHI_NAME = "Zoë O'Brien-Müller"
PHI_EMAIL = "zoe.obrien@example.org"


def write_export(path: Path, *, offset: str = "-05:00", start: str = "2025-03-01T00:00:00",
                 minutes: int = 2 * 1440, seed: int = 7) -> pd.DataFrame:  # fmt: skip
    """Write a file shaped like twinlab.synth's export; return its rows."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, periods=minutes, freq="min").strftime("%Y-%m-%dT%H:%M:%S")
    hr = rng.integers(50, 130, minutes).astype(str).astype(object)
    hr[rng.random(minutes) < 0.05] = ""  # not worn
    steps = rng.poisson(20, minutes)
    header = [
        "# Kestrel Health data export",
        "# device_model: Kestrel Band 2",
        "# serial_number: KB2-00C0FFEE",
        f"# account_holder: {PHI_NAME}",
        f"# account_email: {PHI_EMAIL}",
        f"# timezone: UTC{offset}",
        "timestamp,heart_rate,steps",
    ]
    rows = [f"{t}{offset},{h},{s}" for t, h, s in zip(stamps, hr, steps, strict=True)]
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return pd.DataFrame({"timestamp": [r.split(",")[0] for r in rows], "heart_rate": hr,
                         "steps": steps})  # fmt: skip


def _daily_steps(path: Path, offset_h: float) -> pd.Series:
    """Independent: pandas read, shift UTC by the offset, sum per local date."""
    df = pd.read_csv(path, comment="#")
    utc = pd.to_datetime(df["timestamp"], utc=True)
    local = (utc + pd.Timedelta(hours=offset_h)).dt.strftime("%Y-%m-%d")
    return df.groupby(local)["steps"].sum().astype(float)


def _events(res, code: str) -> pd.Series:
    ev = res.events[res.events["code"] == code]
    return pd.Series(ev["value_num"].to_numpy(),
                     index=[q["local_date"] for q in ev["qualifiers"]])  # fmt: skip


# --- the synthetic export ---------------------------------------------------------------------


def test_daily_steps_equal_an_independent_pandas_sum(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = write_export(path, start="2025-03-01T07:30:00")  # starts and ends mid-day
    res = read_wearables(path)
    assert res.records_in == len(rows) == res.records_accepted
    expected = _daily_steps(path, -5)
    pd.testing.assert_series_equal(_events(res, "steps_total"), expected, check_names=False)
    assert len(expected) == 3
    hr = pd.to_numeric(rows["heart_rate"].replace("", np.nan))
    ds = res.series["KB2-00C0FFEE"]
    assert int(ds["heart_rate"].notnull().sum()) == int(hr.notna().sum())
    assert _events(res, "wear_minutes").sum() == hr.notna().sum()


def test_local_day_boundaries_follow_the_utc_offset(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_export(path, offset="-05:00", start="2025-03-01T00:00:00", minutes=1440 + 60)
    res = read_wearables(path)
    steps = res.events[res.events["code"] == "steps_total"]
    q0 = steps["qualifiers"].iloc[0]
    assert q0["local_date"] == "2025-03-01" and q0["window_h"] == 24
    assert str(steps["time"].iloc[0]) == "2025-03-01 05:00:00+00:00"  # local midnight in UTC
    assert str(steps["end_time"].iloc[0]) == "2025-03-02 05:00:00+00:00"
    assert q0["n_epochs"] == 1440 and steps["qualifiers"].iloc[1]["n_epochs"] == 60
    ds = res.series["KB2-00C0FFEE"]
    assert str(ds["time"].values[0]) == "2025-03-01T05:00:00.000000000"
    assert ds.attrs["tz_offset"] == "-05:00" and ds.attrs["epoch"] == "60s"
    # the same clock times at +09:00 fall on other UTC days: grouped by local date still
    east = tmp_path / "east.csv"
    write_export(east, offset="+09:00", start="2025-03-01T00:00:00", minutes=1440 + 60)
    ev = read_wearables(east).events
    assert str(ev[ev["code"] == "steps_total"]["time"].iloc[0]) == "2025-02-28 15:00:00+00:00"
    pd.testing.assert_series_equal(
        _events(read_wearables(east), "steps_total"), _daily_steps(east, 9), check_names=False
    )


def test_corrupted_rows_are_quarantined_exactly(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_export(path, minutes=300)
    lines = path.read_text().splitlines()
    # header is 7 lines; data row k is file line 7 + k
    lines[9] = "2025-03-01T00:0X:00-05:00,70,3"  # bad timestamp (data row 3)
    lines[20] = lines[20].rsplit(",", 2)[0] + ",abc,4"  # non-numeric heart rate
    lines[30] = lines[30].rsplit(",", 1)[0] + ",12,9"  # three fields -> too many columns
    lines[40] = lines[39]  # duplicated timestamp
    lines[50] = "2025-03-01T00:50:00,70,3"  # no UTC offset: cannot be placed
    path.write_text("\n".join(lines) + "\n")
    res = read_wearables(path)
    assert res.records_in == 300
    got = res.quarantine.set_index("source_record")["check"].to_dict()
    assert got == {
        "line 10": "wearables.timestamp",
        "line 21": "wearables.value",
        "line 31": "wearables.columns",
        "line 41": "wearables.duplicate",
        "line 51": "wearables.timestamp",
    }
    q = res.quarantine.set_index("source_record")
    assert q.loc["line 21", "raw"] == lines[20]
    assert "no UTC offset" in q.loc["line 51", "reason"]
    assert "no UTC offset" not in q.loc["line 10", "reason"]
    assert res.records_accepted == 295
    assert res.series["KB2-00C0FFEE"].sizes["time"] == 295


def test_infinite_values_are_quarantined_not_read_as_gaps(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_export(path, minutes=120)
    lines = path.read_text().splitlines()
    lines[10] = lines[10].rsplit(",", 2)[0] + ",inf,4"  # data row 4
    lines[11] = lines[11].rsplit(",", 2)[0] + ",70,1e400"  # overflows to inf
    lines[12] = lines[12].rsplit(",", 2)[0] + ",NaN,5"  # a missing token: a gap, kept
    path.write_text("\n".join(lines) + "\n")
    res = read_wearables(path)
    got = res.quarantine.set_index("source_record")["check"].to_dict()
    assert got == {"line 11": "wearables.value", "line 12": "wearables.value"}
    assert (res.records_in, res.records_accepted) == (120, 118)


def test_absurd_finite_epochs_are_quarantined_alone_and_the_day_survives(tmp_path: Path) -> None:
    # finite but impossible epochs were accepted; the day's summaries then failed plausibility
    path = tmp_path / "export.csv"
    rows = write_export(path, minutes=180)
    lines = path.read_text().splitlines()
    stamp = lines[10].split(",")[0]
    lines[10] = f"{stamp},1e308,4"  # data row 3 (0-based): heart rate
    lines[11] = lines[11].split(",")[0] + ",70,-5"  # negative steps
    lines[12] = lines[12].split(",")[0] + ",5,4"  # heart rate below any living wearer's
    lines[13] = lines[13].split(",")[0] + ",90,5000"  # 5000 steps in one minute
    lines.insert(11, f"{stamp},71,4")  # the same minute again, plausible: it is the one kept
    path.write_text("\n".join(lines) + "\n")
    res = read_wearables(path)
    q = res.quarantine.set_index("source_record")
    assert q["check"].to_dict() == {f"line {n}": "wearables.range" for n in (11, 13, 14, 15)}
    assert q.loc["line 11", "reason"].startswith("heart_rate is outside the plausible range 20")
    assert "steps is outside" in q.loc["line 13", "reason"]
    assert "/min" in q.loc["line 15", "reason"]
    assert not any(v in r for r in q["reason"] for v in ("1e308", "1e+308", "-5 ", "5000"))
    assert (res.records_in, res.records_accepted) == (181, 177)
    ds = res.series["KB2-00C0FFEE"]
    assert float(ds["heart_rate"].sel(time=pd.Timestamp(stamp).tz_convert(None))) == 71
    assert float(ds["heart_rate"].max()) <= 300 and float(ds["steps"].min()) >= 0
    steps = rows["steps"].to_numpy()
    assert _events(res, "steps_total").sum() == steps.sum() - steps[3:7].sum() + 4  # + the copy
    events = res.events.assign(format="wearables", source_file=str(path))
    kept, rejected = check_values(events)  # the day's summaries are plausible again
    assert rejected.empty and len(kept) == len(events)


def test_counts_are_bounded_as_rates_of_the_epoch_length(tmp_path: Path) -> None:
    # 140 steps in a 30 s epoch is a 280/min cadence (kept); 160 is 320/min (quarantined)
    path = tmp_path / "export.csv"
    stamps = pd.date_range("2025-03-01T08:00:00", periods=40, freq="30s")
    steps = [140 if i == 5 else 160 if i == 9 else 30 for i in range(40)]
    body = [f"{t:%Y-%m-%dT%H:%M:%S}+00:00,80,{s}" for t, s in zip(stamps, steps, strict=True)]
    path.write_text("# device_model: Kestrel Band 2\ntimestamp,heart_rate,steps\n"
                    + "\n".join(body) + "\n")  # fmt: skip
    res = read_wearables(path)
    assert res.quarantine[["source_record", "check"]].values.tolist() == [
        ["line 12", "wearables.range"]
    ]
    assert "30 s epochs" in res.quarantine["reason"].iloc[0]
    assert float(res.series[path.stem]["steps"].max()) == 140


def test_the_epoch_bounds_are_declared_for_every_bounded_variable() -> None:
    table = plausibility_table()
    rows = table[table["domain"] == "wearable_epoch"].set_index("code")
    assert {"heart_rate", "steps", "activity", "white_light", "acc"} <= set(rows.index)
    assert rows.loc["heart_rate", "unit"] == "/min"
    assert (rows["low"] <= rows["high"]).all()


def test_quoted_fields_read_as_their_unquoted_values(tmp_path: Path) -> None:
    # exports that quote every field were quarantined whole ('timestamp missing or unreadable')
    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    write_export(plain, minutes=120)
    lines = plain.read_text().splitlines()
    body = [ln if ln.startswith("#") else ",".join(f'"{f}"' for f in ln.split(",")) for ln in lines]
    body[20] = body[20].replace('"', "", 1)  # an unclosed quote: that row alone quarantined
    quoted.write_text("\n".join(body) + "\n")
    lines[20] = "x"  # the same row quarantined in the plain file
    plain.write_text("\n".join(lines) + "\n")
    a, b = read_wearables(plain), read_wearables(quoted)
    assert (b.records_in, b.records_accepted) == (120, 119)
    assert b.quarantine["source_record"].tolist() == ["line 21"]
    pd.testing.assert_frame_equal(b.events, a.events)


def test_phi_goes_to_persons_only(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_export(path, minutes=120)
    res = read_wearables(path)
    person = res.persons.iloc[0]
    assert person["phi"] == {"name": PHI_NAME, "email": PHI_EMAIL}
    assert ("device_serial", "KB2-00C0FFEE") in person["identifiers"]
    text = res.events.astype(str).to_csv() + repr(res.series["KB2-00C0FFEE"].attrs)
    assert PHI_NAME not in text and PHI_EMAIL not in text and "O'Brien" not in text
    ev = res.events
    assert set(ev["domain"]) == {"wearable_summary"} and set(ev["code_system"]) == {SUMMARY_SYSTEM}
    units = dict(zip(ev["code"], ev["unit"], strict=False))
    assert units == {
        "heart_rate_mean": "/min",
        "heart_rate_min": "/min",
        "heart_rate_max": "/min",
        "steps_total": "{steps}",
        "wear_minutes": "min",
    }
    assert ev["source_record"].is_unique


def test_device_description_keys_are_not_person_identifiers(tmp_path: Path) -> None:
    """A vendor or firmware line describes the device: as a known value it blocked publishing
    the series whose device model names the vendor; the wearer's fields stay PHI."""
    path = tmp_path / "export.csv"
    write_export(path, minutes=120)
    text = path.read_text().replace(
        "# device_model:",
        "# vendor: Kestrel\n# firmware_version: 4.1.7\n# city: Sharpsburg\n# device_model:",
        1,
    )
    path.write_text(text)
    res = read_wearables(path)
    assert res.persons.iloc[0]["phi"] == {"name": PHI_NAME, "email": PHI_EMAIL,
                                          "city": "Sharpsburg"}  # fmt: skip
    assert res.series["KB2-00C0FFEE"].attrs["device"] == "Kestrel Band 2"


def test_registered_sniffed_and_unknown_files_quarantined_whole(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_export(path, minutes=10)
    assert readers()["wearables"].read is read_wearables
    assert reader_for(path).format == "wearables"
    other = tmp_path / "lab.csv"
    other.write_text("USUBJID,LBTESTCD,LBORRES\n01,ALT,20\n")
    assert readers()["wearables"].sniff(other) is False
    res = read_wearables(other)
    assert res.records_in == 1 and res.quarantine["check"].tolist() == ["wearables.format"]
    empty = tmp_path / "empty.csv"
    empty.write_text(
        "# Kestrel Health data export\n# serial_number: X\ntimestamp,heart_rate,steps\n"
    )
    res = read_wearables(empty)  # a table without rows: nothing in, nothing lost
    assert res.records_in == 0 and res.events.empty and res.series == {}
    cut = tmp_path / "cut.csv"
    cut.write_text('"Actiware Export File  (Version 05.00 )"\n"Identity:","X1"\n')
    res = read_wearables(cut)  # the epoch table is missing altogether
    assert res.records_in == 1 and res.quarantine["check"].tolist() == ["wearables.header"]


@pytest.mark.parametrize(
    ("header", "first_row"),
    [("timestamp,steps,steps", "2025-03-01T00:00:00-05:00,70,12"),
     ("time,acc,acc", "2014-05-07 13:29:50+0100,63.1,5.0")],
    ids=["twinlab", "time series"],
)  # fmt: skip
def test_a_column_named_twice_refuses_the_file_with_its_name(
    tmp_path: Path, header: str, first_row: str
) -> None:
    # the repeated name made a two-column frame where a column was expected: AttributeError
    path = tmp_path / "twice.csv"
    banner = "# Kestrel Health data export\n" if header.startswith("timestamp") else ""
    path.write_text(f"{banner}{header}\n{first_row}\n")
    assert reader_for(path).format == "wearables"
    res = read_wearables(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert res.quarantine["check"].tolist() == ["wearables.header"]
    assert "appears twice" in res.quarantine["reason"].iloc[0]


def test_a_row_turned_comment_below_the_header_is_quarantined_not_skipped(
    tmp_path: Path,
) -> None:
    # '#' in place of a row's first byte made it a comment line, dropped uncounted
    path = tmp_path / "export.csv"
    write_export(path, minutes=30)
    clean = read_wearables(path)
    lines = path.read_text().splitlines()
    lines[20] = "#" + lines[20][1:]
    path.write_text("\n".join(lines) + "\n")
    res = read_wearables(path)
    assert (res.records_in, res.records_accepted) == (clean.records_in, clean.records_in - 1)
    assert res.quarantine["source_record"].tolist() == ["line 21"]


@pytest.fixture(scope="module")
def synth_wearables(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    try:
        from twinlab.synth import SynthConfig, generate_study
    except ImportError:
        pytest.skip("twinlab.synth not importable")
    root = tmp_path_factory.mktemp("synthw")
    generate_study(root / "out", root / "truth",
                   SynthConfig(n_patients=8, wearable_fraction=0.3, wearable_days=2))  # fmt: skip
    files = sorted((root / "out" / "wearables").glob("*.csv"))
    if not files:
        pytest.skip("the generator wrote no wearable file")
    return files


def test_synthetic_study_exports(synth_wearables: list[Path]) -> None:
    for path in synth_wearables:
        res = read_wearables(path)
        n_rows = sum(1 for ln in path.read_text().splitlines()[1:] if ln and ln[0].isdigit())
        assert res.records_in == res.records_accepted == n_rows == 2 * 1440
        offset = res.series[path.stem].attrs["tz_offset"]
        hours = int(offset[:3]) + (1 if offset[0] == "+" else -1) * int(offset[4:]) / 60
        pd.testing.assert_series_equal(
            _events(res, "steps_total"), _daily_steps(path, hours), check_names=False
        )
        assert res.persons.iloc[0]["source_patient"] == path.stem  # the device serial
        assert "email" in res.persons.iloc[0]["phi"]
        # a summary's pointer numbers its day in the file: a date there would survive the
        # date shift of the event's time (it did, published in every demo timeline)
        pointers = res.events["source_record"]
        assert pointers.is_unique
        assert pointers.str.fullmatch(r"day [12]/\w+").all(), pointers.iloc[0]


# --- real device exports ----------------------------------------------------------------------


def _rpx_table(path: Path) -> pd.DataFrame:
    """Independent: the rows after the last 'Line/Ligne/Zeile' header, with csv + pandas."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    at = max(i for i, ln in enumerate(lines) if ln.split(",")[0].strip('"') in
             ("Line", "Ligne", "Zeile") and ("Date" in ln or "Datum" in ln))  # fmt: skip
    rows = [r for r in csv.reader(lines[at + 1 :]) if r]
    cols = [c for c in next(csv.reader([lines[at]])) if c]
    n = len(cols)
    return pd.DataFrame([r[:n] + [""] * (n - len(r[:n])) for r in rows], columns=cols)


@needs_data
@pytest.mark.parametrize("name", RPX)
def test_actiware_exports_count_every_epoch(name: str) -> None:
    path = ACTI / name
    table = _rpx_table(path)
    res = read_wearables(path)
    assert res.records_in == len(table)
    assert res.records_accepted + len(res.quarantine) == res.records_in
    assert res.quarantine.empty
    ds = next(iter(res.series.values()))
    assert ds.sizes["time"] == len(table)
    assert bool((np.diff(ds["time"].values) > np.timedelta64(0)).all())


@needs_data
def test_actiware_english_daily_activity_equals_pandas_sum() -> None:
    path = ACTI / "test_sample_rpx_eng.csv"
    t = _rpx_table(path)
    local = pd.to_datetime(t["Date"] + " " + t["Time"], format="%d/%m/%Y %H:%M:%S")
    act = pd.to_numeric(t["Activity"], errors="coerce")
    expected = act.groupby(local.dt.strftime("%Y-%m-%d")).sum().astype(float)
    res = read_wearables(path)
    pd.testing.assert_series_equal(_events(res, "activity_total"), expected, check_names=False)
    first = res.events.iloc[0]
    assert str(first["time"]) == "2015-07-03 23:00:00+00:00"  # local midnight at +01:00
    assert res.series["TEST_SAMPLE_UK"].attrs["epoch"] == "30s"
    wear = _events(res, "wear_minutes")
    assert (
        wear["2015-07-04"] == act[local.dt.strftime("%Y-%m-%d") == "2015-07-04"].notna().sum() / 2
    )


@needs_data
def test_actiware_french_day_first_dates_and_personal_fields() -> None:
    res = read_wearables(ACTI / "test_sample_rpx_fr.csv")
    ds = res.series["TEST_SAMPLE_FR"]
    # "4/02/2015 11:45:00" local at +01:00 is 4 February, not 2 April
    assert str(ds["time"].values[0]) == "2015-02-04T10:45:00.000000000"
    person = res.persons.iloc[0]
    assert person["sex"] == "F" and person["birth_date"] == "2018-12-01"
    assert person["phi"]["name"] == "TEST TEST_SAMPLE_FR"
    assert ("device_serial", "AXXXFR") in person["identifiers"]
    assert "TEST TEST_SAMPLE_FR" not in res.events.astype(str).to_csv()


@needs_data
def test_actiware_german_decimal_commas_missing_tokens_and_off_wrist() -> None:
    path = ACTI / "test_sample_rpx_ger_with_light.csv"
    t = _rpx_table(path)
    res = read_wearables(path)
    ds = res.series["TEST_SAMPLE_GER"]
    n_missing = int((t["Aktivität"] == "kZ").sum())
    assert n_missing > 0 and int(ds["activity"].isnull().sum()) == n_missing
    light = pd.to_numeric(t["Weißes Licht"].str.replace(",", "."), errors="coerce")
    np.testing.assert_allclose(ds["white_light"].values, light.to_numpy())
    off = t.iloc[:, 3].astype(int)  # off-wrist status column
    worn = (off != 1) & (t["Aktivität"] != "kZ")
    assert _events(res, "wear_minutes").sum() == worn.sum() / 2  # 30-s epochs
    assert res.persons.iloc[0]["sex"] == "M"


@needs_data
def test_awd_counts_markers_and_assumed_offset() -> None:
    path = ACTI / "example_01.AWD"
    lines = path.read_text().splitlines()
    body = [ln for ln in lines[7:] if ln.strip()]
    res = read_wearables(path)
    assert res.records_in == len(body) == res.records_accepted
    ds = res.series["example_01"]
    assert int(ds["activity"].sum()) == sum(int(ln.split()[0]) for ln in body)
    assert int(ds["marker"].sum()) == sum(len(ln.split()) > 1 for ln in body)
    assert str(ds["time"].values[0]) == "1918-01-23T13:58:00.000000000"
    assert ds.attrs["tz_offset_assumed"] == 1
    assert all(q["utc_offset_assumed"] for q in res.events["qualifiers"])
    shifted = read_wearables(path, utc_offset="+02:00").series["example_01"]
    assert str(shifted["time"].values[0]) == "1918-01-23T11:58:00.000000000"
    assert ("device_serial", "V664055") in res.persons.iloc[0]["identifiers"]


@needs_data
def test_tz_suffixed_time_series() -> None:
    path = ACTI / "sample-timeSeries.csv.gz"
    df = pd.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())))
    res = read_wearables(path)
    assert res.records_in == len(df) == res.records_accepted
    ds = next(iter(res.series.values()))
    assert ds.attrs["tz_offset"] == "+01:00" and ds.attrs["epoch"] == "30s"
    assert str(ds["time"].values[0]) == "2014-05-07T12:29:50.439000000"
    assert int(ds["acc"].isnull().sum()) == int(df["acc"].isna().sum())


def test_awd_with_unreadable_start_quarantines_every_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.AWD"
    path.write_text("subj\nnot-a-date\n25:99\n 4 \n00\nSER1\nX\n0\n5\n7 M\n")
    res = read_wearables(path)
    assert res.records_in == 3 and res.records_accepted == 0
    assert set(res.quarantine["check"]) == {"wearables.header"}
    assert res.series == {}
