"""The harmonizer's table functions one by one, on small frames (no files, no keys on disk).

Each function of :mod:`twinlab.harmonize` that ``build_timeline`` chains is checked here on
a hand-made table whose right answer can be read off; ``test_harmonize_demo.py`` checks the
chain end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from twinlab.harmonize.accounting import file_counts, ingest_report, unmapped_codes
from twinlab.harmonize.covariates import arms, with_source_covariates
from twinlab.harmonize.facts import LOINC, dose_links, event_links, flag_duplicates, same_facts
from twinlab.harmonize.linkage import patient_keys, person_identifiers, rekey
from twinlab.harmonize.series import SERIES_ATTRS, deidentified_series
from twinlab.harmonize.sources import collect, declare_copies
from twinlab.harmonize.timing import (
    index_dates,
    localize_site_times,
    place_undated,
    unplaced_quarantine,
    utc_offset_hours,
)
from twinlab.ingest.base import EVENT_COLUMNS, PERSON_COLUMNS, ReadResult

T0 = pd.Timestamp("2024-01-01 08:00", tz="UTC")


def _events(rows: list[dict]) -> pd.DataFrame:
    base = {c: None for c in EVENT_COLUMNS} | {"value_num": np.nan, "qualifiers": {}}
    out = pd.DataFrame([base | r for r in rows])
    for c in ("time", "end_time"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out


def _person(pid: str, ids: list, **extra) -> dict:
    return {c: None for c in PERSON_COLUMNS} | {"source_patient": pid, "identifiers": ids,
                                                 "phi": {}} | extra  # fmt: skip


# --- sources ------------------------------------------------------------------------------------


def _result(name: str, digest: str, n: int = 2) -> ReadResult:
    ev = _events([{"source_patient": "p", "time": T0, "code": "c", "source_record": f"r{i}"}
                  for i in range(n)])  # fmt: skip
    return ReadResult(name, "fhir", records_in=n, records_accepted=n, events=ev, digest=digest)


def test_declare_copies_empties_a_file_delivered_twice_and_names_the_first():
    ids = {"a.json": "src-A", "b.json": "src-B", "c.json": "src-C"}
    empty = ReadResult("c.json", "fhir", records_in=0, records_accepted=0, digest="e")
    again = _result("b.json", "x")
    again.series = {"minute": object()}
    out, copy_of = declare_copies([_result("a.json", "x"), again, empty, empty], ids)
    assert copy_of == {"src-B": "src-A"}
    b = out[1]
    assert (b.records_in, b.records_accepted, b.duplicates, len(b.events)) == (2, 0, 2, 0)
    assert b.series == {} and b.persons.empty and b.quarantine.empty
    assert out[0] is not b and len(out[0].events) == 2
    assert out[2] is empty and out[3] is empty  # no accepted record: never called a copy


def test_collect_adds_format_and_keyed_file_per_row():
    ids = {"a.json": "src-A", "b.json": "src-B"}
    events, persons, quarantine = collect([_result("a.json", "x", 2), _result("b.json", "y", 1)],
                                          ids)  # fmt: skip
    assert events["source_file"].tolist() == ["src-A", "src-A", "src-B"]
    assert events["format"].eq("fhir").all() and persons.empty and quarantine.empty


# --- linkage ------------------------------------------------------------------------------------


def test_patient_keys_link_one_subject_across_formats_and_rekey_copies():
    persons = pd.DataFrame([
        _person("S-1", [("usubjid", "S-1")], format="sdtm"),
        _person("abc", [("usubjid", "S-1")], format="fhir", phi={"email": " A@X.org "}),
        _person("S-2", [("usubjid", "S-2")], format="sdtm"),
    ])  # fmt: skip
    ids = person_identifiers(persons, {})
    assert ("email", "a@x.org") in ids[("fhir", "abc")]
    events = _events([{"source_patient": "abc", "time": T0}]).assign(format="fhir")
    keys, review = patient_keys(events, persons, {})
    assert keys[("sdtm", "S-1")] == keys[("fhir", "abc")] != keys[("sdtm", "S-2")]
    assert review.empty
    moved = rekey(events, keys)
    assert moved["source_patient"].iloc[0] == keys[("sdtm", "S-1")]
    assert events["source_patient"].iloc[0] == "abc"  # the input is left as it was


# --- timing -------------------------------------------------------------------------------------


def test_utc_offset_hours():
    assert utc_offset_hours("-05:00") == -5 and utc_offset_hours("+05:30") == 5.5
    assert utc_offset_hours(None) is None


def test_localize_site_times_moves_known_sites_and_flags_unknown_ones():
    events = _events([
        {"source_patient": "k1", "time": T0, "qualifiers": {"tz_assumed": "UTC"}},
        {"source_patient": "k2", "time": T0, "qualifiers": {"tz_assumed": "UTC"}},
        {"source_patient": "k1", "time": T0, "qualifiers": {}},  # a zoned (FHIR) time
    ])  # fmt: skip
    persons = pd.DataFrame([_person("k1", [], site="101"), _person("k2", [], site="999")])
    out = localize_site_times(events, persons, {"101": "-05:00"})
    assert out["time"].tolist() == [T0 + pd.Timedelta(hours=5), T0, T0]
    assert [q.get("tz_assumed") for q in out["qualifiers"]] == [
        "-05:00", "UTC (site offset unknown)", None]  # fmt: skip
    assert events["time"].eq(T0).all()  # pure: the input is unchanged


def test_index_date_is_first_dose_else_first_event_and_undated_events_are_placed():
    events = _events([
        {"source_patient": "a", "time": T0, "domain": "lab"},
        {"source_patient": "a", "time": T0 + pd.Timedelta(days=2), "domain": "dose"},
        {"source_patient": "b", "time": T0 + pd.Timedelta(days=1), "domain": "lab"},
        {"source_patient": "a", "time": None, "domain": "genomic_variant"},
        {"source_patient": "z", "time": None, "domain": "genomic_variant", "code": "rs1",
         "source_record": "L9/S9"},
    ]).assign(format="vcf", source_file="src-V")  # fmt: skip
    index = index_dates(events)
    assert index.to_dict() == {"a": T0 + pd.Timedelta(days=2), "b": T0 + pd.Timedelta(days=1)}
    placed, unplaced = place_undated(events, index)
    assert placed.loc[3, "time"] == index["a"]
    assert placed.loc[3, "qualifiers"]["time_imputed"] == "index_date"
    assert unplaced["source_patient"].tolist() == ["z"]
    assert events["time"].isna().sum() == 2  # pure
    q = unplaced_quarantine(unplaced)
    assert q[["check", "source_file", "format"]].values.tolist() == [
        ["harmonize.unplaced", "src-V", "vcf"]]  # fmt: skip
    assert json.loads(q["raw"].iloc[0])["source_record"] == "L9/S9"
    assert unplaced_quarantine(unplaced.iloc[:0]).empty


# --- facts --------------------------------------------------------------------------------------


def _timeline(rows: list[dict]) -> pd.DataFrame:
    base = {"patient_id": "P-1", "code_system": LOINC, "code": "29463-7", "unit": "kg",
            "domain": "vital", "qualifiers": "{}"}  # fmt: skip
    out = pd.DataFrame([base | r for r in rows])
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out


def test_same_facts_pick_the_authoritative_or_first_file_never_one_file():
    ev = _timeline([
        {"event_id": "e1", "time": T0, "value_num": 80.0, "format": "fhir", "source_file": "src-B"},
        {"event_id": "e2", "time": T0 + pd.Timedelta(hours=1), "value_num": 80.4,
         "format": "sdtm", "source_file": "src-Z"},
        {"event_id": "e3", "time": T0, "value_num": 80.0, "format": "fhir", "source_file": "src-A"},
        {"event_id": "e4", "time": T0, "value_num": 80.0, "format": "fhir", "source_file": "src-A"},
        {"event_id": "e5", "time": T0 + pd.Timedelta(days=3), "value_num": 80.0,
         "format": "fhir", "source_file": "src-C"},
        {"event_id": "e6", "time": T0, "value_num": 90.0, "format": "fhir", "source_file": "src-D"},
    ])  # fmt: skip
    pairs = same_facts(ev, hours=24, rel_tol=0.01)
    got = dict(zip(pairs["event_id"], pairs["event_id_p"], strict=True))
    # EDC before EHR, and of two FHIR files the first; of the copies that outrank it, an event
    # links to the earliest (e1: e3, itself a copy of e2); e3 and e4 (one file) are two
    # measurements, e5 is days away and e6 another value: each of these a fact of its own
    assert got == {"e1": "e3", "e3": "e2", "e4": "e2"}
    flagged = flag_duplicates(ev, pairs)
    dup = flagged.set_index("event_id")["qualifiers"].map(json.loads)
    assert dup["e1"] == {"duplicate_of": "e3"} and dup["e2"] == {} and dup["e5"] == {}
    assert ev["qualifiers"].eq("{}").all()  # pure


def test_dose_links_point_to_the_last_dose_before_and_event_links_add_same_facts():
    ev = _timeline([
        {"event_id": "d1", "time": T0, "domain": "dose"},
        {"event_id": "d2", "time": T0 + pd.Timedelta(hours=12), "domain": "dose"},
        {"event_id": "c0", "time": T0 - pd.Timedelta(hours=1), "domain": "concentration"},
        {"event_id": "c1", "time": T0 + pd.Timedelta(hours=2), "domain": "concentration"},
        {"event_id": "c2", "time": T0 + pd.Timedelta(hours=13), "domain": "pd"},
    ])  # fmt: skip
    links = dose_links(ev)
    assert dict(zip(links["to_event_id"], links["from_event_id"], strict=True)) == {
        "c1": "d1", "c2": "d2"}  # fmt: skip
    assert links["lag_hours"].tolist() == [2.0, 1.0]
    dupes = pd.DataFrame({"event_id": ["x"], "event_id_p": ["y"], "time": [T0],
                          "time_p": [T0 - pd.Timedelta(minutes=30)]})  # fmt: skip
    both = event_links(ev, dupes)
    assert both["relation"].tolist() == ["dose_to_observation"] * 2 + ["same_fact"]
    assert both["lag_hours"].iloc[-1] == 0.5


# --- covariates ---------------------------------------------------------------------------------


def test_arms_and_source_covariates_by_pseudonym():
    events = _events([
        {"source_patient": "k1", "domain": "demographic", "code": "ARM",
         "qualifiers": {"armcd": "T100"}},
        {"source_patient": "k1", "domain": "demographic", "code": "ARM",
         "qualifiers": {"armcd": "T100"}},
        {"source_patient": "k2", "domain": "lab", "code": "X"},
    ])  # fmt: skip
    planned = arms(events)
    assert planned["cov_armcd"].to_dict() == {"k1": "T100"}
    patients = pd.DataFrame({"patient_id": ["P-1", "P-2"]})
    out = with_source_covariates(patients, (planned,), pd.Series({"k1": "P-1", "k2": "P-2"}))
    assert out["cov_armcd"].iloc[0] == "T100" and pd.isna(out["cov_armcd"].iloc[1])
    assert list(patients.columns) == ["patient_id"]  # pure
    assert arms(events.iloc[2:]).empty


# --- accounting ---------------------------------------------------------------------------------


def test_file_counts_and_report_totals():
    results = [
        ReadResult("a", "fhir", records_in=3, records_accepted=2, duplicates=1),
        ReadResult("b", "fhir", records_in=2, records_accepted=0, duplicates=2),
    ]
    counts = file_counts(results, {"a": "src-A", "b": "src-B"}, pd.Series({"src-A": 1}),
                         pd.Series({"src-A": 1}), {"src-B": "src-A"})  # fmt: skip
    assert counts[0]["events_quarantined"] == 1 and counts[0]["events_same_fact"] == 1
    assert "copy_of" not in counts[0] and counts[1]["copy_of"] == "src-A"
    for c, n in zip(counts, (0, 0), strict=True):
        c["events_in_timeline"] = n  # a: 0 events read, 1 quarantined: does not reconcile
    cohort = type("C", (), {"patients": [1], "events": []})()
    links = pd.DataFrame({"relation": ["same_fact", "dose_to_observation", "same_fact"]})
    report = ingest_report(counts, cohort, links)
    assert report["totals"]["records_in"] == 5 and report["totals"]["files_copied"] == 1
    assert report["reconciles"] is False
    assert report["timeline"]["links"] == {"dose_to_observation": 1, "same_fact": 2}


def test_unmapped_codes_most_frequent_first():
    ev = pd.DataFrame({"domain": ["lab"] * 3, "code_system": ["x"] * 3, "code": ["A", "B", "B"],
                       "qualifiers": ['{"unmapped": true}'] * 3})  # fmt: skip
    assert [r["code"] for r in unmapped_codes(ev)] == ["B", "A"]


# --- series -------------------------------------------------------------------------------------


def test_deidentified_series_shift_time_drop_attributes_and_number_devices():
    def ds(serial: str) -> xr.Dataset:
        out = xr.Dataset(
            {"heart_rate": ("time", [60.0, 61.0])},
            coords={"time": pd.date_range("2024-01-01", periods=2, freq="min")},
        )
        out.attrs = {"source_patient": serial, "serial": serial, "device": "band", "epoch": 60}
        return out  # fmt: skip

    results = [ReadResult("w", "wearables", records_in=2, records_accepted=2,
                          series={"a": ds("SN1"), "b": ds("SN2"), "c": ds("SN9")})]  # fmt: skip
    keys = pd.Series({("wearables", "SN1"): "k1", ("wearables", "SN2"): "k1",
                      ("wearables", "SN9"): "k9"})  # fmt: skip
    crosswalk = pd.DataFrame({"source_patient": ["k1"], "patient_id": ["P-1"], "shift_days": [3]})
    groups = deidentified_series(results, keys, crosswalk)
    assert sorted(groups) == ["P-1", "P-1_2"]  # SN9 links to no patient of the timeline
    g = groups["P-1"]
    assert g["time"].values[0] == np.datetime64("2024-01-04T00:00")
    assert set(g.attrs) <= set(SERIES_ATTRS) and g.attrs == {"device": "band", "epoch": 60}


def test_deidentified_series_scrub_their_text_attributes():
    """An Actiware "Actiwatch Type" cell is free text: the wearer's name in it was published
    as the series' device attribute (the events' device qualifier was scrubbed)."""
    from twinlab.deid import IdentifierSet
    from twinlab.deid.text import TextScrubber

    ds = xr.Dataset(
        {"activity": ("time", [3.0, 4.0])},
        coords={"time": pd.date_range("2024-01-01", periods=2, freq="min")},
    )
    ds.attrs = {"source_patient": "SN1", "device": "Spectrum Plus of E. Krasinski", "epoch_s": 60}
    results = [ReadResult("w", "wearables", records_in=2, records_accepted=2, series={"a": ds})]
    keys = pd.Series({("wearables", "SN1"): "k1"})
    crosswalk = pd.DataFrame({"source_patient": ["k1"], "patient_id": ["P-1"], "shift_days": [0]})
    scrub = TextScrubber(IdentifierSet([("name", "Evelyn Krasinski"), ("name", "Krasinski")]),
                         engine=False)  # fmt: skip
    g = deidentified_series(results, keys, crosswalk, scrub.scrub)["P-1"]
    assert g.attrs == {"device": "Spectrum Plus of E. [NAME]", "epoch_s": 60}


def test_series_variables_whose_names_may_identify_are_left_out():
    """A time-series column is named by the exporter: "chinedu okafor 4125550190" was
    published as the name of an array of series.zarr."""
    names = ["acc", "MET", "imputed", "red_light", "chinedu okafor 4125550190", "okafor",
             "kowalski_hr", "x1;drop", "lat", "lon", "gps_latitude", "longitude"]  # fmt: skip
    ds = xr.Dataset(
        {n: ("time", [1.0, 2.0]) for n in names},
        coords={"time": pd.date_range("2024-01-01", periods=2, freq="min")},
        attrs={"source_patient": "SN1"},
    )
    results = [ReadResult("w", "wearables", records_in=2, records_accepted=2, series={"a": ds})]
    keys = pd.Series({("wearables", "SN1"): "k1"})
    crosswalk = pd.DataFrame({"source_patient": ["k1"], "patient_id": ["P-1"], "shift_days": [0]})
    g = deidentified_series(results, keys, crosswalk)["P-1"]
    assert sorted(map(str, g.data_vars)) == ["MET", "acc", "imputed", "red_light"]


def test_a_stored_series_names_no_date_of_its_own(tmp_path):
    """xarray writes a time axis as "minutes since <its first time>": a shifted date as text,
    which can equal another patient's unshifted date and stop the PHI scan (found on the shared
    corpus: a wearable's shifted start was an SDTM patient's reference date)."""
    from twinlab.harmonize.writer import write_series

    ds = xr.Dataset(
        {"heart_rate": ("time", [60.0, 61.0, 62.0])},
        coords={"time": pd.date_range("2014-05-08T11:45:00", periods=3, freq="30s")},
    )
    ds.attrs = {"source_patient": "SN1", "epoch": 30}
    results = [ReadResult("w", "wearables", records_in=3, records_accepted=3, series={"a": ds})]
    keys = pd.Series({("wearables", "SN1"): "k1"})
    crosswalk = pd.DataFrame({"source_patient": ["k1"], "patient_id": ["P-1"], "shift_days": [0]})
    assert write_series(deidentified_series(results, keys, crosswalk), tmp_path) == 1
    stored = "".join(p.read_text() for p in (tmp_path / "series.zarr").rglob("zarr.json"))
    assert "2014" not in stored and "1970-01-01" in stored
    back = xr.open_datatree(tmp_path / "series.zarr", engine="zarr", consolidated=False)
    assert (back["P-1"]["time"].values == ds["time"].values).all()
